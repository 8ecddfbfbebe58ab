//! The browser editor, embedded in the binary from `ui/dist`: `/` (landing page),
//! `/r/{roomId}` and `/v/{viewId}` (editor, or a "room not found" page with status 404), the content-hashed
//! bundles under `/assets/`, and the service worker that lets a room reload offline.

use axum::extract::{Path, State};
use axum::http::{header, HeaderMap, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use rust_embed::Embed;
use uuid::Uuid;

use super::error::AppError;
use crate::access::{Grant, Via};
use crate::AppState;

/// The built editor (`ui/dist`, committed, so building the server needs no Node).
#[derive(Embed)]
#[folder = "../ui/dist"]
struct Dist;

/// Pages may load code and styles from this server only; CodeMirror injects `<style>`
/// elements, hence `'unsafe-inline'` for styles (never for scripts).
const CONTENT_SECURITY_POLICY: &str = "default-src 'self'; script-src 'self'; \
    style-src 'self' 'unsafe-inline'; img-src 'self' data:; connect-src 'self' ws: wss:; \
    worker-src 'self'; object-src 'none'; base-uri 'none'; form-action 'self'; \
    frame-ancestors 'none'";

/// Bundles carry a content hash in their name, so they never change.
const IMMUTABLE: &str = "public, max-age=31536000, immutable";
/// Everything else is checked with the server on each use (cheap with the ETag).
const REVALIDATE: &str = "no-cache";

/// `GET /`: the landing page.
pub async fn landing(headers: HeaderMap) -> Response {
    page("index.html", StatusCode::OK, &headers)
}

/// `GET /r/{roomId}`: the editor for an existing room; the "room not found" page (404)
/// for an unknown or malformed id.
pub async fn room(
    State(state): State<AppState>,
    Path(raw_id): Path<String>,
    headers: HeaderMap,
) -> Result<Response, AppError> {
    room_page(&state, &raw_id, Via::Edit, &headers).await
}

/// `GET /v/{viewId}`: the editor, read-only, or the "not found" page.
pub async fn room_view(
    State(state): State<AppState>,
    Path(raw_id): Path<String>,
    headers: HeaderMap,
) -> Result<Response, AppError> {
    room_page(&state, &raw_id, Via::View, &headers).await
}

async fn room_page(
    state: &AppState,
    raw_id: &str,
    via: Via,
    headers: &HeaderMap,
) -> Result<Response, AppError> {
    let exists = match Uuid::try_parse(raw_id) {
        Ok(link) => state
            .store
            .find_link(link)
            .await?
            .and_then(|links| Grant::new(links, link, via, None))
            .is_some(),
        Err(_) => false,
    };
    Ok(if exists {
        page("room.html", StatusCode::OK, headers)
    } else {
        page("notfound.html", StatusCode::NOT_FOUND, headers)
    })
}

/// `GET /join`: asking the host to be let in, when the server takes requests to join
/// (`--lobby`, as the desktop app hosts); the "not found" page otherwise.
pub async fn join(State(state): State<AppState>, headers: HeaderMap) -> Response {
    match state.lobby {
        Some(_) => page("join.html", StatusCode::OK, &headers),
        None => page("notfound.html", StatusCode::NOT_FOUND, &headers),
    }
}

/// Any other path: a browser asking for a page (`/r`, `/r/`, a mistyped address) gets the
/// friendly "not found" page; API clients and scripts get the JSON error.
pub async fn fallback(uri: axum::http::Uri, headers: HeaderMap) -> Response {
    let path = uri.path();
    let wants_page = headers
        .get(header::ACCEPT)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|accept| accept.contains("text/html"));
    if wants_page && !path.starts_with("/api/") && !path.starts_with("/ws") {
        page("notfound.html", StatusCode::NOT_FOUND, &headers)
    } else {
        AppError::NotFound.into_response()
    }
}

/// `GET /room.html`: the editor shell the service worker keeps for offline reloads.
pub async fn room_shell(headers: HeaderMap) -> Response {
    page("room.html", StatusCode::OK, &headers)
}

/// `GET /assets/{*path}`: a content-hashed bundle.
pub async fn asset(Path(path): Path<String>, headers: HeaderMap) -> Response {
    file_or_404(&format!("assets/{path}"), IMMUTABLE, &headers)
}

/// `GET /sw.js`: the service worker (served from the root so it may control `/r/*`).
pub async fn service_worker(headers: HeaderMap) -> Response {
    file_or_404("sw.js", REVALIDATE, &headers)
}

/// `GET /favicon.svg`.
pub async fn favicon(headers: HeaderMap) -> Response {
    file_or_404("favicon.svg", REVALIDATE, &headers)
}

fn file_or_404(name: &str, cache_control: &'static str, headers: &HeaderMap) -> Response {
    file(name, cache_control, headers).unwrap_or_else(|| AppError::NotFound.into_response())
}

/// An HTML page with the security headers every page carries.
fn page(name: &str, status: StatusCode, headers: &HeaderMap) -> Response {
    let mut response = file_or_404(name, REVALIDATE, headers);
    if response.status() == StatusCode::OK {
        *response.status_mut() = status;
    }
    let h = response.headers_mut();
    h.insert(
        header::CONTENT_SECURITY_POLICY,
        HeaderValue::from_static(CONTENT_SECURITY_POLICY),
    );
    // The room URL is the key to the room: never send it to other sites.
    h.insert(
        header::REFERRER_POLICY,
        HeaderValue::from_static("no-referrer"),
    );
    h.insert(header::X_FRAME_OPTIONS, HeaderValue::from_static("DENY"));
    response
}

/// An embedded file with its type, caching headers and ETag; 304 when the client's copy
/// is current. `None` when there is no such file.
fn file(name: &str, cache_control: &'static str, headers: &HeaderMap) -> Option<Response> {
    let file = Dist::get(name)?;
    let etag = format!("\"{}\"", hex(&file.metadata.sha256_hash()[..12]));
    let fresh = headers
        .get(header::IF_NONE_MATCH)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|v| v.split(',').any(|t| t.trim() == etag));
    let mut response = if fresh {
        StatusCode::NOT_MODIFIED.into_response()
    } else {
        let mime = file.metadata.mimetype();
        (
            [(header::CONTENT_TYPE, mime.to_string())],
            file.data.into_owned(),
        )
            .into_response()
    };
    let h = response.headers_mut();
    h.insert(
        header::CACHE_CONTROL,
        HeaderValue::from_static(cache_control),
    );
    h.insert(
        header::X_CONTENT_TYPE_OPTIONS,
        HeaderValue::from_static("nosniff"),
    );
    if let Ok(value) = HeaderValue::from_str(&etag) {
        h.insert(header::ETAG, value);
    }
    Some(response)
}

fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_page_and_its_bundles_are_embedded() {
        for name in [
            "index.html",
            "room.html",
            "notfound.html",
            "sw.js",
            "favicon.svg",
        ] {
            assert!(Dist::get(name).is_some(), "{name} is not embedded");
        }
        for page in ["index.html", "room.html", "notfound.html"] {
            let html = String::from_utf8(Dist::get(page).unwrap().data.into_owned()).unwrap();
            for url in html.split('"').filter(|s| s.starts_with("/assets/")) {
                assert!(
                    Dist::get(&url[1..]).is_some(),
                    "{page} points at {url}, which is not embedded"
                );
            }
        }
    }
}
