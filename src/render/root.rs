//! The root message: one per request in the requests channel, rendered from the request alone
//! and replaced in place on every change.
//!
//! Every user-typed string is escaped and cut to a budget, and the budgets add up to less
//! than Slack's limits (section text 3,000, field 2,000, header 150, 12,000 in all), so a
//! request with maximal inputs still renders; the tests check this for every state.

use chrono::{DateTime, Utc};
use slack_morphism::blocks::{
    SlackBlock, SlackBlockMarkDownText, SlackBlockPlainText, SlackBlockText, SlackContextBlock,
    SlackHeaderBlock, SlackSectionBlock,
};
use slack_morphism::SlackMessageContent;

use super::blocks::{id, section};
use super::buttons::root_actions_block;
use super::lines::{
    capacity, closed, day, months, pending_cancellation, safe_url, summary, waiting_on, when, Shown,
};
use super::text::{clip, mention, quote};
use crate::config::Roles;
use crate::domain::cost::format_usd;
use crate::domain::Links;
use crate::domain::{Party, Policy, Request, UserId};

/// Header text is plain_text of at most 150 chars.
const HEADER_MAX: usize = 150;
const JUSTIFICATION_MAX: usize = 2_800;
const REASON_MAX: usize = 1_000;

pub fn root_message(
    req: &Request,
    links: &Links,
    policy: &Policy,
    roles: &Roles,
    now: DateTime<Utc>,
) -> SlackMessageContent {
    let mut blocks: Vec<SlackBlock> = vec![
        SlackHeaderBlock::new(SlackBlockPlainText::new(summary_header(req)).into())
            .with_block_id(id("header"))
            .into(),
        section("state", state_text(req, roles, policy, now)),
    ];
    if let Some(marks) = super::attention::root_marks(req, policy, now) {
        blocks.push(section("attention", marks));
    }
    blocks.extend([
        fields("facts", facts(req)),
        fields("people", people(req, roles, policy)),
        section(
            "justification",
            format!(
                "*Justification*\n{}",
                quote(&req.details.justification, JUSTIFICATION_MAX)
            ),
        ),
    ]);
    if let Some(text) = capacity(req, roles, policy, now, Shown::Standing) {
        blocks.push(section("capacity", text));
    }
    if let Some(text) = pending_cancellation(req, roles, policy, now, REASON_MAX) {
        blocks.push(section("cancellation", text));
    }
    if let Some(actions) = root_actions_block(req, policy) {
        blocks.push(actions);
    }
    if let Some(picker) = super::attention::assign_owner_picker(req) {
        blocks.push(picker);
    }
    blocks.push(context(req, links, policy, now));
    SlackMessageContent::new()
        .with_text(fallback(req))
        .with_blocks(blocks)
}

/// "CR-12 · Acme Corp · 16XL → 48XL · us-east-1".
fn summary_header(req: &Request) -> String {
    summary(req, HEADER_MAX)
}

/// The one-line `text` shown in notifications and by clients without blocks.
fn fallback(req: &Request) -> String {
    format!("{} — {}", summary(req, 300), req.state.label())
}

/// The state, and who the request waits on or how it ended.
fn state_text(req: &Request, roles: &Roles, policy: &Policy, now: DateTime<Utc>) -> String {
    let mut lines = Vec::new();
    match closed(req, policy, now, REASON_MAX) {
        Some(ended) => lines.push(ended),
        None => lines.push(format!("*{}*", req.state.label())),
    }
    if let Some(kind) = req.expired_from {
        lines.push(format!(
            "The {} window closed without an answer.",
            kind.label()
        ));
    }
    if let Some(waiting) = waiting_on(req, roles, policy, now) {
        lines.push(waiting);
    }
    lines.join("\n")
}

fn facts(req: &Request) -> Vec<String> {
    let d = &req.details;
    vec![
        field("Customer", &clip(&d.customer, 300)),
        field("Org id", &clip(&d.org_id, 200)),
        field("Project ref", &clip(&d.project_ref, 200)),
        field(
            "Size",
            &format!(
                "{} → {}",
                clip(&d.current_size, 100),
                clip(&d.requested_size, 100)
            ),
        ),
        field("Region", &clip(&d.region, 150)),
        field("Needed by", &day(d.needed_by)),
        field("Duration", &months(d.duration_months)),
        field("Est. monthly cost", &format_usd(d.est_monthly_cost_cents)),
    ]
}

fn people(req: &Request, roles: &Roles, policy: &Policy) -> Vec<String> {
    let named = |u: &Option<UserId>| {
        u.as_ref()
            .map_or("_not assigned_".to_string(), |u| format!("<@{u}>"))
    };
    let finance = if req.finance_required {
        let key = |who: &Option<UserId>| {
            who.as_ref()
                .map_or("_waiting_".to_string(), |u| format!("<@{u}> ✓"))
        };
        format!(
            "Needed (at or above {}/month)\nCommercial key: {}\nFinance key: {}",
            format_usd(policy.finance_threshold_usd_month.saturating_mul(100)),
            key(&req.approvals.commercial),
            key(&req.approvals.finance)
        )
    } else {
        let given = req
            .approvals
            .commercial
            .as_ref()
            .map_or(String::new(), |u| format!("\nCommercial key: <@{u}> ✓"));
        format!("Not needed{given}")
    };
    vec![
        field(
            "Requester",
            &mention(&Party::User(req.requester.clone()), roles),
        ),
        field("Commercial owner", &named(&req.commercial_owner)),
        field("Technical owner", &named(&req.technical_owner)),
        field("Finance approval", &finance),
    ]
}

fn context(req: &Request, links: &Links, policy: &Policy, now: DateTime<Utc>) -> SlackBlock {
    let mut text = format!(
        "{} · updated {}",
        req.number,
        when(req.updated_at, &policy.calendar, now)
    );
    if let Some(url) = links.linear_url.as_deref().and_then(safe_url) {
        text.push_str(&format!(" · <{url}|Linear issue>"));
    }
    if let Some(from) = super::ways::source_line(req) {
        text.push_str(&format!(" · {from}"));
    }
    SlackContextBlock::new(vec![SlackBlockMarkDownText::new(text).into()])
        .with_block_id(id("context"))
        .into()
}

fn field(name: &str, value: &str) -> String {
    format!("*{name}*\n{value}")
}

fn fields(block_id: &str, fields: Vec<String>) -> SlackBlock {
    SlackSectionBlock::new()
        .with_block_id(id(block_id))
        .with_fields(
            fields
                .into_iter()
                .map(|f| SlackBlockText::MarkDown(SlackBlockMarkDownText::new(f)))
                .collect(),
        )
        .into()
}
