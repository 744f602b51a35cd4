//! Scripted failures: the next N calls of a Web API method fail in a chosen way.

use std::collections::{HashMap, VecDeque};
use std::fmt;

/// Method name that matches every Web API method in [`Emulator::fail_next`](super::Emulator::fail_next).
pub const ANY_METHOD: &str = "*";

/// The name faults and call records use for POSTs to an upload URL that
/// `files.getUploadURLExternal` handed out (not a Web API method on Slack either).
pub const UPLOAD_URL: &str = "upload_url";

/// How a Web API call fails.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Fault {
    /// HTTP 429 with `Retry-After: <secs>` and `{"ok":false,"error":"ratelimited"}`.
    RateLimited { retry_after_secs: u64 },
    /// A bare HTTP status (e.g. 500 or 503) with a non-JSON body, like a load balancer error.
    HttpStatus(u16),
    /// HTTP 200 with `{"ok":false,"error":<code>}` (e.g. `internal_error`, `invalid_auth`).
    Error(String),
}

impl Fault {
    pub fn rate_limited(retry_after_secs: u64) -> Self {
        Self::RateLimited { retry_after_secs }
    }
    pub fn error(code: &str) -> Self {
        Self::Error(code.into())
    }
}

impl fmt::Display for Fault {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::RateLimited { retry_after_secs } => {
                write!(f, "HTTP 429 Retry-After {retry_after_secs}")
            }
            Self::HttpStatus(status) => write!(f, "HTTP {status}"),
            Self::Error(code) => write!(f, "ok:false {code}"),
        }
    }
}

/// Why the emulator tells sockets to go away (`disconnect` frame `reason`).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum DisconnectReason {
    Warning,
    RefreshRequested,
    LinkDisabled,
    TooManyWebsockets,
}

impl DisconnectReason {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Warning => "warning",
            Self::RefreshRequested => "refresh_requested",
            Self::LinkDisabled => "link_disabled",
            Self::TooManyWebsockets => "too_many_websockets",
        }
    }
}

/// Queued faults per method, consumed one per call in the order they were added.
#[derive(Debug, Default)]
pub(crate) struct Faults {
    queued: HashMap<String, VecDeque<Fault>>,
}

impl Faults {
    pub(crate) fn push(&mut self, method: &str, fault: Fault, times: usize) {
        let queue = self.queued.entry(method.to_owned()).or_default();
        queue.extend(std::iter::repeat_n(fault, times));
    }

    /// The fault for this call, if any; a method-specific fault wins over [`ANY_METHOD`].
    pub(crate) fn take(&mut self, method: &str) -> Option<Fault> {
        [method, ANY_METHOD]
            .into_iter()
            .find_map(|key| self.queued.get_mut(key).and_then(VecDeque::pop_front))
    }

    pub(crate) fn clear(&mut self) {
        self.queued.clear();
    }
}
