//! A room's project: listing, creating, reading, renaming and deleting its files, for
//! every front end (the REST API, sharing a folder). The store holds the files; the room
//! shows each change to everyone live through its document's list of files, and a file
//! that is open hears of its own renaming or deletion.

use uuid::Uuid;

use crate::paths::{PathError, ProjectPath};
use crate::store::{now_millis, FileRecord, NewFile, ProjectLimits, StoreError};
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
    /// The file was moved or renamed since the caller last saw it.
    #[error("the file was moved or renamed meanwhile; look at its new name and try again")]
    Moved,
    /// Another file has this path, or one that differs only by case.
    #[error("a file or folder with this path (or one that differs only by letter case) exists")]
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
            StoreError::ProjectFull(why) => Self::TooLarge(why),
            other => Self::Store(other),
        }
    }
}

/// The limits `--max-files-per-room` and `--max-project-bytes` set.
pub fn limits(state: &AppState) -> ProjectLimits {
    ProjectLimits {
        max_files: state.config.max_files_per_room,
        max_bytes: u64::try_from(state.config.max_project_bytes).unwrap_or(u64::MAX),
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
    let snapshot = document::file_update(text);
    // The cap is on the document as stored, which is a little larger than its text.
    if snapshot.len() > config.max_document_bytes {
        return Err(FileError::TooLarge(format!(
            "the text is over the limit of {} bytes per file",
            config.max_document_bytes
        )));
    }
    let file = NewFile {
        id: Uuid::new_v4(),
        snapshot,
        text: text.to_string(),
        path,
        created_at: now_millis(),
    };
    let files = std::slice::from_ref(&file);
    if !state.store.create_files(room, files, limits(state)).await? {
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
    state.sync.files_changed(room);
    Ok(FileInfo {
        id: file.id,
        language: file.path.language().into(),
        path: file.path.to_string(),
        bytes: file.text.len() as u64,
        updated_at: file.created_at,
    })
}

/// The live text of file `file` of room `room`: the document's when it is loaded, else
/// the stored document's (not the mirror, which may be a second behind, or more after a
/// crash).
pub async fn read(state: &AppState, room: Uuid, file: Uuid) -> Result<String, FileError> {
    let doc = DocId::file(room, file);
    if let Some(live) = state.sync.describe(doc).await {
        return Ok(live.text.code);
    }
    stored_text(state, doc)
        .await?
        .ok_or(FileError::FileNotFound)
}

/// The text of document `doc` as stored; `None` when the room has no such file.
async fn stored_text(state: &AppState, doc: DocId) -> Result<Option<String>, FileError> {
    let Some(stored) = state.store.load(doc.id).await? else {
        return Ok(None);
    };
    if stored.project != doc.room {
        return Ok(None);
    }
    let text = tokio::task::spawn_blocking(move || document::stored_text(&stored))
        .await
        .map_err(|e| FileError::Store(StoreError::Corrupt(format!("reading a file: {e}"))))?;
    Ok(Some(text))
}

/// Moves file `file` of room `room` to `path` (only if it is still at `from`, when
/// given: a rename chosen while someone else moved the file must not undo their move);
/// returns the path.
pub async fn rename(
    state: &AppState,
    room: Uuid,
    file: Uuid,
    path: &str,
    from: Option<&str>,
) -> Result<ProjectPath, FileError> {
    let path = ProjectPath::parse(path)?;
    let Some(revision) = state.store.rename_file(room, file, &path, from).await? else {
        return Err(match from {
            Some(_) if state.store.get_file(room, file).await?.is_some() => FileError::Moved,
            _ => FileError::FileNotFound,
        });
    };
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
    state.sync.files_changed(room);
    Ok(path)
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
        .tell(
            DocId::file(room, file),
            RoomCommand::Deleted { room: false },
        )
        .await;
    let removed = FileChange::Removed { id: file };
    state
        .sync
        .tell(DocId::room(room), RoomCommand::Files(removed))
        .await;
    state.sync.files_changed(room);
    Ok(())
}

/// Every file of room `room`'s project with its live text (see [`read`]), ordered by
/// path.
pub async fn texts(state: &AppState, room: Uuid) -> Result<Vec<(FileInfo, String)>, FileError> {
    let files = list(state, room).await?;
    let mut out = Vec::with_capacity(files.len());
    for file in files {
        let doc = DocId::file(room, file.id);
        let text = match state.sync.describe(doc).await {
            Some(live) => live.text.code,
            // Deleted meanwhile: left out.
            None => match stored_text(state, doc).await? {
                Some(text) => text,
                None => continue,
            },
        };
        out.push((file, text));
    }
    Ok(out)
}
