//! `[roles]`: who holds which role, as Slack user ids and user-group ids.

use std::collections::BTreeMap;
use std::fmt;

use toml::Value;

use super::problems::Problems;
use super::schema::{found, Section};
use crate::domain::{GroupId, Role, RoleSet, UserId};

/// One entry of a role list.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Member {
    /// A person, `U…` or `W…` (Enterprise Grid).
    User(UserId),
    /// Everyone in a Slack user group, `S…`, resolved by the shell at click time.
    Group(GroupId),
}

impl Member {
    pub fn parse(s: &str) -> Result<Member, String> {
        let parsed = match s.chars().next() {
            Some('U' | 'W') => UserId::parse(s).ok().map(Member::User),
            Some('S') => GroupId::parse(s).ok().map(Member::Group),
            _ => None,
        };
        parsed.ok_or_else(|| {
            let hint = if s.starts_with('@') || s.starts_with("<@") || s.starts_with("<!") {
                "; use the bare id (profile → ⋯ → Copy member ID, or the group's id), not a \
                 handle or mention"
            } else {
                ""
            };
            format!("\"{s}\" is not a Slack user id (U…/W…) or user group id (S…){hint}")
        })
    }
}

impl fmt::Display for Member {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Member::User(u) => u.fmt(f),
            Member::Group(g) => g.fmt(f),
        }
    }
}

/// The `[roles]` lists. An empty `requesters` list means anyone in the workspace may submit.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Roles {
    members: BTreeMap<Role, Vec<Member>>,
}

impl Roles {
    /// For tests and the demo; the config file goes through `Settings::from_toml_str`.
    pub fn new(lists: impl IntoIterator<Item = (Role, Vec<Member>)>) -> Roles {
        Roles {
            members: lists.into_iter().collect(),
        }
    }

    pub fn members(&self, role: Role) -> &[Member] {
        self.members.get(&role).map(Vec::as_slice).unwrap_or(&[])
    }

    pub fn anyone_may_request(&self) -> bool {
        self.members(Role::Requester).is_empty()
    }

    /// The roles `user` holds: listed by id, or through a group for which `groups_of_user`
    /// answers true. Everyone is a requester when the requesters list is empty.
    pub fn roles_of(&self, user: &UserId, groups_of_user: &dyn Fn(&GroupId) -> bool) -> RoleSet {
        RoleSet::new(Role::ALL.into_iter().filter(|role| {
            (*role == Role::Requester && self.anyone_may_request())
                || self.members(*role).iter().any(|m| match m {
                    Member::User(u) => u == user,
                    Member::Group(g) => groups_of_user(g),
                })
        }))
    }

    /// Every user group named in any role, once each: what the shell must resolve.
    pub fn groups(&self) -> Vec<&GroupId> {
        let mut groups: Vec<&GroupId> = self
            .members
            .values()
            .flatten()
            .filter_map(|m| match m {
                Member::Group(g) => Some(g),
                Member::User(_) => None,
            })
            .collect();
        groups.sort();
        groups.dedup();
        groups
    }
}

/// Roles without which a request cannot get past its gates, so an empty list is a mistake.
const MUST_NOT_BE_EMPTY: [Role; 3] = [Role::CommercialApprover, Role::Finance, Role::Infra];

pub(crate) fn parse(section: &Section<'_>, problems: &mut Problems) -> Roles {
    let mut members = BTreeMap::new();
    for role in Role::ALL {
        let key = role.config_key();
        let field = section.field(key);
        let list = match section.array(key, "an array of Slack ids", problems) {
            Some(values) => parse_list(&field, values, problems),
            None if section.get(key).is_some() => continue,
            None => Vec::new(),
        };
        if list.is_empty() && MUST_NOT_BE_EMPTY.contains(&role) {
            let what = if section.get(key).is_none() {
                "missing (required)"
            } else {
                "empty"
            };
            problems.push(
                field,
                format!(
                    "{what}: list at least one user or user group, or nobody can act as {}",
                    role.describe()
                ),
            );
        }
        members.insert(role, list);
    }
    Roles { members }
}

fn parse_list(field: &str, values: &[Value], problems: &mut Problems) -> Vec<Member> {
    let mut members: Vec<Member> = Vec::new();
    let mut first_at: BTreeMap<Member, usize> = BTreeMap::new();
    for (i, value) in values.iter().enumerate() {
        let at = format!("{field}[{i}]");
        let Some(s) = value.as_str() else {
            problems.push(
                at,
                format!("expected a string (a Slack id), found {}", found(value)),
            );
            continue;
        };
        match Member::parse(s) {
            Ok(member) => {
                if let Some(first) = first_at.get(&member) {
                    problems.push(
                        at,
                        format!("\"{s}\" is listed twice (also at {field}[{first}])"),
                    );
                } else {
                    first_at.insert(member.clone(), i);
                    members.push(member);
                }
            }
            Err(message) => problems.push(at, message),
        }
    }
    members
}

#[cfg(test)]
mod tests {
    use super::*;

    fn user(s: &str) -> UserId {
        UserId::parse(s).unwrap()
    }

    fn group(s: &str) -> GroupId {
        GroupId::parse(s).unwrap()
    }

    #[test]
    fn members_parse_by_prefix() {
        assert_eq!(Member::parse("U0ADMIN"), Ok(Member::User(user("U0ADMIN"))));
        assert_eq!(Member::parse("W0GRID"), Ok(Member::User(user("W0GRID"))));
        assert_eq!(
            Member::parse("S0INFRA"),
            Ok(Member::Group(group("S0INFRA")))
        );
        assert_eq!(
            Member::parse("X123").unwrap_err(),
            "\"X123\" is not a Slack user id (U…/W…) or user group id (S…)"
        );
        assert!(Member::parse("@alice")
            .unwrap_err()
            .contains("not a handle"));
        assert!(Member::parse("u0admin").is_err());
        assert!(Member::parse("").is_err());
    }

    #[test]
    fn roles_come_from_ids_and_groups() {
        let roles = Roles::new([
            (Role::Requester, vec![Member::User(user("U1"))]),
            (Role::Infra, vec![Member::Group(group("S0INFRA"))]),
            (Role::Admin, vec![Member::User(user("U2"))]),
        ]);
        let in_infra = |g: &GroupId| g.as_str() == "S0INFRA";
        let nowhere = |_: &GroupId| false;
        let u1 = roles.roles_of(&user("U1"), &in_infra);
        assert_eq!(
            u1.iter().collect::<Vec<_>>(),
            vec![Role::Requester, Role::Infra]
        );
        let u2 = roles.roles_of(&user("U2"), &nowhere);
        assert_eq!(u2.iter().collect::<Vec<_>>(), vec![Role::Admin]);
        assert!(!roles.anyone_may_request());
    }

    #[test]
    fn an_empty_requesters_list_lets_anyone_request() {
        let roles = Roles::new([(Role::Finance, vec![Member::Group(group("S0FIN"))])]);
        assert!(roles.anyone_may_request());
        let someone = roles.roles_of(&user("U9"), &|_| false);
        assert_eq!(someone.iter().collect::<Vec<_>>(), vec![Role::Requester]);
    }

    #[test]
    fn groups_are_listed_once() {
        let roles = Roles::new([
            (Role::Finance, vec![Member::Group(group("S0B"))]),
            (
                Role::Admin,
                vec![Member::Group(group("S0A")), Member::User(user("U1"))],
            ),
            (Role::Infra, vec![Member::Group(group("S0B"))]),
        ]);
        assert_eq!(roles.groups(), vec![&group("S0A"), &group("S0B")]);
    }
}
