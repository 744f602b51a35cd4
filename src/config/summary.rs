//! The `check-config` summary. It shows every value an operator might want to confirm and,
//! for secrets, only whether each is set.

use std::fmt::Write;

use super::{Member, Settings};
use crate::domain::cost::format_usd;
use crate::domain::Role;

pub(crate) fn render(s: &Settings) -> String {
    let mut out = String::new();
    // Writing to a String cannot fail, so the results are ignored throughout.
    let mut line = |text: String| {
        let _ = writeln!(out, "{text}");
    };
    line("Slack".into());
    line(format!("  requests channel: {}", s.slack.requests_channel));
    line(format!(
        "  team: {}",
        s.slack
            .team_id
            .as_ref()
            .map_or("any (not checked)".to_string(), |t| format!(
                "{t} (other teams refused)"
            ))
    ));
    line(format!("  API: {}", s.slack.api_url));

    line("Roles".into());
    for role in Role::ALL {
        line(format!(
            "  {}: {}",
            role.config_key(),
            describe_members(s, role)
        ));
    }

    let p = &s.policy;
    line("Policy".into());
    let threshold = format_usd(p.finance_threshold_usd_month.saturating_mul(100));
    line(format!(
        "  finance approval at or above: {}/month",
        threshold.trim_end_matches(".00")
    ));
    line(format!(
        "  customer confirmation TTL: {} business days",
        p.customer_confirmation_ttl_business_days
    ));
    line(format!(
        "  activation TTL: {} business days",
        p.activation_ttl_business_days
    ));
    line(format!(
        "  provisioning before confirmation: {}",
        if p.allow_provisioning_before_confirmation {
            "allowed"
        } else {
            "not allowed"
        }
    ));
    line(format!(
        "  escalate after: {} reminders",
        p.escalate_after_reminders
    ));
    line(format!(
        "  snooze at most: {} business days",
        p.max_snooze_business_days
    ));
    line(format!(
        "  stuck after: {} business days",
        p.stuck_after_business_days
    ));

    let c = &p.calendar;
    line("Calendar".into());
    line(format!("  time zone: {}", c.time_zone.name()));
    line(format!(
        "  working hours: {}-{}",
        c.work_start.format("%H:%M"),
        c.work_end.format("%H:%M")
    ));
    let holidays: Vec<String> = c.holidays.iter().map(ToString::to_string).collect();
    line(format!(
        "  holidays: {}{}",
        holidays.len(),
        if holidays.is_empty() {
            String::new()
        } else {
            format!(" ({})", holidays.join(", "))
        }
    ));

    line("Scheduler (UTC)".into());
    line(format!("  sweep: {}", s.scheduler.sweep));
    line(format!("  reminder_sweep: {}", s.scheduler.reminder_sweep));
    line(format!("  outbox_sweep: {}", s.scheduler.outbox_sweep));
    line(format!("  owner_sweep: {}", s.scheduler.owner_sweep));

    line(format!("HTTP listen: {}", s.http.listen));
    line(format!(
        "Linear: {}",
        s.linear.as_ref().map_or("off".to_string(), |l| format!(
            "team {}, issue opened at {}",
            l.team_id,
            l.create_on.as_str()
        ))
    ));
    line(format!(
        "Digest: {}",
        s.digest.as_ref().map_or("off".to_string(), |d| format!(
            "weekly, {} {} {} in {}",
            d.slot.weekday,
            d.slot.time.format("%H:%M"),
            s.policy.calendar.time_zone.name(),
            d.channel
        ))
    ));
    line(format!("Log format: {}", s.log.format.as_str()));

    line("Secrets".into());
    for (variable, set) in s.secrets.status() {
        line(format!(
            "  {variable}: {}",
            if set { "set" } else { "not set" }
        ));
    }
    out
}

fn describe_members(s: &Settings, role: Role) -> String {
    let members = s.roles.members(role);
    if members.is_empty() {
        return if role == Role::Requester {
            "anyone in the workspace".into()
        } else {
            "nobody".into()
        };
    }
    let users = members
        .iter()
        .filter(|m| matches!(m, Member::User(_)))
        .count();
    let groups = members.len() - users;
    let ids: Vec<String> = members.iter().map(ToString::to_string).collect();
    format!(
        "{} ({} user{}, {} group{}: {})",
        members.len(),
        users,
        plural(users),
        groups,
        plural(groups),
        ids.join(", ")
    )
}

fn plural(n: usize) -> &'static str {
    if n == 1 {
        ""
    } else {
        "s"
    }
}
