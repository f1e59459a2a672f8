//! The retry policy: which failures are retried, how often, and how long to wait in between.
//!
//! Retries are bounded by a **time budget** rather than a small attempt count, so a load outlasts a server
//! restart of several seconds: by default a failing call is retried for up to 30 s (the budget counts the
//! back-off waits, or the wall time since the first attempt when that is larger), with exponential back-off
//! starting at 20 ms, multiplied by 3 per retry and capped at 2 s, with *full jitter* (each wait is drawn
//! uniformly from `[0, cap]`). The last wait is shortened to end exactly at the budget, then one final attempt
//! is made and its error returned. An attempt limit can be set as well (either limit ends the retries). The
//! waiting goes through the adapter's [`AsyncSleep`](crate::AsyncSleep), so the policy is testable with a fake
//! clock.

use std::sync::Arc;
use std::time::Duration;

use crate::error::Error;

/// How failed calls are retried. Build one with [`RetryPolicy::builder`], or use the default.
#[derive(Debug, Clone, PartialEq)]
pub struct RetryPolicy {
    max_attempts: u32,
    max_elapsed: Option<Duration>,
    initial_backoff: Duration,
    multiplier: f64,
    max_backoff: Duration,
    jitter: bool,
}

/// The default time budget of retries: long enough to carry a load through a server restart.
pub const DEFAULT_RETRY_BUDGET: Duration = Duration::from_secs(30);

impl Default for RetryPolicy {
    fn default() -> Self {
        RetryPolicy {
            max_attempts: u32::MAX,
            max_elapsed: Some(DEFAULT_RETRY_BUDGET),
            initial_backoff: Duration::from_millis(20),
            multiplier: 3.0,
            max_backoff: Duration::from_secs(2),
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
            max_elapsed: None,
            ..RetryPolicy::default()
        }
    }

    /// The total number of attempts, including the first (at least 1; `u32::MAX`, the default, means the
    /// time budget alone decides).
    pub fn max_attempts(&self) -> u32 {
        self.max_attempts
    }

    /// The time budget of retries: no wait extends past it (`None`: only the attempt limit applies).
    pub fn max_elapsed(&self) -> Option<Duration> {
        self.max_elapsed
    }

    /// The wait before retry number `retry` after `elapsed` time spent on the call so far, or `None` when a
    /// limit is reached and the call should fail now. The wait is `backoff(retry, unit)`, shortened so that
    /// it ends at the time budget.
    pub fn next_wait(&self, retry: u32, elapsed: Duration, unit: f64) -> Option<Duration> {
        if retry >= self.max_attempts {
            return None;
        }
        let wait = self.backoff(retry, unit);
        match self.max_elapsed {
            None => Some(wait),
            Some(budget) if elapsed >= budget => None,
            Some(budget) => Some(wait.min(budget - elapsed)),
        }
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
    /// Total attempts including the first; values below 1 are treated as 1 (default: unlimited, the time
    /// budget decides).
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

    /// The time budget of retries (default 30 s); `None` leaves only the attempt limit.
    pub fn max_elapsed(mut self, budget: Option<Duration>) -> Self {
        self.policy.max_elapsed = budget;
        self
    }

    /// The policy.
    pub fn build(self) -> RetryPolicy {
        self.policy
    }
}

/// One wait between attempts, as reported to progress listeners while a call is being retried.
#[derive(Debug, Clone, PartialEq)]
#[non_exhaustive]
pub struct RetryWait {
    /// The attempt that just failed (1 = the first).
    pub attempt: u32,
    /// How long the client waits before the next attempt.
    pub wait: Duration,
    /// Why the attempt failed.
    pub reason: String,
}

/// Receives every [`RetryWait`] of the calls it is attached to (see
/// [`RpcClient::with_retry_hook`](crate::RpcClient::with_retry_hook)).
pub type RetryHook = Arc<dyn Fn(&RetryWait) + Send + Sync>;

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn caps_grow_and_saturate() {
        let p = RetryPolicy::default();
        let caps: Vec<u128> = (1..=7).map(|r| p.backoff_cap(r).as_millis()).collect();
        assert_eq!(caps, vec![20, 60, 180, 540, 1620, 2000, 2000]);
        assert_eq!(p.backoff_cap(1000), Duration::from_secs(2));
        assert_eq!(p.backoff(2, 0.5), Duration::from_millis(30));
        assert_eq!(p.backoff(2, 0.0), Duration::ZERO);
    }

    #[test]
    fn waits_end_at_the_budget() {
        let p = RetryPolicy::builder()
            .jitter(false)
            .max_elapsed(Some(Duration::from_secs(1)))
            .build();
        assert_eq!(
            p.next_wait(1, Duration::ZERO, 0.5),
            Some(Duration::from_millis(20))
        );
        assert_eq!(
            p.next_wait(5, Duration::from_millis(900), 0.5),
            Some(Duration::from_millis(100))
        );
        assert_eq!(p.next_wait(5, Duration::from_secs(1), 0.5), None);
        let limited = RetryPolicy::builder().max_attempts(3).build();
        assert!(limited.next_wait(2, Duration::ZERO, 0.5).is_some());
        assert_eq!(limited.next_wait(3, Duration::ZERO, 0.5), None);
    }
}
