//! Choosing an owner: the user pickers on a message (the commercial approvers' "Assign
//! owner…" in SUBMITTED, the admins' one-click reassign in a deactivation DM) and the form
//! behind "Reassign owner…" in the root message's `more_actions` menu. Each records one
//! `commercial_owner_assigned` or `owner_reassigned` at the version the message showed.

use serde_json::Value;

use super::{actor, append_within_budget, field_errors, str_at, Reply};
use crate::context::AppState;
use crate::domain::{Actor, Command, EventKind, OwnerRole, Role, SlackMessage, TeamId, UserId};
use crate::render;
use crate::render::action_value::ActionValue;
use crate::render::modal::{parse_reassign_submission, ReasonError, NEW_OWNER};
use crate::store::{self, Append, Target};

/// A pick in a user picker whose `block_id` names the owner slot and the request (as a
/// button's value would); its `action_id` is the event it records.
pub async fn owner_from_select(
    state: &AppState,
    action: &Value,
    actor: Actor,
    user: &UserId,
    message: Option<SlackMessage>,
    envelope_id: &str,
) -> Result<(), Reply> {
    let (role, value) = str_at(action, "/block_id")
        .and_then(render::attention::parse_reassign_block_id)
        .ok_or_else(|| {
            Reply::Text("That picker could not be read; use `/capacity status` to check.".into())
        })?;
    let to = str_at(action, "/selected_user")
        .and_then(|u| UserId::parse(u).ok())
        .ok_or_else(|| Reply::Text("Choose someone to own it.".into()))?;
    let command = match str_at(action, "/action_id") {
        Some(id) if id == EventKind::CommercialOwnerAssigned.as_str() => {
            Command::CommercialOwnerAssigned { owner: to.clone() }
        }
        Some(id) if id == EventKind::OwnerReassigned.as_str() => Command::OwnerReassigned {
            role,
            to: to.clone(),
        },
        _ => {
            return Err(Reply::Text(
                "That picker is not one this bot knows; use the request message.".into(),
            ))
        }
    };
    technical_owner_is_infra(state, role, &to)
        .await
        .map_err(Reply::Text)?;
    let append = owner_append(state, &value, message, command, actor, user, envelope_id);
    append_within_budget(state, &append).await.map(|_| ())
}

/// The reassign form's submission: refusals come back on the form's fields, so the person
/// can choose again without starting over.
pub async fn reassign_submitted(
    state: &AppState,
    payload: &Value,
    envelope_id: &str,
) -> Option<Value> {
    let on = |field: &str, text: String| Some(field_errors([(field.to_string(), text)]));
    let metadata = str_at(payload, "/view/private_metadata").unwrap_or_default();
    let values = payload
        .pointer("/view/state/values")
        .cloned()
        .unwrap_or(Value::Null);
    let (value, role, to) = match parse_reassign_submission(metadata, &values) {
        Ok(parsed) => parsed,
        Err(ReasonError::Fields(errors)) => return Some(field_errors(errors)),
        Err(e @ ReasonError::Metadata(_)) => {
            return on(
                NEW_OWNER,
                format!("{e}. Close this form and choose Reassign owner… again."),
            )
        }
    };
    let (Some(user), Some(team)) = (
        str_at(payload, "/user/id").and_then(|u| UserId::parse(u).ok()),
        str_at(payload, "/team/id")
            .or_else(|| str_at(payload, "/user/team_id"))
            .and_then(|t| TeamId::parse(t).ok()),
    ) else {
        return on(
            NEW_OWNER,
            "This submission has no user or team; please open the form again.".into(),
        );
    };
    if let Err(why) = technical_owner_is_infra(state, role, &to).await {
        return on(NEW_OWNER, why);
    }
    let actor = match actor(state, &user, &team).await {
        Ok(a) => a,
        Err(why) => return on(NEW_OWNER, why),
    };
    let command = Command::OwnerReassigned { role, to };
    let append = owner_append(state, &value, None, command, actor, &user, envelope_id);
    match append_within_budget(state, &append).await {
        Ok(_) => None,
        Err(reply) => on(NEW_OWNER, reply.text()),
    }
}

/// The technical owner reviews and provisions, which only infra may record: a technical
/// owner outside infra would be reminded of a decision they are refused.
async fn technical_owner_is_infra(
    state: &AppState,
    role: OwnerRole,
    to: &UserId,
) -> Result<(), String> {
    if role != OwnerRole::Technical {
        return Ok(());
    }
    let roles = state
        .roles
        .roles_of(to)
        .await
        .map_err(|e| format!("Could not look up <@{to}>'s roles in Slack ({e}); try again."))?;
    if roles.has(Role::Infra) {
        Ok(())
    } else {
        Err(format!(
            "<@{to}> is not in infra, and only infra can review and provision. Pick someone \
             in infra as the technical owner."
        ))
    }
}

fn owner_append(
    state: &AppState,
    value: &ActionValue,
    message: Option<SlackMessage>,
    command: Command,
    actor: Actor,
    user: &UserId,
    envelope_id: &str,
) -> Append {
    let kind = command.kind();
    let to = match &command {
        Command::CommercialOwnerAssigned { owner } => owner.to_string(),
        Command::OwnerReassigned { to, .. } => to.to_string(),
        _ => String::new(),
    };
    Append {
        target: Target::Button(store::Button {
            request: value.request,
            number: value.number,
            message,
        }),
        commands: vec![command],
        actor,
        policy: state.settings.policy.clone(),
        now: state.clock.now(),
        expected_version: Some(value.version),
        // A redelivered envelope or a second identical pick records once.
        idempotency_key: format!("{kind}:{}:v{}:{user}:{to}", value.request, value.version),
        envelope_id: Some(envelope_id.to_string()),
        linear: state.linear_trigger(),
    }
}
