//! `POST /api/rooms` and `GET /api/rooms/{roomId}`.

use std::net::SocketAddr;
use std::time::Instant;

use axum::extract::{ConnectInfo, Path, State};
use axum::http::{HeaderMap, StatusCode};
use axum::{Extension, Json};
use chrono::{DateTime, SecondsFormat, Utc};
use serde::{Deserialize, Serialize};
use uuid::Uuid;

use super::error::AppError;
use super::json::ApiJson;
use super::origin::base_url;
use crate::store::RoomText;
use crate::sync::DocId;
use crate::AppState;

/// Body of `POST /api/rooms`.
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct CreateRoom {
    /// Room title; defaults to "Untitled".
    pub title: Option<String>,
    /// Editor language id; defaults to `plaintext`.
    pub language: Option<String>,
}

/// Answer of `POST /api/rooms`.
#[derive(Debug, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct Created {
    room_id: Uuid,
    url: String,
}

/// Answer of `GET /api/rooms/{roomId}`.
#[derive(Debug, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct RoomView {
    room_id: Uuid,
    #[serde(flatten)]
    text: RoomText,
    created_at: String,
    updated_at: String,
    active_users: usize,
}

/// Creates a room whose document starts with `meta.title` and `meta.language` set.
pub async fn create(
    State(state): State<AppState>,
    peer: Option<Extension<ConnectInfo<SocketAddr>>>,
    headers: HeaderMap,
    ApiJson(body): ApiJson<CreateRoom>,
) -> Result<(StatusCode, Json<Created>), AppError> {
    if let Some(Extension(ConnectInfo(peer))) = peer {
        state
            .room_creation
            .check(peer.ip(), Instant::now())
            .map_err(|wait| {
                AppError::TooManyRequests("too many rooms created from this address", wait)
            })?;
    }
    let room = crate::rooms::create(
        state.store.as_ref(),
        body.title.as_deref(),
        body.language.as_deref(),
    )
    .await
    .map_err(|error| match error {
        crate::rooms::CreateError::Invalid(why) => AppError::Unprocessable(why.into()),
        crate::rooms::CreateError::Store(error) => error.into(),
    })?;
    let url = format!("{}/r/{}", base_url(&state.config, &headers), room.id);
    Ok((
        StatusCode::CREATED,
        Json(Created {
            room_id: room.id,
            url,
        }),
    ))
}

/// Reads a room; the text, title and language are live when the room is loaded.
pub async fn get(
    State(state): State<AppState>,
    Path(raw_id): Path<String>,
) -> Result<Json<RoomView>, AppError> {
    let id = parse_room_id(&raw_id)?;
    let record = state
        .store
        .get_room(id)
        .await?
        .ok_or(AppError::RoomNotFound)?;
    let live = state.sync.describe(DocId::room(id)).await;
    let (text, active_users) = match live {
        Some(live) => (live.text, live.active_users),
        None => (record.text, 0),
    };
    Ok(Json(RoomView {
        room_id: id,
        text,
        created_at: rfc3339(record.created_at),
        updated_at: rfc3339(record.updated_at),
        active_users,
    }))
}

/// Parses a room id from a path segment; 400 when it is not a UUID in its one canonical
/// form (lowercase, hyphenated), so that each room has exactly one link.
pub fn parse_room_id(raw: &str) -> Result<Uuid, AppError> {
    Uuid::try_parse(raw)
        .ok()
        .filter(|id| id.hyphenated().to_string() == raw)
        .ok_or_else(|| {
            AppError::BadRequest("malformed room id: expected a lowercase hyphenated UUID".into())
        })
}

/// Parses a file id from a path segment; 400 unless it is a UUID in its canonical form.
pub fn parse_file_id(raw: &str) -> Result<Uuid, AppError> {
    Uuid::try_parse(raw)
        .ok()
        .filter(|id| id.hyphenated().to_string() == raw)
        .ok_or_else(|| {
            AppError::BadRequest("malformed file id: expected a lowercase hyphenated UUID".into())
        })
}

/// Unix milliseconds as an RFC 3339 time.
pub fn rfc3339(millis: i64) -> String {
    DateTime::<Utc>::from_timestamp_millis(millis)
        .unwrap_or_default()
        .to_rfc3339_opts(SecondsFormat::Millis, true)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn room_ids_have_one_form() {
        let id = "6f1c2a4e-8b0d-4c4e-9a53-0d7b2f7f1a10";
        assert!(parse_room_id(id).is_ok());
        for other in [
            "6F1C2A4E-8B0D-4C4E-9A53-0D7B2F7F1A10",
            "6f1c2a4e8b0d4c4e9a530d7b2f7f1a10",
            "{6f1c2a4e-8b0d-4c4e-9a53-0d7b2f7f1a10}",
            "urn:uuid:6f1c2a4e-8b0d-4c4e-9a53-0d7b2f7f1a10",
        ] {
            assert!(parse_room_id(other).is_err(), "{other}");
        }
    }
}
