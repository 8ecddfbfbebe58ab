//! Group commit across rooms. Every room keeps at most one write in flight, but with
//! hundreds of busy rooms, one transaction (one disk flush) per room per write would cap
//! the whole server at the disk's flush rate. [`GroupCommit`] sits in front of a store:
//! appends and mirror writes from all rooms queue on one channel, and a single writer puts
//! everything that is waiting into one transaction. Each room still hears back only once
//! its updates are committed, so "relayed only after durable" holds unchanged.
//! Compactions go through the same writer, so no two writes ever wait on each other for
//! the database's lock.

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;

use async_trait::async_trait;
use tokio::sync::{mpsc, oneshot};
use uuid::Uuid;

use super::{
    Mirror, NewRoom, NewUpdate, RoomMirror, RoomRecord, RoomUpdates, Store, StoreError, StoredDoc,
};

/// Requests waiting for the writer; a full queue makes rooms wait (back-pressure).
const QUEUE: usize = 4096;
/// Most writes in one transaction.
const MAX_WRITES_PER_COMMIT: usize = 4096;
/// Most update bytes in one transaction.
const MAX_BYTES_PER_COMMIT: usize = 16 << 20;

/// What the writer task is asked to do.
enum Job {
    /// Writes committed together with everyone else's.
    Batch(Request),
    /// A room's compaction: its own transaction, but on the same writer, so that it never
    /// waits for (or makes wait) the shared commits on the database's write lock.
    Compact {
        room: Uuid,
        snapshot: Vec<u8>,
        through_seq: i64,
        mirror: Mirror,
        reply: oneshot::Sender<Result<(), StoreError>>,
    },
}

/// One caller's appends and mirror writes.
struct Request {
    appends: Vec<RoomUpdates>,
    mirrors: Vec<RoomMirror>,
    reply: oneshot::Sender<Result<Vec<i64>, StoreError>>,
}

impl Request {
    fn bytes(&self) -> usize {
        let updates: usize = self
            .appends
            .iter()
            .flat_map(|batch| &batch.updates)
            .map(|u| u.data.len())
            .sum();
        updates
            + self
                .mirrors
                .iter()
                .map(|m| m.mirror.code.len())
                .sum::<usize>()
    }

    fn writes(&self) -> usize {
        self.appends.len() + self.mirrors.len()
    }
}

/// A store whose appends and mirror writes from all rooms are committed together.
pub struct GroupCommit {
    inner: Arc<dyn Store>,
    queue: mpsc::Sender<Job>,
    /// Whether the last write succeeded: `ping` (and so `/ready`) fails while it did not,
    /// even when the probe itself gets through.
    writable: Arc<AtomicBool>,
}

impl GroupCommit {
    /// Wraps `inner` and starts its writer task (needs a Tokio runtime).
    pub fn new(inner: Arc<dyn Store>) -> Self {
        let (queue, requests) = mpsc::channel(QUEUE);
        let writable = Arc::new(AtomicBool::new(true));
        tokio::spawn(write_loop(inner.clone(), requests, writable.clone()));
        Self {
            inner,
            queue,
            writable,
        }
    }

    async fn submit(
        &self,
        appends: Vec<RoomUpdates>,
        mirrors: Vec<RoomMirror>,
    ) -> Result<Vec<i64>, StoreError> {
        let (reply, answer) = oneshot::channel();
        let request = Request {
            appends,
            mirrors,
            reply,
        };
        self.queue
            .send(Job::Batch(request))
            .await
            .map_err(|_| StoreError::Closed)?;
        answer.await.map_err(|_| StoreError::Closed)?
    }
}

/// Takes every request waiting (up to the limits), commits them in one transaction and
/// answers each. If the shared transaction fails, each request is retried alone, so one
/// room's bad write cannot fail the others. Compactions run alone, in queue order.
async fn write_loop(
    store: Arc<dyn Store>,
    mut jobs: mpsc::Receiver<Job>,
    writable: Arc<AtomicBool>,
) {
    let mut waiting = Vec::new();
    let mut next = jobs.recv().await;
    while let Some(job) = next.take() {
        let first = match job {
            Job::Batch(request) => request,
            Job::Compact {
                room,
                snapshot,
                through_seq,
                mirror,
                reply,
            } => {
                let result = store.compact(room, &snapshot, through_seq, &mirror).await;
                writable.store(result.is_ok(), Ordering::Relaxed);
                let _ = reply.send(result);
                next = jobs.recv().await;
                continue;
            }
        };
        let mut bytes = first.bytes();
        let mut writes = first.writes();
        waiting.push(first);
        while writes < MAX_WRITES_PER_COMMIT && bytes < MAX_BYTES_PER_COMMIT {
            match jobs.try_recv() {
                Ok(Job::Batch(request)) => {
                    bytes += request.bytes();
                    writes += request.writes();
                    waiting.push(request);
                }
                Ok(compaction) => {
                    // Its turn comes right after this commit.
                    next = Some(compaction);
                    break;
                }
                Err(_) => break,
            }
        }
        let committed = commit(store.as_ref(), std::mem::take(&mut waiting)).await;
        writable.store(committed, Ordering::Relaxed);
        if next.is_none() {
            next = jobs.recv().await;
        }
    }
}

/// Commits `waiting` and answers each request; `true` when every write succeeded.
async fn commit(store: &dyn Store, mut waiting: Vec<Request>) -> bool {
    if let [_] = waiting.as_slice() {
        let mut committed = true;
        for request in waiting {
            let result = store.commit_many(&request.appends, &request.mirrors).await;
            committed &= result.is_ok();
            let _ = request.reply.send(result);
        }
        return committed;
    }
    // Move every request's writes into one batch, remembering how many were whose.
    let shares: Vec<(usize, usize)> = waiting
        .iter()
        .map(|r| (r.appends.len(), r.mirrors.len()))
        .collect();
    let mut appends = Vec::with_capacity(shares.iter().map(|s| s.0).sum());
    let mut mirrors = Vec::with_capacity(shares.iter().map(|s| s.1).sum());
    for request in &mut waiting {
        appends.append(&mut request.appends);
        mirrors.append(&mut request.mirrors);
    }
    match store.commit_many(&appends, &mirrors).await {
        Ok(seqs) if seqs.len() == appends.len() => {
            let mut seqs = seqs.into_iter();
            for (request, (mine, _)) in waiting.into_iter().zip(shares) {
                let _ = request.reply.send(Ok(seqs.by_ref().take(mine).collect()));
            }
            true
        }
        outcome => {
            if let Err(error) = outcome {
                tracing::warn!(%error, requests = waiting.len(), "shared commit failed; writing each alone");
            }
            let (mut appends, mut mirrors) = (appends.into_iter(), mirrors.into_iter());
            let mut committed = true;
            for (request, (a, m)) in waiting.into_iter().zip(shares) {
                let own_appends: Vec<RoomUpdates> = appends.by_ref().take(a).collect();
                let own_mirrors: Vec<RoomMirror> = mirrors.by_ref().take(m).collect();
                let result = store.commit_many(&own_appends, &own_mirrors).await;
                committed &= result.is_ok();
                let _ = request.reply.send(result);
            }
            committed
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
        let seqs = self.submit(vec![batch], Vec::new()).await?;
        seqs.first()
            .copied()
            .ok_or_else(|| StoreError::Corrupt("commit returned no sequence number".into()))
    }

    async fn commit_many(
        &self,
        appends: &[RoomUpdates],
        mirrors: &[RoomMirror],
    ) -> Result<Vec<i64>, StoreError> {
        self.submit(appends.to_vec(), mirrors.to_vec()).await
    }

    async fn save_mirror(&self, id: Uuid, mirror: &Mirror) -> Result<(), StoreError> {
        let write = RoomMirror {
            room: id,
            mirror: mirror.clone(),
        };
        self.submit(Vec::new(), vec![write]).await.map(|_| ())
    }

    async fn compact(
        &self,
        id: Uuid,
        snapshot: &[u8],
        through_seq: i64,
        mirror: &Mirror,
    ) -> Result<(), StoreError> {
        let (reply, answer) = oneshot::channel();
        let job = Job::Compact {
            room: id,
            snapshot: snapshot.to_vec(),
            through_seq,
            mirror: mirror.clone(),
            reply,
        };
        self.queue.send(job).await.map_err(|_| StoreError::Closed)?;
        answer.await.map_err(|_| StoreError::Closed)?
    }

    async fn ping(&self) -> Result<(), StoreError> {
        self.inner.ping().await?;
        if self.writable.load(Ordering::Relaxed) {
            Ok(())
        } else {
            Err(StoreError::Unavailable(
                "the last write failed and is being retried".into(),
            ))
        }
    }

    async fn close(&self) {
        self.inner.close().await;
    }
}
