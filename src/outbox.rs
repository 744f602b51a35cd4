//! Delivering the outbox: every Slack message that follows an event.
//!
//! Rows are leased (not locked) while a worker talks to Slack, so a slow or rate-limited
//! call holds no database lock, and a worker that dies only delays its rows until the lease
//! runs out. A claim never returns two rows of one request, and never a row behind an
//! undelivered one, so each request's thread reads in order however many workers run.

use std::sync::Arc;
use std::time::Duration;

use chrono::{DateTime, Utc};
use futures_util::future::join_all;
use sqlx::postgres::PgListener;
use sqlx::PgPool;
use tokio_util::sync::CancellationToken;
use tracing::{error, info_span, warn, Instrument};

use crate::clock::SharedClock;
use crate::config::Settings;
use crate::domain::cost::format_usd;
use crate::domain::fold;
use crate::domain::Links;
use crate::domain::{Effect, Event, Request};
use crate::linear::{LinearClient, LinearError};
use crate::render;
use crate::slack::api::{ApiError, SlackApi};
use crate::slack::roles::RoleResolver;
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

#[derive(Debug, Clone)]
pub struct Deliverer {
    pub pool: PgPool,
    pub api: SlackApi,
    pub settings: Arc<Settings>,
    pub roles: Arc<RoleResolver>,
    pub clock: SharedClock,
    pub metrics: Arc<crate::metrics::Metrics>,
    /// `None` when Linear is not configured; then no Linear effects are ever enqueued.
    pub linear: Option<LinearClient>,
    /// Names this worker's leases, so a late mark from an expired lease is ignored.
    pub worker: String,
}

#[derive(Debug, thiserror::Error)]
enum DeliveryError {
    #[error(transparent)]
    Api(#[from] ApiError),
    #[error(transparent)]
    Store(#[from] StoreError),
    #[error(transparent)]
    Linear(#[from] LinearError),
    #[error("{0}")]
    Missing(String),
}

/// Retry delay after `attempts` transient failures: 1 s doubling to 5 min.
pub fn retry_delay(attempts: i32) -> chrono::Duration {
    let secs = 1i64 << attempts.clamp(0, 9);
    chrono::Duration::seconds(secs.min(300))
}

impl Deliverer {
    /// Claims one batch and delivers it. Returns how many rows were handled.
    pub async fn drain_once(&self) -> Result<usize, StoreError> {
        let now = self.clock.now();
        let rows = store::outbox::claim(&self.pool, &self.worker, now, now + LEASE, BATCH).await?;
        let n = rows.len();
        // At most one row per request per batch, so the batch can go out concurrently.
        let results = join_all(rows.iter().map(|row| {
            let span = info_span!("outbox_send", outbox_id = row.id, attempt = row.attempts, effect = row.effect.name(), request_id = %row.request_id);
            self.deliver_one(row).instrument(span)
        }))
        .await;
        for result in results {
            result?;
        }
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
                self.clock.now() + retry_delay(row.attempts),
                "Slack call timed out".into(),
            ),
            Ok(Ok(())) => Outcome::Delivered,
            Ok(Err(e)) => self.judge(row, e),
        };
        let now = self.clock.now();
        let label = match &outcome {
            Outcome::Delivered => "delivered",
            Outcome::RetryAt(..) => "retry",
            Outcome::Failed(_) => "failed",
        };
        self.metrics.delivery(row.effect.name(), label);
        match outcome {
            Outcome::Delivered => {
                store::outbox::mark_delivered(&self.pool, row.id, &self.worker, now).await?
            }
            Outcome::RetryAt(at, why) => {
                warn!(error.message = %why, retry_at = %at, "delivery will be retried");
                store::outbox::retry_later(&self.pool, row.id, at, &why).await?;
            }
            Outcome::Failed(why) => {
                error!(error.message = %why, "delivery failed for good; it needs a human");
                store::outbox::mark_failed(&self.pool, row.id, &why).await?;
            }
        }
        Ok(())
    }

    fn judge(&self, row: &OutboxRow, e: DeliveryError) -> Outcome {
        let now = self.clock.now();
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

    async fn request(&self, row: &OutboxRow) -> Result<(Request, Links), DeliveryError> {
        store::requests::with_links(&self.pool, row.request_id)
            .await?
            .ok_or_else(|| DeliveryError::Missing(format!("request {} is gone", row.request_id)))
    }

    async fn perform(&self, row: &OutboxRow) -> Result<(), DeliveryError> {
        let settings = &self.settings;
        let roles = self.roles.roles();
        let policy = &settings.policy;
        let channel = settings.slack.requests_channel.as_str();
        let now = self.clock.now();
        match &row.effect {
            Effect::PostRootMessage => {
                let (req, links) = self.request(row).await?;
                if links.slack_ts.is_some() {
                    // Posted before a crash lost the mark: do not post twice.
                    return Ok(());
                }
                let content = render::root::root_message(&req, &links, policy, roles, now);
                let ts = self.api.post_message(channel, content, None).await?;
                // Store the ts before anything else can fail, so a retry updates instead of reposting.
                store::requests::set_root_message(&self.pool, row.request_id, channel, &ts, None)
                    .await?;
                match self.api.permalink(channel, &ts).await {
                    Ok(link) => {
                        store::requests::set_root_message(
                            &self.pool,
                            row.request_id,
                            channel,
                            &ts,
                            Some(&link),
                        )
                        .await?
                    }
                    Err(e) => {
                        warn!(error.message = %e, "no permalink for the root message; DMs will not link to the thread")
                    }
                }
            }
            Effect::UpdateRootMessage => {
                let (req, links) = self.request(row).await?;
                let (Some(ch), Some(ts)) = (&links.slack_channel, &links.slack_ts) else {
                    return Err(DeliveryError::Missing(
                        "the root message was never posted, so it cannot be updated".into(),
                    ));
                };
                let content = render::root::root_message(&req, &links, policy, roles, now);
                self.api.update_message(ch, ts, content).await?;
            }
            Effect::PostThreadReply => {
                let links = store::requests::links(&self.pool, row.request_id).await?;
                let (Some(ch), Some(ts)) = (&links.slack_channel, &links.slack_ts) else {
                    return Err(DeliveryError::Missing(
                        "the root message was never posted, so the thread does not exist".into(),
                    ));
                };
                let (after, event) = self.request_at_event(row).await?;
                let content = render::thread::thread_reply(&after, &event, roles, policy, now);
                self.api.post_message(ch, content, Some(ts)).await?;
            }
            Effect::DirectMessage { to } => {
                let (req, links) = self.request(row).await?;
                let (after, event) = self.request_at_event(row).await?;
                if let Event::ReminderSent { slot, .. } = &event.event {
                    if slot.ends_with(crate::domain::attention::REVIEW_SUFFIX) {
                        let content = render::attention::review_dm(
                            &req,
                            links.permalink.as_deref(),
                            policy,
                            now,
                        );
                        let dm = self.api.open_dm(to.as_str()).await?;
                        self.api.post_message(&dm, content, None).await?;
                        return Ok(());
                    }
                }
                if let Event::OwnerDeactivated { user, .. } = &event.event {
                    let content = render::attention::deactivated_dm(
                        &req,
                        user,
                        links.permalink.as_deref(),
                        roles,
                        policy,
                        now,
                    );
                    let dm = self.api.open_dm(to.as_str()).await?;
                    self.api.post_message(&dm, content, None).await?;
                    return Ok(());
                }
                let why = match &event.event {
                    Event::OwnerNudged { .. } => render::dm::DmReason::Nudged,
                    Event::ReminderSent { slot, .. }
                        if slot.ends_with(crate::domain::reminders::DUE_SUFFIX) =>
                    {
                        render::dm::DmReason::DueTomorrow
                    }
                    // The fold counts reminders per gate, so the number is the one this
                    // reminder had when it was recorded.
                    Event::ReminderSent { .. } => render::dm::DmReason::Reminder {
                        nth: after.reminders_sent,
                    },
                    _ => render::dm::DmReason::TimedOut,
                };
                let content = render::dm::decision_dm(
                    &req,
                    why,
                    links.permalink.as_deref(),
                    policy,
                    roles,
                    now,
                );
                let dm = self.api.open_dm(to.as_str()).await?;
                self.api.post_message(&dm, content, None).await?;
            }
            Effect::CreateLinearIssue => {
                let linear = self.linear()?;
                let (req, links) = self.request(row).await?;
                if links.linear_issue_id.is_some() {
                    return Ok(());
                }
                let description = issue_description(&req, links.permalink.as_deref());
                let issue = linear
                    .create_issue(req.id, &issue_title(&req), &description)
                    .await?;
                store::requests::set_linear_issue(&self.pool, req.id, &issue.id, &issue.url)
                    .await?;
                // The root message links the issue from now on.
                store::outbox::enqueue(
                    &self.pool,
                    req.id,
                    row.event_id,
                    &Effect::UpdateRootMessage,
                    now,
                )
                .await?;
            }
            Effect::CommentLinearIssue => {
                let linear = self.linear()?;
                let links = store::requests::links(&self.pool, row.request_id).await?;
                let Some(issue) = links.linear_issue_id else {
                    return Err(DeliveryError::Missing(
                        "the request has no Linear issue to comment on".into(),
                    ));
                };
                let (after, event) = self.request_at_event(row).await?;
                let reason = event
                    .event
                    .reason()
                    .map(|r| format!(" (\"{r}\")"))
                    .unwrap_or_default();
                let body = format!(
                    "{} is now {} ({}): {} {}{reason}",
                    after.number,
                    after.state.label(),
                    after.state,
                    event.actor.label(),
                    event.event.kind().verb()
                );
                linear.comment(&issue, &body).await?;
            }
        }
        Ok(())
    }

    fn linear(&self) -> Result<&LinearClient, DeliveryError> {
        self.linear.as_ref().ok_or_else(|| {
            DeliveryError::Missing("Linear is not configured ([linear] and LINEAR_API_KEY)".into())
        })
    }

    /// The request exactly as it was right after the row's event, rebuilt from the log, so a
    /// thread reply delivered late still describes its own moment.
    async fn request_at_event(
        &self,
        row: &OutboxRow,
    ) -> Result<(Request, crate::domain::RecordedEvent), DeliveryError> {
        let events = store::events::events_of(&self.pool, row.request_id).await?;
        let Some(pos) = events.iter().position(|e| e.id == row.event_id) else {
            return Err(DeliveryError::Missing(format!(
                "event {} is not in the log",
                row.event_id
            )));
        };
        let after = fold(&events[..=pos]).map_err(|e| DeliveryError::Missing(e.to_string()))?;
        Ok((after, events[pos].clone()))
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
                self.metrics.outbox_notifications.inc();
            }
            wake.notify_one();
        };
        tokio::join!(listen(&self.pool, heard, &shutdown, poll), work);
    }
}

/// Turns `capacity_outbox` notifications into wake-ups, reading them as they come, even
/// while the worker is busy draining. A listening backend delivers a notification inside a
/// transaction of its own; if the client stops reading and the socket fills, the backend
/// blocks there holding its snapshot, and Postgres can vacuum no outbox row delivered since.
/// (Read only between drains, a burst of 100,000 clicks did that: dead index entries piled up
/// in the pending indexes and a claim took 139 ms.) Many notifications make one wake-up.
async fn listen(
    pool: &PgPool,
    heard: impl Fn(bool),
    shutdown: &CancellationToken,
    retry: Duration,
) {
    let mut listener = loop {
        let connected = async {
            let mut l = PgListener::connect_with(pool).await?;
            l.listen("capacity_outbox").await?;
            Ok::<_, sqlx::Error>(l)
        };
        match connected.await {
            Ok(l) => break l,
            Err(e) => {
                warn!(error.message = %e, "outbox: cannot LISTEN yet; polling meanwhile");
                if stopped_while_waiting(shutdown, retry).await {
                    return;
                }
            }
        }
    };
    loop {
        tokio::select! {
            _ = shutdown.cancelled() => return,
            got = listener.try_recv() => match got {
                Ok(Some(_)) => heard(true),
                // The connection was lost; the next call reconnects and re-listens. Anything
                // notified meanwhile is found by a drain.
                Ok(None) => heard(false),
                Err(e) => {
                    warn!(error.message = %e, "outbox: LISTEN connection failed; polling meanwhile");
                    if stopped_while_waiting(shutdown, retry).await {
                        return;
                    }
                }
            }
        }
    }
}

/// Waits before the listener tries again (at least a second, so a database that refuses
/// connections is not hammered); `true` when shutdown came first.
async fn stopped_while_waiting(shutdown: &CancellationToken, retry: Duration) -> bool {
    tokio::select! {
        _ = shutdown.cancelled() => true,
        _ = tokio::time::sleep(retry.max(Duration::from_secs(1))) => false,
    }
}

fn issue_title(req: &Request) -> String {
    let d = &req.details;
    format!(
        "{} · {} · {} in {}",
        req.number, d.customer, d.requested_size, d.region
    )
}

fn issue_description(req: &Request, permalink: Option<&str>) -> String {
    let d = &req.details;
    let mut lines = vec![
        format!(
            "Large-capacity request {} (informational: decisions happen in Slack).",
            req.number
        ),
        String::new(),
        format!(
            "- Customer: {} (org `{}`, project `{}`)",
            d.customer, d.org_id, d.project_ref
        ),
        format!(
            "- Size: {} → {} in {}",
            d.current_size, d.requested_size, d.region
        ),
        format!(
            "- Needed by {}, for {} month(s)",
            d.needed_by, d.duration_months
        ),
        format!(
            "- Estimated monthly cost: {}",
            format_usd(d.est_monthly_cost_cents)
        ),
        format!("- Requester: {}", req.requester),
    ];
    if let Some(owner) = &req.commercial_owner {
        lines.push(format!("- Commercial owner: {owner}"));
    }
    lines.push(String::new());
    lines.push(d.justification.clone());
    if let Some(link) = permalink {
        lines.push(String::new());
        lines.push(format!("Slack thread: {link}"));
    }
    lines.join("\n")
}
