//! Group commit across rooms. Every room keeps at most one write in flight, but with
//! hundreds of busy rooms, one transaction (one disk flush) per room per write would cap
//! the whole server at the disk's flush rate. [`GroupCommit`] sits in front of a store:
//! appends and mirror writes from all rooms queue on one channel, and a single writer puts
//! everything that is waiting into one transaction. Each room still hears back only once its updates are
//! committed, so "relayed only after durable" holds unchanged.

use std::sync::Arc;

use async_trait::async_trait;
use tokio::sync::{mpsc, oneshot};
use uuid::Uuid;

use super::{
    Mirror, NewRoom, NewUpdate, RoomMirror, RoomRecord, RoomUpdates, Store, StoreError, StoredDoc,
};

/// Appends waiting for the writer; a full queue makes rooms wait (back-pressure).
const QUEUE: usize = 4096;
/// Most writes in one transaction.
const MAX_WRITES_PER_COMMIT: usize = 512;
/// Most update bytes in one transaction.
const MAX_BYTES_PER_COMMIT: usize = 16 << 20;

enum Request {
    Append {
        batch: RoomUpdates,
        reply: oneshot::Sender<Result<i64, StoreError>>,
    },
    Mirror {
        write: RoomMirror,
        reply: oneshot::Sender<Result<(), StoreError>>,
    },
}

impl Request {
    fn bytes(&self) -> usize {
        match self {
            Self::Append { batch, .. } => batch.updates.iter().map(|u| u.data.len()).sum(),
            Self::Mirror { write, .. } => write.mirror.code.len(),
        }
    }
}

/// A store whose appends and mirror writes from all rooms are committed together.
pub struct GroupCommit {
    inner: Arc<dyn Store>,
    queue: mpsc::Sender<Request>,
}

impl GroupCommit {
    /// Wraps `inner` and starts its writer task (needs a Tokio runtime).
    pub fn new(inner: Arc<dyn Store>) -> Self {
        let (queue, requests) = mpsc::channel(QUEUE);
        tokio::spawn(write_loop(inner.clone(), requests));
        Self { inner, queue }
    }

    async fn submit<T>(
        &self,
        request: impl FnOnce(oneshot::Sender<Result<T, StoreError>>) -> Request,
    ) -> Result<T, StoreError> {
        let (reply, answer) = oneshot::channel();
        self.queue
            .send(request(reply))
            .await
            .map_err(|_| StoreError::Closed)?;
        answer.await.map_err(|_| StoreError::Closed)?
    }
}

/// Takes every request waiting (up to the limits), commits them in one transaction and
/// answers each. If the shared transaction fails, each write is retried alone, so one
/// room's bad write cannot fail the others.
async fn write_loop(store: Arc<dyn Store>, mut requests: mpsc::Receiver<Request>) {
    let mut waiting = Vec::new();
    while let Some(first) = requests.recv().await {
        let mut bytes = first.bytes();
        waiting.push(first);
        while waiting.len() < MAX_WRITES_PER_COMMIT && bytes < MAX_BYTES_PER_COMMIT {
            match requests.try_recv() {
                Ok(next) => {
                    bytes += next.bytes();
                    waiting.push(next);
                }
                Err(_) => break,
            }
        }
        commit(store.as_ref(), std::mem::take(&mut waiting)).await;
    }
}

async fn commit(store: &dyn Store, waiting: Vec<Request>) {
    let mut appends = Vec::new();
    let mut mirrors = Vec::new();
    for request in &waiting {
        match request {
            Request::Append { batch, .. } => appends.push(batch.clone()),
            Request::Mirror { write, .. } => mirrors.push(write.clone()),
        }
    }
    match store.commit_many(&appends, &mirrors).await {
        Ok(seqs) if seqs.len() == appends.len() => {
            let mut seqs = seqs.into_iter();
            for request in waiting {
                match request {
                    Request::Append { reply, .. } => {
                        let _ = reply.send(seqs.next().ok_or(StoreError::Closed));
                    }
                    Request::Mirror { reply, .. } => {
                        let _ = reply.send(Ok(()));
                    }
                }
            }
        }
        outcome => {
            if let Err(error) = outcome {
                tracing::warn!(%error, writes = waiting.len(), "shared commit failed; writing each alone");
            }
            for request in waiting {
                match request {
                    Request::Append { batch, reply } => {
                        let _ = reply.send(store.append_updates(batch.room, &batch.updates).await);
                    }
                    Request::Mirror { write, reply } => {
                        let _ = reply.send(store.save_mirror(write.room, &write.mirror).await);
                    }
                }
            }
        }
    }
}

#[async_trait]
impl Store for GroupCommit {
    async fn create_room(&self, room: &NewRoom) -> Result<(), StoreError> {
        self.inner.create_room(room).await
    }

    async fn get_room(&self, id: Uuid) -> Result<Option<RoomRecord>, StoreError> {
        self.inner.get_room(id).await
    }

    async fn load(&self, id: Uuid) -> Result<Option<StoredDoc>, StoreError> {
        self.inner.load(id).await
    }

    async fn append_updates(&self, id: Uuid, updates: &[NewUpdate]) -> Result<i64, StoreError> {
        if updates.is_empty() {
            return Ok(0);
        }
        let batch = RoomUpdates {
            room: id,
            updates: updates.to_vec(),
        };
        self.submit(|reply| Request::Append { batch, reply }).await
    }

    async fn commit_many(
        &self,
        appends: &[RoomUpdates],
        mirrors: &[RoomMirror],
    ) -> Result<Vec<i64>, StoreError> {
        self.inner.commit_many(appends, mirrors).await
    }

    async fn save_mirror(&self, id: Uuid, mirror: &Mirror) -> Result<(), StoreError> {
        let write = RoomMirror {
            room: id,
            mirror: mirror.clone(),
        };
        self.submit(|reply| Request::Mirror { write, reply }).await
    }

    async fn compact(
        &self,
        id: Uuid,
        snapshot: &[u8],
        through_seq: i64,
        mirror: &Mirror,
    ) -> Result<(), StoreError> {
        self.inner.compact(id, snapshot, through_seq, mirror).await
    }

    async fn ping(&self) -> Result<(), StoreError> {
        self.inner.ping().await
    }

    async fn close(&self) {
        self.inner.close().await;
    }
}
