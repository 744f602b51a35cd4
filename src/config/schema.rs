//! The shape of the config file: which sections and keys exist, typed reads that name the
//! expected type, and the pass that refuses unknown keys and secrets before anything is read.
//!
//! The file is walked as a `toml::Table` rather than deserialized with serde, because serde
//! stops at the first error and the operator should see all of them at once.

use toml::{Table, Value};

use super::problems::{suggest, Problems};

/// Every section and its keys. Key names are part of the interface: operators keep the
/// file in git, so a rename breaks their deploys.
pub(crate) const SECTIONS: &[(&str, &[&str])] = &[
    ("slack", &["requests_channel", "team_id"]),
    (
        "roles",
        &[
            "requesters",
            "commercial_approvers",
            "finance",
            "infra",
            "admins",
        ],
    ),
    (
        "policy",
        &[
            "finance_threshold_usd_month",
            "customer_confirmation_ttl_business_days",
            "activation_ttl_business_days",
            "allow_provisioning_before_confirmation",
            "escalate_after_reminders",
            "max_snooze_business_days",
            "stuck_after_business_days",
        ],
    ),
    ("calendar", &["time_zone", "working_hours", "holidays"]),
    (
        "scheduler",
        &["sweep", "reminder_sweep", "outbox_sweep", "owner_sweep"],
    ),
    ("http", &["listen"]),
    ("linear", &["team_id", "create_on", "api_url"]),
    ("digest", &["weekday", "time", "channel"]),
    ("log", &["format"]),
];

fn keys_of(section: &str) -> Option<&'static [&'static str]> {
    SECTIONS
        .iter()
        .find(|(name, _)| *name == section)
        .map(|(_, keys)| *keys)
}

fn section_names() -> Vec<&'static str> {
    SECTIONS.iter().map(|(name, _)| *name).collect()
}

/// The section other than `except` that has `key`, for "belongs in [calendar]" hints.
fn home_of(key: &str, except: Option<&str>) -> Option<&'static str> {
    SECTIONS
        .iter()
        .find(|(name, keys)| Some(*name) != except && keys.contains(&key))
        .map(|(name, _)| *name)
}

/// The environment variable that a secret-looking key should have been, if it looks like one.
fn secret_variable(key: &str) -> Option<&'static str> {
    match key.to_ascii_lowercase().as_str() {
        "slack_app_token" | "app_token" | "app_level_token" => Some("SLACK_APP_TOKEN"),
        "slack_bot_token" | "bot_token" | "token" | "slack_token" => Some("SLACK_BOT_TOKEN"),
        "capacity_signal_secret" | "signal_secret" | "secret" | "hmac_secret" => {
            Some("CAPACITY_SIGNAL_SECRET")
        }
        "linear_api_key" | "api_key" | "linear_token" => Some("LINEAR_API_KEY"),
        "database_url" | "database" | "db_url" | "postgres_url" => Some("DATABASE_URL"),
        _ => None,
    }
}

fn secret_message(variable: &str) -> String {
    format!(
        "secrets are not read from the config file (it is kept in git); \
         set {variable} or {variable}_FILE in the environment instead"
    )
}

/// Reports unknown sections, unknown keys, sections that are not tables, and secrets.
pub(crate) fn check_keys(root: &Table, problems: &mut Problems) {
    for (name, value) in root {
        if let Some(variable) = secret_variable(name) {
            problems.push(name.as_str(), secret_message(variable));
            continue;
        }
        if name == "secrets" {
            problems.push(
                name.as_str(),
                "secrets are not read from the config file (it is kept in git); set \
                 SLACK_APP_TOKEN, SLACK_BOT_TOKEN, CAPACITY_SIGNAL_SECRET, DATABASE_URL and \
                 LINEAR_API_KEY (or each with _FILE) in the environment instead",
            );
            continue;
        }
        match (keys_of(name), value.as_table()) {
            (Some(keys), Some(table)) => check_section(name, keys, table, problems),
            (Some(_), None) => problems.push(
                name.as_str(),
                format!(
                    "expected a table (a [{name}] section), found {}",
                    found(value)
                ),
            ),
            (None, Some(_)) => problems.push(name.as_str(), unknown_section(name)),
            (None, None) => problems.push(name.as_str(), unknown_top_level_key(name)),
        }
    }
}

fn check_section(section: &str, keys: &[&str], table: &Table, problems: &mut Problems) {
    for key in table.keys() {
        let field = format!("{section}.{key}");
        if let Some(variable) = secret_variable(key) {
            problems.push(field, secret_message(variable));
        } else if !keys.contains(&key.as_str()) {
            let hint = if let Some(near) = suggest(key, keys) {
                format!("did you mean {near}?")
            } else if let Some(home) = home_of(key, Some(section)) {
                format!("{key} belongs in [{home}]")
            } else {
                format!("known keys in [{section}]: {}", keys.join(", "))
            };
            problems.push(field, format!("unknown key ({hint})"));
        }
    }
}

fn unknown_section(name: &str) -> String {
    match suggest(name, &section_names()) {
        Some(near) => format!("unknown section (did you mean [{near}]?)"),
        None => format!(
            "unknown section (known sections: {})",
            section_names()
                .iter()
                .map(|s| format!("[{s}]"))
                .collect::<Vec<_>>()
                .join(", ")
        ),
    }
}

fn unknown_top_level_key(name: &str) -> String {
    match home_of(name, None) {
        Some(home) => format!(
            "unknown key at the top level ({name} belongs in [{home}]; is the [{home}] \
             header missing, or below this line?)"
        ),
        None => "unknown key at the top level (every setting belongs in a section such as \
                 [slack] or [policy])"
            .to_string(),
    }
}

/// "a string", "an integer": how a wrong value is described.
pub(crate) fn found(value: &Value) -> &'static str {
    match value {
        Value::String(_) => "a string",
        Value::Integer(_) => "an integer",
        Value::Float(_) => "a decimal number",
        Value::Boolean(_) => "a boolean",
        Value::Datetime(_) => "a date/time",
        Value::Array(_) => "an array",
        Value::Table(_) => "a table",
    }
}

/// One section of the file, read key by key. An absent section reads as empty, so every
/// key takes its default; `check_keys` has already reported a section of the wrong type.
pub(crate) struct Section<'t> {
    name: &'static str,
    table: Option<&'t Table>,
}

impl<'t> Section<'t> {
    pub(crate) fn of(root: &'t Table, name: &'static str) -> Self {
        Section {
            name,
            table: root.get(name).and_then(Value::as_table),
        }
    }

    pub(crate) fn is_present(&self) -> bool {
        self.table.is_some()
    }

    pub(crate) fn field(&self, key: &str) -> String {
        format!("{}.{key}", self.name)
    }

    pub(crate) fn get(&self, key: &str) -> Option<&'t Value> {
        self.table.and_then(|t| t.get(key))
    }

    fn wrong_type(&self, key: &str, expected: &str, value: &Value, problems: &mut Problems) {
        problems.push(
            self.field(key),
            format!("expected {expected}, found {}", found(value)),
        );
    }

    pub(crate) fn string(&self, key: &str, problems: &mut Problems) -> Option<&'t str> {
        let value = self.get(key)?;
        match value.as_str() {
            Some(s) => Some(s),
            None => {
                self.wrong_type(key, "a string", value, problems);
                None
            }
        }
    }

    /// An integer; `expected` describes it for the wrong-type message ("a whole number of
    /// business days").
    pub(crate) fn integer(
        &self,
        key: &str,
        expected: &str,
        problems: &mut Problems,
    ) -> Option<i64> {
        let value = self.get(key)?;
        match value.as_integer() {
            Some(n) => Some(n),
            None => {
                self.wrong_type(key, expected, value, problems);
                None
            }
        }
    }

    pub(crate) fn boolean(&self, key: &str, problems: &mut Problems) -> Option<bool> {
        let value = self.get(key)?;
        match value.as_bool() {
            Some(b) => Some(b),
            None => {
                self.wrong_type(key, "true or false", value, problems);
                None
            }
        }
    }

    pub(crate) fn array(
        &self,
        key: &str,
        expected: &str,
        problems: &mut Problems,
    ) -> Option<&'t [Value]> {
        let value = self.get(key)?;
        match value.as_array() {
            Some(a) => Some(a.as_slice()),
            None => {
                self.wrong_type(key, expected, value, problems);
                None
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn problems_of(text: &str) -> Vec<(String, String)> {
        let root: Table = text.parse().unwrap();
        let mut problems = Problems::default();
        check_keys(&root, &mut problems);
        match problems.finish::<()>(None) {
            Err(e) => e
                .problems
                .into_iter()
                .map(|p| (p.field, p.message))
                .collect(),
            Ok(()) => Vec::new(),
        }
    }

    #[test]
    fn a_key_in_the_wrong_section_is_pointed_home() {
        let p = problems_of("[policy]\ntime_zone = \"UTC\"\n");
        assert_eq!(p[0].0, "policy.time_zone");
        assert_eq!(p[0].1, "unknown key (time_zone belongs in [calendar])");
    }

    #[test]
    fn a_key_above_every_header_is_pointed_home() {
        let p = problems_of("requests_channel = \"C1\"\n");
        assert_eq!(p[0].0, "requests_channel");
        assert!(p[0].1.contains("belongs in [slack]"), "{}", p[0].1);
    }

    #[test]
    fn an_unrelated_unknown_key_lists_the_known_ones() {
        let p = problems_of("[http]\nport = 80\n");
        assert_eq!(p[0].1, "unknown key (known keys in [http]: listen)");
    }

    #[test]
    fn a_secrets_section_is_refused_without_echoing_values() {
        let p =
            problems_of("[secrets]\nx = \"hunter2\"\n[database]\nurl = \"postgres://u:pw@h/db\"\n");
        assert_eq!(p.len(), 2);
        assert!(p
            .iter()
            .all(|(_, m)| !m.contains("hunter2") && !m.contains("pw@")));
        assert!(p
            .iter()
            .any(|(f, m)| f == "database" && m.contains("DATABASE_URL")));
    }

    #[test]
    fn a_section_that_is_not_a_table_names_the_expected_type() {
        let p = problems_of("slack = \"C1\"\n");
        assert_eq!(
            p[0].1,
            "expected a table (a [slack] section), found a string"
        );
    }
}
