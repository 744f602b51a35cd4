//! Appending to the log: the one way state changes.

use std::collections::HashMap;

use chrono::{DateTime, Utc};
use sqlx::{Connection, PgConnection, PgExecutor, PgPool};
use uuid::Uuid;

use super::outbox::OutboxRow;
use super::rows::{
    read_rows, EventRow, ProjectionColumns, RequestRow, EVENT_COLUMNS, REQUEST_COLUMNS,
    UPSERT_REQUESTS,
};
use super::{Kept, StoreError};
use crate::domain::cost::cost_at_risk_cents;
use crate::domain::log::step;
use crate::domain::{
    decide, effects_of, Actor, Command, Context, Effect, Event, LinearTrigger, Links, Occurrence,
    Policy, RecordedEvent, Refusal, Request, RequestId, RequestNumber, SlackMessage,
    CURRENT_SCHEMA,
};

/// Which request an append is for.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Target {
    /// A new request with this id; its `CR-<n>` number comes from the database sequence.
    New(RequestId),
    Existing(RequestId),
    /// An existing request as a clicked button names it. A button's value comes back from the
    /// client, so what it says besides the id is checked against the row the append locks
    /// anyway: no extra round trip on the click's hot path.
    Button(Button),
}

impl Target {
    /// The request, when it exists already.
    pub fn existing(&self) -> Option<RequestId> {
        match self {
            Target::New(_) => None,
            Target::Existing(id) => Some(*id),
            Target::Button(b) => Some(b.request),
        }
    }
}

/// What a clicked button says about its request: the id and number in its value, and the
/// message it was clicked on.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Button {
    pub request: RequestId,
    /// The `CR-<n>` the value carries.
    pub number: RequestNumber,
    /// Where the click came from, when the payload says (`container`).
    pub message: Option<SlackMessage>,
}

/// A button that does not belong to the request it names, or to the message it was on: a
/// forged or transplanted value. Nothing is recorded; each case says what to do instead.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum WrongButton {
    #[error(
        "That button says {shown}, but it belongs to another request; nothing was recorded. \
         Use the buttons on {shown}'s own message in the requests channel."
    )]
    Number { shown: RequestNumber },
    #[error(
        "That button is for {number}, but it was not on {number}'s message; nothing was \
         recorded. Use the buttons on {number}'s own message in the requests channel."
    )]
    Message { number: RequestNumber },
}

impl Button {
    /// Checks the button against `req`, the request its id names, and `root`, where that
    /// request's root message was posted (`None` until the outbox has posted it).
    ///
    /// The number must always match. The message is checked only where a mismatch is proof
    /// of a wrong button: buttons are rendered on a request's root message and in DMs
    /// (`render::buttons`), and the root is posted once and only ever updated in place
    /// (`outbox`: the ts is stored before anything else can fail). So in the root's own
    /// channel, the only message carrying this request's buttons is its root; a click from
    /// any other message there (another request's root, a thread reply, an ephemeral) carries
    /// a value that message never showed. Clicks from another channel (a DM) are not
    /// checked, since a DM's ts is not recorded anywhere, and neither are clicks made before
    /// the root's ts was stored.
    pub fn check(&self, req: &Request, root: Option<&SlackMessage>) -> Result<(), WrongButton> {
        if self.number != req.number {
            return Err(WrongButton::Number { shown: self.number });
        }
        match (&self.message, root) {
            (Some(clicked), Some(root))
                if clicked.channel == root.channel && clicked.ts != root.ts =>
            {
                Err(WrongButton::Message { number: req.number })
            }
            _ => Ok(()),
        }
    }
}

/// One decision to record: one or more commands by one actor, in one transaction.
#[derive(Debug, Clone)]
pub struct Append {
    pub target: Target,
    /// Decided in order, each against the request as the events before it left it; a
    /// `submitted` command's number is filled in by the store.
    pub commands: Vec<Command>,
    pub actor: Actor,
    pub policy: Policy,
    pub now: DateTime<Utc>,
    /// The version the clicked button carried; checked against the first event only.
    pub expected_version: Option<i32>,
    /// The same key twice records once and returns the first result. Later events of a batch
    /// get `<key>#<n>`.
    pub idempotency_key: String,
    pub envelope_id: Option<String>,
    pub linear: Option<LinearTrigger>,
}

#[derive(Debug, Clone)]
pub struct Appended {
    pub request: Request,
    pub events: Vec<RecordedEvent>,
    /// True when the idempotency key had been recorded before: nothing new was written.
    pub duplicate: bool,
}

/// An append's Slack rows, leased as they were written to the worker of the process that
/// recorded them, with what their delivery renders from: that worker delivers them without
/// claiming them or reading the request back.
#[derive(Debug, Clone)]
pub struct Handed {
    /// In id order, leased until the lease's end, each counted as one attempt.
    pub rows: Vec<OutboxRow>,
    /// The request right after `event`, as the append folded it.
    pub request: Request,
    /// The append's one event.
    pub event: RecordedEvent,
    /// The request's links as the append read them.
    pub links: Links,
    pub lease: Lease,
}

/// Who an append may lease its Slack rows to, and until when ([`append_leasing`]).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Lease {
    pub worker: String,
    pub until: DateTime<Utc>,
}

/// The effects a handed row may have: those that render from what the append holds (the
/// request after its event, its links and the event). The rest (a DM whose moment may pass,
/// a root message to post, a permalink to fetch) read what is true when they go out.
fn handable(effect: &Effect) -> bool {
    matches!(effect, Effect::UpdateRootMessage | Effect::PostThreadReply)
}

#[derive(Debug, thiserror::Error)]
pub enum AppendError {
    #[error(transparent)]
    Refused(Refusal),
    /// The clicker's version is stale because another event won; it is named when known.
    #[error("this request has moved on (now at version {current})")]
    Conflict {
        current: i32,
        winner: Option<Box<RecordedEvent>>,
    },
    #[error("no such request")]
    NotFound,
    #[error(transparent)]
    WrongButton(WrongButton),
    #[error(transparent)]
    Store(#[from] StoreError),
}

impl From<sqlx::Error> for AppendError {
    fn from(e: sqlx::Error) -> Self {
        AppendError::Store(StoreError::Db(e))
    }
}

fn batch_key(key: &str, index: usize) -> String {
    if index == 0 {
        key.to_string()
    } else {
        format!("{key}#{index}")
    }
}

/// How long an append waits for a pooled connection. A click gets 2 s of database time
/// (`slack::handlers::DB_BUDGET`) before its user is told it was not recorded; an append that
/// cannot start within this gives up by itself, and one that has started has time to end, so
/// what the user is told is what happened.
pub const ACQUIRE_BUDGET: std::time::Duration = std::time::Duration::from_millis(1500);

/// Records `append` atomically: checks the idempotency key and the expected version, runs
/// `decide` and `evolve`, and writes the events, the projection and the outbox rows in one
/// statement, so one implicit transaction. Nothing is half-written: any failure writes none
/// of it.
///
/// Nothing is locked while `decide` runs. The log's constraints settle a race instead: one
/// request's events are unique by sequence, and keys are unique, so of two appends decided
/// from the same version (two clicks, or one envelope delivered twice), the write that
/// commits second is rejected whole. That append is then read and decided again
/// ([`lost_race`]), against the log as the winner left it: its key is found recorded (a
/// duplicate), or its version is stale (a conflict naming the winner), or it follows the
/// winner. A transaction around the read and the write cost two round trips more (`BEGIN`,
/// `COMMIT`) on every click to settle what only a race needs.
///
/// Once it has a connection, the append runs to its end in a task of its own, even if the
/// caller stops waiting (a click's budget ran out, its socket closed): a write dropped while
/// in flight may still commit, and then the person would be told it was not recorded. Its
/// connection is kept for the next append when every statement succeeded ([`Kept`]).
pub async fn append(db: impl Into<Kept>, append: &Append) -> Result<Appended, AppendError> {
    append_leasing(db, append, None).await
}

/// Where an append hands the rows it leased ([`append_leasing`]).
pub type HandTo = Box<dyn FnOnce(Handed) + Send>;

/// [`append`], leasing the append's Slack rows to `lease`'s worker, and handing them to its
/// [`HandTo`], when it can hand them over whole: the append is one event on an existing
/// request, every Slack row it queues renders from what the append holds ([`handable`]), and
/// no earlier Slack row of the request is pending (the lease keeps a lane's order only
/// because nothing is ahead of it). Otherwise, or without a lease, its rows wait for a claim,
/// as [`append`]'s do.
///
/// The rows are handed over from the append's own task, so a caller that stops waiting (a
/// click whose socket closed) cannot leave them leased and undelivered. Leased rows are not
/// announced (`NOTIFY`): no other worker could take them. If the worker never delivers them
/// (its process died), they are claimed when the lease runs out, as a claim's rows are.
pub async fn append_leasing(
    db: impl Into<Kept>,
    append: &Append,
    lease: Option<(Lease, HandTo)>,
) -> Result<Appended, AppendError> {
    let kept = db.into();
    let mut conn = match tokio::time::timeout(ACQUIRE_BUDGET, kept.take()).await {
        Ok(conn) => conn?,
        Err(_) => return Err(StoreError::Unreachable(sqlx::Error::PoolTimedOut).into()),
    };
    let append = append.clone();
    let task = tokio::spawn(async move {
        let (lease, hand_to) = lease.unzip();
        let result = append_on(&mut conn, &append, lease.as_ref()).await;
        if !matches!(result, Err(AppendError::Store(_))) {
            kept.give_back(conn);
        }
        let (appended, handed) = result?;
        if let (Some(handed), Some(hand_to)) = (handed, hand_to) {
            hand_to(handed);
        }
        Ok(appended)
    });
    match task.await {
        Ok(result) => result,
        Err(e) if e.is_panic() => std::panic::resume_unwind(e.into_panic()),
        // Only a runtime shutting down cancels the task.
        Err(_) => Err(StoreError::Unreachable(sqlx::Error::PoolClosed).into()),
    }
}

/// How many races one append may lose in a row before it gives up. Each loss means another
/// append to the same request committed meanwhile; a person's click meets one at most.
const RACES: u32 = 16;

async fn append_on(
    conn: &mut PgConnection,
    append: &Append,
    lease: Option<&Lease>,
) -> Result<(Appended, Option<Handed>), AppendError> {
    if append.idempotency_key.contains('\0') {
        return Err(StoreError::Corrupt(format!(
            "an idempotency key holds a NUL character: {:?}",
            append.idempotency_key
        ))
        .into());
    }
    let mut lost = 0;
    loop {
        match decide_and_write(conn, append, lease).await {
            Err(AppendError::Store(StoreError::Db(e))) if lost < RACES && lost_race(&e) => {
                lost += 1;
            }
            // A connection that fails under any statement says the database could not be
            // reached, as a failed `BEGIN` did when the append was a transaction.
            Err(AppendError::Store(e)) => return Err(unreachable(e).into()),
            done => return done,
        }
    }
}

/// Whether `e` is the log refusing a write because another append committed first: the
/// request's next event, or the same key.
fn lost_race(e: &sqlx::Error) -> bool {
    let sqlx::Error::Database(e) = e else {
        return false;
    };
    e.code().as_deref() == Some("23505")
        && matches!(
            e.constraint(),
            Some("capacity_request_events_request_seq" | "capacity_request_events_idempotency")
        )
}

/// One try of [`append_on`]: the reads, `decide`, and the one statement that writes.
async fn decide_and_write(
    conn: &mut PgConnection,
    append: &Append,
    lease: Option<&Lease>,
) -> Result<(Appended, Option<Handed>), AppendError> {
    let keys: Vec<String> = (0..append.commands.len().max(1))
        .map(|i| batch_key(&append.idempotency_key, i))
        .collect();
    // An existing request is read with its links and whether the key was recorded, in one
    // statement.
    let found = match append.target.existing() {
        Some(id) => super::requests::with_links_and_recorded(conn, id, &keys).await?,
        None => None,
    };
    if found.as_ref().is_none_or(|f| f.recorded) {
        if let Some(first) = recorded_batch(conn, &keys).await? {
            let request = super::requests::by_id(&mut *conn, first[0].request_id)
                .await?
                .ok_or(AppendError::NotFound)?;
            let appended = Appended {
                request,
                events: first,
                duplicate: true,
            };
            return Ok((appended, None));
        }
    }

    let (request_id, current, links) = match (&append.target, found) {
        (Target::New(id), _) => (*id, None, None),
        (_, None) => return Err(AppendError::NotFound),
        (Target::Existing(id), Some(found)) => (*id, Some(found.request), Some(found.links)),
        (Target::Button(button), Some(found)) => {
            button
                .check(&found.request, found.links.root().as_ref())
                .map_err(AppendError::WrongButton)?;
            (button.request, Some(found.request), Some(found.links))
        }
    };
    // A new request's number comes from the database sequence, before `decide` sees it.
    let mut commands = append.commands.clone();
    if let (Some(Command::Submitted { number, .. }), None) = (commands.first_mut(), &current) {
        *number = RequestNumber(
            sqlx::query_scalar::<_, i64>("SELECT nextval('capacity.request_number_seq')")
                .fetch_one(&mut *conn)
                .await?,
        );
    }
    let (pending, last) = match decide_all(current, request_id, append, &commands) {
        Ok(done) => done,
        Err(Undecided::Stale { seen, now_at }) => {
            let winner = first_event_after(conn, request_id, seen).await?;
            return Err(AppendError::Conflict {
                current: now_at,
                winner: winner.map(Box::new),
            });
        }
        Err(Undecided::Not(e)) => return Err(e),
    };
    if pending.is_empty() {
        // Nothing happened, so nothing is written: the projection as read is the fold.
        return Ok((
            Appended {
                request: last,
                events: Vec::new(),
                duplicate: false,
            },
            None,
        ));
    }
    // Handed over whole or not at all; the statement leases only when nothing of the
    // request's Slack lane is pending.
    let lease = match (lease, links) {
        (Some(lease), Some(links)) if pending.len() == 1 => {
            let slack = pending[0].2.iter().filter(|e| e.lane() == "slack");
            let mut slack = slack.peekable();
            (slack.peek().is_some() && slack.all(handable)).then_some((lease, links))
        }
        _ => None,
    };
    let mut rows = Rows::default();
    rows.push(append, pending, &last)?;
    rows.lease = lease.as_ref().map(|(l, _)| (request_id, (*l).clone()));
    let written = rows.write(conn).await?;
    let events = written.recorded.into_iter().next().unwrap_or_default();
    let handed = match (lease, events.as_slice()) {
        (Some((lease, links)), [event]) if !written.leased.is_empty() => Some(Handed {
            rows: written.leased,
            request: last.clone(),
            event: event.clone(),
            links,
            lease: lease.clone(),
        }),
        _ => None,
    };
    let appended = Appended {
        request: last,
        events,
        duplicate: false,
    };
    Ok((appended, handed))
}

/// A connection that failed (not a statement Postgres refused): the database cannot be
/// reached.
fn unreachable(e: StoreError) -> StoreError {
    match e {
        StoreError::Db(
            e @ (sqlx::Error::Io(_)
            | sqlx::Error::Tls(_)
            | sqlx::Error::Protocol(_)
            | sqlx::Error::PoolClosed
            | sqlx::Error::PoolTimedOut),
        ) => StoreError::Unreachable(e),
        other => other,
    }
}

/// Records many appends to existing requests in one transaction, each as [`append`] would:
/// its idempotency key (a key recorded before gives back its first result and writes
/// nothing), its expected version, `decide` for each append in the order given (two appends
/// to one request see each other's events), and its outbox rows in event order. A refusal or
/// a stale version is that append's result; the rest of the batch is written. Returns one
/// result per append, in order.
///
/// `Err` when the transaction itself failed (a statement was rejected, the database went
/// away): then nothing of the batch was written, and the caller may record the appends one
/// at a time (`AppState::record_batch` does), so a row the database rejects costs the others
/// only their speed.
///
/// Every append's key is locked (advisory, in hash order) before any request row, and the
/// rows are locked in id order, so two replicas sweeping the same rows wait for each other
/// instead of deadlocking, and the second finds the first's keys recorded. An [`append`] of
/// one of its keys (a click, or a replica recording one at a time) takes no lock: whichever
/// commits second is refused by the log's unique keys, a lone append then finds the key
/// recorded, and a batch fails as a whole and is recorded one at a time. Appends the batch
/// does not take (a new request, a clicked button, a key given twice) are recorded by
/// [`append`] after the batch commits.
pub async fn append_batch(
    pool: &PgPool,
    appends: &[Append],
) -> Result<Vec<Result<Appended, AppendError>>, StoreError> {
    if appends.is_empty() {
        return Ok(Vec::new());
    }
    let mut conn = match tokio::time::timeout(ACQUIRE_BUDGET, pool.acquire()).await {
        Ok(conn) => conn.map_err(StoreError::Unreachable)?,
        Err(_) => return Err(StoreError::Unreachable(sqlx::Error::PoolTimedOut)),
    };
    let appends = appends.to_vec();
    // In a task of its own for the reason `append` gives.
    let transaction = tokio::spawn(async move { batch_on(&mut conn, &appends).await });
    match transaction.await {
        Ok(Ok(results)) => Ok(results),
        Ok(Err(AppendError::Store(e))) => Err(e),
        Ok(Err(e)) => Err(StoreError::Corrupt(format!(
            "a batch failed as a whole: {e}"
        ))),
        Err(e) if e.is_panic() => std::panic::resume_unwind(e.into_panic()),
        Err(_) => Err(StoreError::Unreachable(sqlx::Error::PoolClosed)),
    }
}

async fn batch_on(
    conn: &mut PgConnection,
    appends: &[Append],
) -> Result<Vec<Result<Appended, AppendError>>, AppendError> {
    let mut results: Vec<Option<Result<Appended, AppendError>>> =
        appends.iter().map(|_| None).collect();
    // Which appends the batch takes, and which key each of their events would have.
    let mut batched: Vec<(usize, RequestId)> = Vec::with_capacity(appends.len());
    let mut deferred = Vec::new();
    let mut owner_of_key: HashMap<String, usize> = HashMap::new();
    for (i, a) in appends.iter().enumerate() {
        match a.target {
            Target::Existing(id) if !owner_of_key.contains_key(&a.idempotency_key) => {
                for n in 0..a.commands.len().max(1) {
                    owner_of_key.insert(batch_key(&a.idempotency_key, n), i);
                }
                batched.push((i, id));
            }
            _ => deferred.push(i),
        }
    }
    if !batched.is_empty() {
        let mut tx = conn.begin().await.map_err(StoreError::Unreachable)?;
        let keys: Vec<&str> = batched
            .iter()
            .map(|&(i, _)| appends[i].idempotency_key.as_str())
            .collect();
        sqlx::query(
            "SELECT pg_advisory_xact_lock(h) FROM \
             (SELECT DISTINCT hashtextextended(k, 0) AS h FROM unnest($1::text[]) AS k ORDER BY h) AS keys",
        )
        .bind(&keys)
        .execute(&mut *tx)
        .await?;
        let all_keys: Vec<&str> = owner_of_key.keys().map(String::as_str).collect();
        let rows: Vec<EventRow> = sqlx::query_as(sqlx::AssertSqlSafe(format!(
            "SELECT {EVENT_COLUMNS} FROM capacity.capacity_request_events \
             WHERE idempotency_key = ANY($1) ORDER BY request_id, seq"
        )))
        .bind(&all_keys)
        .fetch_all(&mut *tx)
        .await?;
        let mut recorded_before: HashMap<usize, Vec<EventRow>> = HashMap::new();
        for row in rows {
            if let Some(&i) = owner_of_key.get(&row.idempotency_key) {
                recorded_before.entry(i).or_default().push(row);
            }
        }
        let ids: Vec<Uuid> = batched.iter().map(|&(_, id)| id.0).collect();
        let rows: Vec<RequestRow> = sqlx::query_as(sqlx::AssertSqlSafe(format!(
            "SELECT {REQUEST_COLUMNS} FROM capacity.capacity_requests \
             WHERE id = ANY($1) ORDER BY id FOR UPDATE"
        )))
        .bind(&ids)
        .fetch_all(&mut *tx)
        .await?;
        let mut current: HashMap<RequestId, Request> = HashMap::with_capacity(rows.len());
        for row in rows {
            let r = row.into_request()?;
            current.insert(r.id, r);
        }

        let mut rows = Rows::default();
        let mut written: Vec<(usize, Request)> = Vec::new();
        for &(i, id) in &batched {
            let a = &appends[i];
            if let Some(before) = recorded_before.remove(&i) {
                let events = read_these(&mut tx, before).await?;
                results[i] = Some(match current.get(&id) {
                    Some(request) => Ok(Appended {
                        request: request.clone(),
                        events,
                        duplicate: true,
                    }),
                    None => Err(AppendError::NotFound),
                });
                continue;
            }
            let Some(request) = current.get(&id).cloned() else {
                results[i] = Some(Err(AppendError::NotFound));
                continue;
            };
            match decide_all(Some(request), id, a, &a.commands) {
                Ok((pending, last)) => {
                    rows.push(a, pending, &last)?;
                    current.insert(id, last.clone());
                    written.push((i, last));
                }
                Err(Undecided::Stale { seen, now_at }) => {
                    let winner = first_event_after(&mut tx, id, seen).await?;
                    results[i] = Some(Err(AppendError::Conflict {
                        current: now_at,
                        winner: winner.map(Box::new),
                    }));
                }
                Err(Undecided::Not(e)) => results[i] = Some(Err(e)),
            }
        }
        if !written.is_empty() {
            let recorded = rows.write(&mut tx).await?.recorded;
            for ((i, request), events) in written.into_iter().zip(recorded) {
                results[i] = Some(Ok(Appended {
                    request,
                    events,
                    duplicate: false,
                }));
            }
        }
        tx.commit().await?;
    }
    for i in deferred {
        results[i] = Some(
            append_on(conn, &appends[i], None)
                .await
                .map(|(done, _)| done),
        );
    }
    Ok(results
        .into_iter()
        .map(|r| r.unwrap_or(Err(AppendError::NotFound)))
        .collect())
}

/// What deciding one append's commands came to: each event with the request after it and
/// the effects it asks for.
type Pending = Vec<(Event, Request, Vec<Effect>)>;

/// Why an append's commands produced nothing to write.
enum Undecided {
    /// The button's version is stale; the caller looks up the winner.
    Stale {
        seen: i32,
        now_at: i32,
    },
    Not(AppendError),
}

/// Decides `commands` in order, each against the request as the events before it left it,
/// and folds every event. Pure: nothing is read or written.
fn decide_all(
    mut current: Option<Request>,
    request_id: RequestId,
    append: &Append,
    commands: &[Command],
) -> Result<(Pending, Request), Undecided> {
    let mut pending = Vec::with_capacity(commands.len());
    for (i, command) in commands.iter().enumerate() {
        let ctx = Context {
            request_id,
            actor: &append.actor,
            policy: &append.policy,
            now: append.now,
            expected_version: if i == 0 {
                append.expected_version
            } else {
                None
            },
        };
        let events = match decide(current.as_ref(), command, &ctx) {
            Ok(events) => events,
            Err(Refusal::StaleVersion {
                seen,
                current: now_at,
            }) => return Err(Undecided::Stale { seen, now_at }),
            Err(refusal) => return Err(Undecided::Not(AppendError::Refused(refusal))),
        };
        for event in events {
            let next =
                fold_new(current.as_ref(), request_id, &event, append).map_err(Undecided::Not)?;
            let effects = effects_of(current.as_ref(), &next, &event, append.linear);
            pending.push((event, next.clone(), effects));
            current = Some(next);
        }
    }
    match current {
        Some(last) => Ok((pending, last)),
        None => Err(Undecided::Not(AppendError::Refused(Refusal::NoSuchRequest))),
    }
}

/// Folds an event `decide` just produced, exactly as every later reader will fold it.
fn fold_new(
    current: Option<&Request>,
    request_id: RequestId,
    event: &Event,
    append: &Append,
) -> Result<Request, AppendError> {
    let occurrence = Occurrence {
        request_id,
        event,
        actor: &append.actor,
        calendar: &append.policy.calendar,
        at: append.now,
    };
    // `decide` refuses whatever cannot start a log, so this is a bug, not a refusal.
    step(current, &occurrence).map_err(|e| {
        AppendError::Store(StoreError::Corrupt(format!(
            "decide produced an event that does not fold: {e}"
        )))
    })
}

/// The rows of one or more appends, as the columns of one multi-row
/// `INSERT … SELECT FROM unnest` per table: a batch of any size writes its projections, its
/// events and its outbox rows in three statements. Rows go in as they were pushed, so each
/// outbox row's id (from the sequence, as `unnest` yields it) follows event order within a
/// request, as one append at a time would have it.
#[derive(Default)]
struct Rows {
    events: EventColumns,
    /// Each append's events, their `recorded_at` filled in when the rows come back.
    recorded: Vec<Vec<RecordedEvent>>,
    /// Each request once, as its last event in the batch left it.
    projections: Vec<Request>,
    outbox: OutboxRows,
    /// The request whose Slack rows are leased, and to whom (one append of one request;
    /// [`append_leasing`]).
    lease: Option<(RequestId, Lease)>,
}

/// What [`Rows::write`] wrote.
struct Written {
    /// Each append's events as recorded.
    recorded: Vec<Vec<RecordedEvent>>,
    /// The outbox rows written leased, in id order.
    leased: Vec<OutboxRow>,
}

#[derive(Default)]
struct EventColumns {
    id: Vec<Uuid>,
    request_id: Vec<Uuid>,
    seq: Vec<i32>,
    kind: Vec<&'static str>,
    payload: Vec<String>,
    actor: Vec<String>,
    actor_team: Vec<Option<String>>,
    actor_detail: Vec<String>,
    policy: Vec<String>,
    version_after: Vec<i32>,
    state_after: Vec<&'static str>,
    deadline_after: Vec<Option<DateTime<Utc>>>,
    cost_at_risk_cents: Vec<Option<i64>>,
    idempotency_key: Vec<String>,
    envelope_id: Vec<Option<String>>,
    occurred_at: Vec<DateTime<Utc>>,
}

#[derive(Default)]
struct OutboxRows {
    request_id: Vec<Uuid>,
    event_id: Vec<Uuid>,
    /// Each row's effect, and the same encoded for the statement.
    effects: Vec<Effect>,
    effect: Vec<String>,
    lane: Vec<&'static str>,
    at: Vec<DateTime<Utc>>,
}

fn encode<T: serde::Serialize>(what: &str, value: &T) -> Result<String, StoreError> {
    serde_json::to_string(value)
        .map_err(|e| StoreError::Corrupt(format!("{what} could not be encoded: {e}")))
}

impl Rows {
    /// Adds one append's decided events; `last` is the request after the last of them.
    fn push(
        &mut self,
        append: &Append,
        pending: Pending,
        last: &Request,
    ) -> Result<(), StoreError> {
        let actor_label = append.actor.label();
        let actor_team = match &append.actor {
            Actor::User { team, .. } => Some(team.to_string()),
            _ => None,
        };
        let actor_detail = encode("an actor", &append.actor)?;
        let policy = encode("a policy", &append.policy)?;
        let mut recorded = Vec::with_capacity(pending.len());
        for (i, (event, after, effects)) in pending.into_iter().enumerate() {
            let id = Uuid::now_v7();
            let key = batch_key(&append.idempotency_key, i);
            let cost = cost_at_risk_cents(&after, append.now);
            let e = &mut self.events;
            e.id.push(id);
            e.request_id.push(after.id.0);
            e.seq.push(after.seq);
            e.kind.push(event.kind().as_str());
            e.payload.push(encode("an event", &event)?);
            e.actor.push(actor_label.clone());
            e.actor_team.push(actor_team.clone());
            e.actor_detail.push(actor_detail.clone());
            e.policy.push(policy.clone());
            e.version_after.push(after.version);
            e.state_after.push(after.state.as_str());
            e.deadline_after.push(after.deadline.map(|d| d.at));
            e.cost_at_risk_cents.push(cost);
            e.idempotency_key.push(key.clone());
            e.envelope_id.push(append.envelope_id.clone());
            e.occurred_at.push(append.now);
            for effect in effects {
                let o = &mut self.outbox;
                o.request_id.push(after.id.0);
                o.event_id.push(id);
                o.effect.push(encode("an effect", &effect)?);
                o.lane.push(effect.lane());
                o.at.push(append.now);
                o.effects.push(effect);
            }
            recorded.push(RecordedEvent {
                id,
                request_id: after.id,
                seq: after.seq,
                event,
                actor: append.actor.clone(),
                policy: append.policy.clone(),
                version_after: after.version,
                state_after: after.state,
                deadline_after: after.deadline.map(|d| d.at),
                cost_at_risk_cents: cost,
                idempotency_key: key,
                envelope_id: append.envelope_id.clone(),
                occurred_at: append.now,
                // Set by the database (`clock_timestamp()`); filled in by `write`.
                recorded_at: append.now,
            });
        }
        self.recorded.push(recorded);
        match self.projections.iter_mut().find(|r| r.id == last.id) {
            Some(earlier) => *earlier = last.clone(),
            None => self.projections.push(last.clone()),
        }
        Ok(())
    }

    /// Writes every row, and returns each append's events as recorded and the outbox rows
    /// written leased: projections, events and outbox rows in one statement (one round trip;
    /// three cost a click 2 of its 8), with a wake-up hint for the workers, delivered only if
    /// the transaction commits, when a row was written that a claim may take.
    async fn write(mut self, conn: &mut PgConnection) -> Result<Written, AppendError> {
        let projections: Vec<&Request> = self.projections.iter().collect();
        let columns = ProjectionColumns::of(&projections)?;
        let e = &self.events;
        let o = &self.outbox;
        let hint = self
            .projections
            .first()
            .map(|r| r.id.0.to_string())
            .unwrap_or_default();
        let written = columns
            .bind(sqlx::query(sqlx::AssertSqlSafe(WRITE.as_str())))
            .bind(&e.id)
            .bind(&e.request_id)
            .bind(&e.seq)
            .bind(&e.kind)
            .bind(&e.payload)
            .bind(&e.actor)
            .bind(&e.actor_team)
            .bind(&e.actor_detail)
            .bind(&e.policy)
            .bind(&e.version_after)
            .bind(&e.state_after)
            .bind(&e.deadline_after)
            .bind(&e.cost_at_risk_cents)
            .bind(&e.idempotency_key)
            .bind(&e.envelope_id)
            .bind(&e.occurred_at)
            .bind(CURRENT_SCHEMA)
            .bind(&o.request_id)
            .bind(&o.event_id)
            .bind(&o.effect)
            .bind(&o.lane)
            .bind(&o.at)
            .bind(self.lease.as_ref().map(|(_, l)| l.worker.as_str()))
            .bind(self.lease.as_ref().map(|(_, l)| l.until))
            .bind(self.lease.as_ref().map(|(request, _)| request.0))
            .bind(super::OUTBOX_CHANNEL)
            .bind(hint)
            .fetch_one(&mut *conn)
            .await?;
        let rows: Vec<i64> = sqlx::Row::try_get(&written, "outbox_ids")?;
        let leased: Vec<bool> = sqlx::Row::try_get(&written, "outbox_leased")?;
        let ids: Vec<Uuid> = sqlx::Row::try_get(&written, "ids")?;
        let stamps: Vec<DateTime<Utc>> = sqlx::Row::try_get(&written, "recorded_at")?;
        let stamped: HashMap<Uuid, DateTime<Utc>> = ids.into_iter().zip(stamps).collect();
        for rec in self.recorded.iter_mut().flatten() {
            if let Some(at) = stamped.get(&rec.id) {
                rec.recorded_at = *at;
            }
        }
        // The ids follow the order the rows were given in.
        let o = self.outbox;
        let handed = o
            .effects
            .into_iter()
            .enumerate()
            .filter(|&(i, _)| leased.get(i) == Some(&true))
            .map(|(i, effect)| OutboxRow {
                id: rows[i],
                request_id: Some(RequestId(o.request_id[i])),
                event_id: Some(o.event_id[i]),
                effect,
                attempts: 1,
                created_at: o.at[i],
            })
            .collect();
        Ok(Written {
            recorded: self.recorded,
            leased: handed,
        })
    }
}

/// The events of one or more appends; binds $1 to $17.
const INSERT_EVENTS: &str =
    "INSERT INTO capacity.capacity_request_events (id, request_id, seq, kind, \
     schema_version, payload, actor, actor_team, actor_detail, policy, version_after, \
     state_after, deadline_after, cost_at_risk_cents, idempotency_key, envelope_id, \
     occurred_at) \
     SELECT id, request_id, seq, kind, $17, payload::jsonb, actor, actor_team, \
            actor_detail::jsonb, policy::jsonb, version_after, state_after, \
            deadline_after, cost, key, envelope_id, occurred_at \
     FROM unnest($1::uuid[], $2::uuid[], $3::int4[], $4::text[], $5::text[], $6::text[], \
                 $7::text[], $8::text[], $9::text[], $10::int4[], $11::text[], \
                 $12::timestamptz[], $13::int8[], $14::text[], $15::text[], \
                 $16::timestamptz[]) \
       AS e (id, request_id, seq, kind, payload, actor, actor_team, actor_detail, \
             policy, version_after, state_after, deadline_after, cost, key, \
             envelope_id, occurred_at) \
     RETURNING id, recorded_at";

/// Their outbox rows, in the order given (each row's id from the sequence follows it);
/// binds $1 to $5, and $6 to $8: the worker request $8's Slack rows are leased to, and until
/// when (NULL: none). They are leased only when no Slack row of the request is pending
/// before this statement, so a leased row is its lane's head. Each returns its id and
/// whether it was leased; a leased row counts one attempt, as a claim's does.
///
/// The lease is a one-row relation joined to the request's Slack rows, so "is anything
/// pending?" is asked once per statement (an initplan: one probe of
/// `outbox_pending_by_request`, skipped when nothing is to be leased). Asked per row, as a
/// correlated subquery in each leased column, it ran three times a row, and, since a generic
/// plan must assume ten rows where a custom plan sees the arrays' lengths, it made Postgres
/// plan the whole writing statement anew on every append (about 0.7 ms of its CPU per
/// click; `pg_stat_statements` counted one plan per call).
const INSERT_OUTBOX: &str = "INSERT INTO capacity.outbox (request_id, event_id, effect, lane, \
       next_attempt_at, created_at, claimed_by, claimed_until, attempts) \
     SELECT u.request_id, u.event_id, u.effect::jsonb, u.lane, u.at, u.at, l.worker, l.until, \
            CASE WHEN l.worker IS NULL THEN 0 ELSE 1 END \
     FROM unnest($1::uuid[], $2::uuid[], $3::text[], $4::text[], $5::timestamptz[]) \
            WITH ORDINALITY AS u (request_id, event_id, effect, lane, at, n) \
       LEFT JOIN (SELECT $6::text AS worker, $7::timestamptz AS until \
                  WHERE $6::text IS NOT NULL \
                    AND NOT EXISTS (SELECT FROM capacity.outbox p WHERE p.status = 'pending' \
                                    AND p.request_id = $8::uuid AND p.lane = 'slack')) l \
         ON u.lane = 'slack' AND u.request_id = $8::uuid \
     ORDER BY u.n \
     RETURNING id, claimed_by IS NOT NULL AS leased";

/// [`Rows::write`]'s statement: the projections ($1 to $28), the events ($29 to $45), the
/// outbox rows and their lease ($46 to $53), and the hint ($54 the channel, $55 the payload),
/// sent when a row was written that a claim may take. A data-modifying `WITH` runs to
/// completion whether or not anything reads it, and the foreign keys are checked at the end
/// of the statement, so the parts may reference each other's rows.
static WRITE: std::sync::LazyLock<String> = std::sync::LazyLock::new(|| {
    format!(
        "WITH projected AS ({UPSERT_REQUESTS}), \
           recorded AS ({events}), \
           queued AS ({outbox}) \
         SELECT ARRAY(SELECT id FROM recorded ORDER BY id) AS ids, \
                ARRAY(SELECT recorded_at FROM recorded ORDER BY id) AS recorded_at, \
                ARRAY(SELECT id FROM queued ORDER BY id) AS outbox_ids, \
                ARRAY(SELECT leased FROM queued ORDER BY id) AS outbox_leased, \
                (SELECT count(*) FROM (SELECT pg_notify($54, $55) FROM queued \
                                       WHERE NOT leased LIMIT 1) n) AS hint",
        events = super::shift_params(INSERT_EVENTS, 28),
        outbox = super::shift_params(INSERT_OUTBOX, 45),
    )
});

async fn recorded_batch(
    conn: &mut PgConnection,
    keys: &[String],
) -> Result<Option<Vec<RecordedEvent>>, AppendError> {
    let rows: Vec<EventRow> = sqlx::query_as(sqlx::AssertSqlSafe(format!(
        "SELECT {EVENT_COLUMNS} FROM capacity.capacity_request_events \
         WHERE idempotency_key = ANY($1) ORDER BY request_id, seq"
    )))
    .bind(keys)
    .fetch_all(&mut *conn)
    .await?;
    if rows.is_empty() {
        return Ok(None);
    }
    Ok(Some(read_these(conn, rows).await?))
}

async fn first_event_after(
    conn: &mut PgConnection,
    request_id: RequestId,
    version: i32,
) -> Result<Option<RecordedEvent>, AppendError> {
    let row: Option<EventRow> = sqlx::query_as(sqlx::AssertSqlSafe(format!(
        "SELECT {EVENT_COLUMNS} FROM capacity.capacity_request_events \
         WHERE request_id = $1 AND version_after > $2 ORDER BY seq LIMIT 1"
    )))
    .bind(request_id.0)
    .bind(version)
    .fetch_optional(&mut *conn)
    .await?;
    let Some(row) = row else { return Ok(None) };
    Ok(read_these(conn, vec![row]).await?.pop())
}

/// Reads some rows of one request's log. Rows of the current schema read on their own; an
/// older row may need the request as it stood before it (see `domain::upcast`), so then the
/// log is read from its start up to the last row asked for.
async fn read_these(
    conn: &mut PgConnection,
    rows: Vec<EventRow>,
) -> Result<Vec<RecordedEvent>, StoreError> {
    if rows.iter().all(|r| r.schema_version == CURRENT_SCHEMA) {
        return read_rows(rows);
    }
    let wanted: Vec<Uuid> = rows.iter().map(|r| r.id).collect();
    let (request_id, last) = (rows[0].request_id, rows.iter().map(|r| r.seq).max());
    let prefix: Vec<EventRow> = sqlx::query_as(sqlx::AssertSqlSafe(format!(
        "SELECT {EVENT_COLUMNS} FROM capacity.capacity_request_events \
         WHERE request_id = $1 AND seq <= $2 ORDER BY seq"
    )))
    .bind(request_id)
    .bind(last)
    .fetch_all(&mut *conn)
    .await?;
    Ok(read_rows(prefix)?
        .into_iter()
        .filter(|e| wanted.contains(&e.id))
        .collect())
}

/// The whole log of one request, in order.
pub async fn events_of(
    db: impl PgExecutor<'_>,
    id: RequestId,
) -> Result<Vec<RecordedEvent>, StoreError> {
    let rows: Vec<EventRow> = sqlx::query_as(sqlx::AssertSqlSafe(format!(
        "SELECT {EVENT_COLUMNS} FROM capacity.capacity_request_events WHERE request_id = $1 ORDER BY seq"
    )))
    .bind(id.0)
    .fetch_all(db)
    .await?;
    read_rows(rows)
}

/// Calls `each` with the whole log of every request submitted at or after `since` (every
/// request when `None`), one request at a time, each in sequence order.
///
/// For readers of the whole history (`simulate`): the rows are streamed, so a year of logs
/// is never in memory at once, from one snapshot, in a read-only transaction that is rolled
/// back, so nothing can be written through it whatever the caller does.
pub async fn each_log<F>(
    pool: &PgPool,
    since: Option<DateTime<Utc>>,
    mut each: F,
) -> Result<(), StoreError>
where
    F: FnMut(Vec<RecordedEvent>),
{
    use futures_util::TryStreamExt;

    let mut conn = pool.acquire().await?;
    let mut tx = conn
        .begin_with("BEGIN TRANSACTION ISOLATION LEVEL REPEATABLE READ READ ONLY")
        .await?;
    {
        let mut rows = sqlx::query_as::<_, EventRow>(sqlx::AssertSqlSafe(format!(
            "SELECT {EVENT_COLUMNS} FROM capacity.capacity_request_events \
             WHERE request_id IN (SELECT request_id FROM capacity.capacity_request_events \
                                  WHERE seq = 1 AND ($1::timestamptz IS NULL OR occurred_at >= $1)) \
             ORDER BY request_id, seq"
        )))
        .bind(since)
        .fetch(&mut *tx);
        let mut log: Vec<EventRow> = Vec::new();
        while let Some(row) = rows.try_next().await? {
            if log.last().is_some_and(|r| r.request_id != row.request_id) {
                each(read_rows(std::mem::take(&mut log))?);
            }
            log.push(row);
        }
        if !log.is_empty() {
            each(read_rows(log)?);
        }
    }
    tx.rollback().await?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::domain::testkit::Play;

    fn at(channel: &str, ts: &str) -> SlackMessage {
        SlackMessage {
            channel: channel.into(),
            ts: ts.into(),
        }
    }

    fn button(number: i64, message: Option<SlackMessage>) -> Button {
        Button {
            request: RequestId(Uuid::nil()),
            number: RequestNumber(number),
            message,
        }
    }

    #[test]
    fn a_button_counts_only_for_its_own_request_and_message() {
        let play = Play::submitted(1000);
        let req = play.req();
        assert_eq!(req.number, RequestNumber(1));
        let root = at("C0REQUESTS", "100.000001");
        let check = |b: Button, root: Option<&SlackMessage>| b.check(req, root);

        // Its own root, a DM (no ts is kept for those), and before the root's ts is stored.
        assert_eq!(check(button(1, Some(root.clone())), Some(&root)), Ok(()));
        assert_eq!(
            check(button(1, Some(at("D0AE", "200.000001"))), Some(&root)),
            Ok(())
        );
        assert_eq!(check(button(1, Some(root.clone())), None), Ok(()));
        assert_eq!(check(button(1, None), Some(&root)), Ok(()));

        // Another number, wherever it was clicked.
        let number = WrongButton::Number {
            shown: RequestNumber(2),
        };
        assert_eq!(
            check(button(2, Some(root.clone())), Some(&root)),
            Err(number.clone())
        );
        assert_eq!(check(button(2, None), None), Err(number));
        // Another message in the root's channel: another request's root, a thread reply.
        assert_eq!(
            check(button(1, Some(at("C0REQUESTS", "100.000002"))), Some(&root)),
            Err(WrongButton::Message {
                number: RequestNumber(1)
            })
        );
    }
}
