//! Reminder rules, driven the way the sweep drives them: plan at a tick, record what it
//! says, tick again.

use chrono::{DateTime, Duration, Utc};

use super::*;
use crate::domain::testkit::*;
use crate::domain::{Actor, Command, Refusal, State};

fn utc(s: &str) -> DateTime<Utc> {
    s.parse().unwrap()
}

/// What one sweep at `now` records: the reminder, and its escalation when planned.
fn sweep(p: &mut Play, now: DateTime<Utc>) -> Vec<String> {
    p.now = now;
    let Some(plan) = plan(p.req(), &p.policy, now) else {
        return Vec::new();
    };
    let mut slots = vec![plan.slot.clone()];
    p.ok_as(
        Actor::Scheduler,
        Command::ReminderSent {
            slot: plan.slot.clone(),
            recipients: vec![uid(AE)],
            escalation: false,
        },
    );
    if plan.escalate {
        p.ok_as(
            Actor::Scheduler,
            Command::ReminderSent {
                slot: plan.escalation_slot(),
                recipients: vec![uid(AE)],
                escalation: true,
            },
        );
        slots.push(plan.escalation_slot());
    }
    slots
}

/// Sweeps every `every` from `from` up to (not including) `until`; returns every slot
/// recorded with the time it was recorded at.
fn sweep_between(
    p: &mut Play,
    from: DateTime<Utc>,
    until: DateTime<Utc>,
    every: Duration,
) -> Vec<(DateTime<Utc>, String)> {
    let mut out = Vec::new();
    let mut t = from;
    while t < until {
        out.extend(sweep(p, t).into_iter().map(|s| (t, s)));
        t += every;
    }
    out
}

fn slots(recorded: &[(DateTime<Utc>, String)]) -> Vec<&str> {
    recorded.iter().map(|(_, s)| s.as_str()).collect()
}

#[test]
fn the_first_reminder_comes_at_work_start_of_the_next_business_day() {
    // The gate opens Thursday 2026-12-03 10:00 New York.
    let p = Play::to_customer_confirmation(100);
    assert_eq!(p.req().reminders_sent, 0);
    assert_eq!(p.req().reminder_due_at, Some(utc("2026-12-04T14:00:00Z")));
    assert_eq!(plan(p.req(), &p.policy, utc("2026-12-04T13:59:00Z")), None);
    let first = plan(p.req(), &p.policy, utc("2026-12-04T14:00:00Z")).unwrap();
    assert_eq!(
        first,
        ReminderPlan {
            slot: "2026-12-04".into(),
            due_tomorrow: false,
            escalate: false
        }
    );
}

#[test]
fn a_gate_gets_one_reminder_each_business_day_then_due_tomorrow_and_one_escalation() {
    let mut p = Play::to_customer_confirmation(100);
    // Deadline Thursday 10th 17:00 New York; sweep every 20 minutes until then.
    let got = sweep_between(
        &mut p,
        utc("2026-12-03T15:00:00Z"),
        utc("2026-12-10T22:00:00Z"),
        Duration::minutes(20),
    );
    assert_eq!(
        slots(&got),
        [
            "2026-12-04",
            "2026-12-07",
            "2026-12-08",
            "2026-12-08:escalation",
            "2026-12-09:due",
            "2026-12-10"
        ]
    );
    // Each at 09:00 local, the first tick inside working hours: none at the weekend.
    for (at, _) in &got {
        assert_eq!(at.format("%H:%M").to_string(), "14:00", "{got:?}");
    }
    assert_eq!(p.req().reminders_sent, 5, "escalations are not reminders");
}

#[test]
fn escalation_follows_the_nth_reminder_as_configured() {
    let mut p = Play::to_customer_confirmation(100);
    p.policy.escalate_after_reminders = 1;
    let got = sweep_between(
        &mut p,
        utc("2026-12-04T14:00:00Z"),
        utc("2026-12-08T22:00:00Z"),
        Duration::hours(1),
    );
    assert_eq!(
        slots(&got),
        [
            "2026-12-04",
            "2026-12-04:escalation",
            "2026-12-07",
            "2026-12-08"
        ]
    );
}

#[test]
fn holidays_and_weekends_get_no_reminder() {
    let mut policy = Policy::default();
    policy.calendar.holidays = ["2026-12-25", "2027-01-01"]
        .iter()
        .map(|d| d.parse().unwrap())
        .collect();
    // The confirmation window opens on Christmas Eve, a Thursday.
    let mut p = Play::new(policy);
    p.now = utc("2026-12-24T15:00:00Z");
    p.ok(
        REQUESTER,
        Command::Submitted {
            number: crate::domain::RequestNumber(1),
            details: submission(100),
        },
    );
    p.ok(
        REQUESTER,
        Command::CommercialOwnerAssigned { owner: uid(AE) },
    );
    p.ok(AE, Command::CommercialApproved);
    p.ok(INFRA, Command::TechnicalApproved);
    assert_eq!(
        p.req().deadline.unwrap().at,
        utc("2027-01-04T22:00:00Z"),
        "Thursday 24th + 5 business days"
    );
    let got = sweep_between(
        &mut p,
        utc("2026-12-24T15:00:00Z"),
        utc("2027-01-04T22:00:00Z"),
        Duration::minutes(30),
    );
    assert_eq!(
        slots(&got),
        [
            "2026-12-28",
            "2026-12-29",
            "2026-12-30",
            "2026-12-30:escalation",
            "2026-12-31:due",
            "2027-01-04"
        ]
    );
}

#[test]
fn working_hours_are_those_of_the_configured_zone() {
    let mut p = Play::new(Policy {
        calendar: Calendar {
            time_zone: chrono_tz::Asia::Tokyo,
            ..Calendar::default()
        },
        ..Policy::default()
    });
    // Thursday 2026-12-03 10:00 in Tokyo is 01:00 UTC.
    p.now = utc("2026-12-03T01:00:00Z");
    p.ok(
        REQUESTER,
        Command::Submitted {
            number: crate::domain::RequestNumber(1),
            details: submission(100),
        },
    );
    p.ok(
        REQUESTER,
        Command::CommercialOwnerAssigned { owner: uid(AE) },
    );
    // 09:00 Friday in Tokyo is 00:00 UTC Friday; New York would still be Thursday.
    assert_eq!(p.req().reminder_due_at, Some(utc("2026-12-04T00:00:00Z")));
    let got = sweep_between(
        &mut p,
        utc("2026-12-03T01:00:00Z"),
        utc("2026-12-08T00:00:00Z"),
        Duration::minutes(30),
    );
    assert_eq!(slots(&got), ["2026-12-04", "2026-12-07"]);
    assert_eq!(got[1].0, utc("2026-12-07T00:00:00Z"));
}

#[test]
fn a_daemon_back_after_days_sends_one_reminder_and_only_in_working_hours() {
    let mut p = Play::to_customer_confirmation(100);
    // Down from Thursday to Saturday: still nothing at the weekend.
    assert!(sweep(&mut p, utc("2026-12-05T16:00:00Z")).is_empty());
    // Monday before nine: nothing; at nine: one reminder for today, not one per missed day.
    assert!(sweep(&mut p, utc("2026-12-07T13:59:59Z")).is_empty());
    assert_eq!(sweep(&mut p, utc("2026-12-07T14:00:00Z")), ["2026-12-07"]);
    assert!(sweep(&mut p, utc("2026-12-07T14:01:00Z")).is_empty());
    assert_eq!(p.req().reminders_sent, 1);
    assert_eq!(p.req().reminder_due_at, Some(utc("2026-12-08T14:00:00Z")));
    // Down again until Wednesday noon, the day before the deadline.
    assert_eq!(
        sweep(&mut p, utc("2026-12-09T17:00:00Z")),
        ["2026-12-09:due"]
    );
    assert!(sweep(&mut p, utc("2026-12-09T21:00:00Z")).is_empty());
}

#[test]
fn due_tomorrow_is_the_business_day_before_the_deadline() {
    let mut p = Play::to_ready();
    // Activation: 10 business days from Thursday 3rd = Thursday 17th.
    let due = p.req().deadline.unwrap().at;
    assert_eq!(due, utc("2026-12-17T22:00:00Z"));
    p.now = utc("2026-12-16T15:00:00Z");
    let plan_ = plan(p.req(), &p.policy, p.now).unwrap();
    assert!(plan_.due_tomorrow);
    assert_eq!(plan_.slot, "2026-12-16:due");
    assert!(
        !plan(p.req(), &p.policy, utc("2026-12-15T15:00:00Z"))
            .unwrap()
            .due_tomorrow
    );
    // A deadline on Monday makes the Friday before it the day before.
    let mut p = Play::submitted(100);
    p.ok(AE, Command::CommercialApproved);
    p.now = utc("2026-12-07T15:00:00Z"); // Monday
    p.ok(INFRA, Command::TechnicalApproved);
    assert_eq!(p.req().deadline.unwrap().at, utc("2026-12-14T22:00:00Z"));
    let thu = plan(p.req(), &p.policy, utc("2026-12-10T15:00:00Z")).unwrap();
    assert!(!thu.due_tomorrow);
    let fri = plan(p.req(), &p.policy, utc("2026-12-11T15:00:00Z")).unwrap();
    assert_eq!(fri.slot, "2026-12-11:due");
}

#[test]
fn a_new_gate_starts_over_and_the_old_one_gets_nothing_more() {
    let mut p = Play::to_customer_confirmation(100);
    assert_eq!(sweep(&mut p, utc("2026-12-04T14:30:00Z")), ["2026-12-04"]);
    assert_eq!(p.req().reminders_sent, 1);
    // The customer confirms on Friday: provisioning is infra's gate, first reminder Monday.
    p.now = utc("2026-12-04T15:00:00Z");
    p.ok(AE, Command::CustomerConfirmed);
    assert_eq!(p.req().state, State::ProvisioningInProgress);
    assert_eq!(p.req().reminders_sent, 0);
    assert_eq!(p.req().reminder_due_at, Some(utc("2026-12-07T14:00:00Z")));
    assert!(sweep(&mut p, utc("2026-12-04T16:00:00Z")).is_empty());
    // A reminder the sweep planned for the old gate before the click is refused.
    let stale = Command::ReminderSent {
        slot: "2026-12-04".into(),
        recipients: vec![uid(AE)],
        escalation: false,
    };
    p.now = utc("2026-12-04T16:00:00Z");
    assert!(matches!(
        p.try_as(Actor::Scheduler, stale),
        Err(Refusal::NotDue { .. })
    ));
}

#[test]
fn a_pending_cancellation_is_its_own_gate() {
    let mut p = Play::to_provisioning();
    p.now = utc("2026-12-07T15:00:00Z");
    assert_eq!(sweep(&mut p, utc("2026-12-07T15:00:00Z")), ["2026-12-07"]);
    p.ok(
        REQUESTER,
        Command::CancelRequested {
            reason: "churn".into(),
        },
    );
    assert!(p.req().pending_cancellation.is_some());
    assert_eq!(p.req().reminders_sent, 0);
    assert_eq!(p.req().reminder_due_at, Some(utc("2026-12-08T14:00:00Z")));
    p.now = utc("2026-12-08T15:00:00Z");
    p.ok(AE, Command::CancelDenied);
    assert_eq!(p.req().reminder_due_at, Some(utc("2026-12-09T14:00:00Z")));
}

#[test]
fn closed_requests_get_no_reminders_unless_capacity_waits_for_release() {
    let mut p = Play::to_ready();
    p.ok(AE, Command::Activated { signal_id: None });
    assert_eq!(p.req().reminder_due_at, None);
    assert_eq!(plan(p.req(), &p.policy, utc("2026-12-08T15:00:00Z")), None);

    let mut p = Play::to_provisioning();
    p.ok(
        INFRA,
        Command::ProvisioningFailed {
            reason: "stock".into(),
        },
    );
    assert!(p.req().reminder_due_at.is_some(), "infra must release");
    p.ok(INFRA, Command::CapacityReleased);
    assert_eq!(p.req().state, State::Failed);
    assert_eq!(p.req().reminder_due_at, None, "nothing left to decide");
}

#[test]
fn comments_and_owner_changes_keep_the_count() {
    let mut p = Play::to_customer_confirmation(100);
    sweep(&mut p, utc("2026-12-04T14:00:00Z"));
    let (sent, due) = (p.req().reminders_sent, p.req().reminder_due_at);
    p.ok(STRANGER, Command::CommentAdded { text: "?".into() });
    p.ok(
        ADMIN,
        Command::OwnerReassigned {
            role: crate::domain::OwnerRole::Commercial,
            to: uid(APPROVER),
        },
    );
    assert_eq!(
        (p.req().reminders_sent, p.req().reminder_due_at),
        (sent, due)
    );
}

#[test]
fn a_passed_deadline_gets_its_timeout_not_a_reminder() {
    let p = Play::to_customer_confirmation(100);
    let deadline = p.req().deadline.unwrap().at;
    // Friday after the deadline, inside working hours, with every reminder missed.
    let friday = utc("2026-12-11T15:00:00Z");
    assert!(deadline < friday);
    assert_eq!(plan(p.req(), &p.policy, friday), None);
    assert!(plan(p.req(), &p.policy, utc("2026-12-10T21:59:00Z")).is_some());
}

#[test]
fn slots_name_their_day() {
    assert_eq!(slot_date("2026-12-04"), "2026-12-04".parse().ok());
    assert_eq!(slot_date("2026-12-04:due"), "2026-12-04".parse().ok());
    assert_eq!(slot_date("s"), None);
    let plan = ReminderPlan {
        slot: "2026-12-09:due".into(),
        due_tomorrow: true,
        escalate: true,
    };
    assert_eq!(plan.escalation_slot(), "2026-12-09:escalation");
}
