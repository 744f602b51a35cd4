//! What the scheduler's sweeps read: due deadlines and due reminders.
//!
//! Both queries compare with the `now` they are given (the daemon's clock), never the
//! database's `now()`, so a test clock moves every timer and two replicas with the same
//! clock agree on what is due. Both read through a partial index on the due column, so a
//! sweep costs what is due, not what exists. Nothing is locked here: what makes a timeout or
//! a reminder fire once however many replicas sweep is its idempotency key, unique in the
//! log, which the append that follows checks (`store::events`).

use chrono::{DateTime, Utc};
use sqlx::{FromRow, PgPool};
use uuid::Uuid;

use super::rows::{deadline_kind, RequestRow, REQUEST_COLUMNS};
use super::StoreError;
use crate::domain::{Deadline, Request, RequestId};

#[derive(FromRow)]
struct DueRow {
    id: Uuid,
    deadline_kind: String,
    deadline_at: DateTime<Utc>,
    state_entered_at: DateTime<Utc>,
}

/// Requests whose deadline is at or before `now`, earliest first, at most `limit`: each
/// with its deadline and when it entered its state (both go into the timeout's key).
pub async fn due_deadlines(
    pool: &PgPool,
    now: DateTime<Utc>,
    limit: i64,
) -> Result<Vec<(RequestId, Deadline, DateTime<Utc>)>, StoreError> {
    let rows: Vec<DueRow> = sqlx::query_as(
        "SELECT id, deadline_kind, deadline_at, state_entered_at \
         FROM capacity.capacity_requests \
         WHERE deadline_at IS NOT NULL AND deadline_at <= $1 \
         ORDER BY deadline_at LIMIT $2",
    )
    .bind(now)
    .bind(limit)
    .fetch_all(pool)
    .await?;
    rows.into_iter()
        .map(|r| {
            let kind = deadline_kind(&r.deadline_kind).ok_or_else(|| {
                StoreError::Corrupt(format!("request {}: bad deadline_kind", r.id))
            })?;
            Ok((
                RequestId(r.id),
                Deadline {
                    kind,
                    at: r.deadline_at,
                },
                r.state_entered_at,
            ))
        })
        .collect()
}

/// Requests whose next reminder is due at or before `now`, earliest first, at most `limit`.
pub async fn due_reminders(
    pool: &PgPool,
    now: DateTime<Utc>,
    limit: i64,
) -> Result<Vec<Request>, StoreError> {
    due_reminders_after(pool, now, None, limit).await
}

/// A page of the requests whose reminder is due at or before `now`, in (due time, id)
/// order, starting after `after`: a sweep pages past rows it could not act on, so a full
/// page of them never hides the reminders behind it.
pub async fn due_reminders_after(
    pool: &PgPool,
    now: DateTime<Utc>,
    after: Option<(DateTime<Utc>, RequestId)>,
    limit: i64,
) -> Result<Vec<Request>, StoreError> {
    let (after_at, after_id) = after.map_or((None, None), |(at, id)| (Some(at), Some(id.0)));
    let rows: Vec<RequestRow> = sqlx::query_as(sqlx::AssertSqlSafe(format!(
        "SELECT {REQUEST_COLUMNS} FROM capacity.capacity_requests \
         WHERE reminder_due_at IS NOT NULL AND reminder_due_at <= $1 \
           AND ($3::timestamptz IS NULL OR (reminder_due_at, id) > ($3, $4)) \
         ORDER BY reminder_due_at, id LIMIT $2"
    )))
    .bind(now)
    .bind(limit)
    .bind(after_at)
    .bind(after_id)
    .fetch_all(pool)
    .await?;
    rows.into_iter().map(RequestRow::into_request).collect()
}

/// Requests whose break-glass review reminder is due at or before `now`, earliest first.
pub async fn due_reviews(
    pool: &PgPool,
    now: DateTime<Utc>,
    limit: i64,
) -> Result<Vec<Request>, StoreError> {
    let rows: Vec<RequestRow> = sqlx::query_as(sqlx::AssertSqlSafe(format!(
        "SELECT {REQUEST_COLUMNS} FROM capacity.capacity_requests \
         WHERE review_due_at IS NOT NULL AND review_due_at <= $1 \
         ORDER BY review_due_at LIMIT $2"
    )))
    .bind(now)
    .bind(limit)
    .fetch_all(pool)
    .await?;
    rows.into_iter().map(RequestRow::into_request).collect()
}
