//! `ApiJson<T>`: a JSON body extractor whose every rejection is an [`AppError`]: 415 unless
//! the body is declared `application/json`, 413 over the size limit, 400 for malformed JSON,
//! 422 for JSON of the wrong shape. An empty body reads as `{}`.
//!
//! Requiring the JSON content type is what keeps other web pages from calling the API: a
//! page may send a cross-origin `text/plain` POST without asking, but an
//! `application/json` one only after a CORS preflight, which Pairpad never grants.

use axum::body::Bytes;
use axum::extract::{FromRequest, Request};
use axum::http::{header, HeaderMap};
use serde::de::DeserializeOwned;

use super::error::AppError;

/// A JSON request body.
#[derive(Debug, Clone)]
pub struct ApiJson<T>(pub T);

impl<T, S> FromRequest<S> for ApiJson<T>
where
    T: DeserializeOwned,
    S: Send + Sync,
{
    type Rejection = AppError;

    async fn from_request(req: Request, state: &S) -> Result<Self, Self::Rejection> {
        if !is_json(req.headers()) {
            return Err(AppError::UnsupportedMediaType);
        }
        let body = Bytes::from_request(req, state).await?;
        let body: &[u8] = if body.iter().all(u8::is_ascii_whitespace) {
            b"{}"
        } else {
            &body
        };
        Ok(Self(serde_json::from_slice(body)?))
    }
}

/// Whether the body is declared `application/json` (parameters such as `charset` allowed).
fn is_json(headers: &HeaderMap) -> bool {
    headers
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.split(';').next())
        .is_some_and(|mime| mime.trim().eq_ignore_ascii_case("application/json"))
}
