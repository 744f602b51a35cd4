//! Block Kit validation with Slack's error shape (normalization lives in `normalize.rs`).
//!
//! Errors read like Slack's: `"must be less than 3001 characters [json-pointer:/blocks/0/text/text]"`.
//! Only the length, count and `no more than N items` wordings are observed from Slack (the
//! `invalid_blocks` replies in `crates/slack-emulator/tests/fixtures/slack/`, provenance in its
//! `SOURCES.md`); the wordings for duplicates and missing fields are our own.

use serde_json::{Map, Value};
use std::collections::HashSet;

mod elements;

pub(crate) const MAX_MESSAGE_BLOCKS: usize = 50;
pub(crate) const MAX_VIEW_BLOCKS: usize = 100;

/// Problems in a message's `blocks`, with pointers under `/blocks`.
pub(crate) fn validate_message_blocks(blocks: &Value) -> Vec<String> {
    let mut check = Check::default();
    check.blocks(blocks, "/blocks", MAX_MESSAGE_BLOCKS);
    check.errors
}

/// Problems in a modal, with pointers under `/view`.
pub(crate) fn validate_view(view: &Value) -> Vec<String> {
    let mut check = Check::default();
    if !view.is_object() {
        check.err("failed to match all allowed schemas", "/view");
        return check.errors;
    }
    if view["type"].as_str() != Some("modal") {
        check.err("must be one of: modal", "/view/type");
    }
    match view.get("title") {
        Some(title) => check.text(title, "/view/title", 24, TextKind::Plain),
        None => check.err("missing required field: title", "/view"),
    }
    for key in ["submit", "close"] {
        if let Some(text) = view.get(key) {
            check.text(text, &format!("/view/{key}"), 24, TextKind::Plain);
        }
    }
    check.max_len(&view["private_metadata"], 3000, "/view/private_metadata");
    check.max_len(&view["callback_id"], 255, "/view/callback_id");
    check.max_len(&view["external_id"], 255, "/view/external_id");
    check.blocks(&view["blocks"], "/view/blocks", MAX_VIEW_BLOCKS);
    let has_input = view["blocks"]
        .as_array()
        .is_some_and(|b| b.iter().any(|b| b["type"] == "input"));
    if has_input && view.get("submit").is_none() {
        check.err(
            "must provide submit when the view has input blocks",
            "/view/submit",
        );
    }
    check.errors
}

/// A Home tab view for `views.publish`: `type: home`, at most 100 blocks, no title, submit
/// or close (Home has none), the same metadata limits as a modal.
pub(crate) fn validate_home_view(view: &Value) -> Vec<String> {
    let mut check = Check::default();
    if !view.is_object() {
        check.err("failed to match all allowed schemas", "/view");
        return check.errors;
    }
    if view["type"].as_str() != Some("home") {
        check.err("must be one of: home", "/view/type");
    }
    for key in ["title", "submit", "close"] {
        if view.get(key).is_some() {
            check.err(
                format!("{key} is not allowed on a home view"),
                &format!("/view/{key}"),
            );
        }
    }
    check.max_len(&view["private_metadata"], 3000, "/view/private_metadata");
    check.max_len(&view["callback_id"], 255, "/view/callback_id");
    check.max_len(&view["external_id"], 255, "/view/external_id");
    check.blocks(&view["blocks"], "/view/blocks", MAX_VIEW_BLOCKS);
    check.errors
}

#[derive(Clone, Copy, PartialEq, Eq)]
pub(super) enum TextKind {
    Plain,
    Any,
}

pub(super) const ACTION_ELEMENTS: &[&str] = &[
    "button",
    "static_select",
    "external_select",
    "users_select",
    "conversations_select",
    "channels_select",
    "multi_static_select",
    "multi_external_select",
    "multi_users_select",
    "multi_conversations_select",
    "multi_channels_select",
    "overflow",
    "datepicker",
    "timepicker",
    "datetimepicker",
    "checkboxes",
    "radio_buttons",
    "workflow_button",
];

pub(super) const INPUT_ELEMENTS: &[&str] = &[
    "plain_text_input",
    "number_input",
    "email_text_input",
    "url_text_input",
    "rich_text_input",
    "file_input",
    "static_select",
    "external_select",
    "users_select",
    "conversations_select",
    "channels_select",
    "multi_static_select",
    "multi_external_select",
    "multi_users_select",
    "multi_conversations_select",
    "multi_channels_select",
    "datepicker",
    "timepicker",
    "datetimepicker",
    "checkboxes",
    "radio_buttons",
];

#[derive(Default)]
pub(super) struct Check {
    errors: Vec<String>,
    block_ids: HashSet<String>,
}

impl Check {
    pub(super) fn err(&mut self, message: impl std::fmt::Display, pointer: &str) {
        self.errors
            .push(format!("{message} [json-pointer:{pointer}]"));
    }

    pub(super) fn max_len(&mut self, value: &Value, max: usize, pointer: &str) {
        if let Some(s) = value.as_str() {
            if s.chars().count() > max {
                self.err(format!("must be less than {} characters", max + 1), pointer);
            }
        }
    }

    pub(super) fn items<'v>(
        &mut self,
        value: &'v Value,
        min: usize,
        max: usize,
        pointer: &str,
    ) -> &'v [Value] {
        let Some(items) = value.as_array() else {
            self.err("failed to match all allowed schemas", pointer);
            return &[];
        };
        if items.len() > max {
            self.err(format!("no more than {max} items allowed"), pointer);
        } else if items.len() < min {
            self.err(format!("no less than {min} items allowed"), pointer);
        }
        items
    }

    fn blocks(&mut self, blocks: &Value, pointer: &str, max: usize) {
        let items = self.items(blocks, 0, max, pointer);
        if items.len() > max {
            // Slack reports only the count when the list is too long.
            return;
        }
        for (i, block) in items.iter().enumerate() {
            self.block(block, &format!("{pointer}/{i}"));
        }
    }

    fn block(&mut self, block: &Value, pointer: &str) {
        let Some(map) = block.as_object() else {
            self.err("failed to match all allowed schemas", pointer);
            return;
        };
        if let Some(id) = map.get("block_id") {
            self.max_len(id, 255, &format!("{pointer}/block_id"));
            if let Some(id) = id.as_str() {
                if !self.block_ids.insert(id.to_owned()) {
                    self.err(
                        format!("duplicate block_id \"{id}\""),
                        &format!("{pointer}/block_id"),
                    );
                }
            }
        }
        match map.get("type").and_then(Value::as_str) {
            Some("section") => self.section(map, pointer),
            Some("header") => self.required_text(map, pointer, "text", 150, TextKind::Plain),
            Some("actions") => {
                let elements =
                    self.items(&block["elements"], 1, 25, &format!("{pointer}/elements"));
                let mut seen = HashSet::new();
                for (i, element) in elements.iter().enumerate() {
                    let at = format!("{pointer}/elements/{i}");
                    self.element(element, &at, ACTION_ELEMENTS);
                    if let Some(id) = element["action_id"].as_str() {
                        if !seen.insert(id.to_owned()) {
                            self.err(
                                format!("duplicate action_id \"{id}\""),
                                &format!("{at}/action_id"),
                            );
                        }
                    }
                }
            }
            Some("context") => {
                let elements =
                    self.items(&block["elements"], 1, 10, &format!("{pointer}/elements"));
                for (i, element) in elements.iter().enumerate() {
                    let at = format!("{pointer}/elements/{i}");
                    if element["type"] == "image" {
                        self.image(element, &at);
                    } else {
                        self.text(element, &at, usize::MAX, TextKind::Any);
                    }
                }
            }
            Some("input") => {
                self.required_text(map, pointer, "label", 2000, TextKind::Plain);
                if let Some(hint) = map.get("hint") {
                    self.text(hint, &format!("{pointer}/hint"), 2000, TextKind::Plain);
                }
                match map.get("element") {
                    Some(e) => self.element(e, &format!("{pointer}/element"), INPUT_ELEMENTS),
                    None => self.err("missing required field: element", pointer),
                }
            }
            Some("image") => {
                self.image(block, pointer);
                if let Some(title) = map.get("title") {
                    self.text(title, &format!("{pointer}/title"), 2000, TextKind::Plain);
                }
            }
            Some("markdown") => self.max_len(&block["text"], 12_000, &format!("{pointer}/text")),
            Some("divider" | "rich_text" | "file" | "video" | "table") => {}
            _ => self.err("failed to match all allowed schemas", pointer),
        }
    }

    fn section(&mut self, map: &Map<String, Value>, pointer: &str) {
        if map.get("text").is_none() && map.get("fields").is_none() {
            self.err("must provide either text or fields", pointer);
        }
        if let Some(text) = map.get("text") {
            self.text(text, &format!("{pointer}/text"), 3000, TextKind::Any);
        }
        if let Some(fields) = map.get("fields") {
            let at = format!("{pointer}/fields");
            for (i, field) in self.items(fields, 1, 10, &at).iter().enumerate() {
                self.text(field, &format!("{at}/{i}"), 2000, TextKind::Any);
            }
        }
        if let Some(accessory) = map.get("accessory") {
            let mut allowed = ACTION_ELEMENTS.to_vec();
            allowed.push("image");
            self.element(accessory, &format!("{pointer}/accessory"), &allowed);
        }
    }

    pub(super) fn required_text(
        &mut self,
        map: &Map<String, Value>,
        pointer: &str,
        key: &str,
        max: usize,
        kind: TextKind,
    ) {
        match map.get(key) {
            Some(text) => self.text(text, &format!("{pointer}/{key}"), max, kind),
            None => self.err(format!("missing required field: {key}"), pointer),
        }
    }

    /// A text object: `plain_text` (or `mrkdwn` where allowed) with 1..=max characters.
    pub(super) fn text(&mut self, value: &Value, pointer: &str, max: usize, kind: TextKind) {
        let ty = value["type"].as_str();
        let type_ok = match kind {
            TextKind::Plain => ty == Some("plain_text"),
            TextKind::Any => matches!(ty, Some("plain_text" | "mrkdwn")),
        };
        let Some(text) = value["text"].as_str().filter(|_| type_ok) else {
            self.err("failed to match all allowed schemas", pointer);
            return;
        };
        let at = format!("{pointer}/text");
        if text.is_empty() {
            self.err("must be more than 0 characters", &at);
        }
        self.max_len(&value["text"], max, &at);
    }

    pub(super) fn image(&mut self, image: &Value, pointer: &str) {
        if image.get("image_url").is_none() && image.get("slack_file").is_none() {
            self.err("missing required field: image_url", pointer);
        }
        self.max_len(&image["image_url"], 3000, &format!("{pointer}/image_url"));
        if image.get("alt_text").is_none() {
            self.err("missing required field: alt_text", pointer);
        }
        self.max_len(&image["alt_text"], 2000, &format!("{pointer}/alt_text"));
    }
}
