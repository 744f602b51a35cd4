//! Builds `view.state.values` for a submission from simple per-block answers, the way the
//! Slack client would: typed values per element, initial values when left alone, and the
//! client-side checks (required inputs, number bounds, text length) that stop a submission.

use serde_json::{json, Map, Value};

use super::error::EmulatorError;

/// `answers` maps input `block_id` → answer: a string (text, number, date, user id, option
/// value), a number, an array (multi-selects), or a full state value object with a `type`
/// (used verbatim). Returns `state.values`.
pub(crate) fn build_state_values(blocks: &Value, answers: &Value) -> Result<Value, EmulatorError> {
    let empty = Map::new();
    let answers = match answers {
        Value::Object(map) => map,
        Value::Null => &empty,
        _ => return Err(invalid("answers must be a JSON object keyed by block_id")),
    };
    let inputs: Vec<&Value> = blocks
        .as_array()
        .into_iter()
        .flatten()
        .filter(|b| b["type"] == "input")
        .collect();
    if let Some(unknown) = answers
        .keys()
        .find(|k| !inputs.iter().any(|b| b["block_id"] == k.as_str()))
    {
        return Err(invalid(&format!("the view has no input block {unknown}")));
    }
    let mut values = Map::new();
    for block in inputs {
        let block_id = block["block_id"].as_str().unwrap_or_default();
        let element = &block["element"];
        let action_id = element["action_id"].as_str().unwrap_or_default();
        let answer = answers.get(block_id).filter(|a| !a.is_null());
        let value = match answer {
            Some(full) if full.get("type").is_some() => full.clone(),
            Some(answer) => typed_value(block_id, element, answer)?,
            None => initial_value(element),
        };
        if block["optional"] != true && is_empty(&value) {
            return Err(invalid(&format!("required input {block_id} is empty")));
        }
        values.insert(block_id.to_owned(), json!({ action_id: value }));
    }
    Ok(Value::Object(values))
}

fn invalid(why: &str) -> EmulatorError {
    EmulatorError::InvalidInput(why.to_owned())
}

fn text_of(answer: &Value) -> Option<String> {
    match answer {
        Value::String(s) => Some(s.clone()),
        Value::Number(n) => Some(n.to_string()),
        Value::Bool(b) => Some(b.to_string()),
        _ => None,
    }
}

fn strings(answer: &Value) -> Vec<String> {
    match answer {
        Value::Array(items) => items.iter().filter_map(text_of).collect(),
        other => text_of(other).into_iter().collect(),
    }
}

/// The field holding the answer for each element type.
fn field_for(kind: &str) -> &'static str {
    match kind {
        "static_select" | "external_select" | "radio_buttons" => "selected_option",
        "multi_static_select" | "multi_external_select" | "checkboxes" => "selected_options",
        "datepicker" => "selected_date",
        "timepicker" => "selected_time",
        "datetimepicker" => "selected_date_time",
        "users_select" => "selected_user",
        "multi_users_select" => "selected_users",
        "conversations_select" => "selected_conversation",
        "multi_conversations_select" => "selected_conversations",
        "channels_select" => "selected_channel",
        "multi_channels_select" => "selected_channels",
        _ => "value",
    }
}

fn typed_value(block_id: &str, element: &Value, answer: &Value) -> Result<Value, EmulatorError> {
    let kind = element["type"].as_str().unwrap_or_default();
    let field = field_for(kind);
    let text = text_of(answer);
    let chosen = match kind {
        "static_select" | "external_select" | "radio_buttons" => {
            let value =
                text.ok_or_else(|| invalid(&format!("{block_id}: expected an option value")))?;
            option(block_id, element, &value)?
        }
        "multi_static_select" | "multi_external_select" | "checkboxes" => {
            let options: Result<Vec<Value>, _> = strings(answer)
                .iter()
                .map(|v| option(block_id, element, v))
                .collect();
            Value::Array(options?)
        }
        "datetimepicker" => answer.clone(),
        k if k.starts_with("multi_") => json!(strings(answer)),
        "datepicker" => {
            let date = text.unwrap_or_default();
            if chrono::NaiveDate::parse_from_str(&date, "%Y-%m-%d").is_err() {
                return Err(invalid(&format!("{block_id}: {date:?} is not YYYY-MM-DD")));
            }
            json!(date)
        }
        "number_input" => json!(checked_number(block_id, element, text.unwrap_or_default())?),
        "plain_text_input" => {
            let value = text.unwrap_or_default();
            let length = value.chars().count() as u64;
            let too_long = element["max_length"]
                .as_u64()
                .is_some_and(|max| length > max);
            let too_short = element["min_length"]
                .as_u64()
                .is_some_and(|min| length < min);
            if too_long || too_short {
                return Err(invalid(&format!(
                    "{block_id}: length {length} is outside the allowed range"
                )));
            }
            json!(value)
        }
        _ => text.map_or_else(|| answer.clone(), Value::String),
    };
    Ok(json!({"type": kind, field: chosen}))
}

/// A number as the client sends it: the typed text, checked against the element's rules.
fn checked_number(block_id: &str, element: &Value, text: String) -> Result<String, EmulatorError> {
    let number: f64 = text
        .trim()
        .parse()
        .map_err(|_| invalid(&format!("{block_id}: {text:?} is not a number")))?;
    if element["is_decimal_allowed"] != true && number.fract() != 0.0 {
        return Err(invalid(&format!("{block_id}: decimals are not allowed")));
    }
    let bound = |key: &str| element[key].as_str().and_then(|s| s.parse::<f64>().ok());
    if bound("min_value").is_some_and(|min| number < min)
        || bound("max_value").is_some_and(|max| number > max)
    {
        return Err(invalid(&format!("{block_id}: {text} is out of range")));
    }
    Ok(text)
}

/// The `{text, value}` of the element's option with this value.
fn option(block_id: &str, element: &Value, value: &str) -> Result<Value, EmulatorError> {
    let direct = element["options"].as_array().into_iter().flatten();
    let grouped = element["option_groups"]
        .as_array()
        .into_iter()
        .flatten()
        .flat_map(|g| g["options"].as_array().into_iter().flatten());
    let found = direct.chain(grouped).find(|o| o["value"] == value);
    match (found, element["type"].as_str()) {
        (Some(o), _) => Ok(json!({"text": o["text"], "value": o["value"]})),
        (None, Some(kind)) if kind.contains("external") => Ok(json!({
            "text": {"type": "plain_text", "text": value, "emoji": true},
            "value": value,
        })),
        (None, _) => Err(invalid(&format!(
            "{block_id}: no option with value {value:?}"
        ))),
    }
}

/// What the client submits for an untouched element: its initial value, else null.
fn initial_value(element: &Value) -> Value {
    let kind = element["type"].as_str().unwrap_or_default();
    let initial = match kind {
        "static_select" | "external_select" | "radio_buttons" => element.get("initial_option"),
        "multi_static_select" | "multi_external_select" | "checkboxes" => {
            element.get("initial_options")
        }
        "datepicker" => element.get("initial_date"),
        "timepicker" => element.get("initial_time"),
        "datetimepicker" => element.get("initial_date_time"),
        "users_select" => element.get("initial_user"),
        "multi_users_select" => element.get("initial_users"),
        "conversations_select" => element.get("initial_conversation"),
        "channels_select" => element.get("initial_channel"),
        _ => element.get("initial_value"),
    };
    json!({"type": kind, field_for(kind): initial.cloned().unwrap_or(Value::Null)})
}

fn is_empty(value: &Value) -> bool {
    let Some(map) = value.as_object() else {
        return true;
    };
    map.iter()
        .filter(|(k, _)| k.as_str() != "type")
        .all(|(_, v)| match v {
            Value::Null => true,
            Value::String(s) => s.is_empty(),
            Value::Array(a) => a.is_empty(),
            _ => false,
        })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn modal() -> Value {
        json!([
            {"type": "input", "block_id": "title", "optional": false,
             "element": {"type": "plain_text_input", "action_id": "value", "max_length": 10}},
            {"type": "input", "block_id": "qty", "optional": false,
             "element": {"type": "number_input", "action_id": "value", "is_decimal_allowed": false, "min_value": "1"}},
            {"type": "input", "block_id": "kind", "optional": true,
             "element": {"type": "static_select", "action_id": "value",
                         "options": [{"text": {"type": "plain_text", "text": "GPU"}, "value": "gpu"}]}}
        ])
    }

    #[test]
    fn typed_values_follow_slack_layout() {
        let values =
            build_state_values(&modal(), &json!({"title": "run", "qty": 64, "kind": "gpu"}));
        let values = values.unwrap_or_default();
        assert_eq!(
            values["title"]["value"],
            json!({"type": "plain_text_input", "value": "run"})
        );
        assert_eq!(
            values["qty"]["value"],
            json!({"type": "number_input", "value": "64"})
        );
        assert_eq!(values["kind"]["value"]["selected_option"]["value"], "gpu");
    }

    #[test]
    fn client_side_checks_refuse_bad_submissions() {
        for answers in [
            json!({"qty": 1}),
            json!({"title": "x", "qty": 0}),
            json!({"title": "x", "qty": 1.5}),
            json!({"title": "much too long", "qty": 1}),
            json!({"title": "x", "qty": 1, "kind": "cpu"}),
            json!({"title": "x", "qty": 1, "nope": 1}),
        ] {
            assert!(build_state_values(&modal(), &answers).is_err(), "{answers}");
        }
    }
}
