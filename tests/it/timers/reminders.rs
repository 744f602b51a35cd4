//! DM reminders: who gets them, on which days, the escalation, and catching up after
//! downtime.

use capacity_bot::domain::testkit::*;
use capacity_bot::domain::{Command, EventKind, UserId};
use capacity_bot::store::MIGRATOR;
use chrono::{Duration, Timelike};
use sqlx::PgPool;

use super::*;

fn users(ids: &[&str]) -> Vec<UserId> {
    ids.iter().map(|u| uid(u)).collect()
}

fn recipients(e: &RecordedEvent) -> Vec<UserId> {
    match &e.event {
        capacity_bot::domain::Event::ReminderSent { recipients, .. } => recipients.clone(),
        other => panic!("not a reminder: {other:?}"),
    }
}

fn reminder_texts(number: i64, from: u32, to: u32) -> Vec<String> {
    (from..=to)
        .map(|i| format!("Reminder {i}: CR-{number} is waiting on a decision"))
        .collect()
}

#[sqlx::test(migrator = "MIGRATOR")]
async fn each_gate_reminds_its_owner_on_business_days_and_escalates_after_three(pool: PgPool) {
    let mut h = Harness::start(pool).await;
    // Every gate opens on Thursday 3 December, 10:00 New York.
    let gates = [
        (Gate::CommercialApproval, users(&[AE, BOTH, FINANCE])),
        (Gate::TechnicalReview, users(&[INFRA, INFRA2])),
        (Gate::CustomerConfirmation, users(&[AE])),
        (Gate::Provisioning, users(&[INFRA])),
        (Gate::Ready, users(&[AE])),
    ];
    let mut ids = Vec::new();
    for (gate, _) in &gates {
        ids.push(request_in(&h, *gate).await);
    }
    let confirming = ids[2];
    // A sweep every hour, day and night, weekend included, until Tuesday noon in New York,
    // when the customer confirms; then on until Wednesday night.
    let mut t = utc("2026-12-03T16:00:00Z");
    while t <= utc("2026-12-09T23:00:00Z") {
        if t == utc("2026-12-08T17:00:00Z") {
            act(&h, confirming, AE, Command::CustomerConfirmed).await;
        }
        sweep(&h, t).await;
        t += Duration::hours(1);
    }

    for ((gate, owners), id) in gates.iter().zip(&ids) {
        let got = reminders_of(&h, *id).await;
        let slots: Vec<String> = got.iter().map(slot).collect();
        assert_eq!(
            slots,
            [
                "2026-12-04",
                "2026-12-07",
                "2026-12-08",
                "2026-12-08:escalation",
                "2026-12-09"
            ],
            "{gate:?}"
        );
        for e in &got {
            // The first sweep inside working hours: 09:00 New York.
            assert_eq!(e.occurred_at.hour(), 14, "{gate:?} {e:?}");
        }
        // The confirmed request's new gate (provisioning) belongs to its technical owner.
        let last_owner = if *id == confirming {
            users(&[INFRA])
        } else {
            owners.clone()
        };
        assert_eq!(&recipients(&got[0]), owners, "{gate:?}");
        assert_eq!(recipients(&got[4]), last_owner, "{gate:?}");
    }

    // The AE heard about the confirmation gate three times, and nothing after it closed;
    // the technical owner's count starts again with the new gate.
    let n = request(&h, confirming).await.number.0;
    assert_eq!(dms_about(&h, AE, n), reminder_texts(n, 1, 3));
    let infra_dms = dms_about(&h, INFRA, n);
    assert_eq!(infra_dms, reminder_texts(n, 1, 1));

    // The escalation is a thread reply that calls out the owning group.
    let review = request(&h, ids[1]).await.number.0;
    assert_eq!(dms_about(&h, INFRA2, review), reminder_texts(review, 1, 4));
    let root = h.root(review).await;
    let overdue: Vec<String> = h
        .emu
        .thread(CHANNEL, &root.ts)
        .into_iter()
        .map(|m| m.text)
        .filter(|t| t.contains("reminders have gone unanswered"))
        .collect();
    assert_eq!(overdue.len(), 1, "{overdue:?}");
    assert!(overdue[0].contains("<!subteam^S0INFRA>"), "{}", overdue[0]);
    h.stop().await;
}

#[sqlx::test(migrator = "MIGRATOR")]
async fn the_business_day_before_the_deadline_brings_a_due_tomorrow_dm(pool: PgPool) {
    let mut h = Harness::start(pool).await;
    let id = request_in(&h, Gate::CustomerConfirmation).await;
    let n = request(&h, id).await.number.0;
    // Saturday and the small hours of Wednesday: nothing.
    assert_eq!(sweep(&h, utc("2026-12-05T15:00:00Z")).await, (0, 0));
    assert_eq!(sweep(&h, utc("2026-12-09T12:00:00Z")).await, (0, 0));
    // Wednesday 10:00 New York, the day before Thursday's deadline.
    assert_eq!(sweep(&h, utc("2026-12-09T15:00:00Z")).await, (0, 1));
    assert_eq!(
        reminders_of(&h, id)
            .await
            .iter()
            .map(slot)
            .collect::<Vec<_>>(),
        ["2026-12-09:due"]
    );
    assert_eq!(dms_about(&h, AE, n), [format!("CR-{n} is due tomorrow")]);
    let dm = &h.emu.dms(AE)[0];
    assert!(dm.action_ids().contains(&"customer_confirmed".to_string()));
    h.stop().await;
}

#[sqlx::test(migrator = "MIGRATOR")]
async fn a_daemon_down_over_three_reminder_slots_and_a_deadline_fires_each_once(pool: PgPool) {
    let mut h = Harness::start(pool).await;
    let expiring = request_in(&h, Gate::CustomerConfirmation).await;
    let waiting = request_in(&h, Gate::TechnicalReview).await;
    assert_eq!(sweep(&h, utc("2026-12-04T14:00:00Z")).await, (0, 2));

    // Down over Monday's, Tuesday's and Wednesday's reminders and Thursday's deadline; back
    // on Friday 11 December, 10:00 New York.
    h.stop().await;
    h.clock.set(utc("2026-12-11T15:00:00Z"));
    restart(&mut h).await;
    let (e, w) = (
        request(&h, expiring).await.number.0,
        request(&h, waiting).await.number.0,
    );
    // The daemon catches up on start, without a sweep from the test.
    h.emu
        .wait_for_dm(
            AE,
            |m| m.text.contains(&format!("CR-{e} has expired")),
            WAIT,
        )
        .await
        .expect("the missed deadline fires on start");
    h.emu
        .wait_for_dm(
            INFRA,
            |m| m.text.starts_with(&format!("Reminder 2: CR-{w}")),
            WAIT,
        )
        .await
        .expect("one reminder for the missed slots");
    settle(&h).await;
    assert_eq!(sweep(&h, utc("2026-12-11T15:00:00Z")).await, (0, 0));
    assert_eq!(sweep(&h, utc("2026-12-11T21:00:00Z")).await, (0, 0));

    let timeouts = events_of(&h, expiring, EventKind::CustomerConfirmationTimeout).await;
    assert_eq!(timeouts.len(), 1);
    let slots = |v: Vec<RecordedEvent>| v.iter().map(slot).collect::<Vec<_>>();
    assert_eq!(slots(reminders_of(&h, expiring).await), ["2026-12-04"]);
    assert_eq!(
        slots(reminders_of(&h, waiting).await),
        ["2026-12-04", "2026-12-11"]
    );
    let mut expected = reminder_texts(e, 1, 1);
    expected.push(format!(
        "CR-{e} has expired: the cancellation gate is yours"
    ));
    assert_eq!(dms_about(&h, AE, e), expected);
    for user in [INFRA, INFRA2] {
        assert_eq!(dms_about(&h, user, w), reminder_texts(w, 1, 2), "{user}");
    }
    h.stop().await;
}

/// A sweep reads due reminders a page at a time. A full page of reminders it cannot send
/// (their owners resolve to nobody) must not hide the ones behind it, sweep after sweep.
#[sqlx::test(migrator = "MIGRATOR")]
async fn a_full_page_of_reminders_to_nobody_does_not_starve_the_ones_behind_it(pool: PgPool) {
    let mut h = Harness::start(pool).await;
    // A page of five (the daemon's is 200), all owned by the infra group.
    let sweeper = capacity_bot::scheduler::Sweeper {
        page: 5,
        ..h.daemon().sweeper.clone()
    };
    for _ in 0..5 {
        request_in(&h, Gate::TechnicalReview).await;
    }
    h.clock.advance(Duration::minutes(1));
    let behind = request_in(&h, Gate::CustomerConfirmation).await;
    // Slack cannot expand the infra group: those reminders resolve to nobody.
    h.emu.fail_next(
        "usergroups.users.list",
        100_000,
        slack_emulator::Fault::error("internal_error"),
    );

    // Friday 10:00 in New York: every one of them is due.
    let at = utc("2026-12-04T15:00:00Z");
    h.clock.set(at);
    let sent = sweep_reminders(&sweeper, at).await.expect("sweep");
    assert_eq!(sent, 1, "the reminder behind the page was sent");
    settle(&h).await;
    let got = reminders_of(&h, behind).await;
    assert_eq!(recipients(&got[0]), users(&[AE]));
    let metrics = h.daemon().state.metrics.render();
    assert!(
        metrics.contains("capacity_bot_reminders_unresolved_total 5"),
        "each skipped reminder is counted"
    );
    h.stop().await;
}
