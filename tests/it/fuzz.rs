//! Property-based fuzzing of everything that reads untrusted input from Slack: socket frames,
//! button values and modal submissions. Each parser must never panic, and whatever it accepts
//! must satisfy the invariants the rest of the daemon relies on.
//!
//! `cargo fuzz` needs a nightly toolchain and libFuzzer; these run on stable in the ordinary
//! test binary instead. `FUZZ_CASES` sets the cases per property (default 256, so `cargo test`
//! stays fast); CI runs them longer (`.ci/run`).

use std::sync::OnceLock;

use capacity_bot::domain::{EventKind, Policy, RequestId, RequestNumber, UserId};
use capacity_bot::render::action_value::{self, ActionValue, MAX_LEN};
use capacity_bot::render::modal::{
    parse_intake, parse_reason_submission, ReasonError, ReasonInput, INTAKE_BLOCK_IDS,
};
use capacity_bot::slack::envelope::{self, ack_frame, parse_frame, EnvelopeKind, Frame};
use chrono::NaiveDate;
use proptest::prelude::*;
use proptest::test_runner::{Config, FileFailurePersistence};
use serde_json::{json, Value};
use uuid::Uuid;

fn config() -> Config {
    let cases = std::env::var("FUZZ_CASES")
        .ok()
        .and_then(|n| n.parse().ok())
        .unwrap_or(256);
    Config {
        cases,
        // Shrunk failures are printed; no regression files are written into the tree.
        failure_persistence: Some(Box::new(FileFailurePersistence::Off)),
        ..Config::default()
    }
}

/// Any JSON value, nested a few levels, with strings from all of Unicode.
fn json_value() -> impl Strategy<Value = Value> {
    let leaf = prop_oneof![
        Just(Value::Null),
        any::<bool>().prop_map(Value::Bool),
        any::<i64>().prop_map(|n| json!(n)),
        any::<f64>().prop_filter_map("finite", |f| serde_json::Number::from_f64(f)
            .map(Value::Number)),
        "\\PC{0,40}".prop_map(Value::String),
    ];
    leaf.prop_recursive(4, 64, 8, |inner| {
        prop_oneof![
            prop::collection::vec(inner.clone(), 0..8).prop_map(Value::Array),
            prop::collection::btree_map("\\PC{0,12}", inner, 0..8)
                .prop_map(|m| Value::Object(m.into_iter().collect())),
        ]
    })
}

/// Slack's own frames, from the fixtures vendored in the emulator crate (as `slack::envelope`'s
/// unit tests read them).
fn fixtures() -> &'static [(String, String)] {
    static FIXTURES: OnceLock<Vec<(String, String)>> = OnceLock::new();
    FIXTURES.get_or_init(|| {
        let dir = format!(
            "{}/crates/slack-emulator/tests/fixtures/slack",
            env!("CARGO_MANIFEST_DIR")
        );
        let mut found: Vec<(String, String)> = std::fs::read_dir(&dir)
            .unwrap_or_else(|e| panic!("{dir}: {e}"))
            .filter_map(Result::ok)
            .map(|e| e.file_name().to_string_lossy().into_owned())
            .filter(|name| {
                (name.starts_with("envelope_") || name.starts_with("socket_"))
                    && name.ends_with(".json")
            })
            .map(|name| {
                let text = std::fs::read_to_string(format!("{dir}/{name}"))
                    .unwrap_or_else(|e| panic!("{name}: {e}"));
                (name, text)
            })
            .collect();
        found.sort();
        assert!(found.len() >= 8, "the socket fixtures are there: {found:?}");
        found
    })
}

/// One edit of a text: bytes deleted, inserted, replaced or the rest cut off (at char
/// boundaries, so the result is still a string).
#[derive(Debug, Clone)]
enum Edit {
    Delete(usize, usize),
    Insert(usize, String),
    Replace(usize, String),
    Truncate(usize),
    /// One character in upper case.
    Upper(usize),
}

fn edit() -> impl Strategy<Value = Edit> {
    prop_oneof![
        (any::<usize>(), 1..16usize).prop_map(|(at, n)| Edit::Delete(at, n)),
        (any::<usize>(), "\\PC{1,8}|[\\[\\]{}\",:\\\\]{1,3}")
            .prop_map(|(at, s)| Edit::Insert(at, s)),
        (
            any::<usize>(),
            "\\PC{1,4}|[\\[\\]{}\",:0-9]{1,2}|[0-9A-Fa-f|v+-]{1,2}"
        )
            .prop_map(|(at, s)| Edit::Replace(at, s)),
        any::<usize>().prop_map(Edit::Truncate),
        any::<usize>().prop_map(Edit::Upper),
    ]
}

fn boundary(text: &str, at: usize) -> usize {
    let mut i = at % (text.len() + 1);
    while !text.is_char_boundary(i) {
        i -= 1;
    }
    i
}

fn apply(text: &str, edit: &Edit) -> String {
    let mut out = text.to_string();
    match edit {
        Edit::Delete(at, n) => {
            let start = boundary(&out, *at);
            let end = boundary(&out, start + n).max(start);
            out.replace_range(start..end, "");
        }
        Edit::Insert(at, s) => out.insert_str(boundary(&out, *at), s),
        Edit::Replace(at, s) => {
            let start = boundary(&out, *at);
            let end = out[start..]
                .char_indices()
                .nth(1)
                .map_or(out.len(), |(i, _)| start + i);
            out.replace_range(start..end, s);
        }
        Edit::Truncate(at) => out.truncate(boundary(&out, *at)),
        Edit::Upper(at) => {
            let start = boundary(&out, *at);
            if let Some(c) = out[start..].chars().next() {
                let upper = c.to_uppercase().to_string();
                out.replace_range(start..start + c.len_utf8(), &upper);
            }
        }
    }
    out
}

/// Replaces the node at `path` (object keys and array indexes, each taken modulo the
/// children there) with `with`; stops early at a leaf.
fn graft(value: &mut Value, path: &[usize], with: Value) {
    let Some((step, rest)) = path.split_first() else {
        *value = with;
        return;
    };
    let child = match value {
        Value::Object(map) if !map.is_empty() => {
            let key = map.keys().nth(step % map.len()).cloned();
            key.and_then(|k| map.get_mut(&k))
        }
        Value::Array(items) if !items.is_empty() => {
            let n = items.len();
            items.get_mut(step % n)
        }
        _ => None,
    };
    match child {
        Some(child) => graft(child, rest, with),
        None => *value = with,
    }
}

/// What `parse_frame` must conclude from a JSON object, whatever else it holds.
fn check_frame(value: &Value, frame: &Frame) -> Result<(), TestCaseError> {
    let kind = value
        .get("type")
        .and_then(Value::as_str)
        .unwrap_or_default();
    match frame {
        Frame::Hello { .. } => prop_assert_eq!(kind, "hello"),
        Frame::Disconnect { reason } => {
            prop_assert_eq!(kind, "disconnect");
            let expected = value
                .get("reason")
                .and_then(Value::as_str)
                .unwrap_or("unknown");
            prop_assert_eq!(reason.as_str(), expected);
        }
        Frame::Envelope(e) => {
            prop_assert!(kind != "hello" && kind != "disconnect");
            prop_assert_eq!(
                Some(e.envelope_id.as_str()),
                value.get("envelope_id").and_then(Value::as_str)
            );
            let expected = match kind {
                "slash_commands" => EnvelopeKind::SlashCommands,
                "interactive" => EnvelopeKind::Interactive,
                "events_api" => EnvelopeKind::EventsApi,
                other => EnvelopeKind::Other(other.to_string()),
            };
            prop_assert_eq!(&e.kind, &expected);
            // Read whole, but for the Block Kit no handler reads.
            let read = envelope::less_unread(value.clone());
            prop_assert_eq!(&e.payload, read.get("payload").unwrap_or(&Value::Null));
            // The ack names the envelope, and carries a payload only where one is accepted.
            let ack: Value =
                serde_json::from_str(&ack_frame(&e.ack_to(), Some(json!({"text": "ok"}))))
                    .map_err(|err| TestCaseError::fail(format!("the ack is not JSON: {err}")))?;
            prop_assert_eq!(&ack["envelope_id"], &json!(e.envelope_id));
            prop_assert_eq!(ack.get("payload").is_some(), e.accepts_response_payload);
        }
        Frame::Unreadable(why) => {
            prop_assert!(!why.is_empty());
            let has_id = value.get("envelope_id").and_then(Value::as_str).is_some();
            prop_assert!(
                !value.is_object() || (!has_id && kind != "hello" && kind != "disconnect"),
                "an object with an envelope_id or a known control type was refused: {why}"
            );
        }
    }
    Ok(())
}

/// Checks the frame read from JSON text against the same text read as a `Value` (floats do
/// not survive a trip through text bit for bit, so the text is the reference).
fn check_text(text: &str) -> Result<(), TestCaseError> {
    let value: Value =
        serde_json::from_str(text).map_err(|e| TestCaseError::fail(format!("not JSON: {e}")))?;
    check_frame(&value, &parse_frame(text))
}

proptest! {
    #![proptest_config(config())]

    #[test]
    fn any_text_on_the_socket_is_parsed_or_refused_never_a_panic(text in "\\PC{0,300}") {
        match parse_frame(&text) {
            Frame::Unreadable(why) => prop_assert!(!why.is_empty()),
            frame => {
                let value: Value = serde_json::from_str(&text)
                    .map_err(|e| TestCaseError::fail(format!("accepted non-JSON: {e}")))?;
                check_frame(&value, &frame)?;
            }
        }
    }

    #[test]
    fn any_json_on_the_socket_is_read_by_its_type_and_envelope_id(
        value in json_value(),
        kind in prop::option::of(prop_oneof![
            prop::sample::select(vec![
                "hello", "disconnect", "slash_commands", "interactive", "events_api",
            ]).prop_map(str::to_string),
            "\\PC{0,12}",
        ]),
        envelope_id in prop::option::of("\\PC{0,40}"),
    ) {
        let mut value = value;
        if let Value::Object(map) = &mut value {
            if let Some(kind) = kind {
                map.insert("type".into(), json!(kind));
            }
            if let Some(id) = envelope_id {
                map.insert("envelope_id".into(), json!(id));
            }
        }
        check_text(&value.to_string())?;
    }

    #[test]
    fn slacks_own_frames_edited_at_random_never_panic_the_parser(
        pick in any::<prop::sample::Index>(),
        edits in prop::collection::vec(edit(), 1..6),
    ) {
        let (_, text) = pick.get(fixtures());
        let mutated = edits.iter().fold(text.clone(), |t, e| apply(&t, e));
        let frame = parse_frame(&mutated);
        if let Ok(value) = serde_json::from_str::<Value>(&mutated) {
            check_frame(&value, &frame)?;
        } else {
            prop_assert!(matches!(frame, Frame::Unreadable(_)));
        }
    }

    #[test]
    fn slacks_own_frames_with_any_node_replaced_are_read_consistently(
        pick in any::<prop::sample::Index>(),
        path in prop::collection::vec(any::<usize>(), 0..6),
        with in json_value(),
    ) {
        let (name, text) = pick.get(fixtures());
        let mut value: Value = serde_json::from_str(text)
            .map_err(|e| TestCaseError::fail(format!("{name}: {e}")))?;
        graft(&mut value, &path, with);
        check_text(&value.to_string())?;
    }

    #[test]
    fn any_button_value_is_decoded_only_in_its_one_spelling(s in "\\PC{0,100}") {
        if let Ok(v) = action_value::decode(&s) {
            prop_assert_eq!(v.encode(), s);
        }
    }

    #[test]
    fn button_values_near_a_real_one_are_decoded_only_when_canonical(
        id in any::<u128>(),
        n in 1..=i64::MAX,
        version in 0..=i32::MAX,
        edits in prop::collection::vec(edit(), 0..3),
    ) {
        let real = ActionValue {
            request: RequestId(Uuid::from_u128(id)),
            number: RequestNumber(n),
            version,
        };
        let encoded = real.encode();
        prop_assert!(encoded.chars().count() <= MAX_LEN);
        prop_assert_eq!(action_value::decode(&encoded), Ok(real));
        let near = edits.iter().fold(encoded, |t, e| apply(&t, e));
        match action_value::decode(&near) {
            Ok(v) => prop_assert_eq!(v.encode(), near),
            Err(e) => prop_assert!(!e.to_string().is_empty()),
        }
    }
}

const TODAY: (i32, u32, u32) = (2026, 12, 3);

fn today() -> NaiveDate {
    NaiveDate::from_ymd_opt(TODAY.0, TODAY.1, TODAY.2).expect("a date")
}

/// Strings of the kinds the intake fields take, near misses, and anything at all.
fn answer() -> impl Strategy<Value = String> {
    prop_oneof![
        3 => "\\PC{0,24}",
        1 => prop::sample::select(vec![
            "24XL", "32XL", "48XL", "64XL", "other", "16XL", "17xl", "96XL", "0XL", "XL",
            "2026-12-03", "2026-12-02", "2027-02-30", "12", "120", "121", "0", "-5", "+4",
            "1.5", "42000.5", "100000000", "100000000.01", "1e6", "1,000", "UAE", "U0AE12345",
            "W0AE12345", "S0GROUP", "  padded  ", "", " ", "\t\n",
        ]).prop_map(str::to_string),
        2 => "[0-9]{1,13}(\\.[0-9]{0,3})?",
        1 => "20[0-9]{2}-[01][0-9]-[0-3][0-9]",
        1 => "[0-9]{1,7}[Xx][Ll]",
        1 => "[UW][A-Z0-9]{2,12}",
        1 => "[a-z ]{60,70}|[a-z]{95,105}|[a-z]{195,205}|[a-z]{2990,3010}",
    ]
}

/// A typed input state in one of the shapes Slack sends (`kind` picks it).
fn typed_input(kind: u8, s: String) -> Value {
    match kind {
        0 => json!({"type": "plain_text_input", "value": s}),
        1 => json!({"type": "number_input", "value": s}),
        2 => json!({"type": "static_select", "selected_option": {"value": s}}),
        3 => json!({"type": "datepicker", "selected_date": s}),
        4 => json!({"type": "users_select", "selected_user": s}),
        5 => json!({"type": "static_select", "selected_option": null}),
        _ => json!({"type": "plain_text_input", "value": null}),
    }
}

/// A valid answer for each intake field, in its right shape.
fn valid_answer(id: &str) -> BoxedStrategy<Value> {
    let text = |re: &'static str| re.prop_map(move |s: String| typed_input(0, s)).boxed();
    match id {
        "customer" | "justification" => text("\\PC{0,3}[A-Za-z0-9]\\PC{0,40}"),
        "org_id" | "project_ref" | "current_size" | "region" => text(" ?[a-z0-9-]{1,30} ?"),
        "requested_size" => prop::sample::select(vec!["24XL", "32XL", "48XL", "64XL", "other"])
            .prop_map(|s| typed_input(2, s.to_string()))
            .boxed(),
        "requested_size_other" => text("[1-9][0-9]{1,3}(XL|xl)"),
        "needed_by" => "202[7-9]-(0[1-9]|1[0-2])-(0[1-9]|1[0-9]|2[0-8])"
            .prop_map(|s| typed_input(3, s))
            .boxed(),
        "duration_months" => (1u16..=120)
            .prop_map(|n| typed_input(1, n.to_string()))
            .boxed(),
        "est_monthly_cost_usd" => "[1-9][0-9]{0,7}(\\.[0-9]{1,2})?"
            .prop_map(|s| typed_input(1, s))
            .boxed(),
        _ => "[UW][A-Z0-9]{8,10}".prop_map(|s| typed_input(4, s)).boxed(),
    }
}

/// `state.values` of an intake submission: valid answers in every field, then up to three
/// fields removed or replaced by an answer of any shape and kind.
fn intake_values() -> impl Strategy<Value = Value> {
    let valid: Vec<BoxedStrategy<Value>> =
        INTAKE_BLOCK_IDS.iter().map(|id| valid_answer(id)).collect();
    let spoil = (
        any::<prop::sample::Index>(),
        prop::option::weighted(0.8, (0u8..7, answer())),
    );
    (valid, prop::collection::vec(spoil, 0..4)).prop_map(|(answers, spoils)| {
        let mut values = serde_json::Map::new();
        for (id, answer) in INTAKE_BLOCK_IDS.iter().zip(answers) {
            values.insert(id.to_string(), json!({ *id: answer }));
        }
        for (which, with) in spoils {
            let id = INTAKE_BLOCK_IDS[which.index(INTAKE_BLOCK_IDS.len())];
            match with {
                Some((kind, text)) => {
                    values.insert(id.to_string(), json!({ id: typed_input(kind, text) }));
                }
                None => {
                    values.remove(id);
                }
            }
        }
        Value::Object(values)
    })
}

/// What a field's input held, as a string, where it is one.
fn given<'a>(values: &'a Value, id: &str, field: &str) -> Option<&'a str> {
    values.get(id)?.get(id)?.get(field)?.as_str()
}

fn check_intake(values: &Value) -> Result<(), TestCaseError> {
    match parse_intake(values, today()) {
        Ok(s) => {
            for (id, got, max) in [
                ("customer", &s.customer, 200),
                ("org_id", &s.org_id, 100),
                ("project_ref", &s.project_ref, 100),
                ("current_size", &s.current_size, 100),
                ("region", &s.region, 64),
                ("justification", &s.justification, 3_000),
            ] {
                prop_assert!(
                    !got.is_empty() && got.chars().count() <= max,
                    "{id}: {got:?}"
                );
                prop_assert_eq!(
                    Some(got.as_str()),
                    given(values, id, "value").map(str::trim)
                );
            }
            let listed = ["24XL", "32XL", "48XL", "64XL"].contains(&s.requested_size.as_str());
            let above = s
                .requested_size
                .strip_suffix("XL")
                .and_then(|n| n.parse::<u32>().ok())
                .is_some_and(|n| n > 16);
            prop_assert!(listed || above, "requested_size {:?}", s.requested_size);
            prop_assert!(s.needed_by >= today());
            prop_assert!((1..=120).contains(&s.duration_months));
            prop_assert!((1..=10_000_000_000).contains(&s.est_monthly_cost_cents));
            let owner = s.commercial_owner.as_ref().map(UserId::as_str);
            prop_assert_eq!(owner, given(values, "commercial_owner", "selected_user"));
        }
        Err(errors) => {
            prop_assert!(!errors.is_empty());
            for (id, message) in &errors {
                prop_assert!(INTAKE_BLOCK_IDS.contains(&id.as_str()), "error on {id}");
                prop_assert!(!message.is_empty());
            }
        }
    }
    Ok(())
}

/// Every action a reason form could name, and names that are not actions.
fn action_name() -> impl Strategy<Value = String> {
    prop_oneof![
        2 => Just("ttl_extended".to_string()),
        4 => prop::sample::select(EventKind::ALL.to_vec()).prop_map(|k| k.to_string()),
        1 => "\\PC{0,20}",
    ]
}

/// A reason form's `private_metadata` and `state.values`: mostly an action, a real button
/// value and the input that action takes; sometimes edited, mismatched or arbitrary.
fn reason_submission() -> impl Strategy<Value = (String, Value)> {
    let value = (any::<u128>(), 1..=i64::MAX, 0..=i32::MAX).prop_map(|(id, n, v)| {
        ActionValue {
            request: RequestId(Uuid::from_u128(id)),
            number: RequestNumber(n),
            version: v,
        }
        .encode()
    });
    let typed = prop_oneof![
        4 => answer(),
        2 => "[0-9]{1,3}",
        1 => "[a-z ]{1990,2010}",
    ];
    let metadata = (action_name(), value, prop::option::weighted(0.2, edit())).prop_map(
        |(action, value, edit)| {
            let metadata = format!("{action}|{value}");
            edit.map_or(metadata.clone(), |e| apply(&metadata, &e))
        },
    );
    let shaped =
        (metadata, typed, any::<bool>(), 0u8..2).prop_map(|(metadata, text, fits, kind)| {
            // Mostly the input the named action takes; sometimes the other one.
            let days = metadata.starts_with("ttl_extended|") == fits;
            let values = if days {
                json!({"days": {"days": typed_input(1 - kind, text)}})
            } else {
                json!({"reason": {"reason": typed_input(kind, text)}})
            };
            (metadata, values)
        });
    prop_oneof![
        6 => shaped,
        1 => ("\\PC{0,120}|[a-z_]{1,30}\\|\\PC{2990,3010}", json_value()),
    ]
}

fn check_reason(metadata: &str, values: &Value) -> Result<(), TestCaseError> {
    match parse_reason_submission(metadata, values) {
        Ok((kind, value, input)) => {
            prop_assert_eq!(format!("{kind}|{}", value.encode()), metadata);
            match input {
                ReasonInput::Reason(r) => {
                    prop_assert!(kind != EventKind::TtlExtended);
                    // A comment may run to 3,000 characters, a reason to 2,000.
                    let max = if kind == EventKind::CommentAdded {
                        3_000
                    } else {
                        2_000
                    };
                    prop_assert!(!r.is_empty() && r.trim() == r && r.chars().count() <= max);
                }
                ReasonInput::Days(d) => {
                    prop_assert_eq!(kind, EventKind::TtlExtended);
                    prop_assert!((1..=Policy::MAX_EXTENSION_DAYS).contains(&d));
                }
            }
        }
        Err(ReasonError::Fields(fields)) => {
            prop_assert_eq!(fields.len(), 1);
            let (id, message) = fields.iter().next().expect("one field");
            prop_assert!(id == "reason" || id == "days", "error on {id}");
            prop_assert!(!message.is_empty());
        }
        Err(ReasonError::Metadata(why)) => prop_assert!(!why.is_empty()),
    }
    Ok(())
}

proptest! {
    #![proptest_config(config())]

    #[test]
    fn intake_submissions_near_valid_ones_parse_only_into_valid_requests(values in intake_values()) {
        check_intake(&values)?;
    }

    #[test]
    fn any_json_as_intake_values_is_refused_field_by_field_never_a_panic(values in json_value()) {
        check_intake(&values)?;
    }

    #[test]
    fn reason_submissions_parse_only_into_an_action_its_value_and_valid_input(
        (metadata, values) in reason_submission(),
    ) {
        check_reason(&metadata, &values)?;
    }
}
