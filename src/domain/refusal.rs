//! Why `decide` said no. Each variant reads as a sentence a person can act on; the Slack
//! layer shows it as an ephemeral message to whoever clicked.

use chrono::{DateTime, Utc};

use super::event::EventKind;
use super::role::{join_parties, Party};
use super::state::State;

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum Refusal {
    #[error("This request has moved on since that message was shown (it was at version {seen}, it is now at version {current}). Use the updated message.")]
    StaleVersion { seen: i32, current: i32 },

    #[error("`{event}` is not possible while the request is {state}; it is possible only when it is {allowed}.")]
    WrongState {
        event: EventKind,
        state: State,
        allowed: String,
    },

    #[error("Only {} can do `{event}` on this request.", join_parties(who))]
    NotPermitted { event: EventKind, who: Vec<Party> },

    #[error(
        "You requested this, so `{event}` must come from someone else: {}.",
        join_parties(who)
    )]
    SelfApproval { event: EventKind, who: Vec<Party> },

    #[error(
        "The commercial key is in; at this cost the second key must come from a finance approver."
    )]
    FinanceKeyRequired,

    #[error("You already gave one approval key; the other must come from a different person.")]
    SameApproverTwice,

    #[error(
        "You requested this cancellation and capacity is committed, so {} must approve it.",
        join_parties(who)
    )]
    OwnCancellation { who: Vec<Party> },

    #[error("A reason is required for `{event}`.")]
    ReasonRequired { event: EventKind },

    #[error("A comment needs some text.")]
    EmptyComment,

    #[error("Extend by 1 to {max} business days (got {days}).")]
    BadExtension { days: u32, max: u32 },

    #[error("Provisioning before customer confirmation is turned off (policy `allow_provisioning_before_confirmation`).")]
    EarlyProvisioningDisabled,

    #[error("Capacity is already committed for this request.")]
    AlreadyCommitted,

    #[error("There is no committed capacity to release on this request.")]
    NothingToRelease,

    #[error(
        "A cancellation is pending; {} must approve or deny it first.",
        join_parties(who)
    )]
    CancellationPending { who: Vec<Party> },

    #[error("A cancellation is already pending on this request.")]
    CancellationAlreadyPending,

    #[error("No cancellation is pending on this request.")]
    NoPendingCancellation,

    #[error("The {what} deadline has not passed yet (due {due}).")]
    NotDue {
        what: &'static str,
        due: DateTime<Utc>,
    },

    #[error("Nothing would change: {0}.")]
    NoChange(String),

    #[error("Nothing was forced on this request, or its forced transition is already reviewed.")]
    NothingToReview,

    #[error("You forced this transition, so another admin must review it.")]
    OwnReview,

    #[error("Snooze for 1 to {max} business days (got {days}).")]
    BadSnooze { days: u32, max: u32 },

    #[error("{0}")]
    SnoozePastDeadline(String),

    #[error("You already nudged this request today; the next nudge is possible from {next}.")]
    NudgedToday { next: DateTime<Utc> },

    #[error("{0}")]
    BadDelegation(String),

    /// The person named cannot own that decision (separation of duties).
    #[error("{0}")]
    BadOwner(String),

    #[error("That request does not exist.")]
    NoSuchRequest,

    #[error("That request already exists.")]
    AlreadyExists,

    #[error("The request is not valid: {0}")]
    InvalidSubmission(String),
}

impl Refusal {
    /// The clicker saw an older version: another click won. The store turns this into a
    /// conflict that names the winning event.
    pub fn is_stale(&self) -> bool {
        matches!(self, Refusal::StaleVersion { .. })
    }
}
