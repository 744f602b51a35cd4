//! The normalization Slack applies when it stores blocks, and the text measure behind
//! `msg_blocks_too_long`.

use serde_json::Value;

use super::ids::short_id;

/// Above this many characters of block text Slack answers `msg_blocks_too_long`.
pub(crate) const MAX_CUMULATIVE_BLOCK_TEXT: usize = 12_000;

/// Characters of text in every text object of `blocks` (Slack's `msg_blocks_too_long` sum).
pub(crate) fn cumulative_text_len(value: &Value) -> usize {
    match value {
        Value::Array(items) => items.iter().map(cumulative_text_len).sum(),
        Value::Object(map) => {
            let own = match (map.get("type").and_then(Value::as_str), map.get("text")) {
                (Some("plain_text" | "mrkdwn"), Some(Value::String(s))) => s.chars().count(),
                _ => 0,
            };
            own + map.values().map(cumulative_text_len).sum::<usize>()
        }
        _ => 0,
    }
}

/// Applies Slack's storage normalization in place: `emoji: true` on plain_text, `verbatim:
/// false` on mrkdwn, random ids for missing `block_id`/`action_id`, `optional` and
/// `dispatch_action` on inputs.
pub(crate) fn normalize_blocks(blocks: &mut Value) {
    normalize_text_objects(blocks);
    for block in blocks.as_array_mut().into_iter().flatten() {
        let Some(block) = block.as_object_mut() else {
            continue;
        };
        block
            .entry("block_id")
            .or_insert_with(|| Value::String(short_id(4)));
        let kind = block
            .get("type")
            .and_then(Value::as_str)
            .unwrap_or("")
            .to_owned();
        if kind == "input" {
            block.entry("optional").or_insert(Value::Bool(false));
            block.entry("dispatch_action").or_insert(Value::Bool(false));
        }
        let elements: Vec<&mut Value> = match kind.as_str() {
            "actions" => block
                .get_mut("elements")
                .and_then(Value::as_array_mut)
                .map(|e| e.iter_mut().collect())
                .unwrap_or_default(),
            "section" => block.get_mut("accessory").into_iter().collect(),
            "input" => block.get_mut("element").into_iter().collect(),
            _ => Vec::new(),
        };
        for element in elements {
            if let Some(element) = element.as_object_mut() {
                let is_image = element.get("type").and_then(Value::as_str) == Some("image");
                if !is_image {
                    element
                        .entry("action_id")
                        .or_insert_with(|| Value::String(short_id(5)));
                }
            }
        }
    }
}

/// Normalizes a modal: its blocks and its title/submit/close texts.
pub(crate) fn normalize_view(view: &mut Value) {
    if let Some(blocks) = view.get_mut("blocks") {
        normalize_blocks(blocks);
    }
    for key in ["title", "submit", "close"] {
        if let Some(text) = view.get_mut(key) {
            normalize_text_objects(text);
        }
    }
}

fn normalize_text_objects(value: &mut Value) {
    match value {
        Value::Array(items) => items.iter_mut().for_each(normalize_text_objects),
        Value::Object(map) => {
            match map.get("type").and_then(Value::as_str) {
                Some("plain_text") => {
                    map.entry("emoji").or_insert(Value::Bool(true));
                }
                Some("mrkdwn") => {
                    map.entry("verbatim").or_insert(Value::Bool(false));
                }
                _ => {}
            }
            map.values_mut().for_each(normalize_text_objects);
        }
        _ => {}
    }
}
