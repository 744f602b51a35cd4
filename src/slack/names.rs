//! People's names for what people read (reports, the digest): Slack's `users.info`, one
//! call per person, with the raw user id when Slack is not configured or does not answer.
//!
//! Deliberately small and uncached: a later `users.info` cache replaces [`Names::resolve`]
//! and keeps [`Names::display`] and [`Names::for_slack`].

use std::collections::HashMap;

use futures_util::stream::{self, StreamExt};

use super::api::SlackApi;

/// `users.info` calls in flight at once (Slack's tier 4 allows ~100 a minute).
const PARALLEL: usize = 4;

#[derive(Debug, Clone, Default)]
pub struct Names {
    known: HashMap<String, String>,
    /// People whose name could not be fetched, with why (for one line on stderr).
    pub failures: Vec<(String, String)>,
}

impl Names {
    /// Looks every user id up through `api`; with no `api`, nobody has a name.
    pub async fn resolve(api: Option<&SlackApi>, users: impl IntoIterator<Item = String>) -> Self {
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
                    names.known.insert(user, name);
                }
                Ok(None) => {}
                Err(e) => names.failures.push((user, e.to_string())),
            }
        }
        names.failures.sort();
        names
    }

    /// Known names, for tests and callers that already have them.
    pub fn from_pairs(pairs: impl IntoIterator<Item = (String, String)>) -> Self {
        Names {
            known: pairs.into_iter().collect(),
            failures: Vec::new(),
        }
    }

    /// The name, or the id as recorded.
    pub fn display(&self, user: &str) -> String {
        self.known
            .get(user)
            .cloned()
            .unwrap_or_else(|| user.to_string())
    }

    /// For text that goes to Slack: the name, or a mention Slack renders as the name.
    pub fn for_slack(&self, user: &str) -> String {
        self.known
            .get(user)
            .cloned()
            .unwrap_or_else(|| format!("<@{user}>"))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn unknown_people_keep_their_id() {
        let names = Names::from_pairs([("U1".to_string(), "alex".to_string())]);
        assert_eq!(names.display("U1"), "alex");
        assert_eq!(names.display("U2"), "U2");
        assert_eq!(names.for_slack("U1"), "alex");
        assert_eq!(names.for_slack("U2"), "<@U2>");
    }
}
