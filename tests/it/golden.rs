//! The golden log: four lifecycles as the first release wrote them (schema version 1,
//! `tests/fixtures/golden/log_v1.json`, committed once and never regenerated). Whatever the
//! code becomes, these logs must read and fold to the projections recorded beside them: the
//! log is the product's memory, and code written later replays it.

use capacity_bot::domain::log::step;
use capacity_bot::domain::{
    decide, fold, read_log, ApprovalKey, Command, Context, Event, Policy, Recorded, RecordedEvent,
    Request, RequestId, StoredPayload,
};
use capacity_bot::replay;
use capacity_bot::store::{self, MIGRATOR};
use chrono::{DateTime, Utc};
use serde_json::Value;
use sqlx::PgPool;

const GOLDEN: &str = include_str!("../fixtures/golden/log_v1.json");

fn golden() -> Vec<Value> {
    let v: Value = serde_json::from_str(GOLDEN).expect("the golden log is JSON");
    v["requests"].as_array().expect("requests").clone()
}

fn time(v: &Value) -> Option<DateTime<Utc>> {
    v.as_str().map(|s| s.parse().expect("an RFC 3339 time"))
}

/// A stored row of the fixture, as the store hands it to the upcaster.
fn stored_row(row: &Value) -> Recorded<StoredPayload> {
    Recorded {
        id: row["id"].as_str().unwrap().parse().unwrap(),
        request_id: RequestId(row["request_id"].as_str().unwrap().parse().unwrap()),
        seq: row["seq"].as_i64().unwrap() as i32,
        event: StoredPayload {
            schema_version: 1,
            json: row["payload"].clone(),
        },
        actor: serde_json::from_value(row["actor_detail"].clone()).unwrap(),
        policy: serde_json::from_value(row["policy"].clone()).unwrap(),
        version_after: row["version_after"].as_i64().unwrap() as i32,
        state_after: row["state_after"].as_str().unwrap().parse().unwrap(),
        deadline_after: time(&row["deadline_after"]),
        cost_at_risk_cents: row["cost_at_risk_cents"].as_i64(),
        idempotency_key: row["idempotency_key"].as_str().unwrap().into(),
        envelope_id: row["envelope_id"].as_str().map(str::to_string),
        occurred_at: time(&row["occurred_at"]).unwrap(),
        recorded_at: time(&row["recorded_at"]).unwrap(),
    }
}

fn read(request: &Value) -> Vec<RecordedEvent> {
    let rows = request["events"].as_array().unwrap();
    read_log(rows.iter().map(stored_row).collect()).expect("every version-1 row reads")
}

/// Compares the fields the fixture recorded. Fields added to `Request` later are not in the
/// fixture; the ones it has must never change meaning.
#[track_caller]
fn assert_matches_fixture(folded: &Request, fixture: &Value) {
    let folded = serde_json::to_value(folded).unwrap();
    for (field, recorded) in fixture.as_object().unwrap() {
        assert_eq!(
            folded.get(field),
            Some(recorded),
            "{field} of request {}",
            fixture["number"]
        );
    }
}

#[test]
fn the_golden_log_folds_to_its_recorded_projections() {
    for request in golden() {
        let events = read(&request);
        let folded = fold(&events).expect("the golden log folds");
        assert_matches_fixture(&folded, &request["projection"]);
    }
}

#[test]
fn version_one_events_read_with_the_facts_their_time_derived() {
    let requests = golden();
    let keys = |log: &[RecordedEvent]| -> Vec<ApprovalKey> {
        log.iter()
            .filter_map(|e| match e.event {
                Event::CommercialApproved { key } => Some(key),
                _ => None,
            })
            .collect()
    };
    let a = read(&requests[0]);
    // The AE gave the commercial key, then finance the finance key.
    assert_eq!(
        keys(&a),
        vec![ApprovalKey::Commercial, ApprovalKey::Finance]
    );
    // Someone who holds both roles, after the AE: the finance key, though they could have
    // given either; only the request as it stood before the click tells.
    let d = read(&requests[3]);
    assert_eq!(
        keys(&d),
        vec![ApprovalKey::Commercial, ApprovalKey::Finance]
    );
    let Event::Submitted {
        finance_required, ..
    } = a[0].event
    else {
        panic!("the log starts with a submission");
    };
    assert!(
        finance_required,
        "80,000 USD a month is above the threshold"
    );
    // Each deadline is the one recorded beside its event.
    for e in &a {
        if let Event::TechnicalApproved { deadline }
        | Event::TtlExtended { deadline, .. }
        | Event::ProvisioningCompleted { deadline } = e.event
        {
            assert_eq!(Some(deadline), e.deadline_after, "event {}", e.seq);
        }
    }
}

/// The command that would have produced a recorded event, for asking `decide` again.
fn command_of(event: &Event) -> Command {
    match event.clone() {
        Event::Submitted {
            number, details, ..
        } => Command::Submitted { number, details },
        Event::CommercialOwnerAssigned { owner } => Command::CommercialOwnerAssigned { owner },
        Event::CommercialApproved { .. } => Command::CommercialApproved,
        Event::CommercialRejected { reason } => Command::CommercialRejected { reason },
        Event::TechnicalOwnerAssigned => Command::TechnicalOwnerAssigned,
        Event::TechnicalApproved { .. } => Command::TechnicalApproved,
        Event::TechnicalRejected { reason } => Command::TechnicalRejected { reason },
        Event::EarlyProcurementStarted => Command::EarlyProcurementStarted,
        Event::CustomerConfirmed => Command::CustomerConfirmed,
        Event::CustomerConfirmationTimeout => Command::CustomerConfirmationTimeout,
        Event::TtlExtended { days, .. } => Command::TtlExtended { days },
        Event::ProvisioningCompleted { .. } => Command::ProvisioningCompleted,
        Event::ProvisioningFailed { reason } => Command::ProvisioningFailed { reason },
        Event::Activated { signal_id } => Command::Activated { signal_id },
        Event::ActivationTimeout => Command::ActivationTimeout,
        Event::CancelRequested { reason } => Command::CancelRequested { reason },
        Event::CancelApproved => Command::CancelApproved,
        Event::CancelDenied => Command::CancelDenied,
        Event::CapacityReleased => Command::CapacityReleased,
        Event::ReminderSent {
            slot,
            recipients,
            escalation,
        } => Command::ReminderSent {
            slot,
            recipients,
            escalation,
        },
        Event::CommentAdded { text } => Command::CommentAdded { text },
        Event::OwnerReassigned { role, to } => Command::OwnerReassigned { role, to },
        Event::DecisionDelegated { to, until, .. } => Command::DecisionDelegated { to, until },
        Event::DecisionReturned { from, .. } => Command::DecisionReturned { from },
        Event::RemindersSnoozed { days, reason, .. } => Command::RemindersSnoozed { days, reason },
        Event::OwnerNudged { recipients, .. } => Command::OwnerNudged { recipients },
        Event::ForcedTransition { to, reason, .. } => Command::ForcedTransition { to, reason },
        Event::ForcedTransitionReviewed => Command::ForcedTransitionReviewed,
        Event::OwnerDeactivated { user, admins } => Command::OwnerDeactivated { user, admins },
    }
}

/// A rule made stricter after the log was written: request B started procurement before the
/// customer confirmed, under a policy that allowed it; now it is refused.
fn stricter() -> Policy {
    Policy {
        allow_provisioning_before_confirmation: false,
        ..Policy::default()
    }
}

#[test]
fn rules_made_stricter_in_decide_refuse_parts_of_the_golden_log_but_leave_its_fold_unchanged() {
    let mut refused = Vec::new();
    for request in golden() {
        let events = read(&request);
        // Ask today's `decide`, under the stricter rules, for each step the log took.
        let mut current: Option<Request> = None;
        for rec in &events {
            let policy = stricter();
            let ctx = Context {
                request_id: rec.request_id,
                actor: &rec.actor,
                policy: &policy,
                now: rec.occurred_at,
                expected_version: None,
            };
            if let Err(refusal) = decide(current.as_ref(), &command_of(&rec.event), &ctx) {
                refused.push(format!("{} {}: {refusal}", rec.seq, rec.event.kind()));
            }
            current = Some(step(current.as_ref(), &rec.occurrence()).unwrap());
        }
        // The log folds exactly as before: no rule is asked while folding.
        assert_matches_fixture(&fold(&events).unwrap(), &request["projection"]);
    }
    assert!(
        refused
            .iter()
            .any(|r| r.contains("early_procurement_started")),
        "the stricter rules must refuse something the log holds: {refused:?}"
    );
    assert_eq!(refused.len(), 1, "only that step is refused: {refused:?}");
}

/// Loads the golden rows into a fresh database as they were stored (schema version 1, by
/// the column's default), with their projections.
async fn load(pool: &PgPool) {
    for request in golden() {
        let projection: Request = serde_json::from_value(request["projection"].clone()).unwrap();
        store::requests::overwrite(pool, &projection).await.unwrap();
        for row in request["events"].as_array().unwrap() {
            sqlx::query(
                "INSERT INTO capacity.capacity_request_events (id, request_id, seq, kind, payload, \
                 actor, actor_team, actor_detail, policy, version_after, state_after, \
                 deadline_after, cost_at_risk_cents, idempotency_key, envelope_id, occurred_at, \
                 recorded_at) \
                 SELECT id, request_id, seq, kind, payload, actor, actor_team, actor_detail, \
                 policy, version_after, state_after, deadline_after, cost_at_risk_cents, \
                 idempotency_key, envelope_id, occurred_at, recorded_at \
                 FROM jsonb_populate_record(NULL::capacity.capacity_request_events, $1)",
            )
            .bind(row)
            .execute(pool)
            .await
            .unwrap();
        }
    }
}

#[sqlx::test(migrator = "MIGRATOR")]
async fn a_stored_golden_log_reads_and_replays_without_drift(pool: PgPool) {
    load(&pool).await;
    let versions: Vec<i16> =
        sqlx::query_scalar("SELECT DISTINCT schema_version FROM capacity.capacity_request_events")
            .fetch_all(&pool)
            .await
            .unwrap();
    assert_eq!(versions, vec![1]);

    let report = replay::replay(&pool, false).await.unwrap();
    assert_eq!(report.checked, 4);
    assert_eq!(report.differences, vec![]);

    // Each log reads back through the store and folds to the stored projection.
    for request in golden() {
        let id = RequestId(
            request["projection"]["id"]
                .as_str()
                .unwrap()
                .parse()
                .unwrap(),
        );
        let log = store::events::events_of(&pool, id).await.unwrap();
        assert_eq!(log.len(), request["events"].as_array().unwrap().len());
        let stored = store::requests::by_id(&pool, id).await.unwrap().unwrap();
        assert_eq!(fold(&log).unwrap(), stored);
        assert_matches_fixture(&stored, &request["projection"]);
    }
}
