//! `doctor` against the emulator: every check passes on a good set-up, and each fault is
//! named with what to fix.

use capacity_bot::cli::doctor::{checks, Check};
use capacity_bot::store::MIGRATOR;
use slack_emulator::{Emulator, EmulatorConfig};
use sqlx::PgPool;

use crate::support::harness::*;

fn failures(checks: &[Check]) -> Vec<String> {
    checks
        .iter()
        .filter(|c| c.result.is_err())
        .map(ToString::to_string)
        .collect()
}

fn url_of(pool: &PgPool) -> String {
    let base = std::env::var("DATABASE_URL")
        .unwrap_or_else(|_| "postgres://postgres@127.0.0.1:5432/postgres".into());
    let db = pool.connect_options().get_database().unwrap().to_string();
    format!("{}/{db}", base.rsplit_once('/').unwrap().0)
}

async fn run_doctor(
    emu: &Emulator,
    pool: &PgPool,
    toml: &str,
    overrides: &[(&str, &str)],
) -> Vec<Check> {
    let mut vars = vec![
        ("SLACK_BOT_TOKEN".to_string(), emu.bot_token().to_string()),
        ("SLACK_APP_TOKEN".to_string(), emu.app_token().to_string()),
        ("SLACK_API_URL".to_string(), emu.api_url()),
        ("DATABASE_URL".to_string(), url_of(pool)),
    ];
    for (k, v) in overrides {
        vars.retain(|(n, _)| n != k);
        vars.push((k.to_string(), v.to_string()));
    }
    let env = move |k: &str| vars.iter().find(|(n, _)| n == k).map(|(_, v)| v.clone());
    let settings = capacity_bot::config::Settings::from_toml_str(toml, &env).expect("valid config");
    checks(&settings).await
}

#[sqlx::test(migrator = "MIGRATOR")]
async fn a_good_setup_passes_every_check(pool: PgPool) {
    let _ = rustls::crypto::ring::default_provider().install_default();
    let emu = Emulator::start(emulator_config()).await.unwrap();
    let checks = run_doctor(&emu, &pool, &settings_toml(emu.team_id()), &[]).await;
    assert_eq!(failures(&checks), Vec::<String>::new());
    let names: Vec<&str> = checks.iter().map(|c| c.name.as_str()).collect();
    assert!(names.contains(&"bot token (auth.test)"));
    assert!(names.contains(&"app token (apps.connections.open)"));
    assert!(names.contains(&"requests channel"));
    assert!(names.contains(&"roles.infra S0INFRA"));
    assert!(names.contains(&"database"));
}

#[sqlx::test(migrator = "MIGRATOR")]
async fn each_fault_is_named_with_its_fix(pool: PgPool) {
    let _ = rustls::crypto::ring::default_provider().install_default();
    // The bot is not in the channel, a configured user and a group do not exist.
    let config = EmulatorConfig::default()
        .with_channel(CHANNEL, "capacity-requests", false)
        .with_usergroup("S0SALESLEAD", ["UAPPROVER"]);
    let emu = Emulator::start(config).await.unwrap();
    let toml = settings_toml(emu.team_id());
    let checks = run_doctor(&emu, &pool, &toml, &[]).await;
    let failed = failures(&checks).join("\n");
    assert!(
        failed.contains("FAIL  requests channel: the bot is not in C0REQUESTS: invite it"),
        "{failed}"
    );
    assert!(
        failed.contains("FAIL  roles.infra S0INFRA:") && failed.contains("no_such_subteam"),
        "{failed}"
    );
    assert!(
        failed.contains("FAIL  roles.finance UFINANCE:") && failed.contains("user_not_found"),
        "{failed}"
    );

    let emu = Emulator::start(emulator_config()).await.unwrap();
    let toml = settings_toml(emu.team_id());
    let checks = run_doctor(
        &emu,
        &pool,
        &toml,
        &[("SLACK_BOT_TOKEN", "xoxb-wrong-token")],
    )
    .await;
    let failed = failures(&checks).join("\n");
    assert!(
        failed.contains("FAIL  bot token (auth.test)")
            && failed.contains("SLACK_BOT_TOKEN is wrong or revoked"),
        "{failed}"
    );

    let checks = run_doctor(
        &emu,
        &pool,
        &toml,
        &[("SLACK_APP_TOKEN", "xapp-wrong-token")],
    )
    .await;
    let failed = failures(&checks).join("\n");
    assert!(
        failed.contains("FAIL  app token (apps.connections.open)"),
        "{failed}"
    );

    let checks = run_doctor(
        &emu,
        &pool,
        &toml,
        &[("DATABASE_URL", "postgres://postgres@127.0.0.1:1/none")],
    )
    .await;
    let failed = failures(&checks).join("\n");
    assert!(
        failed.contains("FAIL  database: the database could not be reached"),
        "{failed}"
    );
}

#[sqlx::test(migrations = false)]
async fn an_unmigrated_database_is_named(pool: PgPool) {
    let _ = rustls::crypto::ring::default_provider().install_default();
    let emu = Emulator::start(emulator_config()).await.unwrap();
    let checks = run_doctor(&emu, &pool, &settings_toml(emu.team_id()), &[]).await;
    assert_eq!(failures(&checks), vec!["FAIL  database: reachable but not migrated to this version: run `capacity-bot migrate`".to_string()]);
}

#[sqlx::test(migrator = "MIGRATOR")]
async fn with_a_digest_the_files_write_scope_is_checked(pool: PgPool) {
    let _ = rustls::crypto::ring::default_provider().install_default();
    let emu = Emulator::start(emulator_config()).await.unwrap();
    let toml = format!(
        "{}\n[digest]\nweekday = \"Mon\"\ntime = \"09:30\"\n",
        settings_toml(emu.team_id())
    );
    let checks = run_doctor(&emu, &pool, &toml, &[]).await;
    assert_eq!(failures(&checks), Vec::<String>::new());
    assert!(checks
        .iter()
        .any(|c| c.to_string()
            == "ok    files:write (weekly digest chart): the bot may upload files"));

    // An app installed without files:write: Slack answers missing_scope.
    emu.fail_next(
        "files.getUploadURLExternal",
        1,
        slack_emulator::Fault::error("missing_scope"),
    );
    let checks = run_doctor(&emu, &pool, &toml, &[]).await;
    let failed = failures(&checks).join("\n");
    assert!(
        failed.contains(
            "FAIL  files:write (weekly digest chart): Slack refused the call: missing_scope"
        ) && failed.contains("add the missing scope to the Slack app"),
        "{failed}"
    );
    // Without [digest] the scope is not needed, and not asked about.
    let plain = run_doctor(&emu, &pool, &settings_toml(emu.team_id()), &[]).await;
    assert!(plain.iter().all(|c| !c.name.contains("files:write")));
}

#[sqlx::test(migrator = "MIGRATOR")]
async fn the_granted_scopes_are_compared_with_the_manifest(pool: PgPool) {
    let _ = rustls::crypto::ring::default_provider().install_default();
    let every: Vec<&str> = capacity_bot::slack::scopes::BOT_SCOPES
        .iter()
        .map(|s| s.name)
        .collect();
    let emu = Emulator::start(emulator_config().with_bot_scopes(every.clone()))
        .await
        .unwrap();
    let checks = run_doctor(&emu, &pool, &settings_toml(emu.team_id()), &[]).await;
    let line = checks
        .iter()
        .find(|c| c.name == "bot scopes")
        .expect("a scope check")
        .to_string();
    assert_eq!(
        line,
        format!(
            "ok    bot scopes: every scope of the manifest is granted ({})",
            every.len()
        )
    );

    // Installed before the app asked for user groups and DMs: both are named, with why.
    let granted: Vec<&str> = every
        .iter()
        .copied()
        .filter(|s| !matches!(*s, "usergroups:read" | "im:write"))
        .collect();
    let emu = Emulator::start(emulator_config().with_bot_scopes(granted))
        .await
        .unwrap();
    let checks = run_doctor(&emu, &pool, &settings_toml(emu.team_id()), &[]).await;
    let failed = failures(&checks).join("\n");
    assert!(
        failed.contains(
            "FAIL  bot scopes: the bot token lacks im:write (opening DMs to decision owners), \
             usergroups:read (roles given to user groups): add them to the app's bot scopes"
        ),
        "{failed}"
    );
    // Slack itself refuses what the scope gates, so the group check fails as well.
    assert!(failed.contains("missing_scope"), "{failed}");

    // files:write is only needed by the digest: without [digest] it is noted, not failed.
    let granted: Vec<&str> = every
        .iter()
        .copied()
        .filter(|s| *s != "files:write")
        .collect();
    let emu = Emulator::start(emulator_config().with_bot_scopes(granted))
        .await
        .unwrap();
    let checks = run_doctor(&emu, &pool, &settings_toml(emu.team_id()), &[]).await;
    assert_eq!(failures(&checks), Vec::<String>::new());
    assert!(checks.iter().any(|c| c.to_string()
        == "ok    bot scopes: granted for this configuration; not granted but unused: files:write (the weekly digest's chart)"));
    let toml = format!(
        "{}\n[digest]\nweekday = \"Mon\"\ntime = \"09:30\"\n",
        settings_toml(emu.team_id())
    );
    let failed = failures(&run_doctor(&emu, &pool, &toml, &[]).await).join("\n");
    assert!(
        failed.contains("FAIL  bot scopes: the bot token lacks files:write"),
        "{failed}"
    );
}
