//! Modals and their parsers: the intake form that creates a request, the small form that
//! asks for a reason (or a number of days, or a comment) before an action is recorded, and
//! the reassign form.
//!
//! Parsers read `view.state.values` exactly as Slack sends it
//! (`values[block_id][action_id] = {"type": …, <value field>}`); every input here uses the
//! same string for its block id and its action id. Field errors come back keyed by block id,
//! ready for a `response_action: errors` ack.

mod intake;
mod reason;
mod reassign;

pub use intake::{
    intake_modal, intake_modal_from, justification_from, parse_intake, parse_source, IntakeErrors,
    COMMERCIAL_OWNER, INTAKE_BLOCK_IDS, INTAKE_CALLBACK_ID,
};
pub use reason::{
    parse_reason_submission, reason_modal, ReasonError, ReasonInput, REASON_CALLBACK_ID,
};
pub use reassign::{
    parse_reassign_submission, reassign_modal, NEW_OWNER, OWNER_ROLE, REASSIGN_CALLBACK_ID,
};

use serde_json::Value;
use slack_morphism::blocks::{SlackBlockPlainText, SlackBlockPlainTextOnly};

/// A plain_text object.
fn plain(s: &str) -> SlackBlockPlainTextOnly {
    SlackBlockPlainText::new(s.to_string()).into()
}

/// The state of the input whose block id and action id are both `id`.
fn input<'a>(values: &'a Value, id: &str) -> Option<&'a Value> {
    values.get(id)?.get(id)
}

/// A text or number input's value, trimmed; `None` when absent, null or blank.
fn typed(values: &Value, id: &str) -> Option<String> {
    input(values, id)?
        .get("value")?
        .as_str()
        .map(str::trim)
        .filter(|s| !s.is_empty())
        .map(str::to_string)
}

/// A field of a select-like input (`selected_date`, `selected_user`) as a string.
fn selected<'a>(values: &'a Value, id: &str, field: &str) -> Option<&'a str> {
    input(values, id)?.get(field)?.as_str()
}

/// A static select's chosen option value.
fn chosen<'a>(values: &'a Value, id: &str) -> Option<&'a str> {
    input(values, id)?
        .get("selected_option")?
        .get("value")?
        .as_str()
}
