//! Reading stored payloads of any schema version into today's [`Event`]: the one place that
//! knows old shapes. Writers always write [`CURRENT_SCHEMA`]; a reader hands every stored row
//! to [`read_log`], so no other code ever sees an old shape.
//!
//! Versions:
//! - 1: the events as first written. The facts the rules derived were not recorded: replay
//!   recomputed them from the policy snapshot stored with each event.
//! - 2: `submitted` records `finance_required`, `commercial_approved` the `key` it gave,
//!   `technical_approved`, `provisioning_completed` and `ttl_extended` the `deadline` they set.
//!
//! Upcasting version 1 recovers each fact from what was recorded then, exactly as the code of
//! the time derived it: the deadline from the event's own `deadline_after` column, the
//! finance requirement from its policy snapshot, and the approval key from the request as
//! the log stood before the click (which is why a log is upcast as a whole, in order).

use serde_json::Value;

use super::event::{ApprovalKey, Event};
use super::log::{step, Recorded, RecordedEvent};
use super::request::Request;
use super::role::Role;

/// The schema version every new event is written with.
pub const CURRENT_SCHEMA: i16 = 2;

/// A payload as stored: its JSON and the schema version it was written with.
#[derive(Debug, Clone, PartialEq)]
pub struct StoredPayload {
    pub schema_version: i16,
    pub json: Value,
}

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum UpcastError {
    #[error("event {seq} has schema version {version}, which this build does not know (newest: {CURRENT_SCHEMA}); run a newer capacity-bot")]
    UnknownVersion { seq: i32, version: i16 },
    #[error("event {seq} ({kind}) of schema version {version} lacks {what}")]
    MissingFact {
        seq: i32,
        kind: String,
        version: i16,
        what: &'static str,
    },
    #[error("event {seq}'s payload does not read: {reason}")]
    Malformed { seq: i32, reason: String },
}

/// Reads a request's stored rows, in order, into today's events.
///
/// A log that does not fold (a gap, a tampered row) is still read, so `replay` can say what
/// is wrong with it; only a payload that cannot be read at all is an error.
pub fn read_log(rows: Vec<Recorded<StoredPayload>>) -> Result<Vec<RecordedEvent>, UpcastError> {
    let mut current: Option<Request> = None;
    let mut out = Vec::with_capacity(rows.len());
    for row in rows {
        let rec = upcast(row, current.as_ref())?;
        if let Ok(next) = step(current.as_ref(), &rec.occurrence()) {
            current = Some(next);
        }
        out.push(rec);
    }
    Ok(out)
}

/// Reads one stored row, given the request as the log stood before it (needed only by
/// version 1 approvals).
pub fn upcast(
    row: Recorded<StoredPayload>,
    before: Option<&Request>,
) -> Result<RecordedEvent, UpcastError> {
    let seq = row.seq;
    let version = row.event.schema_version;
    let mut json = row.event.json.clone();
    match version {
        1 => v1_to_v2(&row, before, &mut json)?,
        CURRENT_SCHEMA => {}
        _ => return Err(UpcastError::UnknownVersion { seq, version }),
    }
    let event: Event = serde_json::from_value(json).map_err(|e| UpcastError::Malformed {
        seq,
        reason: e.to_string(),
    })?;
    Ok(row.with_event(event))
}

fn v1_to_v2(
    row: &Recorded<StoredPayload>,
    before: Option<&Request>,
    json: &mut Value,
) -> Result<(), UpcastError> {
    let kind = json
        .get("kind")
        .and_then(Value::as_str)
        .unwrap_or_default()
        .to_string();
    let missing = |what: &'static str| UpcastError::MissingFact {
        seq: row.seq,
        kind: kind.clone(),
        version: 1,
        what,
    };
    let Some(fields) = json.as_object_mut() else {
        return Err(UpcastError::Malformed {
            seq: row.seq,
            reason: "the payload is not an object".into(),
        });
    };
    match kind.as_str() {
        "submitted" => {
            let cost = fields
                .get("details")
                .and_then(|d| d.get("est_monthly_cost_cents"))
                .and_then(Value::as_i64)
                .ok_or_else(|| missing("the estimated monthly cost"))?;
            fields.insert(
                "finance_required".into(),
                Value::Bool(row.policy.finance_required(cost)),
            );
        }
        "commercial_approved" => {
            let before = before.ok_or_else(|| missing("the request it approved"))?;
            let key = v1_key(before, row);
            fields.insert(
                "key".into(),
                serde_json::to_value(key).map_err(|e| UpcastError::Malformed {
                    seq: row.seq,
                    reason: e.to_string(),
                })?,
            );
        }
        "technical_approved" | "provisioning_completed" | "ttl_extended" => {
            let deadline = row
                .deadline_after
                .ok_or_else(|| missing("deadline_after"))?;
            fields.insert("deadline".into(), Value::String(deadline.to_rfc3339()));
        }
        _ => {}
    }
    Ok(())
}

/// The key a version-1 click gave: the commercial key when it was still open and the clicker
/// could give it, else the finance key (the rule of the time; a click it refused was never
/// recorded).
fn v1_key(before: &Request, row: &Recorded<StoredPayload>) -> ApprovalKey {
    let actor = &row.actor;
    let can_commercial =
        actor.is(before.commercial_owner.as_ref()) || actor.has(Role::CommercialApprover);
    if before.approvals.commercial.is_none() && can_commercial {
        ApprovalKey::Commercial
    } else {
        ApprovalKey::Finance
    }
}
