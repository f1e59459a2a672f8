//! Several server processes on one PostgreSQL database (a fresh database of the test PostgreSQL server, see
//! `common`; skipped, printing `SKIPPED:` lines, only without one): 3 `tilebox-server` processes, 8 runners
//! spread over them, a 1,000-task job. Without outages every task runs exactly once; with one server killed
//! (SIGKILL) mid-job its runners move to the others and the job still completes with no task lost. Expired
//! leases are requeued once however many processes' reapers see them, and processes starting together on an
//! empty database seed the demo data once.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use std::collections::HashMap;
use std::process::Child;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use bytes::Bytes;
use common::process::ServerProcess;
use prost::Message;
use tilebox_core::wire::workflows::v1 as wf;

const SUBMIT: &str = "workflows.v1.JobService/SubmitJob";
const GET_JOB: &str = "workflows.v1.JobService/GetJob";
const NEXT: &str = "workflows.v1.TaskService/NextTask";
const GET_CLUSTER: &str = "workflows.v1.WorkflowsService/GetCluster";
const TASK: &str = "tests/NoOp";
const TASKS: usize = 1000;
const RUNNERS: usize = 8;
const SERVERS: usize = 3;

/// A server process on a PostgreSQL database with the given task lease.
fn start_server(database: &str, lease_ms: u64) -> ServerProcess {
    let lease = lease_ms.to_string();
    ServerProcess::start(&["--database", database, "--task-lease-ms", &lease])
}

/// A Connect proto call; `Err` for transport failures (a killed server), panics on RPC errors.
async fn call<Req: Message, Resp: Message + Default>(
    http: &reqwest::Client,
    url: &str,
    path: &str,
    req: &Req,
) -> Result<Resp, reqwest::Error> {
    let resp = http
        .post(format!("{url}/{path}"))
        .header("content-type", "application/proto")
        .header("connect-protocol-version", "1")
        .body(req.encode_to_vec())
        .send()
        .await?;
    let status = resp.status();
    let body = resp.bytes().await?;
    assert!(
        status.is_success(),
        "{path}: HTTP {status}: {}",
        String::from_utf8_lossy(&body)
    );
    Ok(Resp::decode(&body[..]).expect("response decodes"))
}

/// The report of `task` completed without subtasks.
fn done(task: &wf::Task) -> wf::ComputedTask {
    #[allow(deprecated)]
    wf::ComputedTask {
        id: task.id.clone(),
        display: String::new(),
        sub_tasks: None,
        legacy_sub_tasks: vec![],
        progress_updates: vec![],
    }
}

fn job_request(n: usize) -> wf::SubmitJobRequest {
    wf::SubmitJobRequest {
        tasks: Some(wf::TaskSubmissions {
            task_groups: vec![wf::TaskSubmissionGroup {
                dependencies_on_other_groups: vec![],
                inputs: (0..n).map(|i| Bytes::from(i.to_string())).collect(),
                identifier_pointers: vec![0; n],
                cluster_slug_pointers: vec![0; n],
                display_pointers: vec![0; n],
                max_retries_values: vec![0; n],
                optional_values: vec![],
            }],
            cluster_slug_lookup: vec![],
            identifier_lookup: vec![wf::TaskIdentifier {
                name: TASK.into(),
                version: "v1.0".into(),
            }],
            display_lookup: vec!["noop".into()],
        }),
        job_name: "multi-process".into(),
        trace_parent: "00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01".into(),
        ..Default::default()
    }
}

/// Every task input the runners executed, once per execution.
type Executions = Arc<Mutex<Vec<Bytes>>>;

/// A runner: claims and reports through NextTask until the job is complete. When its server goes away it
/// moves on to the next one (as behind a load balancer) and retries its pending report there.
async fn runner(
    urls: Arc<Vec<String>>,
    mut server: usize,
    cluster: String,
    job_id: wf::Job,
    executions: Executions,
) {
    let http = reqwest::Client::new();
    let mut report: Option<wf::ComputedTask> = None;
    let mut failures = 0;
    loop {
        let url = &urls[server];
        let request = wf::NextTaskRequest {
            computed_task: report.clone(),
            next_task_to_run: Some(wf::NextTaskToRun {
                cluster_slug: cluster.clone(),
                identifiers: vec![wf::TaskIdentifier {
                    name: TASK.into(),
                    version: "v1.0".into(),
                }],
            }),
        };
        let response: wf::NextTaskResponse = match call(&http, url, NEXT, &request).await {
            Ok(r) => r,
            Err(_) => {
                failures += 1;
                assert!(failures < 100, "no server answers");
                server = (server + 1) % urls.len();
                continue;
            }
        };
        report = None;
        match response.next_task {
            Some(task) => {
                executions
                    .lock()
                    .unwrap()
                    .push(task.input.clone().unwrap_or_default());
                report = Some(done(&task));
            }
            None => {
                let job: Result<wf::Job, _> = call(
                    &http,
                    url,
                    GET_JOB,
                    &wf::GetJobRequest {
                        job_id: job_id.id.clone(),
                    },
                )
                .await;
                match job {
                    Ok(job) if job.state == wf::JobState::Completed as i32 => return,
                    Ok(_) => {
                        // Nothing to claim yet (tasks lost with a killed server wait for their lease to
                        // run out): poll again after a moment, as real runners idle.
                        tokio::time::sleep(Duration::from_millis(50)).await;
                    }
                    Err(_) => server = (server + 1) % urls.len(),
                }
            }
        }
    }
}

/// Runs the 1,000-task job on 3 servers with 8 runners; kills server 0 once `kill_after` tasks were
/// executed (if given). Returns how often each task ran and the final job.
///
/// Without a kill the lease is long (30 s), so no lease runs out on a slow machine and every task must run
/// exactly once. With a kill it is short (2 s): claims the killed server took but could not answer are
/// handed out again soon.
async fn run_job(kill_after: Option<usize>) -> (HashMap<Bytes, usize>, wf::Job) {
    let database = common::fresh_postgres_database();
    let lease_ms = if kill_after.is_some() { 2_000 } else { 30_000 };
    let mut servers: Vec<ServerProcess> = (0..SERVERS)
        .map(|_| start_server(&database, lease_ms))
        .collect();
    let urls = Arc::new(servers.iter().map(|s| s.url.clone()).collect::<Vec<_>>());
    let http = reqwest::Client::new();
    let cluster: wf::Cluster = call(
        &http,
        &urls[1],
        GET_CLUSTER,
        &wf::GetClusterRequest::default(),
    )
    .await
    .unwrap();
    // Every process sees the one default cluster.
    for url in urls.iter() {
        let c: wf::Cluster = call(&http, url, GET_CLUSTER, &wf::GetClusterRequest::default())
            .await
            .unwrap();
        assert_eq!(c.slug, cluster.slug);
    }
    let job: wf::Job = call(&http, &urls[2], SUBMIT, &job_request(TASKS))
        .await
        .unwrap();
    let executions: Executions = Arc::default();
    let runners: Vec<_> = (0..RUNNERS)
        .map(|i| {
            tokio::spawn(runner(
                Arc::clone(&urls),
                i % SERVERS,
                cluster.slug.clone(),
                job.clone(),
                Arc::clone(&executions),
            ))
        })
        .collect();
    if let Some(after) = kill_after {
        // Watch progress and kill server 0 mid-job.
        loop {
            let done = executions.lock().unwrap().len();
            if done >= after {
                break;
            }
            tokio::time::sleep(Duration::from_millis(5)).await;
        }
        servers[0].kill();
    }
    for r in runners {
        tokio::time::timeout(Duration::from_secs(120), r)
            .await
            .expect("the job completes")
            .unwrap();
    }
    let alive = if kill_after.is_some() { 1 } else { 0 };
    let finished: wf::Job = call(
        &http,
        &urls[alive],
        GET_JOB,
        &wf::GetJobRequest {
            job_id: job.id.clone(),
        },
    )
    .await
    .unwrap();
    let mut runs: HashMap<Bytes, usize> = HashMap::new();
    for input in executions.lock().unwrap().iter() {
        *runs.entry(input.clone()).or_default() += 1;
    }
    drop(servers);
    (runs, finished)
}

fn assert_completed(job: &wf::Job) {
    assert_completed_n(job, TASKS as u64);
}

fn assert_completed_n(job: &wf::Job, tasks: u64) {
    assert_eq!(job.state, wf::JobState::Completed as i32, "{job:?}");
    let summary = job.execution_stats.as_ref().expect("execution stats");
    let computed: u64 = summary
        .tasks_by_state
        .iter()
        .filter(|s| s.state == wf::TaskState::Computed as i32)
        .map(|s| s.count)
        .sum();
    assert_eq!(computed, tasks, "{:?}", summary.tasks_by_state);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn three_servers_run_every_task_exactly_once() {
    if common::skip_without_postgres() {
        return;
    }
    let (runs, job) = run_job(None).await;
    assert_completed(&job);
    assert_eq!(runs.len(), TASKS, "every task ran");
    let repeated: Vec<_> = runs.iter().filter(|(_, n)| **n != 1).collect();
    assert!(
        repeated.is_empty(),
        "tasks run more than once: {repeated:?}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_killed_server_loses_no_task() {
    if common::skip_without_postgres() {
        return;
    }
    let (runs, job) = run_job(Some(TASKS / 3)).await;
    assert_completed(&job);
    // Claims answered by the killed server may have been lost on the way and run again after their lease
    // ran out; none is missing.
    assert_eq!(runs.len(), TASKS, "every task ran");
    let again = runs.values().filter(|n| **n > 1).count();
    eprintln!("{again} tasks ran again after the kill (claims lost with the killed server)");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn processes_starting_together_seed_the_demo_once() {
    if common::skip_without_postgres() {
        return;
    }
    let database = common::fresh_postgres_database();
    // All three start on the empty database at once; each must come up.
    let children: Vec<Child> = (0..SERVERS)
        .map(|_| ServerProcess::spawn(&["--database", &database, "--demo"]))
        .collect();
    let servers: Vec<ServerProcess> = children.into_iter().map(ServerProcess::listening).collect();
    let http = reqwest::Client::new();
    for server in &servers {
        let datasets: tilebox_core::wire::datasets::v1::ListDatasetsResponse = call(
            &http,
            &server.url,
            "datasets.v1.DatasetService/ListDatasets",
            &tilebox_core::wire::datasets::v1::ListDatasetsRequest::default(),
        )
        .await
        .unwrap();
        let landsat = datasets
            .datasets
            .iter()
            .filter(|d| d.slug == "open_data.copernicus.landsat8_oli_tirs")
            .count();
        assert_eq!(
            landsat, 1,
            "one demo Landsat dataset seen from {}",
            server.url
        );
    }
    let seeded: i64 = {
        let database = database.clone();
        tokio::task::spawn_blocking(move || {
            let mut client = postgres::Client::connect(&database, postgres::NoTls).unwrap();
            client
                .query_one("SELECT COUNT(*) FROM datapoints", &[])
                .unwrap()
                .get(0)
        })
        .await
        .unwrap()
    };
    let expected: u64 = tilebox_server::demo::LANDSAT_COLLECTIONS
        .iter()
        .map(|(_, n)| n)
        .sum::<u64>()
        + tilebox_server::demo::SENTINEL1_COUNT;
    assert!(
        seeded as u64 >= expected,
        "{seeded} datapoints, at least {expected} expected"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn expired_leases_are_requeued_once_across_processes() {
    if common::skip_without_postgres() {
        return;
    }
    const N: usize = 50;
    let database = common::fresh_postgres_database();
    // Three servers (separate pools, as separate processes would have) whose reapers all run every 5 ms. The
    // lease is long enough for the claims below to finish before the first one expires, even on a busy machine.
    let config = || {
        tilebox_server::ServerConfig::builder()
            .postgres(database.clone())
            .workflows(
                tilebox_server::WorkflowsConfig::builder()
                    .lease(Duration::from_secs(5))
                    .reaper_interval(Duration::from_millis(5))
                    .build(),
            )
            .build()
    };
    let mut servers = Vec::new();
    for _ in 0..SERVERS {
        servers.push(tilebox_server::serve(config()).await.unwrap());
    }
    let urls: Vec<String> = servers.iter().map(|s| s.url()).collect();
    let http = reqwest::Client::new();
    let cluster: wf::Cluster = call(
        &http,
        &urls[0],
        GET_CLUSTER,
        &wf::GetClusterRequest::default(),
    )
    .await
    .unwrap();
    let claim = |url: String, report: Option<wf::ComputedTask>| {
        let http = http.clone();
        let cluster = cluster.slug.clone();
        async move {
            let response: wf::NextTaskResponse = call(
                &http,
                &url,
                NEXT,
                &wf::NextTaskRequest {
                    computed_task: report,
                    next_task_to_run: Some(wf::NextTaskToRun {
                        cluster_slug: cluster,
                        identifiers: vec![wf::TaskIdentifier {
                            name: TASK.into(),
                            version: "v1.0".into(),
                        }],
                    }),
                },
            )
            .await
            .unwrap();
            response.next_task
        }
    };
    let job: wf::Job = call(&http, &urls[0], SUBMIT, &job_request(N))
        .await
        .unwrap();
    // Claim every task and abandon it: all leases run out.
    for i in 0..N {
        let task = claim(urls[i % SERVERS].clone(), None).await;
        assert_eq!(task.expect("a queued task").retry_count, 0);
    }
    // Every task comes back once its lease expired, counted as one expiry however many reapers saw it.
    let mut retries: HashMap<Bytes, i64> = HashMap::new();
    let mut report = None;
    let deadline = std::time::Instant::now() + Duration::from_secs(60);
    while retries.len() < N {
        assert!(
            std::time::Instant::now() < deadline,
            "tasks came back: {}",
            retries.len()
        );
        match claim(urls[retries.len() % SERVERS].clone(), report.take()).await {
            Some(task) => {
                let previous =
                    retries.insert(task.input.clone().unwrap_or_default(), task.retry_count);
                assert!(previous.is_none(), "a reclaimed task was handed out twice");
                report = Some(done(&task));
            }
            // Leases still running: ask again shortly (polling, as runners do).
            None => tokio::time::sleep(Duration::from_millis(20)).await,
        }
    }
    // The last report completes the last task: nothing is left to hand out.
    let left = claim(urls[0].clone(), report.take()).await;
    assert!(
        left.is_none(),
        "a task left after every one came back: {left:?}"
    );
    let counts: Vec<i64> = retries.values().copied().collect();
    assert!(counts.iter().all(|c| *c == 1), "retry counts {counts:?}");
    let finished: wf::Job = call(
        &http,
        &urls[1],
        GET_JOB,
        &wf::GetJobRequest {
            job_id: job.id.clone(),
        },
    )
    .await
    .unwrap();
    assert_completed_n(&finished, N as u64);
    for server in servers {
        server.shutdown().await;
    }
}
