//! What each outbox `Effect` does against Slack and Linear. The text comes from `render`;
//! what was stored about the request (its root message, its Linear issue) from the store.

use tracing::{info, warn};

use super::Deliverer;
use crate::domain::fold;
use crate::domain::Links;
use crate::domain::{Effect, Event, Request, RequestId};
use crate::linear::{LinearClient, LinearError};
use crate::render;
use crate::slack::api::ApiError;
use crate::store::outbox::OutboxRow;
use crate::store::{self, StoreError};

#[derive(Debug, thiserror::Error)]
pub(super) enum DeliveryError {
    #[error(transparent)]
    Api(#[from] ApiError),
    #[error(transparent)]
    Store(#[from] StoreError),
    #[error(transparent)]
    Linear(#[from] LinearError),
    #[error("{0}")]
    Missing(String),
}

/// The request and event an outbox row's effect follows.
#[derive(Debug, Clone, Copy)]
struct Subject {
    request_id: RequestId,
    event_id: uuid::Uuid,
}

impl Deliverer {
    async fn request(&self, id: RequestId) -> Result<(Request, Links), DeliveryError> {
        store::requests::with_links(&self.state.pool, id)
            .await?
            .ok_or_else(|| DeliveryError::Missing(format!("request {id} is gone")))
    }

    pub(super) async fn perform(&self, row: &OutboxRow) -> Result<(), DeliveryError> {
        if let Effect::PostWeeklyDigest { slot } = &row.effect {
            return self.post_digest(*slot).await;
        }
        if let Effect::PublishHome { user } = &row.effect {
            return self.publish_home(user).await;
        }
        let (Some(request_id), Some(event_id)) = (row.request_id, row.event_id) else {
            return Err(DeliveryError::Missing(format!(
                "outbox row {} names no request",
                row.id
            )));
        };
        let subject = Subject {
            request_id,
            event_id,
        };
        self.perform_for(&row.effect, subject).await
    }

    async fn perform_for(&self, effect: &Effect, row: Subject) -> Result<(), DeliveryError> {
        let settings = &self.state.settings;
        let roles = self.state.roles.roles();
        let policy = &settings.policy;
        let channel = settings.slack.requests_channel.as_str();
        let now = self.state.clock.now();
        match effect {
            Effect::PostRootMessage => {
                let (req, links) = self.request(row.request_id).await?;
                if links.slack_ts.is_some() {
                    // Posted before a crash lost the mark: do not post twice.
                    return Ok(());
                }
                let content = render::root::root_message(&req, &links, policy, roles, now);
                let ts = self.state.api.post_message(channel, content, None).await?;
                // Store the ts before anything else can fail, so a retry updates instead of reposting.
                store::requests::set_root_message(
                    &self.state.pool,
                    row.request_id,
                    channel,
                    &ts,
                    None,
                )
                .await?;
                match self.state.api.permalink(channel, &ts).await {
                    Ok(link) => {
                        store::requests::set_root_message(
                            &self.state.pool,
                            row.request_id,
                            channel,
                            &ts,
                            Some(&link),
                        )
                        .await?
                    }
                    // The post stands; the link is asked for again as an outbox row of its
                    // own, with the retries every effect gets.
                    Err(e) => {
                        warn!(error.message = %e, "no permalink for the root message yet; asking again through the outbox");
                        store::outbox::enqueue(
                            &self.state.pool,
                            row.request_id,
                            row.event_id,
                            &Effect::FetchPermalink,
                            now,
                        )
                        .await?;
                    }
                }
            }
            Effect::FetchPermalink => {
                let links = store::requests::links(&self.state.pool, row.request_id).await?;
                if links.permalink.is_some() {
                    return Ok(());
                }
                let (Some(ch), Some(ts)) = (&links.slack_channel, &links.slack_ts) else {
                    return Err(DeliveryError::Missing(
                        "the root message was never posted, so it has no permalink".into(),
                    ));
                };
                let link = self.state.api.permalink(ch, ts).await?;
                store::requests::set_root_message(
                    &self.state.pool,
                    row.request_id,
                    ch,
                    ts,
                    Some(&link),
                )
                .await?;
            }
            Effect::UpdateRootMessage => {
                let (req, links) = self.request(row.request_id).await?;
                let (Some(ch), Some(ts)) = (&links.slack_channel, &links.slack_ts) else {
                    return Err(DeliveryError::Missing(
                        "the root message was never posted, so it cannot be updated".into(),
                    ));
                };
                let content = render::root::root_message(&req, &links, policy, roles, now);
                self.state.api.update_message(ch, ts, content).await?;
            }
            Effect::PostThreadReply => {
                let links = store::requests::links(&self.state.pool, row.request_id).await?;
                let (Some(ch), Some(ts)) = (&links.slack_channel, &links.slack_ts) else {
                    return Err(DeliveryError::Missing(
                        "the root message was never posted, so the thread does not exist".into(),
                    ));
                };
                let (after, event) = self.request_at_event(row).await?;
                let content = render::thread::thread_reply(&after, &event, roles, policy, now);
                self.state.api.post_message(ch, content, Some(ts)).await?;
            }
            Effect::DirectMessage { to } => {
                let (req, links) = self.request(row.request_id).await?;
                let (after, event) = self.request_at_event(row).await?;
                // A DM says what is true when it is sent. One whose moment has passed (the
                // decision it asks for was taken, the gate it opens was closed, the review it
                // asks for was done) is not sent at all.
                let moot = match &event.event {
                    Event::ReminderSent { slot, .. }
                        if slot.ends_with(crate::domain::attention::REVIEW_SUFFIX) =>
                    {
                        req.attention
                            .forced
                            .as_ref()
                            .is_none_or(|f| f.reviewed_by.is_some())
                    }
                    _ => req.version != after.version,
                };
                if moot {
                    info!(
                        request = %req.number,
                        event = %event.event.kind(),
                        "DM not sent: the request moved on before it could be delivered"
                    );
                    return Ok(());
                }
                if let Event::ReminderSent { slot, .. } = &event.event {
                    if slot.ends_with(crate::domain::attention::REVIEW_SUFFIX) {
                        let content = render::attention::review_dm(
                            &req,
                            links.permalink.as_deref(),
                            policy,
                            now,
                        );
                        let dm = self.state.api.open_dm(to.as_str()).await?;
                        self.state.api.post_message(&dm, content, None).await?;
                        return Ok(());
                    }
                }
                if let Event::OwnerDeactivated { user, .. } = &event.event {
                    let content = render::attention::deactivated_dm(
                        &req,
                        user,
                        links.permalink.as_deref(),
                        roles,
                        policy,
                        now,
                    );
                    let dm = self.state.api.open_dm(to.as_str()).await?;
                    self.state.api.post_message(&dm, content, None).await?;
                    return Ok(());
                }
                let why = match &event.event {
                    Event::OwnerNudged { .. } => render::dm::DmReason::Nudged,
                    Event::ReminderSent { slot, .. }
                        if slot.ends_with(crate::domain::reminders::DUE_SUFFIX) =>
                    {
                        render::dm::DmReason::DueTomorrow
                    }
                    // The fold counts reminders per gate, so the number is the one this
                    // reminder had when it was recorded.
                    Event::ReminderSent { .. } => render::dm::DmReason::Reminder {
                        nth: after.reminders_sent,
                    },
                    _ => render::dm::DmReason::TimedOut,
                };
                let content = render::dm::decision_dm(
                    &req,
                    why,
                    links.permalink.as_deref(),
                    policy,
                    roles,
                    now,
                );
                let dm = self.state.api.open_dm(to.as_str()).await?;
                self.state.api.post_message(&dm, content, None).await?;
            }
            Effect::CreateLinearIssue => {
                let linear = self.linear()?;
                let (req, links) = self.request(row.request_id).await?;
                if links.linear_issue_id.is_some() {
                    return Ok(());
                }
                let people = [Some(&req.requester), req.commercial_owner.as_ref()]
                    .into_iter()
                    .flatten()
                    .map(|u| u.to_string());
                let names = self.state.names.names(people).await;
                let description =
                    render::linear::issue_description(&req, links.permalink.as_deref(), &names);
                let issue = linear
                    .create_issue(req.id, &render::linear::issue_title(&req), &description)
                    .await?;
                store::requests::set_linear_issue(&self.state.pool, req.id, &issue.id, &issue.url)
                    .await?;
                // The root message links the issue from now on.
                store::outbox::enqueue(
                    &self.state.pool,
                    req.id,
                    row.event_id,
                    &Effect::UpdateRootMessage,
                    now,
                )
                .await?;
            }
            Effect::PostWeeklyDigest { slot } => self.post_digest(*slot).await?,
            Effect::PublishHome { user } => self.publish_home(user).await?,
            Effect::CommentLinearIssue => {
                let linear = self.linear()?;
                let links = store::requests::links(&self.state.pool, row.request_id).await?;
                let Some(issue) = links.linear_issue_id else {
                    return Err(DeliveryError::Missing(
                        "the request has no Linear issue to comment on".into(),
                    ));
                };
                let (after, event) = self.request_at_event(row).await?;
                let people = event.actor.user().map(|u| u.to_string());
                let names = self.state.names.names(people).await;
                let body =
                    render::linear::issue_comment(&after, &event.actor, &event.event, &names);
                linear.comment(&issue, &body).await?;
            }
        }
        Ok(())
    }

    fn linear(&self) -> Result<&LinearClient, DeliveryError> {
        self.state.linear.as_ref().ok_or_else(|| {
            DeliveryError::Missing("Linear is not configured ([linear] and LINEAR_API_KEY)".into())
        })
    }

    /// The request exactly as it was right after the row's event, rebuilt from the log, so a
    /// thread reply delivered late still describes its own moment.
    async fn request_at_event(
        &self,
        row: Subject,
    ) -> Result<(Request, crate::domain::RecordedEvent), DeliveryError> {
        let events = store::events::events_of(&self.state.pool, row.request_id).await?;
        let Some(pos) = events.iter().position(|e| e.id == row.event_id) else {
            return Err(DeliveryError::Missing(format!(
                "event {} is not in the log",
                row.event_id
            )));
        };
        let after = fold(&events[..=pos]).map_err(|e| DeliveryError::Missing(e.to_string()))?;
        Ok((after, events[pos].clone()))
    }
}
