//! Deactivating a member, as a workspace admin does: `users.info` then answers
//! `deleted: true`, and apps subscribed to `user_change` get the event with the user object.

use serde_json::json;

use super::error::EmulatorError;
use super::web_api::directory::user_json;
use super::{Ack, Emulator};

impl Emulator {
    /// Deactivates seeded user `id` and delivers the `user_change` event Slack sends for it.
    pub async fn deactivate_user(&self, id: &str) -> Result<Ack, EmulatorError> {
        let event = self.mark_deactivated(id)?;
        self.send_event(event).await
    }

    /// Deactivates seeded user `id` without the `user_change` event: what an app sees when
    /// it was disconnected (or not subscribed) at the time. Only `users.info` tells.
    pub fn deactivate_user_silently(&self, id: &str) -> Result<(), EmulatorError> {
        self.mark_deactivated(id).map(|_| ())
    }

    /// Marks `id` deactivated; returns the `user_change` event Slack would send for it.
    fn mark_deactivated(&self, id: &str) -> Result<serde_json::Value, EmulatorError> {
        let seed = self.seeded_user(id)?;
        let now = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map_or(0, |d| d.as_secs());
        Ok(self.shared.update(|st| {
            st.deactivated.insert(id.to_owned());
            let mut user = user_json(&self.shared, &seed);
            user["deleted"] = json!(true);
            user["updated"] = json!(now);
            json!({
                "type": "user_change",
                "user": user,
                "cache_ts": now,
                "event_ts": format!("{now}.000100"),
            })
        }))
    }
}
