//! The composition root: every service a handler or a session needs, built once from the
//! configuration and an open store ([`AppState::new`]).

use std::sync::Arc;

use tokio::sync::Semaphore;
use tokio_util::sync::CancellationToken;
use tokio_util::task::TaskTracker;

use crate::config::Config;
use crate::metrics::Metrics;
use crate::store::Store;
use crate::sync::service::SyncService;
use crate::sync::RoomSettings;
use crate::{autocomplete, http, sync};

/// Project archives built at once; more are answered 503 with `Retry-After`.
const ARCHIVES_AT_ONCE: usize = 2;

/// Shared services handed to every handler.
#[derive(Clone)]
pub struct AppState {
    /// Server configuration.
    pub config: Arc<Config>,
    /// Durable storage.
    pub store: Arc<dyn Store>,
    /// Live rooms and the connections to them.
    pub sync: Arc<SyncService>,
    /// Prometheus metrics.
    pub metrics: Arc<Metrics>,
    /// Requests to join, when `--lobby` is on.
    pub lobby: Option<Arc<http::lobby::Lobby>>,
    /// How often each address may create a room.
    pub room_creation: Arc<http::rate_limit::RateLimiter>,
    /// One permit per autocomplete request being computed.
    pub autocomplete_slots: Arc<Semaphore>,
    /// One permit per project archive being built (each holds a project in memory).
    pub archive_slots: Arc<Semaphore>,
    /// Names the files of each project define, for completion.
    pub project_names: Arc<autocomplete::project::ProjectIndex>,
    /// Cancelled when the server begins to shut down.
    pub shutdown: CancellationToken,
    /// Every connection and room task, awaited on shutdown.
    pub tracker: TaskTracker,
    /// The language model client, when `--ai-endpoint` is set.
    pub ai: Option<Arc<autocomplete::ai::AiClient>>,
    /// How tokens are checked, when sign-in is on.
    pub sign_in: Option<Arc<crate::auth::SignIn>>,
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
        // Settings that cannot be used refuse everyone: `run` reports them before this,
        // and an embedder that passes them gets a server nobody can use, not an open one.
        let sign_in = match crate::auth::SignIn::from_config(&config) {
            Ok(sign_in) => sign_in.map(Arc::new),
            Err(error) => {
                tracing::error!(%error, "sign-in settings unusable; refusing every request");
                Some(Arc::new(crate::auth::SignIn::refusing()))
            }
        };
        let metrics = Arc::new(Metrics::new());
        let shutdown = CancellationToken::new();
        let tracker = TaskTracker::new();
        let settings = RoomSettings {
            room_idle: config.room_idle,
            compact_after: config.compact_after.max(1),
            max_document_bytes: config.max_document_bytes,
            memory: sync::budget::MemoryBudget::new(config.memory_budget),
            cluster: config.redis_url.as_deref().and_then(
                |url| match crate::cluster::Cluster::new(url, metrics.clone()) {
                    Ok(cluster) => Some(cluster),
                    Err(error) => {
                        tracing::error!(%error, "not sharing rooms with other servers");
                        None
                    }
                },
            ),
        };
        let sync = SyncService::new(
            settings,
            config.max_connections,
            store.clone(),
            metrics.clone(),
            shutdown.clone(),
            tracker.clone(),
        );
        Self {
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
            archive_slots: Arc::new(Semaphore::new(ARCHIVES_AT_ONCE)),
            project_names: Arc::default(),
            config: Arc::new(config),
            store,
            sync: Arc::new(sync),
            metrics,
            shutdown,
            tracker,
            ai,
            sign_in,
        }
    }
}
