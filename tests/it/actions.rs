//! The secondary actions through the path a person takes: the root message's `more_actions`
//! menu (a comment, a reassignment), the "Assign owner…" picker of a request submitted
//! without an AE, and the form refusing a requester who names themselves as the AE. Each
//! goes envelope → handler → Postgres → the rendered root, thread and DMs in the emulator.

use capacity_bot::domain::testkit::*;
use capacity_bot::domain::{EventKind, RequestNumber, State};
use capacity_bot::store::{self, MIGRATOR};
use serde_json::{json, Value};
use slack_emulator::Message;
use sqlx::PgPool;

use crate::support::harness::*;
use crate::timers::{dms_about, events_of, settle, sweep, utc};

/// The `value` of the `more_actions` option for `kind` on `root`, as rendered.
fn option_value(root: &Message, kind: EventKind) -> String {
    let (_, menu) = root
        .element("more_actions")
        .unwrap_or_else(|| panic!("no more_actions menu on {}", root.render()));
    assert_eq!(menu["type"], "overflow");
    menu["options"]
        .as_array()
        .expect("options")
        .iter()
        .map(|o| o["value"].as_str().expect("value").to_string())
        .find(|v| v.starts_with(&format!("{kind}|")))
        .unwrap_or_else(|| panic!("no {kind} option in {menu}"))
}

fn menu_labels(root: &Message) -> Vec<String> {
    root.element("more_actions")
        .map(|(_, menu)| {
            menu["options"]
                .as_array()
                .into_iter()
                .flatten()
                .map(|o| o["text"]["text"].as_str().unwrap_or_default().to_string())
                .collect()
        })
        .unwrap_or_default()
}

async fn request_id(h: &Harness, n: i64) -> capacity_bot::domain::RequestId {
    store::requests::by_number(&h.pool, RequestNumber(n))
        .await
        .expect("db")
        .expect("the request exists")
        .id
}

/// `user` picks `kind` in the root's menu; returns the form it opened.
async fn open_from_menu(
    h: &Harness,
    user: &str,
    root: &Message,
    kind: EventKind,
) -> slack_emulator::View {
    let ack = h
        .emu
        .choose_option(
            user,
            CHANNEL,
            &root.ts,
            "more_actions",
            &option_value(root, kind),
        )
        .await
        .unwrap_or_else(|e| panic!("{user} chose {kind}: {e}"));
    assert_eq!(ack.payload, None, "a menu choice is acked empty");
    h.emu
        .wait_for_view(user, WAIT)
        .await
        .unwrap_or_else(|e| panic!("no form for {user} after {kind}: {e}"))
}

#[sqlx::test(migrator = "MIGRATOR")]
async fn anyone_comments_from_the_menu_and_the_thread_quotes_it(pool: PgPool) {
    let mut h = Harness::start(pool).await;
    h.submit(REQUESTER, answers("1000")).await;
    let root = h.root_showing(1, "Commercial approval").await;
    assert_eq!(menu_labels(&root), ["Comment…", "Reassign owner…"]);
    let buttons_before = action_ids(&root);

    // A stranger (no role at all) may comment.
    let form = open_from_menu(&h, STRANGER, &root, EventKind::CommentAdded).await;
    assert_eq!(form.callback_id(), "capacity_reason");
    assert_eq!(form.title(), "Comment on request");
    let empty = h
        .emu
        .submit_view(&form.id, STRANGER, json!({"reason": "   "}))
        .await
        .expect("acked");
    assert_eq!(empty.response_action(), Some("errors"));
    assert_eq!(empty.errors(), Some(&json!({"reason": "Write a comment."})));
    let comment = format!("Any news from the customer? {EVIL_TEXT}");
    let done = h
        .emu
        .submit_view(&form.id, STRANGER, json!({ "reason": comment }))
        .await
        .expect("acked");
    assert_eq!(done.payload, None, "the form closes");

    let thread = h.thread_len(&root, 3).await;
    let reply = thread.last().expect("a reply").render();
    assert!(
        reply.contains(&format!("@{STRANGER} commented:")),
        "{reply}"
    );
    assert!(reply.contains("Any news from the customer?"), "{reply}");
    for leak in EVIL_LEAKS {
        assert!(!reply.contains(leak), "{leak} leaked into {reply}");
    }
    let id = request_id(&h, 1).await;
    let recorded = events_of(&h, id, EventKind::CommentAdded).await;
    assert_eq!(recorded.len(), 1);
    assert_eq!(recorded[0].actor.user(), Some(&uid(STRANGER)));
    assert_eq!(
        recorded[0].envelope_id.as_deref(),
        Some(done.envelope_id.as_str())
    );
    // A comment moves nothing: the buttons on the root stay valid.
    let root_now = h.emu.message(CHANNEL, &root.ts).expect("root");
    assert_eq!(action_ids(&root_now), buttons_before);
    h.emu
        .click(AE, CHANNEL, &root.ts, "commercial_approved")
        .await
        .expect("acked");
    let root = h.root_showing(1, "Technical review").await;

    // A comment typed while someone else moves the request still counts.
    let form = open_from_menu(&h, REQUESTER, &root, EventKind::CommentAdded).await;
    h.emu
        .click(INFRA, CHANNEL, &root.ts, "technical_owner_assigned")
        .await
        .expect("acked");
    h.root_showing(1, &format!("Waiting on @{INFRA}")).await;
    let late = h
        .emu
        .submit_view(&form.id, REQUESTER, json!({"reason": "Thanks, Ivan."}))
        .await
        .expect("acked");
    assert_eq!(late.payload, None, "recorded, not refused as stale");
    assert_eq!(events_of(&h, id, EventKind::CommentAdded).await.len(), 2);
    h.stop().await;
}

#[sqlx::test(migrator = "MIGRATOR")]
async fn a_commercial_approver_reassigns_the_owner_and_the_decision_reminders_and_buttons_follow(
    pool: PgPool,
) {
    let mut h = Harness::start(pool).await;
    h.submit(REQUESTER, answers("1000")).await;
    let root = h.root_showing(1, &format!("Waiting on @{AE}")).await;
    let events = h.events().await;

    // Neither a stranger nor the AE may reassign: told why, no form.
    for who in [STRANGER, AE] {
        h.emu
            .choose_option(
                who,
                CHANNEL,
                &root.ts,
                "more_actions",
                &option_value(&root, EventKind::OwnerReassigned),
            )
            .await
            .expect("acked");
        let told = h.ephemeral_to(who, "Only").await;
        assert!(told.contains("commercial approver"), "{told}");
        assert!(h.emu.open_view(who).is_none(), "{who} gets no form");
    }

    let form = open_from_menu(&h, APPROVER, &root, EventKind::OwnerReassigned).await;
    assert_eq!(form.callback_id(), "capacity_reassign");
    // The requester cannot become the approver of their own request: said on the field.
    let refused = h
        .emu
        .submit_view(
            &form.id,
            APPROVER,
            json!({"owner_role": "commercial", "new_owner": REQUESTER}),
        )
        .await
        .expect("acked");
    assert_eq!(refused.response_action(), Some("errors"));
    let why = refused.errors().expect("errors")["new_owner"]
        .as_str()
        .expect("a sentence")
        .to_string();
    assert!(why.contains("nobody approves their own request"), "{why}");
    assert_eq!(h.events().await, events, "nothing recorded");

    let done = h
        .emu
        .submit_view(
            &form.id,
            APPROVER,
            json!({"owner_role": "commercial", "new_owner": STRANGER}),
        )
        .await
        .expect("acked");
    assert_eq!(done.payload, None);
    let moved = h.root_showing(1, &format!("Waiting on @{STRANGER}")).await;
    assert!(
        moved
            .render()
            .contains(&format!("*Commercial owner* @{STRANGER}")),
        "{}",
        moved.render()
    );
    let thread = h.thread_len(&root, 3).await;
    let reply = thread.last().expect("reply").render();
    assert!(
        reply.contains(&format!(
            "@{APPROVER} made @{STRANGER} the commercial owner."
        )),
        "{reply}"
    );

    // The new owner hears of it at once, with the decision's buttons.
    let told = h
        .emu
        .wait_for_dm(STRANGER, |m| m.text.contains("CR-1 now waits on you"), WAIT)
        .await
        .expect("the new owner gets a DM");
    assert!(
        told.render().contains("You are now the commercial owner"),
        "{}",
        told.render()
    );
    assert!(
        told.action_ids()
            .contains(&"commercial_approved".to_string()),
        "{:?}",
        told.action_ids()
    );

    // The old owner's button no longer counts; reminders go to the new owner, whose DM
    // button does.
    h.emu
        .click(AE, CHANNEL, &moved.ts, "commercial_approved")
        .await
        .expect("acked");
    h.ephemeral_to(AE, "Only").await;
    sweep(&h, utc("2026-12-04T15:00:00Z")).await;
    assert!(
        dms_about(&h, AE, 1).is_empty(),
        "the old owner is not reminded"
    );
    let dm = h
        .emu
        .wait_for_dm(STRANGER, |m| m.text.starts_with("Reminder 1: CR-1"), WAIT)
        .await
        .expect("the new owner is reminded");
    h.emu
        .click(STRANGER, &dm.channel, &dm.ts, "commercial_approved")
        .await
        .expect("acked");
    h.root_showing(1, "Technical review").await;

    // The technical owner goes to infra only.
    let root = h.root_showing(1, "Technical review").await;
    let form = open_from_menu(&h, ADMIN, &root, EventKind::OwnerReassigned).await;
    let refused = h
        .emu
        .submit_view(
            &form.id,
            ADMIN,
            json!({"owner_role": "technical", "new_owner": FINANCE}),
        )
        .await
        .expect("acked");
    let why = refused.errors().expect("errors")["new_owner"]
        .as_str()
        .unwrap_or_default()
        .to_string();
    assert!(why.contains("is not in infra"), "{why}");
    h.emu
        .submit_view(
            &form.id,
            ADMIN,
            json!({"owner_role": "technical", "new_owner": INFRA2}),
        )
        .await
        .expect("acked");
    h.root_showing(1, &format!("Waiting on @{INFRA2}")).await;
    let id = request_id(&h, 1).await;
    let reassigned = events_of(&h, id, EventKind::OwnerReassigned).await;
    assert_eq!(reassigned.len(), 2);
    h.stop().await;
}

#[sqlx::test(migrator = "MIGRATOR")]
async fn without_an_ae_the_request_waits_on_the_commercial_approvers_who_assign_one(pool: PgPool) {
    let mut h = Harness::start(pool).await;
    let mut form = answers("1000");
    form["commercial_owner"] = Value::Null;
    assert_eq!(
        h.submit(REQUESTER, form).await,
        None,
        "accepted without an AE"
    );
    let root = h.root_showing(1, "Submitted").await;
    let text = root.render();
    assert!(
        text.contains(
            "Waiting on a commercial approver (@S0SALESLEAD) — commercial owner assignment"
        ),
        "{text}"
    );
    assert_eq!(menu_labels(&root), ["Comment…"], "nothing to reassign yet");
    let (_, picker) = root
        .element("commercial_owner_assigned")
        .expect("an Assign owner picker");
    assert_eq!(picker["type"], "users_select");
    assert_eq!(picker["placeholder"]["text"], "Assign owner…");

    // The requester and a stranger are refused; nothing recorded.
    let events = h.events().await;
    for who in [REQUESTER, STRANGER] {
        h.emu
            .select_user(who, CHANNEL, &root.ts, "commercial_owner_assigned", AE)
            .await
            .expect("acked");
        let told = h.ephemeral_to(who, "Only").await;
        assert!(told.contains("commercial approver"), "{told}");
    }
    assert_eq!(h.events().await, events);

    // The reminder goes to each commercial approver, with the picker; one assigns from it.
    sweep(&h, utc("2026-12-04T15:00:00Z")).await;
    for approver in [APPROVER, BOTH] {
        assert_eq!(dms_about(&h, approver, 1).len(), 1, "{approver} reminded");
    }
    let dm = h
        .emu
        .dms(BOTH)
        .into_iter()
        .find(|m| m.text.contains("CR-1"))
        .expect("the reminder DM");
    // Nobody owns a decision on their own request, from the picker either.
    h.emu
        .select_user(
            BOTH,
            &dm.channel,
            &dm.ts,
            "commercial_owner_assigned",
            REQUESTER,
        )
        .await
        .expect("acked");
    h.ephemeral_to(BOTH, "nobody approves their own request")
        .await;
    h.emu
        .select_user(BOTH, &dm.channel, &dm.ts, "commercial_owner_assigned", AE)
        .await
        .expect("acked");
    let root = h.root_showing(1, &format!("Waiting on @{AE}")).await;
    assert!(root.element("commercial_owner_assigned").is_none());
    let id = request_id(&h, 1).await;
    let assigned = events_of(&h, id, EventKind::CommercialOwnerAssigned).await;
    assert_eq!(assigned.len(), 1);
    assert_eq!(assigned[0].actor.user(), Some(&uid(BOTH)));
    let req = store::requests::by_id(&h.pool, id).await.unwrap().unwrap();
    assert_eq!(req.state, State::CommercialApprovalRequired);
    settle(&h).await;
    // submitted, then the assignment.
    let thread = h.thread_len(&root, 2).await;
    assert!(
        thread.iter().any(|m| m
            .render()
            .contains(&format!("@{BOTH} assigned the commercial owner: @{AE}."))),
        "{:?}",
        thread.iter().map(|m| m.render()).collect::<Vec<_>>()
    );
    h.stop().await;
}

#[sqlx::test(migrator = "MIGRATOR")]
async fn a_requester_naming_themselves_as_the_ae_is_refused_on_the_field(pool: PgPool) {
    let mut h = Harness::start(pool).await;
    let mut form = answers("1000");
    form["commercial_owner"] = json!(REQUESTER);
    let ack = h.submit(REQUESTER, form).await.expect("errors");
    assert_eq!(ack["response_action"], "errors");
    let errors = ack["errors"].as_object().expect("errors by block id");
    assert_eq!(
        errors.keys().collect::<Vec<_>>(),
        ["commercial_owner"],
        "on that field only"
    );
    assert!(
        errors["commercial_owner"]
            .as_str()
            .unwrap_or_default()
            .contains("cannot also be the commercial owner"),
        "{ack}"
    );
    assert_eq!(h.events().await, 0, "nothing recorded");
    assert!(
        h.emu.open_view(REQUESTER).is_some(),
        "the form stays open to fix"
    );
    h.stop().await;
}

/// A menu choice is checked like a button: an option carrying another request's value, or
/// one the bot never rendered, opens no form and says why.
#[sqlx::test(migrator = "MIGRATOR")]
async fn a_transplanted_or_forged_menu_option_opens_no_form(pool: PgPool) {
    let mut h = Harness::start(pool).await;
    h.submit(REQUESTER, answers("1000")).await;
    h.submit(REQUESTER, answers("2000")).await;
    let one = h.root_showing(1, "Commercial approval").await;
    let two = h.root_showing(2, "Commercial approval").await;
    let genuine = h
        .emu
        .choose_option(
            STRANGER,
            CHANNEL,
            &one.ts,
            "more_actions",
            &option_value(&one, EventKind::CommentAdded),
        )
        .await
        .expect("acked");
    let form = h.emu.wait_for_view(STRANGER, WAIT).await.expect("a form");
    h.emu.close_view(&form.id, STRANGER).await.expect("closed");

    let resend = |value: String| {
        let mut envelope = genuine.envelope.clone();
        envelope["envelope_id"] = json!(uuid::Uuid::new_v4().to_string());
        envelope["payload"]["trigger_id"] = json!(h.emu.mint_trigger_id(STRANGER));
        envelope["payload"]["actions"][0]["selected_option"]["value"] = json!(value);
        envelope
    };
    h.send_envelope(&resend(option_value(&two, EventKind::CommentAdded)))
        .await;
    h.ephemeral_to(STRANGER, "it was not on CR-2's message")
        .await;
    h.send_envelope(&resend("drop_table|CR-1".into())).await;
    h.ephemeral_to(STRANGER, "not one this bot knows").await;
    assert_eq!(
        h.emu.views(STRANGER).len(),
        1,
        "only the genuine choice opened a form"
    );
    h.stop().await;
}
