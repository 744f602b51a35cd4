//! People's names from Slack's `users.info`, for what people read (the CLI, reports, the
//! digest, Linear). One call per person; the daemon keeps them in a [`NameCache`] that
//! forgets a name after a while, so a renamed person is seen renamed. When Slack is not
//! configured or does not answer, people keep their id ([`Names`] says how).

use std::collections::HashMap;
use std::time::{Duration, Instant};

use futures_util::stream::{self, StreamExt};
use tokio::sync::Mutex;

use super::api::SlackApi;
use crate::render::names::Names;

/// `users.info` calls in flight at once (Slack's tier 4 allows ~100 a minute).
const PARALLEL: usize = 4;

/// Looks every user id up through `api`; with no `api`, nobody has a name.
pub async fn resolve(api: Option<&SlackApi>, users: impl IntoIterator<Item = String>) -> Names {
    let mut names = Names::default();
    let Some(api) = api else {
        return names;
    };
    let mut users: Vec<String> = users.into_iter().collect();
    users.sort();
    users.dedup();
    let answers: Vec<_> = stream::iter(users)
        .map(|u| async move {
            let name = api.user_name(&u).await;
            (u, name)
        })
        .buffer_unordered(PARALLEL)
        .collect()
        .await;
    for (user, answer) in answers {
        match answer {
            Ok(Some(name)) => {
                names.insert(user, name);
            }
            Ok(None) => {}
            Err(e) => names.failures.push((user, e.to_string())),
        }
    }
    names.failures.sort();
    names
}

/// The daemon's names, kept for `ttl` after each was read. A failed read is not kept, so
/// the next text that needs the name asks again.
#[derive(Debug)]
pub struct NameCache {
    api: SlackApi,
    ttl: Duration,
    known: Mutex<HashMap<String, (Option<String>, Instant)>>,
}

impl NameCache {
    pub fn new(api: SlackApi, ttl: Duration) -> NameCache {
        NameCache {
            api,
            ttl,
            known: Mutex::new(HashMap::new()),
        }
    }

    /// The names of `users`, from the cache where fresh and from `users.info` otherwise.
    pub async fn names(&self, users: impl IntoIterator<Item = String>) -> Names {
        let mut out = Names::default();
        let mut missing = Vec::new();
        {
            let known = self.known.lock().await;
            for user in users {
                match known.get(&user) {
                    Some((name, at)) if at.elapsed() < self.ttl => {
                        if let Some(name) = name {
                            out.insert(user, name.clone());
                        }
                    }
                    _ => missing.push(user),
                }
            }
        }
        if missing.is_empty() {
            return out;
        }
        let read = resolve(Some(&self.api), missing.iter().cloned()).await;
        let failed: Vec<&String> = read.failures.iter().map(|(u, _)| u).collect();
        let mut known = self.known.lock().await;
        for user in missing {
            if failed.contains(&&user) {
                continue;
            }
            let name = read.get(&user).map(str::to_string);
            if let Some(name) = &name {
                out.insert(user.clone(), name.clone());
            }
            known.insert(user, (name, Instant::now()));
        }
        out.failures = read.failures;
        out
    }
}
