//! Builders shared by the integration tests.

pub mod fake_linear;
pub mod harness;

use capacity_bot::domain::testkit::{actor, submission, t0};
use capacity_bot::domain::{Actor, Command, Policy, RequestId, RequestNumber, UserId};
use capacity_bot::store::{self, Append, AppendError, Appended, Target};
use chrono::{DateTime, Utc};
use sqlx::PgPool;
use uuid::Uuid;

pub fn append_for(
    target: Target,
    commands: Vec<Command>,
    who: Actor,
    now: DateTime<Utc>,
    expected_version: Option<i32>,
    key: &str,
) -> Append {
    Append {
        target,
        commands,
        actor: who,
        policy: Policy::default(),
        now,
        expected_version,
        idempotency_key: key.to_string(),
        envelope_id: None,
        linear: None,
    }
}

/// Submits a request from REQUESTER naming AE (submitted + commercial_owner_assigned).
pub async fn submit(pool: &PgPool, cost_usd: i64) -> Appended {
    let details = submission(cost_usd);
    let owner: UserId = details
        .commercial_owner
        .clone()
        .expect("the builder names an AE");
    let id = RequestId(Uuid::now_v7());
    store::events::append(
        pool,
        &append_for(
            Target::New(id),
            vec![
                Command::Submitted {
                    number: RequestNumber(0),
                    details,
                },
                Command::CommercialOwnerAssigned { owner },
            ],
            actor(capacity_bot::domain::testkit::REQUESTER),
            t0(),
            None,
            &format!("submit:{id}"),
        ),
    )
    .await
    .expect("submission is recorded")
}

/// Records one click by `user` at the request's current version.
pub async fn click(
    pool: &PgPool,
    id: RequestId,
    user: &str,
    command: Command,
    now: DateTime<Utc>,
) -> Result<Appended, AppendError> {
    store::events::append(pool, &click_append(pool, id, user, command, now).await).await
}

/// The append of `user` clicking `command` on request `id` as it is now (its version, a key
/// of its own).
pub async fn click_append(
    pool: &PgPool,
    id: RequestId,
    user: &str,
    command: Command,
    now: DateTime<Utc>,
) -> Append {
    let current = store::requests::by_id(pool, id)
        .await
        .expect("db")
        .expect("request exists");
    let key = format!("click:{id}:{}:{}:{user}", current.version, command.kind());
    append_for(
        Target::Existing(id),
        vec![command],
        actor(user),
        now,
        Some(current.version),
        &key,
    )
}

pub async fn count_events(pool: &PgPool) -> i64 {
    sqlx::query_scalar("SELECT count(*) FROM capacity.capacity_request_events")
        .fetch_one(pool)
        .await
        .expect("count events")
}
