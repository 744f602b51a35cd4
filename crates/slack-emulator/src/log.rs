//! A readable, ordered account of everything that happened, for the demo to print.

use std::fmt;
use std::time::Duration;

/// What kind of thing a [`LogEntry`] reports, for filtering.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum LogKind {
    Socket,
    Envelope,
    Ack,
    Message,
    Ephemeral,
    View,
    ApiError,
    Fault,
}

/// One line (or a few) of the emulator's story.
#[derive(Clone, Debug, PartialEq)]
pub struct LogEntry {
    /// Position in the log; `Emulator::log_since(seq + 1)` continues after this entry.
    pub seq: usize,
    /// Time since the emulator started.
    pub at: Duration,
    pub kind: LogKind,
    pub text: String,
}

impl fmt::Display for LogEntry {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let secs = self.at.as_secs_f64();
        let mut lines = self.text.lines();
        write!(f, "[{secs:>7.3}s] {}", lines.next().unwrap_or_default())?;
        for line in lines {
            write!(f, "\n            {line}")?;
        }
        Ok(())
    }
}
