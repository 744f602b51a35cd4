//! Rebuilding projections from the log and reporting where they differ.
//!
//! The fold runs the same reducer as a live click, with each event's recorded actor, policy
//! and time, so a difference means the projection was changed outside the log (or the
//! reducer changed its mind about history, which is just as important to know).

use serde_json::Value;
use sqlx::PgPool;

use crate::domain::{reduce, Context, Request, RequestId, RequestNumber};
use crate::store::{self, RecordedEvent, StoreError};

/// Folds a request's recorded events into the request they describe.
pub fn fold(events: &[RecordedEvent]) -> Result<Request, String> {
    let mut current: Option<Request> = None;
    for (i, rec) in events.iter().enumerate() {
        let expected_seq = i32::try_from(i + 1).unwrap_or(i32::MAX);
        if rec.seq != expected_seq {
            return Err(format!(
                "event sequence jumps to {} where {} was expected",
                rec.seq, expected_seq
            ));
        }
        let ctx = Context {
            request_id: rec.request_id,
            actor: &rec.actor,
            policy: &rec.policy,
            now: rec.occurred_at,
            expected_version: None,
        };
        let next = reduce(current.as_ref(), &rec.event, &ctx).map_err(|refusal| {
            format!(
                "event {} ({}) no longer applies: {refusal}",
                rec.seq,
                rec.event.kind()
            )
        })?;
        if next.version != rec.version_after || next.state != rec.state_after {
            return Err(format!(
                "event {} ({}) recorded version {} / {}, replay gives {} / {}",
                rec.seq,
                rec.event.kind(),
                rec.version_after,
                rec.state_after,
                next.version,
                next.state
            ));
        }
        current = Some(next);
    }
    current.ok_or_else(|| "the request has no events".to_string())
}

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
