//! All SQL lives here. Every other module talks to Postgres through these functions.
//!
//! Queries are checked at run time (`sqlx::query`), not at compile time: the build then
//! needs no database and no `.sqlx` cache, and every query is exercised by the test suite
//! against a real, freshly migrated Postgres.

pub mod absences;
pub mod digests;
pub mod events;
pub mod home;
mod kept;
pub mod mentions;
pub mod outbox;
pub mod owner_checks;
pub mod report;
pub mod requests;
mod rows;
pub mod timers;

use std::time::Duration;

use sqlx::postgres::{PgConnectOptions, PgPoolOptions};
use sqlx::PgPool;

pub use events::{
    Append, AppendError, Appended, Button, HandTo, Handed, Lease, Target, WrongButton,
};
pub use kept::{Kept, KEEP};

/// The `LISTEN`/`NOTIFY` channel that wakes outbox workers when rows are queued.
pub const OUTBOX_CHANNEL: &str = "capacity_outbox";

pub static MIGRATOR: sqlx::migrate::Migrator = sqlx::migrate!("./migrations");

#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    #[error(
        "the database could not be reached ({0}); check DATABASE_URL and that Postgres is running"
    )]
    Unreachable(#[source] sqlx::Error),
    #[error("database error: {0}")]
    Db(#[from] sqlx::Error),
    #[error("migrations failed: {0}")]
    Migrate(#[from] sqlx::migrate::MigrateError),
    #[error("a stored row could not be read back: {0}")]
    Corrupt(String),
}

/// A pooled connection idle for longer than this is pinged before it is handed out.
pub(crate) const PING_IF_IDLE_FOR: Duration = Duration::from_secs(1);

/// Opens a pool. Short acquire timeout: a click must be answered within Slack's 3 s, so a
/// database that does not answer is reported, not waited on.
///
/// sqlx pings every connection when it goes back to the pool, and by default once more when it
/// is taken out: two extra round trips around every query, which on a busy daemon cost more
/// CPU than the queries. A connection released a moment ago was just pinged, so only one that
/// has sat idle (across a Postgres restart, say) is pinged again before use.
pub async fn connect(url: &str) -> Result<PgPool, StoreError> {
    let options: PgConnectOptions = url.parse().map_err(StoreError::Unreachable)?;
    PgPoolOptions::new()
        .max_connections(10)
        .acquire_timeout(Duration::from_secs(2))
        .test_before_acquire(false)
        .before_acquire(|conn, meta| {
            Box::pin(async move {
                if meta.idle_for >= PING_IF_IDLE_FOR {
                    sqlx::Connection::ping(conn).await?;
                }
                Ok(true)
            })
        })
        .connect_with(options)
        .await
        .map_err(StoreError::Unreachable)
}

/// `sql` with every parameter number raised by `by` (`$1` becomes `$29` with 28), so
/// statements written on their own can be joined into one. The statements given have no `$`
/// outside parameters (no dollar quoting, no `$` in literals).
fn shift_params(sql: &str, by: usize) -> String {
    let mut out = String::with_capacity(sql.len() + 16);
    let mut rest = sql;
    while let Some(at) = rest.find('$') {
        out.push_str(&rest[..=at]);
        rest = &rest[at + 1..];
        let digits = rest.bytes().take_while(u8::is_ascii_digit).count();
        match rest[..digits].parse::<usize>() {
            Ok(n) => out.push_str(&(n + by).to_string()),
            Err(_) => out.push_str(&rest[..digits]),
        }
        rest = &rest[digits..];
    }
    out.push_str(rest);
    out
}

pub async fn migrate(pool: &PgPool) -> Result<(), StoreError> {
    MIGRATOR.run(pool).await?;
    Ok(())
}

/// Whether every migration this binary knows has been applied (for `/readyz` and `doctor`).
pub async fn migrations_current(pool: &PgPool) -> Result<bool, StoreError> {
    let applied: Vec<i64> =
        sqlx::query_scalar("SELECT version FROM _sqlx_migrations WHERE success ORDER BY version")
            .fetch_all(pool)
            .await
            .or_else(|e| match &e {
                sqlx::Error::Database(d) if d.code().as_deref() == Some("42P01") => Ok(Vec::new()),
                _ => Err(e),
            })?;
    Ok(MIGRATOR.iter().all(|m| applied.contains(&m.version)))
}

#[cfg(test)]
mod tests {
    use super::shift_params;

    #[test]
    fn parameters_are_renumbered_and_nothing_else_changes() {
        assert_eq!(
            shift_params("SELECT $1::int, $12, '$' || x$, $", 28),
            "SELECT $29::int, $40, '$' || x$, $"
        );
        assert_eq!(shift_params("no parameters", 5), "no parameters");
    }
}
