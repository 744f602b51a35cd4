//! `capacity-bot report`: how long decisions take per stage and per person, what was
//! missed or escalated, what committed capacity cost while it waited, and what is
//! committed now, as a table, CSV, JSON or one self-contained HTML page with charts.
//!
//! `store::report` does the heavy reading (the log folded into stage visits in SQL);
//! [`figures`] turns it into figures with the business calendar; [`table`], [`csv`] and
//! [`html`] format them, JSON is the figures serialised. [`chart`] draws SVG and PNG charts
//! and is shared with the weekly digest.

pub mod chart;
pub mod csv;
pub mod digest;
pub mod figures;
pub mod html;
pub mod table;
mod units;
pub mod window;

use chrono::{DateTime, Utc};
use serde::Serialize;
use sqlx::PgPool;

use crate::domain::Calendar;
use crate::render::names::Names;
use crate::store::{self, StoreError};
use figures::{Figures, Inputs, Person};

/// Cost-over-time samples at most; a year is sampled every few days.
const SERIES_POINTS: usize = 120;

#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Report {
    pub generated_at: DateTime<Utc>,
    /// Start of the window; `None` for the whole log.
    pub since: Option<DateTime<Utc>>,
    /// The calendar business hours are counted in, in words.
    pub calendar: String,
    #[serde(flatten)]
    pub figures: Figures,
}

/// Reads the log and the projection for the window from `since` (the whole log when
/// `None`) up to `now`, and computes the figures. People are named by id until
/// [`Report::name_people`].
pub async fn gather(
    pool: &PgPool,
    since: Option<DateTime<Utc>>,
    now: DateTime<Utc>,
    calendar: &Calendar,
) -> Result<Report, StoreError> {
    use store::report as q;
    // Independent reads on separate pooled connections: the visits query dominates, the
    // rest run beside it.
    let (visits, counts, costs, open, first) = tokio::try_join!(
        q::visits(pool, &figures::STAGES, since, now),
        q::kind_counts(pool, since, now),
        q::request_costs(pool, since, now),
        q::open_or_committed(pool),
        q::first_event_at(pool),
    )?;
    let start = since.or(first).unwrap_or(now).min(now);
    let series = q::cost_series(pool, &figures::sample_points(start, now, SERIES_POINTS)).await?;
    let inputs = Inputs {
        visits,
        counts,
        costs,
        open,
        series,
    };
    Ok(Report {
        generated_at: now,
        since,
        calendar: describe(calendar),
        figures: figures::compute(inputs, calendar, now),
    })
}

fn describe(calendar: &Calendar) -> String {
    let holidays = match calendar.holidays.len() {
        0 => "no holidays".to_string(),
        1 => "1 holiday".to_string(),
        n => format!("{n} holidays"),
    };
    format!(
        "{} {}-{}, weekends and {holidays} off",
        calendar.time_zone,
        calendar.work_start.format("%H:%M"),
        calendar.work_end.format("%H:%M"),
    )
}

impl Report {
    fn people_mut(&mut self) -> impl Iterator<Item = &mut Person> {
        let f = &mut self.figures;
        let owners = f
            .stages
            .iter_mut()
            .flat_map(|s| s.by_owner.iter_mut().map(|o| &mut o.owner));
        let committed = f.committed_now.iter_mut().flat_map(|c| c.owners.iter_mut());
        let open = f.open_by_owner.iter_mut().map(|o| &mut o.owner);
        owners.chain(committed).chain(open)
    }

    /// Every Slack user the report names.
    pub fn users(&mut self) -> Vec<String> {
        let mut users: Vec<String> = self
            .people_mut()
            .filter(|p| p.is_user())
            .map(|p| p.id.clone())
            .collect();
        users.sort();
        users.dedup();
        users
    }

    /// Replaces user ids by the names people know them by, where known.
    pub fn name_people(&mut self, names: &Names) {
        for p in self.people_mut() {
            if p.is_user() {
                p.name = names.display(&p.id);
            }
        }
    }

    pub fn to_json(&self) -> Result<String, serde_json::Error> {
        serde_json::to_string_pretty(self)
    }
}
