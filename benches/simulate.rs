//! `simulate` over a year of 50 requests a day: ~18,000 requests, ~300,000 events.
//!
//! `cargo bench --bench simulate` (needs a Postgres that lets the user create databases;
//! `DATABASE_URL`, default `postgres://postgres@127.0.0.1:5432/postgres`). A fresh database
//! is filled with lifecycles played through `decide` and `evolve` (the recorded policy's
//! timeouts, reminders and escalations fired when due, as the sweeps would), written with
//! bulk INSERTs of exactly the columns the append writes (current schema version), and
//! dropped afterwards. Printed: the load, the time to stream every log alone, and the whole
//! simulation (stream, replay, compare, table) with the recorded policy and with a shorter
//! confirmation TTL, best and median of 3. Figures go into BENCHMARKS.md.

use std::time::{Duration as StdDuration, Instant};

use anyhow::Context as _;
use capacity_bot::domain::cost::cost_at_risk_cents;
use capacity_bot::domain::log::step;
use capacity_bot::domain::testkit::{actor, submission, uid, Play, AE, FINANCE, INFRA, REQUESTER};
use capacity_bot::domain::{
    plan_reminder, Actor, Command, DeadlineKind, Occurrence, Policy, Request, RequestId,
    RequestNumber, CURRENT_SCHEMA,
};
use capacity_bot::simulate::table;
use capacity_bot::store;
use chrono::{DateTime, Duration, Utc};
use serde_json::{json, Value};
use sqlx::PgPool;
use uuid::Uuid;

/// 50 a day for a year; `SIMULATE_BENCH_REQUESTS` sets another number for a quick try.
const REQUESTS: usize = 18_250;
const BATCH: usize = 4_000;
const RUNS: usize = 3;

struct Rng(u64);

impl Rng {
    fn next(&mut self, low: i64, high: i64) -> i64 {
        self.0 ^= self.0 << 13;
        self.0 ^= self.0 >> 7;
        self.0 ^= self.0 << 17;
        low + (self.0 % (high - low + 1) as u64) as i64
    }
}

fn policy() -> Policy {
    let mut p = Policy::default();
    p.calendar.holidays = ["2026-05-25", "2026-07-03", "2026-09-07", "2026-11-26"]
        .iter()
        .map(|d| d.parse().expect("date"))
        .collect();
    p
}

/// Fires what the recorded policy makes due up to `until`, as the daemon's sweeps would.
fn fire_timers(p: &mut Play, until: DateTime<Utc>) {
    let policy = p.policy.clone();
    let mut looked_at = DateTime::<Utc>::MIN_UTC;
    for _ in 0..10_000 {
        let req = p.req();
        let deadline = req.deadline.filter(|d| d.at <= until);
        let reminder = req
            .reminder_due_at
            .map(|r| r.max(looked_at))
            .filter(|r| *r <= until);
        match (deadline, reminder) {
            (Some(d), r) if r.is_none_or(|r| d.at <= r) => {
                p.now = d.at;
                let command = match d.kind {
                    DeadlineKind::CustomerConfirmation => Command::CustomerConfirmationTimeout,
                    DeadlineKind::Activation => Command::ActivationTimeout,
                };
                p.ok_as(Actor::Scheduler, command);
            }
            (_, Some(r)) => {
                p.now = r;
                let Some(plan) = plan_reminder(p.req(), &policy, r) else {
                    looked_at = policy.calendar.work_starts(
                        policy
                            .calendar
                            .next_business_day(policy.calendar.local_date(r)),
                    );
                    continue;
                };
                let reminder = |slot: String, escalation| Command::ReminderSent {
                    slot,
                    recipients: vec![uid(AE)],
                    escalation,
                };
                p.ok_as(Actor::Scheduler, reminder(plan.slot.clone(), false));
                if plan.escalate {
                    p.ok_as(Actor::Scheduler, reminder(plan.escalation_slot(), true));
                }
            }
            _ => return,
        }
    }
}

/// One lifecycle: the happy path mostly, some rejections, expiries, late confirmations,
/// failures and cancellations with committed capacity, as in `tests/it/simulate.rs`.
fn play(i: usize, at: DateTime<Utc>, end: DateTime<Utc>, rng: &mut Rng) -> Play {
    let mut p = Play::new(policy());
    p.id = RequestId(Uuid::now_v7());
    p.now = at;
    let cost = if i.is_multiple_of(4) {
        60_000
    } else {
        5_000 + (i % 40) as i64 * 1_000
    };
    let mut details = submission(cost);
    details.customer = format!("Customer {}", i % 700);
    p.ok(
        REQUESTER,
        Command::Submitted {
            number: RequestNumber(i as i64 + 1),
            details,
        },
    );
    p.ok(
        REQUESTER,
        Command::CommercialOwnerAssigned { owner: uid(AE) },
    );
    let mut steps: Vec<(i64, &str, Command)> =
        vec![(rng.next(2, 30), AE, Command::CommercialApproved)];
    if cost >= 50_000 {
        steps.push((rng.next(1, 20), FINANCE, Command::CommercialApproved));
    }
    let shape = i % 10;
    if shape == 1 {
        steps.push((
            rng.next(3, 40),
            INFRA,
            Command::TechnicalRejected {
                reason: "no stock".into(),
            },
        ));
    } else {
        steps.push((rng.next(1, 20), INFRA, Command::TechnicalOwnerAssigned));
        steps.push((rng.next(1, 30), INFRA, Command::TechnicalApproved));
        let chase = Command::CommentAdded {
            text: "chased the customer".into(),
        };
        steps.push((rng.next(2, 20), REQUESTER, chase));
        match shape {
            3 => steps.push((300, AE, Command::CancelApproved)),
            4 => {
                steps.push((300, REQUESTER, Command::CustomerConfirmed));
                steps.push((
                    rng.next(10, 50),
                    INFRA,
                    Command::ProvisioningFailed {
                        reason: "fault".into(),
                    },
                ));
                steps.push((rng.next(1, 30), INFRA, Command::CapacityReleased));
            }
            6 => {
                steps.push((rng.next(1, 40), AE, Command::CustomerConfirmed));
                steps.push((
                    rng.next(5, 40),
                    REQUESTER,
                    Command::CancelRequested {
                        reason: "plans changed".into(),
                    },
                ));
                steps.push((rng.next(2, 30), AE, Command::CancelApproved));
                steps.push((rng.next(1, 20), INFRA, Command::CapacityReleased));
            }
            _ => {
                if shape == 7 {
                    steps.push((rng.next(20, 60), AE, Command::TtlExtended { days: 3 }));
                }
                steps.push((rng.next(1, 96), AE, Command::CustomerConfirmed));
                steps.push((rng.next(5, 60), INFRA, Command::ProvisioningCompleted));
                let wait = if shape == 5 { 400 } else { rng.next(5, 100) };
                steps.push((wait, REQUESTER, Command::Activated { signal_id: None }));
            }
        }
    }
    for (hours, who, command) in steps {
        let at = p.now + Duration::hours(hours) + Duration::minutes(rng.next(0, 59));
        fire_timers(&mut p, at);
        p.now = at;
        p.ok_as(actor(who), command);
    }
    fire_timers(&mut p, end);
    p
}

/// The rows an append writes for this play: the final projection and one row per event.
fn rows(p: &Play) -> (Value, Vec<Value>) {
    let mut current: Option<Request> = None;
    let mut events = Vec::with_capacity(p.log.len());
    for (i, (event, who, at)) in p.log.iter().enumerate() {
        let o = Occurrence {
            request_id: p.id,
            event,
            actor: who,
            calendar: &p.policy.calendar,
            at: *at,
        };
        let next = step(current.as_ref(), &o).expect("the play folds");
        events.push(json!({
            "id": Uuid::now_v7(),
            "request_id": p.id.0,
            "seq": next.seq,
            "kind": event.kind().as_str(),
            "schema_version": CURRENT_SCHEMA,
            "payload": event,
            "actor": who.label(),
            "actor_team": who.user().map(|_| "T0TEAM"),
            "actor_detail": who,
            "policy": p.policy,
            "version_after": next.version,
            "state_after": next.state.as_str(),
            "deadline_after": next.deadline.map(|d| d.at),
            "cost_at_risk_cents": cost_at_risk_cents(&next, *at),
            "idempotency_key": format!("bench:{}:{i}", p.id),
            "envelope_id": null,
            "occurred_at": at,
            "recorded_at": at,
        }));
        current = Some(next);
    }
    let r = current.expect("a submitted request");
    let request = json!({
        "id": r.id.0,
        "number": r.number.0,
        "state": r.state.as_str(),
        "version": r.version,
        "seq": r.seq,
        "requester": r.requester.as_str(),
        "requester_team": r.requester_team.as_str(),
        "commercial_owner": r.commercial_owner.as_ref().map(|u| u.as_str()),
        "technical_owner": r.technical_owner.as_ref().map(|u| u.as_str()),
        "customer": r.details.customer,
        "details": r.details,
        "finance_required": r.finance_required,
        "approvals": r.approvals,
        "deadline_kind": r.deadline.map(|d| d.kind.as_str()),
        "deadline_at": r.deadline.map(|d| d.at),
        "expired_from": r.expired_from.map(|k| k.as_str()),
        "capacity_committed_at": r.capacity.committed_at,
        "capacity_ended_at": r.capacity.ended_at,
        "capacity_released": r.capacity.released,
        "pending_cancellation": r.pending_cancellation,
        "close_reason": r.close_reason,
        "state_entered_at": r.state_entered_at,
        "reminders_sent": r.reminders_sent,
        "reminder_due_at": r.reminder_due_at,
        "created_at": r.created_at,
        "updated_at": r.updated_at,
    });
    (request, events)
}

async fn insert(pool: &PgPool, table: &str, rows: &[Value]) -> anyhow::Result<()> {
    for chunk in rows.chunks(BATCH) {
        sqlx::query(sqlx::AssertSqlSafe(format!(
            "INSERT INTO capacity.{table} \
             SELECT * FROM jsonb_populate_recordset(NULL::capacity.{table}, $1)"
        )))
        .bind(Value::Array(chunk.to_vec()))
        .execute(pool)
        .await
        .with_context(|| format!("loading {table}"))?;
    }
    Ok(())
}

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let _ = rustls::crypto::ring::default_provider().install_default();
    let admin_url = std::env::var("DATABASE_URL")
        .unwrap_or_else(|_| "postgres://postgres@127.0.0.1:5432/postgres".into());
    let admin = store::connect(&admin_url).await?;
    let name = format!("capacity_bench_simulate_{}", std::process::id());
    sqlx::query(sqlx::AssertSqlSafe(format!("CREATE DATABASE {name}")))
        .execute(&admin)
        .await
        .context("creating the bench database")?;
    let result = run(&admin_url, &name).await;
    sqlx::query(sqlx::AssertSqlSafe(format!(
        "DROP DATABASE IF EXISTS {name} WITH (FORCE)"
    )))
    .execute(&admin)
    .await?;
    result
}

async fn run(admin_url: &str, name: &str) -> anyhow::Result<()> {
    let mut url = url::Url::parse(admin_url)?;
    url.set_path(name);
    let pool = store::connect(url.as_str()).await?;
    store::migrate(&pool).await?;

    // A year from Monday 5 January 2026, one submission every 29 minutes or so.
    let start: DateTime<Utc> = "2026-01-05T14:00:00Z".parse()?;
    let end = start + Duration::days(365 + 60);
    let n: usize = std::env::var("SIMULATE_BENCH_REQUESTS")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(REQUESTS);
    let every = Duration::seconds(365 * 24 * 3600 / n as i64);
    let t = Instant::now();
    let mut rng = Rng(0x5eed_0f51_5151);
    let mut requests = Vec::with_capacity(n);
    let mut events = Vec::new();
    for i in 0..n {
        let p = play(i, start + every * i as i32, end, &mut rng);
        let (r, e) = rows(&p);
        requests.push(r);
        events.extend(e);
    }
    let generated = t.elapsed();
    let t = Instant::now();
    insert(&pool, "capacity_requests", &requests).await?;
    insert(&pool, "capacity_request_events", &events).await?;
    sqlx::query("ANALYZE capacity.capacity_request_events")
        .execute(&pool)
        .await?;
    let loaded = t.elapsed();
    let size: String = sqlx::query_scalar(
        "SELECT pg_size_pretty(pg_total_relation_size('capacity.capacity_request_events'))",
    )
    .fetch_one(&pool)
    .await?;
    println!(
        "{} requests, {} events ({size} with indexes): generated in {}, loaded in {}",
        requests.len(),
        events.len(),
        secs(generated),
        secs(loaded)
    );
    drop((requests, events));

    let mut times = Vec::with_capacity(RUNS);
    for _ in 0..RUNS {
        let t = Instant::now();
        let mut n = 0usize;
        store::events::each_log(&pool, None, |log| n += log.len()).await?;
        anyhow::ensure!(n > 0, "nothing streamed");
        times.push(t.elapsed());
    }
    let stream = figures(times);
    println!("stream every log (read + upcast only):      {stream}");

    let same = policy();
    let shorter = Policy {
        customer_confirmation_ttl_business_days: 2,
        ..policy()
    };
    for (what, p) in [
        ("recorded policy", same),
        ("confirmation TTL 5 -> 2", shorter),
    ] {
        let mut last = None;
        let mut times = Vec::with_capacity(RUNS);
        for _ in 0..RUNS {
            let t = Instant::now();
            let report = capacity_bot::cli::simulate::report(&pool, p.clone(), end, None).await?;
            let text = table::render(&report, "bench.toml");
            anyhow::ensure!(!text.is_empty(), "empty table");
            times.push(t.elapsed());
            last = Some(report);
        }
        let figures = figures(times);
        println!("simulate, {what:<24} (stream, replay, table): {figures}");
        let r = last.expect("a run");
        println!(
            "    {} requests, {} differ; expired {} -> {}; reminders {} -> {}; escalations {} -> {}",
            r.totals.requests,
            r.totals.differing,
            r.totals.expired.recorded,
            r.totals.expired.simulated,
            r.totals.reminders.recorded,
            r.totals.reminders.simulated,
            r.totals.escalations.recorded,
            r.totals.escalations.simulated
        );
        if r.policy_changes.is_empty() {
            anyhow::ensure!(
                r.totals.differing == 0,
                "the recorded policy must reproduce the recorded log: {:#?}",
                r.requests.first()
            );
        }
    }
    pool.close().await;
    Ok(())
}

/// "best x s, median y s".
fn figures(mut times: Vec<StdDuration>) -> String {
    times.sort();
    format!(
        "best {}, median {}",
        secs(times[0]),
        secs(times[times.len() / 2])
    )
}

fn secs(d: StdDuration) -> String {
    format!("{:.2} s", d.as_secs_f64())
}
