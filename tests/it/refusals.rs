//! Clicks the table does not allow: each records nothing, leaves the message alone, and tells
//! the clicker (only them) why and who can act.

use capacity_bot::domain::testkit::*;
use capacity_bot::store::MIGRATOR;
use slack_emulator::Message;
use sqlx::PgPool;

use crate::support::harness::*;

/// A submitted request of `cost` by `requester` naming AE, with both submission replies out.
async fn submitted(h: &Harness, requester: &str, cost: &str) -> Message {
    assert_eq!(h.submit(requester, answers(cost)).await, None);
    let root = h.root_showing(1, "Commercial approval").await;
    h.thread_len(&root, 2).await;
    h.emu.message(CHANNEL, &root.ts).expect("root exists")
}

/// `user` clicks `action` on the root as it is now; the ack carries nothing.
async fn click(h: &Harness, user: &str, root: &Message, action: &str) {
    let ack = h
        .emu
        .click(user, CHANNEL, &root.ts, action)
        .await
        .unwrap_or_else(|e| panic!("{user} {action}: {e}"));
    assert_eq!(ack.payload, None, "a click is acked without a payload");
}

/// Waits for the refusal sent to `user`, then checks that nothing moved: no event, no edit
/// of the root, no thread reply, and nobody else was told anything.
async fn refused(h: &Harness, user: &str, containing: &str, events: i64, root: &Message) -> String {
    let text = h.ephemeral_to(user, containing).await;
    assert_eq!(h.events().await, events, "a refusal records nothing");
    let now = h.emu.message(CHANNEL, &root.ts).expect("root exists");
    assert_eq!(now.edits, root.edits, "the root message is left alone");
    assert_eq!(now.blocks, root.blocks);
    let replies = h.emu.thread(CHANNEL, &root.ts).len();
    assert_eq!(
        replies, events as usize,
        "one thread reply per event, none for a refusal"
    );
    let calls = h.emu.calls("chat.postEphemeral");
    assert_eq!(calls.len(), 1, "exactly one reply: {calls:?}");
    assert_eq!(calls[0].params["user"], user, "only the clicker is told");
    text
}

#[sqlx::test(migrator = "MIGRATOR")]
async fn a_stranger_approving_is_refused_and_told_who_may_approve(pool: PgPool) {
    let mut h = Harness::start(pool).await;
    let root = submitted(&h, REQUESTER, "10000").await;
    let events = h.events().await;

    click(&h, STRANGER, &root, "commercial_approved").await;

    let text = refused(&h, STRANGER, "Only", events, &root).await;
    assert!(text.contains("*Approve*"), "the button's words: {text}");
    assert!(
        text.contains(&format!("<@{AE}>")),
        "names the owner: {text}"
    );
    assert!(
        text.contains("<!subteam^S0SALESLEAD>"),
        "names the approvers: {text}"
    );
    h.stop().await;
}

#[sqlx::test(migrator = "MIGRATOR")]
async fn an_action_for_another_state_is_refused_and_says_who_the_request_waits_on(pool: PgPool) {
    let mut h = Harness::start(pool).await;
    let root = submitted(&h, REQUESTER, "10000").await;
    let events = h.events().await;

    // A button for technical approval, at the current version, while commercial approval is
    // still open: no rendering shows it, so it is forged from the approve button.
    let mut envelope = h.click_envelope(INFRA, &root, "commercial_approved");
    envelope["payload"]["actions"][0]["action_id"] = "technical_approved".into();
    let ack = h.send_envelope(&envelope).await;
    assert_eq!(ack.payload, None);

    let text = refused(&h, INFRA, "not possible", events, &root).await;
    assert!(text.contains("*Approve technically*"), "{text}");
    assert!(
        text.contains("Commercial approval"),
        "says the state: {text}"
    );
    assert!(
        text.contains(&format!("Waiting on <@{AE}>")),
        "names who can act now: {text}"
    );
    h.stop().await;
}

#[sqlx::test(migrator = "MIGRATOR")]
async fn a_click_on_an_out_of_date_message_is_refused_and_names_who_moved_it(pool: PgPool) {
    let mut h = Harness::start(pool).await;
    let old = submitted(&h, REQUESTER, "60000").await;

    // The AE gives the commercial key: the message moves on to a new version.
    click(&h, AE, &old, "commercial_approved").await;
    h.thread_len(&old, 3).await;
    let root = h.emu.message(CHANNEL, &old.ts).expect("root exists");
    assert!(root.edits > old.edits, "the root was updated");
    let events = h.events().await;

    // Finance clicks the same button on the rendering from before.
    let ack = h
        .send_envelope(&h.click_envelope(FINANCE, &old, "commercial_approved"))
        .await;
    assert_eq!(ack.payload, None);

    let text = refused(&h, FINANCE, "moved on", events, &root).await;
    assert!(
        text.contains(&format!("<@{AE}> already recorded *Approve* on ")),
        "names who moved it: {text}"
    );
    assert!(
        text.contains(&format!("<@{FINANCE}>")),
        "names who can act now: {text}"
    );
    h.stop().await;
}

#[sqlx::test(migrator = "MIGRATOR")]
async fn a_requester_who_is_an_approver_cannot_approve_their_own_request(pool: PgPool) {
    let mut h = Harness::start(pool).await;
    let root = submitted(&h, APPROVER, "10000").await;
    let events = h.events().await;

    click(&h, APPROVER, &root, "commercial_approved").await;

    let text = refused(&h, APPROVER, "You requested this", events, &root).await;
    assert!(text.contains("*Approve*"), "the button's words: {text}");
    assert!(
        text.contains(&format!("<@{AE}>")),
        "names who can approve instead: {text}"
    );
    h.stop().await;
}

#[sqlx::test(migrator = "MIGRATOR")]
async fn the_second_key_at_the_finance_threshold_must_come_from_finance(pool: PgPool) {
    let mut h = Harness::start(pool).await;
    let root = submitted(&h, REQUESTER, "60000").await;
    click(&h, AE, &root, "commercial_approved").await;
    h.thread_len(&root, 3).await;
    let root = h.emu.message(CHANNEL, &root.ts).expect("root exists");
    let events = h.events().await;

    click(&h, APPROVER, &root, "commercial_approved").await;

    let text = refused(&h, APPROVER, "finance approver", events, &root).await;
    assert!(
        text.contains(&format!("<@{FINANCE}>")) && text.contains(&format!("<@{BOTH}>")),
        "names the finance approvers: {text}"
    );
    h.stop().await;
}

#[sqlx::test(migrator = "MIGRATOR")]
async fn one_person_holding_both_keys_cannot_give_both(pool: PgPool) {
    let mut h = Harness::start(pool).await;
    let root = submitted(&h, REQUESTER, "60000").await;
    click(&h, BOTH, &root, "commercial_approved").await;
    h.thread_len(&root, 3).await;
    // The second click is on the updated message, so it is not stale: the domain refuses it.
    let root = h.emu.message(CHANNEL, &root.ts).expect("root exists");
    let events = h.events().await;

    click(&h, BOTH, &root, "commercial_approved").await;

    let text = refused(&h, BOTH, "different person", events, &root).await;
    assert!(
        text.contains(&format!("<@{FINANCE}>")),
        "names who can give the other key: {text}"
    );
    h.stop().await;
}

#[sqlx::test(migrator = "MIGRATOR")]
async fn a_stranger_clicking_reject_is_refused_before_any_form_opens(pool: PgPool) {
    let mut h = Harness::start(pool).await;
    let root = submitted(&h, REQUESTER, "10000").await;
    let events = h.events().await;

    click(&h, STRANGER, &root, "commercial_rejected").await;

    let text = refused(&h, STRANGER, "Only", events, &root).await;
    assert!(text.contains("*Reject*"), "{text}");
    assert!(text.contains(&format!("<@{AE}>")), "{text}");
    assert!(
        h.emu.views(STRANGER).is_empty(),
        "no reason form was opened"
    );
    h.stop().await;
}

#[sqlx::test(migrator = "MIGRATOR")]
async fn a_new_click_on_a_recorded_button_is_answered_and_a_redelivered_one_is_not(pool: PgPool) {
    let mut h = Harness::start(pool).await;
    let root = submitted(&h, REQUESTER, "10000").await;
    let events = h.events().await;
    // Both clicks on the message as it was: the second comes before the update reaches AE.
    let first = h.click_envelope(AE, &root, "commercial_approved");
    let second = h.click_envelope(AE, &root, "commercial_approved");

    assert_eq!(h.send_envelope(&first).await.payload, None);
    assert_eq!(h.events().await, events + 1);
    // Slack delivering the same envelope again: nothing recorded, nothing said.
    assert_eq!(h.send_envelope(&first).await.payload, None);
    assert_eq!(h.events().await, events + 1);
    assert!(h.no_reply_sent(), "a redelivery is answered by nothing");

    // A new click on the same button: nothing recorded, and AE is told why.
    assert_eq!(h.send_envelope(&second).await.payload, None);
    let told = h.ephemeral_to(AE, "Already recorded").await;
    assert_eq!(h.events().await, events + 1);
    assert!(
        told.contains(&format!("<@{AE}> pressed *Approve* on ")),
        "{told}"
    );
    assert!(told.contains("EST"), "the time has its zone: {told}");
    assert!(
        told.contains("CR-1 is now in *Technical review required*"),
        "{told}"
    );
    assert!(told.contains("Waiting on"), "who acts next: {told}");
    assert!(
        !told.contains("commercial_approved"),
        "no action ids: {told}"
    );
    h.stop().await;
}
