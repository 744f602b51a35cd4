//! A corpus of malformed, forged and hostile input. Each gets a clear answer where there is
//! someone to answer, records nothing, and the daemon keeps serving.

use std::time::Duration;

use capacity_bot::domain::testkit::*;
use capacity_bot::store::MIGRATOR;
use serde_json::{json, Value};
use sqlx::PgPool;

use crate::support::harness::*;

const SHORT: Duration = Duration::from_secs(3);

/// One way to spoil a real envelope's payload.
type Change = Box<dyn FnOnce(&mut Value)>;

async fn events(pool: &PgPool) -> i64 {
    sqlx::query_scalar("SELECT count(*) FROM capacity.capacity_request_events")
        .fetch_one(pool)
        .await
        .unwrap()
}

/// A real click's envelope, to mutate into hostile ones.
async fn template(h: &Harness) -> Value {
    let root = h.root_showing(1, "Commercial approval").await;
    // STRANGER's click is refused, so the template records nothing itself.
    let ack = h
        .emu
        .click(STRANGER, CHANNEL, &root.ts, "commercial_approved")
        .await
        .unwrap();
    h.ephemeral_to(STRANGER, "Only").await;
    ack.envelope
}

fn mutate(template: &Value, n: usize, change: impl FnOnce(&mut Value)) -> String {
    let mut e = template.clone();
    e["envelope_id"] = json!(format!("hostile-{n}"));
    change(&mut e["payload"]);
    e.to_string()
}

#[sqlx::test(migrator = "MIGRATOR")]
async fn hostile_envelopes_record_nothing_and_the_daemon_keeps_serving(pool: PgPool) {
    let mut h = Harness::start(pool.clone()).await;
    h.submit(REQUESTER, answers("1000")).await;
    let t = template(&h).await;
    let before = events(&pool).await;

    // Not JSON, not an envelope, an unknown type: dropped or acked, never a crash.
    assert!(h
        .emu
        .send_raw_envelope("{not json", SHORT)
        .await
        .unwrap()
        .is_none());
    assert!(h
        .emu
        .send_raw_envelope("[1,2,3]", SHORT)
        .await
        .unwrap()
        .is_none());
    let ack = h
        .emu
        .send_raw_envelope(
            r#"{"type":"brand_new","envelope_id":"odd-1","payload":{}}"#,
            SHORT,
        )
        .await
        .unwrap();
    assert!(
        ack.is_some(),
        "unknown envelope types are acked and ignored"
    );
    let ack = h
        .emu
        .send_raw_envelope(
            r#"{"type":"interactive","envelope_id":"odd-2","payload":{"type":"block_actions"}}"#,
            SHORT,
        )
        .await
        .unwrap();
    assert!(ack.is_some(), "a click with no user or action is acked");

    let cases: Vec<(&str, Change)> = vec![
        (
            "could not be read",
            Box::new(|p: &mut Value| p["actions"][0]["value"] = json!("CR-1|not-a-uuid|v2")),
        ),
        (
            "could not be read",
            Box::new(|p: &mut Value| p["actions"][0]["value"] = json!("x".repeat(5000))),
        ),
        (
            "could not be read",
            Box::new(|p: &mut Value| {
                p["actions"][0]["value"] = json!("CR-1|00000000-0000-0000-0000-000000000000|v-4")
            }),
        ),
        (
            "does not exist",
            Box::new(|p: &mut Value| {
                p["user"]["id"] = json!(AE);
                p["actions"][0]["value"] = json!(format!("CR-1|{}|v2", uuid::Uuid::new_v4()));
            }),
        ),
        (
            "not one this bot knows",
            Box::new(|p: &mut Value| {
                p["user"]["id"] = json!(AE);
                p["actions"][0]["action_id"] = json!("drop_table_requests");
            }),
        ),
        (
            "moved on",
            Box::new(|p: &mut Value| {
                p["user"]["id"] = json!(AE);
                let v = p["actions"][0]["value"]
                    .as_str()
                    .unwrap()
                    .replace("|v2", "|v1");
                p["actions"][0]["value"] = json!(v);
            }),
        ),
        (
            "not something a button can do",
            Box::new(|p: &mut Value| {
                p["user"]["id"] = json!(AE);
                p["actions"][0]["action_id"] = json!("customer_confirmation_timeout");
            }),
        ),
    ];
    for (n, (expect, change)) in cases.into_iter().enumerate() {
        let frame = mutate(&t, n, change);
        let user = serde_json::from_str::<Value>(&frame).unwrap()["payload"]["user"]["id"]
            .as_str()
            .unwrap()
            .to_string();
        let ack = h.emu.send_raw_envelope(&frame, SHORT).await.unwrap();
        assert!(ack.is_some(), "case {n} acked");
        let seen = h
            .emu
            .wait_for_ephemeral(|e| e.user == user && e.text.contains(expect), WAIT)
            .await
            .unwrap_or_else(|e| {
                panic!(
                    "case {n}: no ephemeral containing {expect:?}: {e}; got {:?}",
                    h.emu.ephemerals(&user)
                )
            });
        assert!(!seen.text.is_empty());
    }

    // Another team and another app: no reply at all.
    let ephemerals_before = h.emu.ephemerals(AE).len();
    for (n, change) in [
        Box::new(|p: &mut Value| {
            p["user"]["id"] = json!(AE);
            p["team"]["id"] = json!("T0OTHERTEAM");
        }) as Change,
        Box::new(|p: &mut Value| {
            p["user"]["id"] = json!(AE);
            p["api_app_id"] = json!("A0SOMEONEELSE");
        }),
    ]
    .into_iter()
    .enumerate()
    {
        let ack = h
            .emu
            .send_raw_envelope(&mutate(&t, 100 + n, change), SHORT)
            .await
            .unwrap();
        assert!(ack.is_some());
    }
    assert_eq!(events(&pool).await, before, "nothing hostile was recorded");
    assert_eq!(
        h.emu.ephemerals(AE).len(),
        ephemerals_before,
        "foreign envelopes get no reply"
    );

    // Still serving: the real approval goes through.
    let root = h.root_showing(1, "Commercial approval").await;
    h.emu
        .click(AE, CHANNEL, &root.ts, "commercial_approved")
        .await
        .unwrap();
    h.root_showing(1, "Technical review").await;
    assert_eq!(events(&pool).await, before + 1);
    h.stop().await;
}

#[sqlx::test(migrator = "MIGRATOR")]
async fn free_text_cannot_ping_the_channel_or_fake_a_link(pool: PgPool) {
    let mut h = Harness::start(pool).await;
    let mut a = answers("1000");
    a["customer"] = json!("<!channel> Acme <@UADMIN>");
    a["justification"] =
        json!("@here urgent <!everyone> see <https://evil.example|the docs> &amp; <#C0REQUESTS>");
    h.submit(REQUESTER, a).await;
    let root = h.root_showing(1, "Acme").await;
    let raw = root.blocks.to_string() + &root.text;
    for forbidden in [
        "<!channel>",
        "<!everyone>",
        "<@UADMIN>",
        "<https://evil.example",
        "<#C0REQUESTS>",
    ] {
        assert!(
            !raw.contains(forbidden),
            "{forbidden} survived into the root message: {raw}"
        );
    }
    assert!(!raw.contains("@here "), "@here is neutralised: {raw}");
    let thread = h.thread_len(&root, 2).await;
    for m in thread {
        let raw = m.blocks.to_string() + &m.text;
        assert!(
            !raw.contains("<!channel>") && !raw.contains("<https://evil.example"),
            "{raw}"
        );
    }
    h.stop().await;
}

/// The field errors of a refused submission, block id → message.
fn field_errors(ack: &capacity_bot::emulator::Ack) -> serde_json::Map<String, Value> {
    assert_eq!(ack.response_action(), Some("errors"), "{:?}", ack.payload);
    ack.errors()
        .and_then(Value::as_object)
        .cloned()
        .expect("an errors map")
}

#[sqlx::test(migrator = "MIGRATOR")]
async fn a_nul_character_in_free_text_is_refused_on_its_field_and_records_nothing(pool: PgPool) {
    use capacity_bot::slack::handlers::NUL_IN_FIELD;
    let mut h = Harness::start(pool.clone()).await;

    // Postgres cannot store NUL; it must not come back as "the database did not answer".
    let mut a = answers("1000");
    a["customer"] = json!("Acme\u{0}Corp");
    a["justification"] = json!("peak\u{0}");
    let ack = h.submit_forged(REQUESTER, intake_values(&a)).await;
    let errors = field_errors(&ack);
    let fields: Vec<&str> = errors.keys().map(String::as_str).collect();
    assert_eq!(fields, ["customer", "justification"]);
    assert!(errors.values().all(|m| m == NUL_IN_FIELD), "{errors:?}");
    assert_eq!(events(&pool).await, 0);

    // The reason form too; a clean reason then goes through.
    h.submit(REQUESTER, answers("1000")).await;
    let root = h.root_showing(1, "Commercial approval").await;
    let before = events(&pool).await;
    h.emu
        .click(AE, CHANNEL, &root.ts, "commercial_rejected")
        .await
        .unwrap();
    let form = h.emu.wait_for_view(AE, WAIT).await.unwrap();
    let ack = h
        .emu
        .submit_view(&form.id, AE, json!({"reason": "over\u{0}budget"}))
        .await
        .unwrap();
    assert_eq!(
        field_errors(&ack).get("reason").and_then(Value::as_str),
        Some(NUL_IN_FIELD)
    );
    assert_eq!(events(&pool).await, before, "nothing recorded");
    let ack = h
        .emu
        .submit_view(&form.id, AE, json!({"reason": "over budget"}))
        .await
        .unwrap();
    assert_eq!(ack.payload, None, "accepted once the NUL is gone");
    assert_eq!(events(&pool).await, before + 1);
    h.root_showing(1, "Cancelled").await;
    h.stop().await;
}

#[sqlx::test(migrator = "MIGRATOR")]
async fn a_megabyte_in_every_free_text_field_is_refused_on_each_field(pool: PgPool) {
    let mut h = Harness::start(pool.clone()).await;
    let huge = "x".repeat(1_000_000);
    let mut a = answers("1000");
    for field in [
        "customer",
        "org_id",
        "project_ref",
        "current_size",
        "region",
        "justification",
    ] {
        a[field] = json!(huge);
    }
    let ack = h.submit_forged(REQUESTER, intake_values(&a)).await;
    let errors = field_errors(&ack);
    assert_eq!(errors.len(), 6, "{errors:?}");
    for (field, message) in &errors {
        let message = message.as_str().unwrap_or_default();
        assert!(
            message.starts_with("At most") && message.contains("(this is 1000000)"),
            "{field}: {message}"
        );
    }
    assert_eq!(events(&pool).await, 0);
    // Still serving.
    assert_eq!(h.submit(REQUESTER, answers("1000")).await, None);
    h.root_showing(1, "Commercial approval").await;
    h.stop().await;
}
