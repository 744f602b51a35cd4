//! `replay`: rebuilding projections from random histories finds nothing; a tampered row is
//! found, and only that one.

use capacity_bot::domain::testkit::*;
use capacity_bot::domain::{Command, RequestId};
use capacity_bot::replay;
use capacity_bot::store::MIGRATOR;
use chrono::Duration;
use proptest::strategy::{Strategy, ValueTree};
use proptest::test_runner::TestRunner;
use sqlx::PgPool;

use crate::support::*;

fn candidate_events() -> Vec<(&'static str, Command)> {
    vec![
        (AE, Command::CommercialApproved),
        (FINANCE, Command::CommercialApproved),
        (INFRA, Command::TechnicalOwnerAssigned),
        (INFRA, Command::TechnicalApproved),
        (AE, Command::TtlExtended { days: 3 }),
        (REQUESTER, Command::CustomerConfirmed),
        (INFRA2, Command::ProvisioningCompleted),
        (
            INFRA,
            Command::ProvisioningFailed {
                reason: "stock".into(),
            },
        ),
        (AE, Command::Activated { signal_id: None }),
        (
            REQUESTER,
            Command::CancelRequested {
                reason: "churn".into(),
            },
        ),
        (APPROVER, Command::CancelApproved),
        (APPROVER, Command::CancelDenied),
        (INFRA, Command::CapacityReleased),
        (STRANGER, Command::CommentAdded { text: "hi".into() }),
        (
            ADMIN,
            Command::OwnerReassigned {
                role: capacity_bot::domain::OwnerRole::Technical,
                to: uid(INFRA2),
            },
        ),
    ]
}

/// Plays `n` random histories through the store; refusals are simply skipped.
async fn random_histories(pool: &PgPool, n: usize) -> Vec<RequestId> {
    let mut runner = TestRunner::deterministic();
    let strategy = proptest::collection::vec((0usize..15, 0i64..30), 3..25);
    let options = candidate_events();
    let mut ids = Vec::new();
    for _ in 0..n {
        let cost = if ids.len() % 3 == 0 { 80_000 } else { 500 };
        let id = submit(pool, cost).await.request.id;
        let mut now = t0();
        for (pick, hours) in strategy.new_tree(&mut runner).unwrap().current() {
            now += Duration::hours(hours);
            let (who, event) = options[pick].clone();
            let _ = click(pool, id, who, event, now).await;
        }
        ids.push(id);
    }
    ids
}

#[sqlx::test(migrator = "MIGRATOR")]
async fn replay_after_hundreds_of_random_histories_finds_no_difference(pool: PgPool) {
    random_histories(&pool, 300).await;
    let report = replay::replay(&pool, false).await.unwrap();
    assert_eq!(report.checked, 300);
    assert_eq!(report.differences, vec![]);
    let events: i64 = count_events(&pool).await;
    assert!(
        events > 1000,
        "histories should be long enough to mean something: {events}"
    );
}

#[sqlx::test(migrator = "MIGRATOR")]
async fn replay_reports_exactly_the_tampered_request(pool: PgPool) {
    let ids = random_histories(&pool, 20).await;
    let victim = ids[7];
    sqlx::query("UPDATE capacity.capacity_requests SET state = 'ACTIVATED', version = version + 5 WHERE id = $1")
        .bind(victim.0)
        .execute(&pool)
        .await
        .unwrap();
    let report = replay::replay(&pool, false).await.unwrap();
    assert_eq!(report.differences.len(), 1, "{:?}", report.differences);
    let diff = &report.differences[0];
    assert_eq!(diff.id, victim);
    assert!(
        diff.detail.iter().any(|d| d.starts_with("state:")),
        "{:?}",
        diff.detail
    );
    assert!(
        diff.detail.iter().any(|d| d.starts_with("version:")),
        "{:?}",
        diff.detail
    );

    let fixed = replay::replay(&pool, true).await.unwrap();
    assert_eq!(fixed.fixed, 1);
    assert_eq!(
        replay::replay(&pool, false).await.unwrap().differences,
        vec![]
    );
}
