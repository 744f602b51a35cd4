//! `evolve`: (request, recorded event) → the request after it. Total: it never refuses and
//! asks no rule. Every fold of recorded events (an append's new projection, replay, the
//! timeline, the outbox's renders, the audit record) goes through here, so a log that was
//! legal when it was written folds the same way however `decide`'s rules change later.
//!
//! It reads only what the event recorded: its payload (which carries the facts `decide`
//! derived), its actor and time, and the business calendar recorded with it, which places
//! the reminder slots of a gate.

use chrono::{DateTime, Utc};

use super::attention::{Delegation, Forced};
use super::calendar::Calendar;
use super::event::{ApprovalKey, Event, OwnerRole};
use super::ids::RequestId;
use super::reminders;
use super::request::{Approvals, Capacity, Deadline, DeadlineKind, PendingCancellation, Request};
use super::role::Actor;
use super::state::State;

/// One event with what was recorded beside it.
#[derive(Debug, Clone, Copy)]
pub struct Occurrence<'a> {
    pub request_id: RequestId,
    pub event: &'a Event,
    pub actor: &'a Actor,
    /// The calendar in force when the event was recorded.
    pub calendar: &'a Calendar,
    pub at: DateTime<Utc>,
}

/// The request a `submitted` event creates; `None` for any other event, or for a submission
/// without a person behind it, neither of which can start a log.
pub fn genesis(o: &Occurrence<'_>) -> Option<Request> {
    let Event::Submitted {
        number,
        details,
        finance_required,
    } = o.event
    else {
        return None;
    };
    let Actor::User { id, team, .. } = o.actor else {
        return None;
    };
    let mut req = Request {
        id: o.request_id,
        number: *number,
        details: details.clone(),
        requester: id.clone(),
        requester_team: team.clone(),
        state: State::Submitted,
        version: 1,
        seq: 1,
        commercial_owner: None,
        technical_owner: None,
        finance_required: *finance_required,
        approvals: Approvals::default(),
        deadline: None,
        expired_from: None,
        capacity: Capacity::default(),
        pending_cancellation: None,
        close_reason: None,
        state_entered_at: o.at,
        reminders_sent: 0,
        reminder_due_at: None,
        attention: Default::default(),
        created_at: o.at,
        updated_at: o.at,
    };
    reminders::open_gate(&mut req, o.calendar, o.at);
    Some(req)
}

/// Applies a recorded event to the request it was recorded on.
pub fn evolve(req: &Request, o: &Occurrence<'_>) -> Request {
    let mut next = req.clone();
    apply(&mut next, o);
    let kind = o.event.kind();
    next.seq += 1;
    if kind.bumps_version() {
        next.version += 1;
    }
    if next.state != req.state {
        next.state_entered_at = o.at;
    }
    reminders::track(req, &mut next, o.event, o.calendar, o.at);
    next.updated_at = o.at;
    next
}

fn set_deadline(next: &mut Request, kind: DeadlineKind, at: DateTime<Utc>) {
    next.deadline = Some(Deadline { kind, at });
}

fn apply(next: &mut Request, o: &Occurrence<'_>) {
    let now = o.at;
    let actor = o.actor.user().cloned();
    match o.event {
        // A log has one submission, at its start; `genesis` reads it.
        Event::Submitted { .. } => {}
        Event::CommercialOwnerAssigned { owner } => {
            next.commercial_owner = Some(owner.clone());
            next.state = State::CommercialApprovalRequired;
        }
        Event::CommercialApproved { key } => {
            match key {
                ApprovalKey::Commercial => next.approvals.commercial = actor,
                ApprovalKey::Finance => next.approvals.finance = actor,
            }
            if next.commercially_approved() {
                next.state = State::TechnicalReviewRequired;
            }
        }
        Event::CommercialRejected { reason } | Event::TechnicalRejected { reason } => {
            next.close_reason = Some(reason.trim().to_string());
            next.state = State::Cancelled;
        }
        Event::TechnicalOwnerAssigned => next.technical_owner = actor,
        Event::TechnicalApproved { deadline } => {
            if next.technical_owner.is_none() {
                next.technical_owner = actor;
            }
            next.state = State::CustomerConfirmationRequired;
            set_deadline(next, DeadlineKind::CustomerConfirmation, *deadline);
        }
        Event::EarlyProcurementStarted => next.capacity.committed_at = Some(now),
        Event::CustomerConfirmed => {
            if next.capacity.committed_at.is_none() {
                next.capacity.committed_at = Some(now);
            }
            next.state = State::ProvisioningInProgress;
            next.deadline = None;
            next.expired_from = None;
        }
        Event::CustomerConfirmationTimeout => expire(next, DeadlineKind::CustomerConfirmation),
        Event::ActivationTimeout => expire(next, DeadlineKind::Activation),
        Event::TtlExtended { deadline, .. } => {
            let gate = match (next.state, next.expired_from) {
                (State::Expired, Some(k)) => k,
                (State::ReadyForCustomer, _) => DeadlineKind::Activation,
                _ => DeadlineKind::CustomerConfirmation,
            };
            set_deadline(next, gate, *deadline);
            next.state = gate.waiting_state();
            next.expired_from = None;
        }
        Event::ProvisioningCompleted { deadline } => {
            if next.technical_owner.is_none() {
                next.technical_owner = actor;
            }
            next.state = State::ReadyForCustomer;
            set_deadline(next, DeadlineKind::Activation, *deadline);
        }
        Event::ProvisioningFailed { reason } => {
            next.close_reason = Some(reason.trim().to_string());
            next.state = State::Failed;
            next.deadline = None;
        }
        Event::Activated { .. } => {
            if next.capacity.is_committed() {
                next.capacity.ended_at = Some(now);
            }
            next.state = State::Activated;
            next.deadline = None;
            next.expired_from = None;
        }
        Event::CancelRequested { reason } => {
            let reason = reason.trim().to_string();
            match actor {
                Some(requested_by) if next.capacity.is_committed() => {
                    next.pending_cancellation = Some(PendingCancellation {
                        requested_by,
                        reason,
                        requested_at: now,
                    });
                }
                _ => close_cancelled(next, reason),
            }
        }
        Event::CancelApproved => {
            let reason = match next.pending_cancellation.take() {
                Some(p) => p.reason,
                None => "cancelled at the cancellation gate after expiry".into(),
            };
            close_cancelled(next, reason);
        }
        Event::CancelDenied => next.pending_cancellation = None,
        Event::CapacityReleased => {
            next.capacity.ended_at = Some(now);
            next.capacity.released = true;
        }
        // Bookkeeping only: `reminders::track` counts the reminder.
        Event::ReminderSent { .. } | Event::CommentAdded { .. } => {}
        Event::OwnerReassigned { role, to } => {
            let slot = match role {
                OwnerRole::Commercial => &mut next.commercial_owner,
                OwnerRole::Technical => &mut next.technical_owner,
            };
            *slot = Some(to.clone());
            // A flag stays only while its user still holds a decision here.
            let (c, t) = (next.commercial_owner.clone(), next.technical_owner.clone());
            let delegates: Vec<_> = next
                .attention
                .delegations
                .iter()
                .map(|d| d.to.clone())
                .collect();
            next.attention.deactivated.retain(|u| {
                c.as_ref() == Some(u) || t.as_ref() == Some(u) || delegates.contains(u)
            });
        }
        Event::DecisionDelegated { from, to, until } => {
            let delegations = &mut next.attention.delegations;
            delegations.retain(|d| &d.from != from);
            delegations.push(Delegation {
                from: from.clone(),
                to: to.clone(),
                until: *until,
            });
        }
        Event::DecisionReturned { from, .. } => {
            next.attention.delegations.retain(|d| &d.from != from);
        }
        // `reminders::track` moves the next reminder past the snooze.
        Event::RemindersSnoozed { until, .. } => next.attention.snoozed_until = Some(*until),
        Event::OwnerNudged { day, .. } => next.attention.nudged_on = Some(*day),
        Event::ForcedTransition {
            from,
            to,
            reason,
            deadline,
        } => force(next, o, *from, *to, reason, *deadline),
        Event::OwnerDeactivated { user, .. } => {
            if !next.attention.deactivated.contains(user) {
                next.attention.deactivated.push(user.clone());
            }
        }
        Event::ForcedTransitionReviewed => {
            if let Some(forced) = next.attention.forced.as_mut() {
                forced.reviewed_by = actor;
                forced.review_due_at = None;
            }
        }
    }
}

/// Break-glass: the request is put in `to` as if it had got there, with that state's
/// deadline (recorded in the event) and committed capacity where the state implies it.
fn force(
    next: &mut Request,
    o: &Occurrence<'_>,
    from: State,
    to: State,
    reason: &str,
    deadline: Option<DateTime<Utc>>,
) {
    let now = o.at;
    let gate = match to {
        State::CustomerConfirmationRequired => Some(DeadlineKind::CustomerConfirmation),
        State::ReadyForCustomer => Some(DeadlineKind::Activation),
        _ => None,
    };
    let expired_from = next.deadline.map(|d| d.kind);
    next.deadline = None;
    if let (Some(kind), Some(at)) = (gate, deadline) {
        set_deadline(next, kind, at);
    }
    next.expired_from = if to == State::Expired {
        expired_from.or(next.expired_from)
    } else {
        None
    };
    next.pending_cancellation = None;
    if matches!(to, State::ProvisioningInProgress | State::ReadyForCustomer)
        && next.capacity.committed_at.is_none()
    {
        next.capacity.committed_at = Some(now);
    }
    if to == State::Activated && next.capacity.is_committed() {
        next.capacity.ended_at = Some(now);
    }
    if matches!(to, State::Cancelled | State::Failed) {
        next.close_reason = Some(reason.trim().to_string());
    }
    next.state = to;
    let today = o.calendar.local_date(now);
    next.attention.forced = Some(Forced {
        by: o.actor.user().cloned(),
        from,
        to,
        reason: reason.trim().to_string(),
        at: now,
        reviewed_by: None,
        review_due_at: Some(o.calendar.work_starts(o.calendar.next_business_day(today))),
    });
}

fn expire(next: &mut Request, gate: DeadlineKind) {
    next.state = State::Expired;
    next.expired_from = Some(gate);
    next.deadline = None;
}

fn close_cancelled(next: &mut Request, reason: String) {
    next.state = State::Cancelled;
    next.close_reason = Some(reason);
    next.deadline = None;
    next.expired_from = None;
    next.pending_cancellation = None;
}
