//! The Socket Mode edge: reconnecting in the middle of a flow, redelivered envelopes,
//! simultaneous clicks, and envelopes from another workspace or app.

use capacity_bot::domain::testkit::*;
use capacity_bot::domain::{Actor, RequestNumber, State};
use capacity_bot::store::{self, MIGRATOR};
use serde_json::json;
use slack_emulator::{DisconnectReason, Message};
use sqlx::PgPool;

use crate::support::harness::*;

/// The happy path after submission at a cost below the finance threshold.
const STEPS: [(&str, &str, &str); 6] = [
    (AE, "commercial_approved", "Technical review"),
    (INFRA, "technical_owner_assigned", "Technical review"),
    (INFRA, "technical_approved", "Customer confirmation"),
    (REQUESTER, "customer_confirmed", "Provisioning"),
    (INFRA2, "provisioning_completed", "Ready for customer"),
    (AE, "activated", "Activated"),
];

async fn submitted(h: &Harness, cost: &str) -> Message {
    assert_eq!(h.submit(REQUESTER, answers(cost)).await, None);
    let root = h.root_showing(1, "Commercial approval").await;
    h.thread_len(&root, 2).await;
    root
}

/// Clicks `steps` in order, each on the root as it is once the previous one has landed.
async fn walk(h: &Harness, root: &Message, steps: &[(&str, &str, &str)]) {
    for (user, action, shows) in steps {
        let replies = h.emu.thread(CHANNEL, &root.ts).len();
        let ack = h
            .emu
            .click(user, CHANNEL, &root.ts, action)
            .await
            .unwrap_or_else(|e| panic!("{user} {action}: {e}"));
        assert_eq!(ack.payload, None);
        h.thread_len(root, replies + 1).await;
        h.root_showing(1, shows).await;
    }
}

async fn state_of_first(pool: &PgPool) -> (State, usize) {
    let req = store::requests::by_number(pool, RequestNumber(1))
        .await
        .expect("db")
        .expect("CR-1 exists");
    let log = store::events::events_of(pool, req.id).await.expect("log");
    (req.state, log.len())
}

/// Disconnects every socket with `how` between the first and second halves of a flow.
async fn flow_survives(pool: PgPool, how: impl FnOnce(&Harness) -> usize) {
    let mut h = Harness::start(pool.clone()).await;
    let root = submitted(&h, "10000").await;
    walk(&h, &root, &STEPS[..3]).await;

    let hellos = h.emu.hellos_sent();
    assert_eq!(how(&h), 2, "both sockets were told to go");
    h.emu
        .wait_for_hellos(hellos + 2, WAIT)
        .await
        .expect("the daemon opens two new sockets");
    h.emu
        .wait_connected(2, WAIT)
        .await
        .expect("two sockets connected again");

    walk(&h, &root, &STEPS[3..]).await;
    assert_eq!(state_of_first(&pool).await, (State::Activated, 8));
    assert_eq!(
        h.emu.thread(CHANNEL, &root.ts).len(),
        8,
        "one reply per event"
    );
    assert!(h.emu.ephemerals(REQUESTER).is_empty());
    assert!(h.emu.ephemerals(AE).is_empty());
    h.stop().await;
}

#[sqlx::test(migrator = "MIGRATOR")]
async fn a_refresh_requested_disconnect_mid_flow_reconnects_and_the_flow_completes(pool: PgPool) {
    flow_survives(pool, |h| {
        h.emu.disconnect_sockets(DisconnectReason::RefreshRequested)
    })
    .await;
}

#[sqlx::test(migrator = "MIGRATOR")]
async fn an_abrupt_socket_drop_mid_flow_reconnects_and_the_flow_completes(pool: PgPool) {
    flow_survives(pool, |h| h.emu.drop_sockets()).await;
}

#[sqlx::test(migrator = "MIGRATOR")]
async fn a_warning_disconnect_mid_flow_reconnects_and_the_flow_completes(pool: PgPool) {
    flow_survives(pool, |h| {
        h.emu.disconnect_sockets(DisconnectReason::Warning)
    })
    .await;
}

#[sqlx::test(migrator = "MIGRATOR")]
async fn failing_connections_open_and_link_disabled_are_retried_with_backoff(pool: PgPool) {
    // Socket Mode switched off, then apps.connections.open failing four times: the daemon
    // keeps trying (with backoff, not a tight loop) and the flow completes once Slack is back.
    flow_survives(pool, |h| {
        h.emu.fail_connections_open(4);
        h.emu.disconnect_sockets(DisconnectReason::LinkDisabled)
    })
    .await;
}

#[sqlx::test(migrator = "MIGRATOR")]
async fn a_click_envelope_delivered_twice_is_recorded_once(pool: PgPool) {
    let mut h = Harness::start(pool).await;
    let root = submitted(&h, "10000").await;
    let before = h.events().await;

    let ack = h
        .emu
        .click(AE, CHANNEL, &root.ts, "commercial_approved")
        .await
        .expect("acked");
    let again = h.emu.redeliver(&ack.envelope).await.expect("acked again");
    assert_eq!(again.envelope_id, ack.envelope_id);
    assert_eq!(again.payload, None);

    assert_eq!(h.events().await, before + 1, "recorded once");
    h.root_showing(1, "Technical review").await;
    h.thread_len(&root, 3).await;
    h.daemon().deliverer.drain().await.expect("outbox drains");
    assert_eq!(h.emu.thread(CHANNEL, &root.ts).len(), 3, "one reply");
    assert!(
        h.no_reply_sent(),
        "a repeat is not a refusal: nobody is told anything"
    );
    h.stop().await;
}

#[sqlx::test(migrator = "MIGRATOR")]
async fn the_same_click_envelope_delivered_twice_at_once_is_recorded_once(pool: PgPool) {
    let mut h = Harness::start(pool).await;
    let root = submitted(&h, "10000").await;
    let root = h.emu.message(CHANNEL, &root.ts).expect("root");
    let before = h.events().await;

    let envelope = h.click_envelope(AE, &root, "commercial_approved");
    let (a, b) = tokio::join!(h.send_envelope(&envelope), h.send_envelope(&envelope));
    assert_eq!((a.payload, b.payload), (None, None));

    assert_eq!(h.events().await, before + 1, "recorded once");
    h.thread_len(&root, 3).await;
    h.daemon().deliverer.drain().await.expect("outbox drains");
    assert_eq!(h.emu.thread(CHANNEL, &root.ts).len(), 3, "one reply");
    assert!(h.no_reply_sent(), "nobody is told anything");
    h.stop().await;
}

#[sqlx::test(migrator = "MIGRATOR")]
async fn a_double_click_is_recorded_once_and_the_second_click_is_told_so(pool: PgPool) {
    let mut h = Harness::start(pool).await;
    let root = submitted(&h, "10000").await;
    let before = h.events().await;

    // Two envelopes, one person, one button, one version.
    let (a, b) = tokio::join!(
        h.emu.click(AE, CHANNEL, &root.ts, "commercial_approved"),
        h.emu.click(AE, CHANNEL, &root.ts, "commercial_approved"),
    );
    let (a, b) = (a.expect("acked"), b.expect("acked"));
    assert_ne!(a.envelope_id, b.envelope_id);

    assert_eq!(h.events().await, before + 1, "recorded once");
    h.thread_len(&root, 3).await;
    h.daemon().deliverer.drain().await.expect("outbox drains");
    assert_eq!(h.emu.thread(CHANNEL, &root.ts).len(), 3, "one reply");
    let told = h.ephemeral_to(AE, "Already recorded").await;
    assert!(
        told.contains(&format!("<@{AE}> pressed *Approve* on ")) && told.contains("EST"),
        "who, what and when (with the zone): {told}"
    );
    assert!(told.contains("is now in *Technical review"), "{told}");
    assert_eq!(
        h.emu.ephemerals(AE).len(),
        1,
        "one answer, to the second click only"
    );
    h.stop().await;
}

#[sqlx::test(migrator = "MIGRATOR")]
async fn a_submission_envelope_delivered_twice_creates_one_request(pool: PgPool) {
    let mut h = Harness::start(pool.clone()).await;
    h.emu
        .slash_command(REQUESTER, "/capacity", "", CHANNEL)
        .await
        .expect("slash command acked");
    let view = h.emu.wait_for_view(REQUESTER, WAIT).await.expect("modal");
    let ack = h
        .emu
        .submit_view(&view.id, REQUESTER, answers("10000"))
        .await
        .expect("acked");
    assert_eq!(ack.payload, None);
    let again = h.emu.redeliver(&ack.envelope).await.expect("acked again");
    assert_eq!(again.payload, None, "the repeat is accepted, not refused");

    let root = h.root_showing(1, "Commercial approval").await;
    h.thread_len(&root, 2).await;
    h.daemon().deliverer.drain().await.expect("outbox drains");
    assert_eq!(h.events().await, 2, "submitted + owner assigned, once");
    assert_eq!(h.emu.messages(CHANNEL).len(), 1, "one root message");
    let none = store::requests::by_number(&pool, RequestNumber(2))
        .await
        .expect("db");
    assert!(none.is_none(), "no second request");
    h.stop().await;
}

#[sqlx::test(migrator = "MIGRATOR")]
async fn two_people_clicking_the_same_button_at_once_record_one_event_and_the_loser_is_told_who_won(
    pool: PgPool,
) {
    let mut h = Harness::start(pool.clone()).await;
    let root = submitted(&h, "10000").await;
    let before = h.events().await;

    let (a, b) = tokio::join!(
        h.emu.click(AE, CHANNEL, &root.ts, "commercial_approved"),
        h.emu
            .click(APPROVER, CHANNEL, &root.ts, "commercial_approved"),
    );
    assert_eq!(a.expect("AE acked").payload, None);
    assert_eq!(b.expect("approver acked").payload, None);

    assert_eq!(h.events().await, before + 1, "one click wins");
    let req = store::requests::by_number(&pool, RequestNumber(1))
        .await
        .expect("db")
        .expect("CR-1");
    let log = store::events::events_of(&pool, req.id).await.expect("log");
    let Actor::User { id: winner, .. } = &log.last().expect("an event").actor else {
        panic!("a person won")
    };
    let loser = if winner.as_str() == AE { APPROVER } else { AE };

    let told = h.ephemeral_to(loser, "already recorded").await;
    assert!(
        told.contains(&format!("<@{winner}> already recorded *Approve* on ")),
        "the loser is told who won: {told}"
    );
    assert!(
        h.emu.ephemerals(winner.as_str()).is_empty(),
        "the winner is told nothing"
    );
    h.thread_len(&root, 3).await;
    h.root_showing(1, "Technical review").await;
    h.daemon().deliverer.drain().await.expect("outbox drains");
    assert_eq!(h.emu.thread(CHANNEL, &root.ts).len(), 3, "one reply");
    h.stop().await;
}

/// `edit` makes an otherwise good click (the AE approving) foreign; it must be dropped.
async fn foreign_click_is_dropped(pool: PgPool, edit: impl FnOnce(&mut serde_json::Value)) {
    let mut h = Harness::start(pool).await;
    let root = submitted(&h, "10000").await;
    let root = h.emu.message(CHANNEL, &root.ts).expect("root");
    let before = h.events().await;

    let mut envelope = h.click_envelope(AE, &root, "commercial_approved");
    edit(&mut envelope);
    let ack = h.send_envelope(&envelope).await;
    assert_eq!(ack.payload, None, "no reply in the ack");
    assert!(h.no_reply_sent(), "no reply after it either");
    assert_eq!(h.events().await, before, "nothing recorded");
    assert_eq!(h.emu.message(CHANNEL, &root.ts), Some(root.clone()));

    // The same click from our workspace and app counts, so only the edit stopped it.
    let ack = h
        .send_envelope(&h.click_envelope(AE, &root, "commercial_approved"))
        .await;
    assert_eq!(ack.payload, None);
    assert_eq!(h.events().await, before + 1);
    h.stop().await;
}

#[sqlx::test(migrator = "MIGRATOR")]
async fn a_click_from_another_team_gets_no_reply_and_records_nothing(pool: PgPool) {
    foreign_click_is_dropped(pool, |e| {
        e["payload"]["team"]["id"] = json!("T0OTHERTEAM");
        e["payload"]["user"]["team_id"] = json!("T0OTHERTEAM");
    })
    .await;
}

#[sqlx::test(migrator = "MIGRATOR")]
async fn a_click_for_another_app_gets_no_reply_and_records_nothing(pool: PgPool) {
    foreign_click_is_dropped(pool, |e| {
        e["payload"]["api_app_id"] = json!("A0OTHERAPP");
    })
    .await;
}
