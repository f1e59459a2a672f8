//! Job caches: a runner-side key/value store scoped per job (the server is not involved).
//!
//! [`InMemoryCache`] serves one runner process; [`LocalFileSystemCache`] is shared by every runner on a
//! machine (or a shared volume) and uses the Python SDK's layout `root/<job id>/<key>`.

use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};

use crate::error::{Result, WorkflowsError};

/// A key/value store for bytes. Keys are `/`-separated paths.
pub trait JobCache: Send + Sync + 'static {
    /// The value under `key`, if any.
    fn get(&self, key: &str) -> Result<Option<Vec<u8>>>;
    /// Store `value` under `key` (replacing an existing value).
    fn put(&self, key: &str, value: &[u8]) -> Result<()>;
    /// Whether `key` holds a value.
    fn contains(&self, key: &str) -> Result<bool> {
        Ok(self.get(key)?.is_some())
    }
}

pub(crate) fn check_key(key: &str) -> Result<()> {
    if key.is_empty()
        || key
            .split('/')
            .any(|p| p.is_empty() || p == "." || p == "..")
    {
        return Err(WorkflowsError::Cache(format!(
            "invalid key {key:?}: use non-empty `/`-separated parts without `.` or `..`"
        )));
    }
    Ok(())
}

/// An in-process cache (only useful when a single runner process executes the whole job).
#[derive(Debug, Default, Clone)]
pub struct InMemoryCache {
    map: Arc<Mutex<HashMap<String, Vec<u8>>>>,
}

impl InMemoryCache {
    /// An empty cache.
    pub fn new() -> Self {
        Self::default()
    }

    /// Every key currently stored (full keys, including the job prefix).
    pub fn keys(&self) -> Vec<String> {
        let mut keys: Vec<String> = self
            .map
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .keys()
            .cloned()
            .collect();
        keys.sort();
        keys
    }
}

impl JobCache for InMemoryCache {
    fn get(&self, key: &str) -> Result<Option<Vec<u8>>> {
        check_key(key)?;
        Ok(self
            .map
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .get(key)
            .cloned())
    }

    fn put(&self, key: &str, value: &[u8]) -> Result<()> {
        check_key(key)?;
        self.map
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .insert(key.to_owned(), value.to_vec());
        Ok(())
    }
}

/// A cache in a local directory: `root/<key path>`. Writes go to a temporary file that is renamed into place,
/// so concurrent readers never see partial values.
#[derive(Debug, Clone)]
pub struct LocalFileSystemCache {
    root: PathBuf,
}

impl LocalFileSystemCache {
    /// A cache under `root` (created on first write).
    pub fn new(root: impl Into<PathBuf>) -> Self {
        Self { root: root.into() }
    }

    /// The root directory.
    pub fn root(&self) -> &Path {
        &self.root
    }

    fn path(&self, key: &str) -> Result<PathBuf> {
        check_key(key)?;
        Ok(key
            .split('/')
            .fold(self.root.clone(), |p, part| p.join(part)))
    }
}

impl JobCache for LocalFileSystemCache {
    fn get(&self, key: &str) -> Result<Option<Vec<u8>>> {
        match std::fs::read(self.path(key)?) {
            Ok(v) => Ok(Some(v)),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(None),
            Err(e) => Err(e.into()),
        }
    }

    fn put(&self, key: &str, value: &[u8]) -> Result<()> {
        let path = self.path(key)?;
        let dir = path.parent().unwrap_or(&self.root);
        std::fs::create_dir_all(dir)?;
        let tmp = dir.join(format!(".tmp-{}", uuid::Uuid::new_v4()));
        std::fs::write(&tmp, value)?;
        std::fs::rename(&tmp, &path)?;
        Ok(())
    }
}

/// A view of a cache under a key prefix (a job's cache is the group named after the job id).
#[derive(Clone)]
pub struct CacheGroup {
    cache: Arc<dyn JobCache>,
    prefix: String,
}

impl std::fmt::Debug for CacheGroup {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("CacheGroup")
            .field("prefix", &self.prefix)
            .finish_non_exhaustive()
    }
}

impl CacheGroup {
    /// A view of `cache` under `prefix`.
    pub fn new(cache: Arc<dyn JobCache>, prefix: impl Into<String>) -> Self {
        Self {
            cache,
            prefix: prefix.into(),
        }
    }

    /// The group a job's tasks see through `ctx.job_cache()` (prefix = the job id), e.g. to read results
    /// after the job finished.
    pub fn for_job(cache: Arc<dyn JobCache>, job: uuid::Uuid) -> Self {
        Self::new(cache, job.to_string())
    }

    fn key(&self, key: &str) -> String {
        format!("{}/{key}", self.prefix)
    }

    /// The value under `key` in this group.
    pub fn get(&self, key: &str) -> Result<Option<Vec<u8>>> {
        self.cache.get(&self.key(key))
    }

    /// Store `value` under `key` in this group.
    pub fn put(&self, key: &str, value: impl AsRef<[u8]>) -> Result<()> {
        self.cache.put(&self.key(key), value.as_ref())
    }

    /// Whether `key` exists in this group.
    pub fn contains(&self, key: &str) -> Result<bool> {
        self.cache.contains(&self.key(key))
    }

    /// A nested group `prefix/name`.
    pub fn group(&self, name: &str) -> Result<CacheGroup> {
        check_key(name)?;
        Ok(CacheGroup {
            cache: Arc::clone(&self.cache),
            prefix: self.key(name),
        })
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;

    #[test]
    fn fs_cache_layout_and_groups() {
        let dir = tempfile::tempdir().unwrap();
        let cache: Arc<dyn JobCache> = Arc::new(LocalFileSystemCache::new(dir.path()));
        let job = CacheGroup::new(cache, "0199-job");
        job.put("a", b"1").unwrap();
        job.group("sub").unwrap().put("b", "2").unwrap();
        assert_eq!(std::fs::read(dir.path().join("0199-job/a")).unwrap(), b"1");
        assert_eq!(job.get("sub/b").unwrap().unwrap(), b"2");
        assert!(!job.contains("missing").unwrap());
        assert!(job.put("../escape", b"x").is_err());
    }

    #[test]
    fn memory_cache() {
        let c = InMemoryCache::new();
        c.put("j/k", b"v").unwrap();
        assert_eq!(c.get("j/k").unwrap().unwrap(), b"v");
        assert_eq!(c.keys(), vec!["j/k".to_owned()]);
    }
}
