//! Delays between reconnection attempts: exponential, capped, with jitter.
//!
//! The delay after the n-th failed attempt in a row is `initial * multiplier^(n-1)`, capped at
//! `max`, then spread by ±`jitter` (a fraction) so that many clients cut off by the same PBX
//! restart do not all knock again in the same millisecond. A failed *login* counts as a
//! failed attempt too: a PBX that keeps refusing us is asked less and less often, never in a
//! hot loop. The count starts over only after a session that stayed up long enough
//! ([`Backoff::healthy_after`]) — a session that dies right after login is not progress.

use rand::Rng;
use std::time::Duration;

/// Reconnection policy.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct Backoff {
    /// Delay after the first failure.
    pub initial: Duration,
    /// Cap on the delay.
    pub max: Duration,
    /// Growth factor per consecutive failure (≥ 1).
    pub multiplier: f64,
    /// Random spread as a fraction of the delay, 0.0 ..= 1.0 (0.2 = ±20 %).
    pub jitter: f64,
    /// A session that stayed connected this long resets the delay to `initial`.
    pub healthy_after: Duration,
}

impl Default for Backoff {
    /// 500 ms, doubling, capped at 30 s, ±20 %; healthy after 30 s.
    fn default() -> Backoff {
        Backoff {
            initial: Duration::from_millis(500),
            max: Duration::from_secs(30),
            multiplier: 2.0,
            jitter: 0.2,
            healthy_after: Duration::from_secs(30),
        }
    }
}

/// Where a client stands in its backoff sequence.
#[derive(Clone, Debug)]
pub struct BackoffState {
    policy: Backoff,
    failures: u32,
}

impl BackoffState {
    /// A fresh sequence.
    pub fn new(policy: Backoff) -> BackoffState {
        BackoffState {
            policy,
            failures: 0,
        }
    }

    /// The delay before the next attempt, without jitter, and counts one more failure.
    pub fn next_base(&mut self) -> Duration {
        let p = &self.policy;
        let factor = p.multiplier.max(1.0).powi(self.failures.min(64) as i32);
        let base = p.initial.as_secs_f64() * factor;
        self.failures = self.failures.saturating_add(1);
        Duration::from_secs_f64(base.min(p.max.as_secs_f64()).max(0.0))
    }

    /// The delay before the next attempt, jitter included, and counts one more failure.
    pub fn next_delay(&mut self) -> Duration {
        let base = self.next_base();
        let j = self.policy.jitter.clamp(0.0, 1.0);
        if j == 0.0 || base.is_zero() {
            return base;
        }
        let spread = rand::rng().random_range(1.0 - j..=1.0 + j);
        Duration::from_secs_f64(base.as_secs_f64() * spread)
    }

    /// Consecutive failures counted so far.
    pub fn failures(&self) -> u32 {
        self.failures
    }

    /// Back to `initial`: a healthy session happened.
    pub fn reset(&mut self) {
        self.failures = 0;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn grows_exponentially_up_to_the_cap_and_resets() {
        let mut b = BackoffState::new(Backoff {
            initial: Duration::from_millis(100),
            max: Duration::from_millis(1000),
            multiplier: 2.0,
            jitter: 0.0,
            healthy_after: Duration::from_secs(1),
        });
        let got: Vec<u128> = (0..6).map(|_| b.next_delay().as_millis()).collect();
        assert_eq!(got, [100, 200, 400, 800, 1000, 1000]);
        b.reset();
        assert_eq!(b.next_delay(), Duration::from_millis(100));
    }

    #[test]
    fn jitter_stays_within_its_fraction_and_varies() {
        let policy = Backoff {
            initial: Duration::from_secs(1),
            max: Duration::from_secs(1),
            multiplier: 2.0,
            jitter: 0.25,
            healthy_after: Duration::from_secs(1),
        };
        let mut b = BackoffState::new(policy);
        let delays: Vec<Duration> = (0..200).map(|_| b.next_delay()).collect();
        assert!(delays
            .iter()
            .all(|d| *d >= Duration::from_millis(750) && *d <= Duration::from_millis(1250)));
        let distinct: std::collections::BTreeSet<_> = delays.iter().collect();
        assert!(distinct.len() > 10, "jitter spreads the delays");
    }

    #[test]
    fn no_overflow_after_many_failures() {
        let mut b = BackoffState::new(Backoff::default());
        for _ in 0..10_000 {
            assert!(b.next_base() <= Backoff::default().max);
        }
    }
}
