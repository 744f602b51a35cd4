//! Block Kit as plain readable lines, for the demo and for assertion messages.

use serde_json::Value;

/// Renders blocks as lines of text: a header as `# Title`, sections and their fields,
/// context lines indented, dividers as `---`, buttons as `[ Approve ]`, inputs as
/// `Label: [ … ]`. Slack markup (`<@U1>`, `<#C1|name>`, `<url|label>`) is made readable.
pub fn render_text(blocks: &Value) -> String {
    let mut lines = Vec::new();
    for block in blocks.as_array().into_iter().flatten() {
        render_block(block, &mut lines);
    }
    lines.join("\n")
}

/// Slack `mrkdwn` markup made readable: `<@U1>` → `@U1`, `<#C1|general>` → `#general`,
/// `<!subteam^S1>` → `@S1`, `<!date^…|fallback>` → `fallback`, `<url|label>` → `label (url)`.
pub fn render_mrkdwn(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    let mut rest = text;
    while let Some(open) = rest.find('<') {
        out.push_str(&rest[..open]);
        let after = &rest[open + 1..];
        let Some(close) = after.find('>') else {
            out.push_str(&rest[open..]);
            return out;
        };
        out.push_str(&render_link(&after[..close]));
        rest = &after[close + 1..];
    }
    out.push_str(rest);
    out
}

fn render_link(inner: &str) -> String {
    let (target, label) = match inner.split_once('|') {
        Some((target, label)) => (target, Some(label)),
        None => (inner, None),
    };
    if let Some(user) = target.strip_prefix('@') {
        return format!("@{}", label.unwrap_or(user));
    }
    if let Some(channel) = target.strip_prefix('#') {
        return format!("#{}", label.unwrap_or(channel));
    }
    if let Some(special) = target.strip_prefix('!') {
        if let Some(group) = special.strip_prefix("subteam^") {
            return format!("@{}", label.unwrap_or(group));
        }
        if special.starts_with("date^") {
            return label.unwrap_or(special).to_owned();
        }
        return format!("@{}", label.unwrap_or(special));
    }
    match label {
        Some(label) => format!("{label} ({target})"),
        None => target.to_owned(),
    }
}

fn text_of(object: &Value) -> String {
    let text = object["text"].as_str().unwrap_or_default();
    if object["type"] == "mrkdwn" {
        render_mrkdwn(text)
    } else {
        text.to_owned()
    }
}

fn render_block(block: &Value, lines: &mut Vec<String>) {
    match block["type"].as_str().unwrap_or_default() {
        "header" => lines.push(format!("# {}", text_of(&block["text"]))),
        "section" => {
            if block.get("text").is_some() {
                lines.extend(text_of(&block["text"]).lines().map(str::to_owned));
            }
            for field in block["fields"].as_array().into_iter().flatten() {
                let text = text_of(field).replace('\n', " ");
                lines.push(format!("  {text}"));
            }
            if block["accessory"].is_object() && block["accessory"]["type"] != "image" {
                lines.push(render_element(&block["accessory"]));
            }
        }
        "divider" => lines.push("---".to_owned()),
        "context" => {
            let parts: Vec<String> = block["elements"]
                .as_array()
                .into_iter()
                .flatten()
                .map(|e| match e["type"].as_str() {
                    Some("image") => format!("[{}]", e["alt_text"].as_str().unwrap_or("image")),
                    _ => text_of(e),
                })
                .collect();
            lines.push(format!("  {}", parts.join(" · ").replace('\n', " ")));
        }
        "actions" => {
            let parts: Vec<String> = block["elements"]
                .as_array()
                .into_iter()
                .flatten()
                .map(render_element)
                .collect();
            lines.push(parts.join("  "));
        }
        "input" => {
            let optional = if block["optional"] == true {
                " (optional)"
            } else {
                ""
            };
            lines.push(format!(
                "{}{optional}: {}",
                text_of(&block["label"]),
                render_element(&block["element"])
            ));
        }
        "image" => lines.push(format!(
            "[image: {}]",
            block["alt_text"].as_str().unwrap_or_default()
        )),
        "markdown" => lines.extend(
            block["text"]
                .as_str()
                .unwrap_or_default()
                .lines()
                .map(str::to_owned),
        ),
        "rich_text" => lines.push(rich_text(block)),
        other => lines.push(format!("[{other}]")),
    }
}

fn render_element(element: &Value) -> String {
    let placeholder = element["placeholder"]["text"].as_str();
    match element["type"].as_str().unwrap_or_default() {
        "button" => format!("[ {} ]", text_of(&element["text"])),
        "overflow" => "[ ⋯ ]".to_owned(),
        "plain_text_input" | "email_text_input" | "url_text_input" | "rich_text_input" => {
            match element["initial_value"].as_str() {
                Some(value) => format!("[ {value} ]"),
                None => format!("[ {} ]", placeholder.unwrap_or("________")),
            }
        }
        "number_input" => format!(
            "[ {} ]",
            element["initial_value"]
                .as_str()
                .or(placeholder)
                .unwrap_or("#")
        ),
        "datepicker" => format!(
            "[ {} ]",
            element["initial_date"]
                .as_str()
                .or(placeholder)
                .unwrap_or("YYYY-MM-DD")
        ),
        "checkboxes" | "radio_buttons" => {
            let options: Vec<String> = element["options"]
                .as_array()
                .into_iter()
                .flatten()
                .map(|o| format!("( ) {}", text_of(&o["text"])))
                .collect();
            options.join("  ")
        }
        kind if kind.ends_with("select") => {
            let chosen = element["initial_option"]["text"]["text"]
                .as_str()
                .or(element["initial_user"].as_str())
                .or(placeholder)
                .unwrap_or("choose");
            format!("[ {chosen} ▾ ]")
        }
        other => format!("[ {other} ]"),
    }
}

fn rich_text(value: &Value) -> String {
    match value {
        Value::Array(items) => items.iter().map(rich_text).collect(),
        Value::Object(map) => match map.get("type").and_then(Value::as_str) {
            Some("text") => map
                .get("text")
                .and_then(Value::as_str)
                .unwrap_or_default()
                .to_owned(),
            Some("user") => format!("@{}", map["user_id"].as_str().unwrap_or_default()),
            Some("channel") => format!("#{}", map["channel_id"].as_str().unwrap_or_default()),
            Some("link") => map["url"].as_str().unwrap_or_default().to_owned(),
            _ => map.get("elements").map(rich_text).unwrap_or_default(),
        },
        _ => String::new(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn renders_header_section_context_and_buttons() {
        let blocks = json!([
            {"type": "header", "text": {"type": "plain_text", "text": "LCR-1"}},
            {"type": "section", "text": {"type": "mrkdwn", "text": "Owner <@U1> in <#C1|reqs>"},
             "fields": [{"type": "mrkdwn", "text": "*Qty*\n64"}]},
            {"type": "context", "elements": [{"type": "mrkdwn", "text": "a"}, {"type": "plain_text", "text": "b"}]},
            {"type": "actions", "elements": [
                {"type": "button", "text": {"type": "plain_text", "text": "Approve"}},
                {"type": "button", "text": {"type": "plain_text", "text": "Reject"}}]}
        ]);
        assert_eq!(
            render_text(&blocks),
            "# LCR-1\nOwner @U1 in #reqs\n  *Qty* 64\n  a · b\n[ Approve ]  [ Reject ]"
        );
    }

    #[test]
    fn renders_dates_links_and_groups() {
        assert_eq!(
            render_mrkdwn("<!date^1|2025-10-09> <https://x.y|doc> <!subteam^S1> <!here> a<b"),
            "2025-10-09 doc (https://x.y) @S1 @here a<b"
        );
    }
}
