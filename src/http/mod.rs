//! The one small HTTP server: health, readiness, metrics, and the control plane's signed
//! activation signal.

mod signal;
pub mod signature;

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use axum::extract::State;
use axum::http::{header, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use axum::{Json, Router};
use serde_json::json;
use tokio_util::sync::CancellationToken;
use tracing::{info, warn};

use crate::context::AppState;
use crate::store;

/// What readiness needs to know and the signal endpoint needs to record.
pub fn router(state: Arc<AppState>) -> Router {
    Router::new()
        .route("/healthz", get(healthz))
        .route("/readyz", get(readyz))
        .route("/metrics", get(metrics))
        .route("/v1/signals/activation", post(signal::activation))
        .layer(axum::extract::DefaultBodyLimit::max(64 * 1024))
        .with_state(state)
}

/// Binds `listen` and serves until `shutdown`. Returns the bound address (port 0 in tests).
pub async fn serve(
    state: Arc<AppState>,
    listen: SocketAddr,
    shutdown: CancellationToken,
) -> anyhow::Result<(SocketAddr, tokio::task::JoinHandle<()>)> {
    let listener = tokio::net::TcpListener::bind(listen)
        .await
        .map_err(|e| anyhow::anyhow!("cannot listen on {listen} (http.listen): {e}"))?;
    let addr = listener.local_addr()?;
    info!(%addr, "http server listening");
    let app = router(state);
    let task = tokio::spawn(async move {
        let stop = async move { shutdown.cancelled().await };
        if let Err(e) = axum::serve(listener, app)
            .with_graceful_shutdown(stop)
            .await
        {
            warn!(error.message = %e, "http server stopped with an error");
        }
    });
    Ok((addr, task))
}

async fn healthz() -> &'static str {
    "ok\n"
}

async fn readyz(State(state): State<Arc<AppState>>) -> Response {
    let db = tokio::time::timeout(
        Duration::from_secs(1),
        store::migrations_current(&state.pool),
    )
    .await;
    let (database, migrations) = match db {
        Ok(Ok(true)) => ("ok".to_string(), "current".to_string()),
        Ok(Ok(false)) => (
            "ok".to_string(),
            "behind: run `capacity-bot migrate`".to_string(),
        ),
        Ok(Err(e)) => (format!("unreachable: {e}"), "unknown".to_string()),
        Err(_) => (
            "unreachable: no answer within 1 s".to_string(),
            "unknown".to_string(),
        ),
    };
    let sockets = state.socket.connected();
    // A dead task is final: the daemon is on its way out and a restart is the cure.
    let tasks = state.supervisor.failure();
    let ready = database == "ok" && migrations == "current" && sockets > 0 && tasks.is_none();
    let body = json!({
        "ready": ready,
        "database": database,
        "migrations": migrations,
        "socket_mode": if sockets > 0 { format!("connected ({sockets})") } else { "not connected".to_string() },
        "tasks": tasks.unwrap_or("running"),
    });
    let code = if ready {
        StatusCode::OK
    } else {
        StatusCode::SERVICE_UNAVAILABLE
    };
    (code, Json(body)).into_response()
}

async fn metrics(State(state): State<Arc<AppState>>) -> Response {
    let m = &state.metrics;
    if let Ok(Ok((depth, oldest))) = tokio::time::timeout(
        Duration::from_secs(1),
        store::outbox::depth(&state.pool, state.clock.now()),
    )
    .await
    {
        m.outbox_depth.set(depth);
        m.outbox_oldest_seconds.set(oldest.unwrap_or(0.0));
    }
    let s = &state.socket;
    m.socket_connected
        .set(i64::try_from(s.connected()).unwrap_or(i64::MAX));
    m.socket_reconnects
        .set(i64::try_from(s.reconnects()).unwrap_or(i64::MAX));
    m.envelopes
        .set(i64::try_from(s.envelopes()).unwrap_or(i64::MAX));
    (
        [(
            header::CONTENT_TYPE,
            "text/plain; version=0.0.4; charset=utf-8",
        )],
        m.render(),
    )
        .into_response()
}

pub(crate) fn error(code: StatusCode, message: impl Into<String>) -> Response {
    (code, Json(json!({ "error": message.into() }))).into_response()
}
