//! The Web API over HTTP: `/api/<method>` with Slack's transport rules (GET query, form or
//! JSON body; Bearer or form token; HTTP 200 + `ok:false` for errors, 429 + `Retry-After`
//! for rate limits), and `/hooks/<id>` for the `response_url`s the emulator hands out.

mod chat;
pub(crate) mod directory;
mod files;
mod hooks;
mod params;
mod views;

use axum::body::Bytes;
use axum::extract::{Path, State as AxumState};
use axum::http::{header, HeaderMap, HeaderValue, StatusCode, Uri};
use axum::response::{IntoResponse, Response};
use axum::routing::{any, post};
use axum::Router;
use serde_json::{json, Value};
use std::sync::Arc;
use tokio::time::Instant;

use super::faults::Fault;
use super::log::LogKind;
use super::records::{Call, TokenKind};
use super::shared::Shared;
use super::state::State;
pub(crate) use hooks::{apply_message_response, ResponseTarget};
pub(crate) use params::Params;
pub(crate) use views::{checked_view, open_view, replace_view};

pub(crate) fn router(shared: Arc<Shared>) -> Router {
    Router::new()
        .route("/api/{method}", any(api))
        .route("/hooks/{id}", post(hooks::response_url))
        .route("/upload/v1/{token}", post(files::upload))
        .with_state(shared)
}

/// What a method answers.
pub(crate) struct Reply {
    status: StatusCode,
    body: ReplyBody,
    retry_after: Option<u64>,
    /// `x-oauth-scopes` (the token's scopes) and `x-accepted-oauth-scopes` (the method's),
    /// which Slack sends on every call made with a bot or user token.
    scopes: Option<(String, String)>,
}

enum ReplyBody {
    Json(Value),
    Text(String),
}

impl Reply {
    /// `{"ok":true, ...fields}`.
    pub(crate) fn ok(mut fields: Value) -> Self {
        fields["ok"] = json!(true);
        Self::json(StatusCode::OK, fields)
    }

    /// `{"ok":false,"error":code}`.
    pub(crate) fn error(code: &str) -> Self {
        Self::error_with(code, json!({}))
    }

    /// `{"ok":false,"error":code, ...extra}`.
    pub(crate) fn error_with(code: &str, mut extra: Value) -> Self {
        extra["ok"] = json!(false);
        extra["error"] = json!(code);
        Self::json(StatusCode::OK, extra)
    }

    /// An error carrying Slack's `[ERROR] …` messages, plus `errors` when `with_errors`
    /// (`invalid_blocks` has both; views' `invalid_arguments` only the messages).
    pub(crate) fn schema_error(code: &str, errors: &[String], with_errors: bool) -> Self {
        let messages: Vec<String> = errors.iter().map(|e| format!("[ERROR] {e}")).collect();
        let mut extra = json!({"response_metadata": {"messages": messages}});
        if with_errors {
            extra["errors"] = json!(errors);
        }
        Self::error_with(code, extra)
    }

    fn json(status: StatusCode, body: Value) -> Self {
        Self {
            status,
            body: ReplyBody::Json(body),
            retry_after: None,
            scopes: None,
        }
    }

    fn from_fault(fault: &Fault) -> Self {
        match fault {
            Fault::RateLimited { retry_after_secs } => Self {
                status: StatusCode::TOO_MANY_REQUESTS,
                body: ReplyBody::Json(json!({"ok": false, "error": "ratelimited"})),
                retry_after: Some(*retry_after_secs),
                scopes: None,
            },
            Fault::HttpStatus(code) => Self {
                status: StatusCode::from_u16(*code).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR),
                body: ReplyBody::Text("emulated upstream failure".into()),
                retry_after: None,
                scopes: None,
            },
            Fault::Error(code) => Self::error(code),
        }
    }

    pub(crate) fn is_ok(&self) -> bool {
        matches!(&self.body, ReplyBody::Json(v) if v["ok"] == true)
    }

    fn body_value(&self) -> Value {
        match &self.body {
            ReplyBody::Json(v) => v.clone(),
            ReplyBody::Text(t) => Value::String(t.clone()),
        }
    }
}

impl IntoResponse for Reply {
    fn into_response(self) -> Response {
        let mut response = match self.body {
            ReplyBody::Json(v) => (
                self.status,
                [(header::CONTENT_TYPE, "application/json; charset=utf-8")],
                v.to_string(),
            )
                .into_response(),
            ReplyBody::Text(t) => (
                self.status,
                [(header::CONTENT_TYPE, "text/plain; charset=utf-8")],
                t,
            )
                .into_response(),
        };
        if let Some(secs) = self.retry_after {
            response
                .headers_mut()
                .insert(header::RETRY_AFTER, HeaderValue::from(secs));
        }
        if let Some((granted, accepted)) = self.scopes {
            for (name, value) in [
                ("x-oauth-scopes", granted),
                ("x-accepted-oauth-scopes", accepted),
            ] {
                if let Ok(value) = HeaderValue::from_str(&value) {
                    response.headers_mut().insert(name, value);
                }
            }
        }
        response
    }
}

type Method = fn(&Shared, &mut State, &Params) -> Reply;

/// A method: the token type it needs, the bot scopes that let a token call it (any one of
/// them; none listed means no scope is needed), and its implementation.
struct Entry {
    token: TokenKind,
    scopes: &'static [&'static str],
    run: Method,
}

/// Every supported method, with the scopes Slack's method pages list for a bot token.
fn lookup(method: &str) -> Option<Entry> {
    const CHAT: &[&str] = &["chat:write"];
    const NONE: &[&str] = &[];
    let (token, scopes, run): (TokenKind, &'static [&'static str], Method) = match method {
        "apps.connections.open" => (TokenKind::App, NONE, directory::apps_connections_open),
        "auth.test" => (TokenKind::Bot, NONE, directory::auth_test),
        "chat.postMessage" => (TokenKind::Bot, CHAT, chat::post_message),
        "chat.update" => (TokenKind::Bot, CHAT, chat::update),
        "chat.postEphemeral" => (TokenKind::Bot, CHAT, chat::post_ephemeral),
        "chat.getPermalink" => (TokenKind::Bot, NONE, chat::get_permalink),
        "conversations.open" => (
            TokenKind::Bot,
            &["channels:manage", "groups:write", "im:write", "mpim:write"],
            directory::conversations_open,
        ),
        "conversations.info" => (
            TokenKind::Bot,
            &["channels:read", "groups:read", "im:read", "mpim:read"],
            directory::conversations_info,
        ),
        "users.info" => (TokenKind::Bot, &["users:read"], directory::users_info),
        "usergroups.users.list" => (
            TokenKind::Bot,
            &["usergroups:read"],
            directory::usergroups_users_list,
        ),
        "views.open" => (TokenKind::Bot, NONE, views::open),
        "views.update" => (TokenKind::Bot, NONE, views::update),
        "views.push" => (TokenKind::Bot, NONE, views::push),
        "views.publish" => (TokenKind::Bot, NONE, views::publish),
        "files.getUploadURLExternal" => (
            TokenKind::Bot,
            &["files:write"],
            files::get_upload_url_external,
        ),
        "files.completeUploadExternal" => (
            TokenKind::Bot,
            &["files:write"],
            files::complete_upload_external,
        ),
        _ => return None,
    };
    Some(Entry { token, scopes, run })
}

async fn api(
    AxumState(shared): AxumState<Arc<Shared>>,
    Path(method): Path<String>,
    headers: HeaderMap,
    uri: Uri,
    body: Bytes,
) -> Reply {
    let parsed = Params::from_request(&headers, uri.query(), &body);
    let token = parsed.as_ref().map_or(TokenKind::Missing, |(_, token)| {
        classify(&shared, token.as_deref())
    });
    shared.update(|state| {
        let (params, reply) = match parsed {
            Err(code) => (Params::default(), Reply::error(code)),
            Ok((params, _)) => {
                let reply = dispatch(&shared, state, &method, &params, token);
                (params, reply)
            }
        };
        if !reply.is_ok() {
            let error = reply.body_value();
            let error = error["error"]
                .as_str()
                .unwrap_or("non-JSON reply")
                .to_owned();
            state.log(
                LogKind::ApiError,
                format!("{method} → {} {error}", reply.status.as_u16()),
            );
        }
        state.calls.push(Call {
            method: method.clone(),
            params: params.to_value(),
            token,
            http_status: reply.status.as_u16(),
            response: reply.body_value(),
            at: Instant::now(),
        });
        reply
    })
}

fn dispatch(
    shared: &Shared,
    state: &mut State,
    method: &str,
    params: &Params,
    token: TokenKind,
) -> Reply {
    let Some(entry) = lookup(method) else {
        return Reply::error_with("unknown_method", json!({"req_method": method}));
    };
    match token {
        TokenKind::Missing => return Reply::error("not_authed"),
        TokenKind::Invalid => return Reply::error("invalid_auth"),
        kind if kind != entry.token => return Reply::error("not_allowed_token_type"),
        _ => {}
    }
    if let Some(fault) = state.faults.take(method) {
        state.log(LogKind::Fault, format!("{method}: injected {fault}"));
        return Reply::from_fault(&fault);
    }
    let channel = params.str("channel");
    if let Some(secs) = state
        .limiter
        .admit(method, channel.as_deref(), shared.rate_clock.now())
    {
        return Reply::from_fault(&Fault::rate_limited(secs));
    }
    let mut reply = if token == TokenKind::Bot {
        with_scopes(&shared.config.bot_scopes, entry.scopes, || {
            (entry.run)(shared, state, params)
        })
    } else {
        (entry.run)(shared, state, params)
    };
    if token == TokenKind::Bot {
        reply.scopes = Some((shared.config.bot_scopes.join(","), entry.scopes.join(",")));
    }
    reply
}

/// Runs the method when the token holds one of the scopes it accepts; otherwise answers
/// `missing_scope` with `needed` and `provided`, as Slack does.
fn with_scopes(granted: &[String], accepted: &[&str], run: impl FnOnce() -> Reply) -> Reply {
    if accepted.is_empty() || accepted.iter().any(|a| granted.iter().any(|g| g == a)) {
        return run();
    }
    Reply::error_with(
        "missing_scope",
        json!({"needed": accepted.join(","), "provided": granted.join(",")}),
    )
}

fn classify(shared: &Shared, token: Option<&str>) -> TokenKind {
    match token {
        None | Some("") => TokenKind::Missing,
        Some(t) if t == shared.config.bot_token => TokenKind::Bot,
        Some(t) if t == shared.config.app_token => TokenKind::App,
        Some(_) => TokenKind::Invalid,
    }
}
