//! Rendering one person's App Home from 300 open requests (every third with capacity
//! committed; the person owns the decision of all of them), as the outbox does before each
//! `views.publish`: time per render (median and p99 of 2,000) and the view's size.
//!
//! Then what reading a click costs the socket, on a request's root message and on that Home:
//! Slack sends the message's blocks, or the whole view, with every click, so each envelope is
//! read whole into a `Value` (as the socket did before 2026-12-07) and by `parse_frame` (which
//! skips those blocks), 2,000 times each.
//!
//! `cargo bench --bench home`. Pure: no database, no Slack. Figures go into BENCHMARKS.md.

use std::time::{Duration, Instant};

use capacity_bot::config::Roles;
use capacity_bot::domain::testkit::*;
use capacity_bot::domain::Links;
use capacity_bot::domain::{Command, RequestId, RequestNumber};
use capacity_bot::render::home::{home_view, HomeInput};
use capacity_bot::render::root::root_message;
use capacity_bot::slack::envelope::{parse_frame, Frame};

const OPEN: i64 = 300;
const RUNS: usize = 2_000;

fn main() {
    let mut play = Play::submitted(1000);
    play.ok(AE, Command::CommercialApproved);
    let base = play.req().clone();
    let requests: Vec<_> = (1..=OPEN)
        .map(|i| {
            let mut r = base.clone();
            r.id = RequestId(uuid::Uuid::from_u128(i as u128));
            r.number = RequestNumber(i);
            if i % 3 == 0 {
                r.capacity.committed_at = Some(t0() - chrono::Duration::days(i));
            }
            let link = format!("https://acme.slack.com/archives/C0123456789/p17600230417{i:05}");
            (r, Some(link))
        })
        .collect();
    let (user, user_roles) = (uid(INFRA), roles_of(INFRA));
    let roles = Roles::new(Vec::new());
    let input = HomeInput {
        user: &user,
        user_roles: &user_roles,
        requests: &requests,
        roles: &roles,
        policy: &play.policy,
        now: t0(),
    };
    let mut times: Vec<Duration> = Vec::with_capacity(RUNS);
    let mut bytes = 0;
    let mut blocks = 0;
    for _ in 0..RUNS {
        let start = Instant::now();
        let view = home_view(&input);
        let json = serde_json::to_vec(&view).expect("serializes");
        times.push(start.elapsed());
        bytes = json.len();
        blocks = serde_json::from_slice::<serde_json::Value>(&json).expect("JSON")["blocks"]
            .as_array()
            .map_or(0, Vec::len);
    }
    times.sort();
    let at = |q: f64| times[((times.len() as f64 * q) as usize).min(times.len() - 1)];
    println!("| open requests | render + serialize, median | p99 | blocks | JSON size |");
    println!("|---|---|---|---|---|");
    println!(
        "| {OPEN} | {:.0} µs | {:.0} µs | {blocks} | {:.1} KB |",
        at(0.5).as_secs_f64() * 1e6,
        at(0.99).as_secs_f64() * 1e6,
        bytes as f64 / 1024.0
    );
    println!();
    let root = root_message(&base, &Links::default(), &play.policy, &roles, t0());
    let on_root = frame_with(
        "envelope_interactive_block_actions_button.json",
        "/payload/message/blocks",
        serde_json::to_value(root.blocks).expect("serializes"),
    );
    let view = serde_json::to_value(home_view(&input)).expect("serializes");
    let on_home = frame_with(
        "envelope_interactive_block_actions_home.json",
        "/payload/view/blocks",
        view["blocks"].clone(),
    );
    println!("| a click's envelope, read by the socket | size | whole, `serde_json::from_str::<Value>` | `parse_frame` (the blocks skipped) |");
    println!("|---|---:|---:|---:|");
    for (what, frame) in [
        ("on the request's root message", on_root),
        ("on that Home", on_home),
    ] {
        let whole = median_of_runs(|| {
            let v: serde_json::Value =
                serde_json::from_str(std::hint::black_box(&frame)).expect("JSON");
            v.as_object().map_or(0, |m| m.len())
        });
        let read = median_of_runs(|| match parse_frame(std::hint::black_box(&frame)) {
            Frame::Envelope(e) => e.payload.as_object().map_or(0, |m| m.len()),
            _ => panic!("a click is an envelope"),
        });
        println!(
            "| {what} | {:.1} KB | {whole:.1} µs | {read:.1} µs |",
            frame.len() as f64 / 1024.0
        );
    }
}

/// Slack's own envelope `fixture` (the emulator's), with `blocks` put at `at`.
fn frame_with(fixture: &str, at: &str, blocks: serde_json::Value) -> String {
    let path = format!(
        "{}/crates/slack-emulator/tests/fixtures/slack/{fixture}",
        env!("CARGO_MANIFEST_DIR")
    );
    let mut frame: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(&path).expect("the fixture")).expect("JSON");
    *frame.pointer_mut(at).expect("the fixture has blocks there") = blocks;
    frame.to_string()
}

/// The median of `RUNS` timings of `parse`, in µs.
fn median_of_runs(parse: impl Fn() -> usize) -> f64 {
    let mut times: Vec<Duration> = Vec::with_capacity(RUNS);
    for _ in 0..RUNS {
        let start = Instant::now();
        std::hint::black_box(parse());
        times.push(start.elapsed());
    }
    times.sort();
    times[times.len() / 2].as_secs_f64() * 1e6
}
