//! `decide`: (request, command, actor, policy, now) → the events to record, or a refusal.
//!
//! Every rule of the lifecycle table lives here or in `rules`, and only here: a refusal is
//! always decided, never found while folding. Checks run in a fixed order so the answer a
//! person gets is the most useful one: a stale button first (whatever they clicked, the
//! message they looked at is out of date), then the state, then who they are, then the
//! command's own input. What the rules derive (a deadline from the calendar, which approval
//! key a click gives, whether finance must approve) goes into the event, so `evolve` can
//! apply it without asking any rule again.

use chrono::{DateTime, NaiveDate, Utc};

use super::attention::{business_day_of, snooze_end, warning_day_start, REVIEW_SUFFIX};
use super::command::Command;
use super::event::{ApprovalKey, Event, EventKind, OwnerRole};
use super::ids::{RequestId, UserId};
use super::policy::Policy;
use super::refusal::Refusal;
use super::reminders;
use super::request::{DeadlineKind, Request};
use super::role::{Actor, Party, Role};
use super::rules::{
    check_actor, check_new_owner, check_state, is_commercial_owner, not_permitted, who_may,
};
use super::state::State;

/// Everything besides the request and the command that a decision depends on.
#[derive(Debug, Clone, Copy)]
pub struct Context<'a> {
    pub request_id: RequestId,
    pub actor: &'a Actor,
    pub policy: &'a Policy,
    pub now: DateTime<Utc>,
    /// The version the clicked button was rendered at; `None` for timers and signals.
    pub expected_version: Option<i32>,
}

/// Decides `command` against `current` (`None`: the request does not exist yet). Returns the
/// events to record, in order, each to be folded with `evolve`.
pub fn decide(
    current: Option<&Request>,
    command: &Command,
    ctx: &Context<'_>,
) -> Result<Vec<Event>, Refusal> {
    let Some(req) = current else {
        return submit(command, ctx).map(|e| vec![e]);
    };
    if let Command::Submitted { .. } = command {
        return Err(Refusal::AlreadyExists);
    }
    if let Some(seen) = ctx.expected_version {
        if seen != req.version {
            return Err(Refusal::StaleVersion {
                seen,
                current: req.version,
            });
        }
    }
    if let Command::ReminderSent { slot, .. } = command {
        if slot.ends_with(REVIEW_SUFFIX) {
            return review_reminder(req, command, ctx).map(|e| vec![e]);
        }
    }
    let kind = command.kind();
    check_state(req, kind, ctx.policy)?;
    check_actor(req, kind, ctx.actor)?;
    decide_existing(req, command, ctx).map(|e| vec![e])
}

/// A break-glass review reminder: due each business day until someone reviews, whatever
/// state the forced move left the request in (a forced close still needs its review).
fn review_reminder(req: &Request, command: &Command, ctx: &Context<'_>) -> Result<Event, Refusal> {
    let Command::ReminderSent {
        slot, recipients, ..
    } = command
    else {
        return Err(Refusal::NoSuchRequest);
    };
    if !matches!(ctx.actor, Actor::Scheduler) {
        return Err(not_permitted(EventKind::ReminderSent, vec![Party::System]));
    }
    match req.attention.review_pending().and_then(|f| f.review_due_at) {
        Some(due) if due <= ctx.now => {}
        Some(due) => {
            return Err(Refusal::NotDue {
                what: "next review reminder",
                due,
            })
        }
        None => return Err(Refusal::NothingToReview),
    }
    Ok(Event::ReminderSent {
        slot: slot.clone(),
        recipients: recipients.clone(),
        escalation: false,
    })
}

fn submit(command: &Command, ctx: &Context<'_>) -> Result<Event, Refusal> {
    let Command::Submitted { number, details } = command else {
        return Err(Refusal::NoSuchRequest);
    };
    let is_requester = match ctx.actor {
        Actor::User { roles, .. } => roles.has(Role::Requester),
        _ => false,
    };
    if !is_requester {
        return Err(not_permitted(
            EventKind::Submitted,
            vec![Party::Role(Role::Requester)],
        ));
    }
    if details.est_monthly_cost_cents <= 0 {
        return Err(Refusal::InvalidSubmission(
            "the estimated monthly cost must be positive".into(),
        ));
    }
    if details.duration_months == 0 {
        return Err(Refusal::InvalidSubmission(
            "the duration must be at least one month".into(),
        ));
    }
    if details.customer.trim().is_empty() {
        return Err(Refusal::InvalidSubmission("the customer is missing".into()));
    }
    if let (Some(owner), Some(me)) = (&details.commercial_owner, ctx.actor.user()) {
        check_new_owner(me, None, OwnerRole::Commercial, owner)?;
    }
    Ok(Event::Submitted {
        number: *number,
        details: details.clone(),
        finance_required: ctx.policy.finance_required(details.est_monthly_cost_cents),
    })
}

fn reason(kind: EventKind, text: &str) -> Result<String, Refusal> {
    let t = text.trim();
    if t.is_empty() {
        Err(Refusal::ReasonRequired { event: kind })
    } else {
        Ok(t.to_string())
    }
}

/// The deadline a gate opened at `from` gets under the policy in force.
fn deadline(policy: &Policy, from: DateTime<Utc>, days: u32) -> DateTime<Utc> {
    policy.calendar.deadline(from, days)
}

fn decide_existing(req: &Request, command: &Command, ctx: &Context<'_>) -> Result<Event, Refusal> {
    let kind = command.kind();
    let (now, policy) = (ctx.now, ctx.policy);
    Ok(match command {
        Command::Submitted { .. } => return Err(Refusal::AlreadyExists),
        Command::CommercialOwnerAssigned { owner } => {
            // Without the role, the requester only confirms the AE their form named (the
            // automatic assignment); choosing anyone else is the approvers' call.
            let entitled = ctx.actor.has(Role::CommercialApprover) || ctx.actor.has(Role::Admin);
            if !entitled && req.details.commercial_owner.as_ref() != Some(owner) {
                return Err(not_permitted(kind, who_may(req, kind)));
            }
            check_new_owner(
                &req.requester,
                Some(req.number),
                OwnerRole::Commercial,
                owner,
            )?;
            Event::CommercialOwnerAssigned {
                owner: owner.clone(),
            }
        }
        Command::CommercialApproved => Event::CommercialApproved {
            key: choose_key(req, ctx.actor)?,
        },
        Command::CommercialRejected { reason: r } => Event::CommercialRejected {
            reason: reason(kind, r)?,
        },
        Command::TechnicalRejected { reason: r } => Event::TechnicalRejected {
            reason: reason(kind, r)?,
        },
        Command::TechnicalOwnerAssigned => {
            if ctx.actor.is(req.technical_owner.as_ref()) {
                return Err(Refusal::NoChange(
                    "you are already the technical owner".into(),
                ));
            }
            Event::TechnicalOwnerAssigned
        }
        Command::TechnicalApproved => Event::TechnicalApproved {
            deadline: deadline(policy, now, policy.customer_confirmation_ttl_business_days),
        },
        Command::EarlyProcurementStarted => Event::EarlyProcurementStarted,
        Command::CustomerConfirmed => Event::CustomerConfirmed,
        Command::CustomerConfirmationTimeout | Command::ActivationTimeout => {
            let wanted = if kind == EventKind::ActivationTimeout {
                DeadlineKind::Activation
            } else {
                DeadlineKind::CustomerConfirmation
            };
            match req.deadline {
                Some(d) if d.kind == wanted && d.at <= now => {}
                Some(d) if d.kind == wanted => {
                    return Err(Refusal::NotDue {
                        what: wanted.label(),
                        due: d.at,
                    });
                }
                _ => {
                    return Err(Refusal::NoChange(format!(
                        "there is no {} deadline",
                        wanted.label()
                    )))
                }
            }
            if wanted == DeadlineKind::Activation {
                Event::ActivationTimeout
            } else {
                Event::CustomerConfirmationTimeout
            }
        }
        Command::TtlExtended { days } => {
            if *days == 0 || *days > Policy::MAX_EXTENSION_DAYS {
                return Err(Refusal::BadExtension {
                    days: *days,
                    max: Policy::MAX_EXTENSION_DAYS,
                });
            }
            // Extending a live deadline adds to it; reopening an expired gate counts from now.
            let from = req.deadline.map_or(now, |d| d.at.max(now));
            Event::TtlExtended {
                days: *days,
                deadline: deadline(policy, from, *days),
            }
        }
        Command::ProvisioningCompleted => Event::ProvisioningCompleted {
            deadline: deadline(policy, now, policy.activation_ttl_business_days),
        },
        Command::ProvisioningFailed { reason: r } => Event::ProvisioningFailed {
            reason: reason(kind, r)?,
        },
        Command::Activated { signal_id } => Event::Activated {
            signal_id: signal_id.clone(),
        },
        Command::CancelRequested { reason: r } => {
            let r = reason(kind, r)?;
            // A pending cancellation names who asked; only a person can be named.
            if req.capacity.is_committed() && ctx.actor.user().is_none() {
                return Err(not_permitted(kind, who_may(req, kind)));
            }
            Event::CancelRequested { reason: r }
        }
        Command::CancelApproved => Event::CancelApproved,
        Command::CancelDenied => Event::CancelDenied,
        Command::CapacityReleased => Event::CapacityReleased,
        // The escalation rides in the same append as its reminder, after the due time moved.
        Command::ReminderSent {
            slot,
            recipients,
            escalation,
        } => {
            if !escalation {
                reminders::check_due(req, now)?;
            }
            Event::ReminderSent {
                slot: slot.clone(),
                recipients: recipients.clone(),
                escalation: *escalation,
            }
        }
        Command::CommentAdded { text } => {
            if text.trim().is_empty() {
                return Err(Refusal::EmptyComment);
            }
            Event::CommentAdded { text: text.clone() }
        }
        Command::OwnerReassigned { role, to } => {
            let slot = match role {
                OwnerRole::Commercial => &req.commercial_owner,
                OwnerRole::Technical => &req.technical_owner,
            };
            if slot.as_ref() == Some(to) {
                return Err(Refusal::NoChange(format!("<@{to}> is already that owner")));
            }
            check_new_owner(&req.requester, Some(req.number), *role, to)?;
            // The two commercial keys stay two people: whoever gave the finance key cannot
            // become the owner who still has to give the commercial one.
            let approvals = &req.approvals;
            if *role == OwnerRole::Commercial
                && approvals.commercial.is_none()
                && approvals.finance.as_ref() == Some(to)
            {
                return Err(Refusal::BadOwner(format!(
                    "<@{to}> gave the finance key of {}, so the commercial key must come from \
                     someone else. Choose another commercial owner.",
                    req.number
                )));
            }
            Event::OwnerReassigned {
                role: *role,
                to: to.clone(),
            }
        }
        Command::DecisionDelegated { to, until } => delegate(req, ctx, to, *until)?,
        Command::DecisionReturned { from } => {
            let Some(d) = req.attention.delegation_of(from) else {
                return Err(Refusal::NoChange(format!(
                    "<@{from}>'s decisions on this request are not delegated"
                )));
            };
            // The scheduler ends anyone's absence; a person only their own.
            if let Some(me) = ctx.actor.user() {
                if me != from {
                    return Err(not_permitted(kind, vec![Party::User(from.clone())]));
                }
            }
            Event::DecisionReturned {
                from: from.clone(),
                to: d.to.clone(),
            }
        }
        Command::RemindersSnoozed { days, reason: r } => {
            let r = reason(kind, r)?;
            let max = policy.max_snooze_business_days;
            if *days == 0 || *days > max {
                return Err(Refusal::BadSnooze { days: *days, max });
            }
            Event::RemindersSnoozed {
                days: *days,
                reason: r,
                until: snooze_until(req, policy, now, *days)?,
            }
        }
        Command::OwnerNudged { recipients } => {
            let cal = &policy.calendar;
            let day = business_day_of(cal, now);
            if req.attention.nudged_on == Some(day) {
                return Err(Refusal::NudgedToday {
                    next: cal.work_starts(cal.next_business_day(day)),
                });
            }
            if recipients.is_empty() {
                return Err(Refusal::NoChange(
                    "nobody could be found to nudge for this decision".into(),
                ));
            }
            Event::OwnerNudged {
                recipients: recipients.clone(),
                day,
            }
        }
        Command::ForcedTransition { to, reason: r } => {
            let r = reason(kind, r)?;
            if *to == req.state {
                return Err(Refusal::NoChange(format!(
                    "the request is already {}",
                    to.as_str()
                )));
            }
            let ttl = match to {
                State::CustomerConfirmationRequired => {
                    Some(policy.customer_confirmation_ttl_business_days)
                }
                State::ReadyForCustomer => Some(policy.activation_ttl_business_days),
                _ => None,
            };
            Event::ForcedTransition {
                from: req.state,
                to: *to,
                reason: r,
                deadline: ttl.map(|days| deadline(policy, now, days)),
            }
        }
        Command::ForcedTransitionReviewed => Event::ForcedTransitionReviewed,
        Command::OwnerDeactivated { user, admins } => {
            let owns = [&req.commercial_owner, &req.technical_owner]
                .into_iter()
                .flatten()
                .any(|u| u == user || req.acting_for(u) == user);
            if !owns {
                return Err(Refusal::NoChange(format!(
                    "<@{user}> owns no decision on this request"
                )));
            }
            if req.attention.deactivated.contains(user) {
                return Err(Refusal::NoChange(format!(
                    "<@{user}> is already flagged as deactivated"
                )));
            }
            Event::OwnerDeactivated {
                user: user.clone(),
                admins: admins.clone(),
            }
        }
    })
}

/// `decision_delegated`: the asker is away until `until` and `to` decides for them.
fn delegate(
    req: &Request,
    ctx: &Context<'_>,
    to: &UserId,
    until: NaiveDate,
) -> Result<Event, Refusal> {
    let Some(from) = ctx.actor.user() else {
        return Err(not_permitted(
            EventKind::DecisionDelegated,
            who_may(req, EventKind::DecisionDelegated),
        ));
    };
    if to == from {
        return Err(Refusal::BadDelegation(
            "You cannot delegate to yourself; name someone else who can decide while you are away."
                .into(),
        ));
    }
    if to == &req.requester {
        // The delegate would be asked to approve their own request.
        return Err(Refusal::BadDelegation(format!(
            "<@{to}> requested {}, so they cannot decide on it for you.",
            req.number
        )));
    }
    let today = ctx.policy.calendar.local_date(ctx.now);
    if until < today {
        return Err(Refusal::BadDelegation(format!(
            "{until} is in the past; give the last day you are away, today ({today}) or later."
        )));
    }
    if let Some(d) = req.attention.delegation_of(from) {
        if &d.to == to && d.until == until {
            return Err(Refusal::NoChange(format!(
                "your decisions on {} already go to <@{to}>",
                req.number
            )));
        }
    }
    Ok(Event::DecisionDelegated {
        from: from.clone(),
        to: to.clone(),
        until,
    })
}

/// When a snooze of `days` business days recorded now ends, or why it may not: reminders
/// must be back by the business day before the deadline, when its warning goes.
fn snooze_until(
    req: &Request,
    policy: &Policy,
    now: DateTime<Utc>,
    days: u32,
) -> Result<DateTime<Utc>, Refusal> {
    let cal = &policy.calendar;
    let until = snooze_end(cal, now, days);
    let Some(d) = req.deadline else {
        return Ok(until);
    };
    let warning = warning_day_start(cal, d.at);
    if until <= warning {
        return Ok(until);
    }
    let longest = (1..days)
        .rev()
        .find(|n| snooze_end(cal, now, *n) <= warning);
    let due = cal.local_date(d.at);
    Err(Refusal::SnoozePastDeadline(match longest {
        Some(n) => format!(
            "The {} deadline is {due}, so reminders can be snoozed for at most {n} business day{} (they must be back by the business day before it).",
            d.kind.label(),
            if n == 1 { "" } else { "s" }
        ),
        None => format!(
            "The {} deadline is {due}, too close to snooze: reminders must run on the business day before it.",
            d.kind.label()
        ),
    }))
}

/// One click gives one key, even from someone holding both roles; the two keys come from
/// two different people.
fn choose_key(req: &Request, actor: &Actor) -> Result<ApprovalKey, Refusal> {
    let me = actor.user();
    let can_commercial = is_commercial_owner(req, actor) || actor.has(Role::CommercialApprover);
    let can_finance = req.finance_required && actor.has(Role::Finance);
    let approvals = &req.approvals;
    if approvals.commercial.is_none() && can_commercial {
        if approvals.finance.is_some() && approvals.finance.as_ref() == me {
            return Err(Refusal::SameApproverTwice);
        }
        Ok(ApprovalKey::Commercial)
    } else if req.finance_required && approvals.finance.is_none() && can_finance {
        if approvals.commercial.is_some() && approvals.commercial.as_ref() == me {
            return Err(Refusal::SameApproverTwice);
        }
        Ok(ApprovalKey::Finance)
    } else if approvals.commercial.is_some() && approvals.commercial.as_ref() == me {
        Err(Refusal::SameApproverTwice)
    } else if approvals.commercial.is_some() {
        Err(Refusal::FinanceKeyRequired)
    } else {
        Err(Refusal::NotPermitted {
            event: EventKind::CommercialApproved,
            who: vec![
                req.commercial_owner
                    .as_ref()
                    .map_or(Party::Role(Role::CommercialApprover), |u| {
                        Party::User(req.acting_for(u).clone())
                    }),
                Party::Role(Role::CommercialApprover),
            ],
        })
    }
}

#[cfg(test)]
#[path = "decide_tests.rs"]
mod tests;

#[cfg(test)]
#[path = "away_tests.rs"]
mod away_tests;
