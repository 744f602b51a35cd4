//! `report`: the figures of the log for a period, as a table, CSV, JSON or HTML.

use std::path::{Path, PathBuf};
use std::process::ExitCode;

use chrono::Utc;

use super::{migrated_database, Failure};
use crate::config::{self, Settings};
use crate::report::{self, window};

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

    let api = super::slack_api(settings.as_ref())?;
    let names = crate::slack::names::resolve(api.as_ref(), report.users()).await;
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
