//! The weekly digest's rules: when its slot falls (a weekday and a local time in the
//! calendar's zone) and which requests count as stuck. Pure, like the rest of the domain.
//!
//! A slot is an instant: the week's `weekday` at `time` local time, converted to UTC with
//! that week's offset. Every replica computes the same instant from the same settings, so
//! the instant is the key that makes each week's digest happen once.

use chrono::{DateTime, Datelike, Duration, NaiveTime, Utc, Weekday};

use super::calendar::Calendar;
use super::event::EventKind;
use super::policy::Policy;
use super::request::Request;

/// What the digest lists as last week's decisions: people deciding on a request (not
/// assignments, reminders, comments or timers).
pub const DECISION_KINDS: [EventKind; 13] = [
    EventKind::CommercialApproved,
    EventKind::CommercialRejected,
    EventKind::TechnicalApproved,
    EventKind::TechnicalRejected,
    EventKind::EarlyProcurementStarted,
    EventKind::CustomerConfirmed,
    EventKind::TtlExtended,
    EventKind::ProvisioningCompleted,
    EventKind::ProvisioningFailed,
    EventKind::Activated,
    EventKind::CancelApproved,
    EventKind::CancelDenied,
    EventKind::CapacityReleased,
];

/// When the digest is due each week, in the calendar's zone.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct WeeklySlot {
    pub weekday: Weekday,
    pub time: NaiveTime,
}

impl WeeklySlot {
    /// The slot of the week whose `weekday` falls `weeks_back` weeks before the latest one.
    fn on_week_of(
        &self,
        calendar: &Calendar,
        now: DateTime<Utc>,
        weeks_back: i64,
    ) -> DateTime<Utc> {
        let today = calendar.local_date(now);
        let back =
            (7 + today.weekday().num_days_from_monday() - self.weekday.num_days_from_monday()) % 7;
        let day = today - Duration::days(i64::from(back) + 7 * weeks_back);
        calendar.at(day, self.time)
    }

    /// The most recent slot at or before `now`. On a day whose local `time` does not exist
    /// (a spring-forward gap) the slot is the first instant after the gap, as for deadlines.
    pub fn latest(&self, calendar: &Calendar, now: DateTime<Utc>) -> DateTime<Utc> {
        let this_week = self.on_week_of(calendar, now, 0);
        if this_week <= now {
            this_week
        } else {
            self.on_week_of(calendar, now, 1)
        }
    }

    /// The slot one week before `slot` (same local weekday and time, whatever the offset).
    pub fn previous(&self, calendar: &Calendar, slot: DateTime<Utc>) -> DateTime<Utc> {
        self.latest(calendar, slot - Duration::seconds(1))
    }
}

/// An open request counts as stuck once it has sat in its state past the end of working
/// hours on the `stuck_after_business_days`th business day after it entered it.
pub fn is_stuck(req: &Request, policy: &Policy, now: DateTime<Utc>) -> bool {
    req.state.is_open() && now >= stuck_since(req, policy)
}

/// When an open request became (or will become) stuck.
pub fn stuck_since(req: &Request, policy: &Policy) -> DateTime<Utc> {
    policy
        .calendar
        .deadline(req.state_entered_at, policy.stuck_after_business_days)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn utc(s: &str) -> DateTime<Utc> {
        s.parse().unwrap()
    }

    fn monday_930() -> WeeklySlot {
        WeeklySlot {
            weekday: Weekday::Mon,
            time: NaiveTime::from_hms_opt(9, 30, 0).unwrap(),
        }
    }

    #[test]
    fn the_latest_slot_is_this_weeks_once_it_has_passed() {
        let cal = Calendar::default(); // America/New_York
        let slot = monday_930();
        // Monday 7 Dec 2026, 09:30 EST = 14:30 UTC.
        assert_eq!(
            slot.latest(&cal, utc("2026-12-07T14:30:00Z")),
            utc("2026-12-07T14:30:00Z")
        );
        assert_eq!(
            slot.latest(&cal, utc("2026-12-09T10:00:00Z")),
            utc("2026-12-07T14:30:00Z")
        );
        // A minute before it, the slot is the previous Monday's.
        assert_eq!(
            slot.latest(&cal, utc("2026-12-07T14:29:00Z")),
            utc("2026-11-30T14:30:00Z")
        );
        assert_eq!(
            slot.previous(&cal, utc("2026-12-07T14:30:00Z")),
            utc("2026-11-30T14:30:00Z")
        );
    }

    #[test]
    fn the_weekday_is_the_calendars_not_utcs() {
        let cal = Calendar {
            time_zone: chrono_tz::Asia::Tokyo,
            ..Calendar::default()
        };
        let slot = monday_930();
        // Sunday 6 Dec 2026 at 23:00 UTC is already Monday 08:00 in Tokyo: not yet due.
        assert_eq!(
            slot.latest(&cal, utc("2026-12-06T23:00:00Z")),
            utc("2026-11-30T00:30:00Z")
        );
        // Monday 09:30 JST is Monday 00:30 UTC.
        assert_eq!(
            slot.latest(&cal, utc("2026-12-07T00:30:00Z")),
            utc("2026-12-07T00:30:00Z")
        );
    }

    #[test]
    fn slots_keep_local_time_across_daylight_saving_changes() {
        let cal = Calendar::default();
        let slot = monday_930();
        // New York leaves DST on Sun 1 Nov 2026: Monday 26 Oct is EDT, Monday 2 Nov EST.
        let after = slot.latest(&cal, utc("2026-11-03T00:00:00Z"));
        assert_eq!(after, utc("2026-11-02T14:30:00Z"));
        assert_eq!(slot.previous(&cal, after), utc("2026-10-26T13:30:00Z"));
        // Spring forward: 02:30 does not exist on Sun 8 Mar 2026; the slot moves past the gap.
        let sunday_0230 = WeeklySlot {
            weekday: Weekday::Sun,
            time: NaiveTime::from_hms_opt(2, 30, 0).unwrap(),
        };
        assert_eq!(
            sunday_0230.latest(&cal, utc("2026-03-08T12:00:00Z")),
            utc("2026-03-08T07:30:00Z")
        );
        // A week later it is 02:30 EDT again.
        assert_eq!(
            sunday_0230.latest(&cal, utc("2026-03-15T12:00:00Z")),
            utc("2026-03-15T06:30:00Z")
        );
    }

    #[test]
    fn a_request_is_stuck_after_the_configured_business_days() {
        use crate::domain::testkit::*;
        let policy = Policy::default();
        let mut req = Play::submitted(10_000).req().clone();
        req.state_entered_at = utc("2026-12-03T15:00:00Z"); // Thu 10:00 EST
        let days = policy.stuck_after_business_days;
        let since = stuck_since(&req, &policy);
        assert_eq!(since, policy.calendar.deadline(req.state_entered_at, days));
        assert!(!is_stuck(&req, &policy, since - Duration::seconds(1)));
        assert!(is_stuck(&req, &policy, since));
        req.state = crate::domain::State::Activated;
        assert!(!is_stuck(&req, &policy, since + Duration::days(30)));
    }
}
