//! App Home through the socket: `app_home_opened` → outbox → `views.publish` recorded by the
//! emulator; a click on Home is the root's click with the same checks; republishing is
//! coalesced per person on the test clock; a failed publish is retried.

use capacity_bot::clock::Clock;
use capacity_bot::domain::testkit::*;
use capacity_bot::domain::{Command, RequestNumber};
use capacity_bot::store::{self, Append, Target, MIGRATOR};
use slack_emulator::{Fault, View};
use sqlx::PgPool;

use crate::support::harness::*;

const ACTIONS: &str = "home_actions:CR-1";

fn home_buttons(home: &View, block_id: &str) -> Vec<String> {
    home.blocks()
        .as_array()
        .into_iter()
        .flatten()
        .filter(|b| b["block_id"] == block_id)
        .flat_map(|b| b["elements"].as_array().cloned().unwrap_or_default())
        .filter_map(|e| e["action_id"].as_str().map(str::to_string))
        .collect()
}

async fn opened_home(h: &Harness, user: &str, showing: &str) -> View {
    let ack = h.emu.open_home(user).await.expect("app_home_opened acked");
    assert_eq!(ack.payload, None, "an event is acked empty");
    let home = h
        .emu
        .wait_for_home(user, |v| v.render().contains(showing), WAIT)
        .await
        .unwrap_or_else(|e| panic!("{user}'s Home never showed {showing:?}: {e}"));
    // Slack shows the view as `views.publish` answers; the daemon records its id just after.
    // A click in between would be refused as a click on a view it does not know, so a test
    // (faster than any person) clicks only once the id is recorded.
    let deadline = tokio::time::Instant::now() + WAIT;
    loop {
        let recorded: Option<String> =
            sqlx::query_scalar("SELECT view_id FROM capacity.home_views WHERE user_id = $1")
                .bind(user)
                .fetch_optional(&h.pool)
                .await
                .expect("home view id")
                .flatten();
        if recorded.as_deref() == Some(home.id.as_str()) {
            return home;
        }
        assert!(
            tokio::time::Instant::now() < deadline,
            "{user}'s Home {} was never recorded as published (recorded: {recorded:?})",
            home.id
        );
        tokio::task::yield_now().await;
    }
}

/// Home rows in the outbox delivered for `user`.
async fn home_rows_delivered(h: &Harness, user: &str) -> i64 {
    sqlx::query_scalar(
        "SELECT count(*) FROM capacity.outbox WHERE lane = 'home' AND status = 'delivered' \
         AND effect->>'user' = $1",
    )
    .bind(user)
    .fetch_one(&h.pool)
    .await
    .expect("count")
}

/// Claims every due Home publish as the worker `worker` does; their row ids.
async fn claim_home_rows(pool: &PgPool, now: chrono::DateTime<chrono::Utc>) -> Vec<i64> {
    store::outbox::claim(
        pool,
        "worker",
        now,
        now + chrono::Duration::minutes(1),
        1000,
        1,
    )
    .await
    .expect("claimed")
    .rows
    .iter()
    .map(|r| r.id)
    .collect()
}

/// These renders finished, each showing what Slack already shows (no view id).
fn rendered(views: &[store::home::HomeView]) -> Vec<store::home::Rendered> {
    views
        .iter()
        .map(|v| store::home::Rendered {
            user_id: v.user_id.clone(),
            read: v.reading,
            content_hash: "hash".into(),
            view_id: None,
        })
        .collect()
}

/// When each pending Home publish is due, earliest first.
async fn pending_home_due(pool: &PgPool) -> Vec<chrono::DateTime<chrono::Utc>> {
    sqlx::query_scalar(
        "SELECT next_attempt_at FROM capacity.outbox WHERE lane = 'home' AND status = 'pending' \
         ORDER BY next_attempt_at",
    )
    .fetch_all(pool)
    .await
    .expect("due")
}

async fn no_home_pending(h: &Harness) -> bool {
    let n: i64 = sqlx::query_scalar(
        "SELECT count(*) FROM capacity.outbox WHERE lane = 'home' AND status = 'pending'",
    )
    .fetch_one(&h.pool)
    .await
    .expect("count");
    n == 0
}

#[sqlx::test(migrator = "MIGRATOR")]
async fn opening_home_publishes_what_waits_mine_and_every_open_request(pool: PgPool) {
    let mut h = Harness::start(pool).await;
    h.submit(REQUESTER, answers("1000")).await;
    h.root_showing(1, "Commercial approval").await;

    let home = opened_home(&h, AE, "CR-1").await;
    let text = home.render();
    let waiting = text.find("Waiting on you (1)").expect(&text);
    let mine = text.find("Your requests (1)").expect(&text);
    let open = text.find("Open requests (1)").expect(&text);
    assert!(waiting < mine && mine < open, "sections in order: {text}");
    assert!(
        !text.contains("&lt;") && !text.contains("&gt;"),
        "links and mentions reach Slack as mrkdwn, not escaped text: {text}"
    );
    assert!(
        text.contains("due") || text.contains("Waiting on"),
        "{text}"
    );
    assert_eq!(
        home_buttons(&home, ACTIONS),
        ["commercial_approved", "commercial_rejected"],
        "only the decision's buttons"
    );

    // Someone with no decision sees the request among the open ones, with no buttons.
    let theirs = opened_home(&h, STRANGER, "CR-1").await;
    let text = theirs.render();
    assert!(text.contains("Waiting on you (0)"), "{text}");
    assert!(text.contains("Your requests (0)"), "{text}");
    assert!(text.contains("Open requests (1)"), "{text}");
    assert!(home_buttons(&theirs, ACTIONS).is_empty());
    h.stop().await;
}

#[sqlx::test(migrator = "MIGRATOR")]
async fn approving_on_home_records_updates_the_root_and_republishes(pool: PgPool) {
    let mut h = Harness::start(pool).await;
    h.submit(REQUESTER, answers("1000")).await;
    h.root_showing(1, "Commercial approval").await;
    opened_home(&h, AE, "CR-1").await;
    let before = h.events().await;

    let ack = h
        .emu
        .click_home(AE, ACTIONS, "commercial_approved")
        .await
        .expect("the click is acked");
    assert_eq!(ack.payload, None);
    h.root_showing(1, "Technical review").await;
    assert_eq!(h.events().await, before + 1, "one event recorded");

    // The next publish waits out the coalescing window after the opening's publish.
    h.wait_for_outbox("the root updated", |rows| {
        rows.iter().all(|r| r.status == "delivered")
    })
    .await;
    h.no_delivery_in_flight().await;
    // The window (5 s), and the three Homes queued together spaced 0.6 s apart after it.
    h.clock.advance(chrono::Duration::seconds(7));
    let home = h
        .emu
        .wait_for_home(AE, |v| v.render().contains("Waiting on you (0)"), WAIT)
        .await
        .expect("Home republished");
    assert!(
        home.render().contains("Technical review"),
        "{}",
        home.render()
    );
    h.stop().await;
}

#[sqlx::test(migrator = "MIGRATOR")]
async fn a_refused_click_on_home_is_told_in_a_dm_and_a_foreign_view_is_refused(pool: PgPool) {
    let mut h = Harness::start(pool).await;
    h.submit(REQUESTER, answers("1000")).await;
    h.root_showing(1, "Commercial approval").await;
    let ae_home = opened_home(&h, AE, "CR-1").await;
    opened_home(&h, STRANGER, "CR-1").await;
    let before = h.events().await;

    // The AE's Home button clicked by someone else, as from their own Home view: the
    // domain refuses (not their decision), and the refusal goes to their DM.
    let stranger_view = h.emu.home(STRANGER).expect("published");
    let mut envelope = home_click_envelope(&h, STRANGER, &ae_home, "commercial_approved");
    envelope["payload"]["view"]["id"] = stranger_view.id.clone().into();
    envelope["payload"]["container"]["view_id"] = stranger_view.id.clone().into();
    assert_eq!(h.send_envelope(&envelope).await.payload, None);
    let told = h
        .emu
        .wait_for_dm(STRANGER, |_| true, WAIT)
        .await
        .expect("the refusal is told in a DM");
    assert!(!told.render().is_empty(), "{}", told.render());

    // A Home view that is not the clicker's own: refused before the domain is asked.
    let envelope = home_click_envelope(&h, STRANGER, &ae_home, "commercial_approved");
    h.send_envelope(&envelope).await;
    h.emu
        .wait_for_dm(
            STRANGER,
            |m| m.render().contains("not on your current Home tab"),
            WAIT,
        )
        .await
        .expect("the foreign view is refused in a DM");
    assert_eq!(h.events().await, before, "nothing recorded");
    h.stop().await;
}

/// The `block_actions` envelope for a click on `home` (Slack's shape for a Home view).
fn home_click_envelope(h: &Harness, user: &str, home: &View, action_id: &str) -> serde_json::Value {
    let (block_id, button) = home.element(action_id).expect("the button");
    let team = h.emu.team_id();
    serde_json::json!({
        "envelope_id": uuid::Uuid::new_v4().to_string(),
        "type": "interactive",
        "accepts_response_payload": false,
        "payload": {
            "type": "block_actions",
            "user": {"id": user, "username": user, "name": user, "team_id": team},
            "api_app_id": h.emu.app_id(),
            "trigger_id": h.emu.mint_trigger_id(user),
            "team": {"id": team, "domain": "acme-infra"},
            "container": {"type": "view", "view_id": home.id},
            "view": home.json,
            "actions": [{
                "action_id": action_id, "block_id": block_id, "type": "button",
                "value": button["value"], "text": button["text"],
                "action_ts": "1764777600.000100",
            }],
        },
    })
}

#[sqlx::test(migrator = "MIGRATOR")]
async fn a_burst_of_fifty_events_publishes_each_open_home_once_per_window(pool: PgPool) {
    let mut h = Harness::start(pool).await;
    h.submit(REQUESTER, answers("1000")).await;
    let root = h.root_showing(1, "Commercial approval").await;
    let users = [AE, STRANGER, INFRA];
    for user in users {
        opened_home(&h, user, "CR-1").await;
    }
    h.wait_for_outbox("all delivered", |rows| {
        rows.iter().all(|r| r.status == "delivered")
    })
    .await;
    let req = store::requests::by_number(&h.pool, RequestNumber(1))
        .await
        .expect("db")
        .expect("exists");
    // 49 comments, then the approval that changes what every Home shows.
    for i in 0..49 {
        let append = Append {
            target: Target::Existing(req.id),
            commands: vec![Command::CommentAdded {
                text: format!("burst {i}"),
            }],
            actor: actor(STRANGER),
            policy: h.daemon().state.settings.policy.clone(),
            now: h.clock.now(),
            expected_version: None,
            idempotency_key: format!("burst:{i}"),
            envelope_id: None,
            linear: None,
        };
        store::events::append(&h.pool, &append)
            .await
            .expect("comment");
    }
    h.emu
        .click(AE, CHANNEL, &root.ts, "commercial_approved")
        .await
        .expect("acked");
    h.root_showing(1, "Technical review").await;
    h.thread_len(&root, 52).await;
    h.wait_for_outbox("the burst delivered", |rows| {
        rows.iter().all(|r| r.status == "delivered")
    })
    .await;
    // Within the window nothing more was published.
    for user in users {
        assert_eq!(
            h.emu.home_publishes(user),
            1,
            "{user}: only the opening's publish"
        );
    }
    h.no_delivery_in_flight().await;
    // The window (5 s), and the three Homes queued together spaced 0.6 s apart after it.
    h.clock.advance(chrono::Duration::seconds(7));
    for user in users {
        h.emu
            .wait_for_home(user, |v| v.render().contains("Technical review"), WAIT)
            .await
            .expect("republished after the window");
    }
    let deadline = tokio::time::Instant::now() + WAIT;
    while !no_home_pending(&h).await {
        assert!(tokio::time::Instant::now() < deadline, "home rows drain");
        tokio::task::yield_now().await;
    }
    for user in users {
        assert_eq!(
            h.emu.home_publishes(user),
            2,
            "{user}: one publish for the burst"
        );
        assert_eq!(
            home_rows_delivered(&h, user).await,
            2,
            "{user}: one render for the burst"
        );
    }
    h.stop().await;
}

#[sqlx::test(migrator = "MIGRATOR")]
async fn a_failed_publish_is_retried_and_home_opening_never_delays_the_ack(pool: PgPool) {
    let mut h = Harness::start(pool).await;
    h.submit(REQUESTER, answers("1000")).await;
    h.root_showing(1, "Commercial approval").await;
    h.emu.fail_next("views.publish", 1, Fault::HttpStatus(500));
    let ack = h.emu.open_home(AE).await.expect("acked");
    assert_eq!(ack.payload, None);
    h.emu
        .wait_for_calls("views.publish", 1, WAIT)
        .await
        .expect("tried once");
    assert_eq!(h.emu.home_publishes(AE), 0, "the first try failed");
    h.no_delivery_in_flight().await;
    h.clock.advance(chrono::Duration::seconds(5));
    h.emu
        .wait_for_home(AE, |v| v.render().contains("CR-1"), WAIT)
        .await
        .expect("published on retry");
    h.stop().await;
}

/// The worker reads a claim's Homes together (`begin_render` for all, then the requests
/// once); a change that lands after that reading must still publish each Home again.
#[sqlx::test(migrator = "MIGRATOR")]
async fn homes_read_together_each_publish_again_after_a_change_during_their_render(pool: PgPool) {
    use capacity_bot::domain::UserId;
    let now = chrono::Utc::now();
    let (a, b) = (
        UserId::parse("UHOMEA").expect("id"),
        UserId::parse("UHOMEB").expect("id"),
    );
    for user in [&a, &b] {
        store::home::opened(&pool, user, Some("V1"), now)
            .await
            .expect("opened");
    }
    // A worker claims the openings' publishes.
    let claimed = claim_home_rows(&pool, now).await;
    assert_eq!(claimed.len(), 2);
    let views = store::home::begin_render(&pool, &["UHOMEA", "UHOMEB", "UNEVEROPENED"])
        .await
        .expect("begin");
    let mut read: Vec<(String, i64)> = views
        .iter()
        .map(|v| (v.user_id.clone(), v.reading))
        .collect();
    read.sort();
    assert_eq!(
        read,
        [("UHOMEA".to_string(), 1), ("UHOMEB".to_string(), 1)],
        "each opened Home's count is read; one never opened is not in the answer"
    );
    // A request changes while both render: both counts move past what was read.
    store::home::changed(&pool, now).await.expect("changed");
    let renders = rendered(&views);
    store::home::published(&pool, &renders, &claimed, "worker", now)
        .await
        .expect("published");
    let delivered: i64 = sqlx::query_scalar(
        "SELECT count(*) FROM capacity.outbox WHERE id = ANY($1) AND status = 'delivered'",
    )
    .bind(&claimed)
    .fetch_one(&pool)
    .await
    .expect("count");
    assert_eq!(delivered, 2, "the claim's rows are marked with the renders");
    store::home::requeue(&pool, &["UHOMEA", "UHOMEB"], now)
        .await
        .expect("requeue");
    let mut pending: Vec<String> = sqlx::query_scalar(
        "SELECT effect->>'user' FROM capacity.outbox WHERE lane = 'home' AND status = 'pending'",
    )
    .fetch_all(&pool)
    .await
    .expect("pending");
    pending.sort();
    assert_eq!(
        pending,
        ["UHOMEA", "UHOMEB"],
        "each Home is published again"
    );
    // Nothing changed since: requeueing again adds nothing.
    store::home::requeue(&pool, &["UHOMEA", "UHOMEB"], now)
        .await
        .expect("requeue");
    let n: i64 = sqlx::query_scalar(
        "SELECT count(*) FROM capacity.outbox WHERE lane = 'home' AND status = 'pending'",
    )
    .fetch_one(&pool)
    .await
    .expect("count");
    assert_eq!(n, 2);
}

/// With many Homes open, each one's coalescing window widens so that all of them together
/// stay under Slack's `views.publish` allowance (100 a minute per workspace).
#[sqlx::test(migrator = "MIGRATOR")]
async fn many_open_homes_are_republished_within_slacks_allowance(pool: PgPool) {
    use capacity_bot::domain::UserId;
    use capacity_bot::store::home::{COALESCE, PUBLISHES_PER_MINUTE};
    let now = chrono::Utc::now();
    let users: Vec<String> = (0..50).map(|i| format!("UOPEN{i:03}")).collect();
    for user in &users {
        let id = UserId::parse(user).expect("id");
        store::home::opened(&pool, &id, Some("V1"), now)
            .await
            .expect("opened");
    }
    // Each Home published at `now`.
    let claimed = claim_home_rows(&pool, now).await;
    let names: Vec<&str> = users.iter().map(String::as_str).collect();
    let renders = rendered(
        &store::home::begin_render(&pool, &names)
            .await
            .expect("begin"),
    );
    store::home::published(&pool, &renders, &claimed, "worker", now)
        .await
        .expect("published");
    // A change: every Home gets its next publish, due when its widened window ends.
    assert_eq!(store::home::changed(&pool, now).await.expect("changed"), 50);
    let due = pending_home_due(&pool).await;
    // 50 Homes sharing 100 publishes a minute: one each per 30 s, not per 5 s.
    let window = chrono::Duration::seconds(60 * 50 / PUBLISHES_PER_MINUTE);
    assert!(window > COALESCE);
    assert_eq!(store::home::window(50), window);
    let slack = chrono::Duration::milliseconds(1);
    // The first when its window ends; the rest, published with it, one share apart after it.
    assert_eq!(due.len(), 50);
    assert!((due[0] - (now + window)).abs() < slack, "{due:?}");
    let span = due[49] - due[0];
    assert!((span - store::home::share() * 49).abs() < slack, "{span}");
}

/// Homes whose windows all ended (a quiet spell) are not all published at once when the next
/// change comes: they are spaced one share of Slack's allowance apart.
#[sqlx::test(migrator = "MIGRATOR")]
async fn homes_queued_together_are_spaced_within_slacks_allowance(pool: PgPool) {
    use capacity_bot::domain::UserId;
    use capacity_bot::store::home::PUBLISHES_PER_MINUTE;
    let now = chrono::Utc::now();
    for i in 0..50 {
        let id = UserId::parse(&format!("UQUIET{i:03}")).expect("id");
        store::home::opened(&pool, &id, None, now)
            .await
            .expect("opened");
    }
    // Published an hour ago, nothing pending since.
    sqlx::query("UPDATE capacity.home_views SET published_at = $1, rendered = wanted")
        .bind(now - chrono::Duration::hours(1))
        .execute(&pool)
        .await
        .expect("published long ago");
    sqlx::query("DELETE FROM capacity.outbox WHERE lane = 'home'")
        .execute(&pool)
        .await
        .expect("nothing pending");
    assert_eq!(store::home::changed(&pool, now).await.expect("changed"), 50);
    let due = pending_home_due(&pool).await;
    let share = chrono::Duration::milliseconds(60_000 / PUBLISHES_PER_MINUTE);
    assert_eq!(store::home::share(), share);
    let slack = chrono::Duration::milliseconds(1);
    assert_eq!(due.len(), 50);
    assert!((due[0] - now).abs() < slack, "the first at once");
    for pair in due.windows(2) {
        assert!(((pair[1] - pair[0]) - share).abs() < slack, "{pair:?}");
    }
}
