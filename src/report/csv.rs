//! The report as one CSV table in long form (`section, stage, owner, request, at, metric,
//! value`): every figure is a row, so a spreadsheet pivots it any way and a script filters
//! it without knowing the layout of the text table.

use std::fmt::Write as _;

use super::figures::DecisionTimes;
use super::Report;

pub const HEADER: &str = "section,stage,owner,request,at,metric,value";

#[derive(Default)]
struct Row<'a> {
    section: &'a str,
    stage: &'a str,
    owner: &'a str,
    request: &'a str,
    at: String,
}

fn field(s: &str) -> String {
    if s.contains([',', '"', '\n', '\r']) {
        format!("\"{}\"", s.replace('"', "\"\""))
    } else {
        s.to_string()
    }
}

fn push(out: &mut String, row: &Row<'_>, metric: &str, value: impl std::fmt::Display) {
    let _ = writeln!(
        out,
        "{},{},{},{},{},{},{}",
        field(row.section),
        field(row.stage),
        field(row.owner),
        field(row.request),
        field(&row.at),
        metric,
        value
    );
}

fn times(out: &mut String, row: &Row<'_>, t: &DecisionTimes) {
    push(out, row, "decisions", t.decisions);
    for (prefix, spread) in [("wall", t.wall_seconds), ("business", t.business_seconds)] {
        if let Some(s) = spread {
            push(out, row, &format!("{prefix}_median_seconds"), s.median);
            push(out, row, &format!("{prefix}_p90_seconds"), s.p90);
            push(out, row, &format!("{prefix}_max_seconds"), s.max);
        }
    }
}

pub fn render(r: &Report) -> String {
    let f = &r.figures;
    let mut out = String::new();
    let _ = writeln!(out, "{HEADER}");
    for s in &f.stages {
        let row = Row {
            section: "stage",
            stage: s.stage.as_str(),
            ..Row::default()
        };
        times(&mut out, &row, &s.times);
        push(&mut out, &row, "open_now", s.open_now);
        push(&mut out, &row, "deadlines_missed", s.deadlines_missed);
        push(&mut out, &row, "escalations", s.escalations);
        push(&mut out, &row, "forced_transitions", s.forced_transitions);
        for o in &s.by_owner {
            let row = Row {
                section: "stage_owner",
                stage: s.stage.as_str(),
                owner: &o.owner.name,
                ..Row::default()
            };
            times(&mut out, &row, &o.times);
        }
    }
    let t = &f.totals;
    let total = Row {
        section: "total",
        ..Row::default()
    };
    push(&mut out, &total, "decisions", t.decisions);
    push(&mut out, &total, "deadlines_missed", t.deadlines_missed);
    push(&mut out, &total, "expirations", t.expirations);
    push(&mut out, &total, "escalations", t.escalations);
    push(&mut out, &total, "forced_transitions", t.forced_transitions);
    push(&mut out, &total, "cost_at_risk_cents", t.cost_at_risk_cents);
    push(
        &mut out,
        &total,
        "committed_monthly_cents",
        t.committed_monthly_cents,
    );
    for c in &f.costs {
        let row = Row {
            section: "cost_at_risk",
            stage: &c.state,
            request: &c.request,
            ..Row::default()
        };
        push(&mut out, &row, "accrued_cents", c.accrued_cents);
        push(&mut out, &row, "monthly_cents", c.monthly_cents);
    }
    for c in &f.committed_now {
        let owners: Vec<&str> = c.owners.iter().map(|o| o.name.as_str()).collect();
        let owners = owners.join("; ");
        let row = Row {
            section: "committed_now",
            stage: c.state.as_str(),
            owner: &owners,
            request: &c.request,
            at: c.committed_at.to_rfc3339(),
        };
        push(&mut out, &row, "monthly_cents", c.monthly_cents);
        push(&mut out, &row, "cost_at_risk_cents", c.cost_at_risk_cents);
    }
    for o in &f.open_by_owner {
        let row = Row {
            section: "open_by_owner",
            owner: &o.owner.name,
            ..Row::default()
        };
        push(&mut out, &row, "requests", o.requests);
    }
    for (at, cents) in &f.cost_over_time {
        let row = Row {
            section: "cost_over_time",
            at: at.to_rfc3339(),
            ..Row::default()
        };
        push(&mut out, &row, "cost_at_risk_cents", cents);
    }
    out
}

#[cfg(test)]
mod tests {
    use super::field;

    #[test]
    fn fields_with_commas_or_quotes_are_quoted() {
        assert_eq!(field("alex"), "alex");
        assert_eq!(field("Acme, Inc."), "\"Acme, Inc.\"");
        assert_eq!(field("the \"big\" one"), "\"the \"\"big\"\" one\"");
    }
}
