//! Rendering: requests, events and refusals in; Block Kit and text out.
//!
//! Architecture invariant: every function here is pure. No I/O, no clock (`now` is a
//! parameter), no Slack client: the output is slack-morphism's plain model types
//! (`SlackMessageContent`, `SlackView`) that the shell hands to `chat.postMessage`,
//! `chat.update` or `views.open` as they are. User-typed text is always escaped and cut to a
//! budget (`text`), so rendering never exceeds a Block Kit limit (`limits`) and never pings or
//! links where the user typed it.
//!
//! - `root`: the request's one message in the requests channel, with its legal buttons.
//! - `thread`: one reply per recorded event; the thread is the audit log.
//! - `dm`: reminders and the timeout's cancellation gate, with the same buttons.
//! - `modal`: the intake form and the reason form, and their parsers.
//! - `ephemeral`: refusals, conflicts, `/capacity status|list|help`.
//! - `action_value`: the request id and version every button carries.
//! - `buttons`: which buttons a request shows and what they say.
//! - `digest`: the weekly digest's message.
//! - `linear`: the informational Linear issue's title, description and comments.
//! - `ways`: the request's source message, the reply in its thread, and the card that
//!   answers a `CR-<n>` mention.

pub mod action_value;
pub mod attention;
mod blocks;
pub mod buttons;
pub mod digest;
pub mod dm;
pub mod ephemeral;
pub mod home;
#[cfg(any(test, feature = "testkit"))]
pub mod limits;
pub mod linear;
pub(crate) mod lines;
pub mod modal;
pub mod names;
pub mod root;
pub mod text;
pub mod thread;
pub mod ways;

pub use action_value::{ActionValue, BadActionValue};
pub use dm::{decision_dm, DmReason};
pub use ephemeral::{conflict_text, help_text, list_text, refusal_text, status_text, ListScope};
pub use modal::{
    intake_modal, parse_intake, parse_reason_submission, reason_modal, ReasonError, ReasonInput,
};
pub use root::root_message;
pub use thread::thread_reply;

#[cfg(test)]
mod tests;
