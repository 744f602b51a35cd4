//! The one event type. Every click, modal submission, timer and control-plane signal is one
//! of these, appended to the log; the projection is the fold of the log.

use std::fmt;
use std::str::FromStr;

use chrono::{DateTime, NaiveDate, Utc};
use serde::{Deserialize, Serialize};

use super::ids::{RequestNumber, UserId};
use super::request::Submission;
use super::state::State;

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum OwnerRole {
    Commercial,
    Technical,
}

/// Which of commercial approval's two keys a click gave. One click gives one key, even from
/// someone who holds both roles; `decide` chooses, and the event records the choice.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ApprovalKey {
    Commercial,
    Finance,
}

/// An event as recorded: what happened, with every fact the rules derived when it happened
/// (a deadline, a key, whether finance must approve). Folding the log (`evolve`) reads these
/// facts and never applies a rule again, so a rule that changes later cannot change history.
/// Its `kind` is the button's `action_id`. The stored shape is versioned: see `upcast`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum Event {
    Submitted {
        number: RequestNumber,
        details: Submission,
        /// At or above the finance threshold in force at submission.
        finance_required: bool,
    },
    CommercialOwnerAssigned {
        owner: UserId,
    },
    CommercialApproved {
        key: ApprovalKey,
    },
    CommercialRejected {
        reason: String,
    },
    /// "I'll take it": the actor becomes the technical owner.
    TechnicalOwnerAssigned,
    TechnicalApproved {
        /// When the customer-confirmation window it opens closes.
        deadline: DateTime<Utc>,
    },
    TechnicalRejected {
        reason: String,
    },
    EarlyProcurementStarted,
    CustomerConfirmed,
    CustomerConfirmationTimeout,
    TtlExtended {
        days: u32,
        /// The deadline after the extension.
        deadline: DateTime<Utc>,
    },
    ProvisioningCompleted {
        /// When the activation window it opens closes.
        deadline: DateTime<Utc>,
    },
    ProvisioningFailed {
        reason: String,
    },
    Activated {
        #[serde(default, skip_serializing_if = "Option::is_none")]
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
        /// The reminder slot, e.g. `2026-12-03` or `2026-12-03:due`; part of the
        /// idempotency key so a slot is never reminded twice.
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
    /// The actor (`from`, an owner of this request) is away: `to` decides for them.
    DecisionDelegated {
        from: UserId,
        to: UserId,
        until: NaiveDate,
    },
    /// `from` is back (or their absence ended on its date): the decision is theirs again.
    DecisionReturned {
        from: UserId,
        to: UserId,
    },
    RemindersSnoozed {
        days: u32,
        reason: String,
        /// When reminders resume (the pre-deadline warning is never held back).
        until: DateTime<Utc>,
    },
    /// The requester poked whoever owns the decision; they get a DM with its buttons.
    OwnerNudged {
        recipients: Vec<UserId>,
        /// The business day it counts for: one nudge per business day.
        day: NaiveDate,
    },
    /// Break-glass: an admin moved the request to `to` without the usual steps.
    ForcedTransition {
        from: State,
        to: State,
        reason: String,
        /// The deadline of the waiting state it entered, when that state has one.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        deadline: Option<DateTime<Utc>>,
    },
    ForcedTransitionReviewed,
    /// Slack reports `user`'s account deactivated while they own a decision here: it
    /// escalates to admins, who reassign it. `admins` are who were told (the DM's recipients).
    OwnerDeactivated {
        user: UserId,
        admins: Vec<UserId>,
    },
}

/// The event's name: the `action_id` of its button and the `kind` column of the log.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum EventKind {
    Submitted,
    CommercialOwnerAssigned,
    CommercialApproved,
    CommercialRejected,
    TechnicalOwnerAssigned,
    TechnicalApproved,
    TechnicalRejected,
    EarlyProcurementStarted,
    CustomerConfirmed,
    CustomerConfirmationTimeout,
    TtlExtended,
    ProvisioningCompleted,
    ProvisioningFailed,
    Activated,
    ActivationTimeout,
    CancelRequested,
    CancelApproved,
    CancelDenied,
    CapacityReleased,
    ReminderSent,
    CommentAdded,
    OwnerReassigned,
    DecisionDelegated,
    DecisionReturned,
    RemindersSnoozed,
    OwnerNudged,
    ForcedTransition,
    ForcedTransitionReviewed,
    OwnerDeactivated,
}

impl EventKind {
    pub const ALL: [EventKind; 29] = [
        EventKind::Submitted,
        EventKind::CommercialOwnerAssigned,
        EventKind::CommercialApproved,
        EventKind::CommercialRejected,
        EventKind::TechnicalOwnerAssigned,
        EventKind::TechnicalApproved,
        EventKind::TechnicalRejected,
        EventKind::EarlyProcurementStarted,
        EventKind::CustomerConfirmed,
        EventKind::CustomerConfirmationTimeout,
        EventKind::TtlExtended,
        EventKind::ProvisioningCompleted,
        EventKind::ProvisioningFailed,
        EventKind::Activated,
        EventKind::ActivationTimeout,
        EventKind::CancelRequested,
        EventKind::CancelApproved,
        EventKind::CancelDenied,
        EventKind::CapacityReleased,
        EventKind::ReminderSent,
        EventKind::CommentAdded,
        EventKind::OwnerReassigned,
        EventKind::DecisionDelegated,
        EventKind::DecisionReturned,
        EventKind::RemindersSnoozed,
        EventKind::OwnerNudged,
        EventKind::ForcedTransition,
        EventKind::ForcedTransitionReviewed,
        EventKind::OwnerDeactivated,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            EventKind::Submitted => "submitted",
            EventKind::CommercialOwnerAssigned => "commercial_owner_assigned",
            EventKind::CommercialApproved => "commercial_approved",
            EventKind::CommercialRejected => "commercial_rejected",
            EventKind::TechnicalOwnerAssigned => "technical_owner_assigned",
            EventKind::TechnicalApproved => "technical_approved",
            EventKind::TechnicalRejected => "technical_rejected",
            EventKind::EarlyProcurementStarted => "early_procurement_started",
            EventKind::CustomerConfirmed => "customer_confirmed",
            EventKind::CustomerConfirmationTimeout => "customer_confirmation_timeout",
            EventKind::TtlExtended => "ttl_extended",
            EventKind::ProvisioningCompleted => "provisioning_completed",
            EventKind::ProvisioningFailed => "provisioning_failed",
            EventKind::Activated => "activated",
            EventKind::ActivationTimeout => "activation_timeout",
            EventKind::CancelRequested => "cancel_requested",
            EventKind::CancelApproved => "cancel_approved",
            EventKind::CancelDenied => "cancel_denied",
            EventKind::CapacityReleased => "capacity_released",
            EventKind::ReminderSent => "reminder_sent",
            EventKind::CommentAdded => "comment_added",
            EventKind::OwnerReassigned => "owner_reassigned",
            EventKind::DecisionDelegated => "decision_delegated",
            EventKind::DecisionReturned => "decision_returned",
            EventKind::RemindersSnoozed => "reminders_snoozed",
            EventKind::OwnerNudged => "owner_nudged",
            EventKind::ForcedTransition => "forced_transition",
            EventKind::ForcedTransitionReviewed => "forced_transition_reviewed",
            EventKind::OwnerDeactivated => "owner_deactivated",
        }
    }

    /// Past-tense words for the thread: "<@U1> approved commercially".
    pub fn verb(self) -> &'static str {
        match self {
            EventKind::Submitted => "submitted the request",
            EventKind::CommercialOwnerAssigned => "assigned the commercial owner",
            EventKind::CommercialApproved => "gave commercial approval",
            EventKind::CommercialRejected => "rejected the request commercially",
            EventKind::TechnicalOwnerAssigned => "took technical ownership",
            EventKind::TechnicalApproved => "approved the technical review",
            EventKind::TechnicalRejected => "rejected the request technically",
            EventKind::EarlyProcurementStarted => "started procurement before confirmation",
            EventKind::CustomerConfirmed => "recorded the customer's confirmation",
            EventKind::CustomerConfirmationTimeout => {
                "expired the request: the customer did not confirm in time"
            }
            EventKind::TtlExtended => "extended the deadline",
            EventKind::ProvisioningCompleted => "completed provisioning",
            EventKind::ProvisioningFailed => "marked provisioning as failed",
            EventKind::Activated => "recorded activation",
            EventKind::ActivationTimeout => {
                "expired the request: the customer did not activate in time"
            }
            EventKind::CancelRequested => "requested cancellation",
            EventKind::CancelApproved => "approved the cancellation",
            EventKind::CancelDenied => "denied the cancellation",
            EventKind::CapacityReleased => "released the capacity",
            EventKind::ReminderSent => "sent a reminder",
            EventKind::CommentAdded => "commented",
            EventKind::OwnerReassigned => "reassigned an owner",
            EventKind::DecisionDelegated => "delegated their decisions while away",
            EventKind::DecisionReturned => "took their decisions back",
            EventKind::RemindersSnoozed => "snoozed the reminders",
            EventKind::OwnerNudged => "nudged the decision owner",
            EventKind::ForcedTransition => "forced a transition (break-glass)",
            EventKind::ForcedTransitionReviewed => "reviewed the forced transition",
            EventKind::OwnerDeactivated => "flagged a deactivated owner",
        }
    }

    /// Whether the event moves state, owners or deadlines, and so the version buttons carry.
    /// Reminders, comments, snoozes, nudges and reviews leave it alone, so none of them ever
    /// makes a button stale; a delegation moves who decides, so it does.
    pub fn bumps_version(self) -> bool {
        !matches!(
            self,
            EventKind::ReminderSent
                | EventKind::CommentAdded
                | EventKind::RemindersSnoozed
                | EventKind::OwnerNudged
                | EventKind::ForcedTransitionReviewed
                | EventKind::OwnerDeactivated
        )
    }

    /// Actions whose modal asks for a reason (or days) before they are recorded.
    pub fn takes_input(self) -> bool {
        matches!(
            self,
            EventKind::CommercialRejected
                | EventKind::TechnicalRejected
                | EventKind::ProvisioningFailed
                | EventKind::CancelRequested
                | EventKind::TtlExtended
        )
    }

    /// Destructive actions get a Block Kit `confirm` dialog.
    pub fn is_destructive(self) -> bool {
        matches!(
            self,
            EventKind::CommercialRejected
                | EventKind::TechnicalRejected
                | EventKind::CancelRequested
                | EventKind::CancelApproved
                | EventKind::CapacityReleased
                | EventKind::ProvisioningFailed
        )
    }
}

impl fmt::Display for EventKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("`{0}` is not an action this bot knows")]
pub struct UnknownAction(pub String);

impl FromStr for EventKind {
    type Err = UnknownAction;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        EventKind::ALL
            .into_iter()
            .find(|k| k.as_str() == s)
            .ok_or_else(|| UnknownAction(s.to_string()))
    }
}

impl Event {
    pub fn kind(&self) -> EventKind {
        match self {
            Event::Submitted { .. } => EventKind::Submitted,
            Event::CommercialOwnerAssigned { .. } => EventKind::CommercialOwnerAssigned,
            Event::CommercialApproved { .. } => EventKind::CommercialApproved,
            Event::CommercialRejected { .. } => EventKind::CommercialRejected,
            Event::TechnicalOwnerAssigned => EventKind::TechnicalOwnerAssigned,
            Event::TechnicalApproved { .. } => EventKind::TechnicalApproved,
            Event::TechnicalRejected { .. } => EventKind::TechnicalRejected,
            Event::EarlyProcurementStarted => EventKind::EarlyProcurementStarted,
            Event::CustomerConfirmed => EventKind::CustomerConfirmed,
            Event::CustomerConfirmationTimeout => EventKind::CustomerConfirmationTimeout,
            Event::TtlExtended { .. } => EventKind::TtlExtended,
            Event::ProvisioningCompleted { .. } => EventKind::ProvisioningCompleted,
            Event::ProvisioningFailed { .. } => EventKind::ProvisioningFailed,
            Event::Activated { .. } => EventKind::Activated,
            Event::ActivationTimeout => EventKind::ActivationTimeout,
            Event::CancelRequested { .. } => EventKind::CancelRequested,
            Event::CancelApproved => EventKind::CancelApproved,
            Event::CancelDenied => EventKind::CancelDenied,
            Event::CapacityReleased => EventKind::CapacityReleased,
            Event::ReminderSent { .. } => EventKind::ReminderSent,
            Event::CommentAdded { .. } => EventKind::CommentAdded,
            Event::OwnerReassigned { .. } => EventKind::OwnerReassigned,
            Event::DecisionDelegated { .. } => EventKind::DecisionDelegated,
            Event::DecisionReturned { .. } => EventKind::DecisionReturned,
            Event::RemindersSnoozed { .. } => EventKind::RemindersSnoozed,
            Event::OwnerNudged { .. } => EventKind::OwnerNudged,
            Event::ForcedTransition { .. } => EventKind::ForcedTransition,
            Event::ForcedTransitionReviewed => EventKind::ForcedTransitionReviewed,
            Event::OwnerDeactivated { .. } => EventKind::OwnerDeactivated,
        }
    }

    /// The reason or free text a person gave with the event, for the thread reply.
    pub fn reason(&self) -> Option<&str> {
        match self {
            Event::CommercialRejected { reason }
            | Event::TechnicalRejected { reason }
            | Event::ProvisioningFailed { reason }
            | Event::CancelRequested { reason }
            | Event::RemindersSnoozed { reason, .. }
            | Event::ForcedTransition { reason, .. } => Some(reason),
            Event::CommentAdded { text } => Some(text),
            _ => None,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn action_ids_round_trip() {
        for k in EventKind::ALL {
            assert_eq!(k.as_str().parse::<EventKind>().unwrap(), k);
            assert_eq!(serde_json::to_string(&k).unwrap(), format!("\"{k}\""));
        }
        assert!("approve".parse::<EventKind>().is_err());
    }

    #[test]
    fn the_serialized_kind_is_the_action_id() {
        let e = Event::TtlExtended {
            days: 3,
            deadline: "2026-12-08T22:00:00Z".parse().unwrap(),
        };
        let v = serde_json::to_value(&e).unwrap();
        assert_eq!(v["kind"], "ttl_extended");
        assert_eq!(serde_json::from_value::<Event>(v).unwrap(), e);
        assert_eq!(e.kind(), EventKind::TtlExtended);
    }
}
