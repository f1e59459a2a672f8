//! The retry policy: which failures are retried, how often, and how long to wait in between.
//!
//! Defaults follow the official clients' gRPC service config: 5 attempts in total, exponential back-off
//! starting at 20 ms, multiplied by 3 per retry and capped at 5 s, with *full jitter* (each wait is drawn
//! uniformly from `[0, cap]`). The waiting itself goes through the adapter's [`AsyncSleep`](crate::AsyncSleep),
//! so the policy is testable with a fake clock.

use std::time::Duration;

use crate::error::Error;

/// How failed calls are retried. Build one with [`RetryPolicy::builder`], or use the default.
#[derive(Debug, Clone, PartialEq)]
pub struct RetryPolicy {
    max_attempts: u32,
    initial_backoff: Duration,
    multiplier: f64,
    max_backoff: Duration,
    jitter: bool,
}

impl Default for RetryPolicy {
    fn default() -> Self {
        RetryPolicy {
            max_attempts: 5,
            initial_backoff: Duration::from_millis(20),
            multiplier: 3.0,
            max_backoff: Duration::from_secs(5),
            jitter: true,
        }
    }
}

impl RetryPolicy {
    /// A builder starting from the defaults.
    pub fn builder() -> RetryPolicyBuilder {
        RetryPolicyBuilder {
            policy: RetryPolicy::default(),
        }
    }

    /// A policy that never retries (one attempt).
    pub fn none() -> Self {
        RetryPolicy {
            max_attempts: 1,
            ..RetryPolicy::default()
        }
    }

    /// The total number of attempts, including the first (at least 1).
    pub fn max_attempts(&self) -> u32 {
        self.max_attempts
    }

    /// The back-off cap before the first retry.
    pub fn initial_backoff(&self) -> Duration {
        self.initial_backoff
    }

    /// The factor by which the cap grows per retry.
    pub fn multiplier(&self) -> f64 {
        self.multiplier
    }

    /// The largest back-off.
    pub fn max_backoff(&self) -> Duration {
        self.max_backoff
    }

    /// Whether waits are drawn uniformly from `[0, cap]` (full jitter) or equal the cap.
    pub fn jitter(&self) -> bool {
        self.jitter
    }

    /// The upper bound of the wait before retry number `retry` (1 = the wait after the first failed attempt):
    /// `min(initial · multiplier^(retry-1), max)`.
    pub fn backoff_cap(&self, retry: u32) -> Duration {
        let exp = i32::try_from(retry.saturating_sub(1)).unwrap_or(i32::MAX);
        let secs = self.initial_backoff.as_secs_f64() * self.multiplier.powi(exp);
        let max = self.max_backoff.as_secs_f64();
        if !secs.is_finite() || secs >= max {
            self.max_backoff
        } else {
            Duration::from_secs_f64(secs.max(0.0))
        }
    }

    /// The wait before retry number `retry`, given a uniform random number `unit` in `[0, 1)`: the cap scaled
    /// by `unit` with full jitter, the cap itself without.
    pub fn backoff(&self, retry: u32, unit: f64) -> Duration {
        let cap = self.backoff_cap(retry);
        if self.jitter {
            cap.mul_f64(unit.clamp(0.0, 1.0))
        } else {
            cap
        }
    }

    /// Whether `error` may go away when the same request is sent again: `unavailable`, `resource_exhausted`,
    /// HTTP 429/502/503/504 without a Connect body (all [`Error::Unavailable`]), and retryable transport
    /// failures. Never `invalid_argument`, `not_found`, `unauthenticated`, `permission_denied` or any other
    /// code.
    pub fn is_retryable(error: &Error) -> bool {
        match error {
            Error::Unavailable { .. } => true,
            Error::Transport { source, .. } => source.is_retryable(),
            _ => false,
        }
    }

    /// Whether a failed call that is **not idempotent** (creating or deleting things, ingest that refuses
    /// existing datapoints) may be sent again: only when the request surely was not carried out, i.e. the
    /// server answered `unavailable`/`resource_exhausted` or no connection was made. A timeout or a broken
    /// connection may have lost the answer to a request that did happen, so those are not retried.
    pub fn is_retryable_unprocessed(error: &Error) -> bool {
        match error {
            Error::Unavailable { .. } => true,
            Error::Transport { source, .. } => matches!(source, crate::TransportError::Connect(_)),
            _ => false,
        }
    }
}

/// Whether repeating a call has the same effect as making it once; decides which failures are retried.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Idempotency {
    /// Reads and updates: every retryable failure is retried ([`RetryPolicy::is_retryable`]).
    Idempotent,
    /// Creates, deletes, strict ingest: only failures where the request was not carried out
    /// ([`RetryPolicy::is_retryable_unprocessed`]).
    NotIdempotent,
}

/// Builder of a [`RetryPolicy`].
#[derive(Debug, Clone)]
pub struct RetryPolicyBuilder {
    policy: RetryPolicy,
}

impl RetryPolicyBuilder {
    /// Total attempts including the first; values below 1 are treated as 1.
    pub fn max_attempts(mut self, attempts: u32) -> Self {
        self.policy.max_attempts = attempts.max(1);
        self
    }

    /// The back-off cap before the first retry.
    pub fn initial_backoff(mut self, backoff: Duration) -> Self {
        self.policy.initial_backoff = backoff;
        self
    }

    /// The growth factor per retry (values below 1 are treated as 1).
    pub fn multiplier(mut self, multiplier: f64) -> Self {
        self.policy.multiplier = if multiplier.is_finite() {
            multiplier.max(1.0)
        } else {
            1.0
        };
        self
    }

    /// The largest back-off.
    pub fn max_backoff(mut self, backoff: Duration) -> Self {
        self.policy.max_backoff = backoff;
        self
    }

    /// Full jitter on (default) or off (wait exactly the cap; deterministic, for tests).
    pub fn jitter(mut self, jitter: bool) -> Self {
        self.policy.jitter = jitter;
        self
    }

    /// The policy.
    pub fn build(self) -> RetryPolicy {
        self.policy
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn caps_grow_and_saturate() {
        let p = RetryPolicy::default();
        let caps: Vec<u128> = (1..=7).map(|r| p.backoff_cap(r).as_millis()).collect();
        assert_eq!(caps, vec![20, 60, 180, 540, 1620, 4860, 5000]);
        assert_eq!(p.backoff_cap(1000), Duration::from_secs(5));
        assert_eq!(p.backoff(2, 0.5), Duration::from_millis(30));
        assert_eq!(p.backoff(2, 0.0), Duration::ZERO);
    }
}
