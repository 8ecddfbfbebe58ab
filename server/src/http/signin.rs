//! Sign-in on the API and the WebSockets, when it is on (see [`crate::auth`]): a request
//! without a valid token gets 401 before any handler runs; a valid one carries its
//! [`Identity`] to the handlers.
//!
//! The token comes as `Authorization: Bearer …` (what an SSO proxy adds), as the query
//! parameter `token` (what a browser's WebSocket can send), or as a WebSocket subprotocol
//! `pairpad.token.…` offered beside `pairpad`.

use std::sync::Arc;

use axum::extract::{Query, Request, State};
use axum::http::{header, HeaderMap};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use serde::Deserialize;

use super::error::AppError;
use crate::auth::{Identity, Refused};
use crate::AppState;

/// The subprotocol a browser offers to carry its token in the handshake.
pub const SUBPROTOCOL: &str = "pairpad";
const TOKEN_PROTOCOL: &str = "pairpad.token.";

#[derive(Deserialize)]
struct TokenParam {
    token: Option<String>,
}

/// Checks the request's token when sign-in is on.
pub async fn require(State(state): State<AppState>, mut request: Request, next: Next) -> Response {
    let Some(sign_in) = state.sign_in.clone() else {
        return next.run(request).await;
    };
    let checked = match token_of(&request) {
        Some(token) => sign_in.check(&token),
        None => Err(Refused::Missing),
    };
    match checked {
        Ok(identity) => {
            request.extensions_mut().insert(Arc::new(identity));
            next.run(request).await
        }
        Err(refused) => AppError::Unauthorized(refused.to_string()).into_response(),
    }
}

fn token_of(request: &Request) -> Option<String> {
    let headers = request.headers();
    if let Some(token) = bearer(headers) {
        return Some(token.to_string());
    }
    if let Ok(Query(TokenParam { token: Some(token) })) = Query::try_from_uri(request.uri()) {
        return Some(token);
    }
    offered_protocols(headers).find_map(|p| p.strip_prefix(TOKEN_PROTOCOL).map(str::to_string))
}

fn bearer(headers: &HeaderMap) -> Option<&str> {
    let value = headers.get(header::AUTHORIZATION)?.to_str().ok()?;
    let (scheme, token) = value.split_once(' ')?;
    scheme.eq_ignore_ascii_case("bearer").then(|| token.trim())
}

/// The WebSocket subprotocols a request offers.
pub fn offered_protocols(headers: &HeaderMap) -> impl Iterator<Item = &str> {
    headers
        .get_all(header::SEC_WEBSOCKET_PROTOCOL)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(','))
        .map(str::trim)
}

/// The identity a request signed in with, if sign-in is on.
pub type SignedIn = Option<Arc<Identity>>;
