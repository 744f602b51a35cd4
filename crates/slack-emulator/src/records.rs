//! What the emulator records and hands back to drivers: messages, ephemerals, views, acks,
//! Web API calls. Plain data, cloned out of the state lock.

use serde_json::Value;
use std::time::Duration;
use tokio::time::Instant;

use super::text::render_text;

/// A message as Slack stores it (current version; `edits` counts `chat.update`s).
#[derive(Clone, Debug, PartialEq)]
pub struct Message {
    pub channel: String,
    pub ts: String,
    pub thread_ts: Option<String>,
    /// Author: the bot user id, or a human for messages the driver posted.
    pub user: String,
    /// True when the app posted it (it then carries `bot_id`/`app_id`).
    pub from_bot: bool,
    pub text: String,
    /// Normalized blocks (always an array, possibly empty).
    pub blocks: Value,
    pub edits: u32,
}

impl Message {
    /// The message as readable lines (see [`render_text`]), falling back to `text`.
    pub fn render(&self) -> String {
        if self.blocks.as_array().is_some_and(|b| !b.is_empty()) {
            render_text(&self.blocks)
        } else {
            self.text.clone()
        }
    }

    /// The interactive element with this `action_id`, with its block's `block_id`.
    pub fn element(&self, action_id: &str) -> Option<(String, Value)> {
        find_element(&self.blocks, action_id)
    }

    /// Every `action_id` of every interactive element, in block order.
    pub fn action_ids(&self) -> Vec<String> {
        action_ids(&self.blocks)
    }

    pub fn is_thread_reply(&self) -> bool {
        self.thread_ts.as_deref().is_some_and(|t| t != self.ts)
    }
}

/// A file shared through the external upload flow, with the bytes that were uploaded.
#[derive(Clone, Debug, PartialEq)]
pub struct UploadedFile {
    pub id: String,
    pub filename: String,
    /// The title given to `files.completeUploadExternal`, else the file name.
    pub title: String,
    pub alt_txt: Option<String>,
    pub bytes: Vec<u8>,
    /// Where it was shared; `None` for a private file.
    pub channel: Option<String>,
    pub thread_ts: Option<String>,
    pub initial_comment: Option<String>,
    /// The message that shares it in `channel`.
    pub message_ts: Option<String>,
}

/// Where an ephemeral message came from.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum EphemeralSource {
    PostEphemeral,
    SlashCommandAck,
    ResponseUrl,
}

/// A message only `user` sees. Not stored by Slack; recorded here so tests can read it.
#[derive(Clone, Debug, PartialEq)]
pub struct Ephemeral {
    pub channel: String,
    pub user: String,
    pub ts: String,
    pub thread_ts: Option<String>,
    pub text: String,
    pub blocks: Value,
    pub source: EphemeralSource,
}

impl Ephemeral {
    pub fn render(&self) -> String {
        if self.blocks.as_array().is_some_and(|b| !b.is_empty()) {
            render_text(&self.blocks)
        } else {
            self.text.clone()
        }
    }
}

/// A modal as Slack holds it for one user.
#[derive(Clone, Debug, PartialEq)]
pub struct View {
    pub id: String,
    pub user: String,
    /// The full view object as `views.open` echoes it (`id`, `hash`, `state`, `blocks`…).
    pub json: Value,
    pub open: bool,
    /// The last `response_action: errors` map shown on this view, if any.
    pub errors: Option<Value>,
}

impl View {
    pub fn callback_id(&self) -> &str {
        self.json["callback_id"].as_str().unwrap_or_default()
    }
    pub fn private_metadata(&self) -> &str {
        self.json["private_metadata"].as_str().unwrap_or_default()
    }
    pub fn title(&self) -> &str {
        self.json["title"]["text"].as_str().unwrap_or_default()
    }
    pub fn hash(&self) -> &str {
        self.json["hash"].as_str().unwrap_or_default()
    }
    pub fn blocks(&self) -> &Value {
        &self.json["blocks"]
    }
    pub fn render(&self) -> String {
        render_text(self.blocks())
    }
    pub fn element(&self, action_id: &str) -> Option<(String, Value)> {
        find_element(self.blocks(), action_id)
    }
}

/// The bot's answer to one envelope.
#[derive(Clone, Debug, PartialEq)]
pub struct Ack {
    pub envelope_id: String,
    /// The envelope exactly as sent (feed it to `Emulator::redeliver`).
    pub envelope: Value,
    pub payload: Option<Value>,
    pub latency: Duration,
    pub socket: u64,
    pub retry_attempt: u32,
}

impl Ack {
    /// `payload.response_action` of a view_submission ack.
    pub fn response_action(&self) -> Option<&str> {
        self.payload.as_ref()?.get("response_action")?.as_str()
    }
    /// `payload.errors` of a `response_action: errors` ack (block_id → message).
    pub fn errors(&self) -> Option<&Value> {
        self.payload.as_ref()?.get("errors")
    }
    /// `payload.text` of a slash-command ack.
    pub fn text(&self) -> Option<&str> {
        self.payload.as_ref()?.get("text")?.as_str()
    }
}

/// How one delivery of an envelope ended.
#[derive(Clone, Debug, PartialEq)]
pub enum DeliveryOutcome {
    Pending,
    Acked {
        at: Instant,
        latency: Duration,
        payload: Option<Value>,
        /// The ack arrived after the ack timeout; Slack would already have given up.
        late: bool,
    },
    TimedOut,
}

/// One envelope sent on one socket, and what became of it.
#[derive(Clone, Debug, PartialEq)]
pub struct Delivery {
    pub envelope_id: String,
    /// `slash_commands`, `interactive`, `events_api`, or `raw` for `send_raw_envelope`.
    pub kind: String,
    pub retry_attempt: u32,
    pub socket: u64,
    pub sent_at: Instant,
    pub envelope: Value,
    pub outcome: DeliveryOutcome,
}

/// Which token authenticated a Web API call.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum TokenKind {
    Bot,
    App,
    Invalid,
    Missing,
}

/// One Web API call, recorded whatever its outcome.
#[derive(Clone, Debug, PartialEq)]
pub struct Call {
    pub method: String,
    /// Arguments from query, form or JSON body, nested JSON strings decoded.
    pub params: Value,
    pub token: TokenKind,
    pub http_status: u16,
    pub response: Value,
    pub at: Instant,
}

impl Call {
    pub fn ok(&self) -> bool {
        self.response["ok"].as_bool() == Some(true)
    }
    pub fn error(&self) -> Option<&str> {
        self.response["error"].as_str()
    }
}

pub(crate) fn find_element(blocks: &Value, action_id: &str) -> Option<(String, Value)> {
    interactive_elements(blocks)
        .into_iter()
        .find(|(_, e)| e["action_id"].as_str() == Some(action_id))
        .map(|(block_id, e)| (block_id, e.clone()))
}

fn action_ids(blocks: &Value) -> Vec<String> {
    interactive_elements(blocks)
        .into_iter()
        .filter_map(|(_, e)| e["action_id"].as_str().map(str::to_owned))
        .collect()
}

/// Interactive elements with their block ids: `actions` elements, section accessories and
/// input elements (the places Slack lets a user act on).
fn interactive_elements(blocks: &Value) -> Vec<(String, &Value)> {
    let mut out = Vec::new();
    for block in blocks.as_array().into_iter().flatten() {
        let block_id = block["block_id"].as_str().unwrap_or_default().to_owned();
        match block["type"].as_str() {
            Some("actions") => {
                for e in block["elements"].as_array().into_iter().flatten() {
                    out.push((block_id.clone(), e));
                }
            }
            Some("section") if block["accessory"].is_object() => {
                out.push((block_id, &block["accessory"]));
            }
            Some("input") if block["element"].is_object() => {
                out.push((block_id, &block["element"]));
            }
            _ => {}
        }
    }
    out
}
