//! From a Socket Mode envelope to a domain event (or a refusal) and the ack.
//!
//! Each handler does: read the payload → ask the domain → one short transaction → return
//! the ack payload. Slack side effects of recorded events go through the outbox; only the
//! replies about what was *not* recorded (refusals, "try again") are sent directly, after
//! the ack, since there is no event to hang them on.

mod away;
mod click;
pub mod home;
mod intake;
mod mention;
mod owner;
mod reason;
mod shortcut;
mod slash;

use std::sync::Arc;
use std::time::Duration;

use serde_json::{json, Value};
use tracing::{error, info, warn, Span};

use super::envelope::{Envelope, EnvelopeKind};
use crate::context::AppState;
use crate::domain::{Actor, Request, RoleSet, TeamId, UserId};
use crate::render;
use crate::store::{self, Append, AppendError, Appended, Target};

/// How long the database may take for one click before the user is told to try again;
/// Slack's own limit for the ack is 3 s.
pub const DB_BUDGET: Duration = Duration::from_millis(2000);

/// How long a refusal may wait to read who acts next; the ack is due within 3 s.
const LOOKUP_BUDGET: Duration = Duration::from_millis(500);

/// The text users see when a write could not be confirmed.
pub const NOT_RECORDED: &str =
    "Not recorded: the database did not answer in time. Nothing was saved; please try again.";

pub async fn handle_envelope(state: Arc<AppState>, envelope: Envelope) -> Option<Value> {
    let payload = &envelope.payload;
    if !accepts(&state, payload, &envelope.kind) {
        return None;
    }
    // Every event recorded from this envelope carries its id, so an audit can tie the event
    // to Slack's delivery.
    let from = envelope.envelope_id.as_str();
    match envelope.kind {
        EnvelopeKind::SlashCommands => slash::handle(&state, payload, from).await,
        EnvelopeKind::Interactive => match payload.get("type").and_then(Value::as_str) {
            Some("block_actions") => {
                click::handle(&state, payload, from).await;
                None
            }
            Some("view_submission") => {
                let callback = payload
                    .pointer("/view/callback_id")
                    .and_then(Value::as_str)
                    .unwrap_or_default();
                match callback {
                    render::modal::INTAKE_CALLBACK_ID => {
                        intake::handle(&state, payload, from).await
                    }
                    render::modal::REASON_CALLBACK_ID => {
                        reason::handle(&state, payload, from).await
                    }
                    render::modal::REASSIGN_CALLBACK_ID => {
                        owner::reassign_submitted(&state, payload, from).await
                    }
                    other => {
                        warn!(
                            callback_id = other,
                            "a view submission for a view we did not open"
                        );
                        None
                    }
                }
            }
            Some(kind @ ("message_action" | "shortcut")) => {
                let expected = if kind == "message_action" {
                    shortcut::FROM_MESSAGE
                } else {
                    shortcut::NEW_REQUEST
                };
                match str_at(payload, "/callback_id") {
                    Some(callback) if callback == expected => {
                        shortcut::handle(&state, payload, kind == "message_action").await
                    }
                    callback => warn!(?callback, kind, "a shortcut this app does not declare"),
                }
                None
            }
            Some(other) => {
                info!(
                    interaction = other,
                    "ignored an interaction type we do not use"
                );
                None
            }
            None => {
                warn!("an interactive envelope without a type");
                None
            }
        },
        EnvelopeKind::EventsApi
            if payload.pointer("/event/type").and_then(Value::as_str) == Some("user_change") =>
        {
            away::user_change(&state, payload, from).await;
            None
        }
        EnvelopeKind::EventsApi
            if payload.pointer("/event/type").and_then(Value::as_str) == Some("message") =>
        {
            mention::handle(&state, payload).await;
            None
        }
        EnvelopeKind::EventsApi
            if payload.pointer("/event/type").and_then(Value::as_str)
                == Some("app_home_opened") =>
        {
            home::opened(&state, payload).await;
            None
        }
        EnvelopeKind::EventsApi => {
            info!(event_id = ?payload.get("event_id"), "ignored an Events API event we do not subscribe to");
            None
        }
        EnvelopeKind::Other(ref kind) => {
            info!(kind, "ignored an envelope type this version does not know");
            None
        }
    }
}

/// Envelopes from another team or app get no reply: they are logged and dropped.
fn accepts(state: &AppState, payload: &Value, kind: &EnvelopeKind) -> bool {
    let team = payload
        .pointer("/team/id")
        .or_else(|| payload.get("team_id"))
        .and_then(Value::as_str);
    let app = payload.get("api_app_id").and_then(Value::as_str);
    if let (Some(expected), Some(team)) = (state.team_id(), team) {
        if expected.as_str() != team {
            warn!(team, expected = %expected, ?kind, "refused an envelope from another team");
            return false;
        }
    }
    if let (Some(expected), Some(app)) = (state.socket.app_id(), app) {
        if expected != app {
            warn!(app, expected, ?kind, "refused an envelope for another app");
            return false;
        }
    }
    true
}

/// The actor for a Slack user, with roles resolved from config and user groups.
pub(crate) async fn actor(state: &AppState, user: &UserId, team: &TeamId) -> Result<Actor, String> {
    let roles: RoleSet = tokio::time::timeout(DB_BUDGET, state.roles.roles_of(user))
        .await
        .map_err(|_| {
            "Slack did not tell us your user groups in time; please try again.".to_string()
        })?
        .map_err(|e| format!("Could not look up your roles in Slack ({e}); please try again."))?;
    Ok(Actor::User {
        id: user.clone(),
        team: team.clone(),
        roles,
    })
}

/// The request as it is now, so a refused clicker can be told who acts next. `None` when
/// it cannot be read within `LOOKUP_BUDGET`: the refusal then goes out without that line.
async fn request_now(state: &AppState, target: &Target) -> Option<Request> {
    let id = target.existing()?;
    let read = store::requests::by_id(&state.pool, id);
    tokio::time::timeout(LOOKUP_BUDGET, read).await.ok()?.ok()?
}

/// Appends with the click budget; a slow database becomes "not recorded", never a hang.
pub(crate) async fn append_within_budget(
    state: &AppState,
    append: &Append,
) -> Result<Appended, Reply> {
    match tokio::time::timeout(DB_BUDGET, state.record(append)).await {
        Err(_) => {
            warn!("the database did not answer within the click budget");
            Err(Reply::NotRecorded)
        }
        Ok(Ok(appended)) => {
            if let Some(last) = appended.events.last() {
                Span::current().record("request", tracing::field::display(appended.request.number));
                info!(request = %appended.request.number, event = %last.event.kind(), state = %appended.request.state, duplicate = appended.duplicate, "recorded");
            }
            Ok(appended)
        }
        Ok(Err(AppendError::Refused(r))) => {
            let req = request_now(state, &append.target).await;
            Err(Reply::Text(render::ephemeral::refusal_reply(
                &r,
                req.as_ref(),
                state.roles.roles(),
                &state.settings.policy,
                state.clock.now(),
            )))
        }
        Ok(Err(AppendError::Conflict { winner, .. })) => {
            let req = request_now(state, &append.target).await;
            Err(Reply::Text(render::ephemeral::conflict_reply(
                winner.as_deref(),
                req.as_ref(),
                state.roles.roles(),
                &state.settings.policy,
                state.clock.now(),
            )))
        }
        Ok(Err(AppendError::NotFound)) => Err(Reply::Text("That request does not exist.".into())),
        Ok(Err(AppendError::WrongButton(wrong))) => {
            warn!(%wrong, "a button that does not belong to its request or message");
            Err(Reply::Text(wrong.to_string()))
        }
        Ok(Err(AppendError::Store(e))) => {
            let reference = uuid::Uuid::new_v4().simple().to_string();
            error!(error.message = %e, reference = &reference[..8], "could not record an event");
            Err(Reply::NotRecorded)
        }
    }
}

/// What a user is told when nothing was recorded.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Reply {
    Text(String),
    NotRecorded,
}

impl Reply {
    pub fn text(self) -> String {
        match self {
            Reply::Text(t) => t,
            Reply::NotRecorded => NOT_RECORDED.to_string(),
        }
    }
}

pub(crate) fn ephemeral(text: impl Into<String>) -> Value {
    json!({ "response_type": "ephemeral", "text": text.into() })
}

pub(crate) fn field_errors(errors: impl IntoIterator<Item = (String, String)>) -> Value {
    let map: serde_json::Map<String, Value> = errors
        .into_iter()
        .map(|(k, v)| (k, Value::String(v)))
        .collect();
    json!({ "response_action": "errors", "errors": map })
}

/// The text a field gets when it holds a NUL character.
pub const NUL_IN_FIELD: &str =
    "Remove the invisible control character (NUL) from this field; it cannot be stored.";

/// Which of `fields` (block ids of a submitted view's `state.values`) hold a NUL character
/// anywhere. Postgres stores no NUL in text or jsonb, so such input could never be recorded:
/// it is refused on its field, not left to fail as a database error that "try again" would
/// never fix.
pub(crate) fn fields_with_nul(values: &Value, fields: &[&str]) -> Vec<(String, String)> {
    fn has_nul(v: &Value) -> bool {
        match v {
            Value::String(s) => s.contains('\0'),
            Value::Array(items) => items.iter().any(has_nul),
            Value::Object(map) => map.iter().any(|(k, v)| k.contains('\0') || has_nul(v)),
            _ => false,
        }
    }
    fields
        .iter()
        .filter(|id| values.get(**id).is_some_and(has_nul))
        .map(|id| (id.to_string(), NUL_IN_FIELD.to_string()))
        .collect()
}

pub(crate) fn str_at<'a>(v: &'a Value, pointer: &str) -> Option<&'a str> {
    v.pointer(pointer).and_then(Value::as_str)
}
