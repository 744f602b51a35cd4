//! Deadline and reminder sweeps against 1,000, 10,000 and 100,000 open requests, 1% due.
//!
//! `cargo bench --bench sweeps` (needs a Postgres that lets the user create databases;
//! `DATABASE_URL`, default `postgres://postgres@127.0.0.1:5432/postgres`). Each size gets a
//! fresh database, bulk-loaded with `generate_series`, dropped afterwards. Printed: the time
//! of the sweep queries (one batch, as the sweep issues them, median of 25) with 1% due and
//! with nothing due, the full sweeps including one append per due request, and the
//! `EXPLAIN (ANALYZE)` plans at the largest size. Figures go into BENCHMARKS.md.

use std::sync::Arc;
use std::time::{Duration, Instant};

use anyhow::Context as _;
use capacity_bot::clock::SystemClock;
use capacity_bot::config::Settings;
use capacity_bot::context::AppState;
use capacity_bot::domain::request::Approvals;
use capacity_bot::domain::testkit::{submission, uid, AE};
use capacity_bot::scheduler::{sweep_deadlines, sweep_reminders, Sweeper};
use capacity_bot::slack::api::SlackApi;
use capacity_bot::store::{self, timers};
use chrono::{DateTime, Utc};
use secrecy::SecretString;
use sqlx::PgPool;

const SIZES: [i64; 3] = [1_000, 10_000, 100_000];
const BATCH: i64 = 200;
const RUNS: usize = 25;

const CONFIG: &str = r#"
[slack]
requests_channel = "C0REQUESTS"

[roles]
commercial_approvers = ["UAPPROVER"]
finance = ["UFINANCE"]
infra = ["UINFRA"]
admins = ["UADMIN"]

[calendar]
time_zone = "America/New_York"
working_hours = "09:00-17:00"
holidays = ["2026-12-25", "2027-01-01"]
"#;

/// Every row waits for customer confirmation, owned by the AE. Rows with `i % 100 = 0` are
/// past their deadline, rows with `i % 100 = 50` are due a reminder; the rest fall due
/// over the coming days, so the indexes hold every row, as in production.
const LOAD: &str = "INSERT INTO capacity.capacity_requests (id, number, state, version, seq, \
    requester, requester_team, commercial_owner, technical_owner, customer, details, \
    finance_required, approvals, deadline_kind, deadline_at, capacity_released, \
    state_entered_at, reminders_sent, reminder_due_at, created_at, updated_at) \
    SELECT gen_random_uuid(), i, 'CUSTOMER_CONFIRMATION_REQUIRED', 4, 5, 'UREQUESTER', 'T0TEAM', \
    'UAE', 'UINFRA', 'Acme Corp', $2, false, $3, 'customer_confirmation', \
    CASE WHEN i % 100 = 0 THEN $4 - interval '1 minute' * ((i % 50) + 1) \
         ELSE $4 + interval '1 hour' * (1 + (i % 200)) END, \
    false, $4 - interval '3 days', 0, \
    CASE WHEN i % 100 = 50 THEN $4 - interval '1 minute' * ((i % 50) + 1) \
         ELSE $4 + interval '1 hour' * (1 + (i % 50)) END, \
    $4 - interval '3 days', $4 - interval '3 days' \
    FROM generate_series(1, $1) AS i";

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let _ = rustls::crypto::ring::default_provider().install_default();
    let admin_url = std::env::var("DATABASE_URL")
        .unwrap_or_else(|_| "postgres://postgres@127.0.0.1:5432/postgres".into());
    let admin = store::connect(&admin_url).await?;
    // Wednesday 9 December 2026, 10:00 New York: inside working hours.
    let now: DateTime<Utc> = "2026-12-09T15:00:00Z".parse()?;
    println!(
        "{:>8} {:>5} | {:>11} {:>11} | {:>11} {:>11} | {:>13} {:>13}",
        "open",
        "due",
        "deadline q",
        "reminder q",
        "deadline q",
        "reminder q",
        "deadline sweep",
        "reminder sweep"
    );
    println!(
        "{:>8} {:>5} | {:>11} {:>11} | {:>11} {:>11} | {:>13} {:>13}",
        "", "", "1% due", "1% due", "none due", "none due", "(all appends)", "(all appends)"
    );
    let mut plans = String::new();
    for n in SIZES {
        let name = format!("capacity_bench_{n}_{}", std::process::id());
        sqlx::query(sqlx::AssertSqlSafe(format!("CREATE DATABASE {name}")))
            .execute(&admin)
            .await
            .context("creating the bench database")?;
        let result = run_size(&admin_url, &name, n, now, &mut plans).await;
        sqlx::query(sqlx::AssertSqlSafe(format!(
            "DROP DATABASE IF EXISTS {name} WITH (FORCE)"
        )))
        .execute(&admin)
        .await?;
        result?;
    }
    println!("\n{plans}");
    Ok(())
}

async fn run_size(
    admin_url: &str,
    name: &str,
    n: i64,
    now: DateTime<Utc>,
    plans: &mut String,
) -> anyhow::Result<()> {
    let mut url = url::Url::parse(admin_url)?;
    url.set_path(name);
    let pool = store::connect(url.as_str()).await?;
    store::migrate(&pool).await?;
    let approvals = Approvals {
        commercial: Some(uid(AE)),
        finance: None,
    };
    sqlx::query(LOAD)
        .bind(n)
        .bind(sqlx::types::Json(submission(10_000)))
        .bind(sqlx::types::Json(approvals))
        .bind(now)
        .execute(&pool)
        .await
        .context("bulk load")?;
    sqlx::query("ANALYZE capacity.capacity_requests")
        .execute(&pool)
        .await?;

    let before = now - chrono::Duration::days(1);
    let dq = median(RUNS, || async {
        timers::due_deadlines(&pool, now, BATCH).await.map(|_| ())
    })
    .await?;
    let rq = median(RUNS, || async {
        timers::due_reminders(&pool, now, BATCH).await.map(|_| ())
    })
    .await?;
    let dq0 = median(RUNS, || async {
        timers::due_deadlines(&pool, before, BATCH)
            .await
            .map(|_| ())
    })
    .await?;
    let rq0 = median(RUNS, || async {
        timers::due_reminders(&pool, before, BATCH)
            .await
            .map(|_| ())
    })
    .await?;

    if n == SIZES[SIZES.len() - 1] {
        *plans = explain(&pool, now).await?;
    }
    let sweeper = sweeper(&pool)?;
    let t = Instant::now();
    let timeouts = sweep_deadlines(&sweeper, now).await?;
    let ds = t.elapsed();
    let t = Instant::now();
    let reminders = sweep_reminders(&sweeper, now).await?;
    let rs = t.elapsed();
    anyhow::ensure!(
        timeouts as i64 == n / 100 && reminders as i64 == n / 100,
        "expected {} of each, recorded {timeouts} timeouts and {reminders} reminders",
        n / 100
    );
    println!(
        "{n:>8} {:>5} | {:>11} {:>11} | {:>11} {:>11} | {:>13} {:>13}",
        n / 100,
        ms(dq),
        ms(rq),
        ms(dq0),
        ms(rq0),
        ms(ds),
        ms(rs)
    );
    pool.close().await;
    Ok(())
}

fn sweeper(pool: &PgPool) -> anyhow::Result<Sweeper> {
    let env = |k: &str| (k == "DATABASE_URL").then(|| "postgres://unused".to_string());
    let settings = Settings::from_toml_str(CONFIG, &env).map_err(|e| anyhow::anyhow!("{e}"))?;
    // Every recipient is a named user, so the resolver never calls this (unreachable) API.
    let token = SecretString::from("xoxb-bench");
    let api = SlackApi::new("http://127.0.0.1:9/api", &token, None)?;
    let state = AppState::new(
        Arc::new(settings),
        pool.clone(),
        api,
        Arc::new(SystemClock),
        None,
        Duration::from_secs(300),
    )?;
    Ok(Sweeper::new(Arc::new(state)))
}

async fn median<F, Fut>(runs: usize, mut f: F) -> anyhow::Result<Duration>
where
    F: FnMut() -> Fut,
    Fut: std::future::Future<Output = Result<(), store::StoreError>>,
{
    f().await?; // warm the cache and the prepared statement
    let mut times = Vec::with_capacity(runs);
    for _ in 0..runs {
        let t = Instant::now();
        f().await?;
        times.push(t.elapsed());
    }
    times.sort();
    Ok(times[runs / 2])
}

fn ms(d: Duration) -> String {
    format!("{:.2} ms", d.as_secs_f64() * 1000.0)
}

/// The plans of the two sweep queries, taken before the sweeps so they find the due rows.
async fn explain(pool: &PgPool, now: DateTime<Utc>) -> anyhow::Result<String> {
    let at = now.to_rfc3339();
    let mut out = String::new();
    for (what, column) in [("deadline", "deadline_at"), ("reminder", "reminder_due_at")] {
        let sql = format!(
            "EXPLAIN (ANALYZE, BUFFERS) SELECT * FROM capacity.capacity_requests \
             WHERE {column} IS NOT NULL AND {column} <= '{at}' ORDER BY {column} LIMIT {BATCH}"
        );
        let plan: Vec<String> = sqlx::query_scalar(sqlx::AssertSqlSafe(sql))
            .fetch_all(pool)
            .await?;
        out.push_str(&format!("{what} sweep query at 100,000 open, 1% due:\n"));
        for line in plan {
            out.push_str(&format!("  {line}\n"));
        }
    }
    Ok(out)
}
