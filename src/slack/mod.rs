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

/// Where the emulator's tests keep Slack's own payloads.
#[cfg(test)]
pub(crate) const FIXTURES: &str = concat!(
    env!("CARGO_MANIFEST_DIR"),
    "/crates/slack-emulator/tests/fixtures/slack"
);

/// One of Slack's own payloads, from [`FIXTURES`].
#[cfg(test)]
pub(crate) fn fixture(name: &str) -> String {
    let path = format!("{FIXTURES}/{name}");
    std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("{path}: {e}"))
}
