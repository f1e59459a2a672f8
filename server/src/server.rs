//! Starting and stopping the server: [`serve`] on the caller's tokio runtime, [`spawn_background`] on a
//! runtime of its own.

use std::net::SocketAddr;
use std::sync::Arc;

use prost_reflect::DescriptorPool;
use tokio::sync::oneshot;
use tokio::task::JoinHandle;

use crate::config::ServerConfig;
use crate::connections::Limits;
use crate::protocol::{App, router};
use crate::registry::ServiceRegistry;
use crate::schema::{SchemaCache, base_pool};
use crate::state::ServerState;
use crate::store::workflows::{SqliteWorkflowsStore, WorkflowsStore};
use crate::store::{SqliteStore, Store, StoreError};

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
    stop: Option<oneshot::Sender<()>>,
    task: Option<JoinHandle<()>>,
}

impl ServerHandle {
    /// The bound address.
    pub fn addr(&self) -> SocketAddr {
        self.addr
    }

    /// The base URL, `http://127.0.0.1:PORT`.
    pub fn url(&self) -> String {
        format!("http://{}", self.addr)
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

async fn open_store(config: &ServerConfig) -> Result<SqliteStore, ServerError> {
    Ok(match &config.database {
        Some(path) => SqliteStore::open_file(path).await?,
        None => SqliteStore::open_ephemeral().await?,
    })
}

/// Opens the store, seeds demo data if configured, binds the listen address and serves in a task on the
/// current tokio runtime.
pub async fn serve(config: ServerConfig) -> Result<ServerHandle, ServerError> {
    let sqlite = open_store(&config).await?;
    if config.demo
        && let Some(stats) = crate::demo::seed_if_empty(&sqlite).await?
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
    let db = sqlite.pool().clone();
    let writer = sqlite.writer().clone();
    let workflows =
        SqliteWorkflowsStore::open(db.clone(), writer, config.workflows.clone()).await?;
    let state = Arc::new(ServerState {
        config: config.clone(),
        store: Arc::new(sqlite) as Arc<dyn Store>,
        workflows: Arc::new(workflows) as Arc<dyn WorkflowsStore>,
        schemas: SchemaCache::default(),
    });
    let reaper = crate::workflows::spawn_lease_reaper(
        Arc::clone(&state.workflows),
        config.workflows.reaper_interval,
    );
    let registry = build_registry(pool);
    let app = Arc::new(App { registry, state });
    let listener = tokio::net::TcpListener::bind(config.listen).await?;
    let addr = listener.local_addr()?;
    let asset_files = crate::assets::AssetFiles::open(&config)?.map(Arc::new);
    if let Some(files) = &asset_files
        && (config.demo || config.asset_demo)
        && let Some(n) =
            crate::assets::seed_demo(app.state.store.as_ref(), files, &format!("http://{addr}"))
                .await?
    {
        tracing::info!(datapoints = n, dir = %files.root().display(), "asset demo generated");
    }
    let (stop_tx, stop_rx) = oneshot::channel::<()>();
    let router = match asset_files {
        Some(files) => router(app).merge(files.router()),
        None => router(app),
    };
    let limits = Limits::from_config(&config);
    let task = tokio::spawn(async move {
        // Connections get SHUTDOWN_GRACE to finish after the stop signal; clients that keep a connection
        // open (e.g. mid-body after an error answer) do not block shutdown forever.
        let stop = async move {
            let _ = stop_rx.await;
        };
        crate::connections::serve(listener, router, limits, stop, SHUTDOWN_GRACE).await;
        reaper.abort();
        db.close().await;
    });
    tracing::info!(url = %format!("http://{addr}"), "tilebox-server listening");
    Ok(ServerHandle {
        addr,
        stop: Some(stop_tx),
        task: Some(task),
    })
}

/// A server running on its own thread and tokio runtime; dropping it shuts the server down and waits.
#[derive(Debug)]
pub struct BackgroundServer {
    addr: SocketAddr,
    stop: Option<oneshot::Sender<()>>,
    thread: Option<std::thread::JoinHandle<()>>,
}

impl BackgroundServer {
    /// The bound address.
    pub fn addr(&self) -> SocketAddr {
        self.addr
    }

    /// The base URL, `http://127.0.0.1:PORT`.
    pub fn url(&self) -> String {
        format!("http://{}", self.addr)
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
    let (ready_tx, ready_rx) = std::sync::mpsc::channel::<Result<SocketAddr, ServerError>>();
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
                        let _ = ready_tx.send(Ok(handle.addr()));
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
        Ok(Ok(addr)) => Ok(BackgroundServer {
            addr,
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
