//! `simulate`: what another policy would have done with the recorded history.
//!
//! Pure: the shell reads the logs (`store::events::each_log`) and hands them in one request
//! at a time; [`engine`] replays each under the new policy, and [`Simulation`] compares the
//! result with the recorded outcome into a per-request difference and totals. The report is
//! printed by [`table`] or as JSON.

pub mod engine;
pub mod table;

use chrono::{DateTime, Utc};
use serde::Serialize;

use crate::domain::{Policy, RecordedEvent, RequestId, UserId};
pub use engine::{human_command, recorded, simulate, Expiry, Outcome, RefusedStep, Simulated};

/// A figure as recorded and as the new policy would have had it.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize)]
pub struct Pair<T> {
    pub recorded: T,
    pub simulated: T,
}

/// One request whose outcome would differ.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct RequestDiff {
    pub id: RequestId,
    /// `CR-12`.
    pub request: String,
    pub customer: String,
    pub requester: UserId,
    pub commercial_owner: Option<UserId>,
    pub submitted_at: DateTime<Utc>,
    pub recorded: Outcome,
    /// `None`: the new policy refuses the submission itself.
    pub simulated: Option<Outcome>,
    /// Recorded human steps the new policy refuses, in log order.
    pub refused: Vec<RefusedStep>,
}

impl RequestDiff {
    pub fn expired(&self) -> Pair<bool> {
        Pair {
            recorded: !self.recorded.expiries.is_empty(),
            simulated: self
                .simulated
                .as_ref()
                .is_some_and(|o| !o.expiries.is_empty()),
        }
    }
}

/// A request whose log could not be replayed (it does not start with a submission).
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Unreadable {
    pub id: RequestId,
    pub events: usize,
}

#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
pub struct Totals {
    /// Requests replayed.
    pub requests: usize,
    /// Requests whose outcome would differ, or with a human step the new policy refuses.
    pub differing: usize,
    /// Requests that expired at least once.
    pub expired: Pair<usize>,
    /// Expired under the new policy but not as recorded, and the other way round.
    pub newly_expired: usize,
    pub no_longer_expired: usize,
    pub expiries: Pair<usize>,
    pub reminders: Pair<u64>,
    pub escalations: Pair<u64>,
    pub cost_at_risk_cents: Pair<i64>,
    /// Recorded human steps the new policy refuses.
    pub refused_steps: usize,
}

/// A policy setting the file changes, against the policy recorded last.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct PolicyChange {
    pub setting: &'static str,
    pub recorded: String,
    pub simulated: String,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Report {
    pub now: DateTime<Utc>,
    /// Only requests submitted at or after this were replayed.
    pub since: Option<DateTime<Utc>>,
    pub policy: Policy,
    /// What the file changes against the policy of the latest recorded event.
    pub policy_changes: Vec<PolicyChange>,
    pub totals: Totals,
    /// Requests that would differ, oldest submission first.
    pub requests: Vec<RequestDiff>,
    pub unreadable: Vec<Unreadable>,
}

/// Collects the comparison request by request, so a year of logs never sits in memory.
#[derive(Debug)]
pub struct Simulation {
    policy: Policy,
    now: DateTime<Utc>,
    since: Option<DateTime<Utc>>,
    totals: Totals,
    requests: Vec<RequestDiff>,
    unreadable: Vec<Unreadable>,
    /// The policy of the latest recorded event seen, and when it was recorded.
    latest_policy: Option<(DateTime<Utc>, Policy)>,
}

impl Simulation {
    pub fn new(policy: Policy, now: DateTime<Utc>, since: Option<DateTime<Utc>>) -> Self {
        Simulation {
            policy,
            now,
            since,
            totals: Totals::default(),
            requests: Vec::new(),
            unreadable: Vec::new(),
            latest_policy: None,
        }
    }

    /// Replays one request's whole log (in sequence order) and compares.
    pub fn add(&mut self, log: &[RecordedEvent]) {
        if let Some(last) = log.iter().rev().find(|r| r.occurred_at <= self.now) {
            if self
                .latest_policy
                .as_ref()
                .is_none_or(|(at, _)| last.occurred_at > *at)
            {
                self.latest_policy = Some((last.occurred_at, last.policy.clone()));
            }
        }
        let Some((req, was)) = recorded(log, self.now) else {
            if let Some(first) = log.first() {
                self.unreadable.push(Unreadable {
                    id: first.request_id,
                    events: log.len(),
                });
            }
            return;
        };
        let sim = simulate(log, &self.policy, self.now);
        let diff = RequestDiff {
            id: req.id,
            request: req.number.to_string(),
            customer: req.details.customer.clone(),
            requester: req.requester.clone(),
            commercial_owner: req.commercial_owner.clone(),
            submitted_at: req.created_at,
            recorded: was,
            simulated: sim.outcome,
            refused: sim.refused,
        };
        self.count(&diff);
        if diff.simulated.as_ref() != Some(&diff.recorded) || !diff.refused.is_empty() {
            self.totals.differing += 1;
            self.requests.push(diff);
        }
    }

    fn count(&mut self, d: &RequestDiff) {
        let t = &mut self.totals;
        let none = Outcome {
            state: d.recorded.state,
            expiries: Vec::new(),
            reminders: 0,
            escalations: 0,
            cost_at_risk_cents: None,
        };
        let sim = d.simulated.as_ref().unwrap_or(&none);
        t.requests += 1;
        let expired = d.expired();
        t.expired.recorded += usize::from(expired.recorded);
        t.expired.simulated += usize::from(expired.simulated);
        t.newly_expired += usize::from(expired.simulated && !expired.recorded);
        t.no_longer_expired += usize::from(expired.recorded && !expired.simulated);
        t.expiries.recorded += d.recorded.expiries.len();
        t.expiries.simulated += sim.expiries.len();
        t.reminders.recorded += u64::from(d.recorded.reminders);
        t.reminders.simulated += u64::from(sim.reminders);
        t.escalations.recorded += u64::from(d.recorded.escalations);
        t.escalations.simulated += u64::from(sim.escalations);
        t.cost_at_risk_cents.recorded += d.recorded.cost_at_risk_cents.unwrap_or(0);
        t.cost_at_risk_cents.simulated += sim.cost_at_risk_cents.unwrap_or(0);
        t.refused_steps += d.refused.len();
    }

    pub fn finish(mut self) -> Report {
        self.requests
            .sort_by(|a, b| (a.submitted_at, &a.request).cmp(&(b.submitted_at, &b.request)));
        let policy_changes = self
            .latest_policy
            .as_ref()
            .map(|(_, recorded)| policy_changes(recorded, &self.policy))
            .unwrap_or_default();
        Report {
            now: self.now,
            since: self.since,
            policy: self.policy,
            policy_changes,
            totals: self.totals,
            requests: self.requests,
            unreadable: self.unreadable,
        }
    }
}

/// The settings (by their config key) on which `new` differs from `old`.
pub fn policy_changes(old: &Policy, new: &Policy) -> Vec<PolicyChange> {
    /// One policy setting as `check-config` names it, and how it reads.
    type Setting = (&'static str, fn(&Policy) -> String);
    const SETTINGS: [Setting; 8] = [
        ("policy.finance_threshold_usd_month", |p| {
            p.finance_threshold_usd_month.to_string()
        }),
        ("policy.customer_confirmation_ttl_business_days", |p| {
            p.customer_confirmation_ttl_business_days.to_string()
        }),
        ("policy.activation_ttl_business_days", |p| {
            p.activation_ttl_business_days.to_string()
        }),
        ("policy.allow_provisioning_before_confirmation", |p| {
            p.allow_provisioning_before_confirmation.to_string()
        }),
        ("policy.escalate_after_reminders", |p| {
            p.escalate_after_reminders.to_string()
        }),
        ("calendar.time_zone", |p| {
            p.calendar.time_zone.name().to_string()
        }),
        ("calendar.working_hours", |p| {
            format!(
                "{}-{}",
                p.calendar.work_start.format("%H:%M"),
                p.calendar.work_end.format("%H:%M")
            )
        }),
        ("calendar.holidays", |p| {
            let days: Vec<String> = p.calendar.holidays.iter().map(|d| d.to_string()).collect();
            format!("[{}]", days.join(", "))
        }),
    ];
    SETTINGS
        .iter()
        .map(|(setting, show)| (*setting, show(old), show(new)))
        .filter(|(_, a, b)| a != b)
        .map(|(setting, recorded, simulated)| PolicyChange {
            setting,
            recorded,
            simulated,
        })
        .collect()
}
