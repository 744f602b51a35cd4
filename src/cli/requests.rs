//! `requests list` and `requests show`.

use std::process::ExitCode;

use chrono::Utc;

use super::{migrated_database, Failure, RequestsCommand};
use crate::audit;
use crate::domain::RequestNumber;
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
                for r in &requests {
                    println!("{}", audit::list_line(r));
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
                print!("{}", audit::timeline(&request, &events, &links, now));
            }
            Ok(ExitCode::SUCCESS)
        }
    }
}
