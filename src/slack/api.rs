//! The Slack Web API calls the bot makes, through slack-morphism's client, with errors
//! sorted into what a caller does about them: wait and retry, fix something, or give up.

use std::sync::Arc;
use std::time::Duration;

use secrecy::{ExposeSecret, SecretString};
use slack_morphism::errors::SlackClientError;
use slack_morphism::prelude::*;

pub type Client = SlackClient<
    SlackClientHyperConnector<
        hyper_rustls::HttpsConnector<hyper_util::client::legacy::connect::HttpConnector>,
    >,
>;

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ApiError {
    #[error("rate limited by Slack (retry after {retry_after:?})")]
    RateLimited { retry_after: Option<Duration> },
    /// Slack said no in a way retrying will not change (`channel_not_found`, `invalid_blocks`, …).
    #[error("Slack refused the call: {code}{}", detail.as_ref().map(|d| format!(" ({d})")).unwrap_or_default())]
    Permanent {
        code: String,
        detail: Option<String>,
    },
    /// Network trouble, a 5xx, or a Slack error code that means "try later".
    #[error("Slack did not answer properly: {0}")]
    Transient(String),
}

impl ApiError {
    /// The token itself was refused: retrying with it cannot succeed.
    pub fn is_bad_token(&self) -> bool {
        matches!(self, ApiError::Permanent { code, .. } if matches!(code.as_str(),
            "invalid_auth" | "not_authed" | "token_revoked" | "token_expired"
            | "account_inactive" | "not_allowed_token_type" | "no_app_token"))
    }

    /// What an operator should do about a permanent error.
    pub fn remedy(&self) -> Option<&'static str> {
        let ApiError::Permanent { code, .. } = self else {
            return None;
        };
        Some(match code.as_str() {
            "channel_not_found" => "check slack.requests_channel in the config: the channel id does not exist or the bot cannot see it",
            "not_in_channel" => "invite the bot to the requests channel (/invite @capacity-bot)",
            "invalid_blocks" | "invalid_blocks_format" | "msg_blocks_too_long" | "msg_too_long" => {
                "a rendering exceeded a Block Kit limit; report this with the request number"
            }
            "missing_scope" => "add the missing scope to the Slack app (see deploy/slack-app-manifest.yaml) and reinstall it",
            "invalid_auth" | "not_authed" | "token_revoked" | "account_inactive" => "SLACK_BOT_TOKEN is wrong or revoked",
            "user_not_found" | "user_not_visible" | "no_such_subteam" => "a user or user group in the config does not exist in this workspace",
            "is_archived" => "the requests channel is archived; point slack.requests_channel at a live one",
            _ => "see the Slack error code",
        })
    }
}

const TRANSIENT_CODES: &[&str] = &[
    "internal_error",
    "fatal_error",
    "request_timeout",
    "service_unavailable",
    "ratelimited",
];

fn classify(e: SlackClientError) -> ApiError {
    match e {
        SlackClientError::RateLimitError(r) => ApiError::RateLimited {
            retry_after: r.retry_after,
        },
        SlackClientError::ApiError(a) if TRANSIENT_CODES.contains(&a.code.as_str()) => {
            ApiError::Transient(a.code)
        }
        SlackClientError::ApiError(a) => ApiError::Permanent {
            code: a.code,
            detail: a.errors.map(|e| e.join("; ")),
        },
        SlackClientError::HttpError(h)
            if h.status_code.is_client_error() && h.status_code.as_u16() != 408 =>
        {
            ApiError::Permanent {
                code: format!("http_{}", h.status_code.as_u16()),
                detail: None,
            }
        }
        other => ApiError::Transient(other.to_string()),
    }
}

/// What the outbox reads of `chat.postMessage`'s answer. Slack echoes the whole message
/// back, blocks and all, and slack-morphism's own response type builds every block of it
/// again; this skips them unread (with the socket's payloads no longer copied, 11% less CPU
/// per approval: BENCHMARKS.md, "CPU per approval"). slack-morphism still reads `ok` and
/// `error` first, for every answer, and turns an error into the same `SlackClientError`.
#[derive(serde::Deserialize)]
struct Posted {
    ts: SlackTs,
}

/// `chat.update`'s answer, of which nothing is needed beyond its `ok`.
#[derive(serde::Deserialize)]
struct Updated {}

/// A file to share in a channel.
#[derive(Debug, Clone, Copy)]
pub struct Upload<'a> {
    pub channel: &'a str,
    pub filename: &'a str,
    pub title: &'a str,
    pub content_type: &'a str,
    pub bytes: &'a [u8],
    pub initial_comment: Option<&'a str>,
    /// Share it as a reply in this thread.
    pub thread_ts: Option<&'a str>,
}

/// The bot's view of Slack's Web API.
#[derive(Clone)]
pub struct SlackApi {
    client: Arc<Client>,
    bot: SlackApiToken,
    app: Option<SlackApiToken>,
    /// For the one call that needs a response header (`granted_scopes`).
    api_url: String,
}

impl std::fmt::Debug for SlackApi {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SlackApi").finish_non_exhaustive()
    }
}

impl SlackApi {
    /// `api_url` is Slack's (`https://slack.com/api`) or an emulator's (`http://…/api`).
    pub fn new(
        api_url: &str,
        bot_token: &SecretString,
        app_token: Option<&SecretString>,
    ) -> std::io::Result<Self> {
        let connector = hyper_rustls::HttpsConnectorBuilder::new()
            .with_native_roots()?
            .https_or_http()
            .enable_all_versions()
            .build();
        let connector = SlackClientHyperConnector::with_connector(connector)
            .with_slack_api_url(api_url.trim_end_matches('/'));
        let token = |s: &SecretString| {
            SlackApiToken::new(SlackApiTokenValue(s.expose_secret().to_string()))
        };
        Ok(SlackApi {
            client: Arc::new(SlackClient::new(connector)),
            bot: token(bot_token),
            app: app_token.map(token),
            api_url: api_url.trim_end_matches('/').to_string(),
        })
    }

    fn bot(
        &self,
    ) -> SlackClientSession<
        '_,
        SlackClientHyperConnector<
            hyper_rustls::HttpsConnector<hyper_util::client::legacy::connect::HttpConnector>,
        >,
    > {
        self.client.open_session(&self.bot)
    }

    /// A fresh single-use Socket Mode URL (needs the app-level token).
    pub async fn open_socket_url(&self) -> Result<String, ApiError> {
        let app = self.app.as_ref().ok_or_else(|| ApiError::Permanent {
            code: "no_app_token".into(),
            detail: Some("SLACK_APP_TOKEN is not set".into()),
        })?;
        let r = self
            .client
            .open_session(app)
            .apps_connections_open(&SlackApiAppsConnectionOpenRequest::new())
            .await
            .map_err(classify)?;
        Ok(r.url.0.to_string())
    }

    pub async fn auth_test(&self) -> Result<SlackApiAuthTestResponse, ApiError> {
        self.bot().auth_test().await.map_err(classify)
    }

    /// The bot token's granted scopes, as Slack's `x-oauth-scopes` response header lists
    /// them (comma-separated). slack-morphism returns bodies only, so this one `auth.test`
    /// goes through reqwest. `None` when Slack sent no such header.
    pub async fn granted_scopes(&self) -> Result<Option<String>, ApiError> {
        let http = reqwest::Client::builder()
            .timeout(Duration::from_secs(10))
            .build()
            .map_err(|e| ApiError::Transient(e.to_string()))?;
        let response = http
            .post(format!("{}/auth.test", self.api_url))
            .bearer_auth(&self.bot.token_value.0)
            .send()
            .await
            .map_err(|e| ApiError::Transient(e.to_string()))?;
        let status = response.status();
        if status.as_u16() == 429 {
            let retry_after = response
                .headers()
                .get(reqwest::header::RETRY_AFTER)
                .and_then(|v| v.to_str().ok())
                .and_then(|v| v.parse().ok())
                .map(Duration::from_secs);
            return Err(ApiError::RateLimited { retry_after });
        }
        if !status.is_success() {
            return Err(ApiError::Transient(format!("HTTP {status}")));
        }
        let scopes = response
            .headers()
            .get("x-oauth-scopes")
            .and_then(|v| v.to_str().ok())
            .map(str::to_string);
        let body: serde_json::Value = response
            .json()
            .await
            .map_err(|e| ApiError::Transient(e.to_string()))?;
        if body["ok"] != true {
            return Err(ApiError::Permanent {
                code: body["error"].as_str().unwrap_or("unknown").to_string(),
                detail: None,
            });
        }
        Ok(scopes)
    }

    pub async fn post_message(
        &self,
        channel: &str,
        content: SlackMessageContent,
        thread_ts: Option<&str>,
    ) -> Result<String, ApiError> {
        let mut req = SlackApiChatPostMessageRequest::new(SlackChannelId(channel.into()), content);
        if let Some(ts) = thread_ts {
            req = req.with_thread_ts(SlackTs(ts.into()));
        }
        // The method and rate class slack-morphism's `chat_post_message` uses, with an answer
        // read only for its ts.
        let r: Posted = self
            .bot()
            .http_session_api
            .http_post(
                "chat.postMessage",
                &req,
                Some(&slack_morphism::api::CHAT_POST_MESSAGE_SPECIAL_LIMIT_RATE_CTL),
            )
            .await
            .map_err(classify)?;
        Ok(r.ts.0)
    }

    pub async fn update_message(
        &self,
        channel: &str,
        ts: &str,
        content: SlackMessageContent,
    ) -> Result<(), ApiError> {
        let req = SlackApiChatUpdateRequest::new(
            SlackChannelId(channel.into()),
            content,
            SlackTs(ts.into()),
        );
        // As `chat_update` sends it; the answer's message is not read.
        let _: Updated = self
            .bot()
            .http_session_api
            .http_post("chat.update", &req, Some(&SLACK_TIER3_METHOD_CONFIG))
            .await
            .map_err(classify)?;
        Ok(())
    }

    pub async fn post_ephemeral(
        &self,
        channel: &str,
        user: &str,
        text: &str,
    ) -> Result<(), ApiError> {
        let req = SlackApiChatPostEphemeralRequest::new(
            SlackChannelId(channel.into()),
            SlackUserId(user.into()),
            SlackMessageContent::new().with_text(text.into()),
        );
        self.bot()
            .chat_post_ephemeral(&req)
            .await
            .map_err(classify)?;
        Ok(())
    }

    pub async fn permalink(&self, channel: &str, ts: &str) -> Result<String, ApiError> {
        let req = SlackApiChatGetPermalinkRequest::new(
            SlackChannelId(channel.into()),
            SlackTs(ts.into()),
        );
        let r = self
            .bot()
            .chat_get_permalink(&req)
            .await
            .map_err(classify)?;
        Ok(r.permalink.to_string())
    }

    /// The DM channel with `user` (the same one every time).
    pub async fn open_dm(&self, user: &str) -> Result<String, ApiError> {
        let req =
            SlackApiConversationsOpenRequest::new().with_users(vec![SlackUserId(user.into())]);
        let r = self
            .bot()
            .conversations_open(&req)
            .await
            .map_err(classify)?;
        Ok(r.channel.id.0)
    }

    pub async fn open_view(&self, trigger_id: &str, view: SlackView) -> Result<(), ApiError> {
        let req = SlackApiViewsOpenRequest::new(SlackTriggerId(trigger_id.into()), view);
        self.bot().views_open(&req).await.map_err(classify)?;
        Ok(())
    }

    /// `views.publish`: `user`'s Home tab becomes `view`. Returns the Home view's id (a click
    /// on Home names it). No `hash`: the outbox publishes each Home from one pending row at a
    /// time, so there is no concurrent publisher to guard against.
    pub async fn publish_view(&self, user: &str, view: SlackView) -> Result<String, ApiError> {
        let req = SlackApiViewsPublishRequest::new(SlackUserId(user.into()), view);
        let r = self.bot().views_publish(&req).await.map_err(classify)?;
        Ok(r.view.state_params.id.0)
    }

    pub async fn usergroup_members(&self, group: &str) -> Result<Vec<String>, ApiError> {
        let req = SlackApiUserGroupsUsersListRequest::new(SlackUserGroupId(group.into()));
        let r = self
            .bot()
            .usergroups_users_list(&req)
            .await
            .map_err(classify)?;
        Ok(r.users.into_iter().map(|u| u.0).collect())
    }

    pub async fn user_exists(&self, user: &str) -> Result<(), ApiError> {
        let req = SlackApiUsersInfoRequest::new(SlackUserId(user.into()));
        self.bot().users_info(&req).await.map_err(classify)?;
        Ok(())
    }

    /// Whether `user` is an active member of the workspace (`deleted: true` is a deactivated
    /// account). `user_not_found` is a permanent error: someone outside the workspace.
    pub async fn user_is_active(&self, user: &str) -> Result<bool, ApiError> {
        let req = SlackApiUsersInfoRequest::new(SlackUserId(user.into()));
        let r = self.bot().users_info(&req).await.map_err(classify)?;
        Ok(!r.user.deleted.unwrap_or(false))
    }

    /// The name people know a user by: their display name, else their full name, else
    /// their handle; `None` when the profile has none of them.
    pub async fn user_name(&self, user: &str) -> Result<Option<String>, ApiError> {
        let req = SlackApiUsersInfoRequest::new(SlackUserId(user.into()));
        let u = self.bot().users_info(&req).await.map_err(classify)?.user;
        let profile = u.profile.as_ref();
        Ok([
            profile.and_then(|p| p.display_name.clone()),
            profile.and_then(|p| p.real_name.clone()),
            u.real_name.clone(),
            u.name.clone(),
        ]
        .into_iter()
        .flatten()
        .find(|n| !n.trim().is_empty()))
    }

    /// Uploads `bytes` with Slack's external-upload flow and shares the file in `channel`:
    /// `files.getUploadURLExternal` (name and length), the bytes POSTed to the URL it
    /// returns, then `files.completeUploadExternal`. Returns the file id. An upload that is
    /// never completed is discarded by Slack, so a retry after a failure starts over.
    pub async fn upload_file(&self, upload: &Upload<'_>) -> Result<String, ApiError> {
        let session = self.bot();
        let url = session
            .get_upload_url_external(&SlackApiFilesGetUploadUrlExternalRequest::new(
                upload.filename.to_string(),
                upload.bytes.len(),
            ))
            .await
            .map_err(classify)?;
        session
            .files_upload_via_url(&SlackApiFilesUploadViaUrlRequest::new(
                url.upload_url,
                upload.bytes.to_vec(),
                upload.content_type.to_string(),
            ))
            .await
            .map_err(classify)?;
        let mut complete =
            SlackApiFilesCompleteUploadExternalRequest::new(vec![SlackApiFilesComplete::new(
                url.file_id.clone(),
            )
            .with_title(upload.title.to_string())])
            .with_channel_id(SlackChannelId(upload.channel.into()));
        if let Some(comment) = upload.initial_comment {
            complete = complete.with_initial_comment(comment.to_string());
        }
        if let Some(ts) = upload.thread_ts {
            complete = complete.with_thread_ts(SlackTs(ts.into()));
        }
        session
            .files_complete_upload_external(&complete)
            .await
            .map_err(classify)?;
        Ok(url.file_id.0)
    }

    /// Whether the token may upload files (`files:write`): asks for an upload URL for a
    /// one-byte file and never uses it (Slack discards uploads that are never completed).
    pub async fn can_upload_files(&self) -> Result<(), ApiError> {
        self.bot()
            .get_upload_url_external(&SlackApiFilesGetUploadUrlExternalRequest::new(
                "capacity-bot-doctor.txt".into(),
                1,
            ))
            .await
            .map_err(classify)?;
        Ok(())
    }

    pub async fn channel_membership(&self, channel: &str) -> Result<bool, ApiError> {
        let req = SlackApiConversationsInfoRequest::new(SlackChannelId(channel.into()));
        let r = self
            .bot()
            .conversations_info(&req)
            .await
            .map_err(classify)?;
        Ok(r.channel.flags.is_member.unwrap_or(false))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::slack::fixture;

    #[test]
    fn slacks_own_answers_read_as_the_outbox_reads_them() {
        let posted: Posted =
            serde_json::from_str(&fixture("web_chat_postMessage_ok_thread_reply.json")).unwrap();
        let echoed: serde_json::Value =
            serde_json::from_str(&fixture("web_chat_postMessage_ok_thread_reply.json")).unwrap();
        assert_eq!(Some(posted.ts.0.as_str()), echoed["ts"].as_str());
        let _: Updated = serde_json::from_str(&fixture("web_chat_update_ok.json")).unwrap();
        // An answer without a ts is not a post the outbox can thread under.
        assert!(serde_json::from_str::<Posted>(r#"{"ok":true,"channel":"C1"}"#).is_err());
    }
}
