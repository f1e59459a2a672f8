//! Fires automations: every interval, due cron triggers (see [`super::schedule`] for the catch-up rule) and
//! new objects of `local` storage locations.
//!
//! A local location is listed recursively each round; a regular file whose path (relative, `/`-separated)
//! has no event yet and whose modification time is not before the location's creation is a new object: its
//! event is recorded once (several server processes may list the same directory; the store keeps one event
//! per path) with one job per storage trigger whose glob matches the path. Objects of cloud locations
//! (S3, GCS, Azure) are not watched by this server yet.

use std::collections::{HashMap, HashSet};
use std::path::Path;
use std::sync::Arc;
use std::time::{Duration, UNIX_EPOCH};

use globset::Glob;
use tilebox_core::wire::workflows::v1::StorageType;
use tokio::task::JoinHandle;

use super::schedule::Schedule;
use crate::store::RawId;
use crate::store::workflows::automations::{CronFiring, StorageLocationRecord};
use crate::store::workflows::{WfResult, WorkflowsStore};

/// Fires due cron triggers and new local objects every `interval` (at least 10 ms) until the returned task
/// is aborted.
pub fn spawn_automation_firing(
    store: Arc<dyn WorkflowsStore>,
    interval: Duration,
) -> JoinHandle<()> {
    let interval = interval.max(Duration::from_millis(10));
    tokio::spawn(async move {
        let mut seen = Seen::default();
        let mut tick = tokio::time::interval(interval);
        tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        loop {
            tick.tick().await;
            if let Err(e) = fire_cron(store.as_ref()).await {
                tracing::warn!(error = %e, "automations: cron triggers");
            }
            if let Err(e) = watch_local(store.as_ref(), &mut seen).await {
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

/// Object paths known per location (recorded, or older than the location).
#[derive(Default)]
struct Seen(HashMap<RawId, HashSet<String>>);

/// Records the new objects of every local location.
async fn watch_local(store: &dyn WorkflowsStore, seen: &mut Seen) -> WfResult<()> {
    let locations = store.list_storage_locations().await?;
    seen.0.retain(|id, _| locations.iter().any(|l| l.id == *id));
    for location in locations {
        if location.storage_type != StorageType::Local as i32 {
            continue;
        }
        let known = match seen.0.get_mut(&location.id) {
            Some(known) => known,
            None => {
                let keys = store.storage_event_keys(location.id).await?;
                seen.0
                    .entry(location.id)
                    .or_insert(keys.into_iter().collect())
            }
        };
        let root = location.location.clone();
        let listed = tokio::task::spawn_blocking(move || list_files(Path::new(&root)))
            .await
            .unwrap_or_default();
        let mut new = Vec::new();
        for (key, modified_us) in listed {
            if known.contains(&key) {
                continue;
            }
            if modified_us < location.created_at_us {
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
