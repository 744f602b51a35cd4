//! Who owns the next decision on a request: shown on the root message and reminded by DM.

use chrono::{DateTime, Utc};

use super::request::Request;
use super::role::{Party, Role};
use super::state::State;

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DecisionOwner {
    /// Everyone who can make the decision; a role expands to its configured members.
    pub parties: Vec<Party>,
    /// "customer confirmation": what they are deciding.
    pub decision: &'static str,
    pub due: Option<DateTime<Utc>>,
}

pub fn decision_owner(req: &Request) -> Option<DecisionOwner> {
    // An owner who is away is represented by their delegate: the decision, its reminders
    // and its DMs go there.
    // A deactivated owner can decide nothing: their decision escalates to admins.
    let person = |u: &crate::domain::UserId| {
        let acting = req.acting_for(u);
        if req.attention.deactivated.contains(acting) {
            Party::Role(Role::Admin)
        } else {
            Party::User(acting.clone())
        }
    };
    let commercial_owner = || match &req.commercial_owner {
        Some(u) => person(u),
        None => Party::Role(Role::CommercialApprover),
    };
    let technical_owner = || match &req.technical_owner {
        Some(u) => person(u),
        None => Party::Role(Role::Infra),
    };
    let due = req.deadline.map(|d| d.at);
    let owner = |parties: Vec<Party>, decision: &'static str| {
        Some(DecisionOwner {
            parties,
            decision,
            due,
        })
    };
    if req.pending_cancellation.is_some() {
        return owner(vec![commercial_owner()], "cancellation");
    }
    match req.state {
        State::Submitted => owner(
            vec![Party::Role(Role::CommercialApprover)],
            "commercial owner assignment",
        ),
        State::CommercialApprovalRequired => {
            let mut parties = Vec::new();
            if req.approvals.commercial.is_none() {
                parties.push(commercial_owner());
            }
            if req.finance_required && req.approvals.finance.is_none() {
                parties.push(Party::Role(Role::Finance));
            }
            owner(parties, "commercial approval")
        }
        State::TechnicalReviewRequired => owner(vec![technical_owner()], "technical review"),
        State::CustomerConfirmationRequired => {
            owner(vec![commercial_owner()], "customer confirmation")
        }
        State::ProvisioningInProgress => owner(vec![technical_owner()], "provisioning"),
        State::ReadyForCustomer => owner(vec![commercial_owner()], "customer activation"),
        State::Expired if req.capacity.is_committed() => owner(
            vec![commercial_owner()],
            "cancellation gate (capacity committed)",
        ),
        State::Expired => owner(vec![commercial_owner()], "cancellation gate"),
        State::Cancelled | State::Failed if req.capacity.is_committed() => {
            owner(vec![Party::Role(Role::Infra)], "capacity release")
        }
        State::Cancelled | State::Failed | State::Activated => None,
    }
}
