//! The outbox at Slack's pace (issue 15): how fast a backlog drains under Slack's rate
//! limits, and how many Slack calls and database round trips it takes.
//!
//! ```text
//! cargo bench --bench pace
//! ```
//!
//! Needs a Postgres role that may create databases (`DATABASE_URL`, default
//! `postgres://postgres@127.0.0.1:5432/postgres`); each run gets a fresh database, dropped
//! afterwards. The daemon runs in this process against the project's Slack emulator with
//! Slack's rate limits enforced, every allowance multiplied by `BENCH_SCALE` (default 20) so
//! a 33-minute drain takes under two; `Retry-After` stays in real seconds. Each part runs
//! twice, in one process: "before" with the outbox as it was (a row per request per claim,
//! each root update its own call: `OutboxOptions::row_by_row`), "after" with the default.
//!
//! Parts (`BENCH_PARTS`, default `outage,lane`; `latency` runs only when named):
//! - `outage`: `BENCH_REQUESTS` (200) requests with their root messages posted; Slack then
//!   answers every call with HTTP 503 while `BENCH_EVENTS_PER_REQUEST` (10) events per
//!   request are recorded (3 decisions, each a root update and a thread reply, then
//!   comments, each a thread reply); 30 minutes pass on the daemon's clock, its worker
//!   retrying; then Slack is back and the backlog drains.
//! - `lane`: one request with 100 queued effects (3 decisions and 94 comments), recorded an
//!   hour ahead of the daemon's clock and released at once: drain time and database round
//!   trips (transactions committed in the database, the benchmark's own polling subtracted),
//!   without and with the rate limits.
//! - `latency`: what a person sees. `BENCH_LATENCY_REQUESTS` (50) open requests; infra
//!   people take each one in turn (`technical_owner_assigned`, each click at the version the
//!   last one produced, the clicker becoming the technical owner) at `BENCH_LATENCY_RATES`
//!   (`20,200`) clicks a second for `BENCH_LATENCY_SECONDS` (60), the rate limits enforced at
//!   `BENCH_LATENCY_SCALE` (1: Slack's own figures, as a person meets them). For each acked
//!   click, the time from its ack to the first successful `chat.update` of its root whose
//!   rendering shows it (its technical owner, or a later click's); a click whose root has not
//!   shown it `BENCH_LATENCY_TAIL` (90) seconds after the last click counts as not shown.

use std::collections::BTreeMap;
use std::sync::atomic::{AtomicI64, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use anyhow::{bail, Context as _};
use capacity_bot::app::{Daemon, RunOptions};
use capacity_bot::clock::Clock;
use capacity_bot::config::Settings;
use capacity_bot::context::OutboxOptions;
use capacity_bot::domain::testkit::{
    actor, submission, uid, ADMIN, AE, APPROVER, BOTH, FINANCE, INFRA, INFRA2, REQUESTER,
};
use capacity_bot::domain::{Command, RequestId, RequestNumber};
use capacity_bot::slack::api::SlackApi;
use capacity_bot::slack::socket::SocketConfig;
use capacity_bot::store::{self, Append, Target};
use chrono::{DateTime, Utc};
use futures_util::stream::{self, StreamExt};
use secrecy::SecretString;
use serde_json::{json, Value};
use slack_emulator::{Emulator, EmulatorConfig, Fault, RateLimits, ANY_METHOD};
use sqlx::PgPool;
use uuid::Uuid;

#[path = "common/click.rs"]
mod click;

const CHANNEL: &str = "C0REQUESTS";
/// Infra people who take requests in turn in the latency part. Each click makes its clicker
/// the technical owner, so the owner a root shows tells which click it shows: six of them,
/// so a root showing an owner of six clicks ago is not mistaken for a fresh one.
const TAKERS: [&str; 6] = [INFRA, INFRA2, "UINFRA3", "UINFRA4", "UINFRA5", "UINFRA6"];
/// Slack gives up on an ack after 3 s.
const SLACK_ACK: Duration = Duration::from_secs(3);

fn env_or<T: std::str::FromStr>(name: &str, default: T) -> T {
    std::env::var(name)
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(default)
}

/// The system clock plus an offset the benchmark moves (an outage's 30 minutes in seconds).
#[derive(Debug, Default)]
struct ShiftedClock(AtomicI64);

impl ShiftedClock {
    fn shift(&self, by: chrono::Duration) {
        self.0.fetch_add(by.num_milliseconds(), Ordering::SeqCst);
    }
}

impl Clock for ShiftedClock {
    fn now(&self) -> DateTime<Utc> {
        Utc::now() + chrono::Duration::milliseconds(self.0.load(Ordering::SeqCst))
    }
}

struct Bench {
    admin: PgPool,
    admin_url: String,
    scale: f64,
}

struct Scratch {
    name: String,
    url: String,
    pool: PgPool,
}

impl Bench {
    async fn scratch(&self, part: &str) -> anyhow::Result<Scratch> {
        let name = format!("capacity_bench_pace_{part}_{}", std::process::id());
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
        let pool = store::connect(url.as_str()).await?;
        store::migrate(&pool).await?;
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

fn emulator_config() -> EmulatorConfig {
    let mut c = EmulatorConfig::default()
        .with_channel(CHANNEL, "capacity-requests", true)
        .with_usergroup("S0INFRA", TAKERS)
        .with_usergroup("S0SALESLEAD", [APPROVER, BOTH]);
    for (id, name) in [
        (TAKERS[2], "ira"),
        (TAKERS[3], "ike"),
        (TAKERS[4], "isa"),
        (TAKERS[5], "ivo"),
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

fn settings(emu: &Emulator, database_url: &str) -> anyhow::Result<Settings> {
    let toml = format!(
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
"#,
        team = emu.team_id()
    );
    let vars = [
        ("SLACK_BOT_TOKEN", emu.bot_token().to_string()),
        ("SLACK_APP_TOKEN", emu.app_token().to_string()),
        ("SLACK_API_URL", emu.api_url()),
        ("CAPACITY_SIGNAL_SECRET", "bench-signal-secret".to_string()),
        ("DATABASE_URL", database_url.to_string()),
    ];
    let env = move |k: &str| vars.iter().find(|(n, _)| *n == k).map(|(_, v)| v.clone());
    Settings::from_toml_str(&toml, &env).map_err(|e| anyhow::anyhow!("{e}"))
}

/// `n` requests created through the store with their root messages posted (as the outbox
/// would) and their outbox rows marked delivered.
async fn seed(
    pool: &PgPool,
    emu: &Emulator,
    settings: &Settings,
    n: usize,
) -> anyhow::Result<Vec<(RequestId, String)>> {
    let api = SlackApi::new(
        &emu.api_url(),
        &SecretString::from(emu.bot_token().to_string()),
        None,
    )?;
    let created: Vec<anyhow::Result<(RequestId, String)>> = stream::iter(0..n)
        .map(|_| {
            let api = api.clone();
            async move {
                let id = RequestId(Uuid::now_v7());
                let now = Utc::now();
                let appended = store::events::append(
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
                        actor: actor(REQUESTER),
                        policy: settings.policy.clone(),
                        now,
                        expected_version: None,
                        idempotency_key: format!("seed:{id}"),
                        envelope_id: None,
                        linear: None,
                    },
                )
                .await?;
                let content = capacity_bot::render::root::root_message(
                    &appended.request,
                    &capacity_bot::domain::Links::default(),
                    &settings.policy,
                    &settings.roles,
                    now,
                );
                let ts = api.post_message(CHANNEL, content, None).await?;
                store::requests::set_root_message(pool, id, CHANNEL, &ts, None).await?;
                Ok((id, ts))
            }
        })
        .buffer_unordered(16)
        .collect()
        .await;
    sqlx::query(
        "UPDATE capacity.outbox SET status = 'delivered', delivered_at = now() \
         WHERE status = 'pending'",
    )
    .execute(pool)
    .await?;
    sqlx::query("VACUUM ANALYZE").execute(pool).await?;
    created.into_iter().collect()
}

/// The events recorded for each request: 3 decisions, then comments.
fn commands(n: usize) -> Vec<(&'static str, Command)> {
    let mut out = vec![
        (AE, Command::CommercialApproved),
        (INFRA, Command::TechnicalOwnerAssigned),
        (INFRA, Command::TechnicalApproved),
    ];
    for i in out.len()..n {
        out.push((
            REQUESTER,
            Command::CommentAdded {
                text: format!("note {i}"),
            },
        ));
    }
    out.truncate(n);
    out
}

/// Records `per_request` events on each request, in order, at `at`.
async fn record(
    pool: &PgPool,
    settings: &Settings,
    requests: &[(RequestId, String)],
    per_request: usize,
    at: impl Fn() -> DateTime<Utc> + Sync,
) -> anyhow::Result<usize> {
    let at = &at;
    let done: Vec<anyhow::Result<usize>> = stream::iter(requests.iter())
        .map(|(id, _)| async move {
            for (i, (user, command)) in commands(per_request).into_iter().enumerate() {
                store::events::append(
                    pool,
                    &Append {
                        target: Target::Existing(*id),
                        commands: vec![command],
                        actor: actor(user),
                        policy: settings.policy.clone(),
                        now: at(),
                        expected_version: None,
                        idempotency_key: format!("bench:{id}:{i}"),
                        envelope_id: None,
                        linear: None,
                    },
                )
                .await?;
            }
            Ok(per_request)
        })
        .buffer_unordered(16)
        .collect()
        .await;
    done.into_iter().sum()
}

async fn pending(pool: &PgPool) -> anyhow::Result<i64> {
    Ok(
        sqlx::query_scalar("SELECT count(*) FROM capacity.outbox WHERE status = 'pending'")
            .fetch_one(pool)
            .await?,
    )
}

/// Transactions committed in the database so far (every backend; flushed within a second).
async fn commits(pool: &PgPool) -> anyhow::Result<i64> {
    tokio::time::sleep(Duration::from_millis(1500)).await;
    Ok(sqlx::query_scalar(
        "SELECT (xact_commit + xact_rollback)::bigint FROM pg_stat_database \
         WHERE datname = current_database()",
    )
    .fetch_one(pool)
    .await?)
}

/// Polls (a benchmark may) until the outbox is empty; returns the time and the polls.
async fn drained(pool: &PgPool, within: Duration) -> anyhow::Result<(Duration, i64)> {
    let start = Instant::now();
    let mut polls = 1;
    while pending(pool).await? > 0 {
        if start.elapsed() > within {
            bail!("the outbox still has rows after {within:?}");
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
        polls += 1;
    }
    Ok((start.elapsed(), polls))
}

fn calls(emu: &Emulator) -> BTreeMap<String, usize> {
    let mut counts = BTreeMap::new();
    for call in emu.all_calls() {
        *counts.entry(call.method).or_insert(0) += 1;
    }
    counts
}

fn delta(after: &BTreeMap<String, usize>, before: &BTreeMap<String, usize>, m: &str) -> usize {
    after.get(m).copied().unwrap_or(0) - before.get(m).copied().unwrap_or(0)
}

/// Each request's thread holds `n` replies, each event once, in order (the footer's
/// `event_context_<seq>` increases).
fn check_threads(emu: &Emulator, requests: &[(RequestId, String)], n: usize) -> anyhow::Result<()> {
    for (id, ts) in requests {
        let seqs: Vec<i64> = emu
            .thread(CHANNEL, ts)
            .iter()
            .map(|m| {
                m.blocks
                    .as_array()
                    .into_iter()
                    .flatten()
                    .find_map(|b| {
                        b["block_id"]
                            .as_str()?
                            .strip_prefix("event_context_")?
                            .parse()
                            .ok()
                    })
                    .unwrap_or(-1)
            })
            .collect();
        if seqs.len() != n || seqs.windows(2).any(|w| w[0] >= w[1]) {
            bail!("request {id}: thread {seqs:?}, expected {n} replies in order");
        }
    }
    Ok(())
}

struct Run {
    label: &'static str,
    options: OutboxOptions,
}

const RUNS: [Run; 2] = [
    Run {
        label: "before (row by row)",
        options: OutboxOptions {
            lanes: 32,
            per_lane: 1,
            coalesce: false,
        },
    },
    Run {
        label: "after (lanes of 16, coalesced)",
        options: OutboxOptions {
            lanes: 32,
            per_lane: 16,
            coalesce: true,
        },
    },
];

async fn start(
    emu: &Emulator,
    scratch: &Scratch,
    clock: Arc<ShiftedClock>,
    outbox: OutboxOptions,
    connections: usize,
) -> anyhow::Result<Daemon> {
    let options = RunOptions {
        socket: SocketConfig {
            connections,
            ..SocketConfig::default()
        },
        http_listen: Some("127.0.0.1:0".parse()?),
        outbox,
        ..RunOptions::default()
    };
    let daemon = Daemon::start(
        settings(emu, &scratch.url)?,
        scratch.pool.clone(),
        clock,
        options,
    )
    .await?;
    emu.wait_connected(connections, Duration::from_secs(10))
        .await
        .map_err(|e| anyhow::anyhow!("{e}"))?;
    Ok(daemon)
}

impl Bench {
    async fn outage(&self) -> anyhow::Result<()> {
        let requests: usize = env_or("BENCH_REQUESTS", 200);
        let per: usize = env_or("BENCH_EVENTS_PER_REQUEST", 10);
        let limits = RateLimits::scaled(self.scale);
        println!(
            "\n### After a 30-minute outage: {} events over {requests} requests (limits × {})\n",
            requests * per,
            self.scale
        );
        println!("| outbox | drain after Slack is back | minimum the limits allow | ratio | chat.postMessage | chat.update | Slack calls per event | 429s (postMessage / update) | Retry-After windows in the drain | lost or out of order |");
        println!("|---|---:|---:|---:|---:|---:|---:|---:|---:|---|");
        for run in &RUNS {
            let s = self.scratch("outage").await?;
            let emu = Emulator::start(emulator_config()).await?;
            let settings = settings(&emu, &s.url)?;
            let seeded = seed(&s.pool, &emu, &settings, requests).await?;
            let clock = Arc::new(ShiftedClock::default());
            let daemon = start(&emu, &s, clock.clone(), run.options, 1).await?;
            emu.enforce_rate_limits(limits);
            // Slack is down: every call answers 503.
            emu.fail_next(ANY_METHOD, 200_000, Fault::HttpStatus(503));
            let clk = clock.clone();
            let events = record(&s.pool, &settings, &seeded, per, move || clk.now()).await?;
            // 30 minutes pass, a minute every quarter second; the worker retries what falls due.
            for _ in 0..30 {
                clock.shift(chrono::Duration::minutes(1));
                tokio::time::sleep(Duration::from_millis(250)).await;
            }
            let before = calls(&emu);
            let refused_before = emu.rate_limited_counts();
            emu.clear_faults();
            let (took, _) = drained(&s.pool, Duration::from_secs(3600)).await?;
            let after = calls(&emu);
            let refused = emu.rate_limited_counts();
            let posts = delta(&after, &before, "chat.postMessage");
            let updates = delta(&after, &before, "chat.update");
            let r429 = |m: &str| {
                refused.get(m).copied().unwrap_or(0) - refused_before.get(m).copied().unwrap_or(0)
            };
            let ok = check_threads(&emu, &seeded, per)
                .map_or_else(|e| format!("yes: {e}"), |()| "none".to_string());
            // The minimum: every reply through the channel at its pace after the first burst;
            // root updates need at least one per request, 50 × scale per minute window.
            let replies = (requests * per) as f64;
            let min_posts = (replies - limits.bucket()).max(0.0) / limits.posts_per_second();
            let per_window =
                f64::from(limits.per_window(slack_emulator::Tier::Tier3).unwrap_or(50));
            let min_updates = ((requests as f64 / per_window).ceil() - 1.0).max(0.0) * 60.0;
            let min = min_posts.max(min_updates);
            println!(
                "| {} | {:.1} s | {:.1} s | {:.2} | {posts} | {updates} | {:.2} | {} / {} | {:.0} | {ok} |",
                run.label,
                took.as_secs_f64(),
                min,
                took.as_secs_f64() / min,
                (posts + updates) as f64 / events as f64,
                r429("chat.postMessage"),
                r429("chat.update"),
                took.as_secs_f64(),
            );
            daemon.shutdown().await;
            emu.shutdown().await;
            self.drop_scratch(s).await?;
        }
        Ok(())
    }

    async fn lane(&self) -> anyhow::Result<()> {
        const EFFECTS: usize = 100;
        // 3 decisions (an update and a reply each) and 94 comments (a reply each).
        let events = EFFECTS - 3;
        println!("\n### One request with {EFFECTS} queued effects\n");
        println!(
            "| outbox | rate limits | drain | Slack calls | database round trips | per effect |"
        );
        println!("|---|---|---:|---:|---:|---:|");
        for limited in [false, true] {
            for run in &RUNS {
                let s = self.scratch("lane").await?;
                let emu = Emulator::start(emulator_config()).await?;
                let settings = settings(&emu, &s.url)?;
                let seeded = seed(&s.pool, &emu, &settings, 1).await?;
                let clock = Arc::new(ShiftedClock::default());
                let daemon = start(&emu, &s, clock.clone(), run.options, 1).await?;
                if limited {
                    emu.enforce_rate_limits(RateLimits::scaled(self.scale));
                }
                let ahead = clock.now() + chrono::Duration::hours(1);
                record(&s.pool, &settings, &seeded, events, move || ahead).await?;
                let queued = pending(&s.pool).await?;
                let before = calls(&emu);
                let c0 = commits(&s.pool).await?;
                clock.shift(chrono::Duration::hours(1));
                let (took, polls) = drained(&s.pool, Duration::from_secs(600)).await?;
                let c1 = commits(&s.pool).await?;
                let after = calls(&emu);
                let slack: usize = ["chat.postMessage", "chat.update"]
                    .iter()
                    .map(|m| delta(&after, &before, m))
                    .sum();
                // The benchmark's own statements: the polls and the first commits() read.
                let trips = c1 - c0 - polls - 1;
                check_threads(&emu, &seeded, events)?;
                println!(
                    "| {} | {} | {:.2} s | {slack} | {trips} | {:.2} |",
                    run.label,
                    if limited {
                        format!("× {}", self.scale)
                    } else {
                        "none".into()
                    },
                    took.as_secs_f64(),
                    trips as f64 / queued as f64,
                );
                daemon.shutdown().await;
                emu.shutdown().await;
                self.drop_scratch(s).await?;
            }
        }
        Ok(())
    }
}

/// One open request of the latency part: where its root is, and (behind a lock, so its
/// clicks go one after another) the version its next click carries and how many it had.
struct Open {
    id: RequestId,
    number: RequestNumber,
    ts: String,
    turn: tokio::sync::Mutex<(i32, usize)>,
}

/// An acked click: its request, its turn on that request, when its ack came back.
struct Acked {
    request: usize,
    turn: usize,
    at: tokio::time::Instant,
}

/// `n` requests commercially approved (open for an infra owner), their roots posted as the
/// outbox would post them and their rows marked delivered; with a root's blocks for clicks.
async fn seed_open(
    pool: &PgPool,
    emu: &Emulator,
    settings: &Settings,
    n: usize,
) -> anyhow::Result<(Vec<Open>, Value)> {
    let api = SlackApi::new(
        &emu.api_url(),
        &SecretString::from(emu.bot_token().to_string()),
        None,
    )?;
    let mut open = Vec::with_capacity(n);
    let mut blocks = Value::Null;
    for _ in 0..n {
        let id = RequestId(Uuid::now_v7());
        let now = Utc::now();
        let mut version = None;
        let mut request = None;
        for (user, commands) in [
            (
                REQUESTER,
                vec![
                    Command::Submitted {
                        number: RequestNumber(0),
                        details: submission(10_000),
                    },
                    Command::CommercialOwnerAssigned { owner: uid(AE) },
                ],
            ),
            (AE, vec![Command::CommercialApproved]),
        ] {
            let appended = store::events::append(
                pool,
                &Append {
                    target: if version.is_none() {
                        Target::New(id)
                    } else {
                        Target::Existing(id)
                    },
                    commands,
                    actor: actor(user),
                    policy: settings.policy.clone(),
                    now,
                    expected_version: version,
                    idempotency_key: format!("seed:{id}:{user}"),
                    envelope_id: None,
                    linear: None,
                },
            )
            .await?;
            version = Some(appended.request.version);
            request = Some(appended.request);
        }
        let req = request.context("seeded")?;
        let content = capacity_bot::render::root::root_message(
            &req,
            &capacity_bot::domain::Links::default(),
            &settings.policy,
            &settings.roles,
            now,
        );
        if blocks.is_null() {
            blocks = json!(content.blocks);
        }
        let ts = api.post_message(CHANNEL, content, None).await?;
        store::requests::set_root_message(pool, id, CHANNEL, &ts, None).await?;
        open.push(Open {
            id,
            number: req.number,
            ts,
            turn: tokio::sync::Mutex::new((req.version, 0)),
        });
    }
    sqlx::query(
        "UPDATE capacity.outbox SET status = 'delivered', delivered_at = now() \
         WHERE status = 'pending'",
    )
    .execute(pool)
    .await?;
    sqlx::query("VACUUM ANALYZE").execute(pool).await?;
    Ok((open, blocks))
}

/// `user` takes `req` (`technical_owner_assigned`) at `version`.
fn take_frame(emu: &Emulator, user: &str, req: &Open, version: i32, blocks: &Value) -> String {
    let root = click::Root {
        channel: CHANNEL,
        ts: &req.ts,
        id: req.id,
        number: req.number,
        version,
    };
    click::frame(
        emu,
        user,
        &root,
        "technical_owner_assigned",
        "Take it",
        blocks,
    )
}

/// `clicks` clicks at `rate` a second, the i-th on request `i % open.len()`, each request's
/// clicks one after another (its lock), each by the next taker at the version the last
/// one produced. Returns the acked clicks and how many got no ack within 3 s.
async fn take_turns(
    emu: &Arc<Emulator>,
    open: &Arc<Vec<Open>>,
    blocks: &Value,
    clicks: usize,
    rate: f64,
) -> (Vec<Acked>, usize) {
    let mut tick = tokio::time::interval(Duration::from_secs_f64(1.0 / rate));
    tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Burst);
    let mut tasks = tokio::task::JoinSet::new();
    for i in 0..clicks {
        tick.tick().await;
        let (emu, open, blocks) = (emu.clone(), open.clone(), blocks.clone());
        tasks.spawn(async move {
            let request = i % open.len();
            let req = &open[request];
            let mut turn = req.turn.lock().await;
            let (version, n) = *turn;
            let frame = take_frame(&emu, TAKERS[n % TAKERS.len()], req, version, &blocks);
            match emu.send_raw_envelope(&frame, SLACK_ACK).await {
                Ok(Some(_)) => {
                    *turn = (version + 1, n + 1);
                    Some(Acked {
                        request,
                        turn: n,
                        at: tokio::time::Instant::now(),
                    })
                }
                _ => None,
            }
        });
    }
    let (mut acked, mut missing) = (Vec::new(), 0);
    while let Some(done) = tasks.join_next().await {
        match done {
            Ok(Some(a)) => acked.push(a),
            _ => missing += 1,
        }
    }
    (acked, missing)
}

/// The technical owner a root rendering shows (its index in `TAKERS`).
fn owner_shown(blocks: &Value) -> Option<usize> {
    blocks
        .as_array()?
        .iter()
        .filter(|b| b["block_id"] == "people")
        .flat_map(|b| b["fields"].as_array().cloned().unwrap_or_default())
        .find_map(|f| {
            let text = f["text"].as_str()?;
            let who = text.strip_prefix("*Technical owner*\n")?;
            TAKERS.iter().position(|t| who.contains(&format!("<@{t}>")))
        })
}

fn percentile(sorted: &[Duration], q: f64) -> Duration {
    sorted[((sorted.len() as f64 * q).ceil() as usize).clamp(1, sorted.len()) - 1]
}

fn secs(d: Duration) -> String {
    if d < Duration::from_secs(1) {
        format!("{} ms", d.as_millis())
    } else {
        format!("{:.1} s", d.as_secs_f64())
    }
}

impl Bench {
    async fn latency(&self) -> anyhow::Result<()> {
        let requests: usize = env_or("BENCH_LATENCY_REQUESTS", 50);
        let seconds: f64 = env_or("BENCH_LATENCY_SECONDS", 60.0);
        let scale: f64 = env_or("BENCH_LATENCY_SCALE", 1.0);
        let tail = Duration::from_secs_f64(env_or("BENCH_LATENCY_TAIL", 90.0));
        let rates: String = env_or("BENCH_LATENCY_RATES", "20,200".to_string());
        println!(
            "\n### Click → root message updated: {requests} requests, {seconds:.0} s of clicks per rate (limits × {scale})\n"
        );
        println!("| outbox | clicks/s | clicks acked | no ack | recorded | p50 | p99 | max | not shown {:.0} s after the last click | `chat.update` ok / 429 | `chat.postMessage` ok / 429 | replies still queued |", tail.as_secs_f64());
        println!("|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|");
        for rate in rates.split(',').map(str::trim).filter(|r| !r.is_empty()) {
            let rate: f64 = rate.parse().context("BENCH_LATENCY_RATES")?;
            for run in LATENCY_RUNS {
                self.latency_run(run, requests, rate, seconds, scale, tail)
                    .await?;
            }
        }
        Ok(())
    }

    async fn latency_run(
        &self,
        run: &Run,
        requests: usize,
        rate: f64,
        seconds: f64,
        scale: f64,
        tail: Duration,
    ) -> anyhow::Result<()> {
        let s = self.scratch("latency").await?;
        let emu = Arc::new(Emulator::start(emulator_config()).await?);
        let settings = settings(&emu, &s.url)?;
        let (open, blocks) = seed_open(&s.pool, &emu, &settings, requests).await?;
        let open = Arc::new(open);
        let clock = Arc::new(ShiftedClock::default());
        let daemon = start(&emu, &s, clock, run.options, 2).await?;
        // Warm-up without limits: the role cache (`usergroups.users.list` is 20 a minute),
        // the pool, the sockets. One click per request, delivered before the limits start.
        let (_, warm_missing) = take_turns(&emu, &open, &blocks, requests, rate).await;
        if warm_missing > 0 {
            bail!("{warm_missing} warm-up clicks got no ack");
        }
        drained(&s.pool, Duration::from_secs(120)).await?;
        let events0: i64 = sqlx::query_scalar(
            "SELECT count(*) FROM capacity.capacity_request_events WHERE kind = 'technical_owner_assigned'",
        )
        .fetch_one(&s.pool)
        .await?;
        let refused0 = emu.rate_limited_counts();
        let calls0 = calls(&emu);
        emu.enforce_rate_limits(RateLimits::scaled(scale));
        let start_at = tokio::time::Instant::now();
        let clicks = (rate * seconds).round() as usize;
        let (acked, missing) = take_turns(&emu, &open, &blocks, clicks, rate).await;
        // Until every root shows its last click, or the tail runs out (a benchmark may poll).
        let last = tokio::time::Instant::now();
        let finals: Vec<usize> = {
            let mut f = Vec::with_capacity(open.len());
            for req in open.iter() {
                f.push(req.turn.lock().await.1);
            }
            f
        };
        loop {
            let all = open.iter().zip(&finals).all(|(req, n)| {
                *n == 0
                    || emu
                        .message(CHANNEL, &req.ts)
                        .and_then(|m| owner_shown(&m.blocks))
                        == Some((n - 1) % TAKERS.len())
            });
            if all || last.elapsed() > tail {
                break;
            }
            tokio::time::sleep(Duration::from_millis(200)).await;
        }
        let queued = pending(&s.pool).await?;
        let recorded: i64 = sqlx::query_scalar(
            "SELECT count(*) FROM capacity.capacity_request_events WHERE kind = 'technical_owner_assigned'",
        )
        .fetch_one(&s.pool)
        .await?;
        let refused = emu.rate_limited_counts();
        let after = calls(&emu);
        let r429 =
            |m: &str| refused.get(m).copied().unwrap_or(0) - refused0.get(m).copied().unwrap_or(0);

        // Each root's successful updates in order: when, and which taker it shows.
        let index: std::collections::HashMap<&str, usize> = open
            .iter()
            .enumerate()
            .map(|(i, r)| (r.ts.as_str(), i))
            .collect();
        let mut shown: Vec<Vec<(tokio::time::Instant, usize)>> = vec![Vec::new(); open.len()];
        for call in emu.calls("chat.update") {
            if !call.ok() || call.at < start_at {
                continue;
            }
            let Some(&i) = call.params["ts"].as_str().and_then(|ts| index.get(ts)) else {
                continue;
            };
            if let Some(owner) = owner_shown(&call.params["blocks"]) {
                shown[i].push((call.at, owner));
            }
        }
        // Each request's acks by turn.
        let mut acks: Vec<BTreeMap<usize, tokio::time::Instant>> =
            vec![BTreeMap::new(); open.len()];
        for a in &acked {
            acks[a.request].insert(a.turn, a.at);
        }
        let mut latencies = Vec::with_capacity(acked.len());
        let mut not_shown = 0;
        for a in &acked {
            // An update shows this click if the owner it shows is this click's or a later
            // one's: the latest turn acked by then whose taker it shows.
            let seen = shown[a.request].iter().find(|(at, owner)| {
                *at >= a.at
                    && acks[a.request]
                        .range(..)
                        .rev()
                        .find(|(turn, t)| **t <= *at && **turn % TAKERS.len() == *owner)
                        .is_some_and(|(turn, _)| *turn >= a.turn)
            });
            match seen {
                Some((at, _)) => latencies.push(*at - a.at),
                None => not_shown += 1,
            }
        }
        latencies.sort_unstable();
        // A click never shown is slower than any shown: the percentiles count it so.
        let n = latencies.len() + not_shown;
        let pct = |q: f64| {
            let k = ((n as f64 * q).ceil() as usize).clamp(1, n.max(1));
            if k <= latencies.len() {
                secs(latencies[k - 1])
            } else {
                format!("> {:.0} s", tail.as_secs_f64())
            }
        };
        println!(
            "| {} | {rate:.0} | {} | {missing} | {} | {} | {} | {} | {not_shown} | {} / {} | {} / {} | {queued} |",
            run.label,
            acked.len(),
            recorded - events0,
            pct(0.50),
            pct(0.99),
            if not_shown > 0 {
                format!("> {:.0} s", tail.as_secs_f64())
            } else {
                latencies.last().map_or("-".into(), |d| secs(*d))
            },
            delta(&after, &calls0, "chat.update") - r429("chat.update"),
            r429("chat.update"),
            delta(&after, &calls0, "chat.postMessage") - r429("chat.postMessage"),
            r429("chat.postMessage"),
        );
        let _ = percentile;
        daemon.shutdown().await;
        drop(open);
        if let Ok(emu) = Arc::try_unwrap(emu) {
            emu.shutdown().await;
        }
        self.drop_scratch(s).await
    }
}

const LATENCY_RUNS: &[Run] = &[Run {
    label: "today (root updates in the replies' lane)",
    options: OutboxOptions {
        lanes: 32,
        per_lane: 16,
        coalesce: true,
    },
}];

#[tokio::main(flavor = "multi_thread", worker_threads = 2)]
async fn main() -> anyhow::Result<()> {
    let _ = rustls::crypto::ring::default_provider().install_default();
    let admin_url = std::env::var("DATABASE_URL")
        .unwrap_or_else(|_| "postgres://postgres@127.0.0.1:5432/postgres".into());
    let admin = PgPool::connect(&admin_url).await?;
    let bench = Bench {
        admin,
        admin_url,
        scale: env_or("BENCH_SCALE", 20.0),
    };
    let parts: String = env_or("BENCH_PARTS", "outage,lane".to_string());
    for part in parts.split(',') {
        match part {
            "outage" => bench.outage().await?,
            "lane" => bench.lane().await?,
            "latency" => bench.latency().await?,
            other => bail!("unknown part {other}"),
        }
    }
    Ok(())
}
