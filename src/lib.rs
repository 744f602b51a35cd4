//! capacity-bot: large-capacity requests as a durable, owned, timed Slack workflow.
pub mod config;
pub mod domain;
pub mod emulator;
pub mod replay;
pub mod store;
