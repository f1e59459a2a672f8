//! A map-reduce workflow run by several runner *processes*: the sum of squares of 0..N, one `Square` task
//! per number and a `Sum` task depending on all of them, sharing results through a local file-system cache.
//!
//! `cargo run -p tilebox-examples --bin workflows_mapreduce -- [N] [RUNNERS]` starts a local server (unless
//! `TILEBOX_API_URL` is set), submits the job and spawns RUNNERS copies of itself as runners (`runner`
//! sub-command); each runner stops once the job finished.

use std::process::Command;

use serde::{Deserialize, Serialize};
use tilebox_workflows::{
    BlockingClient, LocalFileSystemCache, SubtaskOptions, Task, TaskContext, TaskError,
    TaskIdentifier, TaskSpec, Uuid,
};

#[derive(Serialize, Deserialize)]
struct MapReduce {
    n: u64,
}

#[derive(Serialize, Deserialize)]
struct Square {
    i: u64,
}

#[derive(Serialize, Deserialize)]
struct Sum {
    n: u64,
}

impl TaskSpec for MapReduce {
    fn identifier() -> TaskIdentifier {
        TaskIdentifier::new("example.com/MapReduce", "v1.0")
    }
}

impl TaskSpec for Square {
    fn identifier() -> TaskIdentifier {
        TaskIdentifier::new("example.com/Square", "v1.0")
    }
}

impl TaskSpec for Sum {
    fn identifier() -> TaskIdentifier {
        TaskIdentifier::new("example.com/Sum", "v1.0")
    }
}

impl Task for MapReduce {
    fn execute(&self, ctx: &TaskContext) -> Result<(), TaskError> {
        ctx.progress("map").add(self.n);
        let squares: Vec<Square> = (0..self.n).map(|i| Square { i }).collect();
        let maps = ctx.submit_subtasks(&squares)?;
        ctx.submit_subtask_with(&Sum { n: self.n }, SubtaskOptions::new().depends_on(&maps))?;
        Ok(())
    }
}

impl Task for Square {
    fn execute(&self, ctx: &TaskContext) -> Result<(), TaskError> {
        std::thread::sleep(std::time::Duration::from_millis(20)); // pretend to work
        ctx.job_cache()?.put(
            &format!("squares/{}", self.i),
            (self.i * self.i).to_string(),
        )?;
        ctx.job_cache()?
            .put(&format!("pids/{}", self.i), std::process::id().to_string())?;
        ctx.progress("map").done(1);
        Ok(())
    }
}

impl Task for Sum {
    fn execute(&self, ctx: &TaskContext) -> Result<(), TaskError> {
        let cache = ctx.job_cache()?;
        let mut sum = 0u64;
        for i in 0..self.n {
            let v = cache
                .get(&format!("squares/{i}"))?
                .ok_or_else(|| TaskError::msg(format!("square {i} missing")))?;
            sum += String::from_utf8_lossy(&v).parse::<u64>()?;
        }
        cache.put("sum", sum.to_string())?;
        Ok(())
    }
}

fn run_runner(url: String, cache_dir: String, job: Uuid) -> Result<(), Box<dyn std::error::Error>> {
    let client = BlockingClient::from(
        tilebox::blocking::Client::builder()
            .url(url)
            .build()?
            .as_async(),
    );
    let runner = client
        .runner()
        .cache(LocalFileSystemCache::new(cache_dir))
        .register::<MapReduce>()
        .register::<Square>()
        .register::<Sum>()
        .handle_signals(true)
        .build()?;
    runner.run_until_jobs_finish(&[job])?;
    println!(
        "runner {} executed {} tasks",
        std::process::id(),
        runner.stats().executed
    );
    Ok(())
}

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let args: Vec<String> = std::env::args().collect();
    if args.get(1).map(String::as_str) == Some("runner") {
        let (url, dir, job) = (args[2].clone(), args[3].clone(), args[4].parse()?);
        return run_runner(url, dir, job);
    }
    let n: u64 = args.get(1).map(|s| s.parse()).transpose()?.unwrap_or(100);
    let runners: usize = args.get(2).map(|s| s.parse()).transpose()?.unwrap_or(3);

    let _server;
    let url = match std::env::var("TILEBOX_API_URL") {
        Ok(url) => url,
        Err(_) => {
            let server =
                tilebox_server::spawn_background(tilebox_server::ServerConfig::builder().build())?;
            let url = server.url();
            _server = server;
            url
        }
    };
    let client = BlockingClient::from(
        tilebox::blocking::Client::builder()
            .url(url.clone())
            .build()?
            .as_async(),
    );
    let cache_dir = std::env::temp_dir().join(format!("tilebox-mapreduce-{}", Uuid::new_v4()));
    let job = client.submit("map-reduce", &MapReduce { n })?;
    let start = std::time::Instant::now();
    let children = (0..runners)
        .map(|_| {
            Command::new(std::env::current_exe()?)
                .args([
                    "runner",
                    &url,
                    &cache_dir.to_string_lossy(),
                    &job.id.to_string(),
                ])
                .spawn()
        })
        .collect::<Result<Vec<_>, _>>()?;
    for mut child in children {
        child.wait()?;
    }
    let job = client.job(job.id)?;
    let sum = std::fs::read_to_string(cache_dir.join(job.id.to_string()).join("sum"))?;
    println!(
        "job {:?} with {} tasks in {:?}: sum of squares of 0..{n} = {sum} (expected {}), progress {:?}",
        job.state,
        job.tasks.len(),
        start.elapsed(),
        (0..n).map(|i| i * i).sum::<u64>(),
        job.progress
    );
    let _ = std::fs::remove_dir_all(&cache_dir);
    Ok(())
}
