//! `capacity.home_views`: who has the app's Home tab open, and the outbox rows that publish
//! it. See the migration `20261206100001_home.sql` for the counters.
//!
//! Nothing here runs inside an event's transaction: a Home is marked changed by the outbox
//! worker after it has delivered request effects, so a click's append never waits on Homes.

use chrono::{DateTime, Duration, Utc};
use sqlx::{FromRow, PgPool};

use super::rows::{RequestRow, REQUEST_COLUMNS};
use super::StoreError;
use crate::domain::{Request, UserId};

/// How long a Home counts as open after `app_home_opened`. Slack sends no event when a
/// person leaves the tab, so this is a guess bounded both ways: long enough that a Home
/// left open through a working session keeps up (reopening it renews the window), short
/// enough that people who looked once this morning do not cost a `views.publish` on every
/// change all day. A Home outside the window is published again when it is next opened.
pub const OPEN_FOR: Duration = Duration::minutes(30);

/// At most one publish per person per this long while changes keep coming: a burst of
/// events on a request becomes one publish, not one per event (`views.publish` is Tier 4,
/// about 100 a minute per workspace).
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

const QUEUE_HOME: &str = "INSERT INTO capacity.outbox (effect, lane, next_attempt_at, created_at) \
     SELECT jsonb_build_object('type', 'publish_home', 'user', h.user_id), 'home', \
            greatest($1, coalesce(h.published_at + $2, $1)), $1 \
     FROM capacity.home_views h";

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
    let done = sqlx::query(sqlx::AssertSqlSafe(format!(
        "WITH bumped AS ( \
           UPDATE capacity.home_views SET wanted = wanted + 1 \
           WHERE opened_at > $3 AND (wanted <= rendered OR wanted = reading) \
           RETURNING user_id) \
         {QUEUE_HOME} JOIN bumped b ON b.user_id = h.user_id \
         ON CONFLICT ((effect->>'user')) WHERE status = 'pending' AND lane = 'home' DO NOTHING"
    )))
    .bind(now)
    .bind(COALESCE)
    .bind(now - OPEN_FOR)
    .execute(pool)
    .await?;
    Ok(done.rows_affected())
}

/// After `user`'s publish was delivered: if something changed while it rendered, queue the
/// next one (the change could not queue it: the delivered row was still pending then).
pub async fn requeue(pool: &PgPool, user: &str, now: DateTime<Utc>) -> Result<(), StoreError> {
    sqlx::query(sqlx::AssertSqlSafe(format!(
        "{QUEUE_HOME} WHERE h.user_id = $3 AND h.wanted > h.rendered AND h.opened_at > $4 \
         ON CONFLICT ((effect->>'user')) WHERE status = 'pending' AND lane = 'home' DO NOTHING"
    )))
    .bind(now)
    .bind(COALESCE)
    .bind(user)
    .bind(now - OPEN_FOR)
    .execute(pool)
    .await?;
    Ok(())
}

/// A render of `user`'s Home begins: records which change count it reads. `None` when the
/// user never opened Home.
pub async fn begin_render(pool: &PgPool, user: &UserId) -> Result<Option<HomeView>, StoreError> {
    Ok(sqlx::query_as(
        "UPDATE capacity.home_views SET reading = wanted WHERE user_id = $1 \
         RETURNING user_id, opened_at, view_id, reading, content_hash",
    )
    .bind(user.as_str())
    .fetch_optional(pool)
    .await?)
}

/// The render that read `read` is what `user`'s Home shows now (published, or identical to
/// what was).
pub async fn published(
    pool: &PgPool,
    user: &UserId,
    read: i64,
    content_hash: &str,
    view_id: Option<&str>,
    now: DateTime<Utc>,
) -> Result<(), StoreError> {
    sqlx::query(
        "UPDATE capacity.home_views SET rendered = greatest(rendered, $2), content_hash = $3, \
           view_id = coalesce($4, view_id), published_at = $5 WHERE user_id = $1",
    )
    .bind(user.as_str())
    .bind(read)
    .bind(content_hash)
    .bind(view_id)
    .bind(now)
    .execute(pool)
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
pub async fn requests(pool: &PgPool) -> Result<Vec<(Request, Option<String>)>, StoreError> {
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
    .fetch_all(pool)
    .await?;
    rows.into_iter()
        .map(|r| Ok((r.request.into_request()?, r.permalink)))
        .collect()
}
