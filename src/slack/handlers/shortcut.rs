//! The two shortcuts: *Capacity request from this message* (`message_action`) opens the
//! intake form prefilled from the message and carrying its address; the global shortcut
//! (`shortcut`) opens the empty form. Both are parsed here into a [`ShortcutInput`]; a
//! payload missing what the form needs is refused with a message to the person waiting.

use serde_json::Value;
use tracing::{info, warn};

use super::slash::may_request;
use super::str_at;
use crate::context::AppState;
use crate::domain::{ChannelId, SourceMessage, TeamId, UserId};
use crate::render;

/// The message shortcut's `callback_id` (DESIGN: Ways in).
pub const FROM_MESSAGE: &str = "capacity_request_from_message";
/// The global shortcut's `callback_id`.
pub const NEW_REQUEST: &str = "capacity_request_new";

/// A shortcut as the handler needs it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct ShortcutInput {
    pub user: UserId,
    pub team: Option<TeamId>,
    pub trigger_id: String,
    /// The message it was run on (message shortcut only), with the text to prefill from.
    pub message: Option<(SourceMessage, String)>,
}

/// Why a shortcut payload cannot open the form, and whom to tell.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Malformed {
    pub why: String,
    pub user: Option<UserId>,
    pub channel: Option<ChannelId>,
}

/// Slack timestamps are `<seconds>.<micros>`; anything else is not a message address.
fn is_ts(ts: &str) -> bool {
    ts.len() <= 32
        && ts.split_once('.').is_some_and(|(a, b)| {
            !a.is_empty() && !b.is_empty() && a.bytes().chain(b.bytes()).all(|c| c.is_ascii_digit())
        })
}

/// A workspace's subdomain, as Slack sends it in `team.domain`.
fn is_domain(d: &str) -> bool {
    !d.is_empty()
        && d.len() <= 63
        && d.bytes()
            .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-')
}

/// The permalink of message `ts` in `channel`, built from the payload: the form opens with
/// the trigger's 3 s running, so no Web API call may come before `views.open`, and
/// `chat.getPermalink` fails in private channels the app is not in, where the shortcut
/// still works. It is the shape `chat.getPermalink` returns (a reply also names its thread).
pub(crate) fn permalink(domain: &str, channel: &ChannelId, ts: &str, thread_ts: &str) -> String {
    let mut link = format!(
        "https://{domain}.slack.com/archives/{channel}/p{}",
        ts.replace('.', "")
    );
    if thread_ts != ts {
        link.push_str(&format!("?thread_ts={thread_ts}&cid={channel}"));
    }
    link
}

/// Reads a `message_action` (`from_message`) or `shortcut` payload.
pub(crate) fn parse(payload: &Value, from_message: bool) -> Result<ShortcutInput, Malformed> {
    let user = str_at(payload, "/user/id").and_then(|u| UserId::parse(u).ok());
    let channel = str_at(payload, "/channel/id").and_then(|c| ChannelId::parse(c).ok());
    let fail = |why: &str| Malformed {
        why: why.to_string(),
        user: user.clone(),
        channel: channel.clone(),
    };
    let Some(user_id) = user.clone() else {
        return Err(fail("a shortcut without a user"));
    };
    let team = str_at(payload, "/team/id")
        .or_else(|| str_at(payload, "/user/team_id"))
        .and_then(|t| TeamId::parse(t).ok());
    let Some(trigger_id) = str_at(payload, "/trigger_id").filter(|t| !t.is_empty()) else {
        return Err(fail(
            "Slack sent that shortcut without a trigger id, so the form cannot open. Please run it again.",
        ));
    };
    let message = if from_message {
        let Some(channel) = channel.clone() else {
            return Err(fail(
                "Slack did not say which channel that message is in, so the request cannot link it. Please run the shortcut again.",
            ));
        };
        let ts = str_at(payload, "/message/ts")
            .or_else(|| str_at(payload, "/message_ts"))
            .filter(|t| is_ts(t));
        let Some(ts) = ts else {
            return Err(fail(
                "Slack did not say which message that was, so the request cannot link it. Please run the shortcut again.",
            ));
        };
        let thread_ts = str_at(payload, "/message/thread_ts")
            .filter(|t| is_ts(t))
            .unwrap_or(ts);
        let Some(domain) = str_at(payload, "/team/domain").filter(|d| is_domain(d)) else {
            return Err(fail(
                "Slack did not say which workspace that message is in, so the request cannot link it. Please run the shortcut again.",
            ));
        };
        let text = str_at(payload, "/message/text").unwrap_or_default();
        Some((
            SourceMessage {
                permalink: permalink(domain, &channel, ts, thread_ts),
                channel,
                ts: ts.to_string(),
                thread_ts: thread_ts.to_string(),
            },
            text.to_string(),
        ))
    } else {
        None
    };
    Ok(ShortcutInput {
        user: user_id,
        team,
        trigger_id: trigger_id.to_string(),
        message,
    })
}

/// Handles either shortcut. The ack carries nothing (Slack shows nothing for a shortcut's
/// ack); a refusal goes to the person as an ephemeral in the message's channel, or as a DM
/// for the global shortcut, which has no channel.
pub async fn handle(state: &AppState, payload: &Value, from_message: bool) {
    let input = match parse(payload, from_message) {
        Ok(input) => input,
        Err(bad) => {
            warn!(
                why = bad.why,
                "a shortcut payload that cannot open the form"
            );
            if let Some(user) = bad.user {
                tell(state, user, bad.channel, bad.why);
            }
            return;
        }
    };
    if let Err(why) = may_request(state, &input.user, input.team.as_ref()).await {
        let channel = input.message.as_ref().map(|(s, _)| s.channel.clone());
        tell(state, input.user, channel, why);
        return;
    }
    let today = state.settings.policy.calendar.local_date(state.clock.now());
    let view = match &input.message {
        Some((source, text)) => render::modal::intake_modal_from(today, source, text),
        None => render::modal::intake_modal(today),
    };
    match state.api.open_view(&input.trigger_id, view).await {
        Ok(()) => info!(user = %input.user, from_message, "opened the intake form from a shortcut"),
        Err(e) => {
            warn!(error.message = %e, "could not open the intake form from a shortcut");
            let channel = input.message.as_ref().map(|(s, _)| s.channel.clone());
            tell(
                state,
                input.user,
                channel,
                format!(
                    "The request form could not be opened ({e}). Please run the shortcut again."
                ),
            );
        }
    }
}

/// Tells `user` why the form did not open, after the ack: in `channel` when there is one,
/// else in their DM with the app.
fn tell(state: &AppState, user: UserId, channel: Option<ChannelId>, text: String) {
    match channel {
        Some(channel) => state.tell_later(channel.to_string(), user, text),
        None => {
            let api = state.api.clone();
            state.tasks.spawn(async move {
                let sent = async {
                    let dm = api.open_dm(user.as_str()).await?;
                    api.post_message(
                        &dm,
                        slack_morphism::SlackMessageContent::new().with_text(text),
                        None,
                    )
                    .await
                }
                .await;
                if let Err(e) = sent {
                    warn!(error.message = %e, %user, "could not tell a user why the form did not open");
                }
            });
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn message_action() -> Value {
        json!({
            "type": "message_action", "callback_id": FROM_MESSAGE, "trigger_id": "13345224609.738474920.8088930838d88f008e0",
            "team": {"id": "T07QCRB2H1N", "domain": "acme-infra"},
            "user": {"id": "U05JX8K2M1P", "team_id": "T07QCRB2H1N"},
            "channel": {"id": "C07QKCUSTMR", "name": "cust-acme"},
            "message_ts": "1760100000.000200",
            "message": {"type": "message", "user": "U03QF7T4N8W", "ts": "1760100000.000200",
                        "thread_ts": "1760099000.000100", "text": "we need 64XL &amp; soon"},
        })
    }

    #[test]
    fn a_message_shortcut_reads_into_its_source() {
        let input = parse(&message_action(), true).unwrap();
        let (source, text) = input.message.unwrap();
        assert_eq!(source.thread_ts, "1760099000.000100");
        assert_eq!(
            source.permalink,
            "https://acme-infra.slack.com/archives/C07QKCUSTMR/p1760100000000200?thread_ts=1760099000.000100&cid=C07QKCUSTMR"
        );
        assert_eq!(text, "we need 64XL &amp; soon");
    }

    #[test]
    fn a_shortcut_missing_what_the_form_needs_is_refused_with_a_reason() {
        for (pointer, says) in [
            ("/trigger_id", "trigger id"),
            ("/channel", "which channel"),
            ("/message", "which message"),
            ("/team/domain", "which workspace"),
        ] {
            let mut p = message_action();
            let (parent, key) = pointer.rsplit_once('/').unwrap();
            let target = if parent.is_empty() {
                &mut p
            } else {
                p.pointer_mut(parent).unwrap()
            };
            target.as_object_mut().unwrap().remove(key);
            if key == "message" {
                p.as_object_mut().unwrap().remove("message_ts");
            }
            let bad = parse(&p, true).unwrap_err();
            assert!(bad.why.contains(says), "{pointer}: {}", bad.why);
        }
        let mut p = message_action();
        p["message"]["ts"] = json!("1760100000.000200\n<!channel>");
        p.as_object_mut().unwrap().remove("message_ts");
        assert!(parse(&p, true).is_err());
        p = message_action();
        p["team"]["domain"] = json!("evil.example/x?");
        assert!(parse(&p, true).is_err());
    }
}
