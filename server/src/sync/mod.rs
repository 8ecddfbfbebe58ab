//! The Yjs sync core: one actor task per live room owns its document and presence
//! ([`room`]); each WebSocket connection is one task that reads and writes ([`session`]);
//! the [`registry`] finds or loads rooms; [`protocol`] is the y-websocket wire format.

pub mod budget;
mod clocks;
pub mod document;
pub mod files;
mod merge;
mod outbox;
mod peers;
pub mod persist;
pub mod preflight;
pub mod presence;
pub mod protocol;
pub mod queue;
pub mod registry;
pub mod room;
pub mod service;
pub mod session;
mod shared;
pub mod work;

use std::sync::{Arc, Mutex, PoisonError};
use std::time::Duration;

use tokio::sync::oneshot;
use tokio_util::sync::{CancellationToken, WaitForCancellationFuture};
use uuid::Uuid;

use crate::metrics::Metrics;
use crate::store::Store;
pub use registry::{RoomHandle, RoomRegistry};

/// Identifies one WebSocket connection within the process.
pub type ConnId = u64;

/// A document the sync core serves: a room's own (the room's first file, its title and
/// language, its list of files) or another file of the room's project.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct DocId {
    /// The document.
    pub id: Uuid,
    /// The room it belongs to (`id` itself for a room's own document).
    pub room: Uuid,
}

impl DocId {
    /// Room `id`'s own document.
    pub fn room(id: Uuid) -> Self {
        Self { id, room: id }
    }

    /// File `file` of room `room` (the room's own document when they are equal).
    pub fn file(room: Uuid, file: Uuid) -> Self {
        Self { id: file, room }
    }

    /// Whether this is a room's own document.
    pub fn is_room(&self) -> bool {
        self.id == self.room
    }
}

/// The sender of updates a room writes itself; no connection has this id, so they are
/// relayed to everyone.
const ROOM_ITSELF: ConnId = 0;

/// Tunables for room actors.
#[derive(Debug, Clone)]
pub struct RoomSettings {
    /// How long an empty room stays loaded.
    pub room_idle: Duration,
    /// Compact after this many stored updates.
    pub compact_after: usize,
    /// Largest document, in encoded bytes.
    pub max_document_bytes: usize,
    /// What loaded documents and queued frames count against.
    pub memory: Arc<budget::MemoryBudget>,
    /// The other servers that serve the same rooms (`--redis-url`), if any.
    pub cluster: Option<Arc<crate::cluster::Cluster>>,
}

/// What every room actor shares.
struct RoomServices {
    store: Arc<dyn Store>,
    metrics: Arc<Metrics>,
    settings: RoomSettings,
    shutdown: CancellationToken,
    /// Apply time owed per client address, across rooms.
    work: work::WorkLedger,
    /// Tells whoever listens (a shared folder) what became durable.
    changes: tokio::sync::broadcast::Sender<Change>,
    /// Counts changes to any room's access (links replaced, access changed, rooms
    /// deleted). A connection carries the count read before its link was checked, and a
    /// room turns it away if the count moved since: the check may be stale, and the
    /// room's closing of those the change concerns may have come before it joined.
    access_epoch: std::sync::atomic::AtomicU64,
}

/// What a document told the listeners of [`service::SyncService::subscribe`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Change {
    /// The document's text has durable changes.
    Text(DocId),
    /// The room's list of files changed (through [`crate::projects`]).
    Files(Uuid),
}

/// WebSocket close codes the server sends (RFC 6455 §7.4.1).
pub mod close_code {
    /// Normal closure.
    pub const NORMAL: u16 = 1000;
    /// The server is shutting down.
    pub const GOING_AWAY: u16 = 1001;
    /// A frame type the protocol does not use (text frames).
    pub const UNSUPPORTED: u16 = 1003;
    /// A binary frame that is not a valid y-websocket message.
    pub const INVALID_PAYLOAD: u16 = 1007;
    /// The peer broke a rule (too many presence clients, no pong).
    pub const POLICY: u16 = 1008;
    /// A message over the size limit.
    pub const TOO_BIG: u16 = 1009;
    /// The server hit an error it could not recover from for this room.
    pub const INTERNAL: u16 = 1011;
    /// The peer could not keep up, or the server is overloaded: reconnect later.
    pub const TRY_AGAIN_LATER: u16 = 1013;
    /// The room's access changed (it became view-only, or editable again): look up what
    /// this link may do now and reconnect.
    pub const ACCESS_CHANGED: u16 = 4001;
    /// The connection may only view and sent an edit, which was not applied. In the
    /// 4400 range, where y-websocket clients stop reconnecting: it would send the same
    /// edit again.
    pub const READ_ONLY: u16 = 4403;
    /// The link no longer opens the room (the owner replaced it), or the room was
    /// deleted: reconnecting will not help.
    pub const GONE: u16 = 4404;
    /// The host took this person out of the session.
    pub const REMOVED: u16 = 4410;
    /// The connection's sign-in expired: reconnect with a new token.
    pub const SIGNED_OUT: u16 = 4401;
}

/// Close reasons a client acts on, beyond the code.
pub mod close_reason {
    /// Start of the reason for closing a connection whose update would make the document
    /// larger than `--max-document-bytes` (the limit in bytes follows). The editor stops
    /// reconnecting on it until the text is edited again.
    pub const DOCUMENT_TOO_LARGE: &str = "document too large: over the limit of";

    /// The whole reason for a document cap of `cap` bytes.
    pub fn document_too_large(cap: usize) -> String {
        format!("{DOCUMENT_TOO_LARGE} {cap} bytes")
    }
}

/// Who the stored history names for the updates the server makes itself. A name people
/// give themselves never starts with `pairpad:` (see [`presence::check_state`]), so these
/// cannot be claimed.
pub mod author {
    /// The room, putting back what a client broke or listing the project's files.
    pub const ROOM: &str = "pairpad:room";
    /// A shared folder's file, changed on disk.
    pub const DISK: &str = "pairpad:disk";
    /// The room's owner, renaming it through the API or the desktop app.
    pub const OWNER: &str = "pairpad:owner";
    /// What is stored for a person called `name`: marked with `~` when it looks like one
    /// of the server's names (or starts with `~`, so that a marked name and a real one
    /// never meet).
    pub fn of_person(name: String) -> String {
        let server_like = name
            .get(..8)
            .is_some_and(|p| p.eq_ignore_ascii_case("pairpad:"));
        match server_like || name.starts_with('~') {
            true => format!("~{name}"),
            false => name,
        }
    }
}

/// Why and how a connection is being closed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CloseReason {
    /// WebSocket close code.
    pub code: u16,
    /// Short human-readable reason (at most 123 bytes on the wire).
    pub reason: String,
}

/// Asks a connection to close; the first reason given wins. Cheap to clone.
#[derive(Debug, Clone, Default)]
pub struct Closer {
    token: CancellationToken,
    reason: Arc<Mutex<Option<CloseReason>>>,
}

impl Closer {
    /// Requests closing with `code` and `reason`, unless a reason was already given.
    pub fn close(&self, code: u16, reason: impl Into<String>) {
        let mut slot = self.reason.lock().unwrap_or_else(PoisonError::into_inner);
        if slot.is_none() {
            *slot = Some(CloseReason {
                code,
                reason: reason.into(),
            });
        }
        drop(slot);
        self.token.cancel();
    }

    /// The reason given to [`Closer::close`], if any.
    pub fn reason(&self) -> Option<CloseReason> {
        self.reason
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .clone()
    }

    /// Resolves once closing was requested.
    pub fn closed(&self) -> WaitForCancellationFuture<'_> {
        self.token.cancelled()
    }

    /// Whether closing was requested.
    pub fn is_closed(&self) -> bool {
        self.token.is_cancelled()
    }
}

/// How a room reaches one connection: its bounded outbound queue and its closer.
#[derive(Debug, Clone)]
pub struct PeerLink {
    /// Outbound frames, drained by the connection's task.
    pub queue: queue::Outbound,
    /// Closes the connection (used to drop a peer that cannot keep up).
    pub closer: Closer,
    /// The client's address (unspecified when unknown), charged for the time its updates
    /// take to apply.
    pub address: std::net::IpAddr,
    /// What it may do.
    pub access: crate::access::PeerAccess,
}

/// Which connections a room closes when its access changes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Leavers {
    /// Those that came by this link.
    Came(crate::access::Via),
    /// Those that came by the edit link without the owner key.
    EditorsButTheOwner,
    /// This one connection.
    Connection(ConnId),
}

impl Leavers {
    /// Whether a connection with `access` is among them.
    pub fn include(self, access: &crate::access::PeerAccess) -> bool {
        match self {
            Self::Came(via) => access.via == via,
            Self::EditorsButTheOwner => access.via == crate::access::Via::Edit && !access.owner,
            Self::Connection(_) => false,
        }
    }
}

/// The answer to a join request.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum JoinOutcome {
    /// The connection is now a peer of the room.
    Joined,
    /// The room was unloading; look it up again.
    Retry,
    /// The room does not exist, could not be loaded, or the server is shutting down.
    Unavailable,
}

/// A live room's state as shown by `GET /api/rooms/{id}`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LiveRoom {
    /// Its text, title and language now.
    pub text: crate::store::RoomText,
    /// Connections in the room.
    pub active_users: usize,
}

/// Messages from connections and HTTP handlers to a room actor.
#[derive(Debug)]
pub enum RoomCommand {
    /// A connection wants to join.
    Join {
        /// The connection.
        conn: ConnId,
        /// Its outbound queue and closer.
        link: PeerLink,
        /// Where to answer.
        reply: oneshot::Sender<JoinOutcome>,
    },
    /// Decoded messages from one frame of a joined connection.
    Messages {
        /// The sender.
        conn: ConnId,
        /// The frame's messages, in order.
        messages: Vec<protocol::Incoming>,
        /// The sender's share of frames in flight, given back once they are handled.
        held: tokio::sync::OwnedSemaphorePermit,
    },
    /// A connection went away.
    Leave {
        /// The connection.
        conn: ConnId,
    },
    /// Read the live state for the REST API.
    Describe {
        /// Where to answer.
        reply: oneshot::Sender<LiveRoom>,
    },
    /// To a room: a file of its project was created, renamed or deleted.
    Files(files::FileChange),
    /// To a file: it was renamed.
    Moved(crate::paths::ProjectPath),
    /// It was deleted (a file, or the whole room when `room`); its peers are told and it
    /// unloads without writing.
    Deleted {
        /// The whole room was deleted, not only this file.
        room: bool,
    },
    /// To a room: the owner renamed it to `title` (checked).
    Retitle(String),
    /// Who is connected, for the host.
    Connected {
        /// Where to answer.
        reply: oneshot::Sender<Vec<crate::owner::Connected>>,
    },
    /// Close these connections with this code and reason (the room's access changed).
    Revoke {
        /// Who goes.
        leavers: Leavers,
        /// WebSocket close code.
        code: u16,
        /// Why.
        reason: &'static str,
    },
    /// What another server said about this document.
    Cluster(crate::cluster::Remote),
    /// Bring the text to `text`, a new version of `base` made outside (a file saved on
    /// disk), keeping what others changed since; answers with the text after, or `None`
    /// when the document takes no edits now (it is shutting down, failed or deleted).
    Rewrite {
        /// The text `text` was made from.
        base: String,
        /// The new version.
        text: String,
        /// Where to answer.
        reply: oneshot::Sender<Option<String>>,
    },
}
