//! The room actor: one task per live room owns its Yjs document, its presence (awareness)
//! and its peers. Connections talk to it through a bounded channel; nothing here awaits
//! anything but that channel, the store write in flight and its own timers.
//!
//! Durability rule: an update is applied to the document at once, but relayed to other
//! peers (and any sync reply that could contain it is sent) only after the store has
//! committed it. So whatever a peer has seen survives a crash of the server.

use std::collections::{HashMap, HashSet, VecDeque};
use std::panic::AssertUnwindSafe;
use std::sync::Arc;
use std::time::Duration;

use bytes::Bytes;
use futures_util::FutureExt;
use tokio::time::Instant;
use uuid::Uuid;
use yrs::sync::{Awareness, AwarenessUpdate};
use yrs::updates::decoder::Decode;
use yrs::{Any, ClientID, Doc, Out, ReadTxn, StateVector, Transact, Update};

use super::budget::Charge;
use super::clocks::Clocks;
use super::document::{self, Layout};
use super::persist::{short_id, Persister, MIRROR_DELAY};
use super::preflight::Shape;
use super::presence;
use super::protocol::{self, Incoming};
use super::registry::RoomContext;
use super::{close_code, close_reason, ConnId, JoinOutcome, LiveRoom, PeerLink, RoomCommand};
use crate::store::{now_millis, Mirror, NewUpdate};

/// The sender of updates the room writes itself; no connection has this id, so they are
/// relayed to everyone.
const ROOM_ITSELF: ConnId = 0;
/// Presence client ids one connection may bring into the room; more are ignored.
const MAX_CLIENTS_PER_PEER: usize = 16;
/// Bytes of sync replies a room holds back while the store catches up.
const MAX_HELD_REPLY_BYTES: usize = 64 << 20;
/// Updates up to this size are applied on the room's task; larger ones (which may hold
/// thousands of items whose placement costs quadratic time) off the async workers.
const INLINE_APPLY_BYTES: usize = 4096;
/// Memory a loaded document is counted at, per byte of its stored form. Measured with
/// yrs 0.28: 0.7 to 2 bytes per encoded byte for a document loaded from the store, up to
/// about 8 for one built live from 100,000 scattered one-character edits.
const MEMORY_PER_STORED_BYTE: usize = 4;
/// How long shutdown waits for a failing store before giving up on a room.
const SHUTDOWN_FLUSH_LIMIT: Duration = Duration::from_secs(10);

/// One connection in the room.
struct Peer {
    link: PeerLink,
    /// Awareness client ids this connection has announced.
    clients: HashSet<u64>,
    /// Display name from its awareness state, stored with its updates.
    author: Option<String>,
    /// Whether a sync reply to this peer is held until the store catches up: a peer gets
    /// one at a time, so that a frame of sync requests cannot make the room encode the
    /// document again for each.
    reply_held: bool,
}

impl Peer {
    /// Queues a frame; `false` when the queue is full (the peer is too slow).
    fn push(&self, frame: Bytes) -> bool {
        self.link.queue.push(frame)
    }
}

/// A frame waiting until the update it may contain is durable.
enum Delivery {
    /// An update (v1 bytes) to everyone but its sender.
    Relay { from: ConnId, update: Bytes },
    /// To one connection.
    Reply { to: ConnId, frame: Bytes },
}

/// Why the room is winding down.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Closing {
    /// Serving peers.
    No,
    /// Empty for the idle period: fold the log, then unload unless someone joins.
    Idle,
    /// The server is stopping: flush and exit.
    Shutdown { deadline: Instant },
    /// The document is unusable (yrs panicked): flush what is durable-safe and exit.
    Poisoned,
}

/// State of one live room.
pub(crate) struct RoomActor {
    id: Uuid,
    generation: u64,
    ctx: Arc<RoomContext>,
    awareness: Awareness,
    /// The document's root types (`sync/document.rs`).
    layout: Layout,
    peers: HashMap<ConnId, Peer>,
    persist: Persister,
    held: VecDeque<(u64, Delivery)>,
    held_reply_bytes: usize,
    /// What a newcomer (empty state vector) is sent: the whole document as a sync step 2
    /// frame, encoded once and shared by every such join until the document next changes.
    full_state: Option<Bytes>,
    /// Everyone's presence as one awareness frame, encoded once until presence changes.
    presence: Option<Bytes>,
    /// The document's state vector, kept current from each change.
    clocks: Clocks,
    /// Which connection brought each presence client id into the room.
    owners: HashMap<u64, ConnId>,
    idle_since: Option<Instant>,
    mirror_due: Option<Instant>,
    closing: Closing,
    /// Whether the room counts in the `rooms_store_down` gauge.
    store_down: bool,
    /// The document's size in its stored form (snapshot plus the updates after it), an
    /// upper bound on its encoded size.
    stored_bytes: usize,
    /// What the loaded document counts against the server's memory budget.
    memory: Charge,
    /// The last valid `meta.title` and `meta.language`, put back when a client sets an
    /// invalid one.
    valid_meta: ValidMeta,
}

/// The room's title and language as last seen valid.
#[derive(Debug, Clone, PartialEq, Eq)]
struct ValidMeta {
    title: String,
    language: String,
}

impl RoomActor {
    /// Loads room `id` from the store and serves it until it unloads or the server stops.
    pub(crate) async fn run(
        id: Uuid,
        generation: u64,
        ctx: Arc<RoomContext>,
        rx: flume::Receiver<RoomCommand>,
    ) {
        ctx.metrics.rooms_loaded.inc();
        // Boxed: loading is short, and inline it would enlarge the task for the room's life.
        let late_joiners = match Box::pin(Self::load(id, generation, ctx.clone())).await {
            Ok(Some(mut room)) => {
                // A bug that panics in here must cost this room's connections a reconnect,
                // not make the room unusable until the server restarts.
                let served = AssertUnwindSafe(room.serve(&rx)).catch_unwind().await;
                if served.is_err() {
                    tracing::error!(room = %short_id(id), "room actor panicked; unloading the room");
                    room.poison();
                }
                JoinOutcome::Retry
            }
            Ok(None) => JoinOutcome::Unavailable,
            Err(error) => {
                tracing::error!(room = %short_id(id), %error, "loading room failed");
                JoinOutcome::Unavailable
            }
        };
        ctx.deregister(id, generation);
        ctx.metrics.rooms_loaded.dec();
        // Anyone who queued up meanwhile looks the room up again (or learns it is gone);
        // whoever sends after the drain finds the channel gone, which means the same.
        for command in rx.drain() {
            if let RoomCommand::Join { reply, .. } = command {
                let _ = reply.send(late_joiners);
            }
        }
    }

    async fn load(
        id: Uuid,
        generation: u64,
        ctx: Arc<RoomContext>,
    ) -> Result<Option<Self>, crate::store::StoreError> {
        if ctx.settings.memory.exhausted() {
            return Err(crate::store::StoreError::Unavailable(
                "the server's memory budget is spent".into(),
            ));
        }
        let Some(stored) = ctx.store.load(id).await? else {
            return Ok(None);
        };
        let doc = Doc::new();
        let layout = Layout::on(&doc);
        // Replaying the log can take long (it holds whatever clients sent): off the workers.
        let (doc, stored) = tokio::task::spawn_blocking(move || {
            replay(id, &doc, &stored);
            (doc, stored)
        })
        .await
        .map_err(|e| {
            crate::store::StoreError::Corrupt(format!("replaying the room failed: {e}"))
        })?;
        let persist = Persister::new(
            id,
            ctx.store.clone(),
            ctx.metrics.clone(),
            stored.last_seq,
            stored.updates.len(),
            stored.snapshot.as_ref().map_or(0, Vec::len),
        );
        tracing::debug!(room = %short_id(id), log = stored.updates.len(), "room loaded");
        let stored_bytes = stored.snapshot.as_ref().map_or(0, Vec::len)
            + stored.updates.iter().map(Vec::len).sum::<usize>();
        let valid_meta = {
            let txn = doc.transact();
            ValidMeta {
                title: layout
                    .meta_string(&txn, document::TITLE)
                    .filter(|t| crate::meta::check_title(t).is_ok())
                    .unwrap_or_else(|| crate::meta::DEFAULT_TITLE.into()),
                language: layout
                    .meta_string(&txn, document::LANGUAGE)
                    .filter(|l| crate::meta::check_language(l).is_ok())
                    .unwrap_or_else(|| crate::meta::DEFAULT_LANGUAGE.into()),
            }
        };
        let mut memory = Charge::new(ctx.settings.memory.clone());
        memory.set(stored_bytes.saturating_mul(MEMORY_PER_STORED_BYTE));
        let clocks = Clocks::of(&doc.transact());
        Ok(Some(Self {
            id,
            generation,
            clocks,
            awareness: Awareness::new(doc),
            layout,
            peers: HashMap::new(),
            persist,
            held: VecDeque::new(),
            held_reply_bytes: 0,
            full_state: None,
            presence: None,
            owners: HashMap::new(),
            idle_since: Some(Instant::now()),
            mirror_due: None,
            closing: Closing::No,
            store_down: false,
            stored_bytes,
            memory,
            valid_meta,
            ctx,
        }))
    }

    async fn serve(&mut self, rx: &flume::Receiver<RoomCommand>) {
        let shutdown = self.ctx.shutdown.clone();
        loop {
            let deadline = self.next_deadline();
            tokio::select! {
                command = rx.recv_async() => match command {
                    Ok(command) => self.handle(command),
                    Err(flume::RecvError::Disconnected) => break,
                },
                done = self.persist.finished() => {
                    self.persist.complete(done);
                    // A failed write that carried the mirror leaves it dirty: try again
                    // on the usual delay rather than waiting for the next edit.
                    if self.persist.mirror_dirty() {
                        self.mirror_due
                            .get_or_insert_with(|| Instant::now() + MIRROR_DELAY);
                    }
                    self.release_durable();
                }
                () = tokio::time::sleep_until(deadline.unwrap_or_else(far_future)), if deadline.is_some() => {}
                () = shutdown.cancelled(), if !matches!(self.closing, Closing::Shutdown { .. }) => {
                    self.begin_shutdown();
                }
            }
            self.on_timers();
            self.start_writes();
            if self.finished() {
                break;
            }
        }
    }

    fn handle(&mut self, command: RoomCommand) {
        match command {
            RoomCommand::Join { conn, link, reply } => {
                if !self.admit(conn, link) {
                    let _ = reply.send(JoinOutcome::Unavailable);
                } else if reply.send(JoinOutcome::Joined).is_err() {
                    self.remove_peer(conn);
                }
            }
            RoomCommand::Messages { conn, messages } => {
                for message in messages {
                    if !self.peers.contains_key(&conn) || self.closing == Closing::Poisoned {
                        break;
                    }
                    self.on_message(conn, message);
                }
            }
            RoomCommand::Leave { conn } => self.remove_peer(conn),
            RoomCommand::Describe { reply } => {
                let _ = reply.send(self.describe());
            }
        }
    }

    /// Adds a peer and sends it the server's state vector and everyone's presence.
    fn admit(&mut self, conn: ConnId, link: PeerLink) -> bool {
        match self.closing {
            Closing::Shutdown { .. } | Closing::Poisoned => return false,
            Closing::Idle | Closing::No => {}
        }
        if self.persist.in_outage(std::time::Instant::now()) {
            return false;
        }
        self.closing = Closing::No;
        self.idle_since = None;
        let peer = Peer {
            link,
            clients: HashSet::new(),
            author: None,
            reply_held: false,
        };
        debug_assert_eq!(
            self.clocks.state_vector(),
            &self.awareness.doc().transact().state_vector()
        );
        peer.push(self.clocks.step1());
        if let Some(presence) = self.presence_frame() {
            peer.push(presence);
        }
        self.peers.insert(conn, peer);
        true
    }

    /// Everyone's presence as one frame, `None` when nobody has any.
    fn presence_frame(&mut self) -> Option<Bytes> {
        if self.presence.is_none() {
            let states = self.awareness.update().ok()?;
            if states.clients.is_empty() {
                return None;
            }
            self.presence = Some(protocol::awareness(states));
        }
        self.presence.clone()
    }

    fn on_message(&mut self, conn: ConnId, message: Incoming) {
        match message {
            Incoming::SyncStep1(sv) => self.on_sync_step1(conn, &sv),
            Incoming::Update { update, raw, shape } => {
                self.on_update(conn, update, raw, &shape);
            }
            Incoming::Awareness(update) => self.on_awareness(conn, update),
            Incoming::AwarenessQuery => {
                if let Some(presence) = self.presence_frame() {
                    self.send_to(conn, presence);
                }
            }
        }
    }

    /// Answers with everything the client lacks, once all of it is durable.
    fn on_sync_step1(&mut self, conn: ConnId, sv: &StateVector) {
        // A reply already waiting holds everything this one would, and the relays after
        // it bring the rest.
        if self.peers.get(&conn).is_none_or(|p| p.reply_held) {
            return;
        }
        // Answering costs time in proportion to the document (a client that reconnects
        // in a loop, or asks again and again, makes the room do it each time): charged to
        // the address, as applying updates is.
        let address = self.peers.get(&conn).map(|p| p.link.address);
        if address.is_some_and(|a| self.ctx.work.over(a, std::time::Instant::now())) {
            self.kick(conn, close_code::POLICY, "requests too costly to answer");
            return;
        }
        let started = std::time::Instant::now();
        let doc = self.awareness.doc();
        // A large document takes a while to encode: off the workers, as large applies.
        let large = self.stored_bytes > INLINE_APPLY_BYTES;
        let encode = || {
            let work = || protocol::sync_step2(doc.transact().encode_state_as_update_v1(sv));
            if large {
                off_the_workers(work)
            } else {
                work()
            }
        };
        let frame = if sv.is_empty() {
            self.full_state.get_or_insert_with(encode).clone()
        } else {
            encode()
        };
        if let Some(a) = address {
            self.ctx
                .work
                .charge(a, started.elapsed(), std::time::Instant::now());
        }
        if self.held_reply_bytes + frame.len() > MAX_HELD_REPLY_BYTES {
            self.kick(
                conn,
                close_code::TRY_AGAIN_LATER,
                "server busy; retry later",
            );
            return;
        }
        self.hold(self.persist.accepted(), Delivery::Reply { to: conn, frame });
    }

    fn on_update(&mut self, conn: ConnId, update: Update, raw: Bytes, shape: &Shape) {
        if update.is_empty() {
            return;
        }
        // Clients send what they build on first (a joining client's reply holds all the
        // server lacks), so an update with missing pieces is forged. yrs would hold it
        // aside, fold it into every document it sends and relay it, and stock clients
        // fail on some of those.
        if !shape.needs_only(|client| self.clocks.get(client)) {
            self.kick(
                conn,
                close_code::INVALID_PAYLOAD,
                "update builds on edits the server does not have",
            );
            return;
        }
        if self.persist.is_full(raw.len()) {
            self.kick(
                conn,
                close_code::TRY_AGAIN_LATER,
                "storage is behind; retry later",
            );
            return;
        }
        let address = self.peers.get(&conn).map(|p| p.link.address);
        let ledger = &self.ctx.work;
        if address.is_some_and(|a| ledger.over(a, std::time::Instant::now())) {
            self.kick(conn, close_code::POLICY, "updates too costly to apply");
            return;
        }
        if !self.room_for(conn, &raw) {
            return;
        }
        let doc = self.awareness.doc();
        let clocks = &mut self.clocks;
        let apply = || {
            std::panic::catch_unwind(AssertUnwindSafe(|| {
                let mut txn = doc.transact_mut();
                let applied = txn.apply_update(update);
                // Whatever got in, even from an update refused halfway.
                clocks.advance(txn.insert_set());
                applied.map(|()| {
                    !txn.insert_set().is_empty()
                        || !txn.delete_set().is_empty()
                        || txn.has_missing_updates()
                })
            }))
        };
        let started = std::time::Instant::now();
        let applied = if raw.len() > INLINE_APPLY_BYTES {
            off_the_workers(apply)
        } else {
            apply()
        };
        let spent = started.elapsed();
        if address.is_some_and(|a| self.ctx.work.charge(a, spent, std::time::Instant::now())) {
            self.kick(conn, close_code::POLICY, "updates too costly to apply");
        }
        match applied {
            Ok(Ok(true)) => self.full_state = None,
            // Nothing the document did not have (a client's sync reply written before it
            // saw ours repeats what it sent since): nothing to store or relay.
            Ok(Ok(false)) => return,
            Ok(Err(error)) => {
                tracing::info!(room = %short_id(self.id), %error, "refusing update");
                self.kick(
                    conn,
                    close_code::INVALID_PAYLOAD,
                    "update could not be applied",
                );
                return;
            }
            Err(_) => {
                tracing::error!(room = %short_id(self.id), "document panicked applying an update; unloading room");
                self.poison();
                return;
            }
        }
        self.set_stored_bytes(self.stored_bytes.saturating_add(raw.len()));
        let peer = self.peers.get(&conn);
        let seq = self.persist.accept(NewUpdate {
            data: raw.clone(),
            client_id: peer
                .and_then(|p| p.clients.iter().min().copied())
                .and_then(|id| i64::try_from(id).ok()),
            author: peer.and_then(|p| p.author.clone()),
            created_at: now_millis(),
        });
        self.mirror_due
            .get_or_insert_with(|| Instant::now() + self.persist.mirror_delay());
        self.hold(
            seq,
            Delivery::Relay {
                from: conn,
                update: raw,
            },
        );
        self.enforce_meta();
    }

    /// Puts back the last valid title or language when an update set one that the REST
    /// API would refuse (too long, control characters, not a language id, not a string):
    /// the room writes the correction as an update of its own, stored and relayed to
    /// everyone, the sender included, like any other.
    fn enforce_meta(&mut self) {
        let doc = self.awareness.doc();
        let (title, language) = {
            let txn = doc.transact();
            (
                self.layout.meta_value(&txn, document::TITLE),
                self.layout.meta_value(&txn, document::LANGUAGE),
            )
        };
        let title_ok = valid_meta_value(title.as_ref(), crate::meta::check_title);
        let language_ok = valid_meta_value(language.as_ref(), crate::meta::check_language);
        if let (Some(Out::Any(Any::String(t))), true) = (&title, title_ok) {
            self.valid_meta.title = t.to_string();
        }
        if let (Some(Out::Any(Any::String(l))), true) = (&language, language_ok) {
            self.valid_meta.language = l.to_string();
        }
        if title_ok && language_ok {
            return;
        }
        tracing::info!(room = %short_id(self.id), "putting back an invalid title or language");
        let correction = {
            let mut txn = doc.transact_mut();
            if !title_ok {
                self.layout
                    .set_meta(&mut txn, document::TITLE, &self.valid_meta.title);
            }
            if !language_ok {
                self.layout
                    .set_meta(&mut txn, document::LANGUAGE, &self.valid_meta.language);
            }
            self.clocks.advance(txn.insert_set());
            Bytes::from(txn.encode_update_v1())
        };
        let room_client = i64::try_from(doc.client_id().get()).ok();
        self.full_state = None;
        self.set_stored_bytes(self.stored_bytes.saturating_add(correction.len()));
        let seq = self.persist.accept(NewUpdate {
            data: correction.clone(),
            client_id: room_client,
            author: Some("pairpad".into()),
            created_at: now_millis(),
        });
        self.hold(
            seq,
            Delivery::Relay {
                from: ROOM_ITSELF,
                update: correction,
            },
        );
    }

    /// Whether the update `raw` may be applied: the server's memory budget must not be
    /// spent, and the document must stay under its cap. The stored size only grows
    /// between compactions; when it and the update together pass the cap, the document
    /// is measured as it would be after the update (text the update both adds and deletes
    /// takes no room). A refused sender is closed with the reason; its editor keeps the
    /// edit.
    fn room_for(&mut self, conn: ConnId, raw: &[u8]) -> bool {
        let cap = self.ctx.settings.max_document_bytes;
        if self.memory.budget().exhausted() {
            self.kick(
                conn,
                close_code::TRY_AGAIN_LATER,
                "server memory budget reached; retry later",
            );
            return false;
        }
        if self.stored_bytes.saturating_add(raw.len()) <= cap {
            return true;
        }
        let doc = self.awareness.doc();
        let (now, after) = off_the_workers(|| {
            let state = doc
                .transact()
                .encode_state_as_update_v1(&StateVector::default());
            if state.len().saturating_add(raw.len()) <= cap {
                return (state.len(), 0);
            }
            (state.len(), size_after(&state, raw))
        });
        self.set_stored_bytes(now);
        if after <= cap {
            return true;
        }
        self.kick(
            conn,
            close_code::TOO_BIG,
            &close_reason::document_too_large(cap),
        );
        false
    }

    fn set_stored_bytes(&mut self, bytes: usize) {
        self.stored_bytes = bytes;
        self.memory
            .set(bytes.saturating_mul(MEMORY_PER_STORED_BYTE));
    }

    /// Applies presence and relays it to everyone (the sender too, as y-websocket does:
    /// clients use it as a liveness signal).
    ///
    /// A client id belongs to the connection that first brought it into the room, as on
    /// the reference server: stock clients pass on other people's presence too, and that
    /// neither counts against their limit nor makes their leaving remove it. Removals of
    /// ids the room never saw are dropped (they would cost memory and tell nobody anything).
    fn on_awareness(&mut self, conn: ConnId, mut update: AwarenessUpdate) {
        if !self.peers.contains_key(&conn) {
            return;
        }
        let mut author = None;
        for entry in update.clients.values() {
            match presence::check_state(&entry.json) {
                Ok(name) => author = name.or(author),
                Err(reason) => {
                    let code = if reason == presence::TOO_LARGE {
                        close_code::TOO_BIG
                    } else {
                        close_code::INVALID_PAYLOAD
                    };
                    self.kick(conn, code, reason);
                    return;
                }
            }
        }
        let awareness = &self.awareness;
        update.clients.retain(|client, entry| {
            !presence::is_null(&entry.json) || awareness.meta(*client).is_some()
        });
        let Some(peer) = self.peers.get_mut(&conn) else {
            return;
        };
        let mut over_limit = Vec::new();
        for (client, entry) in &update.clients {
            let id = client.get();
            if presence::is_null(&entry.json) {
                if self.owners.get(&id) == Some(&conn) {
                    self.owners.remove(&id);
                    peer.clients.remove(&id);
                }
            } else if let std::collections::hash_map::Entry::Vacant(slot) = self.owners.entry(id) {
                // Past its share, a connection's new ids are dropped rather than the
                // connection closed: a stock client passes on the presence of people who
                // have left (ghosts an attacker made, say), and must not pay for it.
                if peer.clients.len() >= MAX_CLIENTS_PER_PEER {
                    over_limit.push(*client);
                    continue;
                }
                slot.insert(conn);
                peer.clients.insert(id);
            }
        }
        if author.is_some() {
            peer.author = author;
        }
        update
            .clients
            .retain(|client, _| !over_limit.contains(client));
        if update.clients.is_empty() {
            return;
        }
        let frame = protocol::awareness(update.clone());
        if let Err(error) = self.awareness.apply_update(update) {
            tracing::debug!(room = %short_id(self.id), %error, "ignoring awareness update");
            return;
        }
        self.presence = None;
        self.broadcast(None, &frame);
    }

    fn remove_peer(&mut self, conn: ConnId) {
        let Some(peer) = self.peers.remove(&conn) else {
            return;
        };
        if self.peers.is_empty() {
            self.idle_since = Some(Instant::now());
            // The last person left: bring the stored mirror up to date now.
            if self.persist.mirror_dirty() {
                self.mirror_due = Some(Instant::now());
            }
        }
        // Clear the presence this connection brought, for everyone left.
        let gone: Vec<_> = peer.clients.iter().map(|&c| ClientID::new(c)).collect();
        if gone.is_empty() {
            return;
        }
        for client in &gone {
            self.owners.remove(&client.get());
            self.awareness.remove_state(*client);
        }
        self.presence = None;
        if let Ok(update) = self.awareness.update_with_clients(gone) {
            self.broadcast(None, &protocol::awareness(update));
        }
    }

    /// Drops a peer: closes its connection with `code` and forgets its presence.
    fn kick(&mut self, conn: ConnId, code: u16, reason: &str) {
        if let Some(peer) = self.peers.get(&conn) {
            peer.link.closer.close(code, reason);
        }
        self.remove_peer(conn);
    }

    /// The store has been failing for a while: nothing can be relayed, so every peer is
    /// told to come back later (their editors keep what they type meanwhile and merge it on
    /// reconnect) instead of looking connected while nobody sees their edits.
    fn turn_away_everyone(&mut self) {
        if self.peers.is_empty() {
            return;
        }
        tracing::warn!(room = %short_id(self.id), peers = self.peers.len(), "store failing; disconnecting peers until it recovers");
        let conns: Vec<ConnId> = self.peers.keys().copied().collect();
        for conn in conns {
            self.kick(
                conn,
                close_code::TRY_AGAIN_LATER,
                "storage unavailable; retry later",
            );
        }
    }

    fn send_to(&mut self, conn: ConnId, frame: Bytes) {
        let Some(peer) = self.peers.get(&conn) else {
            return;
        };
        self.ctx.metrics.messages_out.inc();
        if !peer.push(frame) {
            self.drop_slow(conn);
        }
    }

    fn broadcast(&mut self, except: Option<ConnId>, frame: &Bytes) {
        let mut slow = Vec::new();
        for (&conn, peer) in &self.peers {
            if Some(conn) != except {
                self.ctx.metrics.messages_out.inc();
                if !peer.push(frame.clone()) {
                    slow.push(conn);
                }
            }
        }
        for conn in slow {
            self.drop_slow(conn);
        }
    }

    fn drop_slow(&mut self, conn: ConnId) {
        self.ctx.metrics.slow_peers_dropped.inc();
        tracing::info!(room = %short_id(self.id), conn, "dropping peer that cannot keep up");
        self.kick(
            conn,
            close_code::TRY_AGAIN_LATER,
            "too slow: outbound queue full",
        );
    }

    /// Sends `delivery` once update `seq` is durable, keeping the order of deliveries.
    fn hold(&mut self, seq: u64, delivery: Delivery) {
        if self.held.is_empty() && seq <= self.persist.durable() {
            self.deliver(delivery);
        } else {
            if let Delivery::Reply { to, frame } = &delivery {
                self.held_reply_bytes += frame.len();
                if let Some(peer) = self.peers.get_mut(to) {
                    peer.reply_held = true;
                }
            }
            self.held.push_back((seq, delivery));
        }
    }

    /// Delivers everything that is durable now. Consecutive updates from one sender are
    /// merged into one message, so that a group commit releasing many updates at once does
    /// not flood the peers' queues.
    fn release_durable(&mut self) {
        let durable = self.persist.durable();
        let mut run: Vec<Bytes> = Vec::new();
        let mut run_from = None;
        while self.held.front().is_some_and(|(seq, _)| *seq <= durable) {
            let Some((_, delivery)) = self.held.pop_front() else {
                break;
            };
            match delivery {
                Delivery::Relay { from, update } if run_from.is_none_or(|f| f == from) => {
                    run_from = Some(from);
                    run.push(update);
                }
                other => {
                    self.relay_run(run_from.take(), std::mem::take(&mut run));
                    if let Delivery::Relay { from, update } = other {
                        run_from = Some(from);
                        run.push(update);
                    } else {
                        self.deliver_held(other);
                    }
                }
            }
        }
        self.relay_run(run_from, run);
    }

    fn relay_run(&mut self, from: Option<ConnId>, mut updates: Vec<Bytes>) {
        let update = match updates.len() {
            0 => return,
            1 => updates.pop().unwrap_or_default(),
            _ => match yrs::merge_updates_v1(&updates) {
                Ok(merged) => Bytes::from(merged),
                Err(error) => {
                    tracing::warn!(room = %short_id(self.id), %error, "relaying unmerged updates");
                    for update in updates {
                        self.broadcast(from, &protocol::update(&update));
                    }
                    return;
                }
            },
        };
        self.broadcast(from, &protocol::update(&update));
    }

    fn deliver(&mut self, delivery: Delivery) {
        match delivery {
            Delivery::Relay { from, update } => {
                self.broadcast(Some(from), &protocol::update(&update));
            }
            Delivery::Reply { to, frame } => self.send_to(to, frame),
        }
    }

    fn deliver_held(&mut self, delivery: Delivery) {
        if let Delivery::Reply { to, frame } = &delivery {
            self.held_reply_bytes = self.held_reply_bytes.saturating_sub(frame.len());
            if let Some(peer) = self.peers.get_mut(to) {
                peer.reply_held = false;
            }
        }
        self.deliver(delivery);
    }

    fn describe(&self) -> LiveRoom {
        let txn = self.awareness.doc().transact();
        LiveRoom {
            code: self.layout.text(&txn),
            title: self.layout.meta_string(&txn, document::TITLE),
            language: self.layout.meta_string(&txn, document::LANGUAGE),
            active_users: self.peers.len(),
        }
    }

    fn mirror(&self) -> Mirror {
        let live = self.describe();
        Mirror {
            code: live.code,
            title: live.title,
            language: live.language,
            updated_at: now_millis(),
        }
    }

    fn begin_shutdown(&mut self) {
        for peer in self.peers.values() {
            peer.link
                .closer
                .close(close_code::GOING_AWAY, "server shutting down");
        }
        self.closing = Closing::Shutdown {
            deadline: Instant::now() + SHUTDOWN_FLUSH_LIMIT,
        };
    }

    fn poison(&mut self) {
        for peer in self.peers.values() {
            peer.link
                .closer
                .close(close_code::INTERNAL, "room failed; reconnect");
        }
        self.peers.clear();
        self.held.clear();
        self.held_reply_bytes = 0;
        self.closing = Closing::Poisoned;
    }

    fn next_deadline(&self) -> Option<Instant> {
        let idle = match self.closing {
            Closing::No => self.idle_since.map(|t| t + self.ctx.settings.room_idle),
            _ => None,
        };
        let retry = self.persist.retry_at().map(Instant::from_std);
        // While a write is in flight its completion wakes the room, and after a failed
        // one the retry time does: a due mirror waits for either (a past deadline here
        // would spin the actor until then).
        let mirror = self
            .mirror_due
            .filter(|_| !self.persist.writing())
            .map(|due| retry.map_or(due, |at| due.max(at)));
        // While peers are here, the moment the store would count as down.
        let outage = self
            .persist
            .outage_from()
            .filter(|_| !self.peers.is_empty())
            .map(Instant::from_std);
        [idle, mirror, retry, outage].into_iter().flatten().min()
    }

    fn on_timers(&mut self) {
        let now = Instant::now();
        let store_down = self.persist.in_outage(now.into_std());
        if store_down != self.store_down {
            self.store_down = store_down;
            if store_down {
                self.ctx.metrics.rooms_store_down.inc();
            } else {
                self.ctx.metrics.rooms_store_down.dec();
            }
        }
        if store_down {
            self.turn_away_everyone();
        }
        let idle_over = self
            .idle_since
            .is_some_and(|t| t + self.ctx.settings.room_idle <= now);
        if self.closing == Closing::No && self.peers.is_empty() && idle_over {
            self.closing = Closing::Idle;
        }
    }

    /// Starts the next store write, if none is in flight: updates first (with the mirror
    /// when it is due), then compaction, then the mirror.
    fn start_writes(&mut self) {
        let now = Instant::now();
        if !self.persist.can_start(now.into_std()) {
            return;
        }
        let winding_down = !matches!(self.closing, Closing::No | Closing::Poisoned);
        let mirror_now = self.persist.mirror_dirty()
            && self.closing != Closing::Poisoned
            && (winding_down || self.mirror_due.is_some_and(|due| due <= now));
        if self.persist.is_busy() {
            let mirror = mirror_now.then(|| self.mirror());
            if mirror.is_some() {
                self.mirror_due = None;
            }
            self.persist.start_append(mirror);
            return;
        }
        let fold_now = self
            .persist
            .wants_compaction(self.ctx.settings.compact_after)
            || (winding_down && self.persist.has_unfolded_changes());
        if self.closing != Closing::Poisoned && fold_now {
            let snapshot = self
                .awareness
                .doc()
                .transact()
                .encode_state_as_update_v1(&StateVector::default());
            self.set_stored_bytes(snapshot.len());
            self.persist.start_compaction(snapshot, self.mirror());
            self.mirror_due = None;
        } else if mirror_now {
            self.persist.start_mirror(self.mirror());
            self.mirror_due = None;
        }
    }

    /// Whether the room has nothing left to do and may unload.
    fn finished(&self) -> bool {
        let settled = !self.persist.is_busy();
        match self.closing {
            Closing::No => false,
            Closing::Idle => {
                self.peers.is_empty() && settled && !self.persist.has_unfolded_changes()
            }
            Closing::Shutdown { deadline } => {
                (settled && !self.persist.has_unfolded_changes()) || Instant::now() >= deadline
            }
            Closing::Poisoned => settled || self.persist.retry_at().is_some(),
        }
    }
}

impl Drop for RoomActor {
    fn drop(&mut self) {
        if self.store_down {
            self.ctx.metrics.rooms_store_down.dec();
        }
        if self.persist.is_busy() {
            tracing::error!(room = %short_id(self.id), generation = self.generation, "room unloaded with unsaved updates; clients resend them on reconnect");
        }
    }
}

/// Applies a room's stored snapshot and updates to `doc`, skipping any it cannot read.
fn replay(id: Uuid, doc: &Doc, stored: &crate::store::StoredDoc) {
    let mut txn = doc.transact_mut();
    for bytes in stored.snapshot.iter().chain(stored.updates.iter()) {
        let applied = Update::decode_v1(bytes)
            .map_err(|e| e.to_string())
            .and_then(|u| txn.apply_update(u).map_err(|e| e.to_string()));
        if let Err(error) = applied {
            tracing::error!(room = %short_id(id), %error, "skipping unreadable stored update");
        }
    }
}

/// The encoded size of the document `state` once `update` is applied to it, measured on
/// a scratch copy (`usize::MAX` when either cannot be read).
fn size_after(state: &[u8], update: &[u8]) -> usize {
    let scratch = Doc::new();
    {
        let mut txn = scratch.transact_mut();
        for bytes in [state, update] {
            let applied = Update::decode_v1(bytes)
                .map_err(|e| e.to_string())
                .and_then(|u| txn.apply_update(u).map_err(|e| e.to_string()));
            if applied.is_err() {
                return usize::MAX;
            }
        }
    }
    let size = scratch
        .transact()
        .encode_state_as_update_v1(&StateVector::default())
        .len();
    size
}

/// Runs CPU-heavy document work so that it does not hold up the other tasks of an async
/// worker: on a multi-threaded runtime the worker hands its queue to another thread while
/// this one works (a single-threaded runtime, as in some tests, just runs it).
fn off_the_workers<R>(work: impl FnOnce() -> R) -> R {
    use tokio::runtime::{Handle, RuntimeFlavor};
    match Handle::try_current().map(|h| h.runtime_flavor()) {
        Ok(RuntimeFlavor::MultiThread) => tokio::task::block_in_place(work),
        _ => work(),
    }
}

fn far_future() -> Instant {
    Instant::now() + Duration::from_secs(86_400)
}

/// Whether a `meta` value is absent or a string that `check` accepts.
fn valid_meta_value(value: Option<&Out>, check: fn(&str) -> Result<(), &'static str>) -> bool {
    match value {
        None => true,
        Some(Out::Any(Any::String(s))) => check(s).is_ok(),
        Some(_) => false,
    }
}
