//! `GET /ws/{roomId}` (and `/ws/v/{viewId}`, and each file under either): checks the
//! link, the Origin, the file's existence, the handshake and the connection limit before
//! upgrading, so that a refused client gets an HTTP status, not a closed socket.
//!
//! The handshake (RFC 6455 §4.2.2) is done here on hyper's upgrade rather than by axum's
//! extractor, so that the session owns a `tokio_tungstenite` stream: it sends large sync
//! replies as fragments, which axum's wrapper cannot.

use std::net::IpAddr;

use axum::body::Body;
use axum::extract::{Path, Query, Request, State};
use axum::http::{header, HeaderMap, HeaderValue, Method, StatusCode, Version};
use axum::response::Response;
use hyper_util::rt::TokioIo;
use tokio_tungstenite::WebSocketStream;
use tungstenite::protocol::{Role, WebSocketConfig};

use serde::Deserialize;

use super::access::{grant, Caller};
use super::error::AppError;
use super::origin::origin_allowed;
use super::rooms::parse_file_id;
use super::signin::{offered_protocols, SUBPROTOCOL};

/// The subprotocol prefix that carries an owner key.
const OWNER_PROTOCOL: &str = "pairpad.owner.";
use crate::access::{PeerAccess, Via};
use crate::sync::DocId;
use crate::AppState;

/// What a WebSocket says in its query string: the owner key (`owner`), which lets the
/// owner edit a view-only room (the token, `token`, was checked before). Browsers send
/// the key as the subprotocol `pairpad.owner.{key}` instead, out of the address.
#[derive(Debug, Default, Deserialize)]
pub struct Credentials {
    owner: Option<String>,
}

/// Upgrades to the y-websocket protocol for one room (its own document: the first file,
/// the title and language, the list of files), by its edit link.
pub async fn connect(
    State(state): State<AppState>,
    Path(raw_id): Path<String>,
    Query(credentials): Query<Credentials>,
    caller: Caller,
    request: Request,
) -> Result<Response, AppError> {
    open(
        &state,
        &raw_id,
        None,
        Via::Edit,
        &credentials,
        caller,
        request,
    )
    .await
}

/// As [`connect`], by the view link: the connection only reads.
pub async fn connect_view(
    State(state): State<AppState>,
    Path(raw_id): Path<String>,
    Query(credentials): Query<Credentials>,
    caller: Caller,
    request: Request,
) -> Result<Response, AppError> {
    open(
        &state,
        &raw_id,
        None,
        Via::View,
        &credentials,
        caller,
        request,
    )
    .await
}

/// Upgrades to the y-websocket protocol for one file of a room's project; the room's own
/// id names its first file, the room's document.
pub async fn connect_file(
    State(state): State<AppState>,
    Path((raw_room, raw_file)): Path<(String, String)>,
    Query(credentials): Query<Credentials>,
    caller: Caller,
    request: Request,
) -> Result<Response, AppError> {
    let via = Via::Edit;
    open(
        &state,
        &raw_room,
        Some(&raw_file),
        via,
        &credentials,
        caller,
        request,
    )
    .await
}

/// As [`connect_file`], by the view link.
pub async fn connect_file_view(
    State(state): State<AppState>,
    Path((raw_room, raw_file)): Path<(String, String)>,
    Query(credentials): Query<Credentials>,
    caller: Caller,
    request: Request,
) -> Result<Response, AppError> {
    let via = Via::View;
    open(
        &state,
        &raw_room,
        Some(&raw_file),
        via,
        &credentials,
        caller,
        request,
    )
    .await
}

/// Checks the link, the file, the Origin and the handshake, then upgrades.
async fn open(
    state: &AppState,
    raw_link: &str,
    raw_file: Option<&str>,
    via: Via,
    credentials: &Credentials,
    mut caller: Caller,
    request: Request,
) -> Result<Response, AppError> {
    let offered = offered_protocols(request.headers()).find_map(|p| p.strip_prefix(OWNER_PROTOCOL));
    if let Some(key) = credentials.owner.as_deref().or(offered) {
        caller.owner_key = Some(key.to_string());
    }
    // Read before the link is checked: a change made after the check turns the
    // connection away when it joins (see `SyncService::access_epoch`).
    let epoch = state.sync.access_epoch();
    let grant = grant(state, raw_link, via, &caller).await?;
    let room = grant.room();
    let doc = match raw_file {
        Some(raw) => DocId::file(room, parse_file_id(raw)?),
        None => DocId::room(room),
    };
    check_origin(state, &request)?;
    let known = doc.is_room()
        || state.sync.is_loaded(doc)
        || state.store.get_file(doc.room, doc.id).await?.is_some();
    if !known {
        return Err(AppError::FileNotFound);
    }
    upgrade(state, doc, grant.peer(epoch), request)
}

fn check_origin(state: &AppState, request: &Request) -> Result<(), AppError> {
    if origin_allowed(request.headers(), &state.config) {
        Ok(())
    } else {
        Err(AppError::ForbiddenOrigin)
    }
}

/// Completes the handshake and hands the connection to the sync service.
fn upgrade(
    state: &AppState,
    doc: DocId,
    access: PeerAccess,
    mut request: Request,
) -> Result<Response, AppError> {
    let address = crate::net::peer_of(request.extensions())
        .map_or(IpAddr::from([0, 0, 0, 0]), |peer| peer.ip());
    let accept = accept_key(&request).map_err(|e| AppError::BadRequest(e.into()))?;
    let offers_subprotocol = offered_protocols(request.headers()).any(|p| p == SUBPROTOCOL);
    let on_upgrade = request
        .extensions_mut()
        .remove::<hyper::upgrade::OnUpgrade>()
        .ok_or_else(|| AppError::BadRequest("connection cannot be upgraded".into()))?;
    let admission = state.sync.admit().map_err(AppError::Unavailable)?;
    let max_message_bytes = state.sync.max_message_bytes();
    let config = WebSocketConfig::default()
        // tungstenite allocates its read buffer up front (128 KiB by default); most Yjs
        // messages are tens of bytes, so a small buffer that grows on demand keeps an
        // idle connection cheap.
        .read_buffer_size(READ_BUFFER_BYTES)
        .write_buffer_size(WRITE_BUFFER_BYTES)
        .max_message_size(Some(max_message_bytes))
        .max_frame_size(Some(max_message_bytes));
    let (tracker, sync) = (state.tracker.clone(), state.sync.clone());
    // A short task waits for hyper to hand the connection over, then starts the session
    // as a task of its own, sized for the session alone.
    tracker.clone().spawn(async move {
        let Ok(upgraded) = on_upgrade.await else {
            tracing::debug!("WebSocket upgrade failed");
            return;
        };
        let socket =
            WebSocketStream::from_raw_socket(TokioIo::new(upgraded), Role::Server, Some(config))
                .await;
        tracker.spawn(sync.serve(admission, socket, doc, address, access));
    });
    let mut response = Response::new(Body::empty());
    *response.status_mut() = StatusCode::SWITCHING_PROTOCOLS;
    let headers = response.headers_mut();
    headers.insert(header::CONNECTION, HeaderValue::from_static("upgrade"));
    headers.insert(header::UPGRADE, HeaderValue::from_static("websocket"));
    headers.insert(header::SEC_WEBSOCKET_ACCEPT, accept);
    // A browser that carried its token as a subprotocol offered `pairpad` beside it, and
    // closes the connection unless one of its offers is taken.
    if offers_subprotocol {
        headers.insert(
            header::SEC_WEBSOCKET_PROTOCOL,
            HeaderValue::from_static(SUBPROTOCOL),
        );
    }
    Ok(response)
}

/// Initial read buffer per connection, and the most read from the socket at once. Edits
/// and presence updates (cursor included) fit; a bigger message grows the buffer to its
/// size and takes more system calls to read, but such messages are rare (a joining
/// client's offline edits).
const READ_BUFFER_BYTES: usize = 512;
/// Bytes of outgoing frames gathered before a write to the socket.
const WRITE_BUFFER_BYTES: usize = 8 * 1024;

/// Checks that `request` opens a WebSocket (an HTTP/1.1 GET with `Connection: upgrade`,
/// `Upgrade: websocket`, version 13 and a key) and returns the `Sec-WebSocket-Accept`
/// value that answers its key.
fn accept_key(request: &Request) -> Result<HeaderValue, &'static str> {
    if request.version() != Version::HTTP_11 || request.method() != Method::GET {
        return Err("a WebSocket opens with an HTTP/1.1 GET request");
    }
    let headers = request.headers();
    if !header_has_token(headers, header::CONNECTION, "upgrade") {
        return Err("`Connection` header did not include `upgrade`");
    }
    if !header_has_token(headers, header::UPGRADE, "websocket") {
        return Err("`Upgrade` header did not include `websocket`");
    }
    if headers
        .get(header::SEC_WEBSOCKET_VERSION)
        .is_none_or(|v| v.as_bytes() != b"13")
    {
        return Err("`Sec-WebSocket-Version` header did not include `13`");
    }
    let key = headers
        .get(header::SEC_WEBSOCKET_KEY)
        .ok_or("`Sec-WebSocket-Key` header missing")?;
    let accept = tungstenite::handshake::derive_accept_key(key.as_bytes());
    HeaderValue::try_from(accept).map_err(|_| "`Sec-WebSocket-Key` header is invalid")
}

/// Whether a comma-separated header holds `token` (case-insensitive).
fn header_has_token(headers: &HeaderMap, name: header::HeaderName, token: &str) -> bool {
    headers.get_all(name).iter().any(|value| {
        value.to_str().is_ok_and(|v| {
            v.split(',')
                .any(|part| part.trim().eq_ignore_ascii_case(token))
        })
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use axum::http::HeaderValue;

    #[test]
    fn header_tokens() {
        let mut headers = HeaderMap::new();
        headers.insert(
            header::CONNECTION,
            HeaderValue::from_static("keep-alive, Upgrade"),
        );
        assert!(header_has_token(&headers, header::CONNECTION, "upgrade"));
        assert!(!header_has_token(&headers, header::CONNECTION, "close"));
        assert!(!header_has_token(&headers, header::UPGRADE, "websocket"));
        headers.insert(header::UPGRADE, HeaderValue::from_static("WebSocket"));
        assert!(header_has_token(&headers, header::UPGRADE, "websocket"));
    }
}
