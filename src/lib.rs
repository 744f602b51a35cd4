//! capacity-bot: large-capacity requests as a durable, owned, timed Slack workflow.
pub mod domain;
pub mod emulator;
