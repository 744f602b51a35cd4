//! Reading the projection.

use std::sync::LazyLock;

use sqlx::{FromRow, PgExecutor, PgPool};

use super::rows::{RequestRow, REQUEST_COLUMNS};
use super::StoreError;
use crate::domain::{Links, RecordedEvent, Request, RequestId, RequestNumber, State, UserId};

pub async fn by_id(
    db: impl sqlx::PgExecutor<'_>,
    id: RequestId,
) -> Result<Option<Request>, StoreError> {
    let row: Option<RequestRow> = sqlx::query_as(sqlx::AssertSqlSafe(format!(
        "SELECT {REQUEST_COLUMNS} FROM capacity.capacity_requests WHERE id = $1"
    )))
    .bind(id.0)
    .fetch_optional(db)
    .await?;
    row.map(RequestRow::into_request).transpose()
}

pub async fn by_number(
    pool: &PgPool,
    number: RequestNumber,
) -> Result<Option<Request>, StoreError> {
    let row: Option<RequestRow> = sqlx::query_as(sqlx::AssertSqlSafe(format!(
        "SELECT {REQUEST_COLUMNS} FROM capacity.capacity_requests WHERE number = $1"
    )))
    .bind(number.0)
    .fetch_optional(pool)
    .await?;
    row.map(RequestRow::into_request).transpose()
}

/// What `requests list` and `/capacity list` filter on.
#[derive(Debug, Clone, Default)]
pub struct ListFilter {
    pub state: Option<State>,
    pub open_only: bool,
    /// Open requests and the closed ones still waiting on a decision: cancelled or failed
    /// with capacity committed, waiting for infra to release it.
    pub awaiting_decision: bool,
    /// Requests this user requested or owns (commercially or technically).
    pub involving: Option<UserId>,
    pub limit: i64,
}

pub async fn list(pool: &PgPool, filter: &ListFilter) -> Result<Vec<Request>, StoreError> {
    let rows: Vec<RequestRow> = sqlx::query_as(sqlx::AssertSqlSafe(format!(
        "SELECT {REQUEST_COLUMNS} FROM capacity.capacity_requests \
         WHERE ($1::text IS NULL OR state = $1) \
           AND (NOT $2 OR state NOT IN ('ACTIVATED', 'CANCELLED', 'FAILED')) \
           AND ($3::text IS NULL OR requester = $3 OR commercial_owner = $3 OR technical_owner = $3) \
           AND (NOT $5 OR state NOT IN ('ACTIVATED', 'CANCELLED', 'FAILED') \
                OR (state IN ('CANCELLED', 'FAILED') AND capacity_committed_at IS NOT NULL \
                    AND capacity_ended_at IS NULL)) \
         ORDER BY number DESC LIMIT $4"
    )))
    .bind(filter.state.map(State::as_str))
    .bind(filter.open_only)
    .bind(filter.involving.as_ref().map(UserId::as_str))
    .bind(if filter.limit > 0 { filter.limit } else { 1000 })
    .bind(filter.awaiting_decision)
    .fetch_all(pool)
    .await?;
    rows.into_iter().map(RequestRow::into_request).collect()
}

/// Every request id, oldest first: what `replay` walks.
pub async fn all_ids(pool: &PgPool) -> Result<Vec<RequestId>, StoreError> {
    let ids: Vec<uuid::Uuid> =
        sqlx::query_scalar("SELECT id FROM capacity.capacity_requests ORDER BY number")
            .fetch_all(pool)
            .await?;
    Ok(ids.into_iter().map(RequestId).collect())
}

/// Overwrites a projection row with `request` (used by `replay --fix`).
pub async fn overwrite(pool: &PgPool, request: &Request) -> Result<(), StoreError> {
    let mut conn = pool.acquire().await?;
    super::rows::upsert_requests(&mut conn, &[request]).await?;
    Ok(())
}

/// The columns of `capacity.request_links` that [`LinksRow`] reads. Unqualified: no
/// projection column shares their names, so they read the same beside `REQUEST_COLUMNS`.
const LINK_COLUMNS: &str = "slack_channel, slack_ts, permalink, linear_issue_id, linear_url";

/// `capacity.request_links` as read; [`Links`] is the domain's view of it.
#[derive(sqlx::FromRow, serde::Deserialize)]
struct LinksRow {
    slack_channel: Option<String>,
    slack_ts: Option<String>,
    permalink: Option<String>,
    linear_issue_id: Option<String>,
    linear_url: Option<String>,
}

impl From<LinksRow> for Links {
    fn from(r: LinksRow) -> Self {
        Links {
            slack_channel: r.slack_channel,
            slack_ts: r.slack_ts,
            permalink: r.permalink,
            linear_issue_id: r.linear_issue_id,
            linear_url: r.linear_url,
        }
    }
}

pub async fn links(pool: &PgPool, id: RequestId) -> Result<Links, StoreError> {
    let row: Option<LinksRow> = sqlx::query_as(sqlx::AssertSqlSafe(format!(
        "SELECT {LINK_COLUMNS} FROM capacity.request_links WHERE request_id = $1"
    )))
    .bind(id.0)
    .fetch_optional(pool)
    .await?;
    Ok(row.map(Links::from).unwrap_or_default())
}

/// A request with its links, in one query (what the outbox renders from).
pub async fn with_links(
    db: impl PgExecutor<'_>,
    id: RequestId,
) -> Result<Option<(Request, Links)>, StoreError> {
    static SQL: LazyLock<String> = LazyLock::new(|| {
        format!(
            "SELECT q.*, {LINK_COLUMNS} \
             FROM (SELECT {REQUEST_COLUMNS} FROM capacity.capacity_requests WHERE id = $1) q \
             LEFT JOIN capacity.request_links l ON l.request_id = q.id"
        )
    });
    let row: Option<sqlx::postgres::PgRow> = sqlx::query(SQL.as_str())
        .bind(id.0)
        .fetch_optional(db)
        .await?;
    let Some(row) = row else { return Ok(None) };
    let request = RequestRow::from_row(&row)?.into_request()?;
    Ok(Some((request, LinksRow::from_row(&row)?.into())))
}

/// An existing request as an append finds it, with its links.
pub(super) struct Found {
    pub request: Request,
    pub links: Links,
    /// Whether an event with one of the append's idempotency keys is in the log already.
    pub recorded: bool,
}

/// Reads request `id` with its links and whether any of `keys` was recorded: an append's
/// reads, in one round trip. Nothing is locked: an append that commits between this read and
/// the caller's write makes that write fail on the log's unique constraints, and the caller
/// reads again (`events::append`).
pub(super) async fn with_links_and_recorded(
    conn: &mut sqlx::PgConnection,
    id: RequestId,
    keys: &[String],
) -> Result<Option<Found>, StoreError> {
    // Built once: every append reads this.
    static SQL: LazyLock<String> = LazyLock::new(|| {
        format!(
            "SELECT q.*, {LINK_COLUMNS}, \
               EXISTS (SELECT 1 FROM capacity.capacity_request_events \
                       WHERE idempotency_key = ANY($2)) AS recorded \
             FROM (SELECT {REQUEST_COLUMNS} FROM capacity.capacity_requests WHERE id = $1) q \
             LEFT JOIN capacity.request_links l ON l.request_id = q.id"
        )
    });
    let row: Option<sqlx::postgres::PgRow> = sqlx::query(SQL.as_str())
        .bind(id.0)
        .bind(keys)
        .fetch_optional(conn)
        .await?;
    let Some(row) = row else { return Ok(None) };
    Ok(Some(Found {
        request: RequestRow::from_row(&row)?.into_request()?,
        links: LinksRow::from_row(&row)?.into(),
        recorded: sqlx::Row::try_get(&row, "recorded")?,
    }))
}

/// What a lane's root update reads: the request, its links, the ids of its root-message
/// updates still waiting in the outbox, and (when asked) its log.
#[derive(Debug)]
pub struct LaneReading {
    pub request: Request,
    pub links: Links,
    pub waiting: Vec<i64>,
    /// The request's whole log, as `events::events_of` reads it, when asked for.
    pub log: Option<Vec<RecordedEvent>>,
}

/// A request with its links and the ids of its root-message updates still waiting in the
/// outbox, all from one snapshot (one statement): a rendering of this request covers exactly
/// the events whose update rows are listed, since an append commits its event and its
/// outbox rows together.
///
/// With `with_log`, the log comes in the same statement: a lane whose thread replies follow
/// its root update reads it anyway, and a statement of its own cost a round trip (with its
/// wake-up) per approval. It holds every event whose outbox rows were claimed before, since
/// those committed together.
///
/// The outbox's claim reads the same for each request lane it takes ([`lane_reading_json`]);
/// a lane reads again here only when what the claim saw may be out of date.
pub async fn with_links_and_waiting_updates(
    db: impl PgExecutor<'_>,
    id: RequestId,
    with_log: bool,
) -> Result<Option<LaneReading>, StoreError> {
    static SQL: LazyLock<String> =
        LazyLock::new(|| format!("SELECT {}", lane_reading_json("$1", "$2")));
    let reading: Option<sqlx::types::Json<LaneReadingJson>> = sqlx::query_scalar(SQL.as_str())
        .bind(id.0)
        .bind(with_log)
        .fetch_one(db)
        .await?;
    reading.map(|r| r.0.into_reading()).transpose()
}

/// A [`LaneReading`] of request `id` as one `jsonb` value, NULL when the request is gone:
/// `id` is an SQL expression for its id, and the log is included when the SQL boolean
/// `with_log` is true. JSON, so that a statement returning rows of another shape (the
/// outbox's claim) can carry it in a column.
pub(super) fn lane_reading_json(id: &str, with_log: &str) -> String {
    let log = super::rows::log_as_json("q.id");
    format!(
        "(SELECT jsonb_build_object( \
             'request', to_jsonb(q), \
             'links', (SELECT to_jsonb(l) FROM (SELECT {LINK_COLUMNS} \
                         FROM capacity.request_links WHERE request_id = q.id) l), \
             'waiting', ARRAY(SELECT o.id FROM capacity.outbox o WHERE o.request_id = q.id \
                   AND o.lane = 'slack' AND o.status = 'pending' \
                   AND o.effect->>'type' = 'update_root_message' ORDER BY o.id), \
             'log', CASE WHEN {with_log} THEN {log} END) \
         FROM (SELECT {REQUEST_COLUMNS} FROM capacity.capacity_requests WHERE id = {id}) q)"
    )
}

/// What [`lane_reading_json`] gives.
#[derive(serde::Deserialize)]
pub(super) struct LaneReadingJson {
    request: RequestRow,
    links: Option<LinksRow>,
    waiting: Vec<i64>,
    log: Option<Vec<super::rows::EventRow>>,
}

impl LaneReadingJson {
    pub(super) fn into_reading(self) -> Result<LaneReading, StoreError> {
        Ok(LaneReading {
            request: self.request.into_request()?,
            links: self.links.map(Links::from).unwrap_or_default(),
            waiting: self.waiting,
            log: self.log.map(super::rows::read_rows).transpose()?,
        })
    }
}

/// Records where the root message was posted.
pub async fn set_root_message(
    db: impl PgExecutor<'_>,
    id: RequestId,
    channel: &str,
    ts: &str,
    permalink: Option<&str>,
) -> Result<(), StoreError> {
    sqlx::query(
        "INSERT INTO capacity.request_links (request_id, slack_channel, slack_ts, permalink, updated_at) \
         VALUES ($1, $2, $3, $4, clock_timestamp()) \
         ON CONFLICT (request_id) DO UPDATE SET slack_channel = EXCLUDED.slack_channel, \
         slack_ts = EXCLUDED.slack_ts, permalink = COALESCE(EXCLUDED.permalink, capacity.request_links.permalink), \
         updated_at = EXCLUDED.updated_at",
    )
    .bind(id.0)
    .bind(channel)
    .bind(ts)
    .bind(permalink)
    .execute(db)
    .await?;
    Ok(())
}

/// Records the Linear issue opened for a request.
pub async fn set_linear_issue(
    pool: &PgPool,
    id: RequestId,
    issue_id: &str,
    url: &str,
) -> Result<(), StoreError> {
    sqlx::query(
        "INSERT INTO capacity.request_links (request_id, linear_issue_id, linear_url, updated_at) \
         VALUES ($1, $2, $3, clock_timestamp()) \
         ON CONFLICT (request_id) DO UPDATE SET linear_issue_id = EXCLUDED.linear_issue_id, \
         linear_url = EXCLUDED.linear_url, updated_at = EXCLUDED.updated_at",
    )
    .bind(id.0)
    .bind(issue_id)
    .bind(url)
    .execute(pool)
    .await?;
    Ok(())
}

/// The ts of the reply naming the request in the thread it was made from, once posted.
pub async fn source_reply(pool: &PgPool, id: RequestId) -> Result<Option<String>, StoreError> {
    Ok(sqlx::query_scalar::<_, Option<String>>(
        "SELECT source_reply_ts FROM capacity.request_links WHERE request_id = $1",
    )
    .bind(id.0)
    .fetch_optional(pool)
    .await?
    .flatten())
}

/// Records the reply posted in the source thread, so a retried delivery does not post again.
pub async fn set_source_reply(pool: &PgPool, id: RequestId, ts: &str) -> Result<(), StoreError> {
    sqlx::query(
        "INSERT INTO capacity.request_links (request_id, source_reply_ts, updated_at) \
         VALUES ($1, $2, clock_timestamp()) \
         ON CONFLICT (request_id) DO UPDATE SET source_reply_ts = EXCLUDED.source_reply_ts, \
         updated_at = EXCLUDED.updated_at",
    )
    .bind(id.0)
    .bind(ts)
    .execute(pool)
    .await?;
    Ok(())
}
