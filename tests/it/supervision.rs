//! The daemon watches the tasks it cannot work without: one that ends while the daemon is
//! not stopping makes `/readyz` fail at once and the daemon stop with an error, so the
//! process exits non-zero and its supervisor restarts it.

use std::time::Duration;

use capacity_bot::app::Daemon;
use capacity_bot::store::MIGRATOR;
use slack_emulator::{DisconnectReason, Emulator, Fault};
use sqlx::PgPool;
use tokio::io::AsyncReadExt;

use crate::support::harness::*;

/// `/readyz` reports `task`'s end, and the daemon's run ends with an error naming it.
async fn the_daemon_gives_up(daemon: Daemon, task: &str, why: &str) {
    // Not the first 503: a socket that lost its connection is already not ready (`not
    // connected`) while its task is still trying to reconnect.
    let deadline = tokio::time::Instant::now() + WAIT;
    let body = loop {
        let body = readyz_becomes(&daemon, 503).await;
        if body.contains(&format!("the {task} task")) {
            break body;
        }
        assert!(tokio::time::Instant::now() < deadline, "{body}");
        tokio::task::yield_now().await;
    };
    assert!(body.contains(why), "{body}");
    let run = tokio::time::timeout(WAIT, daemon.run(std::future::pending()))
        .await
        .expect("the daemon stops on its own");
    let err = run.expect_err("a dead task is an error").to_string();
    assert!(err.contains(&format!("the {task} task")), "{err}");
}

async fn killed(pool: PgPool, task: &str) {
    let mut h = Harness::start(pool).await;
    let (code, body) = http_get(h.daemon(), "/readyz").await;
    assert_eq!(code, 200, "{body}");
    let daemon = h.daemon.take().expect("running");
    assert!(daemon.abort_task(task), "there is a {task} task");
    the_daemon_gives_up(daemon, task, "aborted").await;
}

#[sqlx::test(migrator = "MIGRATOR")]
async fn a_dead_socket_task_fails_readiness_and_stops_the_daemon(pool: PgPool) {
    killed(pool, "socket").await;
}

#[sqlx::test(migrator = "MIGRATOR")]
async fn a_dead_outbox_task_fails_readiness_and_stops_the_daemon(pool: PgPool) {
    killed(pool, "outbox").await;
}

#[sqlx::test(migrator = "MIGRATOR")]
async fn a_dead_scheduler_task_fails_readiness_and_stops_the_daemon(pool: PgPool) {
    killed(pool, "scheduler").await;
}

#[sqlx::test(migrator = "MIGRATOR")]
async fn an_ordinary_stop_is_not_a_failure(pool: PgPool) {
    let mut h = Harness::start(pool).await;
    let daemon = h.daemon.take().expect("running");
    let supervisor = daemon.state.supervisor.clone();
    daemon
        .run(std::future::ready(()))
        .await
        .expect("a stop is no error");
    assert_eq!(
        supervisor.failure(),
        None,
        "tasks that end because the daemon stops are no failure"
    );
}

/// Slack refusing the app token is the one socket failure no retry can cure.
#[sqlx::test(migrator = "MIGRATOR")]
async fn a_refused_app_token_ends_the_socket_task(pool: PgPool) {
    let mut h = Harness::start(pool).await;
    h.emu
        .fail_next("apps.connections.open", 1000, Fault::error("invalid_auth"));
    h.emu.disconnect_sockets(DisconnectReason::Warning);
    let daemon = h.daemon.take().expect("running");
    the_daemon_gives_up(daemon, "socket", "invalid_auth").await;
}

#[sqlx::test(migrator = "MIGRATOR")]
async fn the_binary_exits_non_zero_when_slack_refuses_its_app_token(pool: PgPool) {
    let _ = rustls::crypto::ring::default_provider().install_default();
    let emu = Emulator::start(emulator_config()).await.unwrap();
    let dir = tempfile::tempdir().unwrap();
    let config = dir.path().join("capacity.toml");
    let toml = format!(
        "{}\n[http]\nlisten = \"127.0.0.1:0\"\n",
        settings_toml(emu.team_id())
    );
    std::fs::write(&config, toml).unwrap();
    let mut child = crate::shutdown::daemon_command(&emu, &pool, &config, "info")
        .spawn()
        .expect("the daemon starts");
    let mut out = child.stdout.take().unwrap();
    let mut err = child.stderr.take().unwrap();
    let logs = tokio::spawn(async move {
        let (mut o, mut e) = (String::new(), String::new());
        let _ = tokio::join!(out.read_to_string(&mut o), err.read_to_string(&mut e));
        o + &e
    });
    if let Err(e) = emu.wait_connected(2, WAIT).await {
        let _ = child.kill().await;
        panic!("the daemon never connected: {e}\n{}", logs.await.unwrap());
    }

    // The app token is revoked while the daemon runs; Slack then asks it to reconnect.
    emu.fail_next("apps.connections.open", 1000, Fault::error("invalid_auth"));
    emu.disconnect_sockets(DisconnectReason::Warning);

    let status = tokio::time::timeout(Duration::from_secs(20), child.wait())
        .await
        .expect("exits on its own")
        .unwrap();
    let logs = logs.await.unwrap();
    assert_eq!(
        status.code(),
        Some(1),
        "a dead task exits non-zero:\n{logs}"
    );
    assert!(
        logs.contains("apps.connections.open refused the app token"),
        "the reason is logged:\n{logs}"
    );
    assert!(logs.contains("ERROR"), "at error level:\n{logs}");
}
