//! `GET /health` (the process runs), `GET /ready` (the store answers) and `GET /metrics`.

use std::time::Duration;

use axum::extract::State;
use axum::http::header;
use axum::response::IntoResponse;
use axum::Json;
use serde_json::{json, Value};

use super::error::AppError;
use crate::AppState;

const READY_TIMEOUT: Duration = Duration::from_secs(2);

/// 200 while the process runs.
pub async fn health() -> Json<Value> {
    Json(json!({ "status": "ok" }))
}

/// 200 when the store commits a probe write within two seconds and no room is turning
/// peers away for want of a store, 503 otherwise.
pub async fn ready(State(state): State<AppState>) -> Result<Json<Value>, AppError> {
    if state.metrics.rooms_store_down.get() > 0 {
        return Err(AppError::Unavailable("rooms cannot write to the store"));
    }
    // Serving while cut off from the other servers would split a room in two: a load
    // balancer should send newcomers elsewhere (peers already here are still served).
    if !state.sync.cluster_is_up() {
        return Err(AppError::Unavailable(
            "Redis unreachable: edits here do not reach the other servers",
        ));
    }
    match tokio::time::timeout(READY_TIMEOUT, state.store.ping()).await {
        Ok(Ok(())) => Ok(Json(json!({ "status": "ready" }))),
        Ok(Err(error)) => Err(AppError::Store(error)),
        Err(_) => Err(AppError::Unavailable("store did not answer in time")),
    }
}

/// Prometheus text exposition.
pub async fn metrics(State(state): State<AppState>) -> impl IntoResponse {
    (
        [(
            header::CONTENT_TYPE,
            "text/plain; version=0.0.4; charset=utf-8",
        )],
        state.metrics.render(),
    )
}
