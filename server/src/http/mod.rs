//! The HTTP surface: one file per resource, every route built in [`app`].

pub mod access;
pub mod autocomplete;
pub mod error;
pub mod files;
pub mod health;
pub mod json;
pub mod lobby;
pub mod origin;
pub mod rate_limit;
pub mod rooms;
pub mod signin;
pub mod ui;
pub mod ws;

use axum::extract::{DefaultBodyLimit, MatchedPath, Request};
use axum::middleware;
use axum::routing::{get, post};
use axum::Router;
use tower_http::compression::CompressionLayer;
use tower_http::trace::TraceLayer;

use crate::AppState;

/// Builds every route of the server.
pub fn app(state: AppState) -> Router {
    let body_limit = state.config.max_message_bytes;
    // Everything that reads or changes a room needs a token when sign-in is on; the
    // pages do not (the editor takes its token from the address), nor do the probes.
    let signed = Router::new()
        .route("/api/rooms", post(rooms::create))
        .route(
            "/api/rooms/{room_id}",
            get(rooms::get).patch(rooms::change).delete(rooms::delete),
        )
        .route("/api/rooms/{room_id}/edit-link", post(rooms::new_edit_link))
        .route("/api/rooms/{room_id}/view-link", post(rooms::new_view_link))
        .route("/api/rooms/v/{view_id}", get(rooms::get_view))
        .route("/api/rooms/v/{view_id}/files", get(files::list_view))
        .route(
            "/api/rooms/v/{view_id}/files/{file_id}",
            get(files::read_view),
        )
        .route("/api/rooms/v/{view_id}/archive", get(files::archive_view))
        .route(
            "/api/rooms/{room_id}/files",
            get(files::list).post(files::create),
        )
        .route(
            "/api/rooms/{room_id}/files/{file_id}",
            get(files::read).patch(files::rename).delete(files::delete),
        )
        .route("/api/rooms/{room_id}/archive", get(files::archive))
        .route("/api/autocomplete", post(autocomplete::complete))
        .route("/api/lobby/knocks", post(lobby::knock))
        .route("/api/lobby/knocks/{knock_id}", get(lobby::status))
        .route("/ws/{room_id}", get(ws::connect))
        .route("/ws/{room_id}/{file_id}", get(ws::connect_file))
        .route("/ws/v/{view_id}", get(ws::connect_view))
        .route("/ws/v/{view_id}/{file_id}", get(ws::connect_file_view))
        .route_layer(middleware::from_fn_with_state(
            state.clone(),
            signin::require,
        ));
    Router::new()
        .merge(signed)
        .route("/health", get(health::health))
        .route("/ready", get(health::ready))
        .route("/metrics", get(health::metrics))
        .route("/", get(ui::landing))
        .route("/r/{room_id}", get(ui::room))
        .route("/v/{view_id}", get(ui::room_view))
        .route("/join", get(ui::join))
        .route("/room.html", get(ui::room_shell))
        .route("/assets/{*path}", get(ui::asset))
        .route("/sw.js", get(ui::service_worker))
        .route("/favicon.svg", get(ui::favicon))
        .fallback(ui::fallback)
        .method_not_allowed_fallback(error::method_not_allowed)
        .layer(DefaultBodyLimit::max(body_limit))
        .layer(CompressionLayer::new())
        .layer(TraceLayer::new_for_http().make_span_with(request_span))
        .with_state(state)
}

/// A span per request that names the route pattern, never the full path: room ids are
/// the keys to rooms and stay out of logs.
fn request_span(request: &Request) -> tracing::Span {
    let route = request
        .extensions()
        .get::<MatchedPath>()
        .map_or("unmatched", MatchedPath::as_str);
    tracing::debug_span!("request", method = %request.method(), route)
}
