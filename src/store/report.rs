//! What `report` reads: the log turned into stage visits, counted events, cost at risk per
//! request and over time, and the requests still open or holding committed capacity.
//!
//! Only the log's own columns (`request_id`, `seq`, `kind`, `actor`, `occurred_at`,
//! `state_after`) and the projection are read, never the event payload (escalations apart):
//! payload shapes change with the event versions, these columns do not. The heavy part, a
//! year of ~300k events folded into ~100k stage visits, happens in one pass of window
//! functions; only the visits and small aggregates come back.

use chrono::{DateTime, Utc};
use sqlx::{FromRow, PgPool};

use super::rows::{RequestRow, REQUEST_COLUMNS};
use super::StoreError;
use crate::domain::{Request, State};

/// The cost of committed capacity is counted per 30-day month, as `domain::cost` does.
const MONTH_SECONDS: i64 = 30 * 24 * 3600;

/// One stay of one request in one state, from the event that entered it to the event that
/// left it (none yet while the request is still there).
#[derive(Debug, Clone, PartialEq, Eq, FromRow)]
pub struct Visit {
    pub stage: String,
    pub entered: DateTime<Utc>,
    pub left_at: Option<DateTime<Utc>>,
    /// The kind of the event that left the stage.
    pub left_kind: Option<String>,
    /// Its actor: a Slack user id, `scheduler` or `control-plane`.
    pub left_by: Option<String>,
}

/// A state change is an event whose state differs from its predecessor's; each one opens
/// a visit that the next state change closes. Binds: stages, since, now. Public so the
/// bench can print its plan.
///
/// Reminders and comments never change state (the lifecycle table: "any → same"), so they
/// are skipped before the window functions; the rest is read in order from the covering
/// index `capacity_request_events_report_visits`.
pub const VISITS: &str = "WITH ev AS ( \
           SELECT request_id, seq, kind, actor, occurred_at, state_after, \
                  lag(state_after) OVER (PARTITION BY request_id ORDER BY seq) AS state_before \
           FROM capacity.capacity_request_events \
           WHERE occurred_at <= $3 AND kind NOT IN ('reminder_sent', 'comment_added')), \
         moves AS ( \
           SELECT request_id, seq, occurred_at AS entered, state_after AS stage, \
                  lead(occurred_at) OVER w AS left_at, lead(kind) OVER w AS left_kind, \
                  lead(actor) OVER w AS left_by \
           FROM ev WHERE state_before IS DISTINCT FROM state_after \
           WINDOW w AS (PARTITION BY request_id ORDER BY seq)) \
         SELECT stage, entered, left_at, left_kind, left_by FROM moves \
         WHERE stage = ANY($1) AND (left_at IS NULL OR $2::timestamptz IS NULL OR left_at >= $2)";

/// Stage visits in `stages` that ended at or after `since` (all when `None`) and by `now`,
/// and every visit still open at `now`.
pub async fn visits(
    pool: &PgPool,
    stages: &[State],
    since: Option<DateTime<Utc>>,
    now: DateTime<Utc>,
) -> Result<Vec<Visit>, StoreError> {
    let stages: Vec<&str> = stages.iter().map(|s| s.as_str()).collect();
    let rows = sqlx::query_as(VISITS)
        .bind(&stages)
        .bind(since)
        .bind(now)
        .fetch_all(pool)
        .await?;
    Ok(rows)
}

/// How many events of one kind happened in one stage: timeouts and forced transitions by
/// the stage they left, escalations by the stage they were sent in.
#[derive(Debug, Clone, PartialEq, Eq, FromRow)]
pub struct KindCount {
    pub kind: String,
    pub stage: Option<String>,
    pub events: i64,
    pub requests: i64,
}

/// The event kinds that mean a missed deadline.
pub const TIMEOUT_KINDS: [&str; 2] = ["customer_confirmation_timeout", "activation_timeout"];
/// The break-glass event; counted by name so it shows up once it is recorded.
pub const FORCED_KIND: &str = "forced_transition";
/// How an escalation is recorded.
pub const ESCALATION_KIND: &str = "escalation";

/// Timeouts, forced transitions and escalations in the window. An escalation comes back
/// with kind [`ESCALATION_KIND`].
pub async fn kind_counts(
    pool: &PgPool,
    since: Option<DateTime<Utc>>,
    now: DateTime<Utc>,
) -> Result<Vec<KindCount>, StoreError> {
    // The stage an event left is its predecessor's state: one index lookup per (rare) event.
    // The WHERE clause is the predicate of `capacity_request_events_report_marks`, verbatim.
    let rows = sqlx::query_as(
        "SELECT CASE WHEN e.kind = 'reminder_sent' THEN $3 ELSE e.kind END AS kind, \
                CASE WHEN e.kind = 'reminder_sent' THEN e.state_after ELSE \
                  (SELECT p.state_after FROM capacity.capacity_request_events p \
                   WHERE p.request_id = e.request_id AND p.seq = e.seq - 1) END AS stage, \
                count(*) AS events, count(DISTINCT e.request_id) AS requests \
         FROM capacity.capacity_request_events e \
         WHERE (e.kind IN ('customer_confirmation_timeout', 'activation_timeout', 'forced_transition') \
                OR (e.kind = 'reminder_sent' AND e.payload->>'escalation' = 'true')) \
           AND e.occurred_at <= $2 AND ($1::timestamptz IS NULL OR e.occurred_at >= $1) \
         GROUP BY 1, 2",
    )
    .bind(since)
    .bind(now)
    .bind(ESCALATION_KIND)
    .fetch_all(pool)
    .await?;
    Ok(rows)
}

/// Cost at risk one request accrued inside the window.
#[derive(Debug, Clone, PartialEq, Eq, FromRow)]
pub struct RequestCost {
    pub number: i64,
    pub customer: String,
    pub state: String,
    pub monthly_cents: i64,
    pub committed_at: DateTime<Utc>,
    pub ended_at: Option<DateTime<Utc>>,
    pub accrued_cents: i64,
}

/// Every request whose committed time overlaps the window, most cost first. The part
/// inside the window is costed as `domain::cost` does: whole seconds times the monthly
/// estimate over a 30-day month, rounded down.
pub async fn request_costs(
    pool: &PgPool,
    since: Option<DateTime<Utc>>,
    now: DateTime<Utc>,
) -> Result<Vec<RequestCost>, StoreError> {
    let rows = sqlx::query_as(
        "WITH c AS ( \
           SELECT number, customer, state, (details->>'est_monthly_cost_cents')::bigint AS monthly_cents, \
                  capacity_committed_at AS committed_at, capacity_ended_at AS ended_at, \
                  floor(extract(epoch FROM \
                    least(coalesce(capacity_ended_at, $2), $2) \
                    - greatest(capacity_committed_at, coalesce($1, capacity_committed_at)))) AS seconds \
           FROM capacity.capacity_requests \
           WHERE capacity_committed_at IS NOT NULL AND capacity_committed_at <= $2 \
             AND ($1::timestamptz IS NULL OR coalesce(capacity_ended_at, $2) > $1)) \
         SELECT number, customer, state, monthly_cents, committed_at, ended_at, \
                div(monthly_cents::numeric * greatest(seconds, 0), $3)::bigint AS accrued_cents \
         FROM c ORDER BY accrued_cents DESC, number",
    )
    .bind(since)
    .bind(now)
    .bind(MONTH_SECONDS)
    .fetch_all(pool)
    .await?;
    Ok(rows)
}

/// Cost at risk at each of `points` (ascending): what the capacity committed at that
/// instant and not yet paid for or released had cost so far.
///
/// One sorted pass: at `t` the sum over active commitments of `m × (t − start)` is
/// `t × Σm − Σ(m × start)`, so running sums of both over starts and ends, with the points
/// sorted in among them, give every point without joining points to requests.
pub async fn cost_series(
    pool: &PgPool,
    points: &[DateTime<Utc>],
) -> Result<Vec<(DateTime<Utc>, i64)>, StoreError> {
    let Some(last) = points.last() else {
        return Ok(Vec::new());
    };
    let rows = sqlx::query_as(
        "WITH c AS ( \
           SELECT (details->>'est_monthly_cost_cents')::numeric AS m, \
                  capacity_committed_at AS s, capacity_ended_at AS e \
           FROM capacity.capacity_requests \
           WHERE capacity_committed_at IS NOT NULL AND capacity_committed_at <= $2), \
         steps AS ( \
           SELECT s AS at, 0 AS ord, m AS dm, m * extract(epoch FROM s) AS ds FROM c \
           UNION ALL SELECT e, 0, -m, -m * extract(epoch FROM s) FROM c WHERE e IS NOT NULL AND e <= $2 \
           UNION ALL SELECT p, 1, 0, 0 FROM unnest($1::timestamptz[]) AS p), \
         run AS ( \
           SELECT at, ord, sum(dm) OVER w AS mm, sum(ds) OVER w AS ss FROM steps \
           WINDOW w AS (ORDER BY at, ord ROWS UNBOUNDED PRECEDING)) \
         SELECT at, greatest(floor((mm * extract(epoch FROM at) - ss) / $3), 0)::bigint \
         FROM run WHERE ord = 1 ORDER BY at",
    )
    .bind(points)
    .bind(last)
    .bind(MONTH_SECONDS)
    .fetch_all(pool)
    .await?;
    Ok(rows)
}

/// Requests still open, or ended with capacity still committed: who owns what now.
pub async fn open_or_committed(pool: &PgPool) -> Result<Vec<Request>, StoreError> {
    let rows: Vec<RequestRow> = sqlx::query_as(sqlx::AssertSqlSafe(format!(
        "SELECT {REQUEST_COLUMNS} FROM capacity.capacity_requests \
         WHERE state NOT IN ('ACTIVATED', 'CANCELLED', 'FAILED') \
            OR (capacity_committed_at IS NOT NULL AND capacity_ended_at IS NULL) \
         ORDER BY number"
    )))
    .fetch_all(pool)
    .await?;
    rows.into_iter().map(RequestRow::into_request).collect()
}

/// When the log starts: the report's window when none is given. Every request's log starts
/// with its submission at `created_at`, so the projection answers without reading the log.
pub async fn first_event_at(pool: &PgPool) -> Result<Option<DateTime<Utc>>, StoreError> {
    Ok(
        sqlx::query_scalar("SELECT min(created_at) FROM capacity.capacity_requests")
            .fetch_one(pool)
            .await?,
    )
}
