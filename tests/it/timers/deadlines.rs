//! TTL timeouts: the right minute in the configured zone, the DM that opens the cancellation
//! gate, what its buttons do, and extensions.

use capacity_bot::domain::testkit::*;
use capacity_bot::domain::{Actor, EventKind, State};
use capacity_bot::store::MIGRATOR;
use serde_json::json;
use sqlx::PgPool;

use super::*;

#[sqlx::test(migrator = "MIGRATOR")]
async fn a_confirmation_window_opened_before_christmas_expires_on_the_right_minute(pool: PgPool) {
    let mut h = Harness::start(pool).await;
    // Thursday 24 December 10:00 New York; the 25th and 1 January are holidays.
    h.clock.set(utc("2026-12-24T15:00:00Z"));
    let id = request_in(&h, Gate::CustomerConfirmation).await;
    let req = request(&h, id).await;
    // 5 business days: 28, 29, 30, 31 December and Monday 4 January, at 17:00 local.
    assert_eq!(req.deadline.unwrap().at, utc("2027-01-04T22:00:00Z"));

    // A minute before: no timeout (only the day's reminder, the first sweep since Christmas).
    assert_eq!(sweep(&h, utc("2027-01-04T21:59:00Z")).await, (0, 1));
    assert_eq!(
        request(&h, id).await.state,
        State::CustomerConfirmationRequired
    );

    sweep(&h, utc("2027-01-04T22:00:00Z")).await;
    let req = request(&h, id).await;
    assert_eq!(req.state, State::Expired);
    let timeouts = events_of(&h, id, EventKind::CustomerConfirmationTimeout).await;
    assert_eq!(timeouts.len(), 1);
    assert_eq!(timeouts[0].actor, Actor::Scheduler);
    assert_eq!(timeouts[0].occurred_at, utc("2027-01-04T22:00:00Z"));

    let n = req.number.0;
    h.root_showing(n, "Expired").await;
    let root = h.root(n).await;
    let thread = h.emu.thread(CHANNEL, &root.ts);
    assert!(
        thread
            .iter()
            .any(|m| m.render().contains("the customer did not confirm in time")),
        "the thread records the timeout"
    );
    assert_eq!(
        dms_about(&h, AE, n),
        [
            format!("Reminder 1: CR-{n} is waiting on a decision"),
            format!("CR-{n} has expired: the cancellation gate is yours")
        ]
    );
    h.stop().await;
}

#[sqlx::test(migrator = "MIGRATOR")]
async fn the_timeout_dm_opens_the_gate_and_each_button_does_what_the_table_says(pool: PgPool) {
    let mut h = Harness::start(pool).await;
    let confirm_late = request_in(&h, Gate::CustomerConfirmation).await;
    let cancel = request_in(&h, Gate::CustomerConfirmation).await;
    let extend = request_in(&h, Gate::Ready).await;
    let release = request_in(&h, Gate::Ready).await;
    // Confirmation deadlines fall on Thursday 10 December, activation on the 17th.
    assert_eq!(sweep(&h, utc("2026-12-10T22:00:00Z")).await.0, 2);
    assert_eq!(sweep(&h, utc("2026-12-17T22:00:00Z")).await.0, 2);

    let dm = |number: i64| {
        let text = format!("CR-{number} has expired");
        h.emu
            .dms(AE)
            .into_iter()
            .find(|m| m.text.contains(&text))
            .unwrap_or_else(|| panic!("no timeout DM for CR-{number}"))
    };
    // Late confirmation: only the owner or the requester; the AE's click from the DM counts.
    let n = request(&h, confirm_late).await.number.0;
    let gate = dm(n);
    for action in ["customer_confirmed", "ttl_extended", "cancel_approved"] {
        assert!(
            gate.action_ids().contains(&action.to_string()),
            "{action} on {:?}",
            gate.action_ids()
        );
    }
    let root = h.root(n).await;
    h.emu
        .click(STRANGER, CHANNEL, &root.ts, "customer_confirmed")
        .await
        .unwrap();
    let refusal = h.ephemeral_to(STRANGER, "*Customer confirmed*").await;
    assert!(
        refusal.contains("<@UAE>") && refusal.contains("<@UREQUESTER>"),
        "{refusal}"
    );
    assert_eq!(request(&h, confirm_late).await.state, State::Expired);
    h.emu
        .click(AE, &gate.channel, &gate.ts, "customer_confirmed")
        .await
        .unwrap();
    assert_eq!(
        request(&h, confirm_late).await.state,
        State::ProvisioningInProgress
    );

    // Cancel at the gate: the owner approves, nobody else may.
    let n = request(&h, cancel).await.number.0;
    let root = h.root(n).await;
    h.emu
        .click(INFRA, CHANNEL, &root.ts, "cancel_approved")
        .await
        .unwrap();
    let refusal = h.ephemeral_to(INFRA, "*Approve cancellation*").await;
    assert!(refusal.contains("<@UAE>"), "{refusal}");
    let gate = dm(n);
    h.emu
        .click(AE, &gate.channel, &gate.ts, "cancel_approved")
        .await
        .unwrap();
    assert_eq!(request(&h, cancel).await.state, State::Cancelled);

    // Extend: reopens the activation window from today.
    let n = request(&h, extend).await.number.0;
    let gate = dm(n);
    h.emu
        .click(AE, &gate.channel, &gate.ts, "ttl_extended")
        .await
        .unwrap();
    let view = h.emu.wait_for_view(AE, WAIT).await.unwrap();
    h.emu
        .submit_view(&view.id, AE, json!({"days": "2"}))
        .await
        .unwrap();
    let req = request(&h, extend).await;
    assert_eq!(req.state, State::ReadyForCustomer);
    assert_eq!(req.deadline.unwrap().at, utc("2026-12-21T22:00:00Z"));

    // Release: committed capacity is infra's to release, not the owner's.
    let n = request(&h, release).await.number.0;
    let gate = dm(n);
    // The AE's DM carries the AE's decisions only, not infra's release.
    let mut ids = gate.action_ids();
    ids.sort();
    assert_eq!(
        ids,
        ["activated", "cancel_approved", "ttl_extended"],
        "{}",
        gate.render()
    );
    let root = h.root(n).await;
    h.emu
        .click(AE, CHANNEL, &root.ts, "capacity_released")
        .await
        .unwrap();
    let refusal = h.ephemeral_to(AE, "*Release capacity*").await;
    assert!(refusal.contains("a member of infra"), "{refusal}");
    h.emu
        .click(INFRA, CHANNEL, &root.ts, "capacity_released")
        .await
        .unwrap();
    let req = request(&h, release).await;
    assert_eq!(req.state, State::Expired);
    assert!(req.capacity.released);
    h.stop().await;
}

#[sqlx::test(migrator = "MIGRATOR")]
async fn only_the_commercial_owner_extends_and_the_deadline_moves(pool: PgPool) {
    let mut h = Harness::start(pool).await;
    let id = request_in(&h, Gate::CustomerConfirmation).await;
    let n = request(&h, id).await.number.0;
    let root = h.root_showing(n, "Customer confirmation").await;
    for user in [STRANGER, REQUESTER] {
        h.emu
            .click(user, CHANNEL, &root.ts, "ttl_extended")
            .await
            .unwrap();
        let refusal = h.ephemeral_to(user, "*Extend deadline*").await;
        assert!(refusal.contains("Only <@UAE>"), "{refusal}");
    }
    assert!(
        h.emu.open_view(STRANGER).is_none(),
        "no modal for a refused click"
    );

    h.emu
        .click(AE, CHANNEL, &root.ts, "ttl_extended")
        .await
        .unwrap();
    let view = h.emu.wait_for_view(AE, WAIT).await.unwrap();
    h.emu
        .submit_view(&view.id, AE, json!({"days": "3"}))
        .await
        .unwrap();
    // Thursday 10th + 3 business days = Tuesday 15th, 17:00 New York.
    let req = request(&h, id).await;
    assert_eq!(req.deadline.unwrap().at, utc("2026-12-15T22:00:00Z"));
    let extended = events_of(&h, id, EventKind::TtlExtended).await;
    assert_eq!(extended.len(), 1);
    assert_eq!(extended[0].actor.user(), Some(&uid(AE)));

    assert_eq!(sweep(&h, utc("2026-12-10T22:00:00Z")).await.0, 0);
    assert_eq!(sweep(&h, utc("2026-12-15T21:59:00Z")).await.0, 0);
    assert_eq!(sweep(&h, utc("2026-12-15T22:00:00Z")).await.0, 1);
    assert_eq!(request(&h, id).await.state, State::Expired);
    h.stop().await;
}

#[sqlx::test(migrator = "MIGRATOR")]
async fn the_daemons_cron_job_sweeps_on_its_own(pool: PgPool) {
    let every_second = |team: &str| {
        format!(
            "{}\n[scheduler]\nsweep = \"* * * * * *\"\nreminder_sweep = \"* * * * * *\"\n",
            settings_toml(team)
        )
    };
    let mut h = Harness::start_with(pool, emulator_config(), every_second, t0()).await;
    let id = request_in(&h, Gate::CustomerConfirmation).await;
    let n = request(&h, id).await.number.0;
    // No sweep call: the daemon's own job notices the clock passing the deadline.
    h.clock.set(utc("2026-12-10T22:00:00Z"));
    h.emu
        .wait_for_dm(
            AE,
            |m| m.text.contains(&format!("CR-{n} has expired")),
            WAIT,
        )
        .await
        .expect("the cron job timed the request out");
    settle(&h).await;
    assert_eq!(
        events_of(&h, id, EventKind::CustomerConfirmationTimeout)
            .await
            .len(),
        1
    );
    h.stop().await;
}

/// An expired request with committed capacity: the owner's DM gets them out in one click
/// that works (no cancellation request they could not then approve), and the cancelled
/// request then waits on infra to release the capacity, in `/capacity list waiting` too.
#[sqlx::test(migrator = "MIGRATOR")]
async fn the_owner_leaves_an_expired_committed_request_in_one_click(pool: PgPool) {
    let mut h = Harness::start(pool).await;
    let id = request_in(&h, Gate::Ready).await;
    assert!(request(&h, id).await.capacity.is_committed());
    assert_eq!(sweep(&h, utc("2026-12-17T22:00:00Z")).await.0, 1);
    let n = request(&h, id).await.number.0;
    let gate = h
        .emu
        .dms(AE)
        .into_iter()
        .find(|m| m.text.contains(&format!("CR-{n} has expired")))
        .expect("the timeout DM");
    let ids = gate.action_ids();
    assert!(
        !ids.contains(&"cancel_requested".to_string()),
        "no request the owner could not approve: {ids:?}"
    );
    h.emu
        .click(AE, &gate.channel, &gate.ts, "cancel_approved")
        .await
        .unwrap();
    let req = request(&h, id).await;
    assert_eq!(req.state, State::Cancelled, "one click");
    assert!(req.capacity.is_committed(), "infra still has to release it");
    assert!(h.emu.ephemerals(AE).is_empty(), "nothing refused");

    let ack = h
        .emu
        .slash_command(INFRA, "/capacity", "list waiting", CHANNEL)
        .await
        .expect("acked");
    let listed = ack.text().expect("a reply").to_string();
    assert!(
        listed.contains(&format!("CR-{n} ·")),
        "a cancelled request waiting for its release is listed: {listed}"
    );
    h.stop().await;
}
