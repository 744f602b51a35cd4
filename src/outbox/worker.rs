//! The delivery worker: claims due rows under a lease, a request lane's rows together,
//! performs each one's effect in order, and marks them delivered (in batches), retried later
//! (honouring `Retry-After`, else backing off) or failed.

use std::sync::Arc;
use std::time::Duration;

use chrono::{DateTime, Utc};
use futures_util::future::join_all;
use futures_util::FutureExt;
use tokio_util::sync::CancellationToken;
use tracing::{error, info, info_span, warn, Instrument};

use super::conn::ClaimConn;
use super::effects::{Known, LaneCache};
use super::error::DeliveryError;
use super::home::{home_users, HomeBatch};
use super::listen::listen;
use super::pace::key_of;
use super::Deliverer;
use crate::domain::Effect;
use crate::linear::LinearError;
use crate::slack::api::ApiError;
use crate::store::outbox::{OutboxRow, LEASE};
use crate::store::requests::LaneReading;
use crate::store::{self, StoreError};

/// The retry reason of a `429`: it pauses the method or channel, not just the row.
const RATE_LIMITED: &str = "rate limited by Slack";
/// The retry reason's start when Slack failed (5xx, unreachable).
const SLACK_FAILED: &str = "Slack failed";

/// After this many attempts a transiently failing row is given up on and left for a human.
const MAX_ATTEMPTS: i32 = 25;
/// One Slack call may not hold a delivery forever.
const CALL_TIMEOUT: Duration = Duration::from_secs(15);
/// Delivered rows are marked at the latest after this many, so a crash repeats few.
const MARK_EVERY: usize = 8;
/// While Slack is failing, how often `auth.test` asks whether it is back.
const PROBE_EVERY: chrono::Duration = chrono::Duration::seconds(2);

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

/// What a lane's delivery has done and not yet written.
#[derive(Default)]
struct Marks {
    delivered: Vec<i64>,
    /// (row, the row whose call carried it).
    carried: Vec<(i64, i64)>,
}

impl Marks {
    fn len(&self) -> usize {
        self.delivered.len() + self.carried.len()
    }
    fn covers(&self, id: i64) -> bool {
        self.carried.iter().any(|(row, _)| *row == id)
    }
}

/// What one claim did.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Drained {
    /// Rows claimed and handled.
    pub rows: usize,
    /// More may be due now: the claim was full, or rows were handed back. Otherwise every
    /// due row was claimed, and what becomes due next is announced (`NOTIFY`) or found by
    /// the poll, so claiming again at once would only find nothing.
    pub again: bool,
}

impl Deliverer {
    /// Delivers what this process's appends handed to this worker, then claims one batch and
    /// delivers it.
    pub async fn drain_once(&self) -> Result<Drained, StoreError> {
        let handed = self.deliver_handed().await?;
        let claimed = self.claim_and_deliver().await?;
        Ok(Drained {
            rows: handed.rows + claimed.rows,
            again: handed.again || claimed.again,
        })
    }

    /// Delivers the rows this process's appends leased to this worker ([`crate::handoff`]),
    /// each request's as a claimed lane, from what its append held: no claim, and nothing
    /// read back. `again` when rows were handed back due (their lease would run out), for a
    /// claim to take.
    async fn deliver_handed(&self) -> Result<Drained, StoreError> {
        let handed = self.state.handoff.take(&self.worker);
        if handed.is_empty() {
            return Ok(Drained {
                rows: 0,
                again: false,
            });
        }
        let rows = handed.iter().map(|h| h.rows.len()).sum();
        let db = Arc::new(ClaimConn::new(&self.state.kept));
        let results = join_all(handed.into_iter().map(|h| {
            // Nothing of the lane was pending before the append, so its own root updates are
            // all that wait.
            let waiting = h.rows.iter();
            let waiting = waiting.filter(|r| r.effect == Effect::UpdateRootMessage);
            let reading = LaneReading {
                request: h.request.clone(),
                links: h.links,
                waiting: waiting.map(|r| r.id).collect(),
                log: None,
            };
            let known = Known {
                reading,
                event: Some((h.request, h.event)),
            };
            self.deliver_lane(h.rows, Some(known), h.lease.until, None, db.clone())
        }))
        .await;
        let mut released = false;
        for result in results {
            released |= result?;
        }
        Ok(Drained {
            rows,
            again: released,
        })
    }

    /// Claims one batch and delivers it.
    async fn claim_and_deliver(&self) -> Result<Drained, StoreError> {
        let now = self.state.clock.now();
        let lease_until = now + LEASE;
        let (heads, per_lane) = (self.state.outbox.lanes, self.state.outbox.per_lane.max(1));
        let db = Arc::new(ClaimConn::new(&self.state.kept));
        let worker = self.worker.as_str();
        let store::outbox::Claim { rows, mut readings } = db
            .run(async |c| store::outbox::claim(c, worker, now, lease_until, heads, per_lane).await)
            .await?;
        // Read before the rows go to their lanes; almost always none.
        let users = home_users(&rows);
        let homes = self.read_homes(&users, &db).await;
        let n = rows.len();
        // A lane's rows in order; a row of no request is a lane of its own.
        let mut lanes: Vec<Vec<OutboxRow>> = Vec::new();
        for row in rows {
            let same = |l: &Vec<OutboxRow>| {
                row.request_id.is_some()
                    && l[0].request_id == row.request_id
                    && l[0].effect.lane() == row.effect.lane()
            };
            match lanes.iter_mut().find(|l| same(l)) {
                Some(lane) => lane.push(row),
                None => lanes.push(vec![row]),
            }
        }
        let full = n as i64 >= heads || lanes.iter().any(|l| l.len() as i64 >= per_lane);
        // Lanes go concurrently; within a lane, one row after another.
        let results = join_all(lanes.into_iter().map(|lane| {
            // The claim read each request's Slack lane with its rows.
            let claimed = match (lane[0].request_id, lane[0].effect.lane()) {
                (Some(request), "slack") => readings.remove(&request).map(|reading| Known {
                    reading,
                    event: None,
                }),
                _ => None,
            };
            self.deliver_lane(lane, claimed, lease_until, homes.clone(), db.clone())
        }))
        .await;
        let mut released = false;
        for result in results {
            released |= result?;
        }
        if let Some(homes) = &homes {
            homes
                .finish(&db, &self.worker, self.state.clock.now())
                .await?;
        }
        self.follow_homes(&users, &db).await;
        Ok(Drained {
            rows: n,
            again: full || released,
        })
    }

    /// Drains until nothing is due (tests and shutdown use this).
    pub async fn drain(&self) -> Result<usize, StoreError> {
        let mut total = 0;
        loop {
            let n = self.drain_once().await?.rows;
            if n == 0 {
                return Ok(total);
            }
            total += n;
        }
    }

    /// Delivers one lane's rows in order. Returns whether rows were handed back undelivered
    /// and due (the lease would have run out before their call).
    async fn deliver_lane(
        &self,
        lane: Vec<OutboxRow>,
        claimed: Option<Known>,
        lease_until: DateTime<Utc>,
        homes: Option<Arc<HomeBatch>>,
        db: Arc<ClaimConn>,
    ) -> Result<bool, StoreError> {
        let mut cache = LaneCache::new(db, homes, &lane, claimed);
        let mut marks = Marks::default();
        let mut stopped_at = None;
        let mut out_of_lease = false;
        for (i, row) in lane.iter().enumerate() {
            if marks.covers(row.id) {
                continue;
            }
            // A call that could outlive the lease is left for the next claim.
            if self.state.clock.now() + CALL_TIMEOUT > lease_until {
                stopped_at = Some(i);
                out_of_lease = true;
                break;
            }
            let span = info_span!("outbox_send", outbox_id = row.id, attempt = row.attempts, effect = row.effect.name(), request_id = %row.request_id.map_or_else(|| "none (weekly digest)".to_string(), |r| r.to_string()));
            let go_on = self
                .deliver_row(row, &mut cache, &mut marks)
                .instrument(span)
                .await?;
            if marks.len() >= MARK_EVERY {
                self.flush(&mut marks, false, cache.db()).await?;
            }
            if !go_on {
                stopped_at = Some(i + 1);
                break;
            }
        }
        // A Home publish of the claim's batch is marked with the others, after the claim.
        if let (Some(homes), [row]) = (cache.homes(), lane.as_slice()) {
            if matches!(row.effect, Effect::PublishHome { .. }) {
                homes.delivered(marks.delivered.drain(..));
            }
        }
        // A request's effects change what open Homes show, delivered or not.
        let request_lane = lane.first().is_some_and(|r| r.request_id.is_some());
        self.flush(&mut marks, request_lane, cache.db()).await?;
        if let Some(from) = stopped_at {
            let rest: Vec<i64> = lane[from..].iter().map(|r| r.id).collect();
            cache
                .db()
                .run(async |c| store::outbox::release(c, &rest, &self.worker).await)
                .await?;
        }
        Ok(out_of_lease)
    }

    async fn flush(
        &self,
        marks: &mut Marks,
        homes_changed: bool,
        db: &ClaimConn,
    ) -> Result<(), StoreError> {
        let now = self.state.clock.now();
        let (delivered, carried) = (&marks.delivered, &marks.carried);
        db.run(async |c| {
            store::outbox::mark_delivered_many(
                c,
                &self.worker,
                delivered,
                carried,
                now,
                homes_changed,
            )
            .await
        })
        .await?;
        *marks = Marks::default();
        Ok(())
    }

    /// Delivers one row (a root update: every root update waiting, when coalescing).
    /// Returns whether the rows behind it may go now.
    async fn deliver_row(
        &self,
        row: &OutboxRow,
        cache: &mut LaneCache,
        marks: &mut Marks,
    ) -> Result<bool, StoreError> {
        let channel = self.state.settings.slack.requests_channel.as_str();
        let key = key_of(&row.effect, channel);
        // Calls of one key take turns, and each looks at the pause only once it has its
        // turn: a 429 answered to the call before it holds this one back.
        let gate = key.as_deref().map(|k| self.state.pace.gate(k));
        let _turn = match &gate {
            Some(gate) => Some(match gate.try_lock() {
                Ok(turn) => turn,
                Err(_) => {
                    cache.claimed_is_old();
                    gate.lock().await
                }
            }),
            None => None,
        };
        if let Some(key) = &key {
            if let Some(until) = self.state.pace.paused_until(key, self.state.clock.now()) {
                let why = format!("waiting for Slack's rate limit on {key}");
                cache
                    .db()
                    .run(async |c| store::outbox::defer(c, row.id, &self.worker, until, &why).await)
                    .await?;
                return Ok(false);
            }
        }
        let coalesce = self.state.outbox.coalesce && row.effect == Effect::UpdateRootMessage;
        let call = async {
            match (coalesce, row.request_id) {
                (true, Some(request)) => self
                    .coalesced_update(request, cache)
                    .await
                    .map(|c| Some(c.covered)),
                _ => self.perform(row, cache).await.map(|()| None),
            }
        };
        let (outcome, covered) = match tokio::time::timeout(CALL_TIMEOUT, call).await {
            Err(_) => (
                Outcome::RetryAt(
                    self.state.clock.now() + retry_delay(row.attempts),
                    "Slack call timed out".into(),
                ),
                None,
            ),
            Ok(Ok(covered)) => (Outcome::Delivered, covered),
            Ok(Err(e)) => (self.judge(row, e), None),
        };
        let now = self.state.clock.now();
        let [delivered, retry, failed] = crate::metrics::DELIVERY_OUTCOMES;
        let label = match &outcome {
            Outcome::Delivered => delivered,
            Outcome::RetryAt(..) => retry,
            Outcome::Failed(_) => failed,
        };
        self.state.metrics.delivery(row.effect.name(), label);
        let slack = row.effect.lane() == "slack";
        match outcome {
            Outcome::Delivered => {
                if slack && self.state.pace.slack_answered(now) {
                    self.resume_after_outage(now).await?;
                }
                marks.delivered.push(row.id);
                for other in covered.into_iter().flatten().filter(|id| *id != row.id) {
                    marks.carried.push((other, row.id));
                }
                Ok(true)
            }
            Outcome::RetryAt(at, why) => {
                warn!(error.message = %why, retry_at = %at, "delivery will be retried");
                let limited = why == RATE_LIMITED;
                if limited {
                    if let Some(key) = &key {
                        self.state.pace.pause(key, at);
                    }
                }
                let outage = slack && !limited && self.is_slack_outage(&why);
                if outage {
                    self.state.pace.slack_failed(now);
                }
                cache
                    .db()
                    .run(async |c| store::outbox::retry_later(c, row.id, at, &why, outage).await)
                    .await?;
                Ok(false)
            }
            Outcome::Failed(why) => {
                error!(error.message = %why, "delivery failed for good; it needs a human");
                cache
                    .db()
                    .run(async |c| store::outbox::mark_failed(c, row.id, &why).await)
                    .await?;
                Ok(true)
            }
        }
    }

    /// Whether a retry's reason is Slack failing (rather than Linear, or a row that cannot
    /// be delivered yet).
    fn is_slack_outage(&self, why: &str) -> bool {
        why.starts_with(SLACK_FAILED) || why == "Slack call timed out"
    }

    async fn resume_after_outage(&self, now: DateTime<Utc>) -> Result<(), StoreError> {
        let n = store::outbox::resume_after_outage(&self.state.pool, now).await?;
        if n > 0 {
            info!(
                rows = n,
                "Slack answers again: rows backing off after the outage are due now"
            );
        }
        Ok(())
    }

    /// While Slack has been failing for a minute or more, asks `auth.test` whether it is back (at most every
    /// `PROBE_EVERY`), so the backlog goes out within seconds of Slack's return instead of
    /// after each row's backoff (up to five minutes).
    async fn probe(&self, last: &mut Option<DateTime<Utc>>) -> Result<(), StoreError> {
        let now = self.state.clock.now();
        if !self.state.pace.long_outage(now) || last.is_some_and(|t| now < t + PROBE_EVERY) {
            return Ok(());
        }
        *last = Some(now);
        if tokio::time::timeout(CALL_TIMEOUT, self.state.api.auth_test())
            .await
            .is_ok_and(|r| r.is_ok())
            && self.state.pace.slack_answered(now)
        {
            self.resume_after_outage(now).await?;
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
                Outcome::RetryAt(now + wait, RATE_LIMITED.into())
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
            DeliveryError::Api(e @ ApiError::Transient(_)) => Outcome::RetryAt(
                now + retry_delay(row.attempts),
                format!("{SLACK_FAILED}: {e}"),
            ),
            e => Outcome::RetryAt(now + retry_delay(row.attempts), e.to_string()),
        }
    }

    /// Delivers until `shutdown`: what this process's appends hand over, as they do, and
    /// claims, when woken by NOTIFY from committing transactions and by a short poll (for
    /// retries falling due and for a lost listener connection).
    pub async fn run(self, shutdown: CancellationToken, poll: Duration) {
        let wake = tokio::sync::Notify::new();
        let handoff = &self.state.handoff;
        handoff.start_taking(&self.worker);
        let work = async {
            let mut probed = None;
            // Whether a claim may find something: at the start, after a notification or a
            // poll, and while the last claim was full or rows were handed back.
            let mut claim = true;
            let mut claimed_at = tokio::time::Instant::now();
            loop {
                // Checked before every claim, not only when idle: a backlog held back by
                // Slack's rate limits keeps every claim busy for as long as it lasts (hours
                // after an outage), and a stopping daemon must not wait for it.
                if shutdown.is_cancelled() {
                    return;
                }
                match self.deliver_handed().await {
                    Ok(handed) => claim |= handed.again,
                    Err(e) => warn!(error.message = %e, "outbox: delivering failed; will retry"),
                }
                // A steady stream of handovers must not keep claims from their turn.
                claim |= wake.notified().now_or_never().is_some() || claimed_at.elapsed() >= poll;
                if claim {
                    claimed_at = tokio::time::Instant::now();
                    claim = match self.claim_and_deliver().await {
                        Ok(drained) => drained.again,
                        Err(e) => {
                            warn!(error.message = %e, "outbox: claiming failed; will retry");
                            false
                        }
                    };
                }
                if claim || handoff.has_waiting(&self.worker) {
                    continue;
                }
                if let Err(e) = self.probe(&mut probed).await {
                    warn!(error.message = %e, "outbox: resuming after an outage failed; will retry");
                }
                tokio::select! {
                    _ = shutdown.cancelled() => return,
                    _ = wake.notified() => claim = true,
                    _ = handoff.ready() => {}
                    _ = tokio::time::sleep(poll) => claim = true,
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
        // Rows handed over and not delivered go back to the claims now, not when their
        // lease runs out.
        let left = handoff.stop_taking(&self.worker);
        let rows: Vec<i64> = left
            .iter()
            .flat_map(|h| h.rows.iter().map(|r| r.id))
            .collect();
        if let Err(e) = store::outbox::release(&self.state.pool, &rows, &self.worker).await {
            warn!(error.message = %e, rows = rows.len(), "outbox: handing back undelivered rows failed; they go out when their lease runs out");
        }
    }
}
