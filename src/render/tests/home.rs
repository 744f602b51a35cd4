//! The Home tab: its sections, only the decision's buttons, and 300 open requests within
//! Slack's 100-block view limit, the most urgent first, with a count and a pointer.

use chrono::Duration;
use slack_morphism::blocks::SlackView;
use uuid::Uuid;

use super::scenarios::roles;
use crate::domain::testkit::*;
use crate::domain::{Command, Request, RequestId, RequestNumber};
use crate::render::home::{home_blocks, home_view, HomeInput, OPEN_MAX};
use crate::render::limits::{check_home_view, VIEW_BLOCKS_MAX};

/// `n` requests waiting on AE's commercial approval; every third has committed capacity
/// (the early procurement path is not needed: cost at risk is set on the projection).
pub fn open_requests(n: i64) -> Vec<(Request, Option<String>)> {
    let mut play = Play::submitted(1000);
    play.ok(AE, Command::CommercialApproved);
    let base = play.req().clone();
    (1..=n)
        .map(|i| {
            let mut r = base.clone();
            r.id = RequestId(Uuid::from_u128(i as u128));
            r.number = RequestNumber(i);
            if i % 3 == 0 {
                r.capacity.committed_at = Some(t0() - Duration::days(i));
            }
            (
                r,
                Some(format!(
                    "https://acme.slack.com/archives/C0123456789/p17600230417{i:05}"
                )),
            )
        })
        .collect()
}

#[test]
fn three_hundred_open_requests_fit_most_urgent_first_with_a_count_and_a_pointer() {
    let requests = open_requests(300);
    let (user, user_roles) = (uid(INFRA), roles_of(INFRA));
    let policy = Play::submitted(1000).policy;
    let input = HomeInput {
        user: &user,
        user_roles: &user_roles,
        requests: &requests,
        roles: &roles(),
        policy: &policy,
        now: t0(),
    };
    let view = home_view(&input);
    check_home_view(&view).unwrap_or_else(|e| panic!("{e}"));
    let blocks = home_blocks(&input);
    assert!(blocks.len() <= VIEW_BLOCKS_MAX, "{} blocks", blocks.len());
    let json = serde_json::to_string(&view).expect("serializes");
    assert!(
        json.contains("Open requests (300)"),
        "the count of all of them"
    );
    assert!(json.contains(&format!(
        "…and {} more open requests: `/capacity list`",
        300 - OPEN_MAX
    )));
    // Infra owns the technical review of every one: waiting is capped too, with its pointer.
    assert!(json.contains("Waiting on you (300)"), "{json}");
    assert!(json.contains("`/capacity list waiting`"));
    // Cost at risk first: the oldest commitment (CR-300) leads the open list.
    let open = json.find("Open requests (300)").expect("open header");
    let first = json[open..].find("CR-300").expect("CR-300 listed");
    let cheap = json[open..].find("CR-1 ").unwrap_or(usize::MAX);
    assert!(first < cheap, "the most at risk first");
}

#[test]
fn waiting_shows_only_that_decisions_buttons_under_a_block_per_request() {
    let view = infra_home(&open_requests(2));
    check_home_view(&view).unwrap_or_else(|e| panic!("{e}"));
    let json = serde_json::to_value(&view).expect("serializes");
    let actions: Vec<&serde_json::Value> = json["blocks"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|b| b["type"] == "actions")
        .collect();
    assert_eq!(actions.len(), 2);
    assert_eq!(actions[0]["block_id"], "home_actions:CR-1");
    let ids: Vec<&str> = actions[0]["elements"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| e["action_id"].as_str().unwrap())
        .collect();
    assert_eq!(
        ids,
        [
            "technical_owner_assigned",
            "technical_approved",
            "technical_rejected"
        ]
    );
}

#[test]
fn links_and_mentions_on_home_are_mrkdwn_not_escaped_text() {
    let json = serde_json::to_string(&infra_home(&open_requests(2))).expect("serializes");
    assert!(
        json.contains("*<https://acme.slack.com/archives/C0123456789/p1760023041700001|CR-1 · "),
        "the title links to the thread: {json}"
    );
    assert!(
        !json.contains("&lt;"),
        "nothing we built is escaped: {json}"
    );
    assert!(
        !json.contains("&gt;"),
        "nothing we built is escaped: {json}"
    );
}

/// The Home an infra person sees over `requests`, at `t0`.
fn infra_home(requests: &[(Request, Option<String>)]) -> SlackView {
    let (user, user_roles) = (uid(INFRA), roles_of(INFRA));
    home_view(&HomeInput {
        user: &user,
        user_roles: &user_roles,
        requests,
        roles: &roles(),
        policy: &Play::submitted(1000).policy,
        now: t0(),
    })
}
