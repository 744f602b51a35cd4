//! Settings: the config file (`CAPACITY_BOT_CONFIG`) and the environment, parsed once in
//! `main` into types and passed down explicitly. Nothing else in the crate reads
//! environment variables; the environment arrives here as a function, so tests pass a map.
//!
//! Loading reports every problem at once, each with the field that has it
//! (`roles.infra[1]`, `calendar.holidays[0]`, `SLACK_BOT_TOKEN`), because an operator who
//! fixes a file one error per restart gives up. Unknown keys are errors, not ignored: a
//! misspelt `finance_treshold_usd_month` would otherwise silently keep the default.

mod digest;
mod linear;
mod policy;
mod problems;
mod process;
mod roles;
mod scheduler;
mod schema;
mod secrets;
mod slack;
mod summary;

use std::path::Path;

use toml::Table;

pub use digest::DigestSettings;
pub use linear::{LinearCreateOn, LinearSettings, DEFAULT_LINEAR_API_URL};
pub use problems::{ConfigErrors, ConfigProblem};
pub use process::{HttpSettings, LogFormat, LogSettings};
pub use roles::{Member, Roles};
pub use scheduler::SchedulerSettings;
pub use secrets::{
    Secrets, CAPACITY_SIGNAL_SECRET, DATABASE_URL, LINEAR_API_KEY, SLACK_APP_TOKEN, SLACK_BOT_TOKEN,
};
pub use slack::{SlackSettings, DEFAULT_SLACK_API_URL};

use crate::domain::Policy;
use problems::Problems;
use schema::Section;

/// The variable that names the config file; a command-line flag may override it.
pub const CONFIG_PATH_VAR: &str = "CAPACITY_BOT_CONFIG";

/// How the environment is read: `process_env` in `main`, a map in tests.
pub(crate) type Env<'a> = &'a dyn Fn(&str) -> Option<String>;

/// The process environment, for `main` to pass to [`Settings::load`].
pub fn process_env(name: &str) -> Option<String> {
    std::env::var(name).ok()
}

/// `SLACK_API_URL` from `env` (Slack's own when unset), for commands that read no config
/// file but may call Slack (`report` naming people).
pub fn slack_api_url(env: &dyn Fn(&str) -> Option<String>) -> Result<String, ConfigErrors> {
    let mut problems = Problems::default();
    let url = slack::api_url(env, &mut problems);
    problems.finish(Some(url))
}

/// Everything the daemon and the CLI are configured with. `Debug` never shows a secret.
#[derive(Debug, Clone)]
pub struct Settings {
    pub slack: SlackSettings,
    pub roles: Roles,
    /// `[policy]` and `[calendar]` together, as `decide` uses them.
    pub policy: Policy,
    pub scheduler: SchedulerSettings,
    pub http: HttpSettings,
    /// `None` when the file has no `[linear]` section: no issues are filed.
    pub linear: Option<LinearSettings>,
    /// `None` when the file has no `[digest]` section: no weekly digest is posted.
    pub digest: Option<DigestSettings>,
    pub log: LogSettings,
    pub secrets: Secrets,
}

impl Settings {
    /// Reads the config file at `path` (from `CAPACITY_BOT_CONFIG` or a flag) and the
    /// secrets from `env`.
    pub fn load(
        path: &Path,
        env: &dyn Fn(&str) -> Option<String>,
    ) -> Result<Settings, ConfigErrors> {
        match std::fs::read_to_string(path) {
            Ok(text) => Settings::from_toml_str(&text, env),
            Err(e) => {
                let mut problems = Problems::default();
                let why = if e.kind() == std::io::ErrorKind::NotFound {
                    "does not exist".to_string()
                } else {
                    format!("cannot be read ({e})")
                };
                problems.push(
                    "config file",
                    format!(
                        "{} {why}; {CONFIG_PATH_VAR} (or --config) names the config file, \
                         see deploy/config.example.toml",
                        path.display()
                    ),
                );
                // The environment's problems too, so one run shows everything.
                Secrets::read(env, &mut problems);
                slack::api_url(env, &mut problems);
                problems.finish(None)
            }
        }
    }

    /// Parses config file text; secrets and `SLACK_API_URL` still come from `env`.
    pub fn from_toml_str(
        text: &str,
        env: &dyn Fn(&str) -> Option<String>,
    ) -> Result<Settings, ConfigErrors> {
        let mut env_problems = Problems::default();
        let secrets = Secrets::read(env, &mut env_problems);
        let api_url = slack::api_url(env, &mut env_problems);
        let mut problems = Problems::default();
        let settings = match text.parse::<Table>() {
            Ok(root) => from_table(&root, api_url, secrets, &mut problems),
            Err(e) => {
                let (field, message) = syntax_problem(text, &e);
                problems.push(field, message);
                None
            }
        };
        problems.append(env_problems);
        problems.finish(settings)
    }

    /// What `run` needs beyond a valid file: each missing variable is named.
    pub fn check_for_daemon(&self) -> Result<(), ConfigErrors> {
        let mut problems = Problems::default();
        let required = [
            (
                SLACK_APP_TOKEN,
                &self.secrets.slack_app_token,
                "open the Socket Mode connection",
            ),
            (
                SLACK_BOT_TOKEN,
                &self.secrets.slack_bot_token,
                "call the Slack Web API",
            ),
            (
                DATABASE_URL,
                &self.secrets.database_url,
                "store requests in Postgres",
            ),
            (
                CAPACITY_SIGNAL_SECRET,
                &self.secrets.signal_secret,
                "verify control-plane activation signals",
            ),
        ];
        for (variable, value, purpose) in required {
            if value.is_none() {
                problems.push(
                    variable,
                    format!("not set; the daemon needs it to {purpose} (set {variable} or {variable}_FILE)"),
                );
            }
        }
        if self.linear.is_some() && self.secrets.linear_api_key.is_none() {
            problems.push(
                LINEAR_API_KEY,
                "not set, but [linear] is configured; set LINEAR_API_KEY (or LINEAR_API_KEY_FILE) \
                 or remove the [linear] section",
            );
        }
        problems.finish(Some(()))
    }

    /// A human summary for `check-config`: values, member counts, and which secrets are
    /// set, never what they are.
    pub fn redacted_summary(&self) -> String {
        summary::render(self)
    }
}

fn from_table(
    root: &Table,
    api_url: String,
    secrets: Secrets,
    problems: &mut Problems,
) -> Option<Settings> {
    schema::check_keys(root, problems);
    let slack = slack::parse(&Section::of(root, "slack"), api_url, problems);
    let roles = roles::parse(&Section::of(root, "roles"), problems);
    let policy = policy::parse(
        &Section::of(root, "policy"),
        &Section::of(root, "calendar"),
        problems,
    );
    let scheduler = scheduler::parse(&Section::of(root, "scheduler"), problems);
    let http = process::parse_http(&Section::of(root, "http"), problems);
    let linear = linear::parse(&Section::of(root, "linear"), problems);
    let log = process::parse_log(&Section::of(root, "log"), problems);
    let digest = digest::parse(
        &Section::of(root, "digest"),
        slack.as_ref().map(|s| &s.requests_channel),
        problems,
    );
    Some(Settings {
        slack: slack?,
        roles,
        policy,
        scheduler,
        http,
        linear,
        digest,
        log,
        secrets,
    })
}

/// `("line 3, column 7", "invalid TOML: …")`, from the error's byte span.
fn syntax_problem(text: &str, error: &toml::de::Error) -> (String, String) {
    let message = format!("invalid TOML: {}", error.message().trim());
    let Some(span) = error.span() else {
        return ("config file".into(), message);
    };
    let before = &text[..span.start.min(text.len())];
    let line = before.matches('\n').count() + 1;
    let column = before.rsplit('\n').next().map_or(0, |l| l.chars().count()) + 1;
    (format!("line {line}, column {column}"), message)
}
