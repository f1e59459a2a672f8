//! Lease extension on a dedicated OS thread with its own current-thread runtime, so neither a CPU-bound sync
//! task nor an async task that blocks every worker can stop the heartbeat.

use std::sync::Arc;
use std::sync::atomic::Ordering;
use std::time::Duration;

use tilebox_core::rpc::RpcClient;
use tilebox_core::wire::workflows::v1 as wf;
use tokio::sync::mpsc;
use tokio::time::Instant;
use uuid::Uuid;

use super::Stats;
use crate::client::id_msg;

pub(crate) enum Beat {
    /// A task was claimed with this lease and recommended wait.
    Start {
        task: Uuid,
        lease: Duration,
        wait: Duration,
    },
    /// The task finished: stop extending.
    Stop,
}

/// Handle of the heartbeat thread; dropping it ends the thread.
pub(crate) struct Heartbeat {
    tx: mpsc::UnboundedSender<Beat>,
}

fn prost_dur(d: Duration) -> prost_types::Duration {
    prost_types::Duration {
        seconds: d.as_secs() as i64,
        nanos: d.subsec_nanos() as i32,
    }
}

fn std_dur(d: Option<&prost_types::Duration>) -> Duration {
    d.and_then(|d| {
        Some(Duration::new(
            u64::try_from(d.seconds).ok()?,
            u32::try_from(d.nanos).ok()?,
        ))
    })
    .unwrap_or_default()
}

impl Heartbeat {
    pub(crate) fn spawn(rpc: RpcClient, stats: Arc<Stats>) -> std::io::Result<Self> {
        let (tx, rx) = mpsc::unbounded_channel();
        let runtime = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()?;
        std::thread::Builder::new()
            .name("tilebox-lease-heartbeat".into())
            .spawn(move || runtime.block_on(run(rpc, stats, rx)))?;
        Ok(Self { tx })
    }

    pub(crate) fn start(&self, task: Uuid, lease: Option<&wf::TaskLease>) {
        let lease_d = std_dur(lease.and_then(|l| l.lease.as_ref()));
        let wait = std_dur(lease.and_then(|l| l.recommended_wait_until_next_extension.as_ref()));
        if lease_d.is_zero() {
            return;
        }
        let _ = self.tx.send(Beat::Start {
            task,
            lease: lease_d,
            wait,
        });
    }

    pub(crate) fn stop(&self) {
        let _ = self.tx.send(Beat::Stop);
    }
}

async fn run(rpc: RpcClient, stats: Arc<Stats>, mut rx: mpsc::UnboundedReceiver<Beat>) {
    let mut current: Option<(Uuid, Duration, Instant)> = None;
    loop {
        let deadline = current.map(|c| c.2);
        tokio::select! {
            msg = rx.recv() => match msg {
                None => return,
                Some(Beat::Start { task, lease, wait }) => {
                    let wait = if wait.is_zero() { lease / 2 } else { wait };
                    current = Some((task, lease, Instant::now() + wait));
                }
                Some(Beat::Stop) => current = None,
            },
            () = async {
                match deadline {
                    Some(d) => tokio::time::sleep_until(d).await,
                    None => std::future::pending().await,
                }
            } => {
                let Some((task, lease, _)) = current else { continue };
                let req = wf::TaskLeaseRequest { task_id: Some(id_msg(task)), requested_lease: Some(prost_dur(lease * 2)) };
                let resp: Result<wf::TaskLease, _> = rpc.call("workflows.v1.TaskService/ExtendTaskLease", &req).await;
                // A Stop may have arrived meanwhile; only keep extending the same task.
                if current.map(|c| c.0) != Some(task) {
                    continue;
                }
                match resp {
                    Ok(l) if l.lease.is_some() && !std_dur(l.lease.as_ref()).is_zero() => {
                        stats.extensions_granted.fetch_add(1, Ordering::Relaxed);
                        let lease = std_dur(l.lease.as_ref());
                        let mut wait = std_dur(l.recommended_wait_until_next_extension.as_ref());
                        if wait.is_zero() {
                            wait = lease / 2;
                        }
                        current = Some((task, lease, Instant::now() + wait));
                    }
                    Ok(_) => {
                        tracing::debug!(%task, "lease extension not granted; stop extending");
                        current = None;
                    }
                    Err(e) => {
                        tracing::warn!(%task, error = %e, "lease extension failed; stop extending");
                        current = None;
                    }
                }
            }
        }
    }
}
