//! `run`: the daemon, until SIGTERM or SIGINT.

use std::path::Path;
use std::process::ExitCode;
use std::sync::Arc;

use secrecy::ExposeSecret;
use tracing::{error, info};

use super::Failure;
use crate::app::{Daemon, RunOptions};
use crate::clock::SystemClock;
use crate::config::{self, Settings};
use crate::{store, telemetry};

pub fn load_settings(path: Option<&Path>) -> Result<Settings, Failure> {
    let path = path.ok_or_else(|| {
        Failure(format!(
            "no config file: pass --config PATH or set {}",
            config::CONFIG_PATH_VAR
        ))
    })?;
    Settings::load(path, &config::process_env).map_err(|e| {
        Failure(format!(
            "{}: {} problem(s)\n{e}",
            path.display(),
            e.problems.len()
        ))
    })
}

pub async fn run(path: Option<&Path>, no_migrate: bool) -> Result<ExitCode, Failure> {
    let settings = load_settings(path)?;
    settings
        .check_for_daemon()
        .map_err(|e| Failure(format!("not ready to run:\n{e}")))?;
    telemetry::init(settings.log.format);
    let url = settings
        .secrets
        .database_url
        .as_ref()
        .map(|u| u.expose_secret().to_string())
        .unwrap_or_default();
    let pool = store::connect(&url).await?;
    if no_migrate {
        if !store::migrations_current(&pool).await? {
            return Err(Failure("the database is not migrated and --no-migrate was given; run `capacity-bot migrate`".into()));
        }
    } else {
        store::migrate(&pool).await?;
    }
    let daemon = Daemon::start(settings, pool, Arc::new(SystemClock), RunOptions::default())
        .await
        .map_err(|e| Failure(format!("{e:#}")))?;
    info!("capacity-bot is running");
    daemon
        .run(wait_for_signal())
        .await
        .map_err(|e| Failure(format!("stopped: {e:#}")))?;
    Ok(ExitCode::SUCCESS)
}

async fn wait_for_signal() {
    #[cfg(unix)]
    {
        use tokio::signal::unix::{signal, SignalKind};
        match signal(SignalKind::terminate()) {
            Ok(mut term) => {
                tokio::select! {
                    _ = term.recv() => info!("SIGTERM received"),
                    _ = tokio::signal::ctrl_c() => info!("SIGINT received"),
                }
            }
            Err(e) => {
                error!(error.message = %e, "cannot listen for SIGTERM; only Ctrl-C stops the daemon");
                let _ = tokio::signal::ctrl_c().await;
            }
        }
    }
    #[cfg(not(unix))]
    {
        let _ = tokio::signal::ctrl_c().await;
    }
}
