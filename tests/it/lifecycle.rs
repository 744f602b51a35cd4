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
            "cancel_requested",
            "more_actions"
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
        // The mrkdwn Slack receives, not the rendering (which shows a mention as `@U…`).
        let last = thread.last().unwrap().blocks[0]["text"]["text"]
            .as_str()
            .unwrap_or_default()
            .to_string();
        assert!(
            last.starts_with(&format!("<@{user}> ")),
            "{action} reply names the actor as a mention: {last}"
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
}

/// Each event recorded from a Socket Mode envelope carries that envelope's id (so an audit
/// can tie it to Slack's delivery); what the daemon records on its own (a timer) or from the
/// control plane (a signal) carries none.
#[sqlx::test(migrator = "MIGRATOR")]
async fn events_from_slack_carry_their_envelope_id_and_timers_and_signals_none(pool: PgPool) {
    use capacity_bot::clock::Clock;
    use capacity_bot::domain::{EventKind, RequestNumber};
    use capacity_bot::http::signature::sign;

    let mut h = Harness::start(pool.clone()).await;
    let envelope_ids =
        |log: &[capacity_bot::domain::RecordedEvent], kind: EventKind| -> Vec<Option<String>> {
            log.iter()
                .filter(|e| e.event.kind() == kind)
                .map(|e| e.envelope_id.clone())
                .collect()
        };
    let log_of = |n: i64| {
        let pool = pool.clone();
        async move {
            let req = store::requests::by_number(&pool, RequestNumber(n))
                .await
                .unwrap()
                .expect("the request exists");
            store::events::events_of(&pool, req.id).await.unwrap()
        }
    };
    let submit = |user: &'static str| {
        let emu = &h.emu;
        async move {
            emu.slash_command(user, "/capacity", "", CHANNEL)
                .await
                .unwrap();
            let view = emu.wait_for_view(user, WAIT).await.unwrap();
            emu.submit_view(&view.id, user, answers("1000"))
                .await
                .unwrap()
        }
    };

    // CR-1: submitted through the modal, then two clicks; it waits for the customer.
    let submitted = submit(REQUESTER).await;
    let root = h.root_showing(1, "Commercial approval").await;
    let approved = h
        .emu
        .click(AE, CHANNEL, &root.ts, "commercial_approved")
        .await
        .unwrap();
    h.root_showing(1, "Technical review").await;
    let technical = h
        .emu
        .click(INFRA, CHANNEL, &root.ts, "technical_approved")
        .await
        .unwrap();
    h.root_showing(1, "Customer confirmation").await;

    // CR-2: a click that asks for a reason; the event comes from the form's submission.
    submit(REQUESTER).await;
    let root2 = h.root_showing(2, "Commercial approval").await;
    let rejected_click = h
        .emu
        .click(AE, CHANNEL, &root2.ts, "commercial_rejected")
        .await
        .unwrap();
    let form = h.emu.wait_for_view(AE, WAIT).await.unwrap();
    let reason = h
        .emu
        .submit_view(&form.id, AE, json!({"reason": "over budget"}))
        .await
        .unwrap();
    h.root_showing(2, "Cancelled").await;

    // CR-3: ready for the customer, activated by the control plane's signal.
    let ready = crate::timers::request_in(&h, crate::timers::Gate::Ready).await;
    let number = store::requests::by_id(&pool, ready)
        .await
        .unwrap()
        .unwrap()
        .number;
    let body = json!({"request": number.to_string(), "signal_id": "sig-1", "observed_at": "2026-12-03T15:00:00Z"}).to_string();
    let ts = h.clock.now().timestamp().to_string();
    let signal = reqwest::Client::new()
        .post(format!(
            "http://{}/v1/signals/activation",
            h.daemon().http_addr
        ))
        .header("content-type", "application/json")
        .header("X-Capacity-Timestamp", &ts)
        .header(
            "X-Capacity-Signature",
            sign(b"test-signal-secret", &ts, body.as_bytes()),
        )
        .body(body)
        .send()
        .await
        .unwrap();
    assert_eq!(signal.status().as_u16(), 202, "the signal is recorded");

    // CR-1's confirmation window runs out: a timer event.
    let (timeouts, _) = crate::timers::sweep(&h, "2026-12-10T22:00:00Z".parse().unwrap()).await;
    assert!(timeouts >= 1, "CR-1 timed out");

    let one = log_of(1).await;
    let from = |ack: &slack_emulator::Ack| vec![Some(ack.envelope_id.clone())];
    assert_eq!(envelope_ids(&one, EventKind::Submitted), from(&submitted));
    assert_eq!(
        envelope_ids(&one, EventKind::CommercialOwnerAssigned),
        from(&submitted),
        "every event of the submission"
    );
    assert_eq!(
        envelope_ids(&one, EventKind::CommercialApproved),
        from(&approved)
    );
    assert_eq!(
        envelope_ids(&one, EventKind::TechnicalApproved),
        from(&technical)
    );
    assert_eq!(
        envelope_ids(&one, EventKind::CustomerConfirmationTimeout),
        [None],
        "a timer has no envelope"
    );
    let two = log_of(2).await;
    assert_eq!(
        envelope_ids(&two, EventKind::CommercialRejected),
        from(&reason)
    );
    assert_ne!(rejected_click.envelope_id, reason.envelope_id);
    let three = store::events::events_of(&pool, ready).await.unwrap();
    assert_eq!(
        envelope_ids(&three, EventKind::Activated),
        [None],
        "a signal has no envelope"
    );
    h.stop().await;
}
