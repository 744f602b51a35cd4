//! Button clicks under load: ack latency at fixed rates, events per second at saturation,
//! the CPU a click costs, start-up time, and the real binary's memory before and after
//! 100,000 events. Everything runs against the project's Slack emulator (over its real
//! websocket and HTTP) and the Postgres at `DATABASE_URL`.
//!
//! `cargo bench --bench clicks` (needs a Postgres that lets the user create databases;
//! `DATABASE_URL`, default `postgres://postgres@127.0.0.1:5432/postgres`). Every part gets
//! a fresh database, dropped afterwards. The output is Markdown for BENCHMARKS.md.
//!
//! Knobs (environment):
//! - `BENCH_SECONDS` (60): length of each paced run.
//! - `BENCH_RATES` (`50:2,200:2,500:4`): clicks per second and Socket Mode connections.
//! - `BENCH_SATURATION_SECONDS` (15): length of each saturation run.
//! - `BENCH_HISTORY_EVENTS` (100000): events driven through the real binary for the memory part
//!   (0: only start-up, idle memory and the approvals, in a couple of minutes).
//! - `BENCH_BINARIES` (`this build=this`): `label=path,…`, the binaries the memory part runs in
//!   turn (`this` is this build's), so a base build and this one are measured in one run.
//! - `BENCH_ATTACH` (unset): a profiler command attached (`-p <pid>` appended) to the real
//!   binary while it takes the approvals; `{label}` becomes the binary's label.
//! - `BENCH_PARTS` (`floor,startup,rates,saturation,memory`; `home` on demand): which parts run.
//! - `BENCH_HOME` (`200:30:2`): for the `home` part, clicks per second, seconds per run, and
//!   rounds (each round runs with no Home open, then with 200 open).
//! - `BENCH_VACUUM_SECONDS` (60): how often the outbox is vacuumed during a part (see
//!   `vacuum_ticker`; 0 = never).
//! - `BENCH_NO_PING` (unset): when set, the in-process daemon's pool skips sqlx's
//!   ping-before-acquire (`store::connect` pings on every acquire), to measure what that costs.
//!   (TLS to Postgres follows `DATABASE_URL`: add `?sslmode=disable` to measure without it.)
//!
//! Clicks are legal ones: requests are created straight through `store::events::append`,
//! their root messages posted to the emulator as the outbox would post them, and each click
//! is a crafted `block_actions` envelope (shaped like Slack's, with the root's blocks in it)
//! carrying a real button value, sent with `send_raw_envelope` and paced by a tokio interval.
//! The emulator, the load generator and the daemon (socket client, handlers, outbox worker)
//! share this process and its two cores; the CPU figures say so.

use std::collections::BTreeMap;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use anyhow::{bail, Context as _};
use capacity_bot::app::{Daemon, RunOptions};
use capacity_bot::clock::{SharedClock, SystemClock};
use capacity_bot::config::Settings;
use capacity_bot::domain::testkit::{
    actor, submission, uid, ADMIN, AE, APPROVER, BOTH, FINANCE, INFRA, INFRA2, REQUESTER,
};
use capacity_bot::domain::{Command, RequestId, RequestNumber};
use capacity_bot::slack::api::SlackApi;
use capacity_bot::slack::socket::SocketConfig;
use capacity_bot::store::{self, Append, Target};
use chrono::Utc;
use futures_util::stream::{self, StreamExt};
use secrecy::SecretString;
use serde_json::{json, Value};
use slack_emulator::{Emulator, EmulatorConfig};
use sqlx::PgPool;
use tokio::task::JoinSet;
use tokio::time::MissedTickBehavior;
use uuid::Uuid;

#[path = "common/click.rs"]
mod click;

const CHANNEL: &str = "C0REQUESTS";
/// Slack gives up on an ack after 3 s: an ack later than this is a missing one.
const SLACK_ACK: Duration = Duration::from_secs(3);
/// Requests created and posted at once while seeding.
const SEED_CONCURRENCY: usize = 16;

fn env_or<T: std::str::FromStr>(name: &str, default: T) -> T {
    std::env::var(name)
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(default)
}

struct Knobs {
    seconds: u64,
    rates: Vec<(u32, usize)>,
    saturation_seconds: u64,
    history_events: u64,
    parts: Vec<String>,
    /// The `home` part: clicks per second, seconds per run, rounds.
    home: (u32, u64, usize),
}

impl Knobs {
    fn from_env() -> anyhow::Result<Knobs> {
        let rates = std::env::var("BENCH_RATES").unwrap_or_else(|_| "50:2,200:2,500:4".into());
        let rates = rates
            .split(',')
            .map(|r| {
                let (rate, conns) = r.split_once(':').unwrap_or((r, "2"));
                Ok((rate.trim().parse()?, conns.trim().parse()?))
            })
            .collect::<anyhow::Result<Vec<_>>>()
            .context("BENCH_RATES: rate:connections,…")?;
        let parts = std::env::var("BENCH_PARTS")
            .unwrap_or_else(|_| "floor,startup,rates,saturation,memory".into());
        Ok(Knobs {
            seconds: env_or("BENCH_SECONDS", 60),
            rates,
            saturation_seconds: env_or("BENCH_SATURATION_SECONDS", 15),
            history_events: env_or("BENCH_HISTORY_EVENTS", 100_000),
            parts: parts.split(',').map(|p| p.trim().to_string()).collect(),
            home: {
                let spec = std::env::var("BENCH_HOME").unwrap_or_else(|_| "200:30:2".into());
                let mut it = spec.split(':').map(str::trim);
                let mut next = |what| {
                    it.next()
                        .and_then(|v| v.parse::<u64>().ok())
                        .with_context(|| format!("BENCH_HOME: rate:seconds:rounds, {what}"))
                };
                (
                    next("rate")? as u32,
                    next("seconds")?,
                    next("rounds")? as usize,
                )
            },
        })
    }

    fn runs(&self, part: &str) -> bool {
        self.parts.iter().any(|p| p == part)
    }
}

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let _ = rustls::crypto::ring::default_provider().install_default();
    let knobs = Knobs::from_env()?;
    let admin_url = std::env::var("DATABASE_URL")
        .unwrap_or_else(|_| "postgres://postgres@127.0.0.1:5432/postgres".into());
    let admin = store::connect(&admin_url).await?;
    let version: String = sqlx::query_scalar("SHOW server_version")
        .fetch_one(&admin)
        .await?;
    println!(
        "capacity-bot clicks bench: {} CPU(s), Postgres {version}, BENCH_SECONDS={}\n",
        std::thread::available_parallelism().map_or(0, |n| n.get()),
        knobs.seconds
    );
    let bench = Bench { admin, admin_url };
    if knobs.runs("floor") {
        bench.floor().await?;
    }
    if knobs.runs("startup") {
        bench.startup().await?;
    }
    if knobs.runs("rates") {
        bench.rates(&knobs).await?;
    }
    if knobs.runs("saturation") {
        bench.saturation(&knobs).await?;
    }
    if knobs.runs("memory") {
        bench.memory(&knobs).await?;
    }
    if knobs.runs("home") {
        bench.home(&knobs).await?;
    }
    Ok(())
}

struct Bench {
    admin: PgPool,
    admin_url: String,
}

/// A scratch database, dropped when the part is done.
struct Scratch {
    name: String,
    url: String,
    pool: PgPool,
}

impl Bench {
    async fn scratch(&self, part: &str) -> anyhow::Result<Scratch> {
        let name = format!("capacity_bench_{part}_{}", std::process::id());
        sqlx::query(sqlx::AssertSqlSafe(format!(
            "DROP DATABASE IF EXISTS {name} WITH (FORCE)"
        )))
        .execute(&self.admin)
        .await?;
        sqlx::query(sqlx::AssertSqlSafe(format!("CREATE DATABASE {name}")))
            .execute(&self.admin)
            .await
            .context("creating the bench database")?;
        let mut url = url::Url::parse(&self.admin_url)?;
        url.set_path(&name);
        let pool = if std::env::var_os("BENCH_NO_PING").is_some() {
            sqlx::postgres::PgPoolOptions::new()
                .max_connections(10)
                .acquire_timeout(Duration::from_secs(2))
                .test_before_acquire(false)
                .connect(url.as_str())
                .await?
        } else {
            store::connect(url.as_str()).await?
        };
        Ok(Scratch {
            name,
            url: url.to_string(),
            pool,
        })
    }

    async fn drop_scratch(&self, s: Scratch) -> anyhow::Result<()> {
        s.pool.close().await;
        sqlx::query(sqlx::AssertSqlSafe(format!(
            "DROP DATABASE IF EXISTS {} WITH (FORCE)",
            s.name
        )))
        .execute(&self.admin)
        .await?;
        Ok(())
    }
}

// ---------------------------------------------------------------------------------------
// Measuring

/// CPU seconds (user + system, every thread) of `/proc/<pid>` (`self` for this process).
fn cpu_seconds(pid: &str) -> f64 {
    let Ok(stat) = std::fs::read_to_string(format!("/proc/{pid}/stat")) else {
        return f64::NAN;
    };
    // Fields after the command name (which may hold spaces): state is the first, utime the
    // 12th and stime the 13th.
    let rest = stat.rsplit_once(')').map_or("", |(_, r)| r);
    let fields: Vec<&str> = rest.split_whitespace().collect();
    let ticks = |i: usize| fields.get(i).and_then(|f| f.parse::<f64>().ok());
    match (ticks(11), ticks(12)) {
        (Some(u), Some(s)) => (u + s) / clock_ticks(),
        _ => f64::NAN,
    }
}

fn clock_ticks() -> f64 {
    std::process::Command::new("getconf")
        .arg("CLK_TCK")
        .output()
        .ok()
        .and_then(|o| String::from_utf8(o.stdout).ok())
        .and_then(|s| s.trim().parse().ok())
        .unwrap_or(100.0)
}

/// `VmRSS` and `VmHWM` of `/proc/<pid>/status`, in MiB.
fn memory_mib(pid: &str) -> (f64, f64) {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).unwrap_or_default();
    let field = |name: &str| {
        status
            .lines()
            .find(|l| l.starts_with(name))
            .and_then(|l| l.split_whitespace().nth(1))
            .and_then(|kb| kb.parse::<f64>().ok())
            .map_or(f64::NAN, |kb| kb / 1024.0)
    };
    (field("VmRSS:"), field("VmHWM:"))
}

fn ms(d: Duration) -> String {
    format!("{:.2} ms", d.as_secs_f64() * 1000.0)
}

/// p50, p99 and max of `samples` (sorted in place).
fn quantiles(samples: &mut [Duration]) -> (Duration, Duration, Duration) {
    if samples.is_empty() {
        return (Duration::ZERO, Duration::ZERO, Duration::ZERO);
    }
    samples.sort_unstable();
    let at =
        |q: f64| samples[((samples.len() as f64 * q).ceil() as usize).clamp(1, samples.len()) - 1];
    (at(0.50), at(0.99), samples[samples.len() - 1])
}

/// The daemon's own ack-latency histogram (received → ack queued) as bucket → count.
fn ack_histogram(daemon: &Daemon) -> BTreeMap<String, u64> {
    daemon
        .state
        .metrics
        .render()
        .lines()
        .filter(|l| l.starts_with("capacity_bot_ack_latency_seconds_bucket"))
        .filter_map(|l| {
            let le = l.split("le=\"").nth(1)?.split('"').next()?.to_string();
            let n = l.rsplit(' ').next()?.parse().ok()?;
            Some((le, n))
        })
        .collect()
}

/// The buckets (upper bounds) holding the p50 and p99 of the clicks between two snapshots.
fn histogram_quantiles(
    before: &BTreeMap<String, u64>,
    after: &BTreeMap<String, u64>,
) -> (String, String) {
    let mut buckets: Vec<(f64, String, u64)> = after
        .iter()
        .map(|(le, n)| {
            let bound = if le == "+Inf" {
                f64::INFINITY
            } else {
                le.parse().unwrap_or(f64::INFINITY)
            };
            (bound, le.clone(), n - before.get(le).copied().unwrap_or(0))
        })
        .collect();
    buckets.sort_by(|a, b| a.0.total_cmp(&b.0));
    let total = buckets.last().map_or(0, |b| b.2);
    let find = |q: f64| {
        let want = (total as f64 * q).ceil() as u64;
        buckets
            .iter()
            .find(|b| b.2 >= want)
            .map_or("-".to_string(), |b| match b.0 {
                x if x.is_infinite() => "> 8 s".to_string(),
                x => format!("≤ {:.2} ms", x * 1000.0),
            })
    };
    (find(0.50), find(0.99))
}

// ---------------------------------------------------------------------------------------
// The world: an emulator, settings, seeded requests, crafted clicks

fn emulator_config() -> EmulatorConfig {
    let mut c = EmulatorConfig::default()
        .with_channel(CHANNEL, "capacity-requests", true)
        .with_usergroup("S0INFRA", [INFRA, INFRA2])
        .with_usergroup("S0SALESLEAD", [APPROVER, BOTH]);
    for (id, name) in [
        (REQUESTER, "rita"),
        (AE, "alex"),
        (APPROVER, "ana"),
        (FINANCE, "fin"),
        (BOTH, "bo"),
        (INFRA, "ivan"),
        (INFRA2, "ines"),
        (ADMIN, "adam"),
    ] {
        c = c.with_user(id, name, name);
    }
    c
}

fn config_toml(team: &str) -> String {
    format!(
        r#"
[slack]
requests_channel = "{CHANNEL}"
team_id = "{team}"

[roles]
commercial_approvers = ["S0SALESLEAD"]
finance = ["{FINANCE}", "{BOTH}"]
infra = ["S0INFRA"]
admins = ["{ADMIN}"]

[calendar]
time_zone = "America/New_York"
working_hours = "09:00-17:00"
holidays = ["2026-12-25", "2027-01-01"]

[http]
listen = "127.0.0.1:0"
"#
    )
}

fn settings(emu: &Emulator, database_url: &str) -> anyhow::Result<Settings> {
    let vars = [
        ("SLACK_BOT_TOKEN", emu.bot_token().to_string()),
        ("SLACK_APP_TOKEN", emu.app_token().to_string()),
        ("SLACK_API_URL", emu.api_url()),
        ("CAPACITY_SIGNAL_SECRET", "bench-signal-secret".to_string()),
        ("DATABASE_URL", database_url.to_string()),
    ];
    let env = move |k: &str| vars.iter().find(|(n, _)| *n == k).map(|(_, v)| v.clone());
    Settings::from_toml_str(&config_toml(emu.team_id()), &env).map_err(|e| anyhow::anyhow!("{e}"))
}

fn options(connections: usize) -> RunOptions {
    RunOptions {
        socket: SocketConfig {
            connections,
            ..SocketConfig::default()
        },
        http_listen: Some("127.0.0.1:0".parse().expect("an address")),
        ..RunOptions::default()
    }
}

/// A request as the clicks need it.
#[derive(Clone)]
struct Seeded {
    id: RequestId,
    number: RequestNumber,
    version: i32,
    ts: String,
}

/// Creates `n` requests through the store (from REQUESTER, AE named as the commercial owner,
/// below the finance threshold), optionally approved by AE so they wait for technical review,
/// and posts each root message to the emulator as the outbox would. Their outbox rows are
/// then marked delivered: the messages went out before the measurement starts.
async fn seed(
    pool: &PgPool,
    emu: &Emulator,
    settings: &Settings,
    n: usize,
    approved: bool,
) -> anyhow::Result<(Vec<Seeded>, Value)> {
    seed_for(pool, emu, settings, n, approved, &[REQUESTER.to_string()]).await
}

/// [`seed`], request `i` asked for by `requesters[i % len]`.
async fn seed_for(
    pool: &PgPool,
    emu: &Emulator,
    settings: &Settings,
    n: usize,
    approved: bool,
    requesters: &[String],
) -> anyhow::Result<(Vec<Seeded>, Value)> {
    let api = SlackApi::new(
        &emu.api_url(),
        &SecretString::from(emu.bot_token().to_string()),
        None,
    )?;
    let created: Vec<anyhow::Result<(capacity_bot::domain::Request, Option<Value>)>> =
        stream::iter(0..n)
            .map(|i| {
                let api = api.clone();
                async move {
                    let id = RequestId(Uuid::now_v7());
                    let now = Utc::now();
                    let mut appended = store::events::append(
                        pool,
                        &Append {
                            target: Target::New(id),
                            commands: vec![
                                Command::Submitted {
                                    number: RequestNumber(0),
                                    details: submission(10_000),
                                },
                                Command::CommercialOwnerAssigned { owner: uid(AE) },
                            ],
                            actor: actor(&requesters[i % requesters.len()]),
                            policy: settings.policy.clone(),
                            now,
                            expected_version: None,
                            idempotency_key: format!("seed:{id}"),
                            envelope_id: None,
                            linear: None,
                        },
                    )
                    .await?;
                    if approved {
                        appended = store::events::append(
                            pool,
                            &Append {
                                target: Target::Existing(id),
                                commands: vec![Command::CommercialApproved],
                                actor: actor(AE),
                                policy: settings.policy.clone(),
                                now,
                                expected_version: Some(appended.request.version),
                                idempotency_key: format!("seed-approve:{id}"),
                                envelope_id: None,
                                linear: None,
                            },
                        )
                        .await?;
                    }
                    let req = appended.request;
                    let content = capacity_bot::render::root::root_message(
                        &req,
                        &capacity_bot::domain::Links::default(),
                        &settings.policy,
                        &settings.roles,
                        now,
                    );
                    let blocks = (i == 0).then(|| json!(content.blocks));
                    let ts = api.post_message(CHANNEL, content, None).await?;
                    store::requests::set_root_message(pool, req.id, CHANNEL, &ts, None).await?;
                    Ok((req, blocks))
                }
            })
            .buffer_unordered(SEED_CONCURRENCY)
            .collect()
            .await;
    sqlx::query(
        "UPDATE capacity.outbox SET status = 'delivered', delivered_at = now() \
         WHERE status = 'pending'",
    )
    .execute(pool)
    .await?;
    let mut seeded = Vec::with_capacity(n);
    let mut sample_blocks = Value::Null;
    for c in created {
        let (req, blocks) = c?;
        if let Some(b) = blocks {
            sample_blocks = b;
        }
        let links = store::requests::links(pool, req.id).await?;
        seeded.push(Seeded {
            id: req.id,
            number: req.number,
            version: req.version,
            ts: links.slack_ts.unwrap_or_default(),
        });
    }
    seeded.sort_by_key(|s| s.number.0);
    // A daemon meets a database whose statistics describe its tables. Freshly seeded, the
    // planner still thinks they are empty, and the plans the daemon's connections prepare
    // and cache from that (a sequential scan of the event log for every click) would be
    // measured instead of the daemon.
    sqlx::query("VACUUM ANALYZE").execute(pool).await?;
    Ok((seeded, sample_blocks))
}

/// `user` clicks `action_id` on `req`'s root message.
fn click_frame(
    emu: &Emulator,
    user: &str,
    req: &Seeded,
    action_id: &str,
    blocks: &Value,
) -> String {
    let root = click::Root {
        channel: CHANNEL,
        ts: &req.ts,
        id: req.id,
        number: req.number,
        version: req.version,
    };
    click::frame(emu, user, &root, action_id, "Approve", blocks)
}

async fn count_events(pool: &PgPool, kind: &str) -> anyhow::Result<i64> {
    Ok(
        sqlx::query_scalar("SELECT count(*) FROM capacity.capacity_request_events WHERE kind = $1")
            .bind(kind)
            .fetch_one(pool)
            .await?,
    )
}

async fn pending_outbox(pool: &PgPool) -> anyhow::Result<i64> {
    Ok(
        sqlx::query_scalar("SELECT count(*) FROM capacity.outbox WHERE status = 'pending'")
            .fetch_one(pool)
            .await?,
    )
}

/// Waits (this is a benchmark: polling ten times a second is fine) until the outbox is empty.
/// Rows still pending 5 s in are described once (why they wait), so a slow drain says why.
async fn outbox_drained(pool: &PgPool, within: Duration) -> anyhow::Result<Duration> {
    let start = Instant::now();
    let mut described = false;
    while pending_outbox(pool).await? > 0 {
        if !described && start.elapsed() > Duration::from_secs(5) {
            described = true;
            let waiting: Vec<(i32, Option<String>, bool, bool, f64, i64)> = sqlx::query_as(
                "SELECT attempts, left(last_error, 120), coalesce(claimed_until > now(), false), held_by_outage, \
                 round(extract(epoch FROM max(next_attempt_at) - now())::numeric, 1)::float8, count(*) \
                 FROM capacity.outbox WHERE status = 'pending' GROUP BY 1, 2, 3, 4 ORDER BY 6 DESC LIMIT 8",
            )
            .fetch_all(pool)
            .await?;
            for (attempts, error, leased, held, next_in, n) in waiting {
                eprintln!(
                    "outbox rows still pending 5 s into the drain: {n} (attempts {attempts}, leased {leased}, held by an outage {held}, next attempt within {next_in} s, last error {error:?})"
                );
            }
        }
        if start.elapsed() > within {
            bail!("the outbox still has rows after {within:?}");
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    Ok(start.elapsed())
}

async fn start_daemon(
    emu: &Emulator,
    scratch: &Scratch,
    connections: usize,
) -> anyhow::Result<(Daemon, Duration)> {
    let clock: SharedClock = Arc::new(SystemClock);
    let settings = settings(emu, &scratch.url)?;
    let started = Instant::now();
    let daemon = Daemon::start(settings, scratch.pool.clone(), clock, options(connections)).await?;
    emu.wait_connected(connections, Duration::from_secs(10))
        .await
        .map_err(|e| anyhow::anyhow!("{e}"))?;
    Ok((daemon, started.elapsed()))
}

// ---------------------------------------------------------------------------------------
// Parts

impl Bench {
    /// Postgres's own commit latency: one-row INSERTs, each its own transaction, one after
    /// another on one connection; then the same for our whole click append (no Slack).
    async fn floor(&self) -> anyhow::Result<()> {
        let s = self.scratch("floor").await?;
        sqlx::query("CREATE TABLE floor (id bigserial PRIMARY KEY, v text NOT NULL)")
            .execute(&s.pool)
            .await?;
        let mut conn = s.pool.acquire().await?;
        let mut inserts = Vec::new();
        let cpu0 = cpu_seconds("self");
        for i in 0..3_000 {
            let t = Instant::now();
            sqlx::query("INSERT INTO floor (v) VALUES ($1)")
                .bind(format!("row {i}"))
                .execute(&mut *conn)
                .await?;
            inserts.push(t.elapsed());
        }
        let insert_cpu = (cpu_seconds("self") - cpu0) / inserts.len() as f64;
        drop(conn);
        store::migrate(&s.pool).await?;
        let emu = Emulator::start(emulator_config()).await?;
        let settings = settings(&emu, &s.url)?;
        let (seeded, _) = seed(&s.pool, &emu, &settings, 1_000, false).await?;
        // As the daemon appends: its connection kept from one append to the next.
        let kept = store::Kept::new(&s.pool, store::KEEP);
        let mut appends = Vec::new();
        let cpu0 = cpu_seconds("self");
        for r in &seeded {
            let t = Instant::now();
            store::events::append(
                &kept,
                &Append {
                    target: Target::Existing(r.id),
                    commands: vec![Command::CommercialApproved],
                    actor: actor(AE),
                    policy: settings.policy.clone(),
                    now: Utc::now(),
                    expected_version: Some(r.version),
                    idempotency_key: format!(
                        "click:{}:v{}:commercial_approved:{AE}",
                        r.id, r.version
                    ),
                    envelope_id: None,
                    linear: None,
                },
            )
            .await?;
            appends.push(t.elapsed());
        }
        let append_cpu = (cpu_seconds("self") - cpu0) / seeded.len() as f64;
        let (ip50, ip99, imax) = quantiles(&mut inserts);
        let (ap50, ap99, amax) = quantiles(&mut appends);
        println!("### Floor: Postgres commits on this machine\n");
        println!("| what (sequential, one connection) | n | p50 | p99 | max | client CPU each |");
        println!("|---|---:|---:|---:|---:|---:|");
        println!(
            "| one-row INSERT, autocommit | {} | {} | {} | {} | {:.3} ms |",
            inserts.len(),
            ms(ip50),
            ms(ip99),
            ms(imax),
            insert_cpu * 1000.0
        );
        println!(
            "| `store::events::append` of one click (no Slack) | {} | {} | {} | {} | {:.3} ms |\n",
            appends.len(),
            ms(ap50),
            ms(ap99),
            ms(amax),
            append_cpu * 1000.0
        );
        emu.shutdown().await;
        self.drop_scratch(s).await
    }

    /// From the `Daemon::start` call to every Socket Mode connection having its `hello`.
    async fn startup(&self) -> anyhow::Result<()> {
        let s = self.scratch("startup").await?;
        store::migrate(&s.pool).await?;
        let mut times = Vec::new();
        for _ in 0..7 {
            let emu = Emulator::start(emulator_config()).await?;
            let (daemon, took) = start_daemon(&emu, &s, 2).await?;
            times.push(took);
            daemon.shutdown().await;
            emu.shutdown().await;
        }
        let (p50, _, max) = quantiles(&mut times);
        println!("### Start-up\n");
        println!("| from | to | runs | median | max |");
        println!("|---|---|---:|---:|---:|");
        println!(
            "| `Daemon::start` called (pool open, migrated) | 2 sockets connected (`hello`) | {} | {} | {} |\n",
            times.len(),
            ms(p50),
            ms(max)
        );
        self.drop_scratch(s).await
    }

    async fn rates(&self, knobs: &Knobs) -> anyhow::Result<()> {
        println!(
            "### Ack latency at a fixed click rate ({} s per rate)\n",
            knobs.seconds
        );
        println!(
            "| clicks/s | sockets | clicks | achieved/s | acked | missing (> 3 s) | recorded | p50 | p99 | max | daemon p50 | daemon p99 | CPU/click | outbox drained after |"
        );
        println!("|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|");
        for &(rate, connections) in &knobs.rates {
            self.rate(rate, connections, knobs.seconds).await?;
        }
        println!(
            "\np50/p99/max: the emulator's record of each click, envelope written to the socket → ack read \
             (includes both websocket hops). Daemon p50/p99: the daemon's own histogram \
             (`capacity_bot_ack_latency_seconds`, envelope read → ack queued), as the bucket bound. \
             CPU/click: this process's user+system CPU from the first click until the outbox had \
             delivered every click's root update and thread reply, divided by clicks; it includes the \
             emulator, the load generator and the outbox worker (all in this process), not Postgres.\n"
        );
        Ok(())
    }

    async fn rate(&self, rate: u32, connections: usize, seconds: u64) -> anyhow::Result<()> {
        let s = self.scratch(&format!("rate{rate}")).await?;
        store::migrate(&s.pool).await?;
        let emu = Arc::new(Emulator::start(emulator_config()).await?);
        let settings = settings(&emu, &s.url)?;
        let warmup = (rate as usize).min(200);
        let n = rate as usize * seconds as usize;
        let (seeded, blocks) = seed(&s.pool, &emu, &settings, n + warmup, false).await?;
        let frames: Vec<String> = seeded
            .iter()
            .map(|r| click_frame(&emu, AE, r, "commercial_approved", &blocks))
            .collect();
        let (daemon, _) = start_daemon(&emu, &s, connections).await?;
        let vacuum = vacuum_ticker(&s.url);

        // Warm-up: the role cache, the pool's connections, the emulator's sockets.
        let (warm, measured) = frames.split_at(warmup);
        paced(&emu, warm, rate).await;
        outbox_drained(&s.pool, Duration::from_secs(120)).await?;

        let hist0 = ack_histogram(&daemon);
        let cpu0 = cpu_seconds("self");
        let wall = Instant::now();
        let results = paced(&emu, measured, rate).await;
        let sent_for = wall.elapsed();
        let drained = outbox_drained(&s.pool, Duration::from_secs(300)).await?;
        let cpu = cpu_seconds("self") - cpu0;
        let hist1 = ack_histogram(&daemon);

        let mut latencies: Vec<Duration> = results.iter().flatten().copied().collect();
        let acked = latencies.len();
        let missing = results.len() - acked;
        let recorded = count_events(&s.pool, "commercial_approved").await? - warmup as i64;
        let (p50, p99, max) = quantiles(&mut latencies);
        let (d50, d99) = histogram_quantiles(&hist0, &hist1);
        println!(
            "| {rate} | {connections} | {} | {:.0} | {acked} | {missing} | {recorded} | {} | {} | {} | {d50} | {d99} | {:.3} ms | {:.1} s |",
            results.len(),
            results.len() as f64 / sent_for.as_secs_f64(),
            ms(p50),
            ms(p99),
            ms(max),
            cpu * 1000.0 / results.len() as f64,
            drained.as_secs_f64()
        );
        vacuum.abort();
        daemon.shutdown().await;
        stop_emulator(emu).await;
        self.drop_scratch(s).await
    }

    /// Closed loops of `technical_owner_assigned` by two infra users taking turns, each at
    /// the request's current version: one loop per request, as fast as acks come back.
    async fn saturation(&self, knobs: &Knobs) -> anyhow::Result<()> {
        println!(
            "### Recorded events per second at saturation ({} s each, 2 sockets)\n",
            knobs.saturation_seconds
        );
        println!("| requests clicked at once | clicks acked | events recorded | events/s | ack p50 | ack p99 | no ack within 3 s | CPU/event |");
        println!("|---:|---:|---:|---:|---:|---:|---:|---:|");
        for requests in [1, 16, 64] {
            let s = self.scratch(&format!("saturation{requests}")).await?;
            store::migrate(&s.pool).await?;
            let emu = Arc::new(Emulator::start(emulator_config()).await?);
            let settings = settings(&emu, &s.url)?;
            let (seeded, blocks) = seed(&s.pool, &emu, &settings, requests, true).await?;
            let (daemon, _) = start_daemon(&emu, &s, 2).await?;
            let vacuum = vacuum_ticker(&s.url);
            let before = count_events(&s.pool, "technical_owner_assigned").await?;
            let cpu0 = cpu_seconds("self");
            let deadline = Instant::now() + Duration::from_secs(knobs.saturation_seconds);
            let started = Instant::now();
            let (latencies, failures) =
                closed_loops(&emu, seeded, requests, &blocks, Stop::At(deadline)).await;
            let elapsed = started.elapsed();
            let cpu = cpu_seconds("self") - cpu0;
            let recorded = count_events(&s.pool, "technical_owner_assigned").await? - before;
            let mut latencies = latencies;
            let (p50, p99, _) = quantiles(&mut latencies);
            println!(
                "| {requests} | {} | {recorded} | {:.0} | {} | {} | {failures} | {:.3} ms |",
                latencies.len(),
                recorded as f64 / elapsed.as_secs_f64(),
                ms(p50),
                ms(p99),
                cpu * 1000.0 / recorded.max(1) as f64
            );
            outbox_drained(&s.pool, Duration::from_secs(300)).await?;
            vacuum.abort();
            daemon.shutdown().await;
            stop_emulator(emu).await;
            self.drop_scratch(s).await?;
        }
        println!(
            "\nEach request's clicks are sequential (the next click carries the version the last one \
             produced), so one request measures one click's full round trip; many requests measure \
             the daemon's throughput. The outbox delivers each event's root update and thread reply \
             to the emulator meanwhile. CPU/event: this process (daemon, emulator, load) per event, \
             during the run only.\n"
        );
        Ok(())
    }

    /// The real binary (each of `BENCH_BINARIES`, one after another, each on a fresh
    /// database): its rows side by side, so a before and an after come from one run.
    async fn memory(&self, knobs: &Knobs) -> anyhow::Result<()> {
        let binaries = binaries()?;
        let mut columns = Vec::new();
        for (label, path) in &binaries {
            columns.push(self.memory_of(knobs, label, path).await?);
        }
        println!("### The real binary (`capacity-bot run`): start-up, memory, its own CPU\n");
        let mut header = String::from("| measure |");
        let mut rule = String::from("|---|");
        for (label, path) in &binaries {
            header.push_str(&format!(" {label} (`{path}`) |"));
            rule.push_str("---|");
        }
        println!("{header}\n{rule}");
        for (i, (measure, _)) in columns[0].iter().enumerate() {
            let mut line = format!("| {measure} |");
            for column in &columns {
                let value = column.get(i).map_or("", |(_, v)| v.as_str());
                line.push_str(&format!(" {value} |"));
            }
            println!("{line}");
        }
        println!();
        Ok(())
    }

    /// One binary: idle, then approvals at a fixed rate on fresh requests (its own CPU per
    /// click), then `history_events` events through it (memory with history; none when 0).
    /// Returns (measure, value) rows.
    async fn memory_of(
        &self,
        knobs: &Knobs,
        label: &str,
        binary: &str,
    ) -> anyhow::Result<Vec<(String, String)>> {
        const RATE: u32 = 100;
        const HISTORY_REQUESTS: usize = 1_000;
        const HISTORY_LOOPS: usize = 32;
        let s = self.scratch("memory").await?;
        store::migrate(&s.pool).await?;
        let emu = Arc::new(Emulator::start(emulator_config()).await?);
        let settings = settings(&emu, &s.url)?;
        let clicks = RATE as usize * knobs.seconds.min(30) as usize;
        let (fresh, blocks) = seed(&s.pool, &emu, &settings, clicks, false).await?;
        let history_requests = if knobs.history_events == 0 {
            0
        } else {
            HISTORY_REQUESTS
        };
        let (history, _) = seed(&s.pool, &emu, &settings, history_requests, true).await?;
        let dir = tempfile::tempdir()?;
        let config = dir.path().join("capacity.toml");
        std::fs::write(&config, config_toml(emu.team_id()))?;
        let spawned = Instant::now();
        let vacuum = vacuum_ticker(&s.url);
        let mut child = tokio::process::Command::new(binary)
            .args(["run", "--config"])
            .arg(&config)
            .env("SLACK_BOT_TOKEN", emu.bot_token())
            .env("SLACK_APP_TOKEN", emu.app_token())
            .env("SLACK_API_URL", emu.api_url())
            .env("DATABASE_URL", &s.url)
            .env("CAPACITY_SIGNAL_SECRET", "bench-signal-secret")
            .env("RUST_LOG", "warn")
            .stdout(std::process::Stdio::null())
            .stderr(std::process::Stdio::null())
            .kill_on_drop(true)
            .spawn()
            .with_context(|| format!("starting {binary} run"))?;
        let pid = child.id().context("the child's pid")?.to_string();
        emu.wait_connected(2, Duration::from_secs(30))
            .await
            .map_err(|e| anyhow::anyhow!("{e}"))?;
        let connected = spawned.elapsed();
        let idle_cpu0 = cpu_seconds(&pid);
        tokio::time::sleep(Duration::from_secs(5)).await;
        let idle_cpu = (cpu_seconds(&pid) - idle_cpu0) / 5.0;
        let (idle_rss, idle_hwm) = memory_mib(&pid);

        // Approvals at a fixed rate, each on a request of its own.
        let frames: Vec<String> = fresh
            .iter()
            .map(|r| click_frame(&emu, AE, r, "commercial_approved", &blocks))
            .collect();
        let calls0 = calls_by_method(&emu);
        let attached = attach(label, &pid)?;
        let cpu0 = cpu_seconds(&pid);
        let results = paced(&emu, &frames, RATE).await;
        outbox_drained(&s.pool, Duration::from_secs(300)).await?;
        let click_cpu = (cpu_seconds(&pid) - cpu0) / frames.len() as f64;
        detach(attached).await;
        let calls = calls_by_method(&emu)
            .into_iter()
            .map(|(method, n)| {
                let per =
                    (n - calls0.get(&method).copied().unwrap_or(0)) as f64 / frames.len() as f64;
                format!("{method} {per:.2}")
            })
            .collect::<Vec<_>>()
            .join(", ");
        let mut latencies: Vec<Duration> = results.iter().flatten().copied().collect();
        let missing = results.len() - latencies.len();
        let (p50, p99, _) = quantiles(&mut latencies);
        let (rate_rss, _) = memory_mib(&pid);

        let mut out: Vec<(String, String)> = Vec::new();
        let mut row = |measure: String, value: String| out.push((measure, value));
        row(
            "process spawned → 2 sockets connected (migrations already applied)".into(),
            ms(connected),
        );
        row(
            "VmRSS idle, 5 s after connecting".into(),
            format!("{idle_rss:.1} MiB (peak so far {idle_hwm:.1} MiB)"),
        );
        row(
            "its CPU while idle (timers, outbox polling, socket pings)".into(),
            format!("{:.2} ms per second", idle_cpu * 1000.0),
        );
        row(
            format!(
                "{} approvals at {RATE}/s, one per request: ack p50 / p99, no ack within 3 s",
                frames.len()
            ),
            format!("{} / {}, {missing}", ms(p50), ms(p99)),
        );
        row(
            "its own CPU per approval (socket, handler, append; outbox: 2 renders, 2 Slack calls, marks)"
                .into(),
            format!("{:.3} ms", click_cpu * 1000.0),
        );
        row("Slack Web API calls per approval".into(), calls);
        row(
            "VmRSS after the approvals, outbox drained".into(),
            format!("{rate_rss:.1} MiB"),
        );

        // History: two infra users taking turns on 1,000 requests, 32 clicks in flight.
        let target = knobs.history_events;
        if target > 0 {
            let before = count_events(&s.pool, "technical_owner_assigned").await?;
            let cpu0 = cpu_seconds(&pid);
            let started = Instant::now();
            let recorded = Arc::new(AtomicU64::new(0));
            let checkpoints = [target / 4, target / 2, target * 3 / 4];
            let sampler = {
                let recorded = recorded.clone();
                let pid = pid.clone();
                tokio::spawn(async move {
                    let mut out = Vec::new();
                    for mark in checkpoints {
                        while recorded.load(Ordering::Relaxed) < mark {
                            tokio::time::sleep(Duration::from_millis(200)).await;
                        }
                        out.push((mark, memory_mib(&pid).0));
                    }
                    out
                })
            };
            let (_, failures) = closed_loops(
                &emu,
                history,
                HISTORY_LOOPS,
                &blocks,
                Stop::After(recorded.clone(), target),
            )
            .await;
            let drive = started.elapsed();
            // A backend that sits idle yet holds a snapshot keeps every dead outbox row alive
            // (the outbox's LISTEN connection did, when it was read only between drains).
            let idle_snapshots: i64 = sqlx::query_scalar(
                "SELECT count(*) FROM pg_stat_activity WHERE datname = current_database() \
                 AND state = 'idle' AND backend_xmin IS NOT NULL",
            )
            .fetch_one(&s.pool)
            .await?;
            let samples = sampler.await?;
            let drained = outbox_drained(&s.pool, Duration::from_secs(900)).await?;
            let history_cpu = cpu_seconds(&pid) - cpu0;
            let events = count_events(&s.pool, "technical_owner_assigned").await? - before;
            let (busy_rss, _) = memory_mib(&pid);
            tokio::time::sleep(Duration::from_secs(5)).await;
            let (after_rss, after_hwm) = memory_mib(&pid);
            let total_events: i64 =
                sqlx::query_scalar("SELECT count(*) FROM capacity.capacity_request_events")
                    .fetch_one(&s.pool)
                    .await?;
            for (mark, rss) in &samples {
                row(
                    format!("VmRSS after {mark} more events"),
                    format!("{rss:.1} MiB"),
                );
            }
            row(
                "VmRSS after the history's events, outbox drained".into(),
                format!("{busy_rss:.1} MiB ({events} more events, {total_events} in the log)"),
            );
            row(
                "VmRSS 5 s later (idle again)".into(),
                format!("{after_rss:.1} MiB (peak {after_hwm:.1} MiB)"),
            );
            row(
                format!("events/s through it ({HISTORY_REQUESTS} requests, {HISTORY_LOOPS} clicks in flight, outbox keeping up)"),
                format!(
                    "{:.0} (no ack within 3 s: {failures})",
                    events as f64 / (drive + drained).as_secs_f64()
                ),
            );
            row(
                format!(
                    "its own CPU per event over those, each request's log growing to ~{} events",
                    events as usize / HISTORY_REQUESTS + 3
                ),
                format!("{:.3} ms", history_cpu * 1000.0 / events.max(1) as f64),
            );
            row(
                "outbox drained after the last ack".into(),
                format!("{:.1} s", drained.as_secs_f64()),
            );
            row(
                "idle connections holding a snapshot (vacuum blocked) at the last ack".into(),
                idle_snapshots.to_string(),
            );
        }

        let _ = std::process::Command::new("kill")
            .args(["-TERM", &pid])
            .status();
        vacuum.abort();
        let status = tokio::time::timeout(Duration::from_secs(30), child.wait()).await;
        row(
            "exit after SIGTERM".into(),
            match status {
                Ok(Ok(s)) => format!("{s}"),
                _ => "did not exit within 30 s".to_string(),
            },
        );
        stop_emulator(emu).await;
        self.drop_scratch(s).await?;
        Ok(out)
    }
}

/// `BENCH_BINARIES` (`label=path,…`; default this build's `capacity-bot`): the binaries the
/// memory part runs, each in turn, so an old build and a new one are measured in one run.
fn binaries() -> anyhow::Result<Vec<(String, String)>> {
    let this = env!("CARGO_BIN_EXE_capacity-bot");
    let Ok(list) = std::env::var("BENCH_BINARIES") else {
        return Ok(vec![("this build".into(), this.into())]);
    };
    list.split(',')
        .map(|b| {
            let (label, path) = b.split_once('=').context("BENCH_BINARIES: label=path,…")?;
            let path = if path == "this" { this } else { path };
            Ok((label.trim().to_string(), path.trim().to_string()))
        })
        .collect()
}

/// `BENCH_ATTACH` (unset): a command run with `-p <pid>` appended while the binary takes the
/// approvals (a profiler: `perf record -g -o x.data`, `perf trace -s -o x.txt`);
/// `{label}` in it becomes the binary's label. It is stopped with SIGINT when they are done.
fn attach(label: &str, pid: &str) -> anyhow::Result<Option<tokio::process::Child>> {
    let Ok(command) = std::env::var("BENCH_ATTACH") else {
        return Ok(None);
    };
    let command = command.replace("{label}", label);
    let mut words = command.split_whitespace();
    let program = words.next().context("BENCH_ATTACH: a command")?;
    let child = tokio::process::Command::new(program)
        .args(words)
        .args(["-p", pid])
        .kill_on_drop(true)
        .spawn()
        .with_context(|| format!("starting {command}"))?;
    // Give the profiler a moment to attach before the first click.
    std::thread::sleep(Duration::from_secs(2));
    Ok(Some(child))
}

async fn detach(child: Option<tokio::process::Child>) {
    let Some(mut child) = child else { return };
    if let Some(id) = child.id() {
        let _ = std::process::Command::new("kill")
            .args(["-INT", &id.to_string()])
            .status();
    }
    let _ = tokio::time::timeout(Duration::from_secs(120), child.wait()).await;
}

/// Vacuums the outbox every `BENCH_VACUUM_SECONDS` (60; 0 = never), as autovacuum with its
/// default one-minute naptime would at most. The machine these figures come from runs
/// Postgres with `autovacuum = off`; without a vacuum, every delivered outbox row stays in
/// the pending indexes the claim walks, and claims slow down for as long as the run lasts.
fn vacuum_ticker(url: &str) -> tokio::task::JoinHandle<()> {
    let every = env_or("BENCH_VACUUM_SECONDS", 60u64);
    let url = url.to_string();
    tokio::spawn(async move {
        if every == 0 {
            return;
        }
        let Ok(pool) = store::connect(&url).await else {
            return;
        };
        let mut tick = tokio::time::interval(Duration::from_secs(every));
        tick.tick().await;
        loop {
            tick.tick().await;
            if let Err(e) = sqlx::query("VACUUM capacity.outbox").execute(&pool).await {
                eprintln!("vacuum: {e}");
            }
        }
    })
}

/// Shuts the emulator down so its server tasks end and its records (every message and call
/// of the part) are freed before the next part.
/// People with the app's Home tab open in the `home` part.
const HOME_USERS: usize = 200;
/// Open requests the `home` part clicks on, and every Home shows.
const HOME_REQUESTS: usize = 300;

/// One run of the `home` part: what it measured.
struct HomeRun {
    clicks: usize,
    acked: usize,
    recorded: i64,
    p50: Duration,
    p99: Duration,
    max: Duration,
    /// `views.publish` calls from the first click until the outbox drained (the widened
    /// windows put most of them after the clicks).
    publishes: usize,
    /// Of those, the ones made while the clicks ran.
    publishes_clicking: usize,
    /// The most `views.publish` calls in any 60 s from the first click until drained.
    busiest_minute: usize,
    /// From the last click until the outbox drained.
    drained_after: Duration,
    /// Buffers Postgres's checkpointer wrote while the clicks ran (a checkpoint's writes
    /// compete with the commits every ack waits for: one cause of run-to-run noise).
    checkpoint_writes: i64,
    root_calls: usize,
}

impl Bench {
    /// What App Home costs the clicks: paced technical-owner clicks on 300 open requests with
    /// no Home open, then with their 200 requesters' Homes open (every click changes whom one
    /// Home's request waits on, so each Home is republished, coalesced per person), each run
    /// on a fresh database, in
    /// one process; then one burst of `BURST` events on one request with the 200 Homes open.
    async fn home(&self, knobs: &Knobs) -> anyhow::Result<()> {
        let (rate, seconds, rounds) = knobs.home;
        println!(
            "### App Home open for {HOME_USERS} people: ack latency and publishes \
             ({rate} clicks/s for {seconds} s per run, {HOME_REQUESTS} open requests)\n"
        );
        println!(
            "| round | Homes open | clicks | acked | missing (> 3 s) | recorded | ack p50 | ack p99 | max | `views.publish` while clicking | until drained | per Home | busiest 60 s (Slack allows {}) | drained after the last click | checkpoint writes while clicking | Slack calls per event |",
            store::home::PUBLISHES_PER_MINUTE
        );
        println!(
            "|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|"
        );
        let mut burst = None;
        for round in 1..=rounds {
            for homes in [0, HOME_USERS] {
                let (run, burst_publishes) = self.home_run(rate, seconds, homes).await?;
                if homes > 0 {
                    burst = Some(burst_publishes);
                }
                let per_home = run.publishes as f64 / homes.max(1) as f64;
                println!(
                    "| {round} | {homes} | {} | {} | {} | {} | {} | {} | {} | {} | {} | {} | {} | {:.1} s | {} | {:.2} |",
                    run.clicks,
                    run.acked,
                    run.clicks - run.acked,
                    run.recorded,
                    ms(run.p50),
                    ms(run.p99),
                    ms(run.max),
                    run.publishes_clicking,
                    run.publishes,
                    if homes > 0 { format!("{per_home:.1}") } else { "-".into() },
                    run.busiest_minute,
                    run.drained_after.as_secs_f64(),
                    run.checkpoint_writes,
                    (run.root_calls + run.publishes) as f64 / run.recorded.max(1) as f64
                );
            }
        }
        if let Some(Some((requester, all))) = burst {
            println!(
                "\nA burst of {BURST} events on one request (sequential clicks, each at the version the \
                 last produced, after {}s with no change; an odd count, so the request ends with \
                 another owner than it started with and its Home has something to show), {HOME_USERS} Homes open: its requester's \
                 Home was published {requester} time(s); all Homes together {all} time(s).\n",
                coalesce_seconds() + 1
            );
        }
        Ok(())
    }

    /// Seeds `HOME_REQUESTS` requests waiting for technical review, opens `homes` Homes, warms
    /// up with one click per request, then clicks at `rate` for `seconds`. With Homes open,
    /// also measures a burst of `BURST` events on one request (publishes per Home).
    async fn home_run(
        &self,
        rate: u32,
        seconds: u64,
        homes: usize,
    ) -> anyhow::Result<(HomeRun, Option<(usize, usize)>)> {
        let s = self.scratch(&format!("home{homes}")).await?;
        store::migrate(&s.pool).await?;
        let users: Vec<String> = (0..HOME_USERS).map(|i| format!("U0HOME{i:04}")).collect();
        let mut config = emulator_config();
        for u in &users {
            config = config.with_user(u, &u.to_lowercase(), u);
        }
        let emu = Arc::new(Emulator::start(config).await?);
        let settings = settings(&emu, &s.url)?;
        // Each request is one Home user's own ("Your requests" names who it waits on), so
        // every click changes one Home and each Home changes every 1.5 s.
        let (seeded, blocks) =
            seed_for(&s.pool, &emu, &settings, HOME_REQUESTS, true, &users).await?;
        // Click i goes to request i mod 300, its (i / 300)th click: the versions are known in
        // advance because one request's clicks are 1.5 s apart, long after the last one's ack.
        let total = HOME_REQUESTS + rate as usize * seconds as usize;
        let frames: Vec<String> = (0..total)
            .map(|i| take_turn(&emu, &seeded[i % HOME_REQUESTS], i / HOME_REQUESTS, &blocks))
            .collect();
        let (daemon, _) = start_daemon(&emu, &s, 2).await?;
        let vacuum = vacuum_ticker(&s.url);
        for u in users.iter().take(homes) {
            emu.open_home(u).await.map_err(|e| anyhow::anyhow!("{e}"))?;
        }
        for u in users.iter().take(homes) {
            emu.wait_for_home(u, |_| true, Duration::from_secs(60))
                .await
                .map_err(|e| anyhow::anyhow!("{e}"))?;
        }
        let (warm, measured) = frames.split_at(HOME_REQUESTS);
        paced(&emu, warm, rate).await;
        outbox_drained(&s.pool, Duration::from_secs(300)).await?;

        let recorded0 = count_events(&s.pool, "technical_owner_assigned").await?;
        let calls0 = calls_by_method(&emu);
        let checkpointed0 = checkpoint_writes(&s.pool).await?;
        // The emulator stamps its calls with tokio's clock.
        let started = tokio::time::Instant::now();
        let results = paced(&emu, measured, rate).await;
        let clicked = tokio::time::Instant::now();
        let checkpointed = checkpoint_writes(&s.pool).await? - checkpointed0;
        let drained_after = outbox_drained(&s.pool, Duration::from_secs(600)).await?;
        let calls1 = calls_by_method(&emu);
        let published_at: Vec<tokio::time::Instant> = emu
            .calls("views.publish")
            .iter()
            .map(|c| c.at)
            .filter(|at| *at >= started)
            .collect();
        let delta = |m: &str| calls1.get(m).unwrap_or(&0) - calls0.get(m).unwrap_or(&0);
        let mut latencies: Vec<Duration> = results.iter().flatten().copied().collect();
        let (p50, p99, max) = quantiles(&mut latencies);
        let run = HomeRun {
            clicks: results.len(),
            acked: latencies.len(),
            recorded: count_events(&s.pool, "technical_owner_assigned").await? - recorded0,
            p50,
            p99,
            max,
            publishes: published_at.len(),
            publishes_clicking: published_at.iter().filter(|at| **at <= clicked).count(),
            busiest_minute: busiest(&published_at, Duration::from_secs(60)),
            drained_after,
            checkpoint_writes: checkpointed,
            root_calls: delta("chat.update") + delta("chat.postMessage"),
        };

        let burst = if homes > 0 {
            // Past the shortest coalescing window: the burst's first change queues a publish
            // (due when that Home's window ends) or finds one pending.
            tokio::time::sleep(Duration::from_secs(coalesce_seconds() + 1)).await;
            let before = (
                emu.calls("views.publish").len(),
                emu.home_publishes(&users[0]),
            );
            // Request 0 had a click in every round of the frames, the last one included
            // when the frames did not end on a full round.
            let taken = total.div_ceil(HOME_REQUESTS);
            let clicks =
                (taken..taken + BURST).map(|turn| take_turn(&emu, &seeded[0], turn, &blocks));
            let recorded = count_events(&s.pool, "technical_owner_assigned").await?;
            for frame in clicks {
                emu.send_raw_envelope(&frame, SLACK_ACK)
                    .await
                    .map_err(|e| anyhow::anyhow!("{e}"))?;
            }
            let burst = count_events(&s.pool, "technical_owner_assigned").await? - recorded;
            if burst != BURST as i64 {
                bail!("the burst recorded {burst} of its {BURST} events");
            }
            // Drained means the burst's publish went out and none followed it: a change
            // during that render would have queued the next (`store::home::requeue`).
            let window = store::home::window(homes as i64).to_std()?;
            outbox_drained(&s.pool, 3 * window + Duration::from_secs(30)).await?;
            Some((
                emu.home_publishes(&users[0]) - before.1,
                emu.calls("views.publish").len() - before.0,
            ))
        } else {
            None
        };
        vacuum.abort();
        daemon.shutdown().await;
        stop_emulator(emu).await;
        self.drop_scratch(s).await?;
        Ok((run, burst))
    }
}

/// Buffers written by Postgres's checkpointer so far (the whole cluster's count).
async fn checkpoint_writes(pool: &PgPool) -> anyhow::Result<i64> {
    Ok(
        sqlx::query_scalar("SELECT buffers_checkpoint FROM pg_stat_bgwriter")
            .fetch_one(pool)
            .await?,
    )
}

/// The most of `times` (in order) that fall in any one `window`.
fn busiest(times: &[tokio::time::Instant], window: Duration) -> usize {
    let mut first = 0;
    let mut most = 0;
    for (i, at) in times.iter().enumerate() {
        while *at - times[first] >= window {
            first += 1;
        }
        most = most.max(i + 1 - first);
    }
    most
}

/// Events in the `home` part's burst on one request.
const BURST: usize = 51;

/// The coalescing window of Home publishes, in seconds.
fn coalesce_seconds() -> u64 {
    store::home::COALESCE.num_seconds().unsigned_abs()
}

/// The `turn`th technical-owner click on `req` (counting from its seeded version): infra
/// people take turns, each at the version the click before produced.
fn take_turn(emu: &Emulator, req: &Seeded, turn: usize, blocks: &Value) -> String {
    let mut req = req.clone();
    req.version += turn as i32;
    let user = if turn.is_multiple_of(2) {
        INFRA
    } else {
        INFRA2
    };
    click_frame(emu, user, &req, "technical_owner_assigned", blocks)
}

async fn stop_emulator(emu: Arc<Emulator>) {
    match Arc::try_unwrap(emu) {
        Ok(emu) => emu.shutdown().await,
        Err(_) => eprintln!("an emulator is still shared; its memory stays until exit"),
    }
}

/// How many times each Web API method has been called so far.
fn calls_by_method(emu: &Emulator) -> BTreeMap<String, usize> {
    let mut counts = BTreeMap::new();
    for call in emu.all_calls() {
        *counts.entry(call.method).or_insert(0) += 1;
    }
    counts
}

/// Sends `frames` at `rate` per second; each result is the ack latency, or `None` when no
/// ack came within Slack's 3 s.
async fn paced(emu: &Arc<Emulator>, frames: &[String], rate: u32) -> Vec<Option<Duration>> {
    let mut tick = tokio::time::interval(Duration::from_secs_f64(1.0 / f64::from(rate)));
    tick.set_missed_tick_behavior(MissedTickBehavior::Burst);
    let mut tasks = JoinSet::new();
    for (i, frame) in frames.iter().enumerate() {
        tick.tick().await;
        let (emu, frame) = (emu.clone(), frame.clone());
        tasks.spawn(async move {
            let ack = emu.send_raw_envelope(&frame, SLACK_ACK).await;
            (i, ack.ok().flatten().map(|a| a.latency))
        });
    }
    let mut out = vec![None; frames.len()];
    while let Some(done) = tasks.join_next().await {
        if let Ok((i, latency)) = done {
            out[i] = latency.filter(|l| *l <= SLACK_ACK);
        }
    }
    out
}

enum Stop {
    At(Instant),
    /// When the shared count of acked clicks reaches the target.
    After(Arc<AtomicU64>, u64),
}

/// `loops` closed loops over `seeded` (each loop takes its share of the requests in turn):
/// INFRA and INFRA2 take turns taking a request, each click at the version the previous one
/// produced. Returns the ack latencies and how many clicks got no ack within 3 s.
async fn closed_loops(
    emu: &Arc<Emulator>,
    seeded: Vec<Seeded>,
    loops: usize,
    blocks: &Value,
    stop: Stop,
) -> (Vec<Duration>, usize) {
    let stop = Arc::new(stop);
    let mut shares: Vec<Vec<Seeded>> = vec![Vec::new(); loops.max(1)];
    for (i, req) in seeded.into_iter().enumerate() {
        shares[i % loops.max(1)].push(req);
    }
    let mut tasks = JoinSet::new();
    for mut share in shares.into_iter().filter(|s| !s.is_empty()) {
        let (emu, blocks, stop) = (emu.clone(), blocks.clone(), stop.clone());
        tasks.spawn(async move {
            let mut latencies = Vec::new();
            let mut failures = 0;
            for turn in 0.. {
                let done = match stop.as_ref() {
                    Stop::At(t) => Instant::now() >= *t,
                    Stop::After(n, target) => n.load(Ordering::Relaxed) >= *target,
                };
                if done || failures > 3 {
                    break;
                }
                let n = share.len();
                let req = &mut share[turn % n];
                // Who took it last is who did not: turns alternate per request.
                let user = if (turn / n) % 2 == 0 { INFRA } else { INFRA2 };
                let frame = click_frame(&emu, user, req, "technical_owner_assigned", &blocks);
                match emu.send_raw_envelope(&frame, SLACK_ACK).await {
                    Ok(Some(ack)) => {
                        latencies.push(ack.latency);
                        req.version += 1;
                        if let Stop::After(n, _) = stop.as_ref() {
                            n.fetch_add(1, Ordering::Relaxed);
                        }
                    }
                    _ => failures += 1,
                }
            }
            (latencies, failures)
        });
    }
    let mut all = Vec::new();
    let mut failures = 0;
    while let Some(Ok((l, f))) = tasks.join_next().await {
        all.extend(l);
        failures += f;
    }
    (all, failures)
}
