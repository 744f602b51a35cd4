//! The outbox against a misbehaving Slack: rate limits and server errors are retried when
//! due and delivered once, a permanent error fails its row for a human without holding up
//! other requests, and two workers keep each request's thread in order.

use std::sync::Arc;

use capacity_bot::clock::{Clock, TestClock};
use capacity_bot::context::{AppState, OutboxOptions};
use capacity_bot::domain::testkit::*;
use capacity_bot::domain::{Command, RequestId, RequestNumber};
use capacity_bot::outbox::{retry_delay, Deliverer};
use capacity_bot::store::{self, MIGRATOR};
use chrono::Duration;
use slack_emulator::{Fault, Message};
use sqlx::PgPool;

use crate::support::harness::*;

/// CR-`n` submitted and its messages out, every outbox row marked: the clock can then jump
/// without a lease in flight running out.
async fn submitted(h: &Harness, n: i64, requester: &str) -> Message {
    assert_eq!(h.submit(requester, answers("10000")).await, None);
    let root = h.root_showing(n, "Commercial approval").await;
    h.thread_len(&root, 2).await;
    h.wait_for_outbox("nothing in flight", |rows| {
        rows.iter().all(|r| r.status != "pending")
    })
    .await;
    root
}

/// The row of CR-`number`'s `effect` that is the latest of its kind.
fn last_row<'a>(rows: &'a [OutboxState], number: i64, effect: &str) -> &'a OutboxState {
    rows.iter()
        .rev()
        .find(|r| r.number == number && r.effect == effect)
        .unwrap_or_else(|| panic!("no {effect} row for CR-{number}: {rows:#?}"))
}

fn statuses(h: &Harness, method: &str) -> Vec<u16> {
    h.emu.calls(method).iter().map(|c| c.http_status).collect()
}

#[sqlx::test(migrator = "MIGRATOR")]
async fn a_rate_limited_root_update_waits_for_retry_after_and_is_delivered_once(pool: PgPool) {
    let mut h = Harness::start(pool).await;
    let root = submitted(&h, 1, REQUESTER).await;
    let updates = h.emu.calls("chat.update").len();
    h.emu.fail_next("chat.update", 2, Fault::rate_limited(30));

    let clicked = h.clock.now();
    h.emu
        .click(AE, CHANNEL, &root.ts, "commercial_approved")
        .await
        .expect("acked");

    // First attempt: 429, retried exactly Retry-After later; the thread reply waits behind it.
    let rows = h
        .wait_for_outbox("the update rate limited once", |rows| {
            let r = last_row(rows, 1, "update_root_message");
            r.attempts == 1 && r.last_error.is_some()
        })
        .await;
    let update = last_row(&rows, 1, "update_root_message");
    assert_eq!(update.status, "pending");
    assert_eq!(update.next_attempt_at, clicked + Duration::seconds(30));
    assert!(update
        .last_error
        .as_deref()
        .unwrap_or_default()
        .contains("rate limited"));

    // Not due before Retry-After has passed.
    h.clock.advance(Duration::seconds(29));
    assert_eq!(h.daemon().deliverer.drain().await.expect("drain"), 0);
    assert_eq!(
        h.emu.thread(CHANNEL, &root.ts).len(),
        2,
        "the reply waits its turn"
    );

    // Second attempt: 429 again, another 30 s.
    h.clock.advance(Duration::seconds(2));
    let second = h.clock.now();
    let rows = h
        .wait_for_outbox("the update rate limited twice", |rows| {
            last_row(rows, 1, "update_root_message").attempts == 2
                && last_row(rows, 1, "update_root_message").next_attempt_at > second
        })
        .await;
    assert_eq!(
        last_row(&rows, 1, "update_root_message").next_attempt_at,
        second + Duration::seconds(30)
    );

    // Third attempt goes through; then the reply.
    h.clock.advance(Duration::seconds(31));
    h.root_showing(1, "Technical review").await;
    let thread = h.thread_len(&root, 3).await;
    assert!(thread[2].render().contains(AE), "{}", thread[2].render());
    h.daemon().deliverer.drain().await.expect("drain");

    let calls = &statuses(&h, "chat.update")[updates..];
    assert_eq!(calls, [429, 429, 200], "two refusals, then one update");
    assert_eq!(h.emu.thread(CHANNEL, &root.ts).len(), 3, "one reply");
    let root = h.emu.message(CHANNEL, &root.ts).expect("root");
    assert_eq!(root.edits as usize, updates + 1, "updated once more");
    // The worker marks a row after Slack has it: wait for the mark, not just the message.
    h.wait_for_outbox("every row delivered", |rows| {
        rows.iter().all(|r| r.status == "delivered")
    })
    .await;
    h.stop().await;
}

#[sqlx::test(migrator = "MIGRATOR")]
async fn a_root_update_failing_with_http_500_is_retried_with_backoff_and_delivered_once(
    pool: PgPool,
) {
    let mut h = Harness::start(pool).await;
    let root = submitted(&h, 1, REQUESTER).await;
    let updates = h.emu.calls("chat.update").len();
    h.emu.fail_next("chat.update", 3, Fault::HttpStatus(500));

    h.emu
        .click(AE, CHANNEL, &root.ts, "commercial_approved")
        .await
        .expect("acked");

    for attempt in 1..=3 {
        let at = h.clock.now();
        let rows = h
            .wait_for_outbox(&format!("attempt {attempt} failed"), |rows| {
                last_row(rows, 1, "update_root_message").attempts == attempt
                    && last_row(rows, 1, "update_root_message").next_attempt_at > at
            })
            .await;
        let row = last_row(&rows, 1, "update_root_message");
        assert_eq!(row.status, "pending");
        assert_eq!(row.next_attempt_at, at + retry_delay(attempt));
        assert_eq!(h.emu.thread(CHANNEL, &root.ts).len(), 2, "the reply waits");
        h.clock.advance(retry_delay(attempt));
    }

    h.root_showing(1, "Technical review").await;
    h.thread_len(&root, 3).await;
    h.daemon().deliverer.drain().await.expect("drain");
    let calls = &statuses(&h, "chat.update")[updates..];
    assert_eq!(calls, [500, 500, 500, 200]);
    assert_eq!(h.emu.thread(CHANNEL, &root.ts).len(), 3, "one reply");
    // The worker marks a row after Slack has it: wait for the mark, not just the message.
    h.wait_for_outbox("every row delivered", |rows| {
        rows.iter().all(|r| r.status == "delivered")
    })
    .await;
    h.stop().await;
}

#[sqlx::test(migrator = "MIGRATOR")]
async fn a_channel_not_found_fails_the_row_with_a_remedy_and_other_requests_still_go_out(
    pool: PgPool,
) {
    let mut h = Harness::start(pool).await;
    h.emu
        .fail_next("chat.postMessage", 1, Fault::error("channel_not_found"));

    assert_eq!(h.submit(REQUESTER, answers("10000")).await, None);
    let rows = h
        .wait_for_outbox("CR-1 settled", |rows| {
            rows.len() == 4 && rows.iter().all(|r| r.status != "pending")
        })
        .await;
    let post = last_row(&rows, 1, "post_root_message");
    assert_eq!(post.status, "failed");
    let error = post.last_error.as_deref().unwrap_or_default();
    assert!(error.contains("channel_not_found"), "{error}");
    assert!(
        error.contains("slack.requests_channel"),
        "says what to fix: {error}"
    );
    for row in &rows {
        assert_eq!(row.status, "failed", "nothing of CR-1 can go out: {row:?}");
        assert_eq!(row.attempts, 1, "and none of it is retried: {row:?}");
        assert!(row.last_error.is_some(), "each says why: {row:?}");
    }

    // Another request is delivered as usual.
    submitted(&h, 2, STRANGER).await;

    // Past the longest retry delay, nothing of CR-1 comes back.
    h.clock
        .advance(retry_delay(i32::MAX) + Duration::minutes(5));
    assert_eq!(h.daemon().deliverer.drain().await.expect("drain"), 0);
    let posts = statuses(&h, "chat.postMessage");
    assert_eq!(
        posts.len(),
        4,
        "CR-1's root once, CR-2's root and two replies: {posts:?}"
    );
    assert!(h.emu.calls("chat.postMessage")[0].error() == Some("channel_not_found"));
    assert_eq!(h.emu.messages(CHANNEL).len(), 1, "only CR-2's root");
    let cr1 = h.outbox().await;
    assert!(cr1
        .iter()
        .filter(|r| r.number == 1)
        .all(|r| r.status == "failed" && r.attempts == 1));
    h.stop().await;
}

async fn id_of(pool: &PgPool, n: i64) -> RequestId {
    store::requests::by_number(pool, RequestNumber(n))
        .await
        .expect("db")
        .expect("request exists")
        .id
}

/// Delivers until no row is pending, however often the other worker holds the next one.
async fn work(d: &Deliverer, h: &Harness) -> usize {
    let deadline = tokio::time::Instant::now() + WAIT;
    let mut delivered = 0;
    loop {
        let n = d.drain_once().await.expect("claim").rows;
        delivered += n;
        if n == 0 {
            if h.outbox().await.iter().all(|r| r.status != "pending") {
                return delivered;
            }
            assert!(tokio::time::Instant::now() < deadline, "workers stalled");
            tokio::task::yield_now().await;
        }
    }
}

#[sqlx::test(migrator = "MIGRATOR")]
async fn two_workers_keep_each_requests_thread_in_event_order_without_duplicates(pool: PgPool) {
    let mut h = Harness::start(pool.clone()).await;
    let mut roots = Vec::new();
    for n in 1..=3 {
        roots.push(submitted(&h, n, REQUESTER).await);
    }
    let ids = [
        id_of(&pool, 1).await,
        id_of(&pool, 2).await,
        id_of(&pool, 3).await,
    ];

    // A burst recorded an hour ahead of the daemon's clock: its own worker never sees these
    // rows as due, so only the two workers below deliver them.
    let later = h.clock.now() + Duration::hours(1);
    let steps = [
        (AE, Command::CommercialApproved),
        (INFRA, Command::TechnicalOwnerAssigned),
        (INFRA, Command::TechnicalApproved),
        (REQUESTER, Command::CustomerConfirmed),
        (INFRA2, Command::ProvisioningCompleted),
        (AE, Command::Activated { signal_id: None }),
    ];
    for (user, event) in &steps {
        for id in ids {
            crate::support::click(&pool, id, user, event.clone(), later)
                .await
                .unwrap_or_else(|e| panic!("{user} {}: {e}", event.kind()));
        }
    }
    let pending = h
        .outbox()
        .await
        .iter()
        .filter(|r| r.status == "pending")
        .count();
    assert_eq!(
        pending,
        3 * steps.len() * 2,
        "an update and a reply per event"
    );

    // The daemon's outbox, but two lanes a claim: one worker would otherwise claim all
    // three requests' lanes at once and leave the other nothing to race for.
    let outbox = OutboxOptions {
        lanes: 2,
        ..h.daemon().state.outbox
    };
    let worker = |name: &str| Deliverer {
        worker: name.to_string(),
        state: Arc::new(AppState {
            clock: Arc::new(TestClock::at(later)),
            outbox,
            ..(*h.daemon().state).clone()
        }),
    };
    let (one, two) = (worker("worker-one"), worker("worker-two"));
    let (a, b) = tokio::join!(work(&one, &h), work(&two, &h));
    assert_eq!(a + b, pending, "every row delivered once");
    let rows = h.outbox().await;
    for name in ["worker-one", "worker-two"] {
        assert!(
            rows.iter().any(|r| r.claimed_by.as_deref() == Some(name)),
            "{name} delivered some of the burst ({a} + {b})"
        );
    }

    for (i, root) in roots.iter().enumerate() {
        let thread = h.emu.thread(CHANNEL, &root.ts);
        let versions: Vec<i32> = thread.iter().map(version_of).collect();
        assert_eq!(
            versions,
            (1..=8).collect::<Vec<_>>(),
            "CR-{}'s replies in event order, each once",
            i + 1
        );
        assert!(
            thread[7].render().contains("recorded activation"),
            "{}",
            thread[7].render()
        );
        let before = root.edits;
        let root = h.emu.message(CHANNEL, &root.ts).expect("root");
        // Root updates coalesce: each call renders every event recorded so far.
        let burst = root.edits - before;
        assert!(
            (1..=6).contains(&burst),
            "at most one update per event of the burst, got {burst}"
        );
        assert!(root.render().contains("Activated"), "{}", root.render());
    }
    let ok_posts = h
        .emu
        .calls("chat.postMessage")
        .iter()
        .filter(|c| c.ok())
        .count();
    assert_eq!(ok_posts, 3 * 9, "3 roots and 3 × 8 replies, nothing twice");
    h.stop().await;
}

/// The outbox's LISTEN connection sits idle for the daemon's whole life. Were it to hold a
/// snapshot, Postgres could vacuum no row deleted or updated since it started: every
/// delivered outbox row would stay in the pending indexes, and each claim would wade
/// through all of them (seen in the benchmark while the listener was read only between
/// drains: a claim of 139 ms, 115 rows/s delivered). The benchmark's memory part checks
/// the same under a flood of notifications.
#[sqlx::test(migrator = "MIGRATOR")]
async fn the_outbox_listener_holds_back_no_vacuum(pool: PgPool) {
    let mut h = Harness::start(pool.clone()).await;
    let deadline = tokio::time::Instant::now() + std::time::Duration::from_secs(10);
    let mut last = None;
    loop {
        let listener: Option<(i32, Option<String>, String)> = sqlx::query_as(
            "SELECT pid, backend_xmin::text, state FROM pg_stat_activity \
             WHERE datname = current_database() AND query LIKE 'LISTEN%'",
        )
        .fetch_optional(&pool)
        .await
        .expect("pg_stat_activity");
        if let Some((_, None, state)) = &listener {
            if state == "idle" {
                break;
            }
        }
        assert!(
            tokio::time::Instant::now() < deadline,
            "the LISTEN connection still holds a snapshot (pid, xmin, state): {listener:?} (before: {last:?})"
        );
        last = listener;
        tokio::task::yield_now().await;
    }
    h.stop().await;
}

#[sqlx::test(migrator = "MIGRATOR")]
async fn a_permalink_that_fails_after_the_root_post_is_asked_for_again_through_the_outbox(
    pool: PgPool,
) {
    let mut h = Harness::start(pool.clone()).await;
    // Once right after the post, once more on the outbox's first try.
    h.emu
        .fail_next("chat.getPermalink", 2, Fault::HttpStatus(500));
    assert_eq!(h.submit(REQUESTER, answers("10000")).await, None);
    h.root_showing(1, "Commercial approval").await;
    let at = h.clock.now();
    let rows = h
        .wait_for_outbox("the permalink's first retry failed", |rows| {
            rows.iter()
                .any(|r| r.effect == "fetch_permalink" && r.attempts == 1 && r.next_attempt_at > at)
        })
        .await;
    assert_eq!(last_row(&rows, 1, "fetch_permalink").status, "pending");
    h.clock.advance(retry_delay(1));
    h.wait_for_outbox("every row delivered", |rows| {
        rows.iter().all(|r| r.status == "delivered")
    })
    .await;
    assert_eq!(statuses(&h, "chat.getPermalink"), [500, 500, 200]);
    let id = id_of(&pool, 1).await;
    let links = store::requests::links(&pool, id).await.expect("db");
    assert!(links.permalink.is_some(), "{links:?}");
    // Where people use it: `/capacity status` links the thread.
    let ack = h
        .emu
        .slash_command(AE, "/capacity", "status CR-1", CHANNEL)
        .await
        .expect("acked");
    assert!(
        ack.text().expect("a reply").contains("|Thread>"),
        "{:?}",
        ack.text()
    );
    h.stop().await;
}

/// A DM whose moment passed before it could be delivered is not sent: here a nudge to the
/// AE, delivered only after the AE had already approved.
#[sqlx::test(migrator = "MIGRATOR")]
async fn a_dm_for_a_request_that_moved_on_before_delivery_is_not_sent(pool: PgPool) {
    let mut h = Harness::start(pool.clone()).await;
    let root = submitted(&h, 1, REQUESTER).await;
    let id = id_of(&pool, 1).await;
    // Recorded an hour ahead of the daemon's clock, so only the worker below delivers them.
    let later = h.clock.now() + Duration::hours(1);
    crate::support::click(
        &pool,
        id,
        REQUESTER,
        Command::OwnerNudged {
            recipients: vec![uid(AE)],
        },
        later,
    )
    .await
    .expect("nudged");
    let worker = Deliverer {
        worker: "late-worker".to_string(),
        state: Arc::new(AppState {
            clock: Arc::new(TestClock::at(later)),
            ..(*h.daemon().state).clone()
        }),
    };
    let nudges = |h: &Harness| {
        h.emu
            .dms(AE)
            .iter()
            .filter(|m| m.render().contains("Nudge"))
            .count()
    };

    // The control: delivered while it is still true, the nudge goes out.
    work(&worker, &h).await;
    assert_eq!(
        nudges(&h),
        1,
        "the nudge DM, while the decision is still open"
    );

    // The next business day's nudge, then the AE approves before it is delivered.
    let next_day = later + Duration::days(1);
    // Its own key: `support::click`'s would repeat the first nudge's (same version).
    let again = crate::support::append_for(
        store::Target::Existing(id),
        vec![Command::OwnerNudged {
            recipients: vec![uid(AE)],
        }],
        actor(REQUESTER),
        next_day,
        None,
        "nudge:second",
    );
    let done = store::events::append(&pool, &again)
        .await
        .expect("nudged again");
    assert!(!done.duplicate, "the second nudge is recorded");
    crate::support::click(&pool, id, AE, Command::CommercialApproved, next_day)
        .await
        .expect("approved");
    let worker = Deliverer {
        worker: "late-worker".to_string(),
        state: Arc::new(AppState {
            clock: Arc::new(TestClock::at(next_day)),
            ..(*h.daemon().state).clone()
        }),
    };
    work(&worker, &h).await;
    assert_eq!(nudges(&h), 1, "no DM asking for a decision already taken");
    let thread = h.emu.thread(CHANNEL, &root.ts);
    assert!(
        thread
            .iter()
            .filter(|m| m.render().contains("nudged"))
            .count()
            == 2,
        "the thread still records both nudges: {:#?}",
        thread.iter().map(Message::render).collect::<Vec<_>>()
    );
    h.stop().await;
}
