//! The real binary, as operators run it: SIGTERM during a burst of clicks loses no acked
//! click and exits 0; its JSON logs never contain a token or secret.

use std::process::Stdio;
use std::time::Duration;

use capacity_bot::domain::testkit::*;
use capacity_bot::store::MIGRATOR;
use futures_util::future::join_all;
use slack_emulator::Emulator;
use sqlx::PgPool;
use tokio::io::AsyncReadExt;

use crate::support::harness::*;

const SIGNAL_SECRET: &str = "sig-secret-do-not-log-5b1e";

pub fn url_of(pool: &PgPool) -> String {
    let base = std::env::var("DATABASE_URL")
        .unwrap_or_else(|_| "postgres://postgres@127.0.0.1:5432/postgres".into());
    let db = pool.connect_options().get_database().unwrap().to_string();
    format!("{}/{db}", base.rsplit_once('/').unwrap().0)
}

/// `capacity-bot run --config <config>` against `emu` and `pool`, its output piped and the
/// process killed if the test drops it.
pub fn daemon_command(
    emu: &Emulator,
    pool: &PgPool,
    config: &std::path::Path,
    rust_log: &str,
) -> tokio::process::Command {
    let mut command = tokio::process::Command::new(env!("CARGO_BIN_EXE_capacity-bot"));
    command
        .args(["run", "--config"])
        .arg(config)
        .env("SLACK_BOT_TOKEN", emu.bot_token())
        .env("SLACK_APP_TOKEN", emu.app_token())
        .env("SLACK_API_URL", emu.api_url())
        .env("DATABASE_URL", url_of(pool))
        .env("CAPACITY_SIGNAL_SECRET", SIGNAL_SECRET)
        .env("RUST_LOG", rust_log)
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .kill_on_drop(true);
    command
}

#[sqlx::test(migrator = "MIGRATOR")]
async fn sigterm_during_a_burst_loses_no_acked_click_and_logs_hold_no_secret(pool: PgPool) {
    let _ = rustls::crypto::ring::default_provider().install_default();
    let emu = Emulator::start(emulator_config()).await.unwrap();
    let dir = tempfile::tempdir().unwrap();
    let config = dir.path().join("capacity.toml");
    let toml = format!(
        "{}\n[http]\nlisten = \"127.0.0.1:0\"\n\n[log]\nformat = \"json\"\n",
        settings_toml(emu.team_id())
    );
    std::fs::write(&config, toml).unwrap();
    let mut child = daemon_command(
        &emu,
        &pool,
        &config,
        "debug,hyper=info,hyper_util=info,sqlx=warn,h2=info,tungstenite=info,tokio_tungstenite=info,rustls=info",
    )
    .spawn()
    .expect("the daemon starts");
    // Read the logs as they come: a full pipe would block the daemon's writes.
    let mut out = child.stdout.take().unwrap();
    let mut err = child.stderr.take().unwrap();
    let stdout_task = tokio::spawn(async move {
        let mut s = String::new();
        let _ = out.read_to_string(&mut s).await;
        s
    });
    let stderr_task = tokio::spawn(async move {
        let mut s = String::new();
        let _ = err.read_to_string(&mut s).await;
        s
    });
    emu.wait_connected(2, WAIT)
        .await
        .expect("the daemon connects");

    let mut roots = Vec::new();
    for n in 1..=12 {
        let ack = emu
            .slash_command(REQUESTER, "/capacity", "", CHANNEL)
            .await
            .unwrap();
        assert!(ack.payload.is_none());
        let view = emu
            .wait_for_view_where(|v| v.user == REQUESTER && v.open, WAIT)
            .await
            .unwrap();
        emu.submit_view(&view.id, REQUESTER, answers("1000"))
            .await
            .unwrap();
        let tag = format!("CR-{n} ");
        roots.push(
            emu.wait_for_message(|m| m.thread_ts.is_none() && m.render().contains(&tag), WAIT)
                .await
                .unwrap_or_else(|e| {
                    let log: Vec<String> = emu.log().iter().map(ToString::to_string).collect();
                    panic!("CR-{n}: {e}\n{}", log.join("\n"))
                }),
        );
    }

    // The burst: every request approved at once; SIGTERM lands in the middle of it.
    let clicks = roots
        .iter()
        .map(|root| emu.click(AE, CHANNEL, &root.ts, "commercial_approved"));
    let pid = child.id().expect("running").to_string();
    let term = async {
        emu.wait_for_calls("chat.update", 13, WAIT).await.ok();
        let _ = std::process::Command::new("kill")
            .args(["-TERM", &pid])
            .status();
    };
    let (results, ()) = tokio::join!(join_all(clicks), term);

    let status = tokio::time::timeout(Duration::from_secs(20), child.wait())
        .await
        .expect("exits in time")
        .unwrap();
    assert_eq!(status.code(), Some(0), "graceful shutdown exits 0");

    let acked: Vec<usize> = results
        .iter()
        .enumerate()
        .filter(|(_, r)| r.is_ok())
        .map(|(i, _)| i + 1)
        .collect();
    assert!(
        !acked.is_empty(),
        "some clicks were acked before the shutdown"
    );
    for n in acked {
        let approved: i64 = sqlx::query_scalar(
            "SELECT count(*) FROM capacity.capacity_request_events e JOIN capacity.capacity_requests r ON r.id = e.request_id \
             WHERE r.number = $1 AND e.kind = 'commercial_approved'",
        )
        .bind(n as i64)
        .fetch_one(&pool)
        .await
        .unwrap();
        assert_eq!(approved, 1, "acked click on CR-{n} is in the log");
    }

    let logs = stdout_task.await.unwrap() + &stderr_task.await.unwrap();
    assert!(
        logs.contains("\"message\":\"recorded\""),
        "JSON logs of the run:\n{logs}"
    );
    assert!(logs.contains("\"envelope_id\""), "one span per envelope");
    for line in logs.lines().filter(|l| !l.trim().is_empty()) {
        assert!(
            serde_json::from_str::<serde_json::Value>(line).is_ok(),
            "not JSON: {line}"
        );
    }
    for secret in [emu.bot_token(), emu.app_token(), SIGNAL_SECRET] {
        assert!(!logs.contains(secret), "a secret leaked into the logs");
    }
}
