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

/// One of Slack's own payloads, as the emulator's tests keep them.
#[cfg(test)]
pub(crate) fn fixture(name: &str) -> String {
    let path = format!(
        "{}/crates/slack-emulator/tests/fixtures/slack/{name}",
        env!("CARGO_MANIFEST_DIR")
    );
    std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("{path}: {e}"))
}
