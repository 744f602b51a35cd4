//! The intake modal's submission: validate, record `submitted` (and the owner assignment).

use serde_json::Value;
use uuid::Uuid;

use super::{actor, append_within_budget, field_errors, fields_with_nul, str_at, Reply};
use crate::context::AppState;
use crate::domain::{
    check_new_owner, Command, OwnerRole, RequestId, RequestNumber, TeamId, UserId,
};
use crate::render::modal::{parse_intake, parse_source, COMMERCIAL_OWNER, INTAKE_BLOCK_IDS};
use crate::store::{Append, Target};

/// Errors that are not about one field are shown on the first one.
const FIRST_FIELD: &str = "customer";

pub async fn handle(state: &AppState, payload: &Value, envelope_id: &str) -> Option<Value> {
    let (Some(user), Some(team)) = (
        str_at(payload, "/user/id").and_then(|u| UserId::parse(u).ok()),
        str_at(payload, "/team/id")
            .or_else(|| str_at(payload, "/user/team_id"))
            .and_then(|t| TeamId::parse(t).ok()),
    ) else {
        return Some(field_errors([(
            FIRST_FIELD.to_string(),
            "This submission has no user or team; please reopen the form.".to_string(),
        )]));
    };
    let values = payload
        .pointer("/view/state/values")
        .cloned()
        .unwrap_or(Value::Null);
    let unstorable = fields_with_nul(&values, &INTAKE_BLOCK_IDS);
    if !unstorable.is_empty() {
        return Some(field_errors(unstorable));
    }
    let now = state.clock.now();
    let today = state.settings.policy.calendar.local_date(now);
    let mut details = match parse_intake(&values, today) {
        Ok(d) => d,
        Err(errors) => return Some(field_errors(errors)),
    };
    // A form opened from a message carries that message's address; Slack hands
    // `private_metadata` back as we wrote it, so one that does not read is refused, not
    // silently dropped.
    details.source = match parse_source(str_at(payload, "/view/private_metadata").unwrap_or("")) {
        Ok(source) => source.map(Box::new),
        Err(why) => {
            return Some(field_errors([(
                FIRST_FIELD.to_string(),
                format!(
                "This form cannot be recorded: {why}. Please close it and run the shortcut again."
            ),
            )]))
        }
    };
    // Nobody approves their own request: naming yourself as the AE is refused on the field,
    // before anything is recorded.
    if let Some(owner) = &details.commercial_owner {
        if check_new_owner(&user, None, OwnerRole::Commercial, owner).is_err() {
            return Some(field_errors([(
                COMMERCIAL_OWNER.to_string(),
                "You are the requester, so you cannot also be the commercial owner (who \
                 approves it). Pick the account executive, or leave this empty for a \
                 commercial approver to assign one."
                    .to_string(),
            )]));
        }
    }
    let actor = match actor(state, &user, &team).await {
        Ok(a) => a,
        Err(why) => return Some(field_errors([(FIRST_FIELD.to_string(), why)])),
    };
    // The view id is unique per opened form, so a redelivered submission is recorded once.
    let view_id = str_at(payload, "/view/id").unwrap_or_default();
    let key = if view_id.is_empty() {
        format!("intake:{}", Uuid::new_v4())
    } else {
        format!("intake:{view_id}")
    };
    let mut commands = vec![Command::Submitted {
        number: RequestNumber(0),
        details: details.clone(),
    }];
    if let Some(owner) = details.commercial_owner.clone() {
        commands.push(Command::CommercialOwnerAssigned { owner });
    }
    let append = Append {
        target: Target::New(RequestId(Uuid::now_v7())),
        commands,
        actor,
        policy: state.settings.policy.clone(),
        now,
        expected_version: None,
        idempotency_key: key,
        envelope_id: Some(envelope_id.to_string()),
        linear: state.linear_trigger(),
    };
    match append_within_budget(state, &append).await {
        Ok(_) => None,
        Err(reply) => Some(field_errors([(FIRST_FIELD.to_string(), reply.text())])),
    }
}

impl From<Reply> for String {
    fn from(r: Reply) -> String {
        r.text()
    }
}
