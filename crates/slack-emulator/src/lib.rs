//! A local Slack emulator that speaks the real protocols, so an unmodified Slack client (and
//! so a whole bot) runs against it: the Web API over HTTP at
//! `http://127.0.0.1:<port>/api/<method>` and Socket Mode over a websocket whose URL
//! `apps.connections.open` hands out. A bot's tests (and capacity-bot's `demo` subcommand)
//! drive it as a user would: run a slash command, fill in the modal, click buttons, and read
//! what the bot posted. What it emulates and what it does not: `README.md` beside this crate.
//!
//! # Layout
//! - `lib.rs`: [`Emulator`] (start, shutdown, identities).
//! - `interact.rs`: driver calls that act as a user (slash command, click, submit, mention).
//! - `query.rs`: reading what happened, and `wait_*` calls that sleep on state changes.
//! - `control.rs`: fault injection and timing knobs; `limits.rs`: Slack's rate limits
//!   (off unless asked for).
//! - `config.rs`: [`EmulatorConfig`], the seed data. `error.rs`: [`EmulatorError`].
//! - `shared.rs`: the state mutex and change signal; `state.rs`: all state; `ids.rs`.
//! - `web_api/`: the HTTP server, one file per method family, `response_url` hooks.
//! - `socket.rs`: the websocket listener; `delivery.rs`: envelopes, acks, retries;
//!   `ack_effects.rs`: what ack payloads do.
//! - `payloads.rs`: wire shapes; `view_state.rs`: submission values.
//! - `blocks/` / `normalize.rs`: Block Kit validation and storage normalization.
//! - `text.rs`: [`render_text`]; `log.rs`: the readable [`LogEntry`] story.
//!
//! # Invariants
//! - No I/O besides the two loopback listeners; state lives in memory.
//! - `wait_*` never poll: they re-check only when the state changes, under a deadline.
//! - Every task the emulator spawns stops when it is dropped or shut down.

mod ack_effects;
mod blocks;
mod config;
mod control;
mod conversation;
mod delivery;
mod error;
mod faults;
mod ids;
mod interact;
mod limits;
mod log;
mod normalize;
mod payloads;
mod query;
mod records;
mod shared;
mod socket;
mod state;
mod text;
mod users;
mod view_state;
mod web_api;

use std::sync::Arc;
use std::time::Duration;
use tokio::net::TcpListener;
use tokio::task::JoinHandle;

pub use config::{EmulatorConfig, SeedChannel, SeedUser, SeedUsergroup, DEFAULT_BOT_SCOPES};
pub use conversation::Posted;
pub use error::EmulatorError;
pub use faults::{DisconnectReason, Fault, ANY_METHOD, UPLOAD_URL};
pub use limits::{RateLimits, Tier};
pub use log::{LogEntry, LogKind};
pub use records::{
    Ack, Call, Delivery, DeliveryOutcome, Ephemeral, EphemeralSource, Message, TokenKind,
    UploadedFile, View,
};
pub use text::{render_mrkdwn, render_text};

use shared::Shared;

/// How long `shutdown` waits for in-flight HTTP requests before giving up on them.
const SHUTDOWN_GRACE: Duration = Duration::from_secs(2);

/// A running emulator. Dropping it stops every task it started.
pub struct Emulator {
    shared: Arc<Shared>,
    http_server: Option<JoinHandle<()>>,
}

impl Emulator {
    /// Binds the Web API and Socket Mode listeners on `127.0.0.1:0` and starts serving.
    pub async fn start(config: EmulatorConfig) -> Result<Self, EmulatorError> {
        let http = TcpListener::bind("127.0.0.1:0").await?;
        let ws = TcpListener::bind("127.0.0.1:0").await?;
        let http_base = format!("http://{}", http.local_addr()?);
        let ws_base = format!("ws://{}", ws.local_addr()?);
        let shared = Shared::new(config, http_base, ws_base);
        let router = web_api::router(Arc::clone(&shared));
        let stop = shared.shutdown_signal();
        let http_server = tokio::spawn(async move {
            let _ = axum::serve(http, router).with_graceful_shutdown(stop).await;
        });
        shared.spawn(socket::serve(Arc::clone(&shared), ws));
        Ok(Self {
            shared,
            http_server: Some(http_server),
        })
    }

    /// Stops serving: sockets are dropped, the HTTP server finishes in-flight requests.
    pub async fn shutdown(mut self) {
        self.shared.trigger_shutdown();
        if let Some(server) = self.http_server.take() {
            let abort = server.abort_handle();
            if tokio::time::timeout(SHUTDOWN_GRACE, server).await.is_err() {
                abort.abort();
            }
        }
    }

    /// The Web API base, e.g. `http://127.0.0.1:4321/api` (no trailing slash: clients
    /// append `/<method>`). Use it as `SLACK_API_URL`.
    pub fn api_url(&self) -> String {
        format!("{}/api", self.shared.http_base)
    }

    pub fn app_token(&self) -> &str {
        &self.shared.config.app_token
    }

    pub fn bot_token(&self) -> &str {
        &self.shared.config.bot_token
    }

    pub fn team_id(&self) -> &str {
        &self.shared.config.team_id
    }

    pub fn app_id(&self) -> &str {
        &self.shared.config.app_id
    }

    pub fn bot_user_id(&self) -> &str {
        &self.shared.config.bot_user_id
    }

    pub fn bot_id(&self) -> &str {
        &self.shared.config.bot_id
    }

    pub fn config(&self) -> &EmulatorConfig {
        &self.shared.config
    }
}

impl Drop for Emulator {
    fn drop(&mut self) {
        self.shared.trigger_shutdown();
    }
}
