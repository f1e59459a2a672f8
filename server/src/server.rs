//! Starting and stopping the server: [`serve`] on the caller's tokio runtime, [`spawn_background`] on a
//! runtime of its own.

use std::net::SocketAddr;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};

use prost_reflect::DescriptorPool;
use tokio::sync::oneshot;
use tokio::task::JoinHandle;

use crate::config::{Database, ServerConfig};
use crate::connections::Limits;
use crate::protocol::{App, router};
use crate::registry::ServiceRegistry;
use crate::schema::{SchemaCache, base_pool};
use crate::state::ServerState;
use crate::store::db::{self, SqliteDb, SqliteMode};
use crate::store::workflows::{SqlWorkflowsStore, WorkflowsStore};
use crate::store::{DatasetsStore, StoreError, migrations};

/// How long open connections may take to finish after shutdown was requested.
const SHUTDOWN_GRACE: std::time::Duration = std::time::Duration::from_secs(3);

/// Why the server could not start.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum ServerError {
    /// Opening or preparing the database failed.
    #[error("storage: {0}")]
    Store(#[from] StoreError),
    /// Seeding the demo data failed.
    #[error("demo data: {0}")]
    Demo(#[from] crate::demo::DemoError),
    /// Binding the listen address or starting a runtime failed.
    #[error("i/o: {0}")]
    Io(#[from] std::io::Error),
    /// The bundled descriptors did not load.
    #[error("descriptors: {0}")]
    Descriptors(String),
    /// The background server thread ended before reporting.
    #[error("background server thread failed to start")]
    Background,
    /// The TLS certificate or key could not be used.
    #[error("TLS: {0}")]
    Tls(String),
}

/// Builds the registry with every service this server offers.
///
/// To add services, register them here, e.g. `crate::datasets::register(&mut registry)`.
pub fn build_registry(pool: DescriptorPool) -> ServiceRegistry {
    let mut registry = ServiceRegistry::new(pool);
    crate::datasets::register(&mut registry);
    crate::workflows::register(&mut registry);
    registry
}

/// A running server on the caller's runtime. Dropping it also stops the server (without waiting).
#[derive(Debug)]
pub struct ServerHandle {
    addr: SocketAddr,
    tls: bool,
    connections: Arc<AtomicU64>,
    stop: Option<oneshot::Sender<()>>,
    task: Option<JoinHandle<()>>,
}

impl ServerHandle {
    /// The bound address.
    pub fn addr(&self) -> SocketAddr {
        self.addr
    }

    /// The base URL, `http://127.0.0.1:PORT` (`https://` when serving TLS).
    pub fn url(&self) -> String {
        base_url(self.tls, self.addr)
    }

    /// How many connections the server has accepted so far (TCP connections, whatever was sent on them).
    pub fn connections_accepted(&self) -> u64 {
        self.connections.load(Ordering::Relaxed)
    }

    /// Stops accepting connections, lets in-flight requests finish and closes the database.
    pub async fn shutdown(mut self) {
        if let Some(stop) = self.stop.take() {
            let _ = stop.send(());
        }
        if let Some(task) = self.task.take() {
            let _ = task.await;
        }
    }
}

impl Drop for ServerHandle {
    fn drop(&mut self) {
        if let Some(stop) = self.stop.take() {
            let _ = stop.send(());
        }
    }
}

fn base_url(tls: bool, addr: SocketAddr) -> String {
    let scheme = if tls { "https" } else { "http" };
    format!("{scheme}://{addr}")
}

/// The opened stores, and what to close when the server stops.
struct Stores {
    datasets: DatasetsStore,
    workflows: Arc<dyn WorkflowsStore>,
    close: Box<dyn FnOnce() -> futures::future::BoxFuture<'static, ()> + Send>,
}

/// Opens the datasets and workflows stores on the configured backend (both on one database).
async fn open_stores(config: &ServerConfig) -> Result<Stores, ServerError> {
    let (datasets, workflows_db) = match &config.database {
        Database::Postgres(url) => {
            let datasets =
                DatasetsStore::connect_postgres(url, config.postgres_pool_size as usize).await?;
            let db = datasets.database().clone();
            (datasets, db)
        }
        Database::Sqlite(path) => {
            let datasets = DatasetsStore::open_sqlite(path).await?;
            let db = datasets.database().clone();
            (datasets, db)
        }
        Database::Ephemeral => {
            // A throw-away server keeps the workflows tables in a private file beside the datasets one
            // (see `SqliteMode::Private`).
            let datasets = DatasetsStore::open_scratch().await?;
            let dir = datasets.scratch_dir().ok_or_else(|| {
                StoreError::Io("a throw-away database without its directory".into())
            })?;
            let path = dir.path().join("workflows.db");
            let db = tokio::task::spawn_blocking(move || {
                SqliteDb::open(&path, SqliteMode::Private, migrations::apply)
            })
            .await
            .map_err(|e| StoreError::Io(format!("opening the workflows database failed: {e}")))?
            .map_err(StoreError::from)?;
            (datasets, db::Database::Sqlite(db))
        }
    };
    let workflows = SqlWorkflowsStore::open(workflows_db, config.workflows.clone()).await?;
    Ok(Stores {
        datasets,
        workflows: Arc::new(workflows),
        close: Box::new(|| Box::pin(async {})),
    })
}

/// Opens the store, seeds demo data if configured, binds the listen address and serves in a task on the
/// current tokio runtime.
pub async fn serve(config: ServerConfig) -> Result<ServerHandle, ServerError> {
    let stores = open_stores(&config).await?;
    // Processes sharing a PostgreSQL database seed one at a time (the first seeds, the others find the data).
    let seeding = match config.demo || config.asset_demo {
        true => Some(stores.datasets.seeding_lock().await?),
        false => None,
    };
    if config.demo
        && let Some(stats) = crate::demo::seed_if_empty(&stores.datasets).await?
    {
        tracing::info!(
            datapoints = stats.datapoints,
            elapsed_ms = stats.elapsed.as_millis() as u64,
            rows_per_sec = (stats.datapoints as f64 / stats.elapsed.as_secs_f64().max(1e-9)) as u64,
            "demo data generated"
        );
    }
    let pool = base_pool()
        .map_err(|s| ServerError::Descriptors(s.message))?
        .clone();
    let close_db = stores.close;
    let state = Arc::new(ServerState {
        config: config.clone(),
        store: Arc::new(stores.datasets),
        workflows: stores.workflows,
        schemas: SchemaCache::default(),
    });
    let reaper = crate::workflows::spawn_lease_reaper(
        Arc::clone(&state.workflows),
        config.workflows.reaper_interval,
    );
    let automations = crate::workflows::spawn_automation_firing(
        Arc::clone(&state.workflows),
        config.workflows.automation_interval,
        config.workflows.object_store_interval,
    );
    let registry = build_registry(pool);
    let app = Arc::new(App { registry, state });
    let tls = config
        .tls
        .as_ref()
        .map(|identity| identity.server_config())
        .transpose()
        .map_err(ServerError::Tls)?;
    let is_tls = tls.is_some();
    let listener = tokio::net::TcpListener::bind(config.listen).await?;
    let addr = listener.local_addr()?;
    let asset_files = crate::assets::AssetFiles::open(&config)?.map(Arc::new);
    if let Some(files) = &asset_files
        && (config.demo || config.asset_demo)
        && let Some(n) =
            crate::assets::seed_demo(app.state.store.as_ref(), files, &base_url(is_tls, addr))
                .await?
    {
        tracing::info!(datapoints = n, dir = %files.root().display(), "asset demo generated");
    }
    if let Some(lock) = seeding {
        lock.release().await;
    }
    let (stop_tx, stop_rx) = oneshot::channel::<()>();
    let connections = Arc::new(AtomicU64::new(0));
    let router = match asset_files {
        Some(files) => router(app).merge(files.router()),
        None => router(app),
    };
    let limits = Limits::from_config(&config);
    let accepted = Arc::clone(&connections);
    let task = tokio::spawn(async move {
        // Connections get SHUTDOWN_GRACE to finish after the stop signal; clients that keep a connection
        // open (e.g. mid-body after an error answer) do not block shutdown forever.
        let stop = async move {
            let _ = stop_rx.await;
        };
        crate::connections::serve(
            listener,
            router,
            limits,
            tls,
            accepted,
            stop,
            SHUTDOWN_GRACE,
        )
        .await;
        reaper.abort();
        automations.abort();
        close_db().await;
    });
    tracing::info!(url = %base_url(is_tls, addr), "tilebox-server listening");
    Ok(ServerHandle {
        addr,
        tls: is_tls,
        connections,
        stop: Some(stop_tx),
        task: Some(task),
    })
}

/// A server running on its own thread and tokio runtime; dropping it shuts the server down and waits.
#[derive(Debug)]
pub struct BackgroundServer {
    addr: SocketAddr,
    tls: bool,
    connections: Arc<AtomicU64>,
    stop: Option<oneshot::Sender<()>>,
    thread: Option<std::thread::JoinHandle<()>>,
}

impl BackgroundServer {
    /// The bound address.
    pub fn addr(&self) -> SocketAddr {
        self.addr
    }

    /// The base URL, `http://127.0.0.1:PORT` (`https://` when serving TLS).
    pub fn url(&self) -> String {
        base_url(self.tls, self.addr)
    }

    /// How many connections the server has accepted so far (TCP connections, whatever was sent on them).
    pub fn connections_accepted(&self) -> u64 {
        self.connections.load(Ordering::Relaxed)
    }
}

impl Drop for BackgroundServer {
    fn drop(&mut self) {
        if let Some(stop) = self.stop.take() {
            let _ = stop.send(());
        }
        if let Some(thread) = self.thread.take() {
            let _ = thread.join();
        }
    }
}

/// Starts the server on a new thread with its own tokio runtime (for blocking, async-std or smol callers).
/// Returns once the server is listening (demo data seeded).
pub fn spawn_background(config: ServerConfig) -> Result<BackgroundServer, ServerError> {
    type Ready = (SocketAddr, bool, Arc<AtomicU64>);
    let (ready_tx, ready_rx) = std::sync::mpsc::channel::<Result<Ready, ServerError>>();
    let (stop_tx, stop_rx) = oneshot::channel::<()>();
    let thread = std::thread::Builder::new()
        .name("tilebox-server".into())
        .spawn(move || {
            let runtime = match tokio::runtime::Builder::new_multi_thread()
                .worker_threads(2)
                .enable_all()
                .build()
            {
                Ok(rt) => rt,
                Err(e) => {
                    let _ = ready_tx.send(Err(e.into()));
                    return;
                }
            };
            runtime.block_on(async move {
                match serve(config).await {
                    Ok(handle) => {
                        let _ = ready_tx.send(Ok((
                            handle.addr,
                            handle.tls,
                            Arc::clone(&handle.connections),
                        )));
                        let _ = stop_rx.await;
                        handle.shutdown().await;
                    }
                    Err(e) => {
                        let _ = ready_tx.send(Err(e));
                    }
                }
            });
        })?;
    match ready_rx.recv() {
        Ok(Ok((addr, tls, connections))) => Ok(BackgroundServer {
            addr,
            tls,
            connections,
            stop: Some(stop_tx),
            thread: Some(thread),
        }),
        Ok(Err(e)) => {
            let _ = thread.join();
            Err(e)
        }
        Err(_) => {
            let _ = thread.join();
            Err(ServerError::Background)
        }
    }
}
