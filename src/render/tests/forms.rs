//! The intake modal and the reason modal: their shape, and parsing what Slack sends back.

use chrono::NaiveDate;
use serde_json::{json, Value};

use super::scenarios::{all_states, Inputs};
use crate::domain::testkit::uid;
use crate::domain::{Command, EventKind, Submission};
use crate::render::action_value::ActionValue;
use crate::render::limits::check_view;
use crate::render::modal::{
    intake_modal, parse_intake, parse_reason_submission, reason_modal, ReasonError, ReasonInput,
    INTAKE_BLOCK_IDS,
};

fn today() -> NaiveDate {
    NaiveDate::from_ymd_opt(2026, 12, 3).unwrap()
}

/// `view.state.values` of a correctly filled intake form, as Slack sends it.
fn valid() -> Value {
    json!({
        "customer": {"customer": {"type": "plain_text_input", "value": " Acme Corp "}},
        "org_id": {"org_id": {"type": "plain_text_input", "value": "org-acme"}},
        "project_ref": {"project_ref": {"type": "plain_text_input", "value": "abcdefghijklmnop"}},
        "current_size": {"current_size": {"type": "plain_text_input", "value": "16XL"}},
        "requested_size": {"requested_size": {"type": "static_select", "selected_option": {
            "text": {"type": "plain_text", "text": "48XL", "emoji": true}, "value": "48XL"}}},
        "requested_size_other": {"requested_size_other": {"type": "plain_text_input", "value": null}},
        "region": {"region": {"type": "plain_text_input", "value": "us-east-1"}},
        "needed_by": {"needed_by": {"type": "datepicker", "selected_date": "2027-01-15"}},
        "duration_months": {"duration_months": {"type": "number_input", "value": "12"}},
        "est_monthly_cost_usd": {"est_monthly_cost_usd": {"type": "number_input", "value": "42000.50"}},
        "commercial_owner": {"commercial_owner": {"type": "users_select", "selected_user": "UAE"}},
        "justification": {"justification": {"type": "plain_text_input", "value": "Black Friday traffic"}}
    })
}

/// `valid()` with one input's value field replaced.
fn with(id: &str, field: &str, value: Value) -> Value {
    let mut v = valid();
    v[id][id][field] = value;
    v
}

fn error_for(values: &Value) -> Vec<String> {
    match parse_intake(values, today()) {
        Ok(s) => panic!("expected errors, parsed {s:?}"),
        Err(errors) => errors.into_keys().collect(),
    }
}

#[track_caller]
fn only_error(values: Value, id: &str) {
    assert_eq!(error_for(&values), [id.to_string()]);
}

#[test]
fn the_intake_modal_has_the_design_block_ids() {
    let view = serde_json::to_value(intake_modal(today())).unwrap();
    assert_eq!(view["type"], "modal");
    assert_eq!(view["callback_id"], "capacity_request_new");
    let blocks = view["blocks"].as_array().unwrap();
    let ids: Vec<&str> = blocks
        .iter()
        .map(|b| b["block_id"].as_str().unwrap())
        .collect();
    assert_eq!(
        ids,
        [
            "customer",
            "org_id",
            "project_ref",
            "current_size",
            "requested_size",
            "requested_size_other",
            "region",
            "needed_by",
            "duration_months",
            "est_monthly_cost_usd",
            "commercial_owner",
            "justification"
        ]
    );
    assert_eq!(ids, INTAKE_BLOCK_IDS);
    for b in blocks {
        assert_eq!(b["type"], "input");
        assert_eq!(b["element"]["action_id"], b["block_id"]);
    }
    let element = |i: usize| &blocks[i]["element"];
    assert_eq!(element(4)["type"], "static_select");
    let options: Vec<&str> = element(4)["options"]
        .as_array()
        .unwrap()
        .iter()
        .map(|o| o["value"].as_str().unwrap())
        .collect();
    assert_eq!(options, ["24XL", "32XL", "48XL", "64XL", "other"]);
    assert_eq!(blocks[5]["optional"], true);
    assert_eq!(element(7)["type"], "datepicker");
    assert_eq!(element(8)["type"], "number_input");
    assert_eq!(element(8)["is_decimal_allowed"], false);
    assert_eq!(element(9)["is_decimal_allowed"], true);
    assert_eq!(element(10)["type"], "users_select");
    assert_eq!(element(11)["multiline"], true);
    check_view(&intake_modal(today())).unwrap();
}

#[test]
fn a_valid_form_parses() {
    let s = parse_intake(&valid(), today()).unwrap();
    assert_eq!(
        s,
        Submission {
            customer: "Acme Corp".into(),
            org_id: "org-acme".into(),
            project_ref: "abcdefghijklmnop".into(),
            current_size: "16XL".into(),
            requested_size: "48XL".into(),
            region: "us-east-1".into(),
            needed_by: NaiveDate::from_ymd_opt(2027, 1, 15).unwrap(),
            duration_months: 12,
            est_monthly_cost_cents: 4_200_050,
            commercial_owner: Some(uid("UAE")),
            justification: "Black Friday traffic".into(),
            source: None,
        }
    );
}

#[test]
fn other_sizes_are_read_from_the_other_field() {
    let mut v = with(
        "requested_size",
        "selected_option",
        json!({"text": {"type": "plain_text", "text": "Other…"}, "value": "other"}),
    );
    v["requested_size_other"]["requested_size_other"]["value"] = json!("96xl");
    assert_eq!(parse_intake(&v, today()).unwrap().requested_size, "96XL");
}

#[test]
fn the_commercial_owner_is_optional() {
    let v = with("commercial_owner", "selected_user", Value::Null);
    let parsed = parse_intake(&v, today()).expect("no AE is fine");
    assert_eq!(parsed.commercial_owner, None);
    let view = serde_json::to_value(intake_modal(today())).unwrap();
    assert_eq!(view["blocks"][10]["block_id"], "commercial_owner");
    assert_eq!(view["blocks"][10]["optional"], true);
    only_error(
        with("commercial_owner", "selected_user", json!("not a user")),
        "commercial_owner",
    );
}

#[test]
fn needed_by_today_is_fine() {
    let v = with("needed_by", "selected_date", json!("2026-12-03"));
    assert!(parse_intake(&v, today()).is_ok());
}

#[test]
fn customer_is_required_and_bounded() {
    only_error(with("customer", "value", Value::Null), "customer");
    only_error(with("customer", "value", json!("   ")), "customer");
    only_error(
        with("customer", "value", json!("é".repeat(201))),
        "customer",
    );
    assert!(parse_intake(&with("customer", "value", json!("é".repeat(200))), today()).is_ok());
}

#[test]
fn org_id_is_bounded() {
    only_error(with("org_id", "value", json!("x".repeat(101))), "org_id");
}

#[test]
fn project_ref_is_required_and_bounded() {
    only_error(with("project_ref", "value", Value::Null), "project_ref");
    only_error(
        with("project_ref", "value", json!("x".repeat(101))),
        "project_ref",
    );
}

#[test]
fn current_size_is_required() {
    only_error(with("current_size", "value", Value::Null), "current_size");
}

#[test]
fn requested_size_is_one_of_the_options() {
    only_error(
        with("requested_size", "selected_option", Value::Null),
        "requested_size",
    );
    only_error(
        with(
            "requested_size",
            "selected_option",
            json!({"text": {"type": "plain_text", "text": "8XL"}, "value": "8XL"}),
        ),
        "requested_size",
    );
}

#[test]
fn requested_size_other_must_be_a_size_above_16xl() {
    let other = || {
        with(
            "requested_size",
            "selected_option",
            json!({"text": {"type": "plain_text", "text": "Other…"}, "value": "other"}),
        )
    };
    only_error(other(), "requested_size_other");
    for bad in ["16XL", "8xl", "big", "96", "XL", "-96XL"] {
        let mut v = other();
        v["requested_size_other"]["requested_size_other"]["value"] = json!(bad);
        only_error(v, "requested_size_other");
    }
}

#[test]
fn region_is_bounded() {
    only_error(with("region", "value", json!("r".repeat(65))), "region");
    assert!(parse_intake(&with("region", "value", json!("r".repeat(64))), today()).is_ok());
}

#[test]
fn needed_by_is_not_in_the_past() {
    only_error(
        with("needed_by", "selected_date", json!("2026-12-02")),
        "needed_by",
    );
    only_error(with("needed_by", "selected_date", Value::Null), "needed_by");
    only_error(
        with("needed_by", "selected_date", json!("15/01/2027")),
        "needed_by",
    );
}

#[test]
fn duration_is_whole_months_up_to_ten_years() {
    for bad in ["0", "121", "1.5", "-3", "+3", "twelve"] {
        only_error(
            with("duration_months", "value", json!(bad)),
            "duration_months",
        );
    }
    only_error(
        with("duration_months", "value", Value::Null),
        "duration_months",
    );
    assert!(parse_intake(&with("duration_months", "value", json!("120")), today()).is_ok());
}

#[test]
fn cost_is_positive_bounded_and_in_cents() {
    for bad in ["0", "0.00", "-0.50", "1.234", "100000000.01", "1e6", "abc"] {
        only_error(
            with("est_monthly_cost_usd", "value", json!(bad)),
            "est_monthly_cost_usd",
        );
    }
    let top = parse_intake(
        &with("est_monthly_cost_usd", "value", json!("100000000")),
        today(),
    );
    assert_eq!(top.unwrap().est_monthly_cost_cents, 10_000_000_000);
}

#[test]
fn commercial_owner_is_a_user() {
    only_error(
        with("commercial_owner", "selected_user", json!("S0GROUP")),
        "commercial_owner",
    );
    only_error(
        with("commercial_owner", "selected_user", json!("<@U1>")),
        "commercial_owner",
    );
}

#[test]
fn justification_is_required_and_bounded() {
    only_error(with("justification", "value", Value::Null), "justification");
    only_error(
        with("justification", "value", json!("j".repeat(3_001))),
        "justification",
    );
    assert!(parse_intake(
        &with("justification", "value", json!("j".repeat(3_000))),
        today()
    )
    .is_ok());
}

#[test]
fn every_bad_field_is_reported_at_once() {
    let mut v = with("customer", "value", Value::Null);
    v["region"]["region"]["value"] = json!("r".repeat(65));
    v["duration_months"]["duration_months"]["value"] = json!("0");
    v["needed_by"]["needed_by"]["selected_date"] = json!("2020-01-01");
    assert_eq!(
        error_for(&v),
        ["customer", "duration_months", "needed_by", "region"]
    );
    assert_eq!(
        error_for(&json!({})).len(),
        10,
        "all required fields are reported"
    );
}

/// The values Slack would send for a reason modal with `typed` in its one input.
fn submitted(view: &Value, typed: Value) -> (String, Value) {
    let input = view["blocks"]
        .as_array()
        .unwrap()
        .iter()
        .find(|b| b["type"] == "input")
        .unwrap();
    let block_id = input["block_id"].as_str().unwrap();
    let action_id = input["element"]["action_id"].as_str().unwrap();
    let kind = input["element"]["type"].clone();
    let values = json!({ block_id: { action_id: { "type": kind, "value": typed } } });
    (
        view["private_metadata"].as_str().unwrap().to_string(),
        values,
    )
}

#[test]
fn reason_modals_round_trip() {
    let stories = all_states(&Inputs::plain());
    let (_, story) = stories.iter().find(|(n, _)| *n == "provisioning").unwrap();
    let req = story.req();
    for kind in EventKind::ALL.into_iter().filter(|k| k.takes_input()) {
        let view = reason_modal(kind, req);
        check_view(&view).unwrap();
        let json = serde_json::to_value(&view).unwrap();
        assert_eq!(json["callback_id"], "capacity_reason");
        let (metadata, values) = if kind == EventKind::TtlExtended {
            submitted(&json, json!("5"))
        } else {
            submitted(&json, json!("  The customer walked away  "))
        };
        assert!(metadata.starts_with(&format!("{kind}|CR-12|")));
        let (k, value, input) = parse_reason_submission(&metadata, &values).unwrap();
        assert_eq!(k, kind);
        assert_eq!(value, ActionValue::of(req));
        let expected = if kind == EventKind::TtlExtended {
            ReasonInput::Days(5)
        } else {
            ReasonInput::Reason("The customer walked away".into())
        };
        assert_eq!(input, expected);
        let event = input.to_command(kind).expect("the input fits the action");
        assert_eq!(event.kind(), kind);
    }
    assert_eq!(
        ReasonInput::Days(3).to_command(EventKind::TtlExtended),
        Some(Command::TtlExtended { days: 3 })
    );
    assert_eq!(
        ReasonInput::Days(3).to_command(EventKind::CommercialRejected),
        None
    );
}

#[test]
fn reason_modal_field_errors_are_keyed_by_block() {
    let stories = all_states(&Inputs::plain());
    let (_, story) = stories.iter().find(|(n, _)| *n == "ready").unwrap();
    let json = serde_json::to_value(reason_modal(EventKind::CancelRequested, story.req())).unwrap();
    for bad in [Value::Null, json!("   "), json!("x".repeat(2_001))] {
        let (metadata, values) = submitted(&json, bad);
        match parse_reason_submission(&metadata, &values) {
            Err(ReasonError::Fields(f)) => {
                assert_eq!(f.into_keys().collect::<Vec<_>>(), ["reason"])
            }
            other => panic!("expected a field error, got {other:?}"),
        }
    }
    let json = serde_json::to_value(reason_modal(EventKind::TtlExtended, story.req())).unwrap();
    for bad in [
        json!("0"),
        json!("61"),
        json!("1.5"),
        json!("-1"),
        Value::Null,
    ] {
        let (metadata, values) = submitted(&json, bad);
        match parse_reason_submission(&metadata, &values) {
            Err(ReasonError::Fields(f)) => assert_eq!(f.into_keys().collect::<Vec<_>>(), ["days"]),
            other => panic!("expected a field error, got {other:?}"),
        }
    }
}

#[test]
fn forged_reason_metadata_is_refused() {
    let values = json!({"reason": {"reason": {"type": "plain_text_input", "value": "x"}}});
    let uuid = "0190c3c4-5b6e-7000-8000-000000000001";
    for bad in [
        String::new(),
        "commercial_rejected".into(),
        format!("approve|CR-12|{uuid}|v3"),
        format!("commercial_rejected|CR-12|{uuid}|v-3"),
        format!("commercial_rejected|CR-12|{uuid}"),
        "x".repeat(3_001),
    ] {
        assert!(
            matches!(
                parse_reason_submission(&bad, &values),
                Err(ReasonError::Metadata(_))
            ),
            "{bad:?} was accepted"
        );
    }
}
