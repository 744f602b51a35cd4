//! Business days: weekends and listed holidays skipped, in the configured time zone.
//!
//! A deadline falls at the end of working hours on the Nth business day after the day the
//! gate opened, so a gate opened on Thursday with a TTL of 5 and no holiday closes the next
//! Thursday at 17:00 local time, whatever the UTC offset is that week.

use std::collections::BTreeSet;

use chrono::{
    DateTime, Datelike, Duration, LocalResult, NaiveDate, NaiveTime, TimeZone, Utc, Weekday,
};
use chrono_tz::Tz;
use serde::{Deserialize, Serialize};

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Calendar {
    pub time_zone: Tz,
    pub work_start: NaiveTime,
    pub work_end: NaiveTime,
    pub holidays: BTreeSet<NaiveDate>,
}

impl Default for Calendar {
    fn default() -> Self {
        Calendar {
            time_zone: chrono_tz::America::New_York,
            work_start: NaiveTime::from_hms_opt(9, 0, 0).expect("valid time"),
            work_end: NaiveTime::from_hms_opt(17, 0, 0).expect("valid time"),
            holidays: BTreeSet::new(),
        }
    }
}

impl Calendar {
    pub fn local_date(&self, at: DateTime<Utc>) -> NaiveDate {
        at.with_timezone(&self.time_zone).date_naive()
    }

    pub fn is_business_day(&self, day: NaiveDate) -> bool {
        !matches!(day.weekday(), Weekday::Sat | Weekday::Sun) && !self.holidays.contains(&day)
    }

    /// The `n`th business day after `day` (`n = 0` gives `day` itself).
    pub fn add_business_days(&self, day: NaiveDate, n: u32) -> NaiveDate {
        let mut d = day;
        let mut left = n;
        while left > 0 {
            d = d.succ_opt().unwrap_or(d);
            if self.is_business_day(d) {
                left -= 1;
            }
        }
        d
    }

    pub fn next_business_day(&self, day: NaiveDate) -> NaiveDate {
        self.add_business_days(day, 1)
    }

    /// The last business day strictly before `day`.
    pub fn previous_business_day(&self, day: NaiveDate) -> NaiveDate {
        let mut d = day.pred_opt().unwrap_or(day);
        while !self.is_business_day(d) {
            d = d.pred_opt().unwrap_or(d);
        }
        d
    }

    /// A local wall-clock time on `day` as a UTC instant. In a DST gap the time does not
    /// exist locally, so the first instant after the gap is used; in an overlap the earlier.
    pub fn at(&self, day: NaiveDate, time: NaiveTime) -> DateTime<Utc> {
        let naive = day.and_time(time);
        match self.time_zone.from_local_datetime(&naive) {
            LocalResult::Single(t) => t.with_timezone(&Utc),
            LocalResult::Ambiguous(a, _) => a.with_timezone(&Utc),
            LocalResult::None => {
                let later = naive + Duration::hours(1);
                self.time_zone
                    .from_local_datetime(&later)
                    .earliest()
                    .map(|t| t.with_timezone(&Utc))
                    .unwrap_or_else(|| Utc.from_utc_datetime(&naive))
            }
        }
    }

    /// End of working hours on the `days`th business day after the day `opened_at` falls on.
    pub fn deadline(&self, opened_at: DateTime<Utc>, days: u32) -> DateTime<Utc> {
        let day = self.add_business_days(self.local_date(opened_at), days);
        self.at(day, self.work_end)
    }

    pub fn work_starts(&self, day: NaiveDate) -> DateTime<Utc> {
        self.at(day, self.work_start)
    }

    pub fn work_ends(&self, day: NaiveDate) -> DateTime<Utc> {
        self.at(day, self.work_end)
    }

    /// The working time between two instants: the part of `[from, to)` that falls inside
    /// working hours on business days, in the configured zone. Zero when `to` is not after
    /// `from`. What a decision cost its owner's working week, as opposed to wall time.
    pub fn business_duration(&self, from: DateTime<Utc>, to: DateTime<Utc>) -> Duration {
        let mut total = Duration::zero();
        if to <= from {
            return total;
        }
        let last = self.local_date(to);
        let mut day = self.local_date(from);
        while day <= last {
            if self.is_business_day(day) {
                let start = self.work_starts(day).max(from);
                let end = self.work_ends(day).min(to);
                if end > start {
                    total += end - start;
                }
            }
            match day.succ_opt() {
                Some(next) => day = next,
                None => break,
            }
        }
        total
    }

    /// Inside working hours on a business day, in the configured zone.
    pub fn is_working_time(&self, at: DateTime<Utc>) -> bool {
        let local = at.with_timezone(&self.time_zone);
        let t = local.time();
        self.is_business_day(local.date_naive()) && t >= self.work_start && t < self.work_end
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn date(s: &str) -> NaiveDate {
        s.parse().unwrap()
    }

    fn utc(s: &str) -> DateTime<Utc> {
        s.parse().unwrap()
    }

    fn ny(holidays: &[&str]) -> Calendar {
        Calendar {
            holidays: holidays.iter().map(|h| date(h)).collect(),
            ..Calendar::default()
        }
    }

    #[test]
    fn thursday_plus_five_is_next_thursday_at_five_pm() {
        // 2026-12-03 is a Thursday; New York is UTC-5 in December.
        let cal = ny(&[]);
        let opened = utc("2026-12-03T15:00:00Z");
        assert_eq!(cal.deadline(opened, 5), utc("2026-12-10T22:00:00Z"));
    }

    #[test]
    fn weekends_are_skipped() {
        let cal = ny(&[]);
        // Friday + 1 = Monday.
        assert_eq!(
            cal.add_business_days(date("2026-12-04"), 1),
            date("2026-12-07")
        );
        // Saturday + 1 = Monday.
        assert_eq!(
            cal.add_business_days(date("2026-12-05"), 1),
            date("2026-12-07")
        );
        assert_eq!(
            cal.previous_business_day(date("2026-12-07")),
            date("2026-12-04")
        );
    }

    #[test]
    fn holidays_are_skipped() {
        // Christmas 2026 is a Friday: Thursday 24th + 1 = Monday 28th.
        let cal = ny(&["2026-12-25"]);
        assert_eq!(
            cal.add_business_days(date("2026-12-24"), 1),
            date("2026-12-28")
        );
        assert!(!cal.is_business_day(date("2026-12-25")));
        // Thursday 2026-12-24 + 5 with the 25th and 2027-01-01 off: 28, 29, 30, 31, 4 Jan.
        let cal = ny(&["2026-12-25", "2027-01-01"]);
        assert_eq!(
            cal.deadline(utc("2026-12-24T14:00:00Z"), 5),
            utc("2027-01-04T22:00:00Z")
        );
    }

    #[test]
    fn the_local_day_decides_not_the_utc_day() {
        // 03:00 UTC on Friday is still Thursday evening in New York.
        let cal = ny(&[]);
        let opened = utc("2026-12-04T03:00:00Z");
        assert_eq!(cal.local_date(opened), date("2026-12-03"));
        assert_eq!(cal.deadline(opened, 1), utc("2026-12-04T22:00:00Z"));
        // In Tokyo the same instant is already Friday noon: +1 is Monday.
        let tokyo = Calendar {
            time_zone: chrono_tz::Asia::Tokyo,
            ..Calendar::default()
        };
        assert_eq!(tokyo.deadline(opened, 1), utc("2026-12-07T08:00:00Z"));
    }

    #[test]
    fn deadlines_follow_daylight_saving_changes() {
        // DST ends in New York on 2026-11-01: 17:00 is 21:00 UTC before and 22:00 UTC after.
        let cal = ny(&[]);
        let opened = utc("2026-10-29T15:00:00Z"); // Thursday, EDT
        assert_eq!(cal.deadline(opened, 5), utc("2026-11-05T22:00:00Z"));
        assert_eq!(cal.deadline(opened, 1), utc("2026-10-30T21:00:00Z"));
    }

    #[test]
    fn a_time_in_the_spring_gap_moves_forward() {
        let cal = ny(&[]);
        let t = cal.at(
            date("2027-03-14"),
            NaiveTime::from_hms_opt(2, 30, 0).unwrap(),
        );
        assert_eq!(t, utc("2027-03-14T07:30:00Z"));
    }

    #[test]
    fn working_time_is_local_and_excludes_weekends() {
        let cal = ny(&["2026-12-25"]);
        assert!(cal.is_working_time(utc("2026-12-03T14:00:00Z"))); // Thu 09:00 local
        assert!(!cal.is_working_time(utc("2026-12-03T13:59:00Z")));
        assert!(!cal.is_working_time(utc("2026-12-03T22:00:00Z"))); // 17:00 local
        assert!(!cal.is_working_time(utc("2026-12-05T15:00:00Z"))); // Saturday
        assert!(!cal.is_working_time(utc("2026-12-25T15:00:00Z"))); // holiday
    }

    #[test]
    fn business_duration_counts_working_hours_only() {
        let cal = ny(&["2026-12-25"]);
        let hours = |from: &str, to: &str| {
            cal.business_duration(utc(from), utc(to)).num_minutes() as f64 / 60.0
        };
        // Thursday 10:00 to 15:30 local: inside one working day.
        assert_eq!(hours("2026-12-03T15:00:00Z", "2026-12-03T20:30:00Z"), 5.5);
        // Thursday 16:00 to Friday 10:00: one hour each side of the night.
        assert_eq!(hours("2026-12-03T21:00:00Z", "2026-12-04T15:00:00Z"), 2.0);
        // Friday 16:00 to Monday 10:00: the weekend counts nothing.
        assert_eq!(hours("2026-12-04T21:00:00Z", "2026-12-07T15:00:00Z"), 2.0);
        // Saturday to Sunday: nothing at all.
        assert_eq!(hours("2026-12-05T15:00:00Z", "2026-12-06T20:00:00Z"), 0.0);
        // Before work starts to after it ends on a Thursday: the whole 8-hour day.
        assert_eq!(hours("2026-12-03T11:00:00Z", "2026-12-04T02:00:00Z"), 8.0);
        // Christmas Friday is a holiday: Thursday 24th 16:00 to Monday 28th 10:00 is 2 hours.
        assert_eq!(hours("2026-12-24T21:00:00Z", "2026-12-28T15:00:00Z"), 2.0);
        // Two whole weeks: ten working days, less the holiday.
        assert_eq!(
            hours("2026-12-21T05:00:00Z", "2027-01-04T05:00:00Z"),
            9.0 * 8.0
        );
        // Backwards or empty.
        assert_eq!(hours("2026-12-03T20:00:00Z", "2026-12-03T15:00:00Z"), 0.0);
        assert_eq!(hours("2026-12-03T15:00:00Z", "2026-12-03T15:00:00Z"), 0.0);
    }

    #[test]
    fn business_duration_follows_the_local_day_and_daylight_saving() {
        // Week of the DST change (1 Nov 2026): Friday 30 Oct 16:00 EDT to Monday 2 Nov
        // 10:00 EST is one hour on Friday and one on Monday, though the offset moved.
        let cal = ny(&[]);
        let d = cal.business_duration(utc("2026-10-30T20:00:00Z"), utc("2026-11-02T15:00:00Z"));
        assert_eq!(d, Duration::hours(2));
        // In Tokyo the same instants are Saturday 05:00 to Tuesday 00:00: Monday only.
        let tokyo = Calendar {
            time_zone: chrono_tz::Asia::Tokyo,
            ..Calendar::default()
        };
        let d = tokyo.business_duration(utc("2026-10-30T20:00:00Z"), utc("2026-11-02T15:00:00Z"));
        assert_eq!(d, Duration::hours(8));
    }
}
