//! App Home: `app_home_opened` (Events API) queues a publish of the person's Home, and a
//! button clicked on Home is checked as strictly as one on a request's root message.

use serde_json::Value;
use tracing::{info, warn};

use super::{str_at, Reply};
use crate::context::AppState;
use crate::domain::UserId;
use crate::render::action_value::ActionValue;
use crate::render::home::actions_block_id;
use crate::store;

/// Which tab of the App Home was opened.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Tab {
    Home,
    Messages,
    /// A tab Slack may add later (e.g. `about`): nothing to publish.
    Other,
}

/// `app_home_opened`, read at the edge.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct HomeOpened {
    pub user: UserId,
    pub tab: Tab,
    /// The Home view Slack showed, present once a Home was published for this user.
    pub view_id: Option<String>,
}

/// Reads an Events API payload carrying `app_home_opened`; a payload without a valid user
/// or tab is refused with the reason.
pub fn parse_home_opened(payload: &Value) -> Result<HomeOpened, String> {
    let event = payload
        .get("event")
        .filter(|e| e.is_object())
        .ok_or("no `event` object")?;
    let user = str_at(event, "/user").ok_or("no `event.user`")?;
    let user = UserId::parse(user).map_err(|e| format!("`event.user` is not a user id: {e}"))?;
    let tab = match event.get("tab") {
        Some(Value::String(t)) if t == "home" => Tab::Home,
        Some(Value::String(t)) if t == "messages" => Tab::Messages,
        Some(Value::String(_)) => Tab::Other,
        Some(_) => return Err("`event.tab` is not a string".into()),
        // Older payloads (before tabs) mean the Messages tab.
        None => Tab::Messages,
    };
    let view_id = match event.pointer("/view/id") {
        None | Some(Value::Null) => None,
        Some(Value::String(id)) if valid_view_id(id) => Some(id.clone()),
        Some(_) => return Err("`event.view.id` is not a view id".into()),
    };
    Ok(HomeOpened { user, tab, view_id })
}

fn valid_view_id(id: &str) -> bool {
    id.len() <= 32 && id.starts_with('V') && id.chars().all(|c| c.is_ascii_alphanumeric())
}

/// The ack goes at once: the publish is an outbox row, queued after the ack by a task of
/// the daemon's, so neither the database nor Slack stands between Slack and its ack.
pub async fn opened(state: &std::sync::Arc<AppState>, payload: &Value) {
    let opened = match parse_home_opened(payload) {
        Ok(o) => o,
        Err(why) => {
            warn!(
                why,
                "refused a malformed app_home_opened event; nothing published"
            );
            return;
        }
    };
    if opened.tab != Tab::Home {
        info!(user = %opened.user, tab = ?opened.tab, "App Home opened on a tab we publish nothing to");
        return;
    }
    let state = std::sync::Arc::clone(state);
    let tasks = state.tasks.clone();
    tasks.spawn(async move {
        let now = state.clock.now();
        let queued = tokio::time::timeout(
            super::DB_BUDGET,
            store::home::opened(&state.pool, &opened.user, opened.view_id.as_deref(), now),
        )
        .await;
        match queued {
            Ok(Ok(())) => info!(user = %opened.user, "Home opened; publish queued"),
            Ok(Err(e)) => {
                warn!(error.message = %e, user = %opened.user, "could not queue a Home publish; the next opening tries again")
            }
            Err(_) => {
                warn!(user = %opened.user, "the database did not answer in time to queue a Home publish")
            }
        }
    });
}

/// Whether a `block_actions` payload came from a Home tab.
pub fn from_home(payload: &Value) -> bool {
    str_at(payload, "/container/type") == Some("view")
        && str_at(payload, "/view/type") == Some("home")
}

/// A click on Home must come from the Home view this daemon published to the clicker, and
/// from the line of the request its value names: the counterpart of the root message
/// check (`store::Button::check`), which cannot apply here since Home is no message. The
/// number is still checked against the request by the append, as for any button.
pub async fn check_click(
    state: &AppState,
    payload: &Value,
    user: &UserId,
    action: &Value,
    value: &ActionValue,
) -> Result<(), Reply> {
    let clicked_view =
        str_at(payload, "/view/id").or_else(|| str_at(payload, "/container/view_id"));
    let published = tokio::time::timeout(super::DB_BUDGET, store::home::view_id(&state.pool, user))
        .await
        .map_err(|_| Reply::NotRecorded)?
        .map_err(|_| Reply::NotRecorded)?;
    if clicked_view.is_none() || clicked_view != published.as_deref() {
        warn!(%user, ?clicked_view, ?published, "a click from a Home view we did not publish to this user");
        return Err(Reply::Text(
            "That button is not on your current Home tab; nothing was recorded. Open the \
             app's Home tab again and use the buttons there."
                .into(),
        ));
    }
    if str_at(action, "/block_id") != Some(actions_block_id(value.number).as_str()) {
        warn!(%user, number = %value.number, "a Home button whose value names another request than its line");
        return Err(Reply::Text(format!(
            "That button says {n}, but it was not on {n}'s line of your Home; nothing was \
             recorded. Use the buttons under {n} on your Home tab.",
            n = value.number
        )));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn payload(event: Value) -> Value {
        json!({"type": "event_callback", "event": event})
    }

    #[test]
    fn slacks_app_home_opened_reads_as_a_typed_input() {
        let opened = parse_home_opened(&payload(json!({
            "type": "app_home_opened", "user": "U123ABC456", "channel": "D123ABC456",
            "event_ts": "1515449522000016", "tab": "home",
            "view": {"id": "V123ABC456", "type": "home"}
        })))
        .expect("parses");
        assert_eq!(opened.tab, Tab::Home);
        assert_eq!(opened.view_id.as_deref(), Some("V123ABC456"));
        let messages = parse_home_opened(&payload(json!({
            "type": "app_home_opened", "user": "U123ABC456", "tab": "messages"
        })))
        .expect("parses");
        assert_eq!(messages.tab, Tab::Messages);
        assert_eq!(messages.view_id, None);
    }

    fn fixture(name: &str) -> Value {
        serde_json::from_str(&crate::slack::fixture(name)).expect("JSON")
    }

    #[test]
    fn slacks_own_home_envelopes_parse() {
        let opened = fixture("envelope_events_api_app_home_opened.json");
        let parsed = parse_home_opened(&opened["payload"]).expect("parses");
        assert_eq!(parsed.tab, Tab::Home);
        assert_eq!(parsed.view_id.as_deref(), Some("V07R2H0ME01"));
        let click = fixture("envelope_interactive_block_actions_home.json");
        assert!(from_home(&click["payload"]));
        assert_eq!(
            str_at(&click["payload"], "/actions/0/block_id"),
            Some(actions_block_id(crate::domain::RequestNumber(142)).as_str())
        );
    }

    #[test]
    fn hostile_app_home_opened_events_are_refused_with_a_reason() {
        let cases = [
            json!({"type": "event_callback"}),
            payload(json!("app_home_opened")),
            payload(json!({"type": "app_home_opened", "tab": "home"})),
            payload(json!({"type": "app_home_opened", "user": 42, "tab": "home"})),
            payload(json!({"type": "app_home_opened", "user": "<!channel>", "tab": "home"})),
            payload(json!({"type": "app_home_opened", "user": "U1", "tab": ["home"]})),
            payload(
                json!({"type": "app_home_opened", "user": "U1", "tab": "home",
                           "view": {"id": "V1'; DROP TABLE x;--"}}),
            ),
            payload(
                json!({"type": "app_home_opened", "user": "U1", "tab": "home",
                           "view": {"id": "V".repeat(5000)}}),
            ),
        ];
        for (n, case) in cases.iter().enumerate() {
            let refused = parse_home_opened(case);
            assert!(refused.is_err(), "case {n} refused: {refused:?}");
            assert!(!refused.unwrap_err().is_empty());
        }
    }
}
