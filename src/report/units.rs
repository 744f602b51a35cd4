//! How durations and money read in the report's outputs.

use crate::domain::cost::format_usd;

/// Wall time: hours up to two days, then days ("5.2h", "3.4d").
pub fn wall(seconds: f64) -> String {
    let hours = seconds / 3600.0;
    if hours < 48.0 {
        format!("{hours:.1}h")
    } else {
        format!("{:.1}d", hours / 24.0)
    }
}

/// Working time, always in hours: a working day is 8 of them, not 24.
pub fn business(seconds: f64) -> String {
    format!("{:.1}h", seconds / 3600.0)
}

/// `$12,345.67`.
pub fn usd(cents: i64) -> String {
    format_usd(cents)
}

/// Short money for chart axes: `$950`, `$12.5k`, `$1.2M`.
pub fn usd_short(dollars: f64) -> String {
    let a = dollars.abs();
    if a >= 1_000_000.0 {
        format!("${:.1}M", dollars / 1_000_000.0)
    } else if a >= 10_000.0 {
        format!("${:.0}k", dollars / 1000.0)
    } else if a >= 1000.0 {
        format!("${:.1}k", dollars / 1000.0)
    } else {
        format!("${dollars:.0}")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn durations_and_money_read_naturally() {
        assert_eq!(wall(5.0 * 3600.0 + 720.0), "5.2h");
        assert_eq!(wall(3.0 * 86_400.0), "3.0d");
        assert_eq!(business(30.0 * 3600.0), "30.0h");
        assert_eq!(usd(1_234_567), "$12,345.67");
        assert_eq!(usd_short(950.0), "$950");
        assert_eq!(usd_short(1_250.0), "$1.2k");
        assert_eq!(usd_short(64_000.0), "$64k");
        assert_eq!(usd_short(2_500_000.0), "$2.5M");
    }
}
