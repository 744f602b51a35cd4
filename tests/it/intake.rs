//! The intake modal's validation end to end: every field's bad input comes back as that
//! field's error in the `response_action: errors` ack, the modal stays open, and nothing is
//! recorded or posted.
//!
//! Answers the Slack client itself would stop (too long, out of range) are sent as full typed
//! state values, which the emulator passes on verbatim; inputs left empty that the client
//! would not let through go straight over the socket with `submit_forged`.

use capacity_bot::domain::testkit::*;
use capacity_bot::store::MIGRATOR;
use serde_json::{json, Value};
use slack_emulator::Ack;
use sqlx::PgPool;

use crate::support::harness::*;

fn text(value: &str) -> Value {
    json!({"type": "plain_text_input", "value": value})
}

fn number(value: &str) -> Value {
    json!({"type": "number_input", "value": value})
}

/// Valid answers with `field` replaced by `answer` (through the emulator's client).
fn with(field: &str, answer: Value) -> Value {
    let mut a = answers("42000");
    a[field] = answer;
    a
}

/// The ack refuses the submission with exactly one error, on `field`, containing `says`;
/// the modal stays open showing it, and nothing was recorded or posted.
#[track_caller]
fn refused_on(h: &Harness, ack: &Ack, field: &str, says: &str) {
    assert_eq!(
        ack.response_action(),
        Some("errors"),
        "refused: {:?}",
        ack.payload
    );
    let errors = ack.errors().and_then(Value::as_object).expect("errors map");
    let keys: Vec<&String> = errors.keys().collect();
    assert_eq!(keys, [field], "only {field} is wrong: {errors:?}");
    let message = errors[field].as_str().unwrap_or_default();
    assert!(message.contains(says), "{field} says {says:?}: {message:?}");
    let view = h.emu.open_view(REQUESTER).expect("the modal stays open");
    assert_eq!(
        view.errors.as_ref().map(|e| &e[field]),
        Some(&errors[field])
    );
    assert!(h.emu.messages(CHANNEL).is_empty(), "nothing is posted");
}

/// Submits through the emulator's client; returns the ack.
async fn submit(h: &Harness, answers: Value) -> Ack {
    h.emu
        .slash_command(REQUESTER, "/capacity", "", CHANNEL)
        .await
        .expect("slash command acked");
    let view = h
        .emu
        .wait_for_view(REQUESTER, WAIT)
        .await
        .expect("the intake modal opens");
    h.emu
        .submit_view(&view.id, REQUESTER, answers)
        .await
        .expect("submission acked")
}

/// Each case submitted in its own modal; each must be refused on `field`.
async fn each_refused(h: &Harness, field: &str, cases: Vec<(Value, &str)>) {
    for (answers, says) in cases {
        let ack = submit(h, answers).await;
        refused_on(h, &ack, field, says);
    }
    assert_eq!(h.events().await, 0, "nothing recorded");
}

#[sqlx::test(migrator = "MIGRATOR")]
async fn a_blank_or_too_long_customer_is_refused_on_the_customer_field(pool: PgPool) {
    let mut h = Harness::start(pool).await;
    let long = "a".repeat(201);
    each_refused(
        &h,
        "customer",
        vec![
            (with("customer", json!("   ")), "Required"),
            (with("customer", text(&long)), "At most 200"),
        ],
    )
    .await;
    h.stop().await;
}

#[sqlx::test(migrator = "MIGRATOR")]
async fn a_blank_or_too_long_org_id_is_refused_on_the_org_id_field(pool: PgPool) {
    let mut h = Harness::start(pool).await;
    let long = "o".repeat(101);
    each_refused(
        &h,
        "org_id",
        vec![
            (with("org_id", json!(" ")), "Required"),
            (with("org_id", text(&long)), "At most 100"),
        ],
    )
    .await;
    h.stop().await;
}

#[sqlx::test(migrator = "MIGRATOR")]
async fn a_blank_or_too_long_project_ref_is_refused_on_the_project_ref_field(pool: PgPool) {
    let mut h = Harness::start(pool).await;
    let long = "p".repeat(101);
    each_refused(
        &h,
        "project_ref",
        vec![
            (with("project_ref", json!("\t")), "Required"),
            (with("project_ref", text(&long)), "At most 100"),
        ],
    )
    .await;
    h.stop().await;
}

#[sqlx::test(migrator = "MIGRATOR")]
async fn a_blank_or_too_long_current_size_is_refused_on_the_current_size_field(pool: PgPool) {
    let mut h = Harness::start(pool).await;
    let long = "9".repeat(101);
    each_refused(
        &h,
        "current_size",
        vec![
            (with("current_size", json!("  ")), "Required"),
            (with("current_size", text(&long)), "At most 100"),
        ],
    )
    .await;
    h.stop().await;
}

#[sqlx::test(migrator = "MIGRATOR")]
async fn a_requested_size_that_is_not_listed_is_refused_on_the_requested_size_field(pool: PgPool) {
    let mut h = Harness::start(pool).await;
    let forged = json!({"type": "static_select", "selected_option": {
        "text": {"type": "plain_text", "text": "8XL"}, "value": "8XL"}});
    each_refused(
        &h,
        "requested_size",
        vec![(with("requested_size", forged), "listed sizes")],
    )
    .await;
    h.stop().await;
}

#[sqlx::test(migrator = "MIGRATOR")]
async fn other_without_a_valid_size_is_refused_on_the_other_size_field(pool: PgPool) {
    let mut h = Harness::start(pool).await;
    let other = |size: Option<&str>| {
        let mut a = with("requested_size", json!("other"));
        if let Some(size) = size {
            a["requested_size_other"] = json!(size);
        }
        a
    };
    each_refused(
        &h,
        "requested_size_other",
        vec![
            (other(None), "type the size"),
            (other(Some("16XL")), "above 16XL"),
            (other(Some("8xl")), "above 16XL"),
            (other(Some("huge")), "a number followed by XL"),
            (other(Some("96 XL")), "a number followed by XL"),
        ],
    )
    .await;
    h.stop().await;
}

#[sqlx::test(migrator = "MIGRATOR")]
async fn a_blank_or_too_long_region_is_refused_on_the_region_field(pool: PgPool) {
    let mut h = Harness::start(pool).await;
    let long = "r".repeat(65);
    each_refused(
        &h,
        "region",
        vec![
            (with("region", json!(" ")), "Required"),
            (with("region", text(&long)), "At most 64"),
        ],
    )
    .await;
    h.stop().await;
}

#[sqlx::test(migrator = "MIGRATOR")]
async fn a_needed_by_date_in_the_past_is_refused_on_the_needed_by_field(pool: PgPool) {
    let mut h = Harness::start(pool).await;
    // The harness clock is Thursday 3 December 2026.
    each_refused(
        &h,
        "needed_by",
        vec![
            (with("needed_by", json!("2026-12-02")), "2026-12-03"),
            (with("needed_by", json!("2020-01-01")), "or a later date"),
            (
                with(
                    "needed_by",
                    json!({"type": "datepicker", "selected_date": "2027-02-30"}),
                ),
                "Pick a date",
            ),
        ],
    )
    .await;
    h.stop().await;
}

#[sqlx::test(migrator = "MIGRATOR")]
async fn a_duration_outside_whole_months_from_1_to_120_is_refused_on_its_field(pool: PgPool) {
    let mut h = Harness::start(pool).await;
    let cases = ["0", "121", "1.5", "-3", "+4", "twelve"]
        .into_iter()
        .map(|d| {
            (
                with("duration_months", number(d)),
                "Whole months from 1 to 120",
            )
        })
        .collect();
    each_refused(&h, "duration_months", cases).await;
    h.stop().await;
}

#[sqlx::test(migrator = "MIGRATOR")]
async fn a_cost_that_is_not_a_positive_amount_in_cents_is_refused_on_its_field(pool: PgPool) {
    let mut h = Harness::start(pool).await;
    let cases = [
        "-5",
        "0",
        "0.00",
        "100000000.01",
        "999999999999",
        "1.234",
        "1e6",
        "1,000",
    ]
    .into_iter()
    .map(|c| {
        (
            with("est_monthly_cost_usd", number(c)),
            "A positive amount in dollars",
        )
    })
    .collect();
    each_refused(&h, "est_monthly_cost_usd", cases).await;
    h.stop().await;
}

#[sqlx::test(migrator = "MIGRATOR")]
async fn a_commercial_owner_that_is_not_a_person_is_refused_on_its_field(pool: PgPool) {
    let mut h = Harness::start(pool).await;
    let mut group = answers("42000");
    group["commercial_owner"] = json!("S0SALESLEAD");
    let ack = h.submit_forged(REQUESTER, intake_values(&group)).await;
    refused_on(&h, &ack, "commercial_owner", "Pick a person");
    assert_eq!(h.events().await, 0, "nothing recorded");
    h.stop().await;
}

#[sqlx::test(migrator = "MIGRATOR")]
async fn a_blank_or_too_long_justification_is_refused_on_the_justification_field(pool: PgPool) {
    let mut h = Harness::start(pool).await;
    let long = "j".repeat(3_001);
    each_refused(
        &h,
        "justification",
        vec![
            (with("justification", json!("  \n ")), "Required"),
            (with("justification", text(&long)), "At most 3000"),
        ],
    )
    .await;
    h.stop().await;
}

#[sqlx::test(migrator = "MIGRATOR")]
async fn every_bad_field_is_reported_at_once(pool: PgPool) {
    let mut h = Harness::start(pool).await;
    let mut bad = answers("42000");
    for field in [
        "customer",
        "org_id",
        "project_ref",
        "current_size",
        "region",
    ] {
        bad[field] = json!(" ");
    }
    bad["requested_size"] = json!("other");
    bad["needed_by"] = json!("2026-01-01");
    bad["duration_months"] = json!("0");
    bad["est_monthly_cost_usd"] = json!("-1");
    bad["commercial_owner"] = json!("S0SALESLEAD");
    bad["justification"] = json!("");
    let ack = h.submit_forged(REQUESTER, intake_values(&bad)).await;
    assert_eq!(ack.response_action(), Some("errors"));
    let errors = ack.errors().and_then(Value::as_object).expect("errors map");
    let mut keys: Vec<&str> = errors.keys().map(String::as_str).collect();
    keys.sort_unstable();
    assert_eq!(
        keys,
        [
            "commercial_owner",
            "current_size",
            "customer",
            "duration_months",
            "est_monthly_cost_usd",
            "justification",
            "needed_by",
            "org_id",
            "project_ref",
            "region",
            "requested_size_other",
        ]
    );
    assert_eq!(h.events().await, 0);
    h.stop().await;
}

/// DESIGN: the commercial owner is "automatic when the form names an AE"; the client
/// submits without one (the request then waits in SUBMITTED, see `actions`).
#[sqlx::test(migrator = "MIGRATOR")]
async fn the_modal_offers_the_commercial_owner_as_optional(pool: PgPool) {
    let mut h = Harness::start(pool).await;
    h.emu
        .slash_command(REQUESTER, "/capacity", "", CHANNEL)
        .await
        .expect("slash command acked");
    let view = h.emu.wait_for_view(REQUESTER, WAIT).await.expect("modal");
    let mut answers = answers("42000");
    answers
        .as_object_mut()
        .expect("an object")
        .remove("commercial_owner");
    let ack = h
        .emu
        .submit_view(&view.id, REQUESTER, answers)
        .await
        .expect("the client submits without a commercial owner");
    assert_eq!(ack.payload, None, "accepted");
    assert_eq!(h.events().await, 1, "submitted only: no owner to assign");
    h.stop().await;
}

/// `/capacity <text>` by `user`: the ack is an ephemeral reply (shown to `user`); its text.
async fn slash(h: &Harness, user: &str, text: &str) -> String {
    let ack = h
        .emu
        .slash_command(user, "/capacity", text, CHANNEL)
        .await
        .expect("slash command acked");
    let payload = ack
        .payload
        .clone()
        .unwrap_or_else(|| panic!("/capacity {text}: no reply"));
    assert_eq!(payload["response_type"], "ephemeral", "{payload}");
    let reply = ack.text().expect("a text reply").to_string();
    h.ephemeral_to(user, &reply).await;
    assert!(
        h.emu.open_view(user).is_none(),
        "no modal for /capacity {text}"
    );
    reply
}

#[track_caller]
fn usage(reply: &str) {
    for command in [
        "/capacity new",
        "/capacity status CR-12",
        "list mine",
        "/capacity help",
    ] {
        assert!(reply.contains(command), "usage mentions {command}: {reply}");
    }
}

#[sqlx::test(migrator = "MIGRATOR")]
async fn capacity_help_answers_with_usage(pool: PgPool) {
    let mut h = Harness::start(pool).await;
    usage(&slash(&h, STRANGER, "help").await);
    assert_eq!(h.events().await, 0);
    h.stop().await;
}

#[sqlx::test(migrator = "MIGRATOR")]
async fn unknown_capacity_input_answers_with_usage_help(pool: PgPool) {
    let mut h = Harness::start(pool).await;
    let reply = slash(&h, STRANGER, "bogus").await;
    assert!(reply.contains("I don't know `/capacity bogus`"), "{reply}");
    usage(&reply);
    for text in [
        "status",
        "list everything",
        "help me",
        "status CR-1 now",
        "new thing",
    ] {
        let reply = slash(&h, STRANGER, text).await;
        usage(&reply);
    }
    assert_eq!(h.events().await, 0);
    h.stop().await;
}

#[sqlx::test(migrator = "MIGRATOR")]
async fn capacity_status_says_where_a_request_stands_and_who_it_waits_on(pool: PgPool) {
    let mut h = Harness::start(pool).await;
    assert_eq!(h.submit(REQUESTER, answers("42000")).await, None);
    let root = h.root_showing(1, "Commercial approval").await;
    h.thread_len(&root, 2).await;

    let reply = slash(&h, STRANGER, "status CR-1").await;
    assert!(
        reply.contains("CR-1 · Acme Corp · 16XL → 48XL · us-east-1"),
        "{reply}"
    );
    assert!(reply.contains("Commercial approval"), "{reply}");
    assert!(reply.contains(&format!("Waiting on <@{AE}>")), "{reply}");
    assert!(reply.contains("|Thread>"), "links the thread: {reply}");
    assert_eq!(slash(&h, STRANGER, "status cr-1").await, reply, "any case");
    h.stop().await;
}

#[sqlx::test(migrator = "MIGRATOR")]
async fn capacity_status_of_an_unknown_request_says_it_does_not_exist(pool: PgPool) {
    let mut h = Harness::start(pool).await;
    let reply = slash(&h, STRANGER, "status CR-999").await;
    assert!(reply.contains("CR-999 does not exist"), "{reply}");
    let reply = slash(&h, STRANGER, "status 12abc").await;
    assert!(reply.contains("CR-12"), "says the form: {reply}");
    h.stop().await;
}

/// CR-1 by REQUESTER waits on the AE; CR-2 by STRANGER, approved, waits on infra.
async fn two_requests(h: &Harness) {
    assert_eq!(h.submit(REQUESTER, answers("10000")).await, None);
    let first = h.root_showing(1, "Commercial approval").await;
    h.thread_len(&first, 2).await;
    assert_eq!(h.submit(STRANGER, answers("20000")).await, None);
    let second = h.root_showing(2, "Commercial approval").await;
    h.thread_len(&second, 2).await;
    h.emu
        .click(AE, CHANNEL, &second.ts, "commercial_approved")
        .await
        .expect("acked");
    h.root_showing(2, "Technical review").await;
}

fn lists(reply: &str) -> Vec<&str> {
    ["CR-1 ·", "CR-2 ·"]
        .into_iter()
        .filter(|tag| reply.contains(tag))
        .collect()
}

#[sqlx::test(migrator = "MIGRATOR")]
async fn capacity_list_mine_shows_the_askers_own_requests(pool: PgPool) {
    let mut h = Harness::start(pool).await;
    two_requests(&h).await;
    assert_eq!(lists(&slash(&h, REQUESTER, "list mine").await), ["CR-1 ·"]);
    assert_eq!(lists(&slash(&h, STRANGER, "list mine").await), ["CR-2 ·"]);
    let none = slash(&h, ADMIN, "list mine").await;
    assert!(
        none.contains("No your requests") || none.starts_with("No "),
        "{none}"
    );
    assert!(lists(&none).is_empty());
    h.stop().await;
}

#[sqlx::test(migrator = "MIGRATOR")]
async fn capacity_list_open_shows_every_open_request(pool: PgPool) {
    let mut h = Harness::start(pool).await;
    two_requests(&h).await;
    let reply = slash(&h, ADMIN, "list open").await;
    assert_eq!(lists(&reply), ["CR-1 ·", "CR-2 ·"]);
    assert!(reply.contains("Technical review"), "{reply}");
    assert_eq!(slash(&h, ADMIN, "list").await, reply, "open is the default");
    h.stop().await;
}

#[sqlx::test(migrator = "MIGRATOR")]
async fn capacity_list_waiting_shows_the_requests_waiting_on_the_asker(pool: PgPool) {
    let mut h = Harness::start(pool).await;
    two_requests(&h).await;
    assert_eq!(lists(&slash(&h, AE, "list waiting").await), ["CR-1 ·"]);
    assert_eq!(lists(&slash(&h, INFRA2, "list waiting").await), ["CR-2 ·"]);
    assert!(lists(&slash(&h, REQUESTER, "list waiting").await).is_empty());
    h.stop().await;
}
