//! The outbox at Slack's pace: a lane's rows claimed together, root updates coalesced into
//! one `chat.update` carrying the latest rendering (thread replies one per event, in order),
//! rate limits met with a pause of the method or channel. Each burst is recorded an hour
//! ahead of the daemon's clock, so its own worker never sees it due and only the workers
//! built here (with the daemon's default outbox options) deliver it.

use std::sync::Arc;

use capacity_bot::clock::{Clock, TestClock};
use capacity_bot::context::{AppState, OutboxOptions};
use capacity_bot::domain::testkit::*;
use capacity_bot::domain::{Command, RequestId, RequestNumber};
use capacity_bot::outbox::{Deliverer, Drained};
use capacity_bot::store::{self, MIGRATOR};
use chrono::{DateTime, Duration, Utc};
use slack_emulator::{Message, RateLimits};
use sqlx::PgPool;

use crate::support::harness::*;

const STEPS: usize = 6;

fn steps() -> [(&'static str, Command); STEPS] {
    [
        (AE, Command::CommercialApproved),
        (INFRA, Command::TechnicalOwnerAssigned),
        (INFRA, Command::TechnicalApproved),
        (REQUESTER, Command::CustomerConfirmed),
        (INFRA2, Command::ProvisioningCompleted),
        (AE, Command::Activated { signal_id: None }),
    ]
}

/// CR-1..=n submitted and delivered, then every step recorded for each at `later`.
async fn backlog(
    h: &Harness,
    n: i64,
    later: DateTime<Utc>,
    take: usize,
) -> Vec<(RequestId, Message)> {
    let mut out = Vec::new();
    for number in 1..=n {
        assert_eq!(h.submit(REQUESTER, answers("10000")).await, None);
        let root = h.root_showing(number, "Commercial approval").await;
        h.thread_len(&root, 2).await;
        let id = store::requests::by_number(&h.pool, RequestNumber(number))
            .await
            .expect("db")
            .expect("request")
            .id;
        out.push((id, root));
    }
    h.wait_for_outbox("nothing in flight", |rows| {
        rows.iter().all(|r| r.status != "pending")
    })
    .await;
    for (user, command) in steps().into_iter().take(take) {
        for (id, _) in &out {
            crate::support::click(&h.pool, *id, user, command.clone(), later)
                .await
                .unwrap_or_else(|e| panic!("{user} {}: {e}", command.kind()));
        }
    }
    out
}

/// A worker of a replica whose clock is `at`, running the daemon's default outbox.
fn replica(h: &Harness, name: &str, clock: &TestClock) -> Deliverer {
    Deliverer {
        worker: name.to_string(),
        state: Arc::new(AppState {
            clock: Arc::new(clock.clone()),
            outbox: OutboxOptions::default(),
            pace: Arc::default(),
            // A replica is another process: nothing is handed to it by this one's appends.
            handoff: Arc::default(),
            ..(*h.daemon().state).clone()
        }),
    }
}

fn versions(h: &Harness, root: &Message) -> Vec<i32> {
    h.emu
        .thread(CHANNEL, &root.ts)
        .iter()
        .map(version_of)
        .collect()
}

/// (id, status, carried_by) of every root update row of `id` recorded after submission.
async fn updates(pool: &PgPool, id: RequestId) -> Vec<(i64, String, Option<i64>)> {
    sqlx::query_as(
        "SELECT id, status, carried_by FROM capacity.outbox \
         WHERE request_id = $1 AND effect->>'type' = 'update_root_message' ORDER BY id",
    )
    .bind(id.0)
    .fetch_all(pool)
    .await
    .expect("outbox")
}

async fn pending(pool: &PgPool) -> i64 {
    sqlx::query_scalar("SELECT count(*) FROM capacity.outbox WHERE status = 'pending'")
        .fetch_one(pool)
        .await
        .expect("outbox")
}

/// Submission (two events) and the steps: versions 1..=8.
const EVENTS: usize = STEPS + 2;

#[sqlx::test(migrator = "MIGRATOR")]
async fn waiting_root_updates_go_out_as_one_update_showing_the_latest_state(pool: PgPool) {
    let mut h = Harness::start(pool).await;
    let later = h.clock.now() + Duration::hours(1);
    let posted = backlog(&h, 1, later, STEPS).await;
    let (id, root) = &posted[0];
    let updates_before = h.emu.calls("chat.update").len();

    let worker = replica(&h, "pacer", &TestClock::at(later));
    worker.drain().await.expect("drain");

    assert_eq!(
        h.emu.calls("chat.update").len() - updates_before,
        1,
        "one chat.update for six events"
    );
    let now = h.emu.message(CHANNEL, &root.ts).expect("root");
    assert!(now.render().contains("Activated"), "{}", now.render());
    assert_eq!(
        versions(&h, root),
        (1..=EVENTS as i32).collect::<Vec<_>>(),
        "a reply per event, in order"
    );
    // The burst's update rows: the first carried the others.
    let rows = updates(&h.pool, *id).await;
    let burst = &rows[rows.len() - STEPS..];
    let carrier = burst[0].0;
    assert_eq!(burst[0].2, None, "the carrier made the call");
    for (row, status, carried_by) in burst {
        assert_eq!(status, "delivered", "row {row}");
        if *row != carrier {
            assert_eq!(*carried_by, Some(carrier), "row {row} says who carried it");
        }
    }
    h.stop().await;
}

#[sqlx::test(migrator = "MIGRATOR")]
async fn marks_lost_after_a_coalesced_update_are_claimed_again_and_the_root_ends_at_the_latest_state(
    pool: PgPool,
) {
    let mut h = Harness::start(pool).await;
    let later = h.clock.now() + Duration::hours(1);
    // All but the activation, which comes after the crash.
    let posted = backlog(&h, 1, later, STEPS - 1).await;
    let (id, root) = &posted[0];
    let clock = TestClock::at(later);
    let worker = replica(&h, "crashes", &clock);
    worker.drain().await.expect("drain");
    let replies = versions(&h, root);
    let updates_before = h.emu.calls("chat.update").len();

    // The process died after the update reached Slack and before its marks landed: the
    // update rows are pending again, still leased by the dead worker until its lease runs out.
    sqlx::query(
        "UPDATE capacity.outbox SET status = 'pending', delivered_at = NULL, carried_by = NULL, \
         claimed_until = $2 WHERE request_id = $1 AND effect->>'type' = 'update_root_message'",
    )
    .bind(id.0)
    .bind(later + Duration::seconds(60))
    .execute(&h.pool)
    .await
    .expect("lose the marks");
    // Meanwhile one more event: the root must end showing it.
    crate::support::click(
        &h.pool,
        *id,
        AE,
        Command::Activated { signal_id: None },
        later,
    )
    .await
    .expect("activated");

    let restarted = replica(&h, "restarted", &clock);
    assert_eq!(
        restarted.drain().await.expect("drain"),
        0,
        "nothing is claimed behind a live lease"
    );
    clock.advance(Duration::seconds(61));
    restarted.drain().await.expect("drain");

    assert_eq!(pending(&h.pool).await, 0);
    let extra = h.emu.calls("chat.update").len() - updates_before;
    assert_eq!(extra, 1, "the re-claimed updates went out as one");
    let now = h.emu.message(CHANNEL, &root.ts).expect("root");
    assert!(now.render().contains("Activated"), "{}", now.render());
    let mut expected = replies.clone();
    expected.push(*replies.last().expect("replies") + 1);
    assert_eq!(versions(&h, root), expected, "no reply repeated or lost");
    for (row, status, _) in updates(&h.pool, *id).await {
        assert_eq!(status, "delivered", "row {row}");
    }
    h.stop().await;
}

#[sqlx::test(migrator = "MIGRATOR")]
async fn a_rate_limit_in_the_middle_of_a_backlog_pauses_the_channel_and_loses_nothing(
    pool: PgPool,
) {
    let mut h = Harness::start(pool).await;
    let later = h.clock.now() + Duration::hours(1);
    let posted = backlog(&h, 3, later, STEPS).await;
    // Slack's own limits from here on, in a time the test moves.
    h.emu.stop_rate_clock();
    h.emu.enforce_rate_limits(RateLimits::default());
    let clock = TestClock::at(later);
    let worker = replica(&h, "paced", &clock);

    let mut steps = 0;
    loop {
        worker.drain().await.expect("drain");
        if pending(&h.pool).await == 0 {
            break;
        }
        // Nothing more is due until the channel's Retry-After has passed.
        assert_eq!(worker.drain().await.expect("drain"), 0, "paused");
        steps += 1;
        assert!(steps < 60, "the backlog never drained");
        // chat.postMessage's Retry-After: one second.
        clock.advance(Duration::seconds(1));
        h.emu.advance_rate_clock(std::time::Duration::from_secs(1));
    }
    let refused = h.emu.rate_limited("chat.postMessage");
    assert!(refused >= 1, "the backlog met the limit");
    assert!(
        refused <= steps,
        "one 429 per window at most: {refused} 429s over {steps} waits"
    );
    assert_eq!(h.emu.rate_limited("chat.update"), 0);
    for (_, root) in &posted {
        assert_eq!(
            versions(&h, root),
            (1..=EVENTS as i32).collect::<Vec<_>>(),
            "each reply once, in order"
        );
        let now = h.emu.message(CHANNEL, &root.ts).expect("root");
        assert!(now.render().contains("Activated"), "{}", now.render());
    }
    h.stop().await;
}

#[sqlx::test(migrator = "MIGRATOR")]
async fn two_replicas_draining_one_backlog_reply_once_each_in_order(pool: PgPool) {
    let mut h = Harness::start(pool).await;
    let later = h.clock.now() + Duration::hours(1);
    let posted = backlog(&h, 4, later, STEPS).await;
    let posts_before = h.emu.calls("chat.postMessage").len();
    let clock = TestClock::at(later);
    // Two replicas, each with its own pace, claiming a few lanes at a time so both get work.
    let few = |name: &str| {
        let mut d = replica(&h, name, &clock);
        let state = Arc::make_mut(&mut d.state);
        state.outbox.lanes = 1;
        d
    };
    let (one, two) = (few("replica-one"), few("replica-two"));
    let drain = |d: Deliverer| async move {
        let mut n = 0;
        loop {
            let got = d.drain_once().await.expect("claim").rows;
            n += got;
            if got == 0 && pending(&d.state.pool).await == 0 {
                return n;
            }
            tokio::task::yield_now().await;
        }
    };
    let (a, b) = tokio::join!(drain(one), drain(two));
    assert!(a > 0 && b > 0, "both replicas delivered ({a} + {b})");
    let replies = h.emu.calls("chat.postMessage").len() - posts_before;
    assert_eq!(replies, 4 * STEPS, "one reply per event, none twice");
    for (_, root) in &posted {
        assert_eq!(
            versions(&h, root),
            (1..=EVENTS as i32).collect::<Vec<_>>(),
            "in order"
        );
        let now = h.emu.message(CHANNEL, &root.ts).expect("root");
        assert!(now.render().contains("Activated"), "{}", now.render());
    }
    h.stop().await;
}

/// A stopping worker stops after the claim in hand, not when the backlog is gone: behind
/// Slack's rate limits a backlog can keep every claim busy for hours.
#[sqlx::test(migrator = "MIGRATOR")]
async fn a_stopping_worker_leaves_a_backlog_for_the_next_start(pool: PgPool) {
    let mut h = Harness::start(pool).await;
    let later = h.clock.now() + Duration::hours(1);
    backlog(&h, 3, later, STEPS).await;
    let before = pending(&h.pool).await;
    let clock = TestClock::at(later);
    let worker = replica(&h, "stopping", &clock);
    let stop = tokio_util::sync::CancellationToken::new();
    stop.cancel();
    tokio::time::timeout(WAIT, worker.run(stop, std::time::Duration::from_millis(50)))
        .await
        .expect("the worker stops");
    assert_eq!(
        pending(&h.pool).await,
        before,
        "nothing claimed after the stop; the backlog waits for the next start"
    );
    h.stop().await;
}

/// The worker claims again at once only when the last claim may have left due rows behind
/// (a lane or the claim was full); a claim with room to spare took everything due, and the
/// worker waits for a `NOTIFY` or the poll instead of asking Postgres again for nothing.
#[sqlx::test(migrator = "MIGRATOR")]
async fn only_a_full_claim_is_followed_by_another_at_once(pool: PgPool) {
    let mut h = Harness::start(pool).await;
    let later = h.clock.now() + Duration::hours(1);
    backlog(&h, 3, later, 2).await;
    let clock = TestClock::at(later);

    // One row per lane: each request's lane was cut short, so more is due behind it.
    let mut narrow = replica(&h, "narrow", &clock);
    Arc::make_mut(&mut narrow.state).outbox.per_lane = 1;
    let first = narrow.drain_once().await.expect("claim");
    assert!(first.rows >= 3, "a row of each request: {first:?}");
    assert!(first.again, "a lane was full: {first:?}");

    // One lane per claim: the claim was full.
    let mut single = replica(&h, "single", &clock);
    Arc::make_mut(&mut single.state).outbox.lanes = 1;
    let second = single.drain_once().await.expect("claim");
    assert!(second.rows >= 1 && second.again, "{second:?}");

    // The default claim has room for the rest: it takes all of it and does not ask again.
    let left = pending(&h.pool).await;
    assert!(left > 0, "rows were left for the last claim");
    let wide = replica(&h, "wide", &clock);
    let last = wide.drain_once().await.expect("claim");
    assert_eq!(
        last,
        Drained {
            rows: left as usize,
            again: false
        }
    );
    assert_eq!(pending(&h.pool).await, 0, "everything due was delivered");
    h.stop().await;
}

/// A claim borrows one pooled connection for all its statements (the claim, each lane's
/// request read, the marks) and keeps it for the next claim: sqlx pings every connection it
/// takes back, so a borrow per statement cost a round trip per statement. Counted with the
/// pool's own hooks, which run on every hand-out: `after_connect` for a new connection,
/// `before_acquire` for an idle one.
#[sqlx::test(migrator = "MIGRATOR")]
async fn a_claim_borrows_one_connection_for_all_its_statements(pool: PgPool) {
    use std::sync::atomic::{AtomicUsize, Ordering};

    let mut h = Harness::start(pool).await;
    let later = h.clock.now() + Duration::hours(1);
    let burst = backlog(&h, 3, later, 2).await;
    let clock = TestClock::at(later);

    let borrowed = Arc::new(AtomicUsize::new(0));
    let (on_connect, on_acquire) = (borrowed.clone(), borrowed.clone());
    let counted = sqlx::postgres::PgPoolOptions::new()
        .after_connect(move |_, _| {
            on_connect.fetch_add(1, Ordering::SeqCst);
            Box::pin(async { Ok(()) })
        })
        .before_acquire(move |_, _| {
            on_acquire.fetch_add(1, Ordering::SeqCst);
            Box::pin(async { Ok(true) })
        })
        .connect_lazy_with((*h.pool.connect_options()).clone());
    let mut worker = replica(&h, "counted", &clock);
    let state = Arc::make_mut(&mut worker.state);
    state.kept = store::Kept::new(&counted, store::KEEP);
    state.pool = counted;

    let drained = worker.drain_once().await.expect("claim");
    // Each request: a root update and a thread reply per click, in one lane.
    assert_eq!(drained.rows, 3 * 2 * 2, "{drained:?}");
    assert_eq!(
        pending(&h.pool).await,
        0,
        "everything was delivered and marked"
    );
    assert_eq!(
        borrowed.load(Ordering::SeqCst),
        1,
        "the claim, 3 request reads (each with its log) and 3 marks went through one connection"
    );
    // Kept for the next claim instead of going back to the pool, and its ping.
    assert_eq!(worker.state.kept.idle(), 1);
    let drained = worker.drain_once().await.expect("claim");
    assert_eq!(drained.rows, 0);
    assert_eq!(
        borrowed.load(Ordering::SeqCst),
        1,
        "the next claim took the kept connection"
    );
    for (_, root) in &burst {
        h.thread_len(root, 4).await;
    }
    h.stop().await;
}

/// Runs `work` and returns its output with the statements sqlx ran for it, by their summary
/// (sqlx logs each one under `sqlx::query`). The subscriber is this thread's, which is the
/// test runtime's only one; the span keeps out what else runs on it meanwhile (the harness
/// daemon, the test's own statements).
async fn with_statements<T>(work: impl std::future::Future<Output = T>) -> (T, Vec<String>) {
    use tracing::Instrument;
    use tracing_subscriber::layer::SubscriberExt;
    // tracing-core 0.1.36, while one dispatch is registered in the process, decides whether
    // a callsite is wanted by asking the default of whichever thread reaches it first
    // (tokio-rs/tracing#3611). Another test's thread reaching `sqlx::query` first would
    // answer "never" for ours, and the count would be empty. A second dispatch, alive for
    // the whole run, makes every such decision ask all registered subscribers.
    static SECOND: std::sync::OnceLock<tracing::Dispatch> = std::sync::OnceLock::new();
    SECOND.get_or_init(|| tracing::Dispatch::new(tracing::subscriber::NoSubscriber::default()));
    let seen = Arc::new(std::sync::Mutex::new(Vec::new()));
    let subscriber = tracing_subscriber::registry().with(Counted(seen.clone()));
    let _scope = tracing::subscriber::set_default(subscriber);
    let out = work.instrument(tracing::info_span!("counted")).await;
    let seen = seen.lock().expect("statements").clone();
    (out, seen)
}

struct Counted(Arc<std::sync::Mutex<Vec<String>>>);

impl<S> tracing_subscriber::Layer<S> for Counted
where
    S: tracing::Subscriber + for<'a> tracing_subscriber::registry::LookupSpan<'a>,
{
    fn on_event(&self, event: &tracing::Event<'_>, ctx: tracing_subscriber::layer::Context<'_, S>) {
        if event.metadata().target() != "sqlx::query" {
            return;
        }
        let counted = ctx
            .event_scope(event)
            .is_some_and(|mut scope| scope.any(|span| span.name() == "counted"));
        if counted {
            let mut summary = Summary(String::new());
            event.record(&mut summary);
            self.0.lock().expect("statements").push(summary.0);
        }
    }
}

struct Summary(String);

impl tracing::field::Visit for Summary {
    fn record_str(&mut self, field: &tracing::field::Field, value: &str) {
        if field.name() == "summary" {
            self.0 = value.to_string();
        }
    }
    fn record_debug(&mut self, field: &tracing::field::Field, value: &dyn std::fmt::Debug) {
        if field.name() == "summary" {
            self.0 = format!("{value:?}");
        }
    }
}

/// A request's Slack lane is delivered from what its claim read: the claim's statement
/// brings the request, its links, its waiting root updates and its log, so an approval's
/// root update and thread reply cost two statements in all, the claim and the marks.
#[sqlx::test(migrator = "MIGRATOR")]
async fn a_lane_is_delivered_from_what_its_claim_read(pool: PgPool) {
    let mut h = Harness::start(pool).await;
    let later = h.clock.now() + Duration::hours(1);
    let posted = backlog(&h, 1, later, 1).await;
    let (id, root) = &posted[0];
    let updates_before = h.emu.calls("chat.update").len();
    let worker = replica(&h, "reader", &TestClock::at(later));

    let (drained, seen) = with_statements(worker.drain_once()).await;
    let drained = drained.expect("claim");

    assert_eq!(
        drained.rows, 2,
        "the approval's root update and thread reply"
    );
    assert_eq!(
        seen.len(),
        2,
        "the claim and the marks, no read between: {seen:#?}"
    );
    assert_eq!(h.emu.calls("chat.update").len() - updates_before, 1);
    let now = h.emu.message(CHANNEL, &root.ts).expect("root");
    assert!(
        now.render().contains("Technical owner"),
        "the root shows the approval: {}",
        now.render()
    );
    assert_eq!(
        versions(&h, root),
        vec![1, 2, 3],
        "the approval's reply, in order"
    );
    assert_eq!(pending(&h.pool).await, 0);
    let rows = updates(&h.pool, *id).await;
    assert!(
        rows.iter().all(|(_, status, _)| status == "delivered"),
        "{rows:?}"
    );
    h.stop().await;
}

/// A root update that waited for its turn behind another `chat.update` reads its lane
/// again: an event recorded while it waited is shown by that one call, which carries the
/// event's own root update, rather than by a second call.
#[sqlx::test(migrator = "MIGRATOR")]
async fn a_root_update_that_waited_its_turn_reads_its_lane_again(pool: PgPool) {
    let mut h = Harness::start(pool).await;
    let later = h.clock.now() + Duration::hours(1);
    let posted = backlog(&h, 1, later, 1).await;
    let (id, root) = &posted[0];
    let updates_before = h.emu.calls("chat.update").len();
    let worker = replica(&h, "waits", &TestClock::at(later));

    // Another call holds the turn at `chat.update` while the worker claims.
    let gate = worker.state.pace.gate("chat.update");
    let turn = gate.lock().await;
    let meanwhile = async {
        // The worker holds the gate's `Arc` from just before it asks for the turn until it
        // has had it, with no await between the two: a third holder means it waits.
        tokio::time::timeout(std::time::Duration::from_secs(10), async {
            while Arc::strong_count(&gate) < 3 {
                tokio::task::yield_now().await;
            }
        })
        .await
        .expect("the worker waits for its turn at chat.update");
        let (user, command) = steps()[1].clone();
        crate::support::click(&h.pool, *id, user, command, later)
            .await
            .expect("recorded while the update waits");
        drop(turn);
    };
    let ((drained, seen), ()) = tokio::join!(with_statements(worker.drain_once()), meanwhile);
    assert_eq!(drained.expect("claim").rows, 2);
    assert_eq!(
        seen.len(),
        3,
        "the claim, the lane read again, the marks: {seen:#?}"
    );

    // The next claim finds only the later event's thread reply: its root update was carried.
    worker.drain().await.expect("drain");
    assert_eq!(pending(&h.pool).await, 0);
    assert_eq!(
        h.emu.calls("chat.update").len() - updates_before,
        1,
        "one chat.update for both events"
    );
    let now = h.emu.message(CHANNEL, &root.ts).expect("root");
    assert!(
        now.render()
            .contains(&format!("*Technical owner* @{INFRA}")),
        "the root names the technical owner assigned while the update waited: {}",
        now.render()
    );
    assert_eq!(
        versions(&h, root),
        vec![1, 2, 3, 4],
        "a reply per event, in order"
    );
    let rows = updates(&h.pool, *id).await;
    let (carrier, later_update) = (&rows[rows.len() - 2], &rows[rows.len() - 1]);
    assert_eq!(later_update.2, Some(carrier.0), "{rows:?}");
    h.stop().await;
}

/// `support::click`'s append of `command` by `user` to `id` at `now`, leasing its Slack rows
/// to `lease` and handing them to `hand_to`.
async fn click_leasing(
    h: &Harness,
    id: RequestId,
    (user, command): (&str, Command),
    now: DateTime<Utc>,
    lease: &str,
    hand_to: store::HandTo,
) {
    let append = crate::support::click_append(&h.pool, id, user, command, now).await;
    let lease = store::Lease {
        worker: lease.to_string(),
        until: now + store::outbox::LEASE,
    };
    store::events::append_leasing(&h.pool, &append, Some((lease, hand_to)))
        .await
        .unwrap_or_else(|e| panic!("{user}: {e}"));
}

/// Every row of request `id`'s last event: (effect, status, attempts, claimed_by).
async fn last_event_rows(
    pool: &PgPool,
    id: RequestId,
) -> Vec<(String, String, i32, Option<String>)> {
    sqlx::query_as(
        "SELECT effect->>'type', status, attempts, claimed_by FROM capacity.outbox \
         WHERE event_id = (SELECT id FROM capacity.capacity_request_events \
                           WHERE request_id = $1 ORDER BY seq DESC LIMIT 1) ORDER BY id",
    )
    .bind(id.0)
    .fetch_all(pool)
    .await
    .expect("outbox")
}

/// A click through the daemon: its append leases the approval's root update and thread reply
/// to the daemon's own worker and hands them over in memory. They are delivered (one attempt
/// each, by that worker) without a `NOTIFY`: a listener hears the next append's announcement
/// and none for the approval.
#[sqlx::test(migrator = "MIGRATOR")]
async fn a_click_hands_its_rows_to_the_daemons_worker_without_announcing_them(pool: PgPool) {
    let mut h = Harness::start(pool).await;
    assert_eq!(h.submit(REQUESTER, answers("10000")).await, None);
    let root = h.root_showing(1, "Commercial approval").await;
    h.thread_len(&root, 2).await;
    h.wait_for_outbox("nothing in flight", |rows| {
        rows.iter().all(|r| r.status != "pending")
    })
    .await;
    let id = store::requests::by_number(&h.pool, RequestNumber(1))
        .await
        .expect("db")
        .expect("CR-1")
        .id;
    let mut listener = sqlx::postgres::PgListener::connect_with(&h.pool)
        .await
        .expect("listener");
    listener
        .listen(store::OUTBOX_CHANNEL)
        .await
        .expect("LISTEN");

    h.emu
        .click(AE, CHANNEL, &root.ts, "commercial_approved")
        .await
        .expect("acked");
    h.root_showing(1, "Technical review").await;
    let thread = h.thread_len(&root, 3).await;
    assert!(
        thread[2].render().contains("gave commercial approval"),
        "{}",
        thread[2].render()
    );
    h.wait_for_outbox("the approval delivered", |rows| {
        rows.iter().all(|r| r.status != "pending")
    })
    .await;
    let worker = h.daemon().deliverer.worker.clone();
    assert_eq!(
        last_event_rows(&h.pool, id).await,
        vec![
            (
                "update_root_message".into(),
                "delivered".into(),
                1,
                Some(worker.clone())
            ),
            (
                "post_thread_reply".into(),
                "delivered".into(),
                1,
                Some(worker)
            ),
        ]
    );

    // Notifications arrive in commit order: everything announced since the click comes
    // before this append's.
    let marker = crate::support::submit(&h.pool, 10_000).await.request.id;
    let mut heard = Vec::new();
    loop {
        let n = tokio::time::timeout(WAIT, listener.recv())
            .await
            .expect("the marker's notification")
            .expect("LISTEN connection");
        if n.payload() == marker.to_string() {
            break;
        }
        heard.push(n.payload().to_string());
    }
    assert!(
        !heard.contains(&id.to_string()),
        "the approval was handed over, not announced: {heard:?}"
    );
    h.stop().await;
}

/// A worker that died holding handed rows delays them by its lease, as it would a claim's:
/// no claim takes them before it runs out, the first claim after it delivers them in order.
#[sqlx::test(migrator = "MIGRATOR")]
async fn rows_handed_to_a_worker_that_died_go_out_once_its_lease_runs_out(pool: PgPool) {
    let mut h = Harness::start(pool).await;
    let later = h.clock.now() + Duration::hours(1);
    let posted = backlog(&h, 1, later, 0).await;
    let (id, root) = &posted[0];
    let updates_before = h.emu.calls("chat.update").len();
    // Handed over, and the process gone before it delivered anything.
    click_leasing(&h, *id, steps()[0].clone(), later, "died", Box::new(drop)).await;
    let rows = last_event_rows(&h.pool, *id).await;
    assert_eq!(rows.len(), 2, "{rows:?}");
    assert!(
        rows.iter().all(|(_, status, n, by)| status == "pending"
            && *n == 1
            && by.as_deref() == Some("died")),
        "{rows:?}"
    );

    let early = replica(
        &h,
        "survivor",
        &TestClock::at(later + Duration::seconds(59)),
    );
    assert_eq!(early.drain().await.expect("drain"), 0, "still leased");
    assert_eq!(h.emu.calls("chat.update").len(), updates_before);

    let after = later + store::outbox::LEASE + Duration::seconds(1);
    let survivor = replica(&h, "survivor", &TestClock::at(after));
    assert_eq!(survivor.drain().await.expect("drain"), 2);
    assert_eq!(h.emu.calls("chat.update").len(), updates_before + 1);
    assert_eq!(
        versions(&h, root),
        vec![1, 2, 3],
        "the approval's reply, in order"
    );
    assert!(
        last_event_rows(&h.pool, *id)
            .await
            .iter()
            .all(|(_, status, n, by)| status == "delivered"
                && *n == 2
                && by.as_deref() == Some("survivor")),
        "the second attempt is the survivor's"
    );
    h.stop().await;
}

/// Rows are leased only at the head of their lane. An append behind handed rows that are not
/// yet delivered waits for a claim (announced, not leased), and goes out after them, in
/// order. The handed lane itself costs its worker one statement, the marks: nothing is
/// claimed or read back for it.
#[sqlx::test(migrator = "MIGRATOR")]
async fn an_append_behind_handed_rows_waits_for_a_claim_and_the_lane_keeps_its_order(pool: PgPool) {
    let mut h = Harness::start(pool).await;
    let later = h.clock.now() + Duration::hours(1);
    let posted = backlog(&h, 1, later, 0).await;
    let (id, root) = &posted[0];
    let updates_before = h.emu.calls("chat.update").len();
    let here = replica(&h, "here", &TestClock::at(later));
    here.state.handoff.start_taking("here");
    let handoff = here.state.handoff.clone();
    click_leasing(
        &h,
        *id,
        steps()[0].clone(),
        later,
        "here",
        Box::new(move |handed| handoff.hand(handed)),
    )
    .await;
    assert!(
        here.state.handoff.has_waiting("here"),
        "the approval was handed over"
    );
    click_leasing(
        &h,
        *id,
        steps()[1].clone(),
        later,
        "here",
        Box::new(|_| panic!("rows behind pending ones are not handed over")),
    )
    .await;
    let behind = last_event_rows(&h.pool, *id).await;
    assert!(
        behind
            .iter()
            .all(|(_, status, n, by)| status == "pending" && *n == 0 && by.is_none()),
        "{behind:?}"
    );

    let (drained, seen) = with_statements(here.drain_once()).await;
    assert_eq!(drained.expect("drain").rows, 2 + behind.len());
    // The marks also tell open Homes the request changed (`WITH marked AS (UPDATE …`).
    let summaries: Vec<&str> = seen.iter().map(|s| &s[..s.len().min(16)]).collect();
    assert_eq!(
        summaries,
        ["WITH marked AS (", "WITH RECURSIVE h", "WITH marked AS ("],
        "the handed lane's marks, then the claim of the row behind it and its marks: {seen:#?}"
    );
    here.drain().await.expect("drain");
    assert_eq!(pending(&h.pool).await, 0);
    assert_eq!(
        versions(&h, root),
        vec![1, 2, 3, 4],
        "both replies, in order"
    );
    assert_eq!(
        h.emu.calls("chat.update").len(),
        updates_before + 2,
        "each root update is its own: the later one was not waiting when the first went"
    );
    let now = h.emu.message(CHANNEL, &root.ts).expect("root");
    assert!(
        now.render().contains(&format!("@{INFRA}")),
        "{}",
        now.render()
    );
    h.stop().await;
}

/// A row that must read what is true when it goes out (a DM asking for a decision) is never
/// handed over: the whole append waits for a claim.
#[sqlx::test(migrator = "MIGRATOR")]
async fn an_append_with_a_dm_is_not_handed_over(pool: PgPool) {
    let mut h = Harness::start(pool).await;
    let later = h.clock.now() + Duration::hours(1);
    let posted = backlog(&h, 1, later, 0).await;
    let (id, _) = &posted[0];
    let nudge = (
        REQUESTER,
        Command::OwnerNudged {
            recipients: vec![uid(AE)],
        },
    );
    click_leasing(
        &h,
        *id,
        nudge,
        later,
        "here",
        Box::new(|_| panic!("a DM is not handed over")),
    )
    .await;
    let rows = last_event_rows(&h.pool, *id).await;
    assert!(
        rows.iter().any(|(effect, ..)| effect == "direct_message"),
        "{rows:?}"
    );
    assert!(
        rows.iter().all(|(_, _, n, by)| *n == 0 && by.is_none()),
        "{rows:?}"
    );
    h.stop().await;
}
