//! `[slack]`, plus `SLACK_API_URL` from the environment.

use super::problems::Problems;
use super::schema::Section;
use super::Env;
use crate::domain::ids::{ChannelId, TeamId};

pub const DEFAULT_SLACK_API_URL: &str = "https://slack.com/api";

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SlackSettings {
    /// Where each request's root message goes.
    pub requests_channel: ChannelId,
    /// When set, envelopes from any other team are refused.
    pub team_id: Option<TeamId>,
    /// `SLACK_API_URL`: Slack's Web API, or an emulator's in tests and `demo`. No trailing `/`.
    pub api_url: String,
}

/// `None` when `requests_channel` is missing or wrong; the problem is already reported.
pub(crate) fn parse(
    section: &Section<'_>,
    api_url: String,
    problems: &mut Problems,
) -> Option<SlackSettings> {
    let requests_channel = match section.string("requests_channel", problems) {
        Some(s) => ChannelId::parse(s)
            .map_err(|message| {
                let hint = if s.starts_with('#') {
                    "; use the channel id (channel details, at the bottom), not its name"
                } else {
                    ""
                };
                problems.push(
                    section.field("requests_channel"),
                    format!("{message}{hint}"),
                );
            })
            .ok(),
        None => {
            if section.get("requests_channel").is_none() {
                problems.push(section.field("requests_channel"), "missing (required)");
            }
            None
        }
    };
    let team_id = section.string("team_id", problems).and_then(|s| {
        TeamId::parse(s)
            .map_err(|message| problems.push(section.field("team_id"), message))
            .ok()
    });
    Some(SlackSettings {
        requests_channel: requests_channel?,
        team_id,
        api_url,
    })
}

/// `SLACK_API_URL`, or Slack's own when unset.
pub(crate) fn api_url(env: Env<'_>, problems: &mut Problems) -> String {
    let Some(raw) = env("SLACK_API_URL").filter(|s| !s.trim().is_empty()) else {
        return DEFAULT_SLACK_API_URL.to_string();
    };
    let trimmed = raw.trim().trim_end_matches('/');
    match url::Url::parse(trimmed) {
        Ok(u) if matches!(u.scheme(), "http" | "https") && u.has_host() => trimmed.to_string(),
        _ => {
            problems.push(
                "SLACK_API_URL",
                format!(
                    "\"{trimmed}\" is not an http(s) URL; leave it unset for Slack \
                     ({DEFAULT_SLACK_API_URL}) or point it at an emulator, e.g. \
                     http://127.0.0.1:9000/api"
                ),
            );
            DEFAULT_SLACK_API_URL.to_string()
        }
    }
}
