//! State shared by the HTTP server, the socket tasks and the driver: the state mutex, the
//! change signal that `wait_*` calls sleep on, and the shutdown signal.
//!
//! Invariant: the mutex is a `std::sync::Mutex` and is never held across an `.await`, so
//! every access is short and no async task can deadlock on it.

use std::future::Future;
use std::sync::{Arc, Mutex, MutexGuard, PoisonError};
use std::time::Duration;
use tokio::sync::watch;

use super::config::EmulatorConfig;
use super::error::EmulatorError;
use super::limits::RateClock;
use super::state::State;

pub(crate) struct Shared {
    pub(crate) config: EmulatorConfig,
    state: Mutex<State>,
    /// The time the rate limits count in.
    pub(crate) rate_clock: RateClock,
    /// Bumped after every mutation; waiters re-check their condition when it moves.
    changed: watch::Sender<u64>,
    shutdown: watch::Sender<bool>,
    /// `http://127.0.0.1:<port>` of the Web API server.
    pub(crate) http_base: String,
    /// `ws://127.0.0.1:<port>` of the Socket Mode listener.
    pub(crate) ws_base: String,
}

impl Shared {
    pub(crate) fn new(config: EmulatorConfig, http_base: String, ws_base: String) -> Arc<Self> {
        let state = State::new(&config);
        Arc::new(Self {
            config,
            state: Mutex::new(state),
            rate_clock: RateClock::new(),
            changed: watch::channel(0).0,
            shutdown: watch::channel(false).0,
            http_base,
            ws_base,
        })
    }

    /// Reads the state. A poisoned lock is recovered: every mutation below is a handful of
    /// pushes and inserts that cannot leave the state half-updated in a way that matters to
    /// a test double.
    pub(crate) fn read<R>(&self, f: impl FnOnce(&State) -> R) -> R {
        f(&self.lock())
    }

    /// Mutates the state and wakes every waiter.
    pub(crate) fn update<R>(&self, f: impl FnOnce(&mut State) -> R) -> R {
        let result = f(&mut self.lock());
        self.changed.send_modify(|v| *v = v.wrapping_add(1));
        result
    }

    fn lock(&self) -> MutexGuard<'_, State> {
        self.state.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// Waits until `check` returns `Some`, re-checking after every state change.
    pub(crate) async fn wait_for<T>(
        &self,
        what: &str,
        within: Duration,
        mut check: impl FnMut(&State) -> Option<T>,
    ) -> Result<T, EmulatorError> {
        let mut changes = self.changed.subscribe();
        let waiting = async {
            loop {
                // Mark the current version seen before looking, so a change that lands
                // between the check and `changed()` still wakes us.
                changes.borrow_and_update();
                if let Some(found) = self.read(&mut check) {
                    return found;
                }
                if changes.changed().await.is_err() {
                    std::future::pending::<()>().await;
                }
            }
        };
        tokio::time::timeout(within, waiting)
            .await
            .map_err(|_| EmulatorError::Timeout {
                what: what.to_owned(),
                after: within,
            })
    }

    /// Runs a task that stops when the emulator shuts down.
    pub(crate) fn spawn<F>(&self, task: F)
    where
        F: Future<Output = ()> + Send + 'static,
    {
        let mut stop = self.shutdown.subscribe();
        tokio::spawn(async move {
            tokio::select! {
                () = task => {}
                _ = stop.wait_for(|stopped| *stopped) => {}
            }
        });
    }

    pub(crate) fn shutdown_signal(&self) -> impl Future<Output = ()> + Send + 'static {
        let mut stop = self.shutdown.subscribe();
        async move {
            let _ = stop.wait_for(|stopped| *stopped).await;
        }
    }

    pub(crate) fn trigger_shutdown(&self) {
        self.shutdown.send_replace(true);
    }
}
