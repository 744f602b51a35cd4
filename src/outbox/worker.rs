//! The delivery worker: claims due rows under a lease, performs each one's effect, and
//! marks it delivered, retried later (honouring `Retry-After`, else backing off) or failed.

use std::time::Duration;

use chrono::{DateTime, Utc};
use futures_util::future::join_all;
use tokio_util::sync::CancellationToken;
use tracing::{error, info_span, warn, Instrument};

use super::effects::DeliveryError;
use super::listen::listen;
use super::Deliverer;
use crate::linear::LinearError;
use crate::slack::api::ApiError;
use crate::store::outbox::OutboxRow;
use crate::store::{self, StoreError};

/// After this many attempts a transiently failing row is given up on and left for a human.
const MAX_ATTEMPTS: i32 = 25;
const LEASE: chrono::Duration = chrono::Duration::seconds(60);
const BATCH: i64 = 32;
/// One Slack call may not hold a delivery forever.
const CALL_TIMEOUT: Duration = Duration::from_secs(15);

#[derive(Debug)]
pub enum Outcome {
    Delivered,
    RetryAt(DateTime<Utc>, String),
    Failed(String),
}

/// Retry delay after `attempts` transient failures: 1 s doubling to 5 min.
pub fn retry_delay(attempts: i32) -> chrono::Duration {
    let secs = 1i64 << attempts.clamp(0, 9);
    chrono::Duration::seconds(secs.min(300))
}

impl Deliverer {
    /// Claims one batch and delivers it. Returns how many rows were handled.
    pub async fn drain_once(&self) -> Result<usize, StoreError> {
        let now = self.state.clock.now();
        let mut rows =
            store::outbox::claim(&self.state.pool, &self.worker, now, now + LEASE, BATCH).await?;
        // Homes only fill what room the request effects left: they are the lowest priority.
        let room = BATCH - rows.len() as i64;
        if room > 0 {
            let homes =
                store::outbox::claim_homes(&self.state.pool, &self.worker, now, now + LEASE, room)
                    .await?;
            rows.extend(homes);
        }
        let n = rows.len();
        // At most one row per request per batch, so the batch can go out concurrently.
        let results = join_all(rows.iter().map(|row| {
            let span = info_span!("outbox_send", outbox_id = row.id, attempt = row.attempts, effect = row.effect.name(), request_id = %row.request_id.map_or_else(|| "none (weekly digest)".to_string(), |r| r.to_string()));
            self.deliver_one(row).instrument(span)
        }))
        .await;
        for result in results {
            result?;
        }
        self.follow_homes(&rows).await;
        Ok(n)
    }

    /// Drains until nothing is due (tests and shutdown use this).
    pub async fn drain(&self) -> Result<usize, StoreError> {
        let mut total = 0;
        loop {
            let n = self.drain_once().await?;
            if n == 0 {
                return Ok(total);
            }
            total += n;
        }
    }

    async fn deliver_one(&self, row: &OutboxRow) -> Result<(), StoreError> {
        let outcome = match tokio::time::timeout(CALL_TIMEOUT, self.perform(row)).await {
            Err(_) => Outcome::RetryAt(
                self.state.clock.now() + retry_delay(row.attempts),
                "Slack call timed out".into(),
            ),
            Ok(Ok(())) => Outcome::Delivered,
            Ok(Err(e)) => self.judge(row, e),
        };
        let now = self.state.clock.now();
        let [delivered, retry, failed] = crate::metrics::DELIVERY_OUTCOMES;
        let label = match &outcome {
            Outcome::Delivered => delivered,
            Outcome::RetryAt(..) => retry,
            Outcome::Failed(_) => failed,
        };
        self.state.metrics.delivery(row.effect.name(), label);
        match outcome {
            Outcome::Delivered => {
                store::outbox::mark_delivered(&self.state.pool, row.id, &self.worker, now).await?
            }
            Outcome::RetryAt(at, why) => {
                warn!(error.message = %why, retry_at = %at, "delivery will be retried");
                store::outbox::retry_later(&self.state.pool, row.id, at, &why).await?;
            }
            Outcome::Failed(why) => {
                error!(error.message = %why, "delivery failed for good; it needs a human");
                store::outbox::mark_failed(&self.state.pool, row.id, &why).await?;
            }
        }
        Ok(())
    }

    fn judge(&self, row: &OutboxRow, e: DeliveryError) -> Outcome {
        let now = self.state.clock.now();
        match e {
            DeliveryError::Api(ApiError::RateLimited { retry_after }) => {
                let wait = retry_after.map_or(chrono::Duration::seconds(30), |d| {
                    chrono::Duration::from_std(d).unwrap_or(chrono::Duration::seconds(30))
                });
                Outcome::RetryAt(now + wait, "rate limited by Slack".into())
            }
            DeliveryError::Api(e @ ApiError::Permanent { .. }) => Outcome::Failed(format!(
                "{e}; to fix: {}",
                e.remedy().unwrap_or("see the error")
            )),
            // A bad key is retried like an outage: once someone fixes LINEAR_API_KEY, the
            // issue and its comments still arrive.
            DeliveryError::Linear(e @ LinearError::Rejected(_)) => Outcome::Failed(e.to_string()),
            e if row.attempts >= MAX_ATTEMPTS => {
                Outcome::Failed(format!("gave up after {} attempts: {e}", row.attempts))
            }
            DeliveryError::Missing(why) => Outcome::Failed(why),
            e => Outcome::RetryAt(now + retry_delay(row.attempts), e.to_string()),
        }
    }

    /// Delivers until `shutdown`, woken by NOTIFY from committing transactions and by a
    /// short poll (for retries falling due and for a lost listener connection).
    pub async fn run(self, shutdown: CancellationToken, poll: Duration) {
        let wake = tokio::sync::Notify::new();
        let work = async {
            loop {
                match self.drain_once().await {
                    Ok(n) if n > 0 => continue,
                    Ok(_) => {}
                    Err(e) => warn!(error.message = %e, "outbox: claiming failed; will retry"),
                }
                tokio::select! {
                    _ = shutdown.cancelled() => return,
                    _ = wake.notified() => {}
                    _ = tokio::time::sleep(poll) => {}
                }
            }
        };
        // `true` for a notification; `false` when the connection was lost and re-listened.
        let heard = |notified: bool| {
            if notified {
                self.state.metrics.outbox_notifications.inc();
            }
            wake.notify_one();
        };
        tokio::join!(listen(&self.state.pool, heard, &shutdown, poll), work);
    }
}
