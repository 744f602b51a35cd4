//! The form behind "Reassign owner…" in a request's `more_actions` menu: which owner,
//! commercial or technical, and whom. The request and version travel in `private_metadata`
//! as a button's value does, so a submission at an older version is refused as stale.

use std::collections::BTreeMap;

use serde_json::Value;
use slack_morphism::blocks::{
    SlackBlock, SlackBlockChoiceItem, SlackBlockId, SlackBlockMarkDownText,
    SlackBlockRadioButtonsElement, SlackBlockText, SlackBlockUsersSelectElement, SlackInputBlock,
    SlackModalView, SlackSectionBlock, SlackView,
};

use super::{chosen, plain, selected, ReasonError};
use crate::domain::{OwnerRole, Request, State, UserId};
use crate::render::action_value::{self, ActionValue};
use crate::render::lines::summary;

pub const REASSIGN_CALLBACK_ID: &str = "capacity_reassign";
/// Block (and action) ids of the form's two inputs.
pub const OWNER_ROLE: &str = "owner_role";
pub const NEW_OWNER: &str = "new_owner";

const COMMERCIAL: &str = "commercial";
const TECHNICAL: &str = "technical";

fn choice(role: OwnerRole) -> SlackBlockChoiceItem<SlackBlockText> {
    let (text, value) = match role {
        OwnerRole::Commercial => ("Commercial owner (approves, confirms, cancels)", COMMERCIAL),
        OwnerRole::Technical => ("Technical owner (reviews, provisions)", TECHNICAL),
    };
    SlackBlockChoiceItem::new(
        SlackBlockText::Plain(slack_morphism::blocks::SlackBlockPlainText::new(
            text.to_string(),
        )),
        value.to_string(),
    )
}

/// The owner whose decision the request waits on now: the form's preselected slot.
fn current_slot(req: &Request) -> OwnerRole {
    match req.state {
        State::TechnicalReviewRequired | State::ProvisioningInProgress
            if req.pending_cancellation.is_none() =>
        {
            OwnerRole::Technical
        }
        _ => OwnerRole::Commercial,
    }
}

pub fn reassign_modal(req: &Request) -> SlackView {
    let named = |u: &Option<UserId>| {
        u.as_ref()
            .map_or("_not assigned_".to_string(), |u| format!("<@{u}>"))
    };
    let about = format!(
        "*{}*\nCommercial owner: {}\nTechnical owner: {}\nThe new owner gets the decision, its \
         reminders and its buttons. Nobody can own a decision on their own request.",
        summary(req, 300),
        named(&req.commercial_owner),
        named(&req.technical_owner)
    );
    let blocks: Vec<SlackBlock> = vec![
        SlackSectionBlock::new()
            .with_block_id(SlackBlockId("about".into()))
            .with_text(SlackBlockText::MarkDown(SlackBlockMarkDownText::new(about)))
            .into(),
        SlackInputBlock::new(
            plain("Which owner"),
            SlackBlockRadioButtonsElement::new(vec![
                choice(OwnerRole::Commercial),
                choice(OwnerRole::Technical),
            ])
            .with_action_id(OWNER_ROLE.into())
            .with_initial_option(choice(current_slot(req)))
            .into(),
        )
        .with_block_id(SlackBlockId(OWNER_ROLE.into()))
        .into(),
        SlackInputBlock::new(
            plain("New owner"),
            SlackBlockUsersSelectElement::new()
                .with_action_id(NEW_OWNER.into())
                .with_placeholder(plain("Pick a person"))
                .into(),
        )
        .with_block_id(SlackBlockId(NEW_OWNER.into()))
        .into(),
    ];
    SlackView::Modal(
        SlackModalView::new(plain("Reassign owner"), blocks)
            .with_callback_id(REASSIGN_CALLBACK_ID.into())
            .with_private_metadata(ActionValue::of(req).encode())
            .with_submit(plain("Reassign"))
            .with_close(plain("Back")),
    )
}

/// Reads a submitted reassign form: the request and version, the owner slot and the person.
pub fn parse_reassign_submission(
    private_metadata: &str,
    values: &Value,
) -> Result<(ActionValue, OwnerRole, UserId), ReasonError> {
    let value = action_value::decode(private_metadata)?;
    let mut errors = BTreeMap::new();
    let role = match chosen(values, OWNER_ROLE) {
        Some(COMMERCIAL) => Some(OwnerRole::Commercial),
        Some(TECHNICAL) => Some(OwnerRole::Technical),
        _ => {
            errors.insert(
                OWNER_ROLE.to_string(),
                "Choose the commercial or the technical owner.".to_string(),
            );
            None
        }
    };
    let to = match selected(values, NEW_OWNER, "selected_user").map(UserId::parse) {
        Some(Ok(u)) => Some(u),
        _ => {
            errors.insert(NEW_OWNER.to_string(), "Pick a person.".to_string());
            None
        }
    };
    match (role, to) {
        (Some(role), Some(to)) => Ok((value, role, to)),
        _ => Err(ReasonError::Fields(errors)),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::domain::testkit::{uid, Play, AE};
    use serde_json::json;

    #[test]
    fn the_form_round_trips_and_asks_for_both_answers() {
        let p = Play::submitted(100);
        let view = serde_json::to_value(reassign_modal(p.req())).unwrap();
        assert_eq!(view["callback_id"], REASSIGN_CALLBACK_ID);
        let metadata = view["private_metadata"].as_str().unwrap();
        crate::render::limits::check_view(&reassign_modal(p.req())).unwrap();
        let values = json!({
            "owner_role": {"owner_role": {"type": "radio_buttons", "selected_option": {
                "text": {"type": "plain_text", "text": "Technical owner"}, "value": "technical"}}},
            "new_owner": {"new_owner": {"type": "users_select", "selected_user": AE}},
        });
        assert_eq!(
            parse_reassign_submission(metadata, &values),
            Ok((ActionValue::of(p.req()), OwnerRole::Technical, uid(AE)))
        );
        let empty = json!({
            "owner_role": {"owner_role": {"type": "radio_buttons", "selected_option": null}},
            "new_owner": {"new_owner": {"type": "users_select", "selected_user": null}},
        });
        let Err(ReasonError::Fields(errors)) = parse_reassign_submission(metadata, &empty) else {
            panic!("both fields are required");
        };
        assert_eq!(
            errors.keys().collect::<Vec<_>>(),
            [&NEW_OWNER.to_string(), &OWNER_ROLE.to_string()]
        );
        assert!(matches!(
            parse_reassign_submission("forged", &values),
            Err(ReasonError::Metadata(_))
        ));
    }
}
