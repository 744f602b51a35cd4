//! `chat.postMessage`, `chat.update`, `chat.postEphemeral`, `chat.getPermalink`.

use serde_json::{json, Value};

use super::{Params, Reply};
use crate::blocks::validate_message_blocks;
use crate::log::LogKind;
use crate::normalize::{cumulative_text_len, normalize_blocks, MAX_CUMULATIVE_BLOCK_TEXT};
use crate::payloads::{bot_profile, message_json};
use crate::records::{Ephemeral, EphemeralSource, Message};
use crate::shared::Shared;
use crate::state::State;
use crate::text::render_text;

/// Longest `text` Slack accepts.
const MAX_TEXT: usize = 40_000;

/// Validated, normalized message content.
pub(crate) struct Content {
    pub(crate) text: Option<String>,
    pub(crate) blocks: Option<Value>,
}

impl Content {
    /// Reads `text` and `blocks` and checks them as Slack does, in Slack's order of errors.
    pub(crate) fn parse(params: &Params) -> Result<Self, Reply> {
        let text = params.str("text");
        let blocks = params
            .json("blocks")
            .map_err(|()| Reply::error("invalid_blocks_format"))?;
        if blocks.as_ref().is_some_and(|b| !b.is_array()) {
            return Err(Reply::error("invalid_blocks_format"));
        }
        if text.as_ref().is_some_and(|t| t.chars().count() > MAX_TEXT) {
            return Err(Reply::error("msg_too_long"));
        }
        let mut blocks = blocks;
        if let Some(blocks) = blocks.as_mut() {
            let errors = validate_message_blocks(blocks);
            if !errors.is_empty() {
                return Err(Reply::schema_error("invalid_blocks", &errors, true));
            }
            if cumulative_text_len(blocks) > MAX_CUMULATIVE_BLOCK_TEXT {
                return Err(Reply::error("msg_blocks_too_long"));
            }
            normalize_blocks(blocks);
        }
        Ok(Self { text, blocks })
    }

    fn is_empty(&self) -> bool {
        self.text.as_deref().unwrap_or_default().is_empty()
            && self
                .blocks
                .as_ref()
                .and_then(Value::as_array)
                .is_none_or(Vec::is_empty)
    }
}

/// A channel a message can go to.
pub(crate) struct Target {
    pub(crate) id: String,
    pub(crate) name: String,
}

/// Resolves `channel` (a `C…`/`G…` channel, an open `D…` DM, or a user id meaning the bot's
/// DM with that user) to a place the bot may post.
pub(crate) fn resolve(
    shared: &Shared,
    state: &mut State,
    channel: Option<String>,
) -> Result<Target, &'static str> {
    let channel = channel.ok_or("channel_not_found")?;
    if let Some(seeded) = shared.config.channel(&channel) {
        if !seeded.bot_is_member {
            return Err("not_in_channel");
        }
        return Ok(Target {
            id: seeded.id.clone(),
            name: seeded.name.clone(),
        });
    }
    if state.dm_user(&channel).is_some() {
        return Ok(Target {
            id: channel,
            name: "directmessage".into(),
        });
    }
    if shared.config.user(&channel).is_some() {
        return Ok(Target {
            id: state.dm_channel(&channel),
            name: "directmessage".into(),
        });
    }
    Err("channel_not_found")
}

pub(crate) fn post_message(shared: &Shared, state: &mut State, params: &Params) -> Reply {
    let target = match resolve(shared, state, params.non_empty("channel")) {
        Ok(target) => target,
        Err(code) => return Reply::error(code),
    };
    let content = match Content::parse(params) {
        Ok(content) => content,
        Err(reply) => return reply,
    };
    if content.is_empty() {
        return Reply::error("no_text");
    }
    // A reply to a reply joins the root's thread, as on Slack.
    let thread_ts = params.non_empty("thread_ts").map(|ts| {
        state
            .message(&target.id, &ts)
            .and_then(|parent| parent.thread_ts.clone())
            .unwrap_or(ts)
    });
    let message = Message {
        channel: target.id.clone(),
        ts: state.next_ts(),
        thread_ts,
        user: shared.config.bot_user_id.clone(),
        from_bot: true,
        text: content.text.unwrap_or_default(),
        blocks: content.blocks.unwrap_or_else(|| json!([])),
        edits: 0,
    };
    let place = match &message.thread_ts {
        Some(parent) => format!("#{} (thread {parent})", target.name),
        None => format!("#{}", target.name),
    };
    state.log(
        LogKind::Message,
        format!(
            "bot posted {} in {place}:\n{}",
            message.ts,
            message.render()
        ),
    );
    let mut echoed = message_json(&shared.config, &message);
    echoed["bot_profile"] = bot_profile(&shared.config);
    let reply = Reply::ok(json!({"channel": target.id, "ts": message.ts, "message": echoed}));
    state.push_message(message);
    reply
}

pub(crate) fn update(shared: &Shared, state: &mut State, params: &Params) -> Reply {
    let target = match resolve(shared, state, params.non_empty("channel")) {
        Ok(target) => target,
        Err(code) => return Reply::error(code),
    };
    let content = match Content::parse(params) {
        Ok(content) => content,
        Err(reply) => return reply,
    };
    if content.text.is_none() && content.blocks.is_none() {
        return Reply::error("no_text");
    }
    let ts = params.non_empty("ts").unwrap_or_default();
    let Some(message) = state.message_mut(&target.id, &ts) else {
        return Reply::error("message_not_found");
    };
    if !message.from_bot {
        return Reply::error("cant_update_message");
    }
    if let Some(text) = content.text {
        message.text = text;
    }
    if let Some(blocks) = content.blocks {
        message.blocks = blocks;
    }
    message.edits += 1;
    let updated = message.clone();
    state.log(
        LogKind::Message,
        format!(
            "bot updated {ts} in #{} (edit {}):\n{}",
            target.name,
            updated.edits,
            updated.render()
        ),
    );
    let mut echoed = message_json(&shared.config, &updated);
    echoed["bot_profile"] = bot_profile(&shared.config);
    if let Some(map) = echoed.as_object_mut() {
        map.remove("ts");
    }
    Reply::ok(json!({
        "channel": target.id,
        "ts": updated.ts,
        "text": updated.text,
        "message": echoed,
    }))
}

pub(crate) fn post_ephemeral(shared: &Shared, state: &mut State, params: &Params) -> Reply {
    let target = match resolve(shared, state, params.non_empty("channel")) {
        Ok(target) => target,
        Err(code) => return Reply::error(code),
    };
    let user = params.non_empty("user").unwrap_or_default();
    if shared.config.user(&user).is_none() {
        return Reply::error("user_not_in_channel");
    }
    let content = match Content::parse(params) {
        Ok(content) => content,
        Err(reply) => return reply,
    };
    if content.is_empty() {
        return Reply::error("no_text");
    }
    let ts = state.next_ts();
    record_ephemeral(
        state,
        Ephemeral {
            channel: target.id,
            user,
            ts: ts.clone(),
            thread_ts: params.non_empty("thread_ts"),
            text: content.text.unwrap_or_default(),
            blocks: content.blocks.unwrap_or_else(|| json!([])),
            source: EphemeralSource::PostEphemeral,
        },
    );
    Reply::ok(json!({"message_ts": ts}))
}

/// Stores an ephemeral message and logs it.
pub(crate) fn record_ephemeral(state: &mut State, ephemeral: Ephemeral) {
    let shown = if ephemeral.blocks.as_array().is_some_and(|b| !b.is_empty()) {
        render_text(&ephemeral.blocks)
    } else {
        ephemeral.text.clone()
    };
    state.log(
        LogKind::Ephemeral,
        format!(
            "ephemeral to {} in {}:\n{shown}",
            ephemeral.user, ephemeral.channel
        ),
    );
    state.ephemerals.push(ephemeral);
}

pub(crate) fn get_permalink(shared: &Shared, state: &mut State, params: &Params) -> Reply {
    let channel = params.non_empty("channel").unwrap_or_default();
    let known = shared.config.channel(&channel).is_some() || state.dm_user(&channel).is_some();
    if !known {
        return Reply::error("channel_not_found");
    }
    let ts = params.non_empty("message_ts").unwrap_or_default();
    let Some(message) = state.message(&channel, &ts) else {
        return Reply::error("message_not_found");
    };
    let mut permalink = format!(
        "https://{}.slack.com/archives/{channel}/p{}",
        shared.config.team_domain,
        ts.replace('.', "")
    );
    if let Some(parent) = message.thread_ts.as_ref().filter(|p| **p != ts) {
        permalink.push_str(&format!("?thread_ts={parent}&cid={channel}"));
    }
    Reply::ok(json!({"channel": channel, "permalink": permalink}))
}
