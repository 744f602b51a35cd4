//! Errors the driver API returns to tests and the demo.

use std::time::Duration;

/// Why a driver call could not do what was asked.
#[derive(Debug, thiserror::Error)]
pub enum EmulatorError {
    #[error("could not bind the emulator's listeners: {0}")]
    Bind(#[from] std::io::Error),
    #[error("timed out after {after:?} waiting for {what}")]
    Timeout { what: String, after: Duration },
    #[error("no ack for envelope {envelope_id} within {after:?}")]
    AckTimeout {
        envelope_id: String,
        after: Duration,
    },
    #[error("no socket is connected, so the envelope could not be delivered within {0:?}")]
    NoSocket(Duration),
    #[error("unknown user {0}: seed it with EmulatorConfig::with_user")]
    UnknownUser(String),
    #[error("unknown channel {0}: seed it with EmulatorConfig::with_channel")]
    UnknownChannel(String),
    #[error("no message {ts} in {channel}")]
    NoSuchMessage { channel: String, ts: String },
    #[error("no view {0}")]
    NoSuchView(String),
    #[error("view {0} is not open")]
    ViewNotOpen(String),
    #[error("no element with action_id {action_id} in {location}")]
    NoSuchAction { action_id: String, location: String },
    #[error("the emulator shut down")]
    ShutDown,
    /// The simulated Slack client would refuse this input (required field empty, bad number…).
    #[error("the Slack client would refuse this submission: {0}")]
    InvalidInput(String),
}
