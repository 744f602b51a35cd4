//! The weekly digest: one row per week's slot, what it posted, and what it reads besides
//! `report`'s queries (open requests with their links, the week's decisions).

use chrono::{DateTime, Utc};
use sqlx::types::Json;
use sqlx::{FromRow, PgPool};

use super::rows::{RequestRow, REQUEST_COLUMNS};
use super::StoreError;
use crate::domain::{Effect, Request};

/// One week's digest and how far its delivery got.
#[derive(Debug, Clone, PartialEq, Eq, FromRow)]
pub struct DigestRow {
    pub slot: DateTime<Utc>,
    pub channel: String,
    pub created_at: DateTime<Utc>,
    pub message_ts: Option<String>,
    pub permalink: Option<String>,
    pub file_id: Option<String>,
    pub posted_at: Option<DateTime<Utc>>,
    /// The first slot a daemon saw: recorded, never posted.
    pub baseline: bool,
}

/// What [`queue`] did.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Queued {
    /// This call recorded the slot and queued its delivery.
    Posting,
    /// No digest was ever recorded: the slot is recorded as the baseline, not posted.
    Baseline,
    /// The slot was already recorded (by this replica or another).
    AlreadyRecorded,
}

/// Records the digest of `slot` and queues its delivery, in one transaction, unless that
/// slot is already recorded. With any number of replicas calling at once, exactly one gets
/// [`Queued::Posting`] (the slot is the primary key). When no digest was ever recorded, the
/// slot becomes the baseline instead: a new install starts with the next week.
pub async fn queue(
    pool: &PgPool,
    slot: DateTime<Utc>,
    channel: &str,
    now: DateTime<Utc>,
) -> Result<Queued, StoreError> {
    let mut tx = pool.begin().await?;
    let baseline: bool = sqlx::query_scalar("SELECT NOT EXISTS (SELECT 1 FROM capacity.digests)")
        .fetch_one(&mut *tx)
        .await?;
    let inserted = sqlx::query(
        "INSERT INTO capacity.digests (slot, channel, created_at, baseline) VALUES ($1, $2, $3, $4) \
         ON CONFLICT (slot) DO NOTHING",
    )
    .bind(slot)
    .bind(channel)
    .bind(now)
    .bind(baseline)
    .execute(&mut *tx)
    .await?
    .rows_affected()
        == 1;
    if !inserted {
        tx.commit().await?;
        return Ok(Queued::AlreadyRecorded);
    }
    if !baseline {
        let effect = Effect::PostWeeklyDigest { slot };
        sqlx::query(
            "INSERT INTO capacity.outbox (request_id, event_id, effect, lane, next_attempt_at, created_at) \
             VALUES (NULL, NULL, $1, $2, $3, $3)",
        )
        .bind(Json(&effect))
        .bind(effect.lane())
        .bind(now)
        .execute(&mut *tx)
        .await?;
        // Delivered to listeners only if the transaction commits.
        sqlx::query("SELECT pg_notify($1, $2)")
            .bind(super::OUTBOX_CHANNEL)
            .bind(format!("digest:{}", slot.to_rfc3339()))
            .execute(&mut *tx)
            .await?;
    }
    tx.commit().await?;
    Ok(if baseline {
        Queued::Baseline
    } else {
        Queued::Posting
    })
}

pub async fn get(pool: &PgPool, slot: DateTime<Utc>) -> Result<Option<DigestRow>, StoreError> {
    Ok(sqlx::query_as(
        "SELECT slot, channel, created_at, message_ts, permalink, file_id, posted_at, baseline \
         FROM capacity.digests WHERE slot = $1",
    )
    .bind(slot)
    .fetch_optional(pool)
    .await?)
}

/// Every digest recorded, oldest first (tests, `demo`).
pub async fn all(pool: &PgPool) -> Result<Vec<DigestRow>, StoreError> {
    Ok(sqlx::query_as(
        "SELECT slot, channel, created_at, message_ts, permalink, file_id, posted_at, baseline \
         FROM capacity.digests ORDER BY slot",
    )
    .fetch_all(pool)
    .await?)
}

/// The digest message is posted: a retry uploads the chart without posting it again.
pub async fn set_message(
    pool: &PgPool,
    slot: DateTime<Utc>,
    ts: &str,
    permalink: Option<&str>,
) -> Result<(), StoreError> {
    sqlx::query("UPDATE capacity.digests SET message_ts = $2, permalink = $3 WHERE slot = $1")
        .bind(slot)
        .bind(ts)
        .bind(permalink)
        .execute(pool)
        .await?;
    Ok(())
}

/// The chart is shared: the digest is complete.
pub async fn set_posted(
    pool: &PgPool,
    slot: DateTime<Utc>,
    file_id: &str,
    now: DateTime<Utc>,
) -> Result<(), StoreError> {
    sqlx::query("UPDATE capacity.digests SET file_id = $2, posted_at = $3 WHERE slot = $1")
        .bind(slot)
        .bind(file_id)
        .bind(now)
        .execute(pool)
        .await?;
    Ok(())
}

/// Open requests (not activated, cancelled or failed) with their root message's permalink,
/// oldest first.
pub async fn open_with_permalinks(
    pool: &PgPool,
) -> Result<Vec<(Request, Option<String>)>, StoreError> {
    #[derive(FromRow)]
    struct Row {
        #[sqlx(flatten)]
        request: RequestRow,
        permalink: Option<String>,
    }
    let rows: Vec<Row> = sqlx::query_as(sqlx::AssertSqlSafe(format!(
        "SELECT q.*, l.permalink FROM ( \
           SELECT {REQUEST_COLUMNS} FROM capacity.capacity_requests \
           WHERE state NOT IN ('ACTIVATED', 'CANCELLED', 'FAILED')) q \
         LEFT JOIN capacity.request_links l ON l.request_id = q.id \
         ORDER BY q.number"
    )))
    .fetch_all(pool)
    .await?;
    rows.into_iter()
        .map(|r| Ok((r.request.into_request()?, r.permalink)))
        .collect()
}

/// A decision someone recorded.
#[derive(Debug, Clone, PartialEq, Eq, FromRow)]
pub struct DecisionRow {
    pub number: i64,
    pub customer: String,
    pub kind: String,
    /// A Slack user id (decisions are people's).
    pub actor: String,
    pub occurred_at: DateTime<Utc>,
    pub permalink: Option<String>,
    /// How many decisions the window holds, beyond the `limit` returned.
    pub total: i64,
}

/// Events of `kinds` recorded by people in `[from, to)`, oldest first, at most `limit`;
/// each row also carries the window's total (counted before the limit).
pub async fn decisions_between(
    pool: &PgPool,
    kinds: &[&str],
    from: DateTime<Utc>,
    to: DateTime<Utc>,
    limit: i64,
) -> Result<Vec<DecisionRow>, StoreError> {
    Ok(sqlx::query_as(
        "SELECT r.number, r.customer, e.kind, e.actor, e.occurred_at, l.permalink, \
                count(*) OVER () AS total \
         FROM capacity.capacity_request_events e \
         JOIN capacity.capacity_requests r ON r.id = e.request_id \
         LEFT JOIN capacity.request_links l ON l.request_id = e.request_id \
         WHERE e.kind = ANY($1) AND e.occurred_at >= $2 AND e.occurred_at < $3 \
           AND e.actor NOT IN ('scheduler', 'control-plane') \
         ORDER BY e.occurred_at, e.request_id, e.seq LIMIT $4",
    )
    .bind(kinds)
    .bind(from)
    .bind(to)
    .bind(limit)
    .fetch_all(pool)
    .await?)
}
