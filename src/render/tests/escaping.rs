//! People's free text can never ping, mention or link, wherever it is rendered.

use super::scenarios::{all_states, roles, Inputs};
use super::{json, messages_of, texts_of};
use crate::domain::testkit::{EVIL_ENTITY_ESCAPED, EVIL_LEAKS, EVIL_SHORT_TEXT, EVIL_TEXT};
use crate::domain::EventKind;
use crate::render::ephemeral::{list_text, ListScope};
use crate::render::modal::reason_modal;

const EVIL: &str = EVIL_TEXT;

fn evil_inputs() -> Inputs {
    Inputs {
        customer: format!("Evil {EVIL}"),
        org_id: EVIL.into(),
        project_ref: EVIL.into(),
        current_size: EVIL.into(),
        requested_size: EVIL.into(),
        region: EVIL_SHORT_TEXT.into(),
        justification: format!("line one\n{EVIL}\n> fake quote"),
        reason: format!("because {EVIL}"),
    }
}

fn assert_clean(what: &str, rendered: &str) {
    for bad in EVIL_LEAKS.into_iter().chain(["\n> fake"]) {
        assert!(
            !rendered.contains(bad),
            "{what} contains {bad:?}: {rendered}"
        );
    }
}

#[test]
fn user_text_never_survives_unescaped() {
    let stories = all_states(&evil_inputs());
    let mut rendered_user_text = false;
    for (name, story) in &stories {
        for (what, message) in messages_of(story) {
            let text = json(&message).to_string();
            // serde_json writes line breaks as `\n` escapes; undo that for the quote check.
            let text = text.replace("\\n", "\n");
            assert_clean(&format!("{name}: {what}"), &text);
            rendered_user_text |= text.contains(EVIL_ENTITY_ESCAPED);
        }
        for text in texts_of(story) {
            assert_clean(&format!("{name}: status"), &text);
        }
        for kind in EventKind::ALL.into_iter().filter(|k| k.takes_input()) {
            let view = serde_json::to_string(&reason_modal(kind, story.req())).unwrap();
            assert_clean(&format!("{name}: reason modal"), &view);
        }
    }
    assert!(rendered_user_text, "the user's text is shown, escaped");
    let reqs: Vec<_> = stories.iter().map(|(_, s)| s.req().clone()).collect();
    let (_, s) = &stories[0];
    assert_clean(
        "list",
        &list_text(&reqs, ListScope::Open, &s.play.policy, &roles(), s.now()),
    );
}
