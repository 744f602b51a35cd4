//! The lifecycle table's rules: which events each state allows, who may record them, and
//! which buttons a message offers. Only `decide` and the renderer ask these questions;
//! folding the log never does.

use super::event::{EventKind, OwnerRole};
use super::ids::{RequestNumber, UserId};
use super::owner::decision_owner;
use super::policy::Policy;
use super::refusal::Refusal;
use super::request::{DeadlineKind, Request};
use super::role::{Actor, Party, Role};
use super::state::State;

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
    // An owner is reassigned once the request has one; in SUBMITTED it is assigned.
    const OWNED: &[State] = &[
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
        | EventKind::DecisionDelegated
        | EventKind::RemindersSnoozed
        | EventKind::OwnerNudged
        | EventKind::ForcedTransition
        | EventKind::OwnerDeactivated => OPEN,
        EventKind::OwnerReassigned => OWNED,
        EventKind::CapacityReleased => &[Cancelled, Expired, Failed],
        // A delegation ends and a forced move is reviewed however the request ended.
        EventKind::ReminderSent
        | EventKind::DecisionReturned
        | EventKind::ForcedTransitionReviewed => &State::ALL,
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
            | EventKind::DecisionDelegated
            | EventKind::DecisionReturned
            | EventKind::RemindersSnoozed
            | EventKind::OwnerNudged
            | EventKind::ForcedTransition
            | EventKind::ForcedTransitionReviewed
            | EventKind::OwnerDeactivated
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
        EventKind::RemindersSnoozed | EventKind::OwnerNudged if decision_owner(req).is_none() => {
            return Err(Refusal::NoChange(
                "nobody owns a decision on this request".into(),
            ));
        }
        EventKind::DecisionReturned if req.attention.delegations.is_empty() => {
            return Err(Refusal::NoChange(
                "no decision on this request is delegated".into(),
            ));
        }
        EventKind::ForcedTransitionReviewed if req.attention.review_pending().is_none() => {
            return Err(Refusal::NothingToReview);
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
        Some(u) => Party::User(req.acting_for(u).clone()),
        None => Party::Role(Role::CommercialApprover),
    };
    let named_owners = || {
        dedup(
            [&req.commercial_owner, &req.technical_owner]
                .into_iter()
                .flatten()
                .map(|u| Party::User(u.clone()))
                .collect(),
        )
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
        EventKind::OwnerReassigned => reassigners(),
        EventKind::ForcedTransition | EventKind::ForcedTransitionReviewed => {
            vec![Party::Role(Role::Admin)]
        }
        EventKind::DecisionDelegated => named_owners(),
        EventKind::DecisionReturned => {
            let mut who: Vec<Party> = req
                .attention
                .delegations
                .iter()
                .map(|d| Party::User(d.from.clone()))
                .collect();
            who.push(Party::System);
            dedup(who)
        }
        EventKind::RemindersSnoozed => decision_owner(req).map_or_else(Vec::new, |o| o.parties),
        EventKind::OwnerNudged => vec![requester],
        EventKind::OwnerDeactivated => vec![Party::System],
    }
}

/// Whether `actor` chooses commercial owners: commercial approvers and admins.
pub(super) fn assigns_owner(actor: &Actor) -> bool {
    actor.has(Role::CommercialApprover) || actor.has(Role::Admin)
}

/// Who may reassign an owner: admins and commercial approvers.
fn reassigners() -> Vec<Party> {
    vec![
        Party::Role(Role::Admin),
        Party::Role(Role::CommercialApprover),
    ]
}

/// Whether `to` may own the `role` decisions of a request `requester` made. Nobody owns a
/// decision on their own request: the commercial owner approves it, the technical owner
/// reviews it. `number` names the request once it exists.
pub fn check_new_owner(
    requester: &UserId,
    number: Option<RequestNumber>,
    role: OwnerRole,
    to: &UserId,
) -> Result<(), Refusal> {
    if to != requester {
        return Ok(());
    }
    let which = match role {
        OwnerRole::Commercial => "commercial owner (who approves it)",
        OwnerRole::Technical => "technical owner (who reviews it)",
    };
    let what = number.map_or("this request".to_string(), |n| n.to_string());
    Err(Refusal::BadOwner(format!(
        "<@{to}> requested {what}, so they cannot be its {which}: nobody approves their own \
         request. Choose someone else."
    )))
}

fn cancellation_deciders(req: &Request) -> Vec<Party> {
    let mut who = Vec::new();
    if let Some(owner) = &req.commercial_owner {
        who.push(Party::User(req.acting_for(owner).clone()));
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

pub(super) fn not_permitted(event: EventKind, who: Vec<Party>) -> Refusal {
    Refusal::NotPermitted { event, who }
}

/// Whether `actor` is the commercial owner, or decides for them while they are away.
pub(super) fn is_commercial_owner(req: &Request, actor: &Actor) -> bool {
    req.commercial_owner
        .as_ref()
        .is_some_and(|u| actor.is(Some(u)) || actor.is(Some(req.acting_for(u))))
}

/// Whether `actor` decides for an away technical owner.
fn is_technical_delegate(req: &Request, actor: &Actor) -> bool {
    req.technical_owner
        .as_ref()
        .and_then(|u| req.attention.delegation_of(u))
        .is_some_and(|d| actor.is(Some(&d.to)))
}

/// Whether `actor` is one of those the decision waits on (a role counts through its members).
pub(super) fn owns_decision(req: &Request, actor: &Actor) -> bool {
    decision_owner(req).is_some_and(|o| {
        o.parties.iter().any(|p| match p {
            Party::User(u) => actor.is(Some(u)),
            Party::Role(r) => actor.has(*r),
            Party::System => false,
        })
    }) || [&req.commercial_owner, &req.technical_owner]
        .into_iter()
        .flatten()
        .any(|u| actor.is(Some(u)) && req.attention.delegation_of(u).is_some())
}

pub(super) fn check_actor(req: &Request, kind: EventKind, actor: &Actor) -> Result<(), Refusal> {
    let is_owner = is_commercial_owner(req, actor);
    let tech_delegate = is_technical_delegate(req, actor);
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
            // assignment recorded with the submission, with the submitter as its actor
            // (`decide` checks it names that AE). A form that named nobody leaves the choice
            // to the commercial approvers and admins.
            assigns_owner(actor) || (is_requester && req.details.commercial_owner.is_some())
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
            let can = actor.has(Role::Infra) || tech_delegate;
            if can {
                separation(vec![Party::Role(Role::Infra)])?;
            }
            can
        }
        EventKind::ProvisioningCompleted | EventKind::ProvisioningFailed => {
            actor.has(Role::Infra) || tech_delegate
        }
        EventKind::TechnicalOwnerAssigned
        | EventKind::EarlyProcurementStarted
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
        EventKind::OwnerReassigned => {
            let can = actor.has(Role::Admin) || actor.has(Role::CommercialApprover);
            if can {
                // Choosing who approves your own request is approving it by proxy.
                separation(reassigners())?;
            }
            can
        }
        EventKind::ForcedTransition => actor.has(Role::Admin),
        EventKind::ForcedTransitionReviewed => {
            let can = actor.has(Role::Admin);
            if can {
                if let Some(forced) = req.attention.review_pending() {
                    if actor.is(forced.by.as_ref()) {
                        return Err(Refusal::OwnReview);
                    }
                }
            }
            can
        }
        EventKind::DecisionDelegated => {
            actor.is(req.commercial_owner.as_ref()) || actor.is(req.technical_owner.as_ref())
        }
        EventKind::DecisionReturned => {
            matches!(actor, Actor::Scheduler)
                || req
                    .attention
                    .delegations
                    .iter()
                    .any(|d| actor.is(Some(&d.from)))
        }
        EventKind::RemindersSnoozed => owns_decision(req, actor),
        EventKind::OwnerNudged => is_requester,
        EventKind::OwnerDeactivated => matches!(actor, Actor::Scheduler),
    };
    if allowed {
        Ok(())
    } else {
        refuse()
    }
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
                    | EventKind::DecisionDelegated
                    | EventKind::DecisionReturned
                    | EventKind::RemindersSnoozed
                    | EventKind::OwnerNudged
                    | EventKind::ForcedTransition
                    | EventKind::ForcedTransitionReviewed
                    | EventKind::OwnerDeactivated
            )
        })
        .filter(|k| check_state(req, *k, policy).is_ok())
        .collect()
}

/// The actions that settle the decision the request waits on: what a DM to its decision owner
/// carries. Narrower than [`available_actions`] (which the root shows to everyone): no
/// cancellation request in a reminder, and at an expired gate the owner's one-click way out
/// (`cancel_approved`) rather than a request the owner could not then approve.
pub fn decision_actions(req: &Request, policy: &Policy) -> Vec<EventKind> {
    use EventKind as K;
    let wanted: &[K] = if req.pending_cancellation.is_some() {
        &[K::CancelApproved, K::CancelDenied]
    } else {
        match req.state {
            State::Submitted | State::Activated => &[],
            State::CommercialApprovalRequired => &[K::CommercialApproved, K::CommercialRejected],
            State::TechnicalReviewRequired => &[
                K::TechnicalOwnerAssigned,
                K::TechnicalApproved,
                K::TechnicalRejected,
            ],
            State::CustomerConfirmationRequired => &[K::CustomerConfirmed, K::TtlExtended],
            State::ProvisioningInProgress => &[K::ProvisioningCompleted, K::ProvisioningFailed],
            State::ReadyForCustomer => &[K::Activated, K::TtlExtended],
            State::Expired => &[
                K::CustomerConfirmed,
                K::Activated,
                K::TtlExtended,
                K::CancelApproved,
            ],
            State::Cancelled | State::Failed => &[K::CapacityReleased],
        }
    };
    available_actions(req, policy)
        .into_iter()
        .filter(|k| wanted.contains(k))
        .collect()
}
