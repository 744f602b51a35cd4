//! The decision buttons, shared by the root message and the DMs so a click from either is the
//! same click: `action_id` is the event's name, `value` the request and version it was
//! rendered at.

use slack_morphism::blocks::{
    SlackActionBlockElement, SlackActionsBlock, SlackBlock, SlackBlockButtonElement,
    SlackBlockButtonStyle, SlackBlockChoiceItem, SlackBlockConfirmItem, SlackBlockId,
    SlackBlockOverflowElement, SlackBlockPlainText, SlackBlockText,
};

use super::action_value::{option_value, ActionValue};
use crate::domain::{available_actions, check_state, decision_actions};
use crate::domain::{EventKind, Policy, Request};

/// The `action_id` of the overflow menu on an open request's root message.
pub const MORE_ACTIONS: &str = "more_actions";

/// The words on an action's button.
pub fn label(kind: EventKind) -> &'static str {
    match kind {
        EventKind::CommercialApproved => "Approve",
        EventKind::CommercialRejected | EventKind::TechnicalRejected => "Reject",
        EventKind::TechnicalOwnerAssigned => "I'll take it",
        EventKind::TechnicalApproved => "Approve technically",
        EventKind::EarlyProcurementStarted => "Start procurement early",
        EventKind::CustomerConfirmed => "Customer confirmed",
        EventKind::TtlExtended => "Extend deadline",
        EventKind::ProvisioningCompleted => "Provisioning done",
        EventKind::ProvisioningFailed => "Provisioning failed",
        EventKind::Activated => "Activated",
        EventKind::CancelRequested => "Request cancellation",
        EventKind::CancelApproved => "Approve cancellation",
        EventKind::CancelDenied => "Deny cancellation",
        EventKind::CapacityReleased => "Release capacity",
        EventKind::Submitted => "Submit",
        EventKind::CommercialOwnerAssigned => "Assign commercial owner",
        EventKind::CustomerConfirmationTimeout => "Expire (confirmation)",
        EventKind::ActivationTimeout => "Expire (activation)",
        EventKind::ReminderSent => "Remind",
        EventKind::CommentAdded => "Comment",
        EventKind::OwnerReassigned => "Reassign owner",
        EventKind::DecisionDelegated => "Delegate",
        EventKind::DecisionReturned => "Take back",
        EventKind::RemindersSnoozed => "Snooze reminders",
        EventKind::OwnerNudged => "Nudge",
        EventKind::ForcedTransition => "Force transition",
        EventKind::ForcedTransitionReviewed => "Mark reviewed",
        EventKind::OwnerDeactivated => "Flag deactivated owner",
    }
}

/// The buttons a request shows: exactly the actions someone could legally take now. A closed
/// request shows none, except the release of capacity that is still committed.
pub fn shown_actions(req: &Request, policy: &Policy) -> Vec<EventKind> {
    available_actions(req, policy)
        .into_iter()
        .filter(|k| req.state.is_open() || *k == EventKind::CapacityReleased)
        .collect()
}

/// The secondary actions of the root message's `more_actions` menu: a comment on any open
/// request, and a reassignment once the request has owners to reassign.
pub fn more_actions(req: &Request, policy: &Policy) -> Vec<EventKind> {
    [EventKind::CommentAdded, EventKind::OwnerReassigned]
        .into_iter()
        .filter(|k| req.state.is_open() && check_state(req, *k, policy).is_ok())
        .collect()
}

/// The words of a `more_actions` option: each opens a form.
pub fn menu_label(kind: EventKind) -> String {
    format!("{}…", label(kind))
}

/// The buttons of the pending decision only, for a DM to its owner.
pub(crate) fn decision_actions_block(req: &Request, policy: &Policy) -> Option<SlackBlock> {
    actions_with(req, decision_actions(req, policy), None)
}

/// The same buttons under another `block_id`: a Home lists many requests in one view, and
/// Slack wants each block's id unique within it.
pub(crate) fn decision_actions_block_as(
    req: &Request,
    policy: &Policy,
    block_id: String,
) -> Option<SlackBlock> {
    let mut block = actions_with(req, decision_actions(req, policy), None)?;
    if let SlackBlock::Actions(actions) = &mut block {
        actions.block_id = Some(SlackBlockId(block_id));
    }
    Some(block)
}

/// The root message's actions block: the decision buttons and, beside them, the
/// `more_actions` menu.
pub(crate) fn root_actions_block(req: &Request, policy: &Policy) -> Option<SlackBlock> {
    actions_with(req, shown_actions(req, policy), overflow(req, policy))
}

fn overflow(req: &Request, policy: &Policy) -> Option<SlackActionBlockElement> {
    let value = ActionValue::of(req);
    let options: Vec<_> = more_actions(req, policy)
        .into_iter()
        .map(|kind| {
            SlackBlockChoiceItem::new(
                SlackBlockPlainText::new(menu_label(kind)).into(),
                option_value(kind, &value),
            )
        })
        .collect();
    (!options.is_empty()).then(|| {
        SlackBlockOverflowElement::new(options)
            .with_action_id(MORE_ACTIONS.into())
            .into()
    })
}

fn actions_with(
    req: &Request,
    kinds: Vec<EventKind>,
    extra: Option<SlackActionBlockElement>,
) -> Option<SlackBlock> {
    let value = ActionValue::of(req);
    let elements: Vec<SlackActionBlockElement> = kinds
        .into_iter()
        .map(|kind| button(kind, &value).into())
        .chain(extra)
        .collect();
    if elements.is_empty() {
        return None;
    }
    Some(
        SlackActionsBlock::new(elements)
            .with_block_id(SlackBlockId("actions".into()))
            .into(),
    )
}

fn button(kind: EventKind, value: &ActionValue) -> SlackBlockButtonElement {
    let mut b = SlackBlockButtonElement::new(SlackBlockPlainText::new(label(kind).into()).into())
        .with_action_id(kind.as_str().into())
        .with_value(value.encode());
    if let Some(style) = style(kind) {
        b = b.with_style(style);
    }
    if let Some(confirm) = confirm(kind, value) {
        b = b.with_confirm(confirm);
    }
    b
}

fn style(kind: EventKind) -> Option<SlackBlockButtonStyle> {
    if kind.is_destructive() {
        return Some(SlackBlockButtonStyle::Danger);
    }
    match kind {
        EventKind::CommercialApproved
        | EventKind::TechnicalApproved
        | EventKind::CustomerConfirmed
        | EventKind::ProvisioningCompleted
        | EventKind::Activated => Some(SlackBlockButtonStyle::Primary),
        _ => None,
    }
}

/// The `confirm` dialog of a destructive action (title ≤ 100, text ≤ 300, buttons ≤ 30).
fn confirm(kind: EventKind, value: &ActionValue) -> Option<SlackBlockConfirmItem> {
    if !kind.is_destructive() {
        return None;
    }
    let n = value.number;
    let asks_reason = if kind.takes_input() {
        " You will be asked for a reason, which goes into the thread."
    } else {
        ""
    };
    let (title, text, yes) = match kind {
        EventKind::CommercialRejected | EventKind::TechnicalRejected => (
            format!("Reject {n}?"),
            format!("Rejecting cancels {n} for good.{asks_reason}"),
            "Reject",
        ),
        EventKind::CancelRequested => (
            format!("Request cancellation of {n}?"),
            format!(
                "With no capacity committed this cancels {n} at once; with capacity committed \
                 the commercial owner must approve.{asks_reason}"
            ),
            "Continue",
        ),
        EventKind::CancelApproved => (
            format!("Cancel {n}?"),
            format!(
                "This cancels {n} for good. Capacity that is still committed must then be \
                 released by infra."
            ),
            "Cancel the request",
        ),
        EventKind::CapacityReleased => (
            format!("Release the capacity of {n}?"),
            "Confirm the capacity has been released. The cost-at-risk clock stops.".to_string(),
            "Release",
        ),
        EventKind::ProvisioningFailed => (
            format!("Mark {n} as failed?"),
            format!("{n} ends as FAILED.{asks_reason}"),
            "Mark failed",
        ),
        _ => (
            format!("{} on {n}?", label(kind)),
            "This cannot be undone.".to_string(),
            "Continue",
        ),
    };
    Some(
        SlackBlockConfirmItem::new(
            SlackBlockPlainText::new(title).into(),
            SlackBlockText::Plain(SlackBlockPlainText::new(text)),
            SlackBlockPlainText::new(yes.into()).into(),
            SlackBlockPlainText::new("Go back".into()).into(),
        )
        .with_style("danger".into()),
    )
}
