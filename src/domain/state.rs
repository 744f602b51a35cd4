//! The one lifecycle `State` enum.

use std::fmt;
use std::str::FromStr;

use serde::{Deserialize, Serialize};

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "SCREAMING_SNAKE_CASE")]
pub enum State {
    Submitted,
    CommercialApprovalRequired,
    TechnicalReviewRequired,
    CustomerConfirmationRequired,
    ProvisioningInProgress,
    ReadyForCustomer,
    Activated,
    /// Ends the customer's window but keeps a cancellation gate open, so it is not terminal.
    Expired,
    Cancelled,
    Failed,
}

impl State {
    pub const ALL: [State; 10] = [
        State::Submitted,
        State::CommercialApprovalRequired,
        State::TechnicalReviewRequired,
        State::CustomerConfirmationRequired,
        State::ProvisioningInProgress,
        State::ReadyForCustomer,
        State::Activated,
        State::Expired,
        State::Cancelled,
        State::Failed,
    ];

    /// The name stored in the database and shown in `requests list`.
    pub fn as_str(self) -> &'static str {
        match self {
            State::Submitted => "SUBMITTED",
            State::CommercialApprovalRequired => "COMMERCIAL_APPROVAL_REQUIRED",
            State::TechnicalReviewRequired => "TECHNICAL_REVIEW_REQUIRED",
            State::CustomerConfirmationRequired => "CUSTOMER_CONFIRMATION_REQUIRED",
            State::ProvisioningInProgress => "PROVISIONING_IN_PROGRESS",
            State::ReadyForCustomer => "READY_FOR_CUSTOMER",
            State::Activated => "ACTIVATED",
            State::Expired => "EXPIRED",
            State::Cancelled => "CANCELLED",
            State::Failed => "FAILED",
        }
    }

    /// Words for people, used in Slack messages.
    pub fn label(self) -> &'static str {
        match self {
            State::Submitted => "Submitted",
            State::CommercialApprovalRequired => "Commercial approval required",
            State::TechnicalReviewRequired => "Technical review required",
            State::CustomerConfirmationRequired => "Customer confirmation required",
            State::ProvisioningInProgress => "Provisioning in progress",
            State::ReadyForCustomer => "Ready for customer",
            State::Activated => "Activated",
            State::Expired => "Expired",
            State::Cancelled => "Cancelled",
            State::Failed => "Failed",
        }
    }

    /// Ends of the lifecycle. EXPIRED is not one: its cancellation gate is still open.
    pub fn is_terminal(self) -> bool {
        matches!(self, State::Activated | State::Cancelled | State::Failed)
    }

    pub fn is_open(self) -> bool {
        !self.is_terminal()
    }
}

impl fmt::Display for State {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("`{0}` is not a state; use one of SUBMITTED, COMMERCIAL_APPROVAL_REQUIRED, TECHNICAL_REVIEW_REQUIRED, CUSTOMER_CONFIRMATION_REQUIRED, PROVISIONING_IN_PROGRESS, READY_FOR_CUSTOMER, ACTIVATED, EXPIRED, CANCELLED, FAILED")]
pub struct UnknownState(pub String);

impl FromStr for State {
    type Err = UnknownState;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        let wanted = s.trim().to_ascii_uppercase().replace('-', "_");
        State::ALL
            .into_iter()
            .find(|st| st.as_str() == wanted)
            .ok_or_else(|| UnknownState(s.to_string()))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn states_round_trip_through_their_names() {
        for s in State::ALL {
            assert_eq!(s.as_str().parse::<State>().unwrap(), s);
            let json = serde_json::to_string(&s).unwrap();
            assert_eq!(json, format!("\"{}\"", s.as_str()));
        }
        assert_eq!("expired".parse::<State>().unwrap(), State::Expired);
        assert!("DONE".parse::<State>().is_err());
    }

    #[test]
    fn expired_keeps_its_gate_open() {
        assert!(State::Expired.is_open());
        assert!(State::Cancelled.is_terminal());
        assert!(State::Failed.is_terminal());
        assert!(State::Activated.is_terminal());
    }
}
