//! `report` over a year of requests: 50 a day, ~18k requests and ~300k events.
//!
//! `cargo bench --bench report` (needs a Postgres that lets the user create databases;
//! `DATABASE_URL`, default `postgres://postgres@127.0.0.1:5432/postgres`). A fresh database
//! is filled with generated rows inserted directly in the shapes `store::events::append`
//! writes (appending 300k events one transaction at a time would take longer than the
//! report it measures; the report's correctness is tested on logs written through the
//! append, in `tests/it/report.rs`), vacuumed and analysed, and dropped afterwards. Printed: each of the
//! report's queries alone, `report::gather` plus rendering (table and HTML, median of 5),
//! and the `capacity-bot report` binary end to end. Figures go into BENCHMARKS.md.

use std::process::Command;
use std::time::{Duration, Instant};

use anyhow::Context as _;
use capacity_bot::domain::digest::WeeklySlot;
use capacity_bot::domain::{Calendar, Policy};
use capacity_bot::report::{self, figures};
use capacity_bot::store::{self, report as q};
use chrono::{DateTime, Utc};
use sqlx::PgPool;

const PER_DAY: i64 = 50;
const DAYS: i64 = 365;
const RUNS: usize = 5;

/// Each request's lifecycle as (step, kind, state after, who, when). `when` names a point
/// of the request's own timeline (built from its random delays in `LOAD`). Every tenth
/// request lets its confirmation deadline pass and is confirmed after expiry; every
/// seventh needs no finance key. Events after "now" are dropped, so the last weeks' requests
/// are still open at every stage, as in production.
const TEMPLATE: &str = "(VALUES \
  (1, 'submitted', 'SUBMITTED', 'req', 't0', false), \
  (2, 'commercial_owner_assigned', 'COMMERCIAL_APPROVAL_REQUIRED', 'req', 't0', false), \
  (3, 'reminder_sent', 'COMMERCIAL_APPROVAL_REQUIRED', 'sch', 't0+a/2', false), \
  (4, 'commercial_approved', 'COMMERCIAL_APPROVAL_REQUIRED', 'ae', 't1', false), \
  (5, 'commercial_approved', 'TECHNICAL_REVIEW_REQUIRED', 'fin', 't2', false), \
  (6, 'technical_owner_assigned', 'TECHNICAL_REVIEW_REQUIRED', 'inf', 't2+c/3', false), \
  (7, 'comment_added', 'TECHNICAL_REVIEW_REQUIRED', 'ae', 't2+c/2', false), \
  (8, 'technical_approved', 'CUSTOMER_CONFIRMATION_REQUIRED', 'inf', 't3', false), \
  (9, 'reminder_sent', 'CUSTOMER_CONFIRMATION_REQUIRED', 'sch', 't3+d/5', false), \
  (10, 'reminder_sent', 'CUSTOMER_CONFIRMATION_REQUIRED', 'sch', 't3+2d/5', false), \
  (11, 'reminder_sent', 'CUSTOMER_CONFIRMATION_REQUIRED', 'sch', 't3+3d/5', false), \
  (12, 'reminder_sent', 'CUSTOMER_CONFIRMATION_REQUIRED', 'sch', 't3+3d/5', true), \
  (13, 'customer_confirmed', 'PROVISIONING_IN_PROGRESS', 'ae', 't4', false), \
  (14, 'reminder_sent', 'PROVISIONING_IN_PROGRESS', 'sch', 't4+e/2', false), \
  (15, 'provisioning_completed', 'READY_FOR_CUSTOMER', 'inf', 't5', false), \
  (16, 'reminder_sent', 'READY_FOR_CUSTOMER', 'sch', 't5+f/2', false), \
  (17, 'activated', 'ACTIVATED', 'req', 't6', false)) AS s (step, kind, state, who, at, esc)";

fn load_sql() -> String {
    format!(
        "CREATE TEMP TABLE gen AS \
         WITH r AS ( \
           SELECT i, gen_random_uuid() AS id, \
             $1::timestamptz + (i - 1) * interval '1 day' / {PER_DAY} AS t0, \
             interval '1 minute' * (60 + (i * 7919) % 2880) AS a, \
             interval '1 minute' * (30 + (i * 104729) % 1440) AS b, \
             interval '1 minute' * (60 + (i * 1299709) % 3000) AS c, \
             interval '1 minute' * (120 + (i * 15485863) % 6000) AS d, \
             interval '1 minute' * (120 + (i * 32452843) % 4000) AS e, \
             interval '1 minute' * (60 + (i * 49979687) % 5000) AS f, \
             'U0AE' || lpad((i % 20)::text, 2, '0') AS ae, 'U0FIN' || (i % 4) AS fin, \
             'U0INF' || lpad((i * 3 % 12)::text, 2, '0') AS inf, 'U0REQ' || (i % 40) AS req, \
             i % 10 = 0 AS expires, i % 7 <> 0 AS finance \
           FROM generate_series(1, $2::bigint) AS i), \
         t AS ( \
           SELECT *, t0 + a AS t1, t0 + a + b AS t2, t0 + a + b + c AS t3, \
             t0 + a + b + c + d AS t4, t0 + a + b + c + d + e AS t5, \
             t0 + a + b + c + d + e + f AS t6 FROM r), \
         steps AS ( \
           SELECT t.id, t.i, s.step, \
             CASE WHEN s.step = 13 AND t.expires THEN 'customer_confirmation_timeout' \
                  WHEN s.step = 4 AND NOT t.finance THEN 'commercial_approved' ELSE s.kind END AS kind, \
             CASE WHEN s.step = 13 AND t.expires THEN 'EXPIRED' \
                  WHEN s.step = 4 AND NOT t.finance THEN 'TECHNICAL_REVIEW_REQUIRED' ELSE s.state END AS state, \
             CASE WHEN s.step = 13 AND t.expires THEN 'scheduler' \
                  ELSE CASE s.who WHEN 'req' THEN t.req WHEN 'ae' THEN t.ae WHEN 'fin' THEN t.fin \
                       WHEN 'inf' THEN t.inf ELSE 'scheduler' END END AS actor, \
             s.esc, \
             CASE s.at WHEN 't0' THEN t0 WHEN 't0+a/2' THEN t0 + a / 2 WHEN 't1' THEN t1 \
               WHEN 't2' THEN t2 WHEN 't2+c/3' THEN t2 + c / 3 WHEN 't2+c/2' THEN t2 + c / 2 \
               WHEN 't3' THEN t3 WHEN 't3+d/5' THEN t3 + d / 5 WHEN 't3+2d/5' THEN t3 + 2 * d / 5 \
               WHEN 't3+3d/5' THEN t3 + 3 * d / 5 WHEN 't4' THEN t4 WHEN 't4+e/2' THEN t4 + e / 2 \
               WHEN 't5' THEN t5 WHEN 't5+f/2' THEN t5 + f / 2 ELSE t6 END AS at \
           FROM t CROSS JOIN {TEMPLATE} \
           WHERE NOT (s.step = 5 AND NOT t.finance) \
           UNION ALL \
           SELECT t.id, t.i, 13.5, 'customer_confirmed', 'PROVISIONING_IN_PROGRESS', t.ae, false, \
             t4 + interval '2 hours' FROM t WHERE t.expires) \
         SELECT id, i, kind, state, actor, esc, at, \
           row_number() OVER (PARTITION BY id ORDER BY at, step)::int AS seq \
         FROM steps WHERE at <= $3"
    )
}

const PROJECTION: &str = "INSERT INTO capacity.capacity_requests (id, number, state, version, \
    seq, requester, requester_team, commercial_owner, technical_owner, customer, details, \
    finance_required, approvals, capacity_committed_at, capacity_ended_at, state_entered_at, \
    created_at, updated_at) \
    SELECT g.id, min(g.i), (array_agg(g.state ORDER BY g.seq DESC))[1], max(g.seq), max(g.seq), \
      min(g.actor) FILTER (WHERE g.seq = 1), 'T0TEAM', 'U0AE' || lpad((min(g.i) % 20)::text, 2, '0'), \
      min(g.actor) FILTER (WHERE g.kind = 'technical_approved'), 'Customer ' || (min(g.i) % 500), \
      jsonb_set(jsonb_set($1::jsonb, '{est_monthly_cost_cents}', \
        to_jsonb(100 * (20000 + (min(g.i) * 37) % 80000))), '{customer}', \
        to_jsonb('Customer ' || (min(g.i) % 500))), \
      min(g.i) % 7 <> 0, '{}'::jsonb, \
      min(g.at) FILTER (WHERE g.kind = 'customer_confirmed'), min(g.at) FILTER (WHERE g.kind = 'activated'), \
      max(g.at), min(g.at), max(g.at) \
    FROM gen g GROUP BY g.id";

const EVENTS: &str = "INSERT INTO capacity.capacity_request_events (id, request_id, seq, kind, \
    payload, actor, actor_team, actor_detail, policy, version_after, state_after, \
    idempotency_key, occurred_at, recorded_at) \
    SELECT gen_random_uuid(), g.id, g.seq, g.kind, \
      CASE WHEN g.kind = 'reminder_sent' THEN jsonb_build_object('kind', g.kind, \
             'slot', to_char(g.at, 'YYYY-MM-DD'), 'recipients', jsonb_build_array('U0AE01'), \
             'escalation', g.esc) \
           ELSE jsonb_build_object('kind', g.kind) END, \
      g.actor, CASE WHEN g.actor LIKE 'U%' THEN 'T0TEAM' END, \
      CASE WHEN g.actor LIKE 'U%' \
           THEN jsonb_build_object('type', 'user', 'id', g.actor, 'team', 'T0TEAM', 'roles', '[\"requester\"]'::jsonb) \
           ELSE jsonb_build_object('type', 'scheduler') END, \
      $1::jsonb, g.seq, g.state, 'bench:' || g.id || ':' || g.seq, g.at, g.at \
    FROM gen g ORDER BY g.at";

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let _ = rustls::crypto::ring::default_provider().install_default();
    let admin_url = std::env::var("DATABASE_URL")
        .unwrap_or_else(|_| "postgres://postgres@127.0.0.1:5432/postgres".into());
    let admin = store::connect(&admin_url).await?;
    let name = format!("capacity_bench_report_{}", std::process::id());
    sqlx::query(sqlx::AssertSqlSafe(format!("CREATE DATABASE {name}")))
        .execute(&admin)
        .await
        .context("creating the bench database")?;
    let mut url = url::Url::parse(&admin_url)?;
    url.set_path(&name);
    let result = run(url.as_str()).await;
    sqlx::query(sqlx::AssertSqlSafe(format!(
        "DROP DATABASE IF EXISTS {name} WITH (FORCE)"
    )))
    .execute(&admin)
    .await?;
    result
}

async fn run(url: &str) -> anyhow::Result<()> {
    let pool = store::connect(url).await?;
    store::migrate(&pool).await?;
    let now = Utc::now();
    let start = now - chrono::Duration::days(DAYS);
    let loaded = Instant::now();
    load(&pool, start, now).await?;
    let (requests, events): (i64, i64) = sqlx::query_as(
        "SELECT (SELECT count(*) FROM capacity.capacity_requests), \
                (SELECT count(*) FROM capacity.capacity_request_events)",
    )
    .fetch_one(&pool)
    .await?;
    println!(
        "loaded {requests} requests and {events} events in {:.1} s (then VACUUM ANALYZE)\n",
        loaded.elapsed().as_secs_f64()
    );

    let cal = Calendar::default();
    println!("{:<44} {:>10} {:>10}", "step", "median", "max");
    let since = Some(now - chrono::Duration::days(30));
    let stages = figures::STAGES;
    let points = figures::sample_points(start, now, 120);
    let rows: [(&str, Step); 6] = [
        ("visits (whole log)", Step::Visits(None)),
        ("visits (last 30 days)", Step::Visits(since)),
        ("kind counts (whole log)", Step::Counts),
        ("cost per request (whole log)", Step::Costs),
        ("cost over time (120 points)", Step::Series),
        ("open or committed requests", Step::Open),
    ];
    for (label, step) in rows {
        let times = time(RUNS, || async {
            match step {
                Step::Visits(s) => q::visits(&pool, &stages, s, now).await.map(|v| v.len()),
                Step::Counts => q::kind_counts(&pool, None, now).await.map(|v| v.len()),
                Step::Costs => q::request_costs(&pool, None, now).await.map(|v| v.len()),
                Step::Series => q::cost_series(&pool, &points).await.map(|v| v.len()),
                Step::Open => q::open_or_committed(&pool).await.map(|v| v.len()),
            }
        })
        .await?;
        println!(
            "{label:<44} {:>10} {:>10}   ({} rows)",
            ms(times.0[RUNS / 2]),
            ms(times.0[RUNS - 1]),
            times.1[0]
        );
    }
    // The pure part alone: business hours and percentiles over every visit.
    let visits = q::visits(&pool, &stages, None, now).await?;
    let mut d = Vec::new();
    for _ in 0..RUNS {
        let inputs = figures::Inputs {
            visits: visits.clone(),
            ..figures::Inputs::default()
        };
        let t = Instant::now();
        let f = figures::compute(inputs, &cal, now);
        d.push(t.elapsed());
        anyhow::ensure!(f.totals.decisions > 0, "the generated log has decisions");
    }
    d.sort();
    println!(
        "{:<44} {:>10} {:>10}",
        "figures from visits (business hours)",
        ms(d[RUNS / 2]),
        ms(d[RUNS - 1])
    );
    for (label, window) in [("gather, whole log", None), ("gather, last 30 days", since)] {
        let times = time(RUNS, || async {
            report::gather(&pool, window, now, &cal)
                .await
                .map(|r| r.figures.stages.len())
        })
        .await?;
        println!(
            "{label:<44} {:>10} {:>10}",
            ms(times.0[RUNS / 2]),
            ms(times.0[RUNS - 1])
        );
    }
    let r = report::gather(&pool, None, now, &cal).await?;
    for (label, render) in [
        ("render table", Render::Table),
        ("render html (3 SVG charts)", Render::Html),
    ] {
        let mut d = Vec::new();
        for _ in 0..RUNS {
            let t = Instant::now();
            let len = match render {
                Render::Table => report::table::render(&r).len(),
                Render::Html => report::html::render(&r)?.len(),
            };
            d.push((t.elapsed(), len));
        }
        d.sort();
        println!(
            "{label:<44} {:>10} {:>10}   ({} bytes)",
            ms(d[RUNS / 2].0),
            ms(d[RUNS - 1].0),
            d[0].1
        );
    }

    // The weekly digest over the same log: its reads (open requests, the week's decisions,
    // 57 daily cost points), then the message and the PNG chart.
    let schedule = WeeklySlot {
        weekday: chrono::Weekday::Mon,
        time: chrono::NaiveTime::from_hms_opt(9, 30, 0).context("a time")?,
    };
    let policy = Policy::default();
    let slot = schedule.latest(&policy.calendar, now);
    let times = time(RUNS, || async {
        report::digest::gather(&pool, &policy, &schedule, slot, now)
            .await
            .map(|d| d.decisions_total)
    })
    .await?;
    println!(
        "{:<44} {:>10} {:>10}   ({} decisions in the week)",
        "digest gather",
        ms(times.0[RUNS / 2]),
        ms(times.0[RUNS - 1]),
        times.1[0]
    );
    let digest = report::digest::gather(&pool, &policy, &schedule, slot, now).await?;
    let mut d = Vec::new();
    for _ in 0..RUNS {
        let t = Instant::now();
        let roles = capacity_bot::config::Roles::default();
        let message = capacity_bot::render::digest::digest_message(&digest, &roles, &cal);
        let png = report::digest::chart_png(&digest, "Cost at risk".into())?;
        d.push((
            t.elapsed(),
            png.len(),
            message.blocks.map_or(0, |b| b.len()),
        ));
    }
    d.sort();
    println!(
        "{:<44} {:>10} {:>10}   ({} bytes of PNG, {} blocks)",
        "digest message and PNG chart",
        ms(d[RUNS / 2].0),
        ms(d[RUNS - 1].0),
        d[0].1,
        d[0].2
    );

    println!("\n`capacity-bot report` end to end (process start, connect, read, render, write):");
    let dir = tempfile::tempdir()?;
    for format in ["table", "html"] {
        let out = dir.path().join(format!("report.{format}"));
        let mut d = Vec::new();
        for _ in 0..RUNS {
            let t = Instant::now();
            let o = Command::new(env!("CARGO_BIN_EXE_capacity-bot"))
                .args(["report", "--format", format, "--out"])
                .arg(&out)
                .env("DATABASE_URL", url)
                .env_remove("CAPACITY_BOT_CONFIG")
                .env_remove("SLACK_BOT_TOKEN")
                .output()?;
            d.push(t.elapsed());
            anyhow::ensure!(
                o.status.success(),
                "report failed: {}",
                String::from_utf8_lossy(&o.stderr)
            );
        }
        d.sort();
        println!(
            "{:<44} {:>10} {:>10}   ({} bytes)",
            format!("report --format {format}"),
            ms(d[RUNS / 2]),
            ms(d[RUNS - 1]),
            std::fs::metadata(&out)?.len()
        );
    }
    if std::env::var_os("REPORT_BENCH_PLANS").is_some() {
        let stages: Vec<&str> = stages.iter().map(|s| s.as_str()).collect();
        let plan: Vec<String> = sqlx::query_scalar(sqlx::AssertSqlSafe(format!(
            "EXPLAIN (ANALYZE, BUFFERS) {}",
            q::VISITS
        )))
        .bind(&stages)
        .bind(None::<DateTime<Utc>>)
        .bind(now)
        .fetch_all(&pool)
        .await?;
        println!("\nvisits, whole log:\n{}", plan.join("\n"));
    }
    pool.close().await;
    Ok(())
}

#[derive(Clone, Copy)]
enum Step {
    Visits(Option<DateTime<Utc>>),
    Counts,
    Costs,
    Series,
    Open,
}

#[derive(Clone, Copy)]
enum Render {
    Table,
    Html,
}

async fn load(pool: &PgPool, start: DateTime<Utc>, now: DateTime<Utc>) -> anyhow::Result<()> {
    let mut conn = pool.acquire().await?;
    sqlx::query(sqlx::AssertSqlSafe(load_sql()))
        .bind(start)
        .bind(PER_DAY * DAYS)
        .bind(now)
        .execute(&mut *conn)
        .await
        .context("generating the log")?;
    let details = serde_json::to_value(capacity_bot::domain::testkit::submission(20_000))?;
    sqlx::query(PROJECTION)
        .bind(details)
        .execute(&mut *conn)
        .await
        .context("writing the projection")?;
    let policy = serde_json::to_value(Policy::default())?;
    sqlx::query(EVENTS)
        .bind(policy)
        .execute(&mut *conn)
        .await
        .context("writing the events")?;
    // A maintained database: insert-only tables are vacuumed by autovacuum (Postgres 13+),
    // which sets the visibility map the covering index's index-only scan relies on.
    sqlx::query("VACUUM ANALYZE").execute(&mut *conn).await?;
    Ok(())
}

/// Runs `f` `runs` times: the sorted durations and each run's result.
async fn time<F, Fut>(runs: usize, mut f: F) -> anyhow::Result<(Vec<Duration>, Vec<usize>)>
where
    F: FnMut() -> Fut,
    Fut: std::future::Future<Output = Result<usize, store::StoreError>>,
{
    let mut d = Vec::with_capacity(runs);
    let mut out = Vec::with_capacity(runs);
    for _ in 0..runs {
        let t = Instant::now();
        out.push(f().await?);
        d.push(t.elapsed());
    }
    d.sort();
    out.sort();
    Ok((d, out))
}

fn ms(d: Duration) -> String {
    format!("{:.1} ms", d.as_secs_f64() * 1000.0)
}
