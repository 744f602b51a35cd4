//! What `requests show` prints: the timeline of a request from its log (who did what, when,
//! how long each state lasted) and, with `--json`, the full audit record.

use std::fmt::Write as _;

use chrono::{DateTime, Duration, Utc};
use serde_json::{json, Value};

use crate::domain::cost::{cost_at_risk_cents, format_usd};
use crate::domain::Links;
use crate::domain::RecordedEvent;
use crate::domain::{decision_owner, Request, State};
use crate::render::lines::owners_joined_by;
use crate::render::names::Names;

/// "3d 4h", "25m": how long a state lasted, for people.
pub fn human_duration(d: Duration) -> String {
    let mins = d.num_minutes().max(0);
    let (days, hours, minutes) = (mins / 1440, (mins % 1440) / 60, mins % 60);
    match (days, hours) {
        (0, 0) => format!("{minutes}m"),
        (0, h) => format!("{h}h {minutes}m"),
        (d, h) => format!("{d}d {h}h"),
    }
}

/// How long the request spent in each state it entered, in order.
pub fn state_durations(
    events: &[RecordedEvent],
    now: DateTime<Utc>,
) -> Vec<(State, DateTime<Utc>, Duration)> {
    let mut spans: Vec<(State, DateTime<Utc>, Duration)> = Vec::new();
    let mut current: Option<(State, DateTime<Utc>)> = None;
    for e in events {
        match current {
            Some((s, _)) if s == e.state_after => {}
            Some((s, since)) => {
                spans.push((s, since, e.occurred_at - since));
                current = Some((e.state_after, e.occurred_at));
            }
            None => current = Some((e.state_after, e.occurred_at)),
        }
    }
    if let Some((s, since)) = current {
        let end = if s.is_terminal() { since } else { now };
        spans.push((s, since, end - since));
    }
    spans
}

/// The timeline `requests show` prints; people by name where `names` knows them.
pub fn timeline(
    request: &Request,
    events: &[RecordedEvent],
    links: &Links,
    now: DateTime<Utc>,
    names: &Names,
) -> String {
    let mut out = String::new();
    let d = &request.details;
    let _ = writeln!(
        out,
        "{} — {} ({} → {}, {})",
        request.number, d.customer, d.current_size, d.requested_size, d.region
    );
    let _ = writeln!(
        out,
        "state:      {} (version {})",
        request.state, request.version
    );
    let _ = writeln!(
        out,
        "requester:  {}",
        names.display(request.requester.as_str())
    );
    if let Some(o) = &request.commercial_owner {
        let _ = writeln!(out, "commercial: {}", names.display(o.as_str()));
    }
    if let Some(o) = &request.technical_owner {
        let _ = writeln!(out, "technical:  {}", names.display(o.as_str()));
    }
    if let Some(owner) = decision_owner(request) {
        let who: Vec<String> = owner.parties.iter().map(|p| names.party(p)).collect();
        let due = owner
            .due
            .map(|d| format!(", due {}", d.to_rfc3339()))
            .unwrap_or_default();
        let _ = writeln!(
            out,
            "waiting on: {} — {}{}",
            who.join(&format!(" {} ", owners_joined_by(request))),
            owner.decision,
            due
        );
    }
    if let Some(cents) = cost_at_risk_cents(request, now) {
        let state = if request.capacity.is_committed() {
            "committed"
        } else {
            "was committed"
        };
        let _ = writeln!(
            out,
            "capacity:   {state}, cost at risk {}",
            format_usd(cents)
        );
    }
    if let Some(r) = &request.close_reason {
        let _ = writeln!(out, "reason:     {r}");
    }
    if let (Some(c), Some(ts)) = (&links.slack_channel, &links.slack_ts) {
        let _ = writeln!(
            out,
            "slack:      {c} {ts}{}",
            links
                .permalink
                .as_ref()
                .map(|p| format!(" {p}"))
                .unwrap_or_default()
        );
    }
    if let Some(url) = &links.linear_url {
        let _ = writeln!(out, "linear:     {url}");
    }
    let _ = writeln!(out, "\ntimeline:");
    for e in events {
        let reason = e
            .event
            .reason()
            .map(|r| format!(" — \"{r}\""))
            .unwrap_or_default();
        let _ = writeln!(
            out,
            "  #{:<3} {}  {:<14} {}{}  → {}",
            e.seq,
            e.occurred_at.format("%Y-%m-%d %H:%M UTC"),
            names.actor(&e.actor),
            e.event.kind().verb(),
            reason,
            e.state_after
        );
    }
    let _ = writeln!(out, "\ntime in each state:");
    for (state, since, lasted) in state_durations(events, now) {
        let open = if state.is_terminal() {
            ""
        } else if state == request.state {
            " (so far)"
        } else {
            ""
        };
        let lasted = if state.is_terminal() {
            "final".to_string()
        } else {
            human_duration(lasted)
        };
        let _ = writeln!(
            out,
            "  {:<32} from {}  {}{}",
            state.as_str(),
            since.format("%Y-%m-%d %H:%M"),
            lasted,
            open
        );
    }
    out
}

/// The audit record: every event with its actor (and roles), policy, deadline and cost
/// snapshot, plus the request as it stands.
pub fn audit_record(
    request: &Request,
    events: &[RecordedEvent],
    links: &Links,
    now: DateTime<Utc>,
) -> Value {
    json!({
        "request": request,
        "number": request.number.to_string(),
        "links": {
            "slack_channel": links.slack_channel,
            "slack_ts": links.slack_ts,
            "permalink": links.permalink,
            "linear_issue_id": links.linear_issue_id,
            "linear_url": links.linear_url,
        },
        "cost_at_risk_cents": cost_at_risk_cents(request, now),
        "events": events.iter().map(|e| json!({
            "id": e.id,
            "seq": e.seq,
            "kind": e.event.kind().as_str(),
            "event": e.event,
            "actor": e.actor,
            "policy": e.policy,
            "version_after": e.version_after,
            "state_after": e.state_after,
            "deadline_after": e.deadline_after,
            "cost_at_risk_cents": e.cost_at_risk_cents,
            "idempotency_key": e.idempotency_key,
            "envelope_id": e.envelope_id,
            "occurred_at": e.occurred_at,
            "recorded_at": e.recorded_at,
        })).collect::<Vec<_>>(),
    })
}

/// One line per request for `requests list`.
pub fn list_line(r: &Request, names: &Names) -> String {
    let owner = decision_owner(r)
        .map(|o| {
            let who: Vec<String> = o.parties.iter().map(|p| names.party(p)).collect();
            format!(
                "waiting on {} ({})",
                who.join(&format!(" {} ", owners_joined_by(r))),
                o.decision
            )
        })
        .unwrap_or_else(|| "closed".into());
    format!(
        "{:<8} {:<31} {:<24} {:>6} {:<12} {}",
        r.number.to_string(),
        r.state.as_str(),
        truncate(&r.details.customer, 24),
        r.details.requested_size,
        r.details.region,
        owner
    )
}

fn truncate(s: &str, max: usize) -> String {
    if s.chars().count() <= max {
        s.to_string()
    } else {
        let mut t: String = s.chars().take(max.saturating_sub(1)).collect();
        t.push('…');
        t
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn durations_read_like_people_write_them() {
        assert_eq!(human_duration(Duration::minutes(25)), "25m");
        assert_eq!(human_duration(Duration::minutes(125)), "2h 5m");
        assert_eq!(human_duration(Duration::hours(76)), "3d 4h");
        assert_eq!(human_duration(Duration::minutes(-5)), "0m");
    }
}
