//! Driver calls that act as a Slack user: each builds the envelope Slack would send, delivers
//! it to one socket and returns the bot's ack (or `AckTimeout`).

use serde_json::{json, Value};
use std::time::Duration;
use uuid::Uuid;

use super::config::SeedUser;
use super::error::EmulatorError;
use super::log::LogKind;
use super::payloads::{self, ActionSource};
use super::records::{find_element, Ack, Message};
use super::state::State;
use super::view_state::build_state_values;
use super::Emulator;

impl Emulator {
    /// `user` runs `command text` in `channel` (a seeded channel or a DM id). The payload
    /// carries a fresh `trigger_id` and a working `response_url`; an ack payload with text or
    /// blocks is recorded as an ephemeral to the user (or posted, for `in_channel`).
    pub async fn slash_command(
        &self,
        user: &str,
        command: &str,
        text: &str,
        channel: &str,
    ) -> Result<Ack, EmulatorError> {
        let invoker = self.seeded_user(user)?;
        let (cfg, base) = (&self.shared.config, &self.shared.http_base);
        let envelope = self.shared.update(|st| {
            let name = channel_name(st, cfg, channel)?;
            let trigger = st.mint_trigger(user);
            let url = st.mint_response_url(base, user, channel, None);
            let payload = payloads::slash_command(
                cfg,
                &invoker,
                (channel, &name),
                command,
                text,
                &trigger,
                &url,
            );
            Ok::<_, EmulatorError>(payloads::envelope("slash_commands", payload, true))
        })?;
        self.shared.deliver(envelope).await
    }

    /// `user` clicks the button `action_id` in the current version of message `ts` (a channel
    /// or DM message, or an ephemeral shown to `user`). Errors if no such button is there.
    pub async fn click(
        &self,
        user: &str,
        channel: &str,
        ts: &str,
        action_id: &str,
    ) -> Result<Ack, EmulatorError> {
        self.act_on_message(user, channel, ts, |st, blocks, location| {
            button_action(st, blocks, action_id, location)
        })
        .await
    }

    /// `user` opens the overflow menu (or static select) `action_id` in message `ts` and
    /// picks the option whose `value` is `value`. The action carries `selected_option` as
    /// Slack sends it (`text` and `value`). Errors if there is no such menu or option.
    pub async fn choose_option(
        &self,
        user: &str,
        channel: &str,
        ts: &str,
        action_id: &str,
        value: &str,
    ) -> Result<Ack, EmulatorError> {
        self.act_on_message(user, channel, ts, |st, blocks, location| {
            let (block_id, element) =
                element_of(blocks, action_id, location, &["overflow", "static_select"])?;
            let option = element["options"]
                .as_array()
                .into_iter()
                .flatten()
                .find(|o| o["value"] == value)
                .cloned()
                .ok_or_else(|| {
                    EmulatorError::InvalidInput(format!(
                        "{action_id} in {location} has no option with value {value:?}"
                    ))
                })?;
            let mut action = payloads::action(&block_id, &element, &st.next_ts());
            action["selected_option"] = json!({"text": option["text"], "value": option["value"]});
            Ok(action)
        })
        .await
    }

    /// `user` picks `selected` in the `users_select` `action_id` of message `ts`; the action
    /// carries `selected_user` as Slack sends it. Errors if there is no such picker.
    pub async fn select_user(
        &self,
        user: &str,
        channel: &str,
        ts: &str,
        action_id: &str,
        selected: &str,
    ) -> Result<Ack, EmulatorError> {
        self.seeded_user(selected)?;
        self.act_on_message(user, channel, ts, |st, blocks, location| {
            let (block_id, element) = element_of(blocks, action_id, location, &["users_select"])?;
            let mut action = payloads::action(&block_id, &element, &st.next_ts());
            action["selected_user"] = json!(selected);
            Ok(action)
        })
        .await
    }

    /// Delivers the `block_actions` envelope for an action `user` takes on message `ts`:
    /// `action` builds the `actions[0]` entry from the message's current blocks.
    async fn act_on_message(
        &self,
        user: &str,
        channel: &str,
        ts: &str,
        action: impl FnOnce(&mut State, &Value, &str) -> Result<Value, EmulatorError>,
    ) -> Result<Ack, EmulatorError> {
        let clicker = self.seeded_user(user)?;
        let (cfg, base) = (&self.shared.config, &self.shared.http_base);
        let envelope = self.shared.update(|st| {
            let name = channel_name(st, cfg, channel)?;
            let place = (channel.to_owned(), name);
            let (source, blocks) = if let Some(msg) = st.message(channel, ts) {
                let source = ActionSource::Message {
                    channel: place,
                    message: payloads::message_json(cfg, msg),
                    thread_ts: msg.thread_ts.clone(),
                };
                (source, msg.blocks.clone())
            } else if let Some(e) = st
                .ephemerals
                .iter()
                .find(|e| e.channel == channel && e.ts == ts && e.user == user)
            {
                let source = ActionSource::Ephemeral {
                    channel: place,
                    message_ts: ts.to_owned(),
                };
                (source, e.blocks.clone())
            } else {
                return Err(EmulatorError::NoSuchMessage {
                    channel: channel.into(),
                    ts: ts.into(),
                });
            };
            let action = action(st, &blocks, &format!("message {ts}"))?;
            let trigger = st.mint_trigger(user);
            let url = st.mint_response_url(base, user, channel, Some(ts));
            let payload =
                payloads::block_actions(cfg, &clicker, source, action, &trigger, Some(&url));
            Ok(payloads::envelope("interactive", payload, false))
        })?;
        self.shared.deliver(envelope).await
    }

    /// `user` clicks the button `action_id` inside open modal `view_id`.
    pub async fn click_in_view(
        &self,
        user: &str,
        view_id: &str,
        action_id: &str,
    ) -> Result<Ack, EmulatorError> {
        let clicker = self.seeded_user(user)?;
        let cfg = &self.shared.config;
        let envelope = self.shared.update(|st| {
            let view = open_view_of(st, view_id, user)?.json.clone();
            let action = button_action(st, &view["blocks"], action_id, &format!("view {view_id}"))?;
            let trigger = st.mint_trigger(user);
            let payload = payloads::block_actions(
                cfg,
                &clicker,
                ActionSource::View { view },
                action,
                &trigger,
                None,
            );
            Ok::<_, EmulatorError>(payloads::envelope("interactive", payload, false))
        })?;
        self.shared.deliver(envelope).await
    }

    /// `user` opens the app's Home tab: an `app_home_opened` event (`tab: "home"`, the DM
    /// channel with the app, and the current Home `view` once one was published), delivered
    /// like any event, with redelivery while no ack comes.
    pub async fn open_home(&self, user: &str) -> Result<Ack, EmulatorError> {
        self.seeded_user(user)?;
        let event = self.shared.update(|st| {
            let channel = st.dm_channel(user);
            let ts = st.next_ts();
            let mut event = json!({
                "type": "app_home_opened", "user": user, "channel": channel,
                "tab": "home", "event_ts": ts,
            });
            if let Some(home) = st.homes.get(user) {
                event["view"] = home.json.clone();
            }
            st.log(LogKind::View, format!("{user} opened the app's Home tab"));
            event
        });
        self.send_event(event).await
    }

    /// `user` clicks the button `action_id` in block `block_id` of their Home tab. The
    /// `block_actions` payload is Slack's for a Home view: `container.type: "view"`, the
    /// view (with `type: "home"`), no message, no channel and no `response_url`.
    pub async fn click_home(
        &self,
        user: &str,
        block_id: &str,
        action_id: &str,
    ) -> Result<Ack, EmulatorError> {
        let clicker = self.seeded_user(user)?;
        let cfg = &self.shared.config;
        let envelope = self.shared.update(|st| {
            let home = st
                .homes
                .get(user)
                .ok_or_else(|| EmulatorError::NoSuchView(format!("the Home of {user}")))?;
            let location = format!("block {block_id} of {user}'s Home");
            let block = home
                .blocks()
                .as_array()
                .into_iter()
                .flatten()
                .find(|b| b["block_id"] == block_id);
            let block = block
                .cloned()
                .map(|b| Value::Array(vec![b]))
                .unwrap_or(Value::Array(vec![]));
            let view = home.json.clone();
            let action = button_action(st, &block, action_id, &location)?;
            let trigger = st.mint_trigger(user);
            let payload = payloads::block_actions(
                cfg,
                &clicker,
                ActionSource::View { view },
                action,
                &trigger,
                None,
            );
            Ok::<_, EmulatorError>(payloads::envelope("interactive", payload, false))
        })?;
        self.shared.deliver(envelope).await
    }

    /// `user` submits modal `view_id`. `answers` maps input `block_id` → answer (see
    /// `build_state_values`: strings, numbers, option values, user ids, arrays). The ack's
    /// `response_action` is applied: `errors` keeps the view open, `update`/`push` change
    /// it, `clear` or no payload closes it.
    pub async fn submit_view(
        &self,
        view_id: &str,
        user: &str,
        answers: Value,
    ) -> Result<Ack, EmulatorError> {
        let submitter = self.seeded_user(user)?;
        let cfg = &self.shared.config;
        let envelope = self.shared.update(|st| {
            let view = open_view_of(st, view_id, user)?;
            let values = build_state_values(view.blocks(), &answers)?;
            let mut json = view.json.clone();
            json["state"] = json!({ "values": values });
            let trigger = st.mint_trigger(user);
            let payload = payloads::view_submission(cfg, &submitter, json, &trigger);
            Ok::<_, EmulatorError>(payloads::envelope("interactive", payload, true))
        })?;
        self.shared.deliver(envelope).await
    }

    /// `user` closes modal `view_id` with Cancel/×. Sends `view_closed` only if the view
    /// asked for it (`notify_on_close`), returning that ack.
    pub async fn close_view(
        &self,
        view_id: &str,
        user: &str,
    ) -> Result<Option<Ack>, EmulatorError> {
        let closer = self.seeded_user(user)?;
        let cfg = &self.shared.config;
        let envelope = self.shared.update(|st| {
            let view = open_view_of(st, view_id, user)?.json.clone();
            if let Some(stack) = st.stacks.get_mut(user) {
                stack.retain(|id| id != view_id);
            }
            if let Some(closed) = st.view_mut(view_id) {
                closed.open = false;
            }
            st.log(LogKind::View, format!("{user} closed modal {view_id}"));
            let notify = view["notify_on_close"] == true;
            let payload = payloads::view_closed(cfg, &closer, view, false);
            Ok::<_, EmulatorError>(
                notify.then(|| payloads::envelope("interactive", payload, false)),
            )
        })?;
        match envelope {
            Some(envelope) => self.shared.deliver(envelope).await.map(Some),
            None => Ok(None),
        }
    }

    /// `user` writes `text` (mentioning the bot) in `channel`, optionally in a thread. The
    /// message is recorded and an `app_mention` event delivered, with redelivery on timeout.
    pub async fn app_mention(
        &self,
        user: &str,
        channel: &str,
        text: &str,
        thread_ts: Option<&str>,
    ) -> Result<Ack, EmulatorError> {
        self.seeded_user(user)?;
        let cfg = &self.shared.config;
        let event = self.shared.update(|st| {
            let name = channel_name(st, cfg, channel)?;
            let ts = st.next_ts();
            let blocks = json!([{"type": "rich_text", "block_id": "mention", "elements": [
                {"type": "rich_text_section", "elements": [{"type": "text", "text": text}]}]}]);
            let mut event = json!({
                "user": user, "type": "app_mention", "ts": ts,
                "client_msg_id": Uuid::new_v4().to_string(), "text": text, "team": cfg.team_id,
                "blocks": blocks, "channel": channel, "event_ts": ts,
            });
            if let Some(parent) = thread_ts {
                event["thread_ts"] = json!(parent);
                let parent_user = st.message(channel, parent).map(|m| m.user.clone());
                event["parent_user_id"] = json!(parent_user);
            }
            st.log(LogKind::Message, format!("{user} wrote in #{name}: {text}"));
            st.push_message(Message {
                channel: channel.to_owned(),
                ts,
                thread_ts: thread_ts.map(str::to_owned),
                user: user.to_owned(),
                from_bot: false,
                text: text.to_owned(),
                blocks,
                edits: 0,
            });
            Ok::<_, EmulatorError>(event)
        })?;
        self.send_event(event).await
    }

    /// Delivers any Events API `event` in an `event_callback` wrapper, redelivering up to
    /// `max_event_retries` times (`retry_reason: "timeout"`) while no ack comes.
    pub async fn send_event(&self, event: Value) -> Result<Ack, EmulatorError> {
        let payload = payloads::event_callback(&self.shared.config, event);
        self.shared.deliver_event(payload).await
    }

    /// Sends any text frame (hostile-input tests). If it is JSON with an `envelope_id`,
    /// waits up to `within` for an ack and returns it; `Ok(None)` when none came.
    pub async fn send_raw_envelope(
        &self,
        frame: &str,
        within: Duration,
    ) -> Result<Option<Ack>, EmulatorError> {
        let envelope = serde_json::from_str::<Value>(frame)
            .ok()
            .filter(|v| v["envelope_id"].is_string());
        let expected = self
            .shared
            .send_frame(frame.to_owned(), envelope, within)
            .await?;
        let Some((delivery, reply)) = expected else {
            return Ok(None);
        };
        let answered = tokio::time::timeout(within, reply).await;
        match answered {
            Ok(Ok(ack)) => Ok(Some(ack)),
            Ok(Err(_)) | Err(_) => {
                self.shared.update(|st| st.mark_timed_out(delivery));
                Ok(None)
            }
        }
    }

    /// Sends `envelope` again, unchanged (same `envelope_id`), as Slack does on a retry.
    pub async fn redeliver(&self, envelope: &Value) -> Result<Ack, EmulatorError> {
        self.shared.deliver(envelope.clone()).await
    }

    pub(crate) fn seeded_user(&self, id: &str) -> Result<SeedUser, EmulatorError> {
        self.shared
            .config
            .user(id)
            .cloned()
            .ok_or_else(|| EmulatorError::UnknownUser(id.to_owned()))
    }
}

fn channel_name(
    st: &State,
    cfg: &super::config::EmulatorConfig,
    channel: &str,
) -> Result<String, EmulatorError> {
    st.channel_name(cfg, channel)
        .ok_or_else(|| EmulatorError::UnknownChannel(channel.to_owned()))
}

fn open_view_of<'s>(
    st: &'s State,
    view_id: &str,
    user: &str,
) -> Result<&'s super::records::View, EmulatorError> {
    let view = st
        .view(view_id)
        .ok_or_else(|| EmulatorError::NoSuchView(view_id.to_owned()))?;
    if !view.open {
        return Err(EmulatorError::ViewNotOpen(view_id.to_owned()));
    }
    if view.user != user {
        return Err(EmulatorError::InvalidInput(format!(
            "view {view_id} belongs to {}, not {user}",
            view.user
        )));
    }
    Ok(view)
}

/// The element `action_id` in `blocks` with its block id, if it is one of `types`.
fn element_of(
    blocks: &Value,
    action_id: &str,
    location: &str,
    types: &[&str],
) -> Result<(String, Value), EmulatorError> {
    find_element(blocks, action_id)
        .filter(|(_, e)| types.iter().any(|t| e["type"] == *t))
        .ok_or_else(|| EmulatorError::NoSuchAction {
            action_id: action_id.to_owned(),
            location: location.to_owned(),
        })
}

/// The `actions[]` entry for clicking button `action_id` in `blocks`.
fn button_action(
    st: &mut State,
    blocks: &Value,
    action_id: &str,
    location: &str,
) -> Result<Value, EmulatorError> {
    let (block_id, element) = element_of(blocks, action_id, location, &["button"])?;
    let action_ts = st.next_ts();
    Ok(payloads::action(&block_id, &element, &action_ts))
}
