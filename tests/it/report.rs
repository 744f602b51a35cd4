//! `report` against a log written through the real append: a generator plays realistic
//! lifecycles with a test clock (approvals, finance keys, reminders and escalations,
//! confirmation timeouts, revivals, commitments and activations), keeps its own record of
//! what happened, and the report's figures are compared with figures computed here from
//! that record.

use std::collections::BTreeMap;
use std::process::Output;

use capacity_bot::domain::testkit::{actor, submission, AE, FINANCE, INFRA, INFRA2, REQUESTER};
use capacity_bot::domain::{Actor, Calendar, Command, Request, RequestId, RequestNumber, State};
use capacity_bot::report;
use capacity_bot::store::{self, Appended, Target, MIGRATOR};
use chrono::{DateTime, Duration, Utc};
use serde_json::Value;
use slack_emulator::Emulator;
use sqlx::PgPool;
use uuid::Uuid;

use crate::support::append_for;
use crate::support::harness::{emulator_config, settings_toml};

/// Monday 1 June 2026, 09:00 in New York: well before any real "now" the CLI runs at.
fn base() -> DateTime<Utc> {
    "2026-06-01T13:00:00Z".parse().unwrap()
}

/// The one place the generator builds an append; the rest of it speaks in commands.
async fn record(
    pool: &PgPool,
    target: Target,
    who: Actor,
    commands: Vec<Command>,
    now: DateTime<Utc>,
) -> Appended {
    let key = format!("gen:{}", Uuid::now_v7());
    store::events::append(pool, &append_for(target, commands, who, now, None, &key))
        .await
        .expect("the generator plays only steps the lifecycle allows")
}

/// One stay in one stage, as the generator played it.
#[derive(Debug, Clone)]
struct Stay {
    stage: State,
    entered: DateTime<Utc>,
    left: Option<DateTime<Utc>>,
    /// Who decided, when a person left the stage by a decision.
    decider: Option<String>,
}

/// What the generator knows happened.
#[derive(Debug, Default)]
struct Truth {
    stays: Vec<Stay>,
    /// (stage, when) of each escalation and each timeout.
    escalations: Vec<(State, DateTime<Utc>)>,
    timeouts: Vec<(State, DateTime<Utc>, i64)>,
    commitments: Vec<Commitment>,
    /// Open requests' decision owners.
    open_owners: BTreeMap<String, usize>,
    end: DateTime<Utc>,
}

/// Capacity committed for one request: from when, until when (still committed: `None`).
#[derive(Debug)]
struct Commitment {
    number: i64,
    monthly: i64,
    from: DateTime<Utc>,
    to: Option<DateTime<Utc>>,
}

/// A tiny deterministic generator of choices (no dependency, same log every run).
struct Dice(u64);

impl Dice {
    fn next(&mut self, n: u64) -> u64 {
        self.0 = self
            .0
            .wrapping_mul(6364136223846793005)
            .wrapping_add(1442695040888963407);
        (self.0 >> 33) % n
    }

    /// A delay of whole quarter hours between `min_h` and `max_h` hours.
    fn hours(&mut self, min_h: u64, max_h: u64) -> Duration {
        let quarters = min_h * 4 + self.next((max_h - min_h) * 4 + 1);
        Duration::minutes(15 * quarters as i64)
    }
}

/// One request being played: its current stage and when it was entered.
struct Playing<'a> {
    pool: &'a PgPool,
    truth: &'a mut Truth,
    id: RequestId,
    req: Request,
    now: DateTime<Utc>,
}

impl Playing<'_> {
    /// Sends every reminder (and escalation) that falls due before `until`, as the
    /// scheduler's sweep would, and moves the clock to `until`.
    async fn wait_until(&mut self, until: DateTime<Utc>) {
        let cal = Calendar::default();
        while let Some(due) = self.req.reminder_due_at {
            let deadline_passed = self.req.deadline.is_some_and(|d| d.at <= due);
            if due >= until || deadline_passed {
                break;
            }
            let mut events = vec![Command::ReminderSent {
                slot: cal.local_date(due).format("%Y-%m-%d").to_string(),
                recipients: vec![capacity_bot::domain::testkit::uid(AE)],
                escalation: false,
            }];
            if self.req.reminders_sent + 1 == 3 {
                events.push(Command::ReminderSent {
                    slot: format!("{}:escalation", cal.local_date(due).format("%Y-%m-%d")),
                    recipients: vec![capacity_bot::domain::testkit::uid(AE)],
                    escalation: true,
                });
                self.truth.escalations.push((self.req.state, due));
            }
            let done = record(
                self.pool,
                Target::Existing(self.id),
                Actor::Scheduler,
                events,
                due,
            )
            .await;
            self.req = done.request;
        }
        self.now = until;
    }

    /// Records `command` by `who` after `delay`; a state change closes the current stay.
    async fn step(&mut self, delay: Duration, who: Actor, command: Command) {
        let at = self.now + delay;
        self.wait_until(at).await;
        let before = self.req.state;
        let done = record(
            self.pool,
            Target::Existing(self.id),
            who.clone(),
            vec![command],
            at,
        )
        .await;
        self.req = done.request;
        if self.req.state != before {
            let stay = self.truth.stays.last_mut().expect("a stay is open");
            stay.left = Some(at);
            stay.decider = match &who {
                Actor::Scheduler => None,
                other => Some(other.label()),
            };
            if matches!(who, Actor::Scheduler) {
                let number = self.req.number.0;
                self.truth.timeouts.push((before, at, number));
            }
            if !self.req.state.is_terminal() {
                self.truth.stays.push(Stay {
                    stage: self.req.state,
                    entered: at,
                    left: None,
                    decider: None,
                });
            }
        }
    }
}

/// Plays `n` requests, one submitted every 9 hours from [`base`].
async fn generate(pool: &PgPool, n: u64) -> Truth {
    let mut truth = Truth::default();
    let mut dice = Dice(42);
    let infra = [INFRA, INFRA2];
    for i in 0..n {
        let start = base() + Duration::hours(9 * i as i64);
        let finance = dice.next(3) == 0;
        let details = submission(if finance {
            60_000
        } else {
            20_000 + 500 * i as i64
        });
        let monthly = details.est_monthly_cost_cents;
        let id = RequestId(Uuid::now_v7());
        let owner = details.commercial_owner.clone().unwrap();
        let done = record(
            pool,
            Target::New(id),
            actor(REQUESTER),
            vec![
                Command::Submitted {
                    number: RequestNumber(0),
                    details,
                },
                Command::CommercialOwnerAssigned { owner },
            ],
            start,
        )
        .await;
        let number = done.request.number.0;
        truth.stays.push(Stay {
            stage: State::Submitted,
            entered: start,
            left: Some(start),
            decider: Some(REQUESTER.into()),
        });
        truth.stays.push(Stay {
            stage: State::CommercialApprovalRequired,
            entered: start,
            left: None,
            decider: None,
        });
        let mut p = Playing {
            pool,
            truth: &mut truth,
            id,
            req: done.request,
            now: start,
        };
        // Commercial approval, sometimes slow enough for reminders and an escalation.
        let slow = dice.next(4) == 0;
        let d = if slow {
            dice.hours(60, 120)
        } else {
            dice.hours(1, 30)
        };
        if dice.next(10) == 0 {
            p.step(
                d,
                actor(AE),
                Command::CommercialRejected {
                    reason: "no budget".into(),
                },
            )
            .await;
            continue;
        }
        p.step(d, actor(AE), Command::CommercialApproved).await;
        if finance {
            p.step(
                dice.hours(1, 20),
                actor(FINANCE),
                Command::CommercialApproved,
            )
            .await;
        }
        let tech = infra[dice.next(2) as usize];
        p.step(dice.hours(1, 40), actor(tech), Command::TechnicalApproved)
            .await;
        let deadline = p.req.deadline.expect("the confirmation deadline is set").at;
        let times_out = dice.next(4) == 0;
        if times_out {
            let late = deadline - p.now;
            p.step(late, Actor::Scheduler, Command::CustomerConfirmationTimeout)
                .await;
            match dice.next(3) {
                0 => {
                    *p.truth.open_owners.entry(AE.into()).or_default() += 1;
                    continue;
                }
                1 => {
                    p.step(dice.hours(1, 30), actor(AE), Command::CancelApproved)
                        .await;
                    continue;
                }
                _ => {}
            }
        } else {
            // Any quarter hour before the deadline.
            let quarters = ((deadline - p.now).num_minutes() / 15 - 1).max(1) as u64;
            let d = Duration::minutes(15 * (1 + dice.next(quarters)) as i64);
            p.step(d, actor(AE), Command::CustomerConfirmed).await;
        }
        if p.req.state == State::Expired {
            p.step(dice.hours(1, 10), actor(AE), Command::CustomerConfirmed)
                .await;
        }
        let committed = p.now;
        // The last requests are still being provisioned: capacity committed now.
        if i + 3 >= n {
            p.truth.commitments.push(Commitment {
                number,
                monthly,
                from: committed,
                to: None,
            });
            *p.truth.open_owners.entry(tech.into()).or_default() += 1;
            continue;
        }
        p.step(
            dice.hours(2, 50),
            actor(infra[dice.next(2) as usize]),
            Command::ProvisioningCompleted,
        )
        .await;
        p.step(
            dice.hours(1, 60),
            actor(REQUESTER),
            Command::Activated { signal_id: None },
        )
        .await;
        p.truth.commitments.push(Commitment {
            number,
            monthly,
            from: committed,
            to: Some(p.now),
        });
    }
    truth.end = truth
        .stays
        .iter()
        .flat_map(|s| [Some(s.entered), s.left])
        .flatten()
        .max()
        .unwrap_or_else(base);
    truth
}

/// Linear interpolation between ranks (the usual definition, as in `percentile_cont`).
fn percentile(sorted: &[f64], p: f64) -> f64 {
    let rank = p * (sorted.len() - 1) as f64;
    let lo = rank.floor() as usize;
    let hi = rank.ceil() as usize;
    sorted[lo] + (sorted[hi] - sorted[lo]) * (rank - lo as f64)
}

/// Working seconds, counted a quarter hour at a time: every generated time is on one.
fn working_seconds(from: DateTime<Utc>, to: DateTime<Utc>) -> f64 {
    let cal = Calendar::default();
    let mut t = from;
    let mut quarters = 0;
    while t < to {
        if cal.is_working_time(t) {
            quarters += 1;
        }
        t += Duration::minutes(15);
    }
    f64::from(quarters) * 900.0
}

struct Expected {
    decisions: usize,
    wall: [f64; 3],
    business: [f64; 3],
}

fn expected_times(stays: &[&Stay]) -> Expected {
    let mut wall: Vec<f64> = stays
        .iter()
        .map(|s| (s.left.unwrap() - s.entered).num_seconds() as f64)
        .collect();
    let mut business: Vec<f64> = stays
        .iter()
        .map(|s| working_seconds(s.entered, s.left.unwrap()))
        .collect();
    wall.sort_by(f64::total_cmp);
    business.sort_by(f64::total_cmp);
    let three = |v: &[f64]| [percentile(v, 0.5), percentile(v, 0.9), v[v.len() - 1]];
    Expected {
        decisions: stays.len(),
        wall: three(&wall),
        business: three(&business),
    }
}

fn close(a: f64, b: f64) -> bool {
    (a - b).abs() < 1e-6
}

fn check_times(what: &str, got: &report::figures::DecisionTimes, want: &Expected) {
    assert_eq!(got.decisions, want.decisions, "{what}: decisions");
    let w = got
        .wall_seconds
        .unwrap_or_else(|| panic!("{what}: wall times"));
    let b = got
        .business_seconds
        .unwrap_or_else(|| panic!("{what}: business times"));
    for (name, g, e) in [
        ("wall median", w.median, want.wall[0]),
        ("wall p90", w.p90, want.wall[1]),
        ("wall max", w.max, want.wall[2]),
        ("business median", b.median, want.business[0]),
        ("business p90", b.p90, want.business[1]),
        ("business max", b.max, want.business[2]),
    ] {
        assert!(close(g, e), "{what}: {name} is {g}, expected {e}");
    }
}

/// Checks every stage's figures against the generator's record, for stays decided at or
/// after `since`.
fn check_figures(
    f: &report::figures::Figures,
    truth: &Truth,
    since: Option<DateTime<Utc>>,
    now: DateTime<Utc>,
) {
    let in_window = |t: DateTime<Utc>| since.is_none_or(|s| t >= s);
    for s in &f.stages {
        let decided: Vec<&Stay> = truth
            .stays
            .iter()
            .filter(|x| x.stage == s.stage && x.decider.is_some() && x.left.is_some_and(in_window))
            .collect();
        if decided.is_empty() {
            assert_eq!(s.times.decisions, 0, "{}", s.stage);
        } else {
            check_times(s.stage.as_str(), &s.times, &expected_times(&decided));
            let mut deciders: BTreeMap<&str, Vec<&Stay>> = BTreeMap::new();
            for x in &decided {
                deciders
                    .entry(x.decider.as_deref().unwrap())
                    .or_default()
                    .push(x);
            }
            assert_eq!(s.by_owner.len(), deciders.len(), "{}: deciders", s.stage);
            for o in &s.by_owner {
                let want = expected_times(&deciders[o.owner.id.as_str()]);
                check_times(&format!("{} by {}", s.stage, o.owner.id), &o.times, &want);
            }
        }
        let open = truth
            .stays
            .iter()
            .filter(|x| x.stage == s.stage && x.left.is_none())
            .count();
        assert_eq!(s.open_now, open, "{}: open now", s.stage);
        let missed = truth
            .timeouts
            .iter()
            .filter(|t| t.0 == s.stage && in_window(t.1))
            .count();
        assert_eq!(
            s.deadlines_missed, missed as i64,
            "{}: deadlines missed",
            s.stage
        );
        let esc = truth
            .escalations
            .iter()
            .filter(|e| e.0 == s.stage && in_window(e.1))
            .count();
        assert_eq!(s.escalations, esc as i64, "{}: escalations", s.stage);
        assert_eq!(s.forced_transitions, 0);
    }
    let escalations = truth.escalations.iter().filter(|e| in_window(e.1)).count() as i64;
    assert!(
        since.is_some() || escalations > 0,
        "the generator escalates some requests"
    );
    assert_eq!(f.totals.escalations, escalations);
    let timeouts: Vec<_> = truth.timeouts.iter().filter(|t| in_window(t.1)).collect();
    assert!(
        since.is_some() || !timeouts.is_empty(),
        "the generator lets some deadlines pass"
    );
    assert_eq!(f.totals.deadlines_missed, timeouts.len() as i64);
    assert_eq!(
        f.totals.expirations,
        timeouts.len() as i64,
        "each request times out once"
    );

    // Cost at risk inside the window, per request and in total.
    let mut want: BTreeMap<String, i64> = BTreeMap::new();
    for c in &truth.commitments {
        let (number, monthly) = (c.number, c.monthly);
        let from = since.map_or(c.from, |s| s.max(c.from));
        let to = c.to.unwrap_or(now).min(now);
        if to > from || since.is_none() {
            let secs = (to - from).num_seconds().max(0);
            want.insert(format!("CR-{number}"), monthly * secs / (30 * 24 * 3600));
        }
    }
    let got: BTreeMap<String, i64> = f
        .costs
        .iter()
        .map(|c| (c.request.clone(), c.accrued_cents))
        .collect();
    assert_eq!(got, want, "cost at risk per request");
    assert_eq!(f.totals.cost_at_risk_cents, want.values().sum::<i64>());

    // Committed now: the requests still being provisioned.
    let committed: Vec<_> = truth
        .commitments
        .iter()
        .filter(|c| c.to.is_none())
        .collect();
    assert_eq!(f.committed_now.len(), committed.len());
    assert_eq!(
        f.totals.committed_monthly_cents,
        committed.iter().map(|c| c.monthly).sum::<i64>()
    );
    for c in &committed {
        let line = f
            .committed_now
            .iter()
            .find(|l| l.request == format!("CR-{}", c.number))
            .expect("listed as committed");
        assert_eq!(
            line.cost_at_risk_cents,
            c.monthly * (now - c.from).num_seconds() / (30 * 24 * 3600)
        );
    }
    let owners: BTreeMap<String, usize> = f
        .open_by_owner
        .iter()
        .map(|o| (o.owner.id.clone(), o.requests))
        .collect();
    assert_eq!(owners, truth.open_owners, "open requests by decision owner");
    // The chart's last point is the cost at risk of what is committed now.
    let (at, last) = *f.cost_over_time.last().expect("a series");
    assert_eq!(at, now);
    let now_total: i64 = f.committed_now.iter().map(|c| c.cost_at_risk_cents).sum();
    assert!(
        (last - now_total).abs() <= committed.len() as i64,
        "{last} vs {now_total}"
    );
}

#[sqlx::test(migrator = "MIGRATOR")]
async fn figures_match_what_the_generator_played(pool: PgPool) {
    let truth = generate(&pool, 36).await;
    let now = truth.end + Duration::hours(5);
    let cal = Calendar::default();
    let r = report::gather(&pool, None, now, &cal).await.unwrap();
    check_figures(&r.figures, &truth, None, now);

    // A window: only what was decided, missed or escalated since then, and cost accrued since.
    let since = base() + Duration::days(6);
    let r = report::gather(&pool, Some(since), now, &cal).await.unwrap();
    check_figures(&r.figures, &truth, Some(since), now);
}

fn command(args: &[&str], env: &[(&str, String)]) -> std::process::Command {
    let mut c = std::process::Command::new(env!("CARGO_BIN_EXE_capacity-bot"));
    c.args(args)
        .env_remove("CAPACITY_BOT_CONFIG")
        .env_remove("SLACK_BOT_TOKEN")
        .env_remove("SLACK_APP_TOKEN")
        .env_remove("SLACK_API_URL");
    for (k, v) in env {
        c.env(k, v);
    }
    c
}

/// The binary, while this test's runtime keeps serving the emulator it calls.
async fn bot(args: &[&str], env: &[(&str, String)]) -> Output {
    tokio::process::Command::from(command(args, env))
        .output()
        .await
        .expect("the binary runs")
}

fn url_of(pool: &PgPool) -> String {
    let base = std::env::var("DATABASE_URL")
        .unwrap_or_else(|_| "postgres://postgres@127.0.0.1:5432/postgres".into());
    let db = pool.connect_options().get_database().unwrap().to_string();
    format!("{}/{db}", base.rsplit_once('/').unwrap().0)
}

#[sqlx::test(migrator = "MIGRATOR")]
async fn every_format_holds_the_figures_and_names_people(pool: PgPool) {
    let truth = generate(&pool, 12).await;
    let emu = Emulator::start(emulator_config()).await.unwrap();
    let dir = tempfile::tempdir().unwrap();
    let config = dir.path().join("config.toml");
    std::fs::write(&config, settings_toml(emu.team_id())).unwrap();
    let env = [
        ("DATABASE_URL", url_of(&pool)),
        ("CAPACITY_BOT_CONFIG", config.display().to_string()),
        ("SLACK_BOT_TOKEN", emu.bot_token().to_string()),
        ("SLACK_API_URL", emu.api_url()),
    ];
    let decided = |stage: State| {
        truth
            .stays
            .iter()
            .filter(|s| s.stage == stage && s.decider.is_some())
            .count()
    };

    let o = bot(&["report", "--format", "json"], &env).await;
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    let json: Value = serde_json::from_slice(&o.stdout).unwrap();
    let stages = json["stages"].as_array().unwrap();
    let approval = stages
        .iter()
        .find(|s| s["stage"] == "COMMERCIAL_APPROVAL_REQUIRED")
        .unwrap();
    assert_eq!(
        approval["decisions"].as_u64().unwrap() as usize,
        decided(State::CommercialApprovalRequired)
    );
    let names: Vec<&str> = approval["by_owner"]
        .as_array()
        .unwrap()
        .iter()
        .map(|o| o["owner"]["name"].as_str().unwrap())
        .collect();
    assert!(
        names.contains(&"alex") && names.contains(&"fin"),
        "{names:?}"
    );
    let review = stages
        .iter()
        .find(|s| s["stage"] == "TECHNICAL_REVIEW_REQUIRED")
        .unwrap();
    let names: Vec<&str> = review["by_owner"]
        .as_array()
        .unwrap()
        .iter()
        .map(|o| o["owner"]["name"].as_str().unwrap())
        .collect();
    assert!(
        names.iter().all(|n| ["ivan", "ines"].contains(n)),
        "{names:?}"
    );

    let o = bot(&["report", "--format", "csv"], &env).await;
    assert!(o.status.success());
    let csv = String::from_utf8(o.stdout).unwrap();
    let mut lines = csv.lines();
    assert_eq!(lines.next(), Some(report::csv::HEADER));
    let rows: Vec<Vec<&str>> = lines.map(|l| l.split(',').collect()).collect();
    assert!(rows.iter().all(|r| r.len() == 7), "every row has 7 fields");
    let total_decisions: usize = truth.stays.iter().filter(|s| s.decider.is_some()).count();
    assert!(
        rows.contains(&vec![
            "total",
            "",
            "",
            "",
            "",
            "decisions",
            &total_decisions.to_string()
        ]),
        "{csv}"
    );
    assert!(
        rows.iter().any(|r| r[0] == "stage_owner" && r[2] == "alex"),
        "{csv}"
    );

    let page = dir.path().join("report.html");
    let o = bot(
        &[
            "report",
            "--format",
            "html",
            "--out",
            page.to_str().unwrap(),
        ],
        &env,
    )
    .await;
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    assert!(o.stdout.is_empty(), "the page goes to the file");
    let html = std::fs::read_to_string(&page).unwrap();
    assert!(html.starts_with("<!DOCTYPE html>"));
    assert_eq!(html.matches("<svg").count(), 3, "three charts");
    for absent in ["<script", "src=", "href=", "url(", "@import"] {
        assert!(!html.contains(absent), "nothing fetched or run: {absent}");
    }
    for present in [
        "Cost at risk over time",
        "Time to decision per stage",
        "alex",
        "ivan",
    ] {
        assert!(html.contains(present), "{present}");
    }

    let o = bot(&["report"], &env).await;
    let table = String::from_utf8(o.stdout).unwrap();
    assert!(table.contains("Commercial approval required"), "{table}");
    assert!(table.contains("  alex"), "{table}");

    // Without Slack the ids are shown.
    let o = bot(&["report"], &env[..1]).await;
    assert!(o.status.success());
    let table = String::from_utf8(o.stdout).unwrap();
    assert!(
        table.contains(&format!("  {AE}")) && !table.contains("alex"),
        "{table}"
    );
    emu.shutdown().await;
}

#[test]
fn bad_periods_are_one_line_and_exit_2() {
    let env = [(
        "DATABASE_URL",
        "postgres://postgres@127.0.0.1:1/nothing".to_string(),
    )];
    for (args, says) in [
        (vec!["report", "--since", "last tuesday"], "use YYYY-MM-DD"),
        (
            vec!["report", "--since", "2026-11-01", "--days", "7"],
            "use one of them",
        ),
        (vec!["report", "--days", "many"], "whole number"),
    ] {
        let o = command(&args, &env).output().unwrap();
        assert_eq!(o.status.code(), Some(2), "{args:?}");
        let err = String::from_utf8_lossy(&o.stderr);
        assert_eq!(err.lines().count(), 1, "{err}");
        assert!(err.starts_with("error: ") && err.contains(says), "{err}");
    }
    let o = command(&["report", "--format", "xml"], &env)
        .output()
        .unwrap();
    assert_eq!(o.status.code(), Some(2), "clap refuses an unknown format");
}
