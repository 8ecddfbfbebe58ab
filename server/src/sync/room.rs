//! The room actor: one task per live room owns its Yjs document, its presence and its
//! peers. Connections talk to it through a bounded channel; nothing here awaits anything
//! but that channel, the store write in flight and its own timers.
//!
//! Durability rule: an update is applied to the document at once, but relayed to other
//! peers (and any sync reply that could contain it is sent) only after the store has
//! committed it. So whatever a peer has seen survives a crash of the server. The frames
//! wait in the [`Outbox`]; the [`Persister`] writes and says what is durable.

use std::borrow::Cow;
use std::panic::AssertUnwindSafe;
use std::sync::Arc;
use std::time::Duration;

use bytes::Bytes;
use futures_util::FutureExt;
use tokio::time::Instant;
use uuid::Uuid;
use yrs::updates::decoder::Decode;
use yrs::{StateVector, Update};

use super::document::{Applied, RoomDoc};
use super::outbox::{Delivery, Outbox};
use super::peers::Peers;
use super::persist::{short_id, Pace, Persister, StoredLog};
use super::preflight::Shape;
use super::protocol::{self, Incoming};
use super::shared::{Finished, Shared};
use super::{author, Change, DocId, RoomServices, ROOM_ITSELF};
use super::{
    close_code, close_reason, ConnId, JoinOutcome, Leavers, LiveRoom, PeerLink, RoomCommand,
};
use crate::access::Via;
use crate::cluster::Remote;
use crate::store::{now_millis, NewUpdate, StoreError};

/// Why the room refuses a peer's message: the close code and the reason it is given.
type Refusal = (u16, Cow<'static, str>);
/// The reason a peer whose address has spent its work budget is given.
const TOO_COSTLY: &str = "updates too costly to apply";
/// The reason a connection that may only view is given when it sends an edit.
pub const READ_ONLY: &str = "read-only: this link can view the room but not edit it";
/// What a refused edit from a connection that may only view costs its address, in work
/// time (see [`super::work`]): a dozen in a row spend the burst.
const READ_ONLY_COST: Duration = Duration::from_millis(250);
/// Bytes of sync replies a room holds back while the store catches up.
const MAX_HELD_REPLY_BYTES: usize = 64 << 20;
/// How long shutdown waits for a failing store before giving up on a room.
const SHUTDOWN_FLUSH_LIMIT: Duration = Duration::from_secs(10);

/// Where the room is in its life.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Lifecycle {
    /// Serving peers (or waiting out the idle period with none).
    Serving,
    /// Empty for the idle period: fold the log, then unload unless someone joins.
    Unloading,
    /// The server is stopping: flush and exit by the deadline.
    ShuttingDown { deadline: Instant },
    /// The document is unusable (yrs panicked): store what was accepted and exit.
    Poisoned,
    /// The file was deleted: nothing is left to write.
    Deleted,
}

impl Lifecycle {
    /// How eagerly the store must catch up.
    fn pace(self) -> Pace {
        match self {
            Self::Serving => Pace::Steady,
            Self::Unloading | Self::ShuttingDown { .. } => Pace::Flush,
            Self::Poisoned | Self::Deleted => Pace::Salvage,
        }
    }
}

/// State of one live room.
pub(crate) struct RoomActor {
    id: Uuid,
    /// Which document this is: a room's own, or one of its files.
    key: DocId,
    services: Arc<RoomServices>,
    doc: RoomDoc,
    peers: Peers,
    persist: Persister,
    outbox: Outbox,
    idle_since: Option<Instant>,
    lifecycle: Lifecycle,
    /// Where the document stands among the servers that share it (`--redis-url`).
    shared: Option<Shared>,
}

impl RoomActor {
    /// Loads document `doc` from the store and serves it until it unloads or the server
    /// stops; then calls `unregister`, so that the next join starts a new actor.
    pub(super) async fn run(
        doc: DocId,
        services: Arc<RoomServices>,
        rx: flume::Receiver<RoomCommand>,
        unregister: impl FnOnce(),
    ) {
        let metrics = services.metrics.clone();
        metrics.rooms_loaded.inc();
        // Boxed: loading is short, and inline it would enlarge the task for the room's life.
        let id = doc.id;
        let late_joiners = match Box::pin(Self::load(doc, services)).await {
            Ok(Some(mut room)) => {
                room.show_files();
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
        unregister();
        metrics.rooms_loaded.dec();
        // Anyone who queued up meanwhile looks the room up again (or learns it is gone);
        // whoever sends after the drain finds the channel gone, which means the same.
        for command in rx.drain() {
            if let RoomCommand::Join { reply, .. } = command {
                let _ = reply.send(late_joiners);
            }
        }
    }

    async fn load(doc: DocId, services: Arc<RoomServices>) -> Result<Option<Self>, StoreError> {
        let id = doc.id;
        let budget = services.settings.memory.clone();
        if budget.exhausted() {
            return Err(StoreError::Unavailable(
                "the server's memory budget is spent".into(),
            ));
        }
        let Some(stored) = services.store.load(id).await? else {
            return Ok(None);
        };
        // A file asked for as a room, or as another room's: as good as not there.
        if stored.project != doc.room {
            return Ok(None);
        }
        let files = match doc.is_room() {
            true => Some(services.store.list_files(id).await?),
            false => None,
        };
        let log = StoredLog::of(&stored);
        let through = stored.last_seq;
        // Replaying the log can take long (it holds whatever clients sent): off the workers.
        let load = move || RoomDoc::load(&stored, files.as_deref(), budget);
        let (text, errors) = tokio::task::spawn_blocking(load)
            .await
            .map_err(|e| StoreError::Corrupt(format!("replaying the room failed: {e}")))?;
        for error in errors {
            tracing::error!(room = %short_id(id), %error, "skipping unreadable stored update");
        }
        tracing::debug!(room = %short_id(id), log = log.len, "room loaded");
        let persist = Persister::new(
            id,
            services.store.clone(),
            services.metrics.clone(),
            services.settings.compact_after,
            log,
        );
        let mut peers = Peers::new(short_id(id), text.doc().clone(), services.metrics.clone());
        // What the room's links are now, to see whether they change while the events
        // that say so cannot come (Redis down).
        let links = match &services.settings.cluster {
            Some(_) => services.store.room_links(doc.room).await.ok().flatten(),
            None => None,
        };
        let shared = (services.settings.cluster.clone()).map(|cluster| {
            peers.share_presence();
            Shared::new(cluster, id, through, links)
        });
        Ok(Some(Self {
            id,
            key: doc,
            peers,
            shared,
            doc: text,
            persist,
            outbox: Outbox::default(),
            idle_since: Some(Instant::now()),
            lifecycle: Lifecycle::Serving,
            services,
        }))
    }

    async fn serve(&mut self, rx: &flume::Receiver<RoomCommand>) {
        let shutdown = self.services.shutdown.clone();
        loop {
            let deadline = self.next_deadline();
            tokio::select! {
                command = rx.recv_async() => match command {
                    Ok(command) => self.handle(command),
                    Err(flume::RecvError::Disconnected) => break,
                },
                outcome = self.persist.finished() => {
                    let durable = self.persist.durable();
                    let stored = self.persist.complete(outcome);
                    if self.persist.durable() > durable {
                        let _ = self.services.changes.send(Change::Text(self.key));
                    }
                    let released = self.outbox.release(self.persist.durable());
                    for delivery in released {
                        self.deliver(delivery);
                    }
                    if let (Some(shared), Some((first, updates))) = (&mut self.shared, stored) {
                        shared.stored(first, &updates);
                        let ready = shared.ready();
                        self.apply_remote(ready);
                    }
                }
                finished = read_finished(&mut self.shared) => match finished {
                    Finished::Healed(healed) => self.on_healed(healed),
                    Finished::Links(read, adopt) => self.on_links_read(read, adopt),
                },
                () = tokio::time::sleep_until(deadline.unwrap_or_else(far_future)), if deadline.is_some() => {}
                // A poisoned room only salvages its updates, shutdown or not.
                () = shutdown.cancelled(), if matches!(self.lifecycle, Lifecycle::Serving | Lifecycle::Unloading) => {
                    self.begin_shutdown();
                }
            }
            self.on_timers();
            self.publish_presence();
            let pace = self.lifecycle.pace();
            if let Some(shared) = &self.shared {
                self.persist.holds_through(shared.through());
            }
            self.persist.start_next(Instant::now(), pace, &mut self.doc);
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
                    self.peers.leave(conn);
                }
            }
            RoomCommand::Messages {
                conn,
                messages,
                held,
            } => {
                for message in messages {
                    if !self.peers.contains(conn) || self.lifecycle == Lifecycle::Poisoned {
                        break;
                    }
                    self.on_message(conn, message);
                }
                drop(held);
            }
            RoomCommand::Leave { conn } => self.peers.leave(conn),
            RoomCommand::Describe { reply } => {
                let text = self.doc.describe();
                let elsewhere = self.shared.as_ref().map_or(0, Shared::people_elsewhere);
                let active_users = self.peers.len() + elsewhere;
                let _ = reply.send(LiveRoom { text, active_users });
            }
            RoomCommand::Files(change) => {
                if let Some(update) = self.doc.change_files(change) {
                    self.store_own(update);
                }
            }
            RoomCommand::Moved(path) => self.doc.moved(&path),
            RoomCommand::Deleted { room } => {
                match room {
                    true => self.peers.close_all(close_code::GONE, "room deleted"),
                    false => self.peers.close_all(close_code::NORMAL, "file deleted"),
                }
                self.outbox.clear();
                self.persist.abandon();
                self.lifecycle = Lifecycle::Deleted;
            }
            RoomCommand::Retitle(title) => {
                if let Some(update) = self.doc.retitle(&title) {
                    self.store_as(update, author::OWNER);
                }
            }
            RoomCommand::Connected { reply } => {
                let _ = reply.send(self.peers.connected(self.key));
            }
            RoomCommand::Revoke {
                leavers,
                code,
                reason,
            } => {
                self.peers.close_where(leavers, code, reason);
                // Taken in as the links now stand, so that a later check does not act
                // on this change again.
                if let Some(shared) = &mut self.shared {
                    let store = self.services.store.clone();
                    shared.check_links_if_due(&store, Instant::now(), self.key.room, true);
                }
            }
            RoomCommand::Cluster(remote) => self.on_remote(remote),
            RoomCommand::Rewrite { base, text, reply } => {
                let taken = matches!(self.lifecycle, Lifecycle::Serving | Lifecycle::Unloading);
                if taken {
                    if let Some(update) = self.doc.rewrite(&base, &text) {
                        self.store_as(update, author::DISK);
                    }
                }
                let _ = reply.send(taken.then(|| self.doc.describe().code));
            }
        }
    }

    /// Adds a peer and sends it the server's state vector and everyone's presence.
    fn admit(&mut self, conn: ConnId, link: PeerLink) -> bool {
        match self.lifecycle {
            Lifecycle::ShuttingDown { .. } | Lifecycle::Poisoned | Lifecycle::Deleted => {
                return false
            }
            Lifecycle::Unloading | Lifecycle::Serving => {}
        }
        if self.persist.in_outage(Instant::now()) {
            return false;
        }
        let epoch = self
            .services
            .access_epoch
            .load(std::sync::atomic::Ordering::SeqCst);
        if link.access.epoch != epoch {
            return false;
        }
        self.lifecycle = Lifecycle::Serving;
        self.idle_since = None;
        self.peers.admit(conn, link, self.doc.step1());
        self.send_presence_elsewhere(conn);
        true
    }

    /// Handles one message from a peer; a refused one closes its connection with the
    /// reason.
    fn on_message(&mut self, conn: ConnId, message: Incoming) {
        let handled = match message {
            Incoming::SyncStep1(sv) => self.on_sync_step1(conn, &sv),
            Incoming::Update { update, raw, shape } => self.on_update(conn, update, raw, &shape),
            Incoming::Awareness(update) => {
                let shared = self.shared.as_ref();
                let elsewhere = |client| shared.is_some_and(|s| s.holds_elsewhere(client));
                (self.peers.update_presence(conn, update, &elsewhere))
                    .map_err(|(code, reason)| (code, reason.into()))
            }
            Incoming::AwarenessQuery => {
                self.peers.send_presence(conn);
                self.send_presence_elsewhere(conn);
                Ok(())
            }
        };
        if let Err((code, reason)) = handled {
            self.peers.close(conn, code, &reason);
        }
    }

    /// Answers with everything the client lacks, once all of it is durable.
    fn on_sync_step1(&mut self, conn: ConnId, sv: &StateVector) -> Result<(), Refusal> {
        // A reply already waiting holds everything this one would, and the relays after
        // it bring the rest.
        if self.outbox.awaits_reply(conn) {
            return Ok(());
        }
        // Answering costs time in proportion to the document (a client that reconnects
        // in a loop, or asks again and again, makes the room do it each time): charged to
        // the address, as applying updates is.
        if self.over_budget(conn) {
            return Err((close_code::POLICY, "requests too costly to answer".into()));
        }
        let started = std::time::Instant::now();
        let frame = self.doc.sync_reply(sv);
        self.charge(conn, started.elapsed());
        if self.outbox.reply_bytes() + frame.len() > MAX_HELD_REPLY_BYTES {
            return Err((
                close_code::TRY_AGAIN_LATER,
                "server busy; retry later".into(),
            ));
        }
        self.hold(self.persist.accepted(), Delivery::Reply { to: conn, frame });
        Ok(())
    }

    /// Checks, applies, stores and relays an update. A refused sender is closed with the
    /// reason; its editor keeps the edit.
    fn on_update(
        &mut self,
        conn: ConnId,
        update: Update,
        raw: Bytes,
        shape: &Shape,
    ) -> Result<(), Refusal> {
        if update.is_empty() {
            return Ok(());
        }
        let Some(access) = self.peers.access(conn) else {
            return Ok(());
        };
        if !access.can_edit {
            // Never applied, and never dropped without a word: its editor must know that
            // what it typed goes nowhere. The refusal is charged to the address: a client
            // that reconnects and sends the same edit again, in a loop, soon has its
            // requests refused before the room answers them.
            if self.doc.would_change(&update, shape) {
                self.charge(conn, READ_ONLY_COST);
                return Err((close_code::READ_ONLY, READ_ONLY.into()));
            }
            return Ok(());
        }
        // Clients send what they build on first (a joining client's reply holds all the
        // server lacks), so an update with missing pieces is forged. yrs would hold it
        // aside, fold it into every document it sends and relay it, and stock clients
        // fail on some of those.
        if !self.doc.has_what_it_needs(shape) {
            let reason = "update builds on edits the server does not have";
            return Err((close_code::INVALID_PAYLOAD, reason.into()));
        }
        if self.persist.is_full(raw.len()) {
            return Err((
                close_code::TRY_AGAIN_LATER,
                "storage is behind; retry later".into(),
            ));
        }
        if self.over_budget(conn) {
            return Err((close_code::POLICY, TOO_COSTLY.into()));
        }
        if self.doc.budget().exhausted() {
            let reason = "server memory budget reached; retry later";
            return Err((close_code::TRY_AGAIN_LATER, reason.into()));
        }
        let cap = self.services.settings.max_document_bytes;
        if !self.doc.fits(&raw, cap) {
            return Err((
                close_code::TOO_BIG,
                close_reason::document_too_large(cap).into(),
            ));
        }
        let started = std::time::Instant::now();
        let applied = self.doc.apply(update, raw.len());
        let over_budget = self.charge(conn, started.elapsed());
        match applied {
            Applied::Changed => self.store_update(conn, raw),
            // Nothing the document did not have (a client's sync reply written before it
            // saw ours repeats what it sent since): nothing to store or relay.
            Applied::Unchanged => {}
            Applied::Refused(error) => {
                tracing::info!(room = %short_id(self.id), %error, "refusing update");
                return Err((
                    close_code::INVALID_PAYLOAD,
                    "update could not be applied".into(),
                ));
            }
            Applied::Panicked => {
                tracing::error!(room = %short_id(self.id), "document panicked applying an update; unloading room");
                self.poison();
            }
        }
        if over_budget {
            return Err((close_code::POLICY, TOO_COSTLY.into()));
        }
        Ok(())
    }

    /// Stores and relays an update `conn` sent and the document took; then the room's own
    /// correction, should the update have set an invalid title or language (one the REST
    /// API would refuse, or none), which goes to everyone, the sender included.
    fn store_update(&mut self, conn: ConnId, raw: Bytes) {
        let update = NewUpdate {
            data: raw,
            client_id: self.peers.client_id(conn),
            author: self.peers.author(conn),
            created_at: now_millis(),
        };
        self.store_and_relay(conn, update);
        let may_retitle = self.peers.access(conn).is_some_and(|a| a.can_retitle);
        for correction in self.doc.corrections(may_retitle) {
            tracing::info!(room = %short_id(self.id), "putting back what a client changed in the room's settings or files");
            self.store_own(correction);
        }
    }

    /// Stores and relays an update the room made itself, to everyone.
    fn store_own(&mut self, data: Bytes) {
        self.store_as(data, author::ROOM);
    }

    /// Stores and relays an update the room made for `author`, to everyone.
    fn store_as(&mut self, data: Bytes, author: &str) {
        let update = NewUpdate {
            data,
            client_id: self.doc.client_id(),
            author: Some(author.into()),
            created_at: now_millis(),
        };
        self.store_and_relay(ROOM_ITSELF, update);
    }

    /// Makes the room document's list of files show the project as stored.
    fn show_files(&mut self) {
        if let Some(update) = self.doc.list_files() {
            self.store_own(update);
        }
    }

    /// Queues an applied update for the store and relays it once it is durable.
    fn store_and_relay(&mut self, from: ConnId, update: NewUpdate) {
        let relay = Delivery::Relay {
            from,
            update: update.data.clone(),
        };
        let seq = self.persist.accept(update);
        self.hold(seq, relay);
    }

    /// Handles what another server said about the document.
    fn on_remote(&mut self, remote: Remote) {
        let Some(shared) = &mut self.shared else {
            return;
        };
        let serving = self.lifecycle == Lifecycle::Serving;
        match remote {
            // A room on its way out takes nothing more in (nobody here would see it, and
            // folding it would only compete with the servers whose people typed it); if
            // someone joins after all, it catches up from the store.
            Remote::Updates { .. } if !serving => shared.behind_now(),
            Remote::Updates { first, updates, .. } => {
                shared.received(first, updates);
                let ready = shared.ready();
                self.apply_remote(ready);
            }
            Remote::Presence { from, frame } => {
                let peers = &self.peers;
                let here = |client| peers.holds_client(client);
                if let Some(frame) = shared.heard_presence(from, frame, here) {
                    self.peers.broadcast(None, &frame);
                }
            }
            Remote::Tick { from, people, top } => shared.heard_tick(from, people, top),
            Remote::Bye { from } => {
                let peers = &self.peers;
                if let Some(removal) = shared.gone(from, |client| peers.holds_client(client)) {
                    self.peers.broadcast(None, &removal);
                }
            }
            Remote::Query { .. } => {
                shared.announce_presence_only();
                if let Some(frame) = self.peers.presence_frame() {
                    shared.publish_presence(&frame);
                }
            }
            Remote::Resubscribed => {
                // What was published before the subscription may be lost: read it, and
                // tell the others who is here.
                shared.behind_now();
                shared.announce();
                shared.check_links_soon();
                if let Some(frame) = self.peers.presence_frame() {
                    shared.publish_presence(&frame);
                }
            }
        }
    }

    /// Applies updates other servers stored (checked there, durable already) and relays
    /// them to this server's peers. One that cannot be read or applied (a forged or
    /// corrupt message) is not counted as held: the rest is read from the store.
    fn apply_remote(&mut self, updates: Vec<(i64, Bytes)>) {
        let mut applied = 0;
        for (seq, raw) in updates {
            let outcome = match Update::decode_v1(&raw) {
                Ok(update) => self.doc.apply(update, raw.len()),
                Err(error) => Applied::Refused(error.to_string()),
            };
            match outcome {
                Applied::Changed => {
                    applied += 1;
                    self.peers.broadcast(None, &protocol::update(&raw));
                }
                Applied::Unchanged => {}
                Applied::Refused(error) => {
                    tracing::warn!(room = %short_id(self.id), seq, %error, "an update from another server did not apply; reading it from the store");
                    if let Some(shared) = &mut self.shared {
                        shared.not_applied(seq);
                    }
                    break;
                }
                Applied::Panicked => {
                    tracing::error!(room = %short_id(self.id), "document panicked applying another server's update; unloading room");
                    self.poison();
                    return;
                }
            }
        }
        self.settle_remote(applied);
    }

    /// Counts `applied` updates from other servers in the document.
    fn settle_remote(&mut self, applied: usize) {
        if applied == 0 {
            return;
        }
        self.doc.accept_remote_files();
        self.persist.applied_elsewhere(applied);
        let _ = self.services.changes.send(Change::Text(self.key));
    }

    /// The catch-up read from the store finished: applies what the document lacked and
    /// relays it, as one update, to this server's peers.
    fn on_healed(&mut self, healed: Result<Option<crate::store::Catchup>, StoreError>) {
        let Some(shared) = &mut self.shared else {
            return;
        };
        if self.lifecycle != Lifecycle::Serving {
            shared.caught_up(None);
            return;
        }
        let catchup = match healed {
            Ok(Some(catchup)) => catchup,
            // The document is gone; its deletion reaches the room as an event.
            Ok(None) => {
                let through = shared.through();
                shared.caught_up(Some(through));
                return;
            }
            Err(error) => {
                tracing::warn!(room = %short_id(self.id), %error, "catching up from the store failed; retrying");
                shared.caught_up(None);
                return;
            }
        };
        let before = self.doc.state_vector();
        let count = catchup.updates.len() + usize::from(catchup.snapshot.is_some());
        let mut applied = 0;
        for raw in catchup.snapshot.iter().chain(&catchup.updates) {
            let Ok(update) = Update::decode_v1(raw) else {
                tracing::error!(room = %short_id(self.id), "skipping an unreadable stored update");
                continue;
            };
            match self.doc.apply(update, raw.len()) {
                Applied::Changed => applied += 1,
                Applied::Unchanged => {}
                Applied::Refused(error) => {
                    tracing::error!(room = %short_id(self.id), %error, "a stored update did not apply");
                }
                Applied::Panicked => {
                    self.poison();
                    return;
                }
            }
        }
        self.services.metrics.cluster_healed.inc_by(count as u64);
        if applied > 0 {
            let changes = self.doc.changes_since(&before);
            self.peers.broadcast(None, &protocol::update(&changes));
            tracing::info!(room = %short_id(self.id), updates = count, "caught up from the store");
        }
        self.settle_remote(applied);
        let Some(shared) = &mut self.shared else {
            return;
        };
        shared.caught_up(Some(catchup.through));
        let ready = shared.ready();
        self.apply_remote(ready);
    }

    /// Sends `conn` the presence of the other servers' peers, if any.
    fn send_presence_elsewhere(&mut self, conn: ConnId) {
        let Some(shared) = &self.shared else {
            return;
        };
        let peers = &self.peers;
        if let Some(frame) = shared.presence_frame(|client| peers.holds_client(client)) {
            self.peers.send(conn, frame);
        }
    }

    /// The room's links were read again (Redis was down, or came back): a change the
    /// events did not bring is acted on here as they would have (`adopt`: it was already).
    fn on_links_read(&mut self, read: Result<super::shared::Links, StoreError>, adopt: bool) {
        let Some(shared) = &mut self.shared else {
            return;
        };
        let Some((before, now)) = shared.links_read(read) else {
            return;
        };
        if adopt {
            return;
        }
        let epoch =
            || (self.services.access_epoch).fetch_add(1, std::sync::atomic::Ordering::SeqCst);
        if now.room.is_none() || !now.doc_exists {
            let whole = now.room.is_none();
            tracing::info!(room = %short_id(self.id), whole, "deleted while this server could not hear of it");
            epoch();
            self.handle(RoomCommand::Deleted { room: whole });
            return;
        }
        let (Some(before), Some(after)) = (before, now.room) else {
            return;
        };
        let mut revokes = Vec::new();
        if before.access != after.access {
            revokes.push((
                Leavers::EditorsButTheOwner,
                close_code::ACCESS_CHANGED,
                crate::owner::ACCESS_CHANGED,
            ));
        }
        if before.edit != after.edit {
            revokes.push((
                Leavers::Came(Via::Edit),
                close_code::GONE,
                crate::owner::EDIT_LINK_REPLACED,
            ));
        }
        if before.view != after.view {
            revokes.push((
                Leavers::Came(Via::View),
                close_code::GONE,
                crate::owner::VIEW_LINK_REPLACED,
            ));
        }
        if !revokes.is_empty() {
            tracing::info!(room = %short_id(self.id), "links changed while this server could not hear of it");
            epoch();
        }
        for (leavers, code, reason) in revokes {
            self.peers.close_where(leavers, code, reason);
        }
    }

    /// Publishes the presence frames this server's peers caused to the other servers.
    fn publish_presence(&mut self) {
        let frames = self.peers.take_published();
        if let Some(shared) = &self.shared {
            for frame in frames {
                shared.publish_presence(&frame);
            }
        }
    }

    /// Whether `conn`'s address has spent its budget of work.
    fn over_budget(&self, conn: ConnId) -> bool {
        let now = std::time::Instant::now();
        (self.peers.address(conn)).is_some_and(|at| self.services.work.over(at, now))
    }

    /// Charges `spent` to `conn`'s address; `true` when that spends its budget.
    fn charge(&self, conn: ConnId, spent: Duration) -> bool {
        let now = std::time::Instant::now();
        (self.peers.address(conn)).is_some_and(|at| self.services.work.charge(at, spent, now))
    }

    /// Sends `delivery` once update `seq` is durable, keeping the order of deliveries.
    fn hold(&mut self, seq: u64, delivery: Delivery) {
        if let Some(now) = self.outbox.push(seq, delivery, self.persist.durable()) {
            self.deliver(now);
        }
    }

    fn deliver(&mut self, delivery: Delivery) {
        match delivery {
            Delivery::Relay { from, update } => {
                self.peers.broadcast(Some(from), &protocol::update(&update));
            }
            Delivery::Reply { to, frame } => self.peers.send(to, frame),
        }
    }

    fn begin_shutdown(&mut self) {
        self.peers
            .ask_all_to_close(close_code::GOING_AWAY, "server shutting down");
        self.lifecycle = Lifecycle::ShuttingDown {
            deadline: Instant::now() + SHUTDOWN_FLUSH_LIMIT,
        };
    }

    fn poison(&mut self) {
        self.peers
            .ask_all_to_close(close_code::INTERNAL, "room failed; reconnect");
        self.peers.clear();
        self.outbox.clear();
        self.lifecycle = Lifecycle::Poisoned;
    }

    fn next_deadline(&self) -> Option<Instant> {
        let own = match self.lifecycle {
            Lifecycle::Serving => self
                .idle_since
                .map(|t| t + self.services.settings.room_idle),
            // A hung write must not hold shutdown past its limit.
            Lifecycle::ShuttingDown { deadline } => Some(deadline),
            Lifecycle::Unloading | Lifecycle::Poisoned | Lifecycle::Deleted => None,
        };
        let store = self
            .persist
            .next_deadline(self.lifecycle.pace(), !self.peers.is_empty());
        // Only a serving room catches up (see `on_remote`).
        let serving = self.lifecycle == Lifecycle::Serving;
        let shared = (self.shared.as_ref()).map(|shared| match serving {
            true => (shared.next_links_check()).map_or(shared.next_deadline(), |check| {
                check.min(shared.next_deadline())
            }),
            false => shared.next_tick(),
        });
        own.into_iter().chain(store).chain(shared).min()
    }

    fn on_timers(&mut self) {
        let now = Instant::now();
        if let Some(shared) = &mut self.shared {
            if self.lifecycle == Lifecycle::Serving {
                shared.heal_if_due(&self.services.store, now);
                shared.check_links_if_due(&self.services.store, now, self.key.room, false);
            }
            if now >= shared.next_tick() {
                let peers = &self.peers;
                if let Some(removal) = shared.expire(now, |client| peers.holds_client(client)) {
                    self.peers.broadcast(None, &removal);
                }
            }
            shared.tick_if_due(now, self.peers.len());
        }
        // The store has been failing for a while: nothing can be relayed, so every peer
        // is told to come back later (their editors keep what they type meanwhile and
        // merge it on reconnect) instead of looking connected while nobody sees their edits.
        if self.persist.check_outage(now) && !self.peers.is_empty() {
            tracing::warn!(room = %short_id(self.id), peers = self.peers.len(), "store failing; disconnecting peers until it recovers");
            let reason = "storage unavailable; retry later";
            self.peers.close_all(close_code::TRY_AGAIN_LATER, reason);
        }
        // The last person left: count the idle time, and bring the stored mirror up to
        // date now.
        if self.peers.is_empty() && self.idle_since.is_none() {
            self.idle_since = Some(now);
            self.persist.mirror_soon();
        }
        let idle_over = self
            .idle_since
            .is_some_and(|t| t + self.services.settings.room_idle <= now);
        if self.lifecycle == Lifecycle::Serving && self.peers.is_empty() && idle_over {
            self.lifecycle = Lifecycle::Unloading;
        }
    }

    /// Whether the room has nothing left to do and may unload.
    fn finished(&self) -> bool {
        let settled = self.persist.settled(self.lifecycle.pace());
        match self.lifecycle {
            Lifecycle::Serving => false,
            Lifecycle::Unloading => self.peers.is_empty() && settled,
            Lifecycle::ShuttingDown { deadline } => settled || Instant::now() >= deadline,
            Lifecycle::Poisoned => settled,
            Lifecycle::Deleted => true,
        }
    }
}

/// Resolves when one of the room's reads for the cluster finishes; pending forever when
/// it has none.
async fn read_finished(shared: &mut Option<Shared>) -> Finished {
    match shared {
        Some(shared) => shared.read_finished().await,
        None => std::future::pending().await,
    }
}

fn far_future() -> Instant {
    Instant::now() + Duration::from_secs(86_400)
}
