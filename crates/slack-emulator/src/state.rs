//! The emulator's whole world, in memory: messages, views, triggers, sockets, deliveries,
//! calls and the log. Mutated only through `Shared::update` (see `shared.rs`).

use rand::Rng;
use std::collections::{BTreeMap, HashMap, VecDeque};
use std::time::{Duration, SystemTime, UNIX_EPOCH};
use tokio::sync::{mpsc, oneshot};
use tokio::time::Instant;

use super::config::EmulatorConfig;
use super::faults::Faults;
use super::ids::{format_ts, random_id, short_id};
use super::limits::Limiter;
use super::log::{LogEntry, LogKind};
use super::records::{Ack, Call, Delivery, Ephemeral, Message, UploadedFile, View};

/// A minted `trigger_id`.
pub(crate) struct Trigger {
    pub(crate) user: String,
    pub(crate) minted: Instant,
    pub(crate) used: bool,
    /// Forced expiry (`Emulator::expire_trigger_ids`), independent of the clock.
    pub(crate) expired: bool,
}

/// An upload URL handed out by `files.getUploadURLExternal`, until it is completed.
pub(crate) struct PendingUpload {
    pub(crate) file_id: String,
    pub(crate) filename: String,
    pub(crate) length: usize,
    pub(crate) alt_txt: Option<String>,
    /// What was POSTed to the URL, once it was.
    pub(crate) bytes: Option<Vec<u8>>,
}

/// A frame the emulator wants a socket task to send.
#[derive(Debug)]
pub(crate) enum Outbound {
    Text(String),
    /// Send this text frame, then a close frame, then hang up.
    Disconnect(String),
    /// Hang up the TCP connection without a close frame.
    Drop,
}

pub(crate) struct Socket {
    pub(crate) tx: mpsc::UnboundedSender<Outbound>,
    /// Counted as connected only once `hello` went out, as clients do.
    pub(crate) hello_sent: bool,
    /// Told to disconnect or drop: gets no more envelopes.
    pub(crate) closing: bool,
}

impl Socket {
    /// Whether new envelopes may go to this socket.
    pub(crate) fn usable(&self) -> bool {
        self.hello_sent && !self.closing
    }
}

/// What an ack's payload should do once it arrives.
#[derive(Clone, Debug)]
pub(crate) enum AckContext {
    Plain,
    Slash { user: String, channel: String },
    ViewSubmission { view_id: String, user: String },
}

/// An envelope waiting for its ack.
pub(crate) struct Pending {
    pub(crate) delivery: usize,
    pub(crate) context: AckContext,
    pub(crate) reply: Option<oneshot::Sender<Ack>>,
}

/// A `response_url` the emulator handed out.
pub(crate) struct ResponseUrl {
    pub(crate) user: String,
    pub(crate) channel: String,
    /// The message the interaction came from (`replace_original` targets it).
    pub(crate) message_ts: Option<String>,
    pub(crate) uses: u32,
}

pub(crate) struct State {
    pub(crate) started: Instant,
    pub(crate) ack_timeout: Duration,
    pub(crate) trigger_ttl: Duration,
    last_ts_micros: u64,
    pub(crate) dms: HashMap<String, String>,
    /// Every message, oldest first. Private: pushes and removals keep `by_ts` in step.
    messages: Vec<Message>,
    /// (channel, ts) → position in `messages`: edits and thread replies find their message
    /// without a scan, so a benchmark's tens of thousands of messages cost nothing per call.
    by_ts: HashMap<(String, String), usize>,
    pub(crate) ephemerals: Vec<Ephemeral>,
    pub(crate) views: Vec<View>,
    /// Each user's Home tab view, as `views.publish` last set it.
    pub(crate) homes: HashMap<String, View>,
    /// Users whose account was deactivated (`users.info` says `deleted: true`).
    pub(crate) deactivated: std::collections::HashSet<String>,
    /// Open views per user, root first (Slack's view stack, max 3).
    pub(crate) stacks: HashMap<String, Vec<String>>,
    pub(crate) triggers: HashMap<String, Trigger>,
    pub(crate) tickets: HashMap<String, Instant>,
    pub(crate) sockets: BTreeMap<u64, Socket>,
    pub(crate) next_socket_id: u64,
    /// Sockets that ever received `hello` (reconnects included).
    pub(crate) hellos_sent: usize,
    pub(crate) round_robin: usize,
    pub(crate) deliveries: Vec<Delivery>,
    pub(crate) pending: HashMap<String, VecDeque<Pending>>,
    pub(crate) calls: Vec<Call>,
    pub(crate) log: Vec<LogEntry>,
    pub(crate) faults: Faults,
    /// Slack's rate limits, when enforced, and the 429s they answered.
    pub(crate) limiter: Limiter,
    pub(crate) response_urls: HashMap<String, ResponseUrl>,
    /// Upload URLs handed out and not yet completed, by the URL's token.
    pub(crate) uploads: HashMap<String, PendingUpload>,
    /// Files shared by `files.completeUploadExternal`, oldest first.
    pub(crate) files: Vec<UploadedFile>,
    /// Client frames that were not acks of a known envelope.
    pub(crate) stray_frames: Vec<String>,
}

impl State {
    pub(crate) fn new(config: &EmulatorConfig) -> Self {
        Self {
            started: Instant::now(),
            ack_timeout: config.ack_timeout,
            trigger_ttl: config.trigger_ttl,
            last_ts_micros: 0,
            dms: HashMap::new(),
            messages: Vec::new(),
            by_ts: HashMap::new(),
            ephemerals: Vec::new(),
            views: Vec::new(),
            homes: HashMap::new(),
            deactivated: Default::default(),
            stacks: HashMap::new(),
            triggers: HashMap::new(),
            tickets: HashMap::new(),
            sockets: BTreeMap::new(),
            next_socket_id: 1,
            hellos_sent: 0,
            round_robin: 0,
            deliveries: Vec::new(),
            pending: HashMap::new(),
            calls: Vec::new(),
            log: Vec::new(),
            faults: Faults::default(),
            limiter: Limiter::default(),
            response_urls: HashMap::new(),
            uploads: HashMap::new(),
            files: Vec::new(),
            stray_frames: Vec::new(),
        }
    }

    /// A new message timestamp: wall-clock microseconds, forced strictly increasing so every
    /// ts is unique across the workspace.
    pub(crate) fn next_ts(&mut self) -> String {
        let now = SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .map_or(0, |d| u64::try_from(d.as_micros()).unwrap_or(u64::MAX));
        self.last_ts_micros = now.max(self.last_ts_micros + 1);
        format_ts(self.last_ts_micros)
    }

    pub(crate) fn log(&mut self, kind: LogKind, text: impl Into<String>) {
        let entry = LogEntry {
            seq: self.log.len(),
            at: self.started.elapsed(),
            kind,
            text: text.into(),
        };
        tracing::debug!(target: "emulator", "{}", entry.text);
        self.log.push(entry);
    }

    /// A fresh trigger id in Slack's `<digits>.<digits>.<hex>` shape, owned by `user`.
    pub(crate) fn mint_trigger(&mut self, user: &str) -> String {
        let mut rng = rand::rng();
        let id = format!(
            "{}.{}.{:032x}",
            rng.random_range(1_000_000_000_000u64..10_000_000_000_000),
            rng.random_range(1_000_000_000_000u64..10_000_000_000_000),
            rng.random::<u128>()
        );
        self.triggers.insert(
            id.clone(),
            Trigger {
                user: user.to_owned(),
                minted: Instant::now(),
                used: false,
                expired: false,
            },
        );
        id
    }

    /// Spends a trigger id: the user it belongs to, or Slack's error code.
    pub(crate) fn consume_trigger(&mut self, id: &str) -> Result<String, &'static str> {
        let ttl = self.trigger_ttl;
        let trigger = self.triggers.get_mut(id).ok_or("invalid_trigger_id")?;
        if trigger.used {
            return Err("exchanged_trigger_id");
        }
        if trigger.expired || trigger.minted.elapsed() >= ttl {
            return Err("expired_trigger_id");
        }
        trigger.used = true;
        Ok(trigger.user.clone())
    }

    /// The bot's DM channel with `user`, created on first use; stable afterwards.
    pub(crate) fn dm_channel(&mut self, user: &str) -> String {
        self.dms
            .entry(user.to_owned())
            .or_insert_with(|| random_id("D", 10))
            .clone()
    }

    pub(crate) fn dm_user(&self, channel: &str) -> Option<&str> {
        self.dms
            .iter()
            .find(|(_, dm)| dm.as_str() == channel)
            .map(|(user, _)| user.as_str())
    }

    pub(crate) fn messages(&self) -> &[Message] {
        &self.messages
    }

    pub(crate) fn push_message(&mut self, message: Message) {
        self.by_ts.insert(
            (message.channel.clone(), message.ts.clone()),
            self.messages.len(),
        );
        self.messages.push(message);
    }

    /// Deletes a message (a `response_url` asked for it).
    pub(crate) fn remove_message(&mut self, channel: &str, ts: &str) {
        let before = self.messages.len();
        self.messages
            .retain(|m| !(m.channel == channel && m.ts == ts));
        if self.messages.len() != before {
            self.by_ts = self
                .messages
                .iter()
                .enumerate()
                .map(|(i, m)| ((m.channel.clone(), m.ts.clone()), i))
                .collect();
        }
    }

    fn message_index(&self, channel: &str, ts: &str) -> Option<usize> {
        self.by_ts
            .get(&(channel.to_owned(), ts.to_owned()))
            .copied()
    }

    pub(crate) fn message(&self, channel: &str, ts: &str) -> Option<&Message> {
        self.message_index(channel, ts).map(|i| &self.messages[i])
    }

    pub(crate) fn message_mut(&mut self, channel: &str, ts: &str) -> Option<&mut Message> {
        self.message_index(channel, ts)
            .map(|i| &mut self.messages[i])
    }

    pub(crate) fn view(&self, id: &str) -> Option<&View> {
        self.views.iter().find(|v| v.id == id)
    }

    pub(crate) fn view_mut(&mut self, id: &str) -> Option<&mut View> {
        self.views.iter_mut().find(|v| v.id == id)
    }

    /// A `response_url` on the emulator's own HTTP server (`base` = `http://127.0.0.1:<port>`).
    pub(crate) fn mint_response_url(
        &mut self,
        base: &str,
        user: &str,
        channel: &str,
        message_ts: Option<&str>,
    ) -> String {
        let id = short_id(24);
        self.response_urls.insert(
            id.clone(),
            ResponseUrl {
                user: user.to_owned(),
                channel: channel.to_owned(),
                message_ts: message_ts.map(str::to_owned),
                uses: 0,
            },
        );
        format!("{base}/hooks/{id}")
    }

    /// The name Slack shows for a channel in payloads (`directmessage` for DMs).
    pub(crate) fn channel_name(&self, config: &EmulatorConfig, id: &str) -> Option<String> {
        match config.channel(id) {
            Some(channel) => Some(channel.name.clone()),
            None => self.dm_user(id).map(|_| "directmessage".to_owned()),
        }
    }

    pub(crate) fn connected_sockets(&self) -> usize {
        self.sockets.values().filter(|s| s.usable()).count()
    }
}
