//! Deadline and reminder sweeps against 1,000, 10,000 and 100,000 open requests, 1% due,
//! without and with 1,000 active absences.
//!
//! `cargo bench --bench sweeps` (needs a Postgres that lets the user create databases;
//! `DATABASE_URL`, default `postgres://postgres@127.0.0.1:5432/postgres`). Each size gets a
//! fresh database, bulk-loaded with `generate_series`, dropped afterwards. Printed: the time
//! of the sweep queries (one batch, as the sweep issues them, median of 25) with 1% due and
//! with nothing due, the full sweeps including one append per due request, and the
//! `EXPLAIN (ANALYZE)` plans at the largest size. Then the same sizes again with 1,000
//! active absences (half the owners away, their requests delegated) and a year of ended
//! absences: the idle sweeps each job runs every minute, with and without them, the due
//! sweeps, and ten absences ending with every decision they return. `BENCH_SIZES`
//! (comma-separated) picks the sizes. Figures go into BENCHMARKS.md.

use std::sync::Arc;
use std::time::{Duration, Instant};

use anyhow::Context as _;
use capacity_bot::clock::SystemClock;
use capacity_bot::config::Settings;
use capacity_bot::context::AppState;
use capacity_bot::domain::request::Approvals;
use capacity_bot::domain::testkit::{submission, uid, AE};
use capacity_bot::scheduler::{
    sweep_absences, sweep_deadlines, sweep_reminders, sweep_reviews, Sweeper,
    OWNER_LOOKUPS_PER_RUN, OWNER_RECHECK_HOURS,
};
use capacity_bot::slack::api::SlackApi;
use capacity_bot::store::{self, owner_checks, timers};
use chrono::{DateTime, Utc};
use secrecy::SecretString;
use sqlx::PgPool;

const SIZES: [i64; 3] = [1_000, 10_000, 100_000];
/// Owners away at once, and how many of them end their absence on the sweep's day.
const AWAY: i64 = 1_000;
const ENDING: i64 = 10;
/// Ended absences in the log: a year of 1,000 people away about ten days at a time.
const HISTORY: i64 = 36_500;
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

/// Every row waits for customer confirmation, owned by one of 2,000 AEs (`UAE0000`…). Rows with `i % 100 = 0` are
/// past their deadline, rows with `i % 100 = 50` are due a reminder; the rest fall due
/// over the coming days, so the indexes hold every row, as in production.
const LOAD: &str = "INSERT INTO capacity.capacity_requests (id, number, state, version, seq, \
    requester, requester_team, commercial_owner, technical_owner, customer, details, \
    finance_required, approvals, deadline_kind, deadline_at, capacity_released, \
    state_entered_at, reminders_sent, reminder_due_at, created_at, updated_at) \
    SELECT gen_random_uuid(), i, 'CUSTOMER_CONFIRMATION_REQUIRED', 4, 5, 'UREQUESTER', 'T0TEAM', \
    'UAE' || lpad((i % 2000)::text, 4, '0'), 'UINFRA', 'Acme Corp', $2, false, $3, 'customer_confirmation', \
    CASE WHEN i % 100 = 0 THEN $4 - interval '1 minute' * ((i % 50) + 1) \
         ELSE $4 + interval '1 hour' * (1 + (i % 200)) END, \
    false, $4 - interval '3 days', 0, \
    CASE WHEN i % $5 = $5 / 2 THEN $4 - interval '1 minute' * ((i % 50) + 1) \
         ELSE $4 + interval '1 hour' * (1 + (i % 50)) END, \
    $4 - interval '3 days', $4 - interval '3 days' \
    FROM generate_series(1, $1) AS i";

/// The owners `UAE0000`…`UAE0999` are away, each with an `away` row naming a delegate
/// (`UDL…`). The first `$1` were away until yesterday (due to end at the sweep); the rest
/// come back over the next two weeks. `$2` is today in the calendar's zone.
const AWAY_ROWS: &str = "INSERT INTO capacity.absences (id, kind, user_id, delegate, until, recorded_at) \
    SELECT gen_random_uuid(), 'away', 'UAE' || lpad(k::text, 4, '0'), 'UDL' || lpad(k::text, 4, '0'), \
    CASE WHEN k < $1 THEN $2::date - 1 ELSE $2::date + 1 + (k % 14)::int END, \
    $3 - interval '2 days' FROM generate_series(0, $4 - 1) AS k";

/// What `away` records on each open request of an absent owner: the delegation.
const DELEGATE: &str = "UPDATE capacity.capacity_requests r SET attention = \
    jsonb_build_object('delegations', jsonb_build_array(jsonb_build_object( \
    'from', a.user_id, 'to', a.delegate, 'until', a.until))) \
    FROM capacity.absences a WHERE a.kind = 'away' AND a.user_id = r.commercial_owner";

/// A year of ended absences of other people, each ten days long: `away` rows whose last
/// day is before `$1` (today) …
const HISTORY_AWAY: &str =
    "INSERT INTO capacity.absences (id, kind, user_id, delegate, until, recorded_at) \
    SELECT gen_random_uuid(), 'away', 'UHX' || j, 'UDL0000', $1::date - 2 - (j % 365)::int, \
    $2 - interval '1 day' * (12 + (j % 365)) FROM generate_series(1, $3) AS j";

/// … each ended by its `back` row.
const HISTORY_BACK: &str =
    "INSERT INTO capacity.absences (id, kind, user_id, ends, ended_by, recorded_at) \
    SELECT gen_random_uuid(), 'back', user_id, id, 'scheduler', recorded_at + interval '10 days' \
    FROM capacity.absences WHERE kind = 'away' AND user_id LIKE 'UHX%'";

/// One size's figures.
struct Figures {
    dq: Duration,
    rq: Duration,
    dq0: Duration,
    rq0: Duration,
    /// The deadline job with nothing due: `sweep_deadlines` then `sweep_absences`.
    deadline_job_idle: Duration,
    /// The reminder job with nothing due: `sweep_reminders` then `sweep_reviews`.
    reminder_job_idle: Duration,
    ds: Duration,
    rs: Duration,
    /// `sweep_absences` ending `ENDING` absences: its time and the decisions it returned.
    ending: Option<(Duration, usize)>,
    /// The owner sweep's claim (`store::owner_checks::claim_due`) of one run's owners.
    claim: Duration,
}

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let _ = rustls::crypto::ring::default_provider().install_default();
    let admin_url = std::env::var("DATABASE_URL")
        .unwrap_or_else(|_| "postgres://postgres@127.0.0.1:5432/postgres".into());
    let sizes: Vec<i64> = match std::env::var("BENCH_SIZES") {
        Ok(v) => v
            .split(',')
            .map(|x| x.trim().replace('_', "").parse())
            .collect::<Result<_, _>>()
            .context("BENCH_SIZES: comma-separated numbers of open requests")?,
        Err(_) => SIZES.to_vec(),
    };
    let admin = store::connect(&admin_url).await?;
    // Wednesday 9 December 2026, 10:00 New York: inside working hours.
    let now: DateTime<Utc> = "2026-12-09T15:00:00Z".parse()?;
    let parts = std::env::var("BENCH_PARTS").unwrap_or_else(|_| "sizes,batch".into());
    if parts.split(',').any(|p| p.trim() == "batch") {
        batch_part(&admin, &admin_url, now).await?;
    }
    if !parts.split(',').any(|p| p.trim() == "sizes") {
        return Ok(());
    }
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
    let mut pairs = Vec::new();
    let largest = sizes.iter().copied().max().unwrap_or(0);
    for &n in &sizes {
        let mut both = Vec::new();
        for away in [false, true] {
            let name = format!(
                "capacity_bench_{n}_{}_{}",
                u8::from(away),
                std::process::id()
            );
            sqlx::query(sqlx::AssertSqlSafe(format!("CREATE DATABASE {name}")))
                .execute(&admin)
                .await
                .context("creating the bench database")?;
            let explain = (n == largest).then_some(&mut plans);
            let result = run_size(&admin_url, &name, n, now, away, explain).await;
            sqlx::query(sqlx::AssertSqlSafe(format!(
                "DROP DATABASE IF EXISTS {name} WITH (FORCE)"
            )))
            .execute(&admin)
            .await?;
            let f = result?;
            if !away {
                println!(
                    "{n:>8} {:>5} | {:>11} {:>11} | {:>11} {:>11} | {:>13} {:>13}",
                    n / 100,
                    ms(f.dq),
                    ms(f.rq),
                    ms(f.dq0),
                    ms(f.rq0),
                    ms(f.ds),
                    ms(f.rs)
                );
            }
            both.push(f);
        }
        pairs.push((n, both));
    }
    println!(
        "\nWith {AWAY} active absences (half the owners; {ENDING} end today) and {HISTORY} ended ones:"
    );
    println!(
        "{:>8} | {:>25} | {:>25} | {:>23} | {:>23} | {:>20}",
        "open",
        "deadline job, none due",
        "reminder job, none due",
        "deadline sweep, 1% due",
        "reminder sweep, 1% due",
        "10 absences ending"
    );
    println!(
        "{:>8} | {:>9} {:>9} {:>5} | {:>9} {:>9} {:>5} | {:>11} {:>11} | {:>11} {:>11} | {:>20}",
        "",
        "without",
        "with",
        "x",
        "without",
        "with",
        "x",
        "without",
        "with",
        "without",
        "with",
        "(all returns)"
    );
    for (n, both) in &pairs {
        let (a, b) = (&both[0], &both[1]);
        let ratio = |x: Duration, y: Duration| format!("{:.2}", y.as_secs_f64() / x.as_secs_f64());
        let ending = b
            .ending
            .map(|(d, r)| format!("{} ({r})", ms(d)))
            .unwrap_or_default();
        println!(
            "{n:>8} | {:>9} {:>9} {:>5} | {:>9} {:>9} {:>5} | {:>11} {:>11} | {:>11} {:>11} | {:>20}",
            ms(a.deadline_job_idle),
            ms(b.deadline_job_idle),
            ratio(a.deadline_job_idle, b.deadline_job_idle),
            ms(a.reminder_job_idle),
            ms(b.reminder_job_idle),
            ratio(a.reminder_job_idle, b.reminder_job_idle),
            ms(a.ds),
            ms(b.ds),
            ms(a.rs),
            ms(b.rs),
            ending
        );
    }
    println!(
        "\nThe owner sweep's claim of {OWNER_LOOKUPS_PER_RUN} owners (of 2,000), median of {RUNS}:"
    );
    for (n, both) in &pairs {
        println!("{n:>8} open: {}", ms(both[1].claim));
    }
    println!("\n{plans}");
    Ok(())
}

async fn run_size(
    admin_url: &str,
    name: &str,
    n: i64,
    now: DateTime<Utc>,
    away: bool,
    plans: Option<&mut String>,
) -> anyhow::Result<Figures> {
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
        .bind(100_i64)
        .execute(&pool)
        .await
        .context("bulk load")?;
    let sweeper = sweeper(&pool)?;
    let today = sweeper.state.settings.policy.calendar.local_date(now);
    if away {
        load_absences(&pool, today, now).await?;
    }
    sqlx::query("ANALYZE capacity.capacity_requests")
        .execute(&pool)
        .await?;
    sqlx::query("ANALYZE capacity.absences, capacity.absences_active")
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
    // What each job does every minute when nothing is due.
    let deadline_job_idle = median(RUNS, || async {
        let fired =
            sweep_deadlines(&sweeper, before).await? + sweep_absences(&sweeper, before).await?;
        assert_eq!(fired, 0, "nothing is due the day before");
        Ok(())
    })
    .await?;
    let reminder_job_idle = median(RUNS, || async {
        let fired =
            sweep_reminders(&sweeper, before).await? + sweep_reviews(&sweeper, before).await?;
        assert_eq!(fired, 0, "nothing is due the day before");
        Ok(())
    })
    .await?;

    // The owner sweep's claim, each run claiming the next owners not yet looked up (at
    // 1,000 open requests the 1,001 owners run out after 17 runs: later claims find none).
    let claim = median(RUNS, || async {
        let due_before = now - chrono::Duration::hours(OWNER_RECHECK_HOURS);
        owner_checks::claim_due(&pool, now, due_before, OWNER_LOOKUPS_PER_RUN)
            .await
            .map(|_| ())
    })
    .await?;

    if let Some(plans) = plans {
        plans.push_str(&explain(&pool, now, n, away, today).await?);
    }
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
    let ending = if away {
        let t = Instant::now();
        let returned = sweep_absences(&sweeper, now).await?;
        let took = t.elapsed();
        let ended: i64 = sqlx::query_scalar(
            "SELECT count(*) FROM capacity.absences WHERE kind = 'back' AND ended_by = 'scheduler' \
             AND user_id LIKE 'UAE%'",
        )
        .fetch_one(&pool)
        .await?;
        let open: i64 = sqlx::query_scalar(
            "SELECT count(*) FROM capacity.capacity_requests \
             WHERE jsonb_array_length(attention -> 'delegations') > 0 \
               AND substr(commercial_owner, 4)::int < $1",
        )
        .bind(ENDING as i32)
        .fetch_one(&pool)
        .await?;
        anyhow::ensure!(
            ended == ENDING && open == 0 && returned > 0,
            "expected {ENDING} absences ended and none of their decisions still delegated; \
             {ended} ended, {open} still delegated"
        );
        Some((took, returned))
    } else {
        None
    };
    pool.close().await;
    Ok(Figures {
        dq,
        rq,
        dq0,
        rq0,
        deadline_job_idle,
        reminder_job_idle,
        ds,
        rs,
        ending,
        claim,
    })
}

async fn load_absences(
    pool: &PgPool,
    today: chrono::NaiveDate,
    now: DateTime<Utc>,
) -> anyhow::Result<()> {
    sqlx::query(HISTORY_AWAY)
        .bind(today)
        .bind(now)
        .bind(HISTORY)
        .execute(pool)
        .await
        .context("ended absences")?;
    sqlx::query(HISTORY_BACK)
        .execute(pool)
        .await
        .context("their returns")?;
    sqlx::query(AWAY_ROWS)
        .bind(ENDING)
        .bind(today)
        .bind(now)
        .bind(AWAY)
        .execute(pool)
        .await
        .context("active absences")?;
    sqlx::query(DELEGATE)
        .execute(pool)
        .await
        .context("delegations")?;
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

/// The plans of the two sweep queries, taken before the sweeps so they find the due rows;
/// with absences, the absence sweep's query on an idle day instead, and the returns' lookup.
async fn explain(
    pool: &PgPool,
    now: DateTime<Utc>,
    n: i64,
    away: bool,
    today: chrono::NaiveDate,
) -> anyhow::Result<String> {
    let at = now.to_rfc3339();
    let mut queries = Vec::new();
    if !away {
        for (what, column) in [("deadline", "deadline_at"), ("reminder", "reminder_due_at")] {
            queries.push((
                format!("{what} sweep query at {n} open, 1% due"),
                format!(
                    "SELECT * FROM capacity.capacity_requests \
                     WHERE {column} IS NOT NULL AND {column} <= '{at}' ORDER BY {column} LIMIT {BATCH}"
                ),
            ));
        }
    } else {
        let yesterday = today - chrono::Duration::days(1);
        queries.push((
            format!("absence sweep query (`store::absences::due_to_end`), {AWAY} active, {HISTORY} ended, none due"),
            format!("{DUE_TO_END} LIMIT {BATCH}").replace("$1", &format!("'{yesterday}'")),
        ));
        queries.push((
            format!(
                "requests delegated from one absent owner (`requests_delegated_from`), {n} open"
            ),
            "SELECT id FROM capacity.capacity_requests WHERE attention -> 'delegations' @> \
             jsonb_build_array(jsonb_build_object('from', 'UAE0001'::text)) ORDER BY number"
                .to_string(),
        ));
    }
    let mut out = String::new();
    for (what, sql) in queries {
        let plan: Vec<String> = sqlx::query_scalar(sqlx::AssertSqlSafe(format!(
            "EXPLAIN (ANALYZE, BUFFERS) {sql}"
        )))
        .fetch_all(pool)
        .await?;
        out.push_str(&format!("{what}:\n"));
        for line in plan {
            out.push_str(&format!("  {line}\n"));
        }
    }
    Ok(out)
}

/// `store::absences::due_to_end`'s query, `$1` being today (kept in step with it by hand).
const DUE_TO_END: &str = "SELECT a.id, a.user_id, a.delegate, a.until, a.recorded_at \
     FROM capacity.absences_active o \
     JOIN capacity.absences a ON a.id = o.absence \
     WHERE a.kind = 'away' AND o.until < $1 ORDER BY o.until";

/// Due sweeps recorded one append at a time (`PARALLEL` in flight, the path before batching:
/// `Sweeper::batched = false`) and a page per transaction, each on a fresh, identical
/// database: 100,000 open requests with 1,000 past their deadline and 1,000 (then 10,000)
/// due a reminder.
async fn batch_part(admin: &PgPool, admin_url: &str, now: DateTime<Utc>) -> anyhow::Result<()> {
    println!("Due sweeps, one append at a time vs one transaction per page of {BATCH}:");
    println!(
        "{:>8} {:>8} {:>9} | {:>14} {:>14} | {:>14} {:>14}",
        "open", "timeouts", "reminders", "deadline: each", "batched", "reminder: each", "batched"
    );
    let n = 100_000_i64;
    for reminder_every in [100_i64, 10] {
        let mut figures = Vec::new();
        for batched in [false, true] {
            let name = format!(
                "capacity_bench_batch_{reminder_every}_{}_{}",
                u8::from(batched),
                std::process::id()
            );
            sqlx::query(sqlx::AssertSqlSafe(format!("CREATE DATABASE {name}")))
                .execute(admin)
                .await?;
            let result = due_sweeps(admin_url, &name, n, reminder_every, now, batched).await;
            sqlx::query(sqlx::AssertSqlSafe(format!(
                "DROP DATABASE IF EXISTS {name} WITH (FORCE)"
            )))
            .execute(admin)
            .await?;
            figures.push(result?);
        }
        let (each, batch) = (&figures[0], &figures[1]);
        println!(
            "{n:>8} {:>8} {:>9} | {:>14} {:>14} | {:>14} {:>14}",
            n / 100,
            n / reminder_every,
            ms(each.0),
            ms(batch.0),
            ms(each.1),
            ms(batch.1)
        );
    }
    println!();
    Ok(())
}

async fn due_sweeps(
    admin_url: &str,
    name: &str,
    n: i64,
    reminder_every: i64,
    now: DateTime<Utc>,
    batched: bool,
) -> anyhow::Result<(Duration, Duration)> {
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
        .bind(reminder_every)
        .execute(&pool)
        .await
        .context("bulk load")?;
    sqlx::query("ANALYZE capacity.capacity_requests")
        .execute(&pool)
        .await?;
    let mut sweeper = sweeper(&pool)?;
    sweeper.batched = batched;
    let t = Instant::now();
    let timeouts = sweep_deadlines(&sweeper, now).await?;
    let ds = t.elapsed();
    let t = Instant::now();
    let reminders = sweep_reminders(&sweeper, now).await?;
    let rs = t.elapsed();
    let events: i64 = sqlx::query_scalar("SELECT count(*) FROM capacity.capacity_request_events")
        .fetch_one(&pool)
        .await?;
    anyhow::ensure!(
        timeouts as i64 == n / 100
            && reminders as i64 == n / reminder_every
            && events == n / 100 + n / reminder_every,
        "expected {} timeouts and {} reminders, each once; recorded {timeouts} and {reminders}, {events} events",
        n / 100,
        n / reminder_every
    );
    pool.close().await;
    Ok((ds, rs))
}
