//! Job and cluster clients against the local server: cluster CRUD, job queries with filters and paging.
#![allow(clippy::unwrap_used)]

mod common;

use common::*;
use tilebox_workflows::{JobQuery, JobState, WorkflowsError};

#[tokio::test]
async fn cluster_create_list_get_delete() {
    let server = server().await;
    let clusters = client(&server.url()).clusters();
    let default = clusters.default_cluster().await.unwrap();
    assert!(default.slug.starts_with("default-") && !default.deletable);
    let gpu = clusters
        .create_with_slug("GPU machines", "gpu-pool")
        .await
        .unwrap();
    assert_eq!(
        (gpu.slug.as_str(), gpu.display_name.as_str(), gpu.deletable),
        ("gpu-pool", "GPU machines", true)
    );
    let derived = clusters.create("Night Batch").await.unwrap();
    assert!(derived.slug.starts_with("night-batch-"), "{}", derived.slug);
    let listed: Vec<String> = clusters
        .list()
        .await
        .unwrap()
        .into_iter()
        .map(|c| c.slug)
        .collect();
    assert_eq!(listed[0], default.slug, "the default cluster comes first");
    assert!(listed.contains(&"gpu-pool".to_owned()) && listed.contains(&derived.slug));
    assert_eq!(clusters.get("gpu-pool").await.unwrap(), gpu);
    clusters.delete("gpu-pool").await.unwrap();
    let err = clusters.get("gpu-pool").await.unwrap_err();
    assert!(
        matches!(&err, WorkflowsError::Rpc(e) if e.is_not_found()),
        "{err}"
    );
    assert!(
        clusters.delete(&default.slug).await.is_err(),
        "the default cluster cannot be deleted"
    );
    assert!(clusters.create_with_slug("bad", "no spaces").await.is_err());
    server.shutdown().await;
}

#[tokio::test]
async fn query_jobs_with_filters_and_paging() {
    let server = server().await;
    let client = client(&server.url());
    let mut ids = Vec::new();
    for i in 0..5 {
        ids.push(
            client
                .jobs()
                .submit(&format!("Batch {i}"), &Node::leaf("x"))
                .await
                .unwrap()
                .id,
        );
    }
    client
        .jobs()
        .submit("other", &Node::leaf("y"))
        .await
        .unwrap();
    client.jobs().cancel(ids[0]).await.unwrap();

    let all = client
        .jobs()
        .query(&JobQuery::new().page_size(2))
        .await
        .unwrap();
    assert_eq!(all.len(), 6, "every page is fetched");
    assert!(
        all.windows(2).all(|w| w[0].id > w[1].id),
        "newest first by default"
    );
    let batches = client
        .jobs()
        .query(&JobQuery::new().name("batch").ascending())
        .await
        .unwrap();
    assert_eq!(
        batches.iter().map(|j| j.id).collect::<Vec<_>>(),
        ids,
        "case-insensitive name match, oldest first"
    );
    let canceled = client
        .jobs()
        .query(&JobQuery::new().states(&[JobState::Canceled]))
        .await
        .unwrap();
    assert_eq!(
        canceled.iter().map(|j| j.id).collect::<Vec<_>>(),
        vec![ids[0]]
    );
    let default = client.clusters().default_cluster().await.unwrap().slug;
    assert_eq!(
        client
            .jobs()
            .query(&JobQuery::new().clusters(&[default.as_str()]))
            .await
            .unwrap()
            .len(),
        6
    );
    assert!(
        client
            .jobs()
            .query(&JobQuery::new().clusters(&["nowhere"]))
            .await
            .unwrap()
            .is_empty()
    );
    let err = client
        .jobs()
        .get(tilebox_workflows::Uuid::new_v4())
        .await
        .unwrap_err();
    assert!(
        matches!(&err, WorkflowsError::Rpc(e) if e.is_not_found()),
        "{err}"
    );
    server.shutdown().await;
}
