//! A corpus of malformed, forged and hostile input. Each gets a clear answer where there is
//! someone to answer, records nothing, and the daemon keeps serving.

use std::time::Duration;

use capacity_bot::domain::testkit::*;
use capacity_bot::store::MIGRATOR;
use serde_json::{json, Value};
use sqlx::PgPool;

use slack_emulator::Message;

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
    // The AE's real approval, built but not sent, to mutate into hostile ones.
    let root = h.root_showing(1, "Commercial approval").await;
    let t = h.click_envelope(AE, &root, "commercial_approved");
    let before = events(&pool).await;

    // Another team and another app: no reply at all. First, so that any reply would be the
    // only one: a reply is spawned before the ack, so once it is acked `no_reply_sent` sees
    // it either in flight or sent.
    for (n, change) in [
        Box::new(|p: &mut Value| {
            p["team"]["id"] = json!("T0OTHERTEAM");
            p["user"]["team_id"] = json!("T0OTHERTEAM");
        }) as Change,
        Box::new(|p: &mut Value| p["api_app_id"] = json!("A0SOMEONEELSE")),
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
        assert!(h.no_reply_sent(), "foreign envelope {n} gets no reply");
    }

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
                p["actions"][0]["value"] = json!(format!("CR-1|{}|v2", uuid::Uuid::new_v4()));
            }),
        ),
        (
            "not one this bot knows",
            Box::new(|p: &mut Value| {
                p["actions"][0]["action_id"] = json!("drop_table_requests");
            }),
        ),
        (
            "moved on",
            Box::new(|p: &mut Value| {
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
                p["actions"][0]["action_id"] = json!("customer_confirmation_timeout");
            }),
        ),
        (
            "Only",
            Box::new(|p: &mut Value| p["user"]["id"] = json!(STRANGER)),
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
    assert_eq!(events(&pool).await, before, "nothing hostile was recorded");

    // Still serving: the real approval goes through.
    h.emu
        .click(AE, CHANNEL, &root.ts, "commercial_approved")
        .await
        .unwrap();
    h.root_showing(1, "Technical review").await;
    assert_eq!(events(&pool).await, before + 1);
    h.stop().await;
}

/// The `value` of `action`'s button on `message`.
fn button_value(message: &Message, action: &str) -> String {
    let (_, button) = message
        .element(action)
        .unwrap_or_else(|| panic!("no {action} button on {}", message.render()));
    button["value"].as_str().expect("a value").to_string()
}

/// Sends `envelope` (a click by `user`) and returns the one new ephemeral it gets, which
/// must contain `expect`.
async fn told(h: &Harness, envelope: &Value, user: &str, expect: &str) -> String {
    let earlier: Vec<String> = h.emu.ephemerals(user).into_iter().map(|e| e.ts).collect();
    let ack = h.send_envelope(envelope).await;
    assert_eq!(ack.payload, None, "a click is acked without a payload");
    let reply = h
        .emu
        .wait_for_ephemeral(|e| e.user == user && !earlier.contains(&e.ts), WAIT)
        .await
        .unwrap_or_else(|e| panic!("no reply to {user}: {e}"));
    assert!(
        reply.text.contains(expect),
        "expected {expect:?} in {:?}",
        reply.text
    );
    reply.text
}

#[sqlx::test(migrator = "MIGRATOR")]
async fn a_button_for_another_request_or_message_is_refused_and_records_nothing(pool: PgPool) {
    let mut h = Harness::start(pool.clone()).await;
    assert_eq!(h.submit(REQUESTER, answers("1000")).await, None);
    assert_eq!(h.submit(REQUESTER, answers("2000")).await, None);
    h.root_showing(1, "Commercial approval").await;
    h.root_showing(2, "Commercial approval").await;
    // Every submission effect delivered, so the roots change only if a click counts.
    crate::timers::settle(&h).await;
    let (one, two) = (h.root(1).await, h.root(2).await);
    let value_two = button_value(&two, "commercial_approved");
    assert!(value_two.starts_with("CR-2|"), "{value_two}");
    let before = events(&pool).await;
    let forms = h.emu.calls("views.open").len();

    // Both paths: a button that records at once, and one that first opens a reason form.
    for action in ["commercial_approved", "commercial_rejected"] {
        // CR-2's button relabelled CR-1, on CR-2's own message: only the number is wrong.
        let mut forged = h.click_envelope(AE, &two, action);
        forged["payload"]["actions"][0]["value"] = json!(value_two.replacen("CR-2|", "CR-1|", 1));
        let text = told(&h, &forged, AE, "That button says CR-1").await;
        assert!(text.contains("own message"), "says what to do: {text}");

        // CR-2's real button, clicked on CR-1's message.
        let mut moved = h.click_envelope(AE, &one, action);
        moved["payload"]["actions"][0]["value"] = json!(value_two);
        let text = told(&h, &moved, AE, "not on CR-2's message").await;
        assert!(text.contains("own message"), "says what to do: {text}");
    }
    assert_eq!(events(&pool).await, before, "nothing was recorded");
    assert_eq!(
        h.emu.calls("views.open").len(),
        forms,
        "no reason form was opened"
    );
    for root in [&one, &two] {
        let now = h.emu.message(CHANNEL, &root.ts).expect("root");
        assert_eq!(now.edits, root.edits, "the root message is left alone");
    }

    // Still serving, and each request's own buttons still count.
    h.emu
        .click(AE, CHANNEL, &two.ts, "commercial_approved")
        .await
        .unwrap();
    h.root_showing(2, "Technical review").await;
    h.emu
        .click(AE, CHANNEL, &one.ts, "commercial_approved")
        .await
        .unwrap();
    h.root_showing(1, "Technical review").await;
    assert_eq!(events(&pool).await, before + 2);
    h.stop().await;
}

/// Every recorded message, ephemeral and modal shown to anyone, as the raw text Slack got
/// (line breaks as typed), with where it was.
fn everything_shown(h: &Harness) -> Vec<(String, String)> {
    let raw = |blocks: &Value, text: &str| (blocks.to_string() + text).replace("\\n", "\n");
    let mut shown: Vec<(String, String)> = h
        .emu
        .all_messages()
        .iter()
        .map(|m| {
            let place = match &m.thread_ts {
                Some(t) => format!("reply in {} under {t}", m.channel),
                None => format!("message in {}", m.channel),
            };
            (place, raw(&m.blocks, &m.text))
        })
        .collect();
    for user in [
        REQUESTER, AE, APPROVER, FINANCE, BOTH, INFRA, INFRA2, ADMIN, STRANGER,
    ] {
        for e in h.emu.ephemerals(user) {
            shown.push((format!("ephemeral to {user}"), raw(&e.blocks, &e.text)));
        }
        for v in h.emu.views(user) {
            shown.push((format!("modal for {user}"), v.json.to_string()));
        }
    }
    shown
}

#[sqlx::test(migrator = "MIGRATOR")]
async fn free_text_cannot_ping_the_channel_or_fake_a_link(pool: PgPool) {
    let mut h = Harness::start(pool).await;
    // The render tests' hostile text in every free-text field of the form.
    let mut a = answers("1000");
    a["customer"] = json!(format!("Evil {EVIL_TEXT}"));
    for field in ["org_id", "project_ref", "current_size"] {
        a[field] = json!(EVIL_TEXT);
    }
    a["region"] = json!(EVIL_SHORT_TEXT);
    a["justification"] = json!(format!("line one\n{EVIL_TEXT}\n> fake quote"));
    assert_eq!(h.submit(REQUESTER, a).await, None);
    let root = h.root_showing(1, "Commercial approval").await;
    h.thread_len(&root, 2).await;

    // A refusal, which says who the request waits on.
    h.emu
        .click(STRANGER, CHANNEL, &root.ts, "commercial_approved")
        .await
        .unwrap();
    h.ephemeral_to(STRANGER, "Only").await;

    // A reminder DM to the AE (the next business day), whose buttons work from the DM.
    crate::timers::sweep(&h, "2026-12-04T15:00:00Z".parse().unwrap()).await;
    let dm = h
        .emu
        .dms(AE)
        .into_iter()
        .find(|m| m.element("commercial_rejected").is_some())
        .expect("a reminder DM with the request's buttons");
    h.emu
        .click(AE, &dm.channel, &dm.ts, "commercial_rejected")
        .await
        .unwrap();
    let form = h
        .emu
        .wait_for_view(AE, WAIT)
        .await
        .expect("the reason form");
    let ack = h
        .emu
        .submit_view(
            &form.id,
            AE,
            json!({"reason": format!("because {EVIL_TEXT}")}),
        )
        .await
        .unwrap();
    assert_eq!(ack.payload, None, "the rejection is recorded");
    h.root_showing(1, "Cancelled").await;
    // Submitted, owner assigned, the reminder, the rejection.
    let thread = h.thread_len(&root, 4).await;
    crate::timers::settle(&h).await;

    // Replies that show the request to people: status, a list, and an unknown command.
    for (text, expect) in [
        ("status CR-1", "CR-1"),
        ("list mine", "CR-1"),
        (EVIL_TEXT, "I don't know"),
    ] {
        let command = format!("/capacity {text}");
        h.emu
            .slash_command(REQUESTER, "/capacity", text, CHANNEL)
            .await
            .unwrap_or_else(|e| panic!("{command}: {e}"));
        h.ephemeral_to(REQUESTER, expect).await;
    }

    // The text is shown, escaped once, where people read it ...
    let root = h.emu.message(CHANNEL, &root.ts).expect("root");
    let root_raw = root.blocks.to_string() + &root.text;
    assert!(root_raw.contains(EVIL_ENTITY_ESCAPED), "{root_raw}");
    let reason = thread.last().expect("the rejection reply");
    assert!(reason.render().contains("rejected"), "{}", reason.render());
    assert!(
        reason.blocks.to_string().contains(EVIL_ENTITY_ESCAPED),
        "the reason is shown: {}",
        reason.render()
    );
    // ... and nowhere can it notify, mention or link.
    let shown = everything_shown(&h);
    for kind in ["message in", "reply in", "ephemeral to", "modal for"] {
        assert!(
            shown.iter().any(|(place, _)| place.starts_with(kind)),
            "no {kind} was checked"
        );
    }
    let dm_channel = h.emu.dm_channel(AE).expect("the AE's DM");
    assert!(
        shown.iter().any(|(place, _)| place.contains(&dm_channel)),
        "the DM was checked"
    );
    for (place, raw) in &shown {
        for bad in EVIL_LEAKS.into_iter().chain(["\n> fake"]) {
            assert!(
                !raw.contains(bad),
                "{bad:?} survived into the {place}: {raw}"
            );
        }
    }
    h.stop().await;
}

/// The field errors of a refused submission, block id → message.
fn field_errors(ack: &slack_emulator::Ack) -> serde_json::Map<String, Value> {
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

fn slack_fixture(name: &str) -> Value {
    let path = format!(
        "{}/crates/slack-emulator/tests/fixtures/slack/{name}",
        env!("CARGO_MANIFEST_DIR")
    );
    serde_json::from_str(&std::fs::read_to_string(&path).unwrap()).unwrap()
}

/// Shortcuts and message events in malformed shapes: a person running a shortcut is told
/// what went wrong (an ephemeral in the message's channel, a DM for the global shortcut);
/// a message event has nobody waiting, so it is acked and dropped. Nothing is recorded or
/// queued, and the daemon keeps serving.
#[sqlx::test(migrator = "MIGRATOR")]
async fn malformed_shortcuts_and_message_events_are_refused_or_dropped(pool: PgPool) {
    let mut h = Harness::start(pool.clone()).await;
    h.submit(REQUESTER, answers("1000")).await;
    h.root_showing(1, "Commercial approval").await;
    let before = events(&pool).await;

    let mut action = slack_fixture("envelope_interactive_message_action.json");
    action["payload"]["user"]["id"] = json!(REQUESTER);
    action["payload"]["channel"]["id"] = json!(CHANNEL);
    let cases: Vec<(&str, Change)> = vec![
        (
            "trigger id",
            Box::new(|p: &mut Value| p["trigger_id"] = Value::Null),
        ),
        (
            "which message",
            Box::new(|p: &mut Value| {
                p["message"] = json!("not a message");
                p["message_ts"] = json!(42);
            }),
        ),
        (
            "which message",
            Box::new(|p: &mut Value| {
                p["message"]["ts"] = json!("1760101200.0041\n<!channel>");
                p.as_object_mut().unwrap().remove("message_ts");
            }),
        ),
        (
            "which workspace",
            Box::new(|p: &mut Value| p["team"]["domain"] = json!("evil.example/#")),
        ),
    ];
    for (n, (expect, change)) in cases.into_iter().enumerate() {
        let ack = h
            .emu
            .send_raw_envelope(&mutate(&action, 200 + n, change), SHORT)
            .await
            .unwrap();
        assert!(ack.is_some(), "shortcut case {n} acked");
        h.emu
            .wait_for_ephemeral(|e| e.user == REQUESTER && e.text.contains(expect), WAIT)
            .await
            .unwrap_or_else(|e| panic!("shortcut case {n}: no ephemeral with {expect:?}: {e}"));
    }
    // A shortcut this app does not declare: acked, nothing opens.
    let ack = h
        .emu
        .send_raw_envelope(
            &mutate(&action, 210, |p| p["callback_id"] = json!("drop_tables")),
            SHORT,
        )
        .await
        .unwrap();
    assert!(ack.is_some());

    let mut global = slack_fixture("envelope_interactive_shortcut.json");
    global["payload"]["user"]["id"] = json!(REQUESTER);
    let ack = h
        .emu
        .send_raw_envelope(
            &mutate(&global, 220, |p| {
                p.as_object_mut().unwrap().remove("trigger_id");
            }),
            SHORT,
        )
        .await
        .unwrap();
    assert!(ack.is_some());
    h.emu
        .wait_for_dm(REQUESTER, |m| m.text.contains("trigger id"), WAIT)
        .await
        .expect("the global shortcut's refusal arrives as a DM");
    assert!(
        h.emu.views(REQUESTER).len() == 1,
        "only the /capacity form ever opened"
    );

    let mut message = slack_fixture("envelope_events_api_message_channels_thread_reply.json");
    message["payload"]["event"]["text"] = json!("is CR-1 still needed?");
    let spoiled: Vec<Change> = vec![
        Box::new(|p: &mut Value| p["event"] = Value::Null),
        Box::new(|p: &mut Value| p["event"]["ts"] = json!("yesterday")),
        Box::new(|p: &mut Value| p["event"]["channel"] = json!("#general; DROP")),
        Box::new(|p: &mut Value| p["event"]["text"] = json!(["CR-1"])),
        Box::new(|p: &mut Value| p["event"]["subtype"] = json!("message_deleted")),
        Box::new(|p: &mut Value| {
            p["event"]["ts"] = json!("1.2");
            p["event"]["text"] = json!("CR-1 ".repeat(200_000));
            p["event"]["channel"] = json!("C0\u{0}NUL");
        }),
    ];
    for (n, change) in spoiled.into_iter().enumerate() {
        let ack = h
            .emu
            .send_raw_envelope(&mutate(&message, 230 + n, change), SHORT)
            .await
            .unwrap();
        assert!(ack.is_some(), "message case {n} acked");
    }
    assert!(capacity_bot::store::mentions::all(&pool)
        .await
        .unwrap()
        .is_empty());
    assert_eq!(events(&pool).await, before, "nothing hostile was recorded");

    // Still serving: a well-formed mention (top level in the requests channel, which is not one
    // of its requests' threads) gets its reply.
    let fine = mutate(&message, 240, |p| {
        p["event"]["channel"] = json!(CHANNEL);
        let event = p["event"].as_object_mut().unwrap();
        event.remove("thread_ts");
        event.remove("parent_user_id");
    });
    h.emu.send_raw_envelope(&fine, SHORT).await.unwrap();
    h.emu
        .wait_for_message(
            |m| m.from_bot && m.thread_ts.as_deref() == Some("1760101500.009900"),
            WAIT,
        )
        .await
        .expect("a well-formed mention still gets its reply");
    h.stop().await;
}

#[sqlx::test(migrator = "MIGRATOR")]
async fn a_malformed_app_home_opened_is_acked_and_publishes_nothing(pool: PgPool) {
    let mut h = Harness::start(pool).await;
    for (n, event) in [
        json!({"type": "app_home_opened", "tab": "home"}),
        json!({"type": "app_home_opened", "user": "<!channel>", "tab": "home"}),
        json!({"type": "app_home_opened", "user": REQUESTER, "tab": {"x": 1}}),
        json!({"type": "app_home_opened", "user": REQUESTER, "tab": "home", "view": {"id": 7}}),
    ]
    .into_iter()
    .enumerate()
    {
        let ack = h.emu.send_event(event).await;
        assert!(ack.is_ok(), "case {n} acked");
    }
    // A well-formed one afterwards is published: the malformed ones queued nothing before it.
    h.emu.open_home(REQUESTER).await.expect("acked");
    h.emu
        .wait_for_home(REQUESTER, |_| true, WAIT)
        .await
        .expect("published");
    assert_eq!(
        h.emu.calls("views.publish").len(),
        1,
        "only the valid opening"
    );
    h.stop().await;
}
