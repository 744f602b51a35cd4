//! The text of the informational Linear issue: its title, its description, and the comment
//! each later event adds. Pure, like the rest of `render`.

use super::names::Names;
use crate::domain::cost::format_usd;
use crate::domain::{Actor, Event, Request};

pub fn issue_title(req: &Request) -> String {
    let d = &req.details;
    format!(
        "{} · {} · {} in {}",
        req.number, d.customer, d.requested_size, d.region
    )
}

pub fn issue_description(req: &Request, permalink: Option<&str>, names: &Names) -> String {
    let d = &req.details;
    let mut lines = vec![
        format!(
            "Large-capacity request {} (informational: decisions happen in Slack).",
            req.number
        ),
        String::new(),
        format!(
            "- Customer: {} (org `{}`, project `{}`)",
            d.customer, d.org_id, d.project_ref
        ),
        format!(
            "- Size: {} → {} in {}",
            d.current_size, d.requested_size, d.region
        ),
        format!(
            "- Needed by {}, for {} month(s)",
            d.needed_by, d.duration_months
        ),
        format!(
            "- Estimated monthly cost: {}",
            format_usd(d.est_monthly_cost_cents)
        ),
        format!("- Requester: {}", names.display(req.requester.as_str())),
    ];
    if let Some(owner) = &req.commercial_owner {
        lines.push(format!(
            "- Commercial owner: {}",
            names.display(owner.as_str())
        ));
    }
    lines.push(String::new());
    lines.push(d.justification.clone());
    if let Some(link) = permalink {
        lines.push(String::new());
        lines.push(format!("Slack thread: {link}"));
    }
    lines.join("\n")
}

/// The comment an event adds to the request's issue: where the request is now, and who did
/// what (with the reason, when the event carries one).
pub fn issue_comment(after: &Request, actor: &Actor, event: &Event, names: &Names) -> String {
    let reason = event
        .reason()
        .map(|r| format!(" (\"{r}\")"))
        .unwrap_or_default();
    format!(
        "{} is now {} ({}): {} {}{reason}",
        after.number,
        after.state.label(),
        after.state,
        names.actor(actor),
        event.kind().verb()
    )
}
