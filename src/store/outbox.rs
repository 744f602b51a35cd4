//! The outbox table: side effects waiting for delivery.

use chrono::{DateTime, Utc};
use sqlx::types::Json;
use std::collections::HashMap;
use std::sync::LazyLock;

use sqlx::{FromRow, PgExecutor, PgPool};
use uuid::Uuid;

use super::requests::{LaneReading, LaneReadingJson};
use super::StoreError;
use crate::domain::{Effect, RequestId};

/// How long a worker holds the rows it claims (or an append leased to it) before any other
/// worker may take them: a worker that dies delays its rows by this much at most.
pub const LEASE: chrono::Duration = chrono::Duration::seconds(60);

#[derive(Debug, Clone, PartialEq)]
pub struct OutboxRow {
    pub id: i64,
    /// The request and event the effect follows; `None` for the weekly digest.
    pub request_id: Option<RequestId>,
    pub event_id: Option<Uuid>,
    pub effect: Effect,
    pub attempts: i32,
    pub created_at: DateTime<Utc>,
}

#[derive(FromRow)]
struct Raw {
    id: i64,
    request_id: Option<Uuid>,
    event_id: Option<Uuid>,
    effect: Json<Effect>,
    attempts: i32,
    created_at: DateTime<Utc>,
}

impl From<Raw> for OutboxRow {
    fn from(r: Raw) -> Self {
        OutboxRow {
            id: r.id,
            request_id: r.request_id.map(RequestId),
            event_id: r.event_id,
            effect: r.effect.0,
            attempts: r.attempts,
            created_at: r.created_at,
        }
    }
}

/// Every row of one request, in order (tests and `requests show`).
pub async fn of_request(
    pool: &PgPool,
    id: RequestId,
) -> Result<Vec<(OutboxRow, String)>, StoreError> {
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

/// Adds a row outside an event's transaction: follow-up work a delivery itself creates
/// (re-rendering the root message once its Linear link exists).
pub async fn enqueue(
    pool: &PgPool,
    request: RequestId,
    event_id: Uuid,
    effect: &Effect,
    now: DateTime<Utc>,
) -> Result<(), StoreError> {
    sqlx::query(
        "INSERT INTO capacity.outbox (request_id, event_id, effect, lane, next_attempt_at, created_at) \
         VALUES ($1, $2, $3, $4, $5, $5)",
    )
    .bind(request.0)
    .bind(event_id)
    .bind(Json(effect))
    .bind(effect.lane())
    .bind(now)
    .execute(pool)
    .await?;
    sqlx::query("SELECT pg_notify($1, $2)")
        .bind(super::OUTBOX_CHANNEL)
        .bind(request.0.to_string())
        .execute(pool)
        .await?;
    Ok(())
}

/// Pending rows and the age of the oldest, for metrics and `/readyz`.
pub async fn depth(pool: &PgPool, now: DateTime<Utc>) -> Result<(i64, Option<f64>), StoreError> {
    let (count, oldest): (i64, Option<DateTime<Utc>>) = sqlx::query_as(
        "SELECT count(*), min(created_at) FROM capacity.outbox WHERE status = 'pending'",
    )
    .fetch_one(pool)
    .await?;
    Ok((
        count,
        oldest.map(|o| (now - o).num_milliseconds() as f64 / 1000.0),
    ))
}

/// Leases the heads of up to `heads` request lanes, each with up to `per_lane - 1` rows
/// queued behind it, for `worker` until `lease_until`.
///
/// A head is deliverable when it is pending, due, not leased by a live worker, and no earlier
/// row of the same request and lane is still pending: that keeps each request's messages in
/// order across any number of workers and replicas. SKIP LOCKED lets two workers claim at
/// once without waiting on each other, and never the same head. The rows behind a head are
/// claimed with it or not at all: only the worker that locked the head takes them, so no
/// other worker can take a row whose predecessor it does not hold. They are taken in order up
/// to the first one that is not deliverable (which, while its head is pending, only a lease
/// of the same worker or a retry makes possible), so a lane's claim is always a prefix.
///
/// Digest rows belong to no request and wait on nothing; each is its own head.
///
/// Due App Home publishes fill what room the request lanes left, up to `heads` rows in all,
/// in the same statement (one round trip per claim instead of two): a Home is never
/// published ahead of a due request effect, so Homes are the lowest priority. Each Home row
/// is one person's, so a claim holds no two of one Home.
///
/// The head of each request's queue is found by skipping through the pending index one
/// (request, lane) at a time, so a claim costs one index probe per request with anything
/// pending, however long the queues behind the heads are. (Asking each pending row whether an
/// earlier one exists cost one probe per pending row: with a backlog of 180,000 rows after a
/// burst, one claim of 32 rows took 6 s, and the outbox drained at 5 rows/s.) The rows behind
/// a head are the next `per_lane - 1` entries of the same index.
///
/// The same statement reads each claimed request's Slack lane as
/// [`super::requests::with_links_and_waiting_updates`] would (the request, its links, its
/// waiting root updates and, when a claimed row of the lane renders from it, its log): a
/// statement of its own cost a round trip, with its wake-up, per approval.
///
/// Rows are returned in id order: a lane's rows are in delivery order.
pub async fn claim(
    db: impl PgExecutor<'_>,
    worker: &str,
    now: DateTime<Utc>,
    lease_until: DateTime<Utc>,
    heads: i64,
    per_lane: i64,
) -> Result<Claim, StoreError> {
    let rows: Vec<ClaimedRaw> = sqlx::query_as(CLAIM.as_str())
        .bind(worker)
        .bind(now)
        .bind(lease_until)
        .bind(heads)
        .bind((per_lane - 1).max(0))
        .bind(Effect::RENDERED_FROM_LOG.as_slice())
        .fetch_all(db)
        .await?;
    let mut claim = Claim::default();
    for row in rows {
        if let (Some(request), Some(reading)) = (row.raw.request_id, row.reading) {
            claim
                .readings
                .insert(RequestId(request), reading.0.into_reading()?);
        }
        claim.rows.push(row.raw.into());
    }
    claim.rows.sort_by_key(|r| r.id);
    Ok(claim)
}

/// What a claim took.
#[derive(Debug, Default)]
pub struct Claim {
    /// In id order.
    pub rows: Vec<OutboxRow>,
    /// Each claimed request's Slack lane, as the claim's snapshot saw it.
    pub readings: HashMap<RequestId, LaneReading>,
}

#[derive(FromRow)]
struct ClaimedRaw {
    #[sqlx(flatten)]
    raw: Raw,
    reading: Option<Json<LaneReadingJson>>,
}

/// [`claim`]'s statement: $1 the worker, $2 now, $3 the lease's end, $4 the most lanes,
/// $5 the most rows behind a head, $6 the effects rendered from the log.
static CLAIM: LazyLock<String> = LazyLock::new(|| {
    let reading = super::requests::lane_reading_json("f.request_id", "f.with_log");
    format!(
        "WITH RECURSIVE heads (request_id, lane, id) AS ( \
             (SELECT request_id, lane, id FROM capacity.outbox \
              WHERE status = 'pending' AND request_id IS NOT NULL \
              ORDER BY request_id, lane, id LIMIT 1) \
           UNION ALL \
             SELECT n.request_id, n.lane, n.id FROM heads h CROSS JOIN LATERAL ( \
               SELECT request_id, lane, id FROM capacity.outbox \
               WHERE status = 'pending' AND (request_id, lane) > (h.request_id, h.lane) \
               ORDER BY request_id, lane, id LIMIT 1) n), \
         picked AS ( \
           SELECT c.id, c.request_id, c.lane FROM capacity.outbox c \
           JOIN (SELECT id FROM heads UNION ALL \
                 SELECT id FROM capacity.outbox WHERE status = 'pending' AND request_id IS NULL \
                   AND lane <> 'home') h \
             ON h.id = c.id \
           WHERE c.status = 'pending' AND c.next_attempt_at <= $2 \
             AND (c.claimed_until IS NULL OR c.claimed_until < $2) \
           ORDER BY c.id LIMIT $4 FOR UPDATE OF c SKIP LOCKED), \
         behind AS ( \
           SELECT p.id AS head, f.id, \
                  (f.next_attempt_at <= $2 AND (f.claimed_until IS NULL OR f.claimed_until < $2)) AS ok \
           FROM picked p CROSS JOIN LATERAL ( \
             SELECT id, next_attempt_at, claimed_until FROM capacity.outbox f \
             WHERE f.status = 'pending' AND f.request_id = p.request_id AND f.lane = p.lane \
               AND f.id > p.id \
             ORDER BY f.id LIMIT $5) f), \
         cut AS (SELECT head, min(id) FILTER (WHERE NOT ok) AS stop FROM behind GROUP BY head), \
         chosen AS ( \
           SELECT id FROM picked \
           UNION ALL \
           SELECT b.id FROM behind b JOIN cut ON cut.head = b.head \
           WHERE b.ok AND (cut.stop IS NULL OR b.id < cut.stop)), \
         claimed AS ( \
           UPDATE capacity.outbox o SET claimed_by = $1, claimed_until = $3, attempts = o.attempts + 1 \
           FROM chosen WHERE o.id = chosen.id AND o.status = 'pending' \
           RETURNING o.id, o.request_id, o.event_id, o.effect, o.attempts, o.created_at, o.lane), \
         homes AS ( \
           UPDATE capacity.outbox o SET claimed_by = $1, claimed_until = $3, attempts = o.attempts + 1 \
           FROM (SELECT id FROM capacity.outbox \
                 WHERE status = 'pending' AND lane = 'home' AND next_attempt_at <= $2 \
                   AND (claimed_until IS NULL OR claimed_until < $2) \
                 ORDER BY next_attempt_at, id \
                 LIMIT greatest($4 - (SELECT count(*) FROM chosen), 0) \
                 FOR UPDATE SKIP LOCKED) h \
           WHERE o.id = h.id \
           RETURNING o.id, o.request_id, o.event_id, o.effect, o.attempts, o.created_at), \
         firsts AS ( \
           SELECT request_id, min(id) AS id, bool_or(effect->>'type' = ANY($6)) AS with_log \
           FROM claimed WHERE request_id IS NOT NULL AND lane = 'slack' GROUP BY request_id), \
         readings AS (SELECT f.id, {reading} AS reading FROM firsts f) \
         SELECT c.id, c.request_id, c.event_id, c.effect, c.attempts, c.created_at, r.reading \
         FROM claimed c LEFT JOIN readings r ON r.id = c.id \
         UNION ALL \
         SELECT id, request_id, event_id, effect, attempts, created_at, NULL FROM homes"
    )
});

/// Marks rows delivered in one statement: `delivered` are rows whose own call went out;
/// each of `carried` is `(row, carrier)`, a root update whose rendering the carrier's call
/// included. A delivered row is marked only while this worker holds it (a late mark after a
/// lost lease is ignored); a carried row whenever it is still pending, whoever holds it,
/// since the call that carried it rendered its event already.
///
/// With `homes_changed` (the rows were a request's), the same statement marks the open
/// Homes changed, as [`super::home::changed`] does: the round trip a separate statement
/// cost was a tenth of a click's.
pub async fn mark_delivered_many(
    db: impl PgExecutor<'_>,
    worker: &str,
    delivered: &[i64],
    carried: &[(i64, i64)],
    now: DateTime<Utc>,
    homes_changed: bool,
) -> Result<(), StoreError> {
    if delivered.is_empty() && carried.is_empty() && !homes_changed {
        return Ok(());
    }
    let (rows, carriers): (Vec<i64>, Vec<i64>) = carried.iter().copied().unzip();
    let statement = if homes_changed {
        // `changed_after` binds $1 to $4 ($1 is `now` for both) and leaves $5 on to the mark.
        super::home::changed_after(&format!("marked AS ({} RETURNING 1),", mark_sql(5)))
    } else {
        mark_sql(2)
    };
    let mut query = sqlx::query(sqlx::AssertSqlSafe(statement)).bind(now);
    if homes_changed {
        query = query
            .bind(super::home::COALESCE)
            .bind(now - super::home::OPEN_FOR)
            .bind(super::home::share());
    }
    query
        .bind(worker)
        .bind(delivered)
        .bind(&rows)
        .bind(&carriers)
        .execute(db)
        .await?;
    Ok(())
}

/// [`mark_delivered_many`]'s update: $1 is `now`, and its other four parameters (worker,
/// delivered rows, carried rows, their carriers) are numbered from `$first`.
fn mark_sql(first: usize) -> String {
    let (worker, delivered, rows, carriers) = (first, first + 1, first + 2, first + 3);
    format!(
        "UPDATE capacity.outbox o SET status = 'delivered', delivered_at = $1, \
             claimed_until = NULL, last_error = NULL, held_by_outage = false, carried_by = m.carrier \
         FROM (SELECT id, NULL::bigint AS carrier FROM unnest(${delivered}::bigint[]) AS d(id) \
               UNION ALL SELECT * FROM unnest(${rows}::bigint[], ${carriers}::bigint[])) m \
         WHERE o.id = m.id AND o.status = 'pending' \
           AND (m.carrier IS NOT NULL OR o.claimed_by = ${worker})"
    )
}

/// Gives back rows claimed but not attempted (they were behind a row that must wait): the
/// lease is released and the claim's attempt not counted.
pub async fn release(db: impl PgExecutor<'_>, ids: &[i64], worker: &str) -> Result<(), StoreError> {
    if ids.is_empty() {
        return Ok(());
    }
    sqlx::query(
        "UPDATE capacity.outbox SET claimed_until = NULL, attempts = greatest(attempts - 1, 0) \
         WHERE id = ANY($1) AND status = 'pending' AND claimed_by = $2",
    )
    .bind(ids)
    .bind(worker)
    .execute(db)
    .await?;
    Ok(())
}

/// Puts a claimed row off until `at` without calling Slack (its method or channel is
/// waiting out a `Retry-After`): not an attempt, so it is not counted as one.
pub async fn defer(
    db: impl PgExecutor<'_>,
    id: i64,
    worker: &str,
    at: DateTime<Utc>,
    why: &str,
) -> Result<(), StoreError> {
    sqlx::query(
        "UPDATE capacity.outbox SET next_attempt_at = $3, claimed_until = NULL, last_error = $4, \
             attempts = greatest(attempts - 1, 0) \
         WHERE id = $1 AND status = 'pending' AND claimed_by = $2",
    )
    .bind(id)
    .bind(worker)
    .bind(at)
    .bind(why)
    .execute(db)
    .await?;
    Ok(())
}

/// Slack answers again: rows backing off after an outage are due now (a rate limit's
/// `Retry-After` is kept). Returns how many.
pub async fn resume_after_outage(
    db: impl PgExecutor<'_>,
    now: DateTime<Utc>,
) -> Result<u64, StoreError> {
    Ok(sqlx::query(
        "UPDATE capacity.outbox SET next_attempt_at = $1, held_by_outage = false \
         WHERE status = 'pending' AND held_by_outage AND next_attempt_at > $1",
    )
    .bind(now)
    .execute(db)
    .await?
    .rows_affected())
}

pub async fn mark_delivered(
    pool: &PgPool,
    id: i64,
    worker: &str,
    now: DateTime<Utc>,
) -> Result<(), StoreError> {
    sqlx::query(
        "UPDATE capacity.outbox SET status = 'delivered', delivered_at = $3, claimed_until = NULL, last_error = NULL \
         WHERE id = $1 AND claimed_by = $2",
    )
    .bind(id)
    .bind(worker)
    .bind(now)
    .execute(pool)
    .await?;
    Ok(())
}

/// Releases the lease and schedules another attempt; `outage` when Slack failed rather than
/// asked us to wait, so the row may go sooner once Slack answers again.
pub async fn retry_later(
    db: impl PgExecutor<'_>,
    id: i64,
    at: DateTime<Utc>,
    error: &str,
    outage: bool,
) -> Result<(), StoreError> {
    sqlx::query(
        "UPDATE capacity.outbox SET next_attempt_at = $2, claimed_until = NULL, last_error = $3, \
         held_by_outage = $4 WHERE id = $1",
    )
    .bind(id)
    .bind(at)
    .bind(error)
    .bind(outage)
    .execute(db)
    .await?;
    Ok(())
}

/// Gives up on a row: the error is kept on it for an operator to read.
pub async fn mark_failed(db: impl PgExecutor<'_>, id: i64, error: &str) -> Result<(), StoreError> {
    sqlx::query("UPDATE capacity.outbox SET status = 'failed', claimed_until = NULL, last_error = $2 WHERE id = $1")
        .bind(id)
        .bind(error)
        .execute(db)
        .await?;
    Ok(())
}

/// The earliest time a pending row becomes due, so a worker can sleep exactly that long.
pub async fn next_due(pool: &PgPool) -> Result<Option<DateTime<Utc>>, StoreError> {
    Ok(sqlx::query_scalar(
        "SELECT min(greatest(next_attempt_at, coalesce(claimed_until, next_attempt_at))) \
         FROM capacity.outbox WHERE status = 'pending'",
    )
    .fetch_one(pool)
    .await?)
}

/// Why a row failed, for tests and `doctor`.
pub async fn last_error(
    pool: &PgPool,
    id: i64,
) -> Result<Option<(String, Option<String>)>, StoreError> {
    Ok(
        sqlx::query_as("SELECT status, last_error FROM capacity.outbox WHERE id = $1")
            .bind(id)
            .fetch_optional(pool)
            .await?,
    )
}
