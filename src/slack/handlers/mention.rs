//! `message` events (`message.channels`, `message.groups`) that mention `CR-<n>`: the thread
//! gets one reply with a card per known request, queued through the outbox once per thread.
//!
//! Only a person's new message counts: edits (`message_changed`), deletions, other subtypes
//! and anything a bot wrote (ours included) are dropped, as are messages in the requests
//! channel's own threads, where each request already lives. Nothing of the message is kept
//! but the channel, the thread and the numbers found.

use serde_json::Value;
use tracing::{debug, error, info, warn};

use super::{str_at, DB_BUDGET};
use crate::context::AppState;
use crate::domain::{ChannelId, RequestNumber};
use crate::store;

/// At most this many distinct numbers are read from one message; the reply shows at most
/// `render::ways::MAX_CARDS` of them as cards.
pub const MAX_NUMBERS: usize = 20;

/// A message that mentions requests, as the handler needs it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Mention {
    pub channel: ChannelId,
    /// The thread the reply goes to: the message's `thread_ts`, or its own `ts`.
    pub thread_ts: String,
    /// Whether the message is a reply in a thread (not the thread's first message).
    pub in_thread: bool,
    pub numbers: Vec<RequestNumber>,
}

/// Why a message event gets no reply; logged at debug, since most messages are not for us.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum Skip {
    /// Not a person's new message: an edit, a deletion, a join, a bot's post.
    NotAPersonsMessage(String),
    /// No `CR-<n>` in it.
    NoMention,
    /// A shape we cannot read (no channel or timestamp).
    Malformed(String),
}

/// Subtypes that are still a person writing something new.
const PERSON_SUBTYPES: [&str; 2] = ["thread_broadcast", "file_share"];

fn is_ts(ts: &str) -> bool {
    ts.len() <= 32
        && ts.split_once('.').is_some_and(|(a, b)| {
            !a.is_empty() && !b.is_empty() && a.bytes().chain(b.bytes()).all(|c| c.is_ascii_digit())
        })
}

/// Reads an Events API `message` event (the envelope's `payload.event`).
pub(crate) fn parse(event: &Value) -> Result<Mention, Skip> {
    if let Some(subtype) = str_at(event, "/subtype") {
        if !PERSON_SUBTYPES.contains(&subtype) {
            return Err(Skip::NotAPersonsMessage(format!("subtype {subtype}")));
        }
    }
    if event.get("bot_id").is_some_and(|b| !b.is_null()) || event.get("bot_profile").is_some() {
        return Err(Skip::NotAPersonsMessage("written by a bot".into()));
    }
    if event.get("hidden").and_then(Value::as_bool) == Some(true) {
        return Err(Skip::NotAPersonsMessage("a hidden message".into()));
    }
    if str_at(event, "/user").is_none() {
        return Err(Skip::NotAPersonsMessage("no user".into()));
    }
    let channel = str_at(event, "/channel")
        .and_then(|c| ChannelId::parse(c).ok())
        .ok_or_else(|| Skip::Malformed("no channel id".into()))?;
    let ts = str_at(event, "/ts")
        .filter(|t| is_ts(t))
        .ok_or_else(|| Skip::Malformed("no timestamp".into()))?;
    let thread = str_at(event, "/thread_ts").filter(|t| is_ts(t));
    let numbers = mentioned(str_at(event, "/text").unwrap_or_default());
    if numbers.is_empty() {
        return Err(Skip::NoMention);
    }
    Ok(Mention {
        channel,
        thread_ts: thread.unwrap_or(ts).to_string(),
        in_thread: thread.is_some_and(|t| t != ts),
        numbers,
    })
}

/// The distinct request numbers `text` mentions as `CR-<n>` (any case), in order, at most
/// [`MAX_NUMBERS`]. A number glued to a word (`XCR-1`, `CR-1a`) is not a mention.
pub fn mentioned(text: &str) -> Vec<RequestNumber> {
    let bytes = text.as_bytes();
    let mut found = Vec::new();
    let mut i = 0;
    while i + 3 < bytes.len() && found.len() < MAX_NUMBERS {
        let starts = bytes[i..i + 3].eq_ignore_ascii_case(b"cr-")
            && (i == 0 || !bytes[i - 1].is_ascii_alphanumeric());
        if !starts {
            i += 1;
            continue;
        }
        let digits_end = bytes[i + 3..]
            .iter()
            .position(|b| !b.is_ascii_digit())
            .map_or(bytes.len(), |p| i + 3 + p);
        let digits = &text[i + 3..digits_end];
        let glued = bytes
            .get(digits_end)
            .is_some_and(|b| b.is_ascii_alphanumeric());
        if !digits.is_empty() && digits.len() <= 15 && !glued {
            if let Ok(n) = digits.parse::<i64>() {
                let n = RequestNumber(n);
                if n.0 > 0 && !found.contains(&n) {
                    found.push(n);
                }
            }
        }
        i = digits_end.max(i + 3);
    }
    found
}

/// Handles one `message` event. Nothing is said to anyone when a message gets no reply: a
/// message event has no person waiting on the app.
pub async fn handle(state: &AppState, payload: &Value) {
    let event = payload.get("event").unwrap_or(&Value::Null);
    let mention = match parse(event) {
        Ok(m) => m,
        Err(Skip::Malformed(why)) => {
            warn!(why, event_id = ?payload.get("event_id"), "a message event we cannot read; ignored");
            return;
        }
        Err(skip) => {
            debug!(?skip, "a message that gets no reply");
            return;
        }
    };
    if mention.in_thread && mention.channel == state.settings.slack.requests_channel {
        debug!("a mention inside the requests channel's own threads; no reply");
        return;
    }
    let queued = async {
        let known = store::mentions::known(&state.pool, &mention.numbers).await?;
        if known.is_empty() {
            return Ok::<_, store::StoreError>(None);
        }
        let now = state.clock.now();
        let queued = store::mentions::queue_reply(
            &state.pool,
            mention.channel.as_str(),
            &mention.thread_ts,
            &known,
            now,
        )
        .await?;
        Ok(Some((known, queued)))
    };
    match tokio::time::timeout(DB_BUDGET, queued).await {
        Ok(Ok(Some((known, true)))) => {
            info!(channel = %mention.channel, thread = mention.thread_ts, numbers = ?known, "a mention's reply queued")
        }
        Ok(Ok(Some((_, false)))) => debug!("this thread already has its reply"),
        Ok(Ok(None)) => {
            debug!(numbers = ?mention.numbers, "mentions of unknown requests; no reply")
        }
        Ok(Err(e)) => {
            error!(error.message = %e, channel = %mention.channel, "a mention's reply could not be queued")
        }
        Err(_) => {
            error!(channel = %mention.channel, "the database did not answer in time; a mention's reply was not queued")
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn n(ns: &[i64]) -> Vec<RequestNumber> {
        ns.iter().map(|&n| RequestNumber(n)).collect()
    }

    #[test]
    fn numbers_are_found_as_words() {
        assert_eq!(mentioned("is CR-12 still needed?"), n(&[12]));
        assert_eq!(mentioned("cr-3, CR-12 and Cr-3 (CR-7)."), n(&[3, 12, 7]));
        assert_eq!(
            mentioned("XCR-1 CR-1a CR- CR-0 CR-99999999999999999"),
            n(&[])
        );
        assert_eq!(mentioned("CR-5"), n(&[5]));
        assert_eq!(mentioned("é CR-5é"), n(&[5]));
        let many: String = (1..100).map(|i| format!("CR-{i} ")).collect();
        assert_eq!(mentioned(&many).len(), MAX_NUMBERS);
    }

    #[test]
    fn only_a_persons_new_message_counts() {
        let base = json!({"type": "message", "channel": "C1", "user": "U1", "text": "CR-1?", "ts": "1.2", "channel_type": "channel"});
        let m = parse(&base).unwrap();
        assert_eq!((m.thread_ts.as_str(), m.in_thread), ("1.2", false));
        let mut reply = base.clone();
        reply["thread_ts"] = json!("1.1");
        let m = parse(&reply).unwrap();
        assert_eq!((m.thread_ts.as_str(), m.in_thread), ("1.1", true));
        for (key, value) in [
            ("subtype", json!("message_changed")),
            ("subtype", json!("message_deleted")),
            ("subtype", json!("bot_message")),
            ("bot_id", json!("B1")),
            ("hidden", json!(true)),
        ] {
            let mut e = base.clone();
            e[key] = value;
            assert!(
                matches!(parse(&e), Err(Skip::NotAPersonsMessage(_))),
                "{key}"
            );
        }
        let mut e = base.clone();
        e["ts"] = json!("soon");
        assert!(matches!(parse(&e), Err(Skip::Malformed(_))));
        e = base.clone();
        e["text"] = json!("nothing here");
        assert_eq!(parse(&e), Err(Skip::NoMention));
    }
}
