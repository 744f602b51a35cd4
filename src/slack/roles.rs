//! Who holds which role: config lists user ids and user groups; groups are expanded with
//! `usergroups.users.list` and cached, because a click must be answered in 3 s and group
//! membership changes rarely.

use std::collections::{HashMap, HashSet};
use std::sync::Arc;
use std::time::Duration;

use tokio::sync::Mutex;
use tokio::time::Instant;
use tracing::warn;

use super::api::{ApiError, SlackApi};
use crate::config::{Member, Roles};
use crate::domain::{GroupId, Party, RoleSet, UserId};

#[derive(Debug)]
struct Cached {
    members: Arc<HashSet<String>>,
    fetched: Instant,
}

#[derive(Debug)]
pub struct RoleResolver {
    roles: Roles,
    api: SlackApi,
    ttl: Duration,
    cache: Mutex<HashMap<GroupId, Cached>>,
}

impl RoleResolver {
    pub fn new(roles: Roles, api: SlackApi, ttl: Duration) -> Self {
        RoleResolver {
            roles,
            api,
            ttl,
            cache: Mutex::new(HashMap::new()),
        }
    }

    pub fn roles(&self) -> &Roles {
        &self.roles
    }

    /// Members of a group: from the cache while fresh; on a failed refresh the stale list is
    /// used (and logged) rather than locking everyone out.
    pub async fn group_members(&self, group: &GroupId) -> Result<Arc<HashSet<String>>, ApiError> {
        let mut cache = self.cache.lock().await;
        if let Some(c) = cache.get(group) {
            if c.fetched.elapsed() < self.ttl {
                return Ok(c.members.clone());
            }
        }
        match self.api.usergroup_members(group.as_str()).await {
            Ok(users) => {
                let members = Arc::new(users.into_iter().collect::<HashSet<_>>());
                cache.insert(
                    group.clone(),
                    Cached {
                        members: members.clone(),
                        fetched: Instant::now(),
                    },
                );
                Ok(members)
            }
            Err(e) => match cache.get(group) {
                Some(stale) => {
                    warn!(group = %group, error.message = %e, "could not refresh a user group; using the cached members");
                    Ok(stale.members.clone())
                }
                None => Err(e),
            },
        }
    }

    pub async fn roles_of(&self, user: &UserId) -> Result<RoleSet, ApiError> {
        let mut memberships = HashMap::new();
        for group in self.roles.groups() {
            let members = self.group_members(group).await?;
            memberships.insert(group.clone(), members.contains(user.as_str()));
        }
        Ok(self
            .roles
            .roles_of(user, &|g| memberships.get(g).copied().unwrap_or(false)))
    }

    /// The people behind a party, for DMs: a user, or every member of a role (groups
    /// expanded). Unresolvable groups are skipped with a warning.
    pub async fn people(&self, party: &Party) -> Vec<UserId> {
        let mut out: Vec<UserId> = Vec::new();
        match party {
            Party::User(u) => out.push(u.clone()),
            Party::Role(role) => {
                for member in self.roles.members(*role) {
                    match member {
                        Member::User(u) => out.push(u.clone()),
                        Member::Group(g) => match self.group_members(g).await {
                            Ok(users) => {
                                out.extend(users.iter().filter_map(|u| UserId::parse(u).ok()))
                            }
                            Err(e) => {
                                warn!(group = %g, error.message = %e, "cannot expand a user group for a reminder")
                            }
                        },
                    }
                }
            }
            Party::System => {}
        }
        out.sort();
        out.dedup();
        out
    }
}
