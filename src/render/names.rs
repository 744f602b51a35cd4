//! People's names in what people read. The names come from Slack (`slack::names`); this is
//! the pure part: a snapshot of known names, and what to show for someone without one.

use std::collections::HashMap;

use crate::domain::{Actor, Party};

#[derive(Debug, Clone, Default)]
pub struct Names {
    known: HashMap<String, String>,
    /// People whose name could not be fetched, with why (for one line on stderr).
    pub failures: Vec<(String, String)>,
}

impl Names {
    /// Known names, for tests and callers that already have them.
    pub fn from_pairs(pairs: impl IntoIterator<Item = (String, String)>) -> Self {
        Names {
            known: pairs.into_iter().collect(),
            failures: Vec::new(),
        }
    }

    pub fn insert(&mut self, user: String, name: String) {
        self.known.insert(user, name);
    }

    /// The name, when known.
    pub fn get(&self, user: &str) -> Option<&str> {
        self.known.get(user).map(String::as_str)
    }

    /// The name, or the id as recorded.
    pub fn display(&self, user: &str) -> String {
        self.known
            .get(user)
            .cloned()
            .unwrap_or_else(|| user.to_string())
    }

    /// Who did something, as people read it outside Slack (the CLI, Linear).
    pub fn actor(&self, actor: &Actor) -> String {
        match actor {
            Actor::User { id, .. } => self.display(id.as_str()),
            other => other.label(),
        }
    }

    /// A party outside Slack: a person's name, or the role in words.
    pub fn party(&self, party: &Party) -> String {
        match party {
            Party::User(u) => self.display(u.as_str()),
            Party::Role(r) => r.describe().to_string(),
            Party::System => "the scheduler".into(),
        }
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
