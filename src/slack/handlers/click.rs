//! A click on a button, a `more_actions` menu option or an owner picker: decode it, ask the
//! domain, record it (or open the form that asks for its input), or say why not.

use serde_json::Value;
use tracing::warn;

use super::{actor, append_within_budget, home, str_at, Reply};
use crate::context::AppState;
use crate::domain::{decide, Command, Context, EventKind, OwnerRole, SlackMessage, TeamId, UserId};
use crate::render;
use crate::render::action_value::{decode, decode_option, ActionValue};
use crate::render::buttons::MORE_ACTIONS;
use crate::render::modal::{reason_modal, reassign_modal};
use crate::store::{self, Append, Button, Target};
use slack_morphism::blocks::SlackView;

/// The command a button sends, for the buttons that need no further input.
fn command_for(kind: EventKind) -> Option<Command> {
    Some(match kind {
        EventKind::CommercialApproved => Command::CommercialApproved,
        EventKind::TechnicalOwnerAssigned => Command::TechnicalOwnerAssigned,
        EventKind::TechnicalApproved => Command::TechnicalApproved,
        EventKind::EarlyProcurementStarted => Command::EarlyProcurementStarted,
        EventKind::CustomerConfirmed => Command::CustomerConfirmed,
        EventKind::ProvisioningCompleted => Command::ProvisioningCompleted,
        EventKind::Activated => Command::Activated { signal_id: None },
        EventKind::CancelApproved => Command::CancelApproved,
        EventKind::CancelDenied => Command::CancelDenied,
        EventKind::CapacityReleased => Command::CapacityReleased,
        // The review DM's button.
        EventKind::ForcedTransitionReviewed => Command::ForcedTransitionReviewed,
        _ => return None,
    })
}

/// A stand-in input, to ask `decide` "would this be allowed?" before opening a modal.
fn with_placeholder_input(kind: EventKind) -> Option<Command> {
    let reason = "pending".to_string();
    Some(match kind {
        EventKind::CommercialRejected => Command::CommercialRejected { reason },
        EventKind::TechnicalRejected => Command::TechnicalRejected { reason },
        EventKind::ProvisioningFailed => Command::ProvisioningFailed { reason },
        EventKind::CancelRequested => Command::CancelRequested { reason },
        EventKind::TtlExtended => Command::TtlExtended { days: 1 },
        _ => return None,
    })
}

pub async fn handle(state: &AppState, payload: &Value, envelope_id: &str) {
    let user = str_at(payload, "/user/id").and_then(|u| UserId::parse(u).ok());
    let channel = str_at(payload, "/container/channel_id")
        .or_else(|| str_at(payload, "/channel/id"))
        .map(str::to_string);
    let Some(user) = user else {
        warn!("a click without a user; ignored");
        return;
    };
    let reply = match click(state, payload, &user, envelope_id).await {
        Ok(()) => return,
        Err(reply) => reply.text(),
    };
    match channel {
        Some(channel) => state.tell_later(channel, user, reply),
        // Home has no channel: see `AppState::tell_in_dm_later` for why a DM.
        None if home::from_home(payload) => state.tell_in_dm_later(user, reply),
        None => warn!(%user, reply, "a refused click with no channel to answer in"),
    }
}

async fn click(
    state: &AppState,
    payload: &Value,
    user: &UserId,
    envelope_id: &str,
) -> Result<(), Reply> {
    let team = str_at(payload, "/team/id")
        .or_else(|| str_at(payload, "/user/team_id"))
        .and_then(|t| TeamId::parse(t).ok())
        .ok_or_else(|| {
            Reply::Text("That click arrived without a team; nothing was recorded.".into())
        })?;
    let action = payload
        .pointer("/actions/0")
        .ok_or_else(|| Reply::Text("That click carried no action; nothing was recorded.".into()))?;
    let on_home = home::from_home(payload);
    if on_home && str_at(action, "/type") != Some("button") {
        return Err(Reply::Text(
            "Home shows only decision buttons; use the request's message for anything else.".into(),
        ));
    }
    match str_at(action, "/type") {
        Some("users_select") => {
            let actor = super::actor(state, user, &team)
                .await
                .map_err(Reply::Text)?;
            let message = clicked_message(payload);
            return super::owner::owner_from_select(
                state,
                action,
                actor,
                user,
                message,
                envelope_id,
            )
            .await;
        }
        Some("overflow") => return more_actions(state, payload, action, user, &team).await,
        _ => {}
    }
    let action_id = str_at(action, "/action_id").unwrap_or_default();
    let kind: EventKind = action_id.parse().map_err(|_| {
        Reply::Text(
            "That button is not one this bot knows; use the buttons on the request message.".into(),
        )
    })?;
    let value: ActionValue = decode(str_at(action, "/value").unwrap_or_default()).map_err(|e| {
        Reply::Text(format!(
            "That button could not be read ({e}); use the buttons on the request message."
        ))
    })?;
    if on_home {
        home::check_click(state, payload, user, action, &value).await?;
    }
    let actor = actor(state, user, &team).await.map_err(Reply::Text)?;
    let now = state.clock.now();
    // The value is checked against the request it names where that request is read anyway
    // (the append's locked row, the modal's lookup), so a forged one costs no extra query.
    let button = Button {
        request: value.request,
        number: value.number,
        message: clicked_message(payload),
    };

    if kind.takes_input() {
        let probe = with_placeholder_input(kind)
            .ok_or_else(|| Reply::Text(format!("`{kind}` takes no input.")))?;
        let form = Form {
            button: &button,
            version: value.version,
            actor: &actor,
            probe,
        };
        return open_form(state, payload, form, |req| reason_modal(kind, req)).await;
    }
    let command = command_for(kind)
        .ok_or_else(|| Reply::Text(format!("`{kind}` is not something a button can do.")))?;
    let append = Append {
        target: Target::Button(button),
        commands: vec![command],
        actor,
        policy: state.settings.policy.clone(),
        now,
        expected_version: Some(value.version),
        // A redelivered envelope and a double click carry the same request, version, action
        // and user: recorded once. Another user at the same version conflicts instead.
        idempotency_key: format!(
            "click:{}:v{}:{}:{}",
            value.request, value.version, kind, user
        ),
        envelope_id: Some(envelope_id.to_string()),
        linear: state.linear_trigger(),
    };
    let done = append_within_budget(state, &append).await?;
    // The same key from another envelope is a new click on a recorded button: say so. Slack
    // redelivering the first click's envelope stays silent.
    match done.events.first() {
        Some(first) if done.duplicate && first.envelope_id.as_deref() != Some(envelope_id) => {
            Err(Reply::Text(render::ephemeral::already_recorded_reply(
                first,
                &done.request,
                state.roles.roles(),
                &state.settings.policy,
                state.clock.now(),
            )))
        }
        _ => Ok(()),
    }
}

/// A choice in the root message's `more_actions` menu: each option opens its form (a
/// comment, or which owner and whom); the event is recorded when the form is submitted.
async fn more_actions(
    state: &AppState,
    payload: &Value,
    action: &Value,
    user: &UserId,
    team: &TeamId,
) -> Result<(), Reply> {
    let chosen = str_at(action, "/selected_option/value").unwrap_or_default();
    let unknown = || {
        Reply::Text(
            "That menu option is not one this bot knows; use the ⋯ menu on the request message."
                .into(),
        )
    };
    if str_at(action, "/action_id") != Some(MORE_ACTIONS) {
        return Err(unknown());
    }
    let (kind, value) = decode_option(chosen).map_err(|_| unknown())?;
    let actor = actor(state, user, team).await.map_err(Reply::Text)?;
    let button = Button {
        request: value.request,
        number: value.number,
        message: clicked_message(payload),
    };
    let form = |probe| Form {
        button: &button,
        version: value.version,
        actor: &actor,
        probe,
    };
    match kind {
        EventKind::CommentAdded => {
            let probe = Command::CommentAdded {
                text: "pending".into(),
            };
            open_form(state, payload, form(probe), |req| reason_modal(kind, req)).await
        }
        EventKind::OwnerReassigned => {
            // Who and which slot come with the form; the probe asks only "may this person
            // reassign an owner of this request now?".
            let probe = Command::OwnerReassigned {
                role: OwnerRole::Commercial,
                to: UserId::parse(PROBE_USER).map_err(|_| unknown())?,
            };
            open_form(state, payload, form(probe), reassign_modal).await
        }
        _ => Err(unknown()),
    }
}

/// Slackbot's id: never anyone's owner, so a probe naming it meets only the rules about the
/// state and the asker.
const PROBE_USER: &str = "USLACKBOT";

/// A form about to open: the click it answers and the command asked with stand-in input.
struct Form<'a> {
    button: &'a Button,
    version: i32,
    actor: &'a crate::domain::Actor,
    probe: Command,
}

/// Actions that need input open a modal; the event is recorded when it is submitted. The
/// domain is asked first (with `probe`, the command with stand-in input), so nobody fills
/// in a form for a click that cannot count.
async fn open_form(
    state: &AppState,
    payload: &Value,
    form: Form<'_>,
    view: impl FnOnce(&crate::domain::Request) -> SlackView,
) -> Result<(), Reply> {
    let Form {
        button,
        version,
        actor,
        probe,
    } = form;
    let now = state.clock.now();
    let (req, links) = match tokio::time::timeout(
        super::DB_BUDGET,
        store::requests::with_links(&state.pool, button.request),
    )
    .await
    {
        Err(_) | Ok(Err(_)) => return Err(Reply::NotRecorded),
        Ok(Ok(None)) => return Err(Reply::Text("That request does not exist.".into())),
        Ok(Ok(Some(found))) => found,
    };
    // The form would carry the request the id names; a value that is not that request's
    // own button gets no form to fill in.
    button
        .check(&req, links.root().as_ref())
        .map_err(|wrong| Reply::Text(wrong.to_string()))?;
    let ctx = Context {
        request_id: req.id,
        actor,
        policy: &state.settings.policy,
        now,
        expected_version: Some(version),
    };
    if let Err(refusal) = decide(Some(&req), &probe, &ctx) {
        let (roles, policy) = (state.roles.roles(), &state.settings.policy);
        let text = if refusal.is_stale() {
            let winner = store::events::events_of(&state.pool, req.id)
                .await
                .ok()
                .and_then(|log| log.into_iter().find(|e| e.version_after > version));
            crate::render::ephemeral::conflict_reply(
                winner.as_ref(),
                Some(&req),
                roles,
                policy,
                now,
            )
        } else {
            crate::render::ephemeral::refusal_reply(&refusal, Some(&req), roles, policy, now)
        };
        return Err(Reply::Text(text));
    }
    let trigger = str_at(payload, "/trigger_id")
        .ok_or_else(|| Reply::Text("That click had no trigger id; please click again.".into()))?;
    state.api.open_view(trigger, view(&req)).await.map_err(|e| {
        Reply::Text(format!(
            "The form could not be opened ({e}); please click again."
        ))
    })
}

/// The message a click came from, as the payload's `container` names it.
fn clicked_message(payload: &Value) -> Option<SlackMessage> {
    Some(SlackMessage {
        channel: str_at(payload, "/container/channel_id")?.to_string(),
        ts: str_at(payload, "/container/message_ts")?.to_string(),
    })
}
