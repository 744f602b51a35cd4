//! The one reducer: (request, event, actor, policy, now) → new request or a refusal.
//!
//! It is the lifecycle table of DESIGN.md in code. Checks run in a fixed order so the
//! answer a person gets is the most useful one: a stale button first (whatever they
//! clicked, the message they looked at is out of date), then the state, then who they are.
//! Replay runs this same function over the log with each event's recorded actor, policy and
//! time, so the projection can always be rebuilt and audited.

use chrono::{DateTime, Utc};

use super::event::{Event, EventKind, OwnerRole};
use super::ids::{RequestId, UserId};
use super::policy::Policy;
use super::refusal::Refusal;
use super::reminders;
use super::request::{Approvals, Capacity, Deadline, DeadlineKind, PendingCancellation, Request};
use super::role::{Actor, Party, Role};
use super::state::State;

/// Everything besides the request and the event that a decision depends on.
#[derive(Debug, Clone, Copy)]
pub struct Context<'a> {
    pub request_id: RequestId,
    pub actor: &'a Actor,
    pub policy: &'a Policy,
    pub now: DateTime<Utc>,
    /// The version the clicked button was rendered at; `None` for timers and signals.
    pub expected_version: Option<i32>,
}

pub fn reduce(
    current: Option<&Request>,
    event: &Event,
    ctx: &Context<'_>,
) -> Result<Request, Refusal> {
    let Some(req) = current else {
        return submit(event, ctx);
    };
    if let Event::Submitted { .. } = event {
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
    let kind = event.kind();
    check_state(req, kind, ctx.policy)?;
    check_actor(req, kind, ctx.actor)?;

    let mut next = req.clone();
    apply(&mut next, event, ctx)?;
    next.seq += 1;
    if kind.bumps_version() {
        next.version += 1;
    }
    if next.state != req.state {
        next.state_entered_at = ctx.now;
    }
    reminders::track(req, &mut next, event, ctx.policy, ctx.now);
    next.updated_at = ctx.now;
    Ok(next)
}

fn submit(event: &Event, ctx: &Context<'_>) -> Result<Request, Refusal> {
    let Event::Submitted { number, details } = event else {
        return Err(Refusal::NoSuchRequest);
    };
    let Actor::User { id, team, roles } = ctx.actor else {
        return Err(not_permitted(
            EventKind::Submitted,
            vec![Party::Role(Role::Requester)],
        ));
    };
    if !roles.has(Role::Requester) {
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
    let mut req = Request {
        id: ctx.request_id,
        number: *number,
        details: details.clone(),
        requester: id.clone(),
        requester_team: team.clone(),
        state: State::Submitted,
        version: 1,
        seq: 1,
        commercial_owner: None,
        technical_owner: None,
        finance_required: ctx.policy.finance_required(details.est_monthly_cost_cents),
        approvals: Approvals::default(),
        deadline: None,
        expired_from: None,
        capacity: Capacity::default(),
        pending_cancellation: None,
        close_reason: None,
        state_entered_at: ctx.now,
        reminders_sent: 0,
        reminder_due_at: None,
        created_at: ctx.now,
        updated_at: ctx.now,
    };
    reminders::open_gate(&mut req, ctx.policy, ctx.now);
    Ok(req)
}

/// The states each event is recorded from, as in the lifecycle table.
pub fn allowed_states(kind: EventKind) -> &'static [State] {
    use State::*;
    const OPEN: &[State] = &[
        Submitted,
        CommercialApprovalRequired,
        TechnicalReviewRequired,
        CustomerConfirmationRequired,
        ProvisioningInProgress,
        ReadyForCustomer,
        Expired,
    ];
    match kind {
        EventKind::Submitted => &[],
        EventKind::CommercialOwnerAssigned => &[Submitted],
        EventKind::CommercialApproved | EventKind::CommercialRejected => {
            &[CommercialApprovalRequired]
        }
        EventKind::TechnicalOwnerAssigned => &[TechnicalReviewRequired, ProvisioningInProgress],
        EventKind::TechnicalApproved | EventKind::TechnicalRejected => &[TechnicalReviewRequired],
        EventKind::EarlyProcurementStarted | EventKind::CustomerConfirmationTimeout => {
            &[CustomerConfirmationRequired]
        }
        EventKind::CustomerConfirmed => &[CustomerConfirmationRequired, Expired],
        EventKind::TtlExtended => &[CustomerConfirmationRequired, ReadyForCustomer, Expired],
        EventKind::ProvisioningCompleted | EventKind::ProvisioningFailed => {
            &[ProvisioningInProgress]
        }
        EventKind::Activated => &[ReadyForCustomer, Expired],
        EventKind::ActivationTimeout => &[ReadyForCustomer],
        EventKind::CancelRequested
        | EventKind::CancelApproved
        | EventKind::CancelDenied
        | EventKind::CommentAdded
        | EventKind::OwnerReassigned => OPEN,
        EventKind::CapacityReleased => &[Cancelled, Expired, Failed],
        EventKind::ReminderSent => &State::ALL,
    }
}

/// While a cancellation waits for its decision, forward steps wait too. Facts that happen
/// regardless (a timer, a failure, a release) and bookkeeping still go through.
fn allowed_while_cancellation_pending(kind: EventKind) -> bool {
    matches!(
        kind,
        EventKind::CancelApproved
            | EventKind::CancelDenied
            | EventKind::CommentAdded
            | EventKind::ReminderSent
            | EventKind::OwnerReassigned
            | EventKind::TechnicalOwnerAssigned
            | EventKind::CustomerConfirmationTimeout
            | EventKind::ActivationTimeout
            | EventKind::ProvisioningFailed
            | EventKind::CapacityReleased
    )
}

/// Whether `kind` may be recorded on `req` in its current state, whoever asks. The renderer
/// uses it to show only the buttons that someone could legally press.
pub fn check_state(req: &Request, kind: EventKind, policy: &Policy) -> Result<(), Refusal> {
    let states = allowed_states(kind);
    let wrong = || Refusal::WrongState {
        event: kind,
        state: req.state,
        allowed: describe_states(kind, states),
    };
    if !states.contains(&req.state) {
        return Err(wrong());
    }
    if req.pending_cancellation.is_some() && !allowed_while_cancellation_pending(kind) {
        return Err(Refusal::CancellationPending {
            who: cancellation_deciders(req),
        });
    }
    match kind {
        // From EXPIRED only after their own gate's timeout.
        EventKind::CustomerConfirmed
            if req.state == State::Expired
                && req.expired_from != Some(DeadlineKind::CustomerConfirmation) =>
        {
            return Err(wrong());
        }
        EventKind::Activated
            if req.state == State::Expired
                && req.expired_from != Some(DeadlineKind::Activation) =>
        {
            return Err(wrong());
        }
        EventKind::EarlyProcurementStarted => {
            if !policy.allow_provisioning_before_confirmation {
                return Err(Refusal::EarlyProvisioningDisabled);
            }
            if req.capacity.committed_at.is_some() {
                return Err(Refusal::AlreadyCommitted);
            }
        }
        EventKind::CancelRequested if req.pending_cancellation.is_some() => {
            return Err(Refusal::CancellationAlreadyPending);
        }
        EventKind::CancelApproved
            if req.pending_cancellation.is_none() && req.state != State::Expired =>
        {
            return Err(Refusal::NoPendingCancellation);
        }
        EventKind::CancelDenied if req.pending_cancellation.is_none() => {
            return Err(Refusal::NoPendingCancellation);
        }
        EventKind::CapacityReleased if !req.needs_release() => {
            return Err(Refusal::NothingToRelease);
        }
        EventKind::ReminderSent if req.state.is_terminal() && !req.needs_release() => {
            return Err(wrong());
        }
        _ => {}
    }
    Ok(())
}

fn describe_states(kind: EventKind, states: &[State]) -> String {
    let mut names: Vec<String> = states.iter().map(|s| s.as_str().to_string()).collect();
    if kind == EventKind::CustomerConfirmed || kind == EventKind::Activated {
        if let Some(last) = names.last_mut() {
            last.push_str(" (after its own timeout)");
        }
    }
    if names.is_empty() {
        "new".into()
    } else {
        names.join(" or ")
    }
}

/// The parties who may record `kind` on `req`: the "who can act" of a refusal.
pub fn who_may(req: &Request, kind: EventKind) -> Vec<Party> {
    let owner = || match &req.commercial_owner {
        Some(u) => Party::User(u.clone()),
        None => Party::Role(Role::CommercialApprover),
    };
    let requester = Party::User(req.requester.clone());
    match kind {
        EventKind::Submitted => vec![Party::Role(Role::Requester)],
        EventKind::CommercialOwnerAssigned => {
            vec![
                Party::Role(Role::CommercialApprover),
                Party::Role(Role::Admin),
            ]
        }
        EventKind::CommercialApproved | EventKind::CommercialRejected => {
            let mut who = vec![owner(), Party::Role(Role::CommercialApprover)];
            if req.finance_required {
                who.push(Party::Role(Role::Finance));
            }
            dedup(who)
        }
        EventKind::TechnicalOwnerAssigned
        | EventKind::TechnicalApproved
        | EventKind::TechnicalRejected
        | EventKind::EarlyProcurementStarted
        | EventKind::ProvisioningCompleted
        | EventKind::ProvisioningFailed
        | EventKind::CapacityReleased => vec![Party::Role(Role::Infra)],
        EventKind::CustomerConfirmed => dedup(vec![owner(), requester]),
        EventKind::TtlExtended => vec![owner()],
        EventKind::Activated => dedup(vec![owner(), requester, Party::Role(Role::Infra)]),
        EventKind::CustomerConfirmationTimeout
        | EventKind::ActivationTimeout
        | EventKind::ReminderSent => {
            vec![Party::System]
        }
        EventKind::CancelRequested => dedup(vec![requester, owner(), Party::Role(Role::Admin)]),
        EventKind::CancelApproved | EventKind::CancelDenied => cancellation_deciders(req),
        EventKind::CommentAdded => vec![Party::Role(Role::Requester)],
        EventKind::OwnerReassigned => vec![Party::Role(Role::Admin)],
    }
}

fn cancellation_deciders(req: &Request) -> Vec<Party> {
    let mut who = Vec::new();
    if let Some(owner) = &req.commercial_owner {
        who.push(Party::User(owner.clone()));
    }
    who.push(Party::Role(Role::CommercialApprover));
    who
}

fn dedup(mut parties: Vec<Party>) -> Vec<Party> {
    let mut seen = Vec::new();
    parties.retain(|p| {
        if seen.contains(p) {
            false
        } else {
            seen.push(p.clone());
            true
        }
    });
    parties
}

fn not_permitted(event: EventKind, who: Vec<Party>) -> Refusal {
    Refusal::NotPermitted { event, who }
}

fn check_actor(req: &Request, kind: EventKind, actor: &Actor) -> Result<(), Refusal> {
    let is_owner = actor.is(req.commercial_owner.as_ref());
    let is_requester = actor.is(Some(&req.requester));
    let refuse = || Err(not_permitted(kind, who_may(req, kind)));
    let separation = |who: Vec<Party>| {
        if is_requester {
            Err(Refusal::SelfApproval { event: kind, who })
        } else {
            Ok(())
        }
    };
    let allowed = match kind {
        EventKind::Submitted => false,
        EventKind::CommercialOwnerAssigned => {
            // The requester may confirm the AE they named on the form; that is the automatic
            // assignment recorded right after submission, with the submitter as its actor.
            actor.has(Role::CommercialApprover) || actor.has(Role::Admin) || is_requester
        }
        EventKind::CommercialApproved | EventKind::CommercialRejected => {
            let can = is_owner
                || actor.has(Role::CommercialApprover)
                || (req.finance_required && actor.has(Role::Finance));
            if can {
                let others = who_may(req, kind)
                    .into_iter()
                    .filter(|p| *p != Party::User(req.requester.clone()))
                    .collect();
                separation(others)?;
            }
            can
        }
        EventKind::TechnicalApproved | EventKind::TechnicalRejected => {
            let can = actor.has(Role::Infra);
            if can {
                separation(vec![Party::Role(Role::Infra)])?;
            }
            can
        }
        EventKind::TechnicalOwnerAssigned
        | EventKind::EarlyProcurementStarted
        | EventKind::ProvisioningCompleted
        | EventKind::ProvisioningFailed
        | EventKind::CapacityReleased => actor.has(Role::Infra),
        EventKind::CustomerConfirmed => is_owner || is_requester,
        EventKind::TtlExtended => is_owner,
        EventKind::Activated => {
            is_owner
                || is_requester
                || actor.has(Role::Infra)
                || matches!(actor, Actor::ControlPlane)
        }
        EventKind::CustomerConfirmationTimeout
        | EventKind::ActivationTimeout
        | EventKind::ReminderSent => {
            matches!(actor, Actor::Scheduler)
        }
        EventKind::CancelRequested => is_requester || is_owner || actor.has(Role::Admin),
        EventKind::CancelApproved => {
            let can = is_owner || actor.has(Role::CommercialApprover);
            if can {
                let others: Vec<Party> = cancellation_deciders(req)
                    .into_iter()
                    .filter(|p| *p != Party::User(req.requester.clone()))
                    .collect();
                separation(others.clone())?;
                if let Some(pending) = &req.pending_cancellation {
                    if req.capacity.is_committed() && actor.is(Some(&pending.requested_by)) {
                        return Err(Refusal::OwnCancellation { who: others });
                    }
                }
            }
            can
        }
        EventKind::CancelDenied => is_owner || actor.has(Role::CommercialApprover),
        EventKind::CommentAdded => actor.user().is_some(),
        EventKind::OwnerReassigned => actor.has(Role::Admin),
    };
    if allowed {
        Ok(())
    } else {
        refuse()
    }
}

fn reason(kind: EventKind, text: &str) -> Result<String, Refusal> {
    let t = text.trim();
    if t.is_empty() {
        Err(Refusal::ReasonRequired { event: kind })
    } else {
        Ok(t.to_string())
    }
}

fn actor_id(actor: &Actor) -> Option<UserId> {
    actor.user().cloned()
}

fn set_deadline(
    next: &mut Request,
    kind: DeadlineKind,
    from: DateTime<Utc>,
    days: u32,
    policy: &Policy,
) {
    next.deadline = Some(Deadline {
        kind,
        at: policy.calendar.deadline(from, days),
    });
}

fn apply(next: &mut Request, event: &Event, ctx: &Context<'_>) -> Result<(), Refusal> {
    let kind = event.kind();
    let now = ctx.now;
    let policy = ctx.policy;
    match event {
        Event::Submitted { .. } => return Err(Refusal::AlreadyExists),
        Event::CommercialOwnerAssigned { owner } => {
            next.commercial_owner = Some(owner.clone());
            next.state = State::CommercialApprovalRequired;
        }
        Event::CommercialApproved => give_key(next, ctx.actor)?,
        Event::CommercialRejected { reason: r } | Event::TechnicalRejected { reason: r } => {
            next.close_reason = Some(reason(kind, r)?);
            next.state = State::Cancelled;
        }
        Event::TechnicalOwnerAssigned => {
            if ctx.actor.is(next.technical_owner.as_ref()) {
                return Err(Refusal::NoChange(
                    "you are already the technical owner".into(),
                ));
            }
            next.technical_owner = actor_id(ctx.actor);
        }
        Event::TechnicalApproved => {
            if next.technical_owner.is_none() {
                next.technical_owner = actor_id(ctx.actor);
            }
            next.state = State::CustomerConfirmationRequired;
            set_deadline(
                next,
                DeadlineKind::CustomerConfirmation,
                now,
                policy.customer_confirmation_ttl_business_days,
                policy,
            );
        }
        Event::EarlyProcurementStarted => {
            next.capacity.committed_at = Some(now);
        }
        Event::CustomerConfirmed => {
            if next.capacity.committed_at.is_none() {
                next.capacity.committed_at = Some(now);
            }
            next.state = State::ProvisioningInProgress;
            next.deadline = None;
            next.expired_from = None;
        }
        Event::CustomerConfirmationTimeout | Event::ActivationTimeout => {
            let wanted = if kind == EventKind::ActivationTimeout {
                DeadlineKind::Activation
            } else {
                DeadlineKind::CustomerConfirmation
            };
            match next.deadline {
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
            next.state = State::Expired;
            next.expired_from = Some(wanted);
            next.deadline = None;
        }
        Event::TtlExtended { days } => {
            if *days == 0 || *days > Policy::MAX_EXTENSION_DAYS {
                return Err(Refusal::BadExtension {
                    days: *days,
                    max: Policy::MAX_EXTENSION_DAYS,
                });
            }
            let gate = match (next.state, next.expired_from) {
                (State::Expired, Some(k)) => k,
                (State::ReadyForCustomer, _) => DeadlineKind::Activation,
                _ => DeadlineKind::CustomerConfirmation,
            };
            // Extending a live deadline adds to it; reopening an expired gate counts from now.
            let from = next.deadline.map_or(now, |d| d.at.max(now));
            set_deadline(next, gate, from, *days, policy);
            next.state = gate.waiting_state();
            next.expired_from = None;
        }
        Event::ProvisioningCompleted => {
            if next.technical_owner.is_none() {
                next.technical_owner = actor_id(ctx.actor);
            }
            next.state = State::ReadyForCustomer;
            set_deadline(
                next,
                DeadlineKind::Activation,
                now,
                policy.activation_ttl_business_days,
                policy,
            );
        }
        Event::ProvisioningFailed { reason: r } => {
            next.close_reason = Some(reason(kind, r)?);
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
        Event::CancelRequested { reason: r } => {
            let r = reason(kind, r)?;
            if next.capacity.is_committed() {
                let requested_by = actor_id(ctx.actor).ok_or(Refusal::NotPermitted {
                    event: kind,
                    who: who_may(next, kind),
                })?;
                next.pending_cancellation = Some(PendingCancellation {
                    requested_by,
                    reason: r,
                    requested_at: now,
                });
            } else {
                close_cancelled(next, r);
            }
        }
        Event::CancelApproved => {
            let r = match next.pending_cancellation.take() {
                Some(p) => p.reason,
                None => "cancelled at the cancellation gate after expiry".into(),
            };
            close_cancelled(next, r);
        }
        Event::CancelDenied => {
            next.pending_cancellation = None;
        }
        Event::CapacityReleased => {
            next.capacity.ended_at = Some(now);
            next.capacity.released = true;
        }
        // The escalation rides in the same append as its reminder, after the due time moved.
        Event::ReminderSent { escalation, .. } => {
            if !escalation {
                reminders::check_due(next, now)?;
            }
        }
        Event::CommentAdded { text } => {
            if text.trim().is_empty() {
                return Err(Refusal::EmptyComment);
            }
        }
        Event::OwnerReassigned { role, to } => {
            let slot = match role {
                OwnerRole::Commercial => &mut next.commercial_owner,
                OwnerRole::Technical => &mut next.technical_owner,
            };
            if slot.as_ref() == Some(to) {
                return Err(Refusal::NoChange(format!("<@{to}> is already that owner")));
            }
            *slot = Some(to.clone());
        }
    }
    Ok(())
}

fn close_cancelled(next: &mut Request, reason: String) {
    next.state = State::Cancelled;
    next.close_reason = Some(reason);
    next.deadline = None;
    next.expired_from = None;
    next.pending_cancellation = None;
}

/// One click gives one key, even from someone holding both roles; the two keys come from
/// two different people.
fn give_key(next: &mut Request, actor: &Actor) -> Result<(), Refusal> {
    let me = actor_id(actor);
    let can_commercial =
        actor.is(next.commercial_owner.as_ref()) || actor.has(Role::CommercialApprover);
    let can_finance = next.finance_required && actor.has(Role::Finance);
    let approvals = &mut next.approvals;
    if approvals.commercial.is_none() && can_commercial {
        if approvals.finance.is_some() && approvals.finance == me {
            return Err(Refusal::SameApproverTwice);
        }
        approvals.commercial = me;
    } else if next.finance_required && approvals.finance.is_none() && can_finance {
        if approvals.commercial.is_some() && approvals.commercial == me {
            return Err(Refusal::SameApproverTwice);
        }
        approvals.finance = me;
    } else if approvals.commercial.is_some() && approvals.commercial == me {
        return Err(Refusal::SameApproverTwice);
    } else if approvals.commercial.is_some() {
        return Err(Refusal::FinanceKeyRequired);
    } else {
        return Err(Refusal::NotPermitted {
            event: EventKind::CommercialApproved,
            who: vec![
                next.commercial_owner
                    .clone()
                    .map_or(Party::Role(Role::CommercialApprover), Party::User),
                Party::Role(Role::CommercialApprover),
            ],
        });
    }
    if next.commercially_approved() {
        next.state = State::TechnicalReviewRequired;
    }
    Ok(())
}

/// The actions someone could legally take on `req` now: the buttons a message shows.
pub fn available_actions(req: &Request, policy: &Policy) -> Vec<EventKind> {
    EventKind::ALL
        .into_iter()
        .filter(|k| {
            !matches!(
                k,
                EventKind::Submitted
                    | EventKind::CustomerConfirmationTimeout
                    | EventKind::ActivationTimeout
                    | EventKind::ReminderSent
                    | EventKind::CommentAdded
                    | EventKind::OwnerReassigned
                    | EventKind::CommercialOwnerAssigned
            )
        })
        .filter(|k| check_state(req, *k, policy).is_ok())
        .collect()
}

#[cfg(test)]
#[path = "reducer_tests.rs"]
mod tests;
