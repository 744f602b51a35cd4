//! Row shapes and their conversion to domain types.

use chrono::{DateTime, Utc};
use serde_json::Value;
use sqlx::FromRow;
use uuid::Uuid;

use super::StoreError;
use crate::domain::request::Approvals;
use crate::domain::{
    read_log, Capacity, Deadline, DeadlineKind, PendingCancellation, Recorded, RecordedEvent,
    Request, RequestId, RequestNumber, State, StoredPayload, Submission, TeamId, UserId,
};

/// `Deserialize` for a request read as JSON inside another statement (the outbox's claim).
#[derive(Debug, Clone, FromRow, serde::Deserialize)]
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

/// Writes the whole projection row of each request (insert or overwrite), in one statement
/// whatever their number. Each request at most once: one statement cannot update a row twice.
pub async fn upsert_requests(
    conn: &mut sqlx::PgConnection,
    requests: &[&Request],
) -> Result<(), sqlx::Error> {
    let c = ProjectionColumns::of(requests)?;
    c.bind(sqlx::query(UPSERT_REQUESTS)).execute(conn).await?;
    Ok(())
}

/// [`upsert_requests`]' statement; [`ProjectionColumns::bind`] binds its $1 to $28.
pub(super) const UPSERT_REQUESTS: &str =
        "INSERT INTO capacity.capacity_requests (id, number, state, version, seq, requester, \
         requester_team, commercial_owner, technical_owner, customer, details, finance_required, \
         approvals, deadline_kind, deadline_at, expired_from, capacity_committed_at, \
         capacity_ended_at, capacity_released, pending_cancellation, close_reason, \
         state_entered_at, reminders_sent, reminder_due_at, created_at, updated_at, attention, \
         review_due_at) \
         SELECT id, number, state, version, seq, requester, requester_team, commercial_owner, \
           technical_owner, customer, details::jsonb, finance_required, approvals::jsonb, \
           deadline_kind, deadline_at, expired_from, capacity_committed_at, capacity_ended_at, \
           capacity_released, pending_cancellation::jsonb, close_reason, state_entered_at, \
           reminders_sent, reminder_due_at, created_at, updated_at, attention::jsonb, review_due_at \
         FROM unnest($1::uuid[], $2::int8[], $3::text[], $4::int4[], $5::int4[], $6::text[], \
           $7::text[], $8::text[], $9::text[], $10::text[], $11::text[], $12::bool[], $13::text[], \
           $14::text[], $15::timestamptz[], $16::text[], $17::timestamptz[], $18::timestamptz[], \
           $19::bool[], $20::text[], $21::text[], $22::timestamptz[], $23::int4[], \
           $24::timestamptz[], $25::timestamptz[], $26::timestamptz[], $27::text[], \
           $28::timestamptz[]) \
           AS r (id, number, state, version, seq, requester, requester_team, commercial_owner, \
           technical_owner, customer, details, finance_required, approvals, deadline_kind, \
           deadline_at, expired_from, capacity_committed_at, capacity_ended_at, capacity_released, \
           pending_cancellation, close_reason, state_entered_at, reminders_sent, reminder_due_at, \
           created_at, updated_at, attention, review_due_at) \
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
         attention = EXCLUDED.attention, review_due_at = EXCLUDED.review_due_at";

/// Projection rows as columns, for `upsert_requests`; JSON columns as text, cast in SQL.
#[derive(Default)]
pub(super) struct ProjectionColumns {
    id: Vec<Uuid>,
    number: Vec<i64>,
    state: Vec<&'static str>,
    version: Vec<i32>,
    seq: Vec<i32>,
    requester: Vec<String>,
    requester_team: Vec<String>,
    commercial_owner: Vec<Option<String>>,
    technical_owner: Vec<Option<String>>,
    customer: Vec<String>,
    details: Vec<String>,
    finance_required: Vec<bool>,
    approvals: Vec<String>,
    deadline_kind: Vec<Option<&'static str>>,
    deadline_at: Vec<Option<DateTime<Utc>>>,
    expired_from: Vec<Option<&'static str>>,
    capacity_committed_at: Vec<Option<DateTime<Utc>>>,
    capacity_ended_at: Vec<Option<DateTime<Utc>>>,
    capacity_released: Vec<bool>,
    pending_cancellation: Vec<Option<String>>,
    close_reason: Vec<Option<String>>,
    state_entered_at: Vec<DateTime<Utc>>,
    reminders_sent: Vec<i32>,
    reminder_due_at: Vec<Option<DateTime<Utc>>>,
    created_at: Vec<DateTime<Utc>>,
    updated_at: Vec<DateTime<Utc>>,
    attention: Vec<String>,
    review_due_at: Vec<Option<DateTime<Utc>>>,
}

impl ProjectionColumns {
    pub(super) fn of(requests: &[&Request]) -> Result<Self, sqlx::Error> {
        let mut c = Self::default();
        for r in requests {
            c.push(r).map_err(|e| sqlx::Error::Encode(Box::new(e)))?;
        }
        Ok(c)
    }

    /// Binds the next 28 parameters of `query` (`UPSERT_REQUESTS`' $1 to $28, in order).
    pub(super) fn bind<'q>(
        &'q self,
        query: sqlx::query::Query<'q, sqlx::Postgres, sqlx::postgres::PgArguments>,
    ) -> sqlx::query::Query<'q, sqlx::Postgres, sqlx::postgres::PgArguments> {
        query
            .bind(&self.id)
            .bind(&self.number)
            .bind(&self.state)
            .bind(&self.version)
            .bind(&self.seq)
            .bind(&self.requester)
            .bind(&self.requester_team)
            .bind(&self.commercial_owner)
            .bind(&self.technical_owner)
            .bind(&self.customer)
            .bind(&self.details)
            .bind(&self.finance_required)
            .bind(&self.approvals)
            .bind(&self.deadline_kind)
            .bind(&self.deadline_at)
            .bind(&self.expired_from)
            .bind(&self.capacity_committed_at)
            .bind(&self.capacity_ended_at)
            .bind(&self.capacity_released)
            .bind(&self.pending_cancellation)
            .bind(&self.close_reason)
            .bind(&self.state_entered_at)
            .bind(&self.reminders_sent)
            .bind(&self.reminder_due_at)
            .bind(&self.created_at)
            .bind(&self.updated_at)
            .bind(&self.attention)
            .bind(&self.review_due_at)
    }

    fn push(&mut self, r: &Request) -> Result<(), serde_json::Error> {
        self.id.push(r.id.0);
        self.number.push(r.number.0);
        self.state.push(r.state.as_str());
        self.version.push(r.version);
        self.seq.push(r.seq);
        self.requester.push(r.requester.as_str().to_string());
        self.requester_team
            .push(r.requester_team.as_str().to_string());
        self.commercial_owner
            .push(r.commercial_owner.as_ref().map(|u| u.as_str().to_string()));
        self.technical_owner
            .push(r.technical_owner.as_ref().map(|u| u.as_str().to_string()));
        self.customer.push(r.details.customer.clone());
        self.details.push(serde_json::to_string(&r.details)?);
        self.finance_required.push(r.finance_required);
        self.approvals.push(serde_json::to_string(&r.approvals)?);
        self.deadline_kind.push(r.deadline.map(|d| d.kind.as_str()));
        self.deadline_at.push(r.deadline.map(|d| d.at));
        self.expired_from
            .push(r.expired_from.map(DeadlineKind::as_str));
        self.capacity_committed_at.push(r.capacity.committed_at);
        self.capacity_ended_at.push(r.capacity.ended_at);
        self.capacity_released.push(r.capacity.released);
        self.pending_cancellation.push(
            r.pending_cancellation
                .as_ref()
                .map(serde_json::to_string)
                .transpose()?,
        );
        self.close_reason.push(r.close_reason.clone());
        self.state_entered_at.push(r.state_entered_at);
        self.reminders_sent
            .push(i32::try_from(r.reminders_sent).unwrap_or(i32::MAX));
        self.reminder_due_at.push(r.reminder_due_at);
        self.created_at.push(r.created_at);
        self.updated_at.push(r.updated_at);
        self.attention.push(serde_json::to_string(&r.attention)?);
        self.review_due_at
            .push(r.attention.review_pending().and_then(|f| f.review_due_at));
        Ok(())
    }
}

/// A row of `capacity.capacity_request_events`. `Deserialize` for the log read as JSON
/// inside another statement ([`log_as_json`]).
#[derive(FromRow, serde::Deserialize)]
pub(super) struct EventRow {
    pub(super) id: Uuid,
    pub(super) request_id: Uuid,
    pub(super) seq: i32,
    pub(super) schema_version: i16,
    pub(super) payload: Value,
    pub(super) actor_detail: Value,
    pub(super) policy: Value,
    pub(super) version_after: i32,
    pub(super) state_after: String,
    pub(super) deadline_after: Option<DateTime<Utc>>,
    pub(super) cost_at_risk_cents: Option<i64>,
    pub(super) idempotency_key: String,
    pub(super) envelope_id: Option<String>,
    pub(super) occurred_at: DateTime<Utc>,
    pub(super) recorded_at: DateTime<Utc>,
}

pub(super) const EVENT_COLUMNS: &str =
    "id, request_id, seq, schema_version, payload, actor_detail, policy, version_after, \
     state_after, deadline_after, cost_at_risk_cents, idempotency_key, envelope_id, occurred_at, \
     recorded_at";

impl EventRow {
    /// The row with its payload as stored; `domain::read_log` reads payloads of any version.
    pub(super) fn into_stored(self) -> Result<Recorded<StoredPayload>, StoreError> {
        let id = self.id;
        let bad = |what: &str, e: &dyn std::fmt::Display| {
            StoreError::Corrupt(format!("event {id} {what}: {e}"))
        };
        Ok(Recorded {
            id,
            request_id: RequestId(self.request_id),
            seq: self.seq,
            event: StoredPayload {
                schema_version: self.schema_version,
                json: self.payload,
            },
            actor: serde_json::from_value(self.actor_detail).map_err(|e| bad("actor", &e))?,
            policy: serde_json::from_value(self.policy).map_err(|e| bad("policy", &e))?,
            version_after: self.version_after,
            state_after: self.state_after.parse().map_err(|e| bad("state", &e))?,
            deadline_after: self.deadline_after,
            cost_at_risk_cents: self.cost_at_risk_cents,
            idempotency_key: self.idempotency_key,
            envelope_id: self.envelope_id,
            occurred_at: self.occurred_at,
            recorded_at: self.recorded_at,
        })
    }
}

/// A subquery giving the whole log of the request whose id is `request_id` (a column of the
/// outer statement) as one JSON array, in sequence order, for a statement that reads the log
/// with something else; its elements deserialize as [`EventRow`]s, which [`read_rows`] reads
/// as `events::events_of` would.
pub(super) fn log_as_json(request_id: &str) -> String {
    format!(
        "(SELECT coalesce(jsonb_agg(e ORDER BY e.seq), '[]') FROM \
           (SELECT {EVENT_COLUMNS} FROM capacity.capacity_request_events \
            WHERE request_id = {request_id}) e)"
    )
}

/// Reads rows of one request's log, in order, into today's events.
pub(super) fn read_rows(rows: Vec<EventRow>) -> Result<Vec<RecordedEvent>, StoreError> {
    let stored = rows
        .into_iter()
        .map(EventRow::into_stored)
        .collect::<Result<Vec<_>, _>>()?;
    read_log(stored).map_err(|e| StoreError::Corrupt(e.to_string()))
}
