//! What each outbox `Effect` does against Slack and Linear. The text comes from `render`;
//! what was stored about the request (its root message, its Linear issue) from the store.

use tracing::{info, warn};

use std::sync::Arc;

use super::conn::ClaimConn;
use super::error::DeliveryError;
use super::home::HomeBatch;
use super::Deliverer;
use crate::domain::fold;
use crate::domain::Links;
use crate::domain::{Effect, Event, RecordedEvent, Request, RequestId};
use crate::linear::LinearClient;
use crate::render;
use crate::store;
use crate::store::outbox::OutboxRow;
use crate::store::requests::LaneReading;

/// The request and event an outbox row's effect follows.
#[derive(Debug, Clone, Copy)]
struct Subject {
    request_id: RequestId,
    event_id: uuid::Uuid,
}

/// What one lane's rows read, read once per claim: the rows of a lane belong to one request,
/// so its projection, links and log serve them all. Forgotten whenever a delivery writes
/// links (the root's ts, a permalink, a Linear issue).
#[derive(Debug)]
pub(super) struct LaneCache {
    /// The claim's connection, which the lane's statements share.
    db: Arc<ClaimConn>,
    request: Option<(Request, Links)>,
    events: Option<Vec<RecordedEvent>>,
    /// The root updates waiting when the claim read the lane, from the same snapshot as
    /// `request`: what the lane's first root update covers, unless something made that
    /// snapshot old before the update's turn came (see [`LaneCache::claimed_is_old`]).
    waiting: Option<Vec<i64>>,
    /// The request right after an event, with the event, as the append that recorded it
    /// folded it (a handed lane's): what a row of that event renders from, without the log.
    after: Option<(Request, RecordedEvent)>,
    /// The claim's Home publishes, read together (see `HomeBatch`).
    homes: Option<Arc<HomeBatch>>,
    /// Some row of the lane renders from the log (a thread reply, a DM, a Linear comment),
    /// so the lane's first read brings the log with it.
    reads_log: bool,
}

/// What a lane knows before it reads anything: the lane as its claim read it, or as the
/// append that handed it over held it.
#[derive(Debug)]
pub(super) struct Known {
    pub(super) reading: LaneReading,
    /// A handed lane's event, with the request right after it.
    pub(super) event: Option<(Request, RecordedEvent)>,
}

impl LaneCache {
    /// `known` is what the claim read of the lane, or what its append handed over.
    pub(super) fn new(
        db: Arc<ClaimConn>,
        homes: Option<Arc<HomeBatch>>,
        lane: &[OutboxRow],
        known: Option<Known>,
    ) -> Self {
        let reads_log = lane.iter().any(|r| r.effect.renders_from_log());
        let (request, events, waiting, after) = match known {
            Some(Known { reading: r, event }) => {
                (Some((r.request, r.links)), r.log, Some(r.waiting), event)
            }
            None => (None, None, None, None),
        };
        Self {
            db,
            request,
            events,
            waiting,
            after,
            homes,
            reads_log,
        }
    }

    pub(super) fn db(&self) -> &ClaimConn {
        &self.db
    }

    /// The claim's Home batch, when this lane publishes a Home that is part of it.
    pub(super) fn homes(&self) -> Option<&HomeBatch> {
        self.homes.as_deref()
    }

    fn links_changed(&mut self) {
        self.request = None;
        self.waiting = None;
    }

    /// A root update waited for its turn behind other calls: events may have been recorded
    /// since the claim, and reading the lane again lets its one call cover them too.
    pub(super) fn claimed_is_old(&mut self) {
        self.waiting = None;
    }
}

fn gone(id: RequestId) -> DeliveryError {
    DeliveryError::Missing(format!("request {id} is gone"))
}

/// What a coalesced root update did.
#[derive(Debug)]
pub(super) struct Coalesced {
    /// The waiting update rows its rendering covered, oldest first.
    pub(super) covered: Vec<i64>,
}

impl Deliverer {
    async fn request(
        &self,
        id: RequestId,
        cache: &mut LaneCache,
    ) -> Result<(Request, Links), DeliveryError> {
        if let Some(found) = &cache.request {
            return Ok(found.clone());
        }
        let found = cache
            .db
            .run(async |c| store::requests::with_links(c, id).await)
            .await?
            .ok_or_else(|| gone(id))?;
        cache.request = Some(found.clone());
        Ok(found)
    }

    async fn links(&self, id: RequestId, cache: &mut LaneCache) -> Result<Links, DeliveryError> {
        Ok(self.request(id, cache).await?.1)
    }

    /// One `chat.update` rendering the request, covering every root update waiting for it:
    /// the rows are read in the same statement as the request, so the rendering includes
    /// each of their events. That statement is the claim's, unless the update waited for its
    /// turn or a delivery wrote links since; then the lane is read again, and the call shows
    /// (and covers) what was recorded meanwhile. Nothing is called when none waits.
    pub(super) async fn coalesced_update(
        &self,
        request_id: RequestId,
        cache: &mut LaneCache,
    ) -> Result<Coalesced, DeliveryError> {
        // The claim's reading of the lane (`request` is from the same snapshot), while
        // nothing has made it old; else read now.
        let covered = match cache.waiting.take() {
            Some(covered) => covered,
            None => {
                let with_log = cache.reads_log;
                let reading = cache
                    .db
                    .run(async |c| {
                        store::requests::with_links_and_waiting_updates(c, request_id, with_log)
                            .await
                    })
                    .await?
                    .ok_or_else(|| gone(request_id))?;
                cache.request = Some((reading.request, reading.links));
                if reading.log.is_some() {
                    cache.events = reading.log;
                }
                reading.waiting
            }
        };
        let Some((req, links)) = &cache.request else {
            return Err(gone(request_id));
        };
        if covered.is_empty() {
            return Ok(Coalesced { covered });
        }
        let (Some(ch), Some(ts)) = (&links.slack_channel, &links.slack_ts) else {
            return Err(DeliveryError::Missing(
                "the root message was never posted, so it cannot be updated".into(),
            ));
        };
        let settings = &self.state.settings;
        let content = render::root::root_message(
            req,
            links,
            &settings.policy,
            self.state.roles.roles(),
            self.state.clock.now(),
        );
        self.state.api.update_message(ch, ts, content).await?;
        Ok(Coalesced { covered })
    }

    pub(super) async fn perform(
        &self,
        row: &OutboxRow,
        cache: &mut LaneCache,
    ) -> Result<(), DeliveryError> {
        if let Effect::PostWeeklyDigest { slot } = &row.effect {
            return self.post_digest(*slot).await;
        }
        if let Effect::PostMentionReply {
            channel,
            thread_ts,
            numbers,
        } = &row.effect
        {
            return self.post_mention_reply(channel, thread_ts, numbers).await;
        }
        if let Effect::PublishHome { user } = &row.effect {
            return self.publish_home(user, cache.homes(), &cache.db).await;
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
        self.perform_for(&row.effect, subject, cache).await
    }

    async fn perform_for(
        &self,
        effect: &Effect,
        row: Subject,
        cache: &mut LaneCache,
    ) -> Result<(), DeliveryError> {
        let settings = &self.state.settings;
        let roles = self.state.roles.roles();
        let policy = &settings.policy;
        let channel = settings.slack.requests_channel.as_str();
        let now = self.state.clock.now();
        match effect {
            Effect::PostRootMessage => {
                let (req, links) = self.request(row.request_id, cache).await?;
                if links.slack_ts.is_some() {
                    // Posted before a crash lost the mark: do not post twice.
                    return Ok(());
                }
                let content = render::root::root_message(&req, &links, policy, roles, now);
                let ts = self.state.api.post_message(channel, content, None).await?;
                // Store the ts before anything else can fail, so a retry updates instead of reposting.
                cache.links_changed();
                cache
                    .db
                    .run(async |c| {
                        store::requests::set_root_message(c, row.request_id, channel, &ts, None)
                            .await
                    })
                    .await?;
                match self.state.api.permalink(channel, &ts).await {
                    Ok(link) => {
                        cache
                            .db
                            .run(async |c| {
                                store::requests::set_root_message(
                                    c,
                                    row.request_id,
                                    channel,
                                    &ts,
                                    Some(&link),
                                )
                                .await
                            })
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
                let links = self.links(row.request_id, cache).await?;
                if links.permalink.is_some() {
                    return Ok(());
                }
                let (Some(ch), Some(ts)) = (&links.slack_channel, &links.slack_ts) else {
                    return Err(DeliveryError::Missing(
                        "the root message was never posted, so it has no permalink".into(),
                    ));
                };
                let link = self.state.api.permalink(ch, ts).await?;
                cache.links_changed();
                cache
                    .db
                    .run(async |c| {
                        store::requests::set_root_message(c, row.request_id, ch, ts, Some(&link))
                            .await
                    })
                    .await?;
            }
            Effect::UpdateRootMessage => {
                let (req, links) = self.request(row.request_id, cache).await?;
                let (Some(ch), Some(ts)) = (&links.slack_channel, &links.slack_ts) else {
                    return Err(DeliveryError::Missing(
                        "the root message was never posted, so it cannot be updated".into(),
                    ));
                };
                let content = render::root::root_message(&req, &links, policy, roles, now);
                self.state.api.update_message(ch, ts, content).await?;
            }
            Effect::PostThreadReply => {
                let links = self.links(row.request_id, cache).await?;
                let (Some(ch), Some(ts)) = (&links.slack_channel, &links.slack_ts) else {
                    return Err(DeliveryError::Missing(
                        "the root message was never posted, so the thread does not exist".into(),
                    ));
                };
                let (after, event) = self.request_at_event(row, cache).await?;
                let content = render::thread::thread_reply(&after, &event, roles, policy, now);
                self.state.api.post_message(ch, content, Some(ts)).await?;
            }
            Effect::DirectMessage { to } => {
                let (req, links) = self.request(row.request_id, cache).await?;
                let (after, event) = self.request_at_event(row, cache).await?;
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
                    Event::OwnerReassigned { role, .. } => {
                        render::dm::DmReason::Reassigned { role: *role }
                    }
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
                let (req, links) = self.request(row.request_id, cache).await?;
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
                cache.links_changed();
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
            Effect::PostMentionReply {
                channel,
                thread_ts,
                numbers,
            } => self.post_mention_reply(channel, thread_ts, numbers).await?,
            Effect::PostSourceReply => self.post_source_reply(row.request_id, cache).await?,
            Effect::PublishHome { user } => {
                self.publish_home(user, cache.homes(), &cache.db).await?
            }
            Effect::CommentLinearIssue => {
                let linear = self.linear()?;
                let links = self.links(row.request_id, cache).await?;
                let Some(issue) = links.linear_issue_id else {
                    return Err(DeliveryError::Missing(
                        "the request has no Linear issue to comment on".into(),
                    ));
                };
                let (after, event) = self.request_at_event(row, cache).await?;
                let people = event.actor.user().map(|u| u.to_string());
                let names = self.state.names.names(people).await;
                let body =
                    render::linear::issue_comment(&after, &event.actor, &event.event, &names);
                linear.comment(&issue, &body).await?;
            }
        }
        Ok(())
    }

    /// The reply in the thread a request was made from. Its ts is stored once posted, so a
    /// retry after a lost mark finds it and does not post a second reply.
    async fn post_source_reply(
        &self,
        id: RequestId,
        cache: &mut LaneCache,
    ) -> Result<(), DeliveryError> {
        let (req, links) = self.request(id, cache).await?;
        let Some(source) = req.details.source.clone() else {
            return Err(DeliveryError::Missing(format!(
                "{} was not made from a message, so it has no source thread",
                req.number
            )));
        };
        if store::requests::source_reply(&self.state.pool, id)
            .await?
            .is_some()
        {
            return Ok(());
        }
        // The root's permalink is normally stored by the time this runs (the root is earlier
        // in the lane); when asking for it failed there, ask again here rather than wait
        // behind this row for the FetchPermalink queued after it.
        let permalink = match (&links.permalink, &links.slack_channel, &links.slack_ts) {
            (Some(p), ..) => Some(p.clone()),
            (None, Some(ch), Some(ts)) => {
                let link = self.state.api.permalink(ch, ts).await?;
                store::requests::set_root_message(&self.state.pool, id, ch, ts, Some(&link))
                    .await?;
                cache.links_changed();
                Some(link)
            }
            _ => None,
        };
        let s = &self.state.settings;
        let content = render::ways::source_reply(
            &req,
            permalink.as_deref(),
            self.state.roles.roles(),
            &s.policy,
            self.state.clock.now(),
        );
        let ts = self
            .state
            .api
            .post_message(source.channel.as_str(), content, Some(&source.thread_ts))
            .await?;
        store::requests::set_source_reply(&self.state.pool, id, &ts).await?;
        Ok(())
    }

    /// The one reply to a thread that mentioned requests, rendered from the requests as they
    /// are when it goes out.
    async fn post_mention_reply(
        &self,
        channel: &str,
        thread_ts: &str,
        numbers: &[crate::domain::RequestNumber],
    ) -> Result<(), DeliveryError> {
        let cards = store::mentions::cards(&self.state.pool, numbers).await?;
        if cards.is_empty() {
            return Err(DeliveryError::Missing(
                "none of the mentioned requests exists any more".into(),
            ));
        }
        let s = &self.state.settings;
        let content = render::ways::mention_reply(
            &cards,
            self.state.roles.roles(),
            &s.policy,
            self.state.clock.now(),
        );
        self.state
            .api
            .post_message(channel, content, Some(thread_ts))
            .await?;
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
        cache: &mut LaneCache,
    ) -> Result<(Request, RecordedEvent), DeliveryError> {
        // The append that handed the lane over folded its event as the log's fold would:
        // the projection it decided from is that fold, and `evolve` the same step.
        if let Some((after, event)) = &cache.after {
            if event.id == row.event_id {
                return Ok((after.clone(), event.clone()));
            }
        }
        // The log read with the lane's root update, or for its first row that renders from
        // the log, holds the events of every row claimed with it (an event commits with its
        // outbox rows); a row queued later reads it again.
        if !cache
            .events
            .as_ref()
            .is_some_and(|e| e.iter().any(|e| e.id == row.event_id))
        {
            let read = cache
                .db
                .run(async |c| store::events::events_of(c, row.request_id).await)
                .await?;
            cache.events = Some(read);
        }
        let events = cache.events.as_deref().unwrap_or_default();
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
