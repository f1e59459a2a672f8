//! [`ObjectStoreCache`]: a [`JobCache`] on any object-store URL — `s3://bucket/prefix`, `gs://…`, `az://…`,
//! `file:///dir` — through `tilebox-assets` (feature `object-store`).
//!
//! Layout: the value of `key` is the object `<url path>/<key>`, so a job's values live under
//! `<url path>/<job id>/…` ([`CacheGroup::for_job`](crate::CacheGroup::for_job)) — the layout of the
//! official Python client's `ObstoreCache` opened on the same URL, so Rust and Python runners share a
//! job's cache.
//!
//! The trait is synchronous; each call drives the store's future to completion on the calling thread with
//! the SDK's own [`block_on`](tilebox_core::block_on), so it may be called inside any executor (a `futures`
//! executor, a tokio runtime) without a nested-executor panic.
//! [`ObjectStoreCache::from_url`] therefore sends cloud requests through the blocking adapter's ureq
//! transport (its own I/O threads), which works from any thread, inside a runtime or not; local files
//! are read and written directly.

use std::sync::Arc;

use object_store::path::Path as ObjectPath;
use object_store::{GetOptions, ObjectStore, PutOptions, PutPayload};
use tilebox_assets::object_store;
use tilebox_core::Transport;

use crate::cache::{JobCache, check_key};
use crate::error::{Result, WorkflowsError};

/// A job cache in an object store.
#[derive(Clone)]
pub struct ObjectStoreCache {
    store: Arc<dyn ObjectStore>,
    prefix: ObjectPath,
}

impl std::fmt::Debug for ObjectStoreCache {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ObjectStoreCache")
            .field("store", &self.store.to_string())
            .field("prefix", &self.prefix.as_ref())
            .finish()
    }
}

fn cache_error(e: impl std::fmt::Display) -> WorkflowsError {
    WorkflowsError::Cache(e.to_string())
}

impl ObjectStoreCache {
    /// A cache at `url` (`s3://bucket/prefix`, `gs://bucket/prefix`, `az://container/prefix`,
    /// `file:///absolute/dir`). Cloud credentials come from the environment (object_store's `from_env`
    /// variables); buckets are read anonymously when there are none.
    pub fn from_url(url: &str) -> Result<Self> {
        let transport: Arc<dyn Transport> = Arc::new(tilebox_blocking::UreqTransport::new());
        Self::from_url_with(url, transport)
    }

    /// A cache at `url` sending cloud requests through `transport`. The transport must make progress
    /// while the calling thread blocks (a thread-based transport, or one driven by other threads).
    pub fn from_url_with(url: &str, transport: Arc<dyn Transport>) -> Result<Self> {
        if let Some(dir) = url.strip_prefix("file://") {
            std::fs::create_dir_all(dir).map_err(cache_error)?;
        }
        let (store, prefix) =
            tilebox_assets::store_for_url(url, transport, tilebox_assets::Credentials::Auto)
                .map_err(cache_error)?;
        Ok(ObjectStoreCache { store, prefix })
    }

    /// A cache in `store` under `prefix` (e.g. a store built by hand).
    pub fn new(store: Arc<dyn ObjectStore>, prefix: impl Into<ObjectPath>) -> Self {
        ObjectStoreCache {
            store,
            prefix: prefix.into(),
        }
    }

    fn path(&self, key: &str) -> Result<ObjectPath> {
        check_key(key)?;
        Ok(key
            .split('/')
            .fold(self.prefix.clone(), |path, part| path.join(part)))
    }
}

impl JobCache for ObjectStoreCache {
    fn get(&self, key: &str) -> Result<Option<Vec<u8>>> {
        let path = self.path(key)?;
        tilebox_core::block_on(async {
            match self.store.get_opts(&path, GetOptions::default()).await {
                Ok(result) => Ok(Some(result.bytes().await.map_err(cache_error)?.to_vec())),
                Err(object_store::Error::NotFound { .. }) => Ok(None),
                Err(e) => Err(cache_error(e)),
            }
        })
    }

    fn put(&self, key: &str, value: &[u8]) -> Result<()> {
        let path = self.path(key)?;
        let payload = PutPayload::from(value.to_vec());
        tilebox_core::block_on(self.store.put_opts(&path, payload, PutOptions::default()))
            .map(|_| ())
            .map_err(cache_error)
    }

    fn contains(&self, key: &str) -> Result<bool> {
        let path = self.path(key)?;
        tilebox_core::block_on(async {
            match self
                .store
                .get_opts(&path, GetOptions::new().with_head(true))
                .await
            {
                Ok(_) => Ok(true),
                Err(object_store::Error::NotFound { .. }) => Ok(false),
                Err(e) => Err(cache_error(e)),
            }
        })
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;
    use crate::CacheGroup;

    #[test]
    fn file_url_cache_shares_the_python_layout() {
        let dir = tempfile::tempdir().unwrap();
        let url = format!("file://{}/cache", dir.path().display());
        let cache: Arc<dyn JobCache> = Arc::new(ObjectStoreCache::from_url(&url).unwrap());
        let job = uuid::Uuid::new_v4();
        let group = CacheGroup::for_job(Arc::clone(&cache), job);
        group.put("result", b"42").unwrap();
        group.group("tiles").unwrap().put("t1", b"x").unwrap();
        // `<root>/<job id>/<key>`: what Python's ObstoreCache(LocalStore(root)).group(str(job)) reads.
        let root = dir.path().join("cache").join(job.to_string());
        assert_eq!(std::fs::read(root.join("result")).unwrap(), b"42");
        assert_eq!(std::fs::read(root.join("tiles/t1")).unwrap(), b"x");
        assert_eq!(group.get("result").unwrap().unwrap(), b"42");
        assert!(group.contains("tiles/t1").unwrap());
        assert!(!group.contains("missing").unwrap());
        assert_eq!(group.get("missing").unwrap(), None);
        assert!(group.put("../escape", b"x").is_err());
        // Written from outside (e.g. by a Python runner): visible.
        std::fs::write(root.join("from_python"), b"py").unwrap();
        assert_eq!(group.get("from_python").unwrap().unwrap(), b"py");
    }

    /// Calls made inside another executor (a `futures` executor, a current-thread tokio runtime) complete:
    /// `futures::executor::block_on` panicked when nested in another `futures` executor.
    #[test]
    fn calls_work_inside_a_futures_executor_and_a_current_thread_runtime() {
        let dir = tempfile::tempdir().unwrap();
        let url = format!("file://{}/cache", dir.path().display());
        let cache = ObjectStoreCache::from_url(&url).unwrap();
        let round_trip = |key: &str| {
            cache.put(key, key.as_bytes()).unwrap();
            assert!(cache.contains(key).unwrap());
            cache.get(key).unwrap()
        };
        let inside_futures = futures::executor::block_on(async { round_trip("futures") });
        assert_eq!(inside_futures.as_deref(), Some(b"futures".as_slice()));
        let runtime = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .unwrap();
        let inside_tokio = runtime.block_on(async { round_trip("tokio") });
        assert_eq!(inside_tokio.as_deref(), Some(b"tokio".as_slice()));
    }
}
