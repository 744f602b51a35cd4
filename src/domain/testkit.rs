//! Builders shared by the domain's tests and the integration tests: a cast of users with
//! fixed roles and a way to play commands through `decide` and `evolve`.

use chrono::{DateTime, Duration, NaiveDate, Utc};
use uuid::Uuid;

use super::command::Command;
use super::cost::cost_at_risk_cents;
use super::decide::{decide, Context};
use super::event::Event;
use super::evolve::{evolve, genesis, Occurrence};
use super::ids::{RequestId, RequestNumber, TeamId, UserId};
use super::log::RecordedEvent;
use super::policy::Policy;
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
        source: None,
    }
}

/// Thursday 2026-12-03, 10:00 in New York.
pub fn t0() -> DateTime<Utc> {
    "2026-12-03T15:00:00Z".parse().expect("valid time")
}

/// Plays commands the way the store does (`decide`, then `evolve` for each event), keeping
/// the log of recorded events.
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
            Command::Submitted {
                number: RequestNumber(1),
                details: submission(cost_usd),
            },
        );
        p.ok(
            REQUESTER,
            Command::CommercialOwnerAssigned { owner: uid(AE) },
        );
        p
    }

    pub fn req(&self) -> &Request {
        self.request.as_ref().expect("a request was submitted")
    }

    /// The last event played, as the store would have recorded it (its id and key from its
    /// sequence number).
    pub fn last_recorded(&self) -> RecordedEvent {
        let (event, actor, at) = self.log.last().cloned().expect("an event was played");
        let req = self.req();
        RecordedEvent {
            id: Uuid::from_u128(req.seq as u128),
            request_id: req.id,
            seq: req.seq,
            event,
            actor,
            policy: self.policy.clone(),
            version_after: req.version,
            state_after: req.state,
            deadline_after: req.deadline.map(|d| d.at),
            cost_at_risk_cents: cost_at_risk_cents(req, at),
            idempotency_key: format!("key-{}", req.seq),
            envelope_id: None,
            occurred_at: at,
            recorded_at: at,
        }
    }

    pub fn advance(&mut self, by: Duration) -> &mut Self {
        self.now += by;
        self
    }

    pub fn try_as(&mut self, who: Actor, command: Command) -> Result<&Request, Refusal> {
        let ctx = Context {
            request_id: self.id,
            actor: &who,
            policy: &self.policy,
            now: self.now,
            expected_version: self.request.as_ref().map(|r| r.version),
        };
        let events = decide(self.request.as_ref(), &command, &ctx)?;
        for event in events {
            let next = apply(
                self.request.as_ref(),
                self.id,
                &event,
                &who,
                &self.policy,
                self.now,
            );
            self.log.push((event, who.clone(), self.now));
            self.request = Some(next);
        }
        Ok(self.req())
    }

    /// The log folded again from scratch, as replay does.
    pub fn replayed(&self) -> Option<Request> {
        let mut folded: Option<Request> = None;
        for (event, who, at) in &self.log {
            folded = Some(apply(
                folded.as_ref(),
                self.id,
                event,
                who,
                &self.policy,
                *at,
            ));
        }
        folded
    }

    pub fn attempt(&mut self, user: &str, command: Command) -> Result<&Request, Refusal> {
        self.try_as(actor(user), command)
    }

    #[track_caller]
    pub fn ok(&mut self, user: &str, command: Command) -> &Request {
        let kind = command.kind();
        match self.attempt(user, command) {
            Ok(_) => self.req(),
            Err(e) => panic!("{user} {kind} was refused: {e}"),
        }
    }

    #[track_caller]
    pub fn ok_as(&mut self, who: Actor, command: Command) -> &Request {
        let kind = command.kind();
        match self.try_as(who, command) {
            Ok(_) => self.req(),
            Err(e) => panic!("{kind} was refused: {e}"),
        }
    }

    #[track_caller]
    pub fn refused(&mut self, user: &str, command: Command) -> Refusal {
        let before = self.request.clone();
        match self.attempt(user, command) {
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
        p.ok(AE, Command::CommercialApproved);
        if p.req().finance_required {
            p.ok(FINANCE, Command::CommercialApproved);
        }
        p.ok(INFRA, Command::TechnicalOwnerAssigned);
        p.ok(INFRA, Command::TechnicalApproved);
        p
    }

    pub fn to_provisioning() -> Self {
        let mut p = Play::to_customer_confirmation(10_000);
        p.ok(AE, Command::CustomerConfirmed);
        p
    }

    pub fn to_ready() -> Self {
        let mut p = Play::to_provisioning();
        p.ok(INFRA, Command::ProvisioningCompleted);
        p
    }

    /// Moves time past the current deadline and lets the scheduler time it out.
    pub fn time_out(&mut self, command: Command) -> &Request {
        let due = self.req().deadline.expect("a deadline is set").at;
        self.now = due + Duration::minutes(1);
        self.ok_as(Actor::Scheduler, command)
    }
}

/// One fold step, as the store and replay take it.
fn apply(
    current: Option<&Request>,
    id: RequestId,
    event: &Event,
    who: &Actor,
    policy: &Policy,
    at: DateTime<Utc>,
) -> Request {
    let o = Occurrence {
        request_id: id,
        event,
        actor: who,
        calendar: &policy.calendar,
        at,
    };
    match current {
        Some(req) => evolve(req, &o),
        None => genesis(&o).expect("a log starts with a submission by a person"),
    }
}
