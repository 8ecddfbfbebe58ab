//! PostgreSQL store, used when `--database-url postgres://…` is given. Commits wait for the
//! WAL flush (PostgreSQL's default `synchronous_commit = on`).

use std::collections::HashMap;
use std::time::Duration;

use async_trait::async_trait;
use sqlx::postgres::PgPoolOptions;
use sqlx::{Connection, FromRow, PgPool, Postgres, QueryBuilder, Row, Transaction};
use uuid::Uuid;

use super::{
    now_millis, settle_write, Catchup, FileRecord, FileRow, LinkChange, LinksRow, Mirror, NewFile,
    NewRoom, NewUpdate, ProjectLimits, ProjectShape, RoomLinks, RoomMirror, RoomRecord, RoomRow,
    RoomUpdates, Store, StoreError, StoredDoc,
};
use crate::paths::{first_file_path, fold, ProjectPath};

/// PostgreSQL-backed [`Store`].
#[derive(Debug, Clone)]
pub struct PostgresStore {
    pool: PgPool,
}

impl PostgresStore {
    /// Connects to the server at `url` and migrates the database.
    pub async fn connect(url: &str) -> Result<Self, StoreError> {
        let pool = PgPoolOptions::new()
            .max_connections(16)
            .acquire_timeout(Duration::from_secs(10))
            .connect(url)
            .await?;
        sqlx::migrate!("../migrations/postgres").run(&pool).await?;
        name_first_files(&pool).await?;
        Ok(Self { pool })
    }
}

/// The paths and size of room `room`'s project, but for file `except`; `None` when
/// there is no such room (or, with `except`, no such file in it). Locks the room's row
/// until the transaction ends, so that changes to one project's files are checked one
/// after the other.
async fn project_shape(
    tx: &mut Transaction<'_, Postgres>,
    room: Uuid,
    except: Option<Uuid>,
) -> Result<Option<ProjectShape>, StoreError> {
    let locked = sqlx::query("SELECT id FROM rooms WHERE id = $1 AND project_id = id FOR UPDATE")
        .bind(room)
        .fetch_optional(&mut **tx)
        .await?;
    if locked.is_none() {
        return Ok(None);
    }
    let rows: Vec<(Uuid, String, i64)> = sqlx::query_as(
        "SELECT id, path, octet_length(code)::bigint FROM rooms WHERE project_id = $1",
    )
    .bind(room)
    .fetch_all(&mut **tx)
    .await?;
    if except.is_some_and(|file| !rows.iter().any(|(id, _, _)| *id == file)) {
        return Ok(None);
    }
    let others = (rows.into_iter())
        .filter(|(id, _, _)| Some(*id) != except)
        .map(|(_, path, bytes)| (path, bytes));
    Ok(Some(ProjectShape::of(others)))
}

/// Gives the first file of each room created before projects its path.
async fn name_first_files(pool: &PgPool) -> Result<(), StoreError> {
    let unnamed: Vec<(Uuid, String)> =
        sqlx::query_as("SELECT id, language FROM rooms WHERE path IS NULL AND project_id = id")
            .fetch_all(pool)
            .await?;
    let mut tx = pool.begin().await?;
    for (id, language) in unnamed {
        let path = first_file_path(&language);
        sqlx::query("UPDATE rooms SET path = $1, path_key = $2 WHERE id = $3")
            .bind(&path)
            .bind(fold(&path))
            .bind(id)
            .execute(&mut *tx)
            .await?;
    }
    tx.commit().await?;
    Ok(())
}

/// A file's columns, as [`FileRow`] reads them: the size is the mirrored text's, in bytes.
const FILE_COLUMNS: &str =
    "id::text AS id, path, language, octet_length(code)::bigint AS bytes, updated_at, revision";

#[async_trait]
impl Store for PostgresStore {
    async fn create_room(&self, room: &NewRoom) -> Result<(), StoreError> {
        sqlx::query(
            "INSERT INTO rooms (id, project_id, title, language, code, snapshot, path, path_key, \
             created_at, updated_at, edit_id, view_id, owner_key_hash) \
             VALUES ($1, $1, $2, $3, $8, $4, $5, $6, $7, $7, $9, $10, $11)",
        )
        .bind(room.id)
        .bind(&room.title)
        .bind(&room.language)
        .bind(&room.snapshot)
        .bind(room.path.as_str())
        .bind(room.path.key())
        .bind(room.created_at)
        .bind(&room.text)
        .bind(room.edit_id.to_string())
        .bind(room.view_id.to_string())
        .bind(&room.owner_key_hash)
        .execute(&self.pool)
        .await?;
        Ok(())
    }

    async fn get_room(&self, id: Uuid) -> Result<Option<RoomRecord>, StoreError> {
        let query = format!(
            "SELECT {} FROM rooms WHERE id = $1 AND project_id = id",
            RoomRow::COLUMNS
        );
        let row: Option<RoomRow> = sqlx::query_as(&query)
            .bind(id)
            .fetch_optional(&self.pool)
            .await?;
        Ok(row.map(|row| row.into_record(id)))
    }

    async fn load(&self, id: Uuid) -> Result<Option<StoredDoc>, StoreError> {
        // One view of the document: a compaction committing between the reads (another
        // server's) would otherwise leave updates in neither the snapshot nor the log.
        let mut tx = self.pool.begin().await?;
        sqlx::query("SET TRANSACTION ISOLATION LEVEL REPEATABLE READ READ ONLY")
            .execute(&mut *tx)
            .await?;
        let Some(row) = sqlx::query(
            "SELECT snapshot, title, language, COALESCE(project_id, id) AS project, \
             COALESCE(path, '') AS path, COALESCE(l.snapshot_seq, 0) AS snapshot_seq \
             FROM rooms LEFT JOIN doc_logs l USING (id) WHERE id = $1",
        )
        .bind(id)
        .fetch_optional(&mut *tx)
        .await?
        else {
            return Ok(None);
        };
        let snapshot: Option<Vec<u8>> = row.try_get("snapshot")?;
        let rows = sqlx::query(
            "SELECT doc_seq, data FROM room_updates WHERE room_id = $1 ORDER BY doc_seq",
        )
        .bind(id)
        .fetch_all(&mut *tx)
        .await?;
        tx.commit().await?;
        let mut doc = StoredDoc {
            snapshot,
            updates: Vec::with_capacity(rows.len()),
            last_seq: row.try_get("snapshot_seq")?,
            title: row.try_get("title")?,
            language: row.try_get("language")?,
            project: row.try_get("project")?,
            path: row.try_get("path")?,
        };
        for row in rows {
            doc.last_seq = doc.last_seq.max(row.try_get("doc_seq")?);
            doc.updates.push(row.try_get("data")?);
        }
        Ok(Some(doc))
    }

    async fn catch_up(&self, id: Uuid, after: i64) -> Result<Option<Catchup>, StoreError> {
        let mut tx = self.pool.begin().await?;
        sqlx::query("SET TRANSACTION ISOLATION LEVEL REPEATABLE READ READ ONLY")
            .execute(&mut *tx)
            .await?;
        let Some(row) = sqlx::query(
            "SELECT COALESCE(l.snapshot_seq, 0) AS snapshot_seq FROM rooms \
             LEFT JOIN doc_logs l USING (id) WHERE id = $1",
        )
        .bind(id)
        .fetch_optional(&mut *tx)
        .await?
        else {
            return Ok(None);
        };
        let snapshot_seq: i64 = row.try_get("snapshot_seq")?;
        // What was folded away since `after` is only in the snapshot now.
        let snapshot = match snapshot_seq > after {
            true => {
                sqlx::query_scalar("SELECT snapshot FROM rooms WHERE id = $1")
                    .bind(id)
                    .fetch_one(&mut *tx)
                    .await?
            }
            false => None,
        };
        let rows = sqlx::query(
            "SELECT doc_seq, data FROM room_updates WHERE room_id = $1 AND doc_seq > $2 \
             ORDER BY doc_seq",
        )
        .bind(id)
        .bind(after.max(snapshot_seq))
        .fetch_all(&mut *tx)
        .await?;
        tx.commit().await?;
        let mut catchup = Catchup {
            snapshot,
            updates: Vec::with_capacity(rows.len()),
            through: after.max(snapshot_seq),
        };
        for row in rows {
            catchup.through = catchup.through.max(row.try_get("doc_seq")?);
            catchup.updates.push(row.try_get("data")?);
        }
        Ok(Some(catchup))
    }

    async fn commit_many(
        &self,
        appends: &[RoomUpdates],
        mirrors: &[RoomMirror],
    ) -> Result<Vec<i64>, StoreError> {
        let mut connection = self.pool.acquire().await?;
        let result = async {
            let mut tx = connection.begin().await?;
            let seqs = append_in(&mut tx, appends).await?;
            // In id order, as the logs are locked (the last mirror of a room still last).
            let mut ordered: Vec<&RoomMirror> = mirrors.iter().collect();
            ordered.sort_by_key(|m| m.room);
            for m in ordered {
                mirror_in(&mut tx, m.room, &m.mirror).await?;
            }
            tx.commit().await?;
            Ok(seqs)
        }
        .await;
        settle_write(&mut connection, result)
    }

    async fn compact(
        &self,
        id: Uuid,
        snapshot: &[u8],
        through_seq: i64,
        mirror: &Mirror,
    ) -> Result<(), StoreError> {
        let mut connection = self.pool.acquire().await?;
        let result = async {
            let mut tx = connection.begin().await?;
            // One compaction of a document at a time, across servers: whoever finds the
            // lock taken leaves the folding to its holder.
            let locked: bool = sqlx::query_scalar("SELECT pg_try_advisory_xact_lock(hashtext($1))")
                .bind(format!("pairpad:compact:{id}"))
                .fetch_one(&mut *tx)
                .await?;
            sqlx::query("INSERT INTO doc_logs (id) VALUES ($1) ON CONFLICT (id) DO NOTHING")
                .bind(id)
                .execute(&mut *tx)
                .await?;
            let folded: i64 =
                sqlx::query_scalar("SELECT snapshot_seq FROM doc_logs WHERE id = $1 FOR UPDATE")
                    .bind(id)
                    .fetch_one(&mut *tx)
                    .await?;
            // A snapshot covering less than the stored one (another server's document was
            // further along) would lose what the stored one folded: the mirror only.
            if locked && through_seq > folded {
                sqlx::query("UPDATE rooms SET snapshot = $1 WHERE id = $2")
                    .bind(snapshot)
                    .bind(id)
                    .execute(&mut *tx)
                    .await?;
                sqlx::query("UPDATE doc_logs SET snapshot_seq = $1 WHERE id = $2")
                    .bind(through_seq)
                    .bind(id)
                    .execute(&mut *tx)
                    .await?;
                sqlx::query("DELETE FROM room_updates WHERE room_id = $1 AND doc_seq <= $2")
                    .bind(id)
                    .bind(through_seq)
                    .execute(&mut *tx)
                    .await?;
            }
            mirror_in(&mut tx, id, mirror).await?;
            tx.commit().await?;
            Ok(())
        }
        .await;
        settle_write(&mut connection, result)
    }

    async fn create_files(
        &self,
        room: Uuid,
        files: &[NewFile],
        limits: ProjectLimits,
    ) -> Result<bool, StoreError> {
        let mut tx = self.pool.begin().await?;
        let Some(mut shape) = project_shape(&mut tx, room, None).await? else {
            return Ok(false);
        };
        shape.add_all(files, limits)?;
        for file in files {
            sqlx::query(
                "INSERT INTO rooms (id, project_id, title, language, code, snapshot, path, \
                 path_key, created_at, updated_at) VALUES ($1, $2, $3, $4, $5, $6, $3, $7, $8, $8)",
            )
            .bind(file.id)
            .bind(room)
            .bind(file.path.as_str())
            .bind(file.path.language())
            .bind(&file.text)
            .bind(&file.snapshot)
            .bind(file.path.key())
            .bind(file.created_at)
            .execute(&mut *tx)
            .await
            .map_err(StoreError::from_write)?;
        }
        tx.commit().await?;
        Ok(true)
    }

    async fn list_files(&self, room: Uuid) -> Result<Vec<FileRecord>, StoreError> {
        let query = format!("SELECT {FILE_COLUMNS} FROM rooms WHERE project_id = $1");
        let rows: Vec<FileRow> = sqlx::query_as(&query)
            .bind(room)
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
            format!("SELECT {FILE_COLUMNS}, code FROM rooms WHERE id = $1 AND project_id = $2");
        let row = sqlx::query(&query)
            .bind(file)
            .bind(room)
            .fetch_optional(&self.pool)
            .await?;
        row.map(|row| {
            let code: String = row.try_get("code")?;
            Ok((FileRow::from_row(&row)?.into_record()?, code))
        })
        .transpose()
    }

    async fn project_texts(&self, room: Uuid) -> Result<Vec<(FileRecord, String)>, StoreError> {
        let query = format!("SELECT {FILE_COLUMNS}, code FROM rooms WHERE project_id = $1");
        let rows = sqlx::query(&query).bind(room).fetch_all(&self.pool).await?;
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
        let mut tx = self.pool.begin().await?;
        let Some(mut shape) = project_shape(&mut tx, room, Some(file)).await? else {
            return Ok(None);
        };
        shape.add(path)?;
        // A file's title and language follow its path; the first file's are the room's.
        let revision = sqlx::query_scalar(
            "UPDATE rooms SET path = $1, path_key = $2, revision = revision + 1, \
             title = CASE WHEN id = project_id THEN title ELSE $1 END, \
             language = CASE WHEN id = project_id THEN language ELSE $3 END, \
             updated_at = GREATEST(updated_at, $4) \
             WHERE id = $5 AND project_id = $6 AND ($7::text IS NULL OR path = $7) \
             RETURNING revision",
        )
        .bind(path.as_str())
        .bind(path.key())
        .bind(path.language())
        .bind(now_millis())
        .bind(file)
        .bind(room)
        .bind(from)
        .fetch_optional(&mut *tx)
        .await
        .map_err(StoreError::from_write)?;
        tx.commit().await?;
        Ok(revision)
    }

    async fn delete_file(&self, room: Uuid, file: Uuid) -> Result<bool, StoreError> {
        let done =
            sqlx::query("DELETE FROM rooms WHERE id = $1 AND project_id = $2 AND id <> project_id")
                .bind(file)
                .bind(room)
                .execute(&self.pool)
                .await?;
        Ok(done.rows_affected() > 0)
    }

    async fn find_link(&self, link: Uuid) -> Result<Option<RoomLinks>, StoreError> {
        let query = format!(
            "SELECT {} FROM rooms WHERE edit_id = $1 OR view_id = $1",
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
            "SELECT {} FROM rooms WHERE id = $1 AND project_id = id",
            LinksRow::COLUMNS
        );
        let row: Option<LinksRow> = sqlx::query_as(&query)
            .bind(room)
            .fetch_optional(&self.pool)
            .await?;
        row.map(LinksRow::into_links).transpose()
    }

    async fn change_links(&self, room: Uuid, change: LinkChange) -> Result<bool, StoreError> {
        let (query, value) = match change {
            LinkChange::Access(access) => (
                "UPDATE rooms SET access = $1 WHERE id = $2 AND project_id = id",
                access.as_str().to_string(),
            ),
            LinkChange::Edit(link) => (
                "UPDATE rooms SET edit_id = $1 WHERE id = $2 AND project_id = id",
                link.to_string(),
            ),
            LinkChange::View(link) => (
                "UPDATE rooms SET view_id = $1 WHERE id = $2 AND project_id = id",
                link.to_string(),
            ),
        };
        let done = sqlx::query(query)
            .bind(value)
            .bind(room)
            .execute(&self.pool)
            .await?;
        Ok(done.rows_affected() > 0)
    }

    async fn delete_room(&self, room: Uuid) -> Result<bool, StoreError> {
        // The files and every history go with it (ON DELETE CASCADE).
        let done = sqlx::query("DELETE FROM rooms WHERE id = $1 AND project_id = id")
            .bind(room)
            .execute(&self.pool)
            .await?;
        Ok(done.rows_affected() > 0)
    }

    async fn ping(&self) -> Result<(), StoreError> {
        let mut connection = self.pool.acquire().await?;
        let result = sqlx::query(
            "INSERT INTO store_probe (id, checked_at) VALUES (1, $1) \
             ON CONFLICT (id) DO UPDATE SET checked_at = excluded.checked_at",
        )
        .bind(now_millis())
        .execute(&mut *connection)
        .await
        .map(|_| ())
        .map_err(StoreError::from);
        settle_write(&mut connection, result)
    }

    async fn close(&self) {
        self.pool.close().await;
    }
}

/// Rows per multi-row `INSERT`: 6 bound parameters each stays far below PostgreSQL's
/// 65535.
const ROWS_PER_INSERT: usize = 1000;

/// Appends the updates of several rooms inside `tx` with multi-row statements; returns
/// each batch's last sequence number (0 for an empty batch). The room rows are left alone
/// (rewriting a row that holds the snapshot on every keystroke would be costly):
/// `updated_at` moves with the mirror, which follows an edit within about a second.
///
/// Each document's updates are numbered on from its `doc_logs` row, which the numbering
/// locks until the commit: appends to one document from several servers are committed in
/// the order of their numbers, with none missing. Rows are locked in id order, so that two
/// servers' commits never wait on each other in a cycle.
async fn append_in(
    tx: &mut Transaction<'_, Postgres>,
    appends: &[RoomUpdates],
) -> Result<Vec<i64>, StoreError> {
    let mut counts: std::collections::BTreeMap<Uuid, i64> = std::collections::BTreeMap::new();
    for batch in appends.iter().filter(|b| !b.updates.is_empty()) {
        *counts.entry(batch.room).or_default() += batch.updates.len() as i64;
    }
    if counts.is_empty() {
        return Ok(vec![0; appends.len()]);
    }
    let ids: Vec<Uuid> = counts.keys().copied().collect();
    let added: Vec<i64> = counts.values().copied().collect();
    let numbered = sqlx::query(
        "INSERT INTO doc_logs (id, last_seq) \
         SELECT id, n FROM unnest($1::uuid[], $2::bigint[]) AS t(id, n) ORDER BY id \
         ON CONFLICT (id) DO UPDATE SET last_seq = doc_logs.last_seq + EXCLUDED.last_seq \
         RETURNING id, last_seq",
    )
    .bind(&ids)
    .bind(&added)
    .fetch_all(&mut **tx)
    .await?;
    // The next number for each document.
    let mut next: HashMap<Uuid, i64> = HashMap::with_capacity(numbered.len());
    for row in numbered {
        let id: Uuid = row.try_get("id")?;
        let last: i64 = row.try_get("last_seq")?;
        next.insert(id, last - counts.get(&id).copied().unwrap_or(0) + 1);
    }
    let mut seqs = vec![0; appends.len()];
    let mut rows: Vec<(Uuid, i64, &NewUpdate)> = Vec::new();
    for (index, batch) in appends.iter().enumerate() {
        for update in &batch.updates {
            let Some(seq) = next.get_mut(&batch.room) else {
                return Err(StoreError::Corrupt(
                    "a document's log was not numbered".into(),
                ));
            };
            rows.push((batch.room, *seq, update));
            seqs[index] = *seq;
            *seq += 1;
        }
    }
    for chunk in rows.chunks(ROWS_PER_INSERT) {
        let mut insert = QueryBuilder::new(
            "INSERT INTO room_updates (room_id, doc_seq, data, client_id, author, created_at) ",
        );
        insert.push_values(chunk, |mut row, (room, seq, update)| {
            row.push_bind(*room)
                .push_bind(*seq)
                .push_bind(update.data.as_ref())
                .push_bind(update.client_id)
                .push_bind(&update.author)
                .push_bind(update.created_at);
        });
        insert.build().execute(&mut **tx).await?;
    }
    Ok(seqs)
}

/// Writes one room's mirror inside `tx`.
async fn mirror_in(
    tx: &mut Transaction<'_, Postgres>,
    id: Uuid,
    mirror: &Mirror,
) -> Result<(), StoreError> {
    sqlx::query(
        "UPDATE rooms SET code = $1, title = $2, language = $3, \
         updated_at = GREATEST(updated_at, $4) WHERE id = $5",
    )
    .bind(&mirror.text.code)
    .bind(&mirror.text.title)
    .bind(&mirror.text.language)
    .bind(mirror.updated_at)
    .bind(id)
    .execute(&mut **tx)
    .await?;
    Ok(())
}
