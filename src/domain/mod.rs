//! The workflow core: states, events, roles, the reducer, decision owners, the business
//! calendar and cost at risk.
//!
//! Architecture invariant: nothing in this module does I/O, reads the clock or makes ids.
//! The shell passes `now`, new ids and the actor's resolved roles in, and gets a new
//! `Request` or a typed `Refusal` out, so every rule is testable without a database.

pub mod calendar;
pub mod cost;
pub mod effect;
pub mod event;
pub mod ids;
pub mod owner;
pub mod policy;
pub mod reducer;
pub mod refusal;
pub mod reminders;
pub mod request;
pub mod role;
pub mod state;
/// Builders for tests (here and in `tests/`): a cast of users and a reducer driver.
#[cfg(any(test, feature = "testkit"))]
pub mod testkit;

pub use calendar::Calendar;
pub use effect::{effects_of, Effect, LinearTrigger};
pub use event::{Event, EventKind, OwnerRole};
pub use ids::{GroupId, RequestId, RequestNumber, TeamId, UserId};
pub use owner::{decision_owner, DecisionOwner};
pub use policy::Policy;
pub use reducer::{reduce, Context};
pub use refusal::Refusal;
pub use reminders::{plan as plan_reminder, ReminderPlan};
pub use request::{Capacity, Deadline, DeadlineKind, PendingCancellation, Request, Submission};
pub use role::{Actor, Party, Role, RoleSet};
pub use state::State;
