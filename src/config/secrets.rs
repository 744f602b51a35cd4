//! Secrets: only from the environment, or from a file the environment names (`X_FILE`, as
//! Docker and Kubernetes secrets are mounted). Never from the config file, which is in git.
//!
//! No message here ever contains a secret's value, not even a prefix that is not one of
//! Slack's public token kinds.

use secrecy::{ExposeSecret, SecretString};

use super::problems::{ConfigErrors, Problems};
use super::Env;

pub const SLACK_APP_TOKEN: &str = "SLACK_APP_TOKEN";
pub const SLACK_BOT_TOKEN: &str = "SLACK_BOT_TOKEN";
pub const CAPACITY_SIGNAL_SECRET: &str = "CAPACITY_SIGNAL_SECRET";
pub const LINEAR_API_KEY: &str = "LINEAR_API_KEY";
pub const DATABASE_URL: &str = "DATABASE_URL";

/// Each is `None` when neither the variable nor its `_FILE` is set; `Debug` prints
/// `[REDACTED]` for the values.
#[derive(Debug, Clone, Default)]
pub struct Secrets {
    /// `xapp-…`: opens the Socket Mode connection.
    pub slack_app_token: Option<SecretString>,
    /// `xoxb-…`: every Web API call.
    pub slack_bot_token: Option<SecretString>,
    /// HMAC key of the control-plane activation signal.
    pub signal_secret: Option<SecretString>,
    pub linear_api_key: Option<SecretString>,
    /// Postgres connection string; it usually holds a password.
    pub database_url: Option<SecretString>,
}

impl Secrets {
    /// The secrets alone, for commands that need only `DATABASE_URL` (`migrate`, `replay`)
    /// and no config file. Every problem is reported, as for [`super::Settings::load`].
    pub fn from_env(env: &dyn Fn(&str) -> Option<String>) -> Result<Secrets, ConfigErrors> {
        let mut problems = Problems::default();
        let secrets = Secrets::read(env, &mut problems);
        problems.finish(Some(secrets))
    }

    /// [`Secrets::from_env`] on the process environment.
    pub fn from_process_env() -> Result<Secrets, ConfigErrors> {
        Secrets::from_env(&super::process_env)
    }

    pub(crate) fn read(env: Env<'_>, problems: &mut Problems) -> Secrets {
        let mut read = |variable: &str| read_secret(env, variable, problems);
        let secrets = Secrets {
            slack_app_token: read(SLACK_APP_TOKEN),
            slack_bot_token: read(SLACK_BOT_TOKEN),
            signal_secret: read(CAPACITY_SIGNAL_SECRET),
            linear_api_key: read(LINEAR_API_KEY),
            database_url: read(DATABASE_URL),
        };
        let expose = |s: &Option<SecretString>| s.as_ref().map(|s| s.expose_secret().to_string());
        check_tokens(
            expose(&secrets.slack_app_token).as_deref(),
            expose(&secrets.slack_bot_token).as_deref(),
            problems,
        );
        if let Some(url) = &secrets.database_url {
            let url = url.expose_secret();
            if !(url.starts_with("postgres://") || url.starts_with("postgresql://")) {
                problems.push(
                    DATABASE_URL,
                    "must be a postgres:// or postgresql:// URL (the value is not shown, as \
                     it may hold a password)",
                );
            }
        }
        secrets
    }

    /// Every secret's variable and whether it is set, for `check-config`.
    pub fn status(&self) -> [(&'static str, bool); 5] {
        [
            (SLACK_APP_TOKEN, self.slack_app_token.is_some()),
            (SLACK_BOT_TOKEN, self.slack_bot_token.is_some()),
            (CAPACITY_SIGNAL_SECRET, self.signal_secret.is_some()),
            (DATABASE_URL, self.database_url.is_some()),
            (LINEAR_API_KEY, self.linear_api_key.is_some()),
        ]
    }
}

/// `VARIABLE`, else the contents of the file `VARIABLE_FILE` names, trailing newline
/// trimmed. An empty variable counts as unset, as `VAR=` in a compose file means "none".
fn read_secret(env: Env<'_>, variable: &str, problems: &mut Problems) -> Option<SecretString> {
    let file_variable = format!("{variable}_FILE");
    let direct = env(variable).filter(|v| !v.is_empty());
    let file = env(&file_variable).filter(|v| !v.is_empty());
    match (direct, file) {
        (Some(_), Some(_)) => {
            problems.push(
                variable,
                format!("both {variable} and {file_variable} are set; set only one"),
            );
            None
        }
        (Some(value), None) => Some(SecretString::from(value)),
        (None, Some(path)) => match std::fs::read_to_string(&path) {
            Ok(contents) => {
                let value = contents.trim_end();
                if value.is_empty() {
                    problems.push(file_variable, format!("{path} is empty"));
                    None
                } else {
                    Some(SecretString::from(value))
                }
            }
            Err(e) => {
                problems.push(file_variable, format!("cannot read {path}: {e}"));
                None
            }
        },
        (None, None) => None,
    }
}

const APP_TOKEN_HELP: &str =
    "the app-level token (xapp-…) from the app's Basic Information page, with the \
     connections:write scope";
const BOT_TOKEN_HELP: &str = "the bot token (xoxb-…) from the app's OAuth & Permissions page";

fn check_tokens(app: Option<&str>, bot: Option<&str>, problems: &mut Problems) {
    if let (Some(app), Some(bot)) = (app, bot) {
        if app.starts_with("xoxb-") && bot.starts_with("xapp-") {
            problems.push(
                SLACK_APP_TOKEN,
                "looks swapped with SLACK_BOT_TOKEN: this holds a bot token (xoxb-…) and \
                 SLACK_BOT_TOKEN an app-level token (xapp-…); exchange the two values",
            );
            return;
        }
    }
    if let Some(app) = app {
        let problem = if app.starts_with("xoxb-") {
            Some(format!(
                "looks like a bot token (xoxb-…), which belongs in SLACK_BOT_TOKEN; \
                 SLACK_APP_TOKEN is {APP_TOKEN_HELP}"
            ))
        } else if !app.starts_with("xapp-") {
            Some(format!("must start with xapp-: it is {APP_TOKEN_HELP}"))
        } else {
            malformed(app)
        };
        if let Some(message) = problem {
            problems.push(SLACK_APP_TOKEN, message);
        }
    }
    if let Some(bot) = bot {
        let problem = if bot.starts_with("xapp-") {
            Some(format!(
                "looks like an app-level token (xapp-…), which belongs in SLACK_APP_TOKEN; \
                 SLACK_BOT_TOKEN is {BOT_TOKEN_HELP}"
            ))
        } else if bot.starts_with("xoxp-") {
            Some(format!(
                "is a user token (xoxp-…); the bot must act as itself with {BOT_TOKEN_HELP}"
            ))
        } else if !bot.starts_with("xoxb-") {
            Some(format!("must start with xoxb-: it is {BOT_TOKEN_HELP}"))
        } else {
            malformed(bot)
        };
        if let Some(message) = problem {
            problems.push(SLACK_BOT_TOKEN, message);
        }
    }
}

/// A token with the right prefix but nothing after it, or with a space or line break in it
/// (a copy-paste accident).
fn malformed(token: &str) -> Option<String> {
    if token.len() <= "xoxb-".len() {
        Some("has nothing after its prefix".into())
    } else if token.chars().any(char::is_whitespace) {
        Some("contains whitespace; check for a stray space or line break".into())
    } else {
        None
    }
}
