//! `[scheduler]`: how often the in-process timers look for due work.

use chrono::Utc;
use croner::parser::{CronParser, Seconds};

use super::problems::Problems;
use super::schema::Section;

/// Cron expressions for tokio-cron-scheduler: six fields (seconds first) or seven (a year
/// last), evaluated in UTC.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SchedulerSettings {
    /// Fires lifecycle timers (TTL timeouts). DESIGN.md: `sweep`, default every minute.
    pub sweep: String,
    /// Addition to DESIGN.md: how often due reminders are looked for. Offset from `sweep`
    /// by 30 s so the two do not contend for the same rows at the same instant.
    pub reminder_sweep: String,
    /// Addition to DESIGN.md: how often the outbox is drained as a fallback; new rows are
    /// normally delivered at once, so this only catches retries and crashed deliveries.
    pub outbox_sweep: String,
    /// Addition to DESIGN.md: how often decision owners are looked up with `users.info` to
    /// catch a deactivation whose `user_change` event was missed (each owner at most once
    /// per 6 hours, 60 lookups a run).
    pub owner_sweep: String,
}

impl Default for SchedulerSettings {
    fn default() -> Self {
        SchedulerSettings {
            sweep: "0 * * * * *".into(),
            reminder_sweep: "30 * * * * *".into(),
            outbox_sweep: "*/5 * * * * *".into(),
            owner_sweep: "15 */10 * * * *".into(),
        }
    }
}

pub(crate) fn parse(section: &Section<'_>, problems: &mut Problems) -> SchedulerSettings {
    let defaults = SchedulerSettings::default();
    let mut read = |key: &str, default: String| match section.string(key, problems) {
        Some(expr) => match check_cron(expr) {
            Ok(()) => expr.trim().to_string(),
            Err(message) => {
                problems.push(section.field(key), message);
                default
            }
        },
        None => default,
    };
    SchedulerSettings {
        sweep: read("sweep", defaults.sweep),
        reminder_sweep: read("reminder_sweep", defaults.reminder_sweep),
        outbox_sweep: read("outbox_sweep", defaults.outbox_sweep),
        owner_sweep: read("owner_sweep", defaults.owner_sweep),
    }
}

/// Accepts what `tokio_cron_scheduler::Job::new_async` accepts (it parses with croner,
/// seconds required, day-of-month and day-of-week combined), limited to explicit fields:
/// `@hourly` style nicknames are refused so the file says exactly when things run.
pub(crate) fn check_cron(expr: &str) -> Result<(), String> {
    let fields = expr.split_whitespace().count();
    if !(6..=7).contains(&fields) {
        let hint = if fields == 5 {
            format!(
                "; this looks like a 5-field crontab line, so add the seconds first: \"0 {}\"",
                expr.trim()
            )
        } else {
            String::new()
        };
        return Err(format!(
            "\"{expr}\" has {fields} field(s); tokio-cron-scheduler needs a 6- or 7-field \
             cron expression (second minute hour day-of-month month day-of-week [year]), \
             e.g. \"0 * * * * *\" for every minute{hint}"
        ));
    }
    let cron = CronParser::builder()
        .seconds(Seconds::Required)
        .dom_and_dow(true)
        .build()
        .parse(expr)
        .map_err(|e| {
            format!("\"{expr}\" is not a cron expression tokio-cron-scheduler accepts: {e}")
        })?;
    cron.find_next_occurrence(&Utc::now(), false)
        .map(|_| ())
        .map_err(|_| format!("\"{expr}\" never fires (no time from now on matches it)"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn six_and_seven_field_expressions_are_accepted() {
        for expr in [
            "0 * * * * *",
            "30 * * * * *",
            "*/5 * * * * *",
            "0 0 9 * * Mon-Fri 2099",
        ] {
            assert_eq!(check_cron(expr), Ok(()), "{expr}");
        }
    }

    #[test]
    fn a_crontab_line_is_told_to_add_seconds() {
        let e = check_cron("*/5 * * * *").unwrap_err();
        assert!(e.contains("6- or 7-field"), "{e}");
        assert!(e.contains("\"0 */5 * * * *\""), "{e}");
        assert!(check_cron("@hourly")
            .unwrap_err()
            .contains("has 1 field(s)"));
    }

    #[test]
    fn bad_fields_and_dead_schedules_are_refused() {
        let e = check_cron("0 61 * * * *").unwrap_err();
        assert!(
            e.contains("is not a cron expression tokio-cron-scheduler accepts"),
            "{e}"
        );
        assert!(check_cron("0 0 0 1 1 * 2001")
            .unwrap_err()
            .contains("never fires"));
    }

    /// The daemon hands these strings to tokio-cron-scheduler, so what passes here must
    /// pass there, and what fails here must fail there.
    #[test]
    fn the_scheduler_agrees_with_the_check() {
        use tokio_cron_scheduler::Job;
        let job = |expr: &str| Job::new_async(expr, |_, _| Box::pin(async {})).is_ok();
        for expr in ["0 * * * * *", "*/5 * * * * *", "0 0 9 * * Mon-Fri 2099"] {
            assert!(check_cron(expr).is_ok() && job(expr), "{expr}");
        }
        for expr in ["0 61 * * * *", "0 0 * * * Blursday"] {
            assert!(check_cron(expr).is_err() && !job(expr), "{expr}");
        }
    }
}
