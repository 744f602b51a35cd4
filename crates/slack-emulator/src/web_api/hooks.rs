//! `response_url`s: the emulator hands out `http://127.0.0.1:<port>/hooks/<id>` so a bot
//! that answers through them works offline. Usable 5 times, as on Slack.

use axum::body::Bytes;
use axum::extract::{Path, State as AxumState};
use axum::http::StatusCode;
use serde_json::{json, Value};
use std::sync::Arc;
use tokio::time::Instant;

use super::chat::{record_ephemeral, Content};
use super::{Params, Reply};
use crate::log::LogKind;
use crate::records::{Call, Ephemeral, EphemeralSource, Message, TokenKind};
use crate::shared::Shared;
use crate::state::State;

const MAX_USES: u32 = 5;

pub(super) async fn response_url(
    AxumState(shared): AxumState<Arc<Shared>>,
    Path(id): Path<String>,
    body: Bytes,
) -> Reply {
    let parsed: Option<Value> = serde_json::from_slice(&body).ok().filter(Value::is_object);
    shared.update(|state| {
        let reply = match &parsed {
            Some(body) => respond(&shared, state, &id, body),
            None => Reply::json(
                StatusCode::BAD_REQUEST,
                json!({"ok": false, "error": "invalid_json"}),
            ),
        };
        state.calls.push(Call {
            method: "response_url".into(),
            params: parsed.clone().unwrap_or(Value::Null),
            token: TokenKind::Missing,
            http_status: reply.status.as_u16(),
            response: reply.body_value(),
            at: Instant::now(),
        });
        reply
    })
}

fn respond(shared: &Shared, state: &mut State, id: &str, body: &Value) -> Reply {
    let Some(url) = state.response_urls.get_mut(id) else {
        return Reply::json(
            StatusCode::NOT_FOUND,
            json!({"ok": false, "error": "expired_url"}),
        );
    };
    if url.uses >= MAX_USES {
        return Reply::json(
            StatusCode::NOT_FOUND,
            json!({"ok": false, "error": "used_url"}),
        );
    }
    url.uses += 1;
    let (user, channel, source_ts) = (
        url.user.clone(),
        url.channel.clone(),
        url.message_ts.clone(),
    );
    let target = ResponseTarget {
        user: &user,
        channel: &channel,
        source_ts: source_ts.as_deref(),
    };
    apply_message_response(shared, state, &target, body, EphemeralSource::ResponseUrl)
}

/// Where a message response (response_url body, slash-command ack payload) lands.
pub(crate) struct ResponseTarget<'a> {
    pub(crate) user: &'a str,
    pub(crate) channel: &'a str,
    /// The message the interaction came from, for `replace_original`/`delete_original`.
    pub(crate) source_ts: Option<&'a str>,
}

/// Applies a message response: delete or replace the source message, post in channel, or
/// (the default) show an ephemeral message to the user.
pub(crate) fn apply_message_response(
    shared: &Shared,
    state: &mut State,
    target: &ResponseTarget<'_>,
    body: &Value,
    source: EphemeralSource,
) -> Reply {
    let (user, channel) = (target.user.to_owned(), target.channel.to_owned());
    let source_ts = target.source_ts.map(str::to_owned);
    let params = Params::from_value(body.clone());
    let content = match Content::parse(&params) {
        Ok(content) => content,
        Err(reply) => return reply,
    };
    if params.bool("delete_original") {
        if let Some(ts) = &source_ts {
            state.remove_message(&channel, ts);
            state.log(
                LogKind::Message,
                format!("response_url deleted {ts} in {channel}"),
            );
        }
        return Reply::ok(json!({}));
    }
    let blocks = content.blocks.unwrap_or_else(|| json!([]));
    let text = content.text.unwrap_or_default();
    if params.bool("replace_original") {
        if let Some(message) = source_ts
            .as_ref()
            .and_then(|ts| state.message_mut(&channel, ts))
        {
            message.text = text;
            message.blocks = blocks;
            message.edits += 1;
            let shown = message.render();
            let ts = message.ts.clone();
            state.log(
                LogKind::Message,
                format!("response_url replaced {ts} in {channel}:\n{shown}"),
            );
            return Reply::ok(json!({}));
        }
    }
    if params.str("response_type").as_deref() == Some("in_channel") {
        let message = Message {
            channel: channel.clone(),
            ts: state.next_ts(),
            thread_ts: params.non_empty("thread_ts"),
            user: shared.config.bot_user_id.clone(),
            from_bot: true,
            text,
            blocks,
            edits: 0,
        };
        state.log(
            LogKind::Message,
            format!(
                "bot posted {} in {channel} (response):\n{}",
                message.ts,
                message.render()
            ),
        );
        state.push_message(message);
    } else {
        let ts = state.next_ts();
        record_ephemeral(
            state,
            Ephemeral {
                channel,
                user,
                ts,
                thread_ts: params.non_empty("thread_ts"),
                text,
                blocks,
                source,
            },
        );
    }
    Reply::ok(json!({}))
}
