//! Wiring: the daemon's start and ordered shutdown. What its parts share is in
//! `context`; this module sits above all of them and nothing below imports it.

use std::sync::Arc;
use std::time::Duration;

use anyhow::Context as _;
use futures_util::FutureExt;
use secrecy::SecretString;
use sqlx::PgPool;
use tokio::task::JoinHandle;
use tokio_util::sync::CancellationToken;
use tracing::{info, warn};

use crate::clock::SharedClock;
use crate::config::Settings;
use crate::context::AppState;
use crate::context::OutboxOptions;
use crate::domain::TeamId;
use crate::outbox::Deliverer;
use crate::scheduler::{Scheduler, Sweeper};
use crate::slack::api::SlackApi;
use crate::slack::handlers::handle_envelope;
use crate::slack::socket::{self, SocketConfig};

/// Knobs the tests and the benchmark turn; production uses the defaults.
#[derive(Debug, Clone)]
pub struct RunOptions {
    pub socket: SocketConfig,
    /// How often the outbox looks for retries falling due when no NOTIFY wakes it.
    pub outbox_poll: Duration,
    /// How long shutdown may spend flushing the outbox.
    pub flush_timeout: Duration,
    pub group_cache_ttl: Duration,
    /// Overrides `http.listen` (tests bind port 0).
    pub http_listen: Option<std::net::SocketAddr>,
    /// How the outbox claims and delivers (benchmarks compare the old way).
    pub outbox: OutboxOptions,
}

impl Default for RunOptions {
    fn default() -> Self {
        RunOptions {
            socket: SocketConfig::default(),
            outbox_poll: Duration::from_millis(250),
            flush_timeout: Duration::from_secs(5),
            group_cache_ttl: Duration::from_secs(300),
            http_listen: None,
            outbox: OutboxOptions::default(),
        }
    }
}

/// A running daemon. Dropping it does not stop it; call [`Daemon::shutdown`].
pub struct Daemon {
    pub state: Arc<AppState>,
    pub deliverer: Deliverer,
    /// What the scheduler's sweeps run with; tests call the sweep steps with it.
    pub sweeper: Sweeper,
    scheduler: Scheduler,
    stop_intake: CancellationToken,
    stop_workers: CancellationToken,
    socket_task: JoinHandle<()>,
    outbox_task: JoinHandle<()>,
    http_task: JoinHandle<()>,
    stop_http: CancellationToken,
    /// Where the HTTP server listens (health, readiness, metrics, signals).
    pub http_addr: std::net::SocketAddr,
    flush_timeout: Duration,
}

fn require<'a>(secret: &'a Option<SecretString>, name: &str) -> anyhow::Result<&'a SecretString> {
    secret
        .as_ref()
        .with_context(|| format!("{name} is not set"))
}

impl Daemon {
    /// Connects to Slack and starts taking envelopes. Fails fast on a bad bot token, since
    /// the socket layer would otherwise retry forever without saying why.
    pub async fn start(
        settings: Settings,
        pool: PgPool,
        clock: SharedClock,
        options: RunOptions,
    ) -> anyhow::Result<Daemon> {
        let bot = require(&settings.secrets.slack_bot_token, "SLACK_BOT_TOKEN")?;
        let app = require(&settings.secrets.slack_app_token, "SLACK_APP_TOKEN")?;
        let api = SlackApi::new(&settings.slack.api_url, bot, Some(app))
            .context("building the Slack client")?;
        let auth = api
            .auth_test()
            .await
            .map_err(|e| anyhow::anyhow!("Slack rejected SLACK_BOT_TOKEN at auth.test: {e}"))?;
        let team = settings
            .slack
            .team_id
            .clone()
            .or_else(|| TeamId::parse(&auth.team_id.0).ok());
        info!(team = ?team, bot_user = %auth.user_id.0, "authenticated with Slack");

        let state = Arc::new(
            AppState::new(
                Arc::new(settings),
                pool,
                api.clone(),
                clock,
                team,
                options.group_cache_ttl,
            )
            .map(|state| AppState {
                outbox: options.outbox,
                ..state
            })
            .context("building the Linear client")?,
        );
        let stop_http = CancellationToken::new();
        let listen = options.http_listen.unwrap_or(state.settings.http.listen);
        let (http_addr, http_task) =
            crate::http::serve(state.clone(), listen, stop_http.clone()).await?;

        let stop_intake = CancellationToken::new();
        let stop_workers = CancellationToken::new();
        let opener: socket::Opener = {
            let api = api.clone();
            Arc::new(move || {
                let api = api.clone();
                async move {
                    api.open_socket_url()
                        .await
                        .map_err(|e| match e.is_bad_token() {
                            true => socket::OpenError::Fatal(e.to_string()),
                            false => socket::OpenError::Retry(e.to_string()),
                        })
                }
                .boxed()
            })
        };
        let handler: socket::Handler = {
            let state = state.clone();
            Arc::new(move |envelope| handle_envelope(state.clone(), envelope).boxed())
        };
        let supervisor = state.supervisor.clone();
        let socket_task = supervisor.spawn(
            "socket",
            socket::run(
                options.socket.clone(),
                opener,
                handler,
                state.socket.clone(),
                stop_intake.clone(),
            ),
        );
        let deliverer = Deliverer::new(state.clone());
        let outbox_task = {
            let (deliverer, stop) = (deliverer.clone(), stop_workers.clone());
            supervisor.spawn("outbox", async move {
                deliverer.run(stop, options.outbox_poll).await;
                Ok(())
            })
        };
        let sweeper = Sweeper::new(state.clone());
        let scheduler = Scheduler::start(
            sweeper.clone(),
            deliverer.clone(),
            state.clock.clone(),
            &state.settings.scheduler,
        )
        .await
        .context("starting the scheduler")?;
        Ok(Daemon {
            state,
            deliverer,
            sweeper,
            scheduler,
            stop_intake,
            stop_workers,
            socket_task,
            outbox_task,
            http_task,
            stop_http,
            http_addr,
            flush_timeout: options.flush_timeout,
        })
    }

    /// Runs until `stop` (a signal) or until a task the daemon needs ends unexpectedly, then
    /// stops in order. The error names the task and why it ended: the process should then
    /// exit non-zero, for its supervisor to restart it.
    pub async fn run(self, stop: impl std::future::Future<Output = ()>) -> anyhow::Result<()> {
        let supervisor = self.state.supervisor.clone();
        let failed = tokio::select! {
            _ = stop => None,
            why = supervisor.failed() => Some(why),
        };
        self.shutdown().await;
        match failed {
            None => Ok(()),
            Some(why) => Err(anyhow::anyhow!(why)),
        }
    }

    /// Aborts one supervised task (`socket`, `outbox` or `scheduler`) as if it had died: the
    /// supervision's own tests use it. False when no task has that name.
    #[doc(hidden)]
    pub fn abort_task(&self, name: &str) -> bool {
        self.state.supervisor.abort(name)
    }

    /// Ordered stop: take no new envelopes and ack the ones in flight, stop the timers (a
    /// sweep in flight finishes its append), then flush what the outbox can within the
    /// bound, then stop the workers.
    pub async fn shutdown(self) {
        info!("shutting down: no new envelopes");
        self.state.supervisor.stopping();
        self.stop_intake.cancel();
        let _ = self.socket_task.await;
        self.scheduler.shutdown().await;
        self.state.tasks.close();
        let _ = tokio::time::timeout(self.flush_timeout, self.state.tasks.wait()).await;
        match tokio::time::timeout(self.flush_timeout, self.deliverer.drain()).await {
            Ok(Ok(n)) => info!(delivered = n, "outbox flushed"),
            Ok(Err(e)) => {
                warn!(error.message = %e, "outbox flush failed; the rest goes out after restart")
            }
            Err(_) => warn!("outbox flush ran out of time; the rest goes out after restart"),
        }
        self.stop_workers.cancel();
        let _ = self.outbox_task.await;
        self.stop_http.cancel();
        let _ = self.http_task.await;
        info!("stopped");
    }
}
