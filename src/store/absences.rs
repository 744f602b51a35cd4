//! Absences: `capacity.absences`, append-only. Going away is an `away` row; coming back (by
//! `/capacity back`, by going away again, or because the last day passed) is a `back` row
//! naming it. An absence is active while no `back` row names it; the unique `ends` column
//! makes it end once however many replicas try. Active absences are read through
//! `capacity.absences_active`, which a trigger keeps in step with the record (one row per
//! absence without a `back` row), so reading them costs what is active, not the history.

use chrono::{DateTime, NaiveDate, Utc};
use sqlx::{FromRow, PgPool};
use uuid::Uuid;

use super::StoreError;
use crate::domain::{RequestId, UserId};

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Absence {
    pub id: Uuid,
    pub user: UserId,
    pub delegate: UserId,
    /// The last day away, in the calendar's zone.
    pub until: NaiveDate,
    pub recorded_at: DateTime<Utc>,
}

#[derive(FromRow)]
struct AbsenceRow {
    id: Uuid,
    user_id: String,
    delegate: Option<String>,
    until: Option<NaiveDate>,
    recorded_at: DateTime<Utc>,
}

impl AbsenceRow {
    fn into_absence(self) -> Result<Absence, StoreError> {
        let bad = |what: &str| StoreError::Corrupt(format!("absence {}: {what}", self.id));
        let user = UserId::parse(&self.user_id).map_err(|e| bad(&e))?;
        let delegate = self
            .delegate
            .as_deref()
            .ok_or_else(|| bad("no delegate"))
            .and_then(|d| UserId::parse(d).map_err(|e| bad(&e)))?;
        Ok(Absence {
            id: self.id,
            user,
            delegate,
            until: self.until.ok_or_else(|| bad("no last day"))?,
            recorded_at: self.recorded_at,
        })
    }
}

const ACTIVE: &str = "SELECT a.id, a.user_id, a.delegate, a.until, a.recorded_at \
     FROM capacity.absences_active o \
     JOIN capacity.absences a ON a.id = o.absence \
     WHERE a.kind = 'away'";

/// `user`'s active absence, if any (the latest, should two have raced).
pub async fn active_of(pool: &PgPool, user: &UserId) -> Result<Option<Absence>, StoreError> {
    let row: Option<AbsenceRow> = sqlx::query_as(sqlx::AssertSqlSafe(format!(
        "{ACTIVE} AND o.user_id = $1 ORDER BY a.recorded_at DESC LIMIT 1"
    )))
    .bind(user.as_str())
    .fetch_optional(pool)
    .await?;
    row.map(AbsenceRow::into_absence).transpose()
}

/// Records that `user` is away until `until` with `delegate` deciding for them, ending any
/// absence of theirs still active, in one transaction.
pub async fn record_away(
    pool: &PgPool,
    user: &UserId,
    delegate: &UserId,
    until: NaiveDate,
    now: DateTime<Utc>,
) -> Result<Absence, StoreError> {
    let mut tx = pool.begin().await?;
    // Two `away` commands of one person at once: the second waits, then ends the first.
    sqlx::query("SELECT pg_advisory_xact_lock(hashtextextended($1, 0))")
        .bind(format!("absence:{user}"))
        .execute(&mut *tx)
        .await?;
    let previous: Vec<Uuid> = sqlx::query_scalar(sqlx::AssertSqlSafe(format!(
        "SELECT id FROM ({ACTIVE} AND o.user_id = $1) q"
    )))
    .bind(user.as_str())
    .fetch_all(&mut *tx)
    .await?;
    for id in previous {
        insert_back(&mut tx, id, user.as_str(), now).await?;
    }
    let id = Uuid::new_v4();
    sqlx::query(
        "INSERT INTO capacity.absences (id, kind, user_id, delegate, until, recorded_at) \
         VALUES ($1, 'away', $2, $3, $4, $5)",
    )
    .bind(id)
    .bind(user.as_str())
    .bind(delegate.as_str())
    .bind(until)
    .bind(now)
    .execute(&mut *tx)
    .await?;
    tx.commit().await?;
    Ok(Absence {
        id,
        user: user.clone(),
        delegate: delegate.clone(),
        until,
        recorded_at: now,
    })
}

async fn insert_back(
    conn: &mut sqlx::PgConnection,
    absence: Uuid,
    ended_by: &str,
    now: DateTime<Utc>,
) -> Result<bool, StoreError> {
    let done = sqlx::query(
        "INSERT INTO capacity.absences (id, kind, user_id, ends, ended_by, recorded_at) \
         SELECT $1, 'back', a.user_id, a.id, $3, $4 FROM capacity.absences a WHERE a.id = $2 \
         ON CONFLICT (ends) DO NOTHING",
    )
    .bind(Uuid::new_v4())
    .bind(absence)
    .bind(ended_by)
    .bind(now)
    .execute(conn)
    .await?;
    Ok(done.rows_affected() == 1)
}

/// Ends `absence`. `ended_by` is the person, or `scheduler` when its date passed. Returns
/// whether this call ended it (false: it had ended already).
pub async fn record_back(
    pool: &PgPool,
    absence: Uuid,
    ended_by: &str,
    now: DateTime<Utc>,
) -> Result<bool, StoreError> {
    let mut conn = pool.acquire().await?;
    insert_back(&mut conn, absence, ended_by, now).await
}

/// Active absences whose last day is before `today`: due to end. At most `limit`.
pub async fn due_to_end(
    pool: &PgPool,
    today: NaiveDate,
    limit: i64,
) -> Result<Vec<Absence>, StoreError> {
    let rows: Vec<AbsenceRow> = sqlx::query_as(sqlx::AssertSqlSafe(format!(
        "{ACTIVE} AND o.until < $1 ORDER BY o.until LIMIT $2"
    )))
    .bind(today)
    .bind(limit)
    .fetch_all(pool)
    .await?;
    rows.into_iter().map(AbsenceRow::into_absence).collect()
}

/// Open requests `user` owns (commercially or technically): what an absence delegates.
pub async fn open_requests_owned_by(
    pool: &PgPool,
    user: &UserId,
) -> Result<Vec<RequestId>, StoreError> {
    let ids: Vec<Uuid> = sqlx::query_scalar(
        "SELECT id FROM capacity.capacity_requests \
         WHERE (commercial_owner = $1 OR technical_owner = $1) \
           AND state NOT IN ('ACTIVATED', 'CANCELLED', 'FAILED') \
         ORDER BY number",
    )
    .bind(user.as_str())
    .fetch_all(pool)
    .await?;
    Ok(ids.into_iter().map(RequestId).collect())
}

/// Requests on which `user`'s decisions are delegated now: what their return gives back.
pub async fn requests_delegated_from(
    pool: &PgPool,
    user: &UserId,
) -> Result<Vec<RequestId>, StoreError> {
    let ids: Vec<Uuid> = sqlx::query_scalar(
        "SELECT id FROM capacity.capacity_requests \
         WHERE attention -> 'delegations' @> jsonb_build_array(jsonb_build_object('from', $1::text)) \
         ORDER BY number",
    )
    .bind(user.as_str())
    .fetch_all(pool)
    .await?;
    Ok(ids.into_iter().map(RequestId).collect())
}
