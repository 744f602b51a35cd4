//! The real daemon against the project's Slack emulator and a fresh Postgres database.

use std::sync::Arc;
use std::time::Duration;

use capacity_bot::app::{Daemon, RunOptions};
use capacity_bot::clock::TestClock;
use capacity_bot::config::Settings;
use capacity_bot::context::OutboxOptions;
use capacity_bot::domain::testkit::*;
use capacity_bot::domain::RequestNumber;
use capacity_bot::slack::socket::SocketConfig;
use capacity_bot::store;
use chrono::{DateTime, Utc};
use serde_json::{json, Value};
use slack_emulator::{Ack, Emulator, EmulatorConfig, Message};
use sqlx::PgPool;

pub const CHANNEL: &str = "C0REQUESTS";
pub const WAIT: Duration = Duration::from_secs(10);
/// The Linear API key every harness daemon has (used only where [linear] is configured).
pub const LINEAR_KEY: &str = "lin_api_testkey";

pub fn emulator_config() -> EmulatorConfig {
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
        (STRANGER, "sam"),
    ] {
        c = c.with_user(id, name, name);
    }
    c
}

pub fn settings_toml(team: &str) -> String {
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

[policy]
finance_threshold_usd_month = 50000

[calendar]
time_zone = "America/New_York"
working_hours = "09:00-17:00"
holidays = ["2026-12-25", "2027-01-01"]
"#
    )
}

pub fn settings_for(emu: &Emulator, toml: &str) -> Settings {
    let vars = [
        ("SLACK_BOT_TOKEN", emu.bot_token().to_string()),
        ("SLACK_APP_TOKEN", emu.app_token().to_string()),
        ("SLACK_API_URL", emu.api_url()),
        ("CAPACITY_SIGNAL_SECRET", "test-signal-secret".to_string()),
        (
            "DATABASE_URL",
            "postgres://unused@127.0.0.1/unused".to_string(),
        ),
        ("LINEAR_API_KEY", LINEAR_KEY.to_string()),
    ];
    let env = move |k: &str| vars.iter().find(|(n, _)| *n == k).map(|(_, v)| v.clone());
    Settings::from_toml_str(toml, &env).expect("the test config is valid")
}

pub fn fast_options() -> RunOptions {
    RunOptions {
        socket: SocketConfig {
            connections: 2,
            backoff_min: Duration::from_millis(20),
            backoff_max: Duration::from_millis(200),
            ..SocketConfig::default()
        },
        outbox_poll: Duration::from_millis(50),
        http_listen: Some("127.0.0.1:0".parse().expect("an address")),
        // The daemon's own outbox: a lane's rows claimed together, root updates coalesced.
        outbox: OutboxOptions::default(),
        ..RunOptions::default()
    }
}

pub struct Harness {
    pub emu: Emulator,
    pub daemon: Option<Daemon>,
    pub pool: PgPool,
    pub clock: TestClock,
}

impl Harness {
    pub async fn start(pool: PgPool) -> Harness {
        Self::start_with(pool, emulator_config(), settings_toml, t0()).await
    }

    pub async fn start_with(
        pool: PgPool,
        config: EmulatorConfig,
        toml: impl FnOnce(&str) -> String,
        now: DateTime<Utc>,
    ) -> Harness {
        let _ = rustls::crypto::ring::default_provider().install_default();
        let emu = Emulator::start(config).await.expect("emulator starts");
        let settings = settings_for(&emu, &toml(emu.team_id()));
        let clock = TestClock::at(now);
        let daemon = Daemon::start(
            settings,
            pool.clone(),
            Arc::new(clock.clone()),
            fast_options(),
        )
        .await
        .expect("daemon starts");
        emu.wait_connected(2, WAIT)
            .await
            .expect("both sockets connect");
        Harness {
            emu,
            daemon: Some(daemon),
            pool,
            clock,
        }
    }

    pub fn daemon(&self) -> &Daemon {
        self.daemon.as_ref().expect("running")
    }

    pub async fn stop(&mut self) {
        if let Some(d) = self.daemon.take() {
            d.shutdown().await;
        }
    }

    /// `/capacity` → the modal → submitted with `answers`; returns the submission's ack payload.
    pub async fn submit(&self, user: &str, answers: Value) -> Option<Value> {
        let ack = self
            .emu
            .slash_command(user, "/capacity", "", CHANNEL)
            .await
            .expect("slash command acked");
        assert_eq!(
            ack.payload.as_ref().and_then(|p| p.get("text")),
            None,
            "no reply text on `new`: {:?}",
            ack.payload
        );
        let view = self
            .emu
            .wait_for_view(user, WAIT)
            .await
            .expect("the intake modal opens");
        assert_eq!(view.callback_id(), "capacity_request_new");
        let ack = self
            .emu
            .submit_view(&view.id, user, answers)
            .await
            .expect("submission acked");
        ack.payload
    }

    /// The root message whose header names `CR-<n>`, as it is now.
    pub async fn root(&self, number: i64) -> Message {
        let tag = format!("CR-{number}");
        self.emu
            .wait_for_message(
                |m| m.channel == CHANNEL && m.thread_ts.is_none() && m.render().contains(&tag),
                WAIT,
            )
            .await
            .unwrap_or_else(|e| panic!("root message of {tag}: {e}"))
    }

    /// Waits until the root message of `CR-<n>` shows `text`.
    pub async fn root_showing(&self, number: i64, text: &str) -> Message {
        let tag = format!("CR-{number}");
        let root = self
            .emu
            .wait_for_message(
                |m| {
                    m.channel == CHANNEL
                        && m.thread_ts.is_none()
                        && m.render().contains(&tag)
                        && m.render().contains(text)
                },
                WAIT,
            )
            .await
            .unwrap_or_else(|e| {
                let now: Vec<String> = self
                    .emu
                    .messages(CHANNEL)
                    .iter()
                    .map(|m| m.render())
                    .collect();
                panic!(
                    "root of {tag} never showed {text:?}: {e}\n{}",
                    now.join("\n---\n")
                )
            });
        // Slack shows the root a moment before the worker stores where it is, and until then
        // a button from any message passes the check that it is on its own request's message.
        // A test that clicks (or forges a click) as soon as the root shows must not race that.
        let deadline = tokio::time::Instant::now() + WAIT;
        loop {
            let request = store::requests::by_number(&self.pool, RequestNumber(number))
                .await
                .expect("db")
                .expect("the request of a posted root");
            let stored = store::requests::links(&self.pool, request.id)
                .await
                .expect("db")
                .slack_ts;
            if stored.as_deref() == Some(root.ts.as_str()) {
                return root;
            }
            assert!(
                tokio::time::Instant::now() < deadline,
                "the root of {tag} was posted ({}) but where it is was never stored",
                root.ts
            );
            tokio::task::yield_now().await;
        }
    }

    /// Waits until the thread under `root` has at least `n` replies; returns them.
    pub async fn thread_len(&self, root: &Message, n: usize) -> Vec<Message> {
        let deadline = tokio::time::Instant::now() + WAIT;
        loop {
            let thread = self.emu.thread(CHANNEL, &root.ts);
            if thread.len() >= n {
                return thread;
            }
            let known: Vec<String> = thread.iter().map(|m| m.ts.clone()).collect();
            let left = deadline.saturating_duration_since(tokio::time::Instant::now());
            self.emu
                .wait_for_message(
                    |m| m.thread_ts.as_deref() == Some(root.ts.as_str()) && !known.contains(&m.ts),
                    left,
                )
                .await
                .unwrap_or_else(|e| {
                    let log: Vec<String> = self.emu.log().iter().map(|l| l.to_string()).collect();
                    panic!(
                        "thread of {} never reached {n} replies (has {}): {e}\n{}",
                        root.ts,
                        thread.len(),
                        log.join("\n")
                    )
                });
        }
    }

    pub async fn ephemeral_to(&self, user: &str, containing: &str) -> String {
        let e = self
            .emu
            .wait_for_ephemeral(|e| e.user == user && e.text.contains(containing), WAIT)
            .await
            .unwrap_or_else(|e| {
                panic!(
                    "no ephemeral to {user} containing {containing:?}: {e}; got {:?}",
                    self.emu.ephemerals(user)
                )
            });
        e.text
    }
}

pub fn action_ids(message: &Message) -> Vec<String> {
    let mut ids = Vec::new();
    for block in message.blocks.as_array().into_iter().flatten() {
        if block["type"] == "actions" {
            for el in block["elements"].as_array().into_iter().flatten() {
                if let Some(id) = el["action_id"].as_str() {
                    ids.push(id.to_string());
                }
            }
        }
    }
    ids
}

/// Valid answers to the intake modal (block id → answer).
pub fn answers(cost_usd: &str) -> Value {
    json!({
        "customer": "Acme Corp",
        "org_id": "org-acme",
        "project_ref": "abcdefghijklmnopqrst",
        "current_size": "16XL",
        "requested_size": "48XL",
        "region": "us-east-1",
        "needed_by": "2027-01-15",
        "duration_months": "12",
        "est_monthly_cost_usd": cost_usd,
        "commercial_owner": AE,
        "justification": "Black Friday traffic for <!channel> @here",
    })
}

/// Envelopes a test builds itself: a click on an out-of-date rendering, a forged or foreign
/// payload, a submission the Slack client would have stopped. They go through the same
/// socket as every other envelope.
impl Harness {
    /// Sends `envelope` as it is and returns its ack.
    pub async fn send_envelope(&self, envelope: &Value) -> Ack {
        self.emu
            .send_raw_envelope(&envelope.to_string(), WAIT)
            .await
            .expect("the envelope is sent")
            .unwrap_or_else(|| panic!("no ack for {envelope}"))
    }

    /// The `block_actions` envelope Slack sends when `user` clicks `action_id` on `message`
    /// exactly as it was captured (an older rendering stays old). Tests may edit it first.
    pub fn click_envelope(&self, user: &str, message: &Message, action_id: &str) -> Value {
        let (block_id, button) = message
            .element(action_id)
            .unwrap_or_else(|| panic!("no {action_id} button on {}", message.render()));
        let team = self.emu.team_id();
        json!({
            "envelope_id": uuid::Uuid::new_v4().to_string(),
            "type": "interactive",
            "accepts_response_payload": false,
            "payload": {
                "type": "block_actions",
                "user": {"id": user, "username": user, "name": user, "team_id": team},
                "api_app_id": self.emu.app_id(),
                "trigger_id": self.emu.mint_trigger_id(user),
                "team": {"id": team, "domain": "acme-infra"},
                "actions": [{
                    "action_id": action_id,
                    "block_id": block_id,
                    "type": "button",
                    "value": button["value"],
                    "text": button["text"],
                    "action_ts": "1764777600.000100",
                }],
                "container": {
                    "type": "message",
                    "message_ts": message.ts,
                    "channel_id": message.channel,
                    "is_ephemeral": false,
                },
                "channel": {"id": message.channel, "name": "capacity-requests"},
                "message": {"type": "message", "ts": message.ts, "text": message.text, "blocks": message.blocks},
                "state": {"values": {}},
            },
        })
    }

    /// Opens the intake modal for `user` and submits `values` (`state.values` as Slack sends
    /// them) straight over the socket, past the client-side checks of `submit_view`.
    pub async fn submit_forged(&self, user: &str, values: Value) -> Ack {
        self.emu
            .slash_command(user, "/capacity", "", CHANNEL)
            .await
            .expect("slash command acked");
        let view = self
            .emu
            .wait_for_view(user, WAIT)
            .await
            .expect("the intake modal opens");
        let mut json = view.json.clone();
        json["state"] = json!({ "values": values });
        let team = self.emu.team_id();
        let envelope = json!({
            "envelope_id": uuid::Uuid::new_v4().to_string(),
            "type": "interactive",
            "accepts_response_payload": true,
            "payload": {
                "type": "view_submission",
                "team": {"id": team, "domain": "acme-infra"},
                "user": {"id": user, "username": user, "name": user, "team_id": team},
                "api_app_id": self.emu.app_id(),
                "trigger_id": self.emu.mint_trigger_id(user),
                "view": json,
                "response_urls": [],
                "is_enterprise_install": false,
            },
        });
        self.send_envelope(&envelope).await
    }

    /// Events recorded so far, over every request.
    pub async fn events(&self) -> i64 {
        crate::support::count_events(&self.pool).await
    }

    /// Every outbox row, oldest first.
    pub async fn outbox(&self) -> Vec<OutboxState> {
        sqlx::query_as(
            "SELECT r.number, o.effect->>'type' AS effect, o.status, o.attempts, \
             o.next_attempt_at, o.last_error, o.claimed_by \
             FROM capacity.outbox o JOIN capacity.capacity_requests r ON r.id = o.request_id \
             ORDER BY o.id",
        )
        .fetch_all(&self.pool)
        .await
        .expect("outbox rows")
    }

    /// Waits until the outbox rows satisfy `done`. Outbox marks happen after the Slack call
    /// the emulator records, with nothing else to wait on, so this re-reads the table (a
    /// bounded loop of queries, no sleeping) until `WAIT` runs out.
    pub async fn wait_for_outbox(
        &self,
        what: &str,
        mut done: impl FnMut(&[OutboxState]) -> bool,
    ) -> Vec<OutboxState> {
        let deadline = tokio::time::Instant::now() + WAIT;
        loop {
            let rows = self.outbox().await;
            if done(&rows) {
                return rows;
            }
            assert!(
                tokio::time::Instant::now() < deadline,
                "the outbox never reached: {what}\n{rows:#?}"
            );
            tokio::task::yield_now().await;
        }
    }

    /// Waits until no outbox row is leased to a worker: call it before jumping the test clock,
    /// or a lease taken before the jump runs out mid-delivery and the row is rightly
    /// delivered a second time.
    pub async fn no_delivery_in_flight(&self) {
        let deadline = tokio::time::Instant::now() + WAIT;
        loop {
            let leased: i64 = sqlx::query_scalar(
                "SELECT count(*) FROM capacity.outbox WHERE claimed_until IS NOT NULL",
            )
            .fetch_one(&self.pool)
            .await
            .expect("db");
            if leased == 0 {
                return;
            }
            assert!(
                tokio::time::Instant::now() < deadline,
                "a delivery stayed in flight"
            );
            tokio::task::yield_now().await;
        }
    }

    /// True once no refusal reply is on its way and none was sent: a reply is spawned before
    /// the ack, and its `chat.postEphemeral` is recorded before the task ends.
    pub fn no_reply_sent(&self) -> bool {
        self.daemon().state.tasks.is_empty() && self.emu.calls("chat.postEphemeral").is_empty()
    }
}

/// One outbox row as an operator reads it.
#[derive(Debug, Clone, sqlx::FromRow)]
pub struct OutboxState {
    /// The request's `CR-<n>` number.
    pub number: i64,
    pub effect: String,
    pub status: String,
    pub attempts: i32,
    pub next_attempt_at: DateTime<Utc>,
    pub last_error: Option<String>,
    pub claimed_by: Option<String>,
}

/// `state.values` for the intake modal as Slack sends them; `answers` maps block id to the
/// raw answer, and a null answer is an input left empty.
pub fn intake_values(answers: &Value) -> Value {
    let mut values = serde_json::Map::new();
    for (block, answer) in answers.as_object().expect("answers are an object") {
        let typed = match block.as_str() {
            "requested_size" if answer.is_null() => {
                json!({"type": "static_select", "selected_option": null})
            }
            "requested_size" => json!({"type": "static_select", "selected_option": {
                "text": {"type": "plain_text", "text": answer, "emoji": true}, "value": answer}}),
            "needed_by" => json!({"type": "datepicker", "selected_date": answer}),
            "duration_months" | "est_monthly_cost_usd" => {
                json!({"type": "number_input", "value": answer})
            }
            "commercial_owner" => json!({"type": "users_select", "selected_user": answer}),
            _ => json!({"type": "plain_text_input", "value": answer}),
        };
        values.insert(block.clone(), json!({ block.clone(): typed }));
    }
    Value::Object(values)
}

/// GET `path` on the daemon's HTTP server.
pub async fn http_get(daemon: &Daemon, path: &str) -> (u16, String) {
    let r = reqwest::get(format!("http://{}{path}", daemon.http_addr))
        .await
        .expect("the daemon answers HTTP");
    (r.status().as_u16(), r.text().await.unwrap_or_default())
}

/// Probes `/readyz` until it answers `code` (each probe is one use of the pool, which is
/// what lets it notice a server coming back).
pub async fn readyz_becomes(daemon: &Daemon, code: u16) -> String {
    let deadline = tokio::time::Instant::now() + WAIT;
    loop {
        let (got, body) = http_get(daemon, "/readyz").await;
        if got == code {
            return body;
        }
        assert!(
            tokio::time::Instant::now() < deadline,
            "/readyz never answered {code}: {got} {body}"
        );
    }
}

/// An event reply's place in its request's log, from the footer's block id
/// (`event_context_<seq>`); every event here moves the version, so it is the version too.
pub fn version_of(reply: &Message) -> i32 {
    reply
        .blocks
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
        .unwrap_or_else(|| panic!("no event footer in {}", reply.render()))
}
