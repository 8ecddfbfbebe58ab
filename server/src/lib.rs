//! Pairpad server: REST API for rooms, the Yjs sync protocol over WebSocket, persistence in
//! SQLite or PostgreSQL. `main.rs` only parses [`Config`] and calls [`run`]; tests and the
//! desktop app start the same server in-process.

pub mod autocomplete;
pub mod config;
pub mod http;
pub mod meta;
pub mod metrics;
pub mod net;
pub mod rooms;
pub mod store;
pub mod sync;

use std::future::Future;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;

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
    /// Loaded documents and queued frames, against `--memory-budget`.
    pub memory: Arc<sync::budget::MemoryBudget>,
    /// Requests to join, when `--lobby` is on.
    pub lobby: Option<Arc<http::lobby::Lobby>>,
    /// How often each address may create a room.
    pub room_creation: Arc<http::rate_limit::RateLimiter>,
    /// One permit per autocomplete request being computed.
    pub autocomplete_slots: Arc<Semaphore>,
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
        let memory = sync::budget::MemoryBudget::new(config.memory_budget);
        let settings = RoomSettings {
            room_idle: config.room_idle,
            compact_after: config.compact_after.max(1),
            max_document_bytes: config.max_document_bytes,
            memory: memory.clone(),
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
            memory,
            lobby: config.lobby.then(Default::default),
            room_creation: Arc::new(http::rate_limit::RateLimiter::per_minute(
                config.rooms_per_minute,
            )),
            autocomplete_slots: Arc::new(Semaphore::new(
                config
                    .autocomplete_concurrency
                    .unwrap_or_else(|| std::thread::available_parallelism().map_or(2, usize::from))
                    .max(1),
            )),
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
    let descriptors = net::raise_descriptor_limit();
    let cap = net::connection_cap(descriptors);
    if state.config.max_connections > cap {
        tracing::warn!(
            max_connections = state.config.max_connections,
            cap,
            "the open file limit allows fewer connections than --max-connections"
        );
    }
    println!("listening on http://{addr}");
    tracing::info!(%addr, ?descriptors, "listening");
    let token = state.shutdown.clone();
    let tracker = state.tracker.clone();
    let store = state.store.clone();
    let settings = net::AcceptSettings {
        limits: net::ConnectionLimits::new(state.config.max_connections_per_address, cap),
        header_timeout: state.config.header_timeout,
    };
    let stop = token.clone();
    tokio::spawn(async move {
        tokio::select! {
            () = shutdown => {
                tracing::info!("shutting down");
                stop.cancel();
            }
            () = stop.cancelled() => {}
        }
    });
    net::accept_loop(listener, app(state), settings, token, tracker.clone()).await;
    tracker.close();
    tracker.wait().await;
    store.close().await;
    tracing::info!("stopped");
    Ok(())
}
