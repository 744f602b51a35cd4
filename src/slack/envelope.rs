//! Socket Mode frames: what Slack sends and the ack we send back.

use serde_json::{json, Value};

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
    let mut value: Value = match serde_json::from_str(text) {
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
