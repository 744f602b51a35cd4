//! What the lifecycle does not model but people do: an owner away with a delegate, reminders
//! snoozed, the last nudge, a break-glass move waiting for its review. Folded from the log
//! like the rest of the request (`evolve`), so `replay` checks it too.

use chrono::{DateTime, NaiveDate, Utc};
use serde::{Deserialize, Serialize};

use super::calendar::Calendar;
use super::ids::UserId;
use super::state::State;

/// Slot suffix of a break-glass review reminder (`2026-12-04:review`).
pub const REVIEW_SUFFIX: &str = ":review";

#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize)]
pub struct Attention {
    /// Owners of this request who are away, each with who decides for them meanwhile.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub delegations: Vec<Delegation>,
    /// Reminders of the current gate wait until then (the pre-deadline warning does not).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub snoozed_until: Option<DateTime<Utc>>,
    /// The business day of the last nudge: one per business day.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub nudged_on: Option<NaiveDate>,
    /// The last break-glass move, reviewed or not.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub forced: Option<Forced>,
    /// Owners whose Slack account is deactivated: their decisions escalate to admins.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub deactivated: Vec<UserId>,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Delegation {
    pub from: UserId,
    pub to: UserId,
    pub until: NaiveDate,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Forced {
    /// The admin who forced it (`decide` lets only people force).
    pub by: Option<UserId>,
    pub from: State,
    pub to: State,
    pub reason: String,
    pub at: DateTime<Utc>,
    pub reviewed_by: Option<UserId>,
    /// When the next review reminder is due; `None` once reviewed.
    pub review_due_at: Option<DateTime<Utc>>,
}

impl Attention {
    /// Who decides for `owner` now: their delegate while they are away, else themselves.
    pub fn acting_for<'a>(&'a self, owner: &'a UserId) -> &'a UserId {
        self.delegation_of(owner).map_or(owner, |d| &d.to)
    }

    pub fn delegation_of(&self, owner: &UserId) -> Option<&Delegation> {
        self.delegations.iter().find(|d| &d.from == owner)
    }

    /// A forced move nobody has reviewed yet.
    pub fn review_pending(&self) -> Option<&Forced> {
        self.forced.as_ref().filter(|f| f.reviewed_by.is_none())
    }

    pub fn is_snoozed(&self, now: DateTime<Utc>) -> bool {
        self.snoozed_until.is_some_and(|u| u > now)
    }
}

/// The business day a moment counts for: itself on a business day, else the next one, so a
/// weekend nudge and a Monday nudge count as the same day.
pub fn business_day_of(cal: &Calendar, at: DateTime<Utc>) -> NaiveDate {
    let day = cal.local_date(at);
    if cal.is_business_day(day) {
        day
    } else {
        cal.next_business_day(day)
    }
}

/// When reminders resume after a snooze of `days` business days recorded at `now`: the
/// snoozed days are the next `days` business days after today, so work start on the one after.
pub fn snooze_end(cal: &Calendar, now: DateTime<Utc>, days: u32) -> DateTime<Utc> {
    let today = cal.local_date(now);
    cal.work_starts(cal.add_business_days(today, days.saturating_add(1)))
}

/// Work start on the business day before `deadline`: when its warning is due.
pub fn warning_day_start(cal: &Calendar, deadline: DateTime<Utc>) -> DateTime<Utc> {
    cal.work_starts(cal.previous_business_day(cal.local_date(deadline)))
}
