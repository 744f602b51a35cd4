//! Lifecycle timers and DM reminders through the real daemon, the emulator and Postgres.
//!
//! Time only moves when a test sets the daemon's `TestClock`; the test then calls the sweep
//! steps itself (the daemon's own cron jobs sweep too, with the same clock, which can only
//! find what the test's call already recorded) and waits on the emulator's record.

mod batch;
mod deadlines;
mod reminders;
mod replicas;

use std::sync::Arc;
use std::time::Duration;

use capacity_bot::app::Daemon;
use capacity_bot::clock::Clock;
use capacity_bot::domain::testkit::*;
use capacity_bot::domain::RecordedEvent;
use capacity_bot::domain::{Command, EventKind, Request, RequestId, RequestNumber};
use capacity_bot::outbox::Deliverer;
use capacity_bot::scheduler::{sweep_deadlines, sweep_reminders};
use capacity_bot::store::{self, Append, Target};
use chrono::{DateTime, Utc};
use tokio::time::Instant;
use uuid::Uuid;

use crate::support::harness::*;

pub fn utc(s: &str) -> DateTime<Utc> {
    s.parse().expect("a valid UTC time")
}

/// Records `event` by `user` at the clock's time with the daemon's policy, as a click on an
/// up-to-date message would.
pub async fn act(h: &Harness, id: RequestId, user: &str, command: Command) -> Request {
    let current = request(h, id).await;
    let kind = command.kind();
    let append = Append {
        target: Target::Existing(id),
        commands: vec![command],
        actor: actor(user),
        policy: h.daemon().state.settings.policy.clone(),
        now: h.clock.now(),
        expected_version: Some(current.version),
        idempotency_key: format!("test:{id}:v{}:{kind}:{user}", current.version),
        envelope_id: None,
        linear: None,
    };
    store::events::append(&h.pool, &append)
        .await
        .unwrap_or_else(|e| panic!("{user} {kind}: {e}"))
        .request
}

pub async fn request(h: &Harness, id: RequestId) -> Request {
    store::requests::by_id(&h.pool, id)
        .await
        .expect("db")
        .expect("the request exists")
}

/// The gates a request can wait in, and how the tests get it there.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Gate {
    /// At 60,000 USD a month: the AE and finance both owe a key.
    CommercialApproval,
    /// No technical owner yet: the infra group owns it.
    TechnicalReview,
    CustomerConfirmation,
    Provisioning,
    Ready,
}

/// A new request submitted by REQUESTER naming AE, walked into `gate` at the clock's time.
pub async fn request_in(h: &Harness, gate: Gate) -> RequestId {
    let cost = if gate == Gate::CommercialApproval {
        60_000
    } else {
        10_000
    };
    let id = RequestId(Uuid::now_v7());
    let append = Append {
        target: Target::New(id),
        commands: vec![
            Command::Submitted {
                number: RequestNumber(0),
                details: submission(cost),
            },
            Command::CommercialOwnerAssigned { owner: uid(AE) },
        ],
        actor: actor(REQUESTER),
        policy: h.daemon().state.settings.policy.clone(),
        now: h.clock.now(),
        expected_version: None,
        idempotency_key: format!("test:submit:{id}"),
        envelope_id: None,
        linear: None,
    };
    store::events::append(&h.pool, &append)
        .await
        .expect("submitted");
    let steps: &[(&str, Command)] = match gate {
        Gate::CommercialApproval => &[],
        Gate::TechnicalReview => &[(AE, Command::CommercialApproved)],
        Gate::CustomerConfirmation => &[
            (AE, Command::CommercialApproved),
            (INFRA, Command::TechnicalApproved),
        ],
        Gate::Provisioning => &[
            (AE, Command::CommercialApproved),
            (INFRA, Command::TechnicalApproved),
            (AE, Command::CustomerConfirmed),
        ],
        Gate::Ready => &[
            (AE, Command::CommercialApproved),
            (INFRA, Command::TechnicalApproved),
            (AE, Command::CustomerConfirmed),
            (INFRA, Command::ProvisioningCompleted),
        ],
    };
    for (user, event) in steps {
        act(h, id, user, event.clone()).await;
    }
    settle(h).await;
    id
}

/// Sets the clock to `at`, runs the deadline sweep then the reminder sweep, and waits until
/// the outbox has delivered what they recorded. Returns what this call recorded.
pub async fn sweep(h: &Harness, at: DateTime<Utc>) -> (usize, usize) {
    h.clock.set(at);
    let s = &h.daemon().sweeper;
    let timeouts = sweep_deadlines(s, at).await.expect("deadline sweep");
    let reminders = sweep_reminders(s, at).await.expect("reminder sweep");
    settle(h).await;
    (timeouts, reminders)
}

/// Waits until no outbox row is pending. The tests jump the clock by hours, and a lease is
/// measured on that clock, so moving on with a delivery in flight would let a second
/// worker take the same row.
pub async fn settle(h: &Harness) {
    settle_with(h, &[&h.daemon().deliverer]).await;
}

pub async fn settle_with(h: &Harness, deliverers: &[&Deliverer]) {
    let give_up = Instant::now() + WAIT;
    loop {
        for d in deliverers {
            d.drain().await.expect("the outbox drains");
        }
        let pending: i64 =
            sqlx::query_scalar("SELECT count(*) FROM capacity.outbox WHERE status = 'pending'")
                .fetch_one(&h.pool)
                .await
                .expect("count pending");
        if pending == 0 {
            return;
        }
        let left = give_up.saturating_duration_since(Instant::now());
        assert!(
            !left.is_zero(),
            "the outbox never emptied: {:?}",
            h.outbox().await
        );
        // Another worker holds the lease: wait for its call to reach the emulator.
        let mark = h.emu.log().len();
        let _ = h
            .emu
            .wait_for_log(|e| e.seq >= mark, left.min(Duration::from_millis(500)))
            .await;
    }
}

/// The `reminder_sent` events of a request, in order.
pub async fn reminders_of(h: &Harness, id: RequestId) -> Vec<RecordedEvent> {
    events_of(h, id, EventKind::ReminderSent).await
}

pub async fn events_of(h: &Harness, id: RequestId, kind: EventKind) -> Vec<RecordedEvent> {
    store::events::events_of(&h.pool, id)
        .await
        .expect("log")
        .into_iter()
        .filter(|e| e.event.kind() == kind)
        .collect()
}

pub fn slot(e: &RecordedEvent) -> String {
    match &e.event {
        capacity_bot::domain::Event::ReminderSent { slot, .. } => slot.clone(),
        other => panic!("not a reminder: {other:?}"),
    }
}

/// Texts of the DMs `user` received about request `CR-<number>`, oldest first.
pub fn dms_about(h: &Harness, user: &str, number: i64) -> Vec<String> {
    let tag = format!("CR-{number}");
    h.emu
        .dms(user)
        .into_iter()
        .map(|m| m.text)
        .filter(|t| t.contains(&format!("{tag}:")) || t.contains(&format!("{tag} ")))
        .collect()
}

/// Stops the daemon and starts a new one on the same emulator, database and clock, as a
/// redeploy would.
pub async fn restart(h: &mut Harness) {
    h.stop().await;
    h.daemon = Some(second_daemon(h).await);
    h.emu
        .wait_connected(2, WAIT)
        .await
        .expect("the new daemon connects");
}

/// Another daemon on the same emulator, database and clock (a second replica).
pub async fn second_daemon(h: &Harness) -> Daemon {
    let settings = settings_for(&h.emu, &settings_toml(h.emu.team_id()));
    Daemon::start(
        settings,
        h.pool.clone(),
        Arc::new(h.clock.clone()),
        fast_options(),
    )
    .await
    .expect("the daemon starts")
}
