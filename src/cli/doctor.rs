//! `doctor`: checks the tokens, the channel, the configured users and groups, and the
//! database against the real services, one line per check with what to fix.

use std::path::Path;
use std::process::ExitCode;

use secrecy::ExposeSecret;

use super::run::load_settings;
use super::Failure;
use crate::config::{Member, Settings};
use crate::domain::Role;
use crate::slack::api::{ApiError, SlackApi};
use crate::slack::scopes;
use crate::store;

/// One check's verdict: what was checked, and either what was found or what to fix.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Check {
    pub name: String,
    pub result: Result<String, String>,
}

impl std::fmt::Display for Check {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match &self.result {
            Ok(found) => write!(f, "ok    {}: {found}", self.name),
            Err(fix) => write!(f, "FAIL  {}: {fix}", self.name),
        }
    }
}

fn fix(e: &ApiError, what: &str) -> String {
    match e.remedy() {
        Some(remedy) => format!("{e}; {what}: {remedy}"),
        None => format!("{e}; {what}: Slack did not answer, check the network and retry"),
    }
}

/// Names each scope the token lacks with what the bot does with it; scopes only an unused
/// feature needs are mentioned but do not fail the check.
fn scope_verdict(missing: &scopes::Missing) -> Result<String, String> {
    let list = |s: &[scopes::Scope]| {
        s.iter()
            .map(|s| format!("{} ({})", s.name, s.used_for))
            .collect::<Vec<_>>()
            .join(", ")
    };
    if !missing.used.is_empty() {
        return Err(format!(
            "the bot token lacks {}: add them to the app's bot scopes (deploy/slack-app-manifest.yaml) and reinstall it",
            list(&missing.used)
        ));
    }
    if missing.unused.is_empty() {
        Ok(format!(
            "every scope of the manifest is granted ({})",
            scopes::BOT_SCOPES.len()
        ))
    } else {
        Ok(format!(
            "granted for this configuration; not granted but unused: {}",
            list(&missing.unused)
        ))
    }
}

pub async fn checks(settings: &Settings) -> Vec<Check> {
    let mut out = Vec::new();
    let mut push = |name: &str, result: Result<String, String>| {
        out.push(Check {
            name: name.to_string(),
            result,
        })
    };
    let secrets = &settings.secrets;
    let api = match &secrets.slack_bot_token {
        None => {
            push("bot token", Err("SLACK_BOT_TOKEN is not set: copy the Bot User OAuth Token (xoxb-…) from the app's OAuth page".into()));
            None
        }
        Some(bot) => match SlackApi::new(
            &settings.slack.api_url,
            bot,
            secrets.slack_app_token.as_ref(),
        ) {
            Ok(api) => Some(api),
            Err(e) => {
                push(
                    "bot token",
                    Err(format!("cannot build a Slack client: {e}")),
                );
                None
            }
        },
    };
    if let Some(api) = &api {
        match api.auth_test().await {
            Ok(a) => push(
                "bot token (auth.test)",
                Ok(format!("team {}, bot user {}", a.team_id.0, a.user_id.0)),
            ),
            Err(e) => push("bot token (auth.test)", Err(fix(&e, "SLACK_BOT_TOKEN"))),
        }
        match api.granted_scopes().await {
            Ok(Some(granted)) => push(
                "bot scopes",
                scope_verdict(&scopes::missing(&granted, settings.digest.is_some())),
            ),
            Ok(None) => push(
                "bot scopes",
                Err("Slack did not list the token's scopes (no x-oauth-scopes header): check them by hand against deploy/slack-app-manifest.yaml".into()),
            ),
            // The auth.test line above already says what is wrong with the token.
            Err(e) if e.is_bad_token() => {}
            Err(e) => push("bot scopes", Err(fix(&e, "the bot scopes"))),
        }
        match (&secrets.slack_app_token, api.open_socket_url().await) {
            (None, _) => push("app token", Err("SLACK_APP_TOKEN is not set: create an app-level token with connections:write (Basic Information → App-Level Tokens)".into())),
            (Some(_), Ok(_)) => push("app token (apps.connections.open)", Ok("Socket Mode is enabled and the token works".into())),
            (Some(_), Err(e)) => push(
                "app token (apps.connections.open)",
                Err(format!("{e}; SLACK_APP_TOKEN must be an app-level token (xapp-…) with connections:write, and Socket Mode must be on")),
            ),
        }
        let channel = settings.slack.requests_channel.as_str();
        match api.channel_membership(channel).await {
            Ok(true) => push(
                "requests channel",
                Ok(format!("the bot is a member of {channel}")),
            ),
            Ok(false) => push(
                "requests channel",
                Err(format!(
                    "the bot is not in {channel}: invite it with /invite @capacity-bot"
                )),
            ),
            Err(e) => push("requests channel", Err(fix(&e, "slack.requests_channel"))),
        }
        if let Some(digest) = &settings.digest {
            match api.can_upload_files().await {
                Ok(()) => push(
                    "files:write (weekly digest chart)",
                    Ok("the bot may upload files".into()),
                ),
                Err(e) => push(
                    "files:write (weekly digest chart)",
                    Err(fix(&e, "the [digest] chart")),
                ),
            }
            if digest.channel != settings.slack.requests_channel {
                let channel = digest.channel.as_str();
                match api.channel_membership(channel).await {
                    Ok(true) => push(
                        "digest channel",
                        Ok(format!("the bot is a member of {channel}")),
                    ),
                    Ok(false) => push(
                        "digest channel",
                        Err(format!(
                            "the bot is not in {channel}: invite it with /invite @capacity-bot"
                        )),
                    ),
                    Err(e) => push("digest channel", Err(fix(&e, "digest.channel"))),
                }
            }
        }
        for role in Role::ALL {
            for member in settings.roles.members(role) {
                let name = format!("roles.{} {member}", role.config_key());
                let result = match member {
                    Member::User(u) => api
                        .user_exists(u.as_str())
                        .await
                        .map(|()| "user exists".to_string()),
                    Member::Group(g) => api
                        .usergroup_members(g.as_str())
                        .await
                        .map(|users| format!("user group with {} member(s)", users.len())),
                };
                push(&name, result.map_err(|e| fix(&e, "this id")));
            }
        }
    }
    match &secrets.database_url {
        None => push("database", Err("DATABASE_URL is not set".into())),
        Some(url) => match store::connect(url.expose_secret()).await {
            Err(e) => push("database", Err(e.to_string())),
            Ok(pool) => match store::migrations_current(&pool).await {
                Ok(true) => push("database", Ok("reachable, migrations current".into())),
                Ok(false) => push(
                    "database",
                    Err(
                        "reachable but not migrated to this version: run `capacity-bot migrate`"
                            .into(),
                    ),
                ),
                Err(e) => push("database", Err(e.to_string())),
            },
        },
    }
    out
}

pub async fn run(path: Option<&Path>) -> Result<ExitCode, Failure> {
    let settings = load_settings(path)?;
    let checks = checks(&settings).await;
    for c in &checks {
        println!("{c}");
    }
    let failed = checks.iter().filter(|c| c.result.is_err()).count();
    if failed == 0 {
        println!("all {} checks passed", checks.len());
        Ok(ExitCode::SUCCESS)
    } else {
        println!("{failed} of {} checks failed", checks.len());
        Ok(ExitCode::FAILURE)
    }
}
