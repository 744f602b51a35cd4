//! The weekly digest through the real daemon, Postgres and the emulator: posted once per
//! slot however many replicas sweep, a missed week posted once when the daemon comes back,
//! a failed upload retried through the outbox. Time moves only when a test sets the clock.

use std::sync::Arc;

use capacity_bot::app::Daemon;
use capacity_bot::domain::testkit::*;
use capacity_bot::scheduler::sweep_digest;
use capacity_bot::store::digests::{self, Queued};
use capacity_bot::store::MIGRATOR;
use chrono::{DateTime, Utc};
use slack_emulator::{Fault, UploadedFile, UPLOAD_URL};
use sqlx::PgPool;

use crate::support::harness::*;
use crate::timers::{request, request_in, settle, settle_with, utc, Gate};

/// Mondays at 09:30 in New York: 14:30 UTC in December.
fn digest_toml(team: &str) -> String {
    format!(
        "{}\n[digest]\nweekday = \"Mon\"\ntime = \"09:30\"\n",
        settings_toml(team)
    )
}

const SLOT: &str = "2026-12-07T14:30:00Z";

async fn start(pool: PgPool) -> Harness {
    let h = Harness::start_with(pool, emulator_config(), digest_toml, t0()).await;
    // The first slot any daemon sees (Mon 30 Nov) is the baseline: recorded, not posted.
    let first = sweep_digest(&h.daemon().sweeper, t0())
        .await
        .expect("sweep");
    assert!(
        matches!(first, Some(Queued::Baseline | Queued::AlreadyRecorded)),
        "{first:?}"
    );
    let rows = digests::all(&h.pool).await.expect("digests");
    assert_eq!(rows.len(), 1);
    assert!(rows[0].baseline && rows[0].posted_at.is_none());
    h
}

/// Another daemon with the digest configured, on the same emulator, database and clock.
async fn replica(h: &Harness) -> Daemon {
    let settings = settings_for(&h.emu, &digest_toml(h.emu.team_id()));
    Daemon::start(
        settings,
        h.pool.clone(),
        Arc::new(h.clock.clone()),
        fast_options(),
    )
    .await
    .expect("the daemon starts")
}

/// Width and height from a PNG's IHDR chunk, after checking the signature.
fn png_size(bytes: &[u8]) -> (u32, u32) {
    assert!(bytes.len() > 33, "{} bytes is no PNG", bytes.len());
    assert_eq!(&bytes[..8], b"\x89PNG\r\n\x1a\n", "PNG signature");
    assert_eq!(&bytes[12..16], b"IHDR", "IHDR first");
    let be = |i: usize| u32::from_be_bytes([bytes[i], bytes[i + 1], bytes[i + 2], bytes[i + 3]]);
    (be(16), be(20))
}

fn assert_is_the_chart(file: &UploadedFile, slot_day: &str) {
    let (w, h) = png_size(&file.bytes);
    assert!(
        (300..=4000).contains(&w) && (200..=3000).contains(&h),
        "{w}×{h}"
    );
    assert!(
        file.bytes.len() > 2_000 && file.bytes.len() < 2_000_000,
        "{} bytes",
        file.bytes.len()
    );
    assert_eq!(file.filename, format!("cost-at-risk-{slot_day}.png"));
    assert!(
        file.title.starts_with("Cost at risk, 8 weeks to "),
        "{}",
        file.title
    );
    assert!(file.title.ends_with("EST"), "{}", file.title);
    assert_eq!(file.channel.as_deref(), Some(CHANNEL));
}

/// The digest messages posted in the requests channel.
fn digest_messages(h: &Harness) -> Vec<slack_emulator::Message> {
    h.emu
        .messages(CHANNEL)
        .into_iter()
        .filter(|m| m.render().contains("Weekly capacity digest"))
        .collect()
}

#[sqlx::test(migrator = "MIGRATOR")]
async fn two_replicas_at_the_slot_post_one_digest_and_one_chart(pool: PgPool) {
    let mut h = start(pool).await;
    let other = replica(&h).await;
    h.emu
        .wait_connected(4, WAIT)
        .await
        .expect("both daemons connect");
    let review = request_in(&h, Gate::TechnicalReview).await;
    let confirming = request_in(&h, Gate::CustomerConfirmation).await;
    let (review_n, confirming_n) = (
        request(&h, review).await.number.0,
        request(&h, confirming).await.number.0,
    );

    let slot: DateTime<Utc> = utc(SLOT);
    h.clock.set(slot);
    let (a, b) = tokio::join!(
        sweep_digest(&h.daemon().sweeper, slot),
        sweep_digest(&other.sweeper, slot)
    );
    let outcomes = [a.expect("sweep a"), b.expect("sweep b")];
    // The daemons' own cron ticks may have recorded it first; never twice.
    assert!(
        outcomes
            .iter()
            .filter(|o| **o == Some(Queued::Posting))
            .count()
            <= 1,
        "{outcomes:?}"
    );
    let files = h.emu.wait_for_files(1, WAIT).await.expect("the chart");
    settle_with(&h, &[&h.daemon().deliverer, &other.deliverer]).await;
    // Later ticks in the same week find it recorded.
    let later = slot + chrono::Duration::hours(3);
    h.clock.set(later);
    let (a, b) = tokio::join!(
        sweep_digest(&h.daemon().sweeper, later),
        sweep_digest(&other.sweeper, later)
    );
    assert_eq!(a.expect("sweep"), Some(Queued::AlreadyRecorded));
    assert_eq!(b.expect("sweep"), Some(Queued::AlreadyRecorded));
    settle_with(&h, &[&h.daemon().deliverer, &other.deliverer]).await;
    other.shutdown().await;

    assert_eq!(h.emu.files().len(), 1, "one chart");
    assert_eq!(files.len(), 1);
    assert_is_the_chart(&files[0], "2026-12-07");
    for method in ["files.getUploadURLExternal", "files.completeUploadExternal"] {
        assert_eq!(h.emu.calls(method).len(), 1, "{method}");
    }
    let posted = digest_messages(&h);
    assert_eq!(posted.len(), 1, "one digest message");
    let text = posted[0].render();
    for expected in [
        "Week to Mon 7 Dec 09:30 EST".to_string(),
        "*Open requests by decision owner* (2)".to_string(),
        format!("• CR-{review_n} (https://"),
        format!("• CR-{confirming_n} (https://"),
        "technical review".to_string(),
        "customer confirmation · due ".to_string(),
        "*Decisions since Mon 30 Nov 09:30 EST*: 3".to_string(),
        format!("@{AE} gave commercial approval on CR-{review_n} (https://"),
        format!("@{INFRA} approved the technical review on CR-{confirming_n} (https://"),
        "*Stuck* (no move for 3 business days or more): 0".to_string(),
        "Cost at risk now: $".to_string(),
    ] {
        assert!(text.contains(&expected), "missing {expected:?} in\n{text}");
    }
    let row = digests::get(&h.pool, slot)
        .await
        .expect("db")
        .expect("recorded");
    assert_eq!(row.message_ts.as_deref(), Some(posted[0].ts.as_str()));
    assert_eq!(row.file_id.as_deref(), Some(files[0].id.as_str()));
    assert!(row.permalink.is_some() && row.posted_at.is_some() && !row.baseline);
    h.stop().await;
}

#[sqlx::test(migrator = "MIGRATOR")]
async fn a_slot_missed_while_down_is_posted_once_when_the_daemon_comes_back(pool: PgPool) {
    let mut h = start(pool).await;
    request_in(&h, Gate::TechnicalReview).await;
    h.stop().await;
    // Down over two slots (Mon 7 and Mon 14 Dec); back on Wednesday 16th.
    let back = utc("2026-12-16T15:00:00Z");
    h.clock.set(back);
    h.daemon = Some(replica(&h).await);
    // The start-up catch-up records the latest slot; this sweep finds it done.
    let files = h.emu.wait_for_files(1, WAIT).await.expect("the chart");
    assert_eq!(
        sweep_digest(&h.daemon().sweeper, back)
            .await
            .expect("sweep"),
        Some(Queued::AlreadyRecorded)
    );
    settle(&h).await;

    let slots: Vec<(DateTime<Utc>, bool, bool)> = digests::all(&h.pool)
        .await
        .expect("digests")
        .into_iter()
        .map(|d| (d.slot, d.baseline, d.posted_at.is_some()))
        .collect();
    assert_eq!(
        slots,
        [
            (utc("2026-11-30T14:30:00Z"), true, false),
            // Only the latest missed week, not a backlog.
            (utc("2026-12-14T14:30:00Z"), false, true),
        ]
    );
    assert_eq!(h.emu.files().len(), 1);
    assert_is_the_chart(&files[0], "2026-12-14");
    let posted = digest_messages(&h);
    assert_eq!(posted.len(), 1);
    let text = posted[0].render();
    assert!(
        text.contains("Week to Mon 14 Dec 09:30 EST · posted late, as of Wed 16 Dec 10:00 EST"),
        "{text}"
    );
    // In review since Thu 3 Dec: stuck after 3 business days.
    assert!(
        text.contains("*Stuck* (no move for 3 business days or more): 1"),
        "{text}"
    );
    h.stop().await;
}

#[sqlx::test(migrator = "MIGRATOR")]
async fn a_failed_upload_is_retried_through_the_outbox_and_posted_once(pool: PgPool) {
    let mut h = start(pool).await;
    h.emu.fail_next(UPLOAD_URL, 1, Fault::HttpStatus(503));
    let slot = utc(SLOT);
    h.clock.set(slot);
    sweep_digest(&h.daemon().sweeper, slot)
        .await
        .expect("sweep");

    // The message goes out, the upload fails, and the row waits for its retry.
    let deadline = tokio::time::Instant::now() + WAIT;
    let retry_at: DateTime<Utc> = loop {
        let row: Option<(i32, Option<String>, DateTime<Utc>)> = sqlx::query_as(
            "SELECT attempts, last_error, next_attempt_at FROM capacity.outbox \
             WHERE request_id IS NULL AND status = 'pending'",
        )
        .fetch_optional(&h.pool)
        .await
        .expect("outbox");
        if let Some((1, Some(error), at)) = row {
            assert!(error.contains("503"), "{error}");
            break at;
        }
        assert!(
            tokio::time::Instant::now() < deadline,
            "the failed upload was never scheduled for a retry: {row:?}"
        );
        tokio::task::yield_now().await;
    };
    assert!(retry_at > slot);
    assert_eq!(digest_messages(&h).len(), 1, "the message is posted once");
    assert!(h.emu.files().is_empty());

    h.clock.set(retry_at);
    settle(&h).await;
    let files = h.emu.wait_for_files(1, WAIT).await.expect("the chart");
    assert_is_the_chart(&files[0], "2026-12-07");
    assert_eq!(digest_messages(&h).len(), 1, "not posted again");
    assert_eq!(h.emu.files().len(), 1);
    assert_eq!(h.emu.calls(UPLOAD_URL).len(), 2);
    assert_eq!(h.emu.calls("files.completeUploadExternal").len(), 1);
    let (status, attempts): (String, i32) =
        sqlx::query_as("SELECT status, attempts FROM capacity.outbox WHERE request_id IS NULL")
            .fetch_one(&h.pool)
            .await
            .expect("outbox");
    assert_eq!((status.as_str(), attempts), ("delivered", 2));
    h.stop().await;
}
