//! Away, snooze, nudge and break-glass through the socket: `/capacity away|back|snooze|
//! nudge|force|review` against the real daemon, the emulator and Postgres.

use std::sync::Arc;

use capacity_bot::app::Daemon;
use capacity_bot::domain::testkit::*;
use capacity_bot::domain::{Actor, EventKind, State};
use capacity_bot::scheduler::{
    sweep_absences, sweep_owners, sweep_reminders, sweep_reviews, OWNER_RECHECK_HOURS,
};
use capacity_bot::store::MIGRATOR;
use chrono::Duration;
use slack_emulator::{EmulatorConfig, Fault};
use sqlx::PgPool;

use crate::support::harness::*;
use crate::timers::{dms_about, events_of, request, request_in, settle, settle_with, utc, Gate};

/// A second admin, so one can force and another review.
const ADMIN2: &str = "UADMINTWO";

fn config() -> EmulatorConfig {
    emulator_config().with_user(ADMIN2, "ada", "ada")
}

fn toml(team: &str) -> String {
    settings_toml(team).replace(
        &format!("admins = [\"{ADMIN}\"]"),
        &format!("admins = [\"{ADMIN}\", \"{ADMIN2}\"]"),
    )
}

async fn start(pool: PgPool) -> Harness {
    Harness::start_with(pool, config(), toml, t0()).await
}

async fn replica(h: &Harness) -> Daemon {
    let settings = settings_for(&h.emu, &toml(h.emu.team_id()));
    Daemon::start(
        settings,
        h.pool.clone(),
        Arc::new(h.clock.clone()),
        fast_options(),
    )
    .await
    .expect("the second daemon starts")
}

/// `user` runs `/capacity <text>`; returns the ephemeral answer.
async fn slash(h: &Harness, user: &str, text: &str) -> String {
    let ack = h
        .emu
        .slash_command(user, "/capacity", text, CHANNEL)
        .await
        .unwrap_or_else(|e| panic!("{user} /capacity {text}: {e}"));
    let payload = ack.payload.unwrap_or_else(|| panic!("no answer to {text}"));
    assert_eq!(payload["response_type"], "ephemeral", "{payload}");
    payload["text"].as_str().expect("text").to_string()
}

async fn count(h: &Harness, sql: &str) -> i64 {
    sqlx::query_scalar(sqlx::AssertSqlSafe(sql.to_string()))
        .fetch_one(&h.pool)
        .await
        .expect("count")
}

async fn absences(h: &Harness) -> i64 {
    count(h, "SELECT count(*) FROM capacity.absences").await
}

/// The people `capacity.absences_active` (kept by a trigger on the record) says are away.
async fn active(h: &Harness) -> Vec<String> {
    sqlx::query_scalar("SELECT user_id FROM capacity.absences_active ORDER BY user_id")
        .fetch_all(&h.pool)
        .await
        .expect("active absences")
}

#[sqlx::test(migrator = "MIGRATOR")]
async fn away_delegates_every_owned_request_and_back_returns_them(pool: PgPool) {
    let mut h = start(pool).await;
    let first = request_in(&h, Gate::CustomerConfirmation).await;
    let second = request_in(&h, Gate::Ready).await;

    let text = slash(&h, AE, &format!("away <@{STRANGER}|sam> until 2026-12-10")).await;
    assert!(text.contains("away until Thu 10 Dec 2026"), "{text}");
    assert!(text.contains("CR-1, CR-2"), "{text}");
    assert_eq!(active(&h).await, [AE]);
    // Going away again replaces the absence: still one active.
    let text = slash(&h, AE, &format!("away <@{STRANGER}|sam> until 2026-12-10")).await;
    assert!(text.contains("away until Thu 10 Dec 2026"), "{text}");
    assert_eq!(active(&h).await, [AE]);
    for id in [first, second] {
        let delegated = events_of(&h, id, EventKind::DecisionDelegated).await;
        assert_eq!(delegated.len(), 1);
        assert_eq!(delegated[0].actor.user(), Some(&uid(AE)));
    }
    settle(&h).await;
    // The root names the delegate, who now decides.
    let root = h.root_showing(1, &format!("Waiting on @{STRANGER}")).await;
    assert!(root.render().contains("is away until"), "{}", root.render());
    let thread = h.thread_len(&root, 3).await;
    let texts: Vec<String> = thread.iter().map(|m| m.render()).collect();
    assert!(
        texts
            .iter()
            .any(|t| t.contains(&format!("@{STRANGER} decides for them"))),
        "the thread explains the delegation: {texts:#?}"
    );

    // Reminders go to the delegate, not to the one away.
    h.clock.set(utc("2026-12-04T15:00:00Z"));
    let s = &h.daemon().sweeper;
    sweep_reminders(s, utc("2026-12-04T15:00:00Z"))
        .await
        .expect("sweep");
    settle(&h).await;
    assert_eq!(dms_about(&h, STRANGER, 1).len(), 1);
    assert!(dms_about(&h, AE, 1).is_empty());

    // The delegate decides with the root's button.
    let root = h.root(1).await;
    h.emu
        .click(STRANGER, CHANNEL, &root.ts, "customer_confirmed")
        .await
        .expect("click");
    h.root_showing(1, "Provisioning in progress").await;

    let text = slash(&h, AE, "back").await;
    assert!(text.contains("Welcome back"), "{text}");
    for id in [first, second] {
        let returned = events_of(&h, id, EventKind::DecisionReturned).await;
        assert_eq!(returned.len(), 1, "one return per request");
        assert!(request(&h, id).await.attention.delegations.is_empty());
    }
    assert_eq!(
        count(
            &h,
            "SELECT count(*) FROM capacity.absences WHERE kind = 'back'"
        )
        .await,
        2
    );
    assert!(active(&h).await.is_empty());
    let text = slash(&h, AE, "back").await;
    assert!(text.contains("not marked away"), "{text}");
    h.stop().await;
}

#[sqlx::test(migrator = "MIGRATOR")]
async fn bad_away_input_is_refused_and_records_nothing(pool: PgPool) {
    let mut h = start(pool).await;
    let id = request_in(&h, Gate::CustomerConfirmation).await;
    let events = h.events().await;

    for (text, expected) in [
        ("away alex until 2026-12-10", "not a mention"),
        ("away <@nobody> until 2026-12-10", "not a mention"),
        (
            &*format!("away <@{STRANGER}> until 10/12/2026"),
            "not a date",
        ),
        (
            &*format!("away <@{STRANGER}> until 2026-12-02"),
            "in the past",
        ),
        (&*format!("away <@{AE}|alex> until 2026-12-10"), "yourself"),
        (
            "away <@UOUTSIDER|x> until 2026-12-10",
            "not a member of this workspace",
        ),
        ("away", "Use `/capacity away"),
    ] {
        let answer = slash(&h, AE, text).await;
        assert!(answer.contains(expected), "{text}: {answer}");
    }
    assert_eq!(absences(&h).await, 0);
    assert_eq!(h.events().await, events);

    // A delegate who is away themselves.
    slash(&h, FINANCE, &format!("away <@{APPROVER}> until 2026-12-11")).await;
    let answer = slash(&h, AE, &format!("away <@{FINANCE}|fin> until 2026-12-10")).await;
    assert!(answer.contains("away themselves"), "{answer}");
    // A delegate whose account is deactivated (users.info says `deleted`).
    h.emu.deactivate_user(BOTH).await.expect("acked");
    let answer = slash(&h, AE, &format!("away <@{BOTH}|bo> until 2026-12-10")).await;
    assert!(answer.contains("deactivated"), "{answer}");
    assert_eq!(absences(&h).await, 1);
    assert!(events_of(&h, id, EventKind::DecisionDelegated)
        .await
        .is_empty());
    h.stop().await;
}

#[sqlx::test(migrator = "MIGRATOR")]
async fn a_delegate_who_requested_the_request_does_not_get_it(pool: PgPool) {
    let mut h = start(pool).await;
    let id = request_in(&h, Gate::CustomerConfirmation).await;
    let answer = slash(
        &h,
        AE,
        &format!("away <@{REQUESTER}|rita> until 2026-12-10"),
    )
    .await;
    assert!(
        answer.contains("CR-1: <@UREQUESTER> requested CR-1"),
        "{answer}"
    );
    assert!(events_of(&h, id, EventKind::DecisionDelegated)
        .await
        .is_empty());
    h.stop().await;
}

#[sqlx::test(migrator = "MIGRATOR")]
async fn an_absence_ends_on_its_date_once_with_two_replicas(pool: PgPool) {
    let mut h = start(pool).await;
    let other = replica(&h).await;
    h.emu
        .wait_connected(4, WAIT)
        .await
        .expect("both daemons connect");
    let id = request_in(&h, Gate::CustomerConfirmation).await;
    slash(&h, AE, &format!("away <@{STRANGER}|sam> until 2026-12-04")).await;

    // Friday is still away; from Saturday (New York) the absence has ended.
    let mut t = utc("2026-12-04T20:00:00Z");
    while t <= utc("2026-12-05T12:00:00Z") {
        h.clock.set(t);
        let (a, b) = (&h.daemon().sweeper, &other.sweeper);
        let (x, y) = tokio::join!(sweep_absences(a, t), sweep_absences(b, t));
        x.expect("sweep a");
        y.expect("sweep b");
        // Deliver before the clock jumps an hour: a lease taken at `t` would otherwise run
        // out mid-delivery and the other replica would rightly deliver the row again.
        settle_with(&h, &[&h.daemon().deliverer, &other.deliverer]).await;
        if t < utc("2026-12-05T05:00:00Z") {
            assert!(events_of(&h, id, EventKind::DecisionReturned)
                .await
                .is_empty());
        }
        t += Duration::hours(1);
    }
    settle_with(&h, &[&h.daemon().deliverer, &other.deliverer]).await;
    other.shutdown().await;
    let returned = events_of(&h, id, EventKind::DecisionReturned).await;
    assert_eq!(returned.len(), 1, "returned once");
    assert_eq!(returned[0].actor, Actor::Scheduler);
    assert_eq!(
        count(
            &h,
            "SELECT count(*) FROM capacity.absences WHERE kind = 'back'"
        )
        .await,
        1
    );
    assert!(active(&h).await.is_empty(), "ended once, by one replica");
    h.root_showing(1, &format!("Waiting on @{AE}")).await;
    let root = h.root(1).await;
    let ended: Vec<String> = h
        .emu
        .thread(CHANNEL, &root.ts)
        .iter()
        .filter(|m| m.render().contains("absence has ended"))
        .map(|m| format!("{} {}", m.ts, m.render()))
        .collect();
    assert_eq!(ended.len(), 1, "{ended:#?}");
    h.stop().await;
}

#[sqlx::test(migrator = "MIGRATOR")]
async fn the_owner_snoozes_reminders_within_the_limit(pool: PgPool) {
    let mut h = start(pool).await;
    request_in(&h, Gate::Ready).await;

    let answer = slash(&h, AE, "snooze CR-1 4 launch week").await;
    assert!(answer.contains("1 to 3 business days"), "{answer}");
    let answer = slash(&h, AE, "snooze CR-1 2").await;
    assert!(answer.contains("reason is required"), "{answer}");
    let answer = slash(&h, REQUESTER, "snooze CR-1 2 busy").await;
    assert!(answer.contains("Only <@UAE>"), "{answer}");
    let answer = slash(&h, AE, "snooze CR-9 2 busy").await;
    assert!(answer.contains("CR-9 does not exist"), "{answer}");

    let answer = slash(&h, AE, "snooze CR-1 2 launch week").await;
    assert!(answer.contains("snoozed until Tue 8 Dec 09:00"), "{answer}");
    settle(&h).await;
    let root = h.root_showing(1, "Reminders snoozed until").await;
    // A snooze makes no button stale.
    let values: Vec<i32> = root
        .blocks
        .as_array()
        .unwrap()
        .iter()
        .flat_map(|b| b["elements"].as_array().cloned().unwrap_or_default())
        .filter_map(|e| {
            e["value"]
                .as_str()
                .and_then(|v| capacity_bot::render::action_value::decode(v).ok())
        })
        .map(|v| v.version)
        .collect();
    assert!(
        !values.is_empty() && values.iter().all(|v| *v == 6),
        "{values:?}"
    );

    // Friday and Monday pass without a reminder; Tuesday's comes.
    for (at, expected) in [
        ("2026-12-04T15:00:00Z", 0),
        ("2026-12-07T15:00:00Z", 0),
        ("2026-12-08T15:00:00Z", 1),
    ] {
        h.clock.set(utc(at));
        sweep_reminders(&h.daemon().sweeper, utc(at))
            .await
            .expect("sweep");
        settle(&h).await;
        assert_eq!(dms_about(&h, AE, 1).len(), expected, "at {at}");
    }
    h.stop().await;
}

#[sqlx::test(migrator = "MIGRATOR")]
async fn the_requester_nudges_once_a_business_day(pool: PgPool) {
    let mut h = start(pool).await;
    let id = request_in(&h, Gate::CustomerConfirmation).await;
    let answer = slash(&h, AE, "nudge CR-1").await;
    assert!(answer.contains("Only <@UREQUESTER>"), "{answer}");

    let answer = slash(&h, REQUESTER, "nudge CR-1").await;
    assert!(answer.contains(&format!("Nudged <@{AE}>")), "{answer}");
    settle(&h).await;
    let dm = h
        .emu
        .dms(AE)
        .into_iter()
        .find(|m| m.render().contains("Nudge"))
        .expect("a nudge DM");
    assert!(
        action_ids(&dm).contains(&"customer_confirmed".to_string()),
        "the decision's buttons: {:?}",
        action_ids(&dm)
    );
    let answer = slash(&h, REQUESTER, "nudge CR-1").await;
    assert!(
        answer.contains("already nudged") && answer.contains("Fri 4 Dec 09:00 EST"),
        "{answer}"
    );
    assert_eq!(events_of(&h, id, EventKind::OwnerNudged).await.len(), 1);
    // The DM's button works like the root's.
    h.emu
        .click(AE, &dm.channel, &dm.ts, "customer_confirmed")
        .await
        .expect("click");
    h.root_showing(1, "Provisioning in progress").await;
    h.stop().await;
}

#[sqlx::test(migrator = "MIGRATOR")]
async fn bad_forced_transitions_are_refused(pool: PgPool) {
    let mut h = start(pool).await;
    request_in(&h, Gate::CustomerConfirmation).await;
    let events = h.events().await;
    for (user, text, expected) in [
        (INFRA, "force CR-1 ACTIVATED outage", "Only"),
        (ADMIN, "force CR-1 ACTIVATED", "reason is required"),
        (ADMIN, "force CR-1 LIMBO outage", "STATE is one of"),
        (
            ADMIN,
            "force CR-1 CUSTOMER_CONFIRMATION_REQUIRED outage",
            "already CUSTOMER_CONFIRMATION_REQUIRED",
        ),
    ] {
        let answer = slash(&h, user, text).await;
        assert!(answer.contains(expected), "{text}: {answer}");
    }
    assert_eq!(h.events().await, events);
    slash(&h, ADMIN, "force CR-1 CANCELLED customer walked away").await;
    let answer = slash(&h, ADMIN, "force CR-1 ACTIVATED outage").await;
    assert!(answer.contains("not possible"), "{answer}");
    h.stop().await;
}

#[sqlx::test(migrator = "MIGRATOR")]
async fn break_glass_is_marked_and_reviewed_with_reminders_sent_once_by_two_replicas(pool: PgPool) {
    let mut h = start(pool).await;
    let other = replica(&h).await;
    h.emu
        .wait_connected(4, WAIT)
        .await
        .expect("both daemons connect");
    let id = request_in(&h, Gate::CommercialApproval).await;

    let answer = slash(
        &h,
        ADMIN,
        "force CR-1 provisioning_in_progress outage in us-east-1, approvals follow",
    )
    .await;
    assert!(answer.contains("forced"), "{answer}");
    let req = request(&h, id).await;
    assert_eq!(req.state, State::ProvisioningInProgress);
    settle(&h).await;
    let root = h.root_showing(1, "Forced").await;
    assert!(
        root.render().contains("Awaiting review"),
        "{}",
        root.render()
    );
    assert!(h
        .emu
        .thread(CHANNEL, &root.ts)
        .iter()
        .any(|m| m.render().contains("Forced") && m.render().contains("outage in us-east-1")));

    // Both replicas sweep every hour from Friday to Monday night.
    let mut t = utc("2026-12-04T13:00:00Z");
    while t <= utc("2026-12-08T02:00:00Z") {
        h.clock.set(t);
        let (a, b) = (&h.daemon().sweeper, &other.sweeper);
        let (x, y) = tokio::join!(sweep_reviews(a, t), sweep_reviews(b, t));
        x.expect("sweep a");
        y.expect("sweep b");
        // Deliver before the clock jumps an hour (a lease taken at `t` would run out).
        settle_with(&h, &[&h.daemon().deliverer, &other.deliverer]).await;
        t += Duration::hours(1);
    }
    settle_with(&h, &[&h.daemon().deliverer, &other.deliverer]).await;
    let reviews = |user: &str| {
        h.emu
            .dms(user)
            .into_iter()
            .filter(|m| m.text.contains("needs a break-glass review"))
            .count()
    };
    assert_eq!(reviews(ADMIN2), 2, "Friday and Monday, once each");
    assert_eq!(reviews(ADMIN), 0, "never the admin who forced it");

    let answer = slash(&h, ADMIN, "review CR-1").await;
    assert!(answer.contains("another admin must review"), "{answer}");
    // The other admin reviews from the DM's button.
    let dm = h.emu.dms(ADMIN2).into_iter().last().expect("a review DM");
    h.emu
        .click(ADMIN2, &dm.channel, &dm.ts, "forced_transition_reviewed")
        .await
        .expect("click");
    h.root_showing(1, &format!("Reviewed by @{ADMIN2}")).await;
    let at = utc("2026-12-08T15:00:00Z");
    h.clock.set(at);
    let (x, y) = tokio::join!(
        sweep_reviews(&h.daemon().sweeper, at),
        sweep_reviews(&other.sweeper, at)
    );
    assert_eq!((x.expect("a"), y.expect("b")), (0, 0));
    other.shutdown().await;
    h.stop().await;
}

#[sqlx::test(migrator = "MIGRATOR")]
async fn a_deactivated_owner_is_flagged_and_an_admin_reassigns_in_one_choice(pool: PgPool) {
    let mut h = start(pool).await;
    let id = request_in(&h, Gate::CustomerConfirmation).await;
    let other = request_in(&h, Gate::TechnicalReview).await;
    // Another member's account going away changes nothing here.
    h.emu.deactivate_user(STRANGER).await.expect("acked");

    let ack = h.emu.deactivate_user(AE).await.expect("acked");
    assert_eq!(ack.payload, None);
    let flagged = events_of(&h, id, EventKind::OwnerDeactivated).await;
    assert_eq!(flagged.len(), 1);
    assert_eq!(
        events_of(&h, other, EventKind::OwnerDeactivated)
            .await
            .len(),
        1
    );
    settle(&h).await;
    let root = h.root_showing(1, "account is deactivated").await;
    assert!(
        root.render()
            .contains(&format!("Waiting on an admin (@{ADMIN}, @{ADMIN2})")),
        "{}",
        root.render()
    );
    // Both admins are told, each with a picker.
    for admin in [ADMIN, ADMIN2] {
        assert_eq!(
            h.emu
                .dms(admin)
                .iter()
                .filter(|m| m.text.contains("CR-1: an owner's account is deactivated"))
                .count(),
            1,
            "{admin}"
        );
    }
    let dm = h
        .emu
        .dms(ADMIN2)
        .into_iter()
        .find(|m| m.text.contains("CR-1:"))
        .expect("the DM about CR-1");

    // A non-admin cannot use the picker; an admin's one choice reassigns.
    h.emu
        .select_user(STRANGER, &dm.channel, &dm.ts, "owner_reassigned", STRANGER)
        .await
        .expect("acked");
    h.ephemeral_to(STRANGER, "Only").await;
    h.emu
        .select_user(ADMIN2, &dm.channel, &dm.ts, "owner_reassigned", APPROVER)
        .await
        .expect("acked");
    let root = h.root_showing(1, &format!("Waiting on @{APPROVER}")).await;
    assert!(
        !root.render().contains("account is deactivated"),
        "{}",
        root.render()
    );
    let req = request(&h, id).await;
    assert_eq!(req.commercial_owner, Some(uid(APPROVER)));

    // Slack redelivers the event: nothing more is recorded.
    let events = h.events().await;
    h.emu.deactivate_user(AE).await.expect("acked");
    assert_eq!(h.events().await, events);
    h.stop().await;
}

/// `users.info` lookups of `user` so far.
fn lookups(h: &Harness, user: &str) -> usize {
    h.emu
        .calls("users.info")
        .iter()
        .filter(|c| c.params["user"] == user)
        .count()
}

#[sqlx::test(migrator = "MIGRATOR")]
async fn an_owner_deactivated_without_the_event_is_found_by_the_owner_sweep_once_with_two_replicas(
    pool: PgPool,
) {
    let mut h = start(pool).await;
    let other = replica(&h).await;
    h.emu
        .wait_connected(4, WAIT)
        .await
        .expect("both daemons connect");
    let id = request_in(&h, Gate::CustomerConfirmation).await;
    settle(&h).await;
    let t = t0() + Duration::hours(1);
    h.clock.set(t);

    // Both replicas sweep while every owner is active: each owner is looked up once.
    let (a, b) = (&h.daemon().sweeper, &other.sweeper);
    let (x, y) = tokio::join!(sweep_owners(a, t), sweep_owners(b, t));
    assert_eq!((x.expect("sweep a"), y.expect("sweep b")), (0, 0));
    assert_eq!(lookups(&h, AE), 1, "one replica asked about the AE");

    // The account is deactivated while nobody listens: no `user_change` reaches the daemon.
    h.emu.deactivate_user_silently(AE).expect("a seeded user");
    let later = t + Duration::hours(1);
    h.clock.set(later);
    let (x, y) = tokio::join!(sweep_owners(a, later), sweep_owners(b, later));
    assert_eq!(
        (x.expect("a"), y.expect("b")),
        (0, 0),
        "looked up an hour ago"
    );
    assert_eq!(lookups(&h, AE), 1);
    assert!(events_of(&h, id, EventKind::OwnerDeactivated)
        .await
        .is_empty());

    // Once the period has passed, one replica asks again and flags the request, once.
    let due = t + Duration::hours(OWNER_RECHECK_HOURS);
    h.clock.set(due);
    let (x, y) = tokio::join!(sweep_owners(a, due), sweep_owners(b, due));
    assert!(x.expect("a") + y.expect("b") <= 1);
    assert_eq!(lookups(&h, AE), 2, "one replica asked about the AE again");
    let flagged = events_of(&h, id, EventKind::OwnerDeactivated).await;
    assert_eq!(flagged.len(), 1, "flagged once");
    assert_eq!(flagged[0].actor, Actor::Scheduler);
    settle_with(&h, &[&h.daemon().deliverer, &other.deliverer]).await;
    h.root_showing(1, "account is deactivated").await;
    for admin in [ADMIN, ADMIN2] {
        assert_eq!(
            h.emu
                .dms(admin)
                .iter()
                .filter(|m| m.text.contains("CR-1: an owner's account is deactivated"))
                .count(),
            1,
            "{admin} is told once"
        );
    }

    // The next period's sweep asks again but records nothing more; nor does the event,
    // should Slack deliver it late.
    let events = h.events().await;
    let next = due + Duration::hours(OWNER_RECHECK_HOURS);
    h.clock.set(next);
    let (x, y) = tokio::join!(sweep_owners(a, next), sweep_owners(b, next));
    assert_eq!((x.expect("a"), y.expect("b")), (0, 0));
    assert_eq!(lookups(&h, AE), 3);
    h.emu.deactivate_user(AE).await.expect("acked");
    assert_eq!(h.events().await, events);
    settle_with(&h, &[&h.daemon().deliverer, &other.deliverer]).await;
    assert_eq!(
        h.emu
            .dms(ADMIN)
            .iter()
            .filter(|m| m.text.contains("CR-1: an owner's account is deactivated"))
            .count(),
        1
    );
    other.shutdown().await;
    h.stop().await;
}

#[sqlx::test(migrator = "MIGRATOR")]
async fn an_owner_lookup_that_fails_is_retried_by_the_next_owner_sweep(pool: PgPool) {
    let mut h = start(pool).await;
    let id = request_in(&h, Gate::CustomerConfirmation).await;
    h.emu.deactivate_user_silently(AE).expect("a seeded user");
    let t = t0() + Duration::hours(1);
    h.clock.set(t);
    let s = &h.daemon().sweeper;

    // Slack rate-limits the first lookup: the run stops and gives its people back.
    h.emu.fail_next("users.info", 1, Fault::rate_limited(1));
    assert_eq!(sweep_owners(s, t).await.expect("sweep"), 0);
    assert!(events_of(&h, id, EventKind::OwnerDeactivated)
        .await
        .is_empty());

    // The next run, minutes later and well inside the period, asks again.
    let next = t + Duration::minutes(10);
    h.clock.set(next);
    assert_eq!(sweep_owners(s, next).await.expect("sweep"), 1);
    assert_eq!(
        events_of(&h, id, EventKind::OwnerDeactivated).await.len(),
        1
    );
    h.stop().await;
}
