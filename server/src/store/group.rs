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
    Catchup, FileRecord, LinkChange, Mirror, NewFile, NewRoom, NewUpdate, ProjectLimits, RoomLinks,
    RoomMirror, RoomRecord, RoomUpdates, Store, StoreError, StoredDoc,
};
use crate::paths::ProjectPath;

/// Requests waiting for the writer; a full queue makes rooms wait (back-pressure).
const QUEUE: usize = 4096;
/// Most writes in one transaction.
const MAX_WRITES_PER_COMMIT: usize = 4096;
/// Most update bytes in one transaction.
const MAX_BYTES_PER_COMMIT: usize = 16 << 20;

/// What the writer task is asked to do.
enum WriterRequest {
    /// Writes committed together with everyone else's.
    Shared(SharedWrite),
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
struct SharedWrite {
    appends: Vec<RoomUpdates>,
    mirrors: Vec<RoomMirror>,
    reply: oneshot::Sender<Result<Vec<i64>, StoreError>>,
}

impl SharedWrite {
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
                .map(|m| m.mirror.text.code.len())
                .sum::<usize>()
    }

    fn writes(&self) -> usize {
        self.appends.len() + self.mirrors.len()
    }
}

/// A store whose appends and mirror writes from all rooms are committed together.
pub struct GroupCommit {
    inner: Arc<dyn Store>,
    queue: mpsc::Sender<WriterRequest>,
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
        let request = SharedWrite {
            appends,
            mirrors,
            reply,
        };
        self.queue
            .send(WriterRequest::Shared(request))
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
    mut jobs: mpsc::Receiver<WriterRequest>,
    writable: Arc<AtomicBool>,
) {
    let mut waiting = Vec::new();
    let mut next = jobs.recv().await;
    while let Some(job) = next.take() {
        let first = match job {
            WriterRequest::Shared(request) => request,
            WriterRequest::Compact {
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
                Ok(WriterRequest::Shared(request)) => {
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
async fn commit(store: &dyn Store, mut waiting: Vec<SharedWrite>) -> bool {
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

    async fn catch_up(&self, id: Uuid, after: i64) -> Result<Option<Catchup>, StoreError> {
        self.inner.catch_up(id, after).await
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
        let job = WriterRequest::Compact {
            room: id,
            snapshot: snapshot.to_vec(),
            through_seq,
            mirror: mirror.clone(),
            reply,
        };
        self.queue.send(job).await.map_err(|_| StoreError::Closed)?;
        answer.await.map_err(|_| StoreError::Closed)?
    }

    async fn create_files(
        &self,
        room: Uuid,
        files: &[NewFile],
        limits: ProjectLimits,
    ) -> Result<bool, StoreError> {
        self.inner.create_files(room, files, limits).await
    }

    async fn list_files(&self, room: Uuid) -> Result<Vec<FileRecord>, StoreError> {
        self.inner.list_files(room).await
    }

    async fn get_file(
        &self,
        room: Uuid,
        file: Uuid,
    ) -> Result<Option<(FileRecord, String)>, StoreError> {
        self.inner.get_file(room, file).await
    }

    async fn project_texts(&self, room: Uuid) -> Result<Vec<(FileRecord, String)>, StoreError> {
        self.inner.project_texts(room).await
    }

    async fn rename_file(
        &self,
        room: Uuid,
        file: Uuid,
        path: &ProjectPath,
        from: Option<&str>,
    ) -> Result<Option<i64>, StoreError> {
        self.inner.rename_file(room, file, path, from).await
    }

    async fn delete_file(&self, room: Uuid, file: Uuid) -> Result<bool, StoreError> {
        self.inner.delete_file(room, file).await
    }

    async fn find_link(&self, link: Uuid) -> Result<Option<RoomLinks>, StoreError> {
        self.inner.find_link(link).await
    }

    async fn change_links(&self, room: Uuid, change: LinkChange) -> Result<bool, StoreError> {
        self.inner.change_links(room, change).await
    }

    async fn room_links(&self, room: Uuid) -> Result<Option<RoomLinks>, StoreError> {
        self.inner.room_links(room).await
    }

    async fn delete_room(&self, room: Uuid) -> Result<bool, StoreError> {
        self.inner.delete_room(room).await
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

#[cfg(test)]
mod tests {
    use bytes::Bytes;

    use super::super::fake::{FakeStore, Write};
    use super::*;

    fn one_update(room: Uuid) -> RoomUpdates {
        RoomUpdates {
            room,
            updates: vec![NewUpdate {
                data: Bytes::from_static(b"u"),
                client_id: None,
                author: None,
                created_at: 0,
            }],
        }
    }

    /// Lets every other task run until it waits (the test runtime has one thread).
    async fn settle() {
        for _ in 0..16 {
            tokio::task::yield_now().await;
        }
    }

    #[tokio::test]
    async fn a_shared_commit_that_fails_is_retried_room_by_room() {
        let fake = Arc::new(FakeStore::default());
        let (good, also_good, bad) = (Uuid::new_v4(), Uuid::new_v4(), Uuid::new_v4());
        fake.refuse(bad);
        let group = Arc::new(GroupCommit::new(fake.clone()));
        // Hold the writer on a first write, so that the next three queue up and go to the
        // store together.
        let door = fake.door.lock().await;
        let first = tokio::spawn({
            let group = group.clone();
            async move { group.commit_many(&[one_update(good)], &[]).await }
        });
        settle().await;
        let writes: Vec<_> = [good, also_good, bad]
            .into_iter()
            .map(|room| {
                let group = group.clone();
                tokio::spawn(async move { group.commit_many(&[one_update(room)], &[]).await })
            })
            .collect();
        settle().await;
        drop(door);
        assert!(first.await.unwrap().is_ok());
        let mut results = Vec::new();
        for write in writes {
            results.push(write.await.unwrap().is_ok());
        }
        assert_eq!(
            results,
            [true, true, false],
            "one room's bad write fails only it"
        );
        let commits: Vec<(Vec<Uuid>, bool)> = fake
            .writes()
            .into_iter()
            .map(|(write, ok)| match write {
                Write::Commit { appends, .. } => (appends.iter().map(|a| a.0).collect(), ok),
                Write::Compact { .. } => panic!("no compaction here"),
            })
            .collect();
        assert_eq!(
            commits,
            [
                (vec![good], true),
                (vec![good, also_good, bad], false),
                (vec![good], true),
                (vec![also_good], true),
                (vec![bad], false),
            ]
        );
    }
}
