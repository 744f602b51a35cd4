//! What a person, a timer or the control plane asks for. `decide` checks a command against
//! the request and the rules in force and answers with the events to record, or a refusal.
//!
//! A command is named for the event it asks for (the button's `action_id`), and carries only
//! what its asker knows: a click carries nothing, a form its reason or days. What the rules
//! derive from it (which approval key a click gives, the deadline an approval opens, whether
//! finance must approve) is decided once, in `decide`, and recorded in the event, so folding
//! the log never asks the rules again.

use super::event::{EventKind, OwnerRole};
use super::ids::{RequestNumber, UserId};
use super::request::Submission;
use super::state::State;
use chrono::NaiveDate;

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Command {
    /// The number is filled in by the store from the database sequence.
    Submitted {
        number: RequestNumber,
        details: Submission,
    },
    CommercialOwnerAssigned {
        owner: UserId,
    },
    CommercialApproved,
    CommercialRejected {
        reason: String,
    },
    /// "I'll take it": the asker becomes the technical owner.
    TechnicalOwnerAssigned,
    TechnicalApproved,
    TechnicalRejected {
        reason: String,
    },
    EarlyProcurementStarted,
    CustomerConfirmed,
    CustomerConfirmationTimeout,
    TtlExtended {
        days: u32,
    },
    ProvisioningCompleted,
    ProvisioningFailed {
        reason: String,
    },
    Activated {
        signal_id: Option<String>,
    },
    ActivationTimeout,
    CancelRequested {
        reason: String,
    },
    CancelApproved,
    CancelDenied,
    CapacityReleased,
    ReminderSent {
        slot: String,
        recipients: Vec<UserId>,
        escalation: bool,
    },
    CommentAdded {
        text: String,
    },
    OwnerReassigned {
        role: OwnerRole,
        to: UserId,
    },
    /// The asker is away until `until`: `to` decides for them on this request.
    DecisionDelegated {
        to: UserId,
        until: NaiveDate,
    },
    /// `from`'s absence ended: asked by them (`back`) or by the scheduler (its date passed).
    DecisionReturned {
        from: UserId,
    },
    RemindersSnoozed {
        days: u32,
        reason: String,
    },
    /// `recipients`: the decision owners, resolved by the shell (roles expand to people).
    OwnerNudged {
        recipients: Vec<UserId>,
    },
    ForcedTransition {
        to: State,
        reason: String,
    },
    ForcedTransitionReviewed,
    /// From Slack (`user_change` with `deleted`): `admins` resolved by the shell.
    OwnerDeactivated {
        user: UserId,
        admins: Vec<UserId>,
    },
}

impl Command {
    /// The event this command asks for.
    pub fn kind(&self) -> EventKind {
        match self {
            Command::Submitted { .. } => EventKind::Submitted,
            Command::CommercialOwnerAssigned { .. } => EventKind::CommercialOwnerAssigned,
            Command::CommercialApproved => EventKind::CommercialApproved,
            Command::CommercialRejected { .. } => EventKind::CommercialRejected,
            Command::TechnicalOwnerAssigned => EventKind::TechnicalOwnerAssigned,
            Command::TechnicalApproved => EventKind::TechnicalApproved,
            Command::TechnicalRejected { .. } => EventKind::TechnicalRejected,
            Command::EarlyProcurementStarted => EventKind::EarlyProcurementStarted,
            Command::CustomerConfirmed => EventKind::CustomerConfirmed,
            Command::CustomerConfirmationTimeout => EventKind::CustomerConfirmationTimeout,
            Command::TtlExtended { .. } => EventKind::TtlExtended,
            Command::ProvisioningCompleted => EventKind::ProvisioningCompleted,
            Command::ProvisioningFailed { .. } => EventKind::ProvisioningFailed,
            Command::Activated { .. } => EventKind::Activated,
            Command::ActivationTimeout => EventKind::ActivationTimeout,
            Command::CancelRequested { .. } => EventKind::CancelRequested,
            Command::CancelApproved => EventKind::CancelApproved,
            Command::CancelDenied => EventKind::CancelDenied,
            Command::CapacityReleased => EventKind::CapacityReleased,
            Command::ReminderSent { .. } => EventKind::ReminderSent,
            Command::CommentAdded { .. } => EventKind::CommentAdded,
            Command::OwnerReassigned { .. } => EventKind::OwnerReassigned,
            Command::DecisionDelegated { .. } => EventKind::DecisionDelegated,
            Command::DecisionReturned { .. } => EventKind::DecisionReturned,
            Command::RemindersSnoozed { .. } => EventKind::RemindersSnoozed,
            Command::OwnerNudged { .. } => EventKind::OwnerNudged,
            Command::ForcedTransition { .. } => EventKind::ForcedTransition,
            Command::ForcedTransitionReviewed => EventKind::ForcedTransitionReviewed,
            Command::OwnerDeactivated { .. } => EventKind::OwnerDeactivated,
        }
    }
}
