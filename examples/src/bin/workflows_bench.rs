//! Runner benchmark (by hand, see BENCHMARKS.md "Workflows"): a job of N leaf tasks (no-op, or sleeping MS
//! milliseconds) fanned out by one root task, run by Rust runners; the Python side is `bench/workflows_python.py`
//! with the same task identifiers and inputs.
//!
//! ```text
//! workflows_bench URL run N MS CONCURRENT      submit a job, run it with one runner, print the timings
//! workflows_bench URL submit N MS              submit a job, print its id
//! workflows_bench URL runner JOB CONCURRENT    run until the job finishes (one runner process)
//! workflows_bench URL poll JOB CONCURRENT      the same, polling as bench/workflows_python.py does: `run_all`
//!                                              (returns at the first idle answer) and a job check in a loop,
//!                                              instead of waiting out the server's suggested idle time
//! ```

use std::time::Instant;

use serde::{Deserialize, Serialize};
use tilebox_workflows::{
    BlockingClient, Runner, Task, TaskContext, TaskError, TaskIdentifier, TaskSpec, Uuid,
};

/// Submits `n` leaves.
#[derive(Serialize, Deserialize)]
struct Fan {
    n: u64,
    ms: u64,
}

impl TaskSpec for Fan {
    fn identifier() -> TaskIdentifier {
        TaskIdentifier::new("bench/Fan", "v1.0")
    }
}

impl Task for Fan {
    fn execute(&self, ctx: &TaskContext) -> Result<(), TaskError> {
        for _ in 0..self.n {
            ctx.submit_subtask(&Leaf { ms: self.ms })?;
        }
        Ok(())
    }
}

/// Sleeps `ms` milliseconds (0: a no-op).
#[derive(Serialize, Deserialize)]
struct Leaf {
    ms: u64,
}

impl TaskSpec for Leaf {
    fn identifier() -> TaskIdentifier {
        TaskIdentifier::new("bench/Leaf", "v1.0")
    }
}

impl Task for Leaf {
    fn execute(&self, _: &TaskContext) -> Result<(), TaskError> {
        if self.ms > 0 {
            std::thread::sleep(std::time::Duration::from_millis(self.ms));
        }
        Ok(())
    }
}

fn runner(
    client: &BlockingClient,
    concurrent: usize,
) -> Result<Runner, Box<dyn std::error::Error>> {
    Ok(client
        .runner()
        .register::<Fan>()
        .register::<Leaf>()
        .max_concurrent_tasks(concurrent)
        .build()?)
}

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let args: Vec<String> = std::env::args().collect();
    let usage = "usage: workflows_bench URL run N MS CONCURRENT | URL submit N MS | URL runner JOB CONCURRENT | URL poll JOB CONCURRENT";
    let arg = |i: usize| args.get(i).cloned().ok_or(usage);
    let client = BlockingClient::from(
        tilebox::blocking::Client::builder()
            .url(arg(1)?)
            .build()?
            .as_async(),
    );
    match arg(2)?.as_str() {
        "submit" => {
            let job = client.submit(
                "bench",
                &Fan {
                    n: arg(3)?.parse()?,
                    ms: arg(4)?.parse()?,
                },
            )?;
            println!("{}", job.id);
        }
        "runner" => {
            let job: Uuid = arg(3)?.parse()?;
            runner(&client, arg(4)?.parse()?)?.run_until_jobs_finish(&[job])?;
        }
        "poll" => {
            let job: Uuid = arg(3)?.parse()?;
            let runner = runner(&client, arg(4)?.parse()?)?;
            loop {
                runner.run_all()?;
                if client.job_progress(job)?.state.is_finished() {
                    break;
                }
            }
        }
        "run" => {
            let n: u64 = arg(3)?.parse()?;
            let runner = runner(&client, arg(5)?.parse()?)?;
            let job = client.submit(
                "bench",
                &Fan {
                    n,
                    ms: arg(4)?.parse()?,
                },
            )?;
            let start = Instant::now();
            runner.run_until_jobs_finish(&[job.id])?;
            let elapsed = start.elapsed();
            println!(
                "{} tasks in {:.3} s: {:.3} ms per task (state {:?})",
                n + 1,
                elapsed.as_secs_f64(),
                elapsed.as_secs_f64() * 1000.0 / (n + 1) as f64,
                client.job_progress(job.id)?.state
            );
        }
        _ => return Err(usage.into()),
    }
    Ok(())
}
