use chrono::{Duration, Utc};
use uuid::Uuid;

use super::*;
use crate::domain::testkit::*;
use crate::domain::{Policy, Recorded};
use crate::simulate::Simulation;

fn utc(s: &str) -> DateTime<Utc> {
    s.parse().unwrap()
}

/// The play's log as the store would have recorded it.
fn log_of(p: &Play) -> Vec<RecordedEvent> {
    let mut current: Option<Request> = None;
    p.log
        .iter()
        .enumerate()
        .map(|(i, (event, actor, at))| {
            let o = Occurrence {
                request_id: p.id,
                event,
                actor,
                calendar: &p.policy.calendar,
                at: *at,
            };
            let next = step(current.as_ref(), &o).expect("the play folds");
            let rec = Recorded {
                id: Uuid::nil(),
                request_id: p.id,
                seq: i32::try_from(i + 1).unwrap(),
                event: event.clone(),
                actor: actor.clone(),
                policy: p.policy.clone(),
                version_after: next.version,
                state_after: next.state,
                deadline_after: next.deadline.map(|d| d.at),
                cost_at_risk_cents: cost_at_risk_cents(&next, *at),
                idempotency_key: format!("k{i}"),
                envelope_id: None,
                occurred_at: *at,
                recorded_at: *at,
            };
            current = Some(next);
            rec
        })
        .collect()
}

/// What the daemon's sweeps do, hour by hour up to `until`: an independent driver, so the
/// engine's own timer loop is checked against it rather than against itself.
fn sweep_hourly(p: &mut Play, until: DateTime<Utc>) {
    let mut t = p.now;
    while t <= until {
        p.now = t;
        if p.req().deadline.is_some_and(|d| d.at <= t) {
            let command = match p.req().deadline.unwrap().kind {
                DeadlineKind::CustomerConfirmation => Command::CustomerConfirmationTimeout,
                DeadlineKind::Activation => Command::ActivationTimeout,
            };
            p.ok_as(Actor::Scheduler, command);
        }
        let policy = p.policy.clone();
        if let Some(plan) = plan_reminder(p.req(), &policy, t) {
            p.ok_as(
                Actor::Scheduler,
                Command::ReminderSent {
                    slot: plan.slot.clone(),
                    recipients: vec![],
                    escalation: false,
                },
            );
            if plan.escalate {
                p.ok_as(
                    Actor::Scheduler,
                    Command::ReminderSent {
                        slot: plan.escalation_slot(),
                        recipients: vec![],
                        escalation: true,
                    },
                );
            }
        }
        t += Duration::hours(1);
    }
    p.now = until;
}

/// Starts `play` on the hour, so hourly sweeps land where the daemon's would.
fn submitted_with(policy: Policy, cost_usd: i64) -> Play {
    let mut p = Play::new(policy);
    p.ok(
        REQUESTER,
        Command::Submitted {
            number: crate::domain::RequestNumber(1),
            details: submission(cost_usd),
        },
    );
    p.ok(
        REQUESTER,
        Command::CommercialOwnerAssigned { owner: uid(AE) },
    );
    p
}

/// Through technical approval at t0 (Thursday 2026-12-03 10:00 New York).
fn confirming(policy: Policy) -> Play {
    let mut p = submitted_with(policy, 10_000);
    p.ok(AE, Command::CommercialApproved);
    p.ok(INFRA, Command::TechnicalApproved);
    p
}

fn ttl(days: u32) -> Policy {
    Policy {
        customer_confirmation_ttl_business_days: days,
        ..Policy::default()
    }
}

#[test]
fn every_human_event_maps_back_to_the_command_that_recorded_it() {
    let mut p = confirming(Policy::default());
    p.ok(AE, Command::TtlExtended { days: 2 });
    p.ok(AE, Command::CustomerConfirmed);
    p.ok(INFRA, Command::ProvisioningCompleted);
    p.ok_as(
        Actor::ControlPlane,
        Command::Activated {
            signal_id: Some("sig-1".into()),
        },
    );
    let log = log_of(&p);
    let mut replayed = Play::new(Policy::default());
    for rec in &log {
        let command = human_command(rec).expect("every step here is human");
        replayed.now = rec.occurred_at;
        replayed.ok_as(rec.actor.clone(), command);
    }
    let events: Vec<_> = replayed.log.iter().map(|(e, _, _)| e.clone()).collect();
    let recorded: Vec<_> = log.iter().map(|r| r.event.clone()).collect();
    assert_eq!(events, recorded);
}

#[test]
fn scheduler_events_are_not_human_steps() {
    let mut p = confirming(Policy::default());
    sweep_hourly(&mut p, utc("2026-12-11T15:00:00Z"));
    let log = log_of(&p);
    let kinds: Vec<_> = log
        .iter()
        .filter(|r| human_command(r).is_none())
        .map(|r| r.event.kind())
        .collect();
    assert!(kinds.contains(&EventKind::CustomerConfirmationTimeout));
    assert!(kinds.contains(&EventKind::ReminderSent));
    assert!(kinds.iter().all(|k| matches!(
        k,
        EventKind::ReminderSent | EventKind::CustomerConfirmationTimeout
    )));
}

#[test]
fn the_recorded_policy_reproduces_the_recorded_outcome() {
    // Expires on Thursday 10 Dec, confirmed late on Friday, provisioned, ready and left
    // waiting for activation through reminders and an escalation.
    let mut p = confirming(Policy::default());
    sweep_hourly(&mut p, utc("2026-12-11T14:30:00Z"));
    p.ok(AE, Command::CustomerConfirmed);
    p.advance(Duration::hours(3));
    p.ok(INFRA, Command::ProvisioningCompleted);
    let now = utc("2026-12-24T12:00:00Z");
    sweep_hourly(&mut p, now);
    let log = log_of(&p);
    let (_, was) = recorded(&log, now).unwrap();
    assert_eq!(was.expiries.len(), 1);
    assert!(was.reminders >= 6 && was.escalations >= 1, "{was:?}");
    assert!(was.cost_at_risk_cents.unwrap() > 0);

    let sim = simulate(&log, &Policy::default(), now);
    assert_eq!(sim.refused, vec![]);
    assert_eq!(sim.outcome.as_ref(), Some(&was));

    let mut s = Simulation::new(Policy::default(), now, None);
    s.add(&log);
    let report = s.finish();
    assert_eq!(report.totals.differing, 0);
    assert!(report.requests.is_empty());
    assert!(report.policy_changes.is_empty());
}

#[test]
fn a_shorter_confirmation_ttl_expires_at_its_own_deadline_and_a_late_confirmation_still_counts() {
    // Confirmed on Tuesday 8 Dec, inside the recorded 5 days; with 2 the window closed on
    // Monday 7 Dec at 17:00 New York (22:00 UTC). A confirmation from EXPIRED is allowed.
    let mut p = confirming(Policy::default());
    sweep_hourly(&mut p, utc("2026-12-08T15:30:00Z"));
    p.ok(AE, Command::CustomerConfirmed);
    let now = utc("2026-12-09T12:00:00Z");
    sweep_hourly(&mut p, now);
    let log = log_of(&p);
    let (_, was) = recorded(&log, now).unwrap();
    assert_eq!(was.expiries, vec![]);

    let sim = simulate(&log, &ttl(2), now);
    let out = sim.outcome.unwrap();
    assert_eq!(
        out.expiries,
        vec![Expiry {
            gate: DeadlineKind::CustomerConfirmation,
            at: utc("2026-12-07T22:00:00Z"),
        }]
    );
    assert_eq!(out.state, State::ProvisioningInProgress);
    assert_eq!(sim.refused, vec![]);
    assert_eq!(out.cost_at_risk_cents, was.cost_at_risk_cents);
    // Reminders: Fri 4 and Mon 7 (the due-tomorrow one on Friday) in the shorter window;
    // after the expiry the EXPIRED gate is owed one on Tuesday morning, before the click.
    assert_eq!(out.reminders, 3, "{out:?}");

    let mut s = Simulation::new(ttl(2), now, None);
    s.add(&log);
    let r = s.finish();
    assert_eq!(r.totals.newly_expired, 1);
    assert_eq!(r.totals.differing, 1);
    assert_eq!(r.policy_changes.len(), 1);
    assert_eq!(
        r.policy_changes[0].setting,
        "policy.customer_confirmation_ttl_business_days"
    );
    assert_eq!(
        (
            r.policy_changes[0].recorded.as_str(),
            r.policy_changes[0].simulated.as_str()
        ),
        ("5", "2")
    );
}

#[test]
fn a_longer_ttl_takes_back_an_expiry_and_its_reminders_run_on() {
    let mut p = confirming(ttl(2));
    let now = utc("2026-12-09T12:00:00Z");
    sweep_hourly(&mut p, now);
    let log = log_of(&p);
    let (_, was) = recorded(&log, now).unwrap();
    assert_eq!(was.state, State::Expired);

    let out = simulate(&log, &ttl(5), now).outcome.unwrap();
    assert_eq!(out.expiries, vec![]);
    assert_eq!(out.state, State::CustomerConfirmationRequired);
}

#[test]
fn timers_run_up_to_now_after_the_last_human_step() {
    // Nobody acted after technical approval and no sweep ever ran: the new policy still
    // expires the request and reminds its owner on each business day before.
    let p = confirming(Policy::default());
    let log = log_of(&p);
    let now = utc("2026-12-11T15:00:00Z");
    let out = simulate(&log, &Policy::default(), now).outcome.unwrap();
    assert_eq!(
        out.expiries,
        vec![Expiry {
            gate: DeadlineKind::CustomerConfirmation,
            at: utc("2026-12-10T22:00:00Z"),
        }]
    );
    // Fri 4, Mon 7, Tue 8 (escalation after the third), Wed 9 (due tomorrow), Thu 10;
    // the EXPIRED gate's first is on Friday 11 at 09:00, an hour before `now`: the slots
    // the daemon recorded in `timers::replicas`.
    assert_eq!((out.reminders, out.escalations), (6, 1), "{out:?}");
}

#[test]
fn escalation_follows_the_new_count() {
    let mut p = confirming(Policy::default());
    let now = utc("2026-12-09T20:00:00Z");
    sweep_hourly(&mut p, now);
    let log = log_of(&p);
    let (_, was) = recorded(&log, now).unwrap();
    assert_eq!((was.reminders, was.escalations), (4, 1));
    let escalate_first = Policy {
        escalate_after_reminders: 1,
        ..Policy::default()
    };
    let out = simulate(&log, &escalate_first, now).outcome.unwrap();
    assert_eq!((out.reminders, out.escalations), (4, 1));
    assert_eq!(out, was, "the same count, one escalation either way");
    let never_within = Policy {
        escalate_after_reminders: 5,
        ..Policy::default()
    };
    let out = simulate(&log, &never_within, now).outcome.unwrap();
    assert_eq!((out.reminders, out.escalations), (4, 0));
}

#[test]
fn early_procurement_is_refused_where_the_new_policy_forbids_it_and_the_cost_moves() {
    let early = Policy {
        allow_provisioning_before_confirmation: true,
        ..Policy::default()
    };
    let mut p = confirming(early.clone());
    p.advance(Duration::hours(1));
    p.ok(INFRA, Command::EarlyProcurementStarted);
    p.advance(Duration::days(1));
    p.ok(AE, Command::CustomerConfirmed);
    let now = p.now + Duration::days(2);
    let log = log_of(&p);
    let (_, was) = recorded(&log, now).unwrap();

    let sim = simulate(&log, &Policy::default(), now);
    assert_eq!(sim.refused.len(), 1);
    let r = &sim.refused[0];
    assert_eq!(r.kind, EventKind::EarlyProcurementStarted);
    assert_eq!(r.actor, INFRA);
    assert_eq!(
        r.reason,
        Refusal::EarlyProvisioningDisabled.to_string(),
        "decide's own words"
    );
    let out = sim.outcome.unwrap();
    // $10,000 a month: three days committed as recorded, two from the confirmation on.
    assert_eq!(was.cost_at_risk_cents, Some(1_000_000 * 3 / 30));
    assert_eq!(out.cost_at_risk_cents, Some(1_000_000 * 2 / 30));
}

#[test]
fn a_lower_finance_threshold_holds_the_request_at_commercial_approval() {
    let mut p = submitted_with(Policy::default(), 30_000);
    p.ok(AE, Command::CommercialApproved);
    p.ok(INFRA, Command::TechnicalApproved);
    p.ok(AE, Command::CustomerConfirmed);
    let now = p.now + Duration::hours(2);
    let log = log_of(&p);
    let strict = Policy {
        finance_threshold_usd_month: 20_000,
        ..Policy::default()
    };
    let sim = simulate(&log, &strict, now);
    let out = sim.outcome.unwrap();
    assert_eq!(out.state, State::CommercialApprovalRequired);
    let kinds: Vec<_> = sim.refused.iter().map(|r| r.kind).collect();
    assert_eq!(
        kinds,
        [EventKind::TechnicalApproved, EventKind::CustomerConfirmed]
    );
    assert_eq!(out.cost_at_risk_cents, None);
}

#[test]
fn events_after_now_are_left_out_of_both_sides() {
    let mut p = confirming(Policy::default());
    p.advance(Duration::days(1));
    p.ok(AE, Command::CustomerConfirmed);
    let log = log_of(&p);
    let now = t0() + Duration::hours(1);
    let (_, was) = recorded(&log, now).unwrap();
    assert_eq!(was.state, State::CustomerConfirmationRequired);
    let out = simulate(&log, &Policy::default(), now).outcome.unwrap();
    assert_eq!(out, was);
}

#[test]
fn a_log_without_a_submission_is_reported_not_replayed() {
    let p = confirming(Policy::default());
    let log = log_of(&p);
    let mut s = Simulation::new(Policy::default(), Utc::now(), None);
    s.add(&log[1..]);
    let r = s.finish();
    assert_eq!(r.totals.requests, 0);
    assert_eq!(r.unreadable.len(), 1);
}
