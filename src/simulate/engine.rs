//! One request's log replayed under another policy.
//!
//! Only what people (and the control plane) did is replayed: every command is derived from
//! its recorded event ([`human_command`]) and decided again with its recorded actor and time
//! under the new policy. What the scheduler recorded (timeouts, reminders, escalations) is
//! dropped and decided afresh: before each human step, and after the last one up to the
//! report's `now`, every timer the new policy makes due fires at its due time, through the
//! same `decide` and `evolve` as the daemon's sweeps, with `reminders::plan` choosing the
//! reminder slots and escalations.
//!
//! The daemon's sweeps run on a cron schedule, so the recorded timers happened up to one
//! sweep interval after they were due; the engine fires them exactly when due. Outcomes are
//! compared by what happened (which deadline expired, how many reminders), not by when the
//! sweep ran, so that lag shows as no difference.

use chrono::{DateTime, Utc};
use serde::Serialize;

use crate::domain::cost::cost_at_risk_cents;
use crate::domain::log::step;
use crate::domain::{
    decide, decision_owner, plan_reminder, Actor, Calendar, Command, Context, DeadlineKind, Event,
    EventKind, Occurrence, Party, Policy, RecordedEvent, Refusal, Request, RequestId, State,
};

/// The command that recorded `rec`. `None` for the timers the policy decides (timeouts,
/// reminders and escalations), which a simulation decides again under its own policy. What
/// the scheduler records for reasons outside the policy (an absence that ended, an owner
/// Slack deactivated) is replayed as recorded. The one place that knows how each event was
/// asked for: a new event kind is added here (the match has no catch-all, so the compiler
/// asks).
pub fn human_command(rec: &RecordedEvent) -> Option<Command> {
    Some(match &rec.event {
        Event::Submitted {
            number, details, ..
        } => Command::Submitted {
            number: *number,
            details: details.clone(),
        },
        Event::CommercialOwnerAssigned { owner } => Command::CommercialOwnerAssigned {
            owner: owner.clone(),
        },
        // The key, the deadlines and the finance requirement are what `decide` derives: the
        // new policy derives them again.
        Event::CommercialApproved { .. } => Command::CommercialApproved,
        Event::CommercialRejected { reason } => Command::CommercialRejected {
            reason: reason.clone(),
        },
        Event::TechnicalOwnerAssigned => Command::TechnicalOwnerAssigned,
        Event::TechnicalApproved { .. } => Command::TechnicalApproved,
        Event::TechnicalRejected { reason } => Command::TechnicalRejected {
            reason: reason.clone(),
        },
        Event::EarlyProcurementStarted => Command::EarlyProcurementStarted,
        Event::CustomerConfirmed => Command::CustomerConfirmed,
        Event::TtlExtended { days, .. } => Command::TtlExtended { days: *days },
        Event::ProvisioningCompleted { .. } => Command::ProvisioningCompleted,
        Event::ProvisioningFailed { reason } => Command::ProvisioningFailed {
            reason: reason.clone(),
        },
        Event::Activated { signal_id } => Command::Activated {
            signal_id: signal_id.clone(),
        },
        Event::CancelRequested { reason } => Command::CancelRequested {
            reason: reason.clone(),
        },
        Event::CancelApproved => Command::CancelApproved,
        Event::CancelDenied => Command::CancelDenied,
        Event::CapacityReleased => Command::CapacityReleased,
        Event::CommentAdded { text } => Command::CommentAdded { text: text.clone() },
        Event::OwnerReassigned { role, to } => Command::OwnerReassigned {
            role: *role,
            to: to.clone(),
        },
        Event::DecisionDelegated { to, until, .. } => Command::DecisionDelegated {
            to: to.clone(),
            until: *until,
        },
        Event::DecisionReturned { from, .. } => Command::DecisionReturned { from: from.clone() },
        Event::RemindersSnoozed { days, reason, .. } => Command::RemindersSnoozed {
            days: *days,
            reason: reason.clone(),
        },
        Event::OwnerNudged { recipients, .. } => Command::OwnerNudged {
            recipients: recipients.clone(),
        },
        Event::ForcedTransition { to, reason, .. } => Command::ForcedTransition {
            to: *to,
            reason: reason.clone(),
        },
        Event::ForcedTransitionReviewed => Command::ForcedTransitionReviewed,
        Event::OwnerDeactivated { user, admins } => Command::OwnerDeactivated {
            user: user.clone(),
            admins: admins.clone(),
        },
        Event::CustomerConfirmationTimeout
        | Event::ActivationTimeout
        | Event::ReminderSent { .. } => return None,
    })
}

/// A waiting state that ran out: which gate, and the deadline it ran out at.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
pub struct Expiry {
    pub gate: DeadlineKind,
    pub at: DateTime<Utc>,
}

/// What happened to one request, recorded or simulated: the figures a policy changes.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Outcome {
    pub state: State,
    pub expiries: Vec<Expiry>,
    /// Reminder DMs to decision owners (escalations not counted).
    pub reminders: u32,
    pub escalations: u32,
    /// Committed capacity's cost up to `now` (or until it ended); `None`: never committed.
    pub cost_at_risk_cents: Option<i64>,
}

/// A human step the new policy refuses, as recorded, with `decide`'s reason.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct RefusedStep {
    pub seq: i32,
    pub kind: EventKind,
    /// The recorded actor: a Slack user id or `control-plane`.
    pub actor: String,
    pub at: DateTime<Utc>,
    pub reason: String,
}

/// A request replayed under the new policy.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Simulated {
    /// `None` when the new policy refuses the submission itself.
    pub outcome: Option<Outcome>,
    pub refused: Vec<RefusedStep>,
}

/// Counts what an outcome is made of, event by event, the same way for both walks.
#[derive(Debug, Default)]
struct Tally {
    expiries: Vec<Expiry>,
    reminders: u32,
    escalations: u32,
}

impl Tally {
    fn see(&mut self, before: Option<&Request>, event: &Event, at: DateTime<Utc>) {
        let gate = match event {
            Event::CustomerConfirmationTimeout => DeadlineKind::CustomerConfirmation,
            Event::ActivationTimeout => DeadlineKind::Activation,
            Event::ReminderSent { escalation, .. } => {
                if *escalation {
                    self.escalations += 1;
                } else {
                    self.reminders += 1;
                }
                return;
            }
            _ => return,
        };
        // When the deadline fell, not when a sweep noticed it.
        let at = before.and_then(|r| r.deadline).map_or(at, |d| d.at);
        self.expiries.push(Expiry { gate, at });
    }

    fn finish(self, req: &Request, now: DateTime<Utc>) -> Outcome {
        Outcome {
            state: req.state,
            expiries: self.expiries,
            reminders: self.reminders,
            escalations: self.escalations,
            cost_at_risk_cents: cost_at_risk_cents(req, now),
        }
    }
}

/// The request the log describes and its outcome, from the recorded events up to `now`.
/// `None` for a log that does not start with a submission (replay reports those).
pub fn recorded(log: &[RecordedEvent], now: DateTime<Utc>) -> Option<(Request, Outcome)> {
    let mut current: Option<Request> = None;
    let mut tally = Tally::default();
    for rec in log.iter().take_while(|r| r.occurred_at <= now) {
        let next = step(current.as_ref(), &rec.occurrence()).ok()?;
        tally.see(current.as_ref(), &rec.event, rec.occurred_at);
        current = Some(next);
    }
    let req = current?;
    let outcome = tally.finish(&req, now);
    Some((req, outcome))
}

/// Replays the human steps of `log` under `policy`, with timers up to `now`.
pub fn simulate(log: &[RecordedEvent], policy: &Policy, now: DateTime<Utc>) -> Simulated {
    let mut sim = Sim {
        request_id: log
            .first()
            .map_or(RequestId(uuid::Uuid::nil()), |r| r.request_id),
        policy,
        req: None,
        tally: Tally::default(),
        refused: Vec::new(),
        reminders_looked_at: DateTime::<Utc>::MIN_UTC,
    };
    for rec in log.iter().take_while(|r| r.occurred_at <= now) {
        let Some(command) = human_command(rec) else {
            continue;
        };
        sim.run_timers(rec.occurred_at);
        if let Err(refusal) = sim.record(&command, &rec.actor, rec.occurred_at) {
            sim.refused.push(RefusedStep {
                seq: rec.seq,
                kind: command.kind(),
                actor: rec.actor.label(),
                at: rec.occurred_at,
                reason: refusal.to_string(),
            });
        }
    }
    sim.run_timers(now);
    let outcome = sim.req.as_ref().map(|req| {
        let tally = std::mem::take(&mut sim.tally);
        tally.finish(req, now)
    });
    Simulated {
        outcome,
        refused: sim.refused,
    }
}

/// Timers fired for one request between two human steps at most; more means a timer that
/// never stops firing, which is a bug, and the request's simulation stops there.
const MAX_TIMERS_PER_STEP: usize = 10_000;

struct Sim<'a> {
    request_id: RequestId,
    policy: &'a Policy,
    req: Option<Request>,
    tally: Tally,
    refused: Vec<RefusedStep>,
    /// Reminders are not looked for before this: a due reminder that `plan` declined (no
    /// working time, nobody to remind) is looked for again at the next working start.
    reminders_looked_at: DateTime<Utc>,
}

impl Sim<'_> {
    /// Decides `command` under the new policy and folds what it produces.
    fn record(
        &mut self,
        command: &Command,
        actor: &Actor,
        at: DateTime<Utc>,
    ) -> Result<(), Refusal> {
        let ctx = Context {
            request_id: self.request_id,
            actor,
            policy: self.policy,
            now: at,
            // Versions belong to the recorded history: timeouts the new policy adds move
            // them, so every human step is taken as made on an up-to-date message.
            expected_version: None,
        };
        for event in decide(self.req.as_ref(), command, &ctx)? {
            let o = Occurrence {
                request_id: self.request_id,
                event: &event,
                actor,
                calendar: &self.policy.calendar,
                at,
            };
            let next = step(self.req.as_ref(), &o).map_err(|_| Refusal::NoSuchRequest)?;
            self.tally.see(self.req.as_ref(), &event, at);
            self.req = Some(next);
        }
        Ok(())
    }

    /// Fires, in time order, every deadline and reminder due at or before `until`.
    fn run_timers(&mut self, until: DateTime<Utc>) {
        for _ in 0..MAX_TIMERS_PER_STEP {
            let Some(req) = &self.req else { return };
            let deadline = req.deadline.filter(|d| d.at <= until);
            let reminder = req
                .reminder_due_at
                .map(|r| r.max(self.reminders_looked_at))
                .filter(|r| *r <= until);
            match (deadline, reminder) {
                // A deadline first: a reminder is never sent for a gate whose time is up.
                (Some(d), r) if r.is_none_or(|r| d.at <= r) => {
                    let command = match d.kind {
                        DeadlineKind::CustomerConfirmation => Command::CustomerConfirmationTimeout,
                        DeadlineKind::Activation => Command::ActivationTimeout,
                    };
                    if self.record(&command, &Actor::Scheduler, d.at).is_err() {
                        return;
                    }
                }
                (_, Some(r)) => self.remind(r),
                _ => return,
            }
        }
    }

    fn remind(&mut self, at: DateTime<Utc>) {
        let Some(req) = &self.req else { return };
        let Some(plan) = plan_reminder(req, self.policy, at) else {
            self.reminders_looked_at = next_work_start_after(&self.policy.calendar, at);
            return;
        };
        // Roles are not resolved here: only named people are listed, which `decide` does
        // not look at; the count is what the report shows.
        let recipients: Vec<_> = decision_owner(req)
            .map(|o| o.parties)
            .unwrap_or_default()
            .into_iter()
            .filter_map(|p| match p {
                Party::User(u) => Some(u),
                _ => None,
            })
            .collect();
        let reminder = Command::ReminderSent {
            slot: plan.slot.clone(),
            recipients: recipients.clone(),
            escalation: false,
        };
        let sent = self.record(&reminder, &Actor::Scheduler, at).is_ok();
        if sent && plan.escalate {
            let escalation = Command::ReminderSent {
                slot: plan.escalation_slot(),
                recipients,
                escalation: true,
            };
            let _ = self.record(&escalation, &Actor::Scheduler, at);
        }
        if !sent {
            self.reminders_looked_at = next_work_start_after(&self.policy.calendar, at);
        }
    }
}

/// The first start of working hours strictly after `at`.
fn next_work_start_after(cal: &Calendar, at: DateTime<Utc>) -> DateTime<Utc> {
    let day = cal.local_date(at);
    if cal.is_business_day(day) && cal.work_starts(day) > at {
        cal.work_starts(day)
    } else {
        cal.work_starts(cal.next_business_day(day))
    }
}

#[cfg(test)]
#[path = "engine_tests.rs"]
mod tests;
