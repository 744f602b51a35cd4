//! Every state, rendered with any (and the worst) inputs, stays inside Slack's limits.

use proptest::prelude::*;

use super::scenarios::{all_states, roles, Inputs};
use super::{messages_of, texts_of};
use crate::domain::EventKind;
use crate::render::ephemeral::{list_text, ListScope};
use crate::render::limits::{check_message, check_text, check_view};
use crate::render::modal::reason_modal;

fn check_all(inputs: &Inputs) {
    let stories = all_states(inputs);
    for (name, story) in &stories {
        for (what, message) in messages_of(story) {
            if let Err(e) = check_message(&message) {
                panic!("{name}: {what} breaks a limit: {e}");
            }
        }
        for text in texts_of(story) {
            if let Err(e) = check_text(&text) {
                panic!("{name}: status breaks a limit: {e}");
            }
        }
        for kind in EventKind::ALL.into_iter().filter(|k| k.takes_input()) {
            if let Err(e) = check_view(&reason_modal(kind, story.req())) {
                panic!("{name}: reason modal for {kind} breaks a limit: {e}");
            }
        }
    }
    let reqs: Vec<_> = stories.iter().map(|(_, s)| s.req().clone()).collect();
    let (_, first) = &stories[0];
    let list = list_text(
        &reqs,
        ListScope::Open,
        &first.play.policy,
        &roles(),
        first.now(),
    );
    if let Err(e) = check_text(&list) {
        panic!("list breaks a limit: {e}");
    }
}

#[test]
fn every_state_renders_within_limits_with_plain_inputs() {
    check_all(&Inputs::plain());
}

#[test]
fn every_state_renders_within_limits_with_the_worst_inputs() {
    // `&` grows fivefold when escaped; `\n` grows in quotes; emoji are wide chars.
    for c in ['&', '<', '\n', '😀', 'x', '@'] {
        check_all(&Inputs::all_of(c));
    }
}

const ALPHABET: &str = "aZ09 &<>@!|*_~`'\"\n\téß漢字😀🚀\u{200D}\u{301}-#:";

fn text(min: usize, max: usize) -> impl Strategy<Value = String> {
    let chars: Vec<char> = ALPHABET.chars().collect();
    let c = prop::sample::select(chars);
    prop_oneof![
        3 => prop::collection::vec(c.clone(), max..=max),
        1 => prop::collection::vec(c, min..=max),
    ]
    .prop_map(|v| v.into_iter().collect())
}

fn inputs() -> impl Strategy<Value = Inputs> {
    (
        (text(0, 199), text(1, 100), text(1, 100), text(1, 100)),
        (text(1, 100), text(1, 64), text(1, 3_000), text(1, 2_000)),
    )
        .prop_map(
            |(
                (customer, org_id, project_ref, current_size),
                (requested_size, region, justification, reason),
            )| {
                Inputs {
                    // `decide` refuses a blank customer; the form trims and requires it.
                    customer: format!("C{customer}"),
                    org_id,
                    project_ref,
                    current_size,
                    requested_size,
                    region,
                    justification,
                    // A reason must not be blank either.
                    reason: format!("R{reason}"),
                }
            },
        )
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 16, ..ProptestConfig::default() })]

    #[test]
    fn every_state_renders_within_limits_with_any_inputs(inputs in inputs()) {
        check_all(&inputs);
    }
}
