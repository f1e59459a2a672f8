//! Download progress: a snapshot type for callbacks ([`Progress`]) and the shared tracker that feeds the
//! callback and, with the `progress-bar` feature, an indicatif byte bar on stderr.

use std::sync::Arc;
use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};

/// A progress callback.
pub(crate) type ProgressCallback = Arc<dyn Fn(&Progress) + Send + Sync>;

/// A snapshot of a running [`download_many`](crate::AssetClient::download_many).
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub struct Progress {
    /// The asset that advanced.
    pub asset: String,
    /// Bytes of this asset received so far.
    pub asset_bytes: u64,
    /// This asset's size, when known (`file:size`).
    pub asset_total: Option<u64>,
    /// Bytes received (or found in the cache) over all assets.
    pub bytes: u64,
    /// Sum of the known sizes of all assets.
    pub total_bytes: u64,
    /// Files finished (downloaded or cached).
    pub files_done: usize,
    /// Files requested.
    pub files: usize,
}

struct State {
    files: usize,
    total_bytes: u64,
    bytes: AtomicU64,
    files_done: AtomicUsize,
    callback: Option<ProgressCallback>,
    #[cfg(feature = "progress-bar")]
    bar: Option<indicatif::ProgressBar>,
}

/// Shared by the downloads of one `download_many` call.
#[derive(Clone)]
pub(crate) struct Tracker(Arc<State>);

impl Progress {
    pub(crate) fn tracker(
        files: usize,
        total_bytes: u64,
        show_bar: bool,
        callback: Option<ProgressCallback>,
    ) -> Tracker {
        #[cfg(feature = "progress-bar")]
        let bar = show_bar.then(|| {
            let bar = indicatif::ProgressBar::with_draw_target(
                Some(total_bytes),
                indicatif::ProgressDrawTarget::stderr(),
            );
            if let Ok(style) = indicatif::ProgressStyle::with_template(
                "{spinner} [{elapsed_precise}] {wide_bar} {bytes}/{total_bytes} {bytes_per_sec} {msg}",
            ) {
                bar.set_style(style);
            }
            bar.set_message(format!("0/{files} files"));
            bar
        });
        #[cfg(not(feature = "progress-bar"))]
        let _ = show_bar;
        Tracker(Arc::new(State {
            files,
            total_bytes,
            bytes: AtomicU64::new(0),
            files_done: AtomicUsize::new(0),
            callback,
            #[cfg(feature = "progress-bar")]
            bar,
        }))
    }
}

impl Tracker {
    fn report(&self, asset: &str, asset_bytes: u64, asset_total: Option<u64>) {
        if let Some(callback) = &self.0.callback {
            callback(&Progress {
                asset: asset.to_owned(),
                asset_bytes,
                asset_total,
                bytes: self.0.bytes.load(Ordering::Relaxed),
                total_bytes: self.0.total_bytes,
                files_done: self.0.files_done.load(Ordering::Relaxed),
                files: self.0.files,
            });
        }
    }

    /// `n` more bytes of `asset` arrived (`so_far` in total).
    pub(crate) fn bytes(&self, asset: &str, n: u64, so_far: u64, total: Option<u64>) {
        self.0.bytes.fetch_add(n, Ordering::Relaxed);
        #[cfg(feature = "progress-bar")]
        if let Some(bar) = &self.0.bar {
            bar.inc(n);
        }
        self.report(asset, so_far, total);
    }

    /// A failed attempt's bytes are taken back before it is retried.
    pub(crate) fn rewind(&self, n: u64) {
        self.0.bytes.fetch_sub(n, Ordering::Relaxed);
        #[cfg(feature = "progress-bar")]
        if let Some(bar) = &self.0.bar {
            bar.set_position(bar.position().saturating_sub(n));
        }
    }

    /// `asset` is finished; `cached_bytes` counts a file found in the cache.
    pub(crate) fn file_done(&self, asset: &str, cached_bytes: u64, cached: bool) {
        let done = self.0.files_done.fetch_add(1, Ordering::Relaxed) + 1;
        if cached {
            self.0.bytes.fetch_add(cached_bytes, Ordering::Relaxed);
        }
        #[cfg(feature = "progress-bar")]
        if let Some(bar) = &self.0.bar {
            if cached {
                bar.inc(cached_bytes);
            }
            bar.set_message(format!("{done}/{} files", self.0.files));
        }
        let _ = done;
        self.report(asset, cached_bytes, None);
    }

    pub(crate) fn finish(&self) {
        #[cfg(feature = "progress-bar")]
        if let Some(bar) = &self.0.bar {
            bar.finish();
        }
    }
}
