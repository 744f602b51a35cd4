//! The Slack emulator, driven by the real slack-morphism 2.31.1 client where it matters and
//! by raw HTTP / websocket clients where a test needs to see the wire. No test sleeps:
//! every wait is a deadline on an event.

use futures_util::{SinkExt, StreamExt};
use serde_json::{json, Value};
use slack_emulator::{
    Ack, DeliveryOutcome, DisconnectReason, Emulator, EmulatorConfig, EmulatorError, Fault,
};
use slack_morphism::errors::SlackClientError;
use slack_morphism::prelude::*;
use std::collections::HashMap;
use std::sync::Arc;
use std::time::Duration;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;
use tokio_tungstenite::tungstenite::Message as Frame;
use tokio_tungstenite::{MaybeTlsStream, WebSocketStream};

/// A deadline, never a sleep: waits return as soon as the thing happens.
const WAIT: Duration = Duration::from_secs(5);

fn config() -> EmulatorConfig {
    EmulatorConfig::default()
        .with_user("U_ALICE", "alice", "Alice Example")
        .with_user("U_BOB", "bob", "Bob Example")
        .with_usergroup("S_OWNERS", ["U_BOB"])
        .with_channel("C_REQUESTS", "capacity-requests", true)
        .with_channel("C_OUTSIDE", "elsewhere", false)
}

async fn start(config: EmulatorConfig) -> Emulator {
    Emulator::start(config).await.expect("emulator starts")
}

/// A slack-morphism client pointed at the emulator, built as production builds it except
/// for allowing plain http.
fn client(emu: &Emulator) -> Arc<SlackHyperClient> {
    let _ = rustls::crypto::ring::default_provider().install_default();
    let https = hyper_rustls::HttpsConnectorBuilder::new()
        .with_native_roots()
        .expect("native roots")
        .https_or_http()
        .enable_all_versions()
        .build();
    let connector =
        SlackClientHyperConnector::with_connector(https).with_slack_api_url(&emu.api_url());
    Arc::new(SlackClient::new(connector))
}

fn bot_token(emu: &Emulator) -> SlackApiToken {
    SlackApiToken::new(emu.bot_token().into())
}

fn app_token(emu: &Emulator) -> SlackApiToken {
    SlackApiToken::new(emu.app_token().into())
}

fn api_error(err: SlackClientError) -> String {
    match err {
        SlackClientError::ApiError(e) => e.code,
        other => panic!("expected an ok:false API error, got {other:?}"),
    }
}

fn blocks(value: Value) -> Vec<SlackBlock> {
    serde_json::from_value(value).expect("blocks parse as slack-morphism models")
}

fn request_blocks() -> Value {
    json!([
        {"type": "header", "text": {"type": "plain_text", "text": "LCR-1: 64 × GPU"}},
        {"type": "section", "block_id": "summary", "text": {"type": "mrkdwn", "text": "Requested by <@U_ALICE>"}},
        {"type": "actions", "block_id": "decision", "elements": [
            {"type": "button", "action_id": "approve", "value": "LCR-1:approve", "style": "primary",
             "text": {"type": "plain_text", "text": "Approve"}},
            {"type": "button", "action_id": "reject", "value": "LCR-1:reject", "style": "danger",
             "text": {"type": "plain_text", "text": "Reject"}}]}
    ])
}

#[tokio::test]
async fn chat_post_message_and_update_round_trip_through_slack_morphism() {
    let emu = start(config()).await;
    let client = client(&emu);
    let token = bot_token(&emu);
    let session = client.open_session(&token);

    let content = SlackMessageContent::new()
        .with_text("LCR-1 needs a decision".into())
        .with_blocks(blocks(request_blocks()));
    let posted = session
        .chat_post_message(&SlackApiChatPostMessageRequest::new(
            "C_REQUESTS".into(),
            content,
        ))
        .await
        .expect("chat.postMessage succeeds");
    let ts = posted.ts.value().to_owned();
    assert_eq!(posted.channel.value(), "C_REQUESTS");
    assert!(
        ts.split_once('.')
            .is_some_and(|(s, us)| s.len() >= 10 && us.len() == 6),
        "{ts}"
    );

    let stored = emu.message("C_REQUESTS", &ts).expect("message stored");
    assert_eq!(
        stored.blocks[0]["text"]["emoji"], true,
        "plain_text gains emoji"
    );
    assert_eq!(
        stored.blocks[1]["text"]["verbatim"], false,
        "mrkdwn gains verbatim"
    );
    assert!(
        stored.blocks[0]["block_id"].is_string(),
        "missing block_id is filled in"
    );
    assert_eq!(stored.action_ids(), ["approve", "reject"]);
    assert!(
        stored.render().contains("[ Approve ]  [ Reject ]"),
        "{}",
        stored.render()
    );

    let reply = SlackApiChatPostMessageRequest::new(
        "C_REQUESTS".into(),
        SlackMessageContent::new().with_text("thread reply".into()),
    )
    .with_thread_ts(ts.clone().into());
    let reply = session
        .chat_post_message(&reply)
        .await
        .expect("reply posted");
    assert!(
        reply.ts.value().as_str() > ts.as_str(),
        "timestamps increase"
    );
    assert_eq!(emu.thread("C_REQUESTS", &ts).len(), 1);
    assert_eq!(
        emu.messages("C_REQUESTS").len(),
        1,
        "replies are not top-level"
    );

    let update = SlackApiChatUpdateRequest::new(
        "C_REQUESTS".into(),
        SlackMessageContent::new()
            .with_text("approved".into())
            .with_blocks(blocks(
                json!([{"type": "section", "text": {"type": "mrkdwn", "text": "*Approved*"}}]),
            )),
        ts.clone().into(),
    );
    let updated = session
        .chat_update(&update)
        .await
        .expect("chat.update succeeds");
    assert_eq!(updated.ts.value(), &ts);
    let current = emu.message("C_REQUESTS", &ts).expect("still there");
    assert_eq!((current.edits, current.text.as_str()), (1, "approved"));
    assert!(current.action_ids().is_empty(), "the buttons are gone");

    let missing = SlackApiChatUpdateRequest::new(
        "C_REQUESTS".into(),
        SlackMessageContent::new().with_text("x".into()),
        "1.000001".into(),
    );
    let err = session.chat_update(&missing).await.expect_err("unknown ts");
    assert_eq!(api_error(err), "message_not_found");
    let calls = emu.calls("chat.postMessage");
    assert_eq!(calls.len(), 2);
    assert_eq!(calls[0].params["channel"], "C_REQUESTS");
    assert!(calls[0].ok());
}

#[tokio::test]
async fn fifty_one_blocks_are_invalid_blocks_with_slacks_error_shape() {
    let emu = start(config()).await;
    let client = client(&emu);
    let token = bot_token(&emu);
    let session = client.open_session(&token);
    let many: Vec<Value> = (0..51)
        .map(|i| json!({"type": "section", "text": {"type": "plain_text", "text": format!("row {i}")}}))
        .collect();
    let content = SlackMessageContent::new()
        .with_text("x".into())
        .with_blocks(blocks(json!(many)));
    let err = session
        .chat_post_message(&SlackApiChatPostMessageRequest::new(
            "C_REQUESTS".into(),
            content,
        ))
        .await
        .expect_err("51 blocks are too many");
    match err {
        SlackClientError::ApiError(e) => {
            assert_eq!(e.code, "invalid_blocks");
            assert_eq!(
                e.errors,
                Some(vec![
                    "no more than 50 items allowed [json-pointer:/blocks]".to_owned()
                ])
            );
        }
        other => panic!("unexpected {other:?}"),
    }
    let call = &emu.calls("chat.postMessage")[0];
    assert_eq!(
        call.response,
        json!({"ok": false, "error": "invalid_blocks",
               "errors": ["no more than 50 items allowed [json-pointer:/blocks]"],
               "response_metadata": {"messages": ["[ERROR] no more than 50 items allowed [json-pointer:/blocks]"]}})
    );
    assert!(emu.messages("C_REQUESTS").is_empty());
}

#[tokio::test]
async fn injected_faults_reach_the_client_as_429_500_and_ok_false() {
    let emu = start(config()).await;
    let client = client(&emu);
    let token = bot_token(&emu);
    let session = client.open_session(&token);
    let post = SlackApiChatPostMessageRequest::new(
        "C_REQUESTS".into(),
        SlackMessageContent::new().with_text("hi".into()),
    );
    emu.fail_next("chat.postMessage", 1, Fault::rate_limited(7));
    emu.fail_next("chat.postMessage", 1, Fault::HttpStatus(500));
    emu.fail_next("chat.postMessage", 1, Fault::error("internal_error"));

    match session.chat_post_message(&post).await {
        Err(SlackClientError::RateLimitError(e)) => {
            assert_eq!(e.retry_after, Some(Duration::from_secs(7)));
            assert_eq!(e.code.as_deref(), Some("ratelimited"));
        }
        other => panic!("expected a rate limit, got {other:?}"),
    }
    match session.chat_post_message(&post).await {
        Err(SlackClientError::HttpError(e)) => assert_eq!(e.status_code.as_u16(), 500),
        other => panic!("expected HTTP 500, got {other:?}"),
    }
    let err = session
        .chat_post_message(&post)
        .await
        .expect_err("ok:false");
    assert_eq!(api_error(err), "internal_error");
    session
        .chat_post_message(&post)
        .await
        .expect("faults are used up");

    let statuses: Vec<u16> = emu
        .calls("chat.postMessage")
        .iter()
        .map(|c| c.http_status)
        .collect();
    assert_eq!(statuses, [429, 500, 200, 200]);
    assert_eq!(
        emu.messages("C_REQUESTS").len(),
        1,
        "failed calls post nothing"
    );
}

#[tokio::test]
async fn tokens_are_checked_by_type() {
    let emu = start(config()).await;
    let client = client(&emu);
    let (app, bot) = (app_token(&emu), bot_token(&emu));
    let by_app = client.open_session(&app);
    let by_bot = client.open_session(&bot);
    let bogus_token = SlackApiToken::new("xoxb-nope".into());
    let bogus = client.open_session(&bogus_token);
    let empty_token = SlackApiToken::new("".into());
    let empty = client.open_session(&empty_token);

    let open = SlackApiAppsConnectionOpenRequest::new();
    let url = by_app
        .apps_connections_open(&open)
        .await
        .expect("xapp may open");
    let url = url.url.value().as_str();
    assert!(url.starts_with("ws://127.0.0.1:"), "{url}");
    assert!(url.contains(&format!("&app_id={}", emu.app_id())), "{url}");
    assert_eq!(
        api_error(by_bot.apps_connections_open(&open).await.expect_err("xoxb")),
        "not_allowed_token_type"
    );
    assert_eq!(
        api_error(by_app.auth_test().await.expect_err("xapp")),
        "not_allowed_token_type"
    );
    assert_eq!(
        api_error(bogus.auth_test().await.expect_err("bogus")),
        "invalid_auth"
    );
    assert_eq!(
        api_error(empty.auth_test().await.expect_err("none")),
        "not_authed"
    );
    let me = by_bot.auth_test().await.expect("bot token works");
    assert_eq!(me.user_id.value(), emu.bot_user_id());
    assert_eq!(me.team_id.value(), emu.team_id());
}

/// Bot state for the slack-morphism listener tests (callbacks are fn pointers).
struct TestBot {
    token: SlackApiToken,
}

fn modal() -> Value {
    json!({
        "type": "modal", "callback_id": "capacity_request_new",
        "title": {"type": "plain_text", "text": "New capacity request"},
        "submit": {"type": "plain_text", "text": "Submit"},
        "close": {"type": "plain_text", "text": "Cancel"},
        "private_metadata": "{\"origin\":\"slash\"}",
        "blocks": [
            {"type": "input", "block_id": "title", "label": {"type": "plain_text", "text": "Short title"},
             "element": {"type": "plain_text_input", "action_id": "value", "max_length": 150}},
            {"type": "input", "block_id": "resource", "label": {"type": "plain_text", "text": "Resource type"},
             "element": {"type": "static_select", "action_id": "value", "options": [
                 {"text": {"type": "plain_text", "text": "GPU (A100)"}, "value": "gpu-a100"},
                 {"text": {"type": "plain_text", "text": "GPU (H100)"}, "value": "gpu-h100"}]}},
            {"type": "input", "block_id": "quantity", "label": {"type": "plain_text", "text": "Quantity"},
             "element": {"type": "number_input", "action_id": "value", "is_decimal_allowed": false, "min_value": "1"}},
            {"type": "input", "block_id": "needed_by", "label": {"type": "plain_text", "text": "Needed by"},
             "element": {"type": "datepicker", "action_id": "value"}},
            {"type": "input", "block_id": "decision_owner", "label": {"type": "plain_text", "text": "Decision owner"},
             "element": {"type": "users_select", "action_id": "value"}},
            {"type": "input", "block_id": "justification", "optional": true,
             "label": {"type": "plain_text", "text": "Justification"},
             "element": {"type": "plain_text_input", "action_id": "value", "multiline": true}}
        ]
    })
}

async fn bot_token_from(states: &SlackClientEventsUserState) -> SlackApiToken {
    let states = states.read().await;
    states
        .get_user_state::<TestBot>()
        .map(|bot| bot.token.clone())
        .expect("TestBot state is set")
}

/// `/capacity new` opens the modal with the command's trigger id; anything else answers.
async fn on_command(
    event: SlackCommandEvent,
    client: Arc<SlackHyperClient>,
    states: SlackClientEventsUserState,
) -> UserCallbackResult<SlackCommandEventResponse> {
    if event.text.as_deref() == Some("new") {
        let token = bot_token_from(&states).await;
        let view: SlackView = serde_json::from_value(modal())?;
        let open = SlackApiViewsOpenRequest::new(event.trigger_id, view);
        client.open_session(&token).views_open(&open).await?;
    }
    let text = format!("Opening the request form for {}…", event.user_id);
    Ok(SlackCommandEventResponse::new(
        SlackMessageContent::new().with_text(text),
    ))
}

/// A submission with fewer than 8 units is refused; otherwise the request is posted with
/// buttons. A click on Approve rewrites the message.
async fn on_interaction(
    event: SlackInteractionEvent,
    client: Arc<SlackHyperClient>,
    states: SlackClientEventsUserState,
) -> UserCallbackResult<SlackInteractionResponse> {
    let token = bot_token_from(&states).await;
    let session = client.open_session(&token);
    match event {
        SlackInteractionEvent::ViewSubmission(submission) => {
            let values = submission
                .view
                .state_params
                .state
                .map(|s| s.values)
                .unwrap_or_default();
            let answer = |block: &str| {
                values
                    .get(&block.into())
                    .and_then(|by_action| by_action.get(&"value".into()))
                    .cloned()
            };
            let quantity: u32 = answer("quantity")
                .and_then(|v| v.value)
                .and_then(|v| v.parse().ok())
                .unwrap_or(0);
            if quantity < 8 {
                let errors =
                    HashMap::from([("quantity".to_owned(), "At least 8, please.".to_owned())]);
                let response = SlackViewSubmissionErrorsResponse::new(errors);
                return Ok(SlackViewSubmissionResponse::Errors(response).into());
            }
            let resource = answer("resource")
                .and_then(|v| v.selected_option)
                .map(|o| o.value)
                .unwrap_or_default();
            let content = SlackMessageContent::new()
                .with_text(format!("{quantity} × {resource}"))
                .with_blocks(blocks(request_blocks()));
            let post = SlackApiChatPostMessageRequest::new("C_REQUESTS".into(), content);
            session.chat_post_message(&post).await?;
            Ok(SlackInteractionResponse::Empty)
        }
        SlackInteractionEvent::BlockActions(click) => {
            let (Some(channel), Some(message), Some(user)) =
                (click.channel, click.message, click.user)
            else {
                return Ok(SlackInteractionResponse::Empty);
            };
            let text = format!("Approved by <@{}>", user.id);
            let section = json!([{"type": "section", "text": {"type": "mrkdwn", "text": text}}]);
            let content = SlackMessageContent::new()
                .with_text(text)
                .with_blocks(blocks(section));
            let update = SlackApiChatUpdateRequest::new(channel.id, content, message.origin.ts);
            session.chat_update(&update).await?;
            Ok(SlackInteractionResponse::Empty)
        }
        _ => Ok(SlackInteractionResponse::Empty),
    }
}

type Listener = SlackClientSocketModeListener<SlackClientHyperHttpsConnector>;

async fn start_bot(emu: &Emulator) -> Listener {
    let state = TestBot {
        token: bot_token(emu),
    };
    let environment =
        Arc::new(SlackClientEventsListenerEnvironment::new(client(emu)).with_user_state(state));
    let callbacks = SlackSocketModeListenerCallbacks::new()
        .with_command_events(on_command)
        .with_interaction_events(on_interaction);
    let config = SlackClientSocketModeConfig::new().with_max_connections_count(1);
    let listener = SlackClientSocketModeListener::new(&config, environment, callbacks);
    listener
        .listen_for(&app_token(emu))
        .await
        .expect("token registered");
    listener.start().await;
    listener
}

#[tokio::test]
async fn socket_mode_listener_gets_hello_and_its_slash_ack_payload_is_recorded() {
    let emu = start(config()).await;
    let bot = start_bot(&emu).await;
    emu.wait_connected(1, WAIT)
        .await
        .expect("listener connects");

    let ack = emu
        .slash_command("U_ALICE", "/capacity", "help", "C_REQUESTS")
        .await
        .expect("slash command acked");
    assert_eq!(ack.text(), Some("Opening the request form for U_ALICE…"));
    assert_eq!(ack.envelope["type"], "slash_commands");

    let ephemerals = emu.ephemerals("U_ALICE");
    assert_eq!(ephemerals.len(), 1, "the ack payload became an ephemeral");
    assert_eq!(ephemerals[0].channel, "C_REQUESTS");
    assert_eq!(ephemerals[0].text, "Opening the request form for U_ALICE…");

    let deliveries = emu.deliveries();
    match &deliveries[0].outcome {
        DeliveryOutcome::Acked { latency, late, .. } => {
            assert!(!late);
            assert_eq!(*latency, ack.latency);
        }
        other => panic!("expected an ack, got {other:?}"),
    }
    bot.shutdown().await;
}

#[tokio::test]
async fn slash_modal_submission_and_button_click_run_end_to_end() {
    let emu = start(config()).await;
    let bot = start_bot(&emu).await;
    emu.wait_connected(1, WAIT)
        .await
        .expect("listener connects");

    emu.slash_command("U_ALICE", "/capacity", "new", "C_REQUESTS")
        .await
        .expect("acked");
    let view = emu
        .wait_for_view("U_ALICE", WAIT)
        .await
        .expect("modal opened");
    assert_eq!(view.callback_id(), "capacity_request_new");
    assert_eq!(
        view.json["blocks"][0]["optional"], false,
        "inputs echo optional:false"
    );

    let mut answers = json!({"title": "Q4 run", "resource": "gpu-a100", "quantity": 4,
                             "needed_by": "2025-11-03", "decision_owner": "U_BOB"});
    let refused = emu
        .submit_view(&view.id, "U_ALICE", answers.clone())
        .await
        .expect("acked");
    assert_eq!(refused.response_action(), Some("errors"));
    assert_eq!(
        refused.errors(),
        Some(&json!({"quantity": "At least 8, please."}))
    );
    let still_open = emu.view(&view.id).expect("view known");
    assert!(still_open.open, "errors keep the modal open");
    let submitted = &refused.envelope["payload"]["view"]["state"]["values"];
    assert_eq!(
        submitted["quantity"]["value"],
        json!({"type": "number_input", "value": "4"})
    );
    assert_eq!(
        submitted["decision_owner"]["value"]["selected_user"],
        "U_BOB"
    );
    assert_eq!(submitted["justification"]["value"]["value"], Value::Null);

    answers["quantity"] = json!(64);
    let accepted = emu
        .submit_view(&view.id, "U_ALICE", answers)
        .await
        .expect("acked");
    assert_eq!(accepted.payload, None);
    assert!(
        emu.open_view("U_ALICE").is_none(),
        "an empty ack closes the modal"
    );

    let request = emu
        .wait_for_message(|m| m.channel == "C_REQUESTS" && m.thread_ts.is_none(), WAIT)
        .await
        .expect("request posted");
    assert_eq!(request.text, "64 × gpu-a100");
    emu.click("U_BOB", &request.channel, &request.ts, "approve")
        .await
        .expect("click acked");
    let approved = emu
        .wait_for_message(|m| m.ts == request.ts && m.edits == 1, WAIT)
        .await
        .expect("message rewritten");
    assert_eq!(approved.render(), "Approved by @U_BOB");
    assert_eq!(emu.with_names(&approved.render()), "Approved by @bob");

    let gone = emu
        .click("U_BOB", &request.channel, &request.ts, "approve")
        .await;
    assert!(
        matches!(gone, Err(EmulatorError::NoSuchAction { .. })),
        "{gone:?}"
    );
    assert!(
        emu.log().iter().any(|e| e.text.contains("modal")),
        "the story mentions the modal"
    );
    bot.shutdown().await;
}

#[tokio::test]
async fn refresh_requested_disconnect_makes_the_listener_reconnect() {
    let emu = start(config()).await;
    let bot = start_bot(&emu).await;
    emu.wait_connected(1, WAIT)
        .await
        .expect("listener connects");

    assert_eq!(
        emu.disconnect_sockets(DisconnectReason::RefreshRequested),
        1
    );
    emu.wait_for_hellos(2, WAIT)
        .await
        .expect("a second socket says hello");
    emu.wait_connected(1, WAIT)
        .await
        .expect("the new socket is up");
    assert_eq!(
        emu.calls("apps.connections.open").len(),
        2,
        "a fresh URL per connection"
    );

    assert_eq!(emu.drop_sockets(), 1);
    emu.wait_for_hellos(3, WAIT)
        .await
        .expect("reconnects after an abrupt drop too");
    let ack = emu
        .slash_command("U_ALICE", "/capacity", "help", "C_REQUESTS")
        .await;
    assert!(ack.is_ok(), "the replacement socket answers: {ack:?}");
    bot.shutdown().await;
}

#[tokio::test]
async fn views_open_refuses_unknown_expired_and_reused_trigger_ids() {
    let emu = start(config()).await;
    let client = client(&emu);
    let token = bot_token(&emu);
    let session = client.open_session(&token);
    let view: SlackView = serde_json::from_value(modal()).expect("modal parses");
    let open = |trigger: &str| SlackApiViewsOpenRequest::new(trigger.into(), view.clone());

    let err = session
        .views_open(&open("1.2.nope"))
        .await
        .expect_err("unknown trigger");
    assert_eq!(api_error(err), "invalid_trigger_id");

    let stale = emu.mint_trigger_id("U_ALICE");
    emu.expire_trigger_ids();
    let err = session
        .views_open(&open(&stale))
        .await
        .expect_err("expired trigger");
    assert_eq!(api_error(err), "expired_trigger_id");

    let fresh = emu.mint_trigger_id("U_ALICE");
    let opened = session
        .views_open(&open(&fresh))
        .await
        .expect("fresh trigger works");
    assert!(opened.view.state_params.id.value().starts_with('V'));
    assert_eq!(
        emu.open_view("U_ALICE").map(|v| v.id),
        Some(opened.view.state_params.id.value().clone())
    );
    let err = session
        .views_open(&open(&fresh))
        .await
        .expect_err("used trigger");
    assert_eq!(api_error(err), "exchanged_trigger_id");
}

#[tokio::test]
async fn trigger_ids_expire_after_the_configured_ttl() {
    let emu = start(config().with_trigger_ttl(Duration::ZERO)).await;
    let client = client(&emu);
    let token = bot_token(&emu);
    let session = client.open_session(&token);
    let view: SlackView = serde_json::from_value(modal()).expect("modal parses");
    let trigger = emu.mint_trigger_id("U_ALICE");
    let err = session
        .views_open(&SlackApiViewsOpenRequest::new(trigger.into(), view))
        .await
        .expect_err("a zero TTL expires every trigger");
    assert_eq!(api_error(err), "expired_trigger_id");
}

/// A minimal HTTP/1.1 exchange, to send exactly the bytes a test wants.
async fn http(
    emu: &Emulator,
    request_line: &str,
    headers: &[&str],
    body: &str,
) -> (u16, String, Value) {
    let base = emu.api_url();
    let authority = base
        .trim_start_matches("http://")
        .trim_end_matches("/api")
        .to_owned();
    let mut stream = TcpStream::connect(&authority).await.expect("connect");
    let mut request =
        format!("{request_line} HTTP/1.1\r\nHost: {authority}\r\nConnection: close\r\n");
    for header in headers {
        request.push_str(header);
        request.push_str("\r\n");
    }
    request.push_str(&format!("Content-Length: {}\r\n\r\n{body}", body.len()));
    stream.write_all(request.as_bytes()).await.expect("write");
    let mut response = String::new();
    stream.read_to_string(&mut response).await.expect("read");
    let (head, body) = response.split_once("\r\n\r\n").expect("HTTP response");
    let status = head[9..12].parse().expect("status code");
    (
        status,
        head.to_owned(),
        serde_json::from_str(body).unwrap_or(Value::Null),
    )
}

async fn post_json(emu: &Emulator, method: &str, body: Value) -> Value {
    let auth = format!("Authorization: Bearer {}", emu.bot_token());
    let headers = [
        auth.as_str(),
        "Content-Type: application/json; charset=utf-8",
    ];
    http(
        emu,
        &format!("POST /api/{method}"),
        &headers,
        &body.to_string(),
    )
    .await
    .2
}

#[tokio::test]
async fn form_get_and_json_requests_are_all_understood() {
    let emu = start(config()).await;
    let form = format!(
        "token={}&channel=C_REQUESTS&text=hi&blocks={}",
        emu.bot_token(),
        url_encode(&json!([{"type": "divider"}]).to_string())
    );
    let headers = ["Content-Type: application/x-www-form-urlencoded"];
    let (status, _, posted) = http(&emu, "POST /api/chat.postMessage", &headers, &form).await;
    assert_eq!((status, &posted["ok"]), (200, &json!(true)), "{posted}");
    assert_eq!(
        posted["message"]["blocks"][0]["type"], "divider",
        "form blocks are JSON strings"
    );

    let get = format!("GET /api/users.info?user=U_BOB&token={}", emu.bot_token());
    let (_, _, user) = http(&emu, &get, &[], "").await;
    assert_eq!(user["user"]["name"], "bob");
    let get = format!(
        "GET /api/usergroups.users.list?usergroup=S_NOPE&token={}",
        emu.bot_token()
    );
    assert_eq!(
        http(&emu, &get, &[], "").await.2["error"],
        "no_such_subteam"
    );
    let get = format!(
        "GET /api/usergroups.users.list?usergroup=S_OWNERS&token={}",
        emu.bot_token()
    );
    assert_eq!(http(&emu, &get, &[], "").await.2["users"], json!(["U_BOB"]));

    let body = json!({"token": emu.bot_token(), "channel": "C_REQUESTS", "text": "x"}).to_string();
    let headers = ["Content-Type: application/json"];
    let (_, _, refused) = http(&emu, "POST /api/chat.postMessage", &headers, &body).await;
    assert_eq!(
        refused["error"], "not_authed",
        "JSON bodies need the Authorization header"
    );

    emu.fail_next("users.info", 1, Fault::rate_limited(3));
    let get = format!("GET /api/users.info?user=U_BOB&token={}", emu.bot_token());
    let (status, head, body) = http(&emu, &get, &[], "").await;
    assert_eq!(status, 429);
    assert!(
        head.to_ascii_lowercase().contains("retry-after: 3"),
        "{head}"
    );
    assert_eq!(body, json!({"ok": false, "error": "ratelimited"}));

    let first = post_json(&emu, "conversations.open", json!({"users": "U_BOB"})).await;
    let again = post_json(
        &emu,
        "conversations.open",
        json!({"users": "U_BOB", "return_im": true}),
    )
    .await;
    assert!(first["channel"]["id"]
        .as_str()
        .is_some_and(|id| id.starts_with('D')));
    assert_eq!(
        first["channel"]["id"], again["channel"]["id"],
        "same user, same DM"
    );
    assert_eq!(again["already_open"], true);
}

fn url_encode(text: &str) -> String {
    url::form_urlencoded::byte_serialize(text.as_bytes()).collect()
}

#[tokio::test]
async fn block_kit_limits_and_channel_rules_match_slack() {
    let emu = start(config()).await;
    let post = |blocks: Value| json!({"channel": "C_REQUESTS", "text": "x", "blocks": blocks});
    let section =
        |text: String| json!({"type": "section", "text": {"type": "mrkdwn", "text": text}});

    let long = post_json(
        &emu,
        "chat.postMessage",
        post(json!([section("a".repeat(3001))])),
    )
    .await;
    assert_eq!(
        long,
        json!({"ok": false, "error": "invalid_blocks",
               "errors": ["must be less than 3001 characters [json-pointer:/blocks/0/text/text]"],
               "response_metadata": {"messages": ["[ERROR] must be less than 3001 characters [json-pointer:/blocks/0/text/text]"]}})
    );
    let button = |id: &str, text: &str| json!({"type": "button", "action_id": id, "text": {"type": "plain_text", "text": text}});
    let cases = [
        (
            json!([{"type": "header", "text": {"type": "plain_text", "text": "h".repeat(151)}}]),
            "must be less than 151 characters [json-pointer:/blocks/0/text/text]",
        ),
        (
            json!([{"type": "actions", "elements": [button("a", &"b".repeat(76))]}]),
            "must be less than 76 characters [json-pointer:/blocks/0/elements/0/text/text]",
        ),
        (
            json!([{"type": "actions", "elements": [button("a", "x"), button("a", "y")]}]),
            "duplicate action_id \"a\" [json-pointer:/blocks/0/elements/1/action_id]",
        ),
        (
            json!([section(String::new())]),
            "must be more than 0 characters [json-pointer:/blocks/0/text/text]",
        ),
        (
            json!([{"type": "carousel"}]),
            "failed to match all allowed schemas [json-pointer:/blocks/0]",
        ),
        (
            json!([{"type": "section", "fields": (0..11).map(|i| json!({"type": "mrkdwn", "text": i.to_string()})).collect::<Vec<_>>()}]),
            "no more than 10 items allowed [json-pointer:/blocks/0/fields]",
        ),
    ];
    for (blocks, expected) in cases {
        let reply = post_json(&emu, "chat.postMessage", post(blocks)).await;
        assert_eq!(reply["errors"], json!([expected]), "{reply}");
    }
    let too_long = json!({"channel": "C_REQUESTS", "text": "x".repeat(40_001)});
    assert_eq!(
        post_json(&emu, "chat.postMessage", too_long).await["error"],
        "msg_too_long"
    );
    let big: Vec<Value> = (0..5).map(|_| section("y".repeat(2900))).collect();
    assert_eq!(
        post_json(&emu, "chat.postMessage", post(json!(big))).await["error"],
        "msg_blocks_too_long"
    );

    let outside = json!({"channel": "C_OUTSIDE", "text": "x"});
    assert_eq!(
        post_json(&emu, "chat.postMessage", outside).await["error"],
        "not_in_channel"
    );
    let nowhere = json!({"channel": "C_NOPE", "text": "x"});
    assert_eq!(
        post_json(&emu, "chat.postMessage", nowhere).await["error"],
        "channel_not_found"
    );

    let trigger = emu.mint_trigger_id("U_ALICE");
    let mut view = modal();
    view["title"]["text"] = json!("t".repeat(25));
    let refused = post_json(
        &emu,
        "views.open",
        json!({"trigger_id": trigger, "view": view}),
    )
    .await;
    assert_eq!(
        refused,
        json!({"ok": false, "error": "invalid_arguments", "response_metadata": {"messages":
               ["[ERROR] must be less than 25 characters [json-pointer:/view/title/text]"]}})
    );
}

type Socket = WebSocketStream<MaybeTlsStream<TcpStream>>;

/// A bare websocket client: opens a ticket with the app token and connects.
async fn raw_socket(emu: &Emulator) -> Socket {
    let client = client(emu);
    let opened = client
        .open_session(&app_token(emu))
        .apps_connections_open(&SlackApiAppsConnectionOpenRequest::new())
        .await
        .expect("ticket minted");
    let (socket, _) = tokio_tungstenite::connect_async(opened.url.value().as_str())
        .await
        .expect("upgrade accepted");
    socket
}

async fn next_json(socket: &mut Socket) -> Value {
    loop {
        let frame = tokio::time::timeout(WAIT, socket.next())
            .await
            .expect("a frame before the deadline")
            .expect("socket open")
            .expect("frame readable");
        if let Frame::Text(text) = frame {
            return serde_json::from_str(text.as_str()).unwrap_or_else(|_| json!(text.as_str()));
        }
    }
}

async fn ack(socket: &mut Socket, envelope: &Value, payload: Option<Value>) {
    let mut frame = json!({"envelope_id": envelope["envelope_id"]});
    if let Some(payload) = payload {
        frame["payload"] = payload;
    }
    socket
        .send(Frame::text(frame.to_string()))
        .await
        .expect("ack sent");
}

#[tokio::test]
async fn sockets_beyond_the_limit_get_too_many_websockets_and_tickets_are_single_use() {
    let emu = start(config().with_max_sockets(2)).await;
    let mut first = raw_socket(&emu).await;
    assert_eq!(next_json(&mut first).await["num_connections"], 1);
    let mut second = raw_socket(&emu).await;
    let hello = next_json(&mut second).await;
    assert_eq!(
        (hello["type"].as_str(), hello["num_connections"].as_u64()),
        (Some("hello"), Some(2))
    );
    assert_eq!(hello["connection_info"]["app_id"], emu.app_id());

    let mut third = raw_socket(&emu).await;
    let refusal = next_json(&mut third).await;
    assert_eq!(refusal["type"], "disconnect");
    assert_eq!(refusal["reason"], "too_many_websockets");
    assert_eq!(refusal["num_connections"], 3);
    emu.wait_connected(2, WAIT)
        .await
        .expect("two usable sockets");

    let opened = client(&emu)
        .open_session(&app_token(&emu))
        .apps_connections_open(&SlackApiAppsConnectionOpenRequest::new())
        .await
        .expect("ticket minted");
    let url = opened.url.value().to_owned();
    drop(first);
    emu.wait_connected(1, WAIT)
        .await
        .expect("the first socket is gone");
    let (_socket, _) = tokio_tungstenite::connect_async(url.as_str())
        .await
        .expect("ticket valid once");
    assert!(
        tokio_tungstenite::connect_async(url.as_str())
            .await
            .is_err(),
        "ticket reuse is refused"
    );
}

#[tokio::test]
async fn disconnect_sends_the_reason_and_drop_hangs_up_without_a_close_frame() {
    let emu = start(config()).await;
    let mut told = raw_socket(&emu).await;
    next_json(&mut told).await;
    assert_eq!(emu.disconnect_sockets(DisconnectReason::LinkDisabled), 1);
    let frame = next_json(&mut told).await;
    assert_eq!(frame["type"], "disconnect");
    assert_eq!(frame["reason"], "link_disabled");
    let closing = tokio::time::timeout(WAIT, told.next())
        .await
        .expect("closed in time");
    assert!(
        matches!(closing, Some(Ok(Frame::Close(_)))),
        "a close frame follows: {closing:?}"
    );
    emu.wait_connected(0, WAIT)
        .await
        .expect("counted as gone at once");

    let mut dropped = raw_socket(&emu).await;
    next_json(&mut dropped).await;
    emu.wait_connected(1, WAIT).await.expect("connected");
    assert_eq!(emu.drop_sockets(), 1);
    let end = tokio::time::timeout(WAIT, dropped.next())
        .await
        .expect("hung up in time");
    assert!(
        matches!(end, Some(Err(_)) | None),
        "no close frame, just EOF: {end:?}"
    );
}

#[tokio::test]
async fn unacked_events_are_redelivered_with_retry_attempt_and_reason() {
    let emu = start(config().with_ack_timeout(Duration::from_millis(200))).await;
    let mut socket = raw_socket(&emu).await;
    next_json(&mut socket).await;

    let (acked, ()) = tokio::join!(
        emu.app_mention("U_ALICE", "C_REQUESTS", "<@U07R1D8BOT9> status LCR-1", None),
        async {
            let first = next_json(&mut socket).await;
            assert_eq!(
                (
                    first["retry_attempt"].as_u64(),
                    first["retry_reason"].as_str()
                ),
                (Some(0), Some(""))
            );
            let second = next_json(&mut socket).await;
            assert_eq!(second["retry_attempt"], 1);
            assert_eq!(second["retry_reason"], "timeout");
            assert_eq!(
                second["payload"]["event_id"], first["payload"]["event_id"],
                "same event"
            );
            assert_eq!(second["payload"]["event"]["type"], "app_mention");
            ack(&mut socket, &second, None).await;
        }
    );
    let acked = acked.expect("the retry was acked");
    assert_eq!(acked.retry_attempt, 1);
    let outcomes: Vec<bool> = emu
        .deliveries()
        .iter()
        .map(|d| matches!(d.outcome, DeliveryOutcome::Acked { .. }))
        .collect();
    assert_eq!(outcomes, [false, true], "first timed out, second acked");
    assert_eq!(
        emu.messages("C_REQUESTS").len(),
        1,
        "the mention itself is a channel message"
    );
}

/// Runs `act` while answering every envelope on `socket` with `answer(envelope)`.
async fn answering<F, T>(
    socket: &mut Socket,
    answer: impl Fn(&Value) -> Option<Value>,
    act: F,
) -> (T, Vec<Value>)
where
    F: std::future::Future<Output = T>,
{
    let mut seen = Vec::new();
    tokio::pin!(act);
    loop {
        tokio::select! {
            done = &mut act => return (done, seen),
            frame = next_json(socket) => {
                if frame["envelope_id"].is_string() {
                    ack(socket, &frame, answer(&frame)).await;
                }
                seen.push(frame);
            }
        }
    }
}

#[tokio::test]
async fn interaction_envelopes_match_slack_shapes_and_parse_in_slack_morphism() {
    let emu = start(config()).await;
    let client = client(&emu);
    let token = bot_token(&emu);
    let session = client.open_session(&token);
    let mut socket = raw_socket(&emu).await;
    next_json(&mut socket).await;

    let (slash, seen) = answering(
        &mut socket,
        |_| Some(json!({"text": "ok"})),
        emu.slash_command("U_ALICE", "/capacity", "new", "C_REQUESTS"),
    )
    .await;
    let slash: Ack = slash.expect("acked");
    let payload = &seen[0]["payload"];
    let mut keys: Vec<&str> = payload
        .as_object()
        .expect("object")
        .keys()
        .map(String::as_str)
        .collect();
    keys.sort_unstable();
    assert_eq!(
        keys,
        [
            "api_app_id",
            "channel_id",
            "channel_name",
            "command",
            "is_enterprise_install",
            "response_url",
            "team_domain",
            "team_id",
            "text",
            "token",
            "trigger_id",
            "user_id",
            "user_name"
        ]
    );
    assert_eq!(slash.envelope["accepts_response_payload"], true);

    let response_url = payload["response_url"]
        .as_str()
        .expect("response_url")
        .to_owned();
    let path = response_url
        .split_once("/hooks/")
        .map(|(_, id)| format!("POST /hooks/{id}"))
        .expect("emulator hook");
    let (status, _, _) = http(
        &emu,
        &path,
        &["Content-Type: application/json"],
        &json!({"text": "later"}).to_string(),
    )
    .await;
    assert_eq!(status, 200);
    assert_eq!(
        emu.ephemerals("U_ALICE").last().map(|e| e.text.clone()),
        Some("later".to_owned())
    );

    let dm = session
        .conversations_open(
            &SlackApiConversationsOpenRequest::new().with_users(vec!["U_BOB".into()]),
        )
        .await
        .expect("DM opened")
        .channel
        .id;
    let posted = session
        .chat_post_message(&SlackApiChatPostMessageRequest::new(
            dm.clone(),
            SlackMessageContent::new()
                .with_text("remind".into())
                .with_blocks(blocks(request_blocks())),
        ))
        .await
        .expect("DM posted");
    assert_eq!(emu.dms("U_BOB").len(), 1);
    let (clicked, seen) = answering(
        &mut socket,
        |_| None,
        emu.click("U_BOB", dm.value(), posted.ts.value(), "reject"),
    )
    .await;
    clicked.expect("click acked");
    let click = &seen[0]["payload"];
    assert_eq!(
        click["channel"],
        json!({"id": dm.value(), "name": "directmessage"})
    );
    assert_eq!(click["container"]["message_ts"], posted.ts.value().as_str());
    assert_eq!(click["actions"][0]["value"], "LCR-1:reject");
    assert_eq!(click["actions"][0]["block_id"], "decision");
    assert_eq!(
        click["message"]["blocks"],
        emu.dms("U_BOB")[0].blocks,
        "the current stored message"
    );

    let trigger = emu.mint_trigger_id("U_ALICE");
    let mut small = modal();
    small["notify_on_close"] = json!(true);
    small["blocks"] = json!([{"type": "input", "block_id": "reason", "label": {"type": "plain_text", "text": "Why?"},
                              "element": {"type": "plain_text_input", "action_id": "value"}},
                             {"type": "actions", "elements": [button_json("more")]}]);
    post_json(
        &emu,
        "views.open",
        json!({"trigger_id": trigger, "view": small}),
    )
    .await;
    let view = emu
        .wait_for_view("U_ALICE", WAIT)
        .await
        .expect("modal open");
    let (in_view, seen_in_view) = answering(
        &mut socket,
        |_| None,
        emu.click_in_view("U_ALICE", &view.id, "more"),
    )
    .await;
    in_view.expect("acked");
    assert_eq!(
        seen_in_view[0]["payload"]["container"],
        json!({"type": "view", "view_id": view.id})
    );
    let update = json!({"response_action": "update", "view": {"type": "modal", "title": {"type": "plain_text", "text": "Thanks"},
                        "blocks": [{"type": "section", "text": {"type": "mrkdwn", "text": "Recorded."}}]}});
    let (submitted, mut all) = answering(
        &mut socket,
        |_| Some(update.clone()),
        emu.submit_view(&view.id, "U_ALICE", json!({"reason": "capacity"})),
    )
    .await;
    assert_eq!(submitted.expect("acked").response_action(), Some("update"));
    assert_eq!(
        emu.view(&view.id).map(|v| v.title().to_owned()),
        Some("Thanks".to_owned())
    );
    let (closed, seen_closed) =
        answering(&mut socket, |_| None, emu.close_view(&view.id, "U_ALICE")).await;
    assert!(
        closed.expect("closed").is_none(),
        "the updated view did not ask for view_closed"
    );
    assert!(seen_closed.is_empty());

    all.extend(seen);
    all.extend(seen_in_view);
    for delivery in &emu.deliveries() {
        assert_parses_in_slack_morphism(&delivery.envelope);
    }
    assert!(all.iter().all(|e| e["envelope_id"].is_string()));
}

/// The payload of an envelope parses as the slack-morphism model its `type` calls for.
fn assert_parses_in_slack_morphism(envelope: &Value) {
    let payload = envelope["payload"].clone();
    let parsed = match envelope["type"].as_str() {
        Some("slash_commands") => serde_json::from_value::<SlackCommandEvent>(payload).map(drop),
        Some("interactive") => serde_json::from_value::<SlackInteractionEvent>(payload).map(drop),
        Some("events_api") => serde_json::from_value::<SlackPushEventCallback>(payload).map(drop),
        other => panic!("unexpected envelope type {other:?}"),
    };
    assert!(
        parsed.is_ok(),
        "slack-morphism parses {envelope}: {parsed:?}"
    );
}

fn button_json(action_id: &str) -> Value {
    json!({"type": "button", "action_id": action_id, "text": {"type": "plain_text", "text": "More"}})
}

#[tokio::test]
async fn raw_frames_and_redeliveries_are_recorded() {
    let emu = start(config().with_ack_timeout(Duration::from_millis(300))).await;
    let mut socket = raw_socket(&emu).await;
    next_json(&mut socket).await;

    let (ack_first, _) = answering(
        &mut socket,
        |_| None,
        emu.slash_command("U_ALICE", "/capacity", "x", "C_REQUESTS"),
    )
    .await;
    let first = ack_first.expect("acked");
    let (again, seen) = answering(&mut socket, |_| None, emu.redeliver(&first.envelope)).await;
    assert_eq!(again.expect("acked").envelope_id, first.envelope_id);
    assert_eq!(
        seen[0]["envelope_id"], first.envelope["envelope_id"],
        "same envelope id"
    );

    let hostile =
        r#"{"envelope_id":"e-1","type":"interactive","payload":{"type":"block_actions"}}"#;
    let (raw, _) = answering(&mut socket, |_| None, emu.send_raw_envelope(hostile, WAIT)).await;
    assert_eq!(
        raw.expect("sent").map(|a| a.envelope_id),
        Some("e-1".to_owned())
    );
    let garbage = emu.send_raw_envelope("not json", WAIT).await;
    assert_eq!(
        garbage.expect("sent"),
        None,
        "no envelope_id, nothing to wait for"
    );
    assert_eq!(
        next_json(&mut socket).await,
        json!("not json"),
        "sent verbatim"
    );

    socket
        .send(Frame::text(r#"{"hello":"?"}"#))
        .await
        .expect("sent");
    let stray = emu
        .wait_for_log(|e| e.text.contains("unexpected frame"), WAIT)
        .await;
    assert!(stray.is_ok(), "{stray:?}");
    assert_eq!(emu.stray_frames(), [r#"{"hello":"?"}"#]);

    let silent = emu
        .slash_command("U_ALICE", "/capacity", "x", "C_REQUESTS")
        .await;
    assert!(
        matches!(silent, Err(EmulatorError::AckTimeout { .. })),
        "{silent:?}"
    );
}

#[tokio::test]
async fn views_update_push_permalinks_and_ephemerals_follow_slack_rules() {
    let emu = start(config()).await;
    let trigger = emu.mint_trigger_id("U_ALICE");
    let opened = post_json(
        &emu,
        "views.open",
        json!({"trigger_id": trigger, "view": modal()}),
    )
    .await;
    let id = opened["view"]["id"].as_str().expect("view id").to_owned();
    let hash = opened["view"]["hash"].clone();

    let stale = json!({"view_id": id, "hash": "1.stale", "view": modal()});
    assert_eq!(
        post_json(&emu, "views.update", stale).await["error"],
        "hash_conflict"
    );
    let mut second = modal();
    second["title"]["text"] = json!("Step 2");
    let updated = post_json(
        &emu,
        "views.update",
        json!({"view_id": id, "hash": hash, "view": second}),
    )
    .await;
    assert_eq!(updated["view"]["id"], id.as_str(), "same view, new content");
    assert_ne!(updated["view"]["hash"], hash);
    assert_eq!(
        emu.open_view("U_ALICE")
            .map(|v| v.title().to_owned())
            .as_deref(),
        Some("Step 2")
    );
    let unknown = json!({"view_id": "V_NOPE", "view": modal()});
    assert_eq!(
        post_json(&emu, "views.update", unknown).await["error"],
        "not_found"
    );

    let mut pushes = Vec::new();
    for _ in 0..3 {
        let trigger = emu.mint_trigger_id("U_ALICE");
        let pushed = post_json(
            &emu,
            "views.push",
            json!({"trigger_id": trigger, "view": modal()}),
        )
        .await;
        pushes.push(pushed["error"].as_str().unwrap_or("ok").to_owned());
    }
    assert_eq!(
        pushes,
        ["ok", "ok", "push_limit_reached"],
        "a stack holds 3 views"
    );
    let top = emu.open_view("U_ALICE").expect("a view is open");
    assert_eq!(top.json["root_view_id"], id.as_str());

    let parent = post_json(
        &emu,
        "chat.postMessage",
        json!({"channel": "C_REQUESTS", "text": "parent"}),
    )
    .await;
    let parent_ts = parent["ts"].as_str().expect("ts").to_owned();
    let reply = json!({"channel": "C_REQUESTS", "text": "reply", "thread_ts": parent_ts});
    let reply_ts = post_json(&emu, "chat.postMessage", reply).await["ts"]
        .as_str()
        .expect("ts")
        .to_owned();
    let get = format!(
        "GET /api/chat.getPermalink?channel=C_REQUESTS&message_ts={reply_ts}&token={}",
        emu.bot_token()
    );
    let link = http(&emu, &get, &[], "").await.2;
    let expected = format!(
        "https://acme-infra.slack.com/archives/C_REQUESTS/p{}?thread_ts={parent_ts}&cid=C_REQUESTS",
        reply_ts.replace('.', "")
    );
    assert_eq!(link["permalink"], expected.as_str());

    let ephemeral = json!({"channel": "C_REQUESTS", "user": "U_BOB", "text": "only for Bob"});
    assert!(post_json(&emu, "chat.postEphemeral", ephemeral).await["message_ts"].is_string());
    assert_eq!(emu.ephemerals("U_BOB")[0].text, "only for Bob");
    let stranger = json!({"channel": "C_REQUESTS", "user": "U_NOPE", "text": "x"});
    assert_eq!(
        post_json(&emu, "chat.postEphemeral", stranger).await["error"],
        "user_not_in_channel"
    );
}

fn fixture(name: &str) -> Value {
    let path = format!("{}/tests/fixtures/slack/{name}", env!("CARGO_MANIFEST_DIR"));
    serde_json::from_str(&std::fs::read_to_string(&path).expect("fixture exists"))
        .expect("fixture is JSON")
}

/// The keys of a JSON object, recursively into the first element of arrays: the shape.
fn shape(value: &Value) -> Value {
    match value {
        Value::Object(map) => {
            Value::Object(map.iter().map(|(k, v)| (k.clone(), shape(v))).collect())
        }
        Value::Array(items) => Value::Array(items.first().map(shape).into_iter().collect()),
        _ => Value::Null,
    }
}

#[tokio::test]
async fn external_upload_flow_records_the_file_and_answers_in_slacks_shapes() {
    let emu = start(config()).await;
    let client = client(&emu);
    let token = bot_token(&emu);
    let session = client.open_session(&token);
    let bytes = b"\x89PNG\r\n\x1a\nnot really a picture".to_vec();

    let url = session
        .get_upload_url_external(&SlackApiFilesGetUploadUrlExternalRequest::new(
            "chart.png".into(),
            bytes.len(),
        ))
        .await
        .expect("an upload URL");
    assert!(url.upload_url.0.as_str().starts_with("http://127.0.0.1:"));
    session
        .files_upload_via_url(&SlackApiFilesUploadViaUrlRequest::new(
            url.upload_url.clone(),
            bytes.clone(),
            "image/png".into(),
        ))
        .await
        .expect("the bytes are taken");
    let done = session
        .files_complete_upload_external(
            &SlackApiFilesCompleteUploadExternalRequest::new(vec![SlackApiFilesComplete::new(
                url.file_id.clone(),
            )
            .with_title("Chart".into())])
            .with_channel_id("C_REQUESTS".into())
            .with_initial_comment("this week".into()),
        )
        .await
        .expect("completed");
    assert_eq!(done.files[0].id, url.file_id);
    assert_eq!(done.files[0].title.as_deref(), Some("Chart"));

    let files = emu.wait_for_files(1, WAIT).await.expect("recorded");
    assert_eq!(files[0].bytes, bytes);
    assert_eq!(files[0].filename, "chart.png");
    assert_eq!(files[0].title, "Chart");
    assert_eq!(files[0].channel.as_deref(), Some("C_REQUESTS"));
    let shared = emu.messages("C_REQUESTS");
    assert_eq!(shared.len(), 1);
    assert_eq!(shared[0].text, "this week");
    assert_eq!(Some(&shared[0].ts), files[0].message_ts.as_ref());

    // The replies have the documented shapes.
    let replies = |method: &str| -> Vec<Value> {
        emu.calls(method).into_iter().map(|c| c.response).collect()
    };
    assert_eq!(
        shape(&replies("files.getUploadURLExternal")[0]),
        shape(&fixture("web_files_getUploadURLExternal_ok.json"))
    );
    assert_eq!(
        shape(&replies("files.completeUploadExternal")[0]),
        shape(&fixture("web_files_completeUploadExternal_ok.json"))
    );
    assert_eq!(
        replies(slack_emulator::UPLOAD_URL)[0],
        json!(format!("OK - {}", bytes.len()))
    );

    // Completing again, a length of 0 and a wrong byte count are refused as on Slack.
    let again = session
        .files_complete_upload_external(&SlackApiFilesCompleteUploadExternalRequest::new(vec![
            SlackApiFilesComplete::new(url.file_id.clone()),
        ]))
        .await
        .expect_err("already completed");
    assert_eq!(api_error(again), "file_not_found");
    assert_eq!(
        replies("files.completeUploadExternal")[1],
        fixture("web_files_completeUploadExternal_error_file_not_found.json")
    );
    let empty = session
        .get_upload_url_external(&SlackApiFilesGetUploadUrlExternalRequest::new(
            "empty.png".into(),
            0,
        ))
        .await
        .expect_err("length 0");
    assert_eq!(api_error(empty), "missing_argument");
    assert_eq!(
        replies("files.getUploadURLExternal")[1],
        fixture("web_files_getUploadURLExternal_error_missing_argument.json")
    );
    let short = session
        .get_upload_url_external(&SlackApiFilesGetUploadUrlExternalRequest::new(
            "short.png".into(),
            100,
        ))
        .await
        .expect("an upload URL");
    match session
        .files_upload_via_url(&SlackApiFilesUploadViaUrlRequest::new(
            short.upload_url,
            bytes.clone(),
            "image/png".into(),
        ))
        .await
    {
        Err(SlackClientError::HttpError(e)) => assert_eq!(e.status_code.as_u16(), 400),
        other => panic!("expected HTTP 400, got {other:?}"),
    }
    assert_eq!(emu.files().len(), 1);
}

#[tokio::test]
async fn faults_reach_the_upload_url_too() {
    let emu = start(config()).await;
    let client = client(&emu);
    let token = bot_token(&emu);
    let session = client.open_session(&token);
    let url = session
        .get_upload_url_external(&SlackApiFilesGetUploadUrlExternalRequest::new(
            "a.txt".into(),
            1,
        ))
        .await
        .expect("an upload URL");
    emu.fail_next(slack_emulator::UPLOAD_URL, 1, Fault::HttpStatus(503));
    let upload =
        SlackApiFilesUploadViaUrlRequest::new(url.upload_url, b"a".to_vec(), "text/plain".into());
    match session.files_upload_via_url(&upload).await {
        Err(SlackClientError::HttpError(e)) => assert_eq!(e.status_code.as_u16(), 503),
        other => panic!("expected HTTP 503, got {other:?}"),
    }
    session
        .files_upload_via_url(&upload)
        .await
        .expect("the fault is used up");
}

/// A message with an overflow menu and a user picker, as a bot renders them.
fn menu_blocks() -> Value {
    json!([
        {"type": "section", "block_id": "about", "text": {"type": "mrkdwn", "text": "LCR-7"}},
        {"type": "actions", "block_id": "actions", "elements": [
            {"type": "button", "action_id": "approve", "text": {"type": "plain_text", "text": "Approve"}, "value": "LCR-7|v1"},
            {"type": "overflow", "action_id": "more_actions", "options": [
                {"text": {"type": "plain_text", "text": "Comment…"}, "value": "comment_added|LCR-7|v1"},
                {"text": {"type": "plain_text", "text": "Reassign owner…"}, "value": "owner_reassigned|LCR-7|v1"}
            ]}
        ]},
        {"type": "actions", "block_id": "assign:LCR-7", "elements": [
            {"type": "users_select", "action_id": "assign", "placeholder": {"type": "plain_text", "text": "Assign owner…"}}
        ]}
    ])
}

async fn post_menu(emu: &Emulator) -> String {
    let session_client = client(emu);
    let token = bot_token(emu);
    let session = session_client.open_session(&token);
    let content = SlackMessageContent::new()
        .with_text("LCR-7".into())
        .with_blocks(blocks(menu_blocks()));
    session
        .chat_post_message(&SlackApiChatPostMessageRequest::new(
            "C_REQUESTS".into(),
            content,
        ))
        .await
        .expect("a menu with two options is valid")
        .ts
        .value()
        .to_owned()
}

#[tokio::test]
async fn an_overflow_option_and_a_user_pick_arrive_in_slacks_block_actions_shape() {
    let emu = start(config()).await;
    let bot = start_bot(&emu).await;
    emu.wait_connected(1, WAIT)
        .await
        .expect("listener connects");
    let ts = post_menu(&emu).await;

    let missing = emu
        .choose_option("U_ALICE", "C_REQUESTS", &ts, "more_actions", "nope")
        .await;
    assert!(
        matches!(missing, Err(EmulatorError::InvalidInput(_))),
        "{missing:?}"
    );
    let not_a_menu = emu
        .choose_option("U_ALICE", "C_REQUESTS", &ts, "approve", "x")
        .await;
    assert!(
        matches!(not_a_menu, Err(EmulatorError::NoSuchAction { .. })),
        "{not_a_menu:?}"
    );

    let ack = emu
        .choose_option(
            "U_ALICE",
            "C_REQUESTS",
            &ts,
            "more_actions",
            "owner_reassigned|LCR-7|v1",
        )
        .await
        .expect("acked");
    let payload = &ack.envelope["payload"];
    assert_eq!(payload["type"], "block_actions");
    assert_eq!(payload["container"]["message_ts"], ts.as_str());
    let mut action = payload["actions"][0].clone();
    assert!(action["action_ts"].is_string());
    action.as_object_mut().unwrap().remove("action_ts");
    assert_eq!(
        action,
        json!({
            "type": "overflow",
            "action_id": "more_actions",
            "block_id": "actions",
            "selected_option": {
                "text": {"type": "plain_text", "text": "Reassign owner…", "emoji": true},
                "value": "owner_reassigned|LCR-7|v1"
            }
        })
    );
    // slack-morphism, which reads Slack's real payloads, reads this one too.
    let typed: SlackInteractionEvent =
        serde_json::from_value(payload.clone()).expect("a block_actions event");
    assert!(matches!(typed, SlackInteractionEvent::BlockActions(_)));

    // The test bot rewrote that message; pick a user on a fresh one.
    let ts = post_menu(&emu).await;
    let unknown = emu
        .select_user("U_ALICE", "C_REQUESTS", &ts, "assign", "U_NOBODY")
        .await;
    assert!(
        matches!(unknown, Err(EmulatorError::UnknownUser(_))),
        "{unknown:?}"
    );
    let ack = emu
        .select_user("U_ALICE", "C_REQUESTS", &ts, "assign", "U_BOB")
        .await
        .expect("acked");
    let mut action = ack.envelope["payload"]["actions"][0].clone();
    action.as_object_mut().unwrap().remove("action_ts");
    assert_eq!(
        action,
        json!({"type": "users_select", "action_id": "assign", "block_id": "assign:LCR-7",
               "selected_user": "U_BOB"})
    );
    bot.shutdown().await;
}

#[tokio::test]
async fn an_overflow_menu_holds_one_to_five_options_of_at_most_150_character_values() {
    let emu = start(config()).await;
    let session_client = client(&emu);
    let token = bot_token(&emu);
    let session = session_client.open_session(&token);
    let option = |v: String| json!({"text": {"type": "plain_text", "text": "x"}, "value": v});
    let menu = |options: Vec<Value>| {
        json!([{"type": "actions", "block_id": "a", "elements": [
            {"type": "overflow", "action_id": "more_actions", "options": options}]}])
    };
    let cases = [
        (
            menu((0..6).map(|i| option(i.to_string())).collect()),
            "no more than 5 items allowed [json-pointer:/blocks/0/elements/0/options]",
        ),
        (
            menu(vec![]),
            "no less than 1 items allowed [json-pointer:/blocks/0/elements/0/options]",
        ),
        (
            menu(vec![option("v".repeat(151))]),
            "must be less than 151 characters [json-pointer:/blocks/0/elements/0/options/0/value]",
        ),
    ];
    for (blocks_json, expected) in cases {
        let content = SlackMessageContent::new()
            .with_text("x".into())
            .with_blocks(blocks(blocks_json));
        let err = session
            .chat_post_message(&SlackApiChatPostMessageRequest::new(
                "C_REQUESTS".into(),
                content,
            ))
            .await
            .expect_err("refused");
        match err {
            SlackClientError::ApiError(e) => {
                assert_eq!(e.code, "invalid_blocks");
                assert_eq!(e.errors, Some(vec![expected.to_owned()]));
            }
            other => panic!("unexpected {other:?}"),
        }
    }
}

#[tokio::test]
async fn bot_calls_carry_the_scope_headers_and_a_missing_scope_is_refused_as_slack_does() {
    let emu = start(EmulatorConfig::default().with_bot_scopes(["commands", "users:read"])).await;
    let auth = format!("Authorization: Bearer {}", emu.bot_token());
    let (status, head, body) = http(&emu, "POST /api/auth.test", &[auth.as_str()], "").await;
    assert_eq!((status, body["ok"].as_bool()), (200, Some(true)));
    let head = head.to_ascii_lowercase();
    assert!(
        head.contains("\r\nx-oauth-scopes: commands,users:read\r\n"),
        "{head}"
    );
    assert!(head.contains("\r\nx-accepted-oauth-scopes: \r\n"), "{head}");

    let reply = post_json(
        &emu,
        "chat.postMessage",
        json!({"channel": "C1", "text": "hi"}),
    )
    .await;
    assert_eq!(
        reply,
        fixture("web_chat_postMessage_error_missing_scope.json"),
        "the shape of Slack's own missing_scope reply"
    );
    // The defaults let a token call everything the emulator serves.
    let emu = start(EmulatorConfig::default()).await;
    let auth = format!("Authorization: Bearer {}", emu.bot_token());
    let (_, head, _) = http(&emu, "POST /api/auth.test", &[auth.as_str()], "").await;
    assert!(
        head.to_ascii_lowercase().contains(&format!(
            "x-oauth-scopes: {}",
            slack_emulator::DEFAULT_BOT_SCOPES.join(",")
        )),
        "{head}"
    );
}

/// The emulator's shortcuts and message events have the shapes of Slack's, as the fixtures
/// record them (keys, recursively).
#[tokio::test]
async fn shortcut_and_message_event_envelopes_match_slack_shapes() {
    let emu = start(
        config()
            .with_user("U_CAROL", "carol", "Carol Example")
            .with_channel("G_PRIVATE", "deal-room", true),
    )
    .await;
    let mut socket = raw_socket(&emu).await;
    next_json(&mut socket).await;
    let ack_all = |_: &Value| None;

    let (posted, seen) = answering(
        &mut socket,
        ack_all,
        emu.post_user_message("U_ALICE", "C_REQUESTS", "Acme needs 64XL", None),
    )
    .await;
    let root = posted.expect("posted").ts;
    let (answer, reply) = answering(
        &mut socket,
        ack_all,
        emu.post_user_message("U_BOB", "C_REQUESTS", "is CR-12 still needed?", Some(&root)),
    )
    .await;
    assert_eq!(
        shape(&reply[0]["payload"]),
        shape(&fixture("envelope_events_api_message_channels_thread_reply.json")["payload"])
    );
    let _ = seen;
    let answer = answer.expect("replied").ts;
    let (_, group) = answering(
        &mut socket,
        ack_all,
        emu.post_user_message("U_ALICE", "G_PRIVATE", "CR-1", None),
    )
    .await;
    assert_eq!(group[0]["payload"]["event"]["channel_type"], "group");
    assert_eq!(
        shape(&group[0]["payload"]),
        shape(&fixture("envelope_events_api_message_groups.json")["payload"])
    );
    let (_, edit) = answering(
        &mut socket,
        ack_all,
        emu.edit_user_message("U_BOB", "C_REQUESTS", &answer, "CR-12, for Acme?"),
    )
    .await;
    assert_eq!(
        shape(&edit[0]["payload"]),
        shape(&fixture("envelope_events_api_message_changed.json")["payload"])
    );
    let (_, bot) = answering(
        &mut socket,
        ack_all,
        emu.post_bot_message("B_OTHER", "deploybot", "C_REQUESTS", "deployed", None),
    )
    .await;
    assert_eq!(
        shape(&bot[0]["payload"]),
        shape(&fixture("envelope_events_api_message_bot_message.json")["payload"])
    );
    let (_, action) = answering(
        &mut socket,
        ack_all,
        emu.message_shortcut(
            "U_BOB",
            "C_REQUESTS",
            &root,
            "capacity_request_from_message",
        ),
    )
    .await;
    let mut expected = fixture("envelope_interactive_message_action.json");
    let mut got = action[0].clone();
    // The emulator's stored message carries no `client_msg_id`/`blocks` differences beyond
    // what interaction payloads echo; compare the payload's own fields.
    for v in [&mut expected, &mut got] {
        v["payload"].as_object_mut().unwrap().remove("message");
    }
    assert_eq!(shape(&got["payload"]), shape(&expected["payload"]));
    assert_eq!(action[0]["payload"]["message"]["ts"], root.as_str());
    let (_, global) = answering(
        &mut socket,
        ack_all,
        emu.global_shortcut("U_BOB", "capacity_request_new"),
    )
    .await;
    assert_eq!(
        shape(&global[0]["payload"]),
        shape(&fixture("envelope_interactive_shortcut.json")["payload"])
    );
    // Outside the app's channels nothing is delivered.
    let outside = emu
        .post_user_message("U_ALICE", "C_OUTSIDE", "CR-1", None)
        .await
        .unwrap();
    assert!(outside.ack.is_none());
}
