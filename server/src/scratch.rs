//! Throw-away directories (the ephemeral database, the demo's asset files) that do not outlive their process.
//!
//! A directory is deleted when its owner drops it, but a process that is killed, or that keeps its server in a
//! `static` (test binaries), never runs that drop. So each directory records its owner's process id, and
//! creating a new one first deletes those of the same kind whose owner is gone (on Linux, where `/proc` tells).

use std::io;
use std::path::Path;

use tempfile::TempDir;

/// The file inside a scratch directory naming the process that owns it.
const OWNER_FILE: &str = ".tilebox-owner-pid";

/// A fresh directory named `prefix…` in the system's temporary directory, after deleting stale ones.
pub(crate) fn scratch_dir(prefix: &str) -> io::Result<TempDir> {
    sweep_stale(&std::env::temp_dir(), prefix);
    let dir = tempfile::Builder::new().prefix(prefix).tempdir()?;
    std::fs::write(dir.path().join(OWNER_FILE), std::process::id().to_string())?;
    Ok(dir)
}

/// Deletes the directories `prefix…` in `parent` whose owning process no longer runs. Directories without an
/// owner file (one being created right now) are left alone; failures are ignored (another process may be
/// sweeping the same directory).
fn sweep_stale(parent: &Path, prefix: &str) {
    let Ok(entries) = std::fs::read_dir(parent) else {
        return;
    };
    for entry in entries.flatten() {
        if !entry.file_name().to_string_lossy().starts_with(prefix) {
            continue;
        }
        let Ok(owner) = std::fs::read_to_string(entry.path().join(OWNER_FILE)) else {
            continue;
        };
        if owner
            .trim()
            .parse::<u32>()
            .is_ok_and(|pid| !process_runs(pid))
        {
            let _ = std::fs::remove_dir_all(entry.path());
        }
    }
}

/// Whether process `pid` exists (always assumed where this cannot be told).
fn process_runs(pid: u32) -> bool {
    if cfg!(target_os = "linux") {
        Path::new("/proc").join(pid.to_string()).exists()
    } else {
        true
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used, clippy::expect_used)]

    use super::*;

    #[test]
    fn stale_directories_are_swept_live_and_unowned_ones_kept() {
        let parent = tempfile::tempdir().unwrap();
        let make = |name: &str, owner: Option<String>| {
            let dir = parent.path().join(name);
            std::fs::create_dir(&dir).unwrap();
            std::fs::write(dir.join("tilebox.db"), b"data").unwrap();
            if let Some(owner) = owner {
                std::fs::write(dir.join(OWNER_FILE), owner).unwrap();
            }
            dir
        };
        let live = make("kind-live", Some(std::process::id().to_string()));
        let unowned = make("kind-unowned", None);
        let other_kind = make("other-dead", Some(u32::MAX.to_string()));
        let dead = make("kind-dead", Some(u32::MAX.to_string()));
        sweep_stale(parent.path(), "kind-");
        assert!(live.exists() && unowned.exists() && other_kind.exists());
        assert_eq!(dead.exists(), !cfg!(target_os = "linux"));
    }
}
