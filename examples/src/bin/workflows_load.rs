//! Workflows load test (by hand, see BENCHMARKS.md "Storage"): many runner loops against one or several
//! server processes for a fixed time, each loop speaking the runner protocol directly (`NextTask` with the
//! previous task's report and a claim), so that every call's latency is measured.
//!
//! ```text
//! workflows_load URL[,URL…] LOOPS SECONDS [JOBS=64] [TASKS_PER_JOB=2000]
//! ```
//!
//! It submits JOBS jobs of TASKS_PER_JOB no-op root tasks (`bench/Leaf`) before the clock starts, runs LOOPS
//! loops (spread round-robin over the URLs, each on a connection of its own) for SECONDS, then reports the
//! last task of each loop and prints tasks per second, `NextTask` latency percentiles, and checks that no
//! task was handed out twice and that every reported task is computed (exit status 1 otherwise).

use std::collections::HashSet;
use std::time::{Duration, Instant};

use tilebox_core::wire::tilebox::v1 as tb;
use tilebox_core::wire::workflows::v1 as wf;
use tilebox_workflows::WorkflowsExt;

/// One loop's record: the tasks it ran and each `NextTask`'s latency.
#[derive(Default)]
struct LoopRecord {
    tasks: Vec<Vec<u8>>,
    latencies: Vec<Duration>,
}

fn leaf() -> wf::TaskIdentifier {
    wf::TaskIdentifier {
        name: "bench/Leaf".into(),
        version: "v1.0".into(),
    }
}

/// A job of `n` no-op root tasks in one group.
fn job_request(n: usize) -> wf::SubmitJobRequest {
    wf::SubmitJobRequest {
        job_name: "load".into(),
        trace_parent: "00-00000000000000000000000000000001-0000000000000001-01".into(),
        tasks: Some(wf::TaskSubmissions {
            task_groups: vec![wf::TaskSubmissionGroup {
                inputs: vec![bytes::Bytes::from_static(b"{\"ms\":0}"); n],
                identifier_pointers: vec![0; n],
                cluster_slug_pointers: vec![0; n],
                display_pointers: vec![0; n],
                max_retries_values: vec![0; n],
                ..Default::default()
            }],
            cluster_slug_lookup: vec![String::new()],
            identifier_lookup: vec![leaf()],
            display_lookup: vec!["Leaf".into()],
        }),
        ..Default::default()
    }
}

async fn run_loop(
    rpc: tilebox_core::rpc::RpcClient,
    cluster: String,
    until: Instant,
) -> Result<LoopRecord, tilebox_core::Error> {
    let mut record = LoopRecord::default();
    let mut report: Option<Vec<u8>> = None;
    let claim = wf::NextTaskToRun {
        cluster_slug: cluster,
        identifiers: vec![leaf()],
    };
    loop {
        let done = Instant::now() >= until;
        let request = wf::NextTaskRequest {
            computed_task: report.take().map(|id| wf::ComputedTask {
                id: Some(tb::Id { uuid: id.into() }),
                ..Default::default()
            }),
            next_task_to_run: (!done).then(|| claim.clone()),
        };
        let start = Instant::now();
        let response = rpc.next_task(request).await?;
        record.latencies.push(start.elapsed());
        if done {
            return Ok(record);
        }
        match response.next_task.and_then(|t| t.id) {
            Some(id) => {
                record.tasks.push(id.uuid.to_vec());
                report = Some(id.uuid.to_vec());
            }
            None => return Ok(record),
        }
    }
}

fn percentile(sorted: &[Duration], p: f64) -> Duration {
    if sorted.is_empty() {
        return Duration::ZERO;
    }
    let i = ((sorted.len() - 1) as f64 * p).round() as usize;
    sorted[i]
}

#[tokio::main(flavor = "multi_thread")]
async fn main() -> Result<(), Box<dyn std::error::Error>> {
    let args: Vec<String> = std::env::args().collect();
    let usage = "usage: workflows_load URL[,URL…] LOOPS SECONDS [JOBS=64] [TASKS_PER_JOB=2000]";
    let arg = |i: usize| args.get(i).cloned().ok_or(usage);
    let urls: Vec<String> = arg(1)?.split(',').map(str::to_owned).collect();
    let loops: usize = arg(2)?.parse()?;
    let seconds: f64 = arg(3)?.parse()?;
    let jobs: usize = args.get(4).map_or(Ok(64), |a| a.parse())?;
    let per_job: usize = args.get(5).map_or(Ok(2000), |a| a.parse())?;

    let connect = |url: &str| -> Result<tilebox_core::rpc::RpcClient, Box<dyn std::error::Error>> {
        let client = tilebox::tokio::Client::builder().url(url).build()?;
        Ok(client.workflows().rpc().clone())
    };
    let first = connect(&urls[0])?;
    let cluster = first
        .get_cluster(wf::GetClusterRequest::default())
        .await?
        .slug;
    let mut job_ids = Vec::with_capacity(jobs);
    for _ in 0..jobs {
        let job = first.submit_job(job_request(per_job)).await?;
        job_ids.push(job.id.map(|i| i.uuid).unwrap_or_default());
    }
    eprintln!("{} jobs of {per_job} tasks submitted", job_ids.len());

    let start = Instant::now();
    let until = start + Duration::from_secs_f64(seconds);
    let mut handles = Vec::with_capacity(loops);
    for i in 0..loops {
        let rpc = connect(&urls[i % urls.len()])?;
        handles.push(tokio::spawn(run_loop(rpc, cluster.clone(), until)));
    }
    let mut tasks = Vec::new();
    let mut latencies = Vec::new();
    for handle in handles {
        let record = handle.await??;
        tasks.extend(record.tasks);
        latencies.extend(record.latencies);
    }
    let elapsed = start.elapsed();
    latencies.sort();

    let unique: HashSet<&Vec<u8>> = tasks.iter().collect();
    let duplicates = tasks.len() - unique.len();
    let mut computed = 0u64;
    for id in &job_ids {
        let job = first
            .get_job(wf::GetJobRequest {
                job_id: Some(tb::Id { uuid: id.clone() }),
            })
            .await?;
        computed += job
            .task_summaries
            .iter()
            .filter(|t| t.state == wf::TaskState::Computed as i32)
            .count() as u64;
    }
    println!(
        "{} loops on {} server(s), {:.1} s: {} tasks, {:.0} tasks/s; NextTask p50 {:.2} ms, p99 {:.2} ms, \
         max {:.2} ms; handed out twice: {duplicates}; computed {computed} of {} reported",
        loops,
        urls.len(),
        elapsed.as_secs_f64(),
        tasks.len(),
        tasks.len() as f64 / elapsed.as_secs_f64(),
        percentile(&latencies, 0.5).as_secs_f64() * 1e3,
        percentile(&latencies, 0.99).as_secs_f64() * 1e3,
        percentile(&latencies, 1.0).as_secs_f64() * 1e3,
        tasks.len(),
    );
    if duplicates > 0 || computed != tasks.len() as u64 {
        eprintln!("exactly-once check failed");
        std::process::exit(1);
    }
    Ok(())
}
