//! A person's App Home tab: what waits on them (with that decision's buttons), their own
//! requests, and every open request with the cost at risk and the stuck ones.
//!
//! A Home view holds at most 100 blocks. Each section is capped (the most urgent first) and
//! ends with a count of what was left out and the `/capacity list` that shows it, so a Home
//! with 300 open requests stays within the limit and still says how many there are.

use std::cmp::Reverse;

use chrono::{DateTime, Utc};
use slack_morphism::blocks::{
    SlackBlock, SlackBlockMarkDownText, SlackBlockPlainText, SlackContextBlock, SlackDividerBlock,
    SlackHeaderBlock, SlackHomeView, SlackView,
};

use super::blocks::{id, section};
use super::buttons::decision_actions_block_as;
use super::lines::{safe_url, summary, waiting_on, when};
use super::text::clip_markup;
use crate::config::Roles;
use crate::domain::cost::{cost_at_risk_cents, cost_per_day_cents, format_usd};
use crate::domain::digest::{is_stuck, stuck_since};
use crate::domain::{decision_owner, Party, Policy, Request, RequestNumber, RoleSet, UserId};

/// Requests shown under "Waiting on you": two blocks each (the request, its buttons).
pub const WAITING_MAX: usize = 20;
/// Lines under "Your requests".
pub const MINE_MAX: usize = 15;
/// Lines under "Open requests".
pub const OPEN_MAX: usize = 40;
/// A section's text stays under Slack's 3,000 characters with room to spare.
const SECTION_BUDGET: usize = 2_800;
const LINE_MAX: usize = 400;

/// The prefix of the `block_id` of a waiting request's buttons on Home; the request's
/// number follows (`home_actions:CR-12`). A click from Home is checked against it.
pub const ACTIONS_BLOCK_PREFIX: &str = "home_actions:";

/// The `block_id` of `number`'s buttons on Home.
pub fn actions_block_id(number: RequestNumber) -> String {
    format!("{ACTIONS_BLOCK_PREFIX}{number}")
}

/// What a Home is rendered from.
#[derive(Debug, Clone, Copy)]
pub struct HomeInput<'a> {
    /// Whose Home it is, and the roles they hold now.
    pub user: &'a UserId,
    pub user_roles: &'a RoleSet,
    /// Every open request, and the closed ones whose capacity waits for a release, each
    /// with its thread's permalink.
    pub requests: &'a [(Request, Option<String>)],
    pub roles: &'a Roles,
    pub policy: &'a Policy,
    pub now: DateTime<Utc>,
}

/// The Home view for `views.publish`.
pub fn home_view(input: &HomeInput<'_>) -> SlackView {
    SlackView::Home(SlackHomeView::new(home_blocks(input)))
}

pub fn home_blocks(input: &HomeInput<'_>) -> Vec<SlackBlock> {
    let HomeInput {
        user,
        user_roles,
        requests,
        roles,
        policy,
        now,
    } = *input;
    let mut blocks = Vec::new();

    // Waiting on you: due soonest first; no due date last.
    let mut waiting: Vec<&(Request, Option<String>)> = requests
        .iter()
        .filter(|(r, _)| owns_decision(r, user, user_roles))
        .collect();
    waiting.sort_by_key(|(r, _)| {
        (
            r.deadline.map(|d| d.at).is_none(),
            r.deadline.map(|d| d.at),
            r.number,
        )
    });
    blocks.push(header(
        "waiting_header",
        format!("Waiting on you ({})", waiting.len()),
    ));
    if waiting.is_empty() {
        blocks.push(section(
            "waiting_none",
            "Nothing waits on your decision.".into(),
        ));
    }
    for (req, link) in waiting.iter().take(WAITING_MAX) {
        let mut text = vec![title(req, link.as_deref())];
        if let Some(line) = waiting_on(req, roles, policy, now) {
            text.push(format!("{line}."));
        }
        if let Some(cost) = cost_line(req, now) {
            text.push(cost);
        }
        blocks.push(section(
            &format!("waiting:{}", req.number),
            clip_markup(&text.join("\n"), SECTION_BUDGET),
        ));
        if let Some(actions) = decision_actions_block_as(req, policy, actions_block_id(req.number))
        {
            blocks.push(actions);
        }
    }
    more(
        &mut blocks,
        "waiting_more",
        waiting.len(),
        WAITING_MAX,
        "requests waiting on you",
        "/capacity list waiting",
    );

    // Your requests: the ones you asked for or own, newest first.
    blocks.push(divider("mine_divider"));
    let mut mine: Vec<&(Request, Option<String>)> =
        requests.iter().filter(|(r, _)| involves(r, user)).collect();
    mine.sort_by_key(|(r, _)| Reverse(r.number));
    blocks.push(header(
        "mine_header",
        format!("Your requests ({})", mine.len()),
    ));
    let lines: Vec<String> = mine
        .iter()
        .take(MINE_MAX)
        .map(|(r, link)| {
            let next =
                waiting_on(r, roles, policy, now).map_or(String::new(), |w| format!(" — {w}"));
            format!(
                "• {} — {}{next}",
                title(r, link.as_deref()),
                r.state.label()
            )
        })
        .collect();
    if lines.is_empty() {
        blocks.push(section(
            "mine_none",
            "You have no open requests. `/capacity` starts one.".into(),
        ));
    }
    blocks.extend(sections("mine", &lines));
    more(
        &mut blocks,
        "mine_more",
        mine.len(),
        MINE_MAX,
        "of your requests",
        "/capacity list mine",
    );

    // Open requests: cost at risk first, then the stuck, then the oldest.
    blocks.push(divider("open_divider"));
    let mut open: Vec<(&Request, Option<&str>, i64, bool)> = requests
        .iter()
        .filter(|(r, _)| r.state.is_open())
        .map(|(r, link)| {
            let cost = if r.capacity.is_committed() {
                cost_at_risk_cents(r, now).unwrap_or(0)
            } else {
                0
            };
            (r, link.as_deref(), cost, is_stuck(r, policy, now))
        })
        .collect();
    open.sort_by_key(|(r, _, cost, stuck)| (Reverse(*cost), !*stuck, r.number));
    let total: i64 = open.iter().map(|(_, _, c, _)| *c).sum();
    let stuck = open.iter().filter(|(_, _, _, s)| *s).count();
    blocks.push(header(
        "open_header",
        format!("Open requests ({})", open.len()),
    ));
    blocks.push(section(
        "open_summary",
        format!(
            "Cost at risk now: *{}* in total. *{stuck}* stuck for more than {} business days \
             in the same state.",
            format_usd(total),
            policy.stuck_after_business_days
        ),
    ));
    let lines: Vec<String> = open
        .iter()
        .take(OPEN_MAX)
        .map(|(r, link, cost, stuck)| {
            let mut line = format!("• {} — {}", title(r, *link), r.state.label());
            if *cost > 0 {
                line.push_str(&format!(" — *{}* at risk", format_usd(*cost)));
            }
            if *stuck {
                line.push_str(&format!(
                    " — :hourglass: stuck since {}",
                    when(stuck_since(r, policy), &policy.calendar, now)
                ));
            }
            line
        })
        .collect();
    blocks.extend(sections("open", &lines));
    more(
        &mut blocks,
        "open_more",
        open.len(),
        OPEN_MAX,
        "open requests",
        "/capacity list",
    );

    blocks.push(
        SlackContextBlock::new(vec![SlackBlockMarkDownText::new(format!(
            "As of {}. Buttons here do what they do on the request's message.",
            when(now, &policy.calendar, now)
        ))
        .into()])
        .with_block_id(id("as_of"))
        .into(),
    );
    blocks
}

/// Whether `user` owns the pending decision of `req`, by name or through a role they hold.
fn owns_decision(req: &Request, user: &UserId, user_roles: &RoleSet) -> bool {
    decision_owner(req).is_some_and(|owner| {
        owner.parties.iter().any(|p| match p {
            Party::User(u) => u == user,
            Party::Role(role) => user_roles.has(*role),
            Party::System => false,
        })
    })
}

fn involves(req: &Request, user: &UserId) -> bool {
    req.requester == *user
        || req.commercial_owner.as_ref() == Some(user)
        || req.technical_owner.as_ref() == Some(user)
}

/// "*CR-12 · Acme Corp · 16XL → 48XL · us-east-1*", linked to its thread when known.
fn title(req: &Request, permalink: Option<&str>) -> String {
    let text = summary(req, 120);
    match permalink.and_then(safe_url) {
        Some(url) => format!("*<{url}|{text}>*"),
        None => format!("*{text}*"),
    }
}

fn cost_line(req: &Request, now: DateTime<Utc>) -> Option<String> {
    if !req.capacity.is_committed() {
        return None;
    }
    let cost = cost_at_risk_cents(req, now)?;
    Some(format!(
        ":warning: Cost at risk: *{}* so far, {} a day while committed.",
        format_usd(cost),
        format_usd(cost_per_day_cents(req))
    ))
}

/// Lines packed into as few sections as fit, each under Slack's section limit.
fn sections(prefix: &str, lines: &[String]) -> Vec<SlackBlock> {
    let mut out = Vec::new();
    let mut text = String::new();
    for line in lines {
        let line = clip_markup(line, LINE_MAX);
        if !text.is_empty() && text.chars().count() + line.chars().count() + 1 > SECTION_BUDGET {
            out.push(section(
                &format!("{prefix}:{}", out.len()),
                std::mem::take(&mut text),
            ));
        }
        if !text.is_empty() {
            text.push('\n');
        }
        text.push_str(&line);
    }
    if !text.is_empty() {
        out.push(section(&format!("{prefix}:{}", out.len()), text));
    }
    out
}

/// "…and 280 more open requests: `/capacity list`".
fn more(
    blocks: &mut Vec<SlackBlock>,
    block_id: &str,
    count: usize,
    shown: usize,
    what: &str,
    command: &str,
) {
    if count > shown {
        blocks.push(
            SlackContextBlock::new(vec![SlackBlockMarkDownText::new(format!(
                "…and {} more {what}: `{command}` lists them.",
                count - shown
            ))
            .into()])
            .with_block_id(id(block_id))
            .into(),
        );
    }
}

fn header(block_id: &str, text: String) -> SlackBlock {
    SlackHeaderBlock::new(SlackBlockPlainText::new(text).into())
        .with_block_id(id(block_id))
        .into()
}

fn divider(block_id: &str) -> SlackBlock {
    SlackDividerBlock::new().with_block_id(id(block_id)).into()
}
