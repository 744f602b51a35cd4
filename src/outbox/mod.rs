//! Delivering the outbox: every Slack message (and Linear call) that follows an event.
//!
//! - `worker`: claiming rows with leases, retries and backoff, the delivery loop.
//! - `conn`: the one connection each claim's statements share, kept for the next claim.
//! - `effects`: what each `Effect` does against Slack and Linear.
//! - `error`: why a delivery did not happen (`DeliveryError`).
//! - `listen`: `LISTEN` wake-ups from committing transactions.
//! - `digest`: the weekly digest's message and chart upload.
//! - `pace`: which Slack limit (method, channel) each effect meets; the pauses themselves
//!   are `slack::pace`, shared through the context.
//! - `home`: App Home publishes, and marking open Homes changed after request effects.
//!
//! Rows are leased (not locked) while a worker talks to Slack, so a slow or rate-limited
//! call holds no database lock, and a worker that dies only delays its rows until the lease
//! runs out. A claim takes a request lane's head with the rows queued behind it, or nothing
//! of that lane, and never a row behind one another worker holds, so each request's thread
//! reads in order however many workers run. A lane's rows go out one after another; lanes
//! go concurrently.
//!
//! Root-message updates coalesce (`OutboxOptions::coalesce`, in the context): the root is rendered from the request as it is when
//! delivered, so one `chat.update` carries every update still waiting for that request, and
//! those rows are marked delivered with the carrier's id (`carried_by`) in the same
//! statement as the carrier. Thread replies and DMs stay one per event, in order.

mod conn;
mod digest;
mod effects;
mod error;
mod home;
mod listen;
mod pace;
mod worker;

use std::sync::Arc;

use crate::context::AppState;

pub use worker::{retry_delay, Drained, Outcome};

/// One delivery worker: the daemon's context and the name its leases go by.
#[derive(Debug, Clone)]
pub struct Deliverer {
    pub state: Arc<AppState>,
    /// Names this worker's leases, so a late mark from an expired lease is ignored.
    pub worker: String,
}

impl Deliverer {
    /// A worker with a fresh lease name.
    pub fn new(state: Arc<AppState>) -> Self {
        Deliverer {
            state,
            worker: format!("outbox-{}", uuid::Uuid::new_v4().simple()),
        }
    }
}
