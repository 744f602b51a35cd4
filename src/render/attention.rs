//! Sentences for delegation, snooze, nudge and break-glass: the root message's marks, the
//! thread replies of those events, and the review DM.

use chrono::{DateTime, Utc};
use slack_morphism::blocks::{
    SlackActionsBlock, SlackBlock, SlackBlockButtonElement, SlackBlockMarkDownText,
    SlackBlockPlainText, SlackBlockUsersSelectElement, SlackContextBlock,
};
use slack_morphism::SlackMessageContent;

use super::action_value::ActionValue;
use super::blocks::{id, section};
use super::lines::{day, safe_url, summary, when};
use super::text::{mentions, quote};
use crate::config::Roles;
use crate::domain::{Actor, Event, EventKind, OwnerRole, Party, Policy, Request, State};

const REASON_MAX: usize = 800;

/// The root message's marks: a forced move (reviewed or not), owners away and who decides
/// for them, snoozed reminders. `None` when there is nothing to say.
pub(crate) fn root_marks(req: &Request, policy: &Policy, now: DateTime<Utc>) -> Option<String> {
    let cal = &policy.calendar;
    let mut lines = Vec::new();
    if let Some(f) = &req.attention.forced {
        let by =
            f.by.as_ref()
                .map_or("an admin".to_string(), |u| format!("<@{u}>"));
        let review = match &f.reviewed_by {
            Some(r) => format!("Reviewed by <@{r}>."),
            None => format!(
                "*Awaiting review* by another admin (`/capacity review {}`).",
                req.number
            ),
        };
        lines.push(format!(
            ":rotating_light: *Forced* (break-glass) by {by} on {}: *{}* → *{}*. {review}\n{}",
            when(f.at, cal, now),
            f.from.label(),
            f.to.label(),
            quote(&f.reason, REASON_MAX)
        ));
    }
    for d in &req.attention.delegations {
        lines.push(format!(
            ":palm_tree: <@{}> is away until {}; <@{}> decides for them.",
            d.from,
            day(d.until),
            d.to
        ));
    }
    for u in &req.attention.deactivated {
        lines.push(format!(
            ":warning: <@{u}>'s Slack account is deactivated: their decisions here go to the \
             admins, who can reassign them."
        ));
    }
    if let Some(until) = req.attention.snoozed_until.filter(|u| *u > now) {
        lines.push(format!(
            ":zzz: Reminders snoozed until {} (the warning before a deadline still goes).",
            when(until, cal, now)
        ));
    }
    (!lines.is_empty()).then(|| lines.join("\n"))
}

/// The thread reply's headline for the events of this module; `None` for any other event.
pub(crate) fn what_happened(
    after: &Request,
    event: &Event,
    actor: &Actor,
    who: &str,
    roles: &Roles,
    policy: &Policy,
    now: DateTime<Utc>,
) -> Option<String> {
    let cal = &policy.calendar;
    Some(match event {
        Event::DecisionDelegated { from, to, until } => format!(
            "<@{from}> is away until {}: <@{to}> decides for them on {} meanwhile.",
            day(*until),
            after.number
        ),
        Event::DecisionReturned { from, to } => {
            let how = if matches!(actor, Actor::Scheduler) {
                format!("<@{from}>'s absence has ended")
            } else {
                format!("<@{from}> is back")
            };
            format!("{how}: the decisions <@{to}> held for them are theirs again.")
        }
        Event::RemindersSnoozed { days, until, .. } => format!(
            "{who} snoozed reminders for {days} business day{} (until {}). The warning before a \
             deadline still goes.",
            if *days == 1 { "" } else { "s" },
            when(*until, cal, now)
        ),
        Event::OwnerNudged { recipients, .. } => {
            let to: Vec<Party> = recipients.iter().cloned().map(Party::User).collect();
            format!(
                "{who} nudged {} about this decision.",
                mentions(&to, roles, "and")
            )
        }
        Event::ForcedTransition { from, to, .. } => format!(
            ":rotating_light: *Forced* (break-glass): {who} moved the request from *{}* to \
             *{}* without the usual steps. Another admin must review it: `/capacity review {}`.",
            from.label(),
            to.label(),
            after.number
        ),
        Event::ForcedTransitionReviewed => {
            let forced = after.attention.forced.as_ref();
            let (by, from, to) = forced.map_or(("an admin".to_string(), "", ""), |f| {
                (
                    f.by.as_ref()
                        .map_or("an admin".to_string(), |u| format!("<@{u}>")),
                    f.from.label(),
                    f.to.label(),
                )
            });
            format!("{who} reviewed the forced transition by {by} (*{from}* → *{to}*).")
        }
        Event::OwnerDeactivated { user, .. } => format!(
            ":warning: Slack reports <@{user}>'s account deactivated. Their decisions on {} \
             escalate to the admins, who can reassign them.",
            after.number
        ),
        _ => return None,
    })
}

/// Which owner slot a deactivated user held, for the reassign select's `block_id`.
fn slot_of(req: &Request, user: &crate::domain::UserId) -> crate::domain::OwnerRole {
    if req.commercial_owner.as_ref() == Some(user) {
        crate::domain::OwnerRole::Commercial
    } else {
        crate::domain::OwnerRole::Technical
    }
}

/// `block_id` of the one-click reassign: the owner slot and the request's button value.
pub fn reassign_block_id(role: crate::domain::OwnerRole, value: &ActionValue) -> String {
    let role = match role {
        crate::domain::OwnerRole::Commercial => "commercial",
        crate::domain::OwnerRole::Technical => "technical",
    };
    format!("reassign:{role}:{}", value.encode())
}

/// Reads a `block_id` written by [`reassign_block_id`].
pub fn parse_reassign_block_id(block_id: &str) -> Option<(crate::domain::OwnerRole, ActionValue)> {
    let rest = block_id.strip_prefix("reassign:")?;
    let (role, value) = rest.split_once(':')?;
    let role = match role {
        "commercial" => crate::domain::OwnerRole::Commercial,
        "technical" => crate::domain::OwnerRole::Technical,
        _ => return None,
    };
    Some((role, super::action_value::decode(value).ok()?))
}

/// A user picker that records `kind` (`owner_reassigned`, or `commercial_owner_assigned` in
/// SUBMITTED) for the `role` owner of `req` in one choice. Its `block_id` carries the slot
/// and the request's button value, since a select has no `value` of its own.
pub fn owner_picker(kind: EventKind, role: OwnerRole, req: &Request) -> SlackBlock {
    let placeholder = match kind {
        EventKind::CommercialOwnerAssigned => "Assign owner…".to_string(),
        _ => super::buttons::menu_label(kind),
    };
    let picker = SlackBlockUsersSelectElement::new()
        .with_action_id(kind.as_str().into())
        .with_placeholder(SlackBlockPlainText::new(placeholder).into());
    SlackActionsBlock::new(vec![picker.into()])
        .with_block_id(id(&reassign_block_id(role, &ActionValue::of(req))))
        .into()
}

/// In SUBMITTED (the form named no AE), the commercial approvers' "Assign owner" picker.
pub(crate) fn assign_owner_picker(req: &Request) -> Option<SlackBlock> {
    (req.state == State::Submitted).then(|| {
        owner_picker(
            EventKind::CommercialOwnerAssigned,
            OwnerRole::Commercial,
            req,
        )
    })
}

/// The DM to admins when an owner's account is deactivated: who, which decision, and a user
/// picker that reassigns the owner in one choice (`owner_reassigned`).
pub fn deactivated_dm(
    req: &Request,
    user: &crate::domain::UserId,
    permalink: Option<&str>,
    roles: &Roles,
    policy: &Policy,
    now: DateTime<Utc>,
) -> SlackMessageContent {
    let mut text = vec![format!(
        ":warning: *Owner deactivated* · {}\n<@{user}>'s Slack account is deactivated and they \
         own a decision on {}. Choose someone to take it over:",
        summary(req, 200),
        req.number
    )];
    if let Some(waiting) = super::lines::waiting_on(req, roles, policy, now) {
        text.push(format!("{waiting}."));
    }
    let mut blocks: Vec<SlackBlock> = vec![section("deactivated", text.join("\n"))];
    if req.state.is_open() {
        blocks.push(owner_picker(
            EventKind::OwnerReassigned,
            slot_of(req, user),
            req,
        ));
    }
    if let Some(url) = permalink.and_then(safe_url) {
        blocks.push(section(
            "thread",
            format!("<{url}|Open the thread of {}>", req.number),
        ));
    }
    SlackMessageContent::new()
        .with_text(format!(
            "{}: an owner's account is deactivated; reassign it",
            req.number
        ))
        .with_blocks(blocks)
}

/// The DM a review reminder sends to the admins who did not force the move.
pub fn review_dm(
    req: &Request,
    permalink: Option<&str>,
    policy: &Policy,
    now: DateTime<Utc>,
) -> SlackMessageContent {
    let cal = &policy.calendar;
    let mut text = vec![format!(
        ":rotating_light: *Break-glass review needed* · {}",
        summary(req, 200)
    )];
    if let Some(f) = &req.attention.forced {
        let by =
            f.by.as_ref()
                .map_or("an admin".to_string(), |u| format!("<@{u}>"));
        text.push(format!(
            "{by} forced it from *{}* to *{}* on {}:\n{}",
            f.from.label(),
            f.to.label(),
            when(f.at, cal, now),
            quote(&f.reason, REASON_MAX)
        ));
    }
    text.push(format!(
        "Please review it: the button below, or `/capacity review {}`.",
        req.number
    ));
    let mut blocks: Vec<SlackBlock> = vec![section("review", text.join("\n"))];
    if let Some(url) = permalink.and_then(safe_url) {
        blocks.push(section(
            "thread",
            format!("<{url}|Open the thread of {}>", req.number),
        ));
    }
    if req.attention.review_pending().is_some() {
        let kind = EventKind::ForcedTransitionReviewed;
        let button = SlackBlockButtonElement::new(
            SlackBlockPlainText::new(super::buttons::label(kind).into()).into(),
        )
        .with_action_id(kind.as_str().into())
        .with_value(ActionValue::of(req).encode());
        blocks.push(
            SlackActionsBlock::new(vec![button.into()])
                .with_block_id(id("review_actions"))
                .into(),
        );
    }
    blocks.push(
        SlackContextBlock::new(vec![SlackBlockMarkDownText::new(format!(
            "{} · {}",
            req.number,
            req.state.label(),
        ))
        .into()])
        .with_block_id(id("context"))
        .into(),
    );
    SlackMessageContent::new()
        .with_text(format!("{} needs a break-glass review", req.number))
        .with_blocks(blocks)
}

/// The opening line of a nudge DM.
pub(crate) fn nudge_opening(req: &Request, title: &str) -> (String, String) {
    (
        format!(":wave: *Nudge* from <@{}> · {title}", req.requester),
        format!("{} is waiting on your decision", req.number),
    )
}

/// States a forced transition may name, as typed after `/capacity force CR-n`.
pub fn parse_state(word: &str) -> Option<State> {
    let w = word.trim().to_ascii_uppercase().replace('-', "_");
    State::ALL.into_iter().find(|s| s.as_str() == w)
}
