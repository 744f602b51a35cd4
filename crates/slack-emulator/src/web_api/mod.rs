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
        }
    }

    fn from_fault(fault: &Fault) -> Self {
        match fault {
            Fault::RateLimited { retry_after_secs } => Self {
                status: StatusCode::TOO_MANY_REQUESTS,
                body: ReplyBody::Json(json!({"ok": false, "error": "ratelimited"})),
                retry_after: Some(*retry_after_secs),
            },
            Fault::HttpStatus(code) => Self {
                status: StatusCode::from_u16(*code).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR),
                body: ReplyBody::Text("emulated upstream failure".into()),
                retry_after: None,
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
        response
    }
}

type Method = fn(&Shared, &mut State, &Params) -> Reply;

/// Every supported method, the token type it needs, and its implementation.
fn lookup(method: &str) -> Option<(TokenKind, Method)> {
    let entry: (TokenKind, Method) = match method {
        "apps.connections.open" => (TokenKind::App, directory::apps_connections_open),
        "auth.test" => (TokenKind::Bot, directory::auth_test),
        "chat.postMessage" => (TokenKind::Bot, chat::post_message),
        "chat.update" => (TokenKind::Bot, chat::update),
        "chat.postEphemeral" => (TokenKind::Bot, chat::post_ephemeral),
        "chat.getPermalink" => (TokenKind::Bot, chat::get_permalink),
        "conversations.open" => (TokenKind::Bot, directory::conversations_open),
        "conversations.info" => (TokenKind::Bot, directory::conversations_info),
        "users.info" => (TokenKind::Bot, directory::users_info),
        "usergroups.users.list" => (TokenKind::Bot, directory::usergroups_users_list),
        "views.open" => (TokenKind::Bot, views::open),
        "views.update" => (TokenKind::Bot, views::update),
        "views.push" => (TokenKind::Bot, views::push),
        "views.publish" => (TokenKind::Bot, views::publish),
        "files.getUploadURLExternal" => (TokenKind::Bot, files::get_upload_url_external),
        "files.completeUploadExternal" => (TokenKind::Bot, files::complete_upload_external),
        _ => return None,
    };
    Some(entry)
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
    let Some((needed, run)) = lookup(method) else {
        return Reply::error_with("unknown_method", json!({"req_method": method}));
    };
    match token {
        TokenKind::Missing => return Reply::error("not_authed"),
        TokenKind::Invalid => return Reply::error("invalid_auth"),
        kind if kind != needed => return Reply::error("not_allowed_token_type"),
        _ => {}
    }
    if let Some(fault) = state.faults.take(method) {
        state.log(LogKind::Fault, format!("{method}: injected {fault}"));
        return Reply::from_fault(&fault);
    }
    run(shared, state, params)
}

fn classify(shared: &Shared, token: Option<&str>) -> TokenKind {
    match token {
        None | Some("") => TokenKind::Missing,
        Some(t) if t == shared.config.bot_token => TokenKind::Bot,
        Some(t) if t == shared.config.app_token => TokenKind::App,
        Some(_) => TokenKind::Invalid,
    }
}
