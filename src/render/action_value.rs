//! The `value` every button carries: which request, at which version, e.g.
//! `CR-12|0190c3c4-…|v3`. The id names the request and the version must be its current one.
//! Button values come back from Slack untrusted, so [`decode`] accepts only the exact form
//! [`ActionValue::encode`] writes, and the click handler has the store check the rest against
//! the request the id names (`store::events::Button`): the number must be that request's, and
//! a click from the requests channel must come from that request's root message. Buttons are
//! therefore rendered only on the root message and in DMs; a button anywhere else in the
//! requests channel would be refused.

use std::fmt;
use std::str::FromStr;

use uuid::Uuid;

use crate::domain::{EventKind, Request, RequestId, RequestNumber};

/// Longest value accepted: `CR-` + 19 digits + 36 (uuid) + `v` + 10 digits + separators is 72.
pub const MAX_LEN: usize = 80;

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct ActionValue {
    pub request: RequestId,
    pub number: RequestNumber,
    /// The request version the button was rendered at; a click at another version is stale.
    pub version: i32,
}

impl ActionValue {
    /// The value for buttons rendered from `req` now.
    pub fn of(req: &Request) -> ActionValue {
        ActionValue {
            request: req.id,
            number: req.number,
            version: req.version,
        }
    }

    pub fn encode(&self) -> String {
        self.to_string()
    }
}

impl fmt::Display for ActionValue {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "{}|{}|v{}",
            self.number,
            self.request.0.hyphenated(),
            self.version
        )
    }
}

/// Why a button value was refused. It came from a client, so each case is a possible forgery.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum BadActionValue {
    #[error("the button value is empty")]
    Empty,
    #[error("the button value is {len} characters long; at most {MAX_LEN} are expected")]
    TooLong { len: usize },
    #[error("the button value does not have the form CR-<n>|<request id>|v<version>")]
    Shape,
    #[error("`{0}` is not a request number of the form CR-12")]
    Number(String),
    #[error("`{0}` is not a request id")]
    RequestId(String),
    #[error("`{0}` is not a version of the form v3")]
    Version(String),
}

/// Parses a button value written by [`ActionValue::encode`]; anything else is refused.
pub fn decode(value: &str) -> Result<ActionValue, BadActionValue> {
    if value.is_empty() {
        return Err(BadActionValue::Empty);
    }
    let len = value.chars().count();
    if len > MAX_LEN {
        return Err(BadActionValue::TooLong { len });
    }
    let mut parts = value.split('|');
    let (Some(number), Some(id), Some(version), None) =
        (parts.next(), parts.next(), parts.next(), parts.next())
    else {
        return Err(BadActionValue::Shape);
    };
    let number = number
        .strip_prefix("CR-")
        .and_then(canonical_digits)
        .and_then(|d| d.parse::<i64>().ok())
        .filter(|n| *n > 0)
        .map(RequestNumber)
        .ok_or_else(|| BadActionValue::Number(number.to_string()))?;
    let request = Uuid::try_parse(id)
        .ok()
        .filter(|u| u.hyphenated().to_string() == id)
        .map(RequestId)
        .ok_or_else(|| BadActionValue::RequestId(id.to_string()))?;
    let version = version
        .strip_prefix('v')
        .and_then(canonical_digits)
        .and_then(|d| d.parse::<i32>().ok())
        .ok_or_else(|| BadActionValue::Version(version.to_string()))?;
    Ok(ActionValue {
        request,
        number,
        version,
    })
}

/// The `value` of an option in the root message's `more_actions` menu: the event it asks
/// for, then the request and version as a button's value has them, e.g.
/// `comment_added|CR-12|0190c3c4-…|v3` (at most 150 characters, Slack's limit for an option).
pub fn option_value(kind: EventKind, value: &ActionValue) -> String {
    format!("{kind}|{value}")
}

/// Reads an option value written by [`option_value`]; anything else is refused.
pub fn decode_option(option: &str) -> Result<(EventKind, ActionValue), BadActionValue> {
    let (kind, value) = option.split_once('|').ok_or(BadActionValue::Shape)?;
    let kind: EventKind = kind.parse().map_err(|_| BadActionValue::Shape)?;
    Ok((kind, decode(value)?))
}

impl FromStr for ActionValue {
    type Err = BadActionValue;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        decode(s)
    }
}

/// ASCII digits without a sign or a leading zero (except `0` itself), so each number has
/// exactly one spelling.
fn canonical_digits(s: &str) -> Option<&str> {
    let digits = !s.is_empty() && s.bytes().all(|b| b.is_ascii_digit());
    let leading_zero = s.len() > 1 && s.starts_with('0');
    (digits && !leading_zero).then_some(s)
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn value(n: i64, version: i32) -> ActionValue {
        ActionValue {
            request: RequestId(Uuid::from_u128(0x0190_c3c4_5b6e_7000_8000_0000_0000_002a)),
            number: RequestNumber(n),
            version,
        }
    }

    fn refusal(value: &str) -> &'static str {
        match decode(value) {
            Ok(v) => panic!("{value:?} was accepted as {v:?}"),
            Err(BadActionValue::Empty) => "empty",
            Err(BadActionValue::TooLong { .. }) => "too long",
            Err(BadActionValue::Shape) => "shape",
            Err(BadActionValue::Number(_)) => "number",
            Err(BadActionValue::RequestId(_)) => "id",
            Err(BadActionValue::Version(_)) => "version",
        }
    }

    #[test]
    fn the_value_reads_as_number_id_version() {
        assert_eq!(
            value(12, 3).encode(),
            "CR-12|0190c3c4-5b6e-7000-8000-00000000002a|v3"
        );
    }

    #[test]
    fn malformed_values_are_refused_with_a_reason() {
        let id = "0190c3c4-5b6e-7000-8000-00000000002a";
        let upper = id.to_uppercase();
        let simple = id.replace('-', "");
        let cases = [
            (String::new(), "empty"),
            ("x".repeat(200), "too long"),
            (format!("CR-12|{id}"), "shape"),
            (format!("CR-12|{id}|v3|extra"), "shape"),
            (format!("12|{id}|v3"), "number"),
            (format!("CR-0|{id}|v3"), "number"),
            (format!("CR-012|{id}|v3"), "number"),
            (format!("CR-+12|{id}|v3"), "number"),
            ("CR-12|not-a-uuid|v3".to_string(), "id"),
            (format!("CR-12|{upper}|v3"), "id"),
            (format!("CR-12|{simple}|v3"), "id"),
            (format!("CR-12|{id}|v-1"), "version"),
            (format!("CR-12|{id}|3"), "version"),
            (format!("CR-12|{id}|v99999999999"), "version"),
            (format!("CR-12|{id}|v03"), "version"),
        ];
        for (input, expected) in cases {
            assert_eq!(refusal(&input), expected, "{input:?}");
        }
    }

    #[test]
    fn option_values_name_the_event_then_the_button_value() {
        let v = value(12, 3);
        let option = option_value(EventKind::OwnerReassigned, &v);
        assert_eq!(
            option,
            "owner_reassigned|CR-12|0190c3c4-5b6e-7000-8000-00000000002a|v3"
        );
        assert!(option.chars().count() <= 150);
        assert_eq!(decode_option(&option), Ok((EventKind::OwnerReassigned, v)));
        assert_eq!(
            decode_option(&format!("nonsense|{v}")),
            Err(BadActionValue::Shape)
        );
        assert_eq!(decode_option("comment_added"), Err(BadActionValue::Shape));
        assert!(decode_option("comment_added|CR-12|x|v3").is_err());
    }

    proptest! {
        #[test]
        fn values_round_trip(id in any::<u128>(), n in 1..=i64::MAX, version in 0..=i32::MAX) {
            let v = ActionValue { request: RequestId(Uuid::from_u128(id)), number: RequestNumber(n), version };
            let encoded = v.encode();
            prop_assert!(encoded.chars().count() <= MAX_LEN);
            prop_assert_eq!(decode(&encoded), Ok(v));
        }

        #[test]
        fn arbitrary_strings_never_panic(s in "\\PC{0,120}") {
            if let Ok(v) = decode(&s) {
                prop_assert_eq!(v.encode(), s);
            }
        }
    }
}
