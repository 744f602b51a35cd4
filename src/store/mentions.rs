//! Replies to messages that mention `CR-<n>`: one per thread (`capacity.mention_replies`),
//! queued with its outbox row in one transaction, and what the reply reads when delivered.

use chrono::{DateTime, Utc};
use sqlx::types::Json;
use sqlx::{FromRow, PgPool};

use super::rows::{RequestRow, REQUEST_COLUMNS};
use super::StoreError;
use crate::domain::{Effect, Request, RequestNumber};

/// Which of `numbers` name a request that exists, in the order given.
pub async fn known(
    pool: &PgPool,
    numbers: &[RequestNumber],
) -> Result<Vec<RequestNumber>, StoreError> {
    let wanted: Vec<i64> = numbers.iter().map(|n| n.0).collect();
    let found: Vec<i64> =
        sqlx::query_scalar("SELECT number FROM capacity.capacity_requests WHERE number = ANY($1)")
            .bind(&wanted)
            .fetch_all(pool)
            .await?;
    Ok(numbers
        .iter()
        .copied()
        .filter(|n| found.contains(&n.0))
        .collect())
}

/// Records that the thread `(channel, thread_ts)` gets a reply about `numbers`, and queues
/// it, unless the thread already has one. With redeliveries and replicas racing, exactly one
/// call returns `true` (the thread is the primary key).
pub async fn queue_reply(
    pool: &PgPool,
    channel: &str,
    thread_ts: &str,
    numbers: &[RequestNumber],
    now: DateTime<Utc>,
) -> Result<bool, StoreError> {
    let mut tx = pool.begin().await?;
    let wanted: Vec<i64> = numbers.iter().map(|n| n.0).collect();
    let inserted = sqlx::query(
        "INSERT INTO capacity.mention_replies (channel, thread_ts, numbers, created_at) \
         VALUES ($1, $2, $3, $4) ON CONFLICT (channel, thread_ts) DO NOTHING",
    )
    .bind(channel)
    .bind(thread_ts)
    .bind(&wanted)
    .bind(now)
    .execute(&mut *tx)
    .await?
    .rows_affected()
        == 1;
    if inserted {
        let effect = Effect::PostMentionReply {
            channel: channel.to_string(),
            thread_ts: thread_ts.to_string(),
            numbers: numbers.to_vec(),
        };
        sqlx::query(
            "INSERT INTO capacity.outbox (request_id, event_id, effect, lane, next_attempt_at, created_at) \
             VALUES (NULL, NULL, $1, $2, $3, $3)",
        )
        .bind(Json(&effect))
        .bind(effect.lane())
        .bind(now)
        .execute(&mut *tx)
        .await?;
        sqlx::query("SELECT pg_notify($1, $2)")
            .bind(super::OUTBOX_CHANNEL)
            .bind(format!("mention:{channel}:{thread_ts}"))
            .execute(&mut *tx)
            .await?;
    }
    tx.commit().await?;
    Ok(inserted)
}

/// The threads that got (or will get) a reply, as `(channel, thread_ts, numbers)`, oldest
/// first (tests and `demo`).
pub async fn all(pool: &PgPool) -> Result<Vec<(String, String, Vec<i64>)>, StoreError> {
    Ok(sqlx::query_as(
        "SELECT channel, thread_ts, numbers FROM capacity.mention_replies ORDER BY created_at, channel, thread_ts",
    )
    .fetch_all(pool)
    .await?)
}

/// The requests `numbers` name, as they are now, with their root message's permalink, in
/// the order given; numbers with no request are left out.
pub async fn cards(
    pool: &PgPool,
    numbers: &[RequestNumber],
) -> Result<Vec<(Request, Option<String>)>, StoreError> {
    #[derive(FromRow)]
    struct Row {
        #[sqlx(flatten)]
        request: RequestRow,
        permalink: Option<String>,
    }
    let wanted: Vec<i64> = numbers.iter().map(|n| n.0).collect();
    let rows: Vec<Row> = sqlx::query_as(sqlx::AssertSqlSafe(format!(
        "SELECT q.*, l.permalink FROM ( \
           SELECT {REQUEST_COLUMNS} FROM capacity.capacity_requests WHERE number = ANY($1)) q \
         LEFT JOIN capacity.request_links l ON l.request_id = q.id"
    )))
    .bind(&wanted)
    .fetch_all(pool)
    .await?;
    let mut found = rows
        .into_iter()
        .map(|r| Ok((r.request.into_request()?, r.permalink)))
        .collect::<Result<Vec<_>, StoreError>>()?;
    found.sort_by_key(|(r, _)| numbers.iter().position(|n| *n == r.number));
    Ok(found)
}
