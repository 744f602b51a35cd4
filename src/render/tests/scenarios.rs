//! Every state a request can be in, reached through `decide` and `evolve` (never built by hand), with
//! the recorded events that led there, for any inputs.

use chrono::{DateTime, Duration, Utc};
use uuid::Uuid;

use crate::config::{Member, Roles};
use crate::domain::testkit::{actor, uid, Play, ADMIN, AE, APPROVER, FINANCE, INFRA, REQUESTER};
use crate::domain::RecordedEvent;
use crate::domain::{
    Actor, Command, GroupId, Policy, Request, RequestId, RequestNumber, Role, Submission,
};

/// The free text a request carries.
#[derive(Debug, Clone)]
pub(super) struct Inputs {
    pub customer: String,
    pub org_id: String,
    pub project_ref: String,
    pub current_size: String,
    pub requested_size: String,
    pub region: String,
    pub justification: String,
    /// Used for every reason and comment.
    pub reason: String,
}

impl Inputs {
    pub fn plain() -> Inputs {
        Inputs {
            customer: "Acme Corp".into(),
            org_id: "org-acme".into(),
            project_ref: "abcdefghijklmnop".into(),
            current_size: "16XL".into(),
            requested_size: "48XL".into(),
            region: "us-east-1".into(),
            justification: "Black Friday traffic".into(),
            reason: "Customer changed plans".into(),
        }
    }

    /// Every field at its longest, made of `c`.
    pub fn all_of(c: char) -> Inputs {
        let s = |n: usize| std::iter::repeat_n(c, n).collect::<String>();
        Inputs {
            customer: format!("C{}", s(199)),
            org_id: s(100),
            project_ref: s(100),
            current_size: s(100),
            requested_size: s(100),
            region: s(64),
            justification: s(3_000),
            reason: format!("R{}", s(1_999)),
        }
    }
}

/// The roles config the renders are checked with: groups and users, as in DESIGN.md.
pub(super) fn roles() -> Roles {
    let group = |s: &str| Member::Group(GroupId::parse(s).expect("group id"));
    let user = |s: &str| Member::User(uid(s));
    Roles::new([
        (Role::Requester, vec![]),
        (
            Role::CommercialApprover,
            vec![group("S0SALESLEAD"), user(APPROVER)],
        ),
        (Role::Finance, vec![group("S0FINANCE"), user(FINANCE)]),
        (Role::Infra, vec![group("S0INFRA"), user(INFRA)]),
        (Role::Admin, vec![user(ADMIN)]),
    ])
}

/// A request played through `decide` and `evolve`, keeping each event as the store records it.
pub(super) struct Story {
    pub play: Play,
    pub recorded: Vec<(RecordedEvent, Request)>,
    pub inputs: Inputs,
}

impl Story {
    /// Submitted by REQUESTER; with `ae`, the form named AE and the automatic owner
    /// assignment follows, as the shell records it.
    pub fn new(policy: Policy, inputs: &Inputs, cost_usd: i64, ae: bool) -> Story {
        let mut play = Play::new(policy);
        play.id = RequestId(Uuid::from_u128(0x0190_c3c4_5b6e_7000_8000_0000_0000_0001));
        let mut story = Story {
            play,
            recorded: Vec::new(),
            inputs: inputs.clone(),
        };
        let details = Submission {
            customer: inputs.customer.clone(),
            org_id: inputs.org_id.clone(),
            project_ref: inputs.project_ref.clone(),
            current_size: inputs.current_size.clone(),
            requested_size: inputs.requested_size.clone(),
            region: inputs.region.clone(),
            needed_by: chrono::NaiveDate::from_ymd_opt(2027, 1, 15).expect("date"),
            duration_months: 12,
            est_monthly_cost_cents: cost_usd * 100,
            commercial_owner: ae.then(|| uid(AE)),
            justification: inputs.justification.clone(),
            source: None,
        };
        story.ok(
            REQUESTER,
            Command::Submitted {
                number: RequestNumber(12),
                details,
            },
        );
        if ae {
            story.ok(
                REQUESTER,
                Command::CommercialOwnerAssigned { owner: uid(AE) },
            );
        }
        story
    }

    pub fn req(&self) -> &Request {
        self.play.req()
    }

    pub fn now(&self) -> DateTime<Utc> {
        self.play.now
    }

    pub fn ok(&mut self, user: &str, command: Command) -> &mut Self {
        self.ok_as(actor(user), command)
    }

    #[track_caller]
    pub fn ok_as(&mut self, who: Actor, command: Command) -> &mut Self {
        self.play.advance(Duration::minutes(7));
        self.play.ok_as(who, command);
        self.record();
        self
    }

    pub fn reason(&self) -> String {
        self.inputs.reason.clone()
    }

    pub fn time_out(&mut self, command: Command) -> &mut Self {
        self.play.time_out(command);
        self.record();
        self
    }

    /// A comment and an escalation reminder, where the state still takes them.
    pub fn chatter(&mut self) -> &mut Self {
        let comment = Command::CommentAdded {
            text: self.reason(),
        };
        if self.play.attempt(AE, comment).is_ok() {
            self.record();
        }
        let escalation = Command::ReminderSent {
            slot: "2026-12-09".into(),
            recipients: vec![uid(AE)],
            escalation: true,
        };
        if self.play.try_as(Actor::Scheduler, escalation).is_ok() {
            self.record();
        }
        self
    }

    fn record(&mut self) {
        let recorded = self.play.last_recorded();
        self.recorded.push((recorded, self.play.req().clone()));
    }
}

fn early() -> Policy {
    Policy {
        allow_provisioning_before_confirmation: true,
        ..Policy::default()
    }
}

fn approved(inputs: &Inputs, policy: Policy, cost_usd: i64) -> Story {
    let mut s = Story::new(policy, inputs, cost_usd, true);
    s.ok(AE, Command::CommercialApproved);
    if s.req().finance_required {
        s.ok(FINANCE, Command::CommercialApproved);
    }
    s
}

fn confirmation(inputs: &Inputs, policy: Policy) -> Story {
    let mut s = approved(inputs, policy, 10_000);
    s.ok(INFRA, Command::TechnicalOwnerAssigned);
    s.ok(INFRA, Command::TechnicalApproved);
    s
}

fn provisioning(inputs: &Inputs) -> Story {
    let mut s = confirmation(inputs, Policy::default());
    s.ok(AE, Command::CustomerConfirmed);
    s
}

fn ready(inputs: &Inputs) -> Story {
    let mut s = provisioning(inputs);
    s.ok(INFRA, Command::ProvisioningCompleted);
    s
}

fn expired_activation(inputs: &Inputs) -> Story {
    let mut s = ready(inputs);
    s.time_out(Command::ActivationTimeout);
    s
}

fn expired_confirmation(inputs: &Inputs) -> Story {
    let mut s = confirmation(inputs, Policy::default());
    s.time_out(Command::CustomerConfirmationTimeout);
    s
}

/// Every state, and the variants of it that render differently.
pub(super) fn all_states(inputs: &Inputs) -> Vec<(&'static str, Story)> {
    let i = inputs;
    let cancel = |s: &Story| Command::CancelRequested { reason: s.reason() };
    let mut out: Vec<(&'static str, Story)> = Vec::new();
    let mut add = |name, mut s: Story| {
        s.chatter();
        out.push((name, s));
    };

    add("submitted", Story::new(Policy::default(), i, 10_000, false));
    add(
        "commercial_approval",
        Story::new(Policy::default(), i, 10_000, true),
    );
    let mut s = Story::new(Policy::default(), i, 60_000, true);
    s.ok(AE, Command::CommercialApproved);
    add("commercial_approval_finance_key_missing", s);
    add("technical_review", approved(i, Policy::default(), 10_000));
    add(
        "technical_review_finance",
        approved(i, Policy::default(), 60_000),
    );
    let mut s = approved(i, Policy::default(), 10_000);
    s.ok(INFRA, Command::TechnicalOwnerAssigned);
    add("technical_review_owned", s);
    add("customer_confirmation", confirmation(i, Policy::default()));
    let mut s = confirmation(i, early());
    s.ok(INFRA, Command::EarlyProcurementStarted);
    add("customer_confirmation_committed", s);
    let mut s = confirmation(i, early());
    s.ok(INFRA, Command::EarlyProcurementStarted);
    let e = cancel(&s);
    s.ok(REQUESTER, e);
    add("customer_confirmation_pending_cancellation", s);
    add("provisioning", provisioning(i));
    let mut s = provisioning(i);
    let e = cancel(&s);
    s.ok(REQUESTER, e);
    add("provisioning_pending_cancellation", s);
    add("ready", ready(i));
    add("expired_confirmation", expired_confirmation(i));
    let mut s = confirmation(i, early());
    s.ok(INFRA, Command::EarlyProcurementStarted);
    s.time_out(Command::CustomerConfirmationTimeout);
    add("expired_confirmation_committed", s);
    add("expired_activation", expired_activation(i));
    let mut s = expired_activation(i);
    let e = cancel(&s);
    s.ok(AE, e);
    add("expired_activation_pending_cancellation", s);
    let mut s = expired_activation(i);
    s.ok(INFRA, Command::CapacityReleased);
    add("expired_activation_released", s);
    let mut s = expired_confirmation(i);
    s.ok(AE, Command::TtlExtended { days: 3 });
    add("extended_after_expiry", s);
    let mut s = ready(i);
    s.ok_as(
        Actor::ControlPlane,
        Command::Activated {
            signal_id: Some(i.reason.clone()),
        },
    );
    add("activated", s);
    let mut s = expired_activation(i);
    s.ok(AE, Command::Activated { signal_id: None });
    add("activated_after_expiry", s);
    let mut s = Story::new(Policy::default(), i, 10_000, true);
    let e = Command::CommercialRejected { reason: s.reason() };
    s.ok(APPROVER, e);
    add("cancelled_commercially", s);
    let mut s = approved(i, Policy::default(), 10_000);
    let e = Command::TechnicalRejected { reason: s.reason() };
    s.ok(INFRA, e);
    add("cancelled_technically", s);
    let mut s = confirmation(i, Policy::default());
    let e = cancel(&s);
    s.ok(REQUESTER, e);
    add("cancelled_at_once", s);
    let mut s = expired_confirmation(i);
    s.ok(AE, Command::CancelApproved);
    add("cancelled_at_the_gate", s);
    let mut s = provisioning(i);
    let e = cancel(&s);
    s.ok(REQUESTER, e);
    s.ok(AE, Command::CancelApproved);
    add("cancelled_committed", s);
    let mut s = provisioning(i);
    let e = cancel(&s);
    s.ok(REQUESTER, e);
    s.ok(AE, Command::CancelApproved);
    s.ok(INFRA, Command::CapacityReleased);
    add("cancelled_released", s);
    let mut s = provisioning(i);
    let e = Command::ProvisioningFailed { reason: s.reason() };
    s.ok(INFRA, e);
    add("failed", s);
    let mut s = provisioning(i);
    let e = Command::ProvisioningFailed { reason: s.reason() };
    s.ok(INFRA, e);
    s.ok(INFRA, Command::CapacityReleased);
    add("failed_released", s);
    out
}
