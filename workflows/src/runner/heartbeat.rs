//! Lease extension for every task a runner holds, on one dedicated thread per run, so neither CPU-bound sync
//! tasks nor async tasks that hog the runner's executor can stop the heartbeat.
//!
//! The thread parks on the core's `block_on` (with the runner's tokio runtime entered when there is one) and
//! extends each lease when the server's recommended wait has passed. The leases held live in a registry
//! shared with the runner: starting a lease wakes the thread only when it is due before the thread's timer,
//! and stopping one never does (the timer finds nothing due and re-arms), so a busy runner does not pay a
//! thread wake-up and a new timer per task. A lease is kept until the runner says
//! its task was reported ([`Heartbeat::stop`]), so a report that waits out a server restart keeps its lease;
//! extension failures that may pass (connection refused, `unavailable`) are retried until the lease runs
//! out.

use std::collections::HashMap;
use std::sync::atomic::Ordering;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use futures::StreamExt;
use futures::channel::mpsc;
use futures::future::{Either, select};
use tilebox_core::RetryPolicy;
use tilebox_core::rpc::RpcClient;
use tilebox_core::wire::workflows::v1 as wf;
use uuid::Uuid;

use super::Stats;
use crate::client::id_msg;
use crate::runtime::TaskRuntime;

/// When a task's lease runs out, as far as the runner knows; shared by the heartbeat and the reporter.
#[derive(Clone, Debug)]
pub(crate) struct LeaseClock(Arc<Mutex<Instant>>);

impl LeaseClock {
    fn new(expires: Instant) -> Self {
        Self(Arc::new(Mutex::new(expires)))
    }

    /// The instant the lease expires.
    pub(crate) fn expires(&self) -> Instant {
        *self.0.lock().unwrap_or_else(|p| p.into_inner())
    }

    fn set(&self, expires: Instant) {
        *self.0.lock().unwrap_or_else(|p| p.into_inner()) = expires;
    }
}

/// The leases a runner holds, shared by the runner and the heartbeat thread.
#[derive(Default)]
struct Registry {
    held: HashMap<Uuid, Held>,
    /// When the heartbeat thread's timer fires (`None`: it waits for a wake-up only).
    armed: Option<Instant>,
}

type Shared = Arc<Mutex<Registry>>;

fn lock(shared: &Shared) -> std::sync::MutexGuard<'_, Registry> {
    shared.lock().unwrap_or_else(|p| p.into_inner())
}

/// Handle of the heartbeat thread; dropping it ends the thread.
pub(crate) struct Heartbeat {
    shared: Shared,
    wake: mpsc::UnboundedSender<()>,
}

pub(crate) fn std_dur(d: Option<&prost_types::Duration>) -> Duration {
    d.and_then(|d| {
        Some(Duration::new(
            u64::try_from(d.seconds).ok()?,
            u32::try_from(d.nanos).ok()?,
        ))
    })
    .unwrap_or_default()
}

fn prost_dur(d: Duration) -> prost_types::Duration {
    prost_types::Duration {
        seconds: i64::try_from(d.as_secs()).unwrap_or(i64::MAX),
        nanos: i32::try_from(d.subsec_nanos()).unwrap_or(0),
    }
}

impl Heartbeat {
    pub(crate) fn spawn(
        rpc: RpcClient,
        stats: Arc<Stats>,
        runtime: TaskRuntime,
    ) -> std::io::Result<Self> {
        let (wake, rx) = mpsc::unbounded();
        let shared = Shared::default();
        let registry = Arc::clone(&shared);
        std::thread::Builder::new()
            .name("tilebox-lease-heartbeat".into())
            .spawn(move || {
                let _entered = runtime.enter();
                tilebox_core::block_on(run(rpc, stats, registry, rx));
            })?;
        Ok(Self { shared, wake })
    }

    /// Start extending `task`'s lease; returns the clock of its expiry.
    pub(crate) fn start(&self, task: Uuid, lease: Option<&wf::TaskLease>) -> LeaseClock {
        let lease_d = std_dur(lease.and_then(|l| l.lease.as_ref()));
        let wait = std_dur(lease.and_then(|l| l.recommended_wait_until_next_extension.as_ref()));
        let now = Instant::now();
        let clock = LeaseClock::new(now + lease_d);
        if !lease_d.is_zero() {
            let next = now + next_wait(lease_d, wait);
            let mut registry = lock(&self.shared);
            registry.held.insert(
                task,
                Held {
                    lease: lease_d,
                    next,
                    clock: clock.clone(),
                },
            );
            if registry.armed.is_none_or(|armed| next < armed) {
                registry.armed = Some(next);
                drop(registry);
                let _ = self.wake.unbounded_send(());
            }
        }
        clock
    }

    /// Stop extending `task`'s lease.
    pub(crate) fn stop(&self, task: Uuid) {
        lock(&self.shared).held.remove(&task);
    }
}

struct Held {
    lease: Duration,
    next: Instant,
    clock: LeaseClock,
}

fn next_wait(lease: Duration, recommended: Duration) -> Duration {
    if recommended.is_zero() {
        lease / 2
    } else {
        recommended
    }
}

async fn run(
    rpc: RpcClient,
    stats: Arc<Stats>,
    shared: Shared,
    mut wake: mpsc::UnboundedReceiver<()>,
) {
    let sleeper = Arc::clone(rpc.sleeper());
    loop {
        let next = {
            let mut registry = lock(&shared);
            registry.armed = registry.held.values().map(|h| h.next).min();
            registry.armed
        };
        let timer = match next {
            Some(next) => {
                Either::Left(sleeper.sleep(next.saturating_duration_since(Instant::now())))
            }
            None => Either::Right(futures::future::pending::<()>()),
        };
        match select(wake.next(), timer).await {
            Either::Left((None, _)) => return,
            Either::Left((Some(()), _)) => {}
            Either::Right(((), _)) => {
                let now = Instant::now();
                let due: Vec<(Uuid, Duration)> = lock(&shared)
                    .held
                    .iter()
                    .filter(|(_, h)| h.next <= now)
                    .map(|(id, h)| (*id, h.lease))
                    .collect();
                if due.is_empty() {
                    continue;
                }
                let results = futures::future::join_all(due.into_iter().map(|(task, lease)| {
                    let rpc = rpc.clone();
                    async move {
                        let req = wf::TaskLeaseRequest {
                            task_id: Some(id_msg(task)),
                            requested_lease: Some(prost_dur(lease * 2)),
                        };
                        (task, rpc.extend_task_lease(req).await)
                    }
                }))
                .await;
                let mut registry = lock(&shared);
                let held = &mut registry.held;
                for (task, result) in results {
                    // A Stop may have arrived meanwhile: then the entry is gone.
                    let Some(h) = held.get_mut(&task) else {
                        continue;
                    };
                    match result {
                        Ok(l) if !std_dur(l.lease.as_ref()).is_zero() => {
                            stats.extensions_granted.fetch_add(1, Ordering::Relaxed);
                            let lease = std_dur(l.lease.as_ref());
                            let wait = std_dur(l.recommended_wait_until_next_extension.as_ref());
                            let now = Instant::now();
                            h.clock.set(now + lease);
                            h.lease = lease;
                            h.next = now + next_wait(lease, wait);
                        }
                        Ok(_) => {
                            tracing::debug!(%task, "lease extension not granted; stop extending");
                            held.remove(&task);
                        }
                        Err(e) if RetryPolicy::is_retryable(&e) => {
                            // The server may be restarting: try again while the lease lasts.
                            let left = h.clock.expires().saturating_duration_since(Instant::now());
                            if left.is_zero() {
                                tracing::warn!(%task, error = %e, "lease extension failed until the lease ran out");
                                held.remove(&task);
                            } else {
                                h.next = Instant::now() + (left / 4).min(Duration::from_secs(1));
                            }
                        }
                        Err(e) => {
                            tracing::warn!(%task, error = %e, "lease extension failed; stop extending");
                            held.remove(&task);
                        }
                    }
                }
            }
        }
    }
}
