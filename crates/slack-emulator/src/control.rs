//! Fault injection and timing knobs. All deterministic: a fault applies to the next calls,
//! a socket fault to the sockets open right now.

use std::time::Duration;

use super::faults::{DisconnectReason, Fault};
use super::limits::RateLimits;
use super::log::LogKind;
use super::socket::disconnect_frame;
use super::state::Outbound;
use super::Emulator;

impl Emulator {
    /// The next `times` calls of `method` (or of any method, with [`super::ANY_METHOD`])
    /// fail with `fault` instead of running. Faults queue up in the order given.
    pub fn fail_next(&self, method: &str, times: usize, fault: Fault) {
        self.shared.update(|st| {
            st.log(
                LogKind::Fault,
                format!("next {times} {method} call(s) will fail: {fault}"),
            );
            st.faults.push(method, fault, times);
        });
    }

    /// Drops every queued Web API fault.
    pub fn clear_faults(&self) {
        self.shared.update(|st| st.faults.clear());
    }

    /// The next `times` `apps.connections.open` calls answer `ok:false internal_error`.
    pub fn fail_connections_open(&self, times: usize) {
        self.fail_next(
            "apps.connections.open",
            times,
            Fault::error("internal_error"),
        );
    }

    /// Hangs up every open socket at the TCP level, without a close frame. Returns how many.
    pub fn drop_sockets(&self) -> usize {
        self.send_to_all_sockets("dropping", || Outbound::Drop)
    }

    /// Sends `disconnect` with `reason` to every open socket, then closes them. Returns how
    /// many.
    pub fn disconnect_sockets(&self, reason: DisconnectReason) -> usize {
        let frame = disconnect_frame(reason);
        let what = format!("disconnect ({})", reason.as_str());
        self.send_to_all_sockets(&what, || Outbound::Disconnect(frame.clone()))
    }

    fn send_to_all_sockets(&self, what: &str, outbound: impl Fn() -> Outbound) -> usize {
        self.shared.update(|st| {
            let mut sent = 0;
            // Sockets already told to go are left to finish closing.
            for socket in st.sockets.values_mut().filter(|s| !s.closing) {
                socket.closing = true;
                if socket.tx.send(outbound()).is_ok() {
                    sent += 1;
                }
            }
            st.log(LogKind::Fault, format!("{what}: {sent} socket(s)"));
            sent
        })
    }

    /// How long envelopes wait for their ack from now on.
    pub fn set_ack_timeout(&self, timeout: Duration) {
        self.shared.update(|st| st.ack_timeout = timeout);
    }

    /// How long trigger ids stay usable from now on (checked when they are used).
    pub fn set_trigger_ttl(&self, ttl: Duration) {
        self.shared.update(|st| st.trigger_ttl = ttl);
    }

    /// Makes every trigger id minted so far expired, without waiting 3 seconds.
    pub fn expire_trigger_ids(&self) {
        self.shared.update(|st| {
            for trigger in st.triggers.values_mut() {
                trigger.expired = true;
            }
        });
    }

    /// A fresh trigger id owned by `user`, as an interaction would carry, for calling
    /// `views.open` directly.
    pub fn mint_trigger_id(&self, user: &str) -> String {
        self.shared.update(|st| st.mint_trigger(user))
    }

    /// Enforces Slack's per-method rate limits from now on (off until this is called):
    /// over a limit a call gets HTTP 429, `Retry-After` and `ratelimited`, as on Slack.
    pub fn enforce_rate_limits(&self, limits: RateLimits) {
        self.shared.update(|st| {
            st.log(
                LogKind::Fault,
                format!(
                    "rate limits enforced (scale {}, chat.postMessage burst {})",
                    limits.scale, limits.post_burst
                ),
            );
            st.limiter.limits = Some(limits);
        });
    }

    /// Stops the clock the rate limits count in, so a test moves it with
    /// [`Emulator::advance_rate_clock`] instead of waiting.
    pub fn stop_rate_clock(&self) {
        self.shared.rate_clock.stop();
    }

    /// Moves the rate limits' clock (stopping it first if it runs).
    pub fn advance_rate_clock(&self, by: Duration) {
        self.shared.rate_clock.advance(by);
        // Waiters may be waiting for a window to open.
        self.shared.update(|_| {});
    }

    /// How many calls of `method` the rate limits refused (injected faults not counted).
    pub fn rate_limited(&self, method: &str) -> usize {
        self.shared
            .read(|st| st.limiter.refused.get(method).copied().unwrap_or_default())
    }

    /// 429s the rate limits answered, per method.
    pub fn rate_limited_counts(&self) -> std::collections::BTreeMap<String, usize> {
        self.shared.read(|st| {
            st.limiter
                .refused
                .iter()
                .map(|(m, n)| (m.clone(), *n))
                .collect()
        })
    }
}
