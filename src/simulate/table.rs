//! The report as a table for a terminal. People are shown by Slack user id: the CLI has no
//! `users.info` cache to turn ids into names yet.

use std::fmt::Write;

use chrono::{DateTime, Utc};
use chrono_tz::Tz;

use super::{Outcome, Pair, Report, RequestDiff};
use crate::domain::cost::format_usd;

/// Renders the whole report.
pub fn render(report: &Report, policy_file: &str) -> String {
    let tz = report.policy.calendar.time_zone;
    let mut out = String::new();
    let t = &report.totals;
    let _ = writeln!(
        out,
        "Simulated {} request(s){} up to {} under {policy_file}.",
        t.requests,
        report.since.map_or(String::new(), |s| format!(
            " submitted since {}",
            when(s, tz)
        )),
        when(report.now, tz),
    );
    if report.policy_changes.is_empty() {
        let _ = writeln!(out, "The file's policy is the one last recorded.");
    } else {
        let _ = writeln!(out, "Policy changes against the one last recorded:");
        for c in &report.policy_changes {
            let _ = writeln!(out, "  {}: {} -> {}", c.setting, c.recorded, c.simulated);
        }
    }
    let _ = writeln!(out);
    let rows: [(&str, String, String); 5] = [
        (
            "requests expired",
            count(t.expired.recorded),
            count(t.expired.simulated),
        ),
        (
            "expirations",
            count(t.expiries.recorded),
            count(t.expiries.simulated),
        ),
        (
            "reminders sent",
            count(t.reminders.recorded),
            count(t.reminders.simulated),
        ),
        (
            "escalations",
            count(t.escalations.recorded),
            count(t.escalations.simulated),
        ),
        (
            "cost at risk",
            format_usd(t.cost_at_risk_cents.recorded),
            format_usd(t.cost_at_risk_cents.simulated),
        ),
    ];
    let _ = writeln!(
        out,
        "{:<20} {:>16} {:>16}",
        "totals", "recorded", "simulated"
    );
    for (what, a, b) in rows {
        let _ = writeln!(out, "{what:<20} {a:>16} {b:>16}");
    }
    let _ = writeln!(
        out,
        "{:<20} {:>16} {:>16}",
        "human steps refused",
        "-",
        count(t.refused_steps)
    );
    let _ = writeln!(
        out,
        "\n{} of {} request(s) would differ: {} newly expired, {} no longer expired.",
        t.differing, t.requests, t.newly_expired, t.no_longer_expired
    );
    if !report.unreadable.is_empty() {
        let _ = writeln!(
            out,
            "{} request(s) skipped: their log does not start with a submission (see `replay`).",
            report.unreadable.len()
        );
    }
    if report.requests.is_empty() {
        return out;
    }
    let _ = writeln!(
        out,
        "\nRequests that would differ (recorded -> simulated; people by Slack user id):"
    );
    let header = [
        "REQUEST",
        "OWNER",
        "STATE",
        "EXPIRED",
        "REMINDERS",
        "ESCALATIONS",
        "COST AT RISK",
    ];
    let body: Vec<[String; 7]> = report.requests.iter().map(|d| row(d, tz)).collect();
    let mut widths = header.map(str::len);
    for r in &body {
        for (w, cell) in widths.iter_mut().zip(r) {
            *w = (*w).max(cell.chars().count());
        }
    }
    let line = |cells: &[String]| {
        let padded: Vec<String> = cells
            .iter()
            .zip(widths)
            .map(|(c, w)| format!("{c:<w$}"))
            .collect();
        padded.join("  ").trim_end().to_string()
    };
    let _ = writeln!(out, "{}", line(&header.map(String::from)));
    for (d, cells) in report.requests.iter().zip(&body) {
        let _ = writeln!(out, "{}", line(cells));
        for r in &d.refused {
            let _ = writeln!(
                out,
                "    refused: {} by {} at {}: {}",
                r.kind,
                r.actor,
                when(r.at, tz),
                r.reason
            );
        }
    }
    out
}

fn row(d: &RequestDiff, tz: Tz) -> [String; 7] {
    let sim = d.simulated.as_ref();
    let pair = |f: &dyn Fn(&Outcome) -> String| {
        changed(Pair {
            recorded: f(&d.recorded),
            simulated: sim.map_or_else(|| "never submitted".to_string(), f),
        })
    };
    [
        d.request.clone(),
        d.commercial_owner
            .as_ref()
            .map_or_else(|| "-".to_string(), ToString::to_string),
        pair(&|o| o.state.to_string()),
        pair(&|o| expiries(o, tz)),
        pair(&|o| o.reminders.to_string()),
        pair(&|o| o.escalations.to_string()),
        pair(&|o| o.cost_at_risk_cents.map_or_else(|| "-".into(), format_usd)),
    ]
}

/// `a -> b`, or just `a` when nothing changed.
fn changed(p: Pair<String>) -> String {
    if p.recorded == p.simulated {
        p.recorded
    } else {
        format!("{} -> {}", p.recorded, p.simulated)
    }
}

fn expiries(o: &Outcome, tz: Tz) -> String {
    if o.expiries.is_empty() {
        return "no".into();
    }
    let each: Vec<String> = o
        .expiries
        .iter()
        .map(|e| format!("{} {}", e.gate.as_str(), when(e.at, tz)))
        .collect();
    each.join(", ")
}

fn when(at: DateTime<Utc>, tz: Tz) -> String {
    at.with_timezone(&tz)
        .format("%Y-%m-%d %H:%M %Z")
        .to_string()
}

/// `12,345`.
fn count<N: ToString>(n: N) -> String {
    let digits = n.to_string();
    let mut out = String::new();
    for (i, c) in digits.chars().enumerate() {
        if i > 0 && (digits.len() - i).is_multiple_of(3) {
            out.push(',');
        }
        out.push(c);
    }
    out
}
