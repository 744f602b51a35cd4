//! Slack's rate limits as a client meets them: a `Retry-After` pauses the method (and, for
//! `chat.postMessage`, the channel) it came from, not just the call that got it, and calls
//! of one method and channel take turns through a gate, so a busy client gets at most one
//! 429 per window instead of one per call in flight. Also whether Slack is failing (an
//! outage), so work held back by it can resume as soon as Slack answers.
//!
//! Pauses are kept in the daemon's clock (tests move it by hand) and in memory: a replica
//! learns of a limit from its own first 429.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};

use chrono::{DateTime, Utc};

/// What Slack limits a call by: the method, and for `chat.postMessage` the channel.
pub type Key = String;

#[derive(Debug, Default)]
pub struct Pace {
    /// key → until when Slack asked us to wait.
    paused: Mutex<HashMap<Key, DateTime<Utc>>>,
    /// key → the gate calls of that key take turns through.
    gates: Mutex<HashMap<Key, Arc<tokio::sync::Mutex<()>>>>,
    /// Since when Slack has been failing (not a rate limit), until it answers again.
    outage: Mutex<Option<DateTime<Utc>>>,
}

/// An outage shorter than this is left to the rows' own backoff (seconds): bringing rows
/// forward is for the backlog of a real outage, whose backoffs have grown to minutes.
pub const OUTAGE_MIN: chrono::Duration = chrono::Duration::seconds(60);

impl Pace {
    /// When `key` may be called again, if not now.
    pub fn paused_until(&self, key: &str, now: DateTime<Utc>) -> Option<DateTime<Utc>> {
        let paused = self.paused.lock().unwrap_or_else(|p| p.into_inner());
        paused.get(key).copied().filter(|until| *until > now)
    }

    pub fn pause(&self, key: &str, until: DateTime<Utc>) {
        let mut paused = self.paused.lock().unwrap_or_else(|p| p.into_inner());
        let slot = paused.entry(key.to_owned()).or_insert(until);
        *slot = (*slot).max(until);
    }

    pub fn gate(&self, key: &str) -> Arc<tokio::sync::Mutex<()>> {
        let mut gates = self.gates.lock().unwrap_or_else(|p| p.into_inner());
        Arc::clone(gates.entry(key.to_owned()).or_default())
    }

    /// Records that Slack failed at `now`.
    pub fn slack_failed(&self, now: DateTime<Utc>) {
        let mut outage = self.outage.lock().unwrap_or_else(|p| p.into_inner());
        outage.get_or_insert(now);
    }

    /// Records that Slack answered at `now`; true if that ends an outage of `OUTAGE_MIN` or
    /// more.
    pub fn slack_answered(&self, now: DateTime<Utc>) -> bool {
        let mut outage = self.outage.lock().unwrap_or_else(|p| p.into_inner());
        outage.take().is_some_and(|since| now - since >= OUTAGE_MIN)
    }

    /// Whether Slack is failing now (its last answer was a failure).
    pub fn failing(&self) -> bool {
        self.outage
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .is_some()
    }

    /// Whether any method or channel is waiting out a `Retry-After` at `now`.
    pub fn any_paused(&self, now: DateTime<Utc>) -> bool {
        let paused = self.paused.lock().unwrap_or_else(|p| p.into_inner());
        paused.values().any(|until| *until > now)
    }

    /// Whether Slack has been failing for `OUTAGE_MIN` or more.
    pub fn long_outage(&self, now: DateTime<Utc>) -> bool {
        let outage = self.outage.lock().unwrap_or_else(|p| p.into_inner());
        outage.is_some_and(|since| now - since >= OUTAGE_MIN)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use chrono::TimeZone;

    #[test]
    fn a_pause_holds_its_key_until_it_ends_and_only_grows() {
        let pace = Pace::default();
        let t = Utc.with_ymd_and_hms(2026, 12, 7, 9, 0, 0).unwrap();
        let key = "chat.postMessage C1";
        pace.pause(key, t + chrono::Duration::seconds(30));
        pace.pause(key, t + chrono::Duration::seconds(5));
        assert_eq!(
            pace.paused_until(key, t),
            Some(t + chrono::Duration::seconds(30))
        );
        assert_eq!(pace.paused_until("chat.update", t), None, "per key");
        assert_eq!(
            pace.paused_until(key, t + chrono::Duration::seconds(30)),
            None
        );
    }

    #[test]
    fn only_an_outage_of_a_minute_or_more_counts_as_long() {
        let pace = Pace::default();
        let t = Utc.with_ymd_and_hms(2026, 12, 7, 9, 0, 0).unwrap();
        pace.slack_failed(t);
        pace.slack_failed(t + chrono::Duration::seconds(30));
        assert!(!pace.long_outage(t + chrono::Duration::seconds(59)));
        assert!(pace.long_outage(t + OUTAGE_MIN));
        assert!(pace.slack_answered(t + OUTAGE_MIN));
        assert!(!pace.long_outage(t + OUTAGE_MIN), "over once Slack answers");
        pace.slack_failed(t);
        assert!(!pace.slack_answered(t + chrono::Duration::seconds(2)));
    }
}
