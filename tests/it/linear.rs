//! Linear is informational: one issue per request (even across retries), a comment per
//! transition, and an outage that changes nothing in the workflow.

use capacity_bot::domain::testkit::*;
use capacity_bot::store::MIGRATOR;
use chrono::Duration;
use sqlx::PgPool;

use crate::support::fake_linear::{FakeLinear, Linear};
use crate::support::harness::*;

fn with_linear(url: String) -> impl FnOnce(&str) -> String {
    move |team| {
        format!(
            "{}\n[linear]\nteam_id = \"team-infra\"\napi_url = \"{url}\"\n",
            settings_toml(team)
        )
    }
}

async fn approve_to_technical_review(h: &Harness) -> slack_emulator::Message {
    h.submit(REQUESTER, answers("1000")).await;
    let root = h.root_showing(1, "Commercial approval").await;
    h.emu
        .click(AE, CHANNEL, &root.ts, "commercial_approved")
        .await
        .unwrap();
    h.root_showing(1, "Technical review").await;
    root
}

async fn drain(h: &Harness) {
    h.daemon().deliverer.drain().await.unwrap();
}

/// Drains until `done` holds of the fake Linear, bounded: the daemon's own worker may be
/// mid-call on a row this test's drain then finds leased, so one drain is not enough.
async fn drain_until(h: &Harness, linear: &FakeLinear, done: impl Fn(&Linear) -> bool) {
    let deadline = tokio::time::Instant::now() + WAIT;
    while !linear.with(|l| done(l)) && tokio::time::Instant::now() < deadline {
        drain(h).await;
        tokio::task::yield_now().await;
    }
}

#[sqlx::test(migrator = "MIGRATOR")]
async fn an_issue_is_opened_at_technical_review_and_follows_each_transition(pool: PgPool) {
    let linear = FakeLinear::start(LINEAR_KEY).await;
    let mut h = Harness::start_with(
        pool,
        emulator_config(),
        with_linear(linear.url.clone()),
        t0(),
    )
    .await;
    let root = approve_to_technical_review(&h).await;
    let linked = h.root_showing(1, "linear.app/acme/issue/INF-1").await;
    assert!(linked.edits > 0);
    let issue = linear.with(|l| {
        assert_eq!(l.issues.len(), 1, "one issue");
        l.issues.values().next().unwrap().clone()
    });
    assert_eq!(issue["input"]["teamId"], "team-infra");
    assert!(issue["input"]["title"]
        .as_str()
        .unwrap()
        .starts_with("CR-1 · Acme Corp"));
    assert!(
        issue["input"]["description"]
            .as_str()
            .unwrap()
            .contains("Slack thread: "),
        "{issue}"
    );

    h.emu
        .click(INFRA, CHANNEL, &root.ts, "technical_approved")
        .await
        .unwrap();
    h.root_showing(1, "Customer confirmation").await;
    h.emu
        .click(AE, CHANNEL, &root.ts, "customer_confirmed")
        .await
        .unwrap();
    h.root_showing(1, "Provisioning").await;
    drain_until(&h, &linear, |l| l.comments.len() >= 2).await;
    let comments = linear.with(|l| l.comments.clone());
    let texts: Vec<&str> = comments.iter().map(|(_, t)| t.as_str()).collect();
    assert_eq!(texts.len(), 2, "{texts:?}");
    assert!(
        // People by name (users.info), not by id.
        texts[0].contains("CUSTOMER_CONFIRMATION_REQUIRED") && texts[0].contains("ivan approved"),
        "{texts:?}"
    );
    assert!(texts[1].contains("PROVISIONING_IN_PROGRESS"), "{texts:?}");
    h.stop().await;
}

#[sqlx::test(migrator = "MIGRATOR")]
async fn linear_down_for_a_while_changes_nothing_and_the_issue_arrives_once(pool: PgPool) {
    let linear = FakeLinear::start(LINEAR_KEY).await;
    linear.with(|l| l.fail_next = 3);
    let mut h = Harness::start_with(
        pool,
        emulator_config(),
        with_linear(linear.url.clone()),
        t0(),
    )
    .await;
    let root = approve_to_technical_review(&h).await;
    // Slack carries on while Linear is down.
    h.emu
        .click(INFRA, CHANNEL, &root.ts, "technical_approved")
        .await
        .unwrap();
    h.root_showing(1, "Customer confirmation").await;
    h.thread_len(&root, 4).await;
    assert_eq!(linear.with(|l| l.issues.len()), 0);
    for _ in 0..6 {
        h.no_delivery_in_flight().await;
        h.clock.advance(Duration::minutes(10));
        drain(&h).await;
    }
    drain_until(&h, &linear, |l| {
        !l.issues.is_empty() && !l.comments.is_empty()
    })
    .await;
    linear.with(|l| {
        assert_eq!(l.issues.len(), 1, "created once after the outage");
        assert_eq!(
            l.comments.len(),
            1,
            "the comment for technical approval followed"
        );
    });
    h.root_showing(1, "linear.app/acme/issue/INF-1").await;
    h.stop().await;
}

#[sqlx::test(migrator = "MIGRATOR")]
async fn a_lost_answer_does_not_file_a_second_issue(pool: PgPool) {
    let linear = FakeLinear::start(LINEAR_KEY).await;
    linear.with(|l| l.lose_next_answer = true);
    let mut h = Harness::start_with(
        pool,
        emulator_config(),
        with_linear(linear.url.clone()),
        t0(),
    )
    .await;
    approve_to_technical_review(&h).await;
    // The first attempt filed the issue and lost the answer: the row waits for its retry.
    h.wait_for_outbox("the lost answer is retried later", |rows| {
        rows.iter().any(|r| {
            r.effect == "create_linear_issue" && r.status == "pending" && r.last_error.is_some()
        })
    })
    .await;
    linear.with(|l| assert_eq!(l.issues.len(), 1));
    h.clock.advance(Duration::minutes(5));
    drain(&h).await;
    h.root_showing(1, "linear.app/acme/issue/INF-1").await;
    linear.with(|l| assert_eq!(l.issues.len(), 1));
    h.stop().await;
}
