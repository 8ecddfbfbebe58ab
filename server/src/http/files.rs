//! The files of a room's project: `GET`/`POST /api/rooms/{roomId}/files`,
//! `GET`/`PATCH`/`DELETE /api/rooms/{roomId}/files/{fileId}` and
//! `GET /api/rooms/{roomId}/archive` (a `.zip` of every file at its path). By the view
//! link (`/api/rooms/v/{viewId}/…`) they only read; so does the edit link of a room its
//! owner made view-only, unless the owner key comes with the request.

use std::io::Write;

use axum::extract::{Path, State};
use axum::http::{header, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::Json;
use serde::{Deserialize, Serialize};
use uuid::Uuid;
use zip::write::SimpleFileOptions;

use super::access::{grant, need_edit, Caller};
use super::error::AppError;
use super::json::ApiJson;
use super::rooms::{parse_file_id, rfc3339};
use crate::access::{Grant, Via};
use crate::projects::{self, FileError, FileInfo};
use crate::AppState;

/// A file as listed.
#[derive(Debug, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct FileView {
    file_id: Uuid,
    path: String,
    language: String,
    bytes: u64,
    updated_at: String,
}

impl From<FileInfo> for FileView {
    fn from(file: FileInfo) -> Self {
        Self {
            file_id: file.id,
            path: file.path,
            language: file.language,
            bytes: file.bytes,
            updated_at: rfc3339(file.updated_at),
        }
    }
}

/// Answer of `GET /api/rooms/{roomId}/files`.
#[derive(Debug, Serialize)]
pub struct FileList {
    files: Vec<FileView>,
}

/// Answer of `POST` and `PATCH`: the file's id and path.
#[derive(Debug, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct FilePlace {
    file_id: Uuid,
    path: String,
}

/// Body of `POST /api/rooms/{roomId}/files`.
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct CreateFile {
    /// Where the file goes.
    pub path: String,
    /// Its first text; empty when absent.
    #[serde(default)]
    pub text: String,
}

/// Body of `PATCH /api/rooms/{roomId}/files/{fileId}`.
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RenameFile {
    /// Where the file moves.
    pub path: String,
    /// Where the caller last saw it: the rename fails (409) if it has moved since.
    #[serde(default)]
    pub from: Option<String>,
}

impl From<FileError> for AppError {
    fn from(error: FileError) -> Self {
        match error {
            FileError::RoomNotFound => Self::RoomNotFound,
            FileError::FileNotFound => Self::FileNotFound,
            FileError::BadPath(why) => Self::Unprocessable(why.to_string()),
            FileError::PathTaken | FileError::FirstFile | FileError::Moved => {
                Self::Conflict(error.to_string())
            }
            FileError::TooLarge(why) => Self::TooLarge(why),
            FileError::Store(error) => Self::Store(error),
        }
    }
}

/// Lists the project's files, the first included.
pub async fn list(
    State(state): State<AppState>,
    Path(raw_room): Path<String>,
    caller: Caller,
) -> Result<Json<FileList>, AppError> {
    let grant = grant(&state, &raw_room, Via::Edit, &caller).await?;
    list_in(&state, &grant).await
}

/// As [`list`], by the view link.
pub async fn list_view(
    State(state): State<AppState>,
    Path(raw_room): Path<String>,
    caller: Caller,
) -> Result<Json<FileList>, AppError> {
    let grant = grant(&state, &raw_room, Via::View, &caller).await?;
    list_in(&state, &grant).await
}

async fn list_in(state: &AppState, grant: &Grant) -> Result<Json<FileList>, AppError> {
    let files = projects::list(state, grant.room()).await?;
    Ok(Json(FileList {
        files: files.into_iter().map(FileView::from).collect(),
    }))
}

/// Adds a file.
pub async fn create(
    State(state): State<AppState>,
    Path(raw_room): Path<String>,
    caller: Caller,
    ApiJson(body): ApiJson<CreateFile>,
) -> Result<(StatusCode, Json<FilePlace>), AppError> {
    let grant = grant(&state, &raw_room, Via::Edit, &caller).await?;
    need_edit(&grant)?;
    let file = projects::create(&state, grant.room(), &body.path, &body.text).await?;
    Ok((
        StatusCode::CREATED,
        Json(FilePlace {
            file_id: file.id,
            path: file.path,
        }),
    ))
}

/// The file's live text, as `text/plain`.
pub async fn read(
    State(state): State<AppState>,
    Path((raw_room, raw_file)): Path<(String, String)>,
    caller: Caller,
) -> Result<Response, AppError> {
    let grant = grant(&state, &raw_room, Via::Edit, &caller).await?;
    read_in(&state, &grant, &raw_file).await
}

/// As [`read`], by the view link.
pub async fn read_view(
    State(state): State<AppState>,
    Path((raw_room, raw_file)): Path<(String, String)>,
    caller: Caller,
) -> Result<Response, AppError> {
    let grant = grant(&state, &raw_room, Via::View, &caller).await?;
    read_in(&state, &grant, &raw_file).await
}

async fn read_in(state: &AppState, grant: &Grant, raw_file: &str) -> Result<Response, AppError> {
    let file = parse_file_id(raw_file)?;
    let text = projects::read(state, grant.room(), file).await?;
    let content_type = HeaderValue::from_static("text/plain; charset=utf-8");
    Ok(([(header::CONTENT_TYPE, content_type)], text).into_response())
}

/// Moves a file.
pub async fn rename(
    State(state): State<AppState>,
    Path((raw_room, raw_file)): Path<(String, String)>,
    caller: Caller,
    ApiJson(body): ApiJson<RenameFile>,
) -> Result<Json<FilePlace>, AppError> {
    let grant = grant(&state, &raw_room, Via::Edit, &caller).await?;
    let file = parse_file_id(&raw_file)?;
    need_edit(&grant)?;
    let room = grant.room();
    let path = projects::rename(&state, room, file, &body.path, body.from.as_deref()).await?;
    Ok(Json(FilePlace {
        file_id: file,
        path: path.to_string(),
    }))
}

/// Deletes a file.
pub async fn delete(
    State(state): State<AppState>,
    Path((raw_room, raw_file)): Path<(String, String)>,
    caller: Caller,
) -> Result<StatusCode, AppError> {
    let grant = grant(&state, &raw_room, Via::Edit, &caller).await?;
    let file = parse_file_id(&raw_file)?;
    need_edit(&grant)?;
    projects::delete(&state, grant.room(), file).await?;
    Ok(StatusCode::NO_CONTENT)
}

/// Every file at its path in one `.zip`.
pub async fn archive(
    State(state): State<AppState>,
    Path(raw_room): Path<String>,
    caller: Caller,
) -> Result<Response, AppError> {
    let grant = grant(&state, &raw_room, Via::Edit, &caller).await?;
    archive_of(&state, grant.room()).await
}

/// As [`archive`], by the view link.
pub async fn archive_view(
    State(state): State<AppState>,
    Path(raw_room): Path<String>,
    caller: Caller,
) -> Result<Response, AppError> {
    let grant = grant(&state, &raw_room, Via::View, &caller).await?;
    archive_of(&state, grant.room()).await
}

async fn archive_of(state: &AppState, room: Uuid) -> Result<Response, AppError> {
    // Each archive holds its project in memory while it is built.
    let _slot = (state.archive_slots.clone())
        .try_acquire_owned()
        .map_err(|_| AppError::Busy("other archives are being built; try again shortly"))?;
    let files = projects::texts(state, room).await?;
    // Compressing megabytes takes a while: off the async workers.
    let zipped = tokio::task::spawn_blocking(move || zip_files(&files))
        .await
        .map_err(|_| AppError::Unavailable("the archive could not be built"))?
        .map_err(|_| AppError::Unavailable("the archive could not be built"))?;
    let disposition = format!(
        "attachment; filename=\"pairpad-{}.zip\"",
        crate::sync::persist::short_id(room)
    );
    let headers = [
        (
            header::CONTENT_TYPE,
            HeaderValue::from_static("application/zip"),
        ),
        (
            header::CONTENT_DISPOSITION,
            HeaderValue::try_from(disposition)
                .unwrap_or_else(|_| HeaderValue::from_static("attachment")),
        ),
    ];
    Ok((headers, zipped).into_response())
}

fn zip_files(files: &[(FileInfo, String)]) -> zip::result::ZipResult<Vec<u8>> {
    let mut zip = zip::ZipWriter::new(std::io::Cursor::new(Vec::new()));
    let options = SimpleFileOptions::default()
        .compression_method(zip::CompressionMethod::Deflated)
        .unix_permissions(0o644);
    for (file, text) in files {
        zip.start_file(file.path.as_str(), options)?;
        zip.write_all(text.as_bytes())?;
    }
    Ok(zip.finish()?.into_inner())
}
