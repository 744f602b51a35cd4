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
use tracing::warn;

use crate::clock::SharedClock;
use crate::config::{LinearCreateOn, Settings};
use crate::domain::{LinearTrigger, TeamId, UserId};
use crate::linear::{LinearClient, LinearError};
use crate::metrics::Metrics;
use crate::slack::api::SlackApi;
use crate::slack::names::NameCache;
use crate::slack::roles::RoleResolver;
use crate::slack::socket::SocketStatus;
use crate::store::{self, Append, AppendError, Appended};
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
    /// records an event, whoever asks (a click, a timer, a signal).
    pub async fn record(&self, append: &Append) -> Result<Appended, AppendError> {
        let done = store::events::append(&self.pool, append).await?;
        if !done.duplicate {
            for e in &done.events {
                self.metrics.event(e.event.kind().as_str());
            }
        }
        Ok(done)
    }

    /// Sends an ephemeral reply after the ack has gone out, so the ack never waits on Slack.
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
