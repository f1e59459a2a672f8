//! Task reports survive a server restart: the server (a child process on a database file) is killed with
//! SIGKILL while finished tasks report, and restarted on the same port and file before their leases run
//! out; every task is executed exactly once.
#![allow(clippy::unwrap_used)]

mod common;

use std::collections::HashMap;
use std::net::{SocketAddr, TcpListener, TcpStream};
use std::process::{Child, Command, Stdio};
use std::sync::{Condvar, Mutex};
use std::time::{Duration, Instant};

use common::*;
use serde::{Deserialize, Serialize};
use tilebox_workflows::{JobState, Task, TaskContext, TaskError, TaskIdentifier, TaskSpec};

const SERVER_CHILD: &str = "TILEBOX_WF_SERVER_CHILD";
/// Leases far longer than the outage.
const LEASE: Duration = Duration::from_secs(20);
const LEAVES: usize = 24;
const CONCURRENT: usize = 4;

/// The server process: serves `TILEBOX_WF_SERVER_CHILD` (listen address) on the database file
/// `TILEBOX_WF_DATABASE` until killed.
#[test]
#[ignore = "the server process of the restart tests: run by them as a child (`--ignored --exact server_child`), not a test"]
fn server_child() {
    let Ok(listen) = std::env::var(SERVER_CHILD) else {
        return;
    };
    let database = std::env::var("TILEBOX_WF_DATABASE").unwrap();
    let rt = tokio::runtime::Runtime::new().unwrap();
    rt.block_on(async {
        let _server = tilebox_server::serve(
            tilebox_server::ServerConfig::builder()
                .listen(listen.parse().unwrap())
                .database(database)
                .workflows(workflows_config(LEASE))
                .build(),
        )
        .await
        .unwrap();
        std::future::pending::<()>().await;
    });
}

fn start_server(addr: SocketAddr, database: &std::path::Path) -> Child {
    let child = Command::new(std::env::current_exe().unwrap())
        .args([
            "--ignored",
            "--exact",
            "server_child",
            "--nocapture",
            "--test-threads",
            "1",
        ])
        .env(SERVER_CHILD, addr.to_string())
        .env("TILEBOX_WF_DATABASE", database)
        .stdout(Stdio::null())
        .spawn()
        .unwrap();
    let deadline = Instant::now() + Duration::from_secs(60);
    while TcpStream::connect(addr).is_err() {
        assert!(Instant::now() < deadline, "the server child did not start");
        std::thread::sleep(Duration::from_millis(20));
    }
    child
}

/// Executions per leaf index.
static EXECUTIONS: Mutex<Option<HashMap<usize, usize>>> = Mutex::new(None);
/// Whether leaves may finish; they wait for it (the test opens it once the server is dead).
static GATE: (Mutex<bool>, Condvar) = (Mutex::new(false), Condvar::new());

#[derive(Serialize, Deserialize)]
struct Root;

impl TaskSpec for Root {
    fn identifier() -> TaskIdentifier {
        TaskIdentifier::new("tests/restart/Root", "v1.0")
    }
}

impl Task for Root {
    fn execute(&self, ctx: &TaskContext) -> Result<(), TaskError> {
        for i in 0..LEAVES {
            ctx.submit_subtask(&Leaf { i })?;
        }
        Ok(())
    }
}

#[derive(Serialize, Deserialize)]
struct Leaf {
    i: usize,
}

impl TaskSpec for Leaf {
    fn identifier() -> TaskIdentifier {
        TaskIdentifier::new("tests/restart/Leaf", "v1.0")
    }
}

impl Task for Leaf {
    fn execute(&self, _: &TaskContext) -> Result<(), TaskError> {
        let (open, cv) = &GATE;
        let open = cv
            .wait_timeout_while(open.lock().unwrap(), Duration::from_secs(60), |o| !*o)
            .unwrap();
        if !*open.0 {
            return Err(TaskError::msg("the gate never opened"));
        }
        *EXECUTIONS
            .lock()
            .unwrap()
            .get_or_insert_with(HashMap::new)
            .entry(self.i)
            .or_default() += 1;
        Ok(())
    }
}

/// Asks the runner to stop when dropped, also while a failed assertion unwinds.
struct StopOnDrop<'a>(&'a tilebox_workflows::ShutdownHandle);

impl Drop for StopOnDrop<'_> {
    fn drop(&mut self) {
        self.0.shutdown();
    }
}

#[test]
fn reports_outlast_a_server_restart_and_no_task_runs_twice() {
    let dir = tempfile::tempdir().unwrap();
    let database = dir.path().join("workflows.db");
    let addr = TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap();
    let mut server = start_server(addr, &database);
    let client = blocking_client(&format!("http://{addr}"));
    let job = client.submit("restart", &Root).unwrap();
    let runner = client
        .runner()
        .register::<Root>()
        .register::<Leaf>()
        .max_concurrent_tasks(CONCURRENT)
        .build()
        .unwrap();
    let shutdown = runner.shutdown_handle();
    std::thread::scope(|s| {
        let running = s.spawn(|| runner.run_forever());
        // A failed assertion below must not leave the scope waiting for a runner that never stops.
        let _stop = StopOnDrop(&shutdown);
        // Wait until the runner holds CONCURRENT leaves, all waiting at the gate.
        let deadline = Instant::now() + Duration::from_secs(60);
        while runner.stats().running < CONCURRENT as u64 {
            assert!(Instant::now() < deadline, "leaves did not start");
            std::thread::sleep(Duration::from_millis(5));
        }
        server.kill().unwrap();
        server.wait().unwrap();
        // The leaves finish while the server is down: their reports fail and are retried.
        *GATE.0.lock().unwrap() = true;
        GATE.1.notify_all();
        while runner.stats().report_retries == 0 {
            assert!(Instant::now() < deadline, "no report was retried");
            std::thread::sleep(Duration::from_millis(5));
        }
        server = start_server(addr, &database);
        loop {
            let state = client.job_progress(job.id).unwrap().state;
            if state.is_finished() {
                assert_eq!(state, JobState::Completed);
                break;
            }
            assert!(Instant::now() < deadline + LEASE, "the job did not finish");
            std::thread::sleep(Duration::from_millis(20));
        }
        shutdown.shutdown();
        running.join().unwrap().unwrap();
    });
    server.kill().unwrap();
    server.wait().unwrap();
    let executions = EXECUTIONS.lock().unwrap().take().unwrap_or_default();
    assert_eq!(executions.len(), LEAVES);
    assert!(
        executions.values().all(|&n| n == 1),
        "a leaf ran twice: {executions:?}"
    );
    let stats = runner.stats();
    assert_eq!(stats.executed, LEAVES as u64 + 1);
    assert!(stats.report_retries > 0);
}
