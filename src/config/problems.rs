//! Config problems, collected rather than returned one at a time, so an operator sees every
//! mistake in the file and the environment after one run instead of one per restart.

use std::fmt;

/// One thing wrong with the configuration, and where.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ConfigProblem {
    /// Where the problem is: a dotted path into the file (`roles.infra[1]`), an environment
    /// variable (`SLACK_BOT_TOKEN`), or the file itself.
    pub field: String,
    /// What is wrong, as a sentence fragment an operator can act on.
    pub message: String,
}

impl fmt::Display for ConfigProblem {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}: {}", self.field, self.message)
    }
}

/// Every problem found, displayed one per line.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub struct ConfigErrors {
    pub problems: Vec<ConfigProblem>,
}

impl ConfigErrors {
    /// The problem reported for `field`, if any; tests and `check-config` look fields up.
    pub fn for_field(&self, field: &str) -> Option<&ConfigProblem> {
        self.problems.iter().find(|p| p.field == field)
    }
}

impl fmt::Display for ConfigErrors {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        for (i, problem) in self.problems.iter().enumerate() {
            if i > 0 {
                f.write_str("\n")?;
            }
            write!(f, "{problem}")?;
        }
        Ok(())
    }
}

/// The collector the parsers push into.
#[derive(Debug, Default)]
pub(crate) struct Problems(Vec<ConfigProblem>);

impl Problems {
    pub(crate) fn push(&mut self, field: impl Into<String>, message: impl Into<String>) {
        self.0.push(ConfigProblem {
            field: field.into(),
            message: message.into(),
        });
    }

    pub(crate) fn append(&mut self, mut other: Problems) {
        self.0.append(&mut other.0);
    }

    /// `Ok(value)` when nothing was reported, else every problem.
    pub(crate) fn finish<T>(self, value: Option<T>) -> Result<T, ConfigErrors> {
        match value {
            Some(v) if self.0.is_empty() => Ok(v),
            _ => Err(ConfigErrors { problems: self.0 }),
        }
    }
}

/// The closest of `candidates` to `word`, ignoring case, if it is close enough to be a
/// likely typo.
pub(crate) fn suggest<'a>(word: &str, candidates: &[&'a str]) -> Option<&'a str> {
    let word = word.to_ascii_lowercase();
    candidates
        .iter()
        .map(|c| (edit_distance(&word, &c.to_ascii_lowercase()), *c))
        .filter(|(d, c)| *d <= (c.len() / 3).clamp(1, 3))
        .min_by_key(|(d, _)| *d)
        .map(|(_, c)| c)
}

/// Edit distance counting insertions, deletions, substitutions and swaps of two adjacent
/// characters (optimal string alignment), since swapped letters are the commonest typo.
fn edit_distance(a: &str, b: &str) -> usize {
    let a: Vec<char> = a.chars().collect();
    let b: Vec<char> = b.chars().collect();
    let mut d = vec![vec![0usize; b.len() + 1]; a.len() + 1];
    for (i, row) in d.iter_mut().enumerate() {
        row[0] = i;
    }
    for (j, cell) in d[0].iter_mut().enumerate() {
        *cell = j;
    }
    for i in 1..=a.len() {
        for j in 1..=b.len() {
            let cost = usize::from(a[i - 1] != b[j - 1]);
            let mut best = (d[i - 1][j] + 1)
                .min(d[i][j - 1] + 1)
                .min(d[i - 1][j - 1] + cost);
            if i > 1 && j > 1 && a[i - 1] == b[j - 2] && a[i - 2] == b[j - 1] {
                best = best.min(d[i - 2][j - 2] + 1);
            }
            d[i][j] = best;
        }
    }
    d[a.len()][b.len()]
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn edit_distance_counts_single_edits() {
        assert_eq!(edit_distance("kitten", "sitting"), 3);
        assert_eq!(edit_distance("", "abc"), 3);
        assert_eq!(edit_distance("same", "same"), 0);
        assert_eq!(edit_distance("treshold", "threshold"), 1);
        assert_eq!(edit_distance("polciy", "policy"), 1);
    }

    #[test]
    fn suggestions_are_only_made_for_near_misses() {
        let keys = ["finance_threshold_usd_month", "escalate_after_reminders"];
        assert_eq!(
            suggest("finance_treshold_usd_month", &keys),
            Some("finance_threshold_usd_month")
        );
        assert_eq!(
            suggest("Escalate_After_Reminders", &keys),
            Some("escalate_after_reminders")
        );
        assert_eq!(suggest("colour", &keys), None);
        assert_eq!(suggest("lgo", &["log"]), Some("log"));
    }

    #[test]
    fn errors_display_one_line_per_problem() {
        let mut p = Problems::default();
        p.push("a.b", "first");
        p.push("c", "second");
        let errors = p.finish::<()>(None).unwrap_err();
        assert_eq!(errors.to_string(), "a.b: first\nc: second");
    }
}
