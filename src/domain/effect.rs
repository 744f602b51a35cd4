//! Side effects an event asks for. The store writes them to the outbox in the event's
//! transaction; workers deliver them later. Pure: which effects follow is a rule of the
//! workflow, not of Slack.

use serde::{Deserialize, Serialize};

use super::event::{Event, EventKind};
use super::ids::{RequestNumber, UserId};
use super::request::Request;
use super::state::State;

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "type", rename_all = "snake_case")]
pub enum Effect {
    /// The request's one root message in the requests channel.
    PostRootMessage,
    /// Re-render the root message from the request as it is when delivered.
    UpdateRootMessage,
    /// One reply per event under the root message: the thread is the audit log.
    PostThreadReply,
    /// A DM with the buttons of a decision (reminder, timeout gate).
    DirectMessage {
        to: UserId,
    },
    CreateLinearIssue,
    CommentLinearIssue,
    /// Ask Slack again for the root message's permalink, when it failed right after the post:
    /// DMs and `/capacity status` link the thread through it. Enqueued by delivery, not by
    /// an event's effects.
    FetchPermalink,
    /// The weekly digest of the week whose slot is `slot`. Follows no event: the scheduler
    /// queues it, once per slot, with no request or event on its outbox row.
    PostWeeklyDigest {
        slot: chrono::DateTime<chrono::Utc>,
    },
    /// One reply in the thread of the message a request was made from (the message
    /// shortcut), naming `CR-n` and linking the request's own thread.
    PostSourceReply,
    /// The answer to a message that mentioned `CR-<n>`: one reply in that message's thread
    /// with a card per known request. Follows no event: the mention handler queues it once
    /// per thread, with no request or event on its outbox row.
    PostMentionReply {
        channel: String,
        thread_ts: String,
        numbers: Vec<RequestNumber>,
    },
    /// Publish `user`'s App Home as the projection stands when delivered. Follows no event:
    /// queued when the user opens Home and after request effects change what it shows, at
    /// most one pending per user.
    PublishHome {
        user: UserId,
    },
}

/// The outbox lane of App Home publishes (see `Effect::lane`).
pub const HOME_LANE: &str = "home";

impl Effect {
    /// Effects are delivered in order within a lane; lanes do not wait for each other.
    pub fn lane(&self) -> &'static str {
        match self {
            Effect::CreateLinearIssue | Effect::CommentLinearIssue => "linear",
            // Its own lane, claimed only when no request effect is due: a Home is a view
            // of requests, never ahead of the requests' own messages.
            Effect::PublishHome { .. } => HOME_LANE,
            _ => "slack",
        }
    }

    /// Every effect's `name`, for metrics that must show each series from start-up.
    pub const NAMES: [&'static str; 11] = [
        "post_root_message",
        "update_root_message",
        "post_thread_reply",
        "direct_message",
        "create_linear_issue",
        "comment_linear_issue",
        "fetch_permalink",
        "post_weekly_digest",
        "post_source_reply",
        "post_mention_reply",
        "publish_home",
    ];

    /// The effects whose delivery renders from the request's log (the event's own words), so
    /// that a lane holding one reads the log with the request. Names as [`Effect::name`]
    /// gives them, which are also the `type` the outbox stores, for SQL to pick them out.
    pub const RENDERED_FROM_LOG: [&'static str; 3] = [
        "post_thread_reply",
        "direct_message",
        "comment_linear_issue",
    ];

    pub fn renders_from_log(&self) -> bool {
        Self::RENDERED_FROM_LOG.contains(&self.name())
    }

    /// One effect of each kind, in [`Effect::NAMES`]' order, for tests.
    #[cfg(test)]
    pub fn one_of_each() -> Vec<Effect> {
        vec![
            Effect::PostRootMessage,
            Effect::UpdateRootMessage,
            Effect::PostThreadReply,
            Effect::DirectMessage {
                to: UserId::parse("U1").unwrap(),
            },
            Effect::CreateLinearIssue,
            Effect::CommentLinearIssue,
            Effect::FetchPermalink,
            Effect::PostWeeklyDigest {
                slot: chrono::Utc::now(),
            },
            Effect::PostSourceReply,
            Effect::PostMentionReply {
                channel: "C1".into(),
                thread_ts: "1.2".into(),
                numbers: vec![RequestNumber(1)],
            },
            Effect::PublishHome {
                user: UserId::parse("U2").unwrap(),
            },
        ]
    }

    pub fn name(&self) -> &'static str {
        match self {
            Effect::PostRootMessage => "post_root_message",
            Effect::UpdateRootMessage => "update_root_message",
            Effect::PostThreadReply => "post_thread_reply",
            Effect::DirectMessage { .. } => "direct_message",
            Effect::CreateLinearIssue => "create_linear_issue",
            Effect::CommentLinearIssue => "comment_linear_issue",
            Effect::FetchPermalink => "fetch_permalink",
            Effect::PostWeeklyDigest { .. } => "post_weekly_digest",
            Effect::PostSourceReply => "post_source_reply",
            Effect::PostMentionReply { .. } => "post_mention_reply",
            Effect::PublishHome { .. } => "publish_home",
        }
    }
}

/// When the informational Linear issue is opened, if Linear is configured at all.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum LinearTrigger {
    Submitted,
    TechnicalReview,
}

/// The effects of one recorded event, given the request before and after it.
pub fn effects_of(
    before: Option<&Request>,
    after: &Request,
    event: &Event,
    linear: Option<LinearTrigger>,
) -> Vec<Effect> {
    let kind = event.kind();
    let mut out = Vec::new();
    match kind {
        EventKind::Submitted => {
            out.push(Effect::PostRootMessage);
            out.push(Effect::PostThreadReply);
            // After the root in the lane, so the reply can link the thread it points to.
            if after.details.source.is_some() {
                out.push(Effect::PostSourceReply);
            }
        }
        EventKind::ReminderSent => {
            if let Event::ReminderSent {
                recipients,
                escalation,
                ..
            } = event
            {
                if !*escalation {
                    out.extend(
                        recipients
                            .iter()
                            .map(|to| Effect::DirectMessage { to: to.clone() }),
                    );
                }
                // One reply per event: an ordinary reminder leaves its trace in the thread too.
                out.push(Effect::PostThreadReply);
            }
            return out;
        }
        EventKind::CommentAdded => {
            out.push(Effect::PostThreadReply);
            return out;
        }
        // The root is flagged and the thread says so; the admins get a DM to reassign.
        EventKind::OwnerDeactivated => {
            out.push(Effect::UpdateRootMessage);
            out.push(Effect::PostThreadReply);
            if let Event::OwnerDeactivated { admins, .. } = event {
                out.extend(
                    admins
                        .iter()
                        .map(|to| Effect::DirectMessage { to: to.clone() }),
                );
            }
            return out;
        }
        // The nudge itself is the DM, with the decision's buttons; the thread notes it.
        EventKind::OwnerNudged => {
            out.push(Effect::PostThreadReply);
            if let Event::OwnerNudged { recipients, .. } = event {
                out.extend(
                    recipients
                        .iter()
                        .map(|to| Effect::DirectMessage { to: to.clone() }),
                );
            }
            return out;
        }
        _ => {
            out.push(Effect::UpdateRootMessage);
            out.push(Effect::PostThreadReply);
        }
    }
    // A new owner hears of it at once when the decision now waits on them (their buttons
    // in the DM), not only at the next reminder slot.
    if let Event::OwnerReassigned { to, .. } = event {
        let theirs = super::owner::decision_owner(after)
            .is_some_and(|o| o.parties.contains(&super::role::Party::User(to.clone())));
        if theirs {
            out.push(Effect::DirectMessage { to: to.clone() });
        }
    }
    // A timeout hands the gate to the commercial owner; the DM is part of the timeout.
    if matches!(
        kind,
        EventKind::CustomerConfirmationTimeout | EventKind::ActivationTimeout
    ) {
        if let Some(owner) = &after.commercial_owner {
            out.push(Effect::DirectMessage { to: owner.clone() });
        }
    }
    if let Some(trigger) = linear {
        let entered = before.map(|b| b.state) != Some(after.state);
        let opens_issue = match trigger {
            LinearTrigger::Submitted => kind == EventKind::Submitted,
            LinearTrigger::TechnicalReview => {
                entered && after.state == State::TechnicalReviewRequired
            }
        };
        let issue_exists = match trigger {
            LinearTrigger::Submitted => before.is_some(),
            // Commercial approval complete means the request has entered technical review.
            LinearTrigger::TechnicalReview => before.is_some_and(Request::commercially_approved),
        };
        if opens_issue {
            out.push(Effect::CreateLinearIssue);
        } else if issue_exists && entered {
            out.push(Effect::CommentLinearIssue);
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::domain::testkit::*;
    use crate::domain::{Command, OwnerRole};

    #[test]
    fn the_stored_type_of_each_effect_is_its_name() {
        // SQL picks effects out by their stored `type` (the claim, the waiting root updates).
        for effect in Effect::one_of_each() {
            let stored = serde_json::to_value(&effect).unwrap();
            assert_eq!(stored["type"], effect.name(), "{effect:?}");
        }
        let from_log: Vec<&str> = Effect::one_of_each()
            .iter()
            .filter(|e| e.renders_from_log())
            .map(Effect::name)
            .collect();
        assert_eq!(from_log, Effect::RENDERED_FROM_LOG);
    }

    fn reassigned(role: OwnerRole, to: &str) -> Vec<Effect> {
        let mut play = Play::submitted(1_000);
        let before = play.req().clone();
        let after = play
            .ok(ADMIN, Command::OwnerReassigned { role, to: uid(to) })
            .clone();
        let event = Event::OwnerReassigned { role, to: uid(to) };
        effects_of(Some(&before), &after, &event, None)
    }

    #[test]
    fn a_new_owner_the_decision_waits_on_gets_a_dm() {
        assert_eq!(
            reassigned(OwnerRole::Commercial, STRANGER),
            [
                Effect::UpdateRootMessage,
                Effect::PostThreadReply,
                Effect::DirectMessage { to: uid(STRANGER) }
            ]
        );
    }

    #[test]
    fn a_new_owner_of_a_later_decision_is_not_messaged_yet() {
        assert_eq!(
            reassigned(OwnerRole::Technical, INFRA2),
            [Effect::UpdateRootMessage, Effect::PostThreadReply]
        );
    }
}
