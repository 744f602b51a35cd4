//! The weekly digest's message: open requests by decision owner, cost at risk now and eight
//! weeks ago (the chart is uploaded beside it), the stuck requests and last week's
//! decisions. Pure: `report::digest` gathers the [`Digest`] and draws the chart.

use chrono::{DateTime, Utc};
use slack_morphism::blocks::{
    SlackBlock, SlackBlockId, SlackBlockMarkDownText, SlackBlockPlainText, SlackBlockText,
    SlackContextBlock, SlackHeaderBlock, SlackSectionBlock,
};
use slack_morphism::SlackMessageContent;

use super::lines::{safe_url, when};
use super::text::{clip, mention, mentions};
use crate::config::Roles;
use crate::domain::cost::format_usd;
use crate::domain::{Calendar, EventKind, Party, RequestNumber, State};

/// Requests listed per section at most; the rest are counted ("… and 12 more").
const MAX_LINES: usize = 15;
/// A digest posted this long after its slot says so (a daemon down over the slot, or an
/// outage of Slack retried for that long).
const LATE: chrono::Duration = chrono::Duration::hours(1);
/// Section text stays well inside Block Kit's 3,000 characters.
const SECTION_CHARS: usize = 2900;

/// A request as one line of the digest.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RequestLine {
    pub number: RequestNumber,
    pub customer: String,
    /// The root message, once posted.
    pub permalink: Option<String>,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct OpenLine {
    pub request: RequestLine,
    pub state: State,
    /// "technical review": what the owner is deciding.
    pub decision: &'static str,
    pub due: Option<DateTime<Utc>>,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct OwnerGroup {
    pub owner: Party,
    pub requests: Vec<OpenLine>,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StuckLine {
    pub request: RequestLine,
    pub state: State,
    pub entered_at: DateTime<Utc>,
    pub owners: Vec<Party>,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DecisionLine {
    pub request: RequestLine,
    pub kind: EventKind,
    pub by: Party,
    pub at: DateTime<Utc>,
}

/// Everything one week's digest says.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Digest {
    /// The week's slot (the configured weekday and time).
    pub slot: DateTime<Utc>,
    /// The previous week's slot: decisions are listed from there.
    pub since: DateTime<Utc>,
    /// When it was put together (later than `slot` when a missed week is posted late).
    pub as_of: DateTime<Utc>,
    pub open_requests: usize,
    pub by_owner: Vec<OwnerGroup>,
    pub stuck_after_business_days: u32,
    pub stuck: Vec<StuckLine>,
    /// The first of the week's decisions (the store reads a bounded number).
    pub decisions: Vec<DecisionLine>,
    /// How many decisions the week had in all.
    pub decisions_total: usize,
    /// Cost at risk, day by day over the last eight weeks, ending at `as_of`.
    pub cost_trend: Vec<(DateTime<Utc>, i64)>,
}

impl Digest {
    pub fn cost_now_cents(&self) -> i64 {
        self.cost_trend.last().map_or(0, |p| p.1)
    }

    pub fn cost_weeks_ago_cents(&self) -> i64 {
        self.cost_trend.first().map_or(0, |p| p.1)
    }
}

/// The chart's title, also the uploaded file's.
pub fn chart_title(d: &Digest, calendar: &Calendar) -> String {
    format!(
        "Cost at risk, 8 weeks to {}",
        when(d.as_of, calendar, d.as_of)
    )
}

/// The digest as one message.
pub fn digest_message(d: &Digest, roles: &Roles, calendar: &Calendar) -> SlackMessageContent {
    let at = |t: DateTime<Utc>| when(t, calendar, d.as_of);
    let mut blocks: Vec<SlackBlock> = vec![
        SlackHeaderBlock::new(SlackBlockPlainText::new("Weekly capacity digest".into()).into())
            .with_block_id(SlackBlockId("digest_header".into()))
            .into(),
        SlackContextBlock::new(vec![SlackBlockMarkDownText::new(format!(
            "Week to {}{}",
            at(d.slot),
            if d.as_of - d.slot >= LATE {
                format!(" · posted late, as of {}", at(d.as_of))
            } else {
                String::new()
            }
        ))
        .into()])
        .with_block_id(SlackBlockId("digest_week".into()))
        .into(),
    ];
    let trend = d.cost_now_cents() - d.cost_weeks_ago_cents();
    blocks.push(section(
        "digest_cost",
        format!(
            "*Cost at risk now: {}* ({} over 8 weeks; chart below)",
            format_usd(d.cost_now_cents()),
            if trend >= 0 {
                format!("up {}", format_usd(trend))
            } else {
                format!("down {}", format_usd(-trend))
            }
        ),
    ));

    let mut open = vec![format!(
        "*Open requests by decision owner* ({})",
        d.open_requests
    )];
    if d.by_owner.is_empty() {
        open.push("Nothing is waiting on anyone.".into());
    }
    for group in &d.by_owner {
        open.push(format!(
            "{} ({})",
            mention(&group.owner, roles),
            group.requests.len()
        ));
        for line in group.requests.iter().take(MAX_LINES) {
            let due = line
                .due
                .map(|t| format!(" · due {}", at(t)))
                .unwrap_or_default();
            open.push(format!(
                "• {} · {}{due}",
                request(&line.request),
                line.decision
            ));
        }
        more(&mut open, group.requests.len());
    }
    blocks.push(section("digest_open", fit(open)));

    let mut stuck = vec![format!(
        "*Stuck* (no move for {} business days or more): {}",
        d.stuck_after_business_days,
        d.stuck.len()
    )];
    for line in d.stuck.iter().take(MAX_LINES) {
        stuck.push(format!(
            "• {} · {} since {} · waiting on {}",
            request(&line.request),
            line.state.label(),
            at(line.entered_at),
            mentions(&line.owners, roles, "or")
        ));
    }
    more(&mut stuck, d.stuck.len());
    blocks.push(section("digest_stuck", fit(stuck)));

    let mut decided = vec![format!(
        "*Decisions since {}*: {}",
        at(d.since),
        d.decisions_total
    )];
    for line in d.decisions.iter().take(MAX_LINES) {
        decided.push(format!(
            "• {} · {} {} on {}",
            at(line.at),
            mention(&line.by, roles),
            line.kind.verb(),
            request(&line.request)
        ));
    }
    more(&mut decided, d.decisions_total.max(d.decisions.len()));
    blocks.push(section("digest_decisions", fit(decided)));

    SlackMessageContent::new()
        .with_text(format!(
            "Weekly capacity digest: {} open, {} stuck, {} decisions; cost at risk {}",
            d.open_requests,
            d.stuck.len(),
            d.decisions_total,
            format_usd(d.cost_now_cents())
        ))
        .with_blocks(blocks)
}

fn section(block_id: &str, text: String) -> SlackBlock {
    SlackSectionBlock::new()
        .with_block_id(SlackBlockId(block_id.into()))
        .with_text(SlackBlockText::MarkDown(SlackBlockMarkDownText::new(text)))
        .into()
}

/// "<link|CR-12> · Acme Corp", the customer escaped and clipped.
fn request(r: &RequestLine) -> String {
    let tag = r.number.to_string();
    let tag = match r.permalink.as_deref().and_then(safe_url) {
        Some(url) => format!("<{url}|{tag}>"),
        None => tag,
    };
    format!("{tag} · {}", clip(&r.customer, 60))
}

fn more(lines: &mut Vec<String>, total: usize) {
    if total > MAX_LINES {
        lines.push(format!("… and {} more", total - MAX_LINES));
    }
}

/// Joins lines, dropping whole lines from the end to stay within a section's limit.
fn fit(lines: Vec<String>) -> String {
    let mut out = String::new();
    let total = lines.len();
    for (i, line) in lines.into_iter().enumerate() {
        let tail = format!("\n… and {} more lines", total - i);
        if out.chars().count() + line.chars().count() + 1 + tail.chars().count() > SECTION_CHARS {
            out.push_str(&tail);
            break;
        }
        if !out.is_empty() {
            out.push('\n');
        }
        out.push_str(&line);
    }
    out
}
