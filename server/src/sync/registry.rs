//! The registry of live rooms: finds a room's actor, or starts one that loads the room.
//! An actor removes itself when it unloads; a join that reaches an actor which is already
//! unloading is answered `Retry`, and the caller looks the room up again.

use std::collections::HashMap;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, PoisonError};

use tokio::sync::oneshot;
use tokio_util::sync::CancellationToken;
use tokio_util::task::TaskTracker;
use uuid::Uuid;

use super::room::RoomActor;
use super::{
    ConnId, DocId, JoinOutcome, LiveRoom, PeerLink, RoomCommand, RoomServices, RoomSettings,
};
use crate::metrics::Metrics;
use crate::store::Store;

/// Commands a room may have queued before senders wait.
const ROOM_QUEUE: usize = 1024;
/// Changes a slow listener may fall behind by before it hears it lagged.
const CHANGES: usize = 4096;
/// How often a join is retried while rooms unload under it.
const JOIN_ATTEMPTS: usize = 8;

/// The live rooms: each room's command channel and which incarnation of its actor owns it.
type Rooms = Arc<Mutex<HashMap<Uuid, RoomEntry>>>;

struct RoomEntry {
    tx: flume::Sender<RoomCommand>,
    generation: u64,
    /// The room the document belongs to.
    room: Uuid,
}

/// Finds and starts room actors.
pub struct RoomRegistry {
    services: Arc<RoomServices>,
    rooms: Rooms,
    tracker: TaskTracker,
    next_generation: AtomicU64,
}

impl RoomRegistry {
    /// A registry whose actors run on `tracker` and stop when `shutdown` is cancelled.
    pub fn new(
        store: Arc<dyn Store>,
        metrics: Arc<Metrics>,
        settings: RoomSettings,
        shutdown: CancellationToken,
        tracker: TaskTracker,
    ) -> Self {
        Self {
            services: Arc::new(RoomServices {
                store,
                metrics,
                settings,
                shutdown,
                work: Default::default(),
                changes: tokio::sync::broadcast::channel(CHANGES).0,
                access_epoch: AtomicU64::new(0),
            }),
            rooms: Rooms::default(),
            tracker,
            next_generation: AtomicU64::new(1),
        }
    }

    /// The handle of document `doc` if it is loaded now.
    pub fn loaded(&self, doc: DocId) -> Option<RoomHandle> {
        let rooms = self.rooms.lock().unwrap_or_else(PoisonError::into_inner);
        rooms
            .get(&doc.id)
            .filter(|entry| entry.room == doc.room)
            .map(|entry| RoomHandle {
                tx: entry.tx.clone(),
            })
    }

    /// Hands `command` to document `id` if it is loaded, without waiting; `false` when
    /// its queue is full.
    pub(crate) fn offer(&self, id: Uuid, command: RoomCommand) -> bool {
        let rooms = self.rooms.lock().unwrap_or_else(PoisonError::into_inner);
        let Some(entry) = rooms.get(&id) else {
            return true;
        };
        !matches!(
            entry.tx.try_send(command),
            Err(flume::TrySendError::Full(_))
        )
    }

    /// The count of access changes so far (see `RoomServices::access_epoch`).
    pub fn access_epoch(&self) -> u64 {
        self.services.access_epoch.load(Ordering::SeqCst)
    }

    /// Counts an access change: call it once the change is stored, before telling the
    /// rooms.
    pub fn access_changed(&self) {
        self.services.access_epoch.fetch_add(1, Ordering::SeqCst);
    }

    /// The handles of every loaded document of room `room`.
    pub fn loaded_in(&self, room: Uuid) -> Vec<RoomHandle> {
        let rooms = self.rooms.lock().unwrap_or_else(PoisonError::into_inner);
        (rooms.values())
            .filter(|entry| entry.room == room)
            .map(|entry| RoomHandle {
                tx: entry.tx.clone(),
            })
            .collect()
    }

    /// The handle of document `doc`, starting its actor if needed; `None` during shutdown.
    /// The caller must know the document exists (the actor unloads at once otherwise).
    pub fn open(&self, doc: DocId) -> Option<RoomHandle> {
        if self.services.shutdown.is_cancelled() {
            return None;
        }
        let mut rooms = self.rooms.lock().unwrap_or_else(PoisonError::into_inner);
        // An actor that is gone without deregistering (it panicked) leaves a dead entry:
        // start a new one rather than turn everyone away until a restart.
        if let Some(entry) = rooms.get(&doc.id).filter(|e| !e.tx.is_disconnected()) {
            return (entry.room == doc.room).then(|| RoomHandle {
                tx: entry.tx.clone(),
            });
        }
        let generation = self.next_generation.fetch_add(1, Ordering::Relaxed);
        let (tx, rx) = flume::bounded(ROOM_QUEUE);
        rooms.insert(
            doc.id,
            RoomEntry {
                tx: tx.clone(),
                generation,
                room: doc.room,
            },
        );
        drop(rooms);
        // The actor removes its entry when it ends, unless a newer one has replaced it.
        let registered = self.rooms.clone();
        let unregister = move || {
            let mut rooms = registered.lock().unwrap_or_else(PoisonError::into_inner);
            if rooms
                .get(&doc.id)
                .is_some_and(|e| e.generation == generation)
            {
                rooms.remove(&doc.id);
            }
        };
        self.tracker
            .spawn(RoomActor::run(doc, self.services.clone(), rx, unregister));
        Some(RoomHandle { tx })
    }

    /// Joins connection `conn` to document `doc`, following it through unloads.
    pub async fn join(&self, doc: DocId, conn: ConnId, link: &PeerLink) -> Option<RoomHandle> {
        for _ in 0..JOIN_ATTEMPTS {
            let handle = self.open(doc)?;
            match handle.join(conn, link.clone()).await {
                JoinOutcome::Joined => return Some(handle),
                JoinOutcome::Retry => continue,
                JoinOutcome::Unavailable => return None,
            }
        }
        None
    }

    /// The live state of document `doc` if it is loaded.
    pub async fn describe(&self, doc: DocId) -> Option<LiveRoom> {
        let handle = self.loaded(doc)?;
        let (reply, answer) = oneshot::channel();
        handle
            .tx
            .send_async(RoomCommand::Describe { reply })
            .await
            .ok()?;
        answer.await.ok()
    }

    /// Tells of every change made durable from now on.
    pub fn subscribe(&self) -> tokio::sync::broadcast::Receiver<super::Change> {
        self.services.changes.subscribe()
    }

    /// Tells the listeners of [`Self::subscribe`] of `change`.
    pub fn announce(&self, change: super::Change) {
        // Nobody listening is fine.
        let _ = self.services.changes.send(change);
    }

    /// Hands `command` to document `doc` if it is loaded (one that is not reads the
    /// store when it loads); `false` when it is not.
    pub async fn tell(&self, doc: DocId, command: RoomCommand) -> bool {
        match self.loaded(doc) {
            Some(handle) => handle.send(command).await,
            None => false,
        }
    }
}

/// A connection's way to one room actor.
#[derive(Debug, Clone)]
pub struct RoomHandle {
    tx: flume::Sender<RoomCommand>,
}

impl RoomHandle {
    async fn join(&self, conn: ConnId, link: PeerLink) -> JoinOutcome {
        let (reply, answer) = oneshot::channel();
        if self
            .tx
            .send_async(RoomCommand::Join { conn, link, reply })
            .await
            .is_err()
        {
            return JoinOutcome::Retry;
        }
        answer.await.unwrap_or(JoinOutcome::Retry)
    }

    /// Hands a command to the room, waiting while its queue is full.
    /// `false` when the room has gone.
    pub async fn send(&self, command: RoomCommand) -> bool {
        self.tx.send_async(command).await.is_ok()
    }
}

#[cfg(test)]
mod tests {
    use std::time::Duration;

    use super::*;
    use crate::sync::budget::MemoryBudget;

    fn registry(store: Arc<dyn Store>) -> RoomRegistry {
        RoomRegistry::new(
            store,
            Arc::new(Metrics::new()),
            RoomSettings {
                room_idle: Duration::from_secs(30),
                compact_after: 1_000,
                max_document_bytes: 1 << 20,
                memory: MemoryBudget::new(0),
                cluster: None,
            },
            CancellationToken::new(),
            TaskTracker::new(),
        )
    }

    /// A connection whose link was checked before an access change joins after it: the
    /// room turns it away, since the change's closing of whoever it concerns went out
    /// before it was there to hear it.
    #[tokio::test]
    async fn a_connection_checked_before_an_access_change_is_turned_away() {
        let store = crate::store::connect("sqlite::memory:")
            .await
            .expect("store");
        let room = crate::rooms::create(store.as_ref(), None, None)
            .await
            .expect("room");
        let registry = registry(store);
        let link = |epoch| {
            let (queue, _inbound) = super::super::queue::outbound(None);
            let access = crate::access::PeerAccess {
                epoch,
                ..crate::access::PeerAccess::full()
            };
            PeerLink {
                queue,
                closer: Default::default(),
                address: std::net::IpAddr::from([127, 0, 0, 1]),
                access,
            }
        };
        let checked = registry.access_epoch();
        registry.access_changed();
        let doc = DocId::room(room.id);
        assert!(
            registry.join(doc, 1, &link(checked)).await.is_none(),
            "stale"
        );
        let now = registry.access_epoch();
        assert!(registry.join(doc, 2, &link(now)).await.is_some(), "current");
    }

    #[tokio::test]
    async fn a_room_whose_actor_died_is_started_again() {
        let store = crate::store::connect("sqlite::memory:")
            .await
            .expect("store");
        let registry = registry(store);
        let id = Uuid::new_v4();
        // What a panicked actor leaves behind: an entry whose receiver is gone.
        let (tx, rx) = flume::bounded(1);
        drop(rx);
        registry.rooms.lock().expect("lock").insert(
            id,
            RoomEntry {
                tx,
                generation: 0,
                room: id,
            },
        );
        let handle = registry.open(DocId::room(id)).expect("a handle");
        assert!(!handle.tx.is_disconnected(), "a live actor");
    }
}
