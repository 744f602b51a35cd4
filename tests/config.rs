//! The config file and environment, read as an operator would: every problem at once, each
//! with its field, and never a secret in any output.

use std::collections::{BTreeSet, HashMap};
use std::net::SocketAddr;
use std::path::Path;

use capacity_bot::config::{
    ConfigErrors, LinearCreateOn, LogFormat, Member, Settings, DEFAULT_SLACK_API_URL,
};
use capacity_bot::domain::{GroupId, Role, UserId};
use chrono::{NaiveDate, NaiveTime};
use secrecy::ExposeSecret;

/// The example from DESIGN.md, verbatim.
const DESIGN_EXAMPLE: &str = r#"
[slack]
requests_channel = "C0123456789"   # where root messages go
team_id = "T0123456789"            # optional; events from another team are refused

[roles]
requesters = []                    # empty: anyone in the workspace may submit
commercial_approvers = ["S0SALESLEAD"]
finance = ["S0FINANCE"]
infra = ["S0INFRA"]
admins = ["U0ADMIN"]

[policy]
finance_threshold_usd_month = 50000
customer_confirmation_ttl_business_days = 5
activation_ttl_business_days = 10
allow_provisioning_before_confirmation = false
escalate_after_reminders = 3

[calendar]
time_zone = "America/New_York"
working_hours = "09:00-17:00"
holidays = ["2026-12-25", "2027-01-01"]

[scheduler]
sweep = "0 * * * * *"              # tokio-cron-scheduler expression, UTC

[http]
listen = "127.0.0.1:8080"

[linear]                           # optional section
team_id = "…"                      # API key from LINEAR_API_KEY
"#;

/// The smallest valid file: the channel and the roles nobody can do without.
const MINIMAL: &str = r#"
[slack]
requests_channel = "C0123456789"

[roles]
commercial_approvers = ["S0SALES"]
finance = ["S0FINANCE"]
infra = ["S0INFRA"]
"#;

const APP_TOKEN: &str = "xapp-1-A0TEST-1234-abcdefsecretapp";
const BOT_TOKEN: &str = "xoxb-1234-5678-abcdefsecretbot";

fn env(pairs: &[(&str, &str)]) -> impl Fn(&str) -> Option<String> {
    let map: HashMap<String, String> = pairs
        .iter()
        .map(|(k, v)| (k.to_string(), v.to_string()))
        .collect();
    move |name: &str| map.get(name).cloned()
}

fn no_env(_: &str) -> Option<String> {
    None
}

fn parse(text: &str) -> Result<Settings, ConfigErrors> {
    Settings::from_toml_str(text, &no_env)
}

/// The problems of a file that must not load, as `(field, message)` pairs.
fn problems(text: &str) -> Vec<(String, String)> {
    problems_with_env(text, &no_env)
}

fn problems_with_env(text: &str, env: &dyn Fn(&str) -> Option<String>) -> Vec<(String, String)> {
    match Settings::from_toml_str(text, env) {
        Ok(_) => panic!("expected problems, but the config loaded"),
        Err(e) => e
            .problems
            .into_iter()
            .map(|p| (p.field, p.message))
            .collect(),
    }
}

/// The one message reported for `field`, failing if there is none.
fn message_for(problems: &[(String, String)], field: &str) -> String {
    problems
        .iter()
        .find(|(f, _)| f == field)
        .map(|(_, m)| m.clone())
        .unwrap_or_else(|| panic!("no problem for {field} in {problems:#?}"))
}

fn minimal_with(extra: &str) -> String {
    format!("{MINIMAL}\n{extra}")
}

fn user(s: &str) -> UserId {
    UserId::parse(s).unwrap()
}

fn group(s: &str) -> GroupId {
    GroupId::parse(s).unwrap()
}

fn date(s: &str) -> NaiveDate {
    s.parse().unwrap()
}

fn hm(h: u32, m: u32) -> NaiveTime {
    NaiveTime::from_hms_opt(h, m, 0).unwrap()
}

#[test]
fn the_design_example_parses_into_its_values() {
    let s = parse(DESIGN_EXAMPLE).unwrap();
    assert_eq!(s.slack.requests_channel.to_string(), "C0123456789");
    assert_eq!(s.slack.team_id.as_ref().unwrap().as_str(), "T0123456789");
    assert_eq!(s.slack.api_url, "https://slack.com/api");
    assert!(s.roles.anyone_may_request());
    assert_eq!(
        s.roles.members(Role::CommercialApprover),
        &[Member::Group(group("S0SALESLEAD"))]
    );
    assert_eq!(
        s.roles.members(Role::Finance),
        &[Member::Group(group("S0FINANCE"))]
    );
    assert_eq!(
        s.roles.members(Role::Infra),
        &[Member::Group(group("S0INFRA"))]
    );
    assert_eq!(
        s.roles.members(Role::Admin),
        &[Member::User(user("U0ADMIN"))]
    );
    assert_eq!(s.policy.finance_threshold_usd_month, 50_000);
    assert_eq!(s.policy.customer_confirmation_ttl_business_days, 5);
    assert_eq!(s.policy.activation_ttl_business_days, 10);
    assert!(!s.policy.allow_provisioning_before_confirmation);
    assert_eq!(s.policy.escalate_after_reminders, 3);
    assert_eq!(s.policy.calendar.time_zone, chrono_tz::America::New_York);
    assert_eq!(s.policy.calendar.work_start, hm(9, 0));
    assert_eq!(s.policy.calendar.work_end, hm(17, 0));
    assert_eq!(
        s.policy.calendar.holidays,
        BTreeSet::from([date("2026-12-25"), date("2027-01-01")])
    );
    assert_eq!(s.scheduler.sweep, "0 * * * * *");
    assert_eq!(
        s.http.listen,
        "127.0.0.1:8080".parse::<SocketAddr>().unwrap()
    );
    let linear = s.linear.unwrap();
    assert_eq!(linear.team_id, "…");
    assert_eq!(linear.create_on, LinearCreateOn::TechnicalReview);
}

#[test]
fn the_deploy_example_loads() {
    let path = Path::new(env!("CARGO_MANIFEST_DIR")).join("deploy/config.example.toml");
    let s = Settings::load(&path, &no_env).unwrap_or_else(|e| panic!("{e}"));
    assert_eq!(s.slack.requests_channel.to_string(), "C0123456789");
    assert_eq!(s.policy.calendar.holidays.len(), 2);
    assert_eq!(s.log.format, LogFormat::Pretty);
}

#[test]
fn every_default_applies_to_a_minimal_file() {
    let s = parse(MINIMAL).unwrap();
    assert_eq!(s.slack.team_id, None);
    assert_eq!(s.slack.api_url, DEFAULT_SLACK_API_URL);
    assert!(s.roles.anyone_may_request());
    assert!(s.roles.members(Role::Admin).is_empty());
    assert_eq!(s.policy.finance_threshold_usd_month, 50_000);
    assert_eq!(s.policy.customer_confirmation_ttl_business_days, 5);
    assert_eq!(s.policy.activation_ttl_business_days, 10);
    assert!(!s.policy.allow_provisioning_before_confirmation);
    assert_eq!(s.policy.escalate_after_reminders, 3);
    assert_eq!(s.policy.calendar.time_zone, chrono_tz::America::New_York);
    assert_eq!(
        (s.policy.calendar.work_start, s.policy.calendar.work_end),
        (hm(9, 0), hm(17, 0))
    );
    assert!(s.policy.calendar.holidays.is_empty());
    assert_eq!(s.scheduler.sweep, "0 * * * * *");
    assert_eq!(s.scheduler.reminder_sweep, "30 * * * * *");
    assert_eq!(s.scheduler.outbox_sweep, "*/5 * * * * *");
    assert_eq!(s.scheduler.owner_sweep, "15 */10 * * * *");
    assert_eq!(
        s.http.listen,
        "127.0.0.1:8080".parse::<SocketAddr>().unwrap()
    );
    assert!(s.linear.is_none());
    assert_eq!(s.log.format, LogFormat::Pretty);
    assert!(s.secrets.slack_app_token.is_none());
    assert!(s.secrets.slack_bot_token.is_none());
    assert!(s.secrets.signal_secret.is_none());
    assert!(s.secrets.linear_api_key.is_none());
    assert!(s.secrets.database_url.is_none());
}

#[test]
fn non_default_values_are_read() {
    let text = minimal_with(
        r#"
[policy]
finance_threshold_usd_month = 75000
allow_provisioning_before_confirmation = true
[calendar]
time_zone = "Europe/London"
working_hours = "08:30-16:00"
holidays = [2026-12-28]
[scheduler]
reminder_sweep = "0 */10 * * * *"
[http]
listen = "[::]:9090"
[linear]
team_id = "ENG"
create_on = "submitted"
[log]
format = "json"
"#,
    );
    let s = Settings::from_toml_str(
        &text,
        &env(&[("SLACK_API_URL", "http://127.0.0.1:9000/api/")]),
    )
    .unwrap();
    assert_eq!(s.policy.finance_threshold_usd_month, 75_000);
    assert!(s.policy.allow_provisioning_before_confirmation);
    assert_eq!(s.policy.calendar.time_zone, chrono_tz::Europe::London);
    assert_eq!(s.policy.calendar.work_start, hm(8, 30));
    assert_eq!(
        s.policy.calendar.holidays,
        BTreeSet::from([date("2026-12-28")])
    );
    assert_eq!(s.scheduler.reminder_sweep, "0 */10 * * * *");
    assert_eq!(s.http.listen, "[::]:9090".parse::<SocketAddr>().unwrap());
    assert_eq!(s.linear.unwrap().create_on, LinearCreateOn::Submitted);
    assert_eq!(s.log.format, LogFormat::Json);
    assert_eq!(s.slack.api_url, "http://127.0.0.1:9000/api");
}

#[test]
fn several_problems_are_reported_at_once_with_their_fields() {
    let text = r#"
[slack]
team_id = "nope"

[roles]
commercial_approvers = ["S0SALES"]
finance = ["S0FINANCE"]
infra = ["S0INFRA", "X123"]

[policy]
finance_threshold_usd_month = -5
activation_ttl_business_days = 0

[calendar]
holidays = ["2026-13-01"]
"#;
    let p = problems(text);
    assert_eq!(
        message_for(&p, "slack.requests_channel"),
        "missing (required)"
    );
    assert!(message_for(&p, "slack.team_id").contains("not a Slack team id"));
    assert_eq!(
        message_for(&p, "roles.infra[1]"),
        "\"X123\" is not a Slack user id (U…/W…) or user group id (S…)"
    );
    assert_eq!(
        message_for(&p, "policy.finance_threshold_usd_month"),
        "must be a positive whole number of dollars"
    );
    assert_eq!(
        message_for(&p, "policy.activation_ttl_business_days"),
        "must be between 1 and 60 business days, not 0"
    );
    assert!(message_for(&p, "calendar.holidays[0]").contains("not a real date"));
    assert_eq!(p.len(), 6, "{p:#?}");

    let shown = parse(text).unwrap_err().to_string();
    assert_eq!(shown.lines().count(), 6);
    assert!(
        shown.contains("roles.infra[1]: \"X123\" is not a Slack user id"),
        "{shown}"
    );
}

#[test]
fn an_unknown_key_suggests_the_near_miss() {
    let p = problems(&minimal_with(
        "[policy]\nfinance_treshold_usd_month = 1000\n",
    ));
    assert_eq!(
        message_for(&p, "policy.finance_treshold_usd_month"),
        "unknown key (did you mean finance_threshold_usd_month?)"
    );
}

#[test]
fn an_unknown_section_is_an_error() {
    let p = problems(&minimal_with("[polcy]\nescalate_after_reminders = 2\n"));
    assert_eq!(
        message_for(&p, "polcy"),
        "unknown section (did you mean [policy]?)"
    );
    let p = problems(&minimal_with("[metrics]\nenabled = true\n"));
    assert!(message_for(&p, "metrics").starts_with("unknown section (known sections: [slack]"));
}

#[test]
fn a_wrong_type_names_the_expected_one() {
    let p = problems(&minimal_with(
        r#"
[policy]
customer_confirmation_ttl_business_days = "5"
allow_provisioning_before_confirmation = "no"
finance_threshold_usd_month = "50000"
[calendar]
holidays = "2026-12-25"
[http]
listen = 8080
"#,
    ));
    assert_eq!(
        message_for(&p, "policy.customer_confirmation_ttl_business_days"),
        "expected a whole number of business days (1 to 60), found a string"
    );
    assert_eq!(
        message_for(&p, "policy.allow_provisioning_before_confirmation"),
        "expected true or false, found a string"
    );
    assert_eq!(
        message_for(&p, "policy.finance_threshold_usd_month"),
        "must be a positive whole number of dollars (expected an integer, found a string)"
    );
    assert_eq!(
        message_for(&p, "calendar.holidays"),
        "expected an array of dates (\"YYYY-MM-DD\"), found a string"
    );
    assert_eq!(
        message_for(&p, "http.listen"),
        "expected a string, found an integer"
    );
}

#[test]
fn a_float_threshold_is_not_a_whole_number() {
    let p = problems(&minimal_with(
        "[policy]\nfinance_threshold_usd_month = 50000.5\n",
    ));
    assert_eq!(
        message_for(&p, "policy.finance_threshold_usd_month"),
        "must be a positive whole number of dollars"
    );
}

#[test]
fn sanity_bounds_are_enforced() {
    let p = problems(&minimal_with(
        "[policy]\ncustomer_confirmation_ttl_business_days = 61\nescalate_after_reminders = 21\n",
    ));
    assert_eq!(
        message_for(&p, "policy.customer_confirmation_ttl_business_days"),
        "must be between 1 and 60 business days, not 61"
    );
    assert_eq!(
        message_for(&p, "policy.escalate_after_reminders"),
        "must be between 1 and 20 reminders, not 21"
    );
    let ok = parse(&minimal_with(
        "[policy]\nactivation_ttl_business_days = 60\nescalate_after_reminders = 1\n",
    ));
    assert!(ok.is_ok());
}

#[test]
fn snooze_and_stuck_limits_are_bounded_and_default_to_three() {
    let p = problems(&minimal_with(
        "[policy]\nmax_snooze_business_days = 0\nstuck_after_business_days = 61\n",
    ));
    assert_eq!(
        message_for(&p, "policy.max_snooze_business_days"),
        "must be between 1 and 20 business days, not 0"
    );
    assert_eq!(
        message_for(&p, "policy.stuck_after_business_days"),
        "must be between 1 and 60 business days, not 61"
    );
    let s = parse(&minimal_with("")).expect("valid");
    assert_eq!(s.policy.max_snooze_business_days, 3);
    assert_eq!(s.policy.stuck_after_business_days, 3);
    let s = parse(&minimal_with("[policy]\nmax_snooze_business_days = 5\n")).expect("valid");
    assert_eq!(s.policy.max_snooze_business_days, 5);
}

#[test]
fn a_bad_cron_expression_says_what_the_scheduler_needs() {
    let p = problems(&minimal_with(
        "[scheduler]\nsweep = \"* * * * *\"\noutbox_sweep = \"0 99 * * * *\"\n",
    ));
    let sweep = message_for(&p, "scheduler.sweep");
    assert!(sweep.contains("6- or 7-field cron expression"), "{sweep}");
    assert!(sweep.contains("\"0 * * * * *\""), "{sweep}");
    let outbox = message_for(&p, "scheduler.outbox_sweep");
    assert!(
        outbox.contains("not a cron expression tokio-cron-scheduler accepts"),
        "{outbox}"
    );
}

#[test]
fn a_bad_time_zone_is_refused_with_a_suggestion() {
    let p = problems(&minimal_with(
        "[calendar]\ntime_zone = \"America/NewYork\"\n",
    ));
    let m = message_for(&p, "calendar.time_zone");
    assert!(
        m.starts_with("\"America/NewYork\" is not an IANA time zone name"),
        "{m}"
    );
    assert!(m.contains("did you mean \"America/New_York\"?"), "{m}");
    let p = problems(&minimal_with("[calendar]\ntime_zone = \"EST-ish\"\n"));
    assert!(message_for(&p, "calendar.time_zone").contains("not an IANA time zone name"));
}

#[test]
fn working_hours_must_end_after_they_start() {
    let p = problems(&minimal_with(
        "[calendar]\nworking_hours = \"17:00-09:00\"\n",
    ));
    assert!(message_for(&p, "calendar.working_hours").contains("ends before it starts"));
}

#[test]
fn working_hours_must_have_the_right_form() {
    for bad in ["9-5", "09:00 to 17:00", "09:00-", "9am-5pm", "09:00-24:00"] {
        let p = problems(&minimal_with(&format!(
            "[calendar]\nworking_hours = \"{bad}\"\n"
        )));
        let m = message_for(&p, "calendar.working_hours");
        assert!(
            m.contains("is not of the form \"HH:MM-HH:MM\""),
            "{bad}: {m}"
        );
    }
}

#[test]
fn holidays_must_be_real_unique_dates() {
    let p = problems(&minimal_with(
        "[calendar]\nholidays = [\"2026-12-25\", \"12/25/2026\", \"2026-02-30\", \"2026-12-25\", 7]\n",
    ));
    assert_eq!(
        message_for(&p, "calendar.holidays[1]"),
        "\"12/25/2026\" is not a date of the form \"YYYY-MM-DD\""
    );
    assert_eq!(
        message_for(&p, "calendar.holidays[2]"),
        "\"2026-02-30\" is not a real date"
    );
    assert_eq!(
        message_for(&p, "calendar.holidays[3]"),
        "2026-12-25 is listed twice (also at calendar.holidays[0])"
    );
    assert_eq!(
        message_for(&p, "calendar.holidays[4]"),
        "expected a date (\"YYYY-MM-DD\"), found an integer"
    );
    assert!(!p.iter().any(|(f, _)| f == "calendar.holidays[0]"));
}

#[test]
fn role_members_must_be_slack_ids_listed_once() {
    let text = r#"
[slack]
requests_channel = "C0123456789"
[roles]
requesters = ["@alice"]
commercial_approvers = ["S0SALES", 42]
finance = ["S0FINANCE", "U0ANA", "S0FINANCE"]
infra = ["S0INFRA", "X123"]
"#;
    let p = problems(text);
    assert!(message_for(&p, "roles.requesters[0]").contains("not a handle or mention"));
    assert_eq!(
        message_for(&p, "roles.commercial_approvers[1]"),
        "expected a string (a Slack id), found an integer"
    );
    assert_eq!(
        message_for(&p, "roles.finance[2]"),
        "\"S0FINANCE\" is listed twice (also at roles.finance[0])"
    );
    assert_eq!(
        message_for(&p, "roles.infra[1]"),
        "\"X123\" is not a Slack user id (U…/W…) or user group id (S…)"
    );
    assert_eq!(p.len(), 4, "{p:#?}");
}

#[test]
fn roles_that_gate_every_request_cannot_be_empty() {
    let text = r#"
[slack]
requests_channel = "C0123456789"
[roles]
commercial_approvers = []
finance = ["S0FINANCE"]
"#;
    let p = problems(text);
    assert!(message_for(&p, "roles.commercial_approvers").starts_with("empty:"));
    assert!(message_for(&p, "roles.infra").starts_with("missing (required):"));
    assert_eq!(p.len(), 2, "{p:#?}");
}

#[test]
fn roles_resolve_through_ids_and_groups() {
    let text = r#"
[slack]
requests_channel = "C0123456789"
[roles]
requesters = ["S0SALES"]
commercial_approvers = ["S0SALES"]
finance = ["U0ANA"]
infra = ["S0INFRA"]
admins = ["U0ANA"]
"#;
    let s = parse(text).unwrap();
    assert!(!s.roles.anyone_may_request());
    let in_sales = |g: &GroupId| g.as_str() == "S0SALES";
    let sales = s.roles.roles_of(&user("U0BOB"), &in_sales);
    assert_eq!(
        sales.iter().collect::<Vec<_>>(),
        [Role::Requester, Role::CommercialApprover]
    );
    let ana = s.roles.roles_of(&user("U0ANA"), &|_| false);
    assert_eq!(ana.iter().collect::<Vec<_>>(), [Role::Finance, Role::Admin]);
    let stranger = s.roles.roles_of(&user("U0EVE"), &|_| false);
    assert_eq!(stranger.iter().count(), 0);
}

#[test]
fn a_secret_in_the_file_is_refused_and_not_echoed() {
    let text = r#"
[slack]
requests_channel = "C0123456789"
bot_token = "xoxb-1234-5678-abcdefsecretbot"
[roles]
commercial_approvers = ["S0SALES"]
finance = ["S0FINANCE"]
infra = ["S0INFRA"]
[linear]
team_id = "ENG"
api_key = "lin_api_secretvalue"
"#;
    let p = problems(text);
    let m = message_for(&p, "slack.bot_token");
    assert!(
        m.contains("set SLACK_BOT_TOKEN or SLACK_BOT_TOKEN_FILE in the environment"),
        "{m}"
    );
    assert!(message_for(&p, "linear.api_key").contains("LINEAR_API_KEY"));
    let top = problems(&format!(
        "database_url = \"postgres://u:hunter2@db/x\"\n{MINIMAL}"
    ));
    assert!(message_for(&top, "database_url").contains("set DATABASE_URL"));
    let shown = format!("{p:?}{top:?}");
    assert!(
        !shown.contains("secretbot")
            && !shown.contains("secretvalue")
            && !shown.contains("hunter2")
    );
}

#[test]
fn tokens_from_the_environment_are_read() {
    let s = Settings::from_toml_str(
        MINIMAL,
        &env(&[
            ("SLACK_APP_TOKEN", APP_TOKEN),
            ("SLACK_BOT_TOKEN", BOT_TOKEN),
            ("DATABASE_URL", "postgres://bot:pw@localhost/capacity"),
            ("CAPACITY_SIGNAL_SECRET", "signal-secret-value"),
            ("LINEAR_API_KEY", ""),
        ]),
    )
    .unwrap();
    assert_eq!(
        s.secrets.slack_app_token.unwrap().expose_secret(),
        APP_TOKEN
    );
    assert_eq!(
        s.secrets.slack_bot_token.unwrap().expose_secret(),
        BOT_TOKEN
    );
    assert_eq!(
        s.secrets.signal_secret.unwrap().expose_secret(),
        "signal-secret-value"
    );
    assert!(
        s.secrets.linear_api_key.is_none(),
        "an empty variable counts as unset"
    );
}

#[test]
fn token_prefixes_are_checked() {
    let p = problems_with_env(
        MINIMAL,
        &env(&[
            ("SLACK_APP_TOKEN", "abc-123"),
            ("SLACK_BOT_TOKEN", "xoxp-123-456"),
        ]),
    );
    assert!(message_for(&p, "SLACK_APP_TOKEN").starts_with("must start with xapp-"));
    assert!(message_for(&p, "SLACK_BOT_TOKEN").starts_with("is a user token (xoxp-…)"));
    let p = problems_with_env(MINIMAL, &env(&[("SLACK_BOT_TOKEN", "xapp-1-A0-2-x")]));
    assert!(message_for(&p, "SLACK_BOT_TOKEN").starts_with("looks like an app-level token"));
    let p = problems_with_env(MINIMAL, &env(&[("SLACK_BOT_TOKEN", "xoxb-12 34")]));
    assert!(message_for(&p, "SLACK_BOT_TOKEN").contains("whitespace"));
    let p = problems_with_env(MINIMAL, &env(&[("DATABASE_URL", "mysql://u:hunter2@h/db")]));
    let m = message_for(&p, "DATABASE_URL");
    assert!(
        m.starts_with("must be a postgres://") && !m.contains("hunter2"),
        "{m}"
    );
}

#[test]
fn swapped_tokens_are_called_swapped() {
    let p = problems_with_env(
        MINIMAL,
        &env(&[
            ("SLACK_APP_TOKEN", BOT_TOKEN),
            ("SLACK_BOT_TOKEN", APP_TOKEN),
        ]),
    );
    assert_eq!(p.len(), 1, "{p:#?}");
    assert_eq!(p[0].0, "SLACK_APP_TOKEN");
    assert!(
        p[0].1.starts_with("looks swapped with SLACK_BOT_TOKEN"),
        "{p:?}"
    );
    assert!(
        !p[0].1.contains("secret"),
        "no token value in the message: {p:?}"
    );
}

#[test]
fn file_secrets_are_read_and_trimmed() {
    let dir = tempfile::tempdir().unwrap();
    let bot = dir.path().join("bot");
    let db = dir.path().join("db");
    std::fs::write(&bot, format!("{BOT_TOKEN}\n")).unwrap();
    std::fs::write(&db, "postgres://bot:pw@db/capacity\r\n").unwrap();
    let s = Settings::from_toml_str(
        MINIMAL,
        &env(&[
            ("SLACK_BOT_TOKEN_FILE", bot.to_str().unwrap()),
            ("DATABASE_URL_FILE", db.to_str().unwrap()),
        ]),
    )
    .unwrap();
    assert_eq!(
        s.secrets.slack_bot_token.unwrap().expose_secret(),
        BOT_TOKEN
    );
    assert_eq!(
        s.secrets.database_url.unwrap().expose_secret(),
        "postgres://bot:pw@db/capacity"
    );
}

#[test]
fn file_secret_problems_are_reported() {
    let dir = tempfile::tempdir().unwrap();
    let empty = dir.path().join("empty");
    std::fs::write(&empty, "\n").unwrap();
    let missing = dir.path().join("missing");
    let p = problems_with_env(
        MINIMAL,
        &env(&[
            ("SLACK_BOT_TOKEN", BOT_TOKEN),
            ("SLACK_BOT_TOKEN_FILE", empty.to_str().unwrap()),
            ("SLACK_APP_TOKEN_FILE", missing.to_str().unwrap()),
            ("CAPACITY_SIGNAL_SECRET_FILE", empty.to_str().unwrap()),
        ]),
    );
    assert_eq!(
        message_for(&p, "SLACK_BOT_TOKEN"),
        "both SLACK_BOT_TOKEN and SLACK_BOT_TOKEN_FILE are set; set only one"
    );
    assert!(message_for(&p, "SLACK_APP_TOKEN_FILE").starts_with("cannot read "));
    assert!(message_for(&p, "CAPACITY_SIGNAL_SECRET_FILE").ends_with("is empty"));
}

#[test]
fn debug_and_summary_never_show_a_secret() {
    let s = Settings::from_toml_str(
        DESIGN_EXAMPLE,
        &env(&[
            ("SLACK_APP_TOKEN", APP_TOKEN),
            ("SLACK_BOT_TOKEN", BOT_TOKEN),
            ("DATABASE_URL", "postgres://bot:hunter2@db/capacity"),
            ("CAPACITY_SIGNAL_SECRET", "signal-secret-value"),
            ("LINEAR_API_KEY", "lin_api_secretvalue"),
        ]),
    )
    .unwrap();
    for shown in [format!("{s:?}"), format!("{s:#?}"), s.redacted_summary()] {
        for secret in [
            "secretapp",
            "secretbot",
            "hunter2",
            "signal-secret-value",
            "secretvalue",
        ] {
            assert!(!shown.contains(secret), "{secret} shown in:\n{shown}");
        }
    }
    assert!(format!("{s:?}").contains("REDACTED"));
}

#[test]
fn the_summary_shows_values_and_which_secrets_are_set() {
    let s =
        Settings::from_toml_str(DESIGN_EXAMPLE, &env(&[("SLACK_BOT_TOKEN", BOT_TOKEN)])).unwrap();
    let summary = s.redacted_summary();
    for expected in [
        "requests channel: C0123456789",
        "requesters: anyone in the workspace",
        "infra: 1 (0 users, 1 group: S0INFRA)",
        "admins: 1 (1 user, 0 groups: U0ADMIN)",
        "finance approval at or above: $50,000/month",
        "customer confirmation TTL: 5 business days",
        "time zone: America/New_York",
        "working hours: 09:00-17:00",
        "holidays: 2 (2026-12-25, 2027-01-01)",
        "sweep: 0 * * * * *",
        "SLACK_BOT_TOKEN: set",
        "SLACK_APP_TOKEN: not set",
        "LINEAR_API_KEY: not set",
    ] {
        assert!(
            summary.contains(expected),
            "missing {expected:?} in:\n{summary}"
        );
    }
}

#[test]
fn the_daemon_check_names_each_missing_variable() {
    let s = parse(DESIGN_EXAMPLE).unwrap();
    let e = s.check_for_daemon().unwrap_err();
    let fields: Vec<&str> = e.problems.iter().map(|p| p.field.as_str()).collect();
    assert_eq!(
        fields,
        [
            "SLACK_APP_TOKEN",
            "SLACK_BOT_TOKEN",
            "DATABASE_URL",
            "CAPACITY_SIGNAL_SECRET",
            "LINEAR_API_KEY"
        ]
    );
    assert!(e.to_string().contains("SLACK_APP_TOKEN: not set"));

    let full = Settings::from_toml_str(
        MINIMAL,
        &env(&[
            ("SLACK_APP_TOKEN", APP_TOKEN),
            ("SLACK_BOT_TOKEN", BOT_TOKEN),
            ("DATABASE_URL", "postgres://localhost/capacity"),
            ("CAPACITY_SIGNAL_SECRET", "s3cret"),
        ]),
    )
    .unwrap();
    assert_eq!(full.check_for_daemon(), Ok(()));
}

#[test]
fn a_missing_file_names_the_path_and_the_variable() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("nowhere.toml");
    let e = Settings::load(&path, &env(&[("SLACK_BOT_TOKEN", "nope")])).unwrap_err();
    let m = &e.for_field("config file").unwrap().message;
    assert!(m.contains(&path.display().to_string()), "{m}");
    assert!(m.contains("does not exist"), "{m}");
    assert!(m.contains("CAPACITY_BOT_CONFIG"), "{m}");
    assert!(
        e.for_field("SLACK_BOT_TOKEN").is_some(),
        "environment problems too: {e}"
    );
}

#[test]
fn a_syntax_error_gives_line_and_column() {
    let p = problems("[slack]\nrequests_channel = \"C0123456789\"\nteam_id = T01\n");
    assert_eq!(p.len(), 1, "{p:#?}");
    assert_eq!(p[0].0, "line 3, column 11");
    assert!(p[0].1.starts_with("invalid TOML: "), "{}", p[0].1);
}

#[test]
fn other_values_are_checked() {
    let text = r##"
[slack]
requests_channel = "#capacity"
[roles]
commercial_approvers = ["S0SALES"]
finance = ["S0FINANCE"]
infra = ["S0INFRA"]
[http]
listen = "localhost:8080"
[linear]
create_on = "approved"
[log]
format = "jsn"
"##;
    let p = problems_with_env(text, &env(&[("SLACK_API_URL", "slack.com/api")]));
    assert!(message_for(&p, "slack.requests_channel").contains("not its name"));
    assert!(message_for(&p, "http.listen").contains("not an IP address and port"));
    assert!(message_for(&p, "linear.team_id").starts_with("missing (required"));
    assert_eq!(
        message_for(&p, "linear.create_on"),
        "\"approved\" is not one of \"technical_review\" or \"submitted\""
    );
    assert_eq!(
        message_for(&p, "log.format"),
        "\"jsn\" is not one of \"json\" or \"pretty\" (did you mean \"json\"?)"
    );
    assert!(message_for(&p, "SLACK_API_URL").contains("is not an http(s) URL"));
    assert_eq!(p.len(), 6, "{p:#?}");
}

#[test]
fn secrets_load_alone_for_database_commands() {
    use capacity_bot::config::Secrets;
    let secrets =
        Secrets::from_env(&env(&[("DATABASE_URL", "postgres://localhost/capacity")])).unwrap();
    assert_eq!(
        secrets.database_url.unwrap().expose_secret(),
        "postgres://localhost/capacity"
    );
    let e = Secrets::from_env(&env(&[("SLACK_BOT_TOKEN", "xapp-1-A0-2-x")])).unwrap_err();
    assert!(e.for_field("SLACK_BOT_TOKEN").is_some(), "{e}");
}

#[test]
fn the_digest_section_is_optional_and_defaults_to_the_requests_channel() {
    let off = parse(MINIMAL).expect("loads");
    assert_eq!(off.digest, None);
    assert!(off.redacted_summary().contains("Digest: off"));
    let on = parse(&minimal_with(
        "[digest]\nweekday = \"Mon\"\ntime = \"09:30\"\n",
    ))
    .expect("loads");
    let digest = on.digest.clone().expect("configured");
    assert_eq!(digest.slot.weekday, chrono::Weekday::Mon);
    assert_eq!(digest.slot.time, NaiveTime::from_hms_opt(9, 30, 0).unwrap());
    assert_eq!(digest.channel.as_str(), "C0123456789");
    assert!(
        on.redacted_summary()
            .contains("Digest: weekly, Mon 09:30 America/New_York in C0123456789"),
        "{}",
        on.redacted_summary()
    );
    let elsewhere = parse(&minimal_with(
        "[digest]\nweekday = \"friday\"\ntime = \"16:00\"\nchannel = \"C0DIGEST\"\n",
    ))
    .expect("loads");
    let digest = elsewhere.digest.expect("configured");
    assert_eq!(digest.slot.weekday, chrono::Weekday::Fri);
    assert_eq!(digest.channel.as_str(), "C0DIGEST");
}

#[test]
fn a_bad_digest_is_reported_field_by_field() {
    let p = problems(&minimal_with(
        "[digest]\nweekday = \"Funday\"\ntime = \"9.30\"\nchannel = \"#capacity\"\n",
    ));
    assert!(
        message_for(&p, "digest.weekday").contains("use Mon, Tue, Wed, Thu, Fri, Sat or Sun"),
        "{p:?}"
    );
    assert!(
        message_for(&p, "digest.time").contains("\"HH:MM\""),
        "{p:?}"
    );
    assert!(
        message_for(&p, "digest.channel").contains("not its name"),
        "{p:?}"
    );
    let p = problems(&minimal_with("[digest]\nchannel = \"C0DIGEST\"\n"));
    assert!(
        message_for(&p, "digest.weekday").starts_with("missing"),
        "{p:?}"
    );
    assert!(
        message_for(&p, "digest.time").starts_with("missing"),
        "{p:?}"
    );
    let p = problems(&minimal_with(
        "[digest]\nweekday = \"Mon\"\ntime = \"09:30\"\nday = 1\n",
    ));
    assert!(
        message_for(&p, "digest.day").contains("unknown key"),
        "{p:?}"
    );
}
