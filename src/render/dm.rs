//! DMs to whoever owns the next decision: reminders, the day-before warning, and the
//! cancellation gate a timeout opens. They carry the buttons of that decision only, with the
//! same action ids and values as the root's, so the daemon handles a click from a DM exactly
//! like one in the channel.

use chrono::{DateTime, Utc};
use slack_morphism::blocks::{SlackBlock, SlackBlockMarkDownText, SlackContextBlock};
use slack_morphism::SlackMessageContent;

use super::blocks::{id, section};
use super::buttons::{decision_actions_block, label};
use super::lines::{capacity, pending_cancellation, safe_url, summary, waiting_on, when, Shown};
use crate::config::Roles;
use crate::domain::{EventKind, OwnerRole, Policy, Request, State};

/// Why the DM is sent.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum DmReason {
    /// The `nth` reminder for the current gate (the first is 1).
    Reminder { nth: u32 },
    /// The deadline falls on the next business day.
    DueTomorrow,
    /// The deadline passed: the request is EXPIRED and its cancellation gate is open.
    TimedOut,
    /// The requester nudged the decision owner.
    Nudged,
    /// The reader was just made this owner, and the decision now waits on them.
    Reassigned { role: OwnerRole },
}

const REASON_MAX: usize = 800;

pub fn decision_dm(
    req: &Request,
    why: DmReason,
    permalink: Option<&str>,
    policy: &Policy,
    roles: &Roles,
    now: DateTime<Utc>,
) -> SlackMessageContent {
    let title = summary(req, 200);
    let (opening, fallback) = match why {
        DmReason::Reminder { nth } => (
            format!("*Reminder {nth}* · {title}"),
            format!("Reminder {nth}: {} is waiting on a decision", req.number),
        ),
        DmReason::DueTomorrow => (
            format!(":hourglass_flowing_sand: *Due tomorrow* · {title}"),
            format!("{} is due tomorrow", req.number),
        ),
        DmReason::TimedOut => (
            format!(":alarm_clock: *Expired* · {title}"),
            format!("{} has expired: the cancellation gate is yours", req.number),
        ),
        DmReason::Nudged => super::attention::nudge_opening(req, &title),
        DmReason::Reassigned { role } => {
            let role = match role {
                OwnerRole::Commercial => "commercial",
                OwnerRole::Technical => "technical",
            };
            (
                format!(":arrows_counterclockwise: *You are now the {role} owner* · {title}"),
                format!(
                    "{} now waits on you: you were made its {role} owner",
                    req.number
                ),
            )
        }
    };
    let mut text = vec![opening];
    if why == DmReason::TimedOut && req.state == State::Expired {
        text.push(gate(req, policy, now));
    }
    if let Some(waiting) = waiting_on(req, roles, policy, now) {
        text.push(format!("{waiting}."));
    }
    let mut blocks: Vec<SlackBlock> = vec![section("decision", text.join("\n"))];
    if let Some(cost) = capacity(req, roles, policy, now, Shown::Now) {
        blocks.push(section("capacity", cost));
    }
    if let Some(pending) = pending_cancellation(req, roles, policy, now, REASON_MAX) {
        blocks.push(section("cancellation", pending));
    }
    if let Some(url) = permalink.and_then(safe_url) {
        blocks.push(section(
            "thread",
            format!("<{url}|Open the thread of {}>", req.number),
        ));
    }
    if let Some(actions) = decision_actions_block(req, policy) {
        blocks.push(actions);
    }
    if let Some(picker) = super::attention::assign_owner_picker(req) {
        blocks.push(picker);
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
        .with_text(fallback)
        .with_blocks(blocks)
}

/// What closed, and what each button of the cancellation gate does.
fn gate(req: &Request, policy: &Policy, now: DateTime<Utc>) -> String {
    let window = req
        .expired_from
        .map_or("deadline".to_string(), |k| format!("{} window", k.label()));
    let mut line = format!(
        "The {window} closed on {} without an answer. You own the cancellation gate:",
        when(req.state_entered_at, &policy.calendar, now)
    );
    for kind in crate::domain::decision_actions(req, policy) {
        let does = match kind {
            EventKind::CancelApproved => "closes the request as cancelled",
            EventKind::CancelRequested => "asks for a reason, then cancels",
            EventKind::TtlExtended => "reopens the window with a new deadline",
            EventKind::CustomerConfirmed => "records a late confirmation and starts provisioning",
            EventKind::Activated => "records a late activation",
            EventKind::CapacityReleased => "records that infra released the capacity",
            _ => continue,
        };
        line.push_str(&format!("\n• *{}* {does}", label(kind)));
    }
    line
}
