//! `simulate` against a log recorded through the real append path: a generator plays
//! realistic lifecycles hour by hour (people click at twenty past, the daemon's sweeps
//! record timeouts and reminders on the hour with a test clock), then the report is
//! checked against the recorded policy (no difference), a shorter confirmation TTL (the
//! expirations computed here, independently of the domain's calendar), a policy file with
//! problems (refused as `check-config` refuses it), and the database afterwards (unchanged).

use std::collections::BTreeMap;
use std::process::{Command as Process, Output};
use std::sync::Arc;
use std::time::Duration as StdDuration;

use capacity_bot::clock::SystemClock;
use capacity_bot::config::Settings;
use capacity_bot::context::AppState;
use capacity_bot::domain::testkit::*;
use capacity_bot::domain::{Actor, Command, RequestId, RequestNumber};
use capacity_bot::scheduler::{sweep_deadlines, sweep_reminders, Sweeper};
use capacity_bot::simulate::Report;
use capacity_bot::slack::api::SlackApi;
use capacity_bot::store::{self, Append, Target, MIGRATOR};
use chrono::{DateTime, Datelike, Duration, TimeZone, Utc, Weekday};
use secrecy::SecretString;
use sqlx::PgPool;
use uuid::Uuid;

use crate::cli::url_of;

const HOLIDAYS: [&str; 2] = ["2026-07-03", "2026-09-07"];
/// Monday 1 June 2026, 09:00 in New York (EDT): long enough ago that every generated
/// request is closed before the binary's own `now`.
const START: &str = "2026-06-01T13:00:00Z";
const REQUESTS: usize = 24;

fn config(confirmation_ttl: u32) -> String {
    format!(
        r#"
[slack]
requests_channel = "C0REQUESTS"

[roles]
commercial_approvers = ["UAPPROVER"]
finance = ["UFINANCE"]
infra = ["UINFRA", "UINFRATWO"]
admins = ["UADMIN"]

[policy]
finance_threshold_usd_month = 50000
customer_confirmation_ttl_business_days = {confirmation_ttl}
activation_ttl_business_days = 10
escalate_after_reminders = 3

[calendar]
time_zone = "America/New_York"
working_hours = "09:00-17:00"
holidays = ["{}", "{}"]
"#,
        HOLIDAYS[0], HOLIDAYS[1]
    )
}

fn settings(confirmation_ttl: u32) -> Settings {
    let env = |_: &str| None;
    Settings::from_toml_str(&config(confirmation_ttl), &env).expect("the test config is valid")
}

fn utc(s: &str) -> DateTime<Utc> {
    s.parse().expect("a valid time")
}

/// End of working hours on the `days`th business day after `from`'s day in New York, worked
/// out here from the weekday and the holiday list, not with the domain's calendar.
fn deadline(from: DateTime<Utc>, days: u32) -> DateTime<Utc> {
    let ny = chrono_tz::America::New_York;
    let mut day = from.with_timezone(&ny).date_naive();
    let mut left = days;
    while left > 0 {
        day = day.succ_opt().unwrap();
        let weekend = matches!(day.weekday(), Weekday::Sat | Weekday::Sun);
        if !weekend && !HOLIDAYS.contains(&day.to_string().as_str()) {
            left -= 1;
        }
    }
    ny.from_local_datetime(&day.and_hms_opt(17, 0, 0).unwrap())
        .single()
        .unwrap()
        .with_timezone(&Utc)
}

#[derive(Debug, Clone)]
enum Who {
    User(&'static str),
    ControlPlane,
}

/// One human step: who, what, and how many hours after the step before it.
type Step = (i64, Who, Command);

/// A request's script and what was done of it.
#[derive(Debug)]
struct Life {
    id: RequestId,
    steps: std::collections::VecDeque<Step>,
    next_at: DateTime<Utc>,
    submitted: bool,
    /// Every step as it was recorded, for the independent expectations.
    done: Vec<(DateTime<Utc>, Command)>,
}

/// A small deterministic generator: the same lifecycles on every run.
struct Rng(u64);

impl Rng {
    fn hours(&mut self, low: i64, high: i64) -> i64 {
        self.0 ^= self.0 << 13;
        self.0 ^= self.0 >> 7;
        self.0 ^= self.0 << 17;
        low + i64::try_from(self.0 % u64::try_from(high - low + 1).unwrap()).unwrap()
    }
}

fn user(u: &'static str, c: Command) -> (Who, Command) {
    (Who::User(u), c)
}

/// Realistic lifecycles, one of eight shapes per request: the happy path with a quick or a
/// slow confirmation, rejections, a confirmation window left to expire and cancelled, a
/// late confirmation then a failure and release, an activation window left to expire then
/// a late activation, a cancellation with committed capacity, an extension.
fn script(i: usize, cost_usd: i64, rng: &mut Rng) -> Vec<Step> {
    let mut s: Vec<Step> = Vec::new();
    let mut at = |h: i64, (who, c): (Who, Command)| s.push((h, who, c));
    let gap = rng.hours(2, 30);
    at(gap, user(AE, Command::CommercialApproved));
    if cost_usd >= 50_000 {
        at(rng.hours(1, 20), user(FINANCE, Command::CommercialApproved));
    }
    let shape = i % 8;
    if shape == 1 {
        // Rejected after the commercial key, by infra.
        at(
            rng.hours(3, 40),
            user(
                INFRA2,
                Command::TechnicalRejected {
                    reason: "no capacity in region".into(),
                },
            ),
        );
        return s;
    }
    at(
        rng.hours(1, 20),
        user(INFRA, Command::TechnicalOwnerAssigned),
    );
    at(rng.hours(1, 30), user(INFRA, Command::TechnicalApproved));
    match shape {
        // Confirmation in 1 to 96 hours: inside the recorded 5 business days always,
        // inside 2 only sometimes.
        0 | 2 => {
            at(rng.hours(1, 96), user(AE, Command::CustomerConfirmed));
            at(
                rng.hours(5, 60),
                user(INFRA, Command::ProvisioningCompleted),
            );
            let activation = if shape == 0 {
                (
                    Who::ControlPlane,
                    Command::Activated {
                        signal_id: Some(format!("signal-{i}")),
                    },
                )
            } else {
                user(REQUESTER, Command::Activated { signal_id: None })
            };
            at(rng.hours(5, 100), activation);
        }
        3 => {
            // Left to expire (12.5 days hold at least 7 business days), then cancelled.
            at(
                rng.hours(2, 30),
                user(
                    REQUESTER,
                    Command::CommentAdded {
                        text: "chasing the customer".into(),
                    },
                ),
            );
            at(300, user(AE, Command::CancelApproved));
        }
        4 => {
            at(300, user(REQUESTER, Command::CustomerConfirmed));
            at(
                rng.hours(10, 50),
                user(
                    INFRA,
                    Command::ProvisioningFailed {
                        reason: "hardware fault".into(),
                    },
                ),
            );
            at(rng.hours(1, 30), user(INFRA2, Command::CapacityReleased));
        }
        5 => {
            at(rng.hours(1, 40), user(AE, Command::CustomerConfirmed));
            at(
                rng.hours(5, 60),
                user(INFRA, Command::ProvisioningCompleted),
            );
            // 400 hours hold at least 11 business days: the activation window expires.
            at(400, user(REQUESTER, Command::Activated { signal_id: None }));
        }
        6 => {
            at(rng.hours(1, 40), user(AE, Command::CustomerConfirmed));
            at(
                rng.hours(5, 40),
                user(
                    REQUESTER,
                    Command::CancelRequested {
                        reason: "the customer changed plans".into(),
                    },
                ),
            );
            at(rng.hours(2, 30), user(AE, Command::CancelApproved));
            at(rng.hours(1, 20), user(INFRA, Command::CapacityReleased));
        }
        _ => {
            at(
                rng.hours(20, 60),
                user(AE, Command::TtlExtended { days: 3 }),
            );
            at(rng.hours(10, 40), user(AE, Command::CustomerConfirmed));
            at(
                rng.hours(5, 60),
                user(INFRA2, Command::ProvisioningCompleted),
            );
            at(
                rng.hours(5, 60),
                user(AE, Command::Activated { signal_id: None }),
            );
        }
    }
    s
}

fn sweeper(pool: &PgPool, settings: &Settings) -> Sweeper {
    let _ = rustls::crypto::ring::default_provider().install_default();
    // Every role is a named user, so the resolver never calls this (unreachable) API. The
    // sweeps are handed their `now`, so the context's clock is never read.
    let token = SecretString::from("xoxb-test");
    let api = SlackApi::new("http://127.0.0.1:9/api", &token, None).expect("client");
    let state = AppState::new(
        Arc::new(settings.clone()),
        pool.clone(),
        api,
        Arc::new(SystemClock),
        None,
        StdDuration::from_secs(300),
    )
    .expect("context");
    Sweeper::new(Arc::new(state))
}

async fn record(
    pool: &PgPool,
    settings: &Settings,
    target: Target,
    who: &Who,
    commands: Vec<Command>,
    now: DateTime<Utc>,
) {
    let (actor, label) = match who {
        Who::User(u) => (actor(u), (*u).to_string()),
        Who::ControlPlane => (Actor::ControlPlane, "control-plane".to_string()),
    };
    let expected_version = match &target {
        Target::Existing(id) => Some(
            store::requests::by_id(pool, *id)
                .await
                .expect("db")
                .expect("exists")
                .version,
        ),
        _ => None,
    };
    let kinds: Vec<_> = commands.iter().map(Command::kind).collect();
    let append = Append {
        idempotency_key: format!("gen:{target:?}:{now}:{label}:{kinds:?}"),
        target,
        commands,
        actor,
        policy: settings.policy.clone(),
        now,
        expected_version,
        envelope_id: None,
        linear: None,
    };
    store::events::append(pool, &append)
        .await
        .unwrap_or_else(|e| panic!("{label} {kinds:?} at {now}: {e}"));
}

/// Plays every lifecycle to its end; returns them with the hour after the last step.
async fn generate(pool: &PgPool, settings: &Settings) -> (Vec<Life>, DateTime<Utc>) {
    let sweeper = sweeper(pool, settings);
    let mut rng = Rng(0x5eed_cafe_f00d);
    let start = utc(START);
    let mut lives = Vec::new();
    for i in 0..REQUESTS {
        let n = i64::try_from(i).unwrap();
        let cost = if i.is_multiple_of(3) {
            60_000
        } else {
            8_000 + 1_000 * n
        };
        let at = start + Duration::hours(rng.hours(0, 6) + 20 * n) + Duration::minutes(20);
        let mut details = submission(cost);
        details.customer = format!("Customer {i}");
        let owner = details
            .commercial_owner
            .clone()
            .expect("the builder names an AE");
        lives.push(Life {
            id: RequestId(Uuid::now_v7()),
            steps: script(i, cost, &mut rng).into(),
            next_at: at,
            submitted: false,
            done: vec![
                (
                    at,
                    Command::Submitted {
                        number: RequestNumber(0),
                        details,
                    },
                ),
                (at, Command::CommercialOwnerAssigned { owner }),
            ],
        });
    }
    let mut t = start;
    loop {
        sweep_deadlines(&sweeper, t).await.expect("deadline sweep");
        sweep_reminders(&sweeper, t).await.expect("reminder sweep");
        let click_at = t + Duration::minutes(20);
        for life in &mut lives {
            if life.next_at != click_at {
                continue;
            }
            if !life.submitted {
                let commands = life.done.iter().map(|(_, c)| c.clone()).collect();
                record(
                    pool,
                    settings,
                    Target::New(life.id),
                    &Who::User(REQUESTER),
                    commands,
                    click_at,
                )
                .await;
                life.submitted = true;
                match life.steps.front() {
                    Some((h, _, _)) => life.next_at = click_at + Duration::hours(*h),
                    None => life.next_at = DateTime::<Utc>::MAX_UTC,
                }
                continue;
            }
            let (_, who, command) = life.steps.pop_front().expect("a step is due");
            record(
                pool,
                settings,
                Target::Existing(life.id),
                &who,
                vec![command.clone()],
                click_at,
            )
            .await;
            life.done.push((click_at, command));
            life.next_at = match life.steps.front() {
                Some((h, _, _)) => click_at + Duration::hours(*h),
                None => DateTime::<Utc>::MAX_UTC,
            };
        }
        if lives.iter().all(|l| l.submitted && l.steps.is_empty()) {
            return (lives, t + Duration::hours(1));
        }
        t += Duration::hours(1);
    }
}

/// The customer-confirmation expiries of one lifecycle under a confirmation TTL of `days`,
/// from the steps as the generator recorded them.
fn confirmation_expiries(life: &Life, days: u32) -> Vec<DateTime<Utc>> {
    let mut expiries = Vec::new();
    let mut open: Option<DateTime<Utc>> = None;
    let mut expired = false;
    for (at, command) in &life.done {
        if let Some(d) = open.filter(|d| d <= at) {
            expiries.push(d);
            open = None;
            expired = true;
        }
        match command {
            Command::TechnicalApproved => open = Some(deadline(*at, days)),
            Command::TtlExtended { days } if expired => {
                open = Some(deadline(*at, *days));
                expired = false;
            }
            Command::TtlExtended { days } => open = open.map(|d| deadline(d, *days)),
            Command::CustomerConfirmed
            | Command::CancelApproved
            | Command::CancelRequested { .. } => {
                open = None;
                expired = false;
            }
            _ => {}
        }
    }
    expiries
}

async fn fingerprint(pool: &PgPool) -> BTreeMap<String, (i64, String)> {
    let tables: Vec<String> = sqlx::query_scalar(
        "SELECT table_name::text FROM information_schema.tables \
         WHERE table_schema = 'capacity' AND table_type = 'BASE TABLE' ORDER BY 1",
    )
    .fetch_all(pool)
    .await
    .expect("tables");
    assert!(tables.len() >= 4, "{tables:?}");
    let mut out = BTreeMap::new();
    for t in tables {
        let row: (i64, String) = sqlx::query_as(sqlx::AssertSqlSafe(format!(
            "SELECT count(*), coalesce(md5(string_agg(md5(x::text), '' ORDER BY md5(x::text))), '') \
             FROM capacity.{t} x"
        )))
        .fetch_one(pool)
        .await
        .expect("fingerprint");
        out.insert(t, row);
    }
    let sequences: Vec<(String, Option<i64>)> = sqlx::query_as(
        "SELECT sequencename::text, last_value FROM pg_sequences WHERE schemaname = 'capacity'",
    )
    .fetch_all(pool)
    .await
    .expect("sequences");
    for (name, last) in sequences {
        out.insert(
            format!("sequence {name}"),
            (last.unwrap_or(0), String::new()),
        );
    }
    out
}

fn bot(url: Option<&str>, args: &[&str]) -> Output {
    let mut c = Process::new(env!("CARGO_BIN_EXE_capacity-bot"));
    c.args(args).env_remove("CAPACITY_BOT_CONFIG");
    match url {
        Some(url) => c.env("DATABASE_URL", url),
        None => c.env_remove("DATABASE_URL"),
    };
    c.output().expect("the binary runs")
}

fn text(b: &[u8]) -> String {
    String::from_utf8_lossy(b).into_owned()
}

async fn report(pool: &PgPool, confirmation_ttl: u32, now: DateTime<Utc>) -> Report {
    capacity_bot::cli::simulate::report(pool, settings(confirmation_ttl).policy, now, None)
        .await
        .expect("simulate reads the log")
}

#[sqlx::test(migrator = "MIGRATOR")]
async fn the_recorded_policy_changes_nothing_and_nothing_is_written(pool: PgPool) {
    let recorded = settings(5);
    let (lives, end) = generate(&pool, &recorded).await;
    let kinds: Vec<String> =
        sqlx::query_scalar("SELECT DISTINCT kind FROM capacity.capacity_request_events")
            .fetch_all(&pool)
            .await
            .unwrap();
    for k in [
        "customer_confirmation_timeout",
        "activation_timeout",
        "reminder_sent",
        "ttl_extended",
        "capacity_released",
    ] {
        assert!(
            kinds.iter().any(|x| x == k),
            "the generator never recorded {k}"
        );
    }
    let before = fingerprint(&pool).await;

    let r = report(&pool, 5, end + Duration::days(1)).await;
    assert_eq!(r.totals.requests, lives.len());
    assert_eq!(r.totals.differing, 0, "{:#?}", r.requests);
    assert!(r.requests.is_empty() && r.unreadable.is_empty());
    assert!(r.policy_changes.is_empty(), "{:?}", r.policy_changes);
    assert_eq!(r.totals.expired.recorded, r.totals.expired.simulated);
    assert!(r.totals.expired.recorded >= 4, "{:?}", r.totals);
    assert!(r.totals.reminders.recorded > 50, "{:?}", r.totals);
    assert!(r.totals.escalations.recorded > 0, "{:?}", r.totals);
    assert!(r.totals.cost_at_risk_cents.recorded > 0, "{:?}", r.totals);

    // Through the binary, at its own `now`: every request is closed, so nothing accrues.
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("same.toml");
    std::fs::write(&file, config(5)).unwrap();
    let url = url_of(&pool);
    let path = file.to_str().unwrap();
    let o = bot(Some(&url), &["simulate", "--policy", path]);
    assert!(o.status.success(), "{}", text(&o.stderr));
    let out = text(&o.stdout);
    assert!(
        out.contains(&format!(
            "0 of {} request(s) would differ: 0 newly expired, 0 no longer expired.",
            lives.len()
        )),
        "{out}"
    );
    assert!(
        out.contains("The file's policy is the one last recorded."),
        "{out}"
    );
    assert!(!out.contains("Requests that would differ"), "{out}");

    let o = bot(
        Some(&url),
        &["simulate", "--policy", path, "--format", "json"],
    );
    assert!(o.status.success(), "{}", text(&o.stderr));
    let json: serde_json::Value = serde_json::from_slice(&o.stdout).expect("json");
    assert_eq!(json["totals"]["differing"], 0);
    assert_eq!(json["totals"]["requests"], lives.len());
    assert_eq!(json["requests"], serde_json::json!([]));

    // A window that starts after the last submission replays nothing.
    let o = bot(
        Some(&url),
        &[
            "simulate",
            "--policy",
            path,
            "--since",
            "2026-08-01",
            "--format",
            "json",
        ],
    );
    assert!(o.status.success(), "{}", text(&o.stderr));
    let json: serde_json::Value = serde_json::from_slice(&o.stdout).expect("json");
    assert_eq!(json["totals"]["requests"], 0);

    assert_eq!(
        fingerprint(&pool).await,
        before,
        "simulate wrote to the database"
    );
}

#[sqlx::test(migrator = "MIGRATOR")]
async fn a_shorter_confirmation_ttl_reports_exactly_the_expected_expirations(pool: PgPool) {
    let (lives, end) = generate(&pool, &settings(5)).await;
    let before = fingerprint(&pool).await;
    let r = report(&pool, 2, end + Duration::days(1)).await;
    assert_eq!(r.totals.requests, lives.len());
    assert_eq!(r.totals.refused_steps, 0, "{:#?}", r.requests);

    let mut newly = 0;
    let mut checked_changed = 0;
    for life in &lives {
        let was = confirmation_expiries(life, 5);
        let expected = confirmation_expiries(life, 2);
        let number = store::requests::by_id(&pool, life.id)
            .await
            .unwrap()
            .unwrap()
            .number
            .to_string();
        let diff = r.requests.iter().find(|d| d.request == number);
        let gate_expiries = |d: &capacity_bot::simulate::RequestDiff, simulated: bool| {
            let o = if simulated {
                d.simulated.as_ref().unwrap()
            } else {
                &d.recorded
            };
            o.expiries
                .iter()
                .filter(|e| e.gate.as_str() == "customer_confirmation")
                .map(|e| e.at)
                .collect::<Vec<_>>()
        };
        match diff {
            Some(d) => {
                assert_eq!(gate_expiries(d, false), was, "{number} as recorded");
                assert_eq!(gate_expiries(d, true), expected, "{number} simulated");
                // The activation gate is not touched by this policy.
                let activation = |o: &capacity_bot::simulate::Outcome| {
                    o.expiries
                        .iter()
                        .filter(|e| e.gate.as_str() == "activation")
                        .count()
                };
                assert_eq!(
                    activation(&d.recorded),
                    activation(d.simulated.as_ref().unwrap())
                );
                if was != expected {
                    checked_changed += 1;
                }
            }
            None => assert_eq!(was, expected, "{number} should have been reported"),
        }
        if was.is_empty() && !expected.is_empty() {
            newly += 1;
        }
    }
    assert!(
        checked_changed >= 3,
        "too few changed requests to mean anything"
    );
    assert_eq!(r.totals.newly_expired, newly);
    assert_eq!(r.totals.no_longer_expired, 0);

    // The same through the binary, as a table and as JSON.
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("short.toml");
    std::fs::write(&file, config(2)).unwrap();
    let url = url_of(&pool);
    let path = file.to_str().unwrap();
    let o = bot(Some(&url), &["simulate", "--policy", path]);
    assert!(o.status.success(), "{}", text(&o.stderr));
    let out = text(&o.stdout);
    assert!(
        out.contains("policy.customer_confirmation_ttl_business_days: 5 -> 2"),
        "{out}"
    );
    assert!(out.contains(&format!("{newly} newly expired")), "{out}");
    assert!(out.contains("REQUEST  OWNER"), "{out}");
    for d in &r.requests {
        assert!(
            out.contains(&format!("\n{} ", d.request)),
            "{} missing:\n{out}",
            d.request
        );
    }
    assert!(out.contains("no -> customer_confirmation 2026-"), "{out}");
    let o = bot(
        Some(&url),
        &["simulate", "--policy", path, "--format", "json"],
    );
    assert!(o.status.success(), "{}", text(&o.stderr));
    let json: serde_json::Value = serde_json::from_slice(&o.stdout).expect("json");
    assert_eq!(json["totals"]["newly_expired"], newly);
    assert_eq!(json["requests"].as_array().unwrap().len(), r.requests.len());
    assert_eq!(json["policy"]["customer_confirmation_ttl_business_days"], 2);

    assert_eq!(
        fingerprint(&pool).await,
        before,
        "simulate wrote to the database"
    );
}

#[test]
fn a_policy_file_with_problems_is_refused_as_check_config_refuses_it() {
    let dir = tempfile::tempdir().unwrap();
    let bad = dir.path().join("bad.toml");
    std::fs::write(
        &bad,
        config(0)
            .replace("America/New_York", "Mars/Olympus")
            .replace(
                "escalate_after_reminders = 3",
                "escalate_after_remindres = 3",
            ),
    )
    .unwrap();
    let path = bad.to_str().unwrap();
    let checked = bot(None, &["check-config", "--config", path]);
    // No database is needed to refuse a file: it is checked first.
    let simulated = bot(None, &["simulate", "--policy", path]);
    assert_eq!(checked.status.code(), Some(1));
    assert_eq!(simulated.status.code(), checked.status.code());
    let err = text(&simulated.stderr);
    assert_eq!(err, text(&checked.stderr));
    assert!(text(&simulated.stdout).is_empty());
    for field in [
        "3 problem(s)",
        "policy.customer_confirmation_ttl_business_days",
        "calendar.time_zone",
        "policy.escalate_after_remindres",
    ] {
        assert!(err.contains(field), "{field} missing from:\n{err}");
    }
    let missing = dir.path().join("missing.toml");
    let missing = missing.to_str().unwrap();
    let checked = bot(None, &["check-config", "--config", missing]);
    let simulated = bot(None, &["simulate", "--policy", missing]);
    assert_eq!(simulated.status.code(), Some(1));
    assert_eq!(text(&simulated.stderr), text(&checked.stderr));
}

#[test]
fn the_independent_deadline_matches_the_design_example() {
    // DESIGN.md: a gate opened Thursday with TTL 5 closes the next Thursday at 17:00.
    assert_eq!(
        deadline(utc("2026-12-03T15:00:00Z"), 5),
        utc("2026-12-10T22:00:00Z")
    );
    // Thursday 2 July + 2 skips the 3 July holiday and the weekend: Tuesday 7 July, EDT.
    assert_eq!(
        deadline(utc("2026-07-02T15:00:00Z"), 2),
        utc("2026-07-07T21:00:00Z")
    );
}
