//! Retries that outlast a server restart, for every adapter: the concurrent load of the main example runs at
//! 50 ms emulated latency against a `tilebox-server` child process, which is killed (SIGKILL) once the load
//! is under way and restarted on the same port and database file about 3 s later. The load must complete
//! with the exact counts and datapoints identical to an undisturbed load. Then the server is killed for good
//! and a load with a short retry budget must fail with the typed connection error.

use std::io::{BufRead, BufReader};
use std::net::TcpListener;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, mpsc};
use std::time::Duration;

use tilebox_core::{Datapoints, Error, ProgressEvent, RetryPolicy, TransportError};

use super::api::{Api, Setup};
use super::tests::{LANDSAT, SEED, year_2020};

/// How long the server stays down in the restart test: 3 s, or `TILEBOX_RESTART_OUTAGE_MS` (for measuring
/// other outage lengths by hand).
fn outage() -> Duration {
    std::env::var("TILEBOX_RESTART_OUTAGE_MS")
        .ok()
        .and_then(|v| v.parse().ok())
        .map_or(Duration::from_secs(3), Duration::from_millis)
}

/// The `tilebox-server` binary: `TILEBOX_SERVER_BIN`, else next to the test executable (cargo builds it
/// for the workspace's tests), else built with cargo.
fn server_binary() -> PathBuf {
    if let Some(bin) = std::env::var_os("TILEBOX_SERVER_BIN") {
        return PathBuf::from(bin);
    }
    let exe = std::env::current_exe().expect("test executable path");
    let profile_dir = exe
        .parent()
        .and_then(Path::parent)
        .expect("target/<profile>/deps");
    let bin = profile_dir.join(format!("tilebox-server{}", std::env::consts::EXE_SUFFIX));
    if !bin.exists() {
        let cargo = std::env::var("CARGO").unwrap_or_else(|_| "cargo".into());
        let status = Command::new(cargo)
            .args(["build", "-p", "tilebox-server", "--bin", "tilebox-server"])
            .status()
            .expect("cargo runs");
        assert!(status.success(), "building tilebox-server failed");
    }
    bin
}

/// A server child process; killed when dropped.
struct ServerProcess {
    child: Child,
}

impl ServerProcess {
    /// Starts the server on `port` with `database`, and returns once it is listening (it prints a line).
    fn start(port: u16, database: &Path) -> Self {
        let mut child = Command::new(server_binary())
            .arg("--listen")
            .arg(format!("127.0.0.1:{port}"))
            .arg("--database")
            .arg(database)
            .args([
                "--demo",
                "--latency-ms",
                "50",
                "--default-page-size",
                "1000",
            ])
            .env("RUST_LOG", "warn")
            .stdout(Stdio::piped())
            .stderr(Stdio::null())
            .spawn()
            .expect("tilebox-server starts");
        let stdout = child.stdout.take().expect("stdout");
        let mut lines = BufReader::new(stdout).lines();
        loop {
            match lines.next() {
                Some(Ok(line)) if line.contains("listening on") => break,
                Some(_) => continue,
                None => panic!("tilebox-server exited before listening"),
            }
        }
        ServerProcess { child }
    }

    /// SIGKILL, then reap.
    fn kill(mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

impl Drop for ServerProcess {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn free_port() -> u16 {
    TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .expect("a free port")
        .port()
}

/// A restart mid-load is carried through; a long outage fails with the typed error within the budget.
pub fn restart_mid_load<A: Api>() {
    let dir = tempfile_dir();
    let database = dir.join("tilebox.db");
    let port = free_port();
    let url = format!("http://127.0.0.1:{port}");
    let server = ServerProcess::start(port, &database);

    let api = A::build(Setup::new(url.clone()));
    let dataset = api.dataset(LANDSAT).expect("landsat dataset");
    let collections: Vec<A::Collection> = SEED
        .iter()
        .map(|(name, _)| api.collection(&dataset, name).expect("collection"))
        .collect();
    let baseline: Vec<Datapoints> = api
        .load_collections(&collections, &year_2020())
        .into_iter()
        .map(|r| r.expect("undisturbed load"))
        .collect();

    // The disturbed load: the listener reports the first page (then the server is killed) and every retry.
    let (first_page_tx, first_page_rx) = mpsc::channel::<()>();
    let first_page_tx = std::sync::Mutex::new(Some(first_page_tx));
    let retries = Arc::new(AtomicUsize::new(0));
    let seen_retries = Arc::clone(&retries);
    let options = year_2020().progress(Arc::new(move |event: &ProgressEvent| {
        if event.retrying.is_some() {
            seen_retries.fetch_add(1, Ordering::Relaxed);
        } else if event.datapoints > 0
            && let Some(tx) = first_page_tx.lock().expect("sender").take()
        {
            let _ = tx.send(());
        }
    }));
    let (results, restarted) = std::thread::scope(|scope| {
        // The outage, driven from another thread while this one loads.
        let database = database.clone();
        let outage = scope.spawn(move || {
            first_page_rx
                .recv()
                .expect("the load receives a first page");
            server.kill();
            std::thread::sleep(outage());
            ServerProcess::start(port, &database)
        });
        let results = api.load_collections(&collections, &options);
        (results, outage.join().expect("outage thread"))
    });
    assert!(
        retries.load(Ordering::Relaxed) > 0,
        "the outage happened during the load"
    );
    for (((name, count), expected), result) in SEED.iter().zip(&baseline).zip(results) {
        let data = result.unwrap_or_else(|e| panic!("{name}: load across the restart failed: {e}"));
        assert_eq!(data.len(), *count, "{name}");
        assert!(
            data.values() == expected.values(),
            "{name}: datapoints differ from the undisturbed load"
        );
    }

    // A long outage: with a 1 s budget the load fails with the connection error, not a hang.
    restarted.kill();
    let short = A::build(
        Setup::new(url).retry(
            RetryPolicy::builder()
                .max_elapsed(Some(Duration::from_secs(1)))
                .build(),
        ),
    );
    let started = std::time::Instant::now();
    let outcome = short.dataset(LANDSAT);
    let took = started.elapsed();
    match outcome {
        Err(Error::Transport {
            source: TransportError::Connect(_),
            attempts,
        }) => assert!(attempts > 1, "retried before giving up"),
        other => panic!("expected a connection error, got {other:?}"),
    }
    // It gives up at the 1 s budget: not before half of it, and (generous bound for a loaded machine) well
    // before the 30 s default budget would end.
    assert!(
        took >= Duration::from_millis(500) && took < Duration::from_secs(10),
        "gave up after {took:?} with a 1 s budget"
    );
    let _ = std::fs::remove_dir_all(&dir);
}

/// A fresh directory under the system's temporary directory.
fn tempfile_dir() -> PathBuf {
    let dir = std::env::temp_dir().join(format!(
        "tilebox-restart-{}-{}",
        std::process::id(),
        uuid::Uuid::new_v4()
    ));
    std::fs::create_dir_all(&dir).expect("temporary directory");
    dir
}
