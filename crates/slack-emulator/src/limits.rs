//! Slack's Web API rate limits, enforced only when a test or benchmark asks
//! ([`Emulator::enforce_rate_limits`](super::Emulator::enforce_rate_limits)).
//!
//! What Slack documents (api.slack.com/docs/rate-limits, docs.slack.dev/apis/web-api/rate-limits):
//! limits apply per method, per app, per workspace, in per-minute windows: Tier 1 is 1+ a
//! minute, Tier 2 20+, Tier 3 50+, Tier 4 100+. `chat.postMessage` is special: about one
//! message a second **per channel**, short bursts allowed. Over the limit Slack answers
//! HTTP 429, `Retry-After: <seconds>` and `{"ok":false,"error":"ratelimited"}`.
//!
//! The model: a tiered method counts its calls in fixed one-minute windows per workspace
//! (the `Retry-After` says when the window ends); `chat.postMessage` has a token bucket per
//! channel (one token a second, [`RateLimits::post_burst`] tokens at most), its
//! `Retry-After` the wait for the next token, rounded up to whole seconds as on the wire.
//! `scale` multiplies every allowance, so a benchmark can run an hour of Slack's pace in
//! minutes; `Retry-After` stays in real seconds. The emulator reads time from a
//! [`RateClock`], which a test can stop and move by hand.

use std::collections::HashMap;
use std::sync::Mutex;
use std::time::Duration;
use tokio::time::Instant;

/// Slack's published tier of a method this emulator speaks.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Tier {
    /// 1+ per minute.
    Tier1,
    /// 20+ per minute.
    Tier2,
    /// 50+ per minute.
    Tier3,
    /// 100+ per minute.
    Tier4,
    /// `chat.postMessage`: about one a second per channel.
    PostMessage,
    /// Methods Slack rates in "hundreds per minute" (`auth.test`, `chat.getPermalink`),
    /// and the upload URL, which is not a Web API method: not limited here.
    Unlimited,
}

impl Tier {
    /// The tier Slack's method catalogue gives `method`.
    pub fn of(method: &str) -> Tier {
        match method {
            "apps.connections.open" => Tier::Tier1,
            "usergroups.users.list" | "files.getUploadURLExternal" => Tier::Tier2,
            "chat.update" | "conversations.open" | "conversations.info" => Tier::Tier3,
            "files.completeUploadExternal" => Tier::Tier3,
            "chat.postEphemeral" | "views.open" | "views.update" | "views.push"
            | "views.publish" | "users.info" => Tier::Tier4,
            "chat.postMessage" => Tier::PostMessage,
            _ => Tier::Unlimited,
        }
    }

    /// Calls per minute per workspace for a tiered method.
    pub fn per_minute(self) -> Option<u32> {
        match self {
            Tier::Tier1 => Some(1),
            Tier::Tier2 => Some(20),
            Tier::Tier3 => Some(50),
            Tier::Tier4 => Some(100),
            Tier::PostMessage | Tier::Unlimited => None,
        }
    }
}

/// How the emulator enforces Slack's limits.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct RateLimits {
    /// Every allowance is multiplied by this (1.0: Slack's own figures).
    pub scale: f64,
    /// How many `chat.postMessage` calls a channel may burst before the one-a-second pace
    /// applies (Slack: "short bursts >1 allowed").
    pub post_burst: f64,
}

impl Default for RateLimits {
    fn default() -> Self {
        RateLimits {
            scale: 1.0,
            post_burst: 3.0,
        }
    }
}

impl RateLimits {
    /// Slack's figures times `scale`.
    pub fn scaled(scale: f64) -> Self {
        RateLimits {
            scale,
            ..RateLimits::default()
        }
    }

    /// `chat.postMessage` calls a channel gets per second.
    pub fn posts_per_second(&self) -> f64 {
        self.scale
    }

    /// Calls a tiered method gets per one-minute window.
    pub fn per_window(&self, tier: Tier) -> Option<u32> {
        tier.per_minute()
            .map(|n| ((f64::from(n) * self.scale).floor() as u32).max(1))
    }

    /// A channel's bucket: at least one second's worth, so a client that waits the whole
    /// seconds `Retry-After` gives loses nothing to the rounding.
    pub fn bucket(&self) -> f64 {
        (self.post_burst * self.scale)
            .max(self.posts_per_second())
            .max(1.0)
    }
}

/// Where the limits read the time: the runtime's clock, or a stopped one a test moves.
#[derive(Debug)]
pub(crate) struct RateClock {
    origin: Instant,
    /// `Some(t)`: stopped at `t` after the origin, moved only by `advance`.
    manual: Mutex<Option<Duration>>,
}

impl RateClock {
    pub(crate) fn new() -> Self {
        RateClock {
            origin: Instant::now(),
            manual: Mutex::new(None),
        }
    }

    pub(crate) fn now(&self) -> Duration {
        match *self.manual.lock().unwrap_or_else(|p| p.into_inner()) {
            Some(t) => t,
            None => self.origin.elapsed(),
        }
    }

    /// Stops the clock where it is; from now on only `advance` moves it.
    pub(crate) fn stop(&self) {
        let now = self.now();
        *self.manual.lock().unwrap_or_else(|p| p.into_inner()) = Some(now);
    }

    pub(crate) fn advance(&self, by: Duration) {
        let mut manual = self.manual.lock().unwrap_or_else(|p| p.into_inner());
        let now = manual.unwrap_or_else(|| self.origin.elapsed());
        *manual = Some(now + by);
    }
}

/// The counters behind the limits, and what they refused.
#[derive(Debug, Default)]
pub(crate) struct Limiter {
    pub(crate) limits: Option<RateLimits>,
    /// (method, window number) → calls in that one-minute window.
    windows: HashMap<String, (u64, u32)>,
    /// channel → (tokens, when last filled).
    buckets: HashMap<String, (f64, Duration)>,
    /// 429s answered per method.
    pub(crate) refused: HashMap<String, usize>,
}

const WINDOW: Duration = Duration::from_secs(60);

impl Limiter {
    /// Counts the call; `Some(retry_after_secs)` when it is over the limit.
    pub(crate) fn admit(
        &mut self,
        method: &str,
        channel: Option<&str>,
        now: Duration,
    ) -> Option<u64> {
        let limits = self.limits?;
        let tier = Tier::of(method);
        let refused = match (tier, limits.per_window(tier)) {
            (Tier::PostMessage, _) => {
                let rate = limits.posts_per_second();
                let cap = limits.bucket();
                let key = channel.unwrap_or_default().to_owned();
                let (tokens, at) = self.buckets.entry(key).or_insert((cap, now));
                *tokens = (*tokens + (now - *at).as_secs_f64() * rate).min(cap);
                *at = now;
                if *tokens >= 1.0 {
                    *tokens -= 1.0;
                    None
                } else {
                    Some(((1.0 - *tokens) / rate).ceil().max(1.0) as u64)
                }
            }
            (_, Some(allowed)) => {
                let window = now.as_secs() / WINDOW.as_secs();
                let (current, used) = self.windows.entry(method.to_owned()).or_insert((window, 0));
                if *current != window {
                    *current = window;
                    *used = 0;
                }
                if *used < allowed {
                    *used += 1;
                    None
                } else {
                    let ends = Duration::from_secs((window + 1) * WINDOW.as_secs());
                    Some((ends - now).as_secs_f64().ceil().max(1.0) as u64)
                }
            }
            _ => None,
        };
        if refused.is_some() {
            *self.refused.entry(method.to_owned()).or_default() += 1;
        }
        refused
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn limiter(scale: f64) -> Limiter {
        Limiter {
            limits: Some(RateLimits::scaled(scale)),
            ..Limiter::default()
        }
    }

    #[test]
    fn off_by_default() {
        let mut l = Limiter::default();
        for _ in 0..1000 {
            assert_eq!(l.admit("chat.update", None, Duration::ZERO), None);
        }
    }

    #[test]
    fn tier_3_allows_50_a_minute_then_says_when_the_window_ends() {
        let mut l = limiter(1.0);
        let t = Duration::from_secs(75);
        for _ in 0..50 {
            assert_eq!(l.admit("chat.update", None, t), None);
        }
        assert_eq!(l.admit("chat.update", None, t), Some(45));
        assert_eq!(l.admit("conversations.open", None, t), None, "per method");
        assert_eq!(l.admit("chat.update", None, Duration::from_secs(120)), None);
        assert_eq!(l.refused["chat.update"], 1);
    }

    #[test]
    fn views_publish_is_tier_4_a_hundred_a_minute() {
        let mut l = limiter(1.0);
        let t = Duration::from_secs(10);
        for _ in 0..100 {
            assert_eq!(l.admit("views.publish", None, t), None);
        }
        assert_eq!(l.admit("views.publish", None, t), Some(50));
    }

    #[test]
    fn post_message_is_one_a_second_per_channel_after_a_short_burst() {
        let mut l = limiter(1.0);
        let t = Duration::from_secs(10);
        for _ in 0..3 {
            assert_eq!(l.admit("chat.postMessage", Some("C1"), t), None);
        }
        assert_eq!(l.admit("chat.postMessage", Some("C1"), t), Some(1));
        assert_eq!(
            l.admit("chat.postMessage", Some("C2"), t),
            None,
            "per channel"
        );
        let later = t + Duration::from_millis(1000);
        assert_eq!(l.admit("chat.postMessage", Some("C1"), later), None);
        assert_eq!(l.admit("chat.postMessage", Some("C1"), later), Some(1));
    }

    #[test]
    fn scale_multiplies_the_allowances() {
        let mut l = limiter(10.0);
        let t = Duration::from_secs(1);
        for _ in 0..500 {
            assert_eq!(l.admit("chat.update", None, t), None);
        }
        assert!(l.admit("chat.update", None, t).is_some());
        for _ in 0..30 {
            assert_eq!(l.admit("chat.postMessage", Some("C1"), t), None);
        }
        assert_eq!(l.admit("chat.postMessage", Some("C1"), t), Some(1));
    }
}
