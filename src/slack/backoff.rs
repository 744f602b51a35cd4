//! Reconnect delays: exponential with full jitter, so a fleet of replicas that lost Slack at
//! the same moment does not reconnect in lockstep.

use std::time::Duration;

#[derive(Debug, Clone)]
pub struct Backoff {
    min: Duration,
    max: Duration,
    attempt: u32,
}

impl Backoff {
    pub fn new(min: Duration, max: Duration) -> Self {
        Backoff {
            min,
            max,
            attempt: 0,
        }
    }

    /// The ceiling of the next delay: min × 2^attempt, capped at max.
    pub fn ceiling(&self) -> Duration {
        let factor = 1u32.checked_shl(self.attempt.min(20)).unwrap_or(u32::MAX);
        self.min.saturating_mul(factor).min(self.max)
    }

    /// The next delay, drawn uniformly from [min/2, ceiling] with `unit` in [0, 1).
    pub fn next_with(&mut self, unit: f64) -> Duration {
        let ceiling = self.ceiling();
        self.attempt = self.attempt.saturating_add(1);
        let floor = self.min / 2;
        let span = ceiling.saturating_sub(floor);
        floor + span.mul_f64(unit.clamp(0.0, 1.0))
    }

    pub fn next_delay(&mut self) -> Duration {
        self.next_with(rand::random::<f64>())
    }

    pub fn reset(&mut self) {
        self.attempt = 0;
    }

    pub fn attempts(&self) -> u32 {
        self.attempt
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn delays_grow_exponentially_up_to_the_cap_and_reset() {
        let mut b = Backoff::new(Duration::from_secs(1), Duration::from_secs(30));
        let ceilings: Vec<u64> = (0..7)
            .map(|_| {
                let c = b.ceiling().as_secs();
                b.next_with(0.5);
                c
            })
            .collect();
        assert_eq!(ceilings, vec![1, 2, 4, 8, 16, 30, 30]);
        b.reset();
        assert_eq!(b.ceiling(), Duration::from_secs(1));
    }

    #[test]
    fn jitter_stays_within_its_bounds() {
        let mut b = Backoff::new(Duration::from_secs(2), Duration::from_secs(60));
        for _ in 0..5 {
            b.next_with(0.0);
        }
        let ceiling = b.ceiling();
        assert_eq!(b.clone().next_with(0.0), Duration::from_secs(1));
        assert_eq!(b.clone().next_with(1.0), ceiling);
        for _ in 0..100 {
            let d = b.clone().next_delay();
            assert!(d >= Duration::from_secs(1) && d <= ceiling);
        }
    }
}
