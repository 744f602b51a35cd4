//! The report as text for a terminal.

use std::fmt::Write as _;

use super::figures::{DecisionTimes, Spread};
use super::units::{business, usd, wall};
use super::Report;

/// Requests listed by cost at risk before "… and N more".
pub const TOP_COSTS: usize = 10;

fn spread(s: Option<Spread>, f: fn(f64) -> String) -> [String; 3] {
    match s {
        Some(s) => [f(s.median), f(s.p90), f(s.max)],
        None => ["-".into(), "-".into(), "-".into()],
    }
}

fn times_cells(t: &DecisionTimes) -> String {
    let w = spread(t.wall_seconds, wall);
    let b = spread(t.business_seconds, business);
    format!(
        "{:>7} {:>7} {:>7}   {:>7} {:>7} {:>7}",
        w[0], w[1], w[2], b[0], b[1], b[2]
    )
}

pub fn render(r: &Report) -> String {
    let mut out = String::new();
    let f = &r.figures;
    let window = match r.since {
        Some(s) => format!(
            "from {} to {}",
            s.format("%Y-%m-%d %H:%M"),
            r.generated_at.format("%Y-%m-%d %H:%M UTC")
        ),
        None => format!(
            "whole log, to {}",
            r.generated_at.format("%Y-%m-%d %H:%M UTC")
        ),
    };
    let _ = writeln!(out, "Capacity requests report, {window}");
    let _ = writeln!(out, "Business hours: {}.", r.calendar);
    let _ = writeln!(out);
    let _ = writeln!(
        out,
        "Time to decision, per stage and per person who decided"
    );
    let _ = writeln!(
        out,
        "{:<34} {:>7} {:>5}   {:>7} {:>7} {:>7}   {:>7} {:>7} {:>7}   {:>6} {:>6} {:>6}",
        "",
        "decided",
        "open",
        "median",
        "p90",
        "max",
        "median",
        "p90",
        "max",
        "missed",
        "escal",
        "forced"
    );
    let _ = writeln!(
        out,
        "{:<34} {:>7} {:>5}   {:^23}   {:^23}",
        "stage / decided by", "", "now", "wall time", "business hours"
    );
    for s in &f.stages {
        let _ = writeln!(
            out,
            "{:<34} {:>7} {:>5}   {}   {:>6} {:>6} {:>6}",
            s.label,
            s.times.decisions,
            s.open_now,
            times_cells(&s.times),
            s.deadlines_missed,
            s.escalations,
            s.forced_transitions
        );
        for o in &s.by_owner {
            let _ = writeln!(
                out,
                "  {:<32} {:>7} {:>5}   {}",
                truncate(&o.owner.name, 32),
                o.times.decisions,
                "",
                times_cells(&o.times)
            );
        }
    }
    let t = &f.totals;
    let _ = writeln!(out);
    let _ = writeln!(
        out,
        "Decisions: {}. Deadlines missed: {} ({} request(s) expired). Escalations: {}. Forced transitions: {}.",
        t.decisions, t.deadlines_missed, t.expirations, t.escalations, t.forced_transitions
    );

    let _ = writeln!(out);
    let _ = writeln!(
        out,
        "Cost at risk accrued in this period: {} over {} request(s)",
        usd(t.cost_at_risk_cents),
        f.costs.len()
    );
    for c in f.costs.iter().take(TOP_COSTS) {
        let _ = writeln!(
            out,
            "  {:<8} {:<28} {:<30} {:>16}/month  {:>16}",
            c.request,
            truncate(&c.customer, 28),
            c.state,
            usd(c.monthly_cents),
            usd(c.accrued_cents)
        );
    }
    if f.costs.len() > TOP_COSTS {
        let _ = writeln!(
            out,
            "  … and {} more (--format csv or json lists every request)",
            f.costs.len() - TOP_COSTS
        );
    }

    let _ = writeln!(out);
    let _ = writeln!(
        out,
        "Capacity committed now: {} request(s), {}/month",
        f.committed_now.len(),
        usd(t.committed_monthly_cents)
    );
    for c in &f.committed_now {
        let owners: Vec<&str> = c.owners.iter().map(|o| o.name.as_str()).collect();
        let _ = writeln!(
            out,
            "  {:<8} {:<28} {:<30} {:>16}/month  since {}  at risk {:>14}  waiting on {}",
            c.request,
            truncate(&c.customer, 28),
            c.state.as_str(),
            usd(c.monthly_cents),
            c.committed_at.format("%Y-%m-%d"),
            usd(c.cost_at_risk_cents),
            if owners.is_empty() {
                "nobody".to_string()
            } else {
                owners.join(", ")
            }
        );
    }

    let _ = writeln!(out);
    let _ = writeln!(out, "Open requests by decision owner");
    if f.open_by_owner.is_empty() {
        let _ = writeln!(out, "  none");
    }
    for o in &f.open_by_owner {
        let _ = writeln!(
            out,
            "  {:<32} {:>5}",
            truncate(&o.owner.name, 32),
            o.requests
        );
    }
    out
}

fn truncate(s: &str, max: usize) -> String {
    if s.chars().count() <= max {
        s.to_string()
    } else {
        let mut t: String = s.chars().take(max - 1).collect();
        t.push('…');
        t
    }
}
