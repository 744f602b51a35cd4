//! Publishing App Homes: after request effects are delivered, the open Homes are marked
//! changed (one statement, coalesced per person in `store::home`); each Home's publish row
//! renders the projection as it is when delivered.

use sha2::{Digest, Sha256};
use tracing::{info, warn};

use super::effects::DeliveryError;
use super::Deliverer;
use crate::domain::{Effect, UserId};
use crate::render::home::{home_view, HomeInput};
use crate::store;
use crate::store::home::OPEN_FOR;
use crate::store::outbox::OutboxRow;

impl Deliverer {
    /// What a handled batch means for Homes: request effects changed what Homes show; a
    /// delivered Home may have missed a change that landed while it rendered.
    ///
    /// Runs after the batch, outside any event's transaction; a failure here only delays
    /// Homes (the next batch or the next opening catches up), so it is logged, not raised.
    pub(super) async fn follow_homes(&self, rows: &[OutboxRow]) {
        let pool = &self.state.pool;
        let now = self.state.clock.now();
        if rows.iter().any(|r| r.request_id.is_some()) {
            if let Err(e) = store::home::changed(pool, now).await {
                warn!(error.message = %e, "could not mark open Homes changed; they catch up on the next change");
            }
        }
        for row in rows {
            if let Effect::PublishHome { user } = &row.effect {
                if let Err(e) = store::home::requeue(pool, user.as_str(), now).await {
                    warn!(error.message = %e, %user, "could not queue a Home publish");
                }
            }
        }
    }

    /// Renders `user`'s Home from the projection now and publishes it, unless it is what
    /// Slack already shows or the Home is no longer open.
    pub(super) async fn publish_home(&self, user: &UserId) -> Result<(), DeliveryError> {
        let state = &self.state;
        let pool = &state.pool;
        let now = state.clock.now();
        let Some(home) = store::home::begin_render(pool, user).await? else {
            return Err(DeliveryError::Missing(format!(
                "a Home publish for {user}, who never opened Home"
            )));
        };
        if home.opened_at + OPEN_FOR < now {
            info!(%user, opened_at = %home.opened_at, "Home not published: not opened recently; it is published when next opened");
            return Ok(());
        }
        let user_roles = state.roles.roles_of(user).await?;
        let requests = store::home::requests(pool).await?;
        let view = home_view(&HomeInput {
            user,
            user_roles: &user_roles,
            requests: &requests,
            roles: state.roles.roles(),
            policy: &state.settings.policy,
            now,
        });
        let json = serde_json::to_vec(&view)
            .map_err(|e| DeliveryError::Missing(format!("the Home view did not serialize: {e}")))?;
        let hash = hex(&Sha256::digest(&json));
        if home.content_hash.as_deref() == Some(hash.as_str()) {
            store::home::published(pool, user, home.reading, &hash, None, now).await?;
            return Ok(());
        }
        let view_id = state.api.publish_view(user.as_str(), view).await?;
        store::home::published(pool, user, home.reading, &hash, Some(&view_id), now).await?;
        Ok(())
    }
}

fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}
