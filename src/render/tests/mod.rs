//! Rendering tests: limits over every state with any inputs, buttons, escaping, the forms.

mod buttons;
mod digest;
mod escaping;
mod forms;
mod home;
mod limits_props;
mod messages;
mod scenarios;

use serde_json::Value;
use slack_morphism::SlackMessageContent;

use super::dm::{decision_dm, DmReason};
use super::ephemeral::status_text;
use super::root::root_message;
use super::thread::thread_reply;
use crate::domain::Links;
use scenarios::{roles, Story};

/// Links as they are once the root message is posted and a Linear issue exists.
fn links() -> Links {
    Links {
        slack_channel: Some("C0123456789".into()),
        slack_ts: Some("1760023041.728309".into()),
        permalink: Some("https://acme.slack.com/archives/C0123456789/p1760023041728309".into()),
        linear_issue_id: Some("INF-42".into()),
        linear_url: Some("https://linear.app/acme/issue/INF-42".into()),
    }
}

/// Every message a story's request renders to: root, one reply per event, each DM, named.
fn messages_of(story: &Story) -> Vec<(String, SlackMessageContent)> {
    let req = story.req();
    let policy = &story.play.policy;
    let roles = roles();
    let now = story.now();
    let mut out = vec![(
        "root".to_string(),
        root_message(req, &links(), policy, &roles, now),
    )];
    for (event, after) in &story.recorded {
        out.push((
            format!("reply to {}", event.event.kind()),
            thread_reply(after, event, &roles, policy, now),
        ));
    }
    for why in [
        DmReason::Reminder { nth: 3 },
        DmReason::DueTomorrow,
        DmReason::TimedOut,
    ] {
        out.push((
            format!("dm {why:?}"),
            decision_dm(req, why, links().permalink.as_deref(), policy, &roles, now),
        ));
    }
    out
}

/// Every text reply a story's request renders to.
fn texts_of(story: &Story) -> Vec<String> {
    vec![status_text(
        story.req(),
        &links(),
        &story.play.policy,
        &roles(),
        story.now(),
    )]
}

fn json(message: &SlackMessageContent) -> Value {
    serde_json::to_value(message).expect("a message serializes")
}

/// The buttons of a message: (action_id, value, has confirm, style).
fn buttons(message: &SlackMessageContent) -> Vec<(String, String, bool, Option<String>)> {
    let json = json(message);
    let mut out = Vec::new();
    for block in json["blocks"].as_array().into_iter().flatten() {
        if block["type"] != "actions" {
            continue;
        }
        for e in block["elements"].as_array().into_iter().flatten() {
            if e["type"] != "button" {
                continue;
            }
            out.push((
                e["action_id"].as_str().unwrap_or_default().to_string(),
                e["value"].as_str().unwrap_or_default().to_string(),
                e.get("confirm").is_some(),
                e["style"].as_str().map(str::to_string),
            ));
        }
    }
    out
}

/// All the mrkdwn and plain text of a message, fallback included.
fn all_text(message: &SlackMessageContent) -> String {
    fn walk(v: &Value, out: &mut String) {
        match v {
            Value::String(s) => {
                out.push_str(s);
                out.push('\n');
            }
            Value::Array(items) => items.iter().for_each(|i| walk(i, out)),
            Value::Object(map) => map.values().for_each(|i| walk(i, out)),
            _ => {}
        }
    }
    let mut out = String::new();
    walk(&json(message), &mut out);
    out
}
