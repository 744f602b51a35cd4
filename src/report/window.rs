//! The report's window, from `--since DATE` or `--days N`: checked here so a mistake gets
//! one line that says what to type instead.

use chrono::{DateTime, Duration, NaiveDate, NaiveTime, Utc};

use crate::domain::Calendar;

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum WindowError {
    #[error("--since and --days both give the start of the report; use one of them")]
    Both,
    #[error("--since {0:?} is not a date; use YYYY-MM-DD (e.g. 2026-11-02) or an RFC 3339 time")]
    BadDate(String),
    #[error("--days {0:?} is not a number of days; use a whole number from 1 to 3660")]
    BadDays(String),
    #[error("--since {0} is in the future; the report ends now")]
    Future(String),
}

/// The start of the window, or `None` for the whole log. A date is the start of that day
/// in the calendar's zone.
pub fn start(
    since: Option<&str>,
    days: Option<&str>,
    calendar: &Calendar,
    now: DateTime<Utc>,
) -> Result<Option<DateTime<Utc>>, WindowError> {
    match (since, days) {
        (Some(_), Some(_)) => Err(WindowError::Both),
        (None, None) => Ok(None),
        (None, Some(days)) => {
            let n: i64 = days
                .trim()
                .parse()
                .ok()
                .filter(|n| (1..=3660).contains(n))
                .ok_or_else(|| WindowError::BadDays(days.to_string()))?;
            Ok(Some(now - Duration::days(n)))
        }
        (Some(since), None) => {
            let s = since.trim();
            let at = if let Ok(day) = NaiveDate::parse_from_str(s, "%Y-%m-%d") {
                calendar.at(day, NaiveTime::MIN)
            } else if let Ok(t) = DateTime::parse_from_rfc3339(s) {
                t.with_timezone(&Utc)
            } else {
                return Err(WindowError::BadDate(since.to_string()));
            };
            if at > now {
                return Err(WindowError::Future(s.to_string()));
            }
            Ok(Some(at))
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn now() -> DateTime<Utc> {
        "2026-12-05T12:00:00Z".parse().unwrap()
    }

    #[test]
    fn a_date_starts_at_local_midnight_and_days_count_back_from_now() {
        let cal = Calendar::default();
        assert_eq!(start(None, None, &cal, now()), Ok(None));
        assert_eq!(
            start(Some("2026-11-02"), None, &cal, now()),
            Ok(Some("2026-11-02T05:00:00Z".parse().unwrap()))
        );
        assert_eq!(
            start(Some("2026-11-02T10:00:00+01:00"), None, &cal, now()),
            Ok(Some("2026-11-02T09:00:00Z".parse().unwrap()))
        );
        assert_eq!(
            start(None, Some("7"), &cal, now()),
            Ok(Some("2026-11-28T12:00:00Z".parse().unwrap()))
        );
    }

    #[test]
    fn mistakes_say_what_to_type() {
        let cal = Calendar::default();
        let e = |s, d| start(s, d, &cal, now()).unwrap_err().to_string();
        assert!(e(Some("last week"), None).contains("use YYYY-MM-DD"));
        assert!(e(Some("2026-11-02"), Some("7")).contains("use one of them"));
        assert!(e(None, Some("0")).contains("whole number"));
        assert!(e(None, Some("-3")).contains("whole number"));
        assert!(e(Some("2027-01-01"), None).contains("in the future"));
    }
}
