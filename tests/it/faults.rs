//! Proof under faults: the socket dropped or told to go in the middle of a burst of clicks,
//! Postgres stopped and started under a running daemon, Slack's Web API rate limiting and
//! failing for a while, the process killed between a commit and its delivery, and two
//! replicas racing on one request. Every check is on what was recorded and what Slack got;
//! nothing here sleeps: tests wait on the emulator's records, on rows, or on a lock wait
//! Postgres reports, each under a deadline.

use std::process::Stdio;
use std::sync::Arc;
use std::time::Duration;

use capacity_bot::app::Daemon;
use capacity_bot::clock::Clock;
use capacity_bot::demo::postgres::TempPostgres;
use capacity_bot::domain::testkit::*;
use capacity_bot::domain::RequestId;
use capacity_bot::render::action_value::ActionValue;
use capacity_bot::slack::handlers::NOT_RECORDED;
use capacity_bot::store::{self, MIGRATOR};
use chrono::{DateTime, Utc};
use futures_util::future::join_all;
use serde_json::{json, Value};
use slack_emulator::{DisconnectReason, Emulator, Fault, Message, ANY_METHOD};
use sqlx::postgres::PgPoolOptions;
use sqlx::{ConnectOptions, Connection, PgConnection, PgPool};
use tokio::time::Instant;

use crate::support::harness::*;

/// Slack gives up on an ack after 3 s.
const SLACK_ACK: Duration = Duration::from_secs(3);

/// A request submitted straight through the store, with its root message in Slack.
struct Posted {
    id: RequestId,
    number: i64,
    root: Message,
}

/// A pool of its own for the daemon. The test pool allows 5 connections, and a burst with
/// clicks held on a row lock (each holding a connection) needs more. Close it at the end, or
/// the test database cannot be dropped.
async fn roomy_pool(pool: &PgPool) -> PgPool {
    PgPoolOptions::new()
        .max_connections(16)
        .acquire_timeout(Duration::from_secs(2))
        .connect_with((*pool.connect_options()).clone())
        .await
        .expect("a pool on the test database")
}

/// `n` requests from REQUESTER naming AE, below the finance threshold, each with its root
/// message and first two replies delivered.
async fn requests(h: &Harness, n: usize) -> Vec<Posted> {
    let mut posted = Vec::new();
    for _ in 0..n {
        let appended = crate::support::submit(&h.pool, 10_000).await;
        posted.push((appended.request.id, appended.request.number.0));
    }
    settled(h).await;
    let mut out = Vec::new();
    for (id, number) in posted {
        let links = store::requests::links(&h.pool, id).await.expect("links");
        let ts = links
            .slack_ts
            .unwrap_or_else(|| panic!("CR-{number} has no root message"));
        let root = h.emu.message(CHANNEL, &ts).expect("the root is in Slack");
        assert_eq!(h.emu.thread(CHANNEL, &ts).len(), 2, "CR-{number}");
        out.push(Posted { id, number, root });
    }
    out
}

/// Waits until no outbox row is pending: everything recorded so far has reached Slack.
async fn settled(h: &Harness) {
    h.daemon().deliverer.drain().await.expect("outbox drains");
    h.wait_for_outbox("every row delivered", |rows| {
        rows.iter().all(|r| r.status == "delivered")
    })
    .await;
}

async fn approvals(pool: &PgPool, id: RequestId) -> usize {
    store::events::events_of(pool, id)
        .await
        .expect("log")
        .iter()
        .filter(|e| e.event.kind().as_str() == "commercial_approved")
        .count()
}

/// Sends a frame; whether Slack got its ack within `within`.
async fn acked(h: &Harness, envelope: &Value, within: Duration) -> bool {
    h.emu
        .send_raw_envelope(&envelope.to_string(), within)
        .await
        .expect("a socket to send on")
        .is_some()
}

/// The same click again, as the user clicking once more sends it: a new envelope.
fn again(envelope: &Value) -> Value {
    let mut e = envelope.clone();
    e["envelope_id"] = json!(uuid::Uuid::new_v4().to_string());
    e
}

/// A connection of its own (outside the daemon's pool), inside a transaction.
async fn own_transaction(pool: &PgPool) -> PgConnection {
    let mut conn = pool
        .connect_options()
        .connect()
        .await
        .expect("a connection");
    sqlx::query("BEGIN")
        .execute(&mut conn)
        .await
        .expect("begin");
    conn
}

/// Locks the rows of `ids` in a transaction of its own, so clicks on them wait inside their
/// append: in flight for sure when a fault lands. `COMMIT` on the returned connection
/// releases them.
async fn hold_rows(pool: &PgPool, ids: &[RequestId]) -> PgConnection {
    let mut conn = own_transaction(pool).await;
    let ids: Vec<uuid::Uuid> = ids.iter().map(|id| id.0).collect();
    sqlx::query("SELECT 1 FROM capacity.capacity_requests WHERE id = ANY($1) FOR UPDATE")
        .bind(&ids)
        .fetch_all(&mut conn)
        .await
        .expect("rows locked");
    conn
}

async fn release_rows(mut conn: PgConnection) {
    sqlx::query("COMMIT")
        .execute(&mut conn)
        .await
        .expect("commit");
    conn.close().await.expect("close");
}

/// Waits until `n` sessions of this database are waiting on a lock.
async fn wait_for_lock_waiters(pool: &PgPool, n: i64) {
    let deadline = Instant::now() + WAIT;
    loop {
        let waiting: i64 = sqlx::query_scalar(
            "SELECT count(*) FROM pg_stat_activity \
             WHERE datname = current_database() AND wait_event_type = 'Lock'",
        )
        .fetch_one(pool)
        .await
        .expect("pg_stat_activity");
        if waiting >= n {
            return;
        }
        assert!(
            Instant::now() < deadline,
            "only {waiting} of {n} clicks reached the row lock"
        );
        tokio::task::yield_now().await;
    }
}

/// Clicks whose rows are locked when the fault lands.
const HELD: std::ops::Range<usize> = 4..7;
const BURST: usize = 24;
/// Clicks sent before the fault; the rest go after it.
const FIRST_WAVE: usize = 12;

/// One approve click per request, in two waves: the first sent at once (three of them held
/// on a row lock, so in flight for sure), then `fault`, then the lock released and the second
/// wave sent. Whatever Slack saw acked is recorded exactly once; what it did not see acked
/// is recorded at most once, and exactly once after the user clicks again.
async fn a_burst_survives(pool: PgPool, fault: impl FnOnce(&Emulator) -> usize) -> Vec<bool> {
    let daemon_pool = roomy_pool(&pool).await;
    let mut h = Harness::start(daemon_pool.clone()).await;
    let posted = requests(&h, BURST).await;
    let edits: Vec<u32> = posted.iter().map(|p| p.root.edits).collect();
    let clicks: Vec<Value> = posted
        .iter()
        .map(|p| h.click_envelope(AE, &p.root, "commercial_approved"))
        .collect();
    let held: Vec<RequestId> = posted[HELD].iter().map(|p| p.id).collect();
    let locker = hold_rows(&pool, &held).await;
    let hellos = h.emu.hellos_sent();

    let (first, second) = tokio::join!(
        join_all(clicks[..FIRST_WAVE].iter().map(|c| acked(&h, c, SLACK_ACK))),
        async {
            wait_for_lock_waiters(&pool, held.len() as i64).await;
            assert_eq!(fault(&h.emu), 2, "both sockets were hit");
            release_rows(locker).await;
            join_all(clicks[FIRST_WAVE..].iter().map(|c| acked(&h, c, WAIT))).await
        }
    );
    let acks: Vec<bool> = first.into_iter().chain(second).collect();
    assert!(
        acks[FIRST_WAVE..].iter().all(|a| *a),
        "clicks after the fault go out on the new sockets: {acks:?}"
    );
    h.emu
        .wait_for_hellos(hellos + 2, WAIT)
        .await
        .expect("the daemon reconnected");
    h.emu
        .wait_connected(2, WAIT)
        .await
        .expect("two sockets again");

    for (p, was_acked) in posted.iter().zip(&acks) {
        let n = approvals(&h.pool, p.id).await;
        if *was_acked {
            assert_eq!(n, 1, "CR-{}: an acked click is recorded once", p.number);
        } else {
            assert!(n <= 1, "CR-{}: recorded {n} times", p.number);
        }
    }
    // Slack never redelivers a click; the user clicks again, and it counts once.
    for (click, was_acked) in clicks.iter().zip(&acks) {
        if !was_acked {
            assert!(acked(&h, &again(click), WAIT).await, "the retry is acked");
        }
    }
    for p in &posted {
        assert_eq!(approvals(&h.pool, p.id).await, 1, "CR-{}", p.number);
    }
    assert_eq!(h.events().await, 3 * BURST as i64, "nothing else recorded");

    settled(&h).await;
    for (p, before) in posted.iter().zip(edits) {
        let root = h.emu.message(CHANNEL, &p.root.ts).expect("root");
        assert_eq!(root.edits, before + 1, "CR-{} updated once", p.number);
        assert!(
            root.render().contains("Technical review"),
            "{}",
            root.render()
        );
        assert_eq!(
            h.emu.thread(CHANNEL, &p.root.ts).len(),
            3,
            "CR-{}: one reply for the approval",
            p.number
        );
    }
    // A click that was recorded though its ack was lost, clicked again: told it was recorded
    // (never refused, never recorded twice).
    assert!(
        h.emu.ephemerals(AE).iter().all(|e| e
            .text
            .starts_with("Already recorded: <@UAE> pressed *Approve*")),
        "a repeat is not a refusal: {:?}",
        h.emu.ephemerals(AE)
    );
    h.stop().await;
    daemon_pool.close().await;
    acks
}

#[sqlx::test(migrator = "MIGRATOR")]
async fn a_socket_dropped_mid_burst_loses_no_acked_click_and_records_none_twice(pool: PgPool) {
    let acks = a_burst_survives(pool, Emulator::drop_sockets).await;
    // A dropped socket carries no ack: the held clicks were still waiting on their rows.
    for i in HELD {
        assert!(!acks[i], "click {i} cannot have been acked: {acks:?}");
    }
}

#[sqlx::test(migrator = "MIGRATOR")]
async fn a_refresh_requested_disconnect_mid_burst_loses_no_acked_click(pool: PgPool) {
    a_burst_survives(pool, |emu| {
        emu.disconnect_sockets(DisconnectReason::RefreshRequested)
    })
    .await;
}

#[sqlx::test(migrator = "MIGRATOR")]
async fn a_warning_disconnect_mid_burst_loses_no_acked_click(pool: PgPool) {
    a_burst_survives(pool, |emu| {
        emu.disconnect_sockets(DisconnectReason::Warning)
    })
    .await;
}

fn reaction_event() -> Value {
    json!({
        "type": "reaction_added",
        "user": AE,
        "reaction": "eyes",
        "item": {"type": "message", "channel": CHANNEL, "ts": "1764777600.000100"},
        "event_ts": "1764777601.000200",
    })
}

#[sqlx::test(migrator = "MIGRATOR")]
async fn an_events_api_envelope_lost_with_its_socket_is_redelivered_and_handled_once(pool: PgPool) {
    let mut h = Harness::start(pool).await;
    let calls = h.emu.all_calls().len();
    let hellos = h.emu.hellos_sent();

    // The socket goes the moment the envelope is written to it, before any ack can come back.
    let (ack, dropped) = tokio::join!(h.emu.send_event(reaction_event()), async {
        h.emu
            .wait_for_log(|e| e.text.contains("events_api reaction_added"), WAIT)
            .await
            .expect("the event is sent");
        h.emu.drop_sockets()
    });
    assert_eq!(dropped, 2);
    let ack = ack.expect("acked in the end");
    assert_eq!(ack.payload, None);

    let deliveries: Vec<_> = h
        .emu
        .deliveries()
        .into_iter()
        .filter(|d| d.kind == "events_api")
        .collect();
    assert_eq!(
        deliveries.len(),
        2,
        "one lost delivery, one redelivery: {deliveries:#?}"
    );
    assert_eq!(
        deliveries[0].outcome,
        slack_emulator::DeliveryOutcome::TimedOut
    );
    assert_eq!((deliveries[1].retry_attempt, ack.retry_attempt), (1, 1));
    assert_eq!(
        deliveries[0].envelope["payload"]["event_id"],
        deliveries[1].envelope["payload"]["event_id"],
        "the same event, redelivered"
    );
    assert!(h.emu.hellos_sent() >= hellos + 2, "reconnected");

    // The same event once more, as Slack may send it after a retry: acked, nothing done.
    let mut third = deliveries[1].envelope.clone();
    third["envelope_id"] = json!("redelivered-by-hand");
    third["retry_attempt"] = json!(2);
    assert!(acked(&h, &third, WAIT).await);
    assert_eq!(
        h.events().await,
        0,
        "no event subscription records anything"
    );
    let new_calls: Vec<String> = h.emu.all_calls()[calls..]
        .iter()
        .map(|c| c.method.clone())
        .filter(|m| m != "apps.connections.open")
        .collect();
    assert!(new_calls.is_empty(), "no Slack call for it: {new_calls:?}");
    h.stop().await;
}

/// Waits until every reply spawned for a refused click has reached Slack: a reply is
/// spawned before the ack, and its `chat.postEphemeral` is recorded before the task ends.
async fn replies_sent(h: &Harness) {
    let deadline = Instant::now() + WAIT;
    while !h.daemon().state.tasks.is_empty() {
        assert!(
            Instant::now() < deadline,
            "replies to refused clicks still on their way"
        );
        tokio::task::yield_now().await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn clicks_while_postgres_is_down_are_told_not_recorded_and_count_once_it_is_back() {
    let pg = tokio::task::spawn_blocking(TempPostgres::start)
        .await
        .expect("joined")
        .expect("a throwaway Postgres");
    let pool = store::connect(&pg.url).await.expect("connects");
    MIGRATOR.run(&pool).await.expect("migrated");
    let mut h = Harness::start(pool.clone()).await;
    // 0..2 before the outage, 2..5 in flight when it starts, 5..8 during it, 8 after it.
    let posted = requests(&h, 9).await;
    let daemon = h.daemon();
    let updates = h.emu.calls("chat.update").len();

    // Before: recorded, and ready.
    let first: Vec<Value> = posted[..2]
        .iter()
        .map(|p| h.click_envelope(AE, &p.root, "commercial_approved"))
        .collect();
    let before = join_all(first.iter().map(|c| acked(&h, c, WAIT))).await;
    assert_eq!(before, [true, true]);
    settled(&h).await;
    assert!(readyz_becomes(daemon, 200)
        .await
        .contains("\"database\":\"ok\""));

    // Mid-burst: three clicks wait on their rows' lock inside their append when Postgres
    // stops. Each comes from a different approver, so what each one was told is known.
    let in_flight: Vec<(&str, &Posted)> = [AE, APPROVER, BOTH]
        .into_iter()
        .zip(&posted[2..5])
        .collect();
    let in_flight_clicks: Vec<Value> = in_flight
        .iter()
        .map(|(user, p)| h.click_envelope(user, &p.root, "commercial_approved"))
        .collect();
    let held: Vec<RequestId> = in_flight.iter().map(|(_, p)| p.id).collect();
    let mut locker = hold_rows(&pool, &held).await;
    let (mid, pg) = tokio::join!(
        join_all(in_flight_clicks.iter().map(|c| acked(&h, c, SLACK_ACK))),
        async {
            wait_for_lock_waiters(&pool, held.len() as i64).await;
            let pg = tokio::task::spawn_blocking(move || pg.stop_server().map(|()| pg))
                .await
                .expect("joined")
                .expect("Postgres stops");
            // Release: the lock went with the server, and so did the transactions behind it.
            let commit = sqlx::query("COMMIT").execute(&mut locker).await;
            assert!(commit.is_err(), "the lock holder's server is gone");
            drop(locker);
            pg
        }
    );
    assert_eq!(
        mid, [true; 3],
        "every in-flight click answered within Slack's 3 s"
    );
    let body = readyz_becomes(daemon, 503).await;
    assert!(body.contains("unreachable"), "{body}");
    assert!(body.contains("connected (2)"), "the socket is fine: {body}");
    assert_eq!(
        http_get(daemon, "/healthz").await.0,
        200,
        "the process is up"
    );
    // What each in-flight clicker was told; whether it was recorded is read once Postgres
    // is back.
    replies_sent(&h).await;
    let told_mid: Vec<usize> = in_flight
        .iter()
        .map(|(user, _)| {
            let told = h.emu.ephemerals(user);
            for e in &told {
                assert_eq!(e.text, NOT_RECORDED, "{user}");
            }
            told.len()
        })
        .collect();
    let ephemerals_before = h.emu.calls("chat.postEphemeral").len();

    // During: acked, told plainly that nothing was recorded; no fake success.
    let outage: Vec<Value> = posted[5..8]
        .iter()
        .map(|p| h.click_envelope(AE, &p.root, "commercial_approved"))
        .collect();
    let during = join_all(outage.iter().map(|c| acked(&h, c, SLACK_ACK))).await;
    assert_eq!(during, [true; 3], "answered within Slack's 3 s");
    let (code, body) = http_get(daemon, "/readyz").await;
    assert_eq!(code, 503, "not ready while Postgres is down: {body}");
    let told = h
        .emu
        .wait_for_calls("chat.postEphemeral", ephemerals_before + 3, WAIT)
        .await
        .expect("each clicker is told");
    assert_eq!(told.len(), ephemerals_before + 3);
    assert_eq!(h.emu.ephemerals(AE).len(), told_mid[0] + 3);
    for e in h.emu.ephemerals(AE) {
        assert_eq!(e.text, NOT_RECORDED);
        assert!(e.text.contains("try again"), "{}", e.text);
    }
    assert_eq!(h.emu.connected_sockets(), 2, "the daemon stayed connected");

    let (code, body) = http_get(daemon, "/readyz").await;
    assert_eq!(code, 503, "still not ready just before the restart: {body}");
    let pg = tokio::task::spawn_blocking(move || pg.start_server().map(|()| pg))
        .await
        .expect("joined")
        .expect("Postgres starts again");
    let body = readyz_becomes(daemon, 200).await;
    assert!(body.contains("\"database\":\"ok\""), "{body}");

    // Each in-flight click was either recorded once and not refused, or refused and not
    // recorded: never both, never neither. (Here they were waiting behind a lock whose
    // holder died with the server, so none can have committed; the check allows either.)
    let mut recorded_mid = 0;
    for ((user, p), told) in in_flight.iter().zip(&told_mid) {
        let n = approvals(&pool, p.id).await;
        assert!(
            (n, *told) == (1, 0) || (n, *told) == (0, 1),
            "CR-{} clicked by {user} in flight: recorded {n} times, told {told} times",
            p.number
        );
        recorded_mid += n;
    }
    for p in &posted[5..8] {
        assert_eq!(approvals(&pool, p.id).await, 0, "CR-{}: nothing", p.number);
    }
    settled(&h).await;
    assert_eq!(
        h.emu.calls("chat.update").len(),
        updates + 2 + recorded_mid,
        "no root update for a click that was not recorded"
    );

    // After: the same clicks again, and a new one, are recorded once each.
    let retries: Vec<Value> = in_flight_clicks
        .iter()
        .zip(&told_mid)
        .filter(|(_, told)| **told == 1)
        .map(|(c, _)| again(c))
        .chain(outage.iter().map(again))
        .chain([h.click_envelope(AE, &posted[8].root, "commercial_approved")])
        .collect();
    let after = join_all(retries.iter().map(|c| acked(&h, c, WAIT))).await;
    assert!(after.iter().all(|a| *a), "{after:?}");
    assert_eq!(after.len(), 3 - recorded_mid + 4);
    for p in &posted {
        assert_eq!(approvals(&pool, p.id).await, 1, "CR-{}", p.number);
    }
    let (code, body) = http_get(daemon, "/readyz").await;
    assert_eq!(code, 200, "ready after the retried clicks: {body}");
    replies_sent(&h).await;
    for ((user, _), told) in in_flight.iter().zip(&told_mid) {
        let extra = if *user == AE { 3 } else { 0 };
        assert_eq!(
            h.emu.ephemerals(user).len(),
            told + extra,
            "only the outage was refused ({user})"
        );
    }
    settled(&h).await;
    for p in &posted {
        assert_eq!(
            h.emu.thread(CHANNEL, &p.root.ts).len(),
            3,
            "CR-{}",
            p.number
        );
    }
    assert_eq!(h.emu.calls("chat.update").len(), updates + posted.len());
    h.stop().await;
    pool.close().await;
    drop(pg);
}

/// The envelope of `user` clicking `action_id` on the request as it is now (the button a
/// client showing the latest rendering carries), wherever that button sits.
async fn click_now(h: &Harness, p: &Posted, user: &str, action_id: &str) -> Value {
    let req = store::requests::by_id(&h.pool, p.id)
        .await
        .expect("db")
        .expect("the request");
    let mut envelope = h.click_envelope(user, &p.root, "commercial_approved");
    let action = &mut envelope["payload"]["actions"][0];
    action["action_id"] = json!(action_id);
    action["value"] = json!(ActionValue::of(&req).encode());
    envelope
}

/// Delivers the outbox the way time would: whatever is due, then the clock moved to the next
/// retry, never while a lease is out (so a jump never outruns one). Returns how many jumps.
async fn deliver_through_faults(h: &Harness) -> usize {
    let deadline = Instant::now() + WAIT;
    let mut jumps = 0;
    loop {
        h.daemon().deliverer.drain().await.expect("drain");
        let (pending, leased, due, later): (i64, i64, i64, Option<DateTime<Utc>>) = sqlx::query_as(
            "SELECT count(*), count(*) FILTER (WHERE claimed_until IS NOT NULL), \
                 count(*) FILTER (WHERE head AND next_attempt_at <= $1), \
                 min(next_attempt_at) FILTER (WHERE head AND next_attempt_at > $1) \
                 FROM (SELECT o.claimed_until, o.next_attempt_at, NOT EXISTS ( \
                         SELECT 1 FROM capacity.outbox e WHERE e.request_id = o.request_id \
                         AND e.lane = o.lane AND e.status = 'pending' AND e.id < o.id) AS head \
                       FROM capacity.outbox o WHERE o.status = 'pending') pending",
        )
        .bind(h.clock.now())
        .fetch_one(&h.pool)
        .await
        .expect("outbox");
        if pending == 0 {
            return jumps;
        }
        assert!(
            Instant::now() < deadline && jumps < 40,
            "still {pending} rows pending after {jumps} jumps: {:#?}",
            h.outbox().await
        );
        // The head of a request's queue is due (the daemon's own worker may have just
        // delivered the row before it), or a lease is out: deliver again. Only when nothing
        // can move now does time jump, to the next head's retry.
        if leased > 0 || due > 0 {
            tokio::task::yield_now().await;
            continue;
        }
        let later = later.unwrap_or_else(|| panic!("{pending} rows pending, none due later"));
        h.clock.set(later);
        jumps += 1;
    }
}

#[sqlx::test(migrator = "MIGRATOR")]
async fn slack_rate_limiting_and_failing_for_a_while_delays_messages_but_loses_and_repeats_none(
    pool: PgPool,
) {
    let mut h = Harness::start(pool).await;
    let posted = requests(&h, 3).await;
    // Fill the role cache with a refused click, so no click below needs Slack.
    h.emu
        .click(STRANGER, CHANNEL, &posted[0].root.ts, "commercial_approved")
        .await
        .expect("acked");
    h.ephemeral_to(STRANGER, "Only").await;
    let edits: Vec<u32> = posted.iter().map(|p| p.root.edits).collect();
    let posts_before = h.emu.calls("chat.postMessage").len();
    let updates_before = h.emu.calls("chat.update").len();

    h.emu.fail_next("chat.update", 2, Fault::rate_limited(7));
    h.emu
        .fail_next("chat.postMessage", 3, Fault::HttpStatus(500));
    h.emu.fail_next(ANY_METHOD, 4, Fault::HttpStatus(503));
    h.emu
        .fail_next("chat.update", 1, Fault::error("internal_error"));
    let faults = 2 + 3 + 4 + 1;

    let steps = [
        (AE, "commercial_approved"),
        (INFRA, "technical_owner_assigned"),
        (INFRA, "technical_approved"),
    ];
    for (user, action) in steps {
        let clicks = join_all(posted.iter().map(|p| click_now(&h, p, user, action))).await;
        let acks = join_all(clicks.iter().map(|c| acked(&h, c, WAIT))).await;
        assert_eq!(acks, [true; 3], "{user} {action}");
    }
    assert_eq!(h.events().await, 3 * 5, "every click recorded");

    let jumps = deliver_through_faults(&h).await;
    assert!(
        jumps > 1,
        "the faults made deliveries wait for their retries"
    );
    let failed = h
        .emu
        .all_calls()
        .iter()
        .filter(|c| !c.ok() && (c.method == "chat.update" || c.method == "chat.postMessage"))
        .count();
    assert_eq!(failed, faults, "every queued fault was met by a delivery");
    let ok_posts = h.emu.calls("chat.postMessage")[posts_before..]
        .iter()
        .filter(|c| c.ok())
        .count();
    let ok_updates = h.emu.calls("chat.update")[updates_before..]
        .iter()
        .filter(|c| c.ok())
        .count();
    // A reply per event; root updates coalesce (one call carries every update of its
    // request still waiting), so at least one per request and never more than one per event.
    assert_eq!(ok_posts, 9, "a reply per event");
    assert!(
        (3..=9).contains(&ok_updates),
        "{ok_updates} root updates for 3 requests of 3 events each"
    );
    for (p, edits) in posted.iter().zip(edits) {
        let thread = h.emu.thread(CHANNEL, &p.root.ts);
        let versions: Vec<i32> = thread.iter().map(version_of).collect();
        assert_eq!(versions, [1, 2, 3, 4, 5], "CR-{} in order, once", p.number);
        let root = h.emu.message(CHANNEL, &p.root.ts).expect("root");
        assert!(
            (edits + 1..=edits + 3).contains(&root.edits),
            "CR-{}: edited {} times for 3 events",
            p.number,
            root.edits - edits
        );
        assert!(
            root.render().contains("Customer confirmation"),
            "{}",
            root.render()
        );
    }
    h.stop().await;
}

fn url_of(pool: &PgPool) -> String {
    let options = pool.connect_options();
    let base = std::env::var("DATABASE_URL")
        .unwrap_or_else(|_| "postgres://postgres@127.0.0.1:5432/postgres".into());
    let db = options.get_database().expect("a database name");
    format!("{}/{db}", base.rsplit_once('/').expect("a URL").0)
}

/// `capacity-bot run` against `emu` and the test database, as operators run it.
fn spawn_daemon(emu: &Emulator, config: &std::path::Path, pool: &PgPool) -> tokio::process::Child {
    tokio::process::Command::new(env!("CARGO_BIN_EXE_capacity-bot"))
        .args(["run", "--config"])
        .arg(config)
        .env("SLACK_BOT_TOKEN", emu.bot_token())
        .env("SLACK_APP_TOKEN", emu.app_token())
        .env("SLACK_API_URL", emu.api_url())
        .env("DATABASE_URL", url_of(pool))
        .env("CAPACITY_SIGNAL_SECRET", "test-signal-secret")
        .env("RUST_LOG", "warn")
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .kill_on_drop(true)
        .spawn()
        .expect("the daemon starts")
}

/// (effect, status, attempts, leased) of every outbox row, oldest first.
async fn outbox_rows(pool: &PgPool) -> Vec<(String, String, i32, bool)> {
    sqlx::query_as(
        "SELECT effect->>'type', status, attempts, claimed_until IS NOT NULL \
         FROM capacity.outbox ORDER BY id",
    )
    .fetch_all(pool)
    .await
    .expect("outbox")
}

async fn wait_for_rows(
    pool: &PgPool,
    what: &str,
    done: impl Fn(&[(String, String, i32, bool)]) -> bool,
) {
    let deadline = Instant::now() + WAIT;
    loop {
        let rows = outbox_rows(pool).await;
        if done(&rows) {
            return;
        }
        assert!(Instant::now() < deadline, "never {what}: {rows:?}");
        tokio::task::yield_now().await;
    }
}

#[sqlx::test(migrator = "MIGRATOR")]
async fn a_message_pending_when_the_process_is_killed_is_delivered_once_after_restart(
    pool: PgPool,
) {
    let _ = rustls::crypto::ring::default_provider().install_default();
    let emu = Emulator::start(emulator_config()).await.expect("emulator");
    let dir = tempfile::tempdir().expect("a temp dir");
    let config = dir.path().join("capacity.toml");
    let toml = format!(
        "{}\n[http]\nlisten = \"127.0.0.1:0\"\n",
        settings_toml(emu.team_id())
    );
    std::fs::write(&config, toml).expect("config written");
    emu.fail_next("chat.postMessage", 1_000, Fault::HttpStatus(500));

    let mut first = spawn_daemon(&emu, &config, &pool);
    emu.wait_connected(2, WAIT).await.expect("connects");
    let ack = emu
        .slash_command(REQUESTER, "/capacity", "", CHANNEL)
        .await
        .expect("acked");
    assert_eq!(ack.payload, None);
    let view = emu.wait_for_view(REQUESTER, WAIT).await.expect("the modal");
    let ack = emu
        .submit_view(&view.id, REQUESTER, answers("10000"))
        .await
        .expect("acked after the commit");
    assert_eq!(ack.payload, None, "accepted");

    // Committed; the root post failed and waits for its retry with no lease out. No lease on
    // any row: the rows claimed behind the root are given back just after the root's retry
    // is recorded, and a kill between the two leaves them leased for the lease's minute.
    wait_for_rows(&pool, "a failed root post waiting", |rows| {
        rows.first().is_some_and(|(effect, status, attempts, _)| {
            effect == "post_root_message" && status == "pending" && *attempts >= 1
        }) && rows.iter().all(|(_, _, _, leased)| !leased)
    })
    .await;
    first.start_kill().expect("SIGKILL");
    let status = first.wait().await.expect("reaped");
    assert_eq!(status.code(), None, "killed by a signal");
    emu.clear_faults();
    assert!(emu.messages(CHANNEL).is_empty(), "nothing reached Slack");
    let rows = outbox_rows(&pool).await;
    assert_eq!(rows.len(), 4, "{rows:?}");
    assert!(rows.iter().all(|r| r.1 == "pending"), "{rows:?}");

    let mut second = spawn_daemon(&emu, &config, &pool);
    let root = emu
        .wait_for_message(
            |m| m.thread_ts.is_none() && m.render().contains("CR-1"),
            WAIT,
        )
        .await
        .expect("the root is posted after the restart");
    wait_for_rows(&pool, "everything delivered", |rows| {
        rows.iter().all(|r| r.1 == "delivered")
    })
    .await;
    let ok_posts = emu
        .calls("chat.postMessage")
        .iter()
        .filter(|c| c.ok())
        .count();
    assert_eq!(ok_posts, 3, "the root and two replies, each once");
    assert_eq!(emu.messages(CHANNEL).len(), 1, "one root");
    assert_eq!(emu.thread(CHANNEL, &root.ts).len(), 2);
    assert_eq!(crate::support::count_events(&pool).await, 2);

    let pid = second.id().expect("running").to_string();
    std::process::Command::new("kill")
        .args(["-TERM", &pid])
        .status()
        .expect("kill -TERM");
    let status = tokio::time::timeout(Duration::from_secs(20), second.wait())
        .await
        .expect("exits in time")
        .expect("reaped");
    assert_eq!(status.code(), Some(0));
}

#[sqlx::test(migrator = "MIGRATOR")]
async fn two_replicas_and_two_conflicting_clicks_record_one_event_and_tell_the_loser_who_won(
    pool: PgPool,
) {
    let daemon_pool = roomy_pool(&pool).await;
    let mut h = Harness::start(daemon_pool.clone()).await;
    let settings = settings_for(&h.emu, &settings_toml(h.emu.team_id()));
    let replica = Daemon::start(
        settings,
        daemon_pool.clone(),
        Arc::new(h.clock.clone()),
        fast_options(),
    )
    .await
    .expect("the second replica starts");
    h.emu.wait_connected(4, WAIT).await.expect("four sockets");

    let posted = requests(&h, 1).await;
    let p = &posted[0];
    h.emu
        .click(AE, CHANNEL, &p.root.ts, "commercial_approved")
        .await
        .expect("acked");
    let root = h.root_showing(p.number, "Technical review").await;
    settled(&h).await;
    let root = h.emu.message(CHANNEL, &root.ts).expect("root");
    let before = h.events().await;

    // Envelopes go round-robin over the sockets in id order; the first replica holds the two
    // lowest. Line up so the next two land on its second socket and the replica's first.
    let filler = |n: usize| json!({"type": "brand_new", "envelope_id": format!("filler-{n}"), "payload": {}});
    let mut sockets = Vec::new();
    for n in 0..4 {
        let ack = h.send_envelope(&filler(n)).await;
        sockets.push(ack.socket);
    }
    sockets.sort_unstable();
    for n in 4.. {
        if h.send_envelope(&filler(n)).await.socket == sockets[0] {
            break;
        }
        assert!(n < 8, "round robin over four sockets");
    }
    let seen = (
        h.daemon().state.socket.envelopes(),
        replica.state.socket.envelopes(),
    );

    // Force the race: both appends reach the request's row while it is held, and both wait
    // on its lock (one in each replica) before it is let go.
    let locker = hold_rows(&pool, &[p.id]).await;
    let (a, b, ()) = tokio::join!(
        h.emu.click(INFRA, CHANNEL, &root.ts, "technical_approved"),
        h.emu
            .click(INFRA2, CHANNEL, &root.ts, "technical_owner_assigned"),
        async {
            wait_for_lock_waiters(&pool, 2).await;
            release_rows(locker).await;
        }
    );
    assert_eq!(a.expect("acked").payload, None);
    assert_eq!(b.expect("acked").payload, None);
    assert_eq!(
        (
            h.daemon().state.socket.envelopes() - seen.0,
            replica.state.socket.envelopes() - seen.1
        ),
        (1, 1),
        "one click went to each replica"
    );

    assert_eq!(h.events().await, before + 1, "one click wins");
    let log = store::events::events_of(&h.pool, p.id).await.expect("log");
    let last = log.last().expect("an event");
    let (winner, loser, lost) = match last.event.kind().as_str() {
        "technical_approved" => (INFRA, INFRA2, "*Approve technically*"),
        "technical_owner_assigned" => (INFRA2, INFRA, "*I'll take it*"),
        other => panic!("unexpected winner {other}"),
    };
    let told = h.ephemeral_to(loser, "already recorded").await;
    assert!(
        told.contains(&format!("<@{winner}> already recorded {lost}")),
        "the loser is told who won: {told}"
    );
    assert!(
        h.emu.ephemerals(winner).is_empty(),
        "the winner is told nothing"
    );

    // Both replicas' workers share the outbox: one update and one reply, once.
    replica.deliverer.drain().await.expect("drain");
    settled(&h).await;
    assert_eq!(h.emu.thread(CHANNEL, &root.ts).len(), 4);
    assert_eq!(
        h.emu.message(CHANNEL, &root.ts).expect("root").edits,
        root.edits + 1
    );
    replica.shutdown().await;
    h.stop().await;
    daemon_pool.close().await;
}

/// A TCP proxy to Postgres that holds back the server's answer to the first message a client
/// sends with a given text in it, until released: an append can then be abandoned exactly
/// while that statement is in flight. Every other byte, and every later connection, passes
/// straight through.
struct Stall {
    port: u16,
    /// Notified once the statement has gone to the server (its answer now held back).
    begun: Arc<tokio::sync::Notify>,
    /// Notify to let the held answer through.
    release: Arc<tokio::sync::Notify>,
}

impl Stall {
    async fn start(upstream: (String, u16), text: &'static [u8]) -> Stall {
        use std::sync::atomic::{AtomicBool, Ordering};
        use tokio::io::{AsyncReadExt, AsyncWriteExt};
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
            .await
            .expect("a port");
        let port = listener.local_addr().expect("an address").port();
        let begun = Arc::new(tokio::sync::Notify::new());
        let release = Arc::new(tokio::sync::Notify::new());
        let armed = Arc::new(AtomicBool::new(true));
        let (b, r) = (begun.clone(), release.clone());
        tokio::spawn(async move {
            while let Ok((client, _)) = listener.accept().await {
                let Ok(server) = tokio::net::TcpStream::connect(upstream.clone()).await else {
                    return;
                };
                let (mut from_client, mut to_client) = client.into_split();
                let (mut from_server, mut to_server) = server.into_split();
                let held = Arc::new(AtomicBool::new(false));
                let (armed, held2, begun) = (armed.clone(), held.clone(), b.clone());
                tokio::spawn(async move {
                    let mut buf = vec![0u8; 64 * 1024];
                    while let Ok(n) = from_client.read(&mut buf).await {
                        let chunk = &buf[..n];
                        if n == 0 {
                            break;
                        }
                        let is_it = chunk.windows(text.len()).any(|w| w == text);
                        if is_it && armed.swap(false, Ordering::SeqCst) {
                            held2.store(true, Ordering::SeqCst);
                            begun.notify_one();
                        }
                        if to_server.write_all(chunk).await.is_err() {
                            break;
                        }
                    }
                });
                let release = r.clone();
                tokio::spawn(async move {
                    let mut buf = vec![0u8; 64 * 1024];
                    while let Ok(n) = from_server.read(&mut buf).await {
                        if n == 0 {
                            break;
                        }
                        if held.swap(false, Ordering::SeqCst) {
                            release.notified().await;
                        }
                        if to_client.write_all(&buf[..n]).await.is_err() {
                            break;
                        }
                    }
                });
            }
        });
        Stall {
            port,
            begun,
            release,
        }
    }
}

/// An append is one read and one write, the write its own transaction. Abandoned while that
/// write is on the wire, it still goes to its end (the write may commit whether or not anyone
/// waits, so what the person is told must be what happened), and the next user of its
/// connection finds no transaction left open and no answer left unread.
#[sqlx::test(migrator = "MIGRATOR")]
async fn an_append_abandoned_while_its_write_is_in_flight_ends_and_leaves_no_transaction_open(
    pool: PgPool,
) {
    let options = pool.connect_options();
    let upstream = (options.get_host().to_string(), options.get_port());
    let req = crate::support::submit(&pool, 10_000).await.request;
    // The append's write statement, as its Parse message carries it.
    let stall = Stall::start(upstream, b"INSERT INTO capacity.capacity_request_events").await;
    // One connection, through the proxy and in plain text (so it can see the statement):
    // whatever the abandoned append leaves behind, the next query meets.
    let one = PgPoolOptions::new()
        .max_connections(1)
        .connect_with(
            (*options)
                .clone()
                .host("127.0.0.1")
                .port(stall.port)
                .ssl_mode(sqlx::postgres::PgSslMode::Disable),
        )
        .await
        .expect("a one-connection pool through the proxy");

    let append = crate::support::append_for(
        store::Target::Existing(req.id),
        vec![capacity_bot::domain::Command::CommercialApproved],
        actor(AE),
        t0(),
        Some(req.version),
        "abandoned-click",
    );
    // The click's budget runs out while the write is on the wire, as `append_within_budget`'s
    // timeout or a closed socket would end it.
    tokio::select! {
        done = store::events::append(&one, &append) => panic!("the write was held: {done:?}"),
        () = stall.begun.notified() => {}
    }
    stall.release.notify_one();

    // A simple-protocol query in a transaction of its own starts when its transaction does;
    // inside a transaction left open, the transaction is older.
    let probe = sqlx::raw_sql("SELECT now() < statement_timestamp() AS inside")
        .fetch_one(&one)
        .await
        .expect("the probe runs");
    let inside: bool = sqlx::Row::get(&probe, "inside");
    assert!(
        !inside,
        "the next user of the pool found itself inside the abandoned append's transaction"
    );
    // It went on to its end by itself (it had started); the same click again is a repeat.
    assert_eq!(approvals(&pool, req.id).await, 1);
    let again = store::events::append(&one, &append)
        .await
        .expect("answered");
    assert!(again.duplicate, "recorded once");
    assert_eq!(approvals(&pool, req.id).await, 1);
    one.close().await;
}

/// Notifications are read while the outbox worker is busy. A listening backend delivers them
/// inside a transaction of its own; a client that stops reading while a flood fills its
/// socket leaves that backend blocked there with a snapshot, and no delivered outbox row can
/// be vacuumed until it reads again (seen in the benchmark: claims of 139 ms).
#[sqlx::test(migrator = "MIGRATOR")]
async fn a_flood_of_outbox_notifications_is_read_while_the_worker_is_stuck(pool: PgPool) {
    let mut h = Harness::start(pool.clone()).await;
    let heard = || h.daemon().state.metrics.outbox_notifications.get();
    // Stick the worker inside a delivery: it can post the root message but not record where.
    let mut locker = own_transaction(&pool).await;
    sqlx::query("LOCK TABLE capacity.request_links IN EXCLUSIVE MODE")
        .execute(&mut locker)
        .await
        .expect("locked");
    crate::support::submit(&pool, 10_000).await;
    wait_for_lock_waiters(&pool, 1).await;
    let before = heard();

    // About 3 MB of distinct notifications (equal ones in a transaction are merged): far
    // more than a socket buffers.
    const FLOOD: u64 = 400;
    sqlx::query(
        "SELECT pg_notify('capacity_outbox', repeat('x', 7900) || g) \
         FROM generate_series(1, $1::int) g",
    )
    .bind(FLOOD as i32)
    .execute(&pool)
    .await
    .expect("notified");
    let deadline = Instant::now() + WAIT;
    while heard() < before + FLOOD {
        assert!(
            Instant::now() < deadline,
            "only {} of {FLOOD} notifications read while the worker is stuck",
            heard() - before
        );
        tokio::task::yield_now().await;
    }
    let snapshot: Option<String> = sqlx::query_scalar(
        "SELECT backend_xmin::text FROM pg_stat_activity \
         WHERE datname = current_database() AND query LIKE 'LISTEN%'",
    )
    .fetch_one(&pool)
    .await
    .expect("the listener's backend");
    assert_eq!(snapshot, None, "the listening backend holds no snapshot");
    assert_eq!(
        sqlx::query_scalar::<_, i64>(
            "SELECT count(*) FROM pg_stat_activity \
             WHERE datname = current_database() AND wait_event_type = 'Lock'"
        )
        .fetch_one(&pool)
        .await
        .expect("pg_stat_activity"),
        1,
        "the worker was stuck all along"
    );

    sqlx::query("COMMIT")
        .execute(&mut locker)
        .await
        .expect("released");
    h.stop().await;
}
