//! The `block_actions` envelope Slack sends for a click on a request's root message, shared by
//! the benchmarks that click (`clicks`, `pace`).

use capacity_bot::domain::{RequestId, RequestNumber};
use capacity_bot::render::action_value::ActionValue;
use chrono::Utc;
use serde_json::{json, Value};
use slack_emulator::Emulator;
use uuid::Uuid;

/// The root message clicked: where it is and what its button values carry.
pub struct Root<'a> {
    pub channel: &'a str,
    pub ts: &'a str,
    pub id: RequestId,
    pub number: RequestNumber,
    pub version: i32,
}

/// `user` clicks the button `action_id` (labelled `label`) on `root`, whose blocks are
/// `blocks` (a real root's, so the envelope has a real click's size).
pub fn frame(
    emu: &Emulator,
    user: &str,
    root: &Root<'_>,
    action_id: &str,
    label: &str,
    blocks: &Value,
) -> String {
    let value = ActionValue {
        request: root.id,
        number: root.number,
        version: root.version,
    };
    let (team, channel, ts) = (emu.team_id(), root.channel, root.ts);
    json!({
        "envelope_id": Uuid::new_v4().to_string(),
        "type": "interactive",
        "accepts_response_payload": false,
        "payload": {
            "type": "block_actions",
            "user": {"id": user, "username": user, "name": user, "team_id": team},
            "api_app_id": emu.app_id(),
            "token": "bench-verification-token",
            "container": {"type": "message", "message_ts": ts, "channel_id": channel, "is_ephemeral": false},
            "trigger_id": format!("{}.{}.bench", root.number.0, Uuid::new_v4().simple()),
            "team": {"id": team, "domain": "acme-infra"},
            "enterprise": null,
            "is_enterprise_install": false,
            "channel": {"id": channel, "name": "capacity-requests"},
            "message": {"type": "message", "ts": ts, "user": emu.bot_user_id(), "bot_id": emu.bot_id(),
                        "text": format!("{} large-capacity request", root.number), "blocks": blocks},
            "state": {"values": {}},
            "response_url": format!("{}/response_url/bench", emu.api_url()),
            "actions": [{
                "action_id": action_id,
                "block_id": "actions",
                "type": "button",
                "value": value.encode(),
                "text": {"type": "plain_text", "text": label, "emoji": true},
                "action_ts": format!("{}.000100", Utc::now().timestamp()),
            }],
        },
    })
    .to_string()
}
