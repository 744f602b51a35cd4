//! Rebuilding projections from the log and reporting where they differ.
//!
//! The fold is `domain::fold`: `evolve` over the recorded events, the same function an
//! append runs after `decide`, and it asks no rule. So a difference means the projection was
//! changed outside the log, never that a rule has changed since the events were recorded.

use serde_json::Value;
use sqlx::PgPool;

use crate::domain::{fold, Request, RequestId, RequestNumber};
use crate::store::{self, StoreError};

/// Names the top-level fields where two requests differ.
pub fn differing_fields(stored: &Request, folded: &Request) -> Vec<String> {
    let (Ok(Value::Object(a)), Ok(Value::Object(b))) =
        (serde_json::to_value(stored), serde_json::to_value(folded))
    else {
        return vec!["(unserializable)".into()];
    };
    a.iter()
        .filter(|(k, v)| b.get(*k) != Some(*v))
        .map(|(k, v)| {
            format!(
                "{k}: stored {v}, log says {}",
                b.get(k).unwrap_or(&Value::Null)
            )
        })
        .collect()
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Difference {
    pub id: RequestId,
    pub number: Option<RequestNumber>,
    pub detail: Vec<String>,
}

#[derive(Debug, Clone, Default)]
pub struct Report {
    pub checked: usize,
    pub differences: Vec<Difference>,
    pub fixed: usize,
}

/// Checks every projection against its log; with `fix`, rewrites those that differ.
pub async fn replay(pool: &PgPool, fix: bool) -> Result<Report, StoreError> {
    let mut report = Report::default();
    for id in store::requests::all_ids(pool).await? {
        report.checked += 1;
        let events = store::events::events_of(pool, id).await?;
        let stored = store::requests::by_id(pool, id).await;
        let folded = fold(&events);
        let number = folded.as_ref().ok().map(|r| r.number);
        let detail = match (&stored, &folded) {
            (Ok(Some(s)), Ok(f)) if s == f => continue,
            (Ok(Some(s)), Ok(f)) => differing_fields(s, f),
            (Ok(None), _) => vec!["the projection row is missing".into()],
            (Err(e), _) => vec![format!("the projection row is unreadable: {e}")],
            (_, Err(e)) => vec![format!("the log does not replay: {e}")],
        };
        if fix {
            if let Ok(f) = &folded {
                store::requests::overwrite(pool, f).await?;
                report.fixed += 1;
            }
        }
        report.differences.push(Difference { id, number, detail });
    }
    Ok(report)
}
