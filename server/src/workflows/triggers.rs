//! Fires automations: every interval, due cron triggers (see [`super::schedule`] for the catch-up rule) and
//! new objects of storage locations.
//!
//! A local location is listed recursively each round; a cloud location (S3, GCS, Azure Blob, through
//! object_store, see [`super::object_stores`]) at most once per object-store interval. An object (a regular
//! file: its relative, `/`-separated path; a cloud object: its key) that has no event yet and whose
//! modification time is not before the second the location was created in is new: its event is recorded
//! once (several server processes may list the same location; the store keeps one event per location and
//! key, and only the transaction whose insert records it submits jobs) with one job per storage trigger
//! whose glob matches the key. A location that cannot be listed is logged and tried again next time.

use std::collections::{HashMap, HashSet};
use std::path::Path;
use std::sync::Arc;
use std::time::{Duration, Instant, UNIX_EPOCH};

use globset::Glob;
use object_store::ObjectStore;
use tilebox_core::wire::workflows::v1::StorageType;
use tokio::task::JoinHandle;

use super::object_stores::{self, StoreBuilder};
use super::schedule::Schedule;
use crate::store::RawId;
use crate::store::workflows::automations::{CronFiring, StorageLocationRecord};
use crate::store::workflows::{WfResult, WorkflowsStore};

/// Fires due cron triggers and new local objects every `interval` (at least 10 ms), and new objects of
/// cloud locations every `object_store_interval` (at least `interval`), until the returned task is aborted.
pub fn spawn_automation_firing(
    store: Arc<dyn WorkflowsStore>,
    interval: Duration,
    object_store_interval: Duration,
) -> JoinHandle<()> {
    let interval = interval.max(Duration::from_millis(10));
    tokio::spawn(async move {
        let mut watch = Watch::new(object_store_interval.max(interval));
        let mut tick = tokio::time::interval(interval);
        tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        loop {
            tick.tick().await;
            if let Err(e) = fire_cron(store.as_ref()).await {
                tracing::warn!(error = %e, "automations: cron triggers");
            }
            if let Err(e) = watch.round(store.as_ref()).await {
                tracing::warn!(error = %e, "automations: storage locations");
            }
        }
    })
}

/// Fires every due cron trigger once; returns how many jobs were submitted.
pub(crate) async fn fire_cron(store: &dyn WorkflowsStore) -> WfResult<usize> {
    let now = chrono::Utc::now().timestamp_micros();
    let mut fired = 0;
    for due in store.due_cron_triggers(now).await? {
        let Ok(schedule) = Schedule::parse(&due.schedule) else {
            tracing::warn!(schedule = %due.schedule, "automations: stored schedule no longer parses");
            continue;
        };
        let (Some(latest), Some(next)) = (schedule.latest_until(now), schedule.next_after(now))
        else {
            continue;
        };
        let firing = CronFiring {
            trigger_id: due.trigger_id,
            expected_next_us: due.next_at_us,
            trigger_time_us: latest.max(due.next_at_us),
            new_next_us: next,
        };
        if store.fire_cron(firing).await?.is_some() {
            fired += 1;
        }
    }
    Ok(fired)
}

/// What one process knows of the storage locations between rounds.
struct Watch {
    /// Object keys known per location (recorded, or older than the location).
    known: HashMap<RawId, HashSet<String>>,
    /// Stores of cloud locations, and when each was last listed.
    stores: HashMap<RawId, (Arc<dyn ObjectStore>, Option<Instant>)>,
    builder: StoreBuilder,
    object_store_interval: Duration,
}

impl Watch {
    fn new(object_store_interval: Duration) -> Self {
        Watch {
            known: HashMap::new(),
            stores: HashMap::new(),
            builder: StoreBuilder::new(),
            object_store_interval,
        }
    }

    /// Records the new objects of every location due for listing.
    async fn round(&mut self, store: &dyn WorkflowsStore) -> WfResult<()> {
        let locations = store.list_storage_locations().await?;
        self.known
            .retain(|id, _| locations.iter().any(|l| l.id == *id));
        self.stores
            .retain(|id, _| locations.iter().any(|l| l.id == *id));
        for location in locations {
            let Some(listed) = self.list(&location).await else {
                continue;
            };
            let known = match self.known.get_mut(&location.id) {
                Some(known) => known,
                None => {
                    let keys = store.storage_event_keys(location.id).await?;
                    self.known
                        .entry(location.id)
                        .or_insert(keys.into_iter().collect())
                }
            };
            // Modification times are coarse (S3 keeps whole seconds, file systems stamp from a clock that
            // lags by a tick): an object of the location's first second counts as new.
            let since = location.created_at_us - location.created_at_us.rem_euclid(1_000_000);
            let mut new = Vec::new();
            for (key, modified_us) in listed {
                if known.contains(&key) {
                    continue;
                }
                if modified_us < since {
                    known.insert(key);
                } else {
                    new.push((key, modified_us));
                }
            }
            if !new.is_empty() {
                record(store, &location, new, known).await?;
            }
        }
        Ok(())
    }

    /// The objects of a location, or `None` when it is not due (cloud) or cannot be listed (logged).
    async fn list(&mut self, location: &StorageLocationRecord) -> Option<Vec<(String, i64)>> {
        if location.storage_type == StorageType::Local as i32 {
            let root = location.location.clone();
            return tokio::task::spawn_blocking(move || list_files(Path::new(&root)))
                .await
                .ok();
        }
        let entry = match self.stores.entry(location.id) {
            std::collections::hash_map::Entry::Occupied(e) => e.into_mut(),
            std::collections::hash_map::Entry::Vacant(v) => match self.builder.build(location) {
                Ok(Some(built)) => v.insert((built, None)),
                Ok(None) => return None,
                Err(e) => {
                    tracing::warn!(location = %location.location, error = %e, "automations: storage location has no usable store");
                    return None;
                }
            },
        };
        if entry
            .1
            .is_some_and(|at| at.elapsed() < self.object_store_interval)
        {
            return None;
        }
        entry.1 = Some(Instant::now());
        match object_stores::list(entry.0.as_ref()).await {
            Ok(listed) => Some(listed),
            Err(e) => {
                tracing::warn!(location = %location.location, error = %e, "automations: listing a storage location");
                None
            }
        }
    }
}

/// Records new objects of a location with the triggers whose globs match them.
async fn record(
    store: &dyn WorkflowsStore,
    location: &StorageLocationRecord,
    new: Vec<(String, i64)>,
    known: &mut HashSet<String>,
) -> WfResult<()> {
    let mut triggers = Vec::new();
    for automation in store.list_automations().await? {
        for t in automation.storage {
            if t.location.id == location.id
                && let Ok(glob) = Glob::new(&t.glob_pattern)
            {
                triggers.push((t.id, glob.compile_matcher()));
            }
        }
    }
    for (key, modified_us) in new {
        let matching = triggers
            .iter()
            .filter(|(_, m)| m.is_match(&key))
            .map(|(id, _)| *id)
            .collect();
        store
            .record_storage_event(location.id, key.clone(), modified_us, matching)
            .await?;
        known.insert(key);
    }
    Ok(())
}

/// Regular files under `root` (recursively): `/`-separated relative path and modification time (µs).
fn list_files(root: &Path) -> Vec<(String, i64)> {
    let mut out = Vec::new();
    let mut dirs = vec![root.to_path_buf()];
    while let Some(dir) = dirs.pop() {
        let Ok(entries) = std::fs::read_dir(&dir) else {
            continue;
        };
        for entry in entries.flatten() {
            let Ok(meta) = entry.metadata() else { continue };
            let path = entry.path();
            if meta.is_dir() {
                dirs.push(path);
            } else if meta.is_file()
                && let Ok(relative) = path.strip_prefix(root)
            {
                let key = relative
                    .components()
                    .map(|c| c.as_os_str().to_string_lossy())
                    .collect::<Vec<_>>()
                    .join("/");
                let modified = meta
                    .modified()
                    .ok()
                    .and_then(|t| t.duration_since(UNIX_EPOCH).ok())
                    .map_or(0, |d| i64::try_from(d.as_micros()).unwrap_or(i64::MAX));
                out.push((key, modified));
            }
        }
    }
    out
}
