//! Which Slack limit each outbox effect meets (see `slack::pace` for the pauses and gates).

use crate::domain::Effect;
use crate::slack::pace::Key;

/// The key of the Slack call an effect makes, when it makes one Slack limits tightly.
/// A DM's channel is known only once `conversations.open` answered, so it is keyed by the
/// person: one DM channel per person.
pub(super) fn key_of(effect: &Effect, channel: &str) -> Option<Key> {
    match effect {
        Effect::PostRootMessage | Effect::PostThreadReply => {
            Some(format!("chat.postMessage {channel}"))
        }
        Effect::UpdateRootMessage => Some("chat.update".into()),
        Effect::DirectMessage { to } => Some(format!("chat.postMessage dm:{to}")),
        Effect::PostMentionReply { channel, .. } => Some(format!("chat.postMessage {channel}")),
        // One reply per request made from a message, in a channel the request does not
        // name up front: paced by Slack's answer alone.
        Effect::PostSourceReply => None,
        // Tier 4, per workspace: a Retry-After pauses every Home, never a request's messages.
        Effect::PublishHome { .. } => Some("views.publish".into()),
        Effect::FetchPermalink
        | Effect::CreateLinearIssue
        | Effect::CommentLinearIssue
        | Effect::PostWeeklyDigest { .. } => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn thread_replies_and_root_posts_share_their_channel_key() {
        assert_eq!(
            key_of(&Effect::PostRootMessage, "C1"),
            key_of(&Effect::PostThreadReply, "C1")
        );
        assert_ne!(
            key_of(&Effect::PostThreadReply, "C1"),
            key_of(&Effect::UpdateRootMessage, "C1")
        );
        assert_eq!(key_of(&Effect::CreateLinearIssue, "C1"), None);
    }
}
