//! What ack payloads do: a slash-command response becomes an ephemeral (or a post), a
//! view_submission `response_action` changes the user's modal stack.

use serde_json::Value;

use super::config::EmulatorConfig;
use super::ids::random_id;
use super::log::LogKind;
use super::payloads::view_json;
use super::records::EphemeralSource;
use super::shared::Shared;
use super::state::{AckContext, State};
use super::web_api::{
    apply_message_response, checked_view, open_view, replace_view, ResponseTarget,
};

/// What an ack payload does, once the ack came in time.
pub(crate) fn apply_ack_payload(
    shared: &Shared,
    st: &mut State,
    context: &AckContext,
    payload: Option<&Value>,
) {
    match context {
        AckContext::Plain => {}
        AckContext::Slash { user, channel } => {
            let has_content =
                payload.is_some_and(|p| p.get("text").is_some() || p.get("blocks").is_some());
            if let (true, Some(payload)) = (has_content, payload) {
                let target = ResponseTarget {
                    user,
                    channel,
                    source_ts: None,
                };
                let reply = apply_message_response(
                    shared,
                    st,
                    &target,
                    payload,
                    EphemeralSource::SlashCommandAck,
                );
                if !reply.is_ok() {
                    st.log(
                        LogKind::ApiError,
                        "slash command response rejected by Slack's checks",
                    );
                }
            }
        }
        AckContext::ViewSubmission { view_id, user } => {
            apply_response_action(&shared.config, st, view_id, user, payload);
        }
    }
}

/// What a view_submission ack does to the user's modal stack.
fn apply_response_action(
    cfg: &EmulatorConfig,
    st: &mut State,
    view_id: &str,
    user: &str,
    payload: Option<&Value>,
) {
    let action = payload
        .and_then(|p| p["response_action"].as_str())
        .unwrap_or("");
    match action {
        "errors" => {
            let errors = payload.map(|p| p["errors"].clone()).unwrap_or(Value::Null);
            if let Some(view) = st.view_mut(view_id) {
                view.errors = Some(errors.clone());
            }
            st.log(
                LogKind::View,
                format!("modal {view_id} stays open with errors {errors}"),
            );
        }
        "update" | "push" => {
            let new_view = payload.map(|p| &p["view"]).unwrap_or(&Value::Null);
            let view = match checked_view(new_view) {
                Ok(view) => view,
                Err(errors) => {
                    st.log(
                        LogKind::ApiError,
                        format!("response_action {action} rejected: {errors:?}"),
                    );
                    return;
                }
            };
            if action == "update" {
                if let Some(index) = st.views.iter().position(|v| v.id == view_id) {
                    replace_view(st, index, &view);
                    st.log(
                        LogKind::View,
                        format!("modal {view_id} updated by response_action"),
                    );
                }
                return;
            }
            let stack = st.stacks.get(user).cloned().unwrap_or_default();
            if stack.len() >= 3 {
                st.log(
                    LogKind::ApiError,
                    "response_action push: push_limit_reached",
                );
                return;
            }
            let id = random_id("V", 10);
            let root = stack.first().map_or(id.clone(), Clone::clone);
            let json = view_json(cfg, &id, &view, Some(view_id), &root);
            st.stacks.entry(user.to_owned()).or_default().push(id);
            open_view(st, user, json, "pushed by response_action");
        }
        "clear" => {
            let stack = st.stacks.remove(user).unwrap_or_default();
            for id in &stack {
                if let Some(view) = st.view_mut(id) {
                    view.open = false;
                }
            }
            st.log(
                LogKind::View,
                format!("modals {} closed (clear)", stack.join(", ")),
            );
        }
        _ => {
            if let Some(stack) = st.stacks.get_mut(user) {
                stack.retain(|id| id != view_id);
            }
            if let Some(view) = st.view_mut(view_id) {
                view.open = false;
            }
            st.log(LogKind::View, format!("modal {view_id} closed"));
        }
    }
}
