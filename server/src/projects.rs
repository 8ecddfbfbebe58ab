//! A room's project: listing, creating, reading, renaming and deleting its files, for
//! every front end (the REST API, sharing a folder). The store holds the files; the room
//! shows each change to everyone live through its document's list of files, and a file
//! that is open hears of its own renaming or deletion.

use uuid::Uuid;

use crate::paths::{PathError, ProjectPath};
use crate::store::{now_millis, FileRecord, NewFile, StoreError};
use crate::sync::document;
use crate::sync::files::FileChange;
use crate::sync::{DocId, RoomCommand};
use crate::AppState;

/// Why a file operation was refused.
#[derive(Debug, thiserror::Error)]
pub enum FileError {
    /// No room with this id.
    #[error("room not found")]
    RoomNotFound,
    /// The room has no file with this id.
    #[error("file not found")]
    FileNotFound,
    /// The path breaks the rules in [`crate::paths`].
    #[error("{0}")]
    BadPath(#[from] PathError),
    /// Another file has this path, or one that differs only by case.
    #[error("a file with this path (or one that differs only by letter case) exists")]
    PathTaken,
    /// The first file is the room's own text.
    #[error("the first file is the room's own text and cannot be deleted")]
    FirstFile,
    /// Over a limit of the server.
    #[error("{0}")]
    TooLarge(String),
    /// The store failed.
    #[error(transparent)]
    Store(StoreError),
}

impl From<StoreError> for FileError {
    fn from(error: StoreError) -> Self {
        match error {
            StoreError::PathTaken => Self::PathTaken,
            other => Self::Store(other),
        }
    }
}

/// A file as the API shows it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FileInfo {
    /// Its id (the room's own for the first file).
    pub id: Uuid,
    /// Its path in the project.
    pub path: String,
    /// Its editor language.
    pub language: String,
    /// Size of its text, in bytes (as last stored: up to a second behind live edits).
    pub bytes: u64,
    /// Time of its last stored change, Unix milliseconds.
    pub updated_at: i64,
}

impl From<FileRecord> for FileInfo {
    fn from(record: FileRecord) -> Self {
        Self {
            id: record.id,
            path: record.path,
            language: record.language,
            bytes: u64::try_from(record.bytes).unwrap_or(0),
            updated_at: record.updated_at,
        }
    }
}

/// The files of room `room`'s project, the first file included, ordered by path.
pub async fn list(state: &AppState, room: Uuid) -> Result<Vec<FileInfo>, FileError> {
    let files = state.store.list_files(room).await?;
    // A room always has its first file.
    if files.is_empty() {
        return Err(FileError::RoomNotFound);
    }
    Ok(files.into_iter().map(FileInfo::from).collect())
}

/// Adds a file at `path` holding `text` to room `room`'s project.
pub async fn create(
    state: &AppState,
    room: Uuid,
    path: &str,
    text: &str,
) -> Result<FileInfo, FileError> {
    let path = ProjectPath::parse(path)?;
    let config = &state.config;
    if text.len() > config.max_document_bytes {
        return Err(FileError::TooLarge(format!(
            "the text is over the limit of {} bytes per file",
            config.max_document_bytes
        )));
    }
    let files = list(state, room).await?;
    if files.len() >= config.max_files_per_room {
        return Err(FileError::TooLarge(format!(
            "the project has the most files allowed ({})",
            config.max_files_per_room
        )));
    }
    let project_bytes: u64 = files.iter().map(|f| f.bytes).sum();
    let limit = u64::try_from(config.max_project_bytes).unwrap_or(u64::MAX);
    if project_bytes.saturating_add(text.len() as u64) > limit {
        return Err(FileError::TooLarge(format!(
            "the project would be over the limit of {limit} bytes"
        )));
    }
    let file = NewFile {
        id: Uuid::new_v4(),
        room,
        snapshot: document::file_update(text),
        text: text.to_string(),
        path,
        created_at: now_millis(),
    };
    if !state.store.create_file(&file).await? {
        return Err(FileError::RoomNotFound);
    }
    let listed = FileChange::Listed {
        id: file.id,
        path: file.path.to_string(),
        revision: 0,
    };
    state
        .sync
        .tell(DocId::room(room), RoomCommand::Files(listed))
        .await;
    Ok(FileInfo {
        id: file.id,
        language: file.path.language().into(),
        path: file.path.to_string(),
        bytes: file.text.len() as u64,
        updated_at: file.created_at,
    })
}

/// The live text of file `file` of room `room` (as last stored when nobody has it open).
pub async fn read(state: &AppState, room: Uuid, file: Uuid) -> Result<String, FileError> {
    let doc = DocId::file(room, file);
    if let Some(live) = state.sync.describe(doc).await {
        return Ok(live.text.code);
    }
    let (_, text) = (state.store.get_file(room, file).await?).ok_or(FileError::FileNotFound)?;
    Ok(text)
}

/// Moves file `file` of room `room` to `path`.
pub async fn rename(
    state: &AppState,
    room: Uuid,
    file: Uuid,
    path: &str,
) -> Result<FileInfo, FileError> {
    let path = ProjectPath::parse(path)?;
    let revision =
        (state.store.rename_file(room, file, &path).await?).ok_or(FileError::FileNotFound)?;
    let doc = DocId::file(room, file);
    if !doc.is_room() {
        state.sync.tell(doc, RoomCommand::Moved(path.clone())).await;
    }
    let listed = FileChange::Listed {
        id: file,
        path: path.to_string(),
        revision,
    };
    state
        .sync
        .tell(DocId::room(room), RoomCommand::Files(listed))
        .await;
    let (record, _) = (state.store.get_file(room, file).await?).ok_or(FileError::FileNotFound)?;
    Ok(record.into())
}

/// Deletes file `file` of room `room`; whoever has it open is told.
pub async fn delete(state: &AppState, room: Uuid, file: Uuid) -> Result<(), FileError> {
    if file == room {
        return Err(FileError::FirstFile);
    }
    if !state.store.delete_file(room, file).await? {
        return Err(FileError::FileNotFound);
    }
    state
        .sync
        .tell(DocId::file(room, file), RoomCommand::Deleted)
        .await;
    let removed = FileChange::Removed { id: file };
    state
        .sync
        .tell(DocId::room(room), RoomCommand::Files(removed))
        .await;
    Ok(())
}

/// Every file of room `room`'s project with its live text (as last stored for those
/// nobody has open), ordered by path.
pub async fn texts(state: &AppState, room: Uuid) -> Result<Vec<(FileInfo, String)>, FileError> {
    let files = state.store.project_texts(room).await?;
    if files.is_empty() {
        return Err(FileError::RoomNotFound);
    }
    let mut out = Vec::with_capacity(files.len());
    for (record, stored) in files {
        let live = state.sync.describe(DocId::file(room, record.id)).await;
        let text = live.map_or(stored, |live| live.text.code);
        out.push((FileInfo::from(record), text));
    }
    Ok(out)
}
