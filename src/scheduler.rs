//! Lifecycle timers and reminders: step functions the tests call with a test clock, and the
//! tokio-cron-scheduler jobs that call them in the daemon.
//!
//! Each sweep reads what is due at the time it is given and records it, a page per
//! transaction, through `AppState::record_batch` (each append decided as `AppState::record`
//! would), with actor `scheduler` and an idempotency key built from the
//! request, the state entry and the deadline or reminder slot. That key (unique in the log)
//! is what makes every timeout and reminder happen once, however many
//! replicas sweep and however often: a sweep that finds it already recorded, or that the
//! `decide` refuses because a click moved the request on, simply moves on.

use std::sync::Arc;

use chrono::{DateTime, Utc};
use futures_util::stream::{self, StreamExt};
use tokio_util::sync::CancellationToken;
use tracing::{debug, info, warn};

use crate::context::AppState;
use crate::domain::{
    decision_owner, plan_reminder, Actor, Command, Deadline, DeadlineKind, Request, RequestId,
};
use crate::store::{self, Append, AppendError, Appended, StoreError, Target};

mod away;
mod digest;
mod jobs;

pub use away::{
    sweep_absences, sweep_owners, sweep_reviews, OWNER_LOOKUPS_PER_RUN, OWNER_RECHECK_HOURS,
};
pub use digest::sweep_digest;
pub use jobs::Scheduler;

/// Due rows read per query; a sweep repeats the query while whole batches make progress.
const BATCH: i64 = 200;
/// Appends in flight at once: enough to overlap commit latency, few enough to leave pool
/// connections for clicks, which must be answered within Slack's 3 s.
const PARALLEL: usize = 4;

/// A sweep's handle on the daemon: its context, and a stop token of its own.
#[derive(Debug, Clone)]
pub struct Sweeper {
    pub state: Arc<AppState>,
    /// Cancelled when the daemon stops: a sweep finishes the appends in hand and starts none.
    pub stop: CancellationToken,
    /// Due rows read per query (tests make it small to cross page boundaries cheaply).
    pub page: i64,
    /// Each page of due rows is recorded in one transaction (`AppState::record_batch`).
    /// `false` records them one append at a time, `PARALLEL` in flight, as the sweeps did
    /// before batching; kept so `benches/sweeps.rs` measures both in one run.
    pub batched: bool,
}

impl Sweeper {
    pub fn new(state: Arc<AppState>) -> Self {
        Sweeper {
            state,
            stop: CancellationToken::new(),
            page: BATCH,
            batched: true,
        }
    }
}

/// Times out every request whose deadline is at or before `now`. Returns how many timeout
/// events this call recorded (not those another replica recorded first).
pub async fn sweep_deadlines(s: &Sweeper, now: DateTime<Utc>) -> Result<usize, StoreError> {
    let mut recorded = 0;
    loop {
        let due = store::timers::due_deadlines(&s.state.pool, now, BATCH).await?;
        let read = due.len();
        let appends = due
            .iter()
            .map(|&(id, deadline, entered)| timeout_append(s, id, deadline, entered, now))
            .collect();
        let done = record_all(s, appends).await;
        let mut fired = 0;
        for ((_, deadline, _), done) in due.iter().zip(&done) {
            if done.is_some() {
                fired += 1;
                let lag = (now - deadline.at).num_milliseconds().max(0) as f64 / 1000.0;
                s.state.metrics.timer_lag.observe(lag);
            }
        }
        recorded += fired;
        if !more_to_do(s, read, fired) {
            return Ok(recorded);
        }
    }
}

/// Sends every reminder due at `now`. Outside working hours nothing is due, so the query is
/// not even run. Returns how many reminders this call recorded.
pub async fn sweep_reminders(s: &Sweeper, now: DateTime<Utc>) -> Result<usize, StoreError> {
    if !s.state.settings.policy.calendar.is_working_time(now) {
        return Ok(0);
    }
    let mut recorded = 0;
    let mut after = None;
    loop {
        let due = store::timers::due_reminders_after(&s.state.pool, now, after, s.page).await?;
        let read = due.len();
        // The next page starts after this one, whatever this one's rows came to: one that
        // cannot be acted on stays due for the next sweep but never blocks the rows behind.
        after = due
            .last()
            .and_then(|r| r.reminder_due_at.map(|at| (at, r.id)));
        let mut appends = Vec::with_capacity(due.len());
        for req in due {
            if let Some(append) = reminder_append(s, req, now).await {
                appends.push(append);
            }
        }
        for done in record_all(s, appends).await.into_iter().flatten() {
            s.state.metrics.reminders.inc_by(done.events.len() as u64);
            recorded += 1;
        }
        if read < usize::try_from(s.page).unwrap_or(usize::MAX) || s.stop.is_cancelled() {
            return Ok(recorded);
        }
    }
}

/// Another batch only after a full one that moved something: rows that are refused stay
/// due, and must not keep one sweep spinning on them.
fn more_to_do(s: &Sweeper, read: usize, fired: usize) -> bool {
    read == usize::try_from(BATCH).unwrap_or(usize::MAX) && fired > 0 && !s.stop.is_cancelled()
}

/// Microsecond timestamps, as Postgres stores them, so every replica builds the same key.
fn stamp(t: DateTime<Utc>) -> String {
    t.format("%Y-%m-%dT%H:%M:%S%.6fZ").to_string()
}

fn append_for(
    s: &Sweeper,
    id: RequestId,
    commands: Vec<Command>,
    now: DateTime<Utc>,
    key: String,
) -> Append {
    Append {
        target: Target::Existing(id),
        commands,
        actor: Actor::Scheduler,
        policy: s.state.settings.policy.clone(),
        now,
        expected_version: None,
        idempotency_key: key,
        envelope_id: None,
        linear: s.state.linear_trigger(),
    }
}

/// Records one append; `Some` when this call recorded it.
async fn record(s: &Sweeper, append: Append) -> Option<Appended> {
    if s.stop.is_cancelled() {
        return None;
    }
    outcome(&append, s.state.record(&append).await)
}

/// Records a page of appends (one transaction, unless `batched` is off); `Some` for each
/// that this call recorded, in order.
async fn record_all(s: &Sweeper, appends: Vec<Append>) -> Vec<Option<Appended>> {
    if s.stop.is_cancelled() || appends.is_empty() {
        return appends.iter().map(|_| None).collect();
    }
    if !s.batched {
        return stream::iter(appends)
            .map(|append| record(s, append))
            .buffered(PARALLEL)
            .collect()
            .await;
    }
    match s.state.record_batch(&appends).await {
        Ok(results) => appends
            .iter()
            .zip(results)
            .map(|(append, result)| outcome(append, result))
            .collect(),
        Err(e) => {
            warn!(error.message = %e, error.cause_chain = ?e, appends = appends.len(), "scheduler events not recorded; the next sweep retries");
            appends.iter().map(|_| None).collect()
        }
    }
}

/// What an append came to, for a sweep: a duplicate key, a refusal (not due, wrong state: a
/// click got there first) or a request that vanished is not an error.
fn outcome(append: &Append, result: Result<Appended, AppendError>) -> Option<Appended> {
    match result {
        Ok(done) if done.duplicate => None,
        Ok(done) => {
            info!(state = %done.request.state, key = %append.idempotency_key, "scheduler recorded an event");
            Some(done)
        }
        Err(AppendError::Refused(refusal)) => {
            debug!(%refusal, key = %append.idempotency_key, "scheduler event not recorded: the request moved on");
            None
        }
        Err(AppendError::Conflict { .. } | AppendError::NotFound | AppendError::WrongButton(_)) => {
            None
        }
        Err(AppendError::Store(e)) => {
            warn!(error.message = %e, error.cause_chain = ?e, key = %append.idempotency_key, "scheduler event not recorded; the next sweep retries");
            None
        }
    }
}

fn timeout_append(
    s: &Sweeper,
    id: RequestId,
    deadline: Deadline,
    entered: DateTime<Utc>,
    now: DateTime<Utc>,
) -> Append {
    let event = match deadline.kind {
        DeadlineKind::CustomerConfirmation => Command::CustomerConfirmationTimeout,
        DeadlineKind::Activation => Command::ActivationTimeout,
    };
    let key = format!("timeout:{id}:{}:{}", stamp(entered), stamp(deadline.at));
    append_for(s, id, vec![event], now, key)
}

/// The reminder due on `req` at `now`, if there is one to send and someone to send it to.
async fn reminder_append(s: &Sweeper, req: Request, now: DateTime<Utc>) -> Option<Append> {
    let plan = plan_reminder(&req, &s.state.settings.policy, now)?;
    let owner = decision_owner(&req)?;
    let mut recipients = Vec::new();
    for party in &owner.parties {
        recipients.extend(s.state.roles.people(party).await);
    }
    recipients.sort();
    recipients.dedup();
    if recipients.is_empty() {
        // Not recorded, so the next sweep tries again once the role resolves to someone;
        // this sweep pages on past it.
        s.state.metrics.reminders_unresolved.inc();
        warn!(
            request = %req.number,
            decision = owner.decision,
            "a reminder is due but nobody could be resolved to receive it (an empty user group, or Slack did not answer); skipped until the next sweep"
        );
        return None;
    }
    let mut commands = vec![Command::ReminderSent {
        slot: plan.slot.clone(),
        recipients: recipients.clone(),
        escalation: false,
    }];
    if plan.escalate {
        commands.push(Command::ReminderSent {
            slot: plan.escalation_slot(),
            recipients,
            escalation: true,
        });
    }
    let key = format!(
        "reminder:{}:{}:{}",
        req.id,
        stamp(req.state_entered_at),
        plan.slot
    );
    Some(append_for(s, req.id, commands, now, key))
}
