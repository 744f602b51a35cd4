//! Row shapes and their conversion to domain types.

use chrono::{DateTime, Utc};
use serde_json::Value;
use sqlx::FromRow;
use uuid::Uuid;

use super::StoreError;
use crate::domain::request::Approvals;
use crate::domain::{
    Capacity, Deadline, DeadlineKind, PendingCancellation, Request, RequestId, RequestNumber,
    State, Submission, TeamId, UserId,
};

#[derive(Debug, Clone, FromRow)]
pub struct RequestRow {
    pub id: Uuid,
    pub number: i64,
    pub state: String,
    pub version: i32,
    pub seq: i32,
    pub requester: String,
    pub requester_team: String,
    pub commercial_owner: Option<String>,
    pub technical_owner: Option<String>,
    pub customer: String,
    pub details: Value,
    pub finance_required: bool,
    pub approvals: Value,
    pub deadline_kind: Option<String>,
    pub deadline_at: Option<DateTime<Utc>>,
    pub expired_from: Option<String>,
    pub capacity_committed_at: Option<DateTime<Utc>>,
    pub capacity_ended_at: Option<DateTime<Utc>>,
    pub capacity_released: bool,
    pub pending_cancellation: Option<Value>,
    pub close_reason: Option<String>,
    pub state_entered_at: DateTime<Utc>,
    pub reminders_sent: i32,
    pub reminder_due_at: Option<DateTime<Utc>>,
    pub attention: Value,
    pub created_at: DateTime<Utc>,
    pub updated_at: DateTime<Utc>,
}

pub const REQUEST_COLUMNS: &str = "id, number, state, version, seq, requester, requester_team, \
     commercial_owner, technical_owner, customer, details, finance_required, approvals, \
     deadline_kind, deadline_at, expired_from, capacity_committed_at, capacity_ended_at, \
     capacity_released, pending_cancellation, close_reason, state_entered_at, reminders_sent, \
     reminder_due_at, attention, created_at, updated_at";

fn corrupt(id: Uuid, what: impl std::fmt::Display) -> StoreError {
    StoreError::Corrupt(format!("request {id}: {what}"))
}

pub(super) fn deadline_kind(s: &str) -> Option<DeadlineKind> {
    match s {
        "customer_confirmation" => Some(DeadlineKind::CustomerConfirmation),
        "activation" => Some(DeadlineKind::Activation),
        _ => None,
    }
}

fn user(id: Uuid, s: &str) -> Result<UserId, StoreError> {
    UserId::parse(s).map_err(|e| corrupt(id, e))
}

impl RequestRow {
    pub fn into_request(self) -> Result<Request, StoreError> {
        let id = self.id;
        let state: State = self.state.parse().map_err(|e| corrupt(id, e))?;
        let details: Submission =
            serde_json::from_value(self.details).map_err(|e| corrupt(id, e))?;
        // The column is a copy for queries; a copy that disagrees means someone edited the row.
        if details.customer != self.customer {
            return Err(corrupt(id, "customer column disagrees with details"));
        }
        let approvals: Approvals =
            serde_json::from_value(self.approvals).map_err(|e| corrupt(id, e))?;
        let deadline = match (self.deadline_kind.as_deref(), self.deadline_at) {
            (Some(k), Some(at)) => Some(Deadline {
                kind: deadline_kind(k).ok_or_else(|| corrupt(id, "bad deadline_kind"))?,
                at,
            }),
            _ => None,
        };
        let expired_from = match self.expired_from.as_deref() {
            Some(k) => Some(deadline_kind(k).ok_or_else(|| corrupt(id, "bad expired_from"))?),
            None => None,
        };
        let pending_cancellation: Option<PendingCancellation> = match self.pending_cancellation {
            Some(v) => Some(serde_json::from_value(v).map_err(|e| corrupt(id, e))?),
            None => None,
        };
        Ok(Request {
            id: RequestId(id),
            number: RequestNumber(self.number),
            details,
            requester: user(id, &self.requester)?,
            requester_team: TeamId::parse(&self.requester_team).map_err(|e| corrupt(id, e))?,
            state,
            version: self.version,
            seq: self.seq,
            commercial_owner: self
                .commercial_owner
                .as_deref()
                .map(|u| user(id, u))
                .transpose()?,
            technical_owner: self
                .technical_owner
                .as_deref()
                .map(|u| user(id, u))
                .transpose()?,
            finance_required: self.finance_required,
            approvals,
            deadline,
            expired_from,
            capacity: Capacity {
                committed_at: self.capacity_committed_at,
                ended_at: self.capacity_ended_at,
                released: self.capacity_released,
            },
            pending_cancellation,
            close_reason: self.close_reason,
            state_entered_at: self.state_entered_at,
            reminders_sent: u32::try_from(self.reminders_sent)
                .map_err(|_| corrupt(id, "negative reminders_sent"))?,
            reminder_due_at: self.reminder_due_at,
            attention: serde_json::from_value(self.attention).map_err(|e| corrupt(id, e))?,
            created_at: self.created_at,
            updated_at: self.updated_at,
        })
    }
}

/// Writes the whole projection row for `r` (insert or overwrite).
pub async fn upsert_request(conn: &mut sqlx::PgConnection, r: &Request) -> Result<(), sqlx::Error> {
    sqlx::query(
        "INSERT INTO capacity.capacity_requests (id, number, state, version, seq, requester, \
         requester_team, commercial_owner, technical_owner, customer, details, finance_required, \
         approvals, deadline_kind, deadline_at, expired_from, capacity_committed_at, \
         capacity_ended_at, capacity_released, pending_cancellation, close_reason, \
         state_entered_at, reminders_sent, reminder_due_at, created_at, updated_at, attention, \
         review_due_at) \
         VALUES ($1,$2,$3,$4,$5,$6,$7,$8,$9,$10,$11,$12,$13,$14,$15,$16,$17,$18,$19,$20,$21,$22,$23,$24,$25,$26,$27,$28) \
         ON CONFLICT (id) DO UPDATE SET number = EXCLUDED.number, state = EXCLUDED.state, \
         version = EXCLUDED.version, seq = EXCLUDED.seq, requester = EXCLUDED.requester, \
         requester_team = EXCLUDED.requester_team, commercial_owner = EXCLUDED.commercial_owner, \
         technical_owner = EXCLUDED.technical_owner, customer = EXCLUDED.customer, \
         details = EXCLUDED.details, finance_required = EXCLUDED.finance_required, \
         approvals = EXCLUDED.approvals, deadline_kind = EXCLUDED.deadline_kind, \
         deadline_at = EXCLUDED.deadline_at, expired_from = EXCLUDED.expired_from, \
         capacity_committed_at = EXCLUDED.capacity_committed_at, \
         capacity_ended_at = EXCLUDED.capacity_ended_at, \
         capacity_released = EXCLUDED.capacity_released, \
         pending_cancellation = EXCLUDED.pending_cancellation, \
         close_reason = EXCLUDED.close_reason, state_entered_at = EXCLUDED.state_entered_at, \
         reminders_sent = EXCLUDED.reminders_sent, reminder_due_at = EXCLUDED.reminder_due_at, \
         created_at = EXCLUDED.created_at, updated_at = EXCLUDED.updated_at, \
         attention = EXCLUDED.attention, review_due_at = EXCLUDED.review_due_at",
    )
    .bind(r.id.0)
    .bind(r.number.0)
    .bind(r.state.as_str())
    .bind(r.version)
    .bind(r.seq)
    .bind(r.requester.as_str())
    .bind(r.requester_team.as_str())
    .bind(r.commercial_owner.as_ref().map(UserId::as_str))
    .bind(r.technical_owner.as_ref().map(UserId::as_str))
    .bind(&r.details.customer)
    .bind(sqlx::types::Json(&r.details))
    .bind(r.finance_required)
    .bind(sqlx::types::Json(&r.approvals))
    .bind(r.deadline.map(|d| d.kind.as_str()))
    .bind(r.deadline.map(|d| d.at))
    .bind(r.expired_from.map(DeadlineKind::as_str))
    .bind(r.capacity.committed_at)
    .bind(r.capacity.ended_at)
    .bind(r.capacity.released)
    .bind(r.pending_cancellation.as_ref().map(sqlx::types::Json))
    .bind(r.close_reason.as_deref())
    .bind(r.state_entered_at)
    .bind(i32::try_from(r.reminders_sent).unwrap_or(i32::MAX))
    .bind(r.reminder_due_at)
    .bind(r.created_at)
    .bind(r.updated_at)
    .bind(sqlx::types::Json(&r.attention))
    .bind(
        r.attention
            .review_pending()
            .and_then(|f| f.review_due_at),
    )
    .execute(conn)
    .await?;
    Ok(())
}
