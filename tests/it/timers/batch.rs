//! The sweeps' batch path (`AppState::record_batch`, `store::events::append_batch`): many
//! appends in one transaction, each still recorded once, decided on its own, and queued in
//! its request's order.

use capacity_bot::domain::testkit::*;
use capacity_bot::domain::{Actor, EventKind, Refusal, State};
use capacity_bot::store::{AppendError, Appended, MIGRATOR};
use sqlx::PgPool;

use super::*;

/// Thursday 3 December, 11:00 New York: requests entering customer confirmation now expire
/// within the harness policy's TTL, by Monday 14 December at 09:00 at the latest.
const OPENED: &str = "2026-12-03T16:00:00Z";
/// Tuesday 15 December, 10:00 New York: past those deadlines, and a business day on which
/// the reminder slot below is due.
const LATER: &str = "2026-12-15T15:00:00Z";

fn scheduled(h: &Harness, id: RequestId, command: Command, key: String) -> Append {
    Append {
        target: Target::Existing(id),
        commands: vec![command],
        actor: Actor::Scheduler,
        policy: h.daemon().state.settings.policy.clone(),
        now: h.clock.now(),
        expected_version: None,
        idempotency_key: key,
        envelope_id: None,
        linear: None,
    }
}

fn timeout(h: &Harness, id: RequestId) -> Append {
    scheduled(
        h,
        id,
        Command::CustomerConfirmationTimeout,
        format!("test-timeout:{id}"),
    )
}

fn reminder(h: &Harness, id: RequestId, slot: &str) -> Append {
    scheduled(
        h,
        id,
        Command::ReminderSent {
            slot: slot.into(),
            recipients: vec![uid(AE)],
            escalation: false,
        },
        format!("test-reminder:{id}:{slot}"),
    )
}

/// `(what the append's first event was, whether this call recorded it)`, or the refusal.
fn summary(r: &Result<Appended, AppendError>) -> Result<(EventKind, bool), String> {
    match r {
        Ok(done) => Ok((done.events[0].event.kind(), !done.duplicate)),
        Err(e) => Err(e.to_string()),
    }
}

/// Each request's outbox rows, oldest first, as (the event's seq, the effect's type).
async fn queued(h: &Harness, id: RequestId) -> Vec<(i32, String)> {
    sqlx::query_as(
        "SELECT e.seq, o.effect ->> 'type' FROM capacity.outbox o \
         JOIN capacity.capacity_request_events e ON e.id = o.event_id \
         WHERE o.request_id = $1 ORDER BY o.id",
    )
    .bind(id.0)
    .fetch_all(&h.pool)
    .await
    .expect("outbox rows")
}

async fn keys_recorded(h: &Harness, prefix: &str) -> Vec<(String, i64)> {
    sqlx::query_as(
        "SELECT idempotency_key, count(*) FROM capacity.capacity_request_events \
         WHERE idempotency_key LIKE $1 || '%' GROUP BY 1 ORDER BY 1",
    )
    .bind(prefix)
    .fetch_all(&h.pool)
    .await
    .expect("keys")
}

/// Two replicas record the same batch at once (the other one's through the store on its own
/// connection, with the requests in reverse order, so their rows are met in opposite orders):
/// each append is recorded by exactly one of them, a refusal in the
/// middle leaves the appends after it recorded, and a request's two appends in one batch are
/// decided and queued in the batch's order.
#[sqlx::test(migrator = "MIGRATOR")]
async fn two_replicas_batch_the_same_appends_and_each_is_recorded_once_in_order(pool: PgPool) {
    let mut h = Harness::start(pool).await;
    h.clock.set(utc(OPENED));
    let x = request_in(&h, Gate::CustomerConfirmation).await;
    let moved_on = request_in(&h, Gate::Provisioning).await;
    let y = request_in(&h, Gate::CustomerConfirmation).await;
    let twin = request_in(&h, Gate::CustomerConfirmation).await;
    h.clock.set(utc(LATER));

    let batch = vec![
        reminder(&h, x, "2026-12-11"),
        timeout(&h, x),
        timeout(&h, moved_on),
        timeout(&h, y),
    ];
    // The requests in the opposite order, each request's own appends still in the sweep's
    // order (a sweep never reorders one request's slots): x's reminder before its timeout.
    let reversed = vec![
        batch[3].clone(),
        batch[2].clone(),
        batch[0].clone(),
        batch[1].clone(),
    ];
    let (a, b) = tokio::join!(
        h.daemon().state.record_batch(&batch),
        store::events::append_batch(&h.pool, &reversed)
    );
    let a = a.expect("replica a's batch");
    let mut b: Vec<Option<_>> = b
        .expect("replica b's batch")
        .into_iter()
        .map(Some)
        .collect();
    // Back into the batch's order.
    let b: Vec<_> = [2, 3, 1, 0]
        .into_iter()
        .map(|i| b[i].take().expect("one result per append"))
        .collect();
    for (i, (a, b)) in a.iter().zip(&b).enumerate() {
        if i == 2 {
            // Provisioning has no confirmation deadline: refused by both, nothing written.
            let refused = |r: &Result<Appended, AppendError>| {
                matches!(r, Err(AppendError::Refused(Refusal::WrongState { .. })))
            };
            assert!(refused(a) && refused(b), "{a:?} {b:?}");
            continue;
        }
        let (a, b) = (summary(a), summary(b));
        let (ka, ra) = a.expect("recorded or found recorded");
        let (kb, rb) = b.expect("recorded or found recorded");
        assert_eq!(ka, kb, "both replicas return the same event");
        assert!(ra ^ rb, "append {i} recorded by exactly one replica");
    }
    assert_eq!(
        summary(&a[1]).map(|s| s.0),
        Ok(EventKind::CustomerConfirmationTimeout)
    );

    for prefix in ["test-timeout:", "test-reminder:"] {
        for (key, n) in keys_recorded(&h, prefix).await {
            assert_eq!(n, 1, "{key} recorded once");
        }
    }
    assert_eq!(keys_recorded(&h, "test-timeout:").await.len(), 2);
    assert_eq!(request(&h, x).await.state, State::Expired);
    assert_eq!(request(&h, y).await.state, State::Expired);
    assert_eq!(
        request(&h, moved_on).await.state,
        State::ProvisioningInProgress
    );

    // The reminder then the timeout, in the log and in the outbox.
    let log: Vec<EventKind> = store::events::events_of(&h.pool, x)
        .await
        .expect("log")
        .iter()
        .rev()
        .take(2)
        .map(|e| e.event.kind())
        .collect();
    assert_eq!(
        log,
        [
            EventKind::CustomerConfirmationTimeout,
            EventKind::ReminderSent
        ]
    );
    let rows = queued(&h, x).await;
    let seqs: Vec<i32> = rows.iter().map(|r| r.0).collect();
    let mut sorted = seqs.clone();
    sorted.sort();
    assert_eq!(seqs, sorted, "outbox rows follow the events' order");
    let last = rows.last().map(|r| r.0).expect("rows");
    let reminder_seq = last - 1;
    assert_eq!(
        rows.iter()
            .filter(|r| r.0 >= reminder_seq)
            .map(|r| (r.0 - reminder_seq, r.1.as_str()))
            .collect::<Vec<_>>(),
        [
            (0, "direct_message"),
            (0, "post_thread_reply"),
            (1, "update_root_message"),
            (1, "post_thread_reply"),
            (1, "direct_message")
        ]
    );

    // The batch queues what one append at a time queues.
    h.daemon()
        .state
        .record(&timeout(&h, twin))
        .await
        .expect("the twin times out");
    let shapes = |rows: Vec<(i32, String)>| {
        let last = rows.last().map(|r| r.0).unwrap_or(0);
        rows.into_iter()
            .filter(|r| r.0 == last)
            .map(|r| r.1)
            .collect::<Vec<_>>()
    };
    assert_eq!(shapes(queued(&h, y).await), shapes(queued(&h, twin).await));

    // Delivered once each: Slack saw one expiry DM per request.
    settle(&h).await;
    for id in [x, y, twin] {
        let n = request(&h, id).await.number.0;
        let expired = dms_about(&h, AE, n)
            .into_iter()
            .filter(|t| t.contains("has expired"))
            .count();
        assert_eq!(expired, 1, "CR-{n}");
    }
    h.stop().await;
}

/// A row the database rejects fails the batch's transaction; the sweep then records the
/// batch one append at a time, so only that row is left due, and the next sweep records it.
#[sqlx::test(migrator = "MIGRATOR")]
async fn a_row_the_database_rejects_costs_the_rest_of_the_batch_nothing(pool: PgPool) {
    let mut h = Harness::start(pool).await;
    h.clock.set(utc(OPENED));
    let first = request_in(&h, Gate::CustomerConfirmation).await;
    let rejected = request_in(&h, Gate::CustomerConfirmation).await;
    let last = request_in(&h, Gate::CustomerConfirmation).await;
    sqlx::query(sqlx::AssertSqlSafe(format!(
        "CREATE FUNCTION public.reject_one() RETURNS trigger LANGUAGE plpgsql AS $$ \
         BEGIN IF NEW.request_id = '{}' THEN RAISE EXCEPTION 'rejected for the test'; END IF; \
         RETURN NEW; END $$",
        rejected.0
    )))
    .execute(&h.pool)
    .await
    .expect("function");
    sqlx::query(
        "CREATE TRIGGER reject_one BEFORE INSERT ON capacity.capacity_request_events \
         FOR EACH ROW EXECUTE FUNCTION public.reject_one()",
    )
    .execute(&h.pool)
    .await
    .expect("trigger");

    let at = utc(LATER);
    h.clock.set(at);
    let s = &h.daemon().sweeper;
    assert_eq!(sweep_deadlines(s, at).await.expect("sweep"), 2);
    assert_eq!(request(&h, first).await.state, State::Expired);
    assert_eq!(request(&h, last).await.state, State::Expired);
    assert_eq!(
        request(&h, rejected).await.state,
        State::CustomerConfirmationRequired,
        "left due"
    );

    sqlx::query("DROP TRIGGER reject_one ON capacity.capacity_request_events")
        .execute(&h.pool)
        .await
        .expect("drop trigger");
    assert_eq!(sweep_deadlines(s, at).await.expect("sweep"), 1);
    assert_eq!(sweep_deadlines(s, at).await.expect("sweep"), 0);
    assert_eq!(request(&h, rejected).await.state, State::Expired);
    for id in [first, rejected, last] {
        assert_eq!(
            events_of(&h, id, EventKind::CustomerConfirmationTimeout)
                .await
                .len(),
            1
        );
    }
    settle(&h).await;
    h.stop().await;
}
