//! `POST /api/rooms`, `GET /api/rooms/{roomId}` and `GET /api/rooms/v/{viewId}`, and
//! the owner's calls: `PATCH` and `DELETE /api/rooms/{roomId}`, and replacing a link.

use std::net::SocketAddr;
use std::time::Instant;

use axum::extract::{ConnectInfo, Path, State};
use axum::http::{HeaderMap, StatusCode};
use axum::{Extension, Json};
use chrono::{DateTime, SecondsFormat, Utc};
use serde::{Deserialize, Serialize};
use uuid::Uuid;

use super::access::{grant, need_owner, Caller};
use super::error::AppError;
use super::json::ApiJson;
use super::origin::base_url;
use crate::access::{Grant, Via};
use crate::owner;
use crate::store::{Access, RoomText};
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
    /// The edit link's id.
    room_id: Uuid,
    url: String,
    view_id: Uuid,
    view_url: String,
    /// Shown once: only its hash is kept.
    owner_key: String,
}

/// Answer of `GET /api/rooms/{roomId}` and `GET /api/rooms/v/{viewId}`.
#[derive(Debug, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct RoomView {
    /// The edit link's id: only for a request that came by it.
    #[serde(skip_serializing_if = "Option::is_none")]
    room_id: Option<Uuid>,
    /// The view link's id (none for a room made before view links).
    view_id: Option<Uuid>,
    view_url: Option<String>,
    /// The first file's id (the room's own, which is no link).
    file_id: Uuid,
    #[serde(flatten)]
    text: RoomText,
    created_at: String,
    updated_at: String,
    active_users: usize,
    /// What the edit link lets people do: `edit`, or `view` when the owner made the room
    /// view-only.
    access: Access,
    /// Whether this request may change the room.
    can_edit: bool,
    /// Whether this request showed the owner key.
    owner: bool,
    /// Whether the room has an owner (a room made before owner keys has none).
    has_owner: bool,
}

/// Body of `PATCH /api/rooms/{roomId}`.
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ChangeRoom {
    /// A new title.
    pub title: Option<String>,
    /// What the edit link lets people do from now on.
    pub access: Option<Access>,
}

/// Answer of `POST /api/rooms/{roomId}/edit-link`.
#[derive(Debug, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct NewEditLink {
    room_id: Uuid,
    url: String,
}

/// Answer of `POST /api/rooms/{roomId}/view-link`.
#[derive(Debug, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct NewViewLink {
    view_id: Uuid,
    view_url: String,
}

/// Creates a room whose document starts with `meta.title` and `meta.language` set.
pub async fn create(
    State(state): State<AppState>,
    peer: Option<Extension<ConnectInfo<SocketAddr>>>,
    headers: HeaderMap,
    caller: Caller,
    ApiJson(body): ApiJson<CreateRoom>,
) -> Result<(StatusCode, Json<Created>), AppError> {
    if let Some(who) = caller.identity.as_ref().filter(|who| !who.may_create()) {
        return Err(AppError::Forbidden(match who.view_only {
            true => "your sign-in lets you view rooms, not create them".into(),
            false => "your sign-in opens certain rooms only, and creates none".into(),
        }));
    }
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
    let base = base_url(&state.config, &headers);
    Ok((
        StatusCode::CREATED,
        Json(Created {
            room_id: room.edit_id,
            url: format!("{base}/r/{}", room.edit_id),
            view_id: room.view_id,
            view_url: format!("{base}/v/{}", room.view_id),
            owner_key: room.owner_key,
        }),
    ))
}

/// Reads a room by its edit link; the text, title and language are live when the room
/// is loaded.
pub async fn get(
    State(state): State<AppState>,
    Path(raw_id): Path<String>,
    headers: HeaderMap,
    caller: Caller,
) -> Result<Json<RoomView>, AppError> {
    let grant = grant(&state, &raw_id, Via::Edit, &caller).await?;
    describe(&state, &grant, &headers).await.map(Json)
}

/// Reads a room by its view link: as [`get`], without the edit link.
pub async fn get_view(
    State(state): State<AppState>,
    Path(raw_id): Path<String>,
    headers: HeaderMap,
    caller: Caller,
) -> Result<Json<RoomView>, AppError> {
    let grant = grant(&state, &raw_id, Via::View, &caller).await?;
    describe(&state, &grant, &headers).await.map(Json)
}

async fn describe(
    state: &AppState,
    grant: &Grant,
    headers: &HeaderMap,
) -> Result<RoomView, AppError> {
    let id = grant.room();
    let record = state
        .store
        .get_room(id)
        .await?
        .ok_or(AppError::RoomNotFound)?;
    let doc = DocId::room(id);
    let (text, active_users) = match state.sync.describe(doc).await {
        Some(live) => (live.text, live.active_users),
        None => (record.text, state.sync.people_elsewhere(doc).await),
    };
    let links = &grant.links;
    let base = base_url(&state.config, headers);
    Ok(RoomView {
        room_id: (grant.via == Via::Edit).then_some(links.edit),
        view_id: links.view,
        view_url: links.view.map(|view| format!("{base}/v/{view}")),
        file_id: id,
        text,
        created_at: rfc3339(record.created_at),
        updated_at: rfc3339(record.updated_at),
        active_users,
        access: links.access,
        can_edit: grant.can_edit(),
        owner: grant.owner,
        has_owner: links.owner_key_hash.is_some(),
    })
}

/// The owner renames the room or changes who may edit it.
pub async fn change(
    State(state): State<AppState>,
    Path(raw_id): Path<String>,
    headers: HeaderMap,
    caller: Caller,
    ApiJson(body): ApiJson<ChangeRoom>,
) -> Result<Json<RoomView>, AppError> {
    let mut grant = grant(&state, &raw_id, Via::Edit, &caller).await?;
    need_owner(&grant)?;
    let title = match &body.title {
        Some(title) => Some(
            crate::rooms::title_of(Some(title))
                .map_err(|e| AppError::Unprocessable(e.to_string()))?,
        ),
        None => None,
    };
    if let Some(access) = body.access {
        let changed =
            access == grant.links.access || owner::set_access(&state, grant.room(), access).await?;
        if !changed {
            return Err(AppError::RoomNotFound);
        }
        grant.links.access = access;
    }
    if let Some(title) = title {
        if !state.sync.retitle(grant.room(), title).await {
            return Err(AppError::Unavailable(
                "the room cannot be changed now; retry",
            ));
        }
    }
    describe(&state, &grant, &headers).await.map(Json)
}

/// The owner replaces the edit link: the old one stops working, and whoever came by it
/// is disconnected with the reason.
pub async fn new_edit_link(
    State(state): State<AppState>,
    Path(raw_id): Path<String>,
    headers: HeaderMap,
    caller: Caller,
) -> Result<Json<NewEditLink>, AppError> {
    let grant = grant(&state, &raw_id, Via::Edit, &caller).await?;
    need_owner(&grant)?;
    let link = (owner::replace_link(&state, grant.room(), Via::Edit).await?)
        .ok_or(AppError::RoomNotFound)?;
    let base = base_url(&state.config, &headers);
    Ok(Json(NewEditLink {
        room_id: link,
        url: format!("{base}/r/{link}"),
    }))
}

/// The owner replaces the view link, as [`new_edit_link`] does the edit link.
pub async fn new_view_link(
    State(state): State<AppState>,
    Path(raw_id): Path<String>,
    headers: HeaderMap,
    caller: Caller,
) -> Result<Json<NewViewLink>, AppError> {
    let grant = grant(&state, &raw_id, Via::Edit, &caller).await?;
    need_owner(&grant)?;
    let link = (owner::replace_link(&state, grant.room(), Via::View).await?)
        .ok_or(AppError::RoomNotFound)?;
    let base = base_url(&state.config, &headers);
    Ok(Json(NewViewLink {
        view_id: link,
        view_url: format!("{base}/v/{link}"),
    }))
}

/// The owner deletes the room, its files and their histories; everyone in it is
/// disconnected with the reason.
pub async fn delete(
    State(state): State<AppState>,
    Path(raw_id): Path<String>,
    caller: Caller,
) -> Result<StatusCode, AppError> {
    let grant = grant(&state, &raw_id, Via::Edit, &caller).await?;
    need_owner(&grant)?;
    if !owner::delete_room(&state, grant.room()).await? {
        return Err(AppError::RoomNotFound);
    }
    Ok(StatusCode::NO_CONTENT)
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
