//! The sweeps of issue 13: absences that end on their date, break-glass review reminders,
//! and decision owners whose Slack account was deactivated without our hearing of it. Like
//! the other sweeps, each records through `append` with actor `scheduler` and an idempotency
//! key every replica builds the same way, so each happens once.

use chrono::{DateTime, Utc};
use tracing::{info_span, warn, Instrument};

use futures_util::stream::{self, StreamExt};

use super::{append_for, record, stamp, Sweeper, BATCH, PARALLEL};
use crate::domain::{plan_review, Command, Party, Request, Role, UserId};
use crate::slack::api::ApiError;
use crate::store::{self, StoreError};

/// Each decision owner is looked up with `users.info` at most once per this period, by
/// whichever replica claims them first. A deactivation normally arrives at once as a
/// `user_change` event; this catches the ones missed while no socket was connected.
pub const OWNER_RECHECK_HOURS: i64 = 6;
/// Lookups per run of the owner sweep (every 10 minutes by default), one at a time:
/// `users.info` is Tier 4 (100+ a minute) and the name lookups share it. At 60 a run, about
/// 2,000 distinct owners are each looked up every 6 hours; more are looked up less often,
/// the longest unchecked first.
pub const OWNER_LOOKUPS_PER_RUN: i64 = 60;

/// Ends every absence whose last day is before today (in the calendar's zone): each request
/// still delegated from that person records `decision_returned`, then the absence gets its
/// `back` row. Returns how many `decision_returned` this call recorded.
pub async fn sweep_absences(s: &Sweeper, now: DateTime<Utc>) -> Result<usize, StoreError> {
    let today = s.state.settings.policy.calendar.local_date(now);
    let mut recorded = 0;
    loop {
        let due = store::absences::due_to_end(&s.state.pool, today, BATCH).await?;
        let read = due.len();
        let mut ended = 0;
        for absence in due {
            if s.stop.is_cancelled() {
                return Ok(recorded);
            }
            let span = info_span!("absence_end", user = %absence.user, absence = %absence.id);
            let returned = async {
                // The returns first, four at a time like the other sweeps' appends: an
                // absence marked ended is never looked at again.
                let delegated =
                    store::absences::requests_delegated_from(&s.state.pool, &absence.user).await?;
                let returned = stream::iter(delegated)
                    .map(|id| {
                        let command = Command::DecisionReturned {
                            from: absence.user.clone(),
                        };
                        let key = format!("absence-end:{}:{id}", absence.id);
                        record(s, append_for(s, id, vec![command], now, key))
                    })
                    .buffer_unordered(PARALLEL)
                    .filter(|done| std::future::ready(done.is_some()))
                    .count()
                    .await;
                // A return that failed (the database, not a refusal) leaves the absence
                // active, so the next sweep returns what is left before ending it.
                if store::absences::requests_delegated_from(&s.state.pool, &absence.user)
                    .await?
                    .is_empty()
                {
                    store::absences::record_back(&s.state.pool, absence.id, "scheduler", now)
                        .await?;
                    ended += 1;
                } else {
                    warn!("an absence past its last day still has delegated decisions; the next sweep retries");
                }
                Ok::<_, StoreError>(returned)
            }
            .instrument(span)
            .await?;
            recorded += returned;
        }
        if read < usize::try_from(BATCH).unwrap_or(usize::MAX) || ended == 0 {
            return Ok(recorded);
        }
    }
}

/// Sends the break-glass review reminders due at `now`: a DM to each admin but the one who
/// forced the move, each business day until one of them reviews it.
pub async fn sweep_reviews(s: &Sweeper, now: DateTime<Utc>) -> Result<usize, StoreError> {
    if !s.state.settings.policy.calendar.is_working_time(now) {
        return Ok(0);
    }
    let due = store::timers::due_reviews(&s.state.pool, now, BATCH).await?;
    let mut recorded = 0;
    for req in due {
        let span = info_span!("review_reminder", request_id = %req.id);
        if fire_review(s, &req, now).instrument(span).await {
            recorded += 1;
        }
    }
    Ok(recorded)
}

async fn fire_review(s: &Sweeper, req: &Request, now: DateTime<Utc>) -> bool {
    let Some(slot) = plan_review(req, &s.state.settings.policy, now) else {
        return false;
    };
    let Some(forced) = req.attention.review_pending() else {
        return false;
    };
    let mut recipients = s.state.roles.people(&Party::Role(Role::Admin)).await;
    recipients.retain(|u| Some(u) != forced.by.as_ref());
    recipients.sort();
    recipients.dedup();
    if recipients.is_empty() {
        warn!("a break-glass review is due but there is no other admin to ask");
        return false;
    }
    let key = format!("review:{}:{}:{slot}", req.id, stamp(forced.at));
    let command = Command::ReminderSent {
        slot,
        recipients,
        escalation: false,
    };
    record(s, append_for(s, req.id, vec![command], now, key))
        .await
        .is_some()
}

/// Looks up decision owners of open requests not looked up for `OWNER_RECHECK_HOURS` (at
/// most `OWNER_LOOKUPS_PER_RUN`) and, for each whose account `users.info` says is deleted,
/// records `owner_deactivated` through the same path as the `user_change` event. Returns how
/// many requests this call flagged.
pub async fn sweep_owners(s: &Sweeper, now: DateTime<Utc>) -> Result<usize, StoreError> {
    let due_before = now - chrono::Duration::hours(OWNER_RECHECK_HOURS);
    let claimed =
        store::owner_checks::claim_due(&s.state.pool, now, due_before, OWNER_LOOKUPS_PER_RUN)
            .await?;
    let mut flagged = 0;
    for (i, user) in claimed.iter().enumerate() {
        if s.stop.is_cancelled() {
            give_back(s, &claimed[i..]).await?;
            break;
        }
        match s.state.api.user_is_active(user.as_str()).await {
            Ok(true) => {}
            Ok(false) => {
                let span = info_span!("owner_deactivated", %user);
                flagged += s.state.owner_deactivated(user, None).instrument(span).await;
            }
            // Not a member of this workspace: asking again will not change that.
            Err(ApiError::Permanent { code, .. }) if code == "user_not_found" => {
                warn!(%user, "a decision owner is not a member of the workspace (users.info: user_not_found)");
            }
            Err(e) => {
                warn!(error.message = %e, %user, "could not look up a decision owner; the next owner sweep retries");
                give_back(s, &claimed[i..]).await?;
                break;
            }
        }
    }
    Ok(flagged)
}

/// Unclaims the people this run did not look up, so the next run does.
async fn give_back(s: &Sweeper, users: &[UserId]) -> Result<(), StoreError> {
    store::owner_checks::release(&s.state.pool, users).await
}
