//! The outbox table: side effects waiting for delivery.

use chrono::{DateTime, Utc};
use sqlx::types::Json;
use sqlx::{FromRow, PgPool};
use uuid::Uuid;

use super::StoreError;
use crate::domain::{Effect, RequestId};

#[derive(Debug, Clone, PartialEq)]
pub struct OutboxRow {
    pub id: i64,
    pub request_id: RequestId,
    pub event_id: Uuid,
    pub effect: Effect,
    pub attempts: i32,
    pub created_at: DateTime<Utc>,
}

#[derive(FromRow)]
struct Raw {
    id: i64,
    request_id: Uuid,
    event_id: Uuid,
    effect: Json<Effect>,
    attempts: i32,
    created_at: DateTime<Utc>,
}

impl From<Raw> for OutboxRow {
    fn from(r: Raw) -> Self {
        OutboxRow {
            id: r.id,
            request_id: RequestId(r.request_id),
            event_id: r.event_id,
            effect: r.effect.0,
            attempts: r.attempts,
            created_at: r.created_at,
        }
    }
}

/// Every row of one request, in order (tests and `requests show`).
pub async fn of_request(pool: &PgPool, id: RequestId) -> Result<Vec<(OutboxRow, String)>, StoreError> {
    #[derive(FromRow)]
    struct WithStatus {
        #[sqlx(flatten)]
        raw: Raw,
        status: String,
    }
    let rows: Vec<WithStatus> = sqlx::query_as(
        "SELECT id, request_id, event_id, effect, attempts, created_at, status \
         FROM capacity.outbox WHERE request_id = $1 ORDER BY id",
    )
    .bind(id.0)
    .fetch_all(pool)
    .await?;
    Ok(rows.into_iter().map(|r| (r.raw.into(), r.status)).collect())
}

/// Pending rows and the age of the oldest, for metrics and `/readyz`.
pub async fn depth(pool: &PgPool, now: DateTime<Utc>) -> Result<(i64, Option<f64>), StoreError> {
    let (count, oldest): (i64, Option<DateTime<Utc>>) = sqlx::query_as(
        "SELECT count(*), min(created_at) FROM capacity.outbox WHERE status = 'pending'",
    )
    .fetch_one(pool)
    .await?;
    Ok((count, oldest.map(|o| (now - o).num_milliseconds() as f64 / 1000.0)))
}
