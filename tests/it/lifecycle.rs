//! The product end to end: slash command → modal → root message → every gate → ACTIVATED,
//! through the real daemon, the emulator and Postgres.

use capacity_bot::domain::testkit::*;
use capacity_bot::domain::State;
use capacity_bot::store::{self, MIGRATOR};
use serde_json::json;
use sqlx::PgPool;

use crate::support::harness::*;

#[sqlx::test(migrator = "MIGRATOR")]
async fn a_request_goes_from_slash_command_to_activated(pool: PgPool) {
    let mut h = Harness::start(pool.clone()).await;
    assert_eq!(
        h.submit(REQUESTER, answers("60000")).await,
        None,
        "the modal closes"
    );

    let root = h.root_showing(1, "Commercial approval").await;
    assert_eq!(
        action_ids(&root),
        [
            "commercial_approved",
            "commercial_rejected",
            "cancel_requested"
        ]
    );
    assert!(
        !root.render().contains("<!channel>"),
        "user text is escaped: {}",
        root.render()
    );

    let steps: [(&str, &str, &str); 7] = [
        (AE, "commercial_approved", "Commercial approval"),
        (FINANCE, "commercial_approved", "Technical review"),
        (INFRA, "technical_owner_assigned", "Technical review"),
        (INFRA, "technical_approved", "Customer confirmation"),
        (REQUESTER, "customer_confirmed", "Provisioning"),
        (INFRA2, "provisioning_completed", "Ready for customer"),
        (AE, "activated", "Activated"),
    ];
    let mut replies = 2; // submitted, commercial owner assigned
    for (user, action, shows) in steps {
        let current = h.emu.message(CHANNEL, &root.ts).expect("root exists");
        let ack = h
            .emu
            .click(user, CHANNEL, &root.ts, action)
            .await
            .unwrap_or_else(|e| panic!("{user} {action}: {e}"));
        assert_eq!(ack.payload, None);
        replies += 1;
        let thread = h.thread_len(&root, replies).await;
        assert_eq!(thread.len(), replies, "one reply per event after {action}");
        let last = thread.last().unwrap().render();
        assert!(
            last.contains(&format!("<@{user}>")) || last.contains(user),
            "{action} reply names the actor: {last}"
        );
        let now = h.root_showing(1, shows).await;
        assert!(
            now.edits > current.edits || shows == "Commercial approval",
            "root updated in place after {action}"
        );
    }
    let root = h.root_showing(1, "Activated").await;
    assert!(
        action_ids(&root).is_empty(),
        "a closed request has no buttons: {:?}",
        action_ids(&root)
    );

    let req = store::requests::by_number(&pool, capacity_bot::domain::RequestNumber(1))
        .await
        .unwrap()
        .unwrap();
    assert_eq!(req.state, State::Activated);
    let log = store::events::events_of(&pool, req.id).await.unwrap();
    assert_eq!(log.len(), 9);
    assert!(h.emu.ephemerals(REQUESTER).is_empty());
    h.stop().await;
    let _ = json!(null);
}
