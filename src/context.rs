//! The one context every handler, worker and endpoint of the daemon shares, and the one way
//! the daemon records an event.
//!
//! It sits below everything that uses it (the Slack handlers, the outbox, the scheduler, the
//! HTTP server) and above what it holds (the store, the Slack client, metrics), so none of
//! those import the daemon's wiring in `app`.

use std::sync::Arc;
use std::time::Duration;

use sqlx::PgPool;
use tokio_util::task::TaskTracker;
use tracing::{debug, info, warn};

use crate::clock::SharedClock;
use crate::config::{LinearCreateOn, Settings};
use crate::domain::{Actor, Command, LinearTrigger, Party, Role, TeamId, UserId};
use crate::handoff::Handoff;
use crate::linear::{LinearClient, LinearError};
use crate::metrics::Metrics;
use crate::slack::api::SlackApi;
use crate::slack::names::NameCache;
use crate::slack::pace::Pace;
use crate::slack::roles::RoleResolver;
use crate::slack::socket::SocketStatus;
use crate::store::{self, Append, AppendError, Appended, Kept, StoreError, Target};
use crate::supervise::Supervisor;

/// How long a person's name read from Slack is used before it is read again (renames show
/// within the hour).
const NAME_TTL: Duration = Duration::from_secs(3600);

/// What every handler and worker shares. Passed down explicitly; nothing is global. Workers
/// that need something of their own (a lease name, a stop token) hold it beside an
/// `Arc<AppState>`, not in a copy of it.
#[derive(Debug, Clone)]
pub struct AppState {
    pub pool: PgPool,
    /// The pool's connections as appends and the outbox's claims take them: a few idle ones
    /// kept out of it between uses, so that giving one back costs no ping.
    pub kept: Kept,
    pub api: SlackApi,
    pub settings: Arc<Settings>,
    pub roles: Arc<RoleResolver>,
    pub clock: SharedClock,
    pub socket: Arc<SocketStatus>,
    /// Replies sent after an ack (refusals). Tracked so shutdown waits for them.
    pub tasks: TaskTracker,
    /// The workspace we serve: from config, else from `auth.test`.
    pub team: Option<TeamId>,
    pub metrics: Arc<Metrics>,
    /// `None` when Linear is not configured; then no Linear effects are ever enqueued.
    pub linear: Option<LinearClient>,
    /// Watches the daemon's long-running tasks; `/readyz` reads it.
    pub supervisor: Arc<Supervisor>,
    /// People's names for text outside Slack (Linear), from `users.info`, kept an hour.
    pub names: Arc<NameCache>,
    /// Slack's rate limits as met so far: paused methods and channels, an outage.
    pub pace: Arc<Pace>,
    /// How the outbox claims and delivers.
    pub outbox: OutboxOptions,
    /// Appends' Slack rows on their way to this process's delivery worker.
    pub handoff: Arc<Handoff>,
}

/// How the outbox claims and delivers.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct OutboxOptions {
    /// Request lanes claimed at once (their heads).
    pub lanes: i64,
    /// Rows of one lane claimed at once, the head included. 1: one row per request per claim.
    pub per_lane: i64,
    /// One `chat.update` for every root update of a request still waiting.
    pub coalesce: bool,
}

impl Default for OutboxOptions {
    fn default() -> Self {
        OutboxOptions {
            lanes: 32,
            per_lane: 16,
            coalesce: true,
        }
    }
}

impl OutboxOptions {
    /// How the outbox worked before issue 15: a row per request per claim, marked one by
    /// one, every root update its own call (kept for the benchmarks' "before" column).
    pub fn row_by_row() -> Self {
        OutboxOptions {
            lanes: 32,
            per_lane: 1,
            coalesce: false,
        }
    }
}

impl AppState {
    /// Builds the context from its parts: the role resolver, the metrics registry and the
    /// socket status are made here, so every daemon (and benchmark) gets the same ones.
    pub fn new(
        settings: Arc<Settings>,
        pool: PgPool,
        api: SlackApi,
        clock: SharedClock,
        team: Option<TeamId>,
        group_cache_ttl: Duration,
    ) -> Result<AppState, LinearError> {
        let metrics = Arc::new(Metrics::new());
        let roles = Arc::new(RoleResolver::new(
            settings.roles.clone(),
            api.clone(),
            group_cache_ttl,
        ));
        let linear = linear_client(&settings)?;
        let names = Arc::new(NameCache::new(api.clone(), NAME_TTL));
        Ok(AppState {
            names,
            kept: Kept::new(&pool, store::KEEP),
            pool,
            api,
            roles,
            clock,
            socket: Arc::new(SocketStatus::new(metrics.ack_latency.clone())),
            tasks: TaskTracker::new(),
            team,
            metrics,
            linear,
            settings,
            supervisor: Arc::new(Supervisor::new()),
            pace: Arc::default(),
            outbox: OutboxOptions::default(),
            handoff: Arc::default(),
        })
    }

    pub fn team_id(&self) -> Option<&TeamId> {
        self.team.as_ref()
    }

    pub fn linear_trigger(&self) -> Option<LinearTrigger> {
        self.settings.linear.as_ref().map(|l| match l.create_on {
            LinearCreateOn::Submitted => LinearTrigger::Submitted,
            LinearCreateOn::TechnicalReview => LinearTrigger::TechnicalReview,
        })
    }

    /// Appends through the store and counts what was recorded: the one way the daemon
    /// records an event, whoever asks (a click, a timer, a signal). Slack rows the append
    /// could lease to this process's worker go to it in memory ([`Handoff`]).
    pub async fn record(&self, append: &Append) -> Result<Appended, AppendError> {
        let lease = self
            .handoff
            .lease(self.clock.now(), &self.pace)
            .map(|lease| {
                let handoff = self.handoff.clone();
                let hand_to: store::HandTo = Box::new(move |handed| handoff.hand(handed));
                (lease, hand_to)
            });
        let done = store::events::append_leasing(&self.kept, append, lease).await?;
        if !done.duplicate {
            for e in &done.events {
                self.metrics.event(e.event.kind().as_str());
            }
        }
        Ok(done)
    }

    /// Records many appends at once (the sweeps), each as [`AppState::record`] would, in one
    /// transaction (`store::events::append_batch`); one result per append, in order. If the
    /// batch's transaction fails as a whole, nothing of it was written, and each append is
    /// then recorded on its own, in order: a row the database rejects fails alone (it stays
    /// due for the next sweep) and the rest are recorded. A database that cannot be reached
    /// is the answer for the whole batch.
    pub async fn record_batch(
        &self,
        appends: &[Append],
    ) -> Result<Vec<Result<Appended, AppendError>>, StoreError> {
        match store::events::append_batch(&self.pool, appends).await {
            Ok(results) => {
                for done in results.iter().flatten().filter(|d| !d.duplicate) {
                    for e in &done.events {
                        self.metrics.event(e.event.kind().as_str());
                    }
                }
                Ok(results)
            }
            Err(e @ StoreError::Unreachable(_)) => Err(e),
            Err(e) => {
                warn!(error.message = %e, appends = appends.len(), "a batch was not recorded as a whole; recording its appends one at a time");
                let mut results = Vec::with_capacity(appends.len());
                for append in appends {
                    results.push(self.record(append).await);
                }
                Ok(results)
            }
        }
    }

    /// `user`'s Slack account is deactivated: each open request they own records
    /// `owner_deactivated` (the root is flagged, the admins get a DM to reassign). The one
    /// path for both ways the daemon learns it, the `user_change` event (`envelope_id` is its
    /// envelope) and the owner sweep's `users.info`: the idempotency key is
    /// `deactivated:<user>:<request>`, so however many times and replicas notice, each
    /// request records it once. Returns how many this call recorded.
    pub async fn owner_deactivated(&self, user: &UserId, envelope_id: Option<&str>) -> usize {
        let owned = match store::absences::open_requests_owned_by(&self.pool, user).await {
            Ok(owned) => owned,
            Err(e) => {
                warn!(error.message = %e, %user, "could not read the requests of a deactivated owner");
                return 0;
            }
        };
        if owned.is_empty() {
            return 0;
        }
        let admins = self.roles.people(&Party::Role(Role::Admin)).await;
        let mut recorded = 0;
        for id in owned {
            let append = Append {
                target: Target::Existing(id),
                commands: vec![Command::OwnerDeactivated {
                    user: user.clone(),
                    admins: admins.clone(),
                }],
                actor: Actor::Scheduler,
                policy: self.settings.policy.clone(),
                now: self.clock.now(),
                expected_version: None,
                idempotency_key: format!("deactivated:{user}:{id}"),
                envelope_id: envelope_id.map(str::to_string),
                linear: self.linear_trigger(),
            };
            match self.record(&append).await {
                Ok(done) if !done.duplicate => {
                    info!(%user, request = %done.request.number, "flagged a deactivated owner");
                    recorded += 1;
                }
                Ok(_) => {}
                // Already flagged (or no longer theirs): nothing to do.
                Err(AppendError::Refused(why)) => {
                    debug!(%user, request = %id.0, %why, "deactivated owner not flagged again");
                }
                Err(e) => {
                    warn!(error.message = %e, %user, request = %id.0, "deactivated owner not flagged; the next notice retries");
                }
            }
        }
        recorded
    }

    /// Sends an ephemeral reply after the ack has gone out, so the ack never waits on Slack.
    /// Tells `user` in their DM with the app why a click on Home was not recorded. Home has
    /// no channel, so an ephemeral (which needs one the user is in) cannot be sent, and its
    /// `block_actions` carry no `response_url`. A notice on the republished Home would be
    /// overwritten by the next publish and wait out the coalescing window; the DM arrives at
    /// once, notifies, and stays readable in the app's Messages tab beside Home.
    pub fn tell_in_dm_later(&self, user: UserId, text: String) {
        let api = self.api.clone();
        self.tasks.spawn(async move {
            let content = slack_morphism::SlackMessageContent::new().with_text(text);
            let sent = async {
                let dm = api.open_dm(user.as_str()).await?;
                api.post_message(&dm, content, None).await
            };
            if let Err(e) = sent.await {
                warn!(error.message = %e, %user, "could not tell a user why their click on Home was not recorded");
            }
        });
    }

    pub fn tell_later(&self, channel: String, user: UserId, text: String) {
        let api = self.api.clone();
        self.tasks.spawn(async move {
            if let Err(e) = api.post_ephemeral(&channel, user.as_str(), &text).await {
                warn!(error.message = %e, %user, "could not tell a user why their click was not recorded");
            }
        });
    }
}

fn linear_client(settings: &Settings) -> Result<Option<LinearClient>, LinearError> {
    match (&settings.linear, &settings.secrets.linear_api_key) {
        (Some(l), Some(key)) => Ok(Some(LinearClient::new(
            &l.api_url,
            key.clone(),
            &l.team_id,
        )?)),
        _ => Ok(None),
    }
}
