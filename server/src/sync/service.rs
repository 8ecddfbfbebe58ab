//! The sync service: everything the WebSocket endpoint hands a connection to once the
//! HTTP handshake is done. It owns the live rooms, the connection limit, the memory budget
//! and the ping clock, so that the HTTP layer needs none of them.

use std::net::IpAddr;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;

use tokio::sync::{OwnedSemaphorePermit, Semaphore};
use tokio_util::sync::CancellationToken;
use tokio_util::task::TaskTracker;

use super::files::FileChange;
use super::session::{self, PingClock, SessionContext, Socket};
use super::{Change, DocId, Leavers, LiveRoom, RoomCommand, RoomRegistry, RoomSettings};
use crate::access::Via;
use crate::cluster::{Cluster, Event};
use crate::metrics::Metrics;
use crate::store::Store;

/// Room for the y-websocket message type and length prefixes around an update.
const MESSAGE_HEADER_BYTES: usize = 64;

/// See the module docs.
pub struct SyncService {
    registry: Arc<RoomRegistry>,
    sessions: SessionContext,
    /// One permit per open WebSocket.
    slots: Arc<Semaphore>,
    next_connection: AtomicU64,
    /// The other servers that serve the same rooms, if any.
    cluster: Option<Arc<Cluster>>,
}

/// A connection's place under the connection limit, held from the handshake on.
pub struct Admission(OwnedSemaphorePermit);

impl SyncService {
    /// A service whose rooms use `store` and run on `tracker`, serving at most
    /// `max_connections` connections at once.
    pub fn new(
        settings: RoomSettings,
        max_connections: usize,
        store: Arc<dyn Store>,
        metrics: Arc<Metrics>,
        shutdown: CancellationToken,
        tracker: TaskTracker,
    ) -> Self {
        let memory = settings.memory.clone();
        let max_document_bytes = settings.max_document_bytes;
        let cluster = settings.cluster.clone();
        let registry = Arc::new(RoomRegistry::new(
            store,
            metrics.clone(),
            settings,
            shutdown.clone(),
            tracker.clone(),
        ));
        if let Some(cluster) = &cluster {
            let events = Arc::downgrade(&registry);
            let on_event = Box::new(move |event| {
                if let Some(registry) = events.upgrade() {
                    tokio::spawn(act_on(registry, event));
                }
            });
            cluster.start(&registry, on_event, shutdown.clone(), &tracker);
        }
        Self {
            cluster,
            sessions: SessionContext {
                registry: registry.clone(),
                metrics,
                shutdown,
                // A client's offline edits arrive as one message, and they may carry text
                // it has since deleted (kept for its undo): twice the document cap, plus
                // message headers.
                max_message_bytes: max_document_bytes
                    .saturating_mul(2)
                    .saturating_add(MESSAGE_HEADER_BYTES),
                max_document_bytes,
                clock: PingClock::default(),
                memory,
            },
            registry,
            slots: Arc::new(Semaphore::new(max_connections)),
            next_connection: AtomicU64::new(1),
        }
    }

    /// Whether document `doc` is loaded now.
    pub fn is_loaded(&self, doc: DocId) -> bool {
        self.registry.loaded(doc).is_some()
    }

    /// The live state of document `doc`, if it is loaded.
    pub async fn describe(&self, doc: DocId) -> Option<LiveRoom> {
        self.registry.describe(doc).await
    }

    /// Tells of every change made durable from now on (a slow listener hears that it
    /// lagged, and should look at everything again).
    pub fn subscribe(&self) -> tokio::sync::broadcast::Receiver<Change> {
        self.registry.subscribe()
    }

    /// Tells whoever listens (see [`Self::subscribe`]) that room `room`'s list of files
    /// changed.
    pub fn files_changed(&self, room: uuid::Uuid) {
        self.registry.announce(Change::Files(room));
    }

    /// Brings document `doc`'s text to `text`, a new version of `base` made outside,
    /// keeping what others changed since (loading the document if needed); the text
    /// after, or `None` when the document is not there.
    pub async fn rewrite(&self, doc: DocId, base: String, text: String) -> Option<String> {
        let handle = self.registry.open(doc)?;
        let (reply, answer) = tokio::sync::oneshot::channel();
        let command = RoomCommand::Rewrite { base, text, reply };
        if !handle.send(command).await {
            return None;
        }
        answer.await.ok().flatten()
    }

    /// Hands `command` to document `doc` if it is loaded; `false` when it is not. A
    /// change every server's copy must see (a file listed, moved or deleted) goes to the
    /// other servers too.
    pub async fn tell(&self, doc: DocId, command: RoomCommand) -> bool {
        if let (Some(cluster), Some(event)) = (&self.cluster, event_of(doc, &command)) {
            cluster.publish_event(event);
        }
        self.registry.tell(doc, command).await
    }

    /// Hands the command `make` builds to every loaded document of room `room` (its own
    /// and its files'), on every server.
    pub async fn tell_room(&self, room: uuid::Uuid, make: impl Fn() -> RoomCommand) {
        if let (Some(cluster), Some(event)) = (&self.cluster, event_of(DocId::room(room), &make()))
        {
            cluster.publish_event(event);
        }
        for handle in self.registry.loaded_in(room) {
            handle.send(make()).await;
        }
    }

    /// People connected to document `doc` on the other servers, for a document not loaded
    /// here (0 without other servers, or when Redis cannot tell).
    pub async fn people_elsewhere(&self, doc: DocId) -> usize {
        match &self.cluster {
            Some(cluster) => cluster.people(doc.id).await.unwrap_or(0),
            None => 0,
        }
    }

    /// Whether the other servers are reachable (always, when there are none).
    pub fn cluster_is_up(&self) -> bool {
        self.cluster.as_ref().is_none_or(|c| c.is_up())
    }

    /// The count of access changes so far: read it before checking a connection's link,
    /// and hand it to the connection (`PeerAccess::epoch`).
    pub fn access_epoch(&self) -> u64 {
        self.registry.access_epoch()
    }

    /// Counts an access change (stored already), before the rooms are told of it.
    pub fn access_changed(&self) {
        self.registry.access_changed();
    }

    /// Every connection to room `room`'s documents, as the host sees it.
    pub async fn connected(&self, room: uuid::Uuid) -> Vec<crate::owner::Connected> {
        let mut all = Vec::new();
        for handle in self.registry.loaded_in(room) {
            let (reply, answer) = tokio::sync::oneshot::channel();
            if handle.send(RoomCommand::Connected { reply }).await {
                all.extend(answer.await.unwrap_or_default());
            }
        }
        all
    }

    /// Sets room `room`'s title to `title` (checked), loading the room if needed; `false`
    /// when the room is not there.
    pub async fn retitle(&self, room: uuid::Uuid, title: String) -> bool {
        let Some(handle) = self.registry.open(DocId::room(room)) else {
            return false;
        };
        handle.send(RoomCommand::Retitle(title)).await
    }

    /// The largest message a connection may send, in bytes.
    pub fn max_message_bytes(&self) -> usize {
        self.sessions.max_message_bytes
    }

    /// Takes a place for one more connection, or says why there is none.
    pub fn admit(&self) -> Result<Admission, &'static str> {
        if self.sessions.shutdown.is_cancelled() {
            return Err("server is shutting down");
        }
        if self.sessions.memory.exhausted() {
            return Err("server memory budget reached; retry later");
        }
        let permit = self
            .slots
            .clone()
            .try_acquire_owned()
            .map_err(|_| "too many connections")?;
        Ok(Admission(permit))
    }

    /// Serves an upgraded connection from `address` to document `doc` until either side
    /// closes it.
    pub fn serve(
        &self,
        admission: Admission,
        socket: Socket,
        doc: DocId,
        address: IpAddr,
        access: crate::access::PeerAccess,
    ) -> impl std::future::Future<Output = ()> + Send {
        let conn = self.next_connection.fetch_add(1, Ordering::Relaxed);
        session::serve(
            socket,
            doc,
            conn,
            address,
            access,
            self.sessions.clone(),
            admission.0,
        )
    }
}

/// The event that carries `command` for document `doc` to the other servers, if it is one
/// they must act on.
fn event_of(doc: DocId, command: &RoomCommand) -> Option<Event> {
    Some(match command {
        RoomCommand::Files(FileChange::Listed { id, path, revision }) => Event::Files {
            room: doc.room,
            file: *id,
            listed: Some((path.clone(), *revision)),
        },
        RoomCommand::Files(FileChange::Removed { id }) => Event::Files {
            room: doc.room,
            file: *id,
            listed: None,
        },
        RoomCommand::Moved(path) => Event::Moved {
            room: doc.room,
            doc: doc.id,
            path: path.to_string(),
        },
        RoomCommand::Deleted { room } => Event::Deleted {
            room: doc.room,
            doc: doc.id,
            whole: *room,
        },
        RoomCommand::Revoke {
            leavers,
            code,
            reason,
        } => Event::Revoke {
            room: doc.room,
            leavers: match leavers {
                Leavers::Came(Via::Edit) => "edit",
                Leavers::Came(Via::View) => "view",
                Leavers::EditorsButTheOwner => "editors",
                // A connection is this server's own.
                Leavers::Connection(_) => return None,
            }
            .to_string(),
            code: *code,
            reason: (*reason).to_string(),
        },
        _ => return None,
    })
}

/// Does here what another server's event asks of every server.
async fn act_on(registry: Arc<RoomRegistry>, event: Event) {
    match event {
        Event::Revoke {
            room,
            leavers,
            code,
            reason,
        } => {
            let leavers = match leavers.as_str() {
                "edit" => Leavers::Came(Via::Edit),
                "view" => Leavers::Came(Via::View),
                _ => Leavers::EditorsButTheOwner,
            };
            let reason = crate::owner::known_reason(&reason);
            registry.access_changed();
            for handle in registry.loaded_in(room) {
                let command = RoomCommand::Revoke {
                    leavers,
                    code,
                    reason,
                };
                handle.send(command).await;
            }
        }
        Event::Deleted { room, doc, whole } => {
            if whole {
                registry.access_changed();
                for handle in registry.loaded_in(room) {
                    handle.send(RoomCommand::Deleted { room: true }).await;
                }
            } else {
                let command = RoomCommand::Deleted { room: false };
                registry.tell(DocId::file(room, doc), command).await;
            }
        }
        Event::Moved { room, doc, path } => {
            if let Ok(path) = crate::paths::ProjectPath::parse(&path) {
                registry
                    .tell(DocId::file(room, doc), RoomCommand::Moved(path))
                    .await;
            }
        }
        Event::Files { room, file, listed } => {
            let change = match listed {
                Some((path, revision)) => FileChange::Listed {
                    id: file,
                    path,
                    revision,
                },
                None => FileChange::Removed { id: file },
            };
            registry
                .tell(DocId::room(room), RoomCommand::Files(change))
                .await;
            registry.announce(Change::Files(room));
        }
    }
}
