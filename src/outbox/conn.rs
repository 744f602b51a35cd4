//! The one connection a claim's statements share.
//!
//! sqlx pings every connection it takes back into the pool (see `store::Kept`). A claim
//! that borrowed a connection for each statement paid a ping per statement: the claim, the
//! request read, the log read and the marks of one approval cost four pings, each a round
//! trip to Postgres and a wake-up of this process. A claim takes one connection for all its
//! statements, from the daemon's kept ones, and gives it back there when it ends, so a claim
//! whose statements all succeeded pays none.
//!
//! Lanes run concurrently, so the connection is lent one statement (or one short group of
//! them) at a time, never across a Slack call: a slow call holds no other lane's statements
//! back. The whole worker holds one connection, so the appends keep the rest of the pool.
//!
//! A statement that fails, or whose future is dropped halfway (a call's timeout, shutdown),
//! takes the connection with it back to the pool, where sqlx's ping finds out whether it is
//! still usable (a dropped statement can leave it mid-reply; a rolled-back transaction has
//! its `ROLLBACK` still to send) and closes it if not. The claim's next statement takes
//! another.

use sqlx::pool::PoolConnection;
use sqlx::{PgConnection, Postgres};
use tokio::sync::Mutex;

use crate::store::{Kept, StoreError};

#[derive(Debug)]
pub(super) struct ClaimConn {
    kept: Kept,
    held: Mutex<Option<PoolConnection<Postgres>>>,
}

impl ClaimConn {
    /// Takes nothing until the first statement.
    pub(super) fn new(kept: &Kept) -> Self {
        Self {
            kept: kept.clone(),
            held: Mutex::new(None),
        }
    }

    /// Runs `statements` on the claim's connection, taking one first if none is held. The
    /// connection is kept for the next statement only when they succeed.
    pub(super) async fn run<T>(
        &self,
        statements: impl AsyncFnOnce(&mut PgConnection) -> Result<T, StoreError>,
    ) -> Result<T, StoreError> {
        let mut held = self.held.lock().await;
        // Taken out of the slot while in use: if this future is dropped halfway, the
        // connection goes back to the pool with it instead of serving the next statement.
        let mut conn = match held.take() {
            Some(conn) => conn,
            None => self.kept.take().await?,
        };
        let result = statements(&mut conn).await;
        if result.is_ok() {
            *held = Some(conn);
        }
        result
    }
}

impl Drop for ClaimConn {
    /// The claim is over: its connection, whose statements all succeeded, is kept for the
    /// next claim or append.
    fn drop(&mut self) {
        if let Some(conn) = self.held.get_mut().take() {
            self.kept.give_back(conn);
        }
    }
}

#[cfg(test)]
mod tests {
    use sqlx::PgPool;

    use super::*;

    async fn backend_pid(db: &ClaimConn) -> i32 {
        db.run(async |c| {
            Ok(sqlx::query_scalar("SELECT pg_backend_pid()")
                .fetch_one(c)
                .await?)
        })
        .await
        .unwrap()
    }

    fn holds(db: &ClaimConn) -> bool {
        db.held.try_lock().expect("no statement running").is_some()
    }

    #[sqlx::test(migrations = false)]
    async fn statements_share_one_connection_until_one_fails(pool: PgPool) {
        let db = ClaimConn::new(&Kept::from(&pool));
        assert!(!holds(&db), "nothing borrowed before the first statement");
        let first = backend_pid(&db).await;
        assert!(holds(&db));
        assert_eq!(
            backend_pid(&db).await,
            first,
            "the second statement reuses it"
        );

        let failed = db
            .run(async |c| Ok(sqlx::query("SELECT 1/0").execute(c).await?))
            .await;
        assert!(failed.is_err());
        assert!(
            !holds(&db),
            "a failed statement's connection goes back to the pool"
        );
        backend_pid(&db).await;
        assert!(holds(&db), "the next statement borrows one again");
    }

    #[sqlx::test(migrations = false)]
    async fn a_statement_dropped_halfway_does_not_leave_its_connection_to_the_next(pool: PgPool) {
        let db = ClaimConn::new(&Kept::from(&pool));
        let first = backend_pid(&db).await;
        // Dropped while Postgres is still sleeping: the reply is still to come on that
        // connection, so the next statement must not be sent on it.
        let dropped = tokio::time::timeout(
            std::time::Duration::from_millis(50),
            db.run(async |c| Ok(sqlx::query("SELECT pg_sleep(1)").execute(c).await?)),
        )
        .await;
        assert!(dropped.is_err(), "the sleep was cut short");
        assert!(!holds(&db));
        assert_ne!(
            backend_pid(&db).await,
            first,
            "the next statement runs on another connection"
        );
    }

    #[sqlx::test(migrations = false)]
    async fn a_claim_gives_its_connection_to_the_next_claim_not_the_pool(pool: PgPool) {
        let kept = Kept::new(&pool, 1);
        let first = {
            let db = ClaimConn::new(&kept);
            backend_pid(&db).await
        };
        assert_eq!(kept.idle(), 1, "kept when the claim ended");
        let db = ClaimConn::new(&kept);
        assert_eq!(
            backend_pid(&db).await,
            first,
            "the next claim's statements use it"
        );
        let failed = db
            .run(async |c| Ok(sqlx::query("SELECT 1/0").execute(c).await?))
            .await;
        assert!(failed.is_err());
        drop(db);
        assert_eq!(
            kept.idle(),
            0,
            "a failed statement's connection is not kept"
        );
    }
}
