//! The request record: what the projection table holds, folded from the event log.

use chrono::{DateTime, NaiveDate, Utc};
use serde::{Deserialize, Serialize};

use super::attention::Attention;
use super::ids::{ChannelId, RequestId, RequestNumber, TeamId, UserId};
use super::state::State;

/// What the requester typed into the intake modal, validated at the edge.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Submission {
    pub customer: String,
    pub org_id: String,
    pub project_ref: String,
    pub current_size: String,
    pub requested_size: String,
    pub region: String,
    pub needed_by: NaiveDate,
    pub duration_months: u16,
    /// Estimated monthly cost in US cents; integers so thresholds compare exactly.
    pub est_monthly_cost_cents: i64,
    pub commercial_owner: Option<UserId>,
    pub justification: String,
    /// The Slack message the request was made from (the message shortcut). Absent for the
    /// form opened empty, and in every event written before the shortcut existed: absence
    /// means "no source", so old payloads read unchanged and no schema version is needed.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    /// Boxed: most requests have none, and it would double the size of every `Command`.
    pub source: Option<Box<SourceMessage>>,
}

/// Where a request came from: a message in a channel, its thread (the message's own ts for
/// a top-level message), and its permalink. Only the address is kept, never the text.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct SourceMessage {
    pub channel: ChannelId,
    pub ts: String,
    /// The thread the source message is in: the reply naming the request goes there.
    pub thread_ts: String,
    pub permalink: String,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum DeadlineKind {
    CustomerConfirmation,
    Activation,
}

impl DeadlineKind {
    /// The waiting state this deadline belongs to; `ttl_extended` returns an EXPIRED request there.
    pub fn waiting_state(self) -> State {
        match self {
            DeadlineKind::CustomerConfirmation => State::CustomerConfirmationRequired,
            DeadlineKind::Activation => State::ReadyForCustomer,
        }
    }

    pub fn label(self) -> &'static str {
        match self {
            DeadlineKind::CustomerConfirmation => "customer confirmation",
            DeadlineKind::Activation => "activation",
        }
    }

    pub fn as_str(self) -> &'static str {
        match self {
            DeadlineKind::CustomerConfirmation => "customer_confirmation",
            DeadlineKind::Activation => "activation",
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct Deadline {
    pub kind: DeadlineKind,
    pub at: DateTime<Utc>,
}

/// Capacity counts as committed from early procurement or customer confirmation until the
/// customer activates (they now pay) or infra releases it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
pub struct Capacity {
    pub committed_at: Option<DateTime<Utc>>,
    pub ended_at: Option<DateTime<Utc>>,
    pub released: bool,
}

impl Capacity {
    /// Committed and not yet paid for or released: money is at risk.
    pub fn is_committed(&self) -> bool {
        self.committed_at.is_some() && self.ended_at.is_none()
    }
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct PendingCancellation {
    pub requested_by: UserId,
    pub reason: String,
    pub requested_at: DateTime<Utc>,
}

/// The two keys of commercial approval. One click gives one key.
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize)]
pub struct Approvals {
    pub commercial: Option<UserId>,
    pub finance: Option<UserId>,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Request {
    pub id: RequestId,
    pub number: RequestNumber,
    pub details: Submission,
    pub requester: UserId,
    pub requester_team: TeamId,
    pub state: State,
    /// Grows with every event that moves state, owners or deadlines; buttons carry it.
    pub version: i32,
    /// Grows by one with every event; the last event's per-request sequence.
    pub seq: i32,
    pub commercial_owner: Option<UserId>,
    pub technical_owner: Option<UserId>,
    /// Decided at submission from the finance threshold then in force.
    pub finance_required: bool,
    pub approvals: Approvals,
    pub deadline: Option<Deadline>,
    /// Which waiting state timed out, while EXPIRED.
    pub expired_from: Option<DeadlineKind>,
    pub capacity: Capacity,
    pub pending_cancellation: Option<PendingCancellation>,
    /// Why the request ended, when a reason was given (reject, failure, cancellation).
    pub close_reason: Option<String>,
    /// When the current state was entered; reminders count business days from here.
    pub state_entered_at: DateTime<Utc>,
    /// Reminders sent in the current gate (derived by `evolve`; escalations not counted).
    pub reminders_sent: u32,
    /// When the decision owner is next due a reminder; `None` when nobody owns a decision.
    pub reminder_due_at: Option<DateTime<Utc>>,
    /// Delegations, snooze, nudge and break-glass review (see `attention`).
    #[serde(default)]
    pub attention: Attention,
    pub created_at: DateTime<Utc>,
    pub updated_at: DateTime<Utc>,
}

impl Request {
    /// Every key commercial approval needs is in.
    pub fn commercially_approved(&self) -> bool {
        self.approvals.commercial.is_some()
            && (!self.finance_required || self.approvals.finance.is_some())
    }

    /// Who decides for `owner` now: their delegate while they are away.
    pub fn acting_for<'a>(&'a self, owner: &'a UserId) -> &'a UserId {
        self.attention.acting_for(owner)
    }

    /// Capacity committed after the request ended still needs infra to release it.
    pub fn needs_release(&self) -> bool {
        matches!(
            self.state,
            State::Cancelled | State::Expired | State::Failed
        ) && self.capacity.is_committed()
    }
}
