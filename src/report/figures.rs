//! The report's figures, computed from what `store::report` read. Pure: no I/O, and `now`
//! and the calendar come in as arguments.

use std::collections::BTreeMap;

use chrono::{DateTime, Utc};
use serde::Serialize;

use crate::domain::cost::cost_at_risk_cents;
use crate::domain::{decision_owner, Calendar, Party, Request, State};
use crate::store::report::{KindCount, RequestCost, Visit, ESCALATION_KIND, FORCED_KIND};

/// The states in which somebody owes a decision, in lifecycle order.
pub const STAGES: [State; 7] = [
    State::Submitted,
    State::CommercialApprovalRequired,
    State::TechnicalReviewRequired,
    State::CustomerConfirmationRequired,
    State::ProvisioningInProgress,
    State::ReadyForCustomer,
    State::Expired,
];

/// Who someone is: the id as recorded, and the name people know them by (filled in by
/// [`super::Report::name_people`]; the id until then).
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Serialize)]
pub struct Person {
    pub id: String,
    pub name: String,
}

impl Person {
    pub fn new(id: &str) -> Self {
        Person {
            id: id.to_string(),
            name: id.to_string(),
        }
    }

    /// A Slack user id, as opposed to `scheduler`, `control-plane` or a role.
    pub fn is_user(&self) -> bool {
        crate::domain::UserId::parse(&self.id).is_ok()
    }

    fn of_party(party: &Party) -> Self {
        match party {
            Party::User(u) => Person::new(u.as_str()),
            Party::Role(r) => Person {
                id: format!("role:{}", r.config_key()),
                name: format!("{} (any)", r.config_key()),
            },
            Party::System => Person::new("scheduler"),
        }
    }
}

/// Median, 90th percentile and maximum of a set of durations, in seconds.
#[derive(Debug, Clone, Copy, PartialEq, Default, Serialize)]
pub struct Spread {
    pub median: f64,
    pub p90: f64,
    pub max: f64,
}

impl Spread {
    /// Percentiles interpolate linearly between ranks, as Postgres' `percentile_cont` does.
    pub fn of(values: &mut [f64]) -> Option<Spread> {
        if values.is_empty() {
            return None;
        }
        values.sort_by(f64::total_cmp);
        let at = |p: f64| {
            let rank = p * (values.len() - 1) as f64;
            let (lo, hi) = (rank.floor() as usize, rank.ceil() as usize);
            values[lo] + (values[hi] - values[lo]) * (rank - lo as f64)
        };
        Some(Spread {
            median: at(0.5),
            p90: at(0.9),
            max: values[values.len() - 1],
        })
    }
}

/// Time to decision: wall time and working time.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct DecisionTimes {
    pub decisions: usize,
    pub wall_seconds: Option<Spread>,
    pub business_seconds: Option<Spread>,
}

impl DecisionTimes {
    fn of(durations: &[(f64, f64)]) -> Self {
        let mut wall: Vec<f64> = durations.iter().map(|d| d.0).collect();
        let mut business: Vec<f64> = durations.iter().map(|d| d.1).collect();
        DecisionTimes {
            decisions: durations.len(),
            wall_seconds: Spread::of(&mut wall),
            business_seconds: Spread::of(&mut business),
        }
    }
}

#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct OwnerTimes {
    /// Who took the decision that ended the stage.
    pub owner: Person,
    #[serde(flatten)]
    pub times: DecisionTimes,
}

#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct StageFigures {
    pub stage: State,
    pub label: &'static str,
    /// Stages left by someone's decision in the window; a timeout or a forced transition
    /// is not a decision and is counted on its own.
    #[serde(flatten)]
    pub times: DecisionTimes,
    pub by_owner: Vec<OwnerTimes>,
    /// Requests in this stage now.
    pub open_now: usize,
    pub deadlines_missed: i64,
    pub escalations: i64,
    pub forced_transitions: i64,
}

#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Totals {
    pub decisions: usize,
    pub deadlines_missed: i64,
    /// Requests that expired at least once in the window.
    pub expirations: i64,
    pub escalations: i64,
    pub forced_transitions: i64,
    /// Cost at risk accrued in the window, all requests.
    pub cost_at_risk_cents: i64,
    /// Monthly cost of the capacity committed now.
    pub committed_monthly_cents: i64,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct CostLine {
    pub request: String,
    pub customer: String,
    pub state: String,
    pub monthly_cents: i64,
    pub committed_at: DateTime<Utc>,
    pub ended_at: Option<DateTime<Utc>>,
    /// Accrued inside the window.
    pub accrued_cents: i64,
}

/// Capacity committed now and not yet paid for or released.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Committed {
    pub request: String,
    pub customer: String,
    pub state: State,
    pub monthly_cents: i64,
    pub committed_at: DateTime<Utc>,
    /// Accrued since it was committed (not only inside the window).
    pub cost_at_risk_cents: i64,
    /// Who owns the decision that would stop the spend.
    pub owners: Vec<Person>,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct OwnerCount {
    pub owner: Person,
    pub requests: usize,
}

/// Everything `store::report` read for one window.
#[derive(Debug, Clone, Default)]
pub struct Inputs {
    pub visits: Vec<Visit>,
    pub counts: Vec<KindCount>,
    pub costs: Vec<RequestCost>,
    pub open: Vec<Request>,
    pub series: Vec<(DateTime<Utc>, i64)>,
}

#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Figures {
    pub stages: Vec<StageFigures>,
    pub totals: Totals,
    pub costs: Vec<CostLine>,
    pub committed_now: Vec<Committed>,
    pub open_by_owner: Vec<OwnerCount>,
    pub cost_over_time: Vec<(DateTime<Utc>, i64)>,
}

/// (wall seconds, business seconds) of each decision, by who decided.
type ByDecider<'a> = BTreeMap<&'a str, Vec<(f64, f64)>>;

fn is_decision(kind: &str) -> bool {
    !crate::store::report::TIMEOUT_KINDS.contains(&kind) && kind != FORCED_KIND
}

/// Turns what was read into the report's figures. Business time uses `calendar`.
pub fn compute(input: Inputs, calendar: &Calendar, now: DateTime<Utc>) -> Figures {
    let count = |kind: &str, stage: Option<State>| -> i64 {
        input
            .counts
            .iter()
            .filter(|c| {
                c.kind == kind && stage.is_none_or(|s| c.stage.as_deref() == Some(s.as_str()))
            })
            .map(|c| c.events)
            .sum()
    };
    let timeouts = |stage: Option<State>| {
        crate::store::report::TIMEOUT_KINDS
            .iter()
            .map(|k| count(k, stage))
            .sum::<i64>()
    };

    // Per stage, per decider: (wall seconds, business seconds) of each decided visit.
    let mut decided: BTreeMap<&str, ByDecider<'_>> = BTreeMap::new();
    let mut open_now: BTreeMap<&str, usize> = BTreeMap::new();
    for v in &input.visits {
        match (&v.left_at, &v.left_kind, &v.left_by) {
            (Some(left), Some(kind), Some(by)) if is_decision(kind) => {
                let wall = (*left - v.entered).num_milliseconds() as f64 / 1000.0;
                let business = calendar
                    .business_duration(v.entered, *left)
                    .num_milliseconds() as f64
                    / 1000.0;
                decided
                    .entry(v.stage.as_str())
                    .or_default()
                    .entry(by.as_str())
                    .or_default()
                    .push((wall, business));
            }
            (None, _, _) => *open_now.entry(v.stage.as_str()).or_default() += 1,
            _ => {}
        }
    }

    let stages: Vec<StageFigures> = STAGES
        .iter()
        .map(|&stage| {
            let per_owner = decided.get(stage.as_str());
            let all: Vec<(f64, f64)> = per_owner
                .map(|m| m.values().flatten().copied().collect())
                .unwrap_or_default();
            let by_owner = per_owner
                .map(|m| {
                    m.iter()
                        .map(|(who, d)| OwnerTimes {
                            owner: Person::new(who),
                            times: DecisionTimes::of(d),
                        })
                        .collect()
                })
                .unwrap_or_default();
            StageFigures {
                stage,
                label: stage.label(),
                times: DecisionTimes::of(&all),
                by_owner,
                open_now: open_now.get(stage.as_str()).copied().unwrap_or(0),
                deadlines_missed: timeouts(Some(stage)),
                escalations: count(ESCALATION_KIND, Some(stage)),
                forced_transitions: count(FORCED_KIND, Some(stage)),
            }
        })
        .collect();

    let costs: Vec<CostLine> = input
        .costs
        .iter()
        .map(|c| CostLine {
            request: format!("CR-{}", c.number),
            customer: c.customer.clone(),
            state: c.state.clone(),
            monthly_cents: c.monthly_cents,
            committed_at: c.committed_at,
            ended_at: c.ended_at,
            accrued_cents: c.accrued_cents,
        })
        .collect();

    let mut committed_now = Vec::new();
    let mut by_owner: BTreeMap<Person, usize> = BTreeMap::new();
    for r in &input.open {
        let owner = decision_owner(r);
        let owners: Vec<Person> = owner
            .iter()
            .flat_map(|o| o.parties.iter().map(Person::of_party))
            .collect();
        for p in &owners {
            *by_owner.entry(p.clone()).or_default() += 1;
        }
        if r.capacity.is_committed() {
            committed_now.push(Committed {
                request: r.number.to_string(),
                customer: r.details.customer.clone(),
                state: r.state,
                monthly_cents: r.details.est_monthly_cost_cents,
                committed_at: r.capacity.committed_at.unwrap_or(now),
                cost_at_risk_cents: cost_at_risk_cents(r, now).unwrap_or(0),
                owners,
            });
        }
    }
    committed_now.sort_by_key(|c| std::cmp::Reverse(c.cost_at_risk_cents));
    let mut open_by_owner: Vec<OwnerCount> = by_owner
        .into_iter()
        .map(|(owner, requests)| OwnerCount { owner, requests })
        .collect();
    open_by_owner.sort_by(|a, b| b.requests.cmp(&a.requests).then(a.owner.cmp(&b.owner)));

    let totals = Totals {
        decisions: stages.iter().map(|s| s.times.decisions).sum(),
        deadlines_missed: timeouts(None),
        expirations: crate::store::report::TIMEOUT_KINDS
            .iter()
            .flat_map(|k| input.counts.iter().filter(move |c| c.kind == *k))
            .map(|c| c.requests)
            .sum(),
        escalations: count(ESCALATION_KIND, None),
        forced_transitions: count(FORCED_KIND, None),
        cost_at_risk_cents: costs.iter().map(|c| c.accrued_cents).sum(),
        committed_monthly_cents: committed_now.iter().map(|c| c.monthly_cents).sum(),
    };
    Figures {
        stages,
        totals,
        costs,
        committed_now,
        open_by_owner,
        cost_over_time: input.series,
    }
}

/// Up to `max` instants from `from` to `to` (both included), evenly spaced by whole days
/// where the span allows: where the cost-over-time chart is sampled.
pub fn sample_points(from: DateTime<Utc>, to: DateTime<Utc>, max: usize) -> Vec<DateTime<Utc>> {
    if to <= from || max < 2 {
        return vec![to];
    }
    let span = to - from;
    let days = span.num_days().max(1);
    let step_days = (days + max as i64 - 2) / (max as i64 - 1);
    let step = if span < chrono::Duration::days(2) {
        span / (max as i32 - 1)
    } else {
        chrono::Duration::days(step_days.max(1))
    };
    let mut points = Vec::new();
    let mut t = to;
    while t > from && points.len() < max - 1 {
        points.push(t);
        t -= step;
    }
    points.push(from.max(t));
    points.reverse();
    points
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn percentiles_interpolate_between_ranks() {
        let s = Spread::of(&mut [4.0, 1.0, 3.0, 2.0]).unwrap();
        assert_eq!(s.median, 2.5);
        assert!((s.p90 - 3.7).abs() < 1e-9);
        assert_eq!(s.max, 4.0);
        let one = Spread::of(&mut [7.0]).unwrap();
        assert_eq!((one.median, one.p90, one.max), (7.0, 7.0, 7.0));
        assert_eq!(Spread::of(&mut []), None);
    }

    #[test]
    fn sample_points_cover_the_span_and_end_now() {
        let from: DateTime<Utc> = "2026-01-01T00:00:00Z".parse().unwrap();
        let to: DateTime<Utc> = "2026-12-31T12:00:00Z".parse().unwrap();
        let p = sample_points(from, to, 120);
        assert!(p.len() <= 120 && p.len() > 60, "{}", p.len());
        assert_eq!(*p.last().unwrap(), to);
        assert_eq!(p[0], from);
        assert!(p.windows(2).all(|w| w[0] < w[1]));
        let short = sample_points(to - chrono::Duration::hours(5), to, 10);
        assert_eq!(short.len(), 10);
        assert_eq!(sample_points(to, to, 10), vec![to]);
    }
}
