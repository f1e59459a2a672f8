//! Timings of the workflows services (leases, idling, the lease reaper).

use std::time::Duration;

/// Timings of the workflows services. Production hands out 15 s leases; tests use short ones.
///
/// Leases should stay whole seconds of at least 2 s when Python runners take part (the Python SDK
/// truncates lease durations to seconds); Rust runners handle any length.
#[derive(Debug, Clone)]
pub struct WorkflowsConfig {
    pub(crate) lease: Duration,
    pub(crate) max_lease: Duration,
    pub(crate) idle: Duration,
    pub(crate) reaper_interval: Duration,
    pub(crate) max_lease_expiries: i64,
}

impl Default for WorkflowsConfig {
    fn default() -> Self {
        Self {
            lease: Duration::from_secs(15),
            max_lease: Duration::from_secs(300),
            idle: Duration::from_secs(1),
            reaper_interval: Duration::from_millis(500),
            max_lease_expiries: 10,
        }
    }
}

impl WorkflowsConfig {
    /// A builder starting from the defaults (15 s lease, 5 min max lease, 1 s idle, 500 ms reaper, 10 expiries).
    pub fn builder() -> WorkflowsConfigBuilder {
        WorkflowsConfigBuilder {
            config: Self::default(),
        }
    }
}

/// Builder of [`WorkflowsConfig`].
#[derive(Debug, Clone)]
pub struct WorkflowsConfigBuilder {
    config: WorkflowsConfig,
}

impl WorkflowsConfigBuilder {
    /// The lease handed out with every claimed task.
    pub fn lease(mut self, lease: Duration) -> Self {
        self.config.lease = lease;
        self
    }

    /// The longest lease an extension can grant.
    pub fn max_lease(mut self, max_lease: Duration) -> Self {
        self.config.max_lease = max_lease;
        self
    }

    /// The idling duration suggested to runners when no task is eligible (a little jitter is added).
    pub fn idle(mut self, idle: Duration) -> Self {
        self.config.idle = idle;
        self
    }

    /// How often expired leases are requeued in the background (they are also requeued on every task call).
    pub fn reaper_interval(mut self, interval: Duration) -> Self {
        self.config.reaper_interval = interval;
        self
    }

    /// How many lease expiries a task survives before it fails for good (default 10).
    pub fn max_lease_expiries(mut self, n: u32) -> Self {
        self.config.max_lease_expiries = i64::from(n);
        self
    }

    /// The finished configuration.
    pub fn build(self) -> WorkflowsConfig {
        self.config
    }
}
