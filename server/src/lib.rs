//! Pairpad server: REST API for rooms, the Yjs sync protocol over WebSocket, persistence in
//! SQLite or PostgreSQL. `main.rs` only parses [`Config`] and calls [`run`]; tests and the
//! desktop app start the same server in-process.

pub mod autocomplete;
pub mod config;
pub mod http;
pub mod metrics;
pub mod store;
pub mod sync;

use std::future::Future;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;

use axum::serve::ListenerExt;
use tokio::net::TcpListener;
use tokio::sync::Semaphore;
use tokio_util::sync::CancellationToken;
use tokio_util::task::TaskTracker;

pub use config::{Config, LogFormat};
pub use http::app;

use metrics::Metrics;
use store::Store;
use sync::registry::RoomSettings;
use sync::RoomRegistry;

/// Shared services handed to every handler.
#[derive(Clone)]
pub struct AppState {
    /// Server configuration.
    pub config: Arc<Config>,
    /// Durable storage.
    pub store: Arc<dyn Store>,
    /// Live rooms.
    pub registry: Arc<RoomRegistry>,
    /// Prometheus metrics.
    pub metrics: Arc<Metrics>,
    /// One permit per open WebSocket.
    pub connection_slots: Arc<Semaphore>,
    /// Cancelled when the server begins to shut down.
    pub shutdown: CancellationToken,
    /// Every connection and room task, awaited on shutdown.
    pub tracker: TaskTracker,
    /// The language model client, when `--ai-endpoint` is set.
    pub ai: Option<Arc<autocomplete::ai::AiClient>>,
    /// Tells every WebSocket session when to ping.
    pub ping_clock: sync::session::PingClock,
    next_connection: Arc<AtomicU64>,
}

impl AppState {
    /// Builds the state around an open store.
    pub fn new(config: Config, store: Arc<dyn Store>) -> Self {
        let ai = config.ai_endpoint.as_ref().and_then(|endpoint| {
            let settings = autocomplete::ai::AiSettings {
                endpoint: endpoint.clone(),
                model: config.ai_model.clone(),
                api_key: config.ai_api_key.clone(),
                budget: config.ai_timeout,
            };
            match autocomplete::ai::AiClient::new(settings) {
                Ok(client) => Some(Arc::new(client)),
                Err(error) => {
                    tracing::error!(%error, "AI suggestions disabled");
                    None
                }
            }
        });
        let metrics = Arc::new(Metrics::new());
        let shutdown = CancellationToken::new();
        let tracker = TaskTracker::new();
        let settings = RoomSettings {
            room_idle: config.room_idle,
            compact_after: config.compact_after.max(1),
        };
        let registry = RoomRegistry::new(
            store.clone(),
            metrics.clone(),
            settings,
            shutdown.clone(),
            tracker.clone(),
        );
        Self {
            connection_slots: Arc::new(Semaphore::new(config.max_connections)),
            config: Arc::new(config),
            store,
            registry: Arc::new(registry),
            metrics,
            shutdown,
            tracker,
            ai,
            ping_clock: sync::session::PingClock::default(),
            next_connection: Arc::new(AtomicU64::new(1)),
        }
    }

    /// A process-unique id for a new connection.
    pub fn next_connection_id(&self) -> u64 {
        self.next_connection.fetch_add(1, Ordering::Relaxed)
    }
}

/// Why the server could not start or stopped with an error.
#[derive(Debug, thiserror::Error)]
pub enum ServerError {
    /// Bad configuration.
    #[error(transparent)]
    Config(#[from] config::ConfigError),
    /// The store could not be opened.
    #[error("cannot open the store: {0}")]
    Store(#[from] store::StoreError),
    /// The listener failed.
    #[error("server I/O error: {0}")]
    Io(#[from] std::io::Error),
}

/// Opens the store, serves on `listener` until `shutdown` resolves, then shuts down
/// gracefully: stops accepting, closes every WebSocket with a close frame, flushes every
/// pending write and closes the store.
pub async fn run(
    config: Config,
    listener: TcpListener,
    shutdown: impl Future<Output = ()> + Send + 'static,
) -> Result<(), ServerError> {
    let url = config.effective_database_url()?;
    tracing::info!(database = %config::redact_url(&url), "opening store");
    let store = store::connect(&url).await?;
    serve(AppState::new(config, store), listener, shutdown).await
}

/// Serves `state` on `listener` until `shutdown` resolves (see [`run`]).
pub async fn serve(
    state: AppState,
    listener: TcpListener,
    shutdown: impl Future<Output = ()> + Send + 'static,
) -> Result<(), ServerError> {
    let addr = listener.local_addr()?;
    println!("listening on http://{addr}");
    tracing::info!(%addr, "listening");
    let token = state.shutdown.clone();
    let tracker = state.tracker.clone();
    let store = state.store.clone();
    // Edits and cursors are small writes that must leave at once: without TCP_NODELAY,
    // Nagle's algorithm holds a write back behind an unacknowledged one, and the peer's
    // delayed acknowledgement can stall it for 40 ms.
    let listener = listener.tap_io(|tcp| {
        if let Err(error) = tcp.set_nodelay(true) {
            tracing::debug!(%error, "cannot set TCP_NODELAY");
        }
    });
    let served = axum::serve(listener, app(state))
        .with_graceful_shutdown(async move {
            shutdown.await;
            tracing::info!("shutting down");
            token.cancel();
        })
        .await;
    tracker.close();
    tracker.wait().await;
    store.close().await;
    tracing::info!("stopped");
    served.map_err(ServerError::Io)
}
