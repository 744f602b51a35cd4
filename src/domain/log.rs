//! The log as its readers see it: a recorded event with everything stored beside it, and the
//! one fold of a request's events into the request they describe.

use chrono::{DateTime, Utc};
use uuid::Uuid;

use super::evolve::{evolve, genesis, Occurrence};
use super::ids::RequestId;
use super::policy::Policy;
use super::request::Request;
use super::role::Actor;
use super::state::State;

/// One row of the log. `E` is the payload: an [`super::Event`] once read (the
/// [`RecordedEvent`] everyone uses), or the stored JSON with its schema version before the
/// upcaster has read it (see `upcast`).
#[derive(Debug, Clone, PartialEq)]
pub struct Recorded<E> {
    pub id: Uuid,
    pub request_id: RequestId,
    pub seq: i32,
    pub event: E,
    pub actor: Actor,
    /// The policy in force when the event was recorded: the audit record's "under which rules".
    pub policy: Policy,
    pub version_after: i32,
    pub state_after: State,
    pub deadline_after: Option<DateTime<Utc>>,
    pub cost_at_risk_cents: Option<i64>,
    pub idempotency_key: String,
    /// The Socket Mode envelope the event came from, so an audit can tie it to Slack's
    /// delivery; `None` for timers, signals and the CLI.
    pub envelope_id: Option<String>,
    pub occurred_at: DateTime<Utc>,
    pub recorded_at: DateTime<Utc>,
}

/// An event as it sits in the log, with what the audit record needs.
pub type RecordedEvent = Recorded<super::Event>;

impl<E> Recorded<E> {
    /// The same row with its payload replaced.
    pub fn with_event<F>(self, event: F) -> Recorded<F> {
        Recorded {
            id: self.id,
            request_id: self.request_id,
            seq: self.seq,
            event,
            actor: self.actor,
            policy: self.policy,
            version_after: self.version_after,
            state_after: self.state_after,
            deadline_after: self.deadline_after,
            cost_at_risk_cents: self.cost_at_risk_cents,
            idempotency_key: self.idempotency_key,
            envelope_id: self.envelope_id,
            occurred_at: self.occurred_at,
            recorded_at: self.recorded_at,
        }
    }
}

impl RecordedEvent {
    /// The event with what `evolve` reads beside it.
    pub fn occurrence(&self) -> Occurrence<'_> {
        Occurrence {
            request_id: self.request_id,
            event: &self.event,
            actor: &self.actor,
            calendar: &self.policy.calendar,
            at: self.occurred_at,
        }
    }
}

/// Folds one more event: `genesis` for the first, `evolve` after that.
pub fn step(current: Option<&Request>, o: &Occurrence<'_>) -> Result<Request, FoldError> {
    match current {
        Some(req) => Ok(evolve(req, o)),
        None => genesis(o).ok_or(FoldError::NoSubmission {
            kind: o.event.kind().as_str(),
        }),
    }
}

/// Why a log does not fold into a request. Never a rule: only a log that is broken (a gap, a
/// missing submission) or that disagrees with what was recorded beside its events.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum FoldError {
    #[error("the request has no events")]
    Empty,
    #[error("event sequence jumps to {found} where {expected} was expected")]
    SeqJump { found: i32, expected: i32 },
    #[error("the log starts with `{kind}`, not with a submission by a person")]
    NoSubmission { kind: &'static str },
    #[error(
        "event {seq} ({kind}) recorded version {recorded_version} / {recorded_state}, \
         the fold gives {version} / {state}"
    )]
    Disagrees {
        seq: i32,
        kind: &'static str,
        recorded_version: i32,
        recorded_state: State,
        version: i32,
        state: State,
    },
}

/// Folds a request's recorded events, in order, into the request they describe, checking
/// each step against the version and state recorded with it.
pub fn fold(events: &[RecordedEvent]) -> Result<Request, FoldError> {
    let mut current: Option<Request> = None;
    for (i, rec) in events.iter().enumerate() {
        let expected = i32::try_from(i + 1).unwrap_or(i32::MAX);
        if rec.seq != expected {
            return Err(FoldError::SeqJump {
                found: rec.seq,
                expected,
            });
        }
        let next = step(current.as_ref(), &rec.occurrence())?;
        if next.version != rec.version_after || next.state != rec.state_after {
            return Err(FoldError::Disagrees {
                seq: rec.seq,
                kind: rec.event.kind().as_str(),
                recorded_version: rec.version_after,
                recorded_state: rec.state_after,
                version: next.version,
                state: next.state,
            });
        }
        current = Some(next);
    }
    current.ok_or(FoldError::Empty)
}
