//! Connections kept between an append or a claim and the next, instead of going back to the
//! pool.
//!
//! sqlx pings every connection it takes back into the pool, whatever happened on it
//! (`sqlx-core` 0.9, `pool/connection.rs`, `return_to_pool`; no option turns it off): a round
//! trip that does no work, and a task and a wake-up in this process. Every approval's append
//! gave its connection back, and so did every claim of the outbox, so each approval paid two.
//! A connection whose statements all succeeded is idle and in no transaction; it is kept here
//! for the next one. Only a connection that failed, or whose statement was dropped halfway
//! (a timeout, shutdown), goes back to the pool, where the ping finds out whether it is still
//! usable (a dropped statement can leave it mid-reply) and closes it if not.
//!
//! Kept connections still count against the pool's size, so few are kept, and not for long:
//! at most a quarter of the pool (and [`KEEP`]), each for [`LINGER`] after its last use. Then
//! a task gives it back to the pool, whose other users (sweeps, the HTTP server, a second
//! daemon on the same pool in tests) need it more than a daemon that has gone quiet; it would
//! need a ping before its next use anyway, as the pool pings its own idle ones
//! (`super::connect`). Closing the pool gives every kept one back at once (`PgPool::close`
//! waits for them all, and a task that outlives its daemon can keep a clone of this alive),
//! and so does dropping the last clone.

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex, PoisonError, Weak};
use std::time::{Duration, Instant};

use sqlx::pool::{CloseEvent, PoolConnection};
use sqlx::{PgPool, Postgres};
use tokio::sync::Notify;

use super::{StoreError, PING_IF_IDLE_FOR};

/// How many idle connections are kept at most: what a daemon's steady load reuses, one
/// click's append and one claim of the outbox at a time.
pub const KEEP: usize = 2;

/// How long a connection is kept unused before it goes back to the pool: as long as the
/// pool lets its own sit idle before pinging them.
pub const LINGER: Duration = PING_IF_IDLE_FOR;

type Stack = Vec<(PoolConnection<Postgres>, Instant)>;

/// A pool's connections, with a few idle ones kept out of it between uses. Clones share them.
#[derive(Debug, Clone)]
pub struct Kept {
    inner: Arc<Inner>,
}

#[derive(Debug)]
struct Inner {
    pool: PgPool,
    keep: usize,
    /// The most recently given back last, with when.
    idle: Mutex<Stack>,
    /// Wakes the task that gives kept connections back when it waits with none kept. Its
    /// own `Arc`: the task waits on it without holding `Inner`.
    wake: Arc<Notify>,
    /// The task waits with none kept, so a connection given back must wake it.
    parked: AtomicBool,
}

impl Drop for Inner {
    fn drop(&mut self) {
        // The task holds only a weak reference: it finds it gone and ends.
        self.wake.notify_one();
    }
}

impl Kept {
    /// Keeps up to `keep` idle connections of `pool`, and never more than a quarter of its
    /// size; with 0 every connection goes back to the pool as soon as it is given back.
    ///
    /// Called inside a Tokio runtime when anything is to be kept: a task gives the kept
    /// connections back after [`LINGER`], or when the pool is closed.
    pub fn new(pool: &PgPool, keep: usize) -> Self {
        let keep = keep.min(pool.options().get_max_connections() as usize / 4);
        let kept = Kept {
            inner: Arc::new(Inner {
                pool: pool.clone(),
                keep,
                idle: Mutex::new(Vec::with_capacity(keep)),
                wake: Arc::new(Notify::new()),
                parked: AtomicBool::new(true),
            }),
        };
        if keep > 0 {
            tokio::spawn(give_back_unused(
                Arc::downgrade(&kept.inner),
                kept.inner.wake.clone(),
                pool.close_event(),
            ));
        }
        kept
    }

    /// A connection: the one kept most recently, else one from the pool. Give it back with
    /// [`Kept::give_back`] once its statements have all succeeded; drop it otherwise.
    pub async fn take(&self) -> Result<PoolConnection<Postgres>, StoreError> {
        while let Some((mut conn, since)) = self.pop() {
            if since.elapsed() < PING_IF_IDLE_FOR
                || sqlx::Connection::ping(&mut *conn).await.is_ok()
            {
                return Ok(conn);
            }
            // It did not answer: closed, not handed to the pool's ping as well.
            conn.close_on_drop();
        }
        self.inner
            .pool
            .acquire()
            .await
            .map_err(StoreError::Unreachable)
    }

    /// Keeps `conn` for the next [`Kept::take`] if there is room, else gives it back to the
    /// pool. Only for a connection whose statements all succeeded, with no transaction open.
    pub fn give_back(&self, conn: PoolConnection<Postgres>) {
        let mut idle = self.lock();
        if idle.len() < self.inner.keep && !self.inner.pool.is_closed() {
            idle.push((conn, Instant::now()));
            drop(idle);
            // Only a task waiting with nothing to time needs waking: one that is timing an
            // older connection comes back on its own.
            if self.inner.parked.swap(false, Ordering::AcqRel) {
                self.inner.wake.notify_one();
            }
        }
    }

    /// How many are kept now.
    pub fn idle(&self) -> usize {
        self.lock().len()
    }

    fn pop(&self) -> Option<(PoolConnection<Postgres>, Instant)> {
        self.lock().pop()
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, Stack> {
        // A panic while holding the lock cannot leave the stack half-changed (push and pop
        // are whole), so a poisoned one is used as it is.
        self.inner
            .idle
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
    }

    /// Takes out every connection given back before `before` (all of them after the pool
    /// closed); returns them, to be dropped outside the lock, and when the oldest left was
    /// given back.
    fn unused_since(&self, before: Instant) -> (Stack, Option<Instant>) {
        let mut idle = self.lock();
        let stale = if self.inner.pool.is_closed() {
            idle.len()
        } else {
            idle.iter().take_while(|(_, at)| *at <= before).count()
        };
        let gone = idle.drain(..stale).collect();
        (gone, idle.first().map(|(_, at)| *at))
    }
}

/// The task of [`Kept::new`]: gives each kept connection back to the pool once it has sat
/// unused for [`LINGER`], and all of them when the pool closes. It sleeps only until the
/// oldest one is due, and waits without a timer while none is kept. It ends with the last
/// clone.
async fn give_back_unused(weak: Weak<Inner>, wake: Arc<Notify>, closed: CloseEvent) {
    tokio::pin!(closed);
    loop {
        let Some(inner) = weak.upgrade() else { return };
        let kept = Kept { inner };
        let (gone, oldest) = kept.unused_since(Instant::now() - LINGER);
        drop(gone);
        if oldest.is_none() {
            let parked = &kept.inner.parked;
            parked.store(true, Ordering::Release);
            // Given back between the look and the flag: not missed.
            if kept.idle() > 0 && parked.swap(false, Ordering::AcqRel) {
                continue;
            }
        }
        drop(kept);
        let due = oldest.map(|at| tokio::time::Instant::from_std(at + LINGER));
        tokio::select! {
            _ = &mut closed => {
                // A closed pool's are all taken (`unused_since`), and nothing is kept again.
                if let Some(inner) = weak.upgrade() {
                    drop(Kept { inner }.unused_since(Instant::now()));
                }
                return;
            }
            _ = wake.notified() => {}
            _ = tokio::time::sleep_until(due.unwrap_or_else(tokio::time::Instant::now)), if due.is_some() => {}
        }
    }
}

impl From<&PgPool> for Kept {
    /// A pool with nothing kept: every connection goes back to it at once.
    fn from(pool: &PgPool) -> Self {
        Kept::new(pool, 0)
    }
}

impl From<&Kept> for Kept {
    fn from(kept: &Kept) -> Self {
        kept.clone()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    async fn backend_pid(conn: &mut PoolConnection<Postgres>) -> i32 {
        sqlx::query_scalar("SELECT pg_backend_pid()")
            .fetch_one(&mut **conn)
            .await
            .unwrap()
    }

    #[sqlx::test(migrations = false)]
    async fn a_connection_given_back_is_the_next_one_taken(pool: PgPool) {
        let kept = Kept::new(&pool, 1);
        let mut conn = kept.take().await.unwrap();
        let first = backend_pid(&mut conn).await;
        kept.give_back(conn);
        assert_eq!(kept.idle(), 1);
        let mut again = kept.take().await.unwrap();
        assert_eq!(backend_pid(&mut again).await, first, "the kept one");
        assert_eq!(kept.idle(), 0, "taken out while in use");

        // Another taken meanwhile comes from the pool; with room for one, only the first
        // given back is kept.
        let mut other = kept.take().await.unwrap();
        assert_ne!(backend_pid(&mut other).await, first);
        kept.give_back(again);
        kept.give_back(other);
        assert_eq!(kept.idle(), 1, "the other went back to the pool");
    }

    #[sqlx::test(migrations = false)]
    async fn nothing_is_kept_from_a_bare_pool(pool: PgPool) {
        let kept = Kept::from(&pool);
        let conn = kept.take().await.unwrap();
        kept.give_back(conn);
        assert_eq!(kept.idle(), 0);
    }

    #[sqlx::test(migrations = false)]
    async fn a_kept_connection_that_died_is_replaced(pool: PgPool) {
        let kept = Kept::new(&pool, 1);
        let mut conn = kept.take().await.unwrap();
        let first = backend_pid(&mut conn).await;
        kept.give_back(conn);
        // Ended under it, as a Postgres restart would, and idle long enough to be pinged.
        sqlx::query("SELECT pg_terminate_backend($1, 5000)")
            .bind(first)
            .execute(&pool)
            .await
            .unwrap();
        kept.lock()[0].1 -= PING_IF_IDLE_FOR;
        let mut next = kept.take().await.unwrap();
        assert_ne!(backend_pid(&mut next).await, first, "a live one instead");
    }

    #[sqlx::test(migrations = false)]
    async fn closing_the_pool_gives_the_kept_connections_back(pool: PgPool) {
        let kept = Kept::new(&pool, 1);
        let one = kept.take().await.unwrap();
        kept.give_back(one);
        assert_eq!(kept.idle(), 1);
        // Would wait for ever if they stayed kept: `kept` is still alive here.
        tokio::time::timeout(std::time::Duration::from_secs(10), pool.close())
            .await
            .expect("the pool closed with `kept` alive");
        assert_eq!(kept.idle(), 0);
        assert!(pool.is_closed());
    }

    #[sqlx::test(migrations = false)]
    async fn only_connections_unused_for_the_linger_go_back(pool: PgPool) {
        let kept = Kept::new(&pool, KEEP);
        assert_eq!(kept.inner.keep, 1, "a quarter of the test pool's five");
        let conn = kept.take().await.unwrap();
        kept.give_back(conn);
        let (gone, oldest) = kept.unused_since(Instant::now() - LINGER);
        assert!(gone.is_empty(), "just given back");
        assert!(oldest.is_some());
        kept.lock()[0].1 -= LINGER;
        let (gone, oldest) = kept.unused_since(Instant::now() - LINGER);
        assert_eq!((gone.len(), oldest), (1, None));
        assert_eq!(kept.idle(), 0);
    }
}
