//! Identifiers. Newtypes so a user id can never be passed where a group id is expected.

use std::fmt;
use std::str::FromStr;

use serde::{Deserialize, Serialize};
use uuid::Uuid;

/// The database identity of a request; never shown to people.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(transparent)]
pub struct RequestId(pub Uuid);

impl fmt::Display for RequestId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        self.0.fmt(f)
    }
}

/// The human number, shown and typed as `CR-<n>`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(transparent)]
pub struct RequestNumber(pub i64);

impl fmt::Display for RequestNumber {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "CR-{}", self.0)
    }
}

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("`{0}` is not a request number; use the form CR-12")]
pub struct BadRequestNumber(pub String);

impl FromStr for RequestNumber {
    type Err = BadRequestNumber;

    /// Accepts `CR-12`, `cr-12` and `12`, because people type all three.
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        let t = s.trim();
        let digits = t
            .strip_prefix("CR-")
            .or_else(|| t.strip_prefix("cr-"))
            .or_else(|| t.strip_prefix("Cr-"))
            .unwrap_or(t);
        match digits.parse::<i64>() {
            Ok(n) if n > 0 && digits.bytes().all(|b| b.is_ascii_digit()) => Ok(RequestNumber(n)),
            _ => Err(BadRequestNumber(s.to_string())),
        }
    }
}

macro_rules! slack_id {
    ($name:ident, $what:literal, $prefixes:expr) => {
        #[doc = concat!("A Slack ", $what, " id.")]
        #[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
        #[serde(transparent)]
        pub struct $name(String);

        impl $name {
            /// Checks the shape Slack uses (an upper-case prefix letter, then upper-case
            /// letters and digits), so ids from config and payloads are validated once.
            pub fn parse(s: &str) -> Result<Self, String> {
                let ok = s.len() >= 2
                    && s.len() <= 32
                    && $prefixes.iter().any(|p: &char| s.starts_with(*p))
                    && s.bytes()
                        .all(|b| b.is_ascii_uppercase() || b.is_ascii_digit());
                if ok {
                    Ok(Self(s.to_string()))
                } else {
                    Err(format!(
                        "`{}` is not a Slack {} id (expected {} followed by letters and digits)",
                        s,
                        $what,
                        $prefixes
                            .iter()
                            .map(|p: &char| format!("{p}…"))
                            .collect::<Vec<_>>()
                            .join(" or ")
                    ))
                }
            }

            pub fn as_str(&self) -> &str {
                &self.0
            }
        }

        impl fmt::Display for $name {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str(&self.0)
            }
        }

        impl FromStr for $name {
            type Err = String;
            fn from_str(s: &str) -> Result<Self, Self::Err> {
                Self::parse(s)
            }
        }
    };
}

slack_id!(UserId, "user", ['U', 'W']);
slack_id!(GroupId, "user group", ['S']);
slack_id!(TeamId, "team", ['T', 'E']);
slack_id!(ChannelId, "channel", ['C', 'G', 'D']);

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn request_numbers_parse_in_the_forms_people_type() {
        assert_eq!("CR-12".parse::<RequestNumber>().unwrap(), RequestNumber(12));
        assert_eq!("cr-7".parse::<RequestNumber>().unwrap(), RequestNumber(7));
        assert_eq!(" 3 ".parse::<RequestNumber>().unwrap(), RequestNumber(3));
        assert!("CR-".parse::<RequestNumber>().is_err());
        assert!("CR-0".parse::<RequestNumber>().is_err());
        assert!("CR-+4".parse::<RequestNumber>().is_err());
        assert!("CR-1x".parse::<RequestNumber>().is_err());
        assert_eq!(RequestNumber(42).to_string(), "CR-42");
    }

    #[test]
    fn slack_ids_are_checked_for_their_prefix() {
        assert!(UserId::parse("U0123ABC").is_ok());
        assert!(UserId::parse("W0123ABC").is_ok());
        assert!(UserId::parse("S0123ABC").is_err());
        assert!(UserId::parse("u0123").is_err());
        assert!(UserId::parse("U01<!channel>").is_err());
        assert!(GroupId::parse("S0FINANCE").is_ok());
        assert!(TeamId::parse("T0123").is_ok());
        assert!(ChannelId::parse("C0123456789").is_ok());
    }
}
