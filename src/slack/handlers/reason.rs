//! The reason (or days) modal's submission: record the action it was opened for.

use serde_json::Value;

use super::{actor, append_within_budget, field_errors, fields_with_nul, str_at};
use crate::context::AppState;
use crate::domain::{EventKind, TeamId, UserId};
use crate::render::modal::{parse_reason_submission, ReasonError};

/// The reason modal's input block ids.
const REASON: &str = "reason";
const DAYS: &str = "days";
use crate::store::{Append, Target};

pub async fn handle(state: &AppState, payload: &Value, envelope_id: &str) -> Option<Value> {
    let metadata = str_at(payload, "/view/private_metadata").unwrap_or_default();
    let values = payload
        .pointer("/view/state/values")
        .cloned()
        .unwrap_or(Value::Null);
    let unstorable = fields_with_nul(&values, &[REASON, DAYS]);
    if !unstorable.is_empty() {
        return Some(field_errors(unstorable));
    }
    let (kind, value, input) = match parse_reason_submission(metadata, &values) {
        Ok(parsed) => parsed,
        Err(ReasonError::Fields(errors)) => return Some(field_errors(errors)),
        Err(e @ ReasonError::Metadata(_)) => {
            return Some(field_errors([(
                REASON.to_string(),
                format!("{e}. Close this form and click the button again."),
            )]))
        }
    };
    let field = if kind == EventKind::TtlExtended {
        DAYS
    } else {
        REASON
    };
    let fail = |text: String| Some(field_errors([(field.to_string(), text)]));
    let (Some(user), Some(team)) = (
        str_at(payload, "/user/id").and_then(|u| UserId::parse(u).ok()),
        str_at(payload, "/team/id")
            .or_else(|| str_at(payload, "/user/team_id"))
            .and_then(|t| TeamId::parse(t).ok()),
    ) else {
        return fail("This submission has no user or team; please click the button again.".into());
    };
    let Some(command) = input.to_command(kind) else {
        return fail(format!("`{kind}` does not take this input."));
    };
    let actor = match actor(state, &user, &team).await {
        Ok(a) => a,
        Err(why) => return fail(why),
    };
    let view_id = str_at(payload, "/view/id").unwrap_or_default();
    let append = Append {
        target: Target::Existing(value.request),
        commands: vec![command],
        actor,
        policy: state.settings.policy.clone(),
        now: state.clock.now(),
        // A comment is about the request, not about what its message showed: one typed while
        // someone else moved the request still counts.
        expected_version: (kind != EventKind::CommentAdded).then_some(value.version),
        idempotency_key: format!(
            "reason:{view_id}:{}:v{}:{kind}:{user}",
            value.request, value.version
        ),
        envelope_id: Some(envelope_id.to_string()),
        linear: state.linear_trigger(),
    };
    match append_within_budget(state, &append).await {
        Ok(_) => None,
        Err(reply) => fail(reply.text()),
    }
}
