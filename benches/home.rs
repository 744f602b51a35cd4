//! Rendering one person's App Home from 300 open requests (every third with capacity
//! committed; the person owns the decision of all of them), as the outbox does before each
//! `views.publish`: time per render (median and p99 of 2,000) and the view's size.
//!
//! Then what a click on that Home costs the socket to read: Slack sends the whole view with
//! every click on it, so the envelope is read whole into a `Value` (as the socket did before
//! 2026-12-07) and by `parse_frame` (which skips the view's blocks), 2,000 times each.
//!
//! `cargo bench --bench home`. Pure: no database, no Slack. Figures go into BENCHMARKS.md.

use std::time::{Duration, Instant};

use capacity_bot::config::Roles;
use capacity_bot::domain::testkit::*;
use capacity_bot::domain::{Command, RequestId, RequestNumber};
use capacity_bot::render::home::{home_view, HomeInput};
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
    click_on_the_home(serde_json::to_value(home_view(&input)).expect("serializes"));
}

/// Slack's own Home click envelope (the emulator's fixture) carrying the view rendered above.
fn click_on_the_home(view: serde_json::Value) {
    let path = concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/crates/slack-emulator/tests/fixtures/slack/envelope_interactive_block_actions_home.json"
    );
    let mut frame: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(path).expect("the fixture")).expect("JSON");
    frame["payload"]["view"]["blocks"] = view["blocks"].clone();
    let frame = frame.to_string();
    let time = |parse: &dyn Fn(&str) -> usize| {
        let mut times: Vec<Duration> = Vec::with_capacity(RUNS);
        for _ in 0..RUNS {
            let start = Instant::now();
            std::hint::black_box(parse(std::hint::black_box(&frame)));
            times.push(start.elapsed());
        }
        times.sort();
        times[times.len() / 2].as_secs_f64() * 1e6
    };
    let whole = time(&|text| {
        let v: serde_json::Value = serde_json::from_str(text).expect("JSON");
        v.as_object().map_or(0, |m| m.len())
    });
    let read = time(&|text| match parse_frame(text) {
        Frame::Envelope(e) => e.payload.as_object().map_or(0, |m| m.len()),
        _ => panic!("the Home click is an envelope"),
    });
    println!(
        "A click on that Home: Slack's `block_actions` envelope with the view, {:.1} KB.\n",
        frame.len() as f64 / 1024.0
    );
    println!("| the envelope read | median |");
    println!("|---|---:|");
    println!("| whole, `serde_json::from_str::<Value>` | {whole:.1} µs |");
    println!("| by `parse_frame` (the view's blocks skipped) | {read:.1} µs |");
}
