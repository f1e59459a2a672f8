//! Values both workflows backends read and write the same way: times in microseconds, 16-byte ids (and new
//! UUIDv7 ones), task states from their stored numbers, and where inserted task groups hang.

use std::ops::Bound;
use std::sync::Mutex;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use tilebox_core::wire::workflows::v1::TaskState;

use super::{NewGroup, WfResult, WorkflowsStoreError};
use crate::store::{RawId, StoreError};

/// One end of a query range as SQL: `column <operator> value`, `None` when the end is open (`lower`: the
/// range's start, else its end).
pub(super) fn range_end<T>(bound: Bound<T>, lower: bool) -> Option<(&'static str, T)> {
    match (bound, lower) {
        (Bound::Unbounded, _) => None,
        (Bound::Included(v), true) => Some((">=", v)),
        (Bound::Excluded(v), true) => Some((">", v)),
        (Bound::Included(v), false) => Some(("<=", v)),
        (Bound::Excluded(v), false) => Some(("<", v)),
    }
}

/// Microseconds since the Unix epoch.
pub(super) fn now_us() -> i64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| i64::try_from(d.as_micros()).unwrap_or(i64::MAX))
        .unwrap_or(0)
}

/// A duration in microseconds (saturating).
pub(super) fn dur_us(d: Duration) -> i64 {
    i64::try_from(d.as_micros()).unwrap_or(i64::MAX)
}

/// A 16-byte id from a BLOB / BYTEA column.
pub(super) fn raw_id(v: &[u8]) -> WfResult<RawId> {
    v.try_into().map_err(|_| {
        WorkflowsStoreError::Store(StoreError::Corrupt(format!(
            "stored id has {} bytes, expected 16",
            v.len()
        )))
    })
}

/// A task state from an INTEGER column.
pub(super) fn task_state(v: i64) -> WfResult<TaskState> {
    i32::try_from(v)
        .ok()
        .and_then(|v| TaskState::try_from(v).ok())
        .ok_or_else(|| {
            WorkflowsStoreError::Store(StoreError::Corrupt(format!("unknown task state {v}")))
        })
}

/// Formats an id for messages.
pub(super) fn fmt_id(id: &RawId) -> String {
    uuid::Uuid::from_bytes(*id).to_string()
}

/// The error of a task id that names no task.
pub(super) fn task_not_found(id: &RawId) -> WorkflowsStoreError {
    WorkflowsStoreError::NotFound(format!("task {} not found", fmt_id(id)))
}

/// Hands out UUIDv7 ids, each strictly greater than every id it handed out before (ids of different
/// processes are ordered by their millisecond only).
#[derive(Debug, Default)]
pub(super) struct IdGenerator {
    last: Mutex<u128>,
}

impl IdGenerator {
    /// The next id.
    pub(super) fn next(&self) -> RawId {
        let ms = (now_us() / 1000) as u128;
        let rand = u128::from_be_bytes(*uuid::Uuid::new_v4().as_bytes());
        // 48-bit ms | version 7 | 12 random bits | variant 10 | 62 random bits
        let mut v = (ms & 0xFFFF_FFFF_FFFF) << 80;
        v |= 0x7u128 << 76;
        v |= (rand >> 64 & 0xFFF) << 64;
        v |= 0b10u128 << 62;
        v |= rand & 0x3FFF_FFFF_FFFF_FFFF;
        let mut last = self.last.lock().unwrap_or_else(|p| p.into_inner());
        if v <= *last {
            v = *last + 1;
        }
        *last = v;
        v.to_be_bytes()
    }
}

/// Where inserted task groups hang.
pub(super) struct Parent {
    /// The job.
    pub(super) job: RawId,
    /// The parent task, `None` for root tasks.
    pub(super) task: Option<RawId>,
    /// Cluster of tasks that name none.
    pub(super) cluster: String,
    /// The optional scope the parent lies in.
    pub(super) scope: Option<RawId>,
    /// The parent's optional scope failed: new tasks are skipped at once.
    pub(super) skip: bool,
}

/// The clusters the tasks of `groups` name, each once, in first-named order.
pub(super) fn named_clusters(groups: &[NewGroup]) -> Vec<&str> {
    let mut named: Vec<&str> = Vec::new();
    for cluster in groups
        .iter()
        .flat_map(|g| &g.tasks)
        .filter_map(|t| t.cluster.as_deref())
    {
        if !named.contains(&cluster) {
            named.push(cluster);
        }
    }
    named
}

/// The error of a task naming a cluster that does not exist.
pub(super) fn unknown_cluster(cluster: &str) -> WorkflowsStoreError {
    WorkflowsStoreError::InvalidArgument(format!("cluster {cluster:?} does not exist"))
}
