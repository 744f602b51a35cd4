//! The bot scopes the app asks for (the manifest's `oauth_config.scopes.bot`, kept equal to
//! this list by `tests/deploy.rs`), what each is for, and which of them a token lacks.

/// When a scope is needed.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Need {
    Always,
    /// Only with a `[digest]` section: the weekly digest's chart.
    Digest,
}

/// A bot scope and what the bot does with it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Scope {
    pub name: &'static str,
    pub used_for: &'static str,
    pub need: Need,
}

const fn scope(name: &'static str, used_for: &'static str, need: Need) -> Scope {
    Scope {
        name,
        used_for,
        need,
    }
}

/// In the manifest's order.
pub const BOT_SCOPES: &[Scope] = &[
    scope("commands", "/capacity", Need::Always),
    scope(
        "chat:write",
        "root messages, thread replies, updates, ephemerals, DMs",
        Need::Always,
    ),
    scope("im:write", "opening DMs to decision owners", Need::Always),
    scope(
        "usergroups:read",
        "roles given to user groups",
        Need::Always,
    ),
    scope(
        "users:read",
        "names, delegates, deactivated owners",
        Need::Always,
    ),
    scope(
        "channels:read",
        "checking the bot is in a public requests channel",
        Need::Always,
    ),
    scope(
        "groups:read",
        "checking the bot is in a private requests channel",
        Need::Always,
    ),
    scope("files:write", "the weekly digest's chart", Need::Digest),
    scope(
        "channels:history",
        "CR-n mentions in public channels (message.channels)",
        Need::Always,
    ),
    scope(
        "groups:history",
        "CR-n mentions in private channels (message.groups)",
        Need::Always,
    ),
];

/// What a token's granted scopes (Slack's `x-oauth-scopes` header: comma-separated) lack,
/// split into scopes this configuration uses and scopes only an unused feature needs.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct Missing {
    pub used: Vec<Scope>,
    pub unused: Vec<Scope>,
}

pub fn missing(granted_header: &str, digest: bool) -> Missing {
    let granted: Vec<&str> = granted_header
        .split(',')
        .map(str::trim)
        .filter(|s| !s.is_empty())
        .collect();
    let mut out = Missing::default();
    for s in BOT_SCOPES.iter().filter(|s| !granted.contains(&s.name)) {
        match s.need {
            Need::Digest if !digest => out.unused.push(*s),
            _ => out.used.push(*s),
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn names(scopes: &[Scope]) -> Vec<&str> {
        scopes.iter().map(|s| s.name).collect()
    }

    #[test]
    fn every_scope_granted_lacks_nothing() {
        let all = BOT_SCOPES
            .iter()
            .map(|s| s.name)
            .collect::<Vec<_>>()
            .join(",");
        assert_eq!(missing(&all, true), Missing::default());
    }

    #[test]
    fn lacking_scopes_are_named_and_sorted_by_use() {
        let m = missing("commands, chat:write,im:write,users:read", false);
        assert_eq!(
            names(&m.used),
            [
                "usergroups:read",
                "channels:read",
                "groups:read",
                "channels:history",
                "groups:history"
            ]
        );
        assert_eq!(names(&m.unused), ["files:write"]);
        let m = missing("commands,chat:write,im:write,users:read", true);
        assert!(names(&m.used).contains(&"files:write"));
        assert!(m.unused.is_empty());
    }

    #[test]
    fn an_empty_header_lacks_everything() {
        assert_eq!(missing("", true).used.len(), BOT_SCOPES.len());
    }
}
