//! `/capacity away|back|snooze|nudge|force|review`: people away, busy, forgetful, and
//! break-glass. Every answer is an ephemeral for the asker; what is recorded goes through
//! `append` (the requests' events) and `store::absences` (the absence itself).

use chrono::NaiveDate;
use serde_json::Value;
use tracing::warn;

use super::{ephemeral, str_at, Reply};
use crate::context::AppState;
use crate::domain::{decision_owner, Actor, Command, Request, RequestId, State, TeamId, UserId};
use crate::render;
use crate::render::lines::{day, when};
use crate::slack::api::ApiError;
use crate::store::{self, Append, Target};

/// The subcommands this module answers.
pub const SUBCOMMANDS: [&str; 6] = ["away", "back", "snooze", "nudge", "force", "review"];

const AWAY_USAGE: &str = "Use `/capacity away @someone until 2026-12-24`: while you are away, \
     the decisions you own go to them.";

/// Answers `/capacity <sub> …` for the subcommands above; `text` is everything after `/capacity`.
pub async fn handle(
    state: &AppState,
    payload: &Value,
    user: &UserId,
    text: &str,
    envelope_id: &str,
) -> Value {
    let mut words = text.split_whitespace();
    let sub = words.next().unwrap_or_default().to_ascii_lowercase();
    let rest: Vec<&str> = words.collect();
    let Some(team) = str_at(payload, "/team_id").and_then(|t| TeamId::parse(t).ok()) else {
        return ephemeral("That command arrived without a team; nothing was done.");
    };
    let actor = match super::actor(state, user, &team).await {
        Ok(actor) => actor,
        Err(why) => return ephemeral(why),
    };
    let asker = Asker { actor, envelope_id };
    // A redelivered envelope carries the same trigger: recorded once.
    let once = str_at(payload, "/trigger_id")
        .map(str::to_string)
        .unwrap_or_else(|| uuid::Uuid::new_v4().to_string());
    let reply = match sub.as_str() {
        "away" => away(state, &asker, user, &rest, &once).await,
        "back" if rest.is_empty() => back(state, &asker, user, &once).await,
        "back" => Err("`/capacity back` takes nothing after it.".to_string()),
        "snooze" => snooze(state, &asker, &rest, &once).await,
        "nudge" => nudge(state, &asker, &rest, &once).await,
        "force" => force(state, &asker, &rest, &once).await,
        "review" => review(state, &asker, &rest, &once).await,
        _ => Err(render::ephemeral::help_text()),
    };
    ephemeral(reply.unwrap_or_else(|e| e))
}

/// `<@U123|name>` (a command declared with `should_escape`) or `<@U123>`.
pub fn parse_mention(word: &str) -> Option<UserId> {
    let inner = word.strip_prefix("<@")?.strip_suffix('>')?;
    let id = inner.split('|').next()?;
    UserId::parse(id).ok()
}

fn parse_day(word: &str) -> Option<NaiveDate> {
    NaiveDate::parse_from_str(word, "%Y-%m-%d").ok()
}

async fn away(
    state: &AppState,
    asker: &Asker<'_>,
    user: &UserId,
    args: &[&str],
    once: &str,
) -> Result<String, String> {
    let (who, until) = match args {
        [who, until_word, date] if until_word.eq_ignore_ascii_case("until") => (*who, *date),
        [who, date] => (*who, *date),
        _ => return Err(AWAY_USAGE.to_string()),
    };
    let delegate = parse_mention(who).ok_or_else(|| {
        format!(
            "`{}` is not a mention of someone in this workspace. {AWAY_USAGE}",
            render::text::escape(&render::text::truncate(who, 60))
        )
    })?;
    let until = parse_day(until).ok_or_else(|| {
        format!(
            "`{}` is not a date like 2026-12-24. {AWAY_USAGE}",
            render::text::escape(&render::text::truncate(until, 40))
        )
    })?;
    let now = state.clock.now();
    let cal = &state.settings.policy.calendar;
    let today = cal.local_date(now);
    if until < today {
        return Err(format!(
            "{} is in the past; give your last day away, today ({}) or later.",
            day(until),
            day(today)
        ));
    }
    if &delegate == user {
        return Err(
            "You cannot delegate to yourself; name someone who can decide while you are away."
                .into(),
        );
    }
    match state.api.user_is_active(delegate.as_str()).await {
        Ok(true) => {}
        Ok(false) => {
            return Err(format!(
                "<@{delegate}>'s Slack account is deactivated; name someone else."
            ))
        }
        Err(ApiError::Permanent { code, .. })
            if code == "user_not_found" || code == "user_not_visible" =>
        {
            return Err(format!(
                "`{delegate}` is not a member of this workspace; name someone who is."
            ))
        }
        Err(e) => {
            warn!(error.message = %e, "users.info failed while checking a delegate");
            return Err(
                "Slack did not tell us whether your delegate is in this workspace; please try again."
                    .into(),
            );
        }
    }
    let db = |e: store::StoreError| {
        warn!(error.message = %e, "absence not recorded");
        super::NOT_RECORDED.to_string()
    };
    if let Some(theirs) = store::absences::active_of(&state.pool, &delegate)
        .await
        .map_err(db)?
    {
        if theirs.until >= today {
            return Err(format!(
                "<@{delegate}> is away themselves until {}; name someone who is here.",
                day(theirs.until)
            ));
        }
    }
    let absence = store::absences::record_away(&state.pool, user, &delegate, until, now)
        .await
        .map_err(db)?;
    let owned = store::absences::open_requests_owned_by(&state.pool, user)
        .await
        .map_err(db)?;
    let mut moved = Vec::new();
    let mut kept = Vec::new();
    for id in owned {
        let command = Command::DecisionDelegated {
            to: delegate.clone(),
            until,
        };
        let key = format!("away:{}:{id}:{once}", absence.id);
        match record(state, asker, id, command, key).await {
            Ok(req) => moved.push(req.number.to_string()),
            Err(why) => kept.push(why),
        }
    }
    let mut text = format!(
        ":palm_tree: You are away until {}. <@{delegate}> decides for you meanwhile; \
         `/capacity back` ends it early.",
        day(until)
    );
    if !moved.is_empty() {
        text.push_str(&format!(
            "\nYour decisions on {} now go to them.",
            moved.join(", ")
        ));
    }
    for why in kept {
        text.push_str(&format!("\n{why}"));
    }
    Ok(text)
}

async fn back(
    state: &AppState,
    asker: &Asker<'_>,
    user: &UserId,
    once: &str,
) -> Result<String, String> {
    let db = |e: store::StoreError| {
        warn!(error.message = %e, "return not recorded");
        super::NOT_RECORDED.to_string()
    };
    let Some(absence) = store::absences::active_of(&state.pool, user)
        .await
        .map_err(db)?
    else {
        return Err("You are not marked away; nothing to do.".into());
    };
    let mut returned = Vec::new();
    for id in store::absences::requests_delegated_from(&state.pool, user)
        .await
        .map_err(db)?
    {
        let command = Command::DecisionReturned { from: user.clone() };
        let key = format!("back:{}:{id}:{once}", absence.id);
        // The absence is ended only after every return is in, so a retry finds it again.
        let req = record(state, asker, id, command, key).await?;
        returned.push(req.number.to_string());
    }
    store::absences::record_back(&state.pool, absence.id, user.as_str(), state.clock.now())
        .await
        .map_err(db)?;
    let mut text = "Welcome back: your decisions are yours again.".to_string();
    if !returned.is_empty() {
        text.push_str(&format!(
            " <@{}> no longer decides for you on {}.",
            absence.delegate,
            returned.join(", ")
        ));
    }
    Ok(text)
}

/// The request `CR-n` names, or a sentence saying why not.
async fn request_named(
    state: &AppState,
    word: Option<&&str>,
    usage: &str,
) -> Result<Request, String> {
    let word = word.ok_or_else(|| usage.to_string())?;
    let number = word.parse().map_err(|e| format!("{e}. {usage}"))?;
    match store::requests::by_number(&state.pool, number).await {
        Ok(Some(req)) => Ok(req),
        Ok(None) => Err(format!(
            "{number} does not exist. `/capacity list` shows the open requests."
        )),
        Err(e) => {
            warn!(error.message = %e, "request lookup failed");
            Err("The database did not answer; please try again.".into())
        }
    }
}

async fn snooze(
    state: &AppState,
    asker: &Asker<'_>,
    args: &[&str],
    once: &str,
) -> Result<String, String> {
    let max = state.settings.policy.max_snooze_business_days;
    let usage = format!(
        "Use `/capacity snooze CR-12 2 reason`: hold your reminders on a request for 1 to {max} \
         business days."
    );
    let req = request_named(state, args.first(), &usage).await?;
    let days: u32 = args
        .get(1)
        .and_then(|d| d.parse().ok())
        .ok_or_else(|| usage.clone())?;
    let reason = args.get(2..).map(|r| r.join(" ")).unwrap_or_default();
    let command = Command::RemindersSnoozed { days, reason };
    let key = format!("snooze:{}:{once}", req.id);
    let after = record(state, asker, req.id, command, key).await?;
    let until = after.attention.snoozed_until.map_or(String::new(), |u| {
        format!(
            " until {}",
            when(u, &state.settings.policy.calendar, state.clock.now())
        )
    });
    Ok(format!(
        ":zzz: Reminders on {} are snoozed{until}. The warning before its deadline still comes.",
        after.number
    ))
}

async fn nudge(
    state: &AppState,
    asker: &Asker<'_>,
    args: &[&str],
    once: &str,
) -> Result<String, String> {
    let usage = "Use `/capacity nudge CR-12`: a reminder to whoever owns the decision on your \
                 request, once a business day.";
    if args.len() > 1 {
        return Err(usage.into());
    }
    let req = request_named(state, args.first(), usage).await?;
    let mut recipients = Vec::new();
    if let Some(owner) = decision_owner(&req) {
        for party in &owner.parties {
            recipients.extend(state.roles.people(party).await);
        }
    }
    recipients.sort();
    recipients.dedup();
    let to = recipients
        .iter()
        .map(|u| format!("<@{u}>"))
        .collect::<Vec<_>>()
        .join(", ");
    let command = Command::OwnerNudged { recipients };
    let key = format!("nudge:{}:{once}", req.id);
    let after = record(state, asker, req.id, command, key).await?;
    Ok(format!(":wave: Nudged {to} about {}.", after.number))
}

async fn force(
    state: &AppState,
    asker: &Asker<'_>,
    args: &[&str],
    once: &str,
) -> Result<String, String> {
    let states: Vec<&str> = State::ALL.iter().map(|s| s.as_str()).collect();
    let usage = format!(
        "Use `/capacity force CR-12 STATE reason` (admins, break-glass). STATE is one of {}.",
        states.join(", ")
    );
    let req = request_named(state, args.first(), &usage).await?;
    let to = args
        .get(1)
        .and_then(|w| render::attention::parse_state(w))
        .ok_or_else(|| usage.clone())?;
    let reason = args.get(2..).map(|r| r.join(" ")).unwrap_or_default();
    let command = Command::ForcedTransition { to, reason };
    let key = format!("force:{}:{once}", req.id);
    let after = record(state, asker, req.id, command, key).await?;
    Ok(format!(
        ":rotating_light: {} is now *{}* (forced). Another admin must review it with \
         `/capacity review {}`.",
        after.number,
        after.state.label(),
        after.number
    ))
}

async fn review(
    state: &AppState,
    asker: &Asker<'_>,
    args: &[&str],
    once: &str,
) -> Result<String, String> {
    let usage = "Use `/capacity review CR-12` (admins) to review a forced transition.";
    if args.len() > 1 {
        return Err(usage.into());
    }
    let req = request_named(state, args.first(), usage).await?;
    let key = format!("review:{}:{once}", req.id);
    let after = record(state, asker, req.id, Command::ForcedTransitionReviewed, key).await?;
    Ok(format!(
        "Reviewed: the forced transition on {} is marked as reviewed.",
        after.number
    ))
}

/// Who asked, and the envelope that carried the command (recorded on every event from it).
struct Asker<'a> {
    actor: Actor,
    envelope_id: &'a str,
}

/// Records one command on one request as the asker, within the click budget.
async fn record(
    state: &AppState,
    asker: &Asker<'_>,
    id: RequestId,
    command: Command,
    key: String,
) -> Result<Request, String> {
    let append = Append {
        target: Target::Existing(id),
        commands: vec![command],
        actor: asker.actor.clone(),
        policy: state.settings.policy.clone(),
        now: state.clock.now(),
        expected_version: None,
        idempotency_key: key,
        envelope_id: Some(asker.envelope_id.to_string()),
        linear: state.linear_trigger(),
    };
    match super::append_within_budget(state, &append).await {
        Ok(done) => Ok(done.request),
        Err(reply) => Err(prefixed(state, id, reply).await),
    }
}

/// A refusal about one request among several names the request.
async fn prefixed(state: &AppState, id: RequestId, reply: Reply) -> String {
    let text = reply.text();
    match store::requests::by_id(&state.pool, id).await {
        Ok(Some(req)) => format!("{}: {text}", req.number),
        _ => text,
    }
}

/// `user_change` (Events API): when the account is deactivated, each open request the user
/// owns records `owner_deactivated`: the root is flagged and the admins get a DM to reassign.
/// A redelivered event (or the owner sweep noticing the same) finds the same idempotency
/// keys and records nothing more: `AppState::owner_deactivated` is the one path.
pub async fn user_change(state: &AppState, payload: &Value, envelope_id: &str) {
    let event = payload.get("event").unwrap_or(&Value::Null);
    let deleted = event
        .pointer("/user/deleted")
        .and_then(Value::as_bool)
        .unwrap_or(false);
    let Some(user) = str_at(event, "/user/id").and_then(|u| UserId::parse(u).ok()) else {
        warn!("a user_change event without a user id");
        return;
    };
    if deleted {
        state.owner_deactivated(&user, Some(envelope_id)).await;
    }
}
