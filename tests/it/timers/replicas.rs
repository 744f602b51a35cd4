//! Two daemons on one database and one Slack: every timeout and reminder happens once.

use capacity_bot::domain::testkit::*;
use capacity_bot::domain::EventKind;
use capacity_bot::store::MIGRATOR;
use chrono::Duration;
use sqlx::PgPool;

use super::*;

fn reminders(number: i64, nths: &[u32]) -> Vec<String> {
    nths.iter()
        .map(|i| format!("Reminder {i}: CR-{number} is waiting on a decision"))
        .collect()
}

#[sqlx::test(migrator = "MIGRATOR")]
async fn two_daemons_record_and_deliver_each_timeout_and_reminder_once(pool: PgPool) {
    let mut h = Harness::start(pool).await;
    let other = second_daemon(&h).await;
    h.emu
        .wait_connected(4, WAIT)
        .await
        .expect("both daemons connect");
    let confirming = request_in(&h, Gate::CustomerConfirmation).await;
    let review = request_in(&h, Gate::TechnicalReview).await;
    let ready = request_in(&h, Gate::Ready).await;

    // Both replicas sweep every hour for eight days, at the same moments, concurrently.
    let mut t = utc("2026-12-03T16:00:00Z");
    while t <= utc("2026-12-11T23:00:00Z") {
        h.clock.set(t);
        let (a, b) = (&h.daemon().sweeper, &other.sweeper);
        let (x, y) = tokio::join!(sweep_deadlines(a, t), sweep_deadlines(b, t));
        x.expect("sweep a");
        y.expect("sweep b");
        let (x, y) = tokio::join!(sweep_reminders(a, t), sweep_reminders(b, t));
        x.expect("sweep a");
        y.expect("sweep b");
        settle_with(&h, &[&h.daemon().deliverer, &other.deliverer]).await;
        t += Duration::hours(1);
    }
    other.shutdown().await;

    let slots = |v: Vec<RecordedEvent>| v.iter().map(slot).collect::<Vec<_>>();
    let timeouts = events_of(&h, confirming, EventKind::CustomerConfirmationTimeout).await;
    assert_eq!(timeouts.len(), 1);
    assert_eq!(timeouts[0].occurred_at, utc("2026-12-10T22:00:00Z"));
    assert_eq!(
        slots(reminders_of(&h, confirming).await),
        [
            "2026-12-04",
            "2026-12-07",
            "2026-12-08",
            "2026-12-08:escalation",
            "2026-12-09:due",
            "2026-12-10",
            // The EXPIRED gate opened on Thursday; its first reminder is Friday's.
            "2026-12-11"
        ]
    );
    let daily = [
        "2026-12-04",
        "2026-12-07",
        "2026-12-08",
        "2026-12-08:escalation",
        "2026-12-09",
        "2026-12-10",
        "2026-12-11",
    ];
    assert_eq!(slots(reminders_of(&h, review).await), daily);
    assert_eq!(slots(reminders_of(&h, ready).await), daily);

    // Slack saw each DM once, in order.
    let c = request(&h, confirming).await.number.0;
    let mut expected = reminders(c, &[1, 2, 3]);
    expected.push(format!("CR-{c} is due tomorrow"));
    expected.extend(reminders(c, &[5]));
    expected.push(format!(
        "CR-{c} has expired: the cancellation gate is yours"
    ));
    expected.extend(reminders(c, &[1]));
    assert_eq!(dms_about(&h, AE, c), expected);
    let r = request(&h, review).await.number.0;
    for user in [INFRA, INFRA2] {
        assert_eq!(dms_about(&h, user, r), reminders(r, &[1, 2, 3, 4, 5, 6]));
    }
    let ready_n = request(&h, ready).await.number.0;
    assert_eq!(
        dms_about(&h, AE, ready_n),
        reminders(ready_n, &[1, 2, 3, 4, 5, 6])
    );
    for id in [confirming, review, ready] {
        let root = h.root(request(&h, id).await.number.0).await;
        let overdue = h
            .emu
            .thread(CHANNEL, &root.ts)
            .into_iter()
            .filter(|m| m.text.contains("reminders have gone unanswered"))
            .count();
        assert_eq!(overdue, 1, "one escalation per gate");
    }
    h.stop().await;
}
