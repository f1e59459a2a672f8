//! Server configuration and its builder, with the timings of the workflows services.

use std::fmt;
use std::net::SocketAddr;
use std::path::PathBuf;
use std::time::Duration;

/// Default number of datapoints per `Query` page when the request sets no limit.
pub const DEFAULT_PAGE_SIZE: u64 = 2000;
/// Default maximum `limit` a `Query` may ask for.
pub const DEFAULT_MAX_PAGE_SIZE: u64 = 10_000;
/// Default maximum request body size (after decompression), 64 MiB.
pub const DEFAULT_BODY_LIMIT: usize = 64 * 1024 * 1024;

/// Default time an HTTP/1 request's headers may take to arrive.
pub const DEFAULT_HEADER_READ_TIMEOUT: Duration = Duration::from_secs(10);
/// Default time a connection may sit idle (no request in progress, no bytes moving) before it is closed. It is
/// longer than the client pools' keep-alive (ureq 15 s, the async-std adapter 60 s, reqwest 90 s), so clients
/// close their idle connections first and never reuse one the server is just closing.
pub const DEFAULT_IDLE_TIMEOUT: Duration = Duration::from_secs(120);
/// Default maximum number of connections served at once; more wait in the listen backlog.
pub const DEFAULT_MAX_CONNECTIONS: usize = 256;
/// Default number of pooled PostgreSQL connections per server process.
pub const DEFAULT_POSTGRES_POOL_SIZE: u32 = 16;

/// Where the server keeps its data: SQLite (embedded, the default) or PostgreSQL.
#[derive(Clone, PartialEq, Eq, Default)]
#[non_exhaustive]
pub enum Database {
    /// A throw-away SQLite database in a temporary directory, deleted when the server stops (the default).
    #[default]
    Ephemeral,
    /// A SQLite database file, created if missing. One server process at a time.
    Sqlite(PathBuf),
    /// A PostgreSQL database given by its URL (`postgres://user:password@host:port/database`). Several server
    /// processes may share it.
    Postgres(String),
}

impl Database {
    /// The backend a `--database` value names: a `postgres://` or `postgresql://` URL is PostgreSQL,
    /// `sqlite://<path>` or any other value a SQLite file path.
    pub fn from_location(location: &str) -> Database {
        if location.starts_with("postgres://") || location.starts_with("postgresql://") {
            Database::Postgres(location.to_owned())
        } else {
            let path = location.strip_prefix("sqlite://").unwrap_or(location);
            Database::Sqlite(PathBuf::from(path))
        }
    }
}

impl fmt::Debug for Database {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Database::Ephemeral => f.write_str("Ephemeral"),
            Database::Sqlite(path) => f.debug_tuple("Sqlite").field(path).finish(),
            Database::Postgres(url) => f
                .debug_tuple("Postgres")
                .field(&redact_password(url))
                .finish(),
        }
    }
}

/// The URL with the password of its user info (if any) replaced.
fn redact_password(url: &str) -> String {
    let Some((scheme, rest)) = url.split_once("://") else {
        return url.to_owned();
    };
    let (authority, path) = rest.split_at(rest.find('/').unwrap_or(rest.len()));
    match authority.rsplit_once('@') {
        Some((user_info, host)) if user_info.contains(':') => {
            let user = user_info.split(':').next().unwrap_or_default();
            format!("{scheme}://{user}:<redacted>@{host}{path}")
        }
        _ => url.to_owned(),
    }
}

/// How the server runs. Build with [`ServerConfig::builder`].
#[derive(Clone)]
pub struct ServerConfig {
    pub(crate) listen: SocketAddr,
    pub(crate) database: Database,
    pub(crate) postgres_pool_size: u32,
    pub(crate) demo: bool,
    pub(crate) api_key: Option<String>,
    pub(crate) latency: Duration,
    pub(crate) default_page_size: u64,
    pub(crate) max_page_size: u64,
    pub(crate) body_limit: usize,
    pub(crate) header_read_timeout: Duration,
    pub(crate) idle_timeout: Duration,
    pub(crate) max_connections: usize,
    pub(crate) workflows: WorkflowsConfig,
    pub(crate) tls: Option<crate::tls::TlsIdentity>,
    pub(crate) assets_dir: Option<PathBuf>,
    pub(crate) asset_demo: bool,
}

impl fmt::Debug for ServerConfig {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("ServerConfig")
            .field("listen", &self.listen)
            .field("database", &self.database)
            .field("postgres_pool_size", &self.postgres_pool_size)
            .field("demo", &self.demo)
            .field("api_key", &self.api_key.as_ref().map(|_| "<redacted>"))
            .field("latency", &self.latency)
            .field("default_page_size", &self.default_page_size)
            .field("max_page_size", &self.max_page_size)
            .field("body_limit", &self.body_limit)
            .field("header_read_timeout", &self.header_read_timeout)
            .field("idle_timeout", &self.idle_timeout)
            .field("max_connections", &self.max_connections)
            .field("workflows", &self.workflows)
            .field("tls", &self.tls)
            .field("assets_dir", &self.assets_dir)
            .field("asset_demo", &self.asset_demo)
            .finish()
    }
}

impl Default for ServerConfig {
    fn default() -> Self {
        ServerConfig {
            listen: SocketAddr::from(([127, 0, 0, 1], 0)),
            database: Database::Ephemeral,
            postgres_pool_size: DEFAULT_POSTGRES_POOL_SIZE,
            demo: false,
            api_key: None,
            latency: Duration::ZERO,
            default_page_size: DEFAULT_PAGE_SIZE,
            max_page_size: DEFAULT_MAX_PAGE_SIZE,
            body_limit: DEFAULT_BODY_LIMIT,
            header_read_timeout: DEFAULT_HEADER_READ_TIMEOUT,
            idle_timeout: DEFAULT_IDLE_TIMEOUT,
            max_connections: DEFAULT_MAX_CONNECTIONS,
            workflows: WorkflowsConfig::default(),
            tls: None,
            assets_dir: None,
            asset_demo: false,
        }
    }
}

impl ServerConfig {
    /// A builder with defaults: `127.0.0.1:0`, a throw-away database (a temporary SQLite WAL file), no demo data, no API key, no latency.
    pub fn builder() -> ServerConfigBuilder {
        ServerConfigBuilder {
            config: ServerConfig::default(),
        }
    }

    /// The configured listen address.
    pub fn listen(&self) -> SocketAddr {
        self.listen
    }

    /// The SQLite database file, `None` for a throw-away database in a temporary directory or PostgreSQL.
    pub fn database(&self) -> Option<&PathBuf> {
        match &self.database {
            Database::Sqlite(path) => Some(path),
            _ => None,
        }
    }

    /// Where the server keeps its data.
    pub fn storage(&self) -> &Database {
        &self.database
    }

    /// Default page size.
    pub fn default_page_size(&self) -> u64 {
        self.default_page_size
    }

    /// Maximum page size.
    pub fn max_page_size(&self) -> u64 {
        self.max_page_size
    }
}

/// Builder of [`ServerConfig`].
#[derive(Debug, Clone)]
pub struct ServerConfigBuilder {
    config: ServerConfig,
}

impl ServerConfigBuilder {
    /// Address to listen on (default `127.0.0.1:0`, an ephemeral port).
    pub fn listen(mut self, addr: SocketAddr) -> Self {
        self.config.listen = addr;
        self
    }

    /// Store data in this SQLite file (created if missing) instead of a throw-away temporary one.
    pub fn database(mut self, path: impl Into<PathBuf>) -> Self {
        self.config.database = Database::Sqlite(path.into());
        self
    }

    /// Store data in the PostgreSQL database at this URL (`postgres://user:password@host:port/database`);
    /// several server processes may share it. The schema is created or upgraded when the server starts.
    pub fn postgres(mut self, url: impl Into<String>) -> Self {
        self.config.database = Database::Postgres(url.into());
        self
    }

    /// Where to store data (default [`Database::Ephemeral`]); see also [`database`](Self::database) and
    /// [`postgres`](Self::postgres).
    pub fn storage(mut self, database: Database) -> Self {
        self.config.database = database;
        self
    }

    /// Pooled connections per server process with PostgreSQL (default 16, at least 1).
    pub fn postgres_pool_size(mut self, n: u32) -> Self {
        self.config.postgres_pool_size = n.max(1);
        self
    }

    /// Seed the deterministic demo datasets when the store is empty.
    pub fn demo(mut self, demo: bool) -> Self {
        self.config.demo = demo;
        self
    }

    /// Require `Authorization: Bearer <key>` on every request.
    pub fn api_key(mut self, key: impl Into<String>) -> Self {
        self.config.api_key = Some(key.into());
        self
    }

    /// Emulated network delay added to every request.
    pub fn latency(mut self, latency: Duration) -> Self {
        self.config.latency = latency;
        self
    }

    /// Page size of `Query` when the request sets no limit (default 2000, at least 1).
    pub fn default_page_size(mut self, n: u64) -> Self {
        self.config.default_page_size = n.max(1);
        self
    }

    /// Largest `limit` a `Query` may ask for (default 10000, at least 1).
    pub fn max_page_size(mut self, n: u64) -> Self {
        self.config.max_page_size = n.max(1);
        self
    }

    /// Largest accepted request body in bytes, also after decompression (default 64 MiB).
    pub fn body_limit(mut self, bytes: usize) -> Self {
        self.config.body_limit = bytes.max(1);
        self
    }

    /// Time an HTTP/1 request's headers may take to arrive before its connection is closed (default 10 s;
    /// at least 1 ms).
    pub fn header_read_timeout(mut self, timeout: Duration) -> Self {
        self.config.header_read_timeout = timeout.max(Duration::from_millis(1));
        self
    }

    /// Time a connection may stay idle — no request in progress and no bytes moving — before it is closed; a
    /// request body that stops arriving for this long is answered with `deadline_exceeded` (default 120 s; at
    /// least 1 ms).
    pub fn idle_timeout(mut self, timeout: Duration) -> Self {
        self.config.idle_timeout = timeout.max(Duration::from_millis(1));
        self
    }

    /// Maximum number of connections served at once (default 256, at least 1). Further connections wait in
    /// the listen backlog until one closes.
    pub fn max_connections(mut self, n: usize) -> Self {
        self.config.max_connections = n.max(1);
        self
    }

    /// Timings of the workflows services (lease length, idling, lease reaper).
    pub fn workflows(mut self, workflows: WorkflowsConfig) -> Self {
        self.config.workflows = workflows;
        self
    }

    /// Serve HTTPS with this certificate and key instead of plain HTTP (rustls with ring; ALPN `h2` and
    /// `http/1.1`). Bad PEM is reported when the server starts ([`ServerError::Tls`](crate::ServerError::Tls)).
    pub fn tls(mut self, identity: crate::tls::TlsIdentity) -> Self {
        self.config.tls = Some(identity);
        self
    }

    /// Serve the files of this directory at `/assets/` (the asset demo writes its files here too). With
    /// demo data and no directory set, `<database>.assets/` or a throw-away directory is used.
    pub fn assets_dir(mut self, dir: impl Into<PathBuf>) -> Self {
        self.config.assets_dir = Some(dir.into());
        self
    }

    /// Seed only the asset demo dataset (`open_data.demo.scene_assets`), not the large demo datasets;
    /// `demo(true)` seeds it too.
    pub fn asset_demo(mut self, seed: bool) -> Self {
        self.config.asset_demo = seed;
        self
    }

    /// The finished configuration. The default page size is capped at the maximum.
    pub fn build(mut self) -> ServerConfig {
        self.config.default_page_size =
            self.config.default_page_size.min(self.config.max_page_size);
        self.config
    }
}

/// Timings of the workflows services. Production hands out 15 s leases; tests use short ones.
///
/// Leases should stay whole seconds of at least 2 s when Python runners take part (the Python SDK
/// truncates lease durations to seconds); Rust runners handle any length.
#[derive(Debug, Clone)]
pub struct WorkflowsConfig {
    pub(crate) lease: Duration,
    pub(crate) max_lease: Duration,
    pub(crate) idle: Duration,
    pub(crate) reaper_interval: Duration,
    pub(crate) automation_interval: Duration,
    pub(crate) object_store_interval: Duration,
    pub(crate) max_lease_expiries: i64,
    pub(crate) telemetry_max_age: Duration,
    pub(crate) telemetry_max_rows: u64,
}

impl Default for WorkflowsConfig {
    fn default() -> Self {
        Self {
            lease: Duration::from_secs(15),
            max_lease: Duration::from_secs(300),
            idle: Duration::from_secs(1),
            reaper_interval: Duration::from_millis(500),
            automation_interval: Duration::from_millis(500),
            object_store_interval: Duration::from_secs(30),
            max_lease_expiries: 10,
            telemetry_max_age: Duration::from_secs(7 * 24 * 3600),
            telemetry_max_rows: 1_000_000,
        }
    }
}

impl WorkflowsConfig {
    /// A builder starting from the defaults (15 s lease, 5 min max lease, 1 s idle, 500 ms reaper, 10 expiries).
    pub fn builder() -> WorkflowsConfigBuilder {
        WorkflowsConfigBuilder {
            config: Self::default(),
        }
    }
}

/// Builder of [`WorkflowsConfig`].
#[derive(Debug, Clone)]
pub struct WorkflowsConfigBuilder {
    config: WorkflowsConfig,
}

impl WorkflowsConfigBuilder {
    /// The lease handed out with every claimed task.
    pub fn lease(mut self, lease: Duration) -> Self {
        self.config.lease = lease;
        self
    }

    /// The longest lease an extension can grant.
    pub fn max_lease(mut self, max_lease: Duration) -> Self {
        self.config.max_lease = max_lease;
        self
    }

    /// The idling duration suggested to runners when no task is eligible (a little jitter is added).
    pub fn idle(mut self, idle: Duration) -> Self {
        self.config.idle = idle;
        self
    }

    /// How often expired leases are requeued in the background (they are also requeued on every task call).
    pub fn reaper_interval(mut self, interval: Duration) -> Self {
        self.config.reaper_interval = interval;
        self
    }

    /// How often due cron triggers are fired and local storage locations are listed for new objects.
    pub fn automation_interval(mut self, interval: Duration) -> Self {
        self.config.automation_interval = interval;
        self
    }

    /// How often S3, GCS and Azure storage locations are listed for new objects (default 30 s; each listing
    /// is one or more LIST requests to the bucket, so this is much longer than the local interval). Never
    /// more often than [`automation_interval`](Self::automation_interval).
    pub fn object_store_interval(mut self, interval: Duration) -> Self {
        self.config.object_store_interval = interval;
        self
    }

    /// How many lease expiries a task survives before it fails for good (default 10).
    pub fn max_lease_expiries(mut self, n: u32) -> Self {
        self.config.max_lease_expiries = i64::from(n);
        self
    }

    /// How long exported log records and spans are kept after they arrive (default 7 days).
    pub fn telemetry_max_age(mut self, age: Duration) -> Self {
        self.config.telemetry_max_age = age;
        self
    }

    /// How many log records, and how many spans, are kept at most; the oldest go first (default 1,000,000).
    pub fn telemetry_max_rows(mut self, rows: u64) -> Self {
        self.config.telemetry_max_rows = rows;
        self
    }

    /// The finished configuration.
    pub fn build(self) -> WorkflowsConfig {
        self.config
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn database_locations_choose_the_backend() {
        assert_eq!(
            Database::from_location("postgres://u:p@127.0.0.1:5433/db"),
            Database::Postgres("postgres://u:p@127.0.0.1:5433/db".into())
        );
        assert!(matches!(
            Database::from_location("postgresql://h/db"),
            Database::Postgres(_)
        ));
        assert_eq!(
            Database::from_location("sqlite:///tmp/x.db"),
            Database::Sqlite("/tmp/x.db".into())
        );
        assert_eq!(
            Database::from_location("data/tilebox.db"),
            Database::Sqlite("data/tilebox.db".into())
        );
    }

    #[test]
    fn passwords_stay_out_of_debug_output() {
        let shown = format!(
            "{:?}",
            Database::from_location("postgres://me:secret@h:1/db")
        );
        assert!(!shown.contains("secret"), "{shown}");
        assert!(shown.contains("me:<redacted>@h:1/db"), "{shown}");
        let shown = format!("{:?}", Database::from_location("postgres://me@h/db"));
        assert!(shown.contains("me@h/db"), "{shown}");
    }
}
