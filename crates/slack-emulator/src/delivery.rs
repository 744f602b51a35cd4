//! Envelope delivery: one socket per envelope (round-robin), ack matching and timing,
//! `events_api` redelivery. What an ack's payload then does lives in `ack_effects.rs`.

use serde_json::{json, Value};
use std::sync::Arc;
use std::time::Duration;
use tokio::sync::oneshot;
use tokio::time::Instant;

use super::ack_effects::apply_ack_payload;
use super::error::EmulatorError;
use super::ids::{ms, short_json};
use super::log::LogKind;
use super::payloads::events_api_envelope;
use super::records::{Ack, Delivery, DeliveryOutcome};
use super::shared::Shared;
use super::state::{AckContext, Outbound, Pending, State};

impl Shared {
    /// Sends an envelope and waits for its ack within the ack timeout.
    pub(crate) async fn deliver(&self, envelope: Value) -> Result<Ack, EmulatorError> {
        let timeout = self.read(|st| st.ack_timeout);
        self.deliver_within(envelope, timeout).await
    }

    /// Sends an envelope and waits up to `within` for its ack.
    pub(crate) async fn deliver_within(
        &self,
        envelope: Value,
        within: Duration,
    ) -> Result<Ack, EmulatorError> {
        let envelope_id = envelope["envelope_id"]
            .as_str()
            .unwrap_or_default()
            .to_owned();
        let expected = self
            .send_frame(envelope.to_string(), Some(envelope), within)
            .await?;
        let Some((delivery, reply)) = expected else {
            return Err(EmulatorError::AckTimeout {
                envelope_id,
                after: within,
            });
        };
        let answered = tokio::time::timeout(within, reply).await;
        match answered {
            Ok(Ok(ack)) => Ok(ack),
            Ok(Err(_)) | Err(_) => {
                self.update(|st| st.mark_timed_out(delivery));
                Err(EmulatorError::AckTimeout {
                    envelope_id,
                    after: within,
                })
            }
        }
    }

    /// Sends an `events_api` payload, redelivering with `retry_attempt`+1 and
    /// `retry_reason: "timeout"` while no ack comes (fresh `envelope_id` each time; bots must
    /// dedupe on `event_id`). Runs in its own task so a dropped caller doesn't stop retries.
    pub(crate) async fn deliver_event(
        self: &Arc<Self>,
        payload: Value,
    ) -> Result<Ack, EmulatorError> {
        let (done, result) = oneshot::channel();
        let shared = Arc::clone(self);
        self.spawn(async move {
            let mut outcome = Err(EmulatorError::ShutDown);
            for attempt in 0..=shared.config.max_event_retries {
                outcome = shared
                    .deliver(events_api_envelope(payload.clone(), attempt))
                    .await;
                if !matches!(outcome, Err(EmulatorError::AckTimeout { .. })) {
                    break;
                }
            }
            let _ = done.send(outcome);
        });
        result.await.unwrap_or(Err(EmulatorError::ShutDown))
    }

    /// Sends one text frame to one connected socket (round-robin), waiting up to `within`
    /// for a socket. When `envelope` has an `envelope_id`, returns the ack receiver.
    pub(crate) async fn send_frame(
        &self,
        frame: String,
        envelope: Option<Value>,
        within: Duration,
    ) -> Result<Option<(usize, oneshot::Receiver<Ack>)>, EmulatorError> {
        self.wait_for("a connected socket", within, |st| {
            (st.connected_sockets() > 0).then_some(())
        })
        .await
        .map_err(|_| EmulatorError::NoSocket(within))?;
        self.update(|st| {
            let connected: Vec<u64> = st
                .sockets
                .iter()
                .filter(|(_, s)| s.usable())
                .map(|(id, _)| *id)
                .collect();
            let Some(&socket) = connected.get(st.round_robin % connected.len().max(1)) else {
                return Err(EmulatorError::NoSocket(within));
            };
            st.round_robin = st.round_robin.wrapping_add(1);
            let envelope = envelope.unwrap_or(Value::Null);
            let receiver = envelope["envelope_id"]
                .as_str()
                .map(|envelope_id| st.expect_ack(envelope_id, socket, &envelope));
            st.log(
                LogKind::Envelope,
                format!("→ socket #{socket}: {}", describe(&envelope, &frame)),
            );
            if let Some(s) = st.sockets.get(&socket) {
                // A socket that just went away leaves the envelope un-acked, as on Slack.
                let _ = s.tx.send(Outbound::Text(frame));
            }
            Ok(receiver)
        })
    }

    /// Handles a text frame from a client: an ack for a pending envelope, or a stray frame.
    pub(crate) fn on_client_frame(&self, socket: u64, frame: &str) {
        let parsed: Option<Value> = serde_json::from_str(frame).ok();
        let envelope_id = parsed
            .as_ref()
            .and_then(|v| v["envelope_id"].as_str())
            .map(str::to_owned);
        self.update(|st| {
            let pending = envelope_id.as_deref().and_then(|id| st.take_pending(id));
            let (Some(envelope_id), Some(pending)) = (envelope_id, pending) else {
                st.log(
                    LogKind::Ack,
                    format!("← socket #{socket}: unexpected frame {}", short(frame)),
                );
                st.stray_frames.push(frame.to_owned());
                return;
            };
            let payload = parsed
                .as_ref()
                .and_then(|v| v.get("payload"))
                .filter(|p| !p.is_null())
                .cloned();
            let delivery = &mut st.deliveries[pending.delivery];
            let late = delivery.outcome == DeliveryOutcome::TimedOut;
            let latency = delivery.sent_at.elapsed();
            delivery.outcome = DeliveryOutcome::Acked {
                at: Instant::now(),
                latency,
                payload: payload.clone(),
                late,
            };
            let ack = Ack {
                envelope_id,
                envelope: delivery.envelope.clone(),
                payload: payload.clone(),
                latency,
                socket: delivery.socket,
                retry_attempt: delivery.retry_attempt,
            };
            let shown = payload
                .as_ref()
                .map(short_json)
                .unwrap_or_else(|| "(no payload)".into());
            let late_note = if late { " LATE, ignored" } else { "" };
            st.log(
                LogKind::Ack,
                format!(
                    "← socket #{socket}: ack in {}{late_note} {shown}",
                    ms(latency)
                ),
            );
            if !late {
                apply_ack_payload(self, st, &pending.context, payload.as_ref());
            }
            if let Some(reply) = pending.reply {
                let _ = reply.send(ack);
            }
        });
    }
}

impl State {
    /// Records a delivery and registers the ack it waits for.
    fn expect_ack(
        &mut self,
        envelope_id: &str,
        socket: u64,
        envelope: &Value,
    ) -> (usize, oneshot::Receiver<Ack>) {
        let (reply, receiver) = oneshot::channel();
        let kind = envelope["type"].as_str().unwrap_or("raw").to_owned();
        self.deliveries.push(Delivery {
            envelope_id: envelope_id.to_owned(),
            kind,
            retry_attempt: envelope["retry_attempt"]
                .as_u64()
                .map_or(0, |n| u32::try_from(n).unwrap_or(u32::MAX)),
            socket,
            sent_at: Instant::now(),
            envelope: envelope.clone(),
            outcome: DeliveryOutcome::Pending,
        });
        self.pending
            .entry(envelope_id.to_owned())
            .or_default()
            .push_back(Pending {
                delivery: self.deliveries.len() - 1,
                context: context_for(envelope),
                reply: Some(reply),
            });
        (self.deliveries.len() - 1, receiver)
    }

    /// The delivery an ack answers: the oldest one still pending, else the oldest timed out.
    fn take_pending(&mut self, envelope_id: &str) -> Option<Pending> {
        let queue = self.pending.get_mut(envelope_id)?;
        let deliveries = &self.deliveries;
        let index = queue
            .iter()
            .position(|p| deliveries[p.delivery].outcome == DeliveryOutcome::Pending)
            .unwrap_or(0);
        let pending = queue.remove(index);
        if queue.is_empty() {
            self.pending.remove(envelope_id);
        }
        pending
    }

    /// Marks a delivery whose ack did not come in time (a late ack is still recorded).
    pub(crate) fn mark_timed_out(&mut self, delivery: usize) {
        let Some(record) = self.deliveries.get_mut(delivery) else {
            return;
        };
        if record.outcome == DeliveryOutcome::Pending {
            record.outcome = DeliveryOutcome::TimedOut;
            let line = format!(
                "✗ no ack for {} envelope {}: timed out",
                record.kind, record.envelope_id
            );
            self.log(LogKind::Ack, line);
        }
    }
}

/// What an ack for this envelope must act on.
fn context_for(envelope: &Value) -> AckContext {
    let payload = &envelope["payload"];
    match (envelope["type"].as_str(), payload["type"].as_str()) {
        (Some("slash_commands"), _) => AckContext::Slash {
            user: payload["user_id"].as_str().unwrap_or_default().to_owned(),
            channel: payload["channel_id"]
                .as_str()
                .unwrap_or_default()
                .to_owned(),
        },
        (Some("interactive"), Some("view_submission")) => AckContext::ViewSubmission {
            view_id: payload["view"]["id"]
                .as_str()
                .unwrap_or_default()
                .to_owned(),
            user: payload["user"]["id"]
                .as_str()
                .unwrap_or_default()
                .to_owned(),
        },
        _ => AckContext::Plain,
    }
}

/// One line saying what an envelope is, for the log.
fn describe(envelope: &Value, frame: &str) -> String {
    let p = &envelope["payload"];
    let s = |v: &Value| v.as_str().unwrap_or_default().to_owned();
    match (envelope["type"].as_str(), p["type"].as_str()) {
        (Some("slash_commands"), _) => format!(
            "slash command {} {} by {} in {}",
            s(&p["command"]),
            s(&p["text"]),
            s(&p["user_id"]),
            s(&p["channel_id"])
        ),
        (Some("interactive"), Some("block_actions")) => format!(
            "block_actions {} by {}",
            s(&p["actions"][0]["action_id"]),
            s(&p["user"]["id"])
        ),
        (Some("interactive"), Some(kind)) => format!(
            "{kind} of {} ({}) by {}",
            s(&p["view"]["id"]),
            s(&p["view"]["callback_id"]),
            s(&p["user"]["id"])
        ),
        (Some("events_api"), _) => format!(
            "events_api {} (retry_attempt {})",
            s(&p["event"]["type"]),
            envelope["retry_attempt"]
        ),
        _ => format!("raw frame {}", short(frame)),
    }
}

fn short(frame: &str) -> String {
    serde_json::from_str::<Value>(frame)
        .map_or_else(|_| json!(frame).to_string(), |v| short_json(&v))
}
