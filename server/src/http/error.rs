//! The one error type of the HTTP API. Every error leaves as JSON
//! `{"error": {"code": "...", "message": "..."}}` with a fitting status.

use axum::extract::rejection::BytesRejection;
use std::time::Duration;

use axum::http::{header, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::Json;
use serde_json::json;

use crate::store::StoreError;

/// An error answered to an HTTP client.
#[derive(Debug, thiserror::Error)]
pub enum AppError {
    /// Malformed input (bad id, invalid JSON).
    #[error("{0}")]
    BadRequest(String),
    /// Well-formed JSON with values that are not acceptable.
    #[error("{0}")]
    Unprocessable(String),
    /// No room with this id.
    #[error("room not found")]
    RoomNotFound,
    /// The room has no file with this id.
    #[error("file not found")]
    FileNotFound,
    /// The request clashes with what is there (a path taken, the first file deleted).
    #[error("{0}")]
    Conflict(String),
    /// Over a limit of the project.
    #[error("{0}")]
    TooLarge(String),
    /// No such route.
    #[error("no such endpoint")]
    NotFound,
    /// No request to join with this id (or it expired).
    #[error("no such request to join; it may have expired")]
    KnockNotFound,
    /// The route exists, the method does not.
    #[error("method not allowed")]
    MethodNotAllowed,
    /// The body is not declared as JSON.
    #[error("the body must be JSON, sent as content-type application/json")]
    UnsupportedMediaType,
    /// The body is over the size limit.
    #[error("request body is too large")]
    PayloadTooLarge,
    /// A WebSocket upgrade from an Origin that is not allowed.
    #[error("origin not allowed")]
    ForbiddenOrigin,
    /// Too many connections, or the server is shutting down.
    #[error("{0}")]
    Unavailable(&'static str),
    /// This client did this too often; it may try again after the given time.
    #[error("{0}")]
    TooManyRequests(&'static str, Duration),
    /// Every worker for this kind of request is taken; try again in a moment.
    #[error("{0}")]
    Busy(&'static str),
    /// The link or key does not allow this.
    #[error("{0}")]
    Forbidden(String),
    /// Sign-in is on and the request has no valid token.
    #[error("{0}")]
    Unauthorized(String),
    /// The store failed; details go to the log, not to the client.
    #[error("storage error")]
    Store(#[from] StoreError),
}

impl AppError {
    fn status_and_code(&self) -> (StatusCode, &'static str) {
        match self {
            Self::BadRequest(_) => (StatusCode::BAD_REQUEST, "bad_request"),
            Self::Unprocessable(_) => (StatusCode::UNPROCESSABLE_ENTITY, "invalid_body"),
            Self::RoomNotFound => (StatusCode::NOT_FOUND, "room_not_found"),
            Self::FileNotFound => (StatusCode::NOT_FOUND, "file_not_found"),
            Self::Conflict(_) => (StatusCode::CONFLICT, "conflict"),
            Self::TooLarge(_) => (StatusCode::PAYLOAD_TOO_LARGE, "too_large"),
            Self::NotFound => (StatusCode::NOT_FOUND, "not_found"),
            Self::KnockNotFound => (StatusCode::NOT_FOUND, "knock_not_found"),
            Self::MethodNotAllowed => (StatusCode::METHOD_NOT_ALLOWED, "method_not_allowed"),
            Self::PayloadTooLarge => (StatusCode::PAYLOAD_TOO_LARGE, "payload_too_large"),
            Self::UnsupportedMediaType => {
                (StatusCode::UNSUPPORTED_MEDIA_TYPE, "unsupported_media_type")
            }
            Self::ForbiddenOrigin => (StatusCode::FORBIDDEN, "origin_not_allowed"),
            Self::Forbidden(_) => (StatusCode::FORBIDDEN, "forbidden"),
            Self::Unauthorized(_) => (StatusCode::UNAUTHORIZED, "unauthorized"),
            Self::Unavailable(_) => (StatusCode::SERVICE_UNAVAILABLE, "unavailable"),
            Self::TooManyRequests(..) => (StatusCode::TOO_MANY_REQUESTS, "rate_limited"),
            Self::Busy(_) => (StatusCode::SERVICE_UNAVAILABLE, "busy"),
            Self::Store(_) => (StatusCode::SERVICE_UNAVAILABLE, "store_unavailable"),
        }
    }
}

impl IntoResponse for AppError {
    fn into_response(self) -> Response {
        let (status, code) = self.status_and_code();
        if let Self::Store(error) = &self {
            tracing::error!(%error, "store error while serving a request");
        }
        let body = json!({ "error": { "code": code, "message": self.to_string() } });
        let mut response = (status, Json(body)).into_response();
        let retry_after = match &self {
            Self::TooManyRequests(_, wait) => Some(wait.as_secs().max(1)),
            Self::Busy(_) => Some(1),
            _ => None,
        };
        if let Self::Unauthorized(_) = &self {
            response
                .headers_mut()
                .insert(header::WWW_AUTHENTICATE, HeaderValue::from_static("Bearer"));
        }
        if let Some(seconds) = retry_after {
            response
                .headers_mut()
                .insert(header::RETRY_AFTER, HeaderValue::from(seconds));
        }
        response
    }
}

impl From<BytesRejection> for AppError {
    fn from(rejection: BytesRejection) -> Self {
        if rejection.status() == StatusCode::PAYLOAD_TOO_LARGE {
            Self::PayloadTooLarge
        } else {
            Self::BadRequest(rejection.body_text())
        }
    }
}

impl From<serde_json::Error> for AppError {
    fn from(error: serde_json::Error) -> Self {
        use serde_json::error::Category;
        match error.classify() {
            Category::Data => Self::Unprocessable(format!("invalid request body: {error}")),
            Category::Io | Category::Syntax | Category::Eof => {
                Self::BadRequest(format!("request body is not valid JSON: {error}"))
            }
        }
    }
}

/// Answer for known routes called with the wrong method.
pub async fn method_not_allowed() -> AppError {
    AppError::MethodNotAllowed
}
