//! Pairpad server: REST API for rooms, the Yjs sync protocol over WebSocket, persistence in
//! SQLite or PostgreSQL. `main.rs` only parses [`Config`] and calls [`run`]; tests and the
//! desktop app start the same server in-process.

pub mod access;
pub mod auth;
pub mod autocomplete;
pub mod cluster;
pub mod config;
pub mod http;
pub mod meta;
pub mod metrics;
pub mod net;
pub mod owner;
pub mod paths;
pub mod projects;
pub mod rooms;
pub mod share;
pub mod state;
pub mod store;
pub mod sync;

use std::future::Future;

use tokio::net::TcpListener;

pub use config::{Config, LogFormat};
pub use http::app;
pub use state::AppState;

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
    auth::SignIn::from_config(&config)?;
    config.check_shared()?;
    if let Some(url) = &config.redis_url {
        redis::Client::open(url.as_str())
            .map_err(|e| config::ConfigError::Redis(format!("bad --redis-url: {e}")))?;
    }
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
        proxies: std::sync::Arc::new(net::TrustedProxies::new(
            state.config.trusted_proxies.clone(),
        )),
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
