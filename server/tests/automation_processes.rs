//! Automations fired by `tilebox-server` processes: 3 processes on one PostgreSQL database fire a per-second
//! cron automation exactly once per scheduled time and record each new file of a local location they all
//! watch once (one job per file); a server killed in the middle of a schedule and restarted after a few
//! missed times fires only the latest missed time and goes on (SQLite file and PostgreSQL); an S3 location
//! on a moto S3 emulator fires once per new object. PostgreSQL tests print `SKIPPED:` lines without
//! PostgreSQL, the S3 test without `moto_server` (`.venv/bin/moto_server` or `TILEBOX_TEST_MOTO_SERVER`).
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use std::collections::BTreeMap;
use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use common::automations::{
    CREATE, DELETE, automation_jobs, claim_all_inputs, create_location, cron_time, local_location,
    prototype, storage_trigger, wait_for_events, wait_for_jobs,
};
use common::call;
use common::process::ServerProcess;
use prost::Message;
use tilebox_core::wire::tilebox::v1 as tb;
use tilebox_core::wire::workflows::v1 as wf;

const SERVERS: usize = 3;
/// Each process fires and lists every 100 ms.
const INTERVAL: [&str; 2] = ["--automation-interval-ms", "100"];

fn start(database: &str) -> ServerProcess {
    ServerProcess::start(&["--database", database, INTERVAL[0], INTERVAL[1]])
}

/// A process that fires every 10 ms: the three processes' firings of one scheduled time race closely.
fn start_eager(database: &str) -> ServerProcess {
    ServerProcess::start(&["--database", database, INTERVAL[0], "10"])
}

async fn create(url: &str, automation: &wf::AutomationPrototype) -> tb::Id {
    let created: wf::AutomationPrototype = call(url, CREATE, automation).await.unwrap();
    created.id.unwrap()
}

/// Deletes an automation (its jobs stay queued): it fires no more.
async fn delete(url: &str, id: &tb::Id) {
    let _: () = call(
        url,
        DELETE,
        &wf::DeleteAutomationRequest {
            automation_id: Some(id.clone()),
            cancel_jobs: false,
        },
    )
    .await
    .unwrap();
}

/// How many jobs each scheduled time (seconds) got, from the queued tasks' inputs.
async fn cron_times(url: &str) -> BTreeMap<i64, usize> {
    let mut times = BTreeMap::new();
    for input in claim_all_inputs(url).await {
        *times.entry(cron_time(&input)).or_insert(0) += 1;
    }
    times
}

fn now_secs() -> i64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap()
        .as_secs_f64()
        .floor() as i64
}

/// Asserts that every second from the first to the last scheduled time has exactly one job.
fn assert_each_second_once(times: &BTreeMap<i64, usize>) {
    let twice: Vec<_> = times.iter().filter(|(_, n)| **n != 1).collect();
    assert!(
        twice.is_empty(),
        "scheduled times with several jobs: {twice:?}"
    );
    let (first, last) = (
        *times.keys().next().unwrap(),
        *times.keys().next_back().unwrap(),
    );
    let missing: Vec<i64> = (first..=last).filter(|t| !times.contains_key(t)).collect();
    assert!(
        missing.is_empty(),
        "scheduled times without a job: {missing:?}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn three_servers_fire_each_scheduled_time_once() {
    if common::skip_without_postgres() {
        return;
    }
    let database = common::fresh_postgres_database();
    let servers: Vec<ServerProcess> = (0..SERVERS).map(|_| start_eager(&database)).collect();
    let id = create(
        &servers[0].url,
        &prototype("every second", &["* * * * * *"], vec![]),
    )
    .await;
    wait_for_jobs(&servers[1].url, &id, 5).await;
    delete(&servers[2].url, &id).await;
    let jobs = automation_jobs(&servers[0].url, &id).await.len();
    let times = cron_times(&servers[1].url).await;
    assert_eq!(times.values().sum::<usize>(), jobs, "one task per job");
    assert!(times.len() >= 5, "{times:?}");
    assert_each_second_once(&times);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn three_servers_watching_one_directory_fire_once_per_file() {
    if common::skip_without_postgres() {
        return;
    }
    const FILES: usize = 6;
    let database = common::fresh_postgres_database();
    let servers: Vec<ServerProcess> = (0..SERVERS).map(|_| start(&database)).collect();
    let dir = tempfile::tempdir().unwrap();
    let location = local_location(&servers[0].url, dir.path()).await;
    let id = create(
        &servers[1].url,
        &prototype("on drop", &[], vec![storage_trigger(&location, "*.txt")]),
    )
    .await;
    for i in 0..FILES {
        std::fs::write(dir.path().join(format!("{i}.txt")), b"x").unwrap();
    }
    std::fs::write(dir.path().join("other.bin"), b"x").unwrap();
    wait_for_jobs(&servers[2].url, &id, FILES).await;
    let events = wait_for_events(&servers[0].url, &location, FILES + 1).await;
    assert_eq!(events.len(), FILES + 1, "{events:?}");
    // Every process lists the directory ten times more: no second event or job appears.
    let deadline = Instant::now() + Duration::from_secs(1);
    while Instant::now() < deadline {
        assert_eq!(automation_jobs(&servers[0].url, &id).await.len(), FILES);
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    let mut keys: Vec<String> = claim_all_inputs(&servers[1].url)
        .await
        .into_iter()
        .map(|input| {
            wf::TriggeredStorageEvent::decode(input.trigger_event)
                .unwrap()
                .location
        })
        .collect();
    keys.sort();
    let expected: Vec<String> = (0..FILES).map(|i| format!("{i}.txt")).collect();
    assert_eq!(keys, expected, "one job per new file");
}

/// Kills the server in the middle of a per-second schedule, keeps it down for a few scheduled times and
/// starts it again on the same database: the missed times do not fire, except the latest (at most one
/// second before the restart), and the schedule goes on each second.
async fn restart_mid_schedule(database: &str) {
    let mut server = start(database);
    let id = create(
        &server.url,
        &prototype("every second", &["* * * * * *"], vec![]),
    )
    .await;
    wait_for_jobs(&server.url, &id, 2).await;
    server.kill();
    let stopped = now_secs();
    // Downtime: the scheduled times of these seconds pass while no server runs.
    tokio::time::sleep(Duration::from_millis(3_500)).await;
    let restarted = now_secs();
    let server = start(database);
    let before = automation_jobs(&server.url, &id).await.len();
    wait_for_jobs(&server.url, &id, before + 3).await;
    delete(&server.url, &id).await;
    let times = cron_times(&server.url).await;
    let (old, new): (BTreeMap<i64, usize>, BTreeMap<i64, usize>) =
        times.iter().partition(|(t, _)| **t <= stopped);
    let last_old = *old.keys().next_back().expect("jobs before the kill");
    let first_new = *new.keys().next().expect("jobs after the restart");
    assert!(
        first_new >= restarted,
        "a missed time other than the latest fired: {first_new} < {restarted} ({times:?})"
    );
    assert!(
        first_new - last_old > 2,
        "no scheduled time was missed: {times:?}"
    );
    assert!(new.len() >= 3, "{times:?}");
    assert_each_second_once(&old);
    assert_each_second_once(&new);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_restart_mid_schedule_fires_only_the_latest_missed_time_sqlite() {
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("tilebox.sqlite");
    restart_mid_schedule(file.to_str().unwrap()).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_restart_mid_schedule_fires_only_the_latest_missed_time_postgres() {
    if common::skip_without_postgres() {
        return;
    }
    restart_mid_schedule(&common::fresh_postgres_database()).await;
}

/// A moto S3 emulator on a free loopback port; killed when dropped.
struct Moto {
    child: Child,
    url: String,
}

impl Drop for Moto {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// The `moto_server` binary: `TILEBOX_TEST_MOTO_SERVER`, or the workspace's `.venv`.
fn moto_binary() -> Option<PathBuf> {
    let path = std::env::var_os("TILEBOX_TEST_MOTO_SERVER")
        .map(PathBuf::from)
        .unwrap_or_else(|| {
            PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../.venv/bin/moto_server")
        });
    path.is_file().then_some(path)
}

/// Starts moto and waits (up to 30 s) until it answers; the reason when it cannot.
async fn start_moto() -> Result<Moto, String> {
    let binary = moto_binary().ok_or(
        "moto_server not found (pip install 'moto[server]' into .venv or set TILEBOX_TEST_MOTO_SERVER)",
    )?;
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .map_err(|e| e.to_string())?
        .port();
    let child = Command::new(&binary)
        .args(["-H", "127.0.0.1", "-p", &port.to_string()])
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .map_err(|e| format!("{}: {e}", binary.display()))?;
    let moto = Moto {
        child,
        url: format!("http://127.0.0.1:{port}"),
    };
    let deadline = Instant::now() + Duration::from_secs(30);
    while common::http().get(&moto.url).send().await.is_err() {
        if Instant::now() > deadline {
            return Err(format!("{} did not answer within 30 s", binary.display()));
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    Ok(moto)
}

/// A plain (unsigned) S3 `PUT`, which moto accepts: a bucket, or an object with a body.
async fn s3_put(moto: &Moto, path: &str, body: &'static [u8]) {
    let resp = common::http()
        .put(format!("{}/{path}", moto.url))
        .body(body)
        .send()
        .await
        .unwrap();
    assert!(resp.status().is_success(), "PUT {path}: {}", resp.status());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_s3_location_fires_once_per_new_object() {
    let moto = match start_moto().await {
        Ok(moto) => moto,
        Err(reason) => {
            tilebox_test_support::report_skip(&reason);
            return;
        }
    };
    s3_put(&moto, "drops", b"").await;
    s3_put(&moto, "drops/before/old.txt", b"old").await;
    // S3 keeps whole seconds: the old object must be from an earlier second than the location.
    let created_after = now_secs() + 1;
    while now_secs() < created_after {
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    let env = [
        ("AWS_ENDPOINT_URL", moto.url.as_str()),
        ("AWS_ALLOW_HTTP", "true"),
        ("AWS_ACCESS_KEY_ID", "testing"),
        ("AWS_SECRET_ACCESS_KEY", "testing"),
        ("AWS_REGION", "us-east-1"),
    ];
    let server = ServerProcess::listening(ServerProcess::spawn_env(
        &[
            INTERVAL[0],
            INTERVAL[1],
            "--object-store-interval-ms",
            "200",
        ],
        &env,
    ));
    let url = &server.url;
    let reference = wf::StorageLocationReference {
        aws_s3_bucket: Some(wf::Awss3BucketReference {
            bucket: "drops".into(),
            region: "us-east-1".into(),
        }),
        r#type: wf::StorageType::AwsS3 as i32,
        ..Default::default()
    };
    let location = create_location(url, "s3 drops", reference).await;
    let id = create(
        url,
        &prototype("on s3", &[], vec![storage_trigger(&location, "new/*.txt")]),
    )
    .await;
    s3_put(&moto, "drops/new/a.txt", b"a").await;
    s3_put(&moto, "drops/new/b.txt", b"b").await;
    s3_put(&moto, "drops/new/c.bin", b"c").await;
    wait_for_jobs(url, &id, 2).await;
    let events = wait_for_events(url, &location, 3).await;
    let mut keys: Vec<_> = events
        .iter()
        .map(|e| (e.object_key.as_str(), e.triggered_jobs.len()))
        .collect();
    keys.sort();
    assert_eq!(
        keys,
        [("new/a.txt", 1), ("new/b.txt", 1), ("new/c.bin", 0)],
        "the old object is not an event"
    );
    let mut triggered: Vec<String> = claim_all_inputs(url)
        .await
        .into_iter()
        .map(|input| {
            let event = wf::TriggeredStorageEvent::decode(input.trigger_event).unwrap();
            assert_eq!(event.storage_location_id, location.id);
            event.location
        })
        .collect();
    triggered.sort();
    assert_eq!(triggered, ["new/a.txt", "new/b.txt"]);
}
