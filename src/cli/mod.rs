//! The command line: parse with clap, dispatch to one function per command.

mod check_config;
pub mod doctor;
mod report;
mod requests;
mod run;
pub mod simulate;

use std::path::PathBuf;
use std::process::ExitCode;

use clap::{Parser, Subcommand};
use secrecy::ExposeSecret;
use sqlx::PgPool;

use crate::config::{self, Secrets};
use crate::domain::State;
use crate::store;

#[derive(Debug, Parser)]
#[command(
    name = "capacity-bot",
    version,
    about = "Large-capacity requests as a durable, owned, timed Slack workflow."
)]
pub struct Cli {
    /// The TOML config file (channel, roles, calendar, TTLs, policy).
    #[arg(long, global = true, env = config::CONFIG_PATH_VAR, value_name = "PATH")]
    pub config: Option<PathBuf>,

    #[command(subcommand)]
    pub command: Command,
}

#[derive(Debug, Subcommand)]
pub enum Command {
    /// Run the daemon: Socket Mode, outbox delivery, timers. Applies pending migrations first.
    Run {
        /// Do not apply migrations; refuse to start if the database is behind.
        #[arg(long)]
        no_migrate: bool,
    },
    /// Check the tokens, scopes, channel membership, users, groups and database; say what to fix.
    Doctor,
    /// A full request through every gate against a local Slack emulator: no workspace needed.
    Demo,
    /// Apply pending database migrations and exit.
    Migrate,
    /// Check the config file and environment; print every problem with its field.
    CheckConfig,
    /// Inspect requests from the database.
    Requests {
        #[command(subcommand)]
        command: RequestsCommand,
    },
    /// Decision times per stage and person, missed deadlines, escalations, cost at risk and
    /// capacity committed now. Business hours follow the config's calendar.
    Report {
        /// Start of the period: a date (YYYY-MM-DD, in the calendar's zone) or an RFC 3339 time.
        #[arg(long, value_name = "DATE")]
        since: Option<String>,
        /// The period is the last N days.
        #[arg(long, value_name = "N")]
        days: Option<String>,
        #[arg(long, value_enum, default_value_t = report::Format::Table)]
        format: report::Format,
        /// Write to this file instead of standard output.
        #[arg(long, value_name = "FILE")]
        out: Option<PathBuf>,
    },
    /// Replay the recorded human steps under another policy file and report what would differ.
    Simulate(simulate::Args),
    /// Rebuild every projection from its events and report any difference (exit 1 on one).
    Replay {
        /// Rewrite differing projections from the log.
        #[arg(long)]
        fix: bool,
    },
}

#[derive(Debug, Subcommand)]
pub enum RequestsCommand {
    /// List requests, newest first.
    List {
        /// Only requests in this state (e.g. EXPIRED).
        #[arg(long, value_parser = parse_state)]
        state: Option<State>,
        /// Only open requests.
        #[arg(long)]
        open: bool,
        #[arg(long, default_value_t = 100)]
        limit: i64,
        /// One JSON object per request.
        #[arg(long)]
        json: bool,
    },
    /// The timeline of one request from its log; `--json` gives the audit record.
    Show {
        /// The request, as CR-12.
        number: String,
        #[arg(long)]
        json: bool,
    },
}

fn parse_state(s: &str) -> Result<State, String> {
    s.parse()
        .map_err(|e: crate::domain::state::UnknownState| e.to_string())
}

/// A command's failure: one clear line for the operator, then exit 1.
#[derive(Debug)]
pub struct Failure(pub String);

impl<E: std::fmt::Display> From<E> for Failure {
    fn from(e: E) -> Self {
        Failure(e.to_string())
    }
}

pub async fn run(cli: Cli) -> ExitCode {
    let result = match cli.command {
        Command::Run { no_migrate } => run::run(cli.config.as_deref(), no_migrate).await,
        Command::Doctor => doctor::run(cli.config.as_deref()).await,
        Command::Demo => crate::demo::run()
            .await
            .map(|()| ExitCode::SUCCESS)
            .map_err(|e| Failure(format!("{e:#}"))),
        Command::Migrate => migrate().await,
        Command::CheckConfig => check_config::run(cli.config.as_deref()),
        Command::Requests { command } => requests::run(command).await,
        Command::Replay { fix } => replay(fix).await,
        Command::Report {
            since,
            days,
            format,
            out,
        } => {
            let args = report::Args {
                since,
                days,
                format,
                out,
            };
            report::run(cli.config.as_deref(), args).await
        }
        Command::Simulate(args) => simulate::run(args).await,
    };
    match result {
        Ok(code) => code,
        Err(Failure(message)) => {
            eprintln!("error: {message}");
            ExitCode::FAILURE
        }
    }
}

/// Commands that only touch the database need `DATABASE_URL`, not the whole config.
pub(crate) async fn database() -> Result<PgPool, Failure> {
    let secrets = Secrets::from_process_env().map_err(|e| Failure(e.to_string()))?;
    let url = secrets.database_url.ok_or_else(|| {
        Failure(
            "DATABASE_URL is not set (or DATABASE_URL_FILE); it names the Postgres database".into(),
        )
    })?;
    Ok(store::connect(url.expose_secret()).await?)
}

/// Fails with a clear line when the schema is not there yet, instead of a SQL error.
pub(crate) async fn migrated_database() -> Result<PgPool, Failure> {
    let pool = database().await?;
    if !store::migrations_current(&pool).await? {
        return Err(Failure(
            "the database is not migrated to this version; run `capacity-bot migrate` first".into(),
        ));
    }
    Ok(pool)
}

async fn migrate() -> Result<ExitCode, Failure> {
    let pool = database().await?;
    store::migrate(&pool).await?;
    println!("migrations applied; the database is current");
    Ok(ExitCode::SUCCESS)
}

async fn replay(fix: bool) -> Result<ExitCode, Failure> {
    let pool = migrated_database().await?;
    let report = crate::replay::replay(&pool, fix).await?;
    for d in &report.differences {
        let name = d.number.map_or_else(|| d.id.to_string(), |n| n.to_string());
        println!("{name}: projection differs from its log");
        for line in &d.detail {
            println!("    {line}");
        }
    }
    println!(
        "checked {} request(s): {} difference(s){}",
        report.checked,
        report.differences.len(),
        if fix {
            format!(", {} rewritten from the log", report.fixed)
        } else {
            String::new()
        }
    );
    Ok(
        if report.differences.is_empty() || fix && report.fixed == report.differences.len() {
            ExitCode::SUCCESS
        } else {
            ExitCode::FAILURE
        },
    )
}

/// Slack, when a bot token is configured, for people's names (`users.info`). Without one the
/// commands show user ids.
pub(crate) fn slack_api(
    settings: Option<&crate::config::Settings>,
) -> Result<Option<crate::slack::api::SlackApi>, Failure> {
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
    let api = crate::slack::api::SlackApi::new(&url, &token, None)
        .map_err(|e| Failure(format!("the Slack client could not start: {e}")))?;
    Ok(Some(api))
}
