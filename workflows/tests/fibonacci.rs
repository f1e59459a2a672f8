//! Acceptance test 1: fibonacci with one runner, depth-first order (spec §5.3.1).
#![allow(clippy::unwrap_used)]

mod common;

use std::sync::Arc;

use common::*;
use tilebox_workflows::{CacheGroup, InMemoryCache, JobState, TaskState};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn fibonacci_depth_first_order_and_results() {
    if common::skip() {
        return;
    }
    let server = server().await;
    let client = client(&server.url());
    let cache = InMemoryCache::new();
    let runner = client
        .runner()
        .cache(cache.clone())
        .register::<FibonacciTask>()
        .register::<SumResultTask>()
        .build_async()
        .await
        .unwrap();
    let job = client
        .jobs()
        .submit("fibonacci", &FibonacciTask { n: 7 })
        .await
        .unwrap();
    assert_eq!(job.state, JobState::Submitted);
    runner.run_all_async().await.unwrap();

    let job = client.jobs().get(job.id).await.unwrap();
    assert_eq!(job.state, JobState::Completed);
    assert_eq!(job.tasks.len(), 16);
    assert_eq!(job.count(TaskState::Computed), 16);
    let group = CacheGroup::for_job(Arc::new(cache.clone()), job.id);
    let values: Vec<u64> = (1..=7)
        .map(|i| cached_u64(&group, &format!("fib_{i}")).unwrap())
        .collect();
    assert_eq!(values, vec![1, 1, 2, 3, 5, 8, 13]);
    assert_eq!(
        read_log(&group),
        "F7 F5 F3 F1 F2 S3 F4 F2 F3 S4 S5 F6 F4 F5 S6 S7"
    );
    assert_eq!(runner.stats().executed, 16);
    server.shutdown().await;
}
