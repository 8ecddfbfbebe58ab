//! SQLite store: the zero-setup default. One file, WAL journal, `synchronous = FULL` so that
//! a committed update survives a crash of the process or of the machine.

use std::collections::HashMap;
use std::os::unix::fs::MetadataExt;
use std::path::{Path, PathBuf};
use std::str::FromStr;
use std::time::Duration;

use async_trait::async_trait;
use sqlx::pool::PoolConnection;
use sqlx::sqlite::{SqliteConnectOptions, SqliteJournalMode, SqlitePoolOptions, SqliteSynchronous};
use sqlx::{Connection, FromRow, QueryBuilder, Row, Sqlite, SqlitePool, Transaction};
use uuid::Uuid;

use crate::paths::{first_file_path, fold, ProjectPath};

use super::{
    now_millis, settle_write, FileRecord, FileRow, LinkChange, LinksRow, Mirror, NewFile, NewRoom,
    NewUpdate, ProjectLimits, ProjectShape, RoomLinks, RoomMirror, RoomRecord, RoomRow,
    RoomUpdates, Store, StoreError, StoredDoc,
};

/// SQLite-backed [`Store`].
#[derive(Debug, Clone)]
pub struct SqliteStore {
    /// Reads (loading a room, the REST API).
    pool: SqlitePool,
    /// Every write, on one connection: SQLite has one writer at a time anyway, and a
    /// connection that no other connection writes behind keeps its page cache (the index
    /// pages of the busy rooms' logs) from one commit to the next.
    writer: SqlitePool,
    /// The database file as opened, when it is a file: a write is reported durable only
    /// while that same file is still at its path.
    file: Option<DbFile>,
}

/// The identity of the database file at start: its path, device and inode.
#[derive(Debug, Clone)]
struct DbFile {
    path: PathBuf,
    dev: u64,
    ino: u64,
}

impl DbFile {
    fn at(path: &Path) -> Option<Self> {
        let meta = std::fs::metadata(path).ok()?;
        Some(Self {
            path: path.to_path_buf(),
            dev: meta.dev(),
            ino: meta.ino(),
        })
    }

    /// Fails when the file was deleted or replaced since the store opened it: writes would
    /// then go to a file that nobody will ever open again.
    fn check(&self) -> Result<(), StoreError> {
        match std::fs::metadata(&self.path) {
            Ok(meta) if meta.dev() == self.dev && meta.ino() == self.ino => Ok(()),
            Ok(_) => Err(StoreError::Unavailable(format!(
                "database file {} was replaced; restart the server",
                self.path.display()
            ))),
            Err(error) => Err(StoreError::Unavailable(format!(
                "database file {} is gone ({error}); restart the server",
                self.path.display()
            ))),
        }
    }
}

/// The paths and size of room `room`'s project, but for file `except`; `None` when
/// there is no such room (or, with `except`, no such file in it).
async fn project_shape(
    tx: &mut Transaction<'_, Sqlite>,
    room: Uuid,
    except: Option<Uuid>,
) -> Result<Option<ProjectShape>, StoreError> {
    let rows: Vec<(String, String, i64)> = sqlx::query_as(
        "SELECT id, path, length(CAST(code AS BLOB)) FROM rooms WHERE project_id = ?",
    )
    .bind(room.to_string())
    .fetch_all(&mut **tx)
    .await?;
    let except = except.map(|id| id.to_string());
    let known = match &except {
        Some(file) => rows.iter().any(|(id, _, _)| id == file),
        None => rows.iter().any(|(id, _, _)| *id == room.to_string()),
    };
    if !known {
        return Ok(None);
    }
    let others = (rows.into_iter())
        .filter(|(id, _, _)| Some(id) != except.as_ref())
        .map(|(_, path, bytes)| (path, bytes));
    Ok(Some(ProjectShape::of(others)))
}

/// Gives the first file of each room created before projects its path.
async fn name_first_files(writer: &SqlitePool) -> Result<(), StoreError> {
    let unnamed: Vec<(String, String)> =
        sqlx::query_as("SELECT id, language FROM rooms WHERE path IS NULL AND project_id = id")
            .fetch_all(writer)
            .await?;
    let mut tx = writer.begin().await?;
    for (id, language) in unnamed {
        let path = first_file_path(&language);
        sqlx::query("UPDATE rooms SET path = ?, path_key = ? WHERE id = ?")
            .bind(&path)
            .bind(fold(&path))
            .bind(&id)
            .execute(&mut *tx)
            .await?;
    }
    tx.commit().await?;
    Ok(())
}

impl SqliteStore {
    /// Opens (creating if needed) the database at `url` and migrates it.
    pub async fn connect(url: &str) -> Result<Self, StoreError> {
        let options = SqliteConnectOptions::from_str(url)?
            .create_if_missing(true)
            .journal_mode(SqliteJournalMode::Wal)
            .synchronous(SqliteSynchronous::Full)
            .foreign_keys(true)
            // Statement journals (a multi-row INSERT inside a transaction needs one) in
            // memory rather than a temporary file created and deleted for each commit.
            .pragma("temp_store", "memory")
            .busy_timeout(Duration::from_secs(10));
        let writer = SqlitePoolOptions::new()
            .max_connections(1)
            .acquire_timeout(Duration::from_secs(10))
            .connect_with(options.clone().pragma("cache_size", WRITER_CACHE))
            .await?;
        sqlx::migrate!("../migrations/sqlite").run(&writer).await?;
        name_first_files(&writer).await?;
        let pool = SqlitePoolOptions::new()
            .max_connections(4)
            .acquire_timeout(Duration::from_secs(10))
            .connect_with(options.clone())
            .await?;
        let path = options.get_filename();
        let file = (path != Path::new(":memory:"))
            .then(|| DbFile::at(path))
            .flatten();
        Ok(Self { pool, writer, file })
    }

    /// Checks that the database file is still the one opened.
    fn check_file(&self) -> Result<(), StoreError> {
        self.file.as_ref().map_or(Ok(()), DbFile::check)
    }

    /// The writer connection, once the database file is known to be still in place.
    async fn writer(&self) -> Result<PoolConnection<Sqlite>, StoreError> {
        self.check_file()?;
        Ok(self.writer.acquire().await?)
    }

    /// Ends a write on the writer: closes the connection after a failure (see
    /// [`settle_write`]), and turns a commit into a deleted or replaced file into a failure.
    fn settle<T>(
        &self,
        mut writer: PoolConnection<Sqlite>,
        result: Result<T, StoreError>,
    ) -> Result<T, StoreError> {
        let result = result.and_then(|value| self.check_file().map(|()| value));
        settle_write(&mut writer, result)
    }
}

/// A file's columns, as [`FileRow`] reads them: the size is the mirrored text's, in bytes.
const FILE_COLUMNS: &str =
    "id, path, language, length(CAST(code AS BLOB)) AS bytes, updated_at, revision";

fn parse_id(text: &str) -> Result<Uuid, StoreError> {
    Uuid::try_parse(text).map_err(|e| StoreError::Corrupt(format!("room id: {e}")))
}

/// The writer's page cache, in KiB (a negative `cache_size`): room for the log's hot
/// index pages of a few thousand busy rooms.
const WRITER_CACHE: &str = "-16384";

#[async_trait]
impl Store for SqliteStore {
    async fn create_room(&self, room: &NewRoom) -> Result<(), StoreError> {
        let mut writer = self.writer().await?;
        let id = room.id.to_string();
        let result = sqlx::query(
            "INSERT INTO rooms (id, project_id, title, language, code, snapshot, path, path_key, \
             created_at, updated_at, edit_id, view_id, owner_key_hash) \
             VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
        )
        .bind(&id)
        .bind(&id)
        .bind(&room.title)
        .bind(&room.language)
        .bind(&room.text)
        .bind(&room.snapshot)
        .bind(room.path.as_str())
        .bind(room.path.key())
        .bind(room.created_at)
        .bind(room.created_at)
        .bind(room.edit_id.to_string())
        .bind(room.view_id.to_string())
        .bind(&room.owner_key_hash)
        .execute(&mut *writer)
        .await
        .map(|_| ())
        .map_err(StoreError::from);
        self.settle(writer, result)
    }

    async fn get_room(&self, id: Uuid) -> Result<Option<RoomRecord>, StoreError> {
        let query = format!(
            "SELECT {} FROM rooms WHERE id = ? AND project_id = id",
            RoomRow::COLUMNS
        );
        let row: Option<RoomRow> = sqlx::query_as(&query)
            .bind(id.to_string())
            .fetch_optional(&self.pool)
            .await?;
        Ok(row.map(|row| row.into_record(id)))
    }

    async fn load(&self, id: Uuid) -> Result<Option<StoredDoc>, StoreError> {
        let mut tx = self.pool.begin().await?;
        let Some(row) = sqlx::query(
            "SELECT snapshot, title, language, COALESCE(project_id, id) AS project, \
             COALESCE(path, '') AS path FROM rooms WHERE id = ?",
        )
        .bind(id.to_string())
        .fetch_optional(&mut *tx)
        .await?
        else {
            return Ok(None);
        };
        let snapshot: Option<Vec<u8>> = row.try_get("snapshot")?;
        let rows = sqlx::query("SELECT seq, data FROM room_updates WHERE room_id = ? ORDER BY seq")
            .bind(id.to_string())
            .fetch_all(&mut *tx)
            .await?;
        tx.commit().await?;
        let mut doc = StoredDoc {
            snapshot,
            updates: Vec::with_capacity(rows.len()),
            last_seq: 0,
            title: row.try_get("title")?,
            language: row.try_get("language")?,
            project: parse_id(row.try_get("project")?)?,
            path: row.try_get("path")?,
        };
        for row in rows {
            doc.last_seq = row.try_get("seq")?;
            doc.updates.push(row.try_get("data")?);
        }
        Ok(Some(doc))
    }

    async fn commit_many(
        &self,
        appends: &[RoomUpdates],
        mirrors: &[RoomMirror],
    ) -> Result<Vec<i64>, StoreError> {
        let mut writer = self.writer().await?;
        let result = async {
            let mut tx = writer.begin().await?;
            let seqs = append_in(&mut tx, appends).await?;
            mirror_in(&mut tx, mirrors).await?;
            tx.commit().await?;
            Ok(seqs)
        }
        .await;
        self.settle(writer, result)
    }

    async fn compact(
        &self,
        id: Uuid,
        snapshot: &[u8],
        through_seq: i64,
        mirror: &Mirror,
    ) -> Result<(), StoreError> {
        let room = id.to_string();
        let mut writer = self.writer().await?;
        let result = async {
            let mut tx = writer.begin().await?;
            sqlx::query(
                "UPDATE rooms SET snapshot = ?, code = ?, title = ?, \
                 language = ?, updated_at = MAX(updated_at, ?) WHERE id = ?",
            )
            .bind(snapshot)
            .bind(&mirror.text.code)
            .bind(&mirror.text.title)
            .bind(&mirror.text.language)
            .bind(mirror.updated_at)
            .bind(&room)
            .execute(&mut *tx)
            .await?;
            sqlx::query("DELETE FROM room_updates WHERE room_id = ? AND seq <= ?")
                .bind(&room)
                .bind(through_seq)
                .execute(&mut *tx)
                .await?;
            tx.commit().await?;
            Ok(())
        }
        .await;
        self.settle(writer, result)
    }

    async fn create_files(
        &self,
        room: Uuid,
        files: &[NewFile],
        limits: ProjectLimits,
    ) -> Result<bool, StoreError> {
        let mut writer = self.writer().await?;
        let result = async {
            // The one writer connection takes one transaction at a time: the check and
            // the inserts see no other addition in between.
            let mut tx = writer.begin().await?;
            let Some(mut shape) = project_shape(&mut tx, room, None).await? else {
                return Ok(false);
            };
            shape.add_all(files, limits)?;
            for file in files {
                sqlx::query(
                    "INSERT INTO rooms (id, project_id, title, language, code, snapshot, path, \
                     path_key, created_at, updated_at) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
                )
                .bind(file.id.to_string())
                .bind(room.to_string())
                .bind(file.path.as_str())
                .bind(file.path.language())
                .bind(&file.text)
                .bind(&file.snapshot)
                .bind(file.path.as_str())
                .bind(file.path.key())
                .bind(file.created_at)
                .bind(file.created_at)
                .execute(&mut *tx)
                .await
                .map_err(StoreError::from_write)?;
            }
            tx.commit().await?;
            Ok(true)
        }
        .await;
        self.settle(writer, result)
    }

    async fn list_files(&self, room: Uuid) -> Result<Vec<FileRecord>, StoreError> {
        let query = format!("SELECT {FILE_COLUMNS} FROM rooms WHERE project_id = ?");
        let rows: Vec<FileRow> = sqlx::query_as(&query)
            .bind(room.to_string())
            .fetch_all(&self.pool)
            .await?;
        let mut files: Vec<FileRecord> = (rows.into_iter())
            .map(FileRow::into_record)
            .collect::<Result<_, _>>()?;
        // By path, byte by byte, whatever the database's collation.
        files.sort_by(|a, b| a.path.cmp(&b.path));
        Ok(files)
    }

    async fn get_file(
        &self,
        room: Uuid,
        file: Uuid,
    ) -> Result<Option<(FileRecord, String)>, StoreError> {
        let query =
            format!("SELECT {FILE_COLUMNS}, code FROM rooms WHERE id = ? AND project_id = ?");
        let row = sqlx::query(&query)
            .bind(file.to_string())
            .bind(room.to_string())
            .fetch_optional(&self.pool)
            .await?;
        row.map(|row| {
            let code: String = row.try_get("code")?;
            Ok((FileRow::from_row(&row)?.into_record()?, code))
        })
        .transpose()
    }

    async fn project_texts(&self, room: Uuid) -> Result<Vec<(FileRecord, String)>, StoreError> {
        let query = format!("SELECT {FILE_COLUMNS}, code FROM rooms WHERE project_id = ?");
        let rows = sqlx::query(&query)
            .bind(room.to_string())
            .fetch_all(&self.pool)
            .await?;
        let mut files = (rows.iter())
            .map(|row| Ok((FileRow::from_row(row)?.into_record()?, row.try_get("code")?)))
            .collect::<Result<Vec<(FileRecord, String)>, StoreError>>()?;
        files.sort_by(|a, b| a.0.path.cmp(&b.0.path));
        Ok(files)
    }

    async fn rename_file(
        &self,
        room: Uuid,
        file: Uuid,
        path: &ProjectPath,
        from: Option<&str>,
    ) -> Result<Option<i64>, StoreError> {
        let mut writer = self.writer().await?;
        let result = async {
            let mut tx = writer.begin().await?;
            let Some(mut shape) = project_shape(&mut tx, room, Some(file)).await? else {
                return Ok(None);
            };
            shape.add(path)?;
            // A file's title and language follow its path; the first file's are the room's.
            let revision = sqlx::query_scalar(
                "UPDATE rooms SET path = ?, path_key = ?, revision = revision + 1, \
                 title = CASE WHEN id = project_id THEN title ELSE ? END, \
                 language = CASE WHEN id = project_id THEN language ELSE ? END, \
                 updated_at = MAX(updated_at, ?) \
                 WHERE id = ? AND project_id = ? AND (? IS NULL OR path = ?) RETURNING revision",
            )
            .bind(path.as_str())
            .bind(path.key())
            .bind(path.as_str())
            .bind(path.language())
            .bind(now_millis())
            .bind(file.to_string())
            .bind(room.to_string())
            .bind(from)
            .bind(from)
            .fetch_optional(&mut *tx)
            .await
            .map_err(StoreError::from_write)?;
            tx.commit().await?;
            Ok(revision)
        }
        .await;
        self.settle(writer, result)
    }

    async fn delete_file(&self, room: Uuid, file: Uuid) -> Result<bool, StoreError> {
        let mut writer = self.writer().await?;
        let result =
            sqlx::query("DELETE FROM rooms WHERE id = ? AND project_id = ? AND id <> project_id")
                .bind(file.to_string())
                .bind(room.to_string())
                .execute(&mut *writer)
                .await
                .map(|done| done.rows_affected() > 0)
                .map_err(StoreError::from);
        self.settle(writer, result)
    }

    async fn find_link(&self, link: Uuid) -> Result<Option<RoomLinks>, StoreError> {
        let query = format!(
            "SELECT {} FROM rooms WHERE edit_id = ?1 OR view_id = ?1",
            LinksRow::COLUMNS
        );
        let row: Option<LinksRow> = sqlx::query_as(&query)
            .bind(link.to_string())
            .fetch_optional(&self.pool)
            .await?;
        row.map(LinksRow::into_links).transpose()
    }

    async fn room_links(&self, room: Uuid) -> Result<Option<RoomLinks>, StoreError> {
        let query = format!(
            "SELECT {} FROM rooms WHERE id = ?1 AND project_id = id",
            LinksRow::COLUMNS
        );
        let row: Option<LinksRow> = sqlx::query_as(&query)
            .bind(room.to_string())
            .fetch_optional(&self.pool)
            .await?;
        row.map(LinksRow::into_links).transpose()
    }

    async fn change_links(&self, room: Uuid, change: LinkChange) -> Result<bool, StoreError> {
        let (query, value) = match change {
            LinkChange::Access(access) => (
                "UPDATE rooms SET access = ? WHERE id = ? AND project_id = id",
                access.as_str().to_string(),
            ),
            LinkChange::Edit(link) => (
                "UPDATE rooms SET edit_id = ? WHERE id = ? AND project_id = id",
                link.to_string(),
            ),
            LinkChange::View(link) => (
                "UPDATE rooms SET view_id = ? WHERE id = ? AND project_id = id",
                link.to_string(),
            ),
        };
        let mut writer = self.writer().await?;
        let result = sqlx::query(query)
            .bind(value)
            .bind(room.to_string())
            .execute(&mut *writer)
            .await
            .map(|done| done.rows_affected() > 0)
            .map_err(StoreError::from);
        self.settle(writer, result)
    }

    async fn delete_room(&self, room: Uuid) -> Result<bool, StoreError> {
        let mut writer = self.writer().await?;
        // The files and every history go with it (ON DELETE CASCADE).
        let result = sqlx::query("DELETE FROM rooms WHERE id = ? AND project_id = id")
            .bind(room.to_string())
            .execute(&mut *writer)
            .await
            .map(|done| done.rows_affected() > 0)
            .map_err(StoreError::from);
        self.settle(writer, result)
    }

    async fn ping(&self) -> Result<(), StoreError> {
        let mut writer = self.writer().await?;
        let result = sqlx::query(
            "INSERT INTO store_probe (id, checked_at) VALUES (1, ?) \
             ON CONFLICT (id) DO UPDATE SET checked_at = excluded.checked_at",
        )
        .bind(now_millis())
        .execute(&mut *writer)
        .await
        .map(|_| ())
        .map_err(StoreError::from);
        self.settle(writer, result)
    }

    async fn close(&self) {
        self.pool.close().await;
        self.writer.close().await;
    }
}

/// Most rows in one multi-row statement. Statements hold a power of two of rows, so that
/// a handful of prepared statements (kept in the connection's statement cache) cover every
/// batch, instead of one freshly parsed statement per batch size.
const MAX_ROWS_PER_STATEMENT: usize = 256;

/// Splits `rows` into statements' worth, each a power of two of rows, largest first.
fn statement_chunks<T>(mut rows: &[T]) -> impl Iterator<Item = &[T]> {
    std::iter::from_fn(move || {
        if rows.is_empty() {
            return None;
        }
        let size = MAX_ROWS_PER_STATEMENT.min(1 << rows.len().ilog2());
        let (chunk, rest) = rows.split_at(size);
        rows = rest;
        Some(chunk)
    })
}

/// Appends the updates of several rooms inside `tx` with multi-row statements; returns
/// each batch's last sequence number (0 for an empty batch). The room rows are left alone
/// (rewriting a row that holds the snapshot on every keystroke would be costly):
/// `updated_at` moves with the mirror, which follows an edit within about a second.
///
/// No `RETURNING`: each returned row would be a separate hand-off from SQLite's thread.
/// Inside the write transaction nobody else inserts, and `AUTOINCREMENT` numbers the rows
/// of one statement consecutively in `VALUES` order, so the last row id gives them all.
async fn append_in(
    tx: &mut Transaction<'_, Sqlite>,
    appends: &[RoomUpdates],
) -> Result<Vec<i64>, StoreError> {
    let mut seqs = vec![0; appends.len()];
    let rows: Vec<(usize, &NewUpdate)> = appends
        .iter()
        .enumerate()
        .flat_map(|(index, batch)| batch.updates.iter().map(move |u| (index, u)))
        .collect();
    for chunk in statement_chunks(&rows) {
        let size = chunk.len();
        let mut insert = QueryBuilder::new(
            "INSERT INTO room_updates (room_id, data, client_id, author, created_at) ",
        );
        insert.push_values(chunk, |mut row, (index, update)| {
            row.push_bind(appends[*index].room.to_string())
                .push_bind(update.data.as_ref())
                .push_bind(update.client_id)
                .push_bind(&update.author)
                .push_bind(update.created_at);
        });
        let done = insert.build().persistent(true).execute(&mut **tx).await?;
        if done.rows_affected() != size as u64 {
            return Err(StoreError::Corrupt(format!(
                "inserted {} of {size} updates",
                done.rows_affected()
            )));
        }
        let first = done.last_insert_rowid() - (size as i64 - 1);
        for (seq, (index, _)) in (first..).zip(chunk) {
            seqs[*index] = seqs[*index].max(seq);
        }
    }
    Ok(seqs)
}

/// Writes several rooms' mirrors inside `tx`, a power of two of rooms per statement. A
/// room named twice keeps its last mirror, as with one statement after the other.
async fn mirror_in(
    tx: &mut Transaction<'_, Sqlite>,
    mirrors: &[RoomMirror],
) -> Result<(), StoreError> {
    let last: HashMap<Uuid, usize> = mirrors
        .iter()
        .enumerate()
        .map(|(i, m)| (m.room, i))
        .collect();
    let mirrors: Vec<&RoomMirror> = mirrors
        .iter()
        .enumerate()
        .filter(|(i, m)| last.get(&m.room) == Some(i))
        .map(|(_, m)| m)
        .collect();
    for chunk in statement_chunks(&mirrors) {
        let mut update = QueryBuilder::new(
            "UPDATE rooms SET code = v.column2, title = v.column3, \
             language = v.column4, \
             updated_at = MAX(rooms.updated_at, v.column5) FROM (",
        );
        update.push_values(chunk, |mut row, m| {
            row.push_bind(m.room.to_string())
                .push_bind(&m.mirror.text.code)
                .push_bind(&m.mirror.text.title)
                .push_bind(&m.mirror.text.language)
                .push_bind(m.mirror.updated_at);
        });
        update.push(") AS v WHERE rooms.id = v.column1");
        update.build().persistent(true).execute(&mut **tx).await?;
    }
    Ok(())
}
