//! Checks for interactive elements and their parts: buttons, selects, options, confirms.

use serde_json::Value;

use super::{Check, TextKind};

impl Check {
    pub(super) fn element(&mut self, element: &Value, pointer: &str, allowed: &[&str]) {
        let Some(ty) = element["type"].as_str().filter(|t| allowed.contains(t)) else {
            self.err("failed to match all allowed schemas", pointer);
            return;
        };
        if ty == "image" {
            self.image(element, pointer);
            return;
        }
        self.max_len(&element["action_id"], 255, &format!("{pointer}/action_id"));
        if let Some(placeholder) = element.get("placeholder") {
            self.text(
                placeholder,
                &format!("{pointer}/placeholder"),
                150,
                TextKind::Plain,
            );
        }
        if let Some(confirm) = element.get("confirm") {
            self.confirm(confirm, &format!("{pointer}/confirm"));
        }
        match ty {
            "button" => {
                match element.get("text") {
                    Some(text) => self.text(text, &format!("{pointer}/text"), 75, TextKind::Plain),
                    None => self.err("missing required field: text", pointer),
                }
                self.max_len(&element["value"], 2000, &format!("{pointer}/value"));
                self.max_len(&element["url"], 3000, &format!("{pointer}/url"));
                self.max_len(
                    &element["accessibility_label"],
                    75,
                    &format!("{pointer}/accessibility_label"),
                );
                self.style(element, pointer);
            }
            "static_select" | "multi_static_select" => self.select_options(element, pointer),
            "overflow" => self.options(
                &element["options"],
                1,
                5,
                &format!("{pointer}/options"),
                TextKind::Plain,
            ),
            "checkboxes" | "radio_buttons" => {
                self.options(
                    &element["options"],
                    1,
                    10,
                    &format!("{pointer}/options"),
                    TextKind::Any,
                );
            }
            "plain_text_input" => {
                for key in ["min_length", "max_length"] {
                    if element[key].as_u64().is_some_and(|n| n > 3000) {
                        self.err("must be less than 3001", &format!("{pointer}/{key}"));
                    }
                }
            }
            "number_input" if !element["is_decimal_allowed"].is_boolean() => {
                self.err("missing required field: is_decimal_allowed", pointer);
            }
            "datepicker" => {
                if let Some(date) = element["initial_date"].as_str() {
                    if chrono::NaiveDate::parse_from_str(date, "%Y-%m-%d").is_err() {
                        self.err(
                            "must be a date in the format YYYY-MM-DD",
                            &format!("{pointer}/initial_date"),
                        );
                    }
                }
            }
            _ => {}
        }
    }

    fn style(&mut self, element: &Value, pointer: &str) {
        if let Some(style) = element.get("style") {
            if !matches!(style.as_str(), Some("primary" | "danger")) {
                self.err(
                    "must be one of: primary, danger",
                    &format!("{pointer}/style"),
                );
            }
        }
    }

    fn select_options(&mut self, element: &Value, pointer: &str) {
        match (element.get("options"), element.get("option_groups")) {
            (Some(options), None) => {
                self.options(
                    options,
                    1,
                    100,
                    &format!("{pointer}/options"),
                    TextKind::Plain,
                );
            }
            (None, Some(groups)) => {
                let at = format!("{pointer}/option_groups");
                for (i, group) in self.items(groups, 1, 100, &at).iter().enumerate() {
                    let group_at = format!("{at}/{i}");
                    match group.get("label") {
                        Some(label) => {
                            self.text(label, &format!("{group_at}/label"), 75, TextKind::Plain)
                        }
                        None => self.err("missing required field: label", &group_at),
                    }
                    self.options(
                        &group["options"],
                        1,
                        100,
                        &format!("{group_at}/options"),
                        TextKind::Plain,
                    );
                }
            }
            _ => self.err(
                "must provide exactly one of options or option_groups",
                pointer,
            ),
        }
        if let Some(initial) = element.get("initial_option") {
            self.option(
                initial,
                &format!("{pointer}/initial_option"),
                TextKind::Plain,
            );
        }
    }

    fn options(&mut self, options: &Value, min: usize, max: usize, pointer: &str, kind: TextKind) {
        for (i, option) in self.items(options, min, max, pointer).iter().enumerate() {
            self.option(option, &format!("{pointer}/{i}"), kind);
        }
    }

    fn option(&mut self, option: &Value, pointer: &str, kind: TextKind) {
        match option.get("text") {
            Some(text) => self.text(text, &format!("{pointer}/text"), 75, kind),
            None => self.err("missing required field: text", pointer),
        }
        match option.get("value") {
            Some(value) => self.max_len(value, 150, &format!("{pointer}/value")),
            None => self.err("missing required field: value", pointer),
        }
        if let Some(description) = option.get("description") {
            self.text(
                description,
                &format!("{pointer}/description"),
                75,
                TextKind::Plain,
            );
        }
    }

    fn confirm(&mut self, confirm: &Value, pointer: &str) {
        let Some(map) = confirm.as_object() else {
            self.err("failed to match all allowed schemas", pointer);
            return;
        };
        self.required_text(map, pointer, "title", 100, TextKind::Plain);
        self.required_text(map, pointer, "text", 300, TextKind::Any);
        self.required_text(map, pointer, "confirm", 30, TextKind::Plain);
        self.required_text(map, pointer, "deny", 30, TextKind::Plain);
        self.style(confirm, pointer);
    }
}
