//! `ApiJson<T>`: a JSON body extractor whose every rejection is an [`AppError`]: 413 over
//! the size limit, 400 for malformed JSON, 422 for JSON of the wrong shape. An empty body
//! reads as `{}`.

use axum::body::Bytes;
use axum::extract::{FromRequest, Request};
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
        let body = Bytes::from_request(req, state).await?;
        let body: &[u8] = if body.iter().all(u8::is_ascii_whitespace) {
            b"{}"
        } else {
            &body
        };
        Ok(Self(serde_json::from_slice(body)?))
    }
}
