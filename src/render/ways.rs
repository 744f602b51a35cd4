//! The ways in from a conversation: the line naming a request's source message, the reply
//! the source thread gets once the request exists, and the card answering a message that
//! mentions `CR-<n>`.

use chrono::{DateTime, Utc};
use slack_morphism::blocks::{SlackBlock, SlackBlockMarkDownText, SlackContextBlock};
use slack_morphism::SlackMessageContent;

use super::blocks::{id, section};
use super::lines::{closed, safe_url, summary, waiting_on};
use super::text::mention;
use crate::config::Roles;
use crate::domain::{Party, Policy, Request};

/// At most this many requests get a card in one reply; the rest are named in one line. A
/// message listing fifty numbers gets a reply of bounded size, well inside 50 blocks.
pub const MAX_CARDS: usize = 5;

/// "From <…|a Slack message>" for a request made from one.
pub fn source_line(req: &Request) -> Option<String> {
    let source = req.details.source.as_ref()?;
    Some(match safe_url(&source.permalink) {
        Some(url) => format!("From <{url}|a Slack message>"),
        None => "From a Slack message".to_string(),
    })
}

/// "Where it lives: <…|its thread in #…>", or the number alone before the root is posted.
fn thread_link(req: &Request, permalink: Option<&str>) -> String {
    match permalink.and_then(safe_url) {
        Some(url) => format!("<{url}|Open {}'s thread>", req.number),
        None => format!("{}'s thread is in the requests channel", req.number),
    }
}

/// The reply in the thread a request was made from: it names the request, says where it
/// stands and who acts next, and links the request's own thread, where everything else
/// happens.
pub fn source_reply(
    req: &Request,
    permalink: Option<&str>,
    roles: &Roles,
    policy: &Policy,
    now: DateTime<Utc>,
) -> SlackMessageContent {
    let requester = mention(&Party::User(req.requester.clone()), roles);
    let mut lines = vec![
        format!(
            "{requester} made this a capacity request: *{}*",
            summary(req, 300)
        ),
        standing(req, roles, policy, now),
        format!(
            "{}. Decisions and updates are recorded there, not here.",
            thread_link(req, permalink)
        ),
    ];
    lines.retain(|l| !l.is_empty());
    SlackMessageContent::new()
        .with_text(format!(
            "{} is the capacity request made from this message",
            req.number
        ))
        .with_blocks(vec![section("source_reply", lines.join("\n"))])
}

/// The state in words and who acts next (or how it ended).
fn standing(req: &Request, roles: &Roles, policy: &Policy, now: DateTime<Utc>) -> String {
    let mut lines = Vec::new();
    match closed(req, policy, now, 300) {
        Some(ended) => lines.push(ended),
        None => lines.push(format!("State: *{}*", req.state.label())),
    }
    if let Some(waiting) = waiting_on(req, roles, policy, now) {
        lines.push(waiting);
    } else if closed(req, policy, now, 300).is_none() {
        lines.push("Nobody owes a decision right now.".to_string());
    }
    lines.join("\n")
}

/// The one reply to a thread that mentioned requests: a card per request (state, decision
/// owner and due date, link to its thread), at most [`MAX_CARDS`], then the others by number.
/// `cards` holds the requests as they are now, in the order the message named them.
pub fn mention_reply(
    cards: &[(Request, Option<String>)],
    roles: &Roles,
    policy: &Policy,
    now: DateTime<Utc>,
) -> SlackMessageContent {
    let mut blocks: Vec<SlackBlock> = cards
        .iter()
        .take(MAX_CARDS)
        .enumerate()
        .map(|(i, (req, permalink))| {
            section(
                &format!("card_{i}"),
                format!(
                    "*{}*\n{}\n{}",
                    summary(req, 300),
                    standing(req, roles, policy, now),
                    thread_link(req, permalink.as_deref())
                ),
            )
        })
        .collect();
    if cards.len() > MAX_CARDS {
        let others: Vec<String> = cards[MAX_CARDS..]
            .iter()
            .map(|(r, _)| r.number.to_string())
            .collect();
        blocks.push(section(
            "more",
            format!(
                "Also mentioned: {}. `/capacity status CR-n` shows any of them.",
                others.join(", ")
            ),
        ));
    }
    blocks.push(
        SlackContextBlock::new(vec![SlackBlockMarkDownText::new(
            "Each request has one thread in the requests channel; this thread gets this one \
             reply however often it mentions them."
                .to_string(),
        )
        .into()])
        .with_block_id(id("mention_context"))
        .into(),
    );
    let named: Vec<String> = cards.iter().map(|(r, _)| r.number.to_string()).collect();
    SlackMessageContent::new()
        .with_text(format!("Where {} stands", named.join(", ")))
        .with_blocks(blocks)
}
