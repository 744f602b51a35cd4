//! The workflow core: states, commands and events, roles, `decide` and `evolve`, decision
//! owners, the business calendar, cost at risk, and the log's value types.
//!
//! Architecture invariant: nothing in this module does I/O, reads the clock or makes ids.
//! The shell passes `now`, new ids and the actor's resolved roles in. `decide` turns a
//! command into events or a typed `Refusal`; `evolve` folds a recorded event into the
//! request and never refuses, so every rule is testable without a database and no rule
//! can change what an old log folds to.

pub mod attention;
pub mod calendar;
pub mod command;
pub mod cost;
pub mod decide;
pub mod digest;
pub mod effect;
pub mod event;
pub mod evolve;
pub mod ids;
pub mod links;
pub mod log;
pub mod owner;
pub mod policy;
pub mod refusal;
pub mod reminders;
pub mod request;
pub mod role;
pub mod rules;
pub mod state;
/// Builders for tests (here and in `tests/`): a cast of users and a driver for `decide` and `evolve`.
#[cfg(any(test, feature = "testkit"))]
pub mod testkit;
pub mod upcast;

pub use attention::{Attention, Delegation, Forced};
pub use calendar::Calendar;
pub use command::Command;
pub use decide::{decide, Context};
pub use effect::{effects_of, Effect, LinearTrigger};
pub use event::{ApprovalKey, Event, EventKind, OwnerRole};
pub use evolve::{evolve, genesis, Occurrence};
pub use ids::{ChannelId, GroupId, RequestId, RequestNumber, TeamId, UserId};
pub use links::{Links, SlackMessage};
pub use log::{fold, FoldError, Recorded, RecordedEvent};
pub use owner::{decision_owner, DecisionOwner};
pub use policy::Policy;
pub use refusal::Refusal;
pub use reminders::{plan as plan_reminder, plan_review, ReminderPlan};
pub use request::{
    Capacity, Deadline, DeadlineKind, PendingCancellation, Request, SourceMessage, Submission,
};
pub use role::{Actor, Party, Role, RoleSet};
pub use rules::decision_actions;
pub use rules::{available_actions, check_new_owner, check_state, who_may};
pub use state::State;
pub use upcast::{read_log, StoredPayload, CURRENT_SCHEMA};
