//! `requests list` and `requests show`.

use std::process::ExitCode;

use chrono::Utc;

use super::{migrated_database, Failure, RequestsCommand};
use crate::audit;
use crate::domain::RequestNumber;
use crate::render::names::Names;
use crate::store::{self, requests::ListFilter};

pub async fn run(command: RequestsCommand) -> Result<ExitCode, Failure> {
    match command {
        RequestsCommand::List {
            state,
            open,
            limit,
            json,
        } => {
            let pool = migrated_database().await?;
            let filter = ListFilter {
                state,
                open_only: open,
                involving: None,
                limit,
                awaiting_decision: false,
            };
            let requests = store::requests::list(&pool, &filter).await?;
            if json {
                for r in &requests {
                    println!("{}", serde_json::to_string(r)?);
                }
            } else if requests.is_empty() {
                println!("no requests match");
            } else {
                let people = requests.iter().flat_map(|r| {
                    [
                        Some(&r.requester),
                        r.commercial_owner.as_ref(),
                        r.technical_owner.as_ref(),
                    ]
                    .into_iter()
                    .flatten()
                    .map(|u| u.to_string())
                });
                let names = names_of(people.collect()).await?;
                for r in &requests {
                    println!("{}", audit::list_line(r, &names));
                }
            }
            Ok(ExitCode::SUCCESS)
        }
        RequestsCommand::Show { number, json } => {
            let number: RequestNumber = number.parse()?;
            let pool = migrated_database().await?;
            let request = store::requests::by_number(&pool, number)
                .await?
                .ok_or_else(|| Failure(format!("{number} does not exist")))?;
            let events = store::events::events_of(&pool, request.id).await?;
            let links = store::requests::links(&pool, request.id).await?;
            let now = Utc::now();
            if json {
                println!(
                    "{}",
                    serde_json::to_string_pretty(&audit::audit_record(
                        &request, &events, &links, now
                    ))?
                );
            } else {
                let mut people: Vec<String> = events
                    .iter()
                    .filter_map(|e| e.actor.user().map(|u| u.to_string()))
                    .collect();
                people.extend(
                    [
                        Some(&request.requester),
                        request.commercial_owner.as_ref(),
                        request.technical_owner.as_ref(),
                    ]
                    .into_iter()
                    .flatten()
                    .map(|u| u.to_string()),
                );
                let names = names_of(people).await?;
                print!(
                    "{}",
                    audit::timeline(&request, &events, &links, now, &names)
                );
            }
            Ok(ExitCode::SUCCESS)
        }
    }
}

/// People's names from Slack when a bot token is set (`users.info`), else their ids; a
/// name Slack did not give is one note on stderr, and the id is shown.
async fn names_of(people: Vec<String>) -> Result<Names, Failure> {
    let api = super::slack_api(None)?;
    let names = crate::slack::names::resolve(api.as_ref(), people).await;
    if let Some((user, why)) = names.failures.first() {
        eprintln!(
            "note: {} name(s) could not be read from Slack (first: {user}: {why}); their ids are shown",
            names.failures.len()
        );
    }
    Ok(names)
}
