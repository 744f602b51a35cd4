//! `capacity-bot demo`: the product working end to end with no Slack workspace — the local
//! Slack emulator, the real daemon, a real Postgres, and one request played through every
//! gate by different people, each Slack message printed as text.

pub mod postgres;

use std::sync::Arc;
use std::time::Duration;

use anyhow::{bail, Context as _};
use serde_json::json;
use sqlx::PgPool;

use crate::app::{Daemon, RunOptions};
use crate::clock::SystemClock;
use crate::config::Settings;
use crate::store;
use slack_emulator::{Emulator, EmulatorConfig, Message};

const CHANNEL: &str = "C0DEMOREQS";
/// A customer channel the bot is in: where requests start and where people ask about them.
const CUSTOMER_CHANNEL: &str = "C0DEMOCUST";
const WAIT: Duration = Duration::from_secs(15);

/// The demo's cast: (user id, handle, what they do).
const PEOPLE: [(&str, &str, &str); 7] = [
    ("U0DANA", "dana", "solutions architect, files the request"),
    ("U0ALEX", "alex", "account executive, the commercial owner"),
    ("U0FIONA", "fiona", "finance approver"),
    ("U0IVAN", "ivan", "infra engineer"),
    ("U0INES", "ines", "infra engineer"),
    ("U0SAM", "sam", "someone else in the workspace"),
    ("U0LEAD", "lea", "sales lead (commercial approver)"),
];

fn demo_config(team: &str) -> String {
    format!(
        r#"
[slack]
requests_channel = "{CHANNEL}"
team_id = "{team}"

[roles]
commercial_approvers = ["S0SALESLEAD"]
finance = ["U0FIONA"]
infra = ["S0INFRA"]
admins = []

[policy]
finance_threshold_usd_month = 50000

[digest]
weekday = "Mon"
time = "09:30"
"#
    )
}

pub async fn run() -> anyhow::Result<()> {
    let _ = rustls::crypto::ring::default_provider().install_default();
    let (pool, db) = database().await?;
    let result = play(pool.clone()).await;
    db.remove(pool).await;
    result
}

async fn play(pool: PgPool) -> anyhow::Result<()> {
    store::migrate(&pool)
        .await
        .context("migrating the demo database")?;

    let mut config = EmulatorConfig::default()
        .with_channel(CHANNEL, "capacity-requests", true)
        .with_channel(CUSTOMER_CHANNEL, "cust-acme-robotics", true)
        .with_usergroup("S0INFRA", ["U0IVAN", "U0INES"])
        .with_usergroup("S0SALESLEAD", ["U0LEAD"]);
    for (id, handle, _) in PEOPLE {
        config = config.with_user(id, handle, handle);
    }
    let emu = Emulator::start(config)
        .await
        .context("starting the Slack emulator")?;
    let vars = [
        ("SLACK_BOT_TOKEN", emu.bot_token().to_string()),
        ("SLACK_APP_TOKEN", emu.app_token().to_string()),
        ("SLACK_API_URL", emu.api_url()),
    ];
    let env = move |k: &str| vars.iter().find(|(n, _)| *n == k).map(|(_, v)| v.clone());
    let settings = Settings::from_toml_str(&demo_config(emu.team_id()), &env)
        .map_err(|e| anyhow::anyhow!("demo config: {e}"))?;
    let options = RunOptions {
        // The demo must not collide with anything already on 8080.
        http_listen: Some(std::net::SocketAddr::from(([127, 0, 0, 1], 0))),
        ..RunOptions::default()
    };
    let calendar = settings.policy.calendar.clone();
    let daemon = Daemon::start(settings, pool.clone(), Arc::new(SystemClock), options).await?;
    emu.wait_connected(1, WAIT).await?;

    println!("capacity-bot demo: a local Slack emulator, the real daemon and Postgres.\n");
    println!("The people:");
    for (_, handle, role) in PEOPLE {
        println!("  @{handle:<6} {role}");
    }
    let mut shown = 0;
    let mut show = |emu: &Emulator, title: &str| {
        println!("\n=== {title}");
        for entry in emu.log_since(shown) {
            println!("{}", emu.with_names(&entry.to_string()));
            shown = entry.seq + 1;
        }
    };

    emu.slash_command("U0DANA", "/capacity", "new", CHANNEL)
        .await?;
    let view = emu.wait_for_view("U0DANA", WAIT).await?;
    emu.submit_view(
        &view.id,
        "U0DANA",
        json!({
            "customer": "Acme Robotics",
            "org_id": "org-acme-robotics",
            "project_ref": "acmeroboticsprod01",
            "current_size": "16XL",
            "requested_size": "48XL",
            "region": "us-east-1",
            "needed_by": (chrono::Utc::now() + chrono::Duration::days(30)).format("%Y-%m-%d").to_string(),
            "duration_months": "12",
            "est_monthly_cost_usd": "68000",
            "commercial_owner": "U0ALEX",
            "justification": "Launch traffic for their new fleet-telemetry product.",
        }),
    )
    .await?;
    let root = wait_root(&emu, "Commercial approval").await?;
    settle(&emu, &root, 2).await?;
    show(
        &emu,
        "@dana runs /capacity and submits the form: CR-1 is posted with its owner",
    );

    emu.click("U0SAM", CHANNEL, &root.ts, "commercial_approved")
        .await?;
    emu.wait_for_ephemeral(|e| e.user == "U0SAM", WAIT).await?;
    show(&emu, "@sam tries to approve: refused, told who can act");

    // Anyone may comment, from the ⋯ menu beside the buttons.
    let comment = menu_option(&emu, &root.ts, "comment_added")?;
    emu.choose_option("U0SAM", CHANNEL, &root.ts, "more_actions", &comment)
        .await?;
    let form = emu.wait_for_view("U0SAM", WAIT).await?;
    emu.submit_view(
        &form.id,
        "U0SAM",
        json!({"reason": "Their launch date moved up a week; can we hurry?"}),
    )
    .await?;
    settle(&emu, &root, 3).await?;
    show(&emu, "@sam comments from the ⋯ menu (Comment…)");

    let steps: [(&str, &str, &str, usize); 3] = [
        (
            "U0ALEX",
            "commercial_approved",
            "@alex gives the commercial key",
            4,
        ),
        (
            "U0FIONA",
            "commercial_approved",
            "@fiona gives the finance key (cost is over $50,000/month)",
            5,
        ),
        (
            "U0IVAN",
            "technical_owner_assigned",
            "@ivan takes the technical review",
            6,
        ),
    ];
    for (user, action, title, replies) in steps {
        emu.click(user, CHANNEL, &root.ts, action)
            .await
            .with_context(|| format!("{user} clicking {action}"))?;
        settle(&emu, &root, replies).await?;
        show(&emu, title);
    }

    // Ivan is pulled onto an incident: the sales lead hands his review to Ines.
    let reassign = menu_option(&emu, &root.ts, "owner_reassigned")?;
    emu.choose_option("U0LEAD", CHANNEL, &root.ts, "more_actions", &reassign)
        .await?;
    let form = emu.wait_for_view("U0LEAD", WAIT).await?;
    emu.submit_view(
        &form.id,
        "U0LEAD",
        json!({"owner_role": "technical", "new_owner": "U0INES"}),
    )
    .await?;
    settle(&emu, &root, 7).await?;
    show(
        &emu,
        "@lea reassigns the technical owner to @ines (Reassign owner…): the decision, its reminders and buttons follow",
    );

    let steps: [(&str, &str, &str, usize); 4] = [
        (
            "U0INES",
            "technical_approved",
            "@ines approves: the customer has 5 business days to confirm",
            8,
        ),
        (
            "U0ALEX",
            "customer_confirmed",
            "@alex records the customer's confirmation: capacity is committed",
            9,
        ),
        (
            "U0INES",
            "provisioning_completed",
            "@ines finishes provisioning: the activation window opens",
            10,
        ),
        (
            "U0DANA",
            "activated",
            "@dana records activation: the customer now pays, nothing is at risk",
            11,
        ),
    ];
    for (user, action, title, replies) in steps {
        emu.click(user, CHANNEL, &root.ts, action)
            .await
            .with_context(|| format!("{user} clicking {action}"))?;
        settle(&emu, &root, replies).await?;
        show(&emu, title);
    }
    let requests = store::requests::list(&pool, &Default::default()).await?;
    println!("\nThe database now holds {} request(s); `capacity-bot requests show CR-1` prints the audit trail:\n", requests.len());
    if let Some(r) = requests.first() {
        let events = store::events::events_of(&pool, r.id).await?;
        let links = store::requests::links(&pool, r.id).await?;
        let owners = [
            Some(&r.requester),
            r.commercial_owner.as_ref(),
            r.technical_owner.as_ref(),
        ];
        let people = events
            .iter()
            .filter_map(|e| e.actor.user().map(|u| u.to_string()))
            .chain(owners.into_iter().flatten().map(|u| u.to_string()));
        let names = crate::slack::names::resolve(Some(&emu_api(&emu)?), people).await;
        print!(
            "{}",
            crate::audit::timeline(r, &events, &links, chrono::Utc::now(), &names)
        );
    }
    println!("\n`capacity-bot report` over the demo's database (also --format csv, json, html):\n");
    print!("{}", report(&pool, &emu, &calendar).await?);
    digest(&pool, &emu).await?;
    show(
        &emu,
        "The weekly digest (asked for now rather than on Monday 09:30): the message, then the chart",
    );
    ways_in(&emu).await?;
    show(
        &emu,
        "In #cust-acme-robotics, @alex's message becomes CR-2 through the message shortcut (the form \
         opens prefilled and linked; the root links back; the thread gets one reply), then @sam \
         asks about CR-1 there and gets one card",
    );
    home_of(&emu, "U0ALEX").await?;
    show(
        &emu,
        "@alex opens the app's Home tab: what waits on them (CR-2, with its decision's buttons only), \
         their requests, and every open request by cost at risk",
    );
    daemon.shutdown().await;
    emu.shutdown().await;
    println!("\nDone. Run `capacity-bot run` with a real workspace: see README.md.");
    Ok(())
}

/// The ways in from a conversation: the message shortcut on a customer's message, and a
/// `CR-1` mention answered in its thread.
async fn ways_in(emu: &Emulator) -> anyhow::Result<()> {
    let said = emu
        .post_user_message(
            "U0ALEX",
            CUSTOMER_CHANNEL,
            "Acme Robotics asks for 64XL in eu-west-1 for their EU launch; they can commit 6 months.",
            None,
        )
        .await?;
    emu.message_shortcut(
        "U0DANA",
        CUSTOMER_CHANNEL,
        &said.ts,
        "capacity_request_from_message",
    )
    .await?;
    let view = emu.wait_for_view("U0DANA", WAIT).await?;
    let prefilled = view
        .element("justification")
        .and_then(|(_, e)| e["initial_value"].as_str().map(str::to_string))
        .unwrap_or_default();
    emu.submit_view(
        &view.id,
        "U0DANA",
        json!({
            "customer": "Acme Robotics",
            "org_id": "org-acme-robotics",
            "project_ref": "acmeroboticseu01",
            "current_size": "16XL",
            "requested_size": "64XL",
            "region": "eu-west-1",
            "needed_by": (chrono::Utc::now() + chrono::Duration::days(20)).format("%Y-%m-%d").to_string(),
            "duration_months": "6",
            "est_monthly_cost_usd": "30000",
            "commercial_owner": "U0ALEX",
            "justification": prefilled,
        }),
    )
    .await?;
    emu.wait_for_message(
        |m| {
            m.channel == CUSTOMER_CHANNEL
                && m.from_bot
                && m.thread_ts.as_deref() == Some(said.ts.as_str())
        },
        WAIT,
    )
    .await?;
    let asked = emu
        .post_user_message("U0SAM", CUSTOMER_CHANNEL, "is CR-1 still needed?", None)
        .await?;
    emu.wait_for_message(
        |m| {
            m.channel == CUSTOMER_CHANNEL
                && m.from_bot
                && m.thread_ts.as_deref() == Some(asked.ts.as_str())
        },
        WAIT,
    )
    .await?;
    Ok(())
}

/// Opens `user`'s Home tab and waits until the daemon published it (the emulator prints it).
async fn home_of(emu: &Emulator, user: &str) -> anyhow::Result<()> {
    emu.open_home(user).await?;
    emu.wait_for_home(
        user,
        |v| slack_emulator::render_text(&v.json["blocks"]).contains("Waiting on you"),
        WAIT,
    )
    .await?;
    Ok(())
}

/// Queues this week's digest now, as the scheduler does at the configured slot (the daemon
/// recorded the last slot as its baseline when it started), and waits for the outbox to post
/// the message and upload the chart.
async fn digest(pool: &PgPool, emu: &Emulator) -> anyhow::Result<()> {
    let now = chrono::Utc::now();
    if store::digests::queue(pool, now, CHANNEL, now).await? == store::digests::Queued::Baseline {
        // The daemon had not swept yet: that row was the baseline, this one is posted.
        let later = now + chrono::Duration::seconds(1);
        store::digests::queue(pool, later, CHANNEL, later).await?;
    }
    let files = emu.wait_for_files(1, WAIT).await?;
    if let Some(chart) = files.first() {
        let size = png_size(&chart.bytes).unwrap_or((0, 0));
        println!(
            "\nThe chart \"{}\" is a {}×{} PNG of {} bytes ({}).",
            chart.title,
            size.0,
            size.1,
            chart.bytes.len(),
            chart.filename
        );
    }
    Ok(())
}

/// Width and height from a PNG's header, when it is one.
fn png_size(bytes: &[u8]) -> Option<(u32, u32)> {
    if bytes.len() < 24 || &bytes[..8] != b"\x89PNG\r\n\x1a\n" {
        return None;
    }
    let be = |i: usize| u32::from_be_bytes([bytes[i], bytes[i + 1], bytes[i + 2], bytes[i + 3]]);
    Some((be(16), be(20)))
}

/// The table `capacity-bot report` prints, with names from the emulator's `users.info`.
async fn report(
    pool: &PgPool,
    emu: &Emulator,
    calendar: &crate::domain::Calendar,
) -> anyhow::Result<String> {
    let mut report = crate::report::gather(pool, None, chrono::Utc::now(), calendar).await?;
    let names = crate::slack::names::resolve(Some(&emu_api(emu)?), report.users()).await;
    report.name_people(&names);
    Ok(crate::report::table::render(&report))
}

/// The emulator's Web API as the bot sees it, for people's names.
fn emu_api(emu: &Emulator) -> anyhow::Result<crate::slack::api::SlackApi> {
    let token = secrecy::SecretString::from(emu.bot_token().to_string());
    Ok(crate::slack::api::SlackApi::new(
        &emu.api_url(),
        &token,
        None,
    )?)
}

/// The value of the `more_actions` option for `event` on the root message as it is now.
fn menu_option(emu: &Emulator, ts: &str, event: &str) -> anyhow::Result<String> {
    let root = emu
        .message(CHANNEL, ts)
        .context("the root message is gone")?;
    let (_, menu) = root
        .element("more_actions")
        .context("the root message has no ⋯ menu")?;
    menu["options"]
        .as_array()
        .into_iter()
        .flatten()
        .filter_map(|o| o["value"].as_str())
        .find(|v| v.starts_with(&format!("{event}|")))
        .map(str::to_string)
        .with_context(|| format!("the ⋯ menu has no {event} option"))
}

async fn wait_root(emu: &Emulator, showing: &str) -> anyhow::Result<Message> {
    Ok(emu
        .wait_for_message(
            |m| m.channel == CHANNEL && m.thread_ts.is_none() && m.render().contains(showing),
            WAIT,
        )
        .await?)
}

/// Waits until the thread has `replies` replies and the outbox has gone quiet.
async fn settle(emu: &Emulator, root: &Message, replies: usize) -> anyhow::Result<()> {
    let deadline = tokio::time::Instant::now() + WAIT;
    loop {
        let thread = emu.thread(CHANNEL, &root.ts);
        if thread.len() >= replies {
            return Ok(());
        }
        let known: Vec<String> = thread.iter().map(|m| m.ts.clone()).collect();
        let left = deadline.saturating_duration_since(tokio::time::Instant::now());
        if left.is_zero() {
            bail!("the thread did not reach {replies} replies");
        }
        emu.wait_for_message(
            |m| m.thread_ts.as_deref() == Some(root.ts.as_str()) && !known.contains(&m.ts),
            left,
        )
        .await?;
    }
}

/// Where the demo's data lives; removed afterwards either way.
enum DemoDb {
    /// A fresh database on DATABASE_URL's server.
    Fresh { admin: PgPool, name: String },
    /// A throwaway server (stopped and deleted on drop).
    Temp(postgres::TempPostgres),
}

impl DemoDb {
    async fn remove(self, pool: PgPool) {
        pool.close().await;
        match self {
            DemoDb::Fresh { admin, name } => {
                let drop = format!("DROP DATABASE IF EXISTS {name} WITH (FORCE)");
                if let Err(e) = sqlx::query(sqlx::AssertSqlSafe(drop)).execute(&admin).await {
                    eprintln!("could not drop the demo database {name}: {e}");
                }
            }
            DemoDb::Temp(pg) => drop(pg),
        }
    }
}

/// DATABASE_URL's server with a fresh database when set; else a throwaway local Postgres.
async fn database() -> anyhow::Result<(PgPool, DemoDb)> {
    if let Ok(url) = std::env::var("DATABASE_URL") {
        let admin = store::connect(&url).await?;
        let name = format!("capacity_bot_demo_{}", uuid::Uuid::new_v4().simple());
        sqlx::query(sqlx::AssertSqlSafe(format!("CREATE DATABASE {name}")))
            .execute(&admin)
            .await
            .context("creating a demo database on DATABASE_URL's server (the demo never writes to your own database)")?;
        let url = match url.rsplit_once('/') {
            Some((server, _)) => format!("{server}/{name}"),
            None => bail!("DATABASE_URL has no database name"),
        };
        println!(
            "Using a fresh database {name} on DATABASE_URL's server; it is dropped at the end."
        );
        let pool = store::connect(&url).await?;
        return Ok((pool, DemoDb::Fresh { admin, name }));
    }
    let pg = tokio::task::spawn_blocking(postgres::TempPostgres::start).await??;
    println!(
        "No DATABASE_URL: started a throwaway Postgres in {}.",
        pg.path().display()
    );
    let pool = store::connect(&pg.url).await?;
    Ok((pool, DemoDb::Temp(pg)))
}
