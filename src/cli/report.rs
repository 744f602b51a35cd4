//! `report`: the figures of the log for a period, as a table, CSV, JSON or HTML.

use std::path::{Path, PathBuf};
use std::process::ExitCode;

use chrono::Utc;

use super::{migrated_database, Failure};
use crate::config::{self, Secrets, Settings};
use crate::report::{self, window};
use crate::slack::api::SlackApi;
use crate::slack::names::Names;

#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum Format {
    Table,
    Csv,
    Json,
    Html,
}

#[derive(Debug)]
pub struct Args {
    pub since: Option<String>,
    pub days: Option<String>,
    pub format: Format,
    pub out: Option<PathBuf>,
}

/// A mistake on the command line exits 2, as clap's own do, with one line.
const USAGE: u8 = 2;

pub async fn run(config_path: Option<&Path>, args: Args) -> Result<ExitCode, Failure> {
    let settings = match config_path {
        Some(path) => Some(Settings::load(path, &config::process_env)?),
        None => None,
    };
    let calendar = settings
        .as_ref()
        .map(|s| s.policy.calendar.clone())
        .unwrap_or_default();
    let now = Utc::now();
    let since = match window::start(args.since.as_deref(), args.days.as_deref(), &calendar, now) {
        Ok(since) => since,
        Err(e) => {
            eprintln!("error: {e}");
            return Ok(ExitCode::from(USAGE));
        }
    };
    let pool = migrated_database().await?;
    let mut report = report::gather(&pool, since, now, &calendar).await?;

    let api = slack_api(settings.as_ref())?;
    let names = Names::resolve(api.as_ref(), report.users()).await;
    if let Some((user, why)) = names.failures.first() {
        eprintln!(
            "note: {} name(s) could not be read from Slack (first: {user}: {why}); their ids are shown",
            names.failures.len()
        );
    }
    report.name_people(&names);

    let text = match args.format {
        Format::Table => report::table::render(&report),
        Format::Csv => report::csv::render(&report),
        Format::Json => report.to_json()?,
        Format::Html => report::html::render(&report)?,
    };
    match &args.out {
        Some(path) => std::fs::write(path, text)
            .map_err(|e| Failure(format!("could not write {}: {e}", path.display())))?,
        None => print!("{text}"),
    }
    Ok(ExitCode::SUCCESS)
}

/// Slack, when a bot token is configured: names come from `users.info`. Without one the
/// report shows user ids.
fn slack_api(settings: Option<&Settings>) -> Result<Option<SlackApi>, Failure> {
    let (url, secrets) = match settings {
        Some(s) => (s.slack.api_url.clone(), s.secrets.clone()),
        None => (
            config::slack_api_url(&config::process_env)?,
            Secrets::from_process_env()?,
        ),
    };
    let Some(token) = secrets.slack_bot_token else {
        return Ok(None);
    };
    let api = SlackApi::new(&url, &token, None)
        .map_err(|e| Failure(format!("the Slack client could not start: {e}")))?;
    Ok(Some(api))
}
