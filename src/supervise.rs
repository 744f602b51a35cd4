//! The daemon's watch over the tasks it cannot run without (the socket, the outbox worker,
//! the scheduler). Each runs until shutdown; one that ends before (returns, fails or panics)
//! leaves the daemon deaf, mute or without timers while it still looks alive. So the first
//! such end is logged, `/readyz` reports it at once, and the daemon stops with an error, for
//! the process supervisor to restart it.

use std::future::Future;
use std::sync::{Mutex, OnceLock};

use tokio::task::{AbortHandle, JoinError, JoinHandle};
use tokio_util::sync::CancellationToken;
use tracing::error;

#[derive(Debug, Default)]
pub struct Supervisor {
    /// Set once, by the first task to end unexpectedly.
    failure: OnceLock<String>,
    failed: CancellationToken,
    /// Set when shutdown begins: from then on tasks are expected to end.
    stopping: CancellationToken,
    tasks: Mutex<Vec<(&'static str, AbortHandle)>>,
}

impl Supervisor {
    pub fn new() -> Self {
        Self::default()
    }

    /// Spawns `task` under watch. The returned handle ends when the task does; shutdown
    /// awaits it like the task itself.
    pub fn spawn<F>(self: &std::sync::Arc<Self>, name: &'static str, task: F) -> JoinHandle<()>
    where
        F: Future<Output = Result<(), String>> + Send + 'static,
    {
        let inner = tokio::spawn(task);
        if let Ok(mut tasks) = self.tasks.lock() {
            tasks.push((name, inner.abort_handle()));
        }
        let watch = self.clone();
        tokio::spawn(async move {
            let end = inner.await;
            if !watch.stopping.is_cancelled() {
                watch.fail(format!("the {name} task {}", describe(end)));
            }
        })
    }

    /// Records the first unexpected end; later ones are only logged.
    pub fn fail(&self, why: String) {
        error!(reason = %why, "a task the daemon needs has ended; stopping so the process supervisor restarts it");
        if self.failure.set(why).is_ok() {
            self.failed.cancel();
        }
    }

    /// Why the daemon can no longer work, once a task has ended unexpectedly.
    pub fn failure(&self) -> Option<&str> {
        self.failure.get().map(String::as_str)
    }

    /// Resolves with the reason when a task ends unexpectedly.
    pub async fn failed(&self) -> String {
        self.failed.cancelled().await;
        self.failure().unwrap_or_default().to_string()
    }

    /// Shutdown has begun: tasks ending from now on are expected to.
    pub fn stopping(&self) {
        self.stopping.cancel();
    }

    /// Aborts the named task as if it had died, for tests of the supervision itself.
    #[doc(hidden)]
    pub fn abort(&self, name: &str) -> bool {
        let tasks = self.tasks.lock().map(|t| t.clone()).unwrap_or_default();
        let found: Vec<_> = tasks.iter().filter(|(n, _)| *n == name).collect();
        for (_, task) in &found {
            task.abort();
        }
        !found.is_empty()
    }
}

fn describe(end: Result<Result<(), String>, JoinError>) -> String {
    match end {
        Ok(Ok(())) => "returned".into(),
        Ok(Err(why)) => format!("failed: {why}"),
        Err(e) if e.is_panic() => format!("panicked: {}", panic_message(&*e.into_panic())),
        Err(_) => "was aborted".into(),
    }
}

/// What a caught panic said, when it said it with a string.
pub fn panic_message(panic: &(dyn std::any::Any + Send)) -> String {
    panic
        .downcast_ref::<&str>()
        .map(|s| s.to_string())
        .or_else(|| panic.downcast_ref::<String>().cloned())
        .unwrap_or_else(|| "(no message)".into())
}
