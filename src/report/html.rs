//! The report as one self-contained HTML page: inline CSS, inline SVG charts, no script
//! and nothing fetched, so it opens from a file or an attachment anywhere.

use std::fmt::Write as _;

use super::chart::{self, BarChart, ChartError, LineChart};
use super::figures::{DecisionTimes, Spread};
use super::units::{business, usd, usd_short, wall};
use super::Report;

const WIDTH: u32 = 860;
/// Owners shown in the open-requests chart; the table lists them all.
const TOP_OWNERS: usize = 15;

const STYLE: &str = "body{font-family:'DejaVu Sans',Verdana,Arial,sans-serif;color:#222b36;\
margin:2em auto;max-width:960px;padding:0 1em;line-height:1.4}\
h1{font-size:1.5em;margin-bottom:.2em}h2{font-size:1.15em;margin-top:2em;border-bottom:1px solid #d8dee6}\
p.meta{color:#5a6472;margin-top:0}table{border-collapse:collapse;width:100%;font-size:.9em;margin:.5em 0}\
th,td{padding:.25em .5em;text-align:right;border-bottom:1px solid #eef1f5}\
th:first-child,td:first-child{text-align:left}td.who{padding-left:1.6em;color:#5a6472}\
thead th{background:#f4f6f9;font-weight:600}figure{margin:1em 0}svg{max-width:100%;height:auto}\
.totals{display:flex;flex-wrap:wrap;gap:1em}.totals div{background:#f4f6f9;padding:.5em 1em;border-radius:4px}\
.totals b{display:block;font-size:1.3em}";

/// Escapes text for HTML element content and attribute values.
pub fn escape(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for c in s.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&#39;"),
            c => out.push(c),
        }
    }
    out
}

fn cells(s: Option<Spread>, f: fn(f64) -> String) -> String {
    match s {
        Some(s) => format!(
            "<td>{}</td><td>{}</td><td>{}</td>",
            f(s.median),
            f(s.p90),
            f(s.max)
        ),
        None => "<td>-</td><td>-</td><td>-</td>".into(),
    }
}

/// Decided, open now, then wall and business median, p90 and max.
fn times(t: &DecisionTimes, open: &str) -> String {
    format!(
        "<td>{}</td><td>{open}</td>{}{}",
        t.decisions,
        cells(t.wall_seconds, wall),
        cells(t.business_seconds, business)
    )
}

pub fn render(r: &Report) -> Result<String, ChartError> {
    let f = &r.figures;
    let t = &f.totals;
    let mut out = String::new();
    let window = match r.since {
        Some(s) => format!(
            "{} to {}",
            s.format("%Y-%m-%d %H:%M UTC"),
            r.generated_at.format("%Y-%m-%d %H:%M UTC")
        ),
        None => format!(
            "whole log, to {}",
            r.generated_at.format("%Y-%m-%d %H:%M UTC")
        ),
    };
    let _ = write!(
        out,
        "<!DOCTYPE html>\n<html lang=\"en\"><head><meta charset=\"utf-8\">\
         <meta name=\"viewport\" content=\"width=device-width, initial-scale=1\">\
         <title>Capacity requests report</title><style>{STYLE}</style></head><body>\n\
         <h1>Capacity requests report</h1>\n<p class=\"meta\">{}. Business hours: {}.</p>\n",
        escape(&window),
        escape(&r.calendar)
    );
    let _ = writeln!(
        out,
        "<div class=\"totals\"><div><b>{}</b>decisions</div><div><b>{}</b>deadlines missed \
         ({} expired)</div><div><b>{}</b>escalations</div><div><b>{}</b>forced transitions</div>\
         <div><b>{}</b>cost at risk accrued</div><div><b>{}</b>committed now, per month</div></div>",
        t.decisions,
        t.deadlines_missed,
        t.expirations,
        t.escalations,
        t.forced_transitions,
        escape(&usd(t.cost_at_risk_cents)),
        escape(&usd(t.committed_monthly_cents)),
    );

    let _ = write!(
        out,
        "<h2>Cost at risk over time</h2>\n<figure>{}</figure>\n",
        cost_chart(r)?
    );
    let _ = write!(
        out,
        "<h2>Time to decision per stage</h2>\n<figure>{}</figure>\n",
        decision_chart(r)?
    );
    out.push_str(
        "<table><thead><tr><th rowspan=\"2\">Stage / decided by</th><th rowspan=\"2\">decided</th>\
         <th rowspan=\"2\">open now</th><th colspan=\"3\">wall time</th><th colspan=\"3\">business hours</th>\
         <th rowspan=\"2\">deadlines missed</th><th rowspan=\"2\">escalations</th><th rowspan=\"2\">forced</th></tr>\
         <tr><th>median</th><th>p90</th><th>max</th><th>median</th><th>p90</th><th>max</th></tr></thead><tbody>\n",
    );
    for s in &f.stages {
        let _ = writeln!(
            out,
            "<tr><th>{}</th>{}<td>{}</td><td>{}</td><td>{}</td></tr>",
            escape(s.label),
            times(&s.times, &s.open_now.to_string()),
            s.deadlines_missed,
            s.escalations,
            s.forced_transitions,
        );
        for o in &s.by_owner {
            let _ = writeln!(
                out,
                "<tr><td class=\"who\">{}</td>{}<td></td><td></td><td></td></tr>",
                escape(&o.owner.name),
                times(&o.times, ""),
            );
        }
    }
    out.push_str("</tbody></table>\n");

    let _ = write!(
        out,
        "<h2>Open requests by decision owner</h2>\n<figure>{}</figure>\n",
        owner_chart(r)?
    );

    let _ = write!(
        out,
        "<h2>Capacity committed now</h2>\n<p>{} request(s), {} per month.</p>\n",
        f.committed_now.len(),
        escape(&usd(t.committed_monthly_cents))
    );
    out.push_str(
        "<table><thead><tr><th>Request</th><th>Customer</th><th>State</th><th>Monthly</th>\
         <th>Committed since</th><th>Cost at risk</th><th>Waiting on</th></tr></thead><tbody>\n",
    );
    for c in &f.committed_now {
        let owners: Vec<String> = c.owners.iter().map(|o| escape(&o.name)).collect();
        let _ = writeln!(
            out,
            "<tr><td>{}</td><td>{}</td><td>{}</td><td>{}</td><td>{}</td><td>{}</td><td>{}</td></tr>",
            escape(&c.request),
            escape(&c.customer),
            c.state.label(),
            escape(&usd(c.monthly_cents)),
            c.committed_at.format("%Y-%m-%d"),
            escape(&usd(c.cost_at_risk_cents)),
            owners.join(", ")
        );
    }
    out.push_str("</tbody></table>\n");

    let _ = write!(
        out,
        "<h2>Cost at risk accrued per request</h2>\n<p>{} in total over {} request(s).</p>\n",
        escape(&usd(t.cost_at_risk_cents)),
        f.costs.len()
    );
    out.push_str(
        "<table><thead><tr><th>Request</th><th>Customer</th><th>State</th><th>Monthly</th>\
         <th>Accrued</th></tr></thead><tbody>\n",
    );
    for c in &f.costs {
        let _ = writeln!(
            out,
            "<tr><td>{}</td><td>{}</td><td>{}</td><td>{}</td><td>{}</td></tr>",
            escape(&c.request),
            escape(&c.customer),
            escape(&c.state),
            escape(&usd(c.monthly_cents)),
            escape(&usd(c.accrued_cents)),
        );
    }
    out.push_str("</tbody></table>\n</body></html>\n");
    Ok(out)
}

fn cost_chart(r: &Report) -> Result<String, ChartError> {
    chart::line_svg(
        &LineChart {
            title: "Cost at risk of capacity committed and not yet paid for".into(),
            points: r
                .figures
                .cost_over_time
                .iter()
                .map(|(t, c)| (*t, *c as f64 / 100.0))
                .collect(),
            y_format: usd_short,
        },
        (WIDTH, 340),
    )
}

fn decision_chart(r: &Report) -> Result<String, ChartError> {
    let groups = r
        .figures
        .stages
        .iter()
        .filter_map(|s| {
            s.times
                .business_seconds
                .map(|b| (s.label.to_string(), vec![b.median / 3600.0, b.p90 / 3600.0]))
        })
        .collect();
    chart::bars_svg(
        &BarChart {
            title: "Time to decision, business hours".into(),
            series: vec!["median".into(), "90th percentile".into()],
            groups,
            value_format: |h| format!("{h:.1}h"),
        },
        WIDTH,
    )
}

fn owner_chart(r: &Report) -> Result<String, ChartError> {
    let groups = r
        .figures
        .open_by_owner
        .iter()
        .take(TOP_OWNERS)
        .map(|o| (o.owner.name.clone(), vec![o.requests as f64]))
        .collect();
    chart::bars_svg(
        &BarChart {
            title: "Open requests by decision owner".into(),
            series: vec!["open requests".into()],
            groups,
            value_format: |n| format!("{n:.0}"),
        },
        WIDTH,
    )
}
