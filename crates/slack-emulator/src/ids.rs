//! Ids, timestamps and short log renderings.

use rand::distr::Alphanumeric;
use rand::Rng;
use serde_json::Value;
use std::time::Duration;

/// `"<secs>.<6 digits>"`, Slack's message timestamp format.
pub(crate) fn format_ts(micros: u64) -> String {
    format!("{}.{:06}", micros / 1_000_000, micros % 1_000_000)
}

/// `prefix` plus `len` random upper-case letters and digits (`V…`, `D…` ids).
pub(crate) fn random_id(prefix: &str, len: usize) -> String {
    let tail: String = rand::rng()
        .sample_iter(&Alphanumeric)
        .map(|b| char::from(b).to_ascii_uppercase())
        .take(len)
        .collect();
    format!("{prefix}{tail}")
}

/// A short mixed-case id like the ones Slack invents for missing `block_id`s (`"0Bm"`).
pub(crate) fn short_id(len: usize) -> String {
    rand::rng()
        .sample_iter(&Alphanumeric)
        .map(char::from)
        .take(len)
        .collect()
}

/// Milliseconds for log lines.
pub(crate) fn ms(d: Duration) -> String {
    format!("{:.1} ms", d.as_secs_f64() * 1000.0)
}

/// A JSON value as one short line for the log.
pub(crate) fn short_json(value: &Value) -> String {
    let text = value.to_string();
    if text.chars().count() > 160 {
        let head: String = text.chars().take(157).collect();
        format!("{head}…")
    } else {
        text
    }
}
