//! The weekly digest's slot: every deadline sweep (and the catch-up on start) records the
//! latest slot at or before now, once. The slot is the digest's primary key, so however many
//! replicas sweep, one of them records it and queues its delivery in the same transaction;
//! a daemon that was down over the slot records it when it comes back. Only the latest slot
//! is ever recorded: weeks missed before it are not posted.

use chrono::{DateTime, Utc};
use tracing::info;

use super::Sweeper;
use crate::store::digests::{self, Queued};
use crate::store::StoreError;

/// Records the latest digest slot at or before `now` unless it is recorded already.
/// `None` when `[digest]` is not configured.
pub async fn sweep_digest(s: &Sweeper, now: DateTime<Utc>) -> Result<Option<Queued>, StoreError> {
    let settings = &s.state.settings;
    let Some(digest) = &settings.digest else {
        return Ok(None);
    };
    let slot = digest.slot.latest(&settings.policy.calendar, now);
    let queued = digests::queue(&s.state.pool, slot, digest.channel.as_str(), now).await?;
    match queued {
        Queued::Posting => info!(%slot, channel = %digest.channel, "weekly digest queued"),
        Queued::Baseline => info!(
            %slot,
            "first digest slot recorded without posting; the digest starts next week"
        ),
        Queued::AlreadyRecorded => {}
    }
    Ok(Some(queued))
}
