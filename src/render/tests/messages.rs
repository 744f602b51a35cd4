//! What the messages say: owners, due dates, cost at risk, reasons, keys, refusals.

use chrono::{DateTime, Utc};

use super::scenarios::{all_states, roles, Inputs, Story};
use super::{all_text, links};
use crate::config::Roles;
use crate::domain::testkit::{submission, uid, Play, AE, APPROVER, STRANGER};
use crate::domain::Links;
use crate::domain::{Actor, Command, Event, Party, Policy, Refusal, Role, State};
use crate::render::dm::{decision_dm, DmReason};
use crate::render::ephemeral::{
    conflict_text, help_text, list_text, refusal_text, status_text, ListScope,
};
use crate::render::root::root_message;
use crate::render::thread::thread_reply;

fn story(name: &str) -> Story {
    all_states(&Inputs::plain())
        .into_iter()
        .find(|(n, _)| *n == name)
        .map(|(_, s)| s)
        .unwrap_or_else(|| panic!("no scenario {name}"))
}

fn root_text(s: &Story, now: DateTime<Utc>) -> String {
    all_text(&root_message(
        s.req(),
        &links(),
        &s.play.policy,
        &roles(),
        now,
    ))
}

fn last_reply(s: &Story, kind: crate::domain::EventKind) -> String {
    let (event, after) = s
        .recorded
        .iter()
        .rev()
        .find(|(e, _)| e.event.kind() == kind)
        .unwrap_or_else(|| panic!("no {kind} recorded"));
    all_text(&thread_reply(
        after,
        event,
        &roles(),
        &s.play.policy,
        s.now(),
    ))
}

#[test]
fn the_root_message_names_the_owner_and_due_date_in_local_time() {
    let s = story("customer_confirmation");
    // t0 is Thursday 3 Dec 2026, 10:00 in New York; five business days later at 17:00.
    let text = root_text(&s, s.now());
    assert!(
        text.contains("Waiting on <@UAE> — customer confirmation, due Thu 10 Dec 17:00 EST"),
        "{text}"
    );
    assert!(text.contains("CR-12 · Acme Corp · 16XL → 48XL · us-east-1"));
    assert!(text.contains("CR-12 · updated "), "{text}");
    assert!(
        !text.contains("version"),
        "people are not shown versions: {text}"
    );
    assert!(text.contains("<https://linear.app/acme/issue/INF-42|Linear issue>"));
    let no_linear = all_text(&root_message(
        s.req(),
        &Links::default(),
        &s.play.policy,
        &roles(),
        s.now(),
    ));
    assert!(!no_linear.contains("Linear issue"));
}

#[test]
fn committed_capacity_shows_cost_at_risk_and_who_stops_it() {
    let s = story("provisioning");
    let later = s.now() + chrono::Duration::days(15);
    let text = root_text(&s, later);
    // The root stays up for weeks: it shows the start and the rate, never a total that
    // would freeze at the last edit ($10,000 a month is $333.33 a day).
    assert!(text.contains("at risk *$333.33 a day*"), "{text}");
    assert!(!text.contains("so far"), "{text}");
    // Read when sent, status has the running total: 15 days (and the story's minutes).
    let status = status_text(s.req(), &links(), &s.play.policy, &roles(), later);
    assert!(status.contains("Cost at risk so far: *$5,0"), "{status}");
    assert!(text.contains("Stopping it is up to <@UAE>"), "{text}");
    let s = story("cancelled_committed");
    let text = root_text(&s, s.now());
    assert!(
        text.contains("Stopping it is up to a member of infra (<!subteam^S0INFRA>, <@UINFRA>)"),
        "{text}"
    );
    let s = story("cancelled_released");
    assert!(root_text(&s, s.now()).contains("Capacity released on"));
}

#[test]
fn a_pending_cancellation_shows_its_reason_and_deciders() {
    let s = story("provisioning_pending_cancellation");
    let text = root_text(&s, s.now());
    assert!(
        text.contains("*Cancellation requested* by <@UREQUESTER>"),
        "{text}"
    );
    assert!(text.contains(">Customer changed plans"), "{text}");
    assert!(
        text.contains("<@UAE> or a commercial approver (<!subteam^S0SALESLEAD>, <@UAPPROVER>) must approve or deny"),
        "{text}"
    );
}

#[test]
fn ended_requests_show_how_they_ended() {
    let s = story("cancelled_commercially");
    let text = root_text(&s, s.now());
    assert!(text.contains("*Cancelled* on"), "{text}");
    assert!(text.contains(">Customer changed plans"), "{text}");
    let s = story("activated");
    assert!(root_text(&s, s.now()).contains("until activation on"));
}

#[test]
fn finance_keys_are_shown_and_told_apart_in_the_thread() {
    let s = story("technical_review_finance");
    let text = root_text(&s, s.now());
    assert!(text.contains("Commercial key: <@UAE> ✓"), "{text}");
    assert!(text.contains("Finance key: <@UFINANCE> ✓"), "{text}");
    let replies: Vec<String> = s
        .recorded
        .iter()
        .filter(|(e, _)| matches!(e.event, Event::CommercialApproved { .. }))
        .map(|(e, after)| all_text(&thread_reply(after, e, &roles(), &s.play.policy, s.now())))
        .collect();
    assert_eq!(replies.len(), 2);
    assert!(
        replies[0].contains("<@UAE> gave the commercial key"),
        "{}",
        replies[0]
    );
    assert!(replies[0]
        .contains("The other key must come from a finance approver (<!subteam^S0FINANCE>"));
    assert!(
        replies[1].contains("<@UFINANCE> gave the finance key"),
        "{}",
        replies[1]
    );
    assert!(replies[1].contains("both keys are in"));
    assert!(replies[1].contains("Now *Technical review required*"));
}

#[test]
fn thread_replies_say_who_did_what_and_quote_the_reason() {
    let s = story("cancelled_technically");
    let text = last_reply(&s, crate::domain::EventKind::TechnicalRejected);
    assert!(
        text.contains("<@UINFRA> rejected the request technically."),
        "{text}"
    );
    assert!(text.contains(">Customer changed plans"), "{text}");
    assert!(text.contains("Now *Cancelled*"), "{text}");
    let s = story("expired_confirmation");
    let text = last_reply(&s, crate::domain::EventKind::CustomerConfirmationTimeout);
    assert!(
        text.contains("The scheduler expired the request: the customer did not confirm in time."),
        "{text}"
    );
    assert!(
        text.contains("Now *Expired*. Waiting on <@UAE> — cancellation gate."),
        "{text}"
    );
    let (event, after) = s
        .recorded
        .iter()
        .rev()
        .find(|(e, _)| e.actor == Actor::Scheduler && e.event == Event::CustomerConfirmationTimeout)
        .unwrap();
    let reply = thread_reply(after, event, &roles(), &s.play.policy, s.now());
    assert_eq!(
        reply.text.as_deref(),
        Some("CR-12: The scheduler expired the request: the customer did not confirm in time.")
    );
    let s = story("activated");
    let text = last_reply(&s, crate::domain::EventKind::Activated);
    assert!(
        text.contains("The control plane recorded activation"),
        "{text}"
    );
}

#[test]
fn an_escalation_calls_out_the_decision_owners() {
    let s = story("technical_review");
    let text = last_reply(&s, crate::domain::EventKind::ReminderSent);
    // Technical review has no deadline, so nothing is "Overdue": it is escalated.
    assert!(text.contains("*Escalated:*"), "{text}");
    assert!(!text.contains("Overdue"), "{text}");
    assert!(
        text.contains("waiting on a member of infra (<!subteam^S0INFRA>, <@UINFRA>)"),
        "{text}"
    );
    // The fallback text carries the mentions too, so the notification pings.
    let (event, after) = s.recorded.last().unwrap();
    let reply = thread_reply(after, event, &roles(), &s.play.policy, s.now());
    assert!(reply.text.unwrap().contains("<!subteam^S0INFRA>"));
}

#[test]
fn the_timeout_dm_is_the_cancellation_gate() {
    let s = story("expired_confirmation_committed");
    let dm = decision_dm(
        s.req(),
        DmReason::TimedOut,
        Some("https://acme.slack.com/archives/C1/p1"),
        &s.play.policy,
        &roles(),
        s.now(),
    );
    let text = all_text(&dm);
    assert!(
        text.contains("customer confirmation window closed on"),
        "{text}"
    );
    assert!(
        text.contains("*Approve cancellation* closes the request"),
        "{text}"
    );
    assert!(text.contains("*Extend deadline*"), "{text}");
    assert!(text.contains("Cost at risk so far"), "{text}");
    assert!(text.contains("<https://acme.slack.com/archives/C1/p1|Open the thread of CR-12>"));
    let reminder = all_text(&decision_dm(
        s.req(),
        DmReason::Reminder { nth: 2 },
        Some("javascript:alert(1)"),
        &s.play.policy,
        &roles(),
        s.now(),
    ));
    assert!(reminder.contains("*Reminder 2*"));
    assert!(!reminder.contains("javascript"));
}

#[test]
fn refusals_name_configured_members() {
    let mut play = Play::submitted(10_000);
    let refusal = play.refused(STRANGER, Command::CommercialApproved);
    let text = refusal_text(&refusal, &roles());
    assert!(text.starts_with("Only <@UAE> or a commercial approver (<!subteam^S0SALESLEAD>, <@UAPPROVER>) can do *Approve*"), "{text}");
    // An approver who requested it may not approve it.
    let mut play = Play::new(Policy::default());
    play.ok(
        APPROVER,
        Command::Submitted {
            number: crate::domain::RequestNumber(1),
            details: submission(10_000),
        },
    );
    play.ok(
        APPROVER,
        Command::CommercialOwnerAssigned { owner: uid(AE) },
    );
    let refusal = play.refused(APPROVER, Command::CommercialApproved);
    assert!(
        matches!(refusal, Refusal::SelfApproval { .. }),
        "{refusal:?}"
    );
    let text = refusal_text(&refusal, &roles());
    assert!(
        text.contains(
            "must come from someone else: <@UAE> or a commercial approver (<!subteam^S0SALESLEAD>"
        ),
        "{text}"
    );
    let none = Roles::default();
    let bare = refusal_text(
        &Refusal::NotPermitted {
            event: crate::domain::EventKind::TechnicalApproved,
            who: vec![Party::Role(Role::Infra)],
        },
        &none,
    );
    assert_eq!(
        bare,
        "Only a member of infra can do *Approve technically* on this request."
    );
    let pending = Refusal::CancellationPending {
        who: vec![Party::User(uid(AE)), Party::Role(Role::CommercialApprover)],
    };
    assert!(refusal_text(&pending, &roles()).contains("<!subteam^S0SALESLEAD>"));
    let own = Refusal::OwnCancellation {
        who: vec![Party::Role(Role::CommercialApprover)],
    };
    assert!(refusal_text(&own, &roles()).contains("<@UAPPROVER>"));
    assert_eq!(
        refusal_text(&Refusal::FinanceKeyRequired, &roles()),
        Refusal::FinanceKeyRequired.to_string()
    );
}

#[test]
fn a_lost_conflict_names_the_winner() {
    let s = story("technical_review");
    let (winner, _) = s
        .recorded
        .iter()
        .find(|(e, _)| matches!(e.event, Event::CommercialApproved { .. }))
        .unwrap()
        .clone();
    let mut winner = winner;
    winner.occurred_at = "2026-12-03T19:02:00Z".parse().unwrap();
    assert_eq!(
        conflict_text(Some(&winner), s.now()),
        "<@UAE> already recorded *Approve* on Thu 3 Dec 14:02 EST; this request has moved on — use the updated message."
    );
    winner.actor = Actor::Scheduler;
    assert!(conflict_text(Some(&winner), s.now()).starts_with("The scheduler already recorded"));
    assert!(conflict_text(None, s.now()).contains("use the updated message"));
}

#[test]
fn status_list_and_help() {
    let s = story("customer_confirmation");
    let status = status_text(s.req(), &links(), &s.play.policy, &roles(), s.now());
    assert!(
        status.contains("Customer confirmation required · updated"),
        "{status}"
    );
    assert!(status.contains("Waiting on <@UAE>"), "{status}");
    assert!(status.contains("|Thread>"), "{status}");
    let all: Vec<_> = all_states(&Inputs::plain())
        .into_iter()
        .map(|(_, s)| s.req().clone())
        .collect();
    let list = list_text(&all, ListScope::Open, &Policy::default(), &roles(), s.now());
    assert!(
        list.starts_with(&format!("*{} open requests*", all.len())),
        "{list}"
    );
    assert_eq!(
        list_text(
            &[],
            ListScope::Waiting,
            &Policy::default(),
            &roles(),
            s.now()
        ),
        "No requests waiting on you."
    );
    assert_eq!(ListScope::parse(None), Some(ListScope::Open));
    assert_eq!(ListScope::parse(Some("MINE")), Some(ListScope::Mine));
    assert_eq!(ListScope::parse(Some("waiting")), Some(ListScope::Waiting));
    assert_eq!(ListScope::parse(Some("everything")), None);
    let help = help_text();
    for sub in [
        "/capacity new",
        "status CR-12",
        "list mine",
        "list waiting",
        "/capacity help",
    ] {
        assert!(help.contains(sub), "help lacks {sub}");
    }
}

#[test]
fn states_are_all_covered_by_the_scenarios() {
    let seen: Vec<State> = all_states(&Inputs::plain())
        .iter()
        .map(|(_, s)| s.req().state)
        .collect();
    for state in State::ALL {
        assert!(seen.contains(&state), "no scenario reaches {state}");
    }
}

/// DESIGN lets a comment run to 3,000 characters; its thread reply quotes all of it within
/// the section's limit, and the escalation post names the action that moves the decision.
#[test]
fn a_full_length_comment_is_quoted_whole_in_its_thread_reply() {
    use crate::domain::EventKind;
    use crate::render::limits::check_message;
    let mut s = story("commercial_approval");
    let comment = format!("{}THE END", "a".repeat(2_993));
    s.ok(
        STRANGER,
        Command::CommentAdded {
            text: comment.clone(),
        },
    );
    let (event, after) = s.recorded.last().expect("recorded");
    let reply = thread_reply(after, event, &roles(), &s.play.policy, s.now());
    check_message(&reply).expect("within Block Kit limits");
    let text = all_text(&reply);
    assert!(text.contains("<@USTRANGER> commented:"), "{text}");
    assert!(text.contains("THE END"), "the comment is not cut");
    assert!(last_reply(&s, EventKind::CommentAdded).contains(&comment));
}

/// The escalation post tells people the way out that exists: the menu's reassignment.
#[test]
fn an_escalation_points_at_reassign_owner_in_the_menu() {
    let s = story("technical_review");
    let text = last_reply(&s, crate::domain::EventKind::ReminderSent);
    assert!(
        text.contains(
            "an admin or a commercial approver can give it to someone else with *Reassign \
             owner…* in the request message's ⋯ menu"
        ),
        "{text}"
    );
    assert!(!text.contains("ask an admin"), "{text}");
}
