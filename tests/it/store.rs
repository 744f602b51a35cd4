//! The event store against real Postgres: atomic appends, idempotency, conflicts, and an
//! append-only log.

use std::sync::Arc;

use capacity_bot::domain::testkit::*;
use capacity_bot::domain::{Actor, Command, Effect, Refusal, RequestId, State};
use capacity_bot::store::{self, AppendError, Target, MIGRATOR};
use chrono::Duration;
use sqlx::PgPool;

use crate::support::*;

#[sqlx::test(migrations = false)]
async fn migrations_apply_to_an_empty_database_and_a_second_run_changes_nothing(pool: PgPool) {
    assert!(!store::migrations_current(&pool).await.unwrap());
    MIGRATOR.run(&pool).await.unwrap();
    assert!(store::migrations_current(&pool).await.unwrap());
    let snapshot = || async {
        let objects: Vec<(String, String)> = sqlx::query_as(
            "SELECT c.relname::text, c.relkind::text FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace \
             WHERE n.nspname = 'capacity' ORDER BY 1",
        )
        .fetch_all(&pool)
        .await
        .unwrap();
        let applied: i64 = sqlx::query_scalar("SELECT count(*) FROM _sqlx_migrations")
            .fetch_one(&pool)
            .await
            .unwrap();
        (objects, applied)
    };
    let first = snapshot().await;
    assert!(first.0.iter().any(|(n, _)| n == "capacity_request_events"));
    MIGRATOR.run(&pool).await.unwrap();
    assert_eq!(snapshot().await, first);
}

#[sqlx::test(migrator = "MIGRATOR")]
async fn the_event_log_rejects_update_delete_and_truncate(pool: PgPool) {
    submit(&pool, 100).await;
    for sql in [
        "UPDATE capacity.capacity_request_events SET actor = 'UEVIL'",
        "DELETE FROM capacity.capacity_request_events",
        "TRUNCATE capacity.capacity_request_events CASCADE",
    ] {
        let err = sqlx::query(sql).execute(&pool).await.expect_err(sql);
        assert!(err.to_string().contains("append-only"), "{sql}: {err}");
    }
    assert_eq!(count_events(&pool).await, 2);
}

#[sqlx::test(migrator = "MIGRATOR")]
async fn a_submission_writes_events_projection_and_outbox_in_one_go(pool: PgPool) {
    let appended = submit(&pool, 100).await;
    let r = &appended.request;
    assert_eq!(r.state, State::CommercialApprovalRequired);
    assert!(r.number.0 >= 1);
    assert_eq!(appended.events.len(), 2);
    assert_eq!(
        appended.events[0].idempotency_key,
        format!("submit:{}", r.id)
    );
    assert_eq!(
        appended.events[1].idempotency_key,
        format!("submit:{}#1", r.id)
    );
    let stored = store::requests::by_number(&pool, r.number)
        .await
        .unwrap()
        .unwrap();
    assert_eq!(&stored, r);
    let log = store::events::events_of(&pool, r.id).await.unwrap();
    assert_eq!(log, appended.events);
    let effects: Vec<Effect> = store::outbox::of_request(&pool, r.id)
        .await
        .unwrap()
        .into_iter()
        .map(|(row, status)| {
            assert_eq!(status, "pending");
            row.effect
        })
        .collect();
    assert_eq!(
        effects,
        vec![
            Effect::PostRootMessage,
            Effect::PostThreadReply,
            Effect::UpdateRootMessage,
            Effect::PostThreadReply
        ]
    );
}

#[sqlx::test(migrator = "MIGRATOR")]
async fn request_numbers_count_up(pool: PgPool) {
    let a = submit(&pool, 1).await.request.number;
    let b = submit(&pool, 1).await.request.number;
    assert_eq!(b.0, a.0 + 1);
}

#[sqlx::test(migrator = "MIGRATOR")]
async fn the_whole_lifecycle_goes_through_the_store(pool: PgPool) {
    let id = submit(&pool, 60_000).await.request.id;
    let mut now = t0();
    let mut step = |by: i64| {
        now += Duration::hours(by);
        now
    };
    let steps: Vec<(&str, Command, State)> = vec![
        (
            AE,
            Command::CommercialApproved,
            State::CommercialApprovalRequired,
        ),
        (
            FINANCE,
            Command::CommercialApproved,
            State::TechnicalReviewRequired,
        ),
        (
            INFRA,
            Command::TechnicalOwnerAssigned,
            State::TechnicalReviewRequired,
        ),
        (
            INFRA,
            Command::TechnicalApproved,
            State::CustomerConfirmationRequired,
        ),
        (
            AE,
            Command::TtlExtended { days: 2 },
            State::CustomerConfirmationRequired,
        ),
        (
            REQUESTER,
            Command::CustomerConfirmed,
            State::ProvisioningInProgress,
        ),
        (
            INFRA2,
            Command::TechnicalOwnerAssigned,
            State::ProvisioningInProgress,
        ),
        (
            INFRA2,
            Command::ProvisioningCompleted,
            State::ReadyForCustomer,
        ),
        (
            STRANGER,
            Command::CommentAdded {
                text: "ETA?".into(),
            },
            State::ReadyForCustomer,
        ),
        (AE, Command::Activated { signal_id: None }, State::Activated),
    ];
    for (who, event, expected) in steps {
        let kind = event.kind();
        let r = click(&pool, id, who, event, step(2))
            .await
            .unwrap_or_else(|e| panic!("{kind}: {e}"));
        assert_eq!(r.request.state, expected, "{kind}");
    }
    let log = store::events::events_of(&pool, id).await.unwrap();
    assert_eq!(log.len(), 12);
    assert!(log.windows(2).all(|w| w[1].seq == w[0].seq + 1));
    let stored = store::requests::by_id(&pool, id).await.unwrap().unwrap();
    assert_eq!(stored.state, State::Activated);
    assert_eq!(capacity_bot::domain::fold(&log).unwrap(), stored);
}

/// The outbox reads a lane's log with its root update, as JSON in the same statement; it must
/// be the log `events_of` reads, to the microsecond and the last character of a comment.
#[sqlx::test(migrator = "MIGRATOR")]
async fn the_log_read_with_a_root_update_is_the_log(pool: PgPool) {
    let id = submit(&pool, 60_000).await.request.id;
    let text = "ETA? \"soon\" \\ it's naïve — 😀 \u{7f} $1 ' -- ;".to_string();
    let odd = t0() + Duration::microseconds(123_457);
    click(&pool, id, AE, Command::CommercialApproved, odd)
        .await
        .expect("approved");
    click(
        &pool,
        id,
        STRANGER,
        Command::CommentAdded { text: text.clone() },
        odd + Duration::hours(1),
    )
    .await
    .expect("commented");

    let log = store::events::events_of(&pool, id).await.unwrap();
    assert_eq!(log.len(), 4);
    let with = store::requests::with_links_and_waiting_updates(&pool, id, true)
        .await
        .unwrap()
        .expect("request");
    assert_eq!(with.log.as_ref(), Some(&log));
    assert_eq!(with.request, capacity_bot::domain::fold(&log).unwrap());
    assert!(
        format!("{:?}", with.log).contains("😀"),
        "the comment came back whole"
    );

    let without = store::requests::with_links_and_waiting_updates(&pool, id, false)
        .await
        .unwrap()
        .expect("request");
    assert!(without.log.is_none());
    assert_eq!(without.request, with.request);
    assert_eq!(without.waiting, with.waiting);
}

#[sqlx::test(migrator = "MIGRATOR")]
async fn a_refused_click_records_nothing(pool: PgPool) {
    let id = submit(&pool, 100).await.request.id;
    let before = count_events(&pool).await;
    let err = click(&pool, id, STRANGER, Command::CommercialApproved, t0())
        .await
        .unwrap_err();
    assert!(
        matches!(err, AppendError::Refused(Refusal::NotPermitted { .. })),
        "{err}"
    );
    let err = click(&pool, id, INFRA, Command::ProvisioningCompleted, t0())
        .await
        .unwrap_err();
    assert!(
        matches!(err, AppendError::Refused(Refusal::WrongState { .. })),
        "{err}"
    );
    assert_eq!(count_events(&pool).await, before);
    let outbox: i64 = sqlx::query_scalar("SELECT count(*) FROM capacity.outbox")
        .fetch_one(&pool)
        .await
        .unwrap();
    assert_eq!(outbox, 4);
}

#[sqlx::test(migrator = "MIGRATOR")]
async fn the_same_idempotency_key_twice_records_once(pool: PgPool) {
    let id = submit(&pool, 100).await.request.id;
    let append = append_for(
        Target::Existing(id),
        vec![Command::CommercialApproved],
        actor(AE),
        t0(),
        Some(2),
        "envelope-1",
    );
    let first = store::events::append(&pool, &append).await.unwrap();
    assert!(!first.duplicate);
    let again = store::events::append(&pool, &append).await.unwrap();
    assert!(again.duplicate);
    assert_eq!(again.events, first.events);
    assert_eq!(again.request, first.request);
    assert_eq!(count_events(&pool).await, 3);
}

/// Quotes, backslashes and SQL in a key stay text: it is recorded and found again as it was
/// given.
#[sqlx::test(migrator = "MIGRATOR")]
async fn a_key_with_quotes_and_backslashes_records_as_any_key(pool: PgPool) {
    let id = submit(&pool, 100).await.request.id;
    let key = r#"env'1\'); SELECT pg_sleep(10); --\x27 E'\\'"#;
    let append = append_for(
        Target::Existing(id),
        vec![Command::CommentAdded {
            text: "quoted".into(),
        }],
        actor(AE),
        t0(),
        None,
        key,
    );
    let first = store::events::append(&pool, &append).await.unwrap();
    assert!(!first.duplicate);
    assert_eq!(first.events[0].idempotency_key, key);
    let again = store::events::append(&pool, &append).await.unwrap();
    assert!(again.duplicate, "the quoted key is found as it was stored");
    assert_eq!(count_events(&pool).await, 3);

    // A NUL cannot be stored in Postgres text; the append says so and records nothing.
    let nul = append_for(
        Target::Existing(id),
        vec![Command::CommentAdded { text: "nul".into() }],
        actor(AE),
        t0(),
        None,
        "env\0nul",
    );
    let refused = store::events::append(&pool, &nul).await.unwrap_err();
    assert!(refused.to_string().contains("NUL"), "{refused}");
    assert_eq!(count_events(&pool).await, 3);
}

/// Holds request `id`'s row locked in another session while `appends` run, until every one
/// of them has read the request, decided, and reached its write; then lets them go. Each
/// returns what its append returned, in order.
async fn held_at_their_writes(
    pool: &PgPool,
    id: RequestId,
    appends: &[store::Append],
) -> Vec<Result<store::Appended, AppendError>> {
    let mut holder = pool.begin().await.unwrap();
    sqlx::query("SELECT 1 FROM capacity.capacity_requests WHERE id = $1 FOR UPDATE")
        .bind(id.0)
        .execute(&mut *holder)
        .await
        .unwrap();
    let before = count_events(pool).await;
    let tasks: Vec<_> = appends
        .iter()
        .map(|a| {
            let (pool, a) = (pool.clone(), a.clone());
            tokio::spawn(async move { store::events::append(&pool, &a).await })
        })
        .collect();
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(10);
    loop {
        let waiting: i64 = sqlx::query_scalar(
            "SELECT count(*) FROM pg_stat_activity \
             WHERE datname = current_database() AND wait_event_type = 'Lock'",
        )
        .fetch_one(pool)
        .await
        .unwrap();
        if waiting == appends.len() as i64 {
            break;
        }
        assert!(
            std::time::Instant::now() < deadline,
            "the appends never all reached their writes ({waiting} waiting)"
        );
        tokio::task::yield_now().await;
    }
    assert_eq!(
        count_events(pool).await,
        before,
        "nothing written while they wait"
    );
    holder.commit().await.unwrap();
    let mut results = Vec::new();
    for t in tasks {
        results.push(t.await.unwrap());
    }
    results
}

/// Appends that read the request before another one committed lose the race at their write,
/// which the log's constraints reject whole, and are decided again against what won: the
/// same key is a duplicate, the same version a conflict naming the winner, and an append with
/// no version follows the winner. Every write here is held until all have decided, so each
/// race is lost for certain, not by chance.
#[sqlx::test(migrator = "MIGRATOR")]
async fn appends_that_lose_a_race_are_decided_again_against_the_winner(pool: PgPool) {
    let id = submit(&pool, 100).await.request.id;
    let approve = |key: &str| {
        append_for(
            Target::Existing(id),
            vec![Command::CommercialApproved],
            actor(AE),
            t0(),
            Some(2),
            key,
        )
    };
    let appends = [approve("click-1"), approve("click-1"), approve("click-2")];
    let results = held_at_their_writes(&pool, id, &appends).await;
    assert_eq!(count_events(&pool).await, 3, "one approval");
    let log = store::events::events_of(&pool, id).await.unwrap();
    let approval = log.last().unwrap();
    let won = approval.idempotency_key.as_str();
    for (a, result) in appends.iter().zip(&results) {
        match result {
            Ok(done) => {
                assert_eq!(a.idempotency_key, won, "only the winner's key is recorded");
                assert_eq!(
                    done.events[0].id, approval.id,
                    "the winner, or its duplicate"
                );
            }
            Err(AppendError::Conflict { current, winner }) => {
                assert_ne!(a.idempotency_key, won);
                assert_eq!(*current, approval.version_after);
                assert_eq!(winner.as_ref().map(|w| w.id), Some(approval.id));
            }
            Err(e) => panic!("{}: unexpected {e}", a.idempotency_key),
        }
    }
    let duplicates = results
        .iter()
        .filter(|r| r.as_ref().is_ok_and(|d| d.duplicate))
        .count();
    assert_eq!(duplicates, usize::from(won == "click-1"));

    let comment = |key: &str| {
        append_for(
            Target::Existing(id),
            vec![Command::CommentAdded { text: key.into() }],
            actor(APPROVER),
            t0(),
            None,
            key,
        )
    };
    let appends = [comment("comment-1"), comment("comment-2")];
    let results = held_at_their_writes(&pool, id, &appends).await;
    let seqs: Vec<i32> = results
        .iter()
        .map(|r| r.as_ref().expect("both recorded").events[0].seq)
        .collect();
    assert!(
        seqs.contains(&4) && seqs.contains(&5),
        "one after the other: {seqs:?}"
    );
    let stored = store::requests::by_id(&pool, id).await.unwrap().unwrap();
    assert_eq!(stored.seq, 5);
}

#[sqlx::test(migrator = "MIGRATOR")]
async fn the_same_idempotency_key_from_two_tasks_at_once_records_once(pool: PgPool) {
    let id = submit(&pool, 100).await.request.id;
    let append = Arc::new(append_for(
        Target::Existing(id),
        vec![Command::CommentAdded {
            text: "same envelope".into(),
        }],
        actor(AE),
        t0(),
        None,
        "envelope-dup",
    ));
    let tasks: Vec<_> = (0..8)
        .map(|_| {
            let (pool, append) = (pool.clone(), append.clone());
            tokio::spawn(async move { store::events::append(&pool, &append).await })
        })
        .collect();
    let mut fresh = 0;
    for t in tasks {
        let r = t.await.unwrap().unwrap();
        fresh += usize::from(!r.duplicate);
    }
    assert_eq!(fresh, 1);
    assert_eq!(count_events(&pool).await, 3);
}

#[sqlx::test(migrator = "MIGRATOR")]
async fn twenty_tasks_at_one_version_one_wins_and_the_rest_learn_who(pool: PgPool) {
    let id = submit(&pool, 100).await.request.id;
    let users = [AE, APPROVER, BOTH];
    let tasks: Vec<_> = (0..20)
        .map(|i| {
            let pool = pool.clone();
            let user = users[i % users.len()];
            tokio::spawn(async move {
                let append = append_for(
                    Target::Existing(id),
                    vec![Command::CommercialApproved],
                    actor(user),
                    t0(),
                    Some(2),
                    &format!("task-{i}"),
                );
                store::events::append(&pool, &append).await
            })
        })
        .collect();
    let mut winners = Vec::new();
    let mut conflicts = Vec::new();
    for t in tasks {
        match t.await.unwrap() {
            Ok(a) => winners.push(a),
            Err(AppendError::Conflict { current, winner }) => conflicts.push((current, winner)),
            Err(e) => panic!("unexpected: {e}"),
        }
    }
    assert_eq!(winners.len(), 1);
    assert_eq!(conflicts.len(), 19);
    let won = &winners[0].events[0];
    for (current, winner) in conflicts {
        assert_eq!(current, 3);
        assert_eq!(winner.as_deref(), Some(won));
    }
    assert_eq!(count_events(&pool).await, 3);
    let stored = store::requests::by_id(&pool, id).await.unwrap().unwrap();
    assert_eq!(stored.version, 3);
    assert_eq!(stored.seq, 3);
    assert_eq!(stored.state, State::TechnicalReviewRequired);
}

#[sqlx::test(migrator = "MIGRATOR")]
async fn an_unknown_request_is_not_found(pool: PgPool) {
    let err = store::events::append(
        &pool,
        &append_for(
            Target::Existing(RequestId(uuid::Uuid::now_v7())),
            vec![Command::CommercialApproved],
            actor(AE),
            t0(),
            None,
            "nope",
        ),
    )
    .await
    .unwrap_err();
    assert!(matches!(err, AppendError::NotFound));
}

#[sqlx::test(migrator = "MIGRATOR")]
async fn timers_record_with_the_scheduler_as_actor(pool: PgPool) {
    let id = submit(&pool, 100).await.request.id;
    click(&pool, id, AE, Command::CommercialApproved, t0())
        .await
        .unwrap();
    click(&pool, id, INFRA, Command::TechnicalApproved, t0())
        .await
        .unwrap();
    let due = store::requests::by_id(&pool, id)
        .await
        .unwrap()
        .unwrap()
        .deadline
        .unwrap()
        .at;
    let append = append_for(
        Target::Existing(id),
        vec![Command::CustomerConfirmationTimeout],
        Actor::Scheduler,
        due,
        None,
        "timeout",
    );
    let r = store::events::append(&pool, &append).await.unwrap();
    assert_eq!(r.request.state, State::Expired);
    assert_eq!(r.events[0].actor.label(), "scheduler");
    let effects: Vec<Effect> = store::outbox::of_request(&pool, id)
        .await
        .unwrap()
        .into_iter()
        .map(|(r, _)| r.effect)
        .collect();
    assert!(
        effects.contains(&Effect::DirectMessage { to: uid(AE) }),
        "{effects:?}"
    );
}

/// The outbox's claim reads each claimed request's Slack lane in its own statement, as the
/// lane's read on its own would: the request (carried as JSON), its links, its waiting root
/// updates, and its log only when a claimed row of the lane renders from it.
#[sqlx::test(migrator = "MIGRATOR")]
async fn a_claim_reads_each_request_lane_as_the_lane_would_read_it(pool: PgPool) {
    let later = t0() + Duration::hours(1);
    // A: its submission's root post and reply, then an approval's root update and reply.
    let a = submit(&pool, 10_000).await.request.id;
    click(&pool, a, AE, Command::CommercialApproved, t0())
        .await
        .expect("approved");
    store::requests::set_root_message(&pool, a, "C1", "1.1", Some("https://slack/p1"))
        .await
        .expect("links");
    // B: only root updates are left, so nothing of its lane renders from the log.
    let b = submit(&pool, 20_000).await.request.id;
    click(&pool, b, AE, Command::CommercialApproved, t0())
        .await
        .expect("approved");
    sqlx::query(
        "UPDATE capacity.outbox SET status = 'delivered' \
         WHERE request_id = $1 AND effect->>'type' <> 'update_root_message'",
    )
    .bind(b.0)
    .execute(&pool)
    .await
    .expect("delivered");

    let claim = store::outbox::claim(&pool, "w", later, later + Duration::minutes(1), 10, 10)
        .await
        .expect("claim");
    assert_eq!(claim.readings.len(), 2, "{:?}", claim.readings);
    for (id, with_log) in [(a, true), (b, false)] {
        let claimed = claim.readings.get(&id).expect("the lane was read");
        let own = store::requests::with_links_and_waiting_updates(&pool, id, with_log)
            .await
            .expect("read")
            .expect("request");
        assert_eq!(claimed.request, own.request);
        assert_eq!(claimed.links, own.links);
        assert_eq!(claimed.waiting, own.waiting);
        assert_eq!(claimed.log, own.log);
        assert_eq!(claimed.log.is_some(), with_log);
        assert!(
            !claimed.waiting.is_empty(),
            "the owner's and the approval's root updates"
        );
    }
    let read_a = &claim.readings[&a];
    assert_eq!(read_a.links.slack_ts.as_deref(), Some("1.1"));
    assert_eq!(
        read_a.log.as_ref().map(Vec::len),
        Some(3),
        "submitted, owner, approved"
    );
}

/// An append's writing statement is planned once per connection and then reused, leased or
/// not: Postgres keeps a generic plan for it. (Its lease once asked "is anything pending?" per
/// row, which made every custom plan look cheaper than the generic one, and every append
/// planned the whole statement again: about 0.7 ms of the database's CPU per click.)
#[sqlx::test(migrator = "MIGRATOR")]
async fn an_appends_writing_statement_is_planned_once_not_on_every_append(pool: PgPool) {
    // One connection, so every statement below is prepared on it and its counts are its.
    let one = sqlx::postgres::PgPoolOptions::new()
        .max_connections(1)
        .connect_with((*pool.connect_options()).clone())
        .await
        .expect("a one-connection pool");
    const APPROVALS: i64 = 12;
    for n in 0..APPROVALS {
        let id = submit(&one, 10_000).await.request.id;
        // Its root posted: nothing of its Slack lane is pending, so an approval may lease.
        sqlx::query("UPDATE capacity.outbox SET status = 'delivered' WHERE request_id = $1")
            .bind(id.0)
            .execute(&one)
            .await
            .unwrap();
        let append = click_append(&one, id, AE, Command::CommercialApproved, t0()).await;
        // Half of them leased to a worker, as the daemon's appends are.
        let lease = (n % 2 == 0).then(|| {
            let lease = store::Lease {
                worker: "outbox-test".into(),
                until: t0() + store::outbox::LEASE,
            };
            let hand_to: store::HandTo = Box::new(drop);
            (lease, hand_to)
        });
        store::events::append_leasing(&one, &append, lease)
            .await
            .expect("approved");
    }
    let leased: i64 =
        sqlx::query_scalar("SELECT count(*) FROM capacity.outbox WHERE claimed_by = 'outbox-test'")
            .fetch_one(&one)
            .await
            .unwrap();
    assert_eq!(
        leased, 12,
        "the six leased approvals' root updates and replies"
    );

    let (generic, custom): (i64, i64) = sqlx::query_as(
        "SELECT generic_plans, custom_plans FROM pg_prepared_statements \
         WHERE statement LIKE 'WITH projected AS (INSERT INTO capacity.capacity_requests%'",
    )
    .fetch_one(&one)
    .await
    .expect("the writing statement is prepared on this connection");
    // Postgres plans a prepared statement for its first five executions' parameters, then
    // keeps the generic plan when it costs no more than theirs did.
    assert_eq!(generic + custom, 2 * APPROVALS, "submissions and approvals");
    assert!(
        custom <= 5,
        "{custom} custom plans, {generic} runs of the generic plan"
    );
}
