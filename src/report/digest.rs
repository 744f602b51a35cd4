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
/// Decisions read at most: the message lists the first few and counts the rest.
const MAX_DECISIONS: i64 = 50;
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
    let decisions_total = decisions
        .first()
        .map_or(0, |d| usize::try_from(d.total).unwrap_or(usize::MAX));
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
        decisions_total,
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

#[cfg(test)]
mod tests {
    use super::*;
    use crate::domain::testkit::*;
    use crate::domain::{Command, Role};

    fn utc(s: &str) -> DateTime<Utc> {
        s.parse().unwrap()
    }

    /// Width and height from a PNG's IHDR chunk, after checking the signature.
    fn png_size(bytes: &[u8]) -> (u32, u32) {
        assert_eq!(&bytes[..8], b"\x89PNG\r\n\x1a\n", "PNG signature");
        assert_eq!(&bytes[12..16], b"IHDR");
        let be =
            |i: usize| u32::from_be_bytes([bytes[i], bytes[i + 1], bytes[i + 2], bytes[i + 3]]);
        (be(16), be(20))
    }

    #[test]
    fn open_requests_are_grouped_by_owner_and_stuck_ones_found() {
        let policy = Policy::default();
        let waiting = Play::submitted(10_000);
        let mut review = Play::submitted(10_000);
        review.ok(AE, Command::CommercialApproved);
        let entered = review.req().state_entered_at;
        let now = entered + Duration::days(10);
        let mut fresh = waiting.req().clone();
        fresh.state_entered_at = now - Duration::hours(1);
        let slot = now - Duration::hours(2);
        let d = compose(
            vec![
                (fresh, Some("https://acme.slack.com/archives/C1/p1".into())),
                (review.req().clone(), None),
            ],
            vec![DecisionRow {
                number: 7,
                customer: "Umbrella".into(),
                kind: "commercial_approved".into(),
                actor: AE.into(),
                occurred_at: slot - Duration::days(1),
                permalink: None,
                total: 1,
            }],
            vec![(now - Duration::weeks(8), 0), (now, 4200)],
            &policy,
            slot,
            slot - Duration::weeks(1),
            now,
        );
        assert_eq!(d.open_requests, 2);
        assert_eq!(d.by_owner.len(), 2);
        assert_eq!(d.by_owner[0].owner, Party::User(uid(AE)));
        assert_eq!(d.by_owner[1].owner, Party::Role(Role::Infra));
        assert_eq!(d.stuck.len(), 1, "only the request in review for 10 days");
        assert_eq!(d.stuck[0].entered_at, entered);
        assert_eq!((d.decisions.len(), d.decisions_total), (1, 1));
        assert_eq!(d.decisions[0].by, Party::User(uid(AE)));
        assert_eq!(d.cost_now_cents(), 4200);
    }

    #[test]
    fn the_chart_is_a_real_png_of_the_expected_size() {
        let now = utc("2026-12-07T14:30:00Z");
        let points = sample_points(now - Duration::weeks(TREND_WEEKS), now, 57);
        assert_eq!(points.len(), 57);
        let d = compose(
            vec![],
            vec![],
            points
                .iter()
                .enumerate()
                .map(|(i, t)| (*t, i as i64 * 10_000))
                .collect(),
            &Policy::default(),
            now,
            now - Duration::weeks(1),
            now,
        );
        let png = chart_png(&d, "Cost at risk".into()).expect("drawn");
        assert_eq!(png_size(&png), CHART_SIZE);
        assert!(
            png.len() > 5_000 && png.len() < 500_000,
            "{} bytes",
            png.len()
        );
    }
}
