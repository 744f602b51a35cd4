//! An append's Slack rows, handed in memory to the outbox worker of the process that recorded
//! them.
//!
//! Through Postgres alone, an approval's two Slack rows reach the worker by a `NOTIFY` (a
//! wake-up of the listener and then of the worker), a claim that leases them (a round trip)
//! and the request read back with them (decoded from JSON). The append holds all of that
//! already: the request after its event, the event, the links it read. So when this process
//! runs a worker, `AppState::record` (the daemon's context) asks the append to lease the rows
//! to it as they are written ([`store::events::append_leasing`]), and they are left here.
//!
//! Nothing is less durable for it. The rows are in the outbox, leased, before anyone is told
//! the click was recorded; if this process dies before delivering them, the lease runs out
//! and any replica's claim takes them, as it takes a dead worker's claim. A row is leased
//! only while its lane has nothing pending ahead of it, so the lane's order holds.

use std::sync::Mutex;

use chrono::{DateTime, Utc};
use tokio::sync::Notify;

use crate::slack::pace::Pace;
use crate::store::{self, Handed, Lease};

/// Handovers waiting beyond this many are not added to: the worker is behind (Slack slow),
/// and new rows wait for a claim, which takes them as the worker gets to them, instead of
/// growing memory.
const MOST_WAITING: usize = 256;

/// The hand-over point between the appends of this process and its one delivery worker.
#[derive(Debug, Default)]
pub struct Handoff {
    inner: Mutex<Inner>,
    ready: Notify,
}

#[derive(Debug, Default)]
struct Inner {
    /// The worker that takes handovers, while its loop runs.
    taker: Option<String>,
    waiting: Vec<Handed>,
}

impl Handoff {
    fn inner(&self) -> std::sync::MutexGuard<'_, Inner> {
        self.inner.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// The lease an append may give its rows now: none while no worker loop runs here, while
    /// the worker is behind, or while Slack is failing or has asked us to wait (the claim's
    /// path holds rows back for those, in bulk).
    pub fn lease(&self, now: DateTime<Utc>, pace: &Pace) -> Option<Lease> {
        if pace.failing() || pace.any_paused(now) {
            return None;
        }
        let inner = self.inner();
        let worker = inner.taker.as_ref()?;
        (inner.waiting.len() < MOST_WAITING).then(|| Lease {
            worker: worker.clone(),
            until: now + store::outbox::LEASE,
        })
    }

    /// `worker` takes handovers from now on.
    pub fn start_taking(&self, worker: &str) {
        self.inner().taker = Some(worker.to_string());
    }

    /// `worker` takes no more; returns what was handed to it and not taken.
    pub fn stop_taking(&self, worker: &str) -> Vec<Handed> {
        let mut inner = self.inner();
        if inner.taker.as_deref() != Some(worker) {
            return Vec::new();
        }
        inner.taker = None;
        std::mem::take(&mut inner.waiting)
    }

    /// Hands `handed` to the worker it was leased to, and wakes it. (Waking it only once the
    /// click's ack was written, so its delivery would not share the cores with the ack, was
    /// measured and changed neither the ack nor the CPU: see BENCHMARKS.md.)
    pub fn hand(&self, handed: Handed) {
        let mut inner = self.inner();
        if inner.taker.as_deref() != Some(handed.lease.worker.as_str()) {
            // The worker stopped meanwhile: the rows wait out their lease for a claim.
            return;
        }
        inner.waiting.push(handed);
        drop(inner);
        self.ready.notify_one();
    }

    /// Everything handed to `worker` so far (nothing for any other worker).
    pub fn take(&self, worker: &str) -> Vec<Handed> {
        let mut inner = self.inner();
        match inner.taker.as_deref() == Some(worker) {
            true => std::mem::take(&mut inner.waiting),
            false => Vec::new(),
        }
    }

    /// Whether anything waits for `worker`.
    pub fn has_waiting(&self, worker: &str) -> bool {
        let inner = self.inner();
        inner.taker.as_deref() == Some(worker) && !inner.waiting.is_empty()
    }

    /// Resolves when something was handed over since the last time it resolved.
    pub async fn ready(&self) {
        self.ready.notified().await
    }
}

#[cfg(test)]
mod tests {
    use chrono::TimeZone;
    use futures_util::FutureExt;

    use super::*;
    use crate::domain::testkit::Play;
    use crate::domain::Links;

    fn t() -> DateTime<Utc> {
        Utc.with_ymd_and_hms(2026, 12, 7, 9, 0, 0).unwrap()
    }

    /// A submitted request's last event, handed to `worker` (with no rows: the worker's
    /// side is the integration tests').
    fn handed(worker: &str) -> Handed {
        let play = Play::submitted(10_000);
        let request = play.req().clone();
        Handed {
            rows: Vec::new(),
            event: play.last_recorded(),
            request,
            links: Links::default(),
            lease: Lease {
                worker: worker.into(),
                until: t() + store::outbox::LEASE,
            },
        }
    }

    #[test]
    fn the_worker_is_woken_when_something_waits_for_it() {
        let handoff = Handoff::default();
        assert!(handoff.ready().now_or_never().is_none(), "nothing waits");
        handoff.start_taking("outbox-1");
        handoff.hand(handed("outbox-1"));
        assert!(handoff.ready().now_or_never().is_some(), "woken");
        assert!(handoff.ready().now_or_never().is_none(), "once");
        assert_eq!(handoff.take("outbox-2").len(), 0, "not another worker's");
        assert_eq!(handoff.take("outbox-1").len(), 1);
        assert!(
            handoff.ready().now_or_never().is_none(),
            "nothing waits once taken"
        );
    }

    #[test]
    fn a_worker_behind_or_stopped_is_handed_nothing_more() {
        let (handoff, pace) = (Handoff::default(), Pace::default());
        handoff.start_taking("outbox-1");
        for _ in 0..MOST_WAITING {
            assert!(handoff.lease(t(), &pace).is_some());
            handoff.hand(handed("outbox-1"));
        }
        assert_eq!(
            handoff.lease(t(), &pace),
            None,
            "{MOST_WAITING} wait already"
        );
        assert_eq!(handoff.stop_taking("outbox-1").len(), MOST_WAITING);
        handoff.hand(handed("outbox-1"));
        assert!(
            !handoff.has_waiting("outbox-1"),
            "its rows wait out their lease"
        );
    }

    #[test]
    fn appends_lease_to_the_worker_taking_handovers_and_only_while_it_does() {
        let (handoff, pace) = (Handoff::default(), Pace::default());
        assert_eq!(handoff.lease(t(), &pace), None, "no worker loop runs");
        handoff.start_taking("outbox-1");
        assert_eq!(
            handoff.lease(t(), &pace),
            Some(Lease {
                worker: "outbox-1".into(),
                until: t() + store::outbox::LEASE,
            })
        );
        assert!(handoff.stop_taking("outbox-2").is_empty());
        assert!(
            handoff.lease(t(), &pace).is_some(),
            "another worker cannot stop it"
        );
        handoff.stop_taking("outbox-1");
        assert_eq!(handoff.lease(t(), &pace), None);
        assert!(handoff.take("outbox-1").is_empty());
    }

    #[test]
    fn nothing_is_leased_while_slack_fails_or_asks_to_wait() {
        let (handoff, pace) = (Handoff::default(), Pace::default());
        handoff.start_taking("outbox-1");
        pace.slack_failed(t());
        assert_eq!(handoff.lease(t(), &pace), None, "failing");
        pace.slack_answered(t());
        assert!(handoff.lease(t(), &pace).is_some());
        pace.pause("chat.update", t() + chrono::Duration::seconds(30));
        assert_eq!(handoff.lease(t(), &pace), None, "a Retry-After running");
        let after = t() + chrono::Duration::seconds(31);
        assert!(handoff.lease(after, &pace).is_some(), "once it has run out");
    }
}
