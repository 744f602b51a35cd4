//! `capacity.home_views`: who has the app's Home tab open, and the outbox rows that publish
//! it. See the migration `20261206100001_home.sql` for the counters.
//!
//! Nothing here runs inside an event's transaction: a Home is marked changed by the outbox
//! worker after it has delivered request effects, so a click's append never waits on Homes.

use chrono::{DateTime, Duration, Utc};
use sqlx::{FromRow, PgExecutor, PgPool};

use super::rows::{RequestRow, REQUEST_COLUMNS};
use super::StoreError;
use crate::domain::{Request, UserId};

/// How long a Home counts as open after `app_home_opened`. Slack sends no event when a
/// person leaves the tab, so this is a guess bounded both ways: long enough that a Home
/// left open through a working session keeps up (reopening it renews the window), short
/// enough that people who looked once this morning do not cost a `views.publish` on every
/// change all day. A Home outside the window is published again when it is next opened.
pub const OPEN_FOR: Duration = Duration::minutes(30);

/// At most one publish per person per this long while changes keep coming (longer when many
/// Homes are open: `window`): a burst of events on a request becomes one publish, not one
/// per event.
pub const COALESCE: Duration = Duration::seconds(5);

/// One person's Home as the worker needs it to render and publish.
#[derive(Debug, Clone, PartialEq, Eq, FromRow)]
pub struct HomeView {
    pub user_id: String,
    pub opened_at: DateTime<Utc>,
    pub view_id: Option<String>,
    /// The change count this render read (see the migration).
    pub reading: i64,
    pub content_hash: Option<String>,
}

/// `views.publish` calls Slack allows a workspace a minute (Tier 4). While many Homes are
/// open and changing, each one's window widens so that together they stay under it: 200 open
/// Homes are republished at most every 2 minutes each rather than every 5 s, which would be
/// 40 calls a second, 24 times what Slack allows (and work every click competes with).
pub const PUBLISHES_PER_MINUTE: i64 = 100;

/// Queues a publish for each Home of the `FROM` clause that follows, due when its window
/// ends: `COALESCE` after its last publish, or, with many Homes open, their count times one
/// Home's share of a minute (`share`), whichever is longer. Homes queued together are then
/// spaced one share apart (least recently published first): Homes published together, or
/// whose windows all ended in a quiet spell, would otherwise all be due at once, and 200 at
/// once is twice Slack's allowance in one burst. Binds: $1 now, $2 `COALESCE`, $3 the oldest opening that counts as open,
/// $4 `share()`.
const QUEUE_HOME: &str = "INSERT INTO capacity.outbox (effect, lane, next_attempt_at, created_at) \
     SELECT jsonb_build_object('type', 'publish_home', 'user', h.user_id), 'home', \
            greatest($1, coalesce(h.published_at + greatest($2, \
                (SELECT count(*) FROM capacity.home_views o WHERE o.opened_at > $3)::float8 * $4), $1)) \
              + (row_number() OVER (ORDER BY h.published_at NULLS FIRST, h.user_id) - 1)::float8 * $4, $1 \
     FROM capacity.home_views h";

/// One Home's share of a minute of `views.publish` calls.
pub fn share() -> Duration {
    Duration::milliseconds(60_000 / PUBLISHES_PER_MINUTE)
}

/// The least time between two publishes of one Home while `open` Homes are open and
/// changing (what `QUEUE_HOME` computes in SQL).
pub fn window(open: i64) -> Duration {
    COALESCE.max(share() * open as i32)
}

/// `user` opened Home: it counts as open from `now`, is marked changed, and a publish is due
/// at once (a pending one is brought forward). `view_id` is the Home view Slack showed, when
/// the event carried one.
pub async fn opened(
    pool: &PgPool,
    user: &UserId,
    view_id: Option<&str>,
    now: DateTime<Utc>,
) -> Result<(), StoreError> {
    let mut tx = pool.begin().await?;
    sqlx::query(
        "INSERT INTO capacity.home_views (user_id, opened_at, view_id) VALUES ($1, $2, $3) \
         ON CONFLICT (user_id) DO UPDATE SET opened_at = greatest(home_views.opened_at, $2), \
           view_id = coalesce($3, home_views.view_id), wanted = home_views.wanted + 1",
    )
    .bind(user.as_str())
    .bind(now)
    .bind(view_id)
    .execute(&mut *tx)
    .await?;
    // Opening is answered now, not after the coalescing window.
    sqlx::query(
        "INSERT INTO capacity.outbox (effect, lane, next_attempt_at, created_at) \
         VALUES (jsonb_build_object('type', 'publish_home', 'user', $1::text), 'home', $2, $2) \
         ON CONFLICT ((effect->>'user')) WHERE status = 'pending' AND lane = 'home' \
         DO UPDATE SET next_attempt_at = least(outbox.next_attempt_at, $2)",
    )
    .bind(user.as_str())
    .bind(now)
    .execute(&mut *tx)
    .await?;
    sqlx::query("SELECT pg_notify($1, $2)")
        .bind(super::OUTBOX_CHANNEL)
        .bind(format!("home:{user}"))
        .execute(&mut *tx)
        .await?;
    tx.commit().await?;
    Ok(())
}

/// Requests changed: every open Home not already waiting for a publish is marked changed
/// and gets a publish, due when its coalescing window ends. Returns how many were queued.
///
/// A Home already waiting (wanted > rendered, and no render in flight has read that count)
/// is left alone, so the rows are written once per burst, not once per event.
pub async fn changed(pool: &PgPool, now: DateTime<Utc>) -> Result<u64, StoreError> {
    let done = sqlx::query(sqlx::AssertSqlSafe(changed_after("")))
        .bind(now)
        .bind(COALESCE)
        .bind(now - OPEN_FOR)
        .bind(share())
        .execute(pool)
        .await?;
    Ok(done.rows_affected())
}

/// [`changed`]'s statement, after the common table expressions `first` (each followed by a
/// comma), which run in the same statement: the outbox worker marks a lane's rows delivered
/// and the open Homes changed in one round trip. Binds $1 to $4 as `QUEUE_HOME` does; `first`
/// numbers its own from $5.
pub(super) fn changed_after(first: &str) -> String {
    format!(
        "WITH {first} bumped AS ( \
           UPDATE capacity.home_views SET wanted = wanted + 1 \
           WHERE opened_at > $3 AND (wanted <= rendered OR wanted = reading) \
           RETURNING user_id) \
         {QUEUE_HOME} JOIN bumped b ON b.user_id = h.user_id \
         ON CONFLICT ((effect->>'user')) WHERE status = 'pending' AND lane = 'home' DO NOTHING"
    )
}

/// After these users' publishes were delivered: for each whose Home changed while it
/// rendered, queue the next one (the change could not queue it: the delivered row was still
/// pending then).
pub async fn requeue(
    db: impl PgExecutor<'_>,
    users: &[&str],
    now: DateTime<Utc>,
) -> Result<(), StoreError> {
    if users.is_empty() {
        return Ok(());
    }
    sqlx::query(sqlx::AssertSqlSafe(format!(
        "{QUEUE_HOME} WHERE h.user_id = ANY($5) AND h.wanted > h.rendered AND h.opened_at > $3 \
         ON CONFLICT ((effect->>'user')) WHERE status = 'pending' AND lane = 'home' DO NOTHING"
    )))
    .bind(now)
    .bind(COALESCE)
    .bind(now - OPEN_FOR)
    .bind(share())
    .bind(users)
    .execute(db)
    .await?;
    Ok(())
}

/// Renders of these users' Homes begin: records for each which change count it reads.
/// Users who never opened Home are not in the answer.
pub async fn begin_render(
    db: impl PgExecutor<'_>,
    users: &[&str],
) -> Result<Vec<HomeView>, StoreError> {
    Ok(sqlx::query_as(
        "UPDATE capacity.home_views SET reading = wanted WHERE user_id = ANY($1) \
         RETURNING user_id, opened_at, view_id, reading, content_hash",
    )
    .bind(users)
    .fetch_all(db)
    .await?)
}

/// A finished render of one Home: the change count it read, what it rendered, and the view
/// id Slack gave back when it was published (`None` when it matched what Slack shows).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Rendered {
    pub user_id: String,
    pub read: i64,
    pub content_hash: String,
    pub view_id: Option<String>,
}

/// These renders are what their Homes show now, and `delivered` (their outbox rows, held by
/// `worker`) are delivered: one statement and one commit for a claim's Homes, not two per
/// Home.
pub async fn published(
    db: impl PgExecutor<'_>,
    renders: &[Rendered],
    delivered: &[i64],
    worker: &str,
    now: DateTime<Utc>,
) -> Result<(), StoreError> {
    if renders.is_empty() && delivered.is_empty() {
        return Ok(());
    }
    let users: Vec<&str> = renders.iter().map(|r| r.user_id.as_str()).collect();
    let reads: Vec<i64> = renders.iter().map(|r| r.read).collect();
    let hashes: Vec<&str> = renders.iter().map(|r| r.content_hash.as_str()).collect();
    let views: Vec<Option<&str>> = renders.iter().map(|r| r.view_id.as_deref()).collect();
    sqlx::query(
        "WITH shown AS ( \
           UPDATE capacity.home_views h SET rendered = greatest(h.rendered, r.read), \
             content_hash = r.hash, view_id = coalesce(r.view_id, h.view_id), published_at = $5 \
           FROM unnest($1::text[], $2::bigint[], $3::text[], $4::text[]) AS r(user_id, read, hash, view_id) \
           WHERE h.user_id = r.user_id) \
         UPDATE capacity.outbox SET status = 'delivered', delivered_at = $5, claimed_until = NULL, \
           last_error = NULL, held_by_outage = false \
         WHERE id = ANY($6) AND status = 'pending' AND claimed_by = $7",
    )
    .bind(&users)
    .bind(&reads)
    .bind(&hashes)
    .bind(&views)
    .bind(now)
    .bind(delivered)
    .bind(worker)
    .execute(db)
    .await?;
    Ok(())
}

/// The id of the Home view last published to `user` (a click on Home must come from it).
pub async fn view_id(pool: &PgPool, user: &UserId) -> Result<Option<String>, StoreError> {
    Ok(
        sqlx::query_scalar("SELECT view_id FROM capacity.home_views WHERE user_id = $1")
            .bind(user.as_str())
            .fetch_optional(pool)
            .await?
            .flatten(),
    )
}

/// What a Home shows: the open requests, and the closed ones whose committed capacity still
/// waits for a release (a decision someone owns), each with its thread's permalink.
pub async fn requests(
    db: impl PgExecutor<'_>,
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
           WHERE state NOT IN ('ACTIVATED', 'CANCELLED', 'FAILED') \
              OR (state IN ('CANCELLED', 'FAILED') AND capacity_committed_at IS NOT NULL \
                  AND capacity_ended_at IS NULL)) q \
         LEFT JOIN capacity.request_links l ON l.request_id = q.id \
         ORDER BY q.number"
    )))
    .fetch_all(db)
    .await?;
    rows.into_iter()
        .map(|r| Ok((r.request.into_request()?, r.permalink)))
        .collect()
}
