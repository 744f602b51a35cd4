//! The owner sweep's bookkeeping: `capacity.owner_checks`, when each decision owner was last
//! looked up with `users.info`. Claiming is one statement (find who is due, move their
//! `checked_at`), so two replicas sweeping at once split the people between them.

use chrono::{DateTime, Utc};
use sqlx::PgPool;

use super::StoreError;
use crate::domain::UserId;

/// Claims at most `limit` decision owners of open requests not looked up since `due_before`
/// (never looked up first, then the longest ago), marking them looked up at `now`. Only
/// this call gets them: another replica's claim at the same moment skips them.
pub async fn claim_due(
    pool: &PgPool,
    now: DateTime<Utc>,
    due_before: DateTime<Utc>,
    limit: i64,
) -> Result<Vec<UserId>, StoreError> {
    let ids: Vec<String> = sqlx::query_scalar(
        "WITH owners AS ( \
             SELECT DISTINCT o.user_id \
             FROM capacity.capacity_requests r \
             CROSS JOIN LATERAL (VALUES (r.commercial_owner), (r.technical_owner)) AS o (user_id) \
             WHERE o.user_id IS NOT NULL \
               AND r.state NOT IN ('ACTIVATED', 'CANCELLED', 'FAILED') \
         ), due AS ( \
             SELECT w.user_id FROM owners w \
             LEFT JOIN capacity.owner_checks c ON c.user_id = w.user_id \
             WHERE c.checked_at IS NULL OR c.checked_at <= $2 \
             ORDER BY c.checked_at NULLS FIRST, w.user_id \
             LIMIT $3 \
         ) \
         INSERT INTO capacity.owner_checks AS c (user_id, checked_at) \
         SELECT user_id, $1 FROM due \
         ON CONFLICT (user_id) DO UPDATE SET checked_at = EXCLUDED.checked_at \
             WHERE c.checked_at <= $2 \
         RETURNING c.user_id",
    )
    .bind(now)
    .bind(due_before)
    .bind(limit)
    .fetch_all(pool)
    .await?;
    ids.iter()
        .map(|id| {
            UserId::parse(id)
                .map_err(|e| StoreError::Corrupt(format!("owner_checks row {id}: {e}")))
        })
        .collect()
}

/// Gives `users` back unchecked (their lookup failed or was not made): the next sweep
/// claims them again.
pub async fn release(pool: &PgPool, users: &[UserId]) -> Result<(), StoreError> {
    if users.is_empty() {
        return Ok(());
    }
    let ids: Vec<&str> = users.iter().map(UserId::as_str).collect();
    sqlx::query("DELETE FROM capacity.owner_checks WHERE user_id = ANY($1)")
        .bind(ids)
        .execute(pool)
        .await?;
    Ok(())
}
