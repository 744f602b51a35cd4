//! Prometheus metrics, in a registry owned by the daemon (not a global), so several daemons
//! in one test process keep separate counts.

use prometheus_client::encoding::text::encode;
use prometheus_client::encoding::EncodeLabelSet;
use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::family::Family;
use prometheus_client::metrics::gauge::Gauge;
use prometheus_client::metrics::histogram::{exponential_buckets, Histogram};
use prometheus_client::registry::Registry;
use std::sync::atomic::AtomicU64;

use crate::domain::{Effect, EventKind};

/// A delivery attempt's outcomes, as the `outcome` label says them.
pub const DELIVERY_OUTCOMES: [&str; 3] = ["delivered", "retry", "failed"];

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct KindLabel {
    pub kind: String,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct DeliveryLabel {
    pub effect: String,
    pub outcome: String,
}

#[derive(Debug)]
pub struct Metrics {
    registry: Registry,
    pub events: Family<KindLabel, Counter>,
    /// Envelope received → ack queued, seconds.
    pub ack_latency: Histogram,
    pub deliveries: Family<DeliveryLabel, Counter>,
    pub reminders: Counter,
    /// Due reminders a sweep skipped because their owners resolved to nobody.
    pub reminders_unresolved: Counter,
    /// How late a timeout fired after its deadline, seconds.
    pub timer_lag: Histogram,
    pub outbox_depth: Gauge,
    pub outbox_oldest_seconds: Gauge<f64, AtomicU64>,
    pub socket_connected: Gauge,
    pub socket_reconnects: Gauge,
    pub envelopes: Gauge,
    /// `capacity_outbox` notifications read (each a wake-up hint for the outbox worker).
    pub outbox_notifications: Counter,
}

impl Metrics {
    pub fn new() -> Metrics {
        let mut registry = Registry::with_prefix("capacity_bot");
        let events = Family::<KindLabel, Counter>::default();
        registry.register(
            "events_recorded",
            "Events appended to the log, by kind",
            events.clone(),
        );
        // 0.25 ms .. ~8 s: click acks live in the low milliseconds, timeouts near Slack's 3 s.
        let ack_latency = Histogram::new(exponential_buckets(0.000_25, 2.0, 16));
        registry.register(
            "ack_latency_seconds",
            "Socket Mode envelope received to ack sent",
            ack_latency.clone(),
        );
        let deliveries = Family::<DeliveryLabel, Counter>::default();
        registry.register(
            "outbox_deliveries",
            "Outbox delivery attempts by effect and outcome",
            deliveries.clone(),
        );
        let reminders = Counter::default();
        registry.register(
            "reminders_sent",
            "Reminder DMs and escalations recorded",
            reminders.clone(),
        );
        let reminders_unresolved = Counter::default();
        registry.register(
            "reminders_unresolved",
            "Due reminders skipped because their decision owners resolved to nobody",
            reminders_unresolved.clone(),
        );
        let timer_lag = Histogram::new(exponential_buckets(0.5, 2.0, 14));
        registry.register(
            "timer_lag_seconds",
            "How long after its deadline a timeout was recorded",
            timer_lag.clone(),
        );
        let outbox_depth = Gauge::default();
        registry.register(
            "outbox_pending",
            "Outbox rows waiting for delivery",
            outbox_depth.clone(),
        );
        let outbox_oldest_seconds = Gauge::<f64, AtomicU64>::default();
        registry.register(
            "outbox_oldest_pending_seconds",
            "Age of the oldest undelivered outbox row",
            outbox_oldest_seconds.clone(),
        );
        let socket_connected = Gauge::default();
        registry.register(
            "socket_connected",
            "Socket Mode connections that received hello",
            socket_connected.clone(),
        );
        let socket_reconnects = Gauge::default();
        registry.register(
            "socket_reconnects",
            "Socket Mode reconnects since start",
            socket_reconnects.clone(),
        );
        let envelopes = Gauge::default();
        registry.register(
            "envelopes_received",
            "Socket Mode envelopes received since start",
            envelopes.clone(),
        );
        let outbox_notifications = Counter::default();
        registry.register(
            "outbox_notifications",
            "capacity_outbox notifications read by the outbox worker",
            outbox_notifications.clone(),
        );
        let metrics = Metrics {
            registry,
            outbox_notifications,
            events,
            ack_latency,
            deliveries,
            reminders,
            reminders_unresolved,
            timer_lag,
            outbox_depth,
            outbox_oldest_seconds,
            socket_connected,
            socket_reconnects,
            envelopes,
        };
        // Every known series is there at zero from start-up: a dashboard's rate() and an
        // alert on "no deliveries failed" need the series before its first sample.
        for kind in EventKind::ALL {
            let _ = metrics.events.get_or_create(&KindLabel {
                kind: kind.as_str().to_string(),
            });
        }
        for effect in Effect::NAMES {
            for outcome in DELIVERY_OUTCOMES {
                let _ = metrics.deliveries.get_or_create(&DeliveryLabel {
                    effect: effect.to_string(),
                    outcome: outcome.to_string(),
                });
            }
        }
        metrics
    }

    pub fn event(&self, kind: &str) {
        self.events
            .get_or_create(&KindLabel {
                kind: kind.to_string(),
            })
            .inc();
    }

    pub fn delivery(&self, effect: &str, outcome: &str) {
        self.deliveries
            .get_or_create(&DeliveryLabel {
                effect: effect.to_string(),
                outcome: outcome.to_string(),
            })
            .inc();
    }

    /// The Prometheus text exposition.
    pub fn render(&self) -> String {
        let mut out = String::new();
        // Writing into a String cannot fail.
        let _ = encode(&mut out, &self.registry);
        out
    }
}

impl Default for Metrics {
    fn default() -> Self {
        Metrics::new()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_labelled_series_is_there_at_zero_from_the_start() {
        let text = Metrics::new().render();
        for kind in EventKind::ALL {
            let line = format!(
                "capacity_bot_events_recorded_total{{kind=\"{}\"}} 0",
                kind.as_str()
            );
            assert!(text.contains(&line), "missing {line}");
        }
        for effect in Effect::NAMES {
            for outcome in DELIVERY_OUTCOMES {
                let line = format!(
                    "capacity_bot_outbox_deliveries_total{{effect=\"{effect}\",outcome=\"{outcome}\"}} 0"
                );
                assert!(text.contains(&line), "missing {line}");
            }
        }
    }

    #[test]
    fn the_effect_names_are_the_names_effects_report() {
        let all = Effect::one_of_each();
        let names: Vec<&str> = all.iter().map(Effect::name).collect();
        assert_eq!(names, Effect::NAMES);
    }
}
