//! The weekly digest's figures and chart: what `store` reads, folded into a
//! [`render::digest::Digest`](crate::render::digest::Digest) (pure), and the cost-at-risk
//! trend drawn as a PNG with [`chart`](super::chart).

use chrono::{DateTime, Duration, Utc};
use sqlx::PgPool;

use super::chart::{self, ChartError, LineChart};
use super::figures::sample_points;
use super::units::usd_short;
use crate::domain::digest::{is_stuck, WeeklySlot, DECISION_KINDS};
use crate::domain::{decision_owner, Party, Policy, Request, RequestNumber, UserId};
use crate::render::digest::{DecisionLine, Digest, OpenLine, OwnerGroup, RequestLine, StuckLine};
use crate::store::digests::DecisionRow;
use crate::store::{self, StoreError};

/// The trend covers this many weeks, one point a day.
pub const TREND_WEEKS: i64 = 8;
/// Decisions listed at most (the message counts the rest).
const MAX_DECISIONS: i64 = 500;
/// The PNG's size: readable in Slack's preview, a few tens of kilobytes.
pub const CHART_SIZE: (u32, u32) = (900, 420);

/// Reads what the digest of `slot` shows, as of `now`.
pub async fn gather(
    pool: &PgPool,
    policy: &Policy,
    schedule: &WeeklySlot,
    slot: DateTime<Utc>,
    now: DateTime<Utc>,
) -> Result<Digest, StoreError> {
    let since = schedule.previous(&policy.calendar, slot);
    let kinds: Vec<&str> = DECISION_KINDS.iter().map(|k| k.as_str()).collect();
    let points = sample_points(
        now - Duration::weeks(TREND_WEEKS),
        now,
        usize::try_from(TREND_WEEKS * 7 + 1).unwrap_or(57),
    );
    let (open, decisions, trend) = tokio::try_join!(
        store::digests::open_with_permalinks(pool),
        store::digests::decisions_between(pool, &kinds, since, now, MAX_DECISIONS),
        store::report::cost_series(pool, &points),
    )?;
    Ok(compose(open, decisions, trend, policy, slot, since, now))
}

/// Folds what was read into the digest. Pure.
pub fn compose(
    open: Vec<(Request, Option<String>)>,
    decisions: Vec<DecisionRow>,
    cost_trend: Vec<(DateTime<Utc>, i64)>,
    policy: &Policy,
    slot: DateTime<Utc>,
    since: DateTime<Utc>,
    now: DateTime<Utc>,
) -> Digest {
    let mut by_owner: Vec<OwnerGroup> = Vec::new();
    let mut stuck = Vec::new();
    for (req, permalink) in &open {
        let line = RequestLine {
            number: req.number,
            customer: req.details.customer.clone(),
            permalink: permalink.clone(),
        };
        let owner = decision_owner(req);
        if let Some(owner) = &owner {
            for party in &owner.parties {
                let open_line = OpenLine {
                    request: line.clone(),
                    state: req.state,
                    decision: owner.decision,
                    due: owner.due,
                };
                match by_owner.iter_mut().find(|g| &g.owner == party) {
                    Some(group) => group.requests.push(open_line),
                    None => by_owner.push(OwnerGroup {
                        owner: party.clone(),
                        requests: vec![open_line],
                    }),
                }
            }
        }
        if is_stuck(req, policy, now) {
            stuck.push(StuckLine {
                request: line,
                state: req.state,
                entered_at: req.state_entered_at,
                owners: owner.map(|o| o.parties).unwrap_or_default(),
            });
        }
    }
    // Whoever holds the most decisions first; ties in the order their requests were filed.
    by_owner.sort_by_key(|g| std::cmp::Reverse(g.requests.len()));
    stuck.sort_by_key(|s| s.entered_at);
    let decisions = decisions
        .into_iter()
        .filter_map(|d| {
            Some(DecisionLine {
                request: RequestLine {
                    number: RequestNumber(d.number),
                    customer: d.customer,
                    permalink: d.permalink,
                },
                kind: d.kind.parse().ok()?,
                by: UserId::parse(&d.actor).map_or(Party::System, Party::User),
                at: d.occurred_at,
            })
        })
        .collect();
    Digest {
        slot,
        since,
        as_of: now,
        open_requests: open.len(),
        by_owner,
        stuck_after_business_days: policy.stuck_after_business_days,
        stuck,
        decisions,
        cost_trend,
    }
}

/// The cost-at-risk trend as a PNG.
pub fn chart_png(digest: &Digest, title: String) -> Result<Vec<u8>, ChartError> {
    chart::line_png(
        &LineChart {
            title,
            points: digest
                .cost_trend
                .iter()
                .map(|(t, c)| (*t, *c as f64 / 100.0))
                .collect(),
            y_format: usd_short,
        },
        CHART_SIZE,
    )
}
