//! The small modal that asks for a reason (or, for `ttl_extended`, a number of days) before a
//! reason-taking action is recorded. The action and the button's value travel in
//! `private_metadata`, so the submission is handled like the click that opened it.

use std::collections::BTreeMap;

use serde_json::Value;
use slack_morphism::blocks::{
    SlackBlock, SlackBlockId, SlackBlockMarkDownText, SlackBlockNumberInputElement,
    SlackBlockPlainTextInputElement, SlackBlockText, SlackInputBlock, SlackModalView,
    SlackSectionBlock, SlackView,
};

use super::{plain, typed};
use crate::domain::event::UnknownAction;
use crate::domain::{Command, EventKind, Policy, Request};
use crate::render::action_value::{self, ActionValue, BadActionValue};
use crate::render::lines::summary;

pub const REASON_CALLBACK_ID: &str = "capacity_reason";
const REASON: &str = "reason";
const DAYS: &str = "days";
const REASON_MAX: usize = 2_000;
/// A comment may be longer than a reason (DESIGN: up to 3,000 characters).
const COMMENT_MAX: usize = 3_000;
const METADATA_MAX: usize = 3_000;

/// What the person typed into the reason modal.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ReasonInput {
    Reason(String),
    Days(u32),
}

impl ReasonInput {
    /// The event `kind` records with this input, or `None` when the kind takes other input.
    pub fn to_command(&self, kind: EventKind) -> Option<Command> {
        let reason = |r: &str| r.to_string();
        match (kind, self) {
            (EventKind::CommercialRejected, ReasonInput::Reason(r)) => {
                Some(Command::CommercialRejected { reason: reason(r) })
            }
            (EventKind::TechnicalRejected, ReasonInput::Reason(r)) => {
                Some(Command::TechnicalRejected { reason: reason(r) })
            }
            (EventKind::ProvisioningFailed, ReasonInput::Reason(r)) => {
                Some(Command::ProvisioningFailed { reason: reason(r) })
            }
            (EventKind::CancelRequested, ReasonInput::Reason(r)) => {
                Some(Command::CancelRequested { reason: reason(r) })
            }
            (EventKind::CommentAdded, ReasonInput::Reason(r)) => {
                Some(Command::CommentAdded { text: reason(r) })
            }
            (EventKind::TtlExtended, ReasonInput::Days(days)) => {
                Some(Command::TtlExtended { days: *days })
            }
            _ => None,
        }
    }
}

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ReasonError {
    /// `private_metadata` is not what [`reason_modal`] wrote: corrupt or forged.
    #[error("the form's metadata is not valid: {0}")]
    Metadata(String),
    /// Problems with what was typed, keyed by block id, for `response_action: errors`.
    #[error("the form has errors: {0:?}")]
    Fields(BTreeMap<String, String>),
}

impl From<BadActionValue> for ReasonError {
    fn from(e: BadActionValue) -> Self {
        ReasonError::Metadata(e.to_string())
    }
}

/// Title (≤ 24 chars), submit label and field label for each action's modal.
fn words(kind: EventKind) -> (&'static str, &'static str, &'static str) {
    match kind {
        EventKind::CommercialRejected => ("Reject request", "Reject", "Why is it rejected?"),
        EventKind::TechnicalRejected => ("Reject technically", "Reject", "Why is it rejected?"),
        EventKind::ProvisioningFailed => ("Provisioning failed", "Record", "What went wrong?"),
        EventKind::CancelRequested => ("Request cancellation", "Request", "Why cancel?"),
        EventKind::TtlExtended => ("Extend deadline", "Extend", "Extend by (business days)"),
        EventKind::CommentAdded => ("Comment on request", "Comment", "Your comment"),
        _ => ("Give a reason", "Record", "Reason"),
    }
}

/// The longest text the form for `kind` takes.
fn text_max(kind: EventKind) -> usize {
    if kind == EventKind::CommentAdded {
        COMMENT_MAX
    } else {
        REASON_MAX
    }
}

/// The modal for `kind` on `req`. `ttl_extended` asks for a number of days (1 to 60);
/// a comment for up to 3,000 characters; everything else for a reason of up to 2,000.
pub fn reason_modal(kind: EventKind, req: &Request) -> SlackView {
    let (title, submit, label) = words(kind);
    let element = if kind == EventKind::TtlExtended {
        SlackBlockNumberInputElement::new(false)
            .with_action_id(DAYS.into())
            .with_min_value("1".into())
            .with_max_value(Policy::MAX_EXTENSION_DAYS.to_string())
            .into()
    } else {
        SlackBlockPlainTextInputElement::new()
            .with_action_id(REASON.into())
            .with_multiline(true)
            .with_max_length(text_max(kind) as u64)
            .into()
    };
    let block_id = if kind == EventKind::TtlExtended {
        DAYS
    } else {
        REASON
    };
    let blocks: Vec<SlackBlock> = vec![
        SlackSectionBlock::new()
            .with_block_id(SlackBlockId("about".into()))
            .with_text(SlackBlockText::MarkDown(SlackBlockMarkDownText::new(
                format!(
                    "*{}*\nThis goes into the request's thread and its audit record.",
                    summary(req, 300)
                ),
            )))
            .into(),
        SlackInputBlock::new(plain(label), element)
            .with_block_id(SlackBlockId(block_id.into()))
            .into(),
    ];
    SlackView::Modal(
        SlackModalView::new(plain(title), blocks)
            .with_callback_id(REASON_CALLBACK_ID.into())
            .with_private_metadata(format!("{kind}|{}", ActionValue::of(req)))
            .with_submit(plain(submit))
            .with_close(plain("Back")),
    )
}

/// Reads a submitted reason modal: the action and button value from `private_metadata`, and
/// the reason or days typed.
pub fn parse_reason_submission(
    private_metadata: &str,
    values: &Value,
) -> Result<(EventKind, ActionValue, ReasonInput), ReasonError> {
    if private_metadata.chars().count() > METADATA_MAX {
        return Err(ReasonError::Metadata("it is too long".into()));
    }
    let (kind, value) = private_metadata
        .split_once('|')
        .ok_or_else(|| ReasonError::Metadata("it has no action".into()))?;
    let kind: EventKind = kind
        .parse()
        .map_err(|e: UnknownAction| ReasonError::Metadata(e.to_string()))?;
    let value = action_value::decode(value)?;
    let field = |message: String| {
        let id = if kind == EventKind::TtlExtended {
            DAYS
        } else {
            REASON
        };
        ReasonError::Fields(BTreeMap::from([(id.to_string(), message)]))
    };
    let input = if kind == EventKind::TtlExtended {
        let max = Policy::MAX_EXTENSION_DAYS;
        let days = typed(values, DAYS)
            .filter(|s| s.bytes().all(|b| b.is_ascii_digit()))
            .and_then(|s| s.parse::<u32>().ok())
            .filter(|d| (1..=max).contains(d))
            .ok_or_else(|| field(format!("Whole business days from 1 to {max}.")))?;
        ReasonInput::Days(days)
    } else {
        let missing = if kind == EventKind::CommentAdded {
            "Write a comment."
        } else {
            "Give a reason."
        };
        let reason = typed(values, REASON).ok_or_else(|| field(missing.into()))?;
        let (len, max) = (reason.chars().count(), text_max(kind));
        if len > max {
            return Err(field(format!("At most {max} characters (this is {len}).")));
        }
        ReasonInput::Reason(reason)
    };
    Ok((kind, value, input))
}
