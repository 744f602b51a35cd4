//! `simulate --policy FILE`: the recorded human steps replayed under another policy file.
//! It only reads: the logs come through one read-only transaction that is rolled back.

use std::path::{Path, PathBuf};
use std::process::ExitCode;

use chrono::{DateTime, Duration, NaiveDate, NaiveTime, Utc};
use clap::ValueEnum;
use sqlx::PgPool;

use super::{check_config, migrated_database, Failure};
use crate::config::{self, Settings};
use crate::domain::Policy;
use crate::simulate::{table, Report, Simulation};
use crate::store::{self, StoreError};

#[derive(Debug, Clone, clap::Args)]
pub struct Args {
    /// A config file (a copy of yours, say) whose [policy] and [calendar] to simulate;
    /// checked exactly as `check-config` checks it.
    #[arg(long, value_name = "FILE")]
    pub policy: PathBuf,
    /// Only requests submitted on or after this day (YYYY-MM-DD, in the file's time zone).
    #[arg(long, value_name = "DATE", conflicts_with = "days")]
    pub since: Option<NaiveDate>,
    /// Only requests submitted in the last N days.
    #[arg(long, value_name = "N")]
    pub days: Option<u32>,
    #[arg(long, value_enum, default_value_t = Format::Table)]
    pub format: Format,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum Format {
    Table,
    Json,
}

pub async fn run(args: Args) -> Result<ExitCode, Failure> {
    let settings = match Settings::load(&args.policy, &config::process_env) {
        Ok(s) => s,
        Err(errors) => return Ok(check_config::refuse(&args.policy, &errors)),
    };
    let policy = settings.policy;
    let now = Utc::now();
    let since = match (args.since, args.days) {
        (Some(day), _) => Some(policy.calendar.at(day, NaiveTime::MIN)),
        (None, Some(days)) => Some(now - Duration::days(i64::from(days))),
        (None, None) => None,
    };
    let pool = migrated_database().await?;
    let report = report(&pool, policy, now, since).await?;
    match args.format {
        Format::Table => print!("{}", table::render(&report, &shown(&args.policy))),
        Format::Json => println!("{}", serde_json::to_string_pretty(&report)?),
    }
    Ok(ExitCode::SUCCESS)
}

/// The simulation of every request submitted since `since`, with timers run up to `now`.
pub async fn report(
    pool: &PgPool,
    policy: Policy,
    now: DateTime<Utc>,
    since: Option<DateTime<Utc>>,
) -> Result<Report, StoreError> {
    let mut simulation = Simulation::new(policy, now, since);
    store::events::each_log(pool, since, |log| simulation.add(&log)).await?;
    Ok(simulation.finish())
}

fn shown(path: &Path) -> String {
    path.display().to_string()
}
