//! Cost at risk: estimated monthly cost times the time capacity has been committed.

use chrono::{DateTime, Utc};

use super::request::Request;

/// A month, for cost purposes, is 30 days: the figure is an estimate and people compare it
/// against the monthly estimate they typed.
const MONTH_SECONDS: i128 = 30 * 24 * 3600;

/// Cents spent on committed capacity up to `now` (or until it ended), or `None` when no
/// capacity was ever committed.
pub fn cost_at_risk_cents(request: &Request, now: DateTime<Utc>) -> Option<i64> {
    let start = request.capacity.committed_at?;
    let end = request.capacity.ended_at.unwrap_or(now);
    let seconds = i128::from((end - start).num_seconds().max(0));
    let cents = i128::from(request.details.est_monthly_cost_cents) * seconds / MONTH_SECONDS;
    Some(i64::try_from(cents).unwrap_or(i64::MAX))
}

/// What committed capacity costs a day while it stays committed, in cents (a 30-day month).
pub fn cost_per_day_cents(request: &Request) -> i64 {
    request.details.est_monthly_cost_cents / 30
}

/// `$12,345.67`.
pub fn format_usd(cents: i64) -> String {
    let negative = cents < 0;
    let cents = cents.unsigned_abs();
    let dollars = (cents / 100).to_string();
    let mut grouped = String::new();
    for (i, c) in dollars.chars().enumerate() {
        if i > 0 && (dollars.len() - i).is_multiple_of(3) {
            grouped.push(',');
        }
        grouped.push(c);
    }
    format!(
        "{}${}.{:02}",
        if negative { "-" } else { "" },
        grouped,
        cents % 100
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn dollars_are_grouped() {
        assert_eq!(format_usd(0), "$0.00");
        assert_eq!(format_usd(5), "$0.05");
        assert_eq!(format_usd(12_345_678), "$123,456.78");
        assert_eq!(format_usd(10_000_000_000), "$100,000,000.00");
        assert_eq!(format_usd(-100_000), "-$1,000.00");
    }
}
