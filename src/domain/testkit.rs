//! Builders shared by the domain's tests and the integration tests: a cast of users with
//! fixed roles and a way to play events against the reducer.

use chrono::{DateTime, Duration, NaiveDate, Utc};
use uuid::Uuid;

use super::event::Event;
use super::ids::{RequestId, RequestNumber, TeamId, UserId};
use super::policy::Policy;
use super::reducer::{reduce, Context};
use super::refusal::Refusal;
use super::request::{Request, Submission};
use super::role::{Actor, Role, RoleSet};

pub const TEAM: &str = "T0TEAM";
pub const REQUESTER: &str = "UREQUESTER";
pub const AE: &str = "UAE";
pub const APPROVER: &str = "UAPPROVER";
pub const FINANCE: &str = "UFINANCE";
pub const BOTH: &str = "UBOTHKEYS";
pub const INFRA: &str = "UINFRA";
pub const INFRA2: &str = "UINFRATWO";
pub const ADMIN: &str = "UADMIN";
pub const STRANGER: &str = "USTRANGER";

/// Free text that tries each way mrkdwn offers to notify, mention or link, and an entity
/// that Slack would decode into markup. What people type goes through `render::text`; the
/// render tests and the end-to-end tests type this into every free-text field.
pub const EVIL_TEXT: &str =
    "<!channel> @here <https://evil|click> &lt;b&gt; <@UEVIL> <!subteam^SEVIL> @Everyone";

/// The rest of the tricks, short enough for the region field (at most 64 characters).
pub const EVIL_SHORT_TEXT: &str = "<!here> <!everyone> @channel <#CEVIL>";

/// What must never appear in anything rendered from [`EVIL_TEXT`] or [`EVIL_SHORT_TEXT`]:
/// each would notify, mention, link, or show `<b>` where the person typed `&lt;b&gt;`.
pub const EVIL_LEAKS: [&str; 12] = [
    "<!channel>",
    "<!here>",
    "<!everyone>",
    "@here",
    "@channel",
    "@Everyone",
    "<https://evil|click>",
    "&lt;b&gt;",
    "<@UEVIL>",
    "<!subteam^SEVIL>",
    "<#CEVIL>",
    // Escaped twice: Slack would show `&amp;lt;` instead of what was typed.
    "&amp;amp;",
];

/// The `&lt;b&gt;` of [`EVIL_TEXT`] escaped once, as it must be rendered: Slack shows it as
/// typed.
pub const EVIL_ENTITY_ESCAPED: &str = "&amp;lt;b&amp;gt;";

pub fn uid(s: &str) -> UserId {
    UserId::parse(s).expect("test user id")
}

/// The roles of the cast. Everyone may request (an empty `requesters` list).
pub fn roles_of(user: &str) -> RoleSet {
    let mut roles = vec![Role::Requester];
    match user {
        APPROVER => roles.push(Role::CommercialApprover),
        FINANCE => roles.push(Role::Finance),
        BOTH => roles.extend([Role::CommercialApprover, Role::Finance]),
        INFRA | INFRA2 => roles.push(Role::Infra),
        ADMIN => roles.push(Role::Admin),
        _ => {}
    }
    RoleSet::new(roles)
}

pub fn actor(user: &str) -> Actor {
    Actor::User {
        id: uid(user),
        team: TeamId::parse(TEAM).expect("test team id"),
        roles: roles_of(user),
    }
}

pub fn submission(cost_usd: i64) -> Submission {
    Submission {
        customer: "Acme Corp".into(),
        org_id: "org-acme".into(),
        project_ref: "abcdefghijklmnop".into(),
        current_size: "16XL".into(),
        requested_size: "48XL".into(),
        region: "us-east-1".into(),
        needed_by: NaiveDate::from_ymd_opt(2027, 1, 15).expect("valid date"),
        duration_months: 12,
        est_monthly_cost_cents: cost_usd * 100,
        commercial_owner: Some(uid(AE)),
        justification: "Black Friday traffic".into(),
    }
}

/// Thursday 2026-12-03, 10:00 in New York.
pub fn t0() -> DateTime<Utc> {
    "2026-12-03T15:00:00Z".parse().expect("valid time")
}

/// Plays events against the reducer the way the store does, keeping the log.
pub struct Play {
    pub policy: Policy,
    pub now: DateTime<Utc>,
    pub request: Option<Request>,
    pub log: Vec<(Event, Actor, DateTime<Utc>)>,
    pub id: RequestId,
}

impl Play {
    pub fn new(policy: Policy) -> Self {
        Play {
            policy,
            now: t0(),
            request: None,
            log: Vec::new(),
            id: RequestId(Uuid::nil()),
        }
    }

    /// A request submitted by REQUESTER naming AE, with the automatic owner assignment.
    pub fn submitted(cost_usd: i64) -> Self {
        let mut p = Play::new(Policy::default());
        p.ok(
            REQUESTER,
            Event::Submitted {
                number: RequestNumber(1),
                details: submission(cost_usd),
            },
        );
        p.ok(REQUESTER, Event::CommercialOwnerAssigned { owner: uid(AE) });
        p
    }

    pub fn req(&self) -> &Request {
        self.request.as_ref().expect("a request was submitted")
    }

    pub fn advance(&mut self, by: Duration) -> &mut Self {
        self.now += by;
        self
    }

    pub fn try_as(&mut self, who: Actor, event: Event) -> Result<&Request, Refusal> {
        let ctx = Context {
            request_id: self.id,
            actor: &who,
            policy: &self.policy,
            now: self.now,
            expected_version: self.request.as_ref().map(|r| r.version),
        };
        let next = reduce(self.request.as_ref(), &event, &ctx)?;
        self.log.push((event, who, self.now));
        self.request = Some(next);
        Ok(self.req())
    }

    pub fn attempt(&mut self, user: &str, event: Event) -> Result<&Request, Refusal> {
        self.try_as(actor(user), event)
    }

    #[track_caller]
    pub fn ok(&mut self, user: &str, event: Event) -> &Request {
        let kind = event.kind();
        match self.attempt(user, event) {
            Ok(_) => self.req(),
            Err(e) => panic!("{user} {kind} was refused: {e}"),
        }
    }

    #[track_caller]
    pub fn ok_as(&mut self, who: Actor, event: Event) -> &Request {
        let kind = event.kind();
        match self.try_as(who, event) {
            Ok(_) => self.req(),
            Err(e) => panic!("{kind} was refused: {e}"),
        }
    }

    #[track_caller]
    pub fn refused(&mut self, user: &str, event: Event) -> Refusal {
        let before = self.request.clone();
        match self.attempt(user, event) {
            Ok(r) => panic!("expected a refusal, got state {}", r.state),
            Err(e) => {
                assert_eq!(self.request, before, "a refusal must change nothing");
                e
            }
        }
    }

    /// Walks the happy path up to (and including) the step that enters `target`.
    pub fn to_customer_confirmation(cost_usd: i64) -> Self {
        let mut p = Play::submitted(cost_usd);
        p.ok(AE, Event::CommercialApproved);
        if p.req().finance_required {
            p.ok(FINANCE, Event::CommercialApproved);
        }
        p.ok(INFRA, Event::TechnicalOwnerAssigned);
        p.ok(INFRA, Event::TechnicalApproved);
        p
    }

    pub fn to_provisioning() -> Self {
        let mut p = Play::to_customer_confirmation(10_000);
        p.ok(AE, Event::CustomerConfirmed);
        p
    }

    pub fn to_ready() -> Self {
        let mut p = Play::to_provisioning();
        p.ok(INFRA, Event::ProvisioningCompleted);
        p
    }

    /// Moves time past the current deadline and lets the scheduler time it out.
    pub fn time_out(&mut self, event: Event) -> &Request {
        let due = self.req().deadline.expect("a deadline is set").at;
        self.now = due + Duration::minutes(1);
        self.ok_as(Actor::Scheduler, event)
    }
}
