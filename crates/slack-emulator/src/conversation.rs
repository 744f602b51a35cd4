//! People writing in channels and running shortcuts: the driver calls that post, edit and
//! delete a user's message (delivered as Events API `message` events when the app is in the
//! channel), post another app's message or echo the app's own, and run a message or global
//! shortcut. Shapes follow `tests/fixtures/slack` field for field.

use serde_json::{json, Value};
use uuid::Uuid;

use super::config::{EmulatorConfig, SeedUser};
use super::error::EmulatorError;
use super::log::LogKind;
use super::payloads::{self, bot_profile};
use super::records::{Ack, Message};
use super::state::State;
use super::Emulator;

/// The deprecated verification token Slack still puts in payloads.
const VERIFICATION_TOKEN: &str = "Xq7bLk2VvR9sTn4PzW1cYh8D";

/// What a driver's post did: the new message's `ts`, and the bot's ack of the `message`
/// event when the app is in the channel (`None` when it is not, so nothing was delivered).
#[derive(Clone, Debug)]
pub struct Posted {
    pub ts: String,
    pub ack: Option<Ack>,
}

/// `message.groups` for private channels, `message.channels` for public ones. A seeded
/// channel whose id starts with `G` is private (Slack's id for older private channels).
fn channel_type(channel: &str) -> &'static str {
    if channel.starts_with('G') {
        "group"
    } else {
        "channel"
    }
}

fn rich_text(text: &str) -> Value {
    json!([{"type": "rich_text", "block_id": super::ids::short_id(5), "elements": [
        {"type": "rich_text_section", "elements": [{"type": "text", "text": text}]}]}])
}

/// The `message` event of a person's new message (a thread reply carries `thread_ts` and
/// `parent_user_id`).
fn user_message_event(
    cfg: &EmulatorConfig,
    msg: &Message,
    client_msg_id: &str,
    parent_user: Option<&str>,
) -> Value {
    let mut event = json!({
        "user": msg.user,
        "type": "message",
        "ts": msg.ts,
        "client_msg_id": client_msg_id,
        "text": msg.text,
        "team": cfg.team_id,
        "blocks": msg.blocks,
        "channel": msg.channel,
        "event_ts": msg.ts,
        "channel_type": channel_type(&msg.channel),
    });
    if let Some(parent) = msg.thread_ts.as_ref().filter(|t| **t != msg.ts) {
        event["thread_ts"] = json!(parent);
        event["parent_user_id"] = json!(parent_user);
    }
    event
}

/// A message as `message_changed` and `message_deleted` quote it.
fn quoted(cfg: &EmulatorConfig, msg: &Message) -> Value {
    let mut m = json!({
        "user": msg.user,
        "type": "message",
        "ts": msg.ts,
        "text": msg.text,
        "team": cfg.team_id,
        "blocks": msg.blocks,
    });
    if let Some(parent) = msg.thread_ts.as_ref().filter(|t| **t != msg.ts) {
        m["thread_ts"] = json!(parent);
    }
    m
}

impl Emulator {
    /// `user` writes `text` in `channel` (in the thread `thread_ts` when given). The message
    /// is recorded; when the app is in the channel, Slack's `message` event is delivered
    /// (with redelivery on timeout) and its ack returned.
    pub async fn post_user_message(
        &self,
        user: &str,
        channel: &str,
        text: &str,
        thread_ts: Option<&str>,
    ) -> Result<Posted, EmulatorError> {
        self.seeded_user(user)?;
        let cfg = &self.shared.config;
        let (ts, event) = self.shared.update(|st| {
            let name = channel_name(st, cfg, channel)?;
            let ts = st.next_ts();
            let msg = Message {
                channel: channel.to_owned(),
                ts: ts.clone(),
                thread_ts: thread_ts.map(str::to_owned),
                user: user.to_owned(),
                from_bot: false,
                text: text.to_owned(),
                blocks: rich_text(text),
                edits: 0,
            };
            let parent_user = thread_ts
                .and_then(|p| st.message(channel, p))
                .map(|m| m.user.clone());
            let event = user_message_event(
                cfg,
                &msg,
                &Uuid::new_v4().to_string(),
                parent_user.as_deref(),
            );
            st.log(LogKind::Message, format!("{user} wrote in #{name}: {text}"));
            st.push_message(msg);
            Ok::<_, EmulatorError>((ts, bot_is_member(cfg, channel).then_some(event)))
        })?;
        let ack = match event {
            Some(event) => Some(self.send_event(event).await?),
            None => None,
        };
        Ok(Posted { ts, ack })
    }

    /// `user` edits their message `ts` to `text`: Slack's `message_changed` event (hidden,
    /// with the new and previous message) is delivered when the app is in the channel.
    pub async fn edit_user_message(
        &self,
        user: &str,
        channel: &str,
        ts: &str,
        text: &str,
    ) -> Result<Option<Ack>, EmulatorError> {
        let cfg = &self.shared.config;
        let event = self.shared.update(|st| {
            let event_ts = st.next_ts();
            let msg = own_message(st, channel, ts, user)?;
            let previous = quoted(cfg, &msg);
            let changed = st
                .message_mut(channel, ts)
                .ok_or_else(|| no_message(channel, ts))?;
            changed.text = text.to_owned();
            changed.blocks = rich_text(text);
            changed.edits += 1;
            let mut current = quoted(cfg, changed);
            current["edited"] = json!({"user": user, "ts": event_ts});
            st.log(
                LogKind::Message,
                format!("{user} edited {ts} in {channel}: {text}"),
            );
            Ok::<_, EmulatorError>(bot_is_member(cfg, channel).then(|| {
                json!({
                    "type": "message",
                    "subtype": "message_changed",
                    "message": current,
                    "previous_message": previous,
                    "channel": channel,
                    "hidden": true,
                    "ts": event_ts,
                    "event_ts": event_ts,
                    "channel_type": channel_type(channel),
                })
            }))
        })?;
        match event {
            Some(event) => self.send_event(event).await.map(Some),
            None => Ok(None),
        }
    }

    /// `user` deletes their message `ts`: Slack's `message_deleted` event is delivered when
    /// the app is in the channel.
    pub async fn delete_user_message(
        &self,
        user: &str,
        channel: &str,
        ts: &str,
    ) -> Result<Option<Ack>, EmulatorError> {
        let cfg = &self.shared.config;
        let event = self.shared.update(|st| {
            let event_ts = st.next_ts();
            let msg = own_message(st, channel, ts, user)?;
            let previous = quoted(cfg, &msg);
            st.remove_message(channel, ts);
            st.log(
                LogKind::Message,
                format!("{user} deleted {ts} in {channel}"),
            );
            Ok::<_, EmulatorError>(bot_is_member(cfg, channel).then(|| {
                json!({
                    "type": "message",
                    "subtype": "message_deleted",
                    "previous_message": previous,
                    "channel": channel,
                    "hidden": true,
                    "deleted_ts": ts,
                    "ts": event_ts,
                    "event_ts": event_ts,
                    "channel_type": channel_type(channel),
                })
            }))
        })?;
        match event {
            Some(event) => self.send_event(event).await.map(Some),
            None => Ok(None),
        }
    }

    /// Another app's integration (`bot_id`, named `username`) posts `text`: Slack's
    /// `message` event with `subtype: bot_message` is delivered when the app is in the channel.
    pub async fn post_bot_message(
        &self,
        bot_id: &str,
        username: &str,
        channel: &str,
        text: &str,
        thread_ts: Option<&str>,
    ) -> Result<Posted, EmulatorError> {
        let cfg = &self.shared.config;
        let (ts, event) = self.shared.update(|st| {
            channel_name(st, cfg, channel)?;
            let ts = st.next_ts();
            let mut event = json!({
                "type": "message",
                "subtype": "bot_message",
                "text": text,
                "ts": ts,
                "username": username,
                "bot_id": bot_id,
                "channel": channel,
                "event_ts": ts,
                "channel_type": channel_type(channel),
            });
            if let Some(parent) = thread_ts {
                event["thread_ts"] = json!(parent);
            }
            st.push_message(Message {
                channel: channel.to_owned(),
                ts: ts.clone(),
                thread_ts: thread_ts.map(str::to_owned),
                user: bot_id.to_owned(),
                from_bot: false,
                text: text.to_owned(),
                blocks: json!([]),
                edits: 0,
            });
            st.log(
                LogKind::Message,
                format!("bot {username} wrote in {channel}: {text}"),
            );
            Ok::<_, EmulatorError>((ts, bot_is_member(cfg, channel).then_some(event)))
        })?;
        let ack = match event {
            Some(event) => Some(self.send_event(event).await?),
            None => None,
        };
        Ok(Posted { ts, ack })
    }

    /// Delivers the `message` event Slack sends the app for its own message `ts` (it carries
    /// the app's `bot_id`, `app_id` and `bot_profile`, and no subtype). The emulator does
    /// not echo the app's posts by itself; a test asks for the echo it wants to check.
    pub async fn echo_own_message(&self, channel: &str, ts: &str) -> Result<Ack, EmulatorError> {
        let cfg = &self.shared.config;
        let event = self.shared.update(|st| {
            let msg = st
                .message(channel, ts)
                .filter(|m| m.from_bot)
                .cloned()
                .ok_or_else(|| no_message(channel, ts))?;
            let mut event = quoted(cfg, &msg);
            event["bot_id"] = json!(cfg.bot_id);
            event["app_id"] = json!(cfg.app_id);
            event["bot_profile"] = bot_profile(cfg);
            event["channel"] = json!(channel);
            event["event_ts"] = json!(msg.ts);
            event["channel_type"] = json!(channel_type(channel));
            Ok::<_, EmulatorError>(event)
        })?;
        self.send_event(event).await
    }

    /// `user` runs the message shortcut `callback_id` on message `ts` in `channel`: a
    /// `message_action` interaction with the message, a fresh `trigger_id` and a working
    /// `response_url`.
    pub async fn message_shortcut(
        &self,
        user: &str,
        channel: &str,
        ts: &str,
        callback_id: &str,
    ) -> Result<Ack, EmulatorError> {
        let invoker = self.seeded_user(user)?;
        let (cfg, base) = (&self.shared.config, &self.shared.http_base);
        let envelope = self.shared.update(|st| {
            let name = channel_name(st, cfg, channel)?;
            let msg = st
                .message(channel, ts)
                .cloned()
                .ok_or_else(|| no_message(channel, ts))?;
            let trigger = st.mint_trigger(user);
            let url = st.mint_response_url(base, user, channel, None);
            let action_ts = st.next_ts();
            let payload = json!({
                "type": "message_action",
                "token": VERIFICATION_TOKEN,
                "action_ts": action_ts,
                "team": {"id": cfg.team_id, "domain": cfg.team_domain},
                "user": user_json(cfg, &invoker),
                "channel": {"id": channel, "name": name},
                "is_enterprise_install": false,
                "enterprise": null,
                "callback_id": callback_id,
                "trigger_id": trigger,
                "response_url": url,
                "message_ts": ts,
                "message": payloads::message_json(cfg, &msg),
            });
            st.log(
                LogKind::Envelope,
                format!("{user} ran the message shortcut {callback_id} on {ts} in #{name}"),
            );
            Ok::<_, EmulatorError>(payloads::envelope("interactive", payload, false))
        })?;
        self.shared.deliver(envelope).await
    }

    /// `user` runs the global shortcut `callback_id` (from search or the composer): a
    /// `shortcut` interaction with a fresh `trigger_id` and no channel.
    pub async fn global_shortcut(
        &self,
        user: &str,
        callback_id: &str,
    ) -> Result<Ack, EmulatorError> {
        let invoker = self.seeded_user(user)?;
        let cfg = &self.shared.config;
        let envelope = self.shared.update(|st| {
            let trigger = st.mint_trigger(user);
            let action_ts = st.next_ts();
            let payload = json!({
                "type": "shortcut",
                "token": VERIFICATION_TOKEN,
                "action_ts": action_ts,
                "team": {"id": cfg.team_id, "domain": cfg.team_domain},
                "user": user_json(cfg, &invoker),
                "is_enterprise_install": false,
                "enterprise": null,
                "callback_id": callback_id,
                "trigger_id": trigger,
            });
            st.log(
                LogKind::Envelope,
                format!("{user} ran the global shortcut {callback_id}"),
            );
            Ok::<_, EmulatorError>(payloads::envelope("interactive", payload, false))
        })?;
        self.shared.deliver(envelope).await
    }
}

fn user_json(cfg: &EmulatorConfig, user: &SeedUser) -> Value {
    json!({"id": user.id, "username": user.name, "name": user.name, "team_id": cfg.team_id})
}

fn bot_is_member(cfg: &EmulatorConfig, channel: &str) -> bool {
    cfg.channel(channel).is_some_and(|c| c.bot_is_member)
}

fn channel_name(st: &State, cfg: &EmulatorConfig, channel: &str) -> Result<String, EmulatorError> {
    st.channel_name(cfg, channel)
        .ok_or_else(|| EmulatorError::UnknownChannel(channel.to_owned()))
}

fn no_message(channel: &str, ts: &str) -> EmulatorError {
    EmulatorError::NoSuchMessage {
        channel: channel.into(),
        ts: ts.into(),
    }
}

/// Message `ts`, which `user` must have written (people edit and delete their own).
fn own_message(st: &State, channel: &str, ts: &str, user: &str) -> Result<Message, EmulatorError> {
    let msg = st
        .message(channel, ts)
        .cloned()
        .ok_or_else(|| no_message(channel, ts))?;
    if msg.user != user || msg.from_bot {
        return Err(EmulatorError::InvalidInput(format!(
            "message {ts} in {channel} is not {user}'s"
        )));
    }
    Ok(msg)
}
