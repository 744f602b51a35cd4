//! `POST /v1/signals/activation`: the control plane saw the customer use the capacity.

use std::sync::Arc;

use axum::body::Bytes;
use axum::extract::State;
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::Json;
use chrono::{DateTime, Utc};
use secrecy::ExposeSecret;
use serde::Deserialize;
use serde_json::json;
use tracing::{info, warn};

use super::error;
use super::signature::verify;
use crate::context::AppState;
use crate::domain::{Actor, Command, Refusal, RequestNumber};
use crate::store::{self, Append, AppendError, Target};

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct Signal {
    request: String,
    signal_id: String,
    observed_at: DateTime<Utc>,
}

pub async fn activation(
    State(state): State<Arc<AppState>>,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    let Some(secret) = state.settings.secrets.signal_secret.as_ref() else {
        return error(
            StatusCode::SERVICE_UNAVAILABLE,
            "signals are not configured: CAPACITY_SIGNAL_SECRET is not set",
        );
    };
    let header = |name: &str| headers.get(name).and_then(|v| v.to_str().ok());
    let now = state.clock.now();
    if let Err(e) = verify(
        secret.expose_secret().as_bytes(),
        header("x-capacity-timestamp"),
        header("x-capacity-signature"),
        &body,
        now.timestamp(),
    ) {
        warn!(reason = %e, "refused an activation signal");
        return error(StatusCode::UNAUTHORIZED, e.to_string());
    }
    let signal: Signal = match serde_json::from_slice(&body) {
        Ok(s) => s,
        Err(e) => {
            return error(
                StatusCode::UNPROCESSABLE_ENTITY,
                format!("malformed body: {e}"),
            )
        }
    };
    let signal_id = signal.signal_id.trim();
    if signal_id.is_empty() || signal_id.len() > 200 {
        return error(
            StatusCode::UNPROCESSABLE_ENTITY,
            "signal_id must be 1 to 200 characters",
        );
    }
    let number: RequestNumber = match signal.request.parse() {
        Ok(n) => n,
        Err(e) => return error(StatusCode::UNPROCESSABLE_ENTITY, e.to_string()),
    };
    let request = match store::requests::by_number(&state.pool, number).await {
        Ok(Some(r)) => r,
        Ok(None) => return error(StatusCode::NOT_FOUND, format!("{number} does not exist")),
        Err(e) => {
            return error(
                StatusCode::SERVICE_UNAVAILABLE,
                format!("database unavailable: {e}"),
            )
        }
    };
    let append = Append {
        target: Target::Existing(request.id),
        commands: vec![Command::Activated {
            signal_id: Some(signal_id.to_string()),
        }],
        actor: Actor::ControlPlane,
        policy: state.settings.policy.clone(),
        now,
        expected_version: None,
        // One event per signal, whatever happens to the request afterwards.
        idempotency_key: format!("signal:{signal_id}"),
        envelope_id: None,
        linear: state.linear_trigger(),
    };
    match state.record(&append).await {
        Ok(done) => {
            let event_id = done.events.first().map(|e| e.id);
            let code = if done.duplicate {
                StatusCode::OK
            } else {
                StatusCode::ACCEPTED
            };
            info!(request = %number, signal_id, observed_at = %signal.observed_at, duplicate = done.duplicate, "activation signal");
            (
                code,
                Json(json!({ "request": done.request.number.to_string(), "event_id": event_id })),
            )
                .into_response()
        }
        Err(AppendError::Refused(Refusal::WrongState { state: s, .. })) => error(
            StatusCode::CONFLICT,
            format!("{number} is {s}, not READY_FOR_CUSTOMER"),
        ),
        Err(AppendError::Refused(Refusal::CancellationPending { .. })) => error(
            StatusCode::CONFLICT,
            format!("{number} has a cancellation pending; its commercial owner decides first"),
        ),
        Err(AppendError::Refused(r)) => error(StatusCode::CONFLICT, r.to_string()),
        Err(AppendError::NotFound) => {
            error(StatusCode::NOT_FOUND, format!("{number} does not exist"))
        }
        Err(e @ (AppendError::Conflict { .. } | AppendError::WrongButton(_))) => {
            error(StatusCode::CONFLICT, e.to_string())
        }
        Err(AppendError::Store(e)) => error(
            StatusCode::SERVICE_UNAVAILABLE,
            format!("database unavailable: {e}"),
        ),
    }
}
