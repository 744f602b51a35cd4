//! `views.open`, `views.update`, `views.push`: modals per user, as a stack of at most 3.
//! `views.publish`: each user's one Home tab view.

use serde_json::{json, Value};

use super::{Params, Reply};
use crate::blocks::{validate_home_view, validate_view};
use crate::ids::random_id;
use crate::log::LogKind;
use crate::normalize::normalize_view;
use crate::payloads::{view_hash, view_json};
use crate::records::View;
use crate::shared::Shared;
use crate::state::State;

/// Slack's view stack limit (`push_limit_reached`).
const MAX_STACK: usize = 3;

/// The `view` argument, validated and normalized, or Slack's `invalid_arguments` reply.
fn parse_view(params: &Params) -> Result<Value, Reply> {
    let view = match params.json("view") {
        Ok(Some(view)) => view,
        Ok(None) => {
            let missing = ["missing required field: view [json-pointer:/view]".to_owned()];
            return Err(Reply::schema_error("invalid_arguments", &missing, false));
        }
        Err(()) => return Err(Reply::error("invalid_json")),
    };
    checked_view(&view).map_err(|errors| Reply::schema_error("invalid_arguments", &errors, false))
}

/// A modal validated as Slack does and normalized, or the schema errors.
pub(crate) fn checked_view(view: &Value) -> Result<Value, Vec<String>> {
    let errors = validate_view(view);
    if !errors.is_empty() {
        return Err(errors);
    }
    let mut view = view.clone();
    normalize_view(&mut view);
    Ok(view)
}

/// Checks a trigger id without spending it.
fn check_trigger(state: &State, params: &Params) -> Result<String, Reply> {
    let Some(trigger) = params.non_empty("trigger_id") else {
        let missing = ["invalid `trigger_id`".to_owned()];
        return Err(Reply::schema_error("invalid_arguments", &missing, false));
    };
    match state.triggers.get(&trigger) {
        None => Err(Reply::error("invalid_trigger_id")),
        Some(t) if t.used => Err(Reply::error("exchanged_trigger_id")),
        Some(_) => Ok(trigger),
    }
}

pub(crate) fn open(shared: &Shared, state: &mut State, params: &Params) -> Reply {
    let trigger = match check_trigger(state, params) {
        Ok(trigger) => trigger,
        Err(reply) => return reply,
    };
    let view = match parse_view(params) {
        Ok(view) => view,
        Err(reply) => return reply,
    };
    let user = match state.consume_trigger(&trigger) {
        Ok(user) => user,
        Err(code) => return Reply::error(code),
    };
    // A new root modal replaces whatever the user had open.
    for old in state.stacks.remove(&user).unwrap_or_default() {
        if let Some(old) = state.view_mut(&old) {
            old.open = false;
        }
    }
    let id = random_id("V", 10);
    let json = view_json(&shared.config, &id, &view, None, &id);
    state.stacks.insert(user.clone(), vec![id.clone()]);
    open_view(state, &user, json.clone(), "opened");
    Reply::ok(json!({"view": json}))
}

pub(crate) fn push(shared: &Shared, state: &mut State, params: &Params) -> Reply {
    let trigger = match check_trigger(state, params) {
        Ok(trigger) => trigger,
        Err(reply) => return reply,
    };
    let view = match parse_view(params) {
        Ok(view) => view,
        Err(reply) => return reply,
    };
    let user = state
        .triggers
        .get(&trigger)
        .map(|t| t.user.clone())
        .unwrap_or_default();
    let stack = state.stacks.get(&user).cloned().unwrap_or_default();
    let (Some(root), Some(top)) = (stack.first(), stack.last()) else {
        return Reply::error("not_found");
    };
    if stack.len() >= MAX_STACK {
        return Reply::error("push_limit_reached");
    }
    if let Err(code) = state.consume_trigger(&trigger) {
        return Reply::error(code);
    }
    let id = random_id("V", 10);
    let json = view_json(&shared.config, &id, &view, Some(top), root);
    state.stacks.entry(user.clone()).or_default().push(id);
    open_view(state, &user, json.clone(), "pushed");
    Reply::ok(json!({"view": json}))
}

pub(crate) fn update(_: &Shared, state: &mut State, params: &Params) -> Reply {
    let view = match parse_view(params) {
        Ok(view) => view,
        Err(reply) => return reply,
    };
    let found = match (params.non_empty("view_id"), params.non_empty("external_id")) {
        (Some(id), _) => state.views.iter().position(|v| v.id == id),
        (None, Some(external)) => state
            .views
            .iter()
            .position(|v| v.open && v.json["external_id"] == external.as_str()),
        (None, None) => return Reply::error("not_found"),
    };
    let Some(index) = found.filter(|i| state.views[*i].open) else {
        return Reply::error("not_found");
    };
    if let Some(hash) = params.non_empty("hash") {
        if hash != state.views[index].hash() {
            return Reply::error("hash_conflict");
        }
    }
    let json = replace_view(state, index, &view);
    let (id, user) = (
        state.views[index].id.clone(),
        state.views[index].user.clone(),
    );
    let title = state.views[index].title().to_owned();
    state.log(
        LogKind::View,
        format!("modal {id} updated for {user}: {title}"),
    );
    Reply::ok(json!({"view": json}))
}

/// Replaces the content of view `index` (same id and stack position, new hash): the new
/// definition replaces the old one entirely, as on Slack.
pub(crate) fn replace_view(state: &mut State, index: usize, view: &Value) -> Value {
    let current = &mut state.views[index];
    let keep = [
        "id",
        "team_id",
        "previous_view_id",
        "root_view_id",
        "app_id",
        "app_installed_team_id",
        "bot_id",
    ];
    let mut json = current.json.clone();
    let defaults = [
        ("blocks", json!([])),
        ("private_metadata", json!("")),
        ("callback_id", json!("")),
        ("external_id", json!("")),
        ("submit", Value::Null),
        ("close", Value::Null),
        ("clear_on_close", json!(false)),
        ("notify_on_close", json!(false)),
    ];
    for (key, default) in defaults {
        json[key] = default;
    }
    for (key, value) in view.as_object().into_iter().flatten() {
        if !keep.contains(&key.as_str()) {
            json[key] = value.clone();
        }
    }
    json["state"] = json!({"values": {}});
    json["hash"] = json!(view_hash());
    current.json = json.clone();
    current.errors = None;
    json
}

/// Records a newly shown modal for `user`.
pub(crate) fn open_view(state: &mut State, user: &str, json: Value, how: &str) {
    let view = View {
        id: json["id"].as_str().unwrap_or_default().to_owned(),
        user: user.to_owned(),
        json,
        open: true,
        errors: None,
    };
    state.log(
        LogKind::View,
        format!(
            "modal {} {how} for {user}: {}\n{}",
            view.id,
            view.title(),
            view.render()
        ),
    );
    state.views.push(view);
}

/// `views.publish`: replaces `user_id`'s Home view. The view keeps one id per user across
/// publishes (Slack's Home view is the user's, not the call's) and gets a new `hash`; a
/// `hash` argument that is not the current one is `hash_conflict`.
pub(crate) fn publish(shared: &Shared, state: &mut State, params: &Params) -> Reply {
    let Some(user) = params.non_empty("user_id") else {
        let missing = ["missing required field: user_id".to_owned()];
        return Reply::schema_error("invalid_arguments", &missing, false);
    };
    if shared.config.user(&user).is_none() {
        return Reply::error("user_not_found");
    }
    let view = match params.json("view") {
        Ok(Some(view)) => view,
        Ok(None) => {
            let missing = ["missing required field: view [json-pointer:/view]".to_owned()];
            return Reply::schema_error("invalid_arguments", &missing, false);
        }
        Err(()) => return Reply::error("invalid_json"),
    };
    let errors = validate_home_view(&view);
    if !errors.is_empty() {
        return Reply::schema_error("invalid_arguments", &errors, false);
    }
    let mut view = view;
    normalize_view(&mut view);
    let current = state.homes.get(&user);
    if let (Some(hash), Some(current)) = (params.non_empty("hash"), current) {
        if hash != current.hash() {
            return Reply::error("hash_conflict");
        }
    }
    let id = current.map_or_else(|| random_id("V", 10), |v| v.id.clone());
    let mut json = view_json(&shared.config, &id, &view, None, &id);
    if let Some(object) = json.as_object_mut() {
        // A Home has no title, and Slack echoes its `close` and `submit` as null.
        object.remove("title");
    }
    let home = View {
        id: id.clone(),
        user: user.clone(),
        json: json.clone(),
        open: true,
        errors: None,
    };
    state.log(
        LogKind::View,
        format!("Home {id} published for {user}\n{}", home.render()),
    );
    state.homes.insert(user, home);
    Reply::ok(json!({"view": json}))
}
