//! The weekly digest's message: what it says, in names and local times, within Block Kit's
//! limits however much there is to say.

use chrono::{DateTime, Duration, Utc};

use super::json;
use super::scenarios::roles;
use crate::domain::testkit::*;
use crate::domain::{Calendar, EventKind, Party, RequestNumber, Role, State};
use crate::render::digest::{
    chart_title, digest_message, DecisionLine, Digest, OpenLine, OwnerGroup, RequestLine, StuckLine,
};
use crate::render::limits::check_message;

fn utc(s: &str) -> DateTime<Utc> {
    s.parse().unwrap()
}

fn line(n: i64, customer: &str) -> RequestLine {
    RequestLine {
        number: RequestNumber(n),
        customer: customer.into(),
        permalink: Some(format!(
            "https://acme.slack.com/archives/C0123456789/p17600230417{n:05}"
        )),
    }
}

fn sample() -> Digest {
    let slot = utc("2026-12-07T14:30:00Z"); // Mon 7 Dec 09:30 EST
    let open = |n, customer, decision, due| OpenLine {
        request: line(n, customer),
        state: State::TechnicalReviewRequired,
        decision,
        due,
    };
    Digest {
        slot,
        since: slot - Duration::weeks(1),
        as_of: slot,
        open_requests: 3,
        by_owner: vec![
            OwnerGroup {
                owner: Party::User(uid(AE)),
                requests: vec![
                    open(
                        12,
                        "Acme Corp",
                        "customer confirmation",
                        Some(utc("2026-12-10T22:00:00Z")),
                    ),
                    open(14, "Globex", "commercial approval", None),
                ],
            },
            OwnerGroup {
                owner: Party::Role(Role::Infra),
                requests: vec![open(15, "Initech <@U0EVIL>", "technical review", None)],
            },
        ],
        stuck_after_business_days: 3,
        stuck: vec![StuckLine {
            request: line(15, "Initech <@U0EVIL>"),
            state: State::TechnicalReviewRequired,
            entered_at: utc("2026-12-01T15:00:00Z"),
            owners: vec![Party::Role(Role::Infra)],
        }],
        decisions: vec![DecisionLine {
            request: line(11, "Umbrella"),
            kind: EventKind::CommercialApproved,
            by: Party::User(uid(APPROVER)),
            at: utc("2026-12-02T19:02:00Z"),
        }],
        decisions_total: 1,
        cost_trend: vec![
            (slot - Duration::weeks(8), 0),
            (slot - Duration::weeks(1), 150_000),
            (slot, 1_234_567),
        ],
    }
}

fn texts(d: &Digest) -> String {
    let message = digest_message(d, &roles(), &Calendar::default());
    check_message(&message).expect("within Block Kit limits");
    let json = json(&message);
    let mut out = Vec::new();
    for block in json["blocks"].as_array().into_iter().flatten() {
        if let Some(t) = block["text"]["text"].as_str() {
            out.push(t.to_string());
        }
        for e in block["elements"].as_array().into_iter().flatten() {
            if let Some(t) = e["text"].as_str() {
                out.push(t.to_string());
            }
        }
    }
    out.join("\n")
}

#[test]
fn the_digest_names_owners_links_requests_and_gives_local_times() {
    let mut on_time = sample();
    on_time.as_of = on_time.slot + Duration::minutes(3);
    assert!(!texts(&on_time).contains("posted late"));
    let text = texts(&sample());
    for expected in [
        "Weekly capacity digest",
        "Week to Mon 7 Dec 09:30 EST",
        "*Cost at risk now: $12,345.67* (up $12,345.67 over 8 weeks; chart below)",
        "*Open requests by decision owner* (3)",
        &format!("<@{AE}> (2)"),
        "• <https://acme.slack.com/archives/C0123456789/p1760023041700012|CR-12> · Acme Corp · customer confirmation · due Thu 10 Dec 17:00 EST",
        "• <https://acme.slack.com/archives/C0123456789/p1760023041700014|CR-14> · Globex · commercial approval",
        "a member of infra (<!subteam^S0INFRA>, <@UINFRA>) (1)",
        "*Stuck* (no move for 3 business days or more): 1",
        "Technical review required since Tue 1 Dec 10:00 EST · waiting on a member of infra",
        "*Decisions since Mon 30 Nov 09:30 EST*: 1",
        &format!("• Wed 2 Dec 14:02 EST · <@{APPROVER}> gave commercial approval on <https://acme.slack.com/archives/C0123456789/p1760023041700011|CR-11> · Umbrella"),
    ] {
        assert!(text.contains(expected), "missing {expected:?} in\n{text}");
    }
    // A customer name cannot ping anyone.
    assert!(!text.contains("<@U0EVIL>"), "{text}");
    assert!(text.contains("Initech &lt;@U0EVIL&gt;"), "{text}");
}

#[test]
fn a_late_digest_says_so_and_an_empty_week_reads_plainly() {
    let mut d = sample();
    d.as_of = d.slot + Duration::days(2);
    d.by_owner.clear();
    d.open_requests = 0;
    d.stuck.clear();
    d.decisions.clear();
    d.decisions_total = 0;
    d.cost_trend = vec![(d.as_of - Duration::weeks(8), 50_000), (d.as_of, 0)];
    let text = texts(&d);
    assert!(
        text.contains("posted late, as of Wed 9 Dec 09:30 EST"),
        "{text}"
    );
    assert!(text.contains("Nothing is waiting on anyone."), "{text}");
    assert!(text.contains("(down $500.00 over 8 weeks"), "{text}");
    assert!(
        text.contains("*Decisions since Mon 30 Nov 09:30 EST*: 0"),
        "{text}"
    );
    assert_eq!(
        chart_title(&d, &Calendar::default()),
        "Cost at risk, 8 weeks to Wed 9 Dec 09:30 EST"
    );
}

#[test]
fn a_huge_week_stays_within_block_kit_limits() {
    let mut d = sample();
    let long = "X".repeat(500);
    d.by_owner = (0..40)
        .map(|i| OwnerGroup {
            owner: Party::User(uid(&format!("U0{i:08}"))),
            requests: (0..30)
                .map(|n| OpenLine {
                    request: line(n, &long),
                    state: State::Submitted,
                    decision: "commercial owner assignment",
                    due: None,
                })
                .collect(),
        })
        .collect();
    // The store hands over the first 500 of the week's 900.
    d.decisions_total = 900;
    d.decisions = (0..500)
        .map(|n| DecisionLine {
            request: line(n, &long),
            kind: EventKind::Activated,
            by: Party::User(uid(INFRA)),
            at: d.slot,
        })
        .collect();
    let text = texts(&d);
    assert!(
        text.contains("*Decisions since Mon 30 Nov 09:30 EST*: 900"),
        "{text}"
    );
    assert!(text.contains("… and 15 more"), "{text}");
    assert!(text.contains("more lines"), "{text}");
}
