//! The shared client suite for the blocking client.

tilebox_client_tests::client_suite!(tilebox_client_tests::suite::adapters::BlockingApi);

/// The blocking client called from inside a tokio runtime works (no tokio involved, no nested-runtime
/// panic).
#[tokio::test(flavor = "multi_thread")]
async fn blocking_client_inside_tokio() {
    let client = tilebox_blocking::Client::builder()
        .url(tilebox_client_tests::suite::servers::demo())
        .anonymous()
        .build()
        .expect("client");
    let dataset = client
        .dataset(tilebox_client_tests::suite::tests::LANDSAT)
        .expect("dataset");
    let l1t = dataset.collection("L1T").expect("collection");
    let data = l1t
        .query(&tilebox_client_tests::suite::tests::year_2020().parallel_pages(2))
        .expect("query");
    assert_eq!(data.len(), 1281);
}

/// Also inside a current-thread tokio runtime (the blocking call parks the only runtime thread; the I/O runs
/// on the client's own threads, so it still completes).
#[tokio::test(flavor = "current_thread")]
async fn blocking_client_inside_current_thread_tokio() {
    let client = tilebox_blocking::Client::builder()
        .url(tilebox_client_tests::suite::servers::demo())
        .anonymous()
        .build()
        .expect("client");
    let tree = client.datasets().expect("datasets");
    assert!(
        tree.get(tilebox_client_tests::suite::tests::LANDSAT)
            .is_some()
    );
}
