//! Identity and directory methods: `auth.test`, `apps.connections.open`, `users.info`,
//! `usergroups.users.list`, `conversations.open`, `conversations.info`.

use serde_json::{json, Value};
use tokio::time::Instant;
use uuid::Uuid;

use super::{Params, Reply};
use crate::config::SeedUser;
use crate::shared::Shared;
use crate::state::State;

pub(crate) fn auth_test(shared: &Shared, _: &mut State, _: &Params) -> Reply {
    let cfg = &shared.config;
    Reply::ok(json!({
        "url": format!("https://{}.slack.com/", cfg.team_domain),
        "team": cfg.team_name,
        "user": cfg.bot_name,
        "team_id": cfg.team_id,
        "user_id": cfg.bot_user_id,
        "bot_id": cfg.bot_id,
        "is_enterprise_install": false,
    }))
}

/// Mints a single-use Socket Mode URL pointing at the emulator's websocket listener.
pub(crate) fn apps_connections_open(shared: &Shared, state: &mut State, _: &Params) -> Reply {
    let ticket = Uuid::new_v4().to_string();
    state.tickets.insert(ticket.clone(), Instant::now());
    Reply::ok(json!({
        "url": format!("{}/link/?ticket={ticket}&app_id={}", shared.ws_base, shared.config.app_id),
    }))
}

pub(crate) fn users_info(shared: &Shared, state: &mut State, params: &Params) -> Reply {
    let id = params.non_empty("user").unwrap_or_default();
    let cfg = &shared.config;
    if id == cfg.bot_user_id {
        let bot = SeedUser {
            id: id.clone(),
            name: cfg.bot_name.clone(),
            real_name: cfg.bot_name.clone(),
            tz: "America/Los_Angeles".into(),
        };
        let mut user = user_json(shared, &bot);
        user["is_bot"] = json!(true);
        user["profile"]["bot_id"] = json!(cfg.bot_id);
        return Reply::ok(json!({"user": user}));
    }
    match cfg.user(&id) {
        Some(seed) => {
            let mut user = user_json(shared, seed);
            user["deleted"] = json!(state.deactivated.contains(&id));
            Reply::ok(json!({"user": user}))
        }
        None => Reply::error("user_not_found"),
    }
}

pub(crate) fn user_json(shared: &Shared, user: &SeedUser) -> Value {
    let display = user.name.split('.').next().unwrap_or(&user.name).to_owned();
    let (first, last) = user
        .real_name
        .split_once(' ')
        .unwrap_or((&user.real_name, ""));
    json!({
        "id": user.id,
        "team_id": shared.config.team_id,
        "name": user.name,
        "deleted": false,
        "color": "9f69e7",
        "real_name": user.real_name,
        "tz": user.tz,
        "tz_label": user.tz,
        "tz_offset": 0,
        "profile": {
            "real_name": user.real_name,
            "real_name_normalized": user.real_name,
            "display_name": display,
            "display_name_normalized": display,
            "first_name": first,
            "last_name": last,
            "status_text": "",
            "status_emoji": "",
            "image_24": "https://secure.gravatar.com/avatar/0.jpg?s=24",
            "image_48": "https://secure.gravatar.com/avatar/0.jpg?s=48",
            "image_72": "https://secure.gravatar.com/avatar/0.jpg?s=72",
            "team": shared.config.team_id,
        },
        "is_admin": false,
        "is_owner": false,
        "is_primary_owner": false,
        "is_restricted": false,
        "is_ultra_restricted": false,
        "is_bot": false,
        "is_app_user": false,
        "updated": 1_758_301_122,
        "is_email_confirmed": true,
    })
}

pub(crate) fn usergroups_users_list(shared: &Shared, _: &mut State, params: &Params) -> Reply {
    let id = params.non_empty("usergroup").unwrap_or_default();
    match shared.config.usergroup(&id) {
        Some(group) => Reply::ok(json!({"users": group.members})),
        None => Reply::error("no_such_subteam"),
    }
}

/// Opens (or finds) the bot's DM with one user; the same user always gets the same `D…`.
pub(crate) fn conversations_open(shared: &Shared, state: &mut State, params: &Params) -> Reply {
    let Some(users) = params.list("users") else {
        return match params.non_empty("channel") {
            Some(channel) if state.dm_user(&channel).is_some() => {
                Reply::ok(json!({"channel": {"id": channel}}))
            }
            Some(_) => Reply::error("channel_not_found"),
            None => Reply::error("users_list_not_supplied"),
        };
    };
    if users.len() > 1 {
        // Group DMs are not part of this workflow.
        return Reply::error("method_not_supported_for_channel_type");
    }
    let user = users[0].as_str();
    if shared.config.user(user).is_none() {
        return Reply::error("user_not_found");
    }
    let existed = state.dms.contains_key(user);
    let id = state.dm_channel(user);
    if !params.bool("return_im") {
        return Reply::ok(json!({"channel": {"id": id}}));
    }
    let mut reply = json!({"channel": {
        "id": id, "created": 1_759_912_950, "is_im": true, "is_org_shared": false,
        "user": user, "last_read": "0000000000.000000", "latest": null,
        "unread_count": 0, "unread_count_display": 0, "is_open": true, "priority": 0,
    }});
    if existed {
        reply["no_op"] = json!(true);
        reply["already_open"] = json!(true);
    }
    Reply::ok(reply)
}

pub(crate) fn conversations_info(shared: &Shared, state: &mut State, params: &Params) -> Reply {
    let id = params.non_empty("channel").unwrap_or_default();
    if let Some(channel) = shared.config.channel(&id) {
        return Reply::ok(json!({"channel": {
            "id": channel.id, "name": channel.name, "is_channel": true, "is_group": false,
            "is_im": false, "is_private": false, "is_archived": false,
            "is_member": channel.bot_is_member, "created": 1_759_912_950,
        }}));
    }
    match state.dm_user(&id) {
        Some(user) => Reply::ok(json!({"channel": {
            "id": id, "is_im": true, "user": user, "is_open": true, "created": 1_759_912_950,
        }})),
        None => Reply::error("channel_not_found"),
    }
}
