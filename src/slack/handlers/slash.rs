//! `/capacity [new|status CR-n|list [mine|open|waiting]|help]`.

use serde_json::Value;
use tracing::warn;

use super::{actor, ephemeral, str_at};
use crate::context::AppState;
use crate::domain::{decision_owner, Party, RequestNumber, Role, UserId};
use crate::render;
use crate::render::ephemeral::ListScope;
use crate::store::{self, requests::ListFilter};

/// The ack payload: an ephemeral reply, or `None` once the form is open.
pub async fn handle(state: &AppState, payload: &Value, envelope_id: &str) -> Option<Value> {
    let Some(user) = str_at(payload, "/user_id").and_then(|u| UserId::parse(u).ok()) else {
        return Some(ephemeral(
            "That command arrived without a user; nothing was done.",
        ));
    };
    let text = str_at(payload, "/text")
        .unwrap_or_default()
        .trim()
        .to_string();
    let mut words = text.split_whitespace();
    let sub = words.next().map(str::to_ascii_lowercase);
    if sub
        .as_deref()
        .is_some_and(|s| super::away::SUBCOMMANDS.contains(&s))
    {
        return Some(super::away::handle(state, payload, &user, &text, envelope_id).await);
    }
    let arg = words.next();
    let extra = words.next();
    let reply = match (sub.as_deref(), arg, extra) {
        (None, ..) | (Some("new"), None, None) => return open_intake(state, payload, &user).await,
        (Some("help"), None, None) => ephemeral(render::ephemeral::help_text()),
        (Some("status"), Some(n), None) => status(state, n).await,
        (Some("status"), None, None) => ephemeral(format!(
            "Which request? Use `/capacity status CR-12`.\n\n{}",
            render::ephemeral::help_text()
        )),
        (Some("list"), scope, None) => match ListScope::parse(scope) {
            Some(scope) => list(state, &user, scope).await,
            None => ephemeral(format!(
                "`/capacity list` takes `mine`, `open` or `waiting`.\n\n{}",
                render::ephemeral::help_text()
            )),
        },
        _ => ephemeral(format!(
            "I don't know `/capacity {}`.\n\n{}",
            render::text::escape(&render::text::truncate(&text, 100)),
            render::ephemeral::help_text()
        )),
    };
    Some(reply)
}

async fn open_intake(state: &AppState, payload: &Value, user: &UserId) -> Option<Value> {
    let Some(trigger) = str_at(payload, "/trigger_id") else {
        return Some(ephemeral(
            "That command arrived without a trigger id, so the form cannot open. Please try again.",
        ));
    };
    let team = str_at(payload, "/team_id").and_then(|t| crate::domain::TeamId::parse(t).ok());
    if let Err(why) = may_request(state, user, team.as_ref()).await {
        return Some(ephemeral(why));
    }
    let today = state.settings.policy.calendar.local_date(state.clock.now());
    match state
        .api
        .open_view(trigger, render::modal::intake_modal(today))
        .await
    {
        Ok(()) => None,
        Err(e) => {
            warn!(error.message = %e, "could not open the intake modal");
            Some(ephemeral(format!(
                "The request form could not be opened ({e}). Please run `/capacity new` again."
            )))
        }
    }
}

/// Whether `user` may open a request; the refusal says who can. Without a team the check
/// is left to the submission, which resolves the actor anyway.
pub(super) async fn may_request(
    state: &AppState,
    user: &UserId,
    team: Option<&crate::domain::TeamId>,
) -> Result<(), String> {
    if state.roles.roles().anyone_may_request() {
        return Ok(());
    }
    let Some(team) = team else { return Ok(()) };
    match actor(state, user, team).await {
        Ok(actor) if !actor.has(Role::Requester) => Err(format!(
            "Only {} can open capacity requests. Ask one of them, or an admin to add you to `roles.requesters`.",
            render::text::mention(&Party::Role(Role::Requester), state.roles.roles())
        )),
        Ok(_) => Ok(()),
        Err(why) => Err(why),
    }
}

async fn status(state: &AppState, arg: &str) -> Value {
    let number: RequestNumber = match arg.parse() {
        Ok(n) => n,
        Err(e) => return ephemeral(format!("{e}.")),
    };
    match store::requests::by_number(&state.pool, number).await {
        Ok(Some(req)) => {
            let links = store::requests::links(&state.pool, req.id)
                .await
                .unwrap_or_default();
            let s = &state.settings;
            ephemeral(render::ephemeral::status_text(
                &req,
                &links,
                &s.policy,
                state.roles.roles(),
                state.clock.now(),
            ))
        }
        Ok(None) => ephemeral(format!(
            "{number} does not exist. `/capacity list` shows the open requests."
        )),
        Err(e) => {
            warn!(error.message = %e, "status lookup failed");
            ephemeral("The database did not answer; please try again.")
        }
    }
}

async fn list(state: &AppState, user: &UserId, scope: ListScope) -> Value {
    let filter = ListFilter {
        // Waiting includes closed requests whose committed capacity waits for a release.
        open_only: scope != ListScope::Waiting,
        awaiting_decision: scope == ListScope::Waiting,
        involving: (scope == ListScope::Mine).then(|| user.clone()),
        limit: 200,
        ..ListFilter::default()
    };
    let mut requests = match store::requests::list(&state.pool, &filter).await {
        Ok(r) => r,
        Err(e) => {
            warn!(error.message = %e, "list failed");
            return ephemeral("The database did not answer; please try again.");
        }
    };
    if scope == ListScope::Waiting {
        let mut mine = Vec::new();
        for r in requests {
            if let Some(owner) = decision_owner(&r) {
                let mut waiting_on_me = false;
                for party in &owner.parties {
                    if state.roles.people(party).await.contains(user) {
                        waiting_on_me = true;
                        break;
                    }
                }
                if waiting_on_me {
                    mine.push(r);
                }
            }
        }
        requests = mine;
    }
    let s = &state.settings;
    ephemeral(render::ephemeral::list_text(
        &requests,
        scope,
        &s.policy,
        state.roles.roles(),
        state.clock.now(),
    ))
}
