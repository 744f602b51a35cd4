//! Publishing App Homes: after request effects are delivered, the open Homes are marked
//! changed (one statement, coalesced per person in `store::home`); each Home's publish row
//! renders the projection as it is when delivered.

use std::collections::HashMap;
use std::sync::{Arc, Mutex, PoisonError};

use sha2::{Digest, Sha256};
use tracing::{info, warn};

use super::conn::ClaimConn;
use super::error::DeliveryError;
use super::Deliverer;
use crate::domain::{Effect, Request, UserId};
use crate::render::home::{home_view, HomeInput};
use crate::store;
use crate::store::home::{HomeView, Rendered, OPEN_FOR};
use crate::store::outbox::OutboxRow;
use crate::store::StoreError;

/// What the Home publishes of one claim read, read once for all of them: each Home's change
/// count, then the requests every Home shows. With 200 Homes open, reading every open
/// request once per publish (40 a second) took CPU and Postgres time from the clicks.
///
/// What the publishes did is written together too, once all are done (`finish`): every
/// statement that writes is a commit, and a commit waits for the WAL to reach the disk,
/// which is what a click's ack waits for as well.
#[derive(Debug)]
pub(super) struct HomeBatch {
    views: HashMap<String, HomeView>,
    requests: Vec<(Request, Option<String>)>,
    done: Mutex<Done>,
}

/// The claim's Home publishes that are finished and not yet written.
#[derive(Debug, Default)]
struct Done {
    renders: Vec<Rendered>,
    delivered: Vec<i64>,
}

impl HomeBatch {
    /// The counts are read first: a change committed after them bumps its Home's count past
    /// what this render read, so the Home is published again (see `follow_homes`).
    pub(super) async fn read(db: &ClaimConn, users: &[&str]) -> Result<Self, StoreError> {
        let (views, requests) = db
            .run(async |c| {
                let views = store::home::begin_render(&mut *c, users).await?;
                Ok((views, store::home::requests(c).await?))
            })
            .await?;
        Ok(Self {
            views: views.into_iter().map(|v| (v.user_id.clone(), v)).collect(),
            requests,
            done: Mutex::default(),
        })
    }

    fn done(&self) -> std::sync::MutexGuard<'_, Done> {
        self.done.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// The outbox rows of these publishes were delivered; `finish` marks them.
    pub(super) fn delivered(&self, rows: impl IntoIterator<Item = i64>) {
        self.done().delivered.extend(rows);
    }

    /// Writes what the claim's publishes did: what each Home shows now, and their rows
    /// delivered. Until then a crash only publishes them again.
    pub(super) async fn finish(
        &self,
        db: &ClaimConn,
        worker: &str,
        now: chrono::DateTime<chrono::Utc>,
    ) -> Result<(), StoreError> {
        let done = std::mem::take(&mut *self.done());
        db.run(async |c| {
            store::home::published(c, &done.renders, &done.delivered, worker, now).await
        })
        .await
    }
}

/// The users whose Home these rows publish (none, for most claims: nothing is allocated).
pub(super) fn home_users(rows: &[OutboxRow]) -> Vec<String> {
    rows.iter()
        .filter_map(|r| match &r.effect {
            Effect::PublishHome { user } => Some(user.to_string()),
            _ => None,
        })
        .collect()
}

fn as_strs(users: &[String]) -> Vec<&str> {
    users.iter().map(String::as_str).collect()
}

impl Deliverer {
    /// Reads the claim's Home publishes together. On failure each publish reads its own (and
    /// is retried if that fails too), so a failed batch read loses nothing.
    pub(super) async fn read_homes(
        &self,
        users: &[String],
        db: &ClaimConn,
    ) -> Option<Arc<HomeBatch>> {
        if users.is_empty() {
            return None;
        }
        match HomeBatch::read(db, &as_strs(users)).await {
            Ok(batch) => Some(Arc::new(batch)),
            Err(e) => {
                warn!(error.message = %e, homes = users.len(), "could not read the claimed Homes together; each reads its own");
                None
            }
        }
    }

    /// A delivered Home may have missed a change that landed while it rendered: queues its
    /// next publish. (Request effects mark the open Homes changed as their lane's rows are
    /// marked: `store::outbox::mark_delivered_many`.)
    ///
    /// Runs after the batch, outside any event's transaction; a failure here only delays
    /// Homes (the next batch or the next opening catches up), so it is logged, not raised.
    pub(super) async fn follow_homes(&self, users: &[String], db: &ClaimConn) {
        if users.is_empty() {
            return;
        }
        let now = self.state.clock.now();
        let users = as_strs(users);
        if let Err(e) = db
            .run(async |c| store::home::requeue(c, &users, now).await)
            .await
        {
            warn!(error.message = %e, homes = users.len(), "could not queue the next Home publishes");
        }
    }

    /// Renders `user`'s Home from the claim's reading (or its own, when there is none) and
    /// publishes it, unless it is what Slack already shows or the Home is no longer open.
    pub(super) async fn publish_home(
        &self,
        user: &UserId,
        batch: Option<&HomeBatch>,
        db: &ClaimConn,
    ) -> Result<(), DeliveryError> {
        let state = &self.state;
        let now = state.clock.now();
        let own;
        let batch_is_own = batch.is_none();
        let batch = match batch {
            Some(batch) => batch,
            None => {
                own = HomeBatch::read(db, &[user.as_str()]).await?;
                &own
            }
        };
        let Some(home) = batch.views.get(user.as_str()) else {
            return Err(DeliveryError::Missing(format!(
                "a Home publish for {user}, who never opened Home"
            )));
        };
        if home.opened_at + OPEN_FOR < now {
            info!(%user, opened_at = %home.opened_at, "Home not published: not opened recently; it is published when next opened");
            return Ok(());
        }
        let user_roles = state.roles.roles_of(user).await?;
        let view = home_view(&HomeInput {
            user,
            user_roles: &user_roles,
            requests: &batch.requests,
            roles: state.roles.roles(),
            policy: &state.settings.policy,
            now,
        });
        let json = serde_json::to_vec(&view)
            .map_err(|e| DeliveryError::Missing(format!("the Home view did not serialize: {e}")))?;
        let hash = hex(&Sha256::digest(&json));
        let view_id = if home.content_hash.as_deref() == Some(hash.as_str()) {
            None
        } else {
            Some(state.api.publish_view(user.as_str(), view).await?)
        };
        batch.done().renders.push(Rendered {
            user_id: user.to_string(),
            read: home.reading,
            content_hash: hash,
            view_id,
        });
        if batch_is_own {
            // No claim writes this one: its row is marked like any other.
            batch.finish(db, &self.worker, now).await?;
        }
        Ok(())
    }
}

fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}
