//! The buttons shown are exactly the legal actions, and each click carries what the daemon
//! needs to check it.

use super::scenarios::{all_states, roles, Inputs};
use super::{buttons, links};
use crate::domain::{available_actions, decision_actions};
use crate::domain::{EventKind, State};
use crate::render::action_value::{decode, ActionValue};
use crate::render::dm::{decision_dm, DmReason};
use crate::render::root::root_message;

#[test]
fn buttons_are_exactly_the_available_actions_with_values_and_confirms() {
    for (name, story) in all_states(&Inputs::plain()) {
        let req = story.req();
        let policy = &story.play.policy;
        let names = |kinds: Vec<EventKind>| -> Vec<&str> {
            kinds.into_iter().map(EventKind::as_str).collect()
        };
        // The root shows every legal action; a DM to the decision owner only the decision's.
        let on_root = names(available_actions(req, policy));
        let in_dm = names(decision_actions(req, policy));
        assert!(
            in_dm.iter().all(|k| on_root.contains(k)),
            "{name}: a DM button is always a legal action"
        );
        let root = root_message(req, &links(), policy, &roles(), story.now());
        let dm = decision_dm(req, DmReason::TimedOut, None, policy, &roles(), story.now());
        for (what, message, expected) in [("root", root, &on_root), ("dm", dm, &in_dm)] {
            let shown = buttons(&message);
            let ids: Vec<&str> = shown.iter().map(|b| b.0.as_str()).collect();
            assert_eq!(&ids, expected, "{name} {what}: buttons");
            for (action_id, value, has_confirm, style) in &shown {
                let kind: EventKind = action_id.parse().expect("action id is an event name");
                assert_eq!(
                    decode(value),
                    Ok(ActionValue::of(req)),
                    "{name} {what}: value of {action_id}"
                );
                assert_eq!(
                    decode(value).map(|v| v.version),
                    Ok(req.version),
                    "{name} {what}: version of {action_id}"
                );
                assert_eq!(
                    *has_confirm,
                    kind.is_destructive(),
                    "{name} {what}: confirm on {action_id}"
                );
                if kind.is_destructive() {
                    assert_eq!(
                        style.as_deref(),
                        Some("danger"),
                        "{name}: style of {action_id}"
                    );
                }
            }
        }
    }
}

#[test]
fn closed_requests_show_no_buttons_but_release() {
    let mut closed = 0;
    for (name, story) in all_states(&Inputs::plain()) {
        let req = story.req();
        if !req.state.is_terminal() {
            continue;
        }
        closed += 1;
        let root = root_message(req, &links(), &story.play.policy, &roles(), story.now());
        let ids: Vec<String> = buttons(&root).into_iter().map(|b| b.0).collect();
        if req.needs_release() {
            assert_eq!(ids, ["capacity_released"], "{name}");
        } else {
            assert!(ids.is_empty(), "{name} shows {ids:?}");
        }
    }
    assert!(closed >= 6, "the scenarios cover the ends");
}

#[test]
fn expired_gate_offers_cancel_extend_and_the_late_answer() {
    let stories = all_states(&Inputs::plain());
    let find = |n: &str| {
        stories
            .iter()
            .find(|(name, _)| *name == n)
            .map(|(_, s)| s)
            .expect("scenario exists")
    };
    let s = find("expired_confirmation");
    assert_eq!(s.req().state, State::Expired);
    let ids: Vec<String> = buttons(&decision_dm(
        s.req(),
        DmReason::TimedOut,
        None,
        &s.play.policy,
        &roles(),
        s.now(),
    ))
    .into_iter()
    .map(|b| b.0)
    .collect();
    for wanted in ["customer_confirmed", "ttl_extended", "cancel_approved"] {
        assert!(
            ids.iter().any(|i| i == wanted),
            "missing {wanted} in {ids:?}"
        );
    }
    let s = find("expired_activation");
    let ids: Vec<String> = buttons(&root_message(
        s.req(),
        &links(),
        &s.play.policy,
        &roles(),
        s.now(),
    ))
    .into_iter()
    .map(|b| b.0)
    .collect();
    for wanted in [
        "activated",
        "ttl_extended",
        "cancel_approved",
        "capacity_released",
    ] {
        assert!(
            ids.iter().any(|i| i == wanted),
            "missing {wanted} in {ids:?}"
        );
    }
    assert!(!ids.iter().any(|i| i == "customer_confirmed"));
}

#[test]
fn labels_read_as_the_design_says() {
    use crate::render::buttons::label;
    assert_eq!(label(EventKind::CommercialApproved), "Approve");
    assert_eq!(label(EventKind::TechnicalOwnerAssigned), "I'll take it");
    assert_eq!(label(EventKind::CapacityReleased), "Release capacity");
    for kind in EventKind::ALL {
        assert!(label(kind).chars().count() <= 75);
    }
}

/// The root message of an open request carries the `more_actions` menu beside its buttons:
/// a comment always, a reassignment once there are owners; each option's value is the event
/// then the button value. DMs and closed requests have no menu.
#[test]
fn open_roots_carry_the_more_actions_menu() {
    use crate::render::action_value::decode_option;
    use crate::render::limits::check_message;
    for (name, story) in all_states(&Inputs::plain()) {
        let req = story.req();
        let policy = &story.play.policy;
        let root = root_message(req, &links(), policy, &roles(), story.now());
        check_message(&root).unwrap_or_else(|e| panic!("{name}: {e}"));
        let json = serde_json::to_value(&root).unwrap();
        let menus: Vec<&serde_json::Value> = json["blocks"]
            .as_array()
            .unwrap()
            .iter()
            .filter(|b| b["type"] == "actions")
            .flat_map(|b| b["elements"].as_array().unwrap())
            .filter(|e| e["type"] == "overflow")
            .collect();
        if !req.state.is_open() {
            assert!(menus.is_empty(), "{name}: a closed request has no menu");
            continue;
        }
        assert_eq!(menus.len(), 1, "{name}: one menu");
        let menu = menus[0];
        assert_eq!(menu["action_id"], "more_actions");
        let options: Vec<(String, (EventKind, ActionValue))> = menu["options"]
            .as_array()
            .unwrap()
            .iter()
            .map(|o| {
                (
                    o["text"]["text"].as_str().unwrap().to_string(),
                    decode_option(o["value"].as_str().unwrap()).unwrap(),
                )
            })
            .collect();
        let mut expected = vec![(
            "Comment…".to_string(),
            (EventKind::CommentAdded, ActionValue::of(req)),
        )];
        if req.state != State::Submitted {
            expected.push((
                "Reassign owner…".to_string(),
                (EventKind::OwnerReassigned, ActionValue::of(req)),
            ));
        }
        assert_eq!(options, expected, "{name}");
        let dm = decision_dm(
            req,
            DmReason::Reminder { nth: 1 },
            None,
            policy,
            &roles(),
            story.now(),
        );
        let dm = serde_json::to_string(&dm).unwrap();
        assert!(!dm.contains("more_actions"), "{name}: no menu in a DM");
    }
}

/// In SUBMITTED the root and the reminder DM carry the "Assign owner…" picker for the
/// commercial approvers; its block id names the slot and the request's button value.
#[test]
fn a_submitted_request_offers_the_owner_picker() {
    use crate::domain::OwnerRole;
    use crate::render::attention::parse_reassign_block_id;
    for (name, story) in all_states(&Inputs::plain()) {
        let req = story.req();
        let policy = &story.play.policy;
        let root = root_message(req, &links(), policy, &roles(), story.now());
        let dm = decision_dm(
            req,
            DmReason::Reminder { nth: 1 },
            None,
            policy,
            &roles(),
            story.now(),
        );
        for (what, message) in [("root", root), ("dm", dm)] {
            let json = serde_json::to_value(&message).unwrap();
            let pickers: Vec<&serde_json::Value> = json["blocks"]
                .as_array()
                .unwrap()
                .iter()
                .filter(|b| {
                    b["elements"][0]["action_id"] == EventKind::CommercialOwnerAssigned.as_str()
                })
                .collect();
            if req.state != State::Submitted {
                assert!(pickers.is_empty(), "{name} {what}");
                continue;
            }
            assert_eq!(pickers.len(), 1, "{name} {what}");
            let picker = &pickers[0]["elements"][0];
            assert_eq!(picker["type"], "users_select");
            assert_eq!(picker["placeholder"]["text"], "Assign owner…");
            assert_eq!(
                parse_reassign_block_id(pickers[0]["block_id"].as_str().unwrap()),
                Some((OwnerRole::Commercial, ActionValue::of(req))),
                "{name} {what}"
            );
        }
    }
}
