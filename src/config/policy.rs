//! `[policy]` and `[calendar]`: the team's answers to the RFC's open questions.

use std::collections::BTreeMap;

use chrono::{NaiveDate, NaiveTime};
use chrono_tz::Tz;
use toml::Value;

use super::problems::{suggest, Problems};
use super::schema::{found, Section};
use crate::domain::{Calendar, Policy};

/// TTLs longer than this are almost certainly typos (a quarter of business days).
const TTL_DAYS: (u32, u32) = (1, 60);
const ESCALATE_AFTER: (u32, u32) = (1, 20);
/// A snooze longer than a month is forgetting, not snoozing.
const MAX_SNOOZE: (u32, u32) = (1, 20);
const STUCK_AFTER: (u32, u32) = (1, 60);

pub(crate) fn parse(
    policy: &Section<'_>,
    calendar: &Section<'_>,
    problems: &mut Problems,
) -> Policy {
    let defaults = Policy::default();
    let finance_threshold_usd_month =
        finance_threshold(policy, problems).unwrap_or(defaults.finance_threshold_usd_month);
    let customer_confirmation_ttl_business_days = bounded(
        policy,
        "customer_confirmation_ttl_business_days",
        TTL_DAYS,
        "business days",
        problems,
    )
    .unwrap_or(defaults.customer_confirmation_ttl_business_days);
    let activation_ttl_business_days = bounded(
        policy,
        "activation_ttl_business_days",
        TTL_DAYS,
        "business days",
        problems,
    )
    .unwrap_or(defaults.activation_ttl_business_days);
    let allow_provisioning_before_confirmation = policy
        .boolean("allow_provisioning_before_confirmation", problems)
        .unwrap_or(defaults.allow_provisioning_before_confirmation);
    let escalate_after_reminders = bounded(
        policy,
        "escalate_after_reminders",
        ESCALATE_AFTER,
        "reminders",
        problems,
    )
    .unwrap_or(defaults.escalate_after_reminders);
    let max_snooze_business_days = bounded(
        policy,
        "max_snooze_business_days",
        MAX_SNOOZE,
        "business days",
        problems,
    )
    .unwrap_or(defaults.max_snooze_business_days);
    let stuck_after_business_days = bounded(
        policy,
        "stuck_after_business_days",
        STUCK_AFTER,
        "business days",
        problems,
    )
    .unwrap_or(defaults.stuck_after_business_days);
    Policy {
        finance_threshold_usd_month,
        customer_confirmation_ttl_business_days,
        activation_ttl_business_days,
        allow_provisioning_before_confirmation,
        escalate_after_reminders,
        max_snooze_business_days,
        stuck_after_business_days,
        calendar: parse_calendar(calendar, problems),
    }
}

fn finance_threshold(policy: &Section<'_>, problems: &mut Problems) -> Option<i64> {
    const KEY: &str = "finance_threshold_usd_month";
    const RULE: &str = "must be a positive whole number of dollars";
    let value = policy.get(KEY)?;
    match value {
        Value::Integer(n) if *n > 0 => Some(*n),
        Value::Integer(_) | Value::Float(_) => {
            problems.push(policy.field(KEY), RULE);
            None
        }
        other => {
            problems.push(
                policy.field(KEY),
                format!("{RULE} (expected an integer, found {})", found(other)),
            );
            None
        }
    }
}

fn bounded(
    section: &Section<'_>,
    key: &str,
    (low, high): (u32, u32),
    unit: &str,
    problems: &mut Problems,
) -> Option<u32> {
    let expected = format!("a whole number of {unit} ({low} to {high})");
    let n = section.integer(key, &expected, problems)?;
    match u32::try_from(n) {
        Ok(n) if (low..=high).contains(&n) => Some(n),
        _ => {
            problems.push(
                section.field(key),
                format!("must be between {low} and {high} {unit}, not {n}"),
            );
            None
        }
    }
}

fn parse_calendar(section: &Section<'_>, problems: &mut Problems) -> Calendar {
    let defaults = Calendar::default();
    let time_zone = section
        .string("time_zone", problems)
        .and_then(|s| match time_zone(s) {
            Ok(tz) => Some(tz),
            Err(message) => {
                problems.push(section.field("time_zone"), message);
                None
            }
        })
        .unwrap_or(defaults.time_zone);
    let (work_start, work_end) = section
        .string("working_hours", problems)
        .and_then(|s| match working_hours(s) {
            Ok(hours) => Some(hours),
            Err(message) => {
                problems.push(section.field("working_hours"), message);
                None
            }
        })
        .unwrap_or((defaults.work_start, defaults.work_end));
    Calendar {
        time_zone,
        work_start,
        work_end,
        holidays: holidays(section, problems),
    }
}

fn time_zone(s: &str) -> Result<Tz, String> {
    if let Ok(tz) = s.parse::<Tz>() {
        return Ok(tz);
    }
    let names: Vec<&str> = chrono_tz::TZ_VARIANTS.iter().map(|tz| tz.name()).collect();
    let hint = names
        .iter()
        .find(|n| n.eq_ignore_ascii_case(s))
        .copied()
        .or_else(|| suggest(s, &names))
        .map(|n| format!(" (did you mean \"{n}\"?)"))
        .unwrap_or_default();
    Err(format!(
        "\"{s}\" is not an IANA time zone name such as \"America/New_York\" or \"Europe/London\"{hint}"
    ))
}

fn working_hours(s: &str) -> Result<(NaiveTime, NaiveTime), String> {
    let bad_form = || {
        format!("\"{s}\" is not of the form \"HH:MM-HH:MM\" (24-hour clock, e.g. \"09:00-17:00\")")
    };
    let (start, end) = s.split_once('-').ok_or_else(bad_form)?;
    let time = |t: &str| NaiveTime::parse_from_str(t.trim(), "%H:%M").map_err(|_| bad_form());
    let (start, end) = (time(start)?, time(end)?);
    if start >= end {
        return Err(format!(
            "\"{s}\" ends before it starts; the working day must start and end on the same day"
        ));
    }
    Ok((start, end))
}

fn holidays(
    section: &Section<'_>,
    problems: &mut Problems,
) -> std::collections::BTreeSet<NaiveDate> {
    let mut seen: BTreeMap<NaiveDate, usize> = BTreeMap::new();
    let field = section.field("holidays");
    let values = section
        .array("holidays", "an array of dates (\"YYYY-MM-DD\")", problems)
        .unwrap_or(&[]);
    for (i, value) in values.iter().enumerate() {
        let at = format!("{field}[{i}]");
        match holiday(value) {
            Ok(day) => {
                if let Some(first) = seen.get(&day) {
                    problems.push(
                        at,
                        format!("{day} is listed twice (also at {field}[{first}])"),
                    );
                } else {
                    seen.insert(day, i);
                }
            }
            Err(message) => problems.push(at, message),
        }
    }
    seen.into_keys().collect()
}

/// A `"YYYY-MM-DD"` string, or a bare TOML local date (`2026-12-25`), which TOML allows.
fn holiday(value: &Value) -> Result<NaiveDate, String> {
    match value {
        Value::String(s) => {
            let well_formed = s.len() == 10
                && s.bytes().enumerate().all(|(i, b)| match i {
                    4 | 7 => b == b'-',
                    _ => b.is_ascii_digit(),
                });
            match NaiveDate::parse_from_str(s, "%Y-%m-%d") {
                Ok(day) if well_formed => Ok(day),
                _ if well_formed => Err(format!("\"{s}\" is not a real date")),
                _ => Err(format!("\"{s}\" is not a date of the form \"YYYY-MM-DD\"")),
            }
        }
        Value::Datetime(dt) => match (dt.date, dt.time, dt.offset) {
            (Some(d), None, None) => {
                NaiveDate::from_ymd_opt(i32::from(d.year), u32::from(d.month), u32::from(d.day))
                    .ok_or_else(|| format!("{dt} is not a real date"))
            }
            _ => Err(format!(
                "{dt} has a time of day; a holiday is a date (\"YYYY-MM-DD\")"
            )),
        },
        other => Err(format!(
            "expected a date (\"YYYY-MM-DD\"), found {}",
            found(other)
        )),
    }
}

#[cfg(test)]
mod tests {
    use toml::Table;

    use super::*;

    fn hm(h: u32, m: u32) -> NaiveTime {
        NaiveTime::from_hms_opt(h, m, 0).unwrap()
    }

    #[test]
    fn working_hours_parse_and_must_be_in_order() {
        assert_eq!(working_hours("09:00-17:00"), Ok((hm(9, 0), hm(17, 0))));
        assert_eq!(working_hours("08:30 - 16:45"), Ok((hm(8, 30), hm(16, 45))));
        assert!(working_hours("17:00-09:00")
            .unwrap_err()
            .contains("ends before it starts"));
        assert!(working_hours("09:00-09:00")
            .unwrap_err()
            .contains("ends before it starts"));
        assert!(working_hours("9-5").unwrap_err().contains("HH:MM-HH:MM"));
        assert!(working_hours("09:00").unwrap_err().contains("HH:MM-HH:MM"));
        assert!(working_hours("09:00-25:00")
            .unwrap_err()
            .contains("HH:MM-HH:MM"));
    }

    #[test]
    fn time_zones_suggest_the_right_spelling() {
        assert_eq!(time_zone("Europe/London"), Ok(chrono_tz::Europe::London));
        let e = time_zone("america/new_york").unwrap_err();
        assert!(e.contains("did you mean \"America/New_York\""), "{e}");
        let e = time_zone("Europe/Londn").unwrap_err();
        assert!(e.contains("did you mean \"Europe/London\""), "{e}");
        assert!(!time_zone("EST5EDT-ish").unwrap_err().is_empty());
    }

    #[test]
    fn holidays_are_dates() {
        let date = |s: &str| s.parse::<NaiveDate>().unwrap();
        assert_eq!(holiday(&Value::from("2026-12-25")), Ok(date("2026-12-25")));
        let bare: Table = "d = 2026-12-25".parse().unwrap();
        assert_eq!(holiday(&bare["d"]), Ok(date("2026-12-25")));
        assert!(holiday(&Value::from("2026-02-30"))
            .unwrap_err()
            .contains("not a real date"));
        assert!(holiday(&Value::from("25/12/2026"))
            .unwrap_err()
            .contains("YYYY-MM-DD"));
        assert!(holiday(&Value::from("2026-1-5"))
            .unwrap_err()
            .contains("YYYY-MM-DD"));
        assert!(holiday(&Value::from(20261225))
            .unwrap_err()
            .contains("found an integer"));
        let with_time: Table = "d = 2026-12-25T10:00:00".parse().unwrap();
        assert!(holiday(&with_time["d"])
            .unwrap_err()
            .contains("time of day"));
    }
}
