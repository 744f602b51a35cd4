//! Delivering the weekly digest: the message, then the chart through Slack's external
//! upload. What Slack answered is stored after each step, so a retry after a failed upload
//! uploads again without posting the message twice, and a digest already complete is left
//! alone.

use chrono::{DateTime, Utc};
use tracing::{info, warn};

use super::error::DeliveryError;
use super::Deliverer;
use crate::render::digest::{chart_title, digest_message};
use crate::report::digest::{chart_png, gather};
use crate::slack::api::Upload;
use crate::store;

impl Deliverer {
    pub(super) async fn post_digest(&self, slot: DateTime<Utc>) -> Result<(), DeliveryError> {
        let state = &self.state;
        let Some(settings) = &state.settings.digest else {
            return Err(DeliveryError::Missing(format!(
                "the digest of {slot} was queued, but [digest] is no longer configured"
            )));
        };
        let Some(row) = store::digests::get(&state.pool, slot).await? else {
            return Err(DeliveryError::Missing(format!(
                "the digest of {slot} is not recorded"
            )));
        };
        if row.posted_at.is_some() {
            return Ok(());
        }
        let policy = &state.settings.policy;
        let calendar = &policy.calendar;
        let now = state.clock.now();
        let digest = gather(&state.pool, policy, &settings.slot, slot, now).await?;
        let channel = row.channel.as_str();
        if row.message_ts.is_none() {
            let content = digest_message(&digest, state.roles.roles(), calendar);
            let ts = state.api.post_message(channel, content, None).await?;
            // Stored before anything else can fail, so a retry does not post it again.
            store::digests::set_message(&state.pool, slot, &ts, None).await?;
            match state.api.permalink(channel, &ts).await {
                Ok(link) => {
                    store::digests::set_message(&state.pool, slot, &ts, Some(&link)).await?
                }
                Err(e) => warn!(error.message = %e, "no permalink for the digest"),
            }
        }
        let title = chart_title(&digest, calendar);
        let png =
            chart_png(&digest, title.clone()).map_err(|e| DeliveryError::Missing(e.to_string()))?;
        let filename = format!(
            "cost-at-risk-{}.png",
            calendar.local_date(slot).format("%Y-%m-%d")
        );
        let file_id = state
            .api
            .upload_file(&Upload {
                channel,
                filename: &filename,
                title: &title,
                content_type: "image/png",
                bytes: &png,
                initial_comment: None,
                thread_ts: None,
            })
            .await?;
        store::digests::set_posted(&state.pool, slot, &file_id, now).await?;
        info!(%slot, channel, file_id, "weekly digest posted");
        Ok(())
    }
}
