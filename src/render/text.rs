//! Text for mrkdwn: escaping people's free text, cutting it to a length, and mentions.
//!
//! Every string a person typed (customer, justification, reasons, comments) goes through
//! [`escape`] or one of the `clip` functions before it reaches Slack, so it can never ping a
//! channel, mention a group or fake a link. Lengths are counted in chars, as Slack's limits
//! are, and a cut is always marked with [`ELLIPSIS`].

use crate::config::{Member, Roles};
use crate::domain::Party;

/// The visible marker of a cut.
pub const ELLIPSIS: char = '…';

/// Zero-width joiner: invisible, but `@\u{200D}here` is no longer the word `@here`.
const ZWJ: &str = "\u{200D}";

/// Words that notify a whole channel when written after `@`.
const BROADCASTS: [&str; 3] = ["channel", "here", "everyone"];

/// How line breaks in the user's text are kept.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Lines {
    /// One line: headers, fields, list entries. Breaks and tabs become spaces.
    Inline,
    /// Breaks kept as they are.
    Kept,
    /// Every line becomes a mrkdwn block quote.
    Quoted,
}

/// Escapes `text` for mrkdwn (and plain_text, which Slack decodes the same way): `&`, `<`
/// and `>` become entities, so `<!channel>`, `<@U…>` and `<https://…|…>` cannot form, and
/// `@channel`, `@here` and `@everyone` get a zero-width joiner after the `@`. Control
/// characters other than line breaks and tabs are dropped.
pub fn escape(text: &str) -> String {
    pieces(text, Lines::Kept).concat()
}

/// `s` cut to at most `max_chars` chars, ending in `…` when it was cut. Never splits a char.
pub fn truncate(s: &str, max_chars: usize) -> String {
    if s.chars().count() <= max_chars {
        return s.to_string();
    }
    if max_chars == 0 {
        return String::new();
    }
    let mut out: String = s.chars().take(max_chars - 1).collect();
    out.push(ELLIPSIS);
    out
}

/// User text escaped onto one line and cut so that the escaped form fits `max` chars. The cut
/// falls between escaped chars, never inside an entity such as `&amp;`.
pub fn clip(text: &str, max: usize) -> String {
    fit(pieces(text, Lines::Inline), max)
}

/// mrkdwn we built (escaped user text already inside it, with our own links and mentions)
/// cut to at most `max` chars. Unlike [`clip`] it escapes nothing, and a cut never falls inside
/// a `<…>` link or mention or an `&…;` entity: a half link would show its raw URL.
pub fn clip_markup(markup: &str, max: usize) -> String {
    if markup.chars().count() <= max {
        return markup.to_string();
    }
    let mut pieces = Vec::new();
    let mut rest = markup;
    while let Some(c) = rest.chars().next() {
        let closer = match c {
            '<' => rest.find('>'),
            '&' => rest.find(';').filter(|&end| end <= 8),
            _ => None,
        };
        let len = closer.map_or(c.len_utf8(), |end| end + 1);
        pieces.push(rest[..len].to_string());
        rest = &rest[len..];
    }
    fit(pieces, max)
}

/// Like [`clip`], keeping line breaks.
pub fn clip_lines(text: &str, max: usize) -> String {
    fit(pieces(text, Lines::Kept), max)
}

/// User text escaped as a mrkdwn block quote (every line starts with `>`), at most `max`
/// chars. Escaping turns the user's own `>` into `&gt;`, so only our quote marks quote.
pub fn quote(text: &str, max: usize) -> String {
    let mut all = vec![">".to_string()];
    all.extend(pieces(text.trim_end(), Lines::Quoted));
    fit(all, max)
}

/// How a party is named in a message: `<@U…>` for a person; for a role its words and its
/// configured members, "a commercial approver (<!subteam^S…>, <@U…>)", or just the words when
/// the role has no members configured.
pub fn mention(party: &Party, roles: &Roles) -> String {
    match party {
        Party::User(u) => format!("<@{u}>"),
        Party::Role(role) => {
            let members = roles.members(*role);
            if members.is_empty() {
                return role.describe().to_string();
            }
            format!("{} ({})", role.describe(), member_list(members))
        }
        Party::System => "the scheduler".to_string(),
    }
}

/// Several parties joined for a sentence: "<@U1>, <@U2> or a member of infra (…)".
/// `conjunction` is "or" when any of them may act and "and" when all of them must.
pub fn mentions(parties: &[Party], roles: &Roles, conjunction: &str) -> String {
    let named: Vec<String> = parties.iter().map(|p| mention(p, roles)).collect();
    match named.split_last() {
        None => "nobody".to_string(),
        Some((last, [])) => last.clone(),
        Some((last, rest)) => format!("{} {conjunction} {last}", rest.join(", ")),
    }
}

/// A Slack message's `text` as the plain words a person sees: `<@U…|name>` becomes `@name`
/// (`@U…` without a label), `<#C…|name>` `#name`, `<!here>` `@here`, `<url|label>` "label
/// (url)", and the entities `&lt;` `&gt;` `&amp;` their characters. The result is plain text
/// for an input's initial value, not mrkdwn: whatever is later shown from it is escaped again.
pub fn plain_words(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    let mut rest = text;
    while let Some(open) = rest.find('<') {
        out.push_str(&rest[..open]);
        let after = &rest[open + 1..];
        let Some(close) = after.find('>') else {
            out.push_str(&rest[open..]);
            rest = "";
            break;
        };
        let inner = &after[..close];
        let (target, label) = match inner.split_once('|') {
            Some((t, l)) => (t, Some(l)),
            None => (inner, None),
        };
        let word = if let Some(user) = target.strip_prefix('@') {
            format!("@{}", label.unwrap_or(user))
        } else if let Some(channel) = target.strip_prefix('#') {
            format!("#{}", label.unwrap_or(channel))
        } else if let Some(special) = target.strip_prefix('!') {
            match label {
                Some(l) => l.to_string(),
                None => format!("@{}", special.split('^').next().unwrap_or(special)),
            }
        } else {
            match label {
                Some(l) if l != target => format!("{l} ({target})"),
                _ => target.to_string(),
            }
        };
        out.push_str(&word);
        rest = &after[close + 1..];
    }
    out.push_str(rest);
    out.replace("&lt;", "<")
        .replace("&gt;", ">")
        .replace("&amp;", "&")
}

/// At most this many members are listed, so a large role cannot blow a block's length.
const MAX_MEMBERS_LISTED: usize = 5;

fn member_list(members: &[Member]) -> String {
    let mut shown: Vec<String> = members
        .iter()
        .take(MAX_MEMBERS_LISTED)
        .map(|m| match m {
            Member::User(u) => format!("<@{u}>"),
            Member::Group(g) => format!("<!subteam^{g}>"),
        })
        .collect();
    if members.len() > MAX_MEMBERS_LISTED {
        shown.push(format!("{} more", members.len() - MAX_MEMBERS_LISTED));
    }
    shown.join(", ")
}

/// Joins pieces, cutting before the piece that would make the result longer than `max`
/// (the marker included).
fn fit(pieces: Vec<String>, max: usize) -> String {
    let lens: Vec<usize> = pieces.iter().map(|p| p.chars().count()).collect();
    if lens.iter().sum::<usize>() <= max {
        return pieces.concat();
    }
    if max == 0 {
        return String::new();
    }
    let mut out = String::new();
    let mut used = 0;
    for (piece, len) in pieces.iter().zip(lens) {
        if used + len > max - 1 {
            break;
        }
        out.push_str(piece);
        used += len;
    }
    out.push(ELLIPSIS);
    out
}

/// Each char of `text` as it must appear in Slack, one piece per char, so cuts can fall
/// between pieces only.
fn pieces(text: &str, lines: Lines) -> Vec<String> {
    let mut out = Vec::with_capacity(text.len());
    for (i, c) in text.char_indices() {
        let piece = match c {
            '&' => "&amp;".to_string(),
            '<' => "&lt;".to_string(),
            '>' => "&gt;".to_string(),
            '\r' => continue,
            '\n' | '\t' if lines == Lines::Inline => " ".to_string(),
            '\n' if lines == Lines::Quoted => "\n>".to_string(),
            '\n' | '\t' => c.to_string(),
            c if c.is_control() => continue,
            '@' if is_broadcast(&text[i + 1..]) => format!("@{ZWJ}"),
            c => c.to_string(),
        };
        out.push(piece);
    }
    out
}

fn is_broadcast(after_at: &str) -> bool {
    BROADCASTS.iter().any(|word| {
        after_at
            .get(..word.len())
            .is_some_and(|start| start.eq_ignore_ascii_case(word))
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::domain::{GroupId, Role, UserId};

    #[test]
    fn slack_control_characters_become_entities() {
        assert_eq!(escape("a & b < c > d"), "a &amp; b &lt; c &gt; d");
        assert_eq!(escape("&lt;"), "&amp;lt;");
        assert_eq!(escape("<!channel>"), "&lt;!channel&gt;");
        assert_eq!(escape("<https://evil|click>"), "&lt;https://evil|click&gt;");
        assert_eq!(escape("<@U123>"), "&lt;@U123&gt;");
    }

    #[test]
    fn broadcast_words_are_broken_up() {
        assert_eq!(escape("hi @here"), "hi @\u{200D}here");
        assert_eq!(
            escape("@Channel and @EVERYONE"),
            "@\u{200D}Channel and @\u{200D}EVERYONE"
        );
        assert_eq!(escape("mail a@example.com"), "mail a@example.com");
        assert!(!escape("@channel@here").contains("@channel"));
        assert!(!escape("@channel@here").contains("@here"));
    }

    #[test]
    fn control_characters_are_dropped_and_lines_kept() {
        assert_eq!(escape("a\u{0}b\r\nc"), "ab\nc");
        assert_eq!(clip("a\nb\tc", 10), "a b c");
    }

    #[test]
    fn truncate_marks_the_cut_and_respects_chars() {
        assert_eq!(truncate("hello", 5), "hello");
        assert_eq!(truncate("hello!", 5), "hell…");
        assert_eq!(truncate("héllo wörld", 4), "hél…");
        assert_eq!(truncate("😀😀😀", 2), "😀…");
        assert_eq!(truncate("abc", 0), "");
        assert_eq!(truncate("abc", 1), "…");
    }

    #[test]
    fn clip_markup_keeps_links_mentions_and_entities_whole() {
        let m = "*<https://x.slack.com/archives/C1/p1|CR-1 · A&amp;B>* Waiting on <@U1>.";
        assert_eq!(clip_markup(m, 200), m, "short markup is left as it is");
        let cut = clip_markup(m, 60);
        assert_eq!(
            cut,
            "*<https://x.slack.com/archives/C1/p1|CR-1 · A&amp;B>* Waiti…"
        );
        let cut = clip_markup(m, 30);
        assert_eq!(cut, "*…", "a link that does not fit is left out whole");
        assert_eq!(clip_markup("a&amp;b", 3), "a…");
    }

    #[test]
    fn clip_never_cuts_inside_an_entity() {
        let s = "&&&&&";
        let c = clip(s, 12);
        assert_eq!(c, "&amp;&amp;…");
        assert!(c.chars().count() <= 12);
        assert_eq!(clip("ab", 2), "ab");
        assert_eq!(clip("abc", 2), "a…");
    }

    #[test]
    fn quotes_mark_every_line() {
        assert_eq!(quote("one\ntwo", 100), ">one\n>two");
        assert_eq!(quote("> not a quote", 100), ">&gt; not a quote");
        assert!(quote(&"x\n".repeat(3000), 100).chars().count() <= 100);
    }

    #[test]
    fn roles_are_named_with_their_members() {
        let roles = Roles::new([
            (
                Role::CommercialApprover,
                vec![
                    Member::Group(GroupId::parse("S0SALES").unwrap()),
                    Member::User(UserId::parse("U0LEAD").unwrap()),
                ],
            ),
            (Role::Finance, vec![]),
        ]);
        assert_eq!(
            mention(&Party::Role(Role::CommercialApprover), &roles),
            "a commercial approver (<!subteam^S0SALES>, <@U0LEAD>)"
        );
        assert_eq!(
            mention(&Party::Role(Role::Finance), &roles),
            "a finance approver"
        );
        let ae = Party::User(UserId::parse("UAE").unwrap());
        assert_eq!(mention(&ae, &roles), "<@UAE>");
        assert_eq!(
            mentions(&[ae.clone(), Party::Role(Role::Finance)], &roles, "and"),
            "<@UAE> and a finance approver"
        );
        assert_eq!(mentions(&[], &roles, "or"), "nobody");
    }

    #[test]
    fn long_member_lists_are_shortened() {
        let many = (0..8)
            .map(|i| Member::User(UserId::parse(&format!("U{i}")).unwrap()))
            .collect();
        let roles = Roles::new([(Role::Infra, many)]);
        let m = mention(&Party::Role(Role::Infra), &roles);
        assert!(m.ends_with("<@U4>, 3 more)"), "{m}");
    }

    #[test]
    fn message_markup_becomes_plain_words() {
        assert_eq!(
            plain_words("<@U1|dana> asks: 64XL for <!here> &amp; <#C9|ops> &lt;soon&gt; <https://x.io/a|the doc> <https://y.io>"),
            "@dana asks: 64XL for @here & #ops <soon> the doc (https://x.io/a) https://y.io"
        );
        assert_eq!(
            plain_words("<@U1> <!subteam^S1|@infra> a < b"),
            "@U1 @infra a < b"
        );
        assert_eq!(plain_words("unclosed <https://x"), "unclosed <https://x");
    }
}
