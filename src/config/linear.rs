//! `[linear]`: the optional, informational Linear issue for Infra.

use super::problems::Problems;
use super::process::one_of;
use super::schema::Section;

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LinearSettings {
    /// The Linear team the issue is filed in. The API key comes from `LINEAR_API_KEY`.
    pub team_id: String,
    pub create_on: LinearCreateOn,
    /// Linear's GraphQL endpoint; another only for a local fake in tests (an addition to
    /// DESIGN.md's keys).
    pub api_url: String,
}

pub const DEFAULT_LINEAR_API_URL: &str = "https://api.linear.app/graphql";

/// When the issue is opened. Infra only needs it once a request reaches them, so the
/// default waits for technical review rather than filing issues that are then rejected.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub enum LinearCreateOn {
    #[default]
    TechnicalReview,
    Submitted,
}

impl LinearCreateOn {
    pub fn as_str(self) -> &'static str {
        match self {
            LinearCreateOn::TechnicalReview => "technical_review",
            LinearCreateOn::Submitted => "submitted",
        }
    }
}

/// `None` when the section is absent (Linear is off) or broken (the problem is reported).
pub(crate) fn parse(section: &Section<'_>, problems: &mut Problems) -> Option<LinearSettings> {
    if !section.is_present() {
        return None;
    }
    let team_id = match section.string("team_id", problems).map(str::trim) {
        Some("") => {
            problems.push(section.field("team_id"), "must not be empty");
            None
        }
        Some(id) => Some(id.to_string()),
        None => {
            if section.get("team_id").is_none() {
                problems.push(
                    section.field("team_id"),
                    "missing (required when [linear] is present; remove the section to turn Linear off)",
                );
            }
            None
        }
    };
    let create_on = section.string("create_on", problems).and_then(|s| {
        one_of(
            s,
            &[LinearCreateOn::TechnicalReview, LinearCreateOn::Submitted],
            LinearCreateOn::as_str,
        )
        .map_err(|message| problems.push(section.field("create_on"), message))
        .ok()
    });
    let api_url = match section.string("api_url", problems).map(str::trim) {
        None => DEFAULT_LINEAR_API_URL.to_string(),
        Some(url) if url.starts_with("https://") || url.starts_with("http://") => url.to_string(),
        Some(_) => {
            problems.push(
                section.field("api_url"),
                "must be an http(s) URL such as https://api.linear.app/graphql",
            );
            DEFAULT_LINEAR_API_URL.to_string()
        }
    };
    Some(LinearSettings {
        team_id: team_id?,
        create_on: create_on.unwrap_or_default(),
        api_url,
    })
}
