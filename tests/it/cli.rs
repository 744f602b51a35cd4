//! The command line against a real database: what an operator types, what they read, and
//! the exit code their scripts see.

use std::process::{Command, Output};

use capacity_bot::store::MIGRATOR;
use sqlx::PgPool;

use crate::support::submit;

/// The URL of the test's own database (same server as DATABASE_URL, another name).
pub(crate) fn url_of(pool: &PgPool) -> String {
    let base = std::env::var("DATABASE_URL")
        .unwrap_or_else(|_| "postgres://postgres@127.0.0.1:5432/postgres".into());
    let db = pool
        .connect_options()
        .get_database()
        .expect("test database has a name")
        .to_string();
    match base.rsplit_once('/') {
        Some((server, _)) => format!("{server}/{db}"),
        None => base,
    }
}

fn bot(url: &str, args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_capacity-bot"))
        .args(args)
        .env("DATABASE_URL", url)
        .env_remove("CAPACITY_BOT_CONFIG")
        .output()
        .expect("the binary runs")
}

fn stdout(o: &Output) -> String {
    String::from_utf8_lossy(&o.stdout).into_owned()
}

fn stderr(o: &Output) -> String {
    String::from_utf8_lossy(&o.stderr).into_owned()
}

#[sqlx::test(migrations = false)]
async fn migrate_then_list_works_on_a_fresh_database(pool: PgPool) {
    let url = url_of(&pool);
    let o = bot(&url, &["requests", "list"]);
    assert_eq!(o.status.code(), Some(1));
    assert!(
        stderr(&o).contains("run `capacity-bot migrate` first"),
        "{}",
        stderr(&o)
    );
    let o = bot(&url, &["migrate"]);
    assert!(o.status.success(), "{}", stderr(&o));
    let o = bot(&url, &["migrate"]);
    assert!(
        o.status.success(),
        "a second migrate is a no-op: {}",
        stderr(&o)
    );
    let o = bot(&url, &["requests", "list"]);
    assert!(o.status.success(), "{}", stderr(&o));
    assert_eq!(stdout(&o).trim(), "no requests match");
}

#[sqlx::test(migrator = "MIGRATOR")]
async fn list_and_show_read_the_log(pool: PgPool) {
    let url = url_of(&pool);
    let n = submit(&pool, 60_000).await.request.number;
    let o = bot(&url, &["requests", "list"]);
    assert!(o.status.success());
    assert!(stdout(&o).contains(&n.to_string()), "{}", stdout(&o));
    assert!(stdout(&o).contains("COMMERCIAL_APPROVAL_REQUIRED"));

    let o = bot(&url, &["requests", "list", "--state", "expired"]);
    assert_eq!(stdout(&o).trim(), "no requests match");
    let o = bot(&url, &["requests", "list", "--state", "done"]);
    assert_eq!(o.status.code(), Some(2), "clap rejects an unknown state");
    assert!(stderr(&o).contains("not a state"), "{}", stderr(&o));

    let o = bot(&url, &["requests", "list", "--json"]);
    let first: serde_json::Value =
        serde_json::from_str(stdout(&o).lines().next().unwrap()).unwrap();
    assert_eq!(first["state"], "COMMERCIAL_APPROVAL_REQUIRED");

    let o = bot(&url, &["requests", "show", &n.to_string()]);
    assert!(o.status.success(), "{}", stderr(&o));
    let text = stdout(&o);
    assert!(text.contains("submitted the request"), "{text}");
    assert!(text.contains("assigned the commercial owner"), "{text}");
    assert!(text.contains("time in each state"), "{text}");
    assert!(
        text.contains("waiting on: UAE and a finance approver"),
        "{text}"
    );

    let o = bot(&url, &["requests", "show", &n.to_string(), "--json"]);
    let audit: serde_json::Value = serde_json::from_str(&stdout(&o)).unwrap();
    let events = audit["events"].as_array().unwrap();
    assert_eq!(events.len(), 2);
    assert_eq!(events[0]["kind"], "submitted");
    assert_eq!(events[0]["actor"]["id"], "UREQUESTER");
    assert_eq!(events[0]["policy"]["finance_threshold_usd_month"], 50000);
    assert!(events[1].get("cost_at_risk_cents").is_some());
}

#[sqlx::test(migrator = "MIGRATOR")]
async fn a_missing_request_is_one_clear_line(pool: PgPool) {
    let o = bot(&url_of(&pool), &["requests", "show", "CR-999"]);
    assert_eq!(o.status.code(), Some(1));
    assert_eq!(stderr(&o).trim(), "error: CR-999 does not exist");
    let o = bot(&url_of(&pool), &["requests", "show", "banana"]);
    assert_eq!(o.status.code(), Some(1));
    assert!(
        stderr(&o).contains("not a request number"),
        "{}",
        stderr(&o)
    );
}

#[test]
fn an_unreachable_database_is_one_clear_line() {
    let o = bot(
        "postgres://postgres@127.0.0.1:1/nothing",
        &["requests", "list"],
    );
    assert_eq!(o.status.code(), Some(1));
    let err = stderr(&o);
    assert_eq!(err.lines().count(), 1, "{err}");
    assert!(err.contains("could not be reached"), "{err}");
    let o = Command::new(env!("CARGO_BIN_EXE_capacity-bot"))
        .args(["requests", "list"])
        .env_remove("DATABASE_URL")
        .output()
        .unwrap();
    assert_eq!(o.status.code(), Some(1));
    assert!(
        stderr(&o).contains("DATABASE_URL is not set"),
        "{}",
        stderr(&o)
    );
}

#[sqlx::test(migrator = "MIGRATOR")]
async fn replay_exits_non_zero_on_a_difference_and_names_the_request(pool: PgPool) {
    let url = url_of(&pool);
    let a = submit(&pool, 100).await.request;
    let b = submit(&pool, 100).await.request;
    let o = bot(&url, &["replay"]);
    assert!(o.status.success(), "{}{}", stdout(&o), stderr(&o));
    assert!(stdout(&o).contains("checked 2 request(s): 0 difference(s)"));
    sqlx::query("UPDATE capacity.capacity_requests SET commercial_owner = 'UEVIL' WHERE id = $1")
        .bind(b.id.0)
        .execute(&pool)
        .await
        .unwrap();
    let o = bot(&url, &["replay"]);
    assert_eq!(o.status.code(), Some(1));
    let out = stdout(&o);
    assert!(
        out.contains(&format!("{}: projection differs", b.number)),
        "{out}"
    );
    assert!(
        !out.contains(&format!("{}: projection differs", a.number)),
        "{out}"
    );
    assert!(out.contains("commercial_owner"), "{out}");
    let o = bot(&url, &["replay", "--fix"]);
    assert!(o.status.success());
    assert!(bot(&url, &["replay"]).status.success());
}

#[test]
fn check_config_reports_every_problem_and_accepts_the_example() {
    let dir = tempfile::tempdir().unwrap();
    let bad = dir.path().join("bad.toml");
    std::fs::write(
        &bad,
        "[slack]\nrequests_channel = \"#general\"\n[roles]\ninfra = [\"X1\"]\n[policy]\nfinance_treshold_usd_month = 1\n",
    )
    .unwrap();
    let o = Command::new(env!("CARGO_BIN_EXE_capacity-bot"))
        .args(["check-config", "--config"])
        .arg(&bad)
        .output()
        .unwrap();
    assert_eq!(o.status.code(), Some(1));
    let err = stderr(&o);
    for field in [
        "slack.requests_channel",
        "roles.infra[0]",
        "policy.finance_treshold_usd_month",
        "roles.finance",
    ] {
        assert!(err.contains(field), "{field} missing from:\n{err}");
    }
    let example = concat!(env!("CARGO_MANIFEST_DIR"), "/deploy/config.example.toml");
    let o = Command::new(env!("CARGO_BIN_EXE_capacity-bot"))
        .args(["check-config", "--config", example])
        .env("SLACK_BOT_TOKEN", "xoxb-1-secret-bot-token")
        .env("SLACK_APP_TOKEN", "xapp-1-secret-app-token")
        .env("CAPACITY_SIGNAL_SECRET", "s3cret-signal")
        .env(
            "DATABASE_URL",
            "postgres://postgres@127.0.0.1:5432/postgres",
        )
        .output()
        .unwrap();
    assert!(o.status.success(), "{}{}", stdout(&o), stderr(&o));
    let out = stdout(&o);
    assert!(out.contains(": ok"), "{out}");
    assert!(
        !out.contains("secret-bot-token") && !out.contains("s3cret"),
        "secrets never printed: {out}"
    );
}

fn demo(env_url: Option<&str>) -> Output {
    let mut c = Command::new(env!("CARGO_BIN_EXE_capacity-bot"));
    c.arg("demo").env_remove("CAPACITY_BOT_CONFIG");
    match env_url {
        Some(url) => c.env("DATABASE_URL", url),
        None => c.env_remove("DATABASE_URL"),
    };
    c.output().expect("demo runs")
}

#[test]
fn the_demo_plays_a_request_through_every_gate_on_a_fresh_database() {
    let base = std::env::var("DATABASE_URL")
        .unwrap_or_else(|_| "postgres://postgres@127.0.0.1:5432/postgres".into());
    let o = demo(Some(&base));
    let out = stdout(&o);
    assert!(o.status.success(), "{out}\n{}", stderr(&o));
    for line in [
        "@sam tries to approve: refused, told who can act",
        "Only <@alex>",
        "@sam commented:",
        "Their launch date moved up a week; can we hurry?",
        "@lea made @ines the technical owner.",
        "Waiting on @ines — technical review",
        "recorded activation  → ACTIVATED",
        "is dropped at the end",
        "Capacity requests report",
        "ran the message shortcut capacity_request_from_message",
        "made this a capacity request: *CR-2",
        "wrote in #cust-acme-robotics: is CR-1 still needed?",
        "@alex opens the app's Home tab",
        "Waiting on you",
    ] {
        assert!(out.contains(line), "missing {line:?} in:\n{out}");
    }
}

#[test]
fn the_demo_starts_its_own_postgres_without_database_url() {
    let o = demo(None);
    let out = stdout(&o);
    assert!(o.status.success(), "{out}\n{}", stderr(&o));
    assert!(out.contains("started a throwaway Postgres"), "{out}");
    assert!(out.contains("→ ACTIVATED"), "{out}");
}

/// `requests list` and `show` name people as Slack does when a bot token is set, and fall
/// back to the id (with one note on stderr) for anyone Slack cannot name.
#[sqlx::test(migrator = "MIGRATOR")]
async fn with_a_bot_token_people_are_shown_by_their_slack_names(pool: PgPool) {
    use capacity_bot::domain::testkit::{AE, REQUESTER};
    use slack_emulator::{Emulator, EmulatorConfig};
    let _ = rustls::crypto::ring::default_provider().install_default();
    let url = url_of(&pool);
    let n = submit(&pool, 60_000).await.request.number.to_string();
    // The binary runs off this test's runtime, which serves the emulator.
    let run = |emu: &Emulator, args: &[&str]| {
        let mut command = Command::new(env!("CARGO_BIN_EXE_capacity-bot"));
        command
            .args(args)
            .env("DATABASE_URL", &url)
            .env("SLACK_BOT_TOKEN", emu.bot_token())
            .env("SLACK_API_URL", emu.api_url())
            .env_remove("CAPACITY_BOT_CONFIG");
        tokio::task::spawn_blocking(move || command.output().expect("the binary runs"))
    };

    // The AE is not in this directory: users.info answers user_not_found for them.
    let emu =
        Emulator::start(EmulatorConfig::default().with_user(REQUESTER, "rita.rossi", "Rita Rossi"))
            .await
            .unwrap();
    let o = run(&emu, &["requests", "show", &n]).await.unwrap();
    assert!(o.status.success(), "{}", stderr(&o));
    let text = stdout(&o);
    // Slack's display name ("rita"), the name people see in Slack.
    assert!(
        text.contains("rita           submitted the request"),
        "{text}"
    );
    assert!(
        !text.contains(REQUESTER),
        "an id where Slack gave a name: {text}"
    );
    assert!(
        text.contains("waiting on: UAE and a finance approver"),
        "{text}"
    );
    assert!(
        stderr(&o).contains("1 name(s) could not be read from Slack (first: UAE: "),
        "{}",
        stderr(&o)
    );

    let emu = Emulator::start(
        EmulatorConfig::default()
            .with_user(AE, "alex.exec", "Alex Exec")
            .with_user(REQUESTER, "rita.rossi", "Rita Rossi"),
    )
    .await
    .unwrap();
    let o = run(&emu, &["requests", "list"]).await.unwrap();
    assert!(o.status.success(), "{}", stderr(&o));
    let text = stdout(&o);
    assert!(
        text.contains("waiting on alex and a finance approver"),
        "{text}"
    );
    assert_eq!(stderr(&o), "", "every name was read");
}
