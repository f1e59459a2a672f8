//! Downloads against the local server: its asset demo dataset (HTTP primary locations, `file://`
//! alternates), from every adapter.
#![allow(clippy::unwrap_used, missing_docs)]

use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};

use futures::FutureExt;
use tilebox_assets::{AssetClient, FetchError};
use tilebox_core::assets::{Asset, AssetCollection};
use tilebox_core::{BoxFuture, HttpRequest, HttpResponse, QueryOptions, Transport, TransportError};
use tilebox_server::ServerConfig;
use tilebox_server::assets::{DEMO_COLLECTION, DEMO_DATASET, DEMO_SCENES};

fn server() -> tilebox_server::BackgroundServer {
    tilebox_server::spawn_background(ServerConfig::builder().asset_demo(true).build()).unwrap()
}

/// Every asset of the demo collection, with the directory of its scene under `out`.
async fn demo_jobs(client: &tilebox_core::Client, out: &Path) -> Vec<(Asset, PathBuf)> {
    let dataset = client.dataset(DEMO_DATASET).await.unwrap();
    let collection = dataset.collection(DEMO_COLLECTION).await.unwrap();
    let options = QueryOptions::new(("2024-01-01", "2025-01-01"));
    let datapoints = collection.query(&options).await.unwrap();
    let mut jobs = Vec::new();
    for record in datapoints.records().unwrap() {
        let scene = record.get_str("granule_name").unwrap();
        for asset in AssetCollection::from_datapoint(&record).unwrap() {
            jobs.push((asset, out.join(&scene)));
        }
    }
    assert_eq!(jobs.len(), DEMO_SCENES * 2);
    jobs
}

/// Downloads everything twice (the second run must come from the cache) and checks the files.
async fn download_all_twice(client: &tilebox_core::Client, alternate: Option<&str>) {
    let out = tempfile::tempdir().unwrap();
    let jobs = demo_jobs(client, out.path()).await;
    let reports = Arc::new(AtomicUsize::new(0));
    let counter = Arc::clone(&reports);
    let mut builder = AssetClient::for_client(client)
        .concurrency(8)
        .on_progress(move |_| {
            counter.fetch_add(1, Ordering::Relaxed);
        });
    if let Some(key) = alternate {
        builder = builder.prefer_alternate(key);
    }
    let fetcher = builder.build();
    let first = fetcher.download_many(jobs.clone()).await;
    for ((asset, dir), result) in jobs.iter().zip(&first) {
        let download = result.as_ref().unwrap();
        assert!(!download.cached && download.verified);
        assert_eq!(download.path.parent().unwrap(), dir);
        let bytes = std::fs::read(&download.path).unwrap();
        assert_eq!(Some(bytes.len() as u64), asset.size());
        assert_eq!(download.bytes, bytes.len() as u64);
    }
    assert!(reports.load(Ordering::Relaxed) >= jobs.len());
    let second = fetcher.download_many(jobs.clone()).await;
    assert!(second.iter().all(|r| r.as_ref().unwrap().cached));
    // Nothing but the final files in the scene directories.
    for (_, dir) in &jobs {
        for entry in std::fs::read_dir(dir).unwrap() {
            let name = entry.unwrap().file_name().into_string().unwrap();
            assert!(name == "image.tif" || name == "metadata.json", "{name}");
        }
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn tokio_http_and_file_stores_with_cache() {
    let server = server();
    let client = tilebox_tokio::Client::builder()
        .url(server.url())
        .build()
        .unwrap();
    download_all_twice(client.core(), None).await;
    download_all_twice(client.core(), Some("file")).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn get_and_ranges_and_corruption() {
    let server = server();
    let client = tilebox_tokio::Client::builder()
        .url(server.url())
        .build()
        .unwrap();
    let out = tempfile::tempdir().unwrap();
    let jobs = demo_jobs(client.core(), out.path()).await;
    let image = jobs
        .iter()
        .find(|(a, _)| a.key == "image")
        .unwrap()
        .0
        .clone();
    let fetcher = AssetClient::for_client(client.core()).build();

    let whole = fetcher.get(&image).await.unwrap();
    assert_eq!(&whole[..4], b"II*\0");
    let header = fetcher.get_range(&image, 0..8).await.unwrap();
    assert_eq!(header, whole.slice(0..8));
    let tail = fetcher
        .get_range(&image, 100..whole.len() as u64)
        .await
        .unwrap();
    assert_eq!(tail, whole.slice(100..));
    // The file alternate holds the same bytes.
    let file = AssetClient::location_named(&image, Some("file")).unwrap();
    assert_eq!(fetcher.get_location(file).await.unwrap(), whole);

    // A checksum that does not match: an error, and nothing under the final name.
    let mut corrupt = image.clone();
    let file_meta = corrupt.file.as_mut().unwrap();
    let mut checksum = file_meta.checksum.clone().unwrap().to_vec();
    *checksum.last_mut().unwrap() ^= 0xff;
    file_meta.checksum = Some(checksum.into());
    let dir = out.path().join("corrupt");
    let err = fetcher.download(&corrupt, &dir).await.unwrap_err();
    assert!(matches!(err, FetchError::ChecksumMismatch { .. }), "{err}");
    assert_eq!(std::fs::read_dir(&dir).unwrap().count(), 0);
    assert!(matches!(
        fetcher.get(&corrupt).await,
        Err(FetchError::ChecksumMismatch { .. })
    ));

    // A file corrupted on disk after download is detected and replaced on the next run.
    let good = fetcher.download(&image, &dir).await.unwrap();
    std::fs::write(&good.path, b"garbage").unwrap();
    let again = fetcher.download(&image, &dir).await.unwrap();
    assert!(!again.cached);
    assert_eq!(std::fs::read(&again.path).unwrap(), whole);

    // A missing object is a store error, not retried into a hang.
    let mut missing = image.clone();
    missing.primary.href.push_str(".missing");
    let err = fetcher.download(&missing, &dir).await.unwrap_err();
    assert!(
        matches!(
            err,
            FetchError::Store {
                source: tilebox_assets::object_store::Error::NotFound { .. },
                ..
            }
        ),
        "{err}"
    );
}

/// A transport that stalls (never answers) from the `stall_at`-th request on, and says when it got there.
struct StallingTransport {
    inner: Arc<dyn Transport>,
    seen: AtomicUsize,
    stall_at: usize,
    reached: std::sync::Mutex<Option<futures::channel::oneshot::Sender<()>>>,
}

impl Transport for StallingTransport {
    fn send(&self, request: HttpRequest) -> BoxFuture<'_, Result<HttpResponse, TransportError>> {
        let n = self.seen.fetch_add(1, Ordering::SeqCst) + 1;
        if n >= self.stall_at {
            if let Some(tx) = self.reached.lock().unwrap().take() {
                let _ = tx.send(());
            }
            return futures::future::pending().boxed();
        }
        self.inner.send(request)
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn interrupted_download_leaves_no_partial_file() {
    let server = server();
    let client = tilebox_tokio::Client::builder()
        .url(server.url())
        .build()
        .unwrap();
    let out = tempfile::tempdir().unwrap();
    let jobs = demo_jobs(client.core(), out.path()).await;
    let image = jobs
        .iter()
        .find(|(a, _)| a.key == "image")
        .unwrap()
        .0
        .clone();
    let (tx, rx) = futures::channel::oneshot::channel();
    let transport = Arc::new(StallingTransport {
        inner: Arc::clone(client.core().rpc().transport()),
        seen: AtomicUsize::new(0),
        stall_at: 3,
        reached: std::sync::Mutex::new(Some(tx)),
    });
    // Small parts: the image takes several range requests; the third one never answers.
    let fetcher = AssetClient::builder(transport, Arc::clone(client.core().rpc().sleeper()))
        .part_size(200)
        .build();
    let dir = out.path().join("interrupted");
    let mut download = Box::pin(fetcher.download(&image, &dir));
    futures::select! {
        _ = download.as_mut().fuse() => panic!("the stalled download finished"),
        reached = rx.fuse() => reached.unwrap(),
    }
    // Two parts were written to the temporary file; dropping the download (cancellation) removes it.
    let names = |dir: &Path| -> Vec<String> {
        std::fs::read_dir(dir)
            .unwrap()
            .map(|e| e.unwrap().file_name().into_string().unwrap())
            .collect()
    };
    let during = names(&dir);
    assert_eq!(during.len(), 1);
    assert!(during[0].ends_with(".part"), "{during:?}");
    assert!(std::fs::metadata(dir.join(&during[0])).unwrap().len() >= 400);
    drop(download);
    assert!(names(&dir).is_empty());
}

/// async-std and smol: the whole path (query, resolve, HTTP + file downloads) without a tokio runtime.
async fn without_tokio(url: String) {
    let client = tilebox_async_std::Client::builder()
        .url(url)
        .build()
        .unwrap();
    download_all_twice(client.core(), None).await;
    download_all_twice(client.core(), Some("file")).await;
    assert!(tokio::runtime::Handle::try_current().is_err());
}

#[test]
fn async_std_downloads_start_no_tokio_runtime() {
    let server = server();
    async_std::task::block_on(async {
        assert!(tokio::runtime::Handle::try_current().is_err());
        without_tokio(server.url()).await;
    });
}

#[test]
fn smol_downloads_start_no_tokio_runtime() {
    let server = server();
    smol::block_on(async {
        assert!(tokio::runtime::Handle::try_current().is_err());
        without_tokio(server.url()).await;
    });
}

#[test]
fn blocking_downloads() {
    let server = server();
    let client = tilebox_blocking::Client::builder()
        .url(server.url())
        .build()
        .unwrap();
    futures::executor::block_on(download_all_twice(client.as_async(), None));
}
