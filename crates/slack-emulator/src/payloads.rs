//! Wire shapes: envelopes, interaction payloads, stored messages and views, field for field
//! as in `tests/fixtures/slack`.

use serde_json::{json, Value};
use uuid::Uuid;

use super::config::{EmulatorConfig, SeedUser};
use super::ids::{random_id, short_id};
use super::records::Message;

/// The deprecated verification token Slack still puts in payloads; bots must ignore it.
const VERIFICATION_TOKEN: &str = "Xq7bLk2VvR9sTn4PzW1cYh8D";

/// A Socket Mode envelope with a fresh `envelope_id`.
pub(crate) fn envelope(kind: &str, payload: Value, accepts_response_payload: bool) -> Value {
    json!({
        "envelope_id": Uuid::new_v4().to_string(),
        "payload": payload,
        "type": kind,
        "accepts_response_payload": accepts_response_payload,
    })
}

/// An `events_api` envelope for delivery `attempt` (0 = first, then `retry_reason: timeout`).
pub(crate) fn events_api_envelope(payload: Value, attempt: u32) -> Value {
    let mut env = envelope("events_api", payload, false);
    env["retry_attempt"] = json!(attempt);
    env["retry_reason"] = json!(if attempt == 0 { "" } else { "timeout" });
    env
}

fn team(cfg: &EmulatorConfig) -> Value {
    json!({"id": cfg.team_id, "domain": cfg.team_domain})
}

fn user(cfg: &EmulatorConfig, user: &SeedUser) -> Value {
    json!({"id": user.id, "username": user.name, "name": user.name, "team_id": cfg.team_id})
}

/// The `slash_commands` payload: every field a string, as in the form post.
pub(crate) fn slash_command(
    cfg: &EmulatorConfig,
    invoker: &SeedUser,
    channel: (&str, &str),
    command: &str,
    text: &str,
    trigger_id: &str,
    response_url: &str,
) -> Value {
    json!({
        "token": VERIFICATION_TOKEN,
        "team_id": cfg.team_id,
        "team_domain": cfg.team_domain,
        "channel_id": channel.0,
        "channel_name": channel.1,
        "user_id": invoker.id,
        "user_name": invoker.name,
        "command": command,
        "text": text,
        "api_app_id": cfg.app_id,
        "is_enterprise_install": "false",
        "response_url": response_url,
        "trigger_id": trigger_id,
    })
}

/// Where a clicked element lives.
pub(crate) enum ActionSource {
    /// A channel or DM message; `message` is the full stored message JSON.
    Message {
        channel: (String, String),
        message: Value,
        thread_ts: Option<String>,
    },
    /// An ephemeral message: Slack sends no `message` for those.
    Ephemeral {
        channel: (String, String),
        message_ts: String,
    },
    /// A modal; `view` is the full view including `state`.
    View { view: Value },
}

/// The `actions[]` entry for a clicked element, before what was chosen is added. A button
/// echoes its `text`, `value` and `style`, a static select its `placeholder`; no element
/// sends its `options` back, only the `selected_option`.
pub(crate) fn action(block_id: &str, element: &Value, action_ts: &str) -> Value {
    let mut action = json!({
        "action_id": element["action_id"],
        "block_id": block_id,
        "type": element["type"],
        "action_ts": action_ts,
    });
    for key in [
        "text",
        "value",
        "style",
        "selected_option",
        "selected_date",
        "selected_user",
    ] {
        if let Some(v) = element.get(key) {
            action[key] = v.clone();
        }
    }
    if element["type"] == "static_select" {
        if let Some(p) = element.get("placeholder") {
            action["placeholder"] = p.clone();
        }
    }
    action
}

/// A `block_actions` payload.
pub(crate) fn block_actions(
    cfg: &EmulatorConfig,
    clicker: &SeedUser,
    source: ActionSource,
    action: Value,
    trigger_id: &str,
    response_url: Option<&str>,
) -> Value {
    let mut payload = json!({
        "type": "block_actions",
        "user": user(cfg, clicker),
        "api_app_id": cfg.app_id,
        "token": VERIFICATION_TOKEN,
        "trigger_id": trigger_id,
        "team": team(cfg),
        "enterprise": null,
        "is_enterprise_install": false,
        "actions": [action],
    });
    match source {
        ActionSource::Message {
            channel,
            message,
            thread_ts,
        } => {
            let mut container = json!({
                "type": "message",
                "message_ts": message["ts"],
                "channel_id": channel.0,
                "is_ephemeral": false,
            });
            if let Some(thread_ts) = thread_ts {
                container["thread_ts"] = json!(thread_ts);
            }
            payload["container"] = container;
            payload["channel"] = json!({"id": channel.0, "name": channel.1});
            payload["message"] = message;
            payload["state"] = json!({"values": {}});
        }
        ActionSource::Ephemeral {
            channel,
            message_ts,
        } => {
            payload["container"] = json!({
                "type": "message",
                "message_ts": message_ts,
                "channel_id": channel.0,
                "is_ephemeral": true,
            });
            payload["channel"] = json!({"id": channel.0, "name": channel.1});
            payload["state"] = json!({"values": {}});
        }
        ActionSource::View { view } => {
            payload["container"] = json!({"type": "view", "view_id": view["id"]});
            payload["view"] = view;
        }
    }
    if let Some(url) = response_url {
        payload["response_url"] = json!(url);
    }
    payload
}

/// A `view_submission` payload; `view` must already carry `state.values`.
pub(crate) fn view_submission(
    cfg: &EmulatorConfig,
    submitter: &SeedUser,
    view: Value,
    trigger_id: &str,
) -> Value {
    json!({
        "type": "view_submission",
        "team": team(cfg),
        "user": user(cfg, submitter),
        "api_app_id": cfg.app_id,
        "token": VERIFICATION_TOKEN,
        "trigger_id": trigger_id,
        "view": view,
        "response_urls": [],
        "is_enterprise_install": false,
        "enterprise": null,
    })
}

/// A `view_closed` payload (only sent for views with `notify_on_close: true`).
pub(crate) fn view_closed(
    cfg: &EmulatorConfig,
    closer: &SeedUser,
    view: Value,
    is_cleared: bool,
) -> Value {
    json!({
        "type": "view_closed",
        "team": team(cfg),
        "user": user(cfg, closer),
        "api_app_id": cfg.app_id,
        "token": VERIFICATION_TOKEN,
        "view": view,
        "is_cleared": is_cleared,
        "is_enterprise_install": false,
        "enterprise": null,
    })
}

/// The `event_callback` wrapper around an Events API `event`.
pub(crate) fn event_callback(cfg: &EmulatorConfig, event: Value) -> Value {
    let event_time = chrono::Utc::now().timestamp();
    json!({
        "token": VERIFICATION_TOKEN,
        "team_id": cfg.team_id,
        "context_team_id": cfg.team_id,
        "context_enterprise_id": null,
        "api_app_id": cfg.app_id,
        "event": event,
        "type": "event_callback",
        "event_id": random_id("Ev", 10),
        "event_time": event_time,
        "authorizations": [{
            "enterprise_id": null,
            "team_id": cfg.team_id,
            "user_id": cfg.bot_user_id,
            "is_bot": true,
            "is_enterprise_install": false,
        }],
        "is_ext_shared_channel": false,
    })
}

/// A stored message as Slack echoes it in interaction payloads (no `bot_profile`).
pub(crate) fn message_json(cfg: &EmulatorConfig, msg: &Message) -> Value {
    let mut out = json!({
        "user": msg.user,
        "type": "message",
        "ts": msg.ts,
        "text": msg.text,
        "team": cfg.team_id,
        "blocks": msg.blocks,
    });
    if msg.from_bot {
        out["bot_id"] = json!(cfg.bot_id);
        out["app_id"] = json!(cfg.app_id);
    }
    if let Some(thread_ts) = msg.thread_ts.as_ref().filter(|t| **t != msg.ts) {
        out["thread_ts"] = json!(thread_ts);
        out["parent_user_id"] = json!(cfg.bot_user_id);
    }
    out
}

/// The `bot_profile` Web API responses attach to the bot's messages.
pub(crate) fn bot_profile(cfg: &EmulatorConfig) -> Value {
    json!({
        "id": cfg.bot_id,
        "deleted": false,
        "name": cfg.bot_name,
        "updated": 1_759_912_202,
        "app_id": cfg.app_id,
        "icons": {
            "image_36": "https://a.slack-edge.com/80588/img/plugins/app/bot_36.png",
            "image_48": "https://a.slack-edge.com/80588/img/plugins/app/bot_48.png",
            "image_72": "https://a.slack-edge.com/80588/img/plugins/app/service_72.png"
        },
        "team_id": cfg.team_id,
    })
}

/// A new view hash (`"<secs>.<random>"`), changed on every update.
pub(crate) fn view_hash() -> String {
    format!("{}.{}", chrono::Utc::now().timestamp(), short_id(8))
}

/// The full view object Slack keeps for a modal built from the app's (normalized) `view`.
pub(crate) fn view_json(
    cfg: &EmulatorConfig,
    id: &str,
    view: &Value,
    previous_view_id: Option<&str>,
    root_view_id: &str,
) -> Value {
    let or = |key: &str, default: Value| view.get(key).cloned().unwrap_or(default);
    json!({
        "id": id,
        "team_id": cfg.team_id,
        "type": or("type", json!("modal")),
        "blocks": or("blocks", json!([])),
        "private_metadata": or("private_metadata", json!("")),
        "callback_id": or("callback_id", json!("")),
        "state": {"values": {}},
        "hash": view_hash(),
        "title": or("title", Value::Null),
        "clear_on_close": or("clear_on_close", json!(false)),
        "notify_on_close": or("notify_on_close", json!(false)),
        "close": or("close", Value::Null),
        "submit": or("submit", Value::Null),
        "previous_view_id": previous_view_id,
        "root_view_id": root_view_id,
        "app_id": cfg.app_id,
        "external_id": or("external_id", json!("")),
        "app_installed_team_id": cfg.team_id,
        "bot_id": cfg.bot_id,
    })
}
