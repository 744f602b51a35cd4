//! Replies only the asker sees: why a click was refused, who won a conflicting click, and the
//! `/capacity status`, `list` and `help` answers. All plain mrkdwn strings of at most 4,000
//! chars, for `chat.postEphemeral` or a slash command's response.

use chrono::{DateTime, Utc};

use super::lines::{capacity, pending_cancellation, safe_url, summary, waiting_on, when, Shown};
use super::text::{clip, mentions, truncate};
use super::thread::actor_name;
use crate::config::Roles;
use crate::domain::Links;
use crate::domain::RecordedEvent;
use crate::domain::{EventKind, Party, Policy, Refusal, Request, State};

/// Slack keeps message `text` readable up to this many chars.
pub const TEXT_MAX: usize = 4_000;

/// The refusal's sentence, with every role it names expanded to its configured members and
/// every action named by its button's words.
pub fn refusal_text(refusal: &Refusal, roles: &Roles) -> String {
    let who = |parties: &[Party]| mentions(parties, roles, "or");
    let text = match refusal {
        Refusal::NotPermitted {
            event,
            who: parties,
        } => {
            format!(
                "Only {} can do {} on this request.",
                who(parties),
                words(*event)
            )
        }
        Refusal::SelfApproval {
            event,
            who: parties,
        } => format!(
            "You requested this, so {} must come from someone else: {}.",
            words(*event),
            who(parties)
        ),
        Refusal::OwnCancellation { who: parties } => format!(
            "You requested this cancellation and capacity is committed, so {} must approve it.",
            who(parties)
        ),
        Refusal::CancellationPending { who: parties } => format!(
            "A cancellation is pending; {} must approve or deny it first.",
            who(parties)
        ),
        Refusal::WrongState {
            event,
            state,
            allowed,
        } => format!(
            "{} is not possible while the request is in *{}*; it is possible only in {}.",
            words(*event),
            state.label(),
            state_labels(allowed)
        ),
        // The version stays in the button values; people are told what to do.
        Refusal::StaleVersion { .. } => {
            "This request has moved on since that message was shown. Use the updated message."
                .to_string()
        }
        Refusal::ReasonRequired { event } => {
            format!("A reason is required for {}.", words(*event))
        }
        other => other.to_string(),
    };
    truncate(&text, TEXT_MAX)
}

/// An action as people know it: its button's words, in bold ("*Approve technically*").
pub fn words(kind: EventKind) -> String {
    format!("*{}*", super::buttons::label(kind))
}

/// The refusal's states (`TECHNICAL_REVIEW_REQUIRED or EXPIRED …`) in the words messages use.
fn state_labels(allowed: &str) -> String {
    State::ALL.iter().fold(allowed.to_string(), |text, s| {
        text.replace(s.as_str(), &format!("*{}*", s.label()))
    })
}

/// Whether the refusal's own sentence already says who can act.
fn names_who(refusal: &Refusal) -> bool {
    matches!(
        refusal,
        Refusal::NotPermitted { .. }
            | Refusal::SelfApproval { .. }
            | Refusal::OwnCancellation { .. }
            | Refusal::CancellationPending { .. }
    )
}

/// What the clicker of a refused button is told: the refusal and, when that sentence names
/// nobody, who the request waits on now (`req` as it is now, when it could be read).
pub fn refusal_reply(
    refusal: &Refusal,
    req: Option<&Request>,
    roles: &Roles,
    policy: &Policy,
    now: DateTime<Utc>,
) -> String {
    let text = match refusal {
        // The next nudge is told in the team's zone, like every other time we show.
        Refusal::NudgedToday { next } => format!(
            "You already nudged this request today; the next nudge is possible from {}.",
            when(*next, &policy.calendar, now)
        ),
        _ => refusal_text(refusal, roles),
    };
    match req {
        Some(req) if !names_who(refusal) => with_who_acts(text, req, roles, policy, now),
        _ => text,
    }
}

/// What the loser of a conflicting click is told: who won, and who the request waits on now.
pub fn conflict_reply(
    winner: Option<&RecordedEvent>,
    req: Option<&Request>,
    roles: &Roles,
    policy: &Policy,
    now: DateTime<Utc>,
) -> String {
    let text = conflict_text(winner, now);
    match req {
        Some(req) => with_who_acts(text, req, roles, policy, now),
        None => text,
    }
}

fn with_who_acts(
    text: String,
    req: &Request,
    roles: &Roles,
    policy: &Policy,
    now: DateTime<Utc>,
) -> String {
    let line = waiting_on(req, roles, policy, now).unwrap_or_else(|| {
        format!(
            "{} is {}; nobody needs to act on it",
            req.number,
            req.state.label()
        )
    });
    truncate(&format!("{text}\n{line}."), TEXT_MAX)
}

/// The answer to a click that lost to another: who recorded what, and when (day, time, zone).
pub fn conflict_text(winner: Option<&RecordedEvent>, now: DateTime<Utc>) -> String {
    match winner {
        Some(w) => format!(
            "{} already recorded {} on {}; this request has moved on — use the updated message.",
            actor_name(&w.actor),
            words(w.event.kind()),
            when(w.occurred_at, &w.policy.calendar, now)
        ),
        None => "This request has moved on since that message was shown — use the updated \
                 message."
            .to_string(),
    }
}

/// The answer to a second click on a button whose click is already recorded (a new click,
/// not Slack redelivering the first): when it was recorded, and where the request stands.
pub fn already_recorded_reply(
    first: &RecordedEvent,
    req: &Request,
    roles: &Roles,
    policy: &Policy,
    now: DateTime<Utc>,
) -> String {
    let text = format!(
        "Already recorded: {} pressed {} on {}; nothing new was recorded.\n{} is now in *{}*.",
        actor_name(&first.actor),
        words(first.event.kind()),
        when(first.occurred_at, &first.policy.calendar, now),
        req.number,
        req.state.label()
    );
    with_who_acts(text, req, roles, policy, now)
}

/// `/capacity status CR-n`.
pub fn status_text(
    req: &Request,
    links: &Links,
    policy: &Policy,
    roles: &Roles,
    now: DateTime<Utc>,
) -> String {
    let mut lines = vec![
        format!("*{}*", summary(req, 300)),
        format!(
            "{} · updated {}",
            req.state.label(),
            when(req.updated_at, &policy.calendar, now)
        ),
    ];
    if let Some(reason) = req.close_reason.as_deref() {
        lines.push(format!("Closed because: {}", clip(reason, 500)));
    }
    lines.extend(waiting_on(req, roles, policy, now));
    lines.extend(capacity(req, roles, policy, now, Shown::Now));
    lines.extend(pending_cancellation(req, roles, policy, now, 500));
    let mut link = Vec::new();
    if let Some(url) = links.permalink.as_deref().and_then(safe_url) {
        link.push(format!("<{url}|Thread>"));
    }
    if let Some(url) = links.linear_url.as_deref().and_then(safe_url) {
        link.push(format!("<{url}|Linear issue>"));
    }
    if !link.is_empty() {
        lines.push(link.join(" · "));
    }
    truncate(&lines.join("\n"), TEXT_MAX)
}

/// Which requests a `/capacity list` shows; the caller filters, this names the list.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum ListScope {
    /// Every request that has not ended (the default).
    #[default]
    Open,
    /// Requests the asker submitted or owns.
    Mine,
    /// Requests waiting on the asker's decision.
    Waiting,
}

impl ListScope {
    /// `None` (no word) is `open`; an unknown word gives `None`.
    pub fn parse(word: Option<&str>) -> Option<ListScope> {
        match word.map(|w| w.trim().to_ascii_lowercase()).as_deref() {
            None | Some("") | Some("open") => Some(ListScope::Open),
            Some("mine") => Some(ListScope::Mine),
            Some("waiting") => Some(ListScope::Waiting),
            Some(_) => None,
        }
    }

    fn describe(self) -> &'static str {
        match self {
            ListScope::Open => "open requests",
            ListScope::Mine => "open requests of yours",
            ListScope::Waiting => "requests waiting on you",
        }
    }
}

/// `/capacity list [mine|open|waiting]`: one line per request, newest first as given.
pub fn list_text(
    reqs: &[Request],
    scope: ListScope,
    policy: &Policy,
    roles: &Roles,
    now: DateTime<Utc>,
) -> String {
    if reqs.is_empty() {
        return format!("No {}.", scope.describe());
    }
    let mut out = format!("*{} {}*", reqs.len(), scope.describe());
    // Leave room for the "…and N more" line.
    let budget = TEXT_MAX - 40;
    for (i, req) in reqs.iter().enumerate() {
        let waiting =
            waiting_on(req, roles, policy, now).map_or(String::new(), |w| format!(" — {w}"));
        let line = format!("\n• {} — {}{waiting}", summary(req, 160), req.state.label());
        if out.chars().count() + line.chars().count() > budget {
            out.push_str(&format!("\n…and {} more.", reqs.len() - i));
            break;
        }
        out.push_str(&line);
    }
    out
}

/// `/capacity help`.
pub fn help_text() -> String {
    [
        "*/capacity* — large-capacity requests (above 16XL)",
        "• `/capacity` or `/capacity new` — open the request form",
        "• `/capacity status CR-12` — where a request stands and who it waits on",
        "• `/capacity list` — open requests; `list mine` — yours; `list waiting` — waiting on you",
        "• `/capacity away @someone until 2026-12-24` — while you are away, the decisions you \
         own go to them; `/capacity back` — take them back",
        "• `/capacity snooze CR-12 2 reason` — hold your reminders on a request for up to a few \
         business days (the warning before its deadline still comes)",
        "• `/capacity nudge CR-12` — remind whoever owns the decision on your request (once a \
         business day)",
        "• `/capacity force CR-12 STATE reason` — admins: break-glass move to any state; \
         `/capacity review CR-12` — another admin reviews it",
        "• `/capacity help` — this help",
        "Decisions happen with the buttons on each request's message in the requests channel \
         or in your DMs.",
    ]
    .join("\n")
}
