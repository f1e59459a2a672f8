//! The PostgreSQL server of the tests: `TILEBOX_TEST_POSTGRES_URL`, or a throw-away cluster shared by the
//! test binaries of one `cargo test` run.
//!
//! Sharing: the test binaries of one run are children of the same `cargo` process, so the cluster is keyed by
//! the parent's pid (`$TMPDIR/tilebox-test-postgres-<ppid>/`). The first binary to get the lock file
//! (`…-<ppid>.lock`, `flock`) starts the cluster and writes its URL into that directory; the others find the
//! URL there. A detached watchdog started with the cluster polls the parent once a second and, when it has
//! exited, stops the cluster (`pg_ctl stop -m immediate`) and deletes the directory and the lock file. A test
//! binary started by hand (its parent a shell) keeps its cluster until that shell exits.
//!
//! The cluster: `initdb` into the directory, trust authentication, listening on 127.0.0.1 only on a free
//! port with its unix socket in the directory, `max_connections=400`, durability off (`fsync`,
//! `synchronous_commit`, `full_page_writes`: nothing outlives the run). As root, `initdb` and the server run as
//! `nobody` (`runuser`), since PostgreSQL refuses to run as root.

use std::fs::{self, File, OpenOptions};
use std::net::{Ipv4Addr, SocketAddr, TcpListener, TcpStream};
use std::os::unix::process::CommandExt;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::sync::OnceLock;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use crate::Skip;

/// The environment variable naming an existing PostgreSQL server for the tests (a URL whose user may create
/// databases). When set, no cluster is started.
pub const URL_VARIABLE: &str = "TILEBOX_TEST_POSTGRES_URL";

/// The user the cluster's files and processes belong to when the tests run as root.
const UNPRIVILEGED_USER: &str = "nobody";

enum Outcome {
    Url(String),
    Skip(Skip),
    Failed(String),
}

/// The URL of the PostgreSQL server of the tests (its user may create databases; the database in the URL is
/// the maintenance database `postgres`).
///
/// `TILEBOX_TEST_POSTGRES_URL` when set and not empty; otherwise the throw-away cluster of this `cargo test`
/// run (started by the first caller, see the module documentation), when PostgreSQL is installed
/// (`/usr/lib/postgresql/<newest>/bin` or `initdb`/`pg_ctl` on `PATH`); otherwise a [`Skip`]. Cached per
/// process.
///
/// # Panics
///
/// When PostgreSQL is installed but the cluster does not start (the message carries its logs): that is a
/// failure to look into, not a reason to skip.
pub fn postgres_url() -> Result<String, Skip> {
    static OUTCOME: OnceLock<Outcome> = OnceLock::new();
    match OUTCOME.get_or_init(resolve) {
        Outcome::Url(url) => Ok(url.clone()),
        Outcome::Skip(skip) => Err(skip.clone()),
        Outcome::Failed(message) => panic!("the test PostgreSQL cluster did not start: {message}"),
    }
}

fn resolve() -> Outcome {
    if let Some(url) = std::env::var(URL_VARIABLE)
        .ok()
        .filter(|url| !url.is_empty())
    {
        return Outcome::Url(url);
    }
    let Some(bin) = installed_binaries() else {
        return Outcome::Skip(Skip::new(format!(
            "PostgreSQL is not installed (no initdb, pg_ctl and postgres in /usr/lib/postgresql/*/bin or on \
             PATH) and {URL_VARIABLE} is not set"
        )));
    };
    match shared_cluster(&bin) {
        Ok(url) => Outcome::Url(url),
        Err(message) => Outcome::Failed(message),
    }
}

/// The directory of `initdb`, `pg_ctl` and `postgres`: Debian's newest `/usr/lib/postgresql/<version>/bin`,
/// else the first `PATH` entry holding all three.
fn installed_binaries() -> Option<PathBuf> {
    let complete = |dir: &Path| {
        ["initdb", "pg_ctl", "postgres"]
            .iter()
            .all(|b| dir.join(b).is_file())
    };
    let newest_debian = fs::read_dir("/usr/lib/postgresql")
        .into_iter()
        .flatten()
        .flatten()
        .filter_map(|entry| {
            let version = version_key(&entry.file_name().to_string_lossy())?;
            let bin = entry.path().join("bin");
            complete(&bin).then_some((version, bin))
        })
        .max_by(|a, b| a.0.cmp(&b.0))
        .map(|(_, bin)| bin);
    newest_debian.or_else(|| {
        std::env::var_os("PATH")
            .map(|path| std::env::split_paths(&path).collect::<Vec<_>>())
            .unwrap_or_default()
            .into_iter()
            .find(|dir| complete(dir))
    })
}

/// `"16"` → `[16]`, `"9.6"` → `[9, 6]`; `None` for names that are not versions.
fn version_key(name: &str) -> Option<Vec<u32>> {
    name.split('.').map(|part| part.parse().ok()).collect()
}

/// Joins the cluster of this process's parent, starting it if nobody has.
fn shared_cluster(bin: &Path) -> Result<String, String> {
    let owner = std::os::unix::process::parent_id();
    let tmp = std::env::temp_dir();
    let dir = tmp.join(format!("tilebox-test-postgres-{owner}"));
    let lock_path = tmp.join(format!("tilebox-test-postgres-{owner}.lock"));
    let lock = OpenOptions::new()
        .create(true)
        .truncate(false)
        .write(true)
        .open(&lock_path)
        .map_err(|e| format!("opening {}: {e}", lock_path.display()))?;
    // Held until `lock` is dropped at the end of this function; closed on exec, so no child inherits it.
    rustix::fs::flock(&lock, rustix::fs::FlockOperation::LockExclusive)
        .map_err(|e| format!("locking {}: {e}", lock_path.display()))?;
    let url_file = dir.join("url");
    if let Ok(url) = fs::read_to_string(&url_file) {
        if answers(&dir) {
            return Ok(url);
        }
        // Left by an earlier process with the same parent pid whose watchdog is gone: start afresh.
        let _ = run_logged(
            as_owner(bin.join("pg_ctl"))
                .arg("-D")
                .arg(dir.join("data"))
                .args(["-m", "immediate", "stop"]),
            &tmp.join(format!("tilebox-test-postgres-{owner}-stop.log")),
        );
    }
    let _ = fs::remove_dir_all(&dir);
    let url = start(bin, &dir, owner, &lock_path)?;
    let partial = dir.join("url.partial");
    fs::write(&partial, &url)
        .and_then(|()| fs::rename(&partial, &url_file))
        .map_err(|e| format!("writing {}: {e}", url_file.display()))?;
    drop(lock);
    Ok(url)
}

/// Whether the cluster recorded in `dir` accepts connections on its port.
fn answers(dir: &Path) -> bool {
    fs::read_to_string(dir.join("port"))
        .ok()
        .and_then(|port| port.trim().parse::<u16>().ok())
        .is_some_and(|port| {
            let addr = SocketAddr::from((Ipv4Addr::LOCALHOST, port));
            TcpStream::connect_timeout(&addr, Duration::from_secs(2)).is_ok()
        })
}

fn is_root() -> bool {
    rustix::process::getuid().is_root()
}

/// `program`, run as the unprivileged user when this process is root.
fn as_owner(program: PathBuf) -> Command {
    if is_root() {
        let mut command = Command::new("runuser");
        command.args(["-u", UNPRIVILEGED_USER, "--"]).arg(program);
        command
    } else {
        Command::new(program)
    }
}

/// Runs `command` to completion with its output in `log` (a file, never a pipe: `pg_ctl start` leaves the
/// server running with the descriptors it was given), in a process group of its own (so an interrupt of the
/// test run does not reach the server; the watchdog stops it), from `/` (the unprivileged user may not be
/// able to enter the test's directory).
fn run_logged(command: &mut Command, log: &Path) -> Result<(), String> {
    let out = File::create(log).map_err(|e| format!("creating {}: {e}", log.display()))?;
    let err = out
        .try_clone()
        .map_err(|e| format!("opening {}: {e}", log.display()))?;
    let status = command
        .current_dir("/")
        .stdin(Stdio::null())
        .stdout(out)
        .stderr(err)
        .process_group(0)
        .status()
        .map_err(|e| format!("running {command:?}: {e}"))?;
    if status.success() {
        Ok(())
    } else {
        Err(format!("{command:?} exited with {status}"))
    }
}

fn tail(path: &Path) -> String {
    let text = fs::read_to_string(path).unwrap_or_default();
    let lines: Vec<&str> = text.lines().collect();
    let start = lines.len().saturating_sub(20);
    format!("{}:\n{}", path.display(), lines[start..].join("\n"))
}

fn free_port() -> Result<u16, String> {
    TcpListener::bind((Ipv4Addr::LOCALHOST, 0))
        .and_then(|listener| listener.local_addr())
        .map(|addr| addr.port())
        .map_err(|e| format!("finding a free port: {e}"))
}

/// Creates the cluster in `dir` and starts it; returns its URL. The watchdog is started as soon as the
/// directory exists, so a failed start leaves nothing behind either.
fn start(bin: &Path, dir: &Path, owner: u32, lock_path: &Path) -> Result<String, String> {
    fs::create_dir_all(dir).map_err(|e| format!("creating {}: {e}", dir.display()))?;
    if is_root() {
        run_logged(
            Command::new("chown").arg(UNPRIVILEGED_USER).arg(dir),
            &dir.join("chown.log"),
        )?;
    }
    let data = dir.join("data");
    watchdog(bin, dir, &data, owner, lock_path)?;

    let initdb_log = dir.join("initdb.log");
    run_logged(
        as_owner(bin.join("initdb"))
            .arg("-D")
            .arg(&data)
            .args(["-U", "tilebox", "--auth=trust", "-E", "UTF8", "--no-locale"])
            .arg("--no-sync"),
        &initdb_log,
    )
    .map_err(|e| format!("{e}\n{}", tail(&initdb_log)))?;

    let server_log = dir.join("server.log");
    let pg_ctl_log = dir.join("pg_ctl.log");
    let mut attempt = 0;
    loop {
        attempt += 1;
        let port = free_port()?;
        // `-o` goes through a shell: the socket directory is quoted.
        let options = format!(
            "-p {port} -k '{}' -c listen_addresses=127.0.0.1 -c max_connections=400 -c fsync=off \
             -c synchronous_commit=off -c full_page_writes=off",
            dir.display()
        );
        let started = run_logged(
            as_owner(bin.join("pg_ctl"))
                .arg("-D")
                .arg(&data)
                .arg("-l")
                .arg(&server_log)
                .args(["-w", "-t", "120", "-o", &options, "start"]),
            &pg_ctl_log,
        );
        match started {
            Ok(()) => {
                fs::write(dir.join("port"), port.to_string())
                    .map_err(|e| format!("writing the port file: {e}"))?;
                return Ok(format!("postgres://tilebox@127.0.0.1:{port}/postgres"));
            }
            // Another process took the port between our probe and the server's bind.
            Err(_)
                if attempt < 3
                    && fs::read_to_string(&server_log)
                        .is_ok_and(|log| log.contains("could not bind")) => {}
            Err(e) => {
                return Err(format!("{e}\n{}\n{}", tail(&pg_ctl_log), tail(&server_log)));
            }
        }
    }
}

/// Starts the detached process that stops the cluster and deletes `dir` and the lock file once process
/// `owner` has exited. It polls once a second (`kill -0`), in a process group of its own and from `/`, with
/// no descriptor of the test run open (a pipe left open would keep e.g. `cargo test | tee` from finishing).
fn watchdog(
    bin: &Path,
    dir: &Path,
    data: &Path,
    owner: u32,
    lock_path: &Path,
) -> Result<(), String> {
    const SCRIPT: &str = r#"owner=$1 dir=$2 lock=$3
shift 3
while kill -0 "$owner" 2>/dev/null; do sleep 1; done
"$@" >/dev/null 2>&1
rm -rf "$dir" "$lock""#;
    let mut command = Command::new("sh");
    command
        .arg("-c")
        .arg(SCRIPT)
        .arg("tilebox-test-postgres-watchdog")
        .arg(owner.to_string())
        .arg(dir)
        .arg(lock_path);
    if is_root() {
        command.args(["runuser", "-u", UNPRIVILEGED_USER, "--"]);
    }
    command
        .arg(bin.join("pg_ctl"))
        .arg("-D")
        .arg(data)
        .args(["-m", "immediate", "stop"])
        .current_dir("/")
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .process_group(0)
        .spawn()
        .map(drop)
        .map_err(|e| format!("starting the cluster's watchdog: {e}"))
}

/// The URL of `url` with its database replaced by `database`.
pub fn with_database(url: &str, database: &str) -> String {
    let (base, query) = match url.split_once('?') {
        Some((base, query)) => (base, format!("?{query}")),
        None => (url, String::new()),
    };
    let authority_start = base.find("://").map_or(0, |i| i + 3);
    let host_end = base[authority_start..]
        .find('/')
        .map_or(base.len(), |i| authority_start + i);
    format!("{}/{database}{query}", &base[..host_end])
}

/// A database name no other test (of this or an earlier run on the same server) has used:
/// `tilebox_test_<prefix>_<pid>_<time>_<counter>`, the prefix reduced to `[a-z0-9_]`.
fn unique_name(prefix: &str) -> String {
    static COUNTER: AtomicU64 = AtomicU64::new(0);
    let prefix: String = prefix
        .chars()
        .map(|c| {
            if c.is_ascii_alphanumeric() {
                c.to_ascii_lowercase()
            } else {
                '_'
            }
        })
        .take(16)
        .collect();
    let millis = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| d.as_millis());
    format!(
        "tilebox_test_{prefix}_{}_{millis}_{}",
        std::process::id(),
        COUNTER.fetch_add(1, Ordering::Relaxed)
    )
}

/// Creates a new, empty database named after `prefix` on the [`postgres_url`] server and returns its URL.
/// Callable from inside an async runtime (the statement runs on a thread of its own).
///
/// # Panics
///
/// When there is no PostgreSQL server (check [`postgres_url`] first and skip) or the database cannot be
/// created.
pub fn fresh_database(prefix: &str) -> String {
    let admin = postgres_url()
        .unwrap_or_else(|skip| panic!("fresh_database without a PostgreSQL server: {skip}"));
    let name = unique_name(prefix);
    let url = with_database(&admin, &name);
    let statement = format!("CREATE DATABASE \"{name}\"");
    // The `postgres` client blocks on a runtime of its own, which must not run inside the caller's.
    let created = std::thread::spawn(move || -> Result<(), String> {
        let mut client = postgres::Client::connect(&admin, postgres::NoTls)
            .map_err(|e| format!("connecting to {admin}: {e}"))?;
        client
            .batch_execute(&statement)
            .map_err(|e| format!("{statement}: {e}"))
    })
    .join();
    match created {
        Ok(Ok(())) => url,
        Ok(Err(message)) => panic!("creating a test database: {message}"),
        Err(_) => panic!("creating a test database: the thread panicked"),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn with_database_replaces_only_the_database() {
        assert_eq!(
            with_database("postgres://u@h:1/postgres?sslmode=disable", "x"),
            "postgres://u@h:1/x?sslmode=disable"
        );
        assert_eq!(with_database("postgres://u@h:1", "x"), "postgres://u@h:1/x");
    }

    #[test]
    fn versions_sort_numerically() {
        assert!(version_key("16") > version_key("9.6"));
        assert_eq!(version_key("main"), None);
    }

    #[test]
    fn database_names_are_unique_and_plain() {
        let a = unique_name("Data-PG suite");
        let b = unique_name("Data-PG suite");
        assert_ne!(a, b);
        assert!(a.starts_with("tilebox_test_data_pg_suite_"), "{a}");
        assert!(a.len() <= 63, "{a}");
    }

    /// Two databases on the fixture's server, both reachable: the fixture really serves (skips, saying so,
    /// without PostgreSQL).
    #[test]
    fn fresh_databases_are_usable() {
        if let Err(skip) = postgres_url() {
            skip.report();
            return;
        }
        let urls = [fresh_database("fixture"), fresh_database("fixture")];
        assert_ne!(urls[0], urls[1]);
        for url in urls {
            let mut client = postgres::Client::connect(&url, postgres::NoTls).expect("connects");
            let one: i32 = client.query_one("SELECT 1", &[]).expect("query").get(0);
            assert_eq!(one, 1);
        }
    }
}
