//! `GET /ws/{roomId}`: checks the id, the Origin, the room's existence and the connection
//! limit before upgrading, so that a refused client gets an HTTP status, not a closed socket.

use axum::extract::ws::rejection::WebSocketUpgradeRejection;
use axum::extract::ws::WebSocketUpgrade;
use axum::extract::{Path, State};
use axum::http::{header, HeaderMap};
use axum::response::Response;

use super::error::AppError;
use super::rooms::parse_room_id;
use crate::sync::session::{self, SessionContext};
use crate::AppState;

/// Upgrades to the y-websocket protocol for one room.
pub async fn connect(
    State(state): State<AppState>,
    Path(raw_id): Path<String>,
    headers: HeaderMap,
    upgrade: Result<WebSocketUpgrade, WebSocketUpgradeRejection>,
) -> Result<Response, AppError> {
    let id = parse_room_id(&raw_id)?;
    if !origin_allowed(&headers, &state.config.allowed_origins) {
        return Err(AppError::ForbiddenOrigin);
    }
    if state.registry.loaded(id).is_none() && state.store.get_room(id).await?.is_none() {
        return Err(AppError::RoomNotFound);
    }
    let upgrade = upgrade.map_err(|rejection| AppError::BadRequest(rejection.body_text()))?;
    if state.shutdown.is_cancelled() {
        return Err(AppError::Unavailable("server is shutting down"));
    }
    let permit = state
        .connection_slots
        .clone()
        .try_acquire_owned()
        .map_err(|_| AppError::Unavailable("too many connections"))?;
    let ctx = SessionContext {
        registry: state.registry.clone(),
        metrics: state.metrics.clone(),
        shutdown: state.shutdown.clone(),
        max_message_bytes: state.config.max_message_bytes,
    };
    let conn = state.next_connection_id();
    let tracker = state.tracker.clone();
    Ok(upgrade
        // tungstenite allocates its read buffer up front (128 KiB by default); most Yjs
        // messages are tens of bytes, so a small buffer that grows on demand keeps an idle
        // connection cheap.
        .read_buffer_size(READ_BUFFER_BYTES)
        .write_buffer_size(WRITE_BUFFER_BYTES)
        .max_message_size(state.config.max_message_bytes)
        .max_frame_size(state.config.max_message_bytes)
        // No async block around `serve`: it would hold a second copy of the socket.
        .on_upgrade(move |socket| {
            tracker.track_future(session::serve(socket, id, conn, ctx, permit))
        }))
}

/// Initial read buffer per connection, and the most read from the socket at once. A
/// bigger message grows the buffer to its size; reading it takes more system calls, but
/// such messages are rare (a joining client's offline edits).
const READ_BUFFER_BYTES: usize = 1024;
/// Bytes of outgoing frames gathered before a write to the socket.
const WRITE_BUFFER_BYTES: usize = 8 * 1024;

/// Browsers send `Origin`; it must name this server's own host or an allowed origin.
/// Clients that send no Origin (editors' plugins, CLI tools) are not browsers and pass.
fn origin_allowed(headers: &HeaderMap, allowed: &[String]) -> bool {
    let Some(origin) = headers.get(header::ORIGIN) else {
        return true;
    };
    let Ok(origin) = origin.to_str() else {
        return false;
    };
    if allowed
        .iter()
        .any(|a| a == "*" || a.trim_end_matches('/') == origin)
    {
        return true;
    }
    let origin_host = origin.split_once("://").map(|(_, host)| host);
    let host = headers.get(header::HOST).and_then(|h| h.to_str().ok());
    matches!((origin_host, host), (Some(o), Some(h)) if o.eq_ignore_ascii_case(h))
}

#[cfg(test)]
mod tests {
    use super::*;
    use axum::http::HeaderValue;

    fn headers(origin: Option<&'static str>, host: &'static str) -> HeaderMap {
        let mut headers = HeaderMap::new();
        headers.insert(header::HOST, HeaderValue::from_static(host));
        if let Some(origin) = origin {
            headers.insert(header::ORIGIN, HeaderValue::from_static(origin));
        }
        headers
    }

    #[test]
    fn origins() {
        let none: Vec<String> = vec![];
        assert!(origin_allowed(&headers(None, "h:1"), &none));
        assert!(origin_allowed(&headers(Some("http://h:1"), "h:1"), &none));
        assert!(!origin_allowed(
            &headers(Some("http://evil.example"), "h:1"),
            &none
        ));
        assert!(!origin_allowed(&headers(Some("null"), "h:1"), &none));
        let some = vec!["http://app.example".to_string()];
        assert!(origin_allowed(
            &headers(Some("http://app.example"), "h:1"),
            &some
        ));
        assert!(origin_allowed(
            &headers(Some("null"), "h:1"),
            &["*".to_string()]
        ));
    }
}
