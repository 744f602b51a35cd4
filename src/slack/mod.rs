//! Everything that knows Slack: the Socket Mode client, the Web API client, payload
//! parsing and the handlers that turn payloads into domain events.

pub mod api;
pub mod backoff;
pub mod envelope;
pub mod handlers;
pub mod names;
pub mod pace;
pub mod roles;
pub mod scopes;
pub mod socket;
