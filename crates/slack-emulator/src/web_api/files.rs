//! Slack's external upload flow: `files.getUploadURLExternal` hands out an upload URL (on
//! the emulator's own HTTP server) and a file id, the client POSTs the bytes there, and
//! `files.completeUploadExternal` shares the file, optionally in a channel. The shared file
//! is recorded with its bytes, so a test can check what was uploaded.

use axum::body::Bytes;
use axum::extract::{Path, State as AxumState};
use axum::http::StatusCode;
use serde_json::{json, Value};
use std::sync::Arc;
use tokio::time::Instant;

use super::chat::resolve;
use super::{Params, Reply, ReplyBody};
use crate::faults::UPLOAD_URL;
use crate::ids::{random_id, short_id};
use crate::log::LogKind;
use crate::records::{Call, Message, TokenKind, UploadedFile};
use crate::shared::Shared;
use crate::state::{PendingUpload, State};

/// Slack refuses descriptions longer than this (`alt_txt_too_large`).
const MAX_ALT_TXT: usize = 1000;

pub(crate) fn get_upload_url_external(
    shared: &Shared,
    state: &mut State,
    params: &Params,
) -> Reply {
    let (Some(filename), Some(length)) = (params.non_empty("filename"), params.str("length"))
    else {
        return Reply::error("invalid_arguments");
    };
    let Ok(length) = length.parse::<usize>() else {
        return Reply::error("invalid_arguments");
    };
    if length == 0 {
        return Reply::error("missing_argument");
    }
    let alt_txt = params.str("alt_txt");
    if alt_txt
        .as_ref()
        .is_some_and(|a| a.chars().count() > MAX_ALT_TXT)
    {
        return Reply::error("alt_txt_too_large");
    }
    let file_id = random_id("F", 10);
    let token = short_id(32);
    let upload_url = format!("{}/upload/v1/{token}", shared.http_base);
    state.uploads.insert(
        token,
        PendingUpload {
            file_id: file_id.clone(),
            filename,
            length,
            alt_txt,
            bytes: None,
        },
    );
    Reply::ok(json!({"upload_url": upload_url, "file_id": file_id}))
}

/// The upload URL: takes the bytes (raw, as slack-morphism sends them) and answers as
/// Slack's upload service does, `200 OK - <length>` in plain text.
pub(crate) async fn upload(
    AxumState(shared): AxumState<Arc<Shared>>,
    Path(token): Path<String>,
    body: Bytes,
) -> Reply {
    shared.update(|state| {
        let reply = if let Some(fault) = state.faults.take(UPLOAD_URL) {
            state.log(LogKind::Fault, format!("upload URL: injected {fault}"));
            Reply::from_fault(&fault)
        } else {
            match state.uploads.get_mut(&token) {
                None => Reply::text(StatusCode::NOT_FOUND, "upload URL not found".into()),
                Some(pending) if pending.bytes.is_some() => {
                    Reply::text(StatusCode::BAD_REQUEST, "already uploaded".into())
                }
                Some(pending) if pending.length != body.len() => Reply::text(
                    StatusCode::BAD_REQUEST,
                    format!(
                        "{} bytes sent, {} announced in files.getUploadURLExternal",
                        body.len(),
                        pending.length
                    ),
                ),
                Some(pending) => {
                    pending.bytes = Some(body.to_vec());
                    Reply::text(StatusCode::OK, format!("OK - {}", body.len()))
                }
            }
        };
        state.calls.push(Call {
            method: UPLOAD_URL.to_owned(),
            params: json!({"bytes": body.len()}),
            token: TokenKind::Missing,
            http_status: reply.status.as_u16(),
            response: reply.body_value(),
            at: Instant::now(),
        });
        reply
    })
}

pub(crate) fn complete_upload_external(
    shared: &Shared,
    state: &mut State,
    params: &Params,
) -> Reply {
    let files = match params.json("files") {
        Ok(Some(Value::Array(files))) if !files.is_empty() => files,
        _ => return Reply::error("invalid_arguments"),
    };
    let mut wanted = Vec::new();
    for file in &files {
        let Some(id) = file["id"].as_str() else {
            return Reply::error("invalid_arguments");
        };
        let Some(token) = state
            .uploads
            .iter()
            .find(|(_, p)| p.file_id == id && p.bytes.is_some())
            .map(|(token, _)| token.clone())
        else {
            return Reply::error("file_not_found");
        };
        wanted.push((token, file["title"].as_str().map(str::to_owned)));
    }
    let channel = match params.non_empty("channel_id") {
        None => None,
        Some(channel) => match resolve(shared, state, Some(channel)) {
            Ok(target) => Some(target),
            Err(code) => return Reply::error(code),
        },
    };
    let thread_ts = params.non_empty("thread_ts");
    let initial_comment = params.non_empty("initial_comment");
    let message_ts = channel.as_ref().map(|target| {
        let message = Message {
            channel: target.id.clone(),
            ts: state.next_ts(),
            thread_ts: thread_ts.clone(),
            user: shared.config.bot_user_id.clone(),
            from_bot: true,
            text: initial_comment.clone().unwrap_or_default(),
            blocks: json!([]),
            edits: 0,
        };
        let ts = message.ts.clone();
        state.push_message(message);
        ts
    });
    let mut shared_files = Vec::new();
    for (token, title) in wanted {
        let Some(pending) = state.uploads.remove(&token) else {
            continue;
        };
        let title = title.unwrap_or_else(|| pending.filename.clone());
        let file = UploadedFile {
            id: pending.file_id,
            filename: pending.filename,
            title,
            alt_txt: pending.alt_txt,
            bytes: pending.bytes.unwrap_or_default(),
            channel: channel.as_ref().map(|t| t.id.clone()),
            thread_ts: thread_ts.clone(),
            initial_comment: initial_comment.clone(),
            message_ts: message_ts.clone(),
        };
        state.log(
            LogKind::Message,
            format!(
                "bot shared file {} \"{}\" ({} bytes){}",
                file.id,
                file.title,
                file.bytes.len(),
                channel
                    .as_ref()
                    .map(|t| format!(" in #{}", t.name))
                    .unwrap_or_else(|| " privately".into())
            ),
        );
        shared_files.push(json!({"id": file.id, "title": file.title}));
        state.files.push(file);
    }
    Reply::ok(json!({"files": shared_files}))
}

impl Reply {
    fn text(status: StatusCode, text: String) -> Self {
        Self {
            status,
            body: ReplyBody::Text(text),
            retry_after: None,
            scopes: None,
        }
    }
}
