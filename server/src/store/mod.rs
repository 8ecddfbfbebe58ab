//! Persistence: the `Store` trait and its SQLite and PostgreSQL implementations.
//!
//! A room is a row in `rooms` (metadata, plain-text mirror, compacted snapshot) plus an
//! append-only log of Yjs updates in `room_updates`. Loading a room is "snapshot + the
//! updates since"; compaction folds the log into a new snapshot in one transaction.

#[cfg(test)]
pub(crate) mod fake;
mod group;
mod postgres;
mod sqlite;

use std::collections::{HashMap, HashSet};
use std::sync::Arc;

use async_trait::async_trait;
use bytes::Bytes;
use uuid::Uuid;

use crate::paths::{fold, ProjectPath};

pub use group::GroupCommit;
pub use postgres::PostgresStore;
pub use sqlite::SqliteStore;

/// Errors a store can return. The message never contains the database password.
#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    /// The database failed or could not be reached.
    #[error("database error: {0}")]
    Database(#[from] sqlx::Error),
    /// Schema migrations failed on start-up.
    #[error("migration failed: {0}")]
    Migrate(#[from] sqlx::migrate::MigrateError),
    /// The database URL names no supported engine.
    #[error("unsupported database URL scheme (expected sqlite: or postgres:)")]
    UnsupportedUrl,
    /// A row held a value this version cannot read.
    #[error("corrupt row: {0}")]
    Corrupt(String),
    /// The store is closing and takes no more writes.
    #[error("the store is closed")]
    Closed,
    /// The store cannot take writes for a reason outside the database (its file was
    /// deleted or replaced, its last write failed).
    #[error("store unavailable: {0}")]
    Unavailable(String),
    /// Another file of the project has this path, or one that differs only by case, or
    /// a folder of that name exists (or the path goes through a file).
    #[error("a file or folder with this path exists")]
    PathTaken,
    /// The project would pass one of its limits.
    #[error("{0}")]
    ProjectFull(String),
}

impl StoreError {
    /// `PathTaken` for a unique-index violation (the only unique index a write can break
    /// is the one on a project's paths), the error as it is otherwise.
    fn from_write(error: sqlx::Error) -> Self {
        match &error {
            sqlx::Error::Database(db) if db.is_unique_violation() => Self::PathTaken,
            _ => Self::Database(error),
        }
    }
}

/// A file about to be added to a project.
#[derive(Debug, Clone)]
pub struct NewFile {
    /// Random UUIDv4.
    pub id: Uuid,
    /// Its path in the project.
    pub path: ProjectPath,
    /// Its first text.
    pub text: String,
    /// Initial Yjs document (v1 update) holding `text`.
    pub snapshot: Vec<u8>,
    /// Creation time, Unix milliseconds.
    pub created_at: i64,
}

/// What a project is held to when files are added.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ProjectLimits {
    /// Most files, the first included.
    pub max_files: usize,
    /// Most bytes of text, every file together.
    pub max_bytes: u64,
}

/// A project's paths and size as they stand inside a write, to check additions against:
/// no two files whose paths differ only by case, no file where a folder is (or the other
/// way round), one spelling per folder, and the limits.
struct ProjectShape {
    files: HashSet<String>,
    /// Each folder's key, and its spelling.
    folders: HashMap<String, String>,
    count: usize,
    bytes: u64,
}

impl ProjectShape {
    /// The shape of a project holding `existing` `(path, bytes)`.
    fn of(existing: impl IntoIterator<Item = (String, i64)>) -> Self {
        let mut shape = Self {
            files: HashSet::new(),
            folders: HashMap::new(),
            count: 0,
            bytes: 0,
        };
        for (path, bytes) in existing {
            // A stored path breaks no rule; an older one that does is still counted.
            match ProjectPath::parse(&path) {
                Ok(path) => shape.note(&path),
                Err(_) => {
                    shape.files.insert(fold(&path));
                }
            }
            shape.count += 1;
            shape.bytes += u64::try_from(bytes).unwrap_or(0);
        }
        shape
    }

    fn note(&mut self, path: &ProjectPath) {
        self.files.insert(path.key());
        for folder in path.folders() {
            let key = fold(folder);
            self.folders
                .entry(key)
                .or_insert_with(|| folder.to_string());
        }
    }

    /// Checks that `path` can be added, and adds it.
    fn add(&mut self, path: &ProjectPath) -> Result<(), StoreError> {
        let key = path.key();
        if self.files.contains(&key) || self.folders.contains_key(&key) {
            return Err(StoreError::PathTaken);
        }
        for folder in path.folders() {
            let folder_key = fold(folder);
            let spelled_otherwise = self.folders.get(&folder_key).is_some_and(|s| s != folder);
            if self.files.contains(&folder_key) || spelled_otherwise {
                return Err(StoreError::PathTaken);
            }
        }
        self.note(path);
        Ok(())
    }

    /// Checks that `files` can be added under `limits`, and adds them.
    fn add_all(&mut self, files: &[NewFile], limits: ProjectLimits) -> Result<(), StoreError> {
        for file in files {
            self.add(&file.path)?;
            self.count += 1;
            self.bytes += file.text.len() as u64;
        }
        if self.count > limits.max_files {
            return Err(StoreError::ProjectFull(format!(
                "the project has the most files allowed ({})",
                limits.max_files
            )));
        }
        if self.bytes > limits.max_bytes {
            return Err(StoreError::ProjectFull(format!(
                "the project would be over the limit of {} bytes",
                limits.max_bytes
            )));
        }
        Ok(())
    }
}

/// One of a project's files as stored (the first file is the room's own row).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FileRecord {
    /// Its id (the room's id for the first file).
    pub id: Uuid,
    /// Its path in the project.
    pub path: String,
    /// Its editor language: by its extension, the room's own for the first file.
    pub language: String,
    /// Size of its text as last mirrored, in bytes.
    pub bytes: i64,
    /// Time of its last stored change, Unix milliseconds.
    pub updated_at: i64,
    /// How many times it was renamed: a later rename has a higher revision.
    pub revision: i64,
}

/// The columns of a `rooms` row that make a [`FileRecord`], read the same way from both
/// databases (the id is read as text: SQLite stores it so).
#[derive(sqlx::FromRow)]
struct FileRow {
    id: String,
    path: String,
    language: String,
    bytes: i64,
    updated_at: i64,
    revision: i64,
}

impl FileRow {
    fn into_record(self) -> Result<FileRecord, StoreError> {
        Ok(FileRecord {
            id: Uuid::try_parse(&self.id)
                .map_err(|e| StoreError::Corrupt(format!("file id: {e}")))?,
            path: self.path,
            language: self.language,
            bytes: self.bytes,
            updated_at: self.updated_at,
            revision: self.revision,
        })
    }
}

/// What a room's edit link lets people do.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Access {
    /// Edit: the default.
    #[default]
    Edit,
    /// Only view: the owner has made the room view-only for everyone but themselves.
    View,
}

impl Access {
    /// How the store spells it.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Edit => "edit",
            Self::View => "view",
        }
    }

    fn parse(stored: &str) -> Result<Self, StoreError> {
        match stored {
            "edit" => Ok(Self::Edit),
            "view" => Ok(Self::View),
            other => Err(StoreError::Corrupt(format!("room access {other:?}"))),
        }
    }
}

/// A room's links, owner and access, as stored.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RoomLinks {
    /// The room (its own id, which names its first file).
    pub room: Uuid,
    /// Its edit link's id.
    pub edit: Uuid,
    /// Its view link's id; none for a room made before view links.
    pub view: Option<Uuid>,
    /// SHA-256 of its owner's key, hex; none for a room made before owners.
    pub owner_key_hash: Option<String>,
    /// What its edit link lets people do.
    pub access: Access,
}

/// The columns of a `rooms` row that make [`RoomLinks`], read the same way from both
/// databases.
#[derive(sqlx::FromRow)]
struct LinksRow {
    id: String,
    edit_id: String,
    view_id: Option<String>,
    owner_key_hash: Option<String>,
    access: String,
}

impl LinksRow {
    /// The columns to select (`id` as text: PostgreSQL stores it as a UUID).
    const COLUMNS: &'static str =
        "CAST(id AS TEXT) AS id, edit_id, view_id, owner_key_hash, access";

    fn into_links(self) -> Result<RoomLinks, StoreError> {
        let id = |raw: &str| {
            Uuid::try_parse(raw).map_err(|e| StoreError::Corrupt(format!("room link: {e}")))
        };
        Ok(RoomLinks {
            room: id(&self.id)?,
            edit: id(&self.edit_id)?,
            view: self.view_id.as_deref().map(id).transpose()?,
            owner_key_hash: self.owner_key_hash,
            access: Access::parse(&self.access)?,
        })
    }
}

/// A change to a room's access or links.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum LinkChange {
    /// What the edit link lets people do.
    Access(Access),
    /// A new edit link: the old one stops working.
    Edit(Uuid),
    /// A new view link: the old one stops working.
    View(Uuid),
}

/// A room about to be created.
#[derive(Debug, Clone)]
pub struct NewRoom {
    /// Random UUIDv4.
    pub id: Uuid,
    /// Its edit link's id (random, not the room's id: viewers see that one).
    pub edit_id: Uuid,
    /// Its view link's id (random).
    pub view_id: Uuid,
    /// SHA-256 of its owner's key, hex.
    pub owner_key_hash: String,
    /// Human title shown in the editor.
    pub title: String,
    /// Editor language id (`rust`, `python`, …).
    pub language: String,
    /// The path of its first file (the room's own text) in the project.
    pub path: ProjectPath,
    /// Its first file's text.
    pub text: String,
    /// Initial Yjs document (v1 update) holding the `meta` map.
    pub snapshot: Vec<u8>,
    /// Creation time, Unix milliseconds.
    pub created_at: i64,
}

/// A room's text, title and language: as its live document holds them, as its row
/// mirrors them, and as the REST API shows them.
#[derive(Debug, Clone, Default, PartialEq, Eq, serde::Serialize)]
pub struct RoomText {
    /// Plain text of `doc.getText('code')`.
    pub code: String,
    /// `meta.title`.
    pub title: String,
    /// `meta.language`.
    pub language: String,
}

/// A room's row as stored: its text as last mirrored, and when it was created and changed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RoomRecord {
    /// Room id.
    pub id: Uuid,
    /// Text, title and language as last mirrored from the document.
    pub text: RoomText,
    /// Creation time, Unix milliseconds.
    pub created_at: i64,
    /// Time of the last stored change, Unix milliseconds.
    pub updated_at: i64,
}

/// The columns of a `rooms` row that make a [`RoomRecord`], read the same way from both
/// databases.
#[derive(sqlx::FromRow)]
struct RoomRow {
    title: String,
    language: String,
    code: String,
    created_at: i64,
    updated_at: i64,
}

impl RoomRow {
    /// The columns to select, in a query that ends with the room's id.
    const COLUMNS: &'static str = "title, language, code, created_at, updated_at";

    fn into_record(self, id: Uuid) -> RoomRecord {
        RoomRecord {
            id,
            text: RoomText {
                code: self.code,
                title: self.title,
                language: self.language,
            },
            created_at: self.created_at,
            updated_at: self.updated_at,
        }
    }
}

/// Everything needed to rebuild a room's document.
#[derive(Debug, Clone, Default)]
pub struct StoredDoc {
    /// Compacted snapshot (a Yjs v1 update), if any.
    pub snapshot: Option<Vec<u8>>,
    /// Updates appended after the snapshot, oldest first.
    pub updates: Vec<Vec<u8>>,
    /// Sequence number of the newest update (0 when there is none).
    pub last_seq: i64,
    /// The title and language the row holds (as last mirrored): what the room falls back
    /// to when its document lacks a valid one.
    pub title: String,
    /// See `title`.
    pub language: String,
    /// The room the document belongs to: its own id for a room's document, the room's id
    /// for one of its files.
    pub project: Uuid,
    /// Its path in the project.
    pub path: String,
}

/// What a document's live copy lacks after a given sequence number: see
/// [`Store::catch_up`].
#[derive(Debug, Clone, Default)]
pub struct Catchup {
    /// The stored snapshot, when updates after the number were folded into it since.
    pub snapshot: Option<Vec<u8>>,
    /// The stored updates after the number (or after the snapshot), oldest first.
    pub updates: Vec<Vec<u8>>,
    /// With these applied, the copy holds every update through this number.
    pub through: i64,
}

/// One Yjs update to append, with who sent it and when.
#[derive(Debug, Clone)]
pub struct NewUpdate {
    /// Yjs v1 update bytes, exactly as received.
    pub data: Bytes,
    /// Yjs client id of the sender, when its awareness told us.
    pub client_id: Option<i64>,
    /// Display name of the sender, when its awareness told us.
    pub author: Option<String>,
    /// Receive time, Unix milliseconds.
    pub created_at: i64,
}

/// The live document's text written into the `rooms` row.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Mirror {
    /// Text, title and language.
    pub text: RoomText,
    /// Time of the change, Unix milliseconds.
    pub updated_at: i64,
}

/// One room's share of a multi-room append.
#[derive(Debug, Clone)]
pub struct RoomUpdates {
    /// The room.
    pub room: Uuid,
    /// Its updates, in order.
    pub updates: Vec<NewUpdate>,
}

/// One room's mirror in a multi-room commit.
#[derive(Debug, Clone)]
pub struct RoomMirror {
    /// The room.
    pub room: Uuid,
    /// Its text, title and language.
    pub mirror: Mirror,
}

/// Durable storage for rooms. Implementations must make a successful `commit_many` (and
/// so `append_updates`) durable before returning: the sync core relays an update only
/// after that.
#[async_trait]
pub trait Store: Send + Sync + 'static {
    /// Inserts a new room.
    async fn create_room(&self, room: &NewRoom) -> Result<(), StoreError>;

    /// Reads a room's metadata and mirror; `None` when it does not exist.
    async fn get_room(&self, id: Uuid) -> Result<Option<RoomRecord>, StoreError>;

    /// Loads snapshot + updates since; `None` when the room does not exist.
    async fn load(&self, id: Uuid) -> Result<Option<StoredDoc>, StoreError>;
    /// What a live copy of document `id` that holds every update through sequence number
    /// `after` lacks; `None` when the document does not exist. (This default reads the
    /// whole document, which applies as a no-op where the copy has it.)
    async fn catch_up(&self, id: Uuid, after: i64) -> Result<Option<Catchup>, StoreError> {
        let _ = after;
        Ok(self.load(id).await?.map(|stored| Catchup {
            snapshot: stored.snapshot,
            updates: stored.updates,
            through: stored.last_seq,
        }))
    }

    /// Appends updates in one transaction and returns the sequence number of the last one.
    async fn append_updates(&self, id: Uuid, updates: &[NewUpdate]) -> Result<i64, StoreError> {
        let batch = [RoomUpdates {
            room: id,
            updates: updates.to_vec(),
        }];
        let seqs = self.commit_many(&batch, &[]).await?;
        Ok(seqs.first().copied().unwrap_or(0))
    }

    /// Appends the updates of several rooms and writes several mirrors in one transaction
    /// (one disk flush for all); returns each append's last sequence number, in order.
    async fn commit_many(
        &self,
        appends: &[RoomUpdates],
        mirrors: &[RoomMirror],
    ) -> Result<Vec<i64>, StoreError>;

    /// Writes the plain-text mirror, title and language.
    async fn save_mirror(&self, id: Uuid, mirror: &Mirror) -> Result<(), StoreError> {
        let write = [RoomMirror {
            room: id,
            mirror: mirror.clone(),
        }];
        self.commit_many(&[], &write).await.map(|_| ())
    }

    /// In one transaction: stores `snapshot` (which must contain every update up to
    /// `through_seq`), deletes those updates and writes the mirror.
    async fn compact(
        &self,
        id: Uuid,
        snapshot: &[u8],
        through_seq: i64,
        mirror: &Mirror,
    ) -> Result<(), StoreError>;

    /// Adds files to room `room`'s project, all or none, in one transaction; `false`
    /// when there is no such room, `PathTaken` when one's path clashes with another
    /// file's or folder's, `ProjectFull` past `limits`. Additions to one project are
    /// checked one after the other.
    async fn create_files(
        &self,
        room: Uuid,
        files: &[NewFile],
        limits: ProjectLimits,
    ) -> Result<bool, StoreError>;

    /// The files of room `room`'s project, the first file included, ordered by path
    /// (byte order);
    /// empty when there is no such room.
    async fn list_files(&self, room: Uuid) -> Result<Vec<FileRecord>, StoreError>;

    /// File `file` of room `room` and its text as last mirrored; `None` when the room has
    /// no such file. The room's own id names its first file.
    async fn get_file(
        &self,
        room: Uuid,
        file: Uuid,
    ) -> Result<Option<(FileRecord, String)>, StoreError>;

    /// Every file of room `room`'s project with its text as last mirrored, ordered by
    /// path (byte order).
    async fn project_texts(&self, room: Uuid) -> Result<Vec<(FileRecord, String)>, StoreError>;

    /// Moves file `file` of room `room` to `path`, if it is still at `from` when given;
    /// returns its new revision, `None` when there is no such file (or it is no longer at
    /// `from`), `PathTaken` when the path clashes with another file's or folder's.
    async fn rename_file(
        &self,
        room: Uuid,
        file: Uuid,
        path: &ProjectPath,
        from: Option<&str>,
    ) -> Result<Option<i64>, StoreError>;

    /// Deletes file `file` of room `room` and its history; `false` when there is no such
    /// file. The first file is the room itself and is never deleted here.
    async fn delete_file(&self, room: Uuid, file: Uuid) -> Result<bool, StoreError>;

    /// The room one of whose links (edit or view) is `link`; `None` when none has it.
    async fn find_link(&self, link: Uuid) -> Result<Option<RoomLinks>, StoreError>;

    /// Room `room`'s links, owner and access; `None` when there is no such room.
    async fn room_links(&self, room: Uuid) -> Result<Option<RoomLinks>, StoreError> {
        let _ = room;
        Err(StoreError::Unavailable(
            "this store cannot read a room's links".into(),
        ))
    }

    /// Changes room `room`'s access or replaces one of its links; `false` when there is
    /// no such room.
    async fn change_links(&self, room: Uuid, change: LinkChange) -> Result<bool, StoreError>;

    /// Deletes room `room`, its files and their histories; `false` when there is no such
    /// room.
    async fn delete_room(&self, room: Uuid) -> Result<bool, StoreError>;

    /// Answers once the store has committed a small write (a real probe, not a query):
    /// `/ready` says the server is ready only when this succeeds.
    async fn ping(&self) -> Result<(), StoreError>;

    /// Closes every connection after pending work is done.
    async fn close(&self);
}

/// Opens the store named by `url` (`sqlite:…` or `postgres://…`), runs its migrations,
/// and puts [`GroupCommit`] in front so appends from all rooms share transactions.
pub async fn connect(url: &str) -> Result<Arc<dyn Store>, StoreError> {
    let inner: Arc<dyn Store> =
        if url.starts_with("postgres://") || url.starts_with("postgresql://") {
            Arc::new(PostgresStore::connect(url).await?)
        } else if url.starts_with("sqlite:") {
            Arc::new(SqliteStore::connect(url).await?)
        } else {
            return Err(StoreError::UnsupportedUrl);
        };
    Ok(Arc::new(GroupCommit::new(inner)))
}

/// Opens one connection to the database named by `url` and closes it: the quick check
/// behind "test the connection" (a refused connection or a wrong password is reported at
/// once, with no pool retrying until a timeout).
pub async fn check(url: &str) -> Result<(), StoreError> {
    use sqlx::Connection;
    if url.starts_with("postgres://") || url.starts_with("postgresql://") {
        sqlx::PgConnection::connect(url).await?.close().await?;
        Ok(())
    } else if url.starts_with("sqlite:") {
        connect(url).await?.close().await;
        Ok(())
    } else {
        Err(StoreError::UnsupportedUrl)
    }
}

/// Ends a write on a pooled connection: after a failure the connection is closed instead
/// of going back to the pool. The database may already have ended the transaction by
/// itself (SQLite rolls back when COMMIT fails with a full disk), and sqlx, whose ROLLBACK
/// then fails too, would count the connection as still inside it: every later `begin()`
/// on it would open a SAVEPOINT inside a transaction that never commits.
fn settle_write<DB: sqlx::Database, T>(
    connection: &mut sqlx::pool::PoolConnection<DB>,
    result: Result<T, StoreError>,
) -> Result<T, StoreError> {
    if result.is_err() {
        connection.close_on_drop();
    }
    result
}

/// Current time in Unix milliseconds.
pub fn now_millis() -> i64 {
    chrono::Utc::now().timestamp_millis()
}

#[cfg(test)]
mod tests;
