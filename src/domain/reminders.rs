//! Reminders to whoever owns the next decision, as pure rules over the request.
//!
//! A *gate* is one wait for one decision: it opens when the state changes or a pending
//! cancellation starts or ends. `evolve` keeps two derived fields per gate
//! (`reminders_sent`, `reminder_due_at`), and [`plan`] turns them and the clock into "send
//! today's reminder now" or nothing. Because a slot is a local calendar day, a daemon that
//! was down over several slots sends one reminder (today's) when it comes back, not one per
//! missed day, and nothing at night, at weekends or on holidays.

use chrono::{DateTime, NaiveDate, Utc};

use super::attention::{warning_day_start, REVIEW_SUFFIX};
use super::calendar::Calendar;
use super::event::Event;
use super::owner::decision_owner;
use super::policy::Policy;
use super::refusal::Refusal;
use super::request::Request;

/// Slot suffix of the reminder sent on the business day before a deadline.
pub const DUE_SUFFIX: &str = ":due";
/// Slot suffix of the escalation post that follows the Nth reminder of a gate.
pub const ESCALATION_SUFFIX: &str = ":escalation";

/// The reminder the sweep should record now.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ReminderPlan {
    /// Today's local date, `YYYY-MM-DD`, with [`DUE_SUFFIX`] on the day before the deadline.
    /// Part of the idempotency key, so one slot is reminded once however many replicas run.
    pub slot: String,
    pub due_tomorrow: bool,
    /// This is reminder number `escalate_after_reminders` of the gate: post an escalation too.
    pub escalate: bool,
}

impl ReminderPlan {
    /// The slot of the escalation that goes with this reminder.
    pub fn escalation_slot(&self) -> String {
        let day = self.slot.strip_suffix(DUE_SUFFIX).unwrap_or(&self.slot);
        format!("{day}{ESCALATION_SUFFIX}")
    }
}

/// What reminder, if any, is due on `req` at `now`.
pub fn plan(req: &Request, policy: &Policy, now: DateTime<Utc>) -> Option<ReminderPlan> {
    let cal = &policy.calendar;
    let due_at = req.reminder_due_at?;
    if due_at > now || !cal.is_working_time(now) {
        return None;
    }
    decision_owner(req)?;
    // A passed deadline is the timeout's to handle: the gate is about to change, and its
    // owner gets the timeout DM instead of one more reminder.
    if req.deadline.is_some_and(|d| d.at <= now) {
        return None;
    }
    let today = cal.local_date(now);
    let due_tomorrow = req
        .deadline
        .is_some_and(|d| cal.previous_business_day(cal.local_date(d.at)) == today);
    // A snooze holds reminders back, never the warning before the deadline.
    if req.attention.is_snoozed(now) && !due_tomorrow {
        return None;
    }
    let mut slot = today.format("%Y-%m-%d").to_string();
    if due_tomorrow {
        slot.push_str(DUE_SUFFIX);
    }
    let n = policy.escalate_after_reminders;
    Some(ReminderPlan {
        slot,
        due_tomorrow,
        escalate: n > 0 && req.reminders_sent.saturating_add(1) == n,
    })
}

/// The slot of the break-glass review reminder due on `req` at `now`, if one is: each
/// business day, inside working hours, until an admin reviews the forced move.
pub fn plan_review(req: &Request, policy: &Policy, now: DateTime<Utc>) -> Option<String> {
    let cal = &policy.calendar;
    let due = req.attention.review_pending()?.review_due_at?;
    if due > now || !cal.is_working_time(now) {
        return None;
    }
    Some(format!(
        "{}{REVIEW_SUFFIX}",
        cal.local_date(now).format("%Y-%m-%d")
    ))
}

/// The local date a slot names (`2026-12-04`, `2026-12-04:due`, ...).
pub fn slot_date(slot: &str) -> Option<NaiveDate> {
    slot.get(..10)?.parse().ok()
}

/// Work start on the first business day after `day`.
fn next_work_start(cal: &Calendar, day: NaiveDate) -> DateTime<Utc> {
    cal.work_starts(cal.next_business_day(day))
}

/// Starts a gate's reminder count: the first reminder is due on the next business day.
pub(crate) fn open_gate(req: &mut Request, cal: &Calendar, now: DateTime<Utc>) {
    req.reminders_sent = 0;
    // A snooze is for one decision; the next gate's owner is reminded as usual.
    req.attention.snoozed_until = None;
    let opened = cal.local_date(now);
    req.reminder_due_at = decision_owner(req).map(|_| next_work_start(cal, opened));
}

/// Keeps the derived reminder fields after `event` took `before` to `next`.
pub(crate) fn track(
    before: &Request,
    next: &mut Request,
    event: &Event,
    cal: &Calendar,
    now: DateTime<Utc>,
) {
    let gate_changed = before.state != next.state
        || before.pending_cancellation.is_some() != next.pending_cancellation.is_some();
    if let Event::ReminderSent { slot, .. } = event {
        if slot.ends_with(REVIEW_SUFFIX) {
            // A review reminder belongs to the forced move, not to the gate's decision.
            if let Some(forced) = next.attention.forced.as_mut() {
                let day = slot_date(slot).unwrap_or_else(|| cal.local_date(now));
                forced.review_due_at = Some(next_work_start(cal, day));
            }
            return;
        }
    }
    if gate_changed {
        open_gate(next, cal, now);
    } else if let Event::ReminderSent {
        escalation: false,
        slot,
        ..
    } = event
    {
        next.reminders_sent = next.reminders_sent.saturating_add(1);
        let day = slot_date(slot).unwrap_or_else(|| cal.local_date(now));
        next.reminder_due_at = Some(next_work_start(cal, day));
    }
    // An owner can vanish without a gate change (committed capacity released after a
    // cancellation): then there is nobody left to remind.
    if decision_owner(next).is_none() {
        next.reminder_due_at = None;
    }
    hold_for_snooze(next, cal);
}

/// Moves the next reminder to the snooze's end, or to the pre-deadline warning if that
/// comes first.
fn hold_for_snooze(next: &mut Request, cal: &Calendar) {
    let (Some(until), Some(due)) = (next.attention.snoozed_until, next.reminder_due_at) else {
        return;
    };
    if due >= until {
        return;
    }
    next.reminder_due_at = Some(match next.deadline.map(|d| warning_day_start(cal, d.at)) {
        Some(warning) if warning <= due => due,
        Some(warning) => warning.min(until),
        None => until,
    });
}

/// A reminder is recorded only once its slot is due, so a sweep that read the request
/// before a click moved it on cannot remind the new gate early.
pub(crate) fn check_due(req: &Request, now: DateTime<Utc>) -> Result<(), Refusal> {
    match req.reminder_due_at {
        Some(due) if due <= now => Ok(()),
        Some(due) => Err(Refusal::NotDue {
            what: "next reminder",
            due,
        }),
        None => Err(Refusal::NoChange(
            "nobody owns a decision on this request, so nobody is reminded".into(),
        )),
    }
}

#[cfg(test)]
#[path = "reminders_tests.rs"]
mod tests;
