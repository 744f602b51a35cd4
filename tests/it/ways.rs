//! Ways in from a conversation, end to end through the socket: the message shortcut on a
//! customer's message, the global shortcut, and replies to `CR-<n>` mentions.

use capacity_bot::domain::testkit::*;
use capacity_bot::store;
use slack_emulator::Message;
use sqlx::PgPool;

use crate::support::harness::*;

const CUSTOMER: &str = "C0CUSTOMER";
const PRIVATE: &str = "G0PRIVATE";
const OTHER_BOT: &str = "B0OTHERBOT";

async fn start(pool: PgPool) -> Harness {
    let config = emulator_config()
        .with_channel(CUSTOMER, "cust-acme", true)
        .with_channel(PRIVATE, "deal-room", true);
    Harness::start_with(pool, config, settings_toml, t0()).await
}

/// A request submitted through `/capacity`; returns its root message.
async fn request(h: &Harness, n: i64) -> Message {
    h.submit(REQUESTER, answers("42000")).await;
    h.root(n).await
}

async fn request_id(h: &Harness) -> capacity_bot::domain::RequestId {
    store::requests::by_number(&h.pool, capacity_bot::domain::RequestNumber(1))
        .await
        .unwrap()
        .expect("CR-1 exists")
        .id
}

/// The bot's replies in `thread` of `channel`.
fn bot_replies(h: &Harness, channel: &str, thread: &str) -> Vec<Message> {
    h.emu
        .thread(channel, thread)
        .into_iter()
        .filter(|m| m.from_bot)
        .collect()
}

/// Nothing is queued for any thread and nothing is on its way: the handler commits before
/// its ack, so once acked, an empty table means no reply will ever come.
async fn no_mention_reply(h: &Harness) {
    assert!(store::mentions::all(&h.pool).await.unwrap().is_empty());
    h.no_delivery_in_flight().await;
    assert!(h.no_reply_sent());
}

#[sqlx::test(migrator = "store::MIGRATOR")]
async fn a_message_becomes_a_request_linked_both_ways(pool: PgPool) {
    let mut h = start(pool).await;
    let said = h
        .emu
        .post_user_message(
            AE,
            CUSTOMER,
            "Acme needs 64XL &amp; <@U0RITA> asks: by <!here> Friday",
            None,
        )
        .await
        .unwrap();
    let ack = h
        .emu
        .message_shortcut(
            REQUESTER,
            CUSTOMER,
            &said.ts,
            "capacity_request_from_message",
        )
        .await
        .unwrap();
    assert!(ack.payload.is_none());
    let view = h.emu.wait_for_view(REQUESTER, WAIT).await.unwrap();
    assert_eq!(view.callback_id(), "capacity_request_new");
    let (_, field) = view
        .element("justification")
        .expect("a justification field");
    let prefilled = field["initial_value"].as_str().unwrap().to_string();
    assert_eq!(prefilled, "Acme needs 64XL & @U0RITA asks: by @here Friday");
    let link = format!(
        "https://{}.slack.com/archives/{CUSTOMER}/p{}",
        h.emu.config().team_domain,
        said.ts.replace('.', "")
    );
    assert!(view.render().contains(&link), "{}", view.render());
    assert!(view.private_metadata().contains(&link));

    let mut a = answers("42000");
    a["justification"] = prefilled.clone().into();
    let ack = h.emu.submit_view(&view.id, REQUESTER, a).await.unwrap();
    assert!(ack.payload.is_none(), "{:?}", ack.payload);
    let root = h.root_showing(1, "From").await;
    assert!(
        root.blocks.to_string().contains(&link),
        "the root links its source"
    );

    let reply = h
        .emu
        .wait_for_message(|m| m.channel == CUSTOMER && m.from_bot, WAIT)
        .await
        .unwrap();
    assert_eq!(reply.thread_ts.as_deref(), Some(said.ts.as_str()));
    assert!(reply.render().contains("CR-1"), "{}", reply.render());
    let permalink = store::requests::links(&h.pool, request_id(&h).await)
        .await
        .unwrap()
        .permalink
        .unwrap();
    assert!(reply.blocks.to_string().contains(&permalink));

    // Slack redelivers the submission: recorded once, replied once.
    let envelope = ack.envelope.clone();
    h.emu.redeliver(&envelope).await.unwrap();
    h.wait_for_outbox("everything delivered", |rows| {
        rows.iter().all(|r| r.status == "delivered")
    })
    .await;
    h.no_delivery_in_flight().await;
    assert_eq!(bot_replies(&h, CUSTOMER, &said.ts).len(), 1);
    assert_eq!(
        h.events().await,
        2,
        "submitted and the owner assignment, once"
    );
    h.stop().await;
}

#[sqlx::test(migrator = "store::MIGRATOR")]
async fn the_global_shortcut_opens_the_empty_form(pool: PgPool) {
    let mut h = start(pool).await;
    let ack = h
        .emu
        .global_shortcut(REQUESTER, "capacity_request_new")
        .await
        .unwrap();
    assert!(ack.payload.is_none());
    let view = h.emu.wait_for_view(REQUESTER, WAIT).await.unwrap();
    assert_eq!(view.callback_id(), "capacity_request_new");
    assert_eq!(view.private_metadata(), "");
    let (_, field) = view.element("justification").unwrap();
    assert!(field.get("initial_value").is_none());
    h.stop().await;
}

#[sqlx::test(migrator = "store::MIGRATOR")]
async fn a_mention_gets_one_card_per_thread(pool: PgPool) {
    let mut h = start(pool).await;
    request(&h, 1).await;
    let asked = h
        .emu
        .post_user_message(AE, PRIVATE, "is CR-1 still needed?", None)
        .await
        .unwrap();
    assert!(
        asked.ack.is_some(),
        "the app is in the channel, so the event came"
    );
    let reply = h
        .emu
        .wait_for_message(|m| m.channel == PRIVATE && m.from_bot, WAIT)
        .await
        .unwrap_or_else(|e| panic!("no reply: {e}"));
    assert_eq!(reply.thread_ts.as_deref(), Some(asked.ts.as_str()));
    let text = reply.render();
    assert!(text.contains("CR-1"), "{text}");
    assert!(
        text.contains("Commercial approval"),
        "state in words: {text}"
    );
    assert!(
        reply.blocks.to_string().contains(&format!("<@{AE}>")),
        "the owner: {text}"
    );
    let permalink = store::requests::links(&h.pool, request_id(&h).await)
        .await
        .unwrap()
        .permalink
        .unwrap();
    assert!(reply.blocks.to_string().contains(&permalink));

    // A second mention in the same thread: nothing more.
    h.emu
        .post_user_message(REQUESTER, PRIVATE, "CR-1 again", Some(&asked.ts))
        .await
        .unwrap();
    h.no_delivery_in_flight().await;
    assert_eq!(store::mentions::all(&h.pool).await.unwrap().len(), 1);
    h.wait_for_outbox("delivered", |rows| {
        rows.iter().all(|r| r.status == "delivered")
    })
    .await;
    assert_eq!(bot_replies(&h, PRIVATE, &asked.ts).len(), 1);
    h.stop().await;
}

#[sqlx::test(migrator = "store::MIGRATOR")]
async fn unknown_numbers_edits_bots_and_the_requests_threads_get_nothing(pool: PgPool) {
    let mut h = start(pool).await;
    let root = request(&h, 1).await;
    h.wait_for_outbox("root delivered", |rows| {
        rows.iter().all(|r| r.status == "delivered")
    })
    .await;

    let unknown = h
        .emu
        .post_user_message(AE, CUSTOMER, "what about CR-99?", None)
        .await
        .unwrap();
    assert!(unknown.ack.is_some());
    let plain = h
        .emu
        .post_user_message(AE, CUSTOMER, "no number here", None)
        .await
        .unwrap();
    h.emu
        .edit_user_message(AE, CUSTOMER, &plain.ts, "now CR-1 is here")
        .await
        .unwrap()
        .expect("the edit is delivered");
    h.emu
        .delete_user_message(AE, CUSTOMER, &unknown.ts)
        .await
        .unwrap()
        .expect("the deletion is delivered");
    h.emu
        .post_bot_message(OTHER_BOT, "deploybot", CUSTOMER, "deployed CR-1", None)
        .await
        .unwrap();
    h.emu
        .post_user_message(APPROVER, CHANNEL, "CR-1 looks fine", Some(&root.ts))
        .await
        .unwrap();
    h.emu.echo_own_message(CHANNEL, &root.ts).await.unwrap();

    no_mention_reply(&h).await;
    assert!(h.emu.messages(CUSTOMER).iter().all(|m| !m.from_bot));
    h.stop().await;
}
