//! Socket Mode frames: what Slack sends and the ack we send back.

use serde::de::{DeserializeSeed, Deserializer, IgnoredAny, MapAccess, SeqAccess, Visitor};
use serde_json::{json, Map, Value};

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum EnvelopeKind {
    SlashCommands,
    Interactive,
    EventsApi,
    /// A type this version does not know: acked and ignored, as Slack asks.
    Other(String),
}

/// One unit of work from Slack. It must be acked exactly once, on the socket it came on.
#[derive(Debug, Clone, PartialEq)]
pub struct Envelope {
    pub envelope_id: String,
    pub kind: EnvelopeKind,
    pub payload: Value,
    pub accepts_response_payload: bool,
    pub retry_attempt: u32,
}

/// Anything that arrives on the socket.
#[derive(Debug, Clone, PartialEq)]
pub enum Frame {
    Hello {
        app_id: Option<String>,
        num_connections: u64,
    },
    Disconnect {
        reason: String,
    },
    Envelope(Envelope),
    /// Not JSON, or JSON of no shape we know; logged and dropped.
    Unreadable(String),
}

pub fn parse_frame(text: &str) -> Frame {
    let mut value: Value = match parse_unread_left_out(text) {
        Ok(v) => v,
        Err(e) => return Frame::Unreadable(format!("not JSON: {e}")),
    };
    let kind = value
        .get("type")
        .and_then(Value::as_str)
        .unwrap_or_default();
    match kind {
        "hello" => Frame::Hello {
            app_id: value
                .pointer("/connection_info/app_id")
                .and_then(Value::as_str)
                .map(str::to_string),
            num_connections: value
                .get("num_connections")
                .and_then(Value::as_u64)
                .unwrap_or(0),
        },
        "disconnect" => Frame::Disconnect {
            reason: value
                .get("reason")
                .and_then(Value::as_str)
                .unwrap_or("unknown")
                .to_string(),
        },
        _ => {
            let Some(envelope_id) = value.get("envelope_id").and_then(Value::as_str) else {
                return Frame::Unreadable(format!("a `{kind}` frame without an envelope_id"));
            };
            let envelope_id = envelope_id.to_string();
            let kind = match kind {
                "slash_commands" => EnvelopeKind::SlashCommands,
                "interactive" => EnvelopeKind::Interactive,
                "events_api" => EnvelopeKind::EventsApi,
                other => EnvelopeKind::Other(other.to_string()),
            };
            // Taken, not cloned: a click's payload carries the whole message it was on.
            let payload = value
                .get_mut("payload")
                .map(Value::take)
                .unwrap_or_default();
            Frame::Envelope(Envelope {
                envelope_id,
                kind,
                payload,
                accepts_response_payload: value
                    .get("accepts_response_payload")
                    .and_then(Value::as_bool)
                    .unwrap_or(false),
                retry_attempt: value
                    .get("retry_attempt")
                    .and_then(Value::as_u64)
                    .and_then(|n| u32::try_from(n).ok())
                    .unwrap_or(0),
            })
        }
    }
}

/// Block Kit that Slack sends in envelopes and no handler reads, as paths from the frame: the
/// blocks and attachments of the message a button was on, a view's blocks (a full Home tab's
/// are about 30 KB; the view's state and metadata are kept), an event's blocks. A click's
/// envelope is mostly its message's blocks, and building them into maps of owned strings only
/// to drop them was most of the 4.6% of an approval's CPU that reading its envelope took
/// (BENCHMARKS.md, "On an Intel Xeon").
const UNREAD: [&[&str]; 4] = [
    &["payload", "message", "blocks"],
    &["payload", "message", "attachments"],
    &["payload", "view", "blocks"],
    &["payload", "event", "blocks"],
];

/// Parses a frame as `serde_json::from_str::<Value>` would, except that the [`UNREAD`] paths
/// are skipped over (checked as JSON, never built) and left out.
fn parse_unread_left_out(text: &str) -> serde_json::Result<Value> {
    let mut de = serde_json::Deserializer::from_str(text);
    let value = Pruned {
        depth: 0,
        paths: (1 << UNREAD.len()) - 1,
    }
    .deserialize(&mut de)?;
    de.end()?;
    Ok(value)
}

/// A `Value` at `depth` (keys from the frame's root), on the way to the [`UNREAD`] paths whose
/// bits are set in `paths`. With no path left it is an ordinary `Value`.
#[derive(Clone, Copy)]
struct Pruned {
    depth: usize,
    paths: u8,
}

impl Pruned {
    /// The paths that go on through `key`, and whether one of them ends there.
    fn through(self, key: &str) -> (Pruned, bool) {
        let (mut paths, mut ends) = (0, false);
        for (i, path) in UNREAD.iter().enumerate() {
            if self.paths & (1 << i) != 0 && path.get(self.depth) == Some(&key) {
                paths |= 1 << i;
                ends |= path.len() == self.depth + 1;
            }
        }
        (
            Pruned {
                depth: self.depth + 1,
                paths,
            },
            ends,
        )
    }
}

impl<'de> DeserializeSeed<'de> for Pruned {
    type Value = Value;

    fn deserialize<D: Deserializer<'de>>(self, de: D) -> Result<Value, D::Error> {
        if self.paths == 0 {
            return serde::Deserialize::deserialize(de);
        }
        de.deserialize_any(self)
    }
}

impl<'de> Visitor<'de> for Pruned {
    type Value = Value;

    fn expecting(&self, f: &mut std::fmt::Formatter) -> std::fmt::Result {
        f.write_str("any JSON value")
    }
    fn visit_bool<E>(self, v: bool) -> Result<Value, E> {
        Ok(Value::Bool(v))
    }
    fn visit_i64<E>(self, v: i64) -> Result<Value, E> {
        Ok(Value::from(v))
    }
    fn visit_u64<E>(self, v: u64) -> Result<Value, E> {
        Ok(Value::from(v))
    }
    fn visit_f64<E>(self, v: f64) -> Result<Value, E> {
        Ok(Value::from(v))
    }
    fn visit_str<E>(self, v: &str) -> Result<Value, E> {
        Ok(Value::String(v.to_owned()))
    }
    fn visit_string<E>(self, v: String) -> Result<Value, E> {
        Ok(Value::String(v))
    }
    fn visit_unit<E>(self) -> Result<Value, E> {
        Ok(Value::Null)
    }
    fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<Value, A::Error> {
        // No path goes through an array.
        let mut items = Vec::with_capacity(seq.size_hint().unwrap_or(0));
        while let Some(item) = seq.next_element::<Value>()? {
            items.push(item);
        }
        Ok(Value::Array(items))
    }
    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<Value, A::Error> {
        let mut out = Map::new();
        while let Some(key) = map.next_key::<String>()? {
            match self.through(&key) {
                (_, true) => {
                    map.next_value::<IgnoredAny>()?;
                }
                (next, false) => {
                    let value = map.next_value_seed(next)?;
                    out.insert(key, value);
                }
            }
        }
        Ok(Value::Object(out))
    }
}

/// `frame` with the [`UNREAD`] paths removed: what [`parse_frame`] reads of a frame, for the
/// tests that check it against the whole `Value`.
#[cfg(any(test, feature = "testkit"))]
pub fn less_unread(mut frame: Value) -> Value {
    for path in UNREAD {
        let (last, parents) = path.split_last().expect("no path is empty");
        let mut at = Some(&mut frame);
        for key in parents {
            at = at.and_then(|v| v.get_mut(*key));
        }
        if let Some(Value::Object(map)) = at {
            map.remove(*last);
        }
    }
    frame
}

/// What an ack needs of its envelope, kept while the envelope itself goes to its handler.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AckTo {
    pub envelope_id: String,
    pub accepts_response_payload: bool,
}

impl Envelope {
    pub fn ack_to(&self) -> AckTo {
        AckTo {
            envelope_id: self.envelope_id.clone(),
            accepts_response_payload: self.accepts_response_payload,
        }
    }
}

/// The ack frame. A payload goes along only when the envelope accepts one.
pub fn ack_frame(to: &AckTo, payload: Option<Value>) -> String {
    match payload {
        Some(p) if to.accepts_response_payload => {
            json!({ "envelope_id": to.envelope_id, "payload": p }).to_string()
        }
        _ => json!({ "envelope_id": to.envelope_id }).to_string(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::slack::fixture;

    #[test]
    fn slacks_own_frames_parse() {
        assert!(matches!(
            parse_frame(&fixture("socket_hello.json")),
            Frame::Hello {
                app_id: Some(_),
                ..
            }
        ));
        assert_eq!(
            parse_frame(&fixture("socket_disconnect_refresh_requested.json")),
            Frame::Disconnect {
                reason: "refresh_requested".into()
            }
        );
        let Frame::Envelope(e) = parse_frame(&fixture("envelope_slash_commands.json")) else {
            panic!("an envelope")
        };
        assert_eq!(e.kind, EnvelopeKind::SlashCommands);
        assert!(e.accepts_response_payload);
        assert_eq!(e.payload["command"], "/capacity");
        let Frame::Envelope(e) =
            parse_frame(&fixture("envelope_events_api_app_mention_retry.json"))
        else {
            panic!("an envelope")
        };
        assert_eq!(e.kind, EnvelopeKind::EventsApi);
        assert!(e.retry_attempt >= 1);
    }

    #[test]
    fn acks_carry_a_payload_only_where_accepted() {
        let Frame::Envelope(mut e) = parse_frame(&fixture("envelope_slash_commands.json")) else {
            panic!("an envelope")
        };
        let ack = ack_frame(&e.ack_to(), Some(json!({"text": "hi"})));
        assert_eq!(
            serde_json::from_str::<Value>(&ack).unwrap(),
            json!({"envelope_id": e.envelope_id, "payload": {"text": "hi"}})
        );
        e.accepts_response_payload = false;
        let ack = ack_frame(&e.ack_to(), Some(json!({"text": "hi"})));
        assert_eq!(
            serde_json::from_str::<Value>(&ack).unwrap(),
            json!({"envelope_id": e.envelope_id})
        );
    }

    fn whole_less_unread(text: &str) -> Value {
        less_unread(serde_json::from_str(text).unwrap())
    }

    #[test]
    fn a_frame_parses_whole_but_for_the_block_kit_no_handler_reads() {
        let mut frames = 0;
        for entry in std::fs::read_dir(crate::slack::FIXTURES).unwrap() {
            let name = entry.unwrap().file_name().into_string().unwrap();
            if name.starts_with("envelope_") || name.starts_with("socket_") {
                let text = fixture(&name);
                assert_eq!(
                    parse_unread_left_out(&text).unwrap(),
                    whole_less_unread(&text),
                    "{name}"
                );
                frames += 1;
            }
        }
        assert!(frames >= 15, "{frames} frames");
        let click = fixture("envelope_interactive_block_actions_button.json");
        let whole: Value = serde_json::from_str(&click).unwrap();
        assert!(whole.pointer("/payload/message/blocks").is_some());
        let Frame::Envelope(e) = parse_frame(&click) else {
            panic!("an envelope")
        };
        assert_eq!(e.payload.pointer("/message/blocks"), None);
        assert_eq!(
            e.payload["message"]["ts"],
            whole["payload"]["message"]["ts"]
        );
        assert_eq!(e.payload["actions"], whole["payload"]["actions"]);
        let submitted = fixture("envelope_interactive_view_submission.json");
        let Frame::Envelope(e) = parse_frame(&submitted) else {
            panic!("an envelope")
        };
        let whole: Value = serde_json::from_str(&submitted).unwrap();
        assert_eq!(
            e.payload["view"]["state"],
            whole["payload"]["view"]["state"]
        );
        assert_eq!(e.payload.pointer("/view/blocks"), None);
    }

    #[test]
    fn only_the_unread_paths_are_left_out() {
        let text = json!({
            "type": "interactive",
            "envelope_id": "e",
            "blocks": [1],
            "payload": {
                "blocks": [2],
                "actions": [{"blocks": [3], "message": {"blocks": [4]}}],
                "message": {"ts": "1.2", "blocks": [{"a": 1.5, "b": null}], "text": "t", "attachments": []},
                "container": {"message": {"blocks": [5]}},
                "view": {"id": "V1", "blocks": [], "state": {"values": {"b": {"a": {"value": "x"}}}}},
                "event": {"text": "hi", "blocks": [], "message": {"blocks": [6]}},
            },
        })
        .to_string();
        assert_eq!(
            parse_unread_left_out(&text).unwrap(),
            whole_less_unread(&text)
        );
        let parsed = parse_unread_left_out(&text).unwrap();
        for kept in [
            "/blocks",
            "/payload/blocks",
            "/payload/actions/0/blocks",
            "/payload/actions/0/message/blocks",
            "/payload/container/message/blocks",
            "/payload/event/message/blocks",
            "/payload/view/state/values/b/a/value",
        ] {
            assert!(parsed.pointer(kept).is_some(), "{kept} kept");
        }
        // Skipped is still read as JSON: a broken message is a broken frame.
        assert!(matches!(
            parse_frame(
                r#"{"type":"interactive","envelope_id":"e","payload":{"message":{"blocks":[1,}}}"#
            ),
            Frame::Unreadable(_)
        ));
        assert!(matches!(
            parse_frame(r#"{"type":"hello"} x"#),
            Frame::Unreadable(_)
        ));
    }

    #[test]
    fn garbage_is_unreadable_not_a_panic() {
        assert!(matches!(parse_frame("{"), Frame::Unreadable(_)));
        assert!(matches!(parse_frame("[]"), Frame::Unreadable(_)));
        assert!(matches!(
            parse_frame(r#"{"type":"interactive"}"#),
            Frame::Unreadable(_)
        ));
        let Frame::Envelope(e) = parse_frame(r#"{"type":"brand_new","envelope_id":"x"}"#) else {
            panic!("an envelope")
        };
        assert_eq!(e.kind, EnvelopeKind::Other("brand_new".into()));
    }
}
