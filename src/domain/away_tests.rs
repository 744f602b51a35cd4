//! Delegation, snooze, nudge and break-glass: one test per rule of DESIGN's "Away, snooze,
//! nudge, break-glass". The random-history properties in `decide_tests` play these commands
//! too.

use chrono::{DateTime, Duration, NaiveDate, Utc};

use super::*;
use crate::domain::owner::decision_owner;
use crate::domain::reminders::{plan, plan_review};
use crate::domain::testkit::*;
use crate::domain::{Actor, Command, EventKind, Party, Refusal, Role, RoleSet, State, TeamId};

fn utc(s: &str) -> DateTime<Utc> {
    s.parse().unwrap()
}

fn date(s: &str) -> NaiveDate {
    s.parse().unwrap()
}

fn away(to: &str, until: &str) -> Command {
    Command::DecisionDelegated {
        to: uid(to),
        until: date(until),
    }
}

/// A second admin, so one can force and the other review.
fn other_admin() -> Actor {
    Actor::User {
        id: uid("UADMINTWO"),
        team: TeamId::parse(TEAM).unwrap(),
        roles: RoleSet::new([Role::Requester, Role::Admin]),
    }
}

fn parties(p: &Play) -> Vec<Party> {
    decision_owner(p.req()).expect("an owner").parties
}

fn force(to: State) -> Command {
    Command::ForcedTransition {
        to,
        reason: "outage: capacity needed now".into(),
    }
}

// ---- delegation ----

#[test]
fn an_away_owner_delegates_and_the_delegate_decides() {
    let mut p = Play::submitted(100);
    let v = p.req().version;
    let r = p.ok(AE, away(STRANGER, "2026-12-10"));
    assert_eq!(r.version, v + 1, "a delegation moves who decides");
    assert_eq!(parties(&p), vec![Party::User(uid(STRANGER))]);
    assert_eq!(
        p.log.last().unwrap().0,
        Event::DecisionDelegated {
            from: uid(AE),
            to: uid(STRANGER),
            until: date("2026-12-10")
        }
    );
    // The delegate has no role of their own: the delegation is what lets them approve.
    let r = p.ok(STRANGER, Command::CommercialApproved);
    assert_eq!(r.state, State::TechnicalReviewRequired);
    assert_eq!(r.approvals.commercial, Some(uid(STRANGER)));
}

#[test]
fn delegating_again_to_the_same_person_changes_nothing() {
    let mut p = Play::submitted(100);
    p.ok(AE, away(STRANGER, "2026-12-10"));
    assert!(matches!(
        p.refused(AE, away(STRANGER, "2026-12-10")),
        Refusal::NoChange(_)
    ));
    // A new date or a new delegate is a new delegation, replacing the old one.
    p.ok(AE, away(APPROVER, "2026-12-11"));
    assert_eq!(p.req().attention.delegations.len(), 1);
    assert_eq!(parties(&p), vec![Party::User(uid(APPROVER))]);
}

#[test]
fn bad_delegations_are_refused_and_record_nothing() {
    let mut p = Play::submitted(100);
    let e = p.refused(AE, away(AE, "2026-12-10"));
    assert!(e.to_string().contains("yourself"), "{e}");
    // The delegate would approve their own request.
    let e = p.refused(AE, away(REQUESTER, "2026-12-10"));
    assert!(e.to_string().contains("requested CR-1"), "{e}");
    let e = p.refused(AE, away(STRANGER, "2026-12-02"));
    assert!(e.to_string().contains("in the past"), "{e}");
    // Only an owner of the request delegates their own decisions.
    assert!(matches!(
        p.refused(APPROVER, away(STRANGER, "2026-12-10")),
        Refusal::NotPermitted { .. }
    ));
    // Today is not in the past.
    p.ok(AE, away(STRANGER, "2026-12-03"));
}

#[test]
fn the_two_commercial_keys_stay_two_people_through_a_delegation() {
    let mut p = Play::submitted(75_000);
    assert!(p.req().finance_required);
    p.ok(AE, away(FINANCE, "2026-12-10"));
    // The finance approver decides for the AE: their first click is the commercial key...
    let r = p.ok(FINANCE, Command::CommercialApproved);
    assert_eq!(r.approvals.commercial, Some(uid(FINANCE)));
    assert_eq!(r.state, State::CommercialApprovalRequired);
    // ...and they cannot also give the finance key.
    assert_eq!(
        p.refused(FINANCE, Command::CommercialApproved),
        Refusal::SameApproverTwice
    );
    let r = p.ok(BOTH, Command::CommercialApproved);
    assert_eq!(r.approvals.finance, Some(uid(BOTH)));
    assert_eq!(r.state, State::TechnicalReviewRequired);
}

#[test]
fn a_delegate_who_gave_the_finance_key_cannot_give_the_commercial_key() {
    let mut p = Play::submitted(75_000);
    p.ok(FINANCE, Command::CommercialApproved);
    p.ok(AE, away(FINANCE, "2026-12-10"));
    assert_eq!(
        p.refused(FINANCE, Command::CommercialApproved),
        Refusal::SameApproverTwice
    );
}

#[test]
fn a_returned_decision_is_the_owners_again() {
    let mut p = Play::submitted(100);
    p.ok(AE, away(STRANGER, "2026-12-10"));
    // Someone else cannot end AE's absence.
    assert!(matches!(
        p.refused(STRANGER, Command::DecisionReturned { from: uid(AE) }),
        Refusal::NotPermitted { .. }
    ));
    let v = p.req().version;
    let r = p.ok(AE, Command::DecisionReturned { from: uid(AE) });
    assert_eq!(r.version, v + 1);
    assert!(r.attention.delegations.is_empty());
    assert_eq!(parties(&p), vec![Party::User(uid(AE))]);
    assert!(matches!(
        p.refused(STRANGER, Command::CommercialApproved),
        Refusal::NotPermitted { .. }
    ));
    assert!(matches!(
        p.refused(AE, Command::DecisionReturned { from: uid(AE) }),
        Refusal::NoChange(_)
    ));
}

#[test]
fn the_scheduler_returns_a_decision_when_the_absence_ends_even_on_a_closed_request() {
    let mut p = Play::submitted(100);
    p.ok(AE, away(STRANGER, "2026-12-10"));
    p.ok(
        REQUESTER,
        Command::CancelRequested {
            reason: "not needed".into(),
        },
    );
    assert_eq!(p.req().state, State::Cancelled);
    let r = p.ok_as(
        Actor::Scheduler,
        Command::DecisionReturned { from: uid(AE) },
    );
    assert!(r.attention.delegations.is_empty());
}

#[test]
fn an_away_technical_owner_delegates_the_technical_decisions() {
    let mut p = Play::submitted(100);
    p.ok(AE, Command::CommercialApproved);
    p.ok(INFRA, Command::TechnicalOwnerAssigned);
    p.ok(INFRA, away(STRANGER, "2026-12-10"));
    assert_eq!(parties(&p), vec![Party::User(uid(STRANGER))]);
    let r = p.ok(STRANGER, Command::TechnicalApproved);
    assert_eq!(r.state, State::CustomerConfirmationRequired);
}

// ---- snooze ----

#[test]
fn the_owner_snoozes_reminders_for_some_business_days() {
    let mut p = Play::submitted(100);
    // Thursday: the first reminder would be due Friday at 09:00.
    assert_eq!(p.req().reminder_due_at, Some(utc("2026-12-04T14:00:00Z")));
    let v = p.req().version;
    let r = p.ok(
        AE,
        Command::RemindersSnoozed {
            days: 2,
            reason: "launch week".into(),
        },
    );
    assert_eq!(r.version, v, "a snooze makes no button stale");
    // Friday and Monday are snoozed; reminders resume Tuesday at 09:00 New York.
    let until = utc("2026-12-08T14:00:00Z");
    assert_eq!(r.attention.snoozed_until, Some(until));
    assert_eq!(r.reminder_due_at, Some(until));
    let policy = p.policy.clone();
    assert_eq!(plan(p.req(), &policy, utc("2026-12-07T15:00:00Z")), None);
    assert!(plan(p.req(), &policy, until).is_some());
}

#[test]
fn a_snooze_is_bounded_needs_a_reason_and_comes_from_the_owner() {
    let mut p = Play::submitted(100);
    let snooze = |days| Command::RemindersSnoozed {
        days,
        reason: "busy".into(),
    };
    assert_eq!(
        p.refused(AE, snooze(0)),
        Refusal::BadSnooze { days: 0, max: 3 }
    );
    assert_eq!(
        p.refused(AE, snooze(4)),
        Refusal::BadSnooze { days: 4, max: 3 }
    );
    assert!(matches!(
        p.refused(
            AE,
            Command::RemindersSnoozed {
                days: 1,
                reason: " ".into()
            }
        ),
        Refusal::ReasonRequired { .. }
    ));
    assert!(matches!(
        p.refused(REQUESTER, snooze(1)),
        Refusal::NotPermitted { .. }
    ));
    p.policy.max_snooze_business_days = 5;
    p.ok(AE, snooze(5));
}

#[test]
fn a_snooze_never_passes_the_business_day_before_the_deadline_and_the_warning_goes() {
    let mut p = Play::to_customer_confirmation(100);
    p.policy.max_snooze_business_days = 10;
    // Approved Thursday 3 Dec: due Thursday 10 Dec at 17:00; the warning goes Wednesday 9.
    let snooze = |days| Command::RemindersSnoozed {
        days,
        reason: "waiting for the customer's board".into(),
    };
    let e = p.refused(AE, snooze(4));
    assert!(e.to_string().contains("at most 3 business days"), "{e}");
    let r = p.ok(AE, snooze(3));
    assert_eq!(r.attention.snoozed_until, Some(utc("2026-12-09T14:00:00Z")));
    let policy = p.policy.clone();
    assert_eq!(plan(p.req(), &policy, utc("2026-12-08T15:00:00Z")), None);
    let warning = plan(p.req(), &policy, utc("2026-12-09T15:00:00Z")).expect("the warning");
    assert!(warning.due_tomorrow);
    // Too close to snooze at all: on the warning day itself.
    p.advance(Duration::days(6));
    let e = p.refused(AE, snooze(1));
    assert!(e.to_string().contains("too close"), "{e}");
}

#[test]
fn a_snooze_ends_with_its_gate() {
    let mut p = Play::submitted(100);
    p.ok(
        AE,
        Command::RemindersSnoozed {
            days: 3,
            reason: "busy".into(),
        },
    );
    let r = p.ok(AE, Command::CommercialApproved);
    assert_eq!(r.attention.snoozed_until, None);
    assert_eq!(r.reminder_due_at, Some(utc("2026-12-04T14:00:00Z")));
}

// ---- nudge ----

#[test]
fn the_requester_nudges_once_per_business_day() {
    let mut p = Play::submitted(100);
    let nudge = || Command::OwnerNudged {
        recipients: vec![uid(AE)],
    };
    let v = p.req().version;
    let r = p.ok(REQUESTER, nudge());
    assert_eq!(r.version, v);
    assert_eq!(
        p.refused(REQUESTER, nudge()),
        Refusal::NudgedToday {
            next: utc("2026-12-04T14:00:00Z")
        }
    );
    assert!(matches!(
        p.refused(AE, nudge()),
        Refusal::NotPermitted { .. }
    ));
    // Friday: allowed again. Saturday counts for Monday, so Monday is refused.
    p.advance(Duration::days(1));
    p.ok(REQUESTER, nudge());
    p.advance(Duration::days(1));
    p.ok(REQUESTER, nudge());
    p.advance(Duration::days(2));
    assert!(matches!(
        p.refused(REQUESTER, nudge()),
        Refusal::NudgedToday { .. }
    ));
}

#[test]
fn a_nudge_needs_someone_to_nudge_and_an_open_decision() {
    let mut p = Play::submitted(100);
    assert!(matches!(
        p.refused(REQUESTER, Command::OwnerNudged { recipients: vec![] }),
        Refusal::NoChange(_)
    ));
    p.ok(REQUESTER, Command::CancelRequested { reason: "x".into() });
    assert!(matches!(
        p.refused(
            REQUESTER,
            Command::OwnerNudged {
                recipients: vec![uid(AE)]
            }
        ),
        Refusal::WrongState { .. }
    ));
}

// ---- break-glass ----

#[test]
fn an_admin_forces_an_open_request_to_any_state_with_a_reason() {
    let mut p = Play::submitted(100);
    let v = p.req().version;
    let r = p.ok(ADMIN, force(State::CustomerConfirmationRequired));
    assert_eq!(r.state, State::CustomerConfirmationRequired);
    assert_eq!(r.version, v + 1);
    // The state's deadline, from the policy in force.
    assert_eq!(r.deadline.map(|d| d.at), Some(utc("2026-12-10T22:00:00Z")));
    let forced = r.attention.review_pending().expect("a review is pending");
    assert_eq!(forced.by, Some(uid(ADMIN)));
    assert_eq!(forced.from, State::CommercialApprovalRequired);
    assert_eq!(forced.review_due_at, Some(utc("2026-12-04T14:00:00Z")));
    // Provisioning means capacity is being bought.
    let r = p.ok(ADMIN, force(State::ProvisioningInProgress));
    assert!(r.capacity.is_committed());
}

#[test]
fn bad_forced_transitions_are_refused() {
    let mut p = Play::submitted(100);
    assert!(matches!(
        p.refused(ADMIN, force(State::CommercialApprovalRequired)),
        Refusal::NoChange(_)
    ));
    assert!(matches!(
        p.refused(
            ADMIN,
            Command::ForcedTransition {
                to: State::Activated,
                reason: "".into()
            }
        ),
        Refusal::ReasonRequired { .. }
    ));
    assert!(matches!(
        p.refused(AE, force(State::Activated)),
        Refusal::NotPermitted { .. }
    ));
    let r = p.ok(ADMIN, force(State::Cancelled));
    assert_eq!(
        r.close_reason.as_deref(),
        Some("outage: capacity needed now")
    );
    assert!(matches!(
        p.refused(ADMIN, force(State::Submitted)),
        Refusal::WrongState { .. }
    ));
}

#[test]
fn another_admin_reviews_a_forced_transition() {
    let mut p = Play::submitted(100);
    p.ok(ADMIN, force(State::Cancelled));
    assert_eq!(
        p.refused(ADMIN, Command::ForcedTransitionReviewed),
        Refusal::OwnReview
    );
    assert!(matches!(
        p.refused(AE, Command::ForcedTransitionReviewed),
        Refusal::NotPermitted { .. }
    ));
    let v = p.req().version;
    let r = p.ok_as(other_admin(), Command::ForcedTransitionReviewed);
    assert_eq!(r.version, v);
    let forced = r.attention.forced.as_ref().unwrap();
    assert_eq!(forced.reviewed_by, Some(uid("UADMINTWO")));
    assert_eq!(
        p.refused(ADMIN, Command::ForcedTransitionReviewed),
        Refusal::NothingToReview
    );
}

#[test]
fn review_reminders_go_each_business_day_until_reviewed() {
    let mut p = Play::submitted(100);
    p.ok(ADMIN, force(State::Cancelled));
    let policy = p.policy.clone();
    assert_eq!(
        plan_review(p.req(), &policy, p.now),
        None,
        "not before the next business day"
    );
    p.now = utc("2026-12-04T15:00:00Z");
    let slot = plan_review(p.req(), &policy, p.now).expect("due Friday");
    assert_eq!(slot, "2026-12-04:review");
    let remind = |slot: &str| Command::ReminderSent {
        slot: slot.into(),
        recipients: vec![uid("UADMINTWO")],
        escalation: false,
    };
    let r = p.ok_as(Actor::Scheduler, remind(&slot));
    assert_eq!(r.reminders_sent, 0, "not a reminder of the gate");
    let due = r.attention.review_pending().unwrap().review_due_at;
    assert_eq!(due, Some(utc("2026-12-07T14:00:00Z")), "next on Monday");
    // Once per slot: the next is not due yet.
    assert!(matches!(
        p.try_as(Actor::Scheduler, remind("2026-12-04:review")),
        Err(Refusal::NotDue { .. })
    ));
    p.ok_as(other_admin(), Command::ForcedTransitionReviewed);
    p.now = utc("2026-12-07T15:00:00Z");
    assert_eq!(plan_review(p.req(), &policy, p.now), None);
    assert_eq!(
        p.try_as(Actor::Scheduler, remind("2026-12-07:review"))
            .unwrap_err(),
        Refusal::NothingToReview
    );
}

#[test]
fn only_delegations_returns_forced_moves_and_reassignments_change_the_version() {
    let moving: Vec<EventKind> = EventKind::ALL
        .into_iter()
        .filter(|k| {
            matches!(
                k,
                EventKind::OwnerReassigned
                    | EventKind::DecisionDelegated
                    | EventKind::DecisionReturned
                    | EventKind::ForcedTransition
                    | EventKind::RemindersSnoozed
                    | EventKind::OwnerNudged
                    | EventKind::ForcedTransitionReviewed
            )
        })
        .filter(|k| k.bumps_version())
        .collect();
    assert_eq!(
        moving,
        vec![
            EventKind::OwnerReassigned,
            EventKind::DecisionDelegated,
            EventKind::DecisionReturned,
            EventKind::ForcedTransition
        ]
    );
}

// ---- deactivated owners ----

#[test]
fn a_deactivated_owner_is_flagged_and_the_decision_escalates_to_admins() {
    let mut p = Play::submitted(100);
    let deactivated = || Command::OwnerDeactivated {
        user: uid(AE),
        admins: vec![uid(ADMIN)],
    };
    assert!(matches!(
        p.refused(ADMIN, deactivated()),
        Refusal::NotPermitted { .. }
    ));
    let v = p.req().version;
    let r = p.ok_as(Actor::Scheduler, deactivated());
    assert_eq!(r.version, v, "a flag makes no button stale");
    assert_eq!(parties(&p), vec![Party::Role(Role::Admin)]);
    assert!(matches!(
        p.try_as(Actor::Scheduler, deactivated()),
        Err(Refusal::NoChange(_))
    ));
    assert!(matches!(
        p.try_as(
            Actor::Scheduler,
            Command::OwnerDeactivated {
                user: uid(STRANGER),
                admins: vec![]
            }
        ),
        Err(Refusal::NoChange(_))
    ));
    // An admin reassigns; the new owner decides.
    p.ok(
        ADMIN,
        Command::OwnerReassigned {
            role: crate::domain::OwnerRole::Commercial,
            to: uid(APPROVER),
        },
    );
    assert_eq!(parties(&p), vec![Party::User(uid(APPROVER))]);
    assert_eq!(
        p.ok(APPROVER, Command::CommercialApproved).state,
        State::TechnicalReviewRequired
    );
}
