//! Who acts: configured roles, the actor of an event, and the parties named as owners.

use std::collections::BTreeSet;
use std::fmt;

use serde::{Deserialize, Serialize};

use super::ids::{TeamId, UserId};

/// A role from the `[roles]` section of the config. Membership is resolved by the shell
/// (user ids and user groups) before `decide` sees an actor.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Role {
    Requester,
    CommercialApprover,
    Finance,
    Infra,
    Admin,
}

impl Role {
    pub const ALL: [Role; 5] = [
        Role::Requester,
        Role::CommercialApprover,
        Role::Finance,
        Role::Infra,
        Role::Admin,
    ];

    /// The config key of the role's member list.
    pub fn config_key(self) -> &'static str {
        match self {
            Role::Requester => "requesters",
            Role::CommercialApprover => "commercial_approvers",
            Role::Finance => "finance",
            Role::Infra => "infra",
            Role::Admin => "admins",
        }
    }

    /// "a commercial approver": how a refusal names the role.
    pub fn describe(self) -> &'static str {
        match self {
            Role::Requester => "a requester",
            Role::CommercialApprover => "a commercial approver",
            Role::Finance => "a finance approver",
            Role::Infra => "a member of infra",
            Role::Admin => "an admin",
        }
    }
}

#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(transparent)]
pub struct RoleSet(BTreeSet<Role>);

impl RoleSet {
    pub fn new(roles: impl IntoIterator<Item = Role>) -> Self {
        RoleSet(roles.into_iter().collect())
    }

    pub fn has(&self, role: Role) -> bool {
        self.0.contains(&role)
    }

    pub fn iter(&self) -> impl Iterator<Item = Role> + '_ {
        self.0.iter().copied()
    }
}

/// Who caused an event. Recorded with every event, roles included, so the audit record
/// shows why `decide` let it through.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "type", rename_all = "snake_case")]
pub enum Actor {
    User {
        id: UserId,
        team: TeamId,
        roles: RoleSet,
    },
    /// The in-process scheduler: timeouts and reminders.
    Scheduler,
    /// A signed control-plane signal (activation).
    ControlPlane,
}

impl Actor {
    pub fn user(&self) -> Option<&UserId> {
        match self {
            Actor::User { id, .. } => Some(id),
            _ => None,
        }
    }

    pub fn has(&self, role: Role) -> bool {
        matches!(self, Actor::User { roles, .. } if roles.has(role))
    }

    pub fn is(&self, user: Option<&UserId>) -> bool {
        matches!((self.user(), user), (Some(a), Some(b)) if a == b)
    }

    /// The name stored in the `actor` column: a Slack user id, `scheduler` or `control-plane`.
    pub fn label(&self) -> String {
        match self {
            Actor::User { id, .. } => id.to_string(),
            Actor::Scheduler => "scheduler".into(),
            Actor::ControlPlane => "control-plane".into(),
        }
    }
}

/// Someone who may act or must decide: a named person or anyone holding a role.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(tag = "type", content = "id", rename_all = "snake_case")]
pub enum Party {
    User(UserId),
    Role(Role),
    /// Only the scheduler or the control plane, never a click.
    System,
}

impl fmt::Display for Party {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Party::User(u) => write!(f, "<@{u}>"),
            Party::Role(r) => f.write_str(r.describe()),
            Party::System => f.write_str("the scheduler"),
        }
    }
}

/// "<@U1> or a commercial approver".
pub fn join_parties(parties: &[Party]) -> String {
    match parties {
        [] => "nobody".into(),
        [one] => one.to_string(),
        many => {
            let (last, rest) = many.split_last().expect("non-empty by the match");
            let head: Vec<String> = rest.iter().map(ToString::to_string).collect();
            format!("{} or {}", head.join(", "), last)
        }
    }
}
