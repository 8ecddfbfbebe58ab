//! PostgreSQL store, used when `--database-url postgres://…` is given. Commits wait for the
//! WAL flush (PostgreSQL's default `synchronous_commit = on`).

use std::collections::HashMap;
use std::time::Duration;

use async_trait::async_trait;
use sqlx::postgres::PgPoolOptions;
use sqlx::{Connection, PgPool, Postgres, QueryBuilder, Row, Transaction};
use uuid::Uuid;

use super::{
    now_millis, settle_write, Mirror, NewRoom, NewUpdate, RoomMirror, RoomRecord, RoomRow,
    RoomUpdates, Store, StoreError, StoredDoc,
};

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
        Ok(Self { pool })
    }
}

#[async_trait]
impl Store for PostgresStore {
    async fn create_room(&self, room: &NewRoom) -> Result<(), StoreError> {
        sqlx::query(
            "INSERT INTO rooms (id, title, language, code, snapshot, created_at, updated_at) \
             VALUES ($1, $2, $3, '', $4, $5, $6)",
        )
        .bind(room.id)
        .bind(&room.title)
        .bind(&room.language)
        .bind(&room.snapshot)
        .bind(room.created_at)
        .bind(room.created_at)
        .execute(&self.pool)
        .await?;
        Ok(())
    }

    async fn get_room(&self, id: Uuid) -> Result<Option<RoomRecord>, StoreError> {
        let query = format!("SELECT {} FROM rooms WHERE id = $1", RoomRow::COLUMNS);
        let row: Option<RoomRow> = sqlx::query_as(&query)
            .bind(id)
            .fetch_optional(&self.pool)
            .await?;
        Ok(row.map(|row| row.into_record(id)))
    }

    async fn load(&self, id: Uuid) -> Result<Option<StoredDoc>, StoreError> {
        let mut tx = self.pool.begin().await?;
        let Some(row) = sqlx::query("SELECT snapshot, title, language FROM rooms WHERE id = $1")
            .bind(id)
            .fetch_optional(&mut *tx)
            .await?
        else {
            return Ok(None);
        };
        let snapshot: Option<Vec<u8>> = row.try_get("snapshot")?;
        let rows =
            sqlx::query("SELECT seq, data FROM room_updates WHERE room_id = $1 ORDER BY seq")
                .bind(id)
                .fetch_all(&mut *tx)
                .await?;
        tx.commit().await?;
        let mut doc = StoredDoc {
            snapshot,
            updates: Vec::with_capacity(rows.len()),
            last_seq: 0,
            title: row.try_get("title")?,
            language: row.try_get("language")?,
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
        let mut connection = self.pool.acquire().await?;
        let result = async {
            let mut tx = connection.begin().await?;
            let seqs = append_in(&mut tx, appends).await?;
            for m in mirrors {
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
            sqlx::query(
                "UPDATE rooms SET snapshot = $1, code = $2, title = $3, \
                 language = $4, updated_at = GREATEST(updated_at, $5) \
                 WHERE id = $6",
            )
            .bind(snapshot)
            .bind(&mirror.text.code)
            .bind(&mirror.text.title)
            .bind(&mirror.text.language)
            .bind(mirror.updated_at)
            .bind(id)
            .execute(&mut *tx)
            .await?;
            sqlx::query("DELETE FROM room_updates WHERE room_id = $1 AND seq <= $2")
                .bind(id)
                .bind(through_seq)
                .execute(&mut *tx)
                .await?;
            tx.commit().await?;
            Ok(())
        }
        .await;
        settle_write(&mut connection, result)
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

/// Rows per multi-row `INSERT`: 5 bound parameters each stays far below PostgreSQL's
/// 65535.
const ROWS_PER_INSERT: usize = 1000;

/// One multi-row `INSERT` of a multi-room append: (index of the batch, update).
type InsertChunk<'a> = Vec<(usize, &'a NewUpdate)>;

/// Splits `appends` into `INSERT` statements of at most [`ROWS_PER_INSERT`] rows in which
/// a room belongs to one batch only, so the largest `seq` returned for a room in a
/// statement is that batch's.
fn insert_chunks(appends: &[RoomUpdates]) -> Vec<InsertChunk<'_>> {
    let mut chunks = Vec::new();
    let mut chunk: InsertChunk<'_> = Vec::new();
    let mut owner: HashMap<Uuid, usize> = HashMap::new();
    for (index, batch) in appends.iter().enumerate() {
        for update in &batch.updates {
            let clash = owner.get(&batch.room).is_some_and(|&b| b != index);
            if chunk.len() >= ROWS_PER_INSERT || clash {
                chunks.push(std::mem::take(&mut chunk));
                owner.clear();
            }
            owner.insert(batch.room, index);
            chunk.push((index, update));
        }
    }
    if !chunk.is_empty() {
        chunks.push(chunk);
    }
    chunks
}

/// Appends the updates of several rooms inside `tx` with multi-row statements; returns
/// each batch's last sequence number (0 for an empty batch). The room rows are left alone
/// (rewriting a row that holds the snapshot on every keystroke would be costly):
/// `updated_at` moves with the mirror, which follows an edit within about a second.
async fn append_in(
    tx: &mut Transaction<'_, Postgres>,
    appends: &[RoomUpdates],
) -> Result<Vec<i64>, StoreError> {
    let mut seqs = vec![0; appends.len()];
    for chunk in insert_chunks(appends) {
        let owner: HashMap<Uuid, usize> = chunk
            .iter()
            .map(|&(index, _)| (appends[index].room, index))
            .collect();
        let mut insert = QueryBuilder::new(
            "INSERT INTO room_updates (room_id, data, client_id, author, created_at) ",
        );
        insert.push_values(&chunk, |mut row, (index, update)| {
            row.push_bind(appends[*index].room)
                .push_bind(update.data.as_ref())
                .push_bind(update.client_id)
                .push_bind(&update.author)
                .push_bind(update.created_at);
        });
        insert.push(" RETURNING room_id, seq");
        for row in insert.build().fetch_all(&mut **tx).await? {
            let room: Uuid = row.try_get("room_id")?;
            let seq: i64 = row.try_get("seq")?;
            if let Some(&index) = owner.get(&room) {
                seqs[index] = seqs[index].max(seq);
            }
        }
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
