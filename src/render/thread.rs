//! Thread replies: one per recorded event, so the thread under the root message reads as the
//! audit log. Each says who did what, quotes the reason given, and where the request now
//! stands. An escalation reminder instead calls out the decision owners by name.

use chrono::{DateTime, Utc};
use slack_morphism::blocks::{SlackBlock, SlackBlockMarkDownText, SlackContextBlock};
use slack_morphism::SlackMessageContent;

use super::blocks::{id, section};
use super::lines::{capacity, commercial_owner, owners_joined_by, waiting_on, when, Shown};
use super::text::{clip, clip_lines, mention, mentions, quote};
use crate::config::Roles;
use crate::domain::cost::{cost_at_risk_cents, format_usd};
use crate::domain::who_may;
use crate::domain::RecordedEvent;
use crate::domain::{
    decision_owner, Actor, Event, EventKind, OwnerRole, Party, Policy, Request, Role, State, UserId,
};

const QUOTE_MAX: usize = 2_000;
/// A comment is the reply's whole point and may be 3,000 characters long: it gets a section
/// of its own (Slack's limit for one is 3,000), so all of it fits.
const COMMENT_QUOTE_MAX: usize = 3_000;

pub fn thread_reply(
    after: &Request,
    event: &RecordedEvent,
    roles: &Roles,
    policy: &Policy,
    now: DateTime<Utc>,
) -> SlackMessageContent {
    let headline = match &event.event {
        Event::ReminderSent {
            escalation: true,
            recipients,
            ..
        } => escalation(after, recipients, roles, policy, now),
        other => what_happened(after, other, &event.actor, roles, policy, now),
    };
    let mut text = headline.clone();
    let mut comment = None;
    match event.event.reason() {
        Some(said) if event.event.kind() == EventKind::CommentAdded => {
            // Its own section, unquoted: a `>` mark would cost a character per line.
            comment = Some(section("comment", clip_lines(said, COMMENT_QUOTE_MAX)));
        }
        Some(reason) => {
            text.push('\n');
            text.push_str(&quote(reason, QUOTE_MAX));
        }
        None => {}
    }
    if event.event.kind().bumps_version() {
        text.push_str(&format!("\nNow *{}*.", after.state.label()));
        if let Some(waiting) = waiting_on(after, roles, policy, now) {
            text.push(' ');
            text.push_str(&waiting);
            text.push('.');
        }
    }
    let footer = format!(
        "{} · {}",
        after.number,
        when(event.occurred_at, &policy.calendar, now)
    );
    let blocks: Vec<SlackBlock> = [section("event", text)]
        .into_iter()
        .chain(comment)
        .chain([
            SlackContextBlock::new(vec![SlackBlockMarkDownText::new(footer).into()])
                // The event's place in the log, for whoever reads the blocks (not the words).
                .with_block_id(id(&format!("event_context_{}", event.seq)))
                .into(),
        ])
        .collect();
    SlackMessageContent::new()
        .with_text(format!("{}: {}", after.number, first_line(&headline)))
        .with_blocks(blocks)
}

/// "<@U…>", "The scheduler" or "The control plane", as the subject of a sentence.
pub(crate) fn actor_name(actor: &Actor) -> String {
    match actor {
        Actor::User { id, .. } => format!("<@{id}>"),
        Actor::Scheduler => "The scheduler".to_string(),
        Actor::ControlPlane => "The control plane".to_string(),
    }
}

fn what_happened(
    after: &Request,
    event: &Event,
    actor: &Actor,
    roles: &Roles,
    policy: &Policy,
    now: DateTime<Utc>,
) -> String {
    let who = actor_name(actor);
    let kind = event.kind();
    if let Some(line) =
        super::attention::what_happened(after, event, actor, &who, roles, policy, now)
    {
        return line;
    }
    match event {
        Event::Submitted { details, .. } => format!(
            "{who} submitted the request: {}, {} → {} in {}.",
            clip(&details.customer, 120),
            clip(&details.current_size, 24),
            clip(&details.requested_size, 24),
            clip(&details.region, 64)
        ),
        Event::CommercialOwnerAssigned { owner } => {
            format!("{who} assigned the commercial owner: <@{owner}>.")
        }
        Event::CommercialApproved { .. } => approval(after, actor, &who, roles),
        Event::TtlExtended { days, .. } => {
            let unit = if *days == 1 {
                "business day"
            } else {
                "business days"
            };
            let due = after.deadline.map_or(String::new(), |d| {
                format!(
                    "; {} is now due {}",
                    d.kind.label(),
                    when(d.at, &policy.calendar, now)
                )
            });
            format!("{who} extended the deadline by {days} {unit}{due}.")
        }
        Event::Activated {
            signal_id: Some(signal),
        } => format!("{who} recorded activation (signal {}).", clip(signal, 100)),
        Event::CancelRequested { .. } if after.state == State::Cancelled => {
            format!("{who} cancelled the request. No capacity was committed.")
        }
        Event::CancelRequested { .. } => format!(
            "{who} requested cancellation. Capacity is committed, so {} must approve or deny it.",
            mentions(&who_may(after, EventKind::CancelApproved), roles, "or")
        ),
        Event::CapacityReleased => format!(
            "{who} released the capacity. Cost while committed: {}.",
            format_usd(cost_at_risk_cents(after, now).unwrap_or(0))
        ),
        Event::EarlyProcurementStarted | Event::CustomerConfirmed | Event::ActivationTimeout => {
            let cost = capacity(after, roles, policy, now, Shown::Standing)
                .map_or(String::new(), |c| format!("\n{c}"));
            format!("{who} {}.{cost}", kind.verb())
        }
        // The DM is the reminder; the thread keeps the trace: which one, to whom, about what.
        Event::ReminderSent {
            slot, recipients, ..
        } => {
            let to: Vec<Party> = recipients.iter().cloned().map(Party::User).collect();
            let which = if slot.ends_with(crate::domain::reminders::DUE_SUFFIX) {
                "The due-tomorrow reminder".to_string()
            } else if slot.ends_with(crate::domain::attention::REVIEW_SUFFIX) {
                "A reminder to review the forced transition".to_string()
            } else {
                format!("Reminder {}", after.reminders_sent)
            };
            let about = crate::domain::decision_owner(after)
                .filter(|_| !slot.ends_with(crate::domain::attention::REVIEW_SUFFIX))
                .map(|o| format!(" about the {} decision", o.decision))
                .unwrap_or_default();
            format!(
                ":bell: {which}{about} went to {} by DM.",
                mentions(&to, roles, "and")
            )
        }
        Event::CommentAdded { .. } => format!("{who} commented:"),
        Event::OwnerReassigned { role, to } => {
            let which = match role {
                OwnerRole::Commercial => "commercial",
                OwnerRole::Technical => "technical",
            };
            format!("{who} made <@{to}> the {which} owner.")
        }
        _ => format!("{who} {}.", kind.verb()),
    }
}

/// Which key a `commercial_approved` gave, found by comparing the actor with the approvals.
fn approval(after: &Request, actor: &Actor, who: &str, roles: &Roles) -> String {
    let me = actor.user();
    if !after.finance_required {
        return format!("{who} gave commercial approval.");
    }
    let gave = if me.is_some() && after.approvals.finance.as_ref() == me {
        "the finance key"
    } else {
        "the commercial key"
    };
    let missing = if after.approvals.commercial.is_none() {
        Some(commercial_owner(after))
    } else if after.approvals.finance.is_none() {
        Some(Party::Role(Role::Finance))
    } else {
        None
    };
    match missing {
        Some(party) => format!(
            "{who} gave {gave} of commercial approval. The other key must come from {}.",
            mention(&party, roles)
        ),
        None => format!("{who} gave {gave} of commercial approval; both keys are in."),
    }
}

/// The escalation post: the decision is overdue, and its owners are named (roles expanded).
fn escalation(
    after: &Request,
    recipients: &[UserId],
    roles: &Roles,
    policy: &Policy,
    now: DateTime<Utc>,
) -> String {
    let (parties, decision, due) = match decision_owner(after) {
        Some(owner) => (owner.parties, owner.decision, owner.due),
        None => (
            recipients.iter().cloned().map(Party::User).collect(),
            "next",
            None,
        ),
    };
    // "Overdue" only once the deadline has passed: an escalation usually comes before it.
    let (headline, due) = match due {
        Some(d) if d <= now => (
            "Overdue",
            format!(" It was due {}.", when(d, &policy.calendar, now)),
        ),
        Some(d) => (
            "Escalated",
            format!(" It is due {}.", when(d, &policy.calendar, now)),
        ),
        None => ("Escalated", String::new()),
    };
    // Point at the action that moves the decision to someone who will take it.
    let next = if after.state == State::Submitted {
        "Please choose the commercial owner with *Assign owner…* on the request's message."
    } else {
        "Please decide, or an admin or a commercial approver can give it to someone else \
         with *Reassign owner…* in the request message's ⋯ menu."
    };
    format!(
        ":rotating_light: *{headline}:* the {decision} decision on {} is waiting on {} and \
         reminders have gone unanswered.{due} {next}",
        after.number,
        mentions(&parties, roles, owners_joined_by(after))
    )
}

fn first_line(s: &str) -> &str {
    s.lines().next().unwrap_or(s)
}
