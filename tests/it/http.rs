//! The HTTP server: health, readiness, metrics, and the signed activation signal.

use std::sync::Arc;

use capacity_bot::app::Daemon;
use capacity_bot::clock::TestClock;
use capacity_bot::demo::postgres::TempPostgres;
use capacity_bot::domain::testkit::*;
use capacity_bot::domain::{RequestNumber, State};
use capacity_bot::http::signature::sign;
use capacity_bot::store::{self, MIGRATOR};
use serde_json::{json, Value};
use slack_emulator::Emulator;
use sqlx::PgPool;

use crate::support::harness::*;

const SECRET: &str = "test-signal-secret";

struct Http {
    client: reqwest::Client,
    base: String,
}

impl Http {
    fn of(daemon: &Daemon) -> Http {
        Http {
            client: reqwest::Client::new(),
            base: format!("http://{}", daemon.http_addr),
        }
    }

    async fn get(&self, path: &str) -> (u16, String) {
        let r = self
            .client
            .get(format!("{}{path}", self.base))
            .send()
            .await
            .expect("http answers");
        (r.status().as_u16(), r.text().await.unwrap_or_default())
    }

    async fn signal(&self, body: &str, timestamp: i64, secret: &str) -> (u16, Value) {
        let ts = timestamp.to_string();
        let r = self
            .client
            .post(format!("{}/v1/signals/activation", self.base))
            .header("content-type", "application/json")
            .header("X-Capacity-Timestamp", &ts)
            .header(
                "X-Capacity-Signature",
                sign(secret.as_bytes(), &ts, body.as_bytes()),
            )
            .body(body.to_string())
            .send()
            .await
            .expect("http answers");
        (r.status().as_u16(), r.json().await.unwrap_or(Value::Null))
    }
}

fn body(request: &str, signal_id: &str) -> String {
    json!({"request": request, "signal_id": signal_id, "observed_at": "2026-12-03T15:00:00Z"})
        .to_string()
}

/// Submits and walks CR-1 to READY_FOR_CUSTOMER through Slack.
async fn ready_request(h: &Harness) {
    h.submit(REQUESTER, answers("1000")).await;
    let root = h.root_showing(1, "Commercial approval").await;
    for (user, action) in [
        (AE, "commercial_approved"),
        (INFRA, "technical_approved"),
        (AE, "customer_confirmed"),
        (INFRA, "provisioning_completed"),
    ] {
        h.emu.click(user, CHANNEL, &root.ts, action).await.unwrap();
        h.root_showing(1, "updated").await;
        wait_version(h, action).await;
    }
}

async fn wait_version(h: &Harness, after: &str) {
    let want = match after {
        "commercial_approved" => "Technical review",
        "technical_approved" => "Customer confirmation",
        "customer_confirmed" => "Provisioning",
        _ => "Ready for customer",
    };
    h.root_showing(1, want).await;
}

async fn events(pool: &PgPool) -> i64 {
    sqlx::query_scalar("SELECT count(*) FROM capacity.capacity_request_events")
        .fetch_one(pool)
        .await
        .unwrap()
}

#[sqlx::test(migrator = "MIGRATOR")]
async fn health_readiness_and_metrics_answer(pool: PgPool) {
    let mut h = Harness::start(pool).await;
    let http = Http::of(h.daemon());
    assert_eq!(http.get("/healthz").await.0, 200);
    let (code, text) = http.get("/readyz").await;
    assert_eq!(code, 200, "{text}");
    let ready: Value = serde_json::from_str(&text).unwrap();
    assert_eq!(ready["database"], "ok");
    assert_eq!(ready["migrations"], "current");
    h.submit(REQUESTER, answers("1000")).await;
    h.root_showing(1, "Commercial approval").await;
    // The root message is on Slack before its outbox row is marked; scrape until the mark
    // shows (bounded by the deadline).
    let deadline = tokio::time::Instant::now() + WAIT;
    let (code, metrics) = loop {
        let (code, metrics) = http.get("/metrics").await;
        let delivered = "effect=\"post_root_message\",outcome=\"delivered\"} 1";
        if metrics.contains(delivered) || tokio::time::Instant::now() > deadline {
            break (code, metrics);
        }
        tokio::task::yield_now().await;
    };
    assert_eq!(code, 200);
    for line in [
        "capacity_bot_events_recorded_total{kind=\"submitted\"} 1",
        "capacity_bot_events_recorded_total{kind=\"commercial_owner_assigned\"} 1",
        "capacity_bot_socket_connected 2",
        "capacity_bot_ack_latency_seconds_count",
        "capacity_bot_outbox_pending",
        "capacity_bot_outbox_deliveries_total{effect=\"post_root_message\",outcome=\"delivered\"} 1",
        // Series nothing has touched yet are there at zero, for dashboards and alerts.
        "capacity_bot_events_recorded_total{kind=\"activated\"} 0",
        "capacity_bot_outbox_deliveries_total{effect=\"direct_message\",outcome=\"failed\"} 0",
    ] {
        assert!(metrics.contains(line), "{line} missing:\n{metrics}");
    }
    h.stop().await;
}

#[sqlx::test(migrator = "MIGRATOR")]
async fn a_valid_signal_activates_once_and_a_repeat_is_200(pool: PgPool) {
    let mut h = Harness::start(pool.clone()).await;
    ready_request(&h).await;
    let http = Http::of(h.daemon());
    let now = h.clock.now_unix();
    let (code, reply) = http.signal(&body("CR-1", "sig-1"), now, SECRET).await;
    assert_eq!(code, 202, "{reply}");
    assert_eq!(reply["request"], "CR-1");
    let event_id = reply["event_id"].clone();
    assert!(event_id.is_string());
    h.root_showing(1, "Activated").await;
    let (code, again) = http.signal(&body("CR-1", "sig-1"), now, SECRET).await;
    assert_eq!(code, 200, "a repeat of a recorded signal_id: {again}");
    assert_eq!(again["event_id"], event_id);
    let req = store::requests::by_number(&pool, RequestNumber(1))
        .await
        .unwrap()
        .unwrap();
    assert_eq!(req.state, State::Activated);
    let log = store::events::events_of(&pool, req.id).await.unwrap();
    assert_eq!(
        log.iter()
            .filter(|e| e.event.kind().as_str() == "activated")
            .count(),
        1
    );
    assert_eq!(log.last().unwrap().actor.label(), "control-plane");
    // Whatever the state now, the same signal is still a 200.
    let (code, _) = http.signal(&body("CR-1", "sig-1"), now, SECRET).await;
    assert_eq!(code, 200);
    h.stop().await;
}

#[sqlx::test(migrator = "MIGRATOR")]
async fn bad_signals_get_their_status_and_record_nothing(pool: PgPool) {
    let mut h = Harness::start(pool.clone()).await;
    h.submit(REQUESTER, answers("1000")).await;
    h.root_showing(1, "Commercial approval").await;
    let http = Http::of(h.daemon());
    let now = h.clock.now_unix();
    let before = events(&pool).await;

    let (code, e) = http.signal(&body("CR-1", "s"), now, "wrong-secret").await;
    assert_eq!(
        (code, e["error"].as_str().unwrap()),
        (401, "signature does not match")
    );
    let (code, e) = http.signal(&body("CR-1", "s"), now - 301, SECRET).await;
    assert_eq!(code, 401, "{e}");
    assert!(e["error"].as_str().unwrap().contains("5 minutes"));
    let (code, _) = http.signal(&body("CR-1", "s"), now + 301, SECRET).await;
    assert_eq!(code, 401, "a timestamp from the future is refused too");
    let (code, e) = http.signal(&body("CR-99", "s"), now, SECRET).await;
    assert_eq!(
        (code, e["error"].as_str().unwrap()),
        (404, "CR-99 does not exist")
    );
    let (code, e) = http.signal(&body("CR-1", "s"), now, SECRET).await;
    assert_eq!(code, 409, "{e}");
    assert!(
        e["error"]
            .as_str()
            .unwrap()
            .contains("not READY_FOR_CUSTOMER"),
        "{e}"
    );
    for malformed in [
        "not json".to_string(),
        json!({"request": "CR-1"}).to_string(),
        json!({"request": "CR-1", "signal_id": "s", "observed_at": "yesterday"}).to_string(),
        json!({"request": "banana", "signal_id": "s", "observed_at": "2026-12-03T15:00:00Z"})
            .to_string(),
        json!({"request": "CR-1", "signal_id": "", "observed_at": "2026-12-03T15:00:00Z"})
            .to_string(),
    ] {
        let (code, e) = http.signal(&malformed, now, SECRET).await;
        assert_eq!(code, 422, "{malformed}: {e}");
        assert!(e["error"].is_string());
    }
    let r = http
        .client
        .post(format!("{}/v1/signals/activation", http.base))
        .body(body("CR-1", "s"))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status().as_u16(), 401, "no headers at all");
    assert_eq!(events(&pool).await, before, "nothing was recorded");
    h.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn readyz_tells_the_truth_when_postgres_stops_and_comes_back() {
    let pg = tokio::task::spawn_blocking(TempPostgres::start)
        .await
        .unwrap()
        .expect("a throwaway Postgres");
    let pool = store::connect(&pg.url).await.unwrap();
    MIGRATOR.run(&pool).await.unwrap();
    let _ = rustls::crypto::ring::default_provider().install_default();
    let emu = Emulator::start(emulator_config()).await.unwrap();
    let settings = settings_for(&emu, &settings_toml(emu.team_id()));
    let clock = TestClock::at(t0());
    let daemon = Daemon::start(settings, pool, Arc::new(clock), fast_options())
        .await
        .unwrap();
    emu.wait_connected(2, WAIT).await.unwrap();
    let http = Http::of(&daemon);
    assert_eq!(http.get("/readyz").await.0, 200);

    let pg = tokio::task::spawn_blocking(move || pg.stop_server().map(|()| pg))
        .await
        .unwrap()
        .unwrap();
    let (code, text) = http.get("/readyz").await;
    assert_eq!(code, 503, "{text}");
    assert!(text.contains("unreachable"), "{text}");
    assert_eq!(
        http.get("/healthz").await.0,
        200,
        "the process itself is fine"
    );

    let pg = tokio::task::spawn_blocking(move || pg.start_server().map(|()| pg))
        .await
        .unwrap()
        .unwrap();
    // The pool reconnects on its next use; each probe is one use, until the deadline.
    let text = readyz_becomes(&daemon, 200).await;
    assert!(text.contains("\"database\":\"ok\""), "ready again: {text}");
    daemon.shutdown().await;
    drop(pg);
}
