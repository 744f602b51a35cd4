//! The intake modal (`/capacity new`) and its validation.

use std::collections::BTreeMap;

use chrono::NaiveDate;
use serde_json::Value;
use slack_morphism::blocks::{
    SlackBlock, SlackBlockChoiceItem, SlackBlockDatePickerElement, SlackBlockId,
    SlackBlockMarkDownText, SlackBlockNumberInputElement, SlackBlockPlainTextInputElement,
    SlackBlockStaticSelectElement, SlackBlockUsersSelectElement, SlackContextBlock,
    SlackInputBlock, SlackInputBlockElement, SlackModalView, SlackView,
};

use super::{chosen, plain, selected, typed};
use crate::domain::{SourceMessage, Submission, UserId};

pub const INTAKE_CALLBACK_ID: &str = "capacity_request_new";

/// The block ids (each also its input's action id) of the intake modal, in order.
pub const INTAKE_BLOCK_IDS: [&str; 12] = [
    CUSTOMER,
    ORG_ID,
    PROJECT_REF,
    CURRENT_SIZE,
    REQUESTED_SIZE,
    REQUESTED_SIZE_OTHER,
    REGION,
    NEEDED_BY,
    DURATION_MONTHS,
    EST_MONTHLY_COST_USD,
    COMMERCIAL_OWNER,
    JUSTIFICATION,
];

const CUSTOMER: &str = "customer";
const ORG_ID: &str = "org_id";
const PROJECT_REF: &str = "project_ref";
const CURRENT_SIZE: &str = "current_size";
const REQUESTED_SIZE: &str = "requested_size";
const REQUESTED_SIZE_OTHER: &str = "requested_size_other";
const REGION: &str = "region";
const NEEDED_BY: &str = "needed_by";
const DURATION_MONTHS: &str = "duration_months";
const EST_MONTHLY_COST_USD: &str = "est_monthly_cost_usd";
pub const COMMERCIAL_OWNER: &str = "commercial_owner";
const JUSTIFICATION: &str = "justification";
/// The context block naming the source message on a form opened from one.
const SOURCE_BLOCK: &str = "source";

/// The option value of the select that asks for a size typed into `requested_size_other`.
const OTHER: &str = "other";
const LISTED_SIZES: [&str; 4] = ["24XL", "32XL", "48XL", "64XL"];
/// Sizes up to this one are self-serve; a request must ask for more.
const SELF_SERVE_MAX_XL: u32 = 16;
const MAX_COST_CENTS: i64 = 100_000_000 * 100;
const MAX_DURATION_MONTHS: u16 = 120;

const CUSTOMER_MAX: usize = 200;
const ID_MAX: usize = 100;
const SIZE_MAX: usize = 100;
const REGION_MAX: usize = 64;
const JUSTIFICATION_MAX: usize = 3_000;

/// Field errors keyed by block id, for `response_action: errors`.
pub type IntakeErrors = BTreeMap<String, String>;

pub fn intake_modal(today: NaiveDate) -> SlackView {
    intake_form(today, None)
}

/// The intake form opened from a message (the message shortcut): the justification starts as
/// the message's words, the form links the message, and its address rides in the view's
/// `private_metadata` until the submission records it.
pub fn intake_modal_from(today: NaiveDate, source: &SourceMessage, text: &str) -> SlackView {
    intake_form(today, Some((source, text)))
}

/// The justification a message's text gives: Slack's markup turned into plain words, the
/// NUL Postgres cannot store dropped, cut to the field's limit.
pub fn justification_from(message_text: &str) -> String {
    let plain = crate::render::text::plain_words(message_text).replace('\0', "");
    crate::render::text::truncate(plain.trim(), JUSTIFICATION_MAX)
}

/// The source message a submitted form carries in `private_metadata`: `Ok(None)` for the
/// form opened empty; an error for metadata that is not what this build wrote.
pub fn parse_source(private_metadata: &str) -> Result<Option<SourceMessage>, String> {
    if private_metadata.trim().is_empty() {
        return Ok(None);
    }
    let source: SourceMessage = serde_json::from_str(private_metadata)
        .map_err(|e| format!("the form's link to its message does not read ({e})"))?;
    let ts_ok = |ts: &str| {
        ts.len() <= 32
            && ts.split_once('.').is_some_and(|(a, b)| {
                !a.is_empty()
                    && !b.is_empty()
                    && (a.bytes().chain(b.bytes())).all(|c| c.is_ascii_digit())
            })
    };
    if !ts_ok(&source.ts) || !ts_ok(&source.thread_ts) {
        return Err("the form's link to its message has no valid timestamp".into());
    }
    if crate::render::lines::safe_url(&source.permalink).is_none() {
        return Err("the form's link to its message is not an https link".into());
    }
    Ok(Some(source))
}

fn intake_form(today: NaiveDate, source: Option<(&SourceMessage, &str)>) -> SlackView {
    let text = |id: &str, label: &str, max: usize, placeholder: &str| {
        input(
            id,
            label,
            SlackBlockPlainTextInputElement::new()
                .with_action_id(id.into())
                .with_max_length(max as u64)
                .with_placeholder(plain(placeholder))
                .into(),
        )
    };
    let sizes = LISTED_SIZES
        .iter()
        .map(|s| SlackBlockChoiceItem::new(plain(s), s.to_string()))
        .chain([SlackBlockChoiceItem::new(
            plain("Other…"),
            OTHER.to_string(),
        )])
        .collect();
    let blocks: Vec<SlackBlock> = vec![
        text(CUSTOMER, "Customer", CUSTOMER_MAX, "Acme Corp"),
        text(ORG_ID, "Org id", ID_MAX, "org-…"),
        text(PROJECT_REF, "Project ref", ID_MAX, "abcdefghijklmnop"),
        text(CURRENT_SIZE, "Current size", SIZE_MAX, "16XL"),
        input(
            REQUESTED_SIZE,
            "Requested size",
            SlackBlockStaticSelectElement::new()
                .with_action_id(REQUESTED_SIZE.into())
                .with_placeholder(plain("Pick a size"))
                .with_options(sizes)
                .into(),
        ),
        optional(
            input(
                REQUESTED_SIZE_OTHER,
                "Other size",
                SlackBlockPlainTextInputElement::new()
                    .with_action_id(REQUESTED_SIZE_OTHER.into())
                    .with_max_length(16)
                    .with_placeholder(plain("96XL"))
                    .into(),
            ),
            "Only when you picked Other: a size above 16XL, such as 96XL.",
        ),
        text(REGION, "Region", REGION_MAX, "us-east-1"),
        hinted(
            input(
                NEEDED_BY,
                "Needed by",
                SlackBlockDatePickerElement::new()
                    .with_action_id(NEEDED_BY.into())
                    .with_placeholder(plain("Pick a date"))
                    .into(),
            ),
            &format!("Today ({}) or later.", today.format("%a %-d %b %Y")),
        ),
        input(
            DURATION_MONTHS,
            "Duration (months)",
            SlackBlockNumberInputElement::new(false)
                .with_action_id(DURATION_MONTHS.into())
                .with_min_value("1".into())
                .with_max_value(MAX_DURATION_MONTHS.to_string())
                .into(),
        ),
        hinted(
            input(
                EST_MONTHLY_COST_USD,
                "Estimated monthly cost (USD)",
                SlackBlockNumberInputElement::new(true)
                    .with_action_id(EST_MONTHLY_COST_USD.into())
                    .with_min_value("0.01".into())
                    .with_max_value("100000000".into())
                    .into(),
            ),
            "Dollars and cents, e.g. 42000 or 42000.50.",
        ),
        optional(
            input(
                COMMERCIAL_OWNER,
                "Commercial owner (AE)",
                SlackBlockUsersSelectElement::new()
                    .with_action_id(COMMERCIAL_OWNER.into())
                    .with_placeholder(plain("Pick the account executive"))
                    .into(),
            ),
            "The AE named here owns the commercial approval. Leave it empty and a commercial \
             approver assigns one. It cannot be you.",
        ),
    ];
    let mut justification = SlackBlockPlainTextInputElement::new()
        .with_action_id(JUSTIFICATION.into())
        .with_multiline(true)
        .with_max_length(JUSTIFICATION_MAX as u64);
    let mut blocks = blocks;
    let mut metadata = None;
    if let Some((source, text)) = source {
        let prefill = justification_from(text);
        if !prefill.is_empty() {
            justification = justification.with_initial_value(prefill);
        }
        let link = crate::render::lines::safe_url(&source.permalink).map_or_else(
            || "a Slack message".to_string(),
            |url| format!("<{url}|this Slack message>"),
        );
        blocks.insert(
            0,
            SlackContextBlock::new(vec![SlackBlockMarkDownText::new(format!(
                "From {link}. The justification starts as its words; edit them as you need. \
                 Once submitted, the request links the message and its thread gets a reply \
                 naming the request."
            ))
            .into()])
            .with_block_id(SlackBlockId(SOURCE_BLOCK.to_string()))
            .into(),
        );
        metadata = serde_json::to_string(source).ok();
    }
    blocks.push(input(JUSTIFICATION, "Justification", justification.into()));
    let mut view = SlackModalView::new(plain("New capacity request"), blocks)
        .with_callback_id(INTAKE_CALLBACK_ID.into())
        .with_submit(plain("Submit"))
        .with_close(plain("Cancel"));
    if let Some(m) = metadata {
        view = view.with_private_metadata(m);
    }
    SlackView::Modal(view)
}

fn input(id: &str, label: &str, element: SlackInputBlockElement) -> SlackBlock {
    SlackInputBlock::new(plain(label), element)
        .with_block_id(SlackBlockId(id.to_string()))
        .into()
}

fn with_input(block: SlackBlock, f: impl FnOnce(SlackInputBlock) -> SlackInputBlock) -> SlackBlock {
    match block {
        SlackBlock::Input(i) => f(i).into(),
        other => other,
    }
}

fn hinted(block: SlackBlock, hint: &str) -> SlackBlock {
    with_input(block, |i| i.with_hint(plain(hint)))
}

fn optional(block: SlackBlock, hint: &str) -> SlackBlock {
    with_input(block, |i| i.with_optional(true).with_hint(plain(hint)))
}

/// Validates a submitted intake modal. Every field is checked and every problem reported at
/// once, keyed by the block id it belongs to.
pub fn parse_intake(values: &Value, today: NaiveDate) -> Result<Submission, IntakeErrors> {
    let mut errors = IntakeErrors::new();
    let mut text = |id: &str, max: usize| match typed(values, id) {
        None => fail(&mut errors, id, "Required."),
        Some(s) if s.chars().count() > max => fail(
            &mut errors,
            id,
            &format!("At most {max} characters (this is {}).", s.chars().count()),
        ),
        Some(s) => Some(s),
    };
    let customer = text(CUSTOMER, CUSTOMER_MAX);
    let org_id = text(ORG_ID, ID_MAX);
    let project_ref = text(PROJECT_REF, ID_MAX);
    let current_size = text(CURRENT_SIZE, SIZE_MAX);
    let region = text(REGION, REGION_MAX);
    let justification = text(JUSTIFICATION, JUSTIFICATION_MAX);
    let requested_size = requested_size(values, &mut errors);
    let needed_by = match selected(values, NEEDED_BY, "selected_date") {
        None => fail(&mut errors, NEEDED_BY, "Required."),
        Some(s) => match NaiveDate::parse_from_str(s, "%Y-%m-%d") {
            Err(_) => fail(&mut errors, NEEDED_BY, "Pick a date."),
            Ok(d) if d < today => fail(
                &mut errors,
                NEEDED_BY,
                &format!("Pick today ({today}) or a later date."),
            ),
            Ok(d) => Some(d),
        },
    };
    let duration_months = match typed(values, DURATION_MONTHS) {
        None => fail(&mut errors, DURATION_MONTHS, "Required."),
        Some(s) => match s.parse::<u16>() {
            Ok(n) if (1..=MAX_DURATION_MONTHS).contains(&n) && !s.starts_with('+') => Some(n),
            _ => fail(
                &mut errors,
                DURATION_MONTHS,
                &format!("Whole months from 1 to {MAX_DURATION_MONTHS}."),
            ),
        },
    };
    let est_monthly_cost_cents = match typed(values, EST_MONTHLY_COST_USD) {
        None => fail(&mut errors, EST_MONTHLY_COST_USD, "Required."),
        Some(s) => match cents(&s) {
            Some(c) if c > 0 && c <= MAX_COST_CENTS => Some(c),
            _ => fail(
                &mut errors,
                EST_MONTHLY_COST_USD,
                "A positive amount in dollars, at most 100,000,000, with at most 2 decimals.",
            ),
        },
    };
    // Optional: without an AE the request waits in SUBMITTED for a commercial approver to
    // assign one ("Assign owner…" on its message).
    let commercial_owner = match selected(values, COMMERCIAL_OWNER, "selected_user") {
        None => Ok(None),
        Some(u) => UserId::parse(u).map(Some).map_err(|_| {
            errors.insert(COMMERCIAL_OWNER.into(), "Pick a person.".into());
        }),
    };
    match (
        customer,
        org_id,
        project_ref,
        current_size,
        requested_size,
        region,
        needed_by,
        duration_months,
        est_monthly_cost_cents,
        commercial_owner,
        justification,
    ) {
        (
            Some(customer),
            Some(org_id),
            Some(project_ref),
            Some(current_size),
            Some(requested_size),
            Some(region),
            Some(needed_by),
            Some(duration_months),
            Some(est_monthly_cost_cents),
            Ok(commercial_owner),
            Some(justification),
        ) if errors.is_empty() => Ok(Submission {
            customer,
            org_id,
            project_ref,
            current_size,
            requested_size,
            region,
            needed_by,
            duration_months,
            est_monthly_cost_cents,
            commercial_owner,
            justification,
            source: None,
        }),
        _ => Err(errors),
    }
}

fn fail<T>(errors: &mut IntakeErrors, id: &str, message: &str) -> Option<T> {
    errors.insert(id.to_string(), message.to_string());
    None
}

/// The requested size: one of the listed sizes, or with `other`, a typed size above 16XL.
fn requested_size(values: &Value, errors: &mut IntakeErrors) -> Option<String> {
    match chosen(values, REQUESTED_SIZE) {
        None => fail(errors, REQUESTED_SIZE, "Required."),
        Some(OTHER) => match typed(values, REQUESTED_SIZE_OTHER) {
            None => fail(
                errors,
                REQUESTED_SIZE_OTHER,
                "You picked Other: type the size, such as 96XL.",
            ),
            Some(s) => match xl(&s) {
                Some(n) if n > SELF_SERVE_MAX_XL => Some(format!("{n}XL")),
                Some(_) => fail(
                    errors,
                    REQUESTED_SIZE_OTHER,
                    "Up to 16XL is self-serve; request a size above 16XL.",
                ),
                None => fail(
                    errors,
                    REQUESTED_SIZE_OTHER,
                    "A size like 96XL: a number followed by XL.",
                ),
            },
        },
        Some(listed) if LISTED_SIZES.contains(&listed) => Some(listed.to_string()),
        Some(_) => fail(errors, REQUESTED_SIZE, "Pick one of the listed sizes."),
    }
}

/// "96XL" (any case) → 96.
fn xl(s: &str) -> Option<u32> {
    let digits = s.get(..s.len().checked_sub(2)?)?;
    let suffix = s.get(digits.len()..)?;
    let ok = suffix.eq_ignore_ascii_case("xl")
        && !digits.is_empty()
        && digits.len() <= 6
        && digits.bytes().all(|b| b.is_ascii_digit());
    ok.then(|| digits.parse().ok()).flatten()
}

/// "42000.5" → 4_200_050 cents. Plain decimal notation only: digits, at most one point, at
/// most two decimals; no sign, exponent or separators.
fn cents(s: &str) -> Option<i64> {
    let (whole, frac) = s.split_once('.').unwrap_or((s, ""));
    let digits = |d: &str| d.bytes().all(|b| b.is_ascii_digit());
    if whole.is_empty() || whole.len() > 12 || !digits(whole) || frac.len() > 2 || !digits(frac) {
        return None;
    }
    if s.ends_with('.') {
        return None;
    }
    let whole: i64 = whole.parse().ok()?;
    let frac: i64 = match frac.len() {
        0 => 0,
        1 => frac.parse::<i64>().ok()? * 10,
        _ => frac.parse().ok()?,
    };
    whole.checked_mul(100)?.checked_add(frac)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sizes_parse_in_any_case() {
        assert_eq!(xl("96XL"), Some(96));
        assert_eq!(xl("96xl"), Some(96));
        assert_eq!(xl("XL"), None);
        assert_eq!(xl("96"), None);
        assert_eq!(xl("9.6XL"), None);
        assert_eq!(xl("é"), None);
        assert_eq!(xl("-4XL"), None);
    }

    #[test]
    fn amounts_parse_to_cents() {
        assert_eq!(cents("42000"), Some(4_200_000));
        assert_eq!(cents("42000.5"), Some(4_200_050));
        assert_eq!(cents("0.01"), Some(1));
        assert_eq!(cents("1.234"), None);
        assert_eq!(cents("-1"), None);
        assert_eq!(cents("1e3"), None);
        assert_eq!(cents("1,000"), None);
        assert_eq!(cents(".5"), None);
        assert_eq!(cents("5."), None);
    }
}
