//! Slack's Block Kit limits, checked on the JSON Slack would receive, plus our own rendering
//! rules (every block has a `block_id`, every element an `action_id`, no accessories).
//!
//! The renderer keeps within these by construction; this module is how the tests prove it.
//! It walks the serialized value rather than the typed model, so it checks what is actually
//! sent, whatever the model's serde does. Problems are reported all at once, each with a JSON
//! pointer.

use std::collections::HashSet;

use serde_json::{Map, Value};
use slack_morphism::blocks::{SlackBlock, SlackView};
use slack_morphism::SlackMessageContent;

pub const MESSAGE_BLOCKS_MAX: usize = 50;
pub const VIEW_BLOCKS_MAX: usize = 100;
pub const MESSAGE_TEXT_MAX: usize = 4_000;
pub const CUMULATIVE_TEXT_MAX: usize = 12_000;
pub const SECTION_TEXT_MAX: usize = 3_000;
pub const FIELDS_MAX: usize = 10;
pub const FIELD_TEXT_MAX: usize = 2_000;
pub const HEADER_TEXT_MAX: usize = 150;
pub const CONTEXT_ELEMENTS_MAX: usize = 10;
pub const ACTIONS_ELEMENTS_MAX: usize = 25;
pub const BUTTON_TEXT_MAX: usize = 75;
pub const BUTTON_VALUE_MAX: usize = 2_000;
pub const CONFIRM_TITLE_MAX: usize = 100;
pub const CONFIRM_TEXT_MAX: usize = 300;
pub const CONFIRM_BUTTON_MAX: usize = 30;
pub const MODAL_TEXT_MAX: usize = 24;
pub const PRIVATE_METADATA_MAX: usize = 3_000;
pub const ID_MAX: usize = 255;

/// A message: its fallback `text` (present, ≤ 4,000) and its blocks.
pub fn check_message(message: &SlackMessageContent) -> Result<(), String> {
    let mut check = Check::default();
    match message.text.as_deref() {
        None | Some("") => check.err("/text", "a message needs a fallback text"),
        Some(t) => check.len("/text", t, 1, MESSAGE_TEXT_MAX),
    }
    if let Some(blocks) = &message.blocks {
        check.message_blocks(blocks);
    }
    check.finish()
}

/// A message's blocks on their own (≤ 50, ≤ 12,000 chars of text in all).
pub fn check_blocks(blocks: &[SlackBlock]) -> Result<(), String> {
    let mut check = Check::default();
    check.message_blocks(blocks);
    check.finish()
}

/// A modal: title, submit and close ≤ 24 chars, ≤ 100 blocks, `private_metadata` ≤ 3,000.
pub fn check_view(view: &SlackView) -> Result<(), String> {
    let mut check = Check::default();
    let json = to_json(view, &mut check);
    check.view(&json);
    check.finish()
}

/// A Home tab view: ≤ 100 blocks, each block within its limits, unique block ids; no
/// title (Home has none).
pub fn check_home_view(view: &SlackView) -> Result<(), String> {
    let mut check = Check::default();
    let json = to_json(view, &mut check);
    if json["type"] != "home" {
        check.err("/type", "expected a home view");
    }
    let blocks = check.count("/blocks", json.get("blocks"), 1, VIEW_BLOCKS_MAX);
    let mut ids = HashSet::new();
    for (i, block) in blocks.iter().enumerate() {
        check.block(&format!("/blocks/{i}"), block);
        if !ids.insert(block["block_id"].to_string()) {
            check.err(
                &format!("/blocks/{i}/block_id"),
                "block ids must be unique in a view",
            );
        }
    }
    check.finish()
}

/// An ephemeral or slash-command reply that is text only.
pub fn check_text(text: &str) -> Result<(), String> {
    let mut check = Check::default();
    check.len("/text", text, 1, MESSAGE_TEXT_MAX);
    check.finish()
}

fn to_json<T: serde::Serialize>(value: &T, check: &mut Check) -> Value {
    serde_json::to_value(value).unwrap_or_else(|e| {
        check.err("", &format!("does not serialize: {e}"));
        Value::Null
    })
}

#[derive(Default)]
struct Check {
    errors: Vec<String>,
    block_ids: HashSet<String>,
    /// Chars of text in every text object, for the cumulative limit.
    text_total: usize,
}

impl Check {
    fn finish(self) -> Result<(), String> {
        if self.errors.is_empty() {
            Ok(())
        } else {
            Err(self.errors.join("; "))
        }
    }

    fn err(&mut self, at: &str, message: &str) {
        self.errors.push(format!("{at}: {message}"));
    }

    fn len(&mut self, at: &str, s: &str, min: usize, max: usize) {
        let n = s.chars().count();
        if n < min || n > max {
            self.err(at, &format!("{n} chars, allowed {min}..={max}"));
        }
    }

    fn opt_len(&mut self, at: &str, value: Option<&Value>, max: usize) {
        match value {
            None => {}
            Some(Value::String(s)) => self.len(at, s, 0, max),
            Some(_) => self.err(at, "expected a string"),
        }
    }

    fn count(&mut self, at: &str, items: Option<&Value>, min: usize, max: usize) -> Vec<Value> {
        let Some(items) = items.and_then(Value::as_array) else {
            self.err(at, "expected an array");
            return Vec::new();
        };
        if items.len() < min || items.len() > max {
            self.err(at, &format!("{} items, allowed {min}..={max}", items.len()));
        }
        items.clone()
    }

    fn message_blocks(&mut self, blocks: &[SlackBlock]) {
        let json = to_json(&blocks, self);
        let blocks = self.count("/blocks", Some(&json), 0, MESSAGE_BLOCKS_MAX);
        for (i, block) in blocks.iter().enumerate() {
            self.block(&format!("/blocks/{i}"), block);
        }
        if self.text_total > CUMULATIVE_TEXT_MAX {
            let total = self.text_total;
            self.err(
                "/blocks",
                &format!("{total} chars of text in all, allowed {CUMULATIVE_TEXT_MAX}"),
            );
        }
    }

    fn view(&mut self, view: &Value) {
        if view["type"] != "modal" {
            self.err("/type", "expected a modal");
        }
        self.text("/title", view.get("title"), MODAL_TEXT_MAX, true);
        for key in ["submit", "close"] {
            if let Some(t) = view.get(key) {
                self.text(&format!("/{key}"), Some(t), MODAL_TEXT_MAX, true);
            }
        }
        self.opt_len(
            "/private_metadata",
            view.get("private_metadata"),
            PRIVATE_METADATA_MAX,
        );
        self.opt_len("/callback_id", view.get("callback_id"), ID_MAX);
        let blocks = self.count("/blocks", view.get("blocks"), 1, VIEW_BLOCKS_MAX);
        let has_input = blocks.iter().any(|b| b["type"] == "input");
        if has_input && view.get("submit").is_none() {
            self.err("/submit", "a view with inputs needs a submit button");
        }
        for (i, block) in blocks.iter().enumerate() {
            self.block(&format!("/blocks/{i}"), block);
        }
    }

    /// A text object of the right type with 1..=max chars.
    fn text(&mut self, at: &str, value: Option<&Value>, max: usize, plain_only: bool) {
        let Some(obj) = value.and_then(Value::as_object) else {
            self.err(at, "missing text object");
            return;
        };
        match obj.get("type").and_then(Value::as_str) {
            Some("plain_text") => {}
            Some("mrkdwn") if !plain_only => {}
            other => self.err(at, &format!("text type {other:?} not allowed here")),
        }
        match obj.get("text").and_then(Value::as_str) {
            Some(s) => {
                self.text_total += s.chars().count();
                self.len(&format!("{at}/text"), s, 1, max);
            }
            None => self.err(at, "text object without text"),
        }
    }

    fn block(&mut self, at: &str, block: &Value) {
        let Some(map) = block.as_object() else {
            self.err(at, "a block must be an object");
            return;
        };
        match map.get("block_id").and_then(Value::as_str) {
            Some(id) => {
                self.len(&format!("{at}/block_id"), id, 1, ID_MAX);
                if !self.block_ids.insert(id.to_string()) {
                    self.err(
                        &format!("{at}/block_id"),
                        &format!("duplicate block_id {id:?}"),
                    );
                }
            }
            None => self.err(at, "every block we render sets a block_id"),
        }
        match map.get("type").and_then(Value::as_str) {
            Some("header") => self.text(
                &format!("{at}/text"),
                map.get("text"),
                HEADER_TEXT_MAX,
                true,
            ),
            Some("section") => self.section(at, map),
            Some("divider") => {}
            Some("context") => {
                let elements = self.count(
                    &format!("{at}/elements"),
                    map.get("elements"),
                    1,
                    CONTEXT_ELEMENTS_MAX,
                );
                for (i, e) in elements.iter().enumerate() {
                    self.text(
                        &format!("{at}/elements/{i}"),
                        Some(e),
                        SECTION_TEXT_MAX,
                        false,
                    );
                }
            }
            Some("actions") => {
                let elements = self.count(
                    &format!("{at}/elements"),
                    map.get("elements"),
                    1,
                    ACTIONS_ELEMENTS_MAX,
                );
                let mut ids = HashSet::new();
                for (i, e) in elements.iter().enumerate() {
                    let at = format!("{at}/elements/{i}");
                    if let Some(id) = e.get("action_id").and_then(Value::as_str) {
                        if !ids.insert(id.to_string()) {
                            self.err(&at, &format!("duplicate action_id {id:?}"));
                        }
                    }
                    self.element(&at, e);
                }
            }
            Some("input") => {
                self.text(&format!("{at}/label"), map.get("label"), 2_000, true);
                if let Some(hint) = map.get("hint") {
                    self.text(&format!("{at}/hint"), Some(hint), 2_000, true);
                }
                match map.get("element") {
                    Some(e) => self.element(&format!("{at}/element"), e),
                    None => self.err(at, "input without element"),
                }
            }
            other => self.err(at, &format!("unexpected block type {other:?}")),
        }
    }

    fn section(&mut self, at: &str, map: &Map<String, Value>) {
        if map.get("text").is_none() && map.get("fields").is_none() {
            self.err(at, "a section needs text or fields");
        }
        if let Some(text) = map.get("text") {
            self.text(&format!("{at}/text"), Some(text), SECTION_TEXT_MAX, false);
        }
        if let Some(fields) = map.get("fields") {
            let fields = self.count(&format!("{at}/fields"), Some(fields), 1, FIELDS_MAX);
            for (i, f) in fields.iter().enumerate() {
                self.text(&format!("{at}/fields/{i}"), Some(f), FIELD_TEXT_MAX, false);
            }
        }
        if map.contains_key("accessory") {
            self.err(at, "we render no accessories");
        }
    }

    fn element(&mut self, at: &str, e: &Value) {
        match e.get("action_id").and_then(Value::as_str) {
            Some(id) => self.len(&format!("{at}/action_id"), id, 1, ID_MAX),
            None => self.err(at, "every element we render sets an action_id"),
        }
        if let Some(p) = e.get("placeholder") {
            self.text(&format!("{at}/placeholder"), Some(p), 150, true);
        }
        if let Some(c) = e.get("confirm") {
            self.confirm(&format!("{at}/confirm"), c);
        }
        match e.get("type").and_then(Value::as_str) {
            Some("button") => {
                self.text(&format!("{at}/text"), e.get("text"), BUTTON_TEXT_MAX, true);
                self.opt_len(&format!("{at}/value"), e.get("value"), BUTTON_VALUE_MAX);
                self.opt_len(&format!("{at}/url"), e.get("url"), 3_000);
                self.style(at, e);
            }
            Some("static_select") => self.options(at, e, 100, true),
            // An overflow menu holds 1 to 5 options; radio buttons up to 10.
            Some("overflow") => self.options(at, e, 5, true),
            Some("radio_buttons") => self.options(at, e, 10, false),
            Some("plain_text_input") => {
                for key in ["min_length", "max_length"] {
                    if e.get(key)
                        .and_then(Value::as_u64)
                        .is_some_and(|n| n > 3_000)
                    {
                        self.err(&format!("{at}/{key}"), "at most 3000");
                    }
                }
            }
            Some("number_input") => {
                if !e["is_decimal_allowed"].is_boolean() {
                    self.err(at, "number_input needs is_decimal_allowed");
                }
                for key in ["min_value", "max_value", "initial_value"] {
                    if let Some(v) = e.get(key) {
                        if v.as_str().and_then(|s| s.parse::<f64>().ok()).is_none() {
                            self.err(&format!("{at}/{key}"), "a number as a string");
                        }
                    }
                }
            }
            Some("datepicker") => {
                if let Some(d) = e.get("initial_date").and_then(Value::as_str) {
                    if chrono::NaiveDate::parse_from_str(d, "%Y-%m-%d").is_err() {
                        self.err(&format!("{at}/initial_date"), "YYYY-MM-DD");
                    }
                }
            }
            Some("users_select") => {}
            other => self.err(at, &format!("unexpected element type {other:?}")),
        }
    }

    /// `options` of a select, overflow or radio group: 1..=max, each with text ≤ 75 and a
    /// value of 1..=150 characters.
    fn options(&mut self, at: &str, e: &Value, max: usize, plain_only: bool) {
        let options = self.count(&format!("{at}/options"), e.get("options"), 1, max);
        for (i, o) in options.iter().enumerate() {
            self.text(
                &format!("{at}/options/{i}/text"),
                o.get("text"),
                75,
                plain_only,
            );
            match o.get("value").and_then(Value::as_str) {
                Some(v) => self.len(&format!("{at}/options/{i}/value"), v, 1, 150),
                None => self.err(&format!("{at}/options/{i}"), "option without value"),
            }
        }
    }

    fn confirm(&mut self, at: &str, c: &Value) {
        self.text(
            &format!("{at}/title"),
            c.get("title"),
            CONFIRM_TITLE_MAX,
            true,
        );
        self.text(
            &format!("{at}/text"),
            c.get("text"),
            CONFIRM_TEXT_MAX,
            false,
        );
        self.text(
            &format!("{at}/confirm"),
            c.get("confirm"),
            CONFIRM_BUTTON_MAX,
            true,
        );
        self.text(
            &format!("{at}/deny"),
            c.get("deny"),
            CONFIRM_BUTTON_MAX,
            true,
        );
        self.style(at, c);
    }

    fn style(&mut self, at: &str, v: &Value) {
        if let Some(style) = v.get("style") {
            if !matches!(style.as_str(), Some("primary" | "danger")) {
                self.err(&format!("{at}/style"), "style must be primary or danger");
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use slack_morphism::blocks::{
        SlackBlockMarkDownText, SlackBlockPlainText, SlackBlockText, SlackHeaderBlock,
        SlackSectionBlock,
    };

    fn section(id: &str, text: String) -> SlackBlock {
        SlackSectionBlock::new()
            .with_block_id(id.to_string().into())
            .with_text(SlackBlockText::MarkDown(SlackBlockMarkDownText::new(text)))
            .into()
    }

    fn message(blocks: Vec<SlackBlock>) -> SlackMessageContent {
        SlackMessageContent::new()
            .with_text("fallback".into())
            .with_blocks(blocks)
    }

    #[test]
    fn limits_are_enforced() {
        assert!(check_message(&message(vec![section("a", "ok".into())])).is_ok());
        let too_long = check_message(&message(vec![section("a", "x".repeat(3_001))]));
        assert!(too_long.unwrap_err().contains("/blocks/0/text/text"));
        let empty = check_message(&message(vec![section("a", String::new())]));
        assert!(empty.is_err());
        let many: Vec<_> = (0..51)
            .map(|i| section(&format!("b{i}"), "x".into()))
            .collect();
        assert!(check_message(&message(many)).is_err());
        let dup = check_message(&message(vec![
            section("a", "x".into()),
            section("a", "y".into()),
        ]));
        assert!(dup.unwrap_err().contains("duplicate block_id"));
        let header: SlackBlock =
            SlackHeaderBlock::new(SlackBlockPlainText::new("h".repeat(151)).into())
                .with_block_id("h".to_string().into())
                .into();
        assert!(check_message(&message(vec![header])).is_err());
        let cumulative: Vec<_> = (0..5)
            .map(|i| section(&format!("c{i}"), "x".repeat(2_500)))
            .collect();
        assert!(check_message(&message(cumulative))
            .unwrap_err()
            .contains("in all"));
        let no_text = SlackMessageContent::new().with_blocks(vec![section("a", "x".into())]);
        assert!(check_message(&no_text).is_err());
        assert!(check_text(&"x".repeat(4_001)).is_err());
    }
}
