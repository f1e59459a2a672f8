//! `tilebox-server` binary: runs the local Tilebox-compatible server until SIGINT/SIGTERM.

use std::net::SocketAddr;
use std::path::PathBuf;
use std::process::ExitCode;
use std::time::Duration;

use clap::Parser;
use tilebox_server::ServerConfig;

/// Local Tilebox-compatible server (Connect + gRPC on one port, SQLite or PostgreSQL storage).
#[derive(Debug, Parser)]
#[command(name = "tilebox-server", version, about)]
struct Args {
    /// Address to listen on.
    #[arg(long, env = "TILEBOX_SERVER_LISTEN", default_value = "127.0.0.1:8083")]
    listen: SocketAddr,
    /// Where to keep data: a SQLite database file (created if missing; `sqlite://<path>` works too) or a
    /// PostgreSQL URL (`postgres://user:password@host:port/database`, shareable by several server processes);
    /// a throw-away SQLite database when omitted.
    #[arg(long, env = "TILEBOX_SERVER_DATABASE", hide_env_values = true)]
    database: Option<String>,
    /// Pooled PostgreSQL connections per server process.
    #[arg(long, env = "TILEBOX_SERVER_POSTGRES_POOL_SIZE", default_value_t = tilebox_server::config::DEFAULT_POSTGRES_POOL_SIZE)]
    postgres_pool_size: u32,
    /// Seed the deterministic demo datasets when the database is empty.
    #[arg(long, env = "TILEBOX_SERVER_DEMO")]
    demo: bool,
    /// Require `Authorization: Bearer <key>` on every request.
    #[arg(long, env = "TILEBOX_SERVER_API_KEY", hide_env_values = true)]
    api_key: Option<String>,
    /// Query page size when the request sets no limit.
    #[arg(long, env = "TILEBOX_SERVER_DEFAULT_PAGE_SIZE", default_value_t = tilebox_server::config::DEFAULT_PAGE_SIZE)]
    default_page_size: u64,
    /// Largest page size a Query may request.
    #[arg(long, env = "TILEBOX_SERVER_MAX_PAGE_SIZE", default_value_t = tilebox_server::config::DEFAULT_MAX_PAGE_SIZE)]
    max_page_size: u64,
    /// Emulated network latency added to every request, in milliseconds.
    #[arg(long, env = "TILEBOX_SERVER_LATENCY_MS", default_value_t = 0)]
    latency_ms: u64,
    /// Largest request body in bytes (also after decompression).
    #[arg(long, env = "TILEBOX_SERVER_BODY_LIMIT", default_value_t = tilebox_server::config::DEFAULT_BODY_LIMIT)]
    body_limit: usize,
    /// Serve HTTPS with this PEM certificate chain (needs `--tls-key`).
    #[arg(long, env = "TILEBOX_SERVER_TLS_CERT", requires = "tls_key")]
    tls_cert: Option<PathBuf>,
    /// The PEM private key of `--tls-cert`.
    #[arg(long, env = "TILEBOX_SERVER_TLS_KEY", requires = "tls_cert")]
    tls_key: Option<PathBuf>,
    /// Directory whose files are served at `/assets/` (default with --demo: next to the database, or a
    /// throw-away directory).
    #[arg(long, env = "TILEBOX_SERVER_ASSETS_DIR")]
    assets_dir: Option<PathBuf>,
    /// Time an HTTP/1 request's headers may take to arrive, in milliseconds.
    #[arg(long, env = "TILEBOX_SERVER_HEADER_READ_TIMEOUT_MS", default_value_t = tilebox_server::config::DEFAULT_HEADER_READ_TIMEOUT.as_millis() as u64)]
    header_read_timeout_ms: u64,
    /// Time an idle connection (no request in progress, no bytes moving) stays open, in milliseconds.
    #[arg(long, env = "TILEBOX_SERVER_IDLE_TIMEOUT_MS", default_value_t = tilebox_server::config::DEFAULT_IDLE_TIMEOUT.as_millis() as u64)]
    idle_timeout_ms: u64,
    /// Lease of a claimed workflows task in milliseconds: a task whose runner neither reports nor extends it
    /// for this long is handed out again.
    #[arg(long, env = "TILEBOX_SERVER_TASK_LEASE_MS", default_value_t = 15_000)]
    task_lease_ms: u64,
    /// How often (ms) due cron automations fire and local storage locations are listed for new objects.
    #[arg(
        long,
        env = "TILEBOX_SERVER_AUTOMATION_INTERVAL_MS",
        default_value_t = 500
    )]
    automation_interval_ms: u64,
    /// How often (ms) S3, GCS and Azure storage locations are listed for new objects (credentials and
    /// endpoints from the environment: `AWS_*`, `GOOGLE_*`, `AZURE_*` as object_store reads them).
    #[arg(
        long,
        env = "TILEBOX_SERVER_OBJECT_STORE_INTERVAL_MS",
        default_value_t = 30_000
    )]
    object_store_interval_ms: u64,
    /// Maximum number of connections served at once; more wait in the listen backlog.
    #[arg(long, env = "TILEBOX_SERVER_MAX_CONNECTIONS", default_value_t = tilebox_server::config::DEFAULT_MAX_CONNECTIONS)]
    max_connections: usize,
}

async fn shutdown_signal() {
    #[cfg(unix)]
    {
        use tokio::signal::unix::{SignalKind, signal};
        match signal(SignalKind::terminate()) {
            Ok(mut term) => {
                tokio::select! {
                    _ = tokio::signal::ctrl_c() => {}
                    _ = term.recv() => {}
                }
            }
            Err(_) => {
                let _ = tokio::signal::ctrl_c().await;
            }
        }
    }
    #[cfg(not(unix))]
    {
        let _ = tokio::signal::ctrl_c().await;
    }
}

#[tokio::main]
async fn main() -> ExitCode {
    tracing_subscriber::fmt()
        .with_env_filter(
            tracing_subscriber::EnvFilter::try_from_default_env()
                .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("info")),
        )
        .init();
    let args = Args::parse();
    let mut builder = ServerConfig::builder()
        .listen(args.listen)
        .demo(args.demo)
        .default_page_size(args.default_page_size)
        .max_page_size(args.max_page_size)
        .latency(Duration::from_millis(args.latency_ms))
        .body_limit(args.body_limit)
        .header_read_timeout(Duration::from_millis(args.header_read_timeout_ms))
        .idle_timeout(Duration::from_millis(args.idle_timeout_ms))
        .max_connections(args.max_connections)
        .workflows(
            tilebox_server::WorkflowsConfig::builder()
                .lease(Duration::from_millis(args.task_lease_ms.max(1)))
                .automation_interval(Duration::from_millis(args.automation_interval_ms))
                .object_store_interval(Duration::from_millis(args.object_store_interval_ms))
                .build(),
        );
    builder = builder.postgres_pool_size(args.postgres_pool_size);
    if let Some(db) = args.database.filter(|d| !d.is_empty()) {
        builder = builder.storage(tilebox_server::config::Database::from_location(&db));
    }
    if let Some(dir) = args.assets_dir {
        builder = builder.assets_dir(dir);
    }
    if let Some(key) = args.api_key.filter(|k| !k.is_empty()) {
        builder = builder.api_key(key);
    }
    if let (Some(cert), Some(key)) = (&args.tls_cert, &args.tls_key) {
        let read = |path: &PathBuf| {
            std::fs::read(path).map_err(|e| format!("reading {}: {e}", path.display()))
        };
        match read(cert).and_then(|c| Ok((c, read(key)?))) {
            Ok((cert, key)) => {
                builder = builder.tls(tilebox_server::TlsIdentity::from_pem(cert, key))
            }
            Err(e) => {
                eprintln!("tilebox-server: {e}");
                return ExitCode::FAILURE;
            }
        }
    }
    let config = builder.build();
    tracing::info!(?config, "starting");
    let handle = match tilebox_server::serve(config).await {
        Ok(h) => h,
        Err(e) => {
            eprintln!("tilebox-server: {e}");
            return ExitCode::FAILURE;
        }
    };
    println!("tilebox-server listening on {}", handle.url());
    shutdown_signal().await;
    tracing::info!("shutting down");
    handle.shutdown().await;
    ExitCode::SUCCESS
}
