//! [`AssetClient`]: reads and downloads assets through object_store over the SDK's transport.

use std::io::{Read as _, Write as _};
use std::ops::Range;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

use bytes::Bytes;
use futures::StreamExt;
use object_store::path::Path as ObjectPath;
use object_store::{GetOptions, ObjectStore};
use tilebox_core::assets::{Asset, AssetLocation};
use tilebox_core::{AsyncSleep, Transport};

use crate::checksum::{Hasher, Multihash};
use crate::error::FetchError;
use crate::progress::{Progress, ProgressCallback};
use crate::store::{Credentials, Stores};

/// Default number of downloads in flight.
pub const DEFAULT_CONCURRENCY: usize = 16;
/// Default attempts per download (retryable failures only).
pub const DEFAULT_ATTEMPTS: u32 = 4;
/// Objects larger than this (by their `file:size`) are fetched in ranges of this size.
pub const DEFAULT_PART_SIZE: u64 = 8 * 1024 * 1024;

/// Builder of an [`AssetClient`].
pub struct AssetClientBuilder {
    transport: Arc<dyn Transport>,
    sleep: Arc<dyn AsyncSleep>,
    credentials: Credentials,
    concurrency: usize,
    attempts: u32,
    part_size: u64,
    alternate: Option<String>,
    cache: bool,
    progress_bar: bool,
    on_progress: Option<ProgressCallback>,
}

impl std::fmt::Debug for AssetClientBuilder {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("AssetClientBuilder")
            .field("credentials", &self.credentials)
            .field("concurrency", &self.concurrency)
            .field("attempts", &self.attempts)
            .field("part_size", &self.part_size)
            .field("alternate", &self.alternate)
            .field("cache", &self.cache)
            .field("progress_bar", &self.progress_bar)
            .finish_non_exhaustive()
    }
}

impl AssetClientBuilder {
    /// Credentials policy for cloud stores (default [`Credentials::Auto`]).
    pub fn credentials(mut self, credentials: Credentials) -> Self {
        self.credentials = credentials;
        self
    }

    /// Downloads in flight at once in [`AssetClient::download_many`] (default 16, at least 1).
    pub fn concurrency(mut self, n: usize) -> Self {
        self.concurrency = n.max(1);
        self
    }

    /// Attempts per object for connection failures and server errors (default 4, at least 1).
    pub fn attempts(mut self, n: u32) -> Self {
        self.attempts = n.max(1);
        self
    }

    /// Objects larger than this are fetched in ranges of this size (default 8 MiB), bounding memory and
    /// giving byte-level progress on transports that return whole bodies.
    pub fn part_size(mut self, bytes: u64) -> Self {
        self.part_size = bytes.max(1);
        self
    }

    /// Read from the alternate location with this key when an asset has one (e.g. `"s3"`, `"file"`),
    /// the primary location otherwise.
    pub fn prefer_alternate(mut self, key: impl Into<String>) -> Self {
        self.alternate = Some(key.into());
        self
    }

    /// Skip downloads whose file already exists and verifies (default on).
    pub fn cache(mut self, cache: bool) -> Self {
        self.cache = cache;
        self
    }

    /// Show a byte-level progress bar on stderr during downloads (hidden when stderr is not a terminal;
    /// needs the `progress-bar` feature). Default off.
    pub fn progress_bar(mut self, show: bool) -> Self {
        self.progress_bar = show;
        self
    }

    /// Called as bytes arrive during downloads.
    pub fn on_progress(mut self, callback: impl Fn(&Progress) + Send + Sync + 'static) -> Self {
        self.on_progress = Some(Arc::new(callback));
        self
    }

    /// The client.
    pub fn build(self) -> AssetClient {
        AssetClient {
            inner: Arc::new(Inner {
                stores: Stores::new(self.transport, self.credentials),
                sleep: self.sleep,
                concurrency: self.concurrency,
                attempts: self.attempts,
                part_size: self.part_size,
                alternate: self.alternate,
                cache: self.cache,
                progress_bar: self.progress_bar,
                on_progress: self.on_progress,
            }),
        }
    }
}

struct Inner {
    stores: Stores,
    sleep: Arc<dyn AsyncSleep>,
    concurrency: usize,
    attempts: u32,
    part_size: u64,
    alternate: Option<String>,
    cache: bool,
    progress_bar: bool,
    on_progress: Option<ProgressCallback>,
}

/// Reads and downloads assets. Cheap to clone; stores (and their credentials) are shared per bucket/host.
///
/// Requests go through the SDK [`Transport`] the client is built with, so the same code runs on tokio,
/// async-std/smol and blocking programs without starting a runtime of its own; local files are read
/// directly.
#[derive(Clone)]
pub struct AssetClient {
    inner: Arc<Inner>,
}

impl std::fmt::Debug for AssetClient {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("AssetClient")
            .field("stores", &self.inner.stores)
            .field("concurrency", &self.inner.concurrency)
            .finish_non_exhaustive()
    }
}

/// One finished download.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub struct Download {
    /// The asset key.
    pub asset: String,
    /// The file written (or found in the cache).
    pub path: PathBuf,
    /// Its size in bytes.
    pub bytes: u64,
    /// Whether the file was already there and verified, so nothing was fetched.
    pub cached: bool,
    /// Whether a size or checksum was checked.
    pub verified: bool,
}

/// Removes the temporary file on drop unless it was renamed into place, so an interrupted or failed
/// download never leaves a file under the final name (nor a stray temporary one).
struct PartFile {
    path: PathBuf,
    file: Option<std::fs::File>,
}

impl PartFile {
    fn create(dest: &Path) -> Result<PartFile, FetchError> {
        let dir = dest.parent().unwrap_or(Path::new("."));
        std::fs::create_dir_all(dir).map_err(|source| FetchError::Io {
            path: dir.to_path_buf(),
            source,
        })?;
        let name = dest
            .file_name()
            .map(|n| n.to_string_lossy().into_owned())
            .unwrap_or_default();
        let path = dir.join(format!(".{name}.{}.part", uuid::Uuid::new_v4().simple()));
        let file = std::fs::File::create(&path).map_err(|source| FetchError::Io {
            path: path.clone(),
            source,
        })?;
        Ok(PartFile {
            path,
            file: Some(file),
        })
    }

    fn write(&mut self, data: &[u8]) -> Result<(), FetchError> {
        if let Some(file) = &mut self.file {
            file.write_all(data).map_err(|source| FetchError::Io {
                path: self.path.clone(),
                source,
            })?;
        }
        Ok(())
    }

    fn commit(mut self, dest: &Path) -> Result<(), FetchError> {
        let io = |path: &Path| {
            let path = path.to_path_buf();
            move |source| FetchError::Io { path, source }
        };
        // No fsync: the rename makes the file appear whole or not at all for every reader, and a file
        // damaged by a crash is caught by the size/checksum check before the cache reuses it.
        if let Some(mut file) = self.file.take() {
            file.flush().map_err(io(&self.path))?;
        }
        std::fs::rename(&self.path, dest).map_err(io(dest))?;
        self.path = PathBuf::new();
        Ok(())
    }
}

impl Drop for PartFile {
    fn drop(&mut self) {
        self.file.take();
        if !self.path.as_os_str().is_empty() {
            let _ = std::fs::remove_file(&self.path);
        }
    }
}

/// The file name an asset is saved under: the last segment of its href, else its key.
pub fn file_name(asset: &Asset, location: &AssetLocation) -> String {
    let from_href = url::Url::parse(&location.href).ok().and_then(|url| {
        url.path_segments()
            .and_then(|mut s| s.next_back().map(str::to_owned))
            .filter(|s| !s.is_empty())
            .and_then(|s| {
                percent_decode(&s).filter(|s| !s.contains(['/', '\\']) && s != ".." && s != ".")
            })
    });
    from_href.unwrap_or_else(|| asset.key.replace(['/', '\\'], "_"))
}

fn percent_decode(s: &str) -> Option<String> {
    let bytes = s.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        if bytes[i] == b'%' && i + 2 < bytes.len() {
            let hex = std::str::from_utf8(&bytes[i + 1..i + 3]).ok()?;
            out.push(u8::from_str_radix(hex, 16).ok()?);
            i += 3;
        } else {
            out.push(bytes[i]);
            i += 1;
        }
    }
    String::from_utf8(out).ok()
}

/// The bytes `range` of an object (object_store's `get_range`, through the object-safe, `Send` method).
async fn get_range(
    store: &Arc<dyn ObjectStore>,
    path: &ObjectPath,
    range: Range<u64>,
) -> object_store::Result<Bytes> {
    store
        .get_opts(path, GetOptions::new().with_range(Some(range)))
        .await?
        .bytes()
        .await
}

/// What a finished file must match.
struct Expected {
    size: Option<u64>,
    checksum: Option<Multihash>,
}

impl Expected {
    fn of(asset: &Asset) -> Expected {
        let checksum = asset.checksum().and_then(|c| {
            let parsed = Multihash::parse(c);
            if parsed.as_ref().and_then(Multihash::hasher).is_none() {
                tracing::warn!(asset = %asset.key, "file:checksum uses an unsupported or malformed multihash; not verified");
            }
            parsed.filter(|m| m.hasher().is_some())
        });
        Expected {
            size: asset.size(),
            checksum,
        }
    }

    fn verifiable(&self) -> bool {
        self.size.is_some() || self.checksum.is_some()
    }

    fn check(&self, href: &str, size: u64, hasher: Option<Hasher>) -> Result<(), FetchError> {
        if let Some(expected) = self.size
            && expected != size
        {
            return Err(FetchError::SizeMismatch {
                href: href.to_owned(),
                expected,
                actual: size,
            });
        }
        if let (Some(expected), Some(hasher)) = (&self.checksum, hasher) {
            let actual = hasher.finish();
            if actual != *expected {
                return Err(FetchError::ChecksumMismatch {
                    href: href.to_owned(),
                    expected: expected.hex(),
                    actual: actual.hex(),
                });
            }
        }
        Ok(())
    }

    /// Whether an existing file matches (reading it whole for the checksum).
    fn matches_file(&self, path: &Path) -> bool {
        let Ok(meta) = std::fs::metadata(path) else {
            return false;
        };
        if !meta.is_file() || self.size.is_some_and(|s| s != meta.len()) {
            return false;
        }
        let Some(mut hasher) = self.checksum.as_ref().and_then(Multihash::hasher) else {
            return true;
        };
        let Ok(mut file) = std::fs::File::open(path) else {
            return false;
        };
        let mut buf = vec![0u8; 256 * 1024];
        loop {
            match file.read(&mut buf) {
                Ok(0) => break,
                Ok(n) => hasher.update(&buf[..n]),
                Err(_) => return false,
            }
        }
        self.checksum.as_ref() == Some(&hasher.finish())
    }
}

impl AssetClient {
    /// A builder sending requests through `transport` and waiting between retries with `sleep` — usually
    /// those of an SDK client: see [`AssetClient::for_client`].
    pub fn builder(
        transport: Arc<dyn Transport>,
        sleep: Arc<dyn AsyncSleep>,
    ) -> AssetClientBuilder {
        AssetClientBuilder {
            transport,
            sleep,
            credentials: Credentials::default(),
            concurrency: DEFAULT_CONCURRENCY,
            attempts: DEFAULT_ATTEMPTS,
            part_size: DEFAULT_PART_SIZE,
            alternate: None,
            cache: true,
            progress_bar: false,
            on_progress: None,
        }
    }

    /// A builder reusing the transport and sleep of an SDK client (any adapter). No API key is sent to
    /// asset hosts: authentication is added by the datasets protocol layer, not by the transport.
    pub fn for_client(client: &tilebox_core::Client) -> AssetClientBuilder {
        Self::builder(
            Arc::clone(client.rpc().transport()),
            Arc::clone(client.rpc().sleeper()),
        )
    }

    /// The location reads use: the preferred alternate when the asset has it, else the primary.
    pub fn location<'a>(&self, asset: &'a Asset) -> &'a AssetLocation {
        self.inner
            .alternate
            .as_ref()
            .and_then(|key| asset.alternates.get(key))
            .unwrap_or(&asset.primary)
    }

    /// The location with this alternate key (`None`: the primary).
    pub fn location_named<'a>(
        asset: &'a Asset,
        alternate: Option<&str>,
    ) -> Result<&'a AssetLocation, FetchError> {
        match alternate {
            None => Ok(&asset.primary),
            Some(key) => asset
                .alternates
                .get(key)
                .ok_or_else(|| FetchError::NoSuchAlternate {
                    asset: asset.key.clone(),
                    alternate: key.to_owned(),
                }),
        }
    }

    async fn retrying<T, F, Fut>(&self, mut attempt: F) -> Result<T, FetchError>
    where
        F: FnMut() -> Fut,
        Fut: std::future::Future<Output = Result<T, FetchError>>,
    {
        let mut n = 1;
        loop {
            match attempt().await {
                Err(e) if e.is_retryable() && n < self.inner.attempts => {
                    let backoff =
                        Duration::from_millis(100u64 << n.min(5)).min(Duration::from_secs(2));
                    tracing::debug!(error = %e, attempt = n, "retrying asset read");
                    self.inner.sleep.sleep(backoff).await;
                    n += 1;
                }
                other => return other,
            }
        }
    }

    fn store_error(href: &str) -> impl Fn(object_store::Error) -> FetchError + '_ {
        move |source| FetchError::Store {
            href: href.to_owned(),
            source,
        }
    }

    /// The whole object at `location`.
    pub async fn get_location(&self, location: &AssetLocation) -> Result<Bytes, FetchError> {
        let (store, path) = self.inner.stores.resolve(location)?;
        let href = location.href.as_str();
        let (store, path) = (&store, &path);
        self.retrying(|| async move {
            store
                .get_opts(path, GetOptions::default())
                .await
                .map_err(Self::store_error(href))?
                .bytes()
                .await
                .map_err(Self::store_error(href))
        })
        .await
    }

    /// The bytes `range` of the object at `location` (e.g. a COG header).
    pub async fn get_range_location(
        &self,
        location: &AssetLocation,
        range: Range<u64>,
    ) -> Result<Bytes, FetchError> {
        let (store, path) = self.inner.stores.resolve(location)?;
        let href = location.href.as_str();
        self.retrying(|| {
            let store = Arc::clone(&store);
            let path = path.clone();
            let range = range.clone();
            async move {
                get_range(&store, &path, range)
                    .await
                    .map_err(Self::store_error(href))
            }
        })
        .await
    }

    /// The whole asset (from [`location`](Self::location)), checked against its size and checksum.
    pub async fn get(&self, asset: &Asset) -> Result<Bytes, FetchError> {
        let location = self.location(asset);
        let bytes = self.get_location(location).await?;
        let expected = Expected::of(asset);
        let hasher = expected
            .checksum
            .as_ref()
            .and_then(Multihash::hasher)
            .map(|mut h| {
                h.update(&bytes);
                h
            });
        expected.check(&location.href, bytes.len() as u64, hasher)?;
        Ok(bytes)
    }

    /// The bytes `range` of the asset.
    pub async fn get_range(&self, asset: &Asset, range: Range<u64>) -> Result<Bytes, FetchError> {
        self.get_range_location(self.location(asset), range).await
    }

    /// Downloads the asset into `dir` (under the last segment of its href) and returns the file.
    pub async fn download(
        &self,
        asset: &Asset,
        dir: impl AsRef<Path>,
    ) -> Result<Download, FetchError> {
        let mut results = self
            .download_many([(asset.clone(), dir.as_ref().to_path_buf())])
            .await;
        results.pop().unwrap_or_else(|| {
            Err(FetchError::Io {
                path: dir.as_ref().to_path_buf(),
                source: std::io::Error::other("no download result"),
            })
        })
    }

    /// Downloads each asset into its directory, [`concurrency`](AssetClientBuilder::concurrency) at a
    /// time, and returns one result per input in input order. Files are written to a temporary name and
    /// renamed into place once size and checksum verify; existing verified files are skipped (cache).
    pub async fn download_many(
        &self,
        jobs: impl IntoIterator<Item = (Asset, PathBuf)>,
    ) -> Vec<Result<Download, FetchError>> {
        let jobs: Vec<(Asset, PathBuf)> = jobs.into_iter().collect();
        let total_bytes = jobs.iter().filter_map(|(a, _)| a.size()).sum();
        let progress = Progress::tracker(
            jobs.len(),
            total_bytes,
            self.inner.progress_bar,
            self.inner.on_progress.clone(),
        );
        let mut results: Vec<(usize, Result<Download, FetchError>)> =
            futures::stream::iter(jobs.into_iter().enumerate())
                .map(|(i, (asset, dir))| {
                    let progress = progress.clone();
                    async move { (i, self.download_one(&asset, &dir, &progress).await) }
                })
                .buffer_unordered(self.inner.concurrency)
                .collect()
                .await;
        progress.finish();
        results.sort_by_key(|(i, _)| *i);
        results.into_iter().map(|(_, r)| r).collect()
    }

    async fn download_one(
        &self,
        asset: &Asset,
        dir: &Path,
        progress: &crate::progress::Tracker,
    ) -> Result<Download, FetchError> {
        let location = self.location(asset);
        let dest = dir.join(file_name(asset, location));
        let expected = Expected::of(asset);
        if self.inner.cache && expected.matches_file(&dest) {
            let bytes = std::fs::metadata(&dest).map(|m| m.len()).unwrap_or(0);
            progress.file_done(&asset.key, bytes, true);
            return Ok(Download {
                asset: asset.key.clone(),
                path: dest,
                bytes,
                cached: true,
                verified: expected.verifiable(),
            });
        }
        let (store, path) = self.inner.stores.resolve(location)?;
        let href = location.href.as_str();
        let bytes = self
            .retrying(|| self.fetch_file(&store, &path, href, &dest, &expected, asset, progress))
            .await?;
        progress.file_done(&asset.key, 0, false);
        Ok(Download {
            asset: asset.key.clone(),
            path: dest,
            bytes,
            cached: false,
            verified: expected.verifiable(),
        })
    }

    #[allow(clippy::too_many_arguments)]
    async fn fetch_file(
        &self,
        store: &Arc<dyn ObjectStore>,
        path: &ObjectPath,
        href: &str,
        dest: &Path,
        expected: &Expected,
        asset: &Asset,
        progress: &crate::progress::Tracker,
    ) -> Result<u64, FetchError> {
        let mut part = PartFile::create(dest)?;
        let mut hasher = expected.checksum.as_ref().and_then(Multihash::hasher);
        let mut written = 0u64;
        let mut on_chunk = |chunk: &[u8], part: &mut PartFile| -> Result<(), FetchError> {
            part.write(chunk)?;
            if let Some(h) = &mut hasher {
                h.update(chunk);
            }
            written += chunk.len() as u64;
            progress.bytes(&asset.key, chunk.len() as u64, written, expected.size);
            Ok(())
        };
        let result = async {
            match expected.size {
                Some(size) if size > self.inner.part_size => {
                    let mut start = 0;
                    while start < size {
                        let end = (start + self.inner.part_size).min(size);
                        let chunk = get_range(store, path, start..end)
                            .await
                            .map_err(Self::store_error(href))?;
                        on_chunk(&chunk, &mut part)?;
                        start = end;
                    }
                }
                _ => {
                    let mut stream = store
                        .get_opts(path, GetOptions::default())
                        .await
                        .map_err(Self::store_error(href))?
                        .into_stream();
                    while let Some(chunk) = stream.next().await {
                        on_chunk(&chunk.map_err(Self::store_error(href))?, &mut part)?;
                    }
                }
            }
            Ok::<(), FetchError>(())
        }
        .await;
        if let Err(e) = result {
            progress.rewind(written);
            return Err(e);
        }
        expected.check(href, written, hasher)?;
        part.commit(dest)?;
        Ok(written)
    }
}
