//! Sentences the root message, DMs, thread replies and status replies share: dates in the
//! calendar's zone, who the request waits on, committed capacity, a pending cancellation.

use chrono::{DateTime, Datelike, NaiveDate, Utc};

use super::text::{clip, mention, mentions, quote};
use crate::config::Roles;
use crate::domain::cost::{cost_at_risk_cents, cost_per_day_cents, format_usd};
use crate::domain::who_may;
use crate::domain::{decision_owner, Calendar, EventKind, Party, Policy, Request, Role, State};

/// "Thu 10 Dec 17:00 EST" in the calendar's zone; the year is added when it is not `now`'s.
pub(crate) fn when(at: DateTime<Utc>, calendar: &Calendar, now: DateTime<Utc>) -> String {
    let local = at.with_timezone(&calendar.time_zone);
    let this_year = now.with_timezone(&calendar.time_zone).year();
    if local.year() == this_year {
        local.format("%a %-d %b %H:%M %Z").to_string()
    } else {
        local.format("%a %-d %b %Y %H:%M %Z").to_string()
    }
}

/// "Fri 15 Jan 2027".
pub(crate) fn day(date: NaiveDate) -> String {
    date.format("%a %-d %b %Y").to_string()
}

pub(crate) fn months(n: u16) -> String {
    if n == 1 {
        "1 month".to_string()
    } else {
        format!("{n} months")
    }
}

/// "CR-12 · Acme Corp · 16XL → 48XL · us-east-1", escaped, one line, at most `max` chars.
pub(crate) fn summary(req: &Request, max: usize) -> String {
    let d = &req.details;
    let tail = format!(
        " · {} → {} · {}",
        clip(&d.current_size, 24),
        clip(&d.requested_size, 24),
        clip(&d.region, 40)
    );
    let head = format!("{} · ", req.number);
    let used = head.chars().count() + tail.chars().count();
    format!(
        "{head}{}{tail}",
        clip(&d.customer, max.saturating_sub(used).max(1))
    )
}

/// The commercial owner, or the commercial approvers while nobody is named.
pub(crate) fn commercial_owner(req: &Request) -> Party {
    req.commercial_owner
        .clone()
        .map_or(Party::Role(Role::CommercialApprover), Party::User)
}

/// "Waiting on <@U…> — customer confirmation, due Thu 10 Dec 17:00 EST", or `None` when the
/// request waits on nobody (it has ended and nothing is left to release).
pub(crate) fn waiting_on(
    req: &Request,
    roles: &Roles,
    policy: &Policy,
    now: DateTime<Utc>,
) -> Option<String> {
    let owner = decision_owner(req)?;
    let who = mentions(&owner.parties, roles, owners_joined_by(req));
    let mut line = format!("Waiting on {who} — {}", owner.decision);
    if let Some(due) = owner.due {
        line.push_str(&format!(", due {}", when(due, &policy.calendar, now)));
        if due <= now {
            line.push_str(" (overdue)");
        }
    }
    Some(line)
}

/// Both keys of a commercial approval are needed ("and"); every other decision takes any one
/// of its owners ("or").
pub(crate) fn owners_joined_by(req: &Request) -> &'static str {
    if req.state == State::CommercialApprovalRequired && req.pending_cancellation.is_none() {
        "and"
    } else {
        "or"
    }
}

/// Committed capacity and its cost: at risk with who owns stopping it while committed, or
/// what it cost once activated or released. `None` when nothing was ever committed.
/// Where a capacity line is shown, which decides whether a running total may be in it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Shown {
    /// A message that stays up and is edited only when the request changes (the root): only
    /// what stays true, the start and the daily rate, never a total that would freeze.
    Standing,
    /// A message read when sent (a DM, `/capacity status`): the total as of now too.
    Now,
}

pub(crate) fn capacity(
    req: &Request,
    roles: &Roles,
    policy: &Policy,
    now: DateTime<Utc>,
    shown: Shown,
) -> Option<String> {
    let since = req.capacity.committed_at?;
    let cal = &policy.calendar;
    let cost = format_usd(cost_at_risk_cents(req, now).unwrap_or(0));
    let monthly = format_usd(req.details.est_monthly_cost_cents);
    if req.capacity.is_committed() {
        // While the request is open, stopping it is the cancellation decision of the
        // commercial owner; once it has ended, infra must release what is left.
        let stopper = if req.state.is_terminal() {
            Party::Role(Role::Infra)
        } else {
            commercial_owner(req)
        };
        let daily = format_usd(cost_per_day_cents(req));
        let so_far = match shown {
            Shown::Standing => String::new(),
            Shown::Now => format!(
                " Cost at risk so far: *{cost}* (as of {}).",
                when(now, cal, now)
            ),
        };
        return Some(format!(
            ":warning: *Capacity committed* since {}, at risk *{daily} a day* (est. \
             {monthly}/month).{so_far} Stopping it is up to {}.",
            when(since, cal, now),
            mention(&stopper, roles)
        ));
    }
    let ended = req.capacity.ended_at.unwrap_or(now);
    Some(if req.capacity.released {
        format!(
            "Capacity released on {}. It was committed from {}; cost while committed: {cost}.",
            when(ended, cal, now),
            when(since, cal, now)
        )
    } else {
        format!(
            "Capacity was committed from {} until activation on {}; cost before activation: \
             {cost}. The customer now pays for it.",
            when(since, cal, now),
            when(ended, cal, now)
        )
    })
}

/// A pending cancellation: who asked, when, why, and who decides.
pub(crate) fn pending_cancellation(
    req: &Request,
    roles: &Roles,
    policy: &Policy,
    now: DateTime<Utc>,
    reason_max: usize,
) -> Option<String> {
    let pending = req.pending_cancellation.as_ref()?;
    let deciders = who_may(req, EventKind::CancelApproved);
    Some(format!(
        ":octagonal_sign: *Cancellation requested* by <@{}> on {}. Capacity is committed, so \
         {} must approve or deny it.\n{}",
        pending.requested_by,
        when(pending.requested_at, &policy.calendar, now),
        mentions(&deciders, roles, "or"),
        quote(&pending.reason, reason_max)
    ))
}

/// How an ended request ended, with its reason when one was given.
pub(crate) fn closed(
    req: &Request,
    policy: &Policy,
    now: DateTime<Utc>,
    reason_max: usize,
) -> Option<String> {
    if !req.state.is_terminal() {
        return None;
    }
    let mut line = format!(
        "*{}* on {}.",
        req.state.label(),
        when(req.state_entered_at, &policy.calendar, now)
    );
    if let Some(reason) = &req.close_reason {
        line.push('\n');
        line.push_str(&quote(reason, reason_max));
    }
    Some(line)
}

/// A link target we are willing to put between `<` and `>`: https, and nothing in it that
/// could end the link or start a label.
pub(crate) fn safe_url(url: &str) -> Option<&str> {
    let ok = url.starts_with("https://")
        && url.len() <= 1000
        && !url
            .chars()
            .any(|c| c.is_whitespace() || c.is_control() || matches!(c, '<' | '>' | '|'));
    ok.then_some(url)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn times_are_shown_in_the_calendar_zone() {
        let cal = Calendar::default();
        let now: DateTime<Utc> = "2026-12-03T15:00:00Z".parse().unwrap();
        let due: DateTime<Utc> = "2026-12-10T22:00:00Z".parse().unwrap();
        assert_eq!(when(due, &cal, now), "Thu 10 Dec 17:00 EST");
        let next_year: DateTime<Utc> = "2027-01-04T22:00:00Z".parse().unwrap();
        assert_eq!(when(next_year, &cal, now), "Mon 4 Jan 2027 17:00 EST");
    }

    #[test]
    fn only_https_links_without_delimiters_are_linked() {
        assert!(safe_url("https://linear.app/acme/issue/INF-1").is_some());
        assert!(safe_url("http://linear.app").is_none());
        assert!(safe_url("https://x|click").is_none());
        assert!(safe_url("https://x>y").is_none());
        assert!(safe_url("javascript:alert(1)").is_none());
    }
}
