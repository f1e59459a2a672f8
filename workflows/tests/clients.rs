//! Job and cluster clients against the local server: cluster CRUD, job queries with filters and paging.
#![allow(clippy::unwrap_used)]

mod common;

use common::*;
use tilebox_workflows::{DiagramOptions, JobQuery, JobState, TaskState, WorkflowsError};

#[tokio::test]
async fn cluster_create_list_get_delete() {
    if common::skip() {
        return;
    }
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
    if common::skip() {
        return;
    }
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

/// The rest of the API, through the blocking adapter: cluster updates, job queries by automation and task
/// state, manual cursor paging, the job diagram.
#[test]
fn update_cluster_automation_and_task_state_queries_cursor_paging_and_diagram() {
    if common::skip() {
        return;
    }
    let server = background_server();
    let client = blocking_client(&server.url());

    let created = client.create_cluster("Edge").unwrap();
    let renamed = client
        .update_cluster(&created.slug, Some("Edge nodes"), Some("at the edge"))
        .unwrap();
    assert_eq!(
        (
            renamed.slug.as_str(),
            renamed.display_name.as_str(),
            renamed.description.as_str()
        ),
        (created.slug.as_str(), "Edge nodes", "at the edge")
    );
    let kept = client
        .update_cluster(&created.slug, None, Some(""))
        .unwrap();
    assert_eq!(
        (kept.display_name.as_str(), kept.description.as_str()),
        ("Edge nodes", "")
    );
    assert_eq!(client.cluster(&created.slug).unwrap(), kept);
    let err = client
        .update_cluster("no-such-cluster", Some("x"), None)
        .unwrap_err();
    assert!(
        matches!(&err, WorkflowsError::Rpc(e) if e.is_not_found()),
        "{err}"
    );

    let automation = tilebox_workflows::Uuid::new_v4();
    let automated = client
        .submit_with(
            "automated",
            &Node::leaf("a"),
            tilebox_workflows::SubmitOptions::new().automation(automation),
        )
        .unwrap();
    assert_eq!(automated.automation_id, Some(automation));
    let failing = client
        .submit("failing", &Node::leaf("f").failing())
        .unwrap();
    let mut ids = vec![automated.id, failing.id];
    for i in 0..3 {
        ids.push(
            client
                .submit(&format!("plain {i}"), &Node::leaf("p"))
                .unwrap()
                .id,
        );
    }
    let by_automation = client
        .query_jobs(&JobQuery::new().automations(&[automation]))
        .unwrap();
    assert_eq!(
        by_automation.iter().map(|j| j.id).collect::<Vec<_>>(),
        vec![automated.id]
    );
    let runner = client
        .runner()
        .register::<Node>()
        .max_concurrent_tasks(4)
        .build()
        .unwrap();
    runner.run_all().unwrap();
    let failed = client
        .query_jobs(&JobQuery::new().task_states(&[TaskState::Failed]))
        .unwrap();
    assert_eq!(
        failed.iter().map(|j| j.id).collect::<Vec<_>>(),
        vec![failing.id]
    );
    let done = client.job(failing.id).unwrap();
    assert_eq!(done.state, JobState::Failed);
    let stats = done.execution_stats.as_ref().unwrap();
    assert_eq!(stats.total_tasks, 1);
    assert_eq!(stats.tasks_in(TaskState::Failed), 1);

    // Manual paging with cursors: oldest first, two per page, the same jobs as the full query.
    let query = JobQuery::new().page_size(2).ascending();
    let mut paged = Vec::new();
    let mut pages = 0;
    let mut cursor = None;
    loop {
        let page = client.query_jobs_page(&query, cursor.as_ref()).unwrap();
        assert!(page.jobs.len() <= 2);
        pages += 1;
        paged.extend(page.jobs.iter().map(|j| j.id));
        match page.next {
            Some(next) => cursor = Some(next),
            None => break,
        }
    }
    assert_eq!(paged, ids);
    assert_eq!(pages, 3);

    let svg = client
        .visualize_job(automated.id, &DiagramOptions::new().include_job_name(true))
        .unwrap();
    assert!(svg.contains("<svg"), "{svg}");
    assert!(svg.contains("automated"), "the job name is rendered: {svg}");
}
