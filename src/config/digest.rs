//! `[digest]`: the weekly digest, when and where. Optional: without the section no digest
//! is posted.

use chrono::{NaiveTime, Weekday};

use super::problems::Problems;
use super::schema::Section;
use crate::domain::digest::WeeklySlot;
use crate::domain::ids::ChannelId;

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DigestSettings {
    /// `weekday` and `time`, in `[calendar] time_zone`.
    pub slot: WeeklySlot,
    /// Where it is posted: `channel`, else `[slack] requests_channel`.
    pub channel: ChannelId,
}

/// `None` when the section is absent, or when it has a problem (already reported).
pub(crate) fn parse(
    section: &Section<'_>,
    requests_channel: Option<&ChannelId>,
    problems: &mut Problems,
) -> Option<DigestSettings> {
    if !section.is_present() {
        return None;
    }
    let required = |key: &str, example: &str, problems: &mut Problems| {
        let value = section.string(key, problems);
        if value.is_none() && section.get(key).is_none() {
            problems.push(
                section.field(key),
                format!("missing (required in [digest]), e.g. {key} = \"{example}\""),
            );
        }
        value
    };
    let weekday = required("weekday", "Mon", problems).and_then(|s| {
        weekday(s)
            .map_err(|message| problems.push(section.field("weekday"), message))
            .ok()
    });
    let time = required("time", "09:30", problems).and_then(|s| {
        time(s)
            .map_err(|message| problems.push(section.field("time"), message))
            .ok()
    });
    let channel = match section.string("channel", problems) {
        Some(s) => ChannelId::parse(s)
            .map_err(|message| {
                let hint = if s.starts_with('#') {
                    "; use the channel id (channel details, at the bottom), not its name"
                } else {
                    ""
                };
                problems.push(section.field("channel"), format!("{message}{hint}"));
            })
            .ok(),
        None => requests_channel.cloned(),
    };
    Some(DigestSettings {
        slot: WeeklySlot {
            weekday: weekday?,
            time: time?,
        },
        channel: channel?,
    })
}

/// "Mon" or "Monday", any case.
fn weekday(s: &str) -> Result<Weekday, String> {
    const DAYS: [(&str, Weekday); 7] = [
        ("mon", Weekday::Mon),
        ("tue", Weekday::Tue),
        ("wed", Weekday::Wed),
        ("thu", Weekday::Thu),
        ("fri", Weekday::Fri),
        ("sat", Weekday::Sat),
        ("sun", Weekday::Sun),
    ];
    let lower = s.trim().to_ascii_lowercase();
    DAYS.iter()
        .find(|(short, day)| lower == *short || lower == long_name(*day))
        .map(|(_, day)| *day)
        .ok_or_else(|| {
            format!("\"{s}\" is not a day of the week; use Mon, Tue, Wed, Thu, Fri, Sat or Sun")
        })
}

fn long_name(day: Weekday) -> &'static str {
    match day {
        Weekday::Mon => "monday",
        Weekday::Tue => "tuesday",
        Weekday::Wed => "wednesday",
        Weekday::Thu => "thursday",
        Weekday::Fri => "friday",
        Weekday::Sat => "saturday",
        Weekday::Sun => "sunday",
    }
}

/// "09:30", 24-hour clock.
fn time(s: &str) -> Result<NaiveTime, String> {
    let well_formed = s.len() == 5 && s.as_bytes()[2] == b':';
    match NaiveTime::parse_from_str(s, "%H:%M") {
        Ok(t) if well_formed => Ok(t),
        _ => Err(format!(
            "\"{s}\" is not a time of the form \"HH:MM\" (24-hour clock, e.g. \"09:30\")"
        )),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn weekdays_in_short_or_long_form_any_case() {
        assert_eq!(weekday("Mon"), Ok(Weekday::Mon));
        assert_eq!(weekday("friday"), Ok(Weekday::Fri));
        assert_eq!(weekday("SUN"), Ok(Weekday::Sun));
        assert!(weekday("Mo").unwrap_err().contains("Mon, Tue"));
        assert!(weekday("1").is_err());
    }

    #[test]
    fn times_are_hh_mm() {
        assert_eq!(
            time("09:30"),
            NaiveTime::from_hms_opt(9, 30, 0).ok_or(String::new())
        );
        for bad in ["9:30", "24:00", "09:60", "09:30:00", "half nine"] {
            assert!(time(bad).unwrap_err().contains("HH:MM"), "{bad}");
        }
    }
}
