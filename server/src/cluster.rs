//! Several servers, one set of rooms (`--redis-url`). PostgreSQL stays the durable truth;
//! Redis pub/sub carries the live traffic between servers, one channel per loaded
//! document (`pairpad:doc:{id}`) and one for events that concern every server
//! (`pairpad:events`).
//!
//! A server that stores updates publishes them with their numbers in the document's log
//! (see [`crate::store::Store::catch_up`]); every other server that has the document
//! loaded applies them in order and relays them to its own peers. Pub/sub may drop
//! messages (Redis restarting, a slow subscriber), so a server that sees a gap in the
//! numbers, or hears from another that the log went further than it has, fetches what it
//! lacks from the store. Presence crosses too, and each server's presence in a document
//! expires everywhere once its ticks stop (the server died or lost Redis).
//!
//! Nothing here waits on Redis in a room's path: messages go through a bounded queue to
//! one publishing task, and what cannot be queued is dropped (and healed from the store).

use std::collections::{HashMap, HashSet};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex, OnceLock, PoisonError, Weak};
use std::time::Duration;

use bytes::Bytes;
use futures_util::StreamExt;
use tokio::sync::Notify;
use tokio_util::sync::CancellationToken;
use tokio_util::task::TaskTracker;
use uuid::Uuid;

use crate::metrics::Metrics;
use crate::sync::RoomRegistry;

/// One server in the cluster (random, new at each start).
pub type InstanceId = u64;

/// Messages waiting for the publishing task; past this they are dropped.
const OUTGOING: usize = 16_384;
/// Most messages sent to Redis in one pipeline.
const PIPELINE: usize = 256;
/// Documents (un)subscribed per command.
const SUBSCRIBE_CHUNK: usize = 512;
/// How often the publishing connection pings Redis (and measures the round trip).
const PING_EVERY: Duration = Duration::from_secs(2);
/// A connection attempt or command slower than this counts as failed.
const REDIS_TIMEOUT: Duration = Duration::from_secs(3);
/// Longest wait between reconnection attempts.
const MAX_BACKOFF: Duration = Duration::from_secs(2);
/// The channel of events for every server.
const EVENTS: &str = "pairpad:events";

/// What another server said about a document, handed to the document's room.
#[derive(Debug, Clone)]
pub enum Remote {
    /// Updates it stored, numbered `first`, `first + 1`, … in the document's log.
    Updates {
        /// Who stored them.
        from: InstanceId,
        /// The first one's number.
        first: i64,
        /// The updates (Yjs v1), in order.
        updates: Vec<Bytes>,
    },
    /// A presence change among its peers, as a y-websocket awareness frame.
    Presence {
        /// Whose peers.
        from: InstanceId,
        /// The frame.
        frame: Bytes,
    },
    /// It has the document loaded, with `people` connections, and its copy holds the
    /// log through `top`.
    Tick {
        /// Who.
        from: InstanceId,
        /// Its connections to the document.
        people: u32,
        /// The last number its copy holds.
        top: i64,
    },
    /// It unloaded the document (or is stopping): its presence is gone.
    Bye {
        /// Who.
        from: InstanceId,
    },
    /// It just loaded the document (or subscribed again) and asks for everyone's presence.
    Query {
        /// Who asks.
        from: InstanceId,
    },
    /// This server (re)subscribed to the document: what was published before may be
    /// lost, so it catches up from the store and announces itself.
    Resubscribed,
}

/// An event every server must act on: it concerns connections on all of them.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
#[serde(tag = "kind", rename_all = "camelCase")]
pub enum Event {
    /// A room's access or links changed: connections that `leavers` names are closed.
    Revoke {
        /// The room.
        room: Uuid,
        /// Who goes: "editors" (all but the owner), "edit" or "view" (who came by that
        /// link).
        leavers: String,
        /// The close code.
        code: u16,
        /// The reason.
        reason: String,
    },
    /// A document was deleted (the whole room when `whole`).
    Deleted {
        /// The room.
        room: Uuid,
        /// The document.
        doc: Uuid,
        /// Whether the whole room went.
        whole: bool,
    },
    /// A file of a room moved.
    Moved {
        /// The room.
        room: Uuid,
        /// The file.
        doc: Uuid,
        /// Its path now.
        path: String,
    },
    /// A room's list of files changed: a file was listed (created or renamed) or
    /// removed.
    Files {
        /// The room.
        room: Uuid,
        /// The file.
        file: Uuid,
        /// Its path and rename count; none when it was removed.
        listed: Option<(String, i64)>,
    },
}

#[derive(serde::Serialize, serde::Deserialize)]
struct EventMessage {
    from: InstanceId,
    event: Event,
}

/// What handles the events other servers publish.
pub type EventHandler = Box<dyn Fn(Event) + Send + Sync>;

/// This server's side of the cluster.
pub struct Cluster {
    instance: InstanceId,
    client: redis::Client,
    outgoing: flume::Sender<Outgoing>,
    incoming: flume::Receiver<Outgoing>,
    /// The publishing connection while it works (for reads: who is where).
    reader: Mutex<Option<redis::aio::MultiplexedConnection>>,
    /// Documents loaded here (whose channels to subscribe to), with how many rooms hold
    /// each (an unloading room and its successor may overlap).
    watched: Mutex<HashMap<Uuid, usize>>,
    watch_changed: Notify,
    publishing: AtomicBool,
    subscribed: AtomicBool,
    metrics: Arc<Metrics>,
    registry: OnceLock<Weak<RoomRegistry>>,
    on_event: OnceLock<EventHandler>,
}

impl std::fmt::Debug for Cluster {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Cluster")
            .field("instance", &self.instance)
            .finish_non_exhaustive()
    }
}

/// Why the cluster could not be set up.
#[derive(Debug, thiserror::Error)]
#[error("bad Redis URL: {0}")]
pub struct ClusterError(#[from] redis::RedisError);

impl Cluster {
    /// A cluster over the Redis server at `url` (nothing is connected until
    /// [`Self::start`]).
    pub fn new(url: &str, metrics: Arc<Metrics>) -> Result<Arc<Self>, ClusterError> {
        let client = redis::Client::open(url)?;
        let (outgoing, incoming) = flume::bounded(OUTGOING);
        let bytes = *Uuid::new_v4().as_bytes();
        let mut id = [0u8; 8];
        id.copy_from_slice(&bytes[..8]);
        Ok(Arc::new(Self {
            instance: u64::from_le_bytes(id),
            client,
            outgoing,
            incoming,
            reader: Mutex::new(None),
            watched: Mutex::new(HashMap::new()),
            watch_changed: Notify::new(),
            publishing: AtomicBool::new(false),
            subscribed: AtomicBool::new(false),
            metrics,
            registry: OnceLock::new(),
            on_event: OnceLock::new(),
        }))
    }

    /// This server's id.
    pub fn instance(&self) -> InstanceId {
        self.instance
    }

    /// Whether Redis is reachable for publishing and subscribing now.
    pub fn is_up(&self) -> bool {
        self.publishing.load(Ordering::Relaxed) && self.subscribed.load(Ordering::Relaxed)
    }

    /// Connects and keeps connecting to Redis until `shutdown`: the publishing and the
    /// subscribing task. Messages for documents go to `registry`'s rooms, events to
    /// `on_event`.
    pub fn start(
        self: &Arc<Self>,
        registry: &Arc<RoomRegistry>,
        on_event: EventHandler,
        shutdown: CancellationToken,
        tracker: &TaskTracker,
    ) {
        let _ = self.registry.set(Arc::downgrade(registry));
        let _ = self.on_event.set(on_event);
        tracker.spawn(self.clone().publish_forever(shutdown.clone()));
        tracker.spawn(self.clone().subscribe_forever(shutdown));
    }

    /// Subscribes to document `doc`'s channel (its room just loaded); the room hears
    /// [`Remote::Resubscribed`] once the subscription is in place.
    pub fn watch(&self, doc: Uuid) {
        *self.lock_watched().entry(doc).or_default() += 1;
        self.watch_changed.notify_one();
    }

    /// Unsubscribes from document `doc`'s channel (its room unloaded).
    pub fn unwatch(&self, doc: Uuid) {
        let mut watched = self.lock_watched();
        if let Some(count) = watched.get_mut(&doc) {
            *count -= 1;
            if *count == 0 {
                watched.remove(&doc);
            }
        }
        drop(watched);
        self.watch_changed.notify_one();
    }

    fn lock_watched(&self) -> std::sync::MutexGuard<'_, HashMap<Uuid, usize>> {
        self.watched.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// Publishes updates stored for `doc` under numbers `first`, `first + 1`, ….
    pub fn publish_updates(&self, doc: Uuid, first: i64, updates: &[Bytes]) {
        let size: usize = updates.iter().map(|u| u.len() + 4).sum();
        let mut message = self.header(Kind::Updates, 12 + size);
        message.extend_from_slice(&first.to_le_bytes());
        message.extend_from_slice(&(updates.len() as u32).to_le_bytes());
        for update in updates {
            message.extend_from_slice(&(update.len() as u32).to_le_bytes());
            message.extend_from_slice(update);
        }
        if self.send(doc_channel(doc), message) {
            self.metrics.cluster_published.inc_by(updates.len() as u64);
        }
    }

    /// Publishes a presence frame from this server's peers of `doc`.
    pub fn publish_presence(&self, doc: Uuid, frame: &[u8]) {
        let mut message = self.header(Kind::Presence, frame.len());
        message.extend_from_slice(frame);
        self.send(doc_channel(doc), message);
    }

    /// Tells the other servers that `doc` is loaded here with `people` connections and
    /// its copy holds the log through `top`, and records the count for servers that do
    /// not have it loaded (see [`Self::people`]).
    pub fn publish_tick(&self, doc: Uuid, people: u32, top: i64) {
        let mut message = self.header(Kind::Tick, 12);
        message.extend_from_slice(&people.to_le_bytes());
        message.extend_from_slice(&top.to_le_bytes());
        self.send(doc_channel(doc), message);
        let count = Outgoing::People {
            key: people_key(doc),
            field: self.instance.to_string(),
            value: format!("{people}:{}", crate::store::now_millis()),
        };
        if self.publishing.load(Ordering::Relaxed) && self.outgoing.try_send(count).is_err() {
            self.metrics.cluster_dropped.inc();
        }
    }

    /// People connected to document `doc` on the servers that have it loaded, as their
    /// last ticks said; `None` when Redis cannot tell.
    pub async fn people(&self, doc: Uuid) -> Option<usize> {
        let mut connection = self
            .reader
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .clone()?;
        let mut command = redis::cmd("HGETALL");
        command.arg(people_key(doc));
        let read = command.query_async::<Vec<(String, String)>>(&mut connection);
        let fields = tokio::time::timeout(READ_TIMEOUT, read).await.ok()?.ok()?;
        let now = crate::store::now_millis();
        let fresh = i64::try_from(EXPIRE_PEOPLE.as_millis()).unwrap_or(i64::MAX);
        Some(
            fields
                .iter()
                .filter_map(|(_, value)| {
                    let (count, at) = value.split_once(':')?;
                    let at: i64 = at.parse().ok()?;
                    (now - at < fresh).then(|| count.parse::<usize>().ok())?
                })
                .sum(),
        )
    }

    /// Tells the other servers that `doc` unloaded here.
    pub fn publish_bye(&self, doc: Uuid) {
        let message = self.header(Kind::Bye, 0);
        self.send(doc_channel(doc), message);
    }

    /// Asks the other servers for their presence in `doc`.
    pub fn publish_query(&self, doc: Uuid) {
        let message = self.header(Kind::Query, 0);
        self.send(doc_channel(doc), message);
    }

    /// Publishes `event` for every other server.
    pub fn publish_event(&self, event: Event) {
        let message = EventMessage {
            from: self.instance,
            event,
        };
        match serde_json::to_vec(&message) {
            Ok(json) => {
                self.send(EVENTS.to_string(), json);
            }
            Err(error) => tracing::error!(%error, "cannot encode a cluster event"),
        }
    }

    fn header(&self, kind: Kind, rest: usize) -> Vec<u8> {
        let mut message = Vec::with_capacity(9 + rest);
        message.push(kind as u8);
        message.extend_from_slice(&self.instance.to_le_bytes());
        message
    }

    /// Queues a message for the publishing task; `false` when it was dropped.
    fn send(&self, channel: String, message: Vec<u8>) -> bool {
        if !self.publishing.load(Ordering::Relaxed) {
            self.metrics.cluster_dropped.inc();
            return false;
        }
        match self
            .outgoing
            .try_send(Outgoing::Publish { channel, message })
        {
            Ok(()) => true,
            Err(_) => {
                self.metrics.cluster_dropped.inc();
                false
            }
        }
    }

    /// Connects with `connect`, trying again with backoff until it works; `None` once
    /// shutting down. Each failure marks `which` connection down.
    async fn connect_retrying<T, F, Fut>(
        &self,
        which: &AtomicBool,
        shutdown: &CancellationToken,
        connect: F,
    ) -> Option<T>
    where
        F: Fn() -> Fut,
        Fut: std::future::Future<Output = redis::RedisResult<T>>,
    {
        let mut backoff = Duration::from_millis(100);
        loop {
            let attempt = tokio::select! {
                () = shutdown.cancelled() => return None,
                attempt = tokio::time::timeout(REDIS_TIMEOUT, connect()) => attempt,
            };
            match attempt {
                Ok(Ok(connected)) => return Some(connected),
                Ok(Err(error)) => self.down(which, &error.to_string()),
                Err(_) => self.down(which, "connecting timed out"),
            }
            tokio::select! {
                () = shutdown.cancelled() => return None,
                () = tokio::time::sleep(backoff) => {}
            }
            backoff = (backoff * 2).min(MAX_BACKOFF);
        }
    }

    async fn publish_forever(self: Arc<Self>, shutdown: CancellationToken) {
        let connect = || self.client.get_multiplexed_async_connection();
        while let Some(mut connection) =
            (self.connect_retrying(&self.publishing, &shutdown, connect)).await
        {
            // What was queued while Redis was away is stale: the rooms heal from the
            // store when they resubscribe.
            let stale = self.incoming.drain().count();
            self.metrics.cluster_dropped.inc_by(stale as u64);
            *self.reader.lock().unwrap_or_else(PoisonError::into_inner) = Some(connection.clone());
            self.publishing.store(true, Ordering::Relaxed);
            self.note_up();
            let mut ping = tokio::time::interval(PING_EVERY);
            let failure = loop {
                tokio::select! {
                    () = shutdown.cancelled() => return,
                    first = self.incoming.recv_async() => {
                        let Ok(first) = first else { return };
                        let mut pipe = redis::pipe();
                        for outgoing in std::iter::once(first).chain(self.incoming.try_iter().take(PIPELINE - 1)) {
                            outgoing.add_to(&mut pipe);
                        }
                        let sent = tokio::time::timeout(REDIS_TIMEOUT, pipe.query_async::<()>(&mut connection)).await;
                        match sent {
                            Ok(Ok(())) => {}
                            Ok(Err(error)) => break error.to_string(),
                            Err(_) => break "publishing timed out".to_string(),
                        }
                    }
                    _ = ping.tick() => {
                        let started = std::time::Instant::now();
                        let pong = tokio::time::timeout(REDIS_TIMEOUT, redis::cmd("PING").query_async::<String>(&mut connection)).await;
                        match pong {
                            Ok(Ok(_)) => self.metrics.redis_latency_seconds.observe(started.elapsed().as_secs_f64()),
                            Ok(Err(error)) => break error.to_string(),
                            Err(_) => break "ping timed out".to_string(),
                        }
                    }
                }
            };
            *self.reader.lock().unwrap_or_else(PoisonError::into_inner) = None;
            self.down(&self.publishing, &failure);
        }
    }

    async fn subscribe_forever(self: Arc<Self>, shutdown: CancellationToken) {
        let connect = || self.client.get_async_pubsub();
        while let Some(pubsub) = (self.connect_retrying(&self.subscribed, &shutdown, connect)).await
        {
            let failure = self.serve_subscription(pubsub, &shutdown).await;
            if shutdown.is_cancelled() {
                return;
            }
            self.down(&self.subscribed, &failure);
        }
    }

    /// Keeps the subscriptions in step with the loaded documents and hands on what
    /// arrives, until the connection fails (the reason is returned) or `shutdown`.
    async fn serve_subscription(
        &self,
        pubsub: redis::aio::PubSub,
        shutdown: &CancellationToken,
    ) -> String {
        let (mut sink, mut stream) = pubsub.split();
        if let Err(error) = sink.subscribe(EVENTS).await {
            return error.to_string();
        }
        let mut subscribed: HashSet<Uuid> = HashSet::new();
        self.subscribed.store(true, Ordering::Relaxed);
        self.note_up();
        loop {
            let wanted: HashSet<Uuid> = self.lock_watched().keys().copied().collect();
            let added: Vec<Uuid> = wanted.difference(&subscribed).copied().collect();
            let removed: Vec<Uuid> = subscribed.difference(&wanted).copied().collect();
            for chunk in added.chunks(SUBSCRIBE_CHUNK) {
                let channels: Vec<String> = chunk.iter().map(|&d| doc_channel(d)).collect();
                if let Err(error) = sink.subscribe(&channels).await {
                    return error.to_string();
                }
                subscribed.extend(chunk);
                for &doc in chunk {
                    self.hand_to_room(doc, Remote::Resubscribed);
                }
            }
            for chunk in removed.chunks(SUBSCRIBE_CHUNK) {
                let channels: Vec<String> = chunk.iter().map(|&d| doc_channel(d)).collect();
                if let Err(error) = sink.unsubscribe(&channels).await {
                    return error.to_string();
                }
                for doc in chunk {
                    subscribed.remove(doc);
                }
            }
            tokio::select! {
                () = shutdown.cancelled() => return "shutting down".into(),
                () = self.watch_changed.notified() => {}
                message = stream.next() => match message {
                    Some(message) => self.dispatch(&message),
                    None => return "the subscription connection closed".into(),
                },
            }
        }
    }

    fn note_up(&self) {
        if self.is_up() {
            self.metrics.redis_up.set(1);
            tracing::info!("connected to Redis");
        }
    }

    fn down(&self, which: &AtomicBool, why: &str) {
        let was_up = self.is_up();
        which.store(false, Ordering::Relaxed);
        self.metrics.redis_up.set(0);
        if was_up {
            tracing::warn!(error = %why, "lost Redis; serving this server's own peers until it is back");
        } else {
            tracing::debug!(error = %why, "Redis unreachable");
        }
    }

    fn dispatch(&self, message: &redis::Msg) {
        let channel = message.get_channel_name();
        let payload = message.get_payload_bytes();
        if channel == EVENTS {
            match serde_json::from_slice::<EventMessage>(payload) {
                Ok(event) if event.from != self.instance => {
                    if let Some(handle) = self.on_event.get() {
                        handle(event.event);
                    }
                }
                Ok(_) => {}
                Err(error) => tracing::debug!(%error, "ignoring an unreadable cluster event"),
            }
            return;
        }
        let Some(doc) = channel
            .strip_prefix(DOC_PREFIX)
            .and_then(|id| Uuid::try_parse(id).ok())
        else {
            return;
        };
        match decode(payload) {
            Some(remote) if remote_from(&remote) != Some(self.instance) => {
                if let Remote::Updates { updates, .. } = &remote {
                    self.metrics.cluster_received.inc_by(updates.len() as u64);
                }
                self.hand_to_room(doc, remote);
            }
            Some(_) => {}
            None => tracing::debug!("ignoring an unreadable cluster message"),
        }
    }

    /// Hands `remote` to document `doc`'s room if it is loaded; a room whose queue is full
    /// misses it (and heals from the store: its numbers show the gap).
    fn hand_to_room(&self, doc: Uuid, remote: Remote) {
        let Some(registry) = self.registry.get().and_then(Weak::upgrade) else {
            return;
        };
        if !registry.offer(doc, crate::sync::RoomCommand::Cluster(remote)) {
            self.metrics.cluster_dropped.inc();
        }
    }
}

const DOC_PREFIX: &str = "pairpad:doc:";

/// How long a server's count of people in a document stands without a newer tick.
const EXPIRE_PEOPLE: Duration = Duration::from_secs(7);
/// Longest a read of the counts may take (it is in a REST request's path).
const READ_TIMEOUT: Duration = Duration::from_millis(500);

/// What the publishing task sends to Redis.
enum Outgoing {
    /// A message on a channel.
    Publish { channel: String, message: Vec<u8> },
    /// This server's count of people in a document, in the document's hash.
    People {
        key: String,
        field: String,
        value: String,
    },
}

impl Outgoing {
    fn add_to(self, pipe: &mut redis::Pipeline) {
        match self {
            Self::Publish { channel, message } => {
                pipe.cmd("PUBLISH").arg(channel).arg(message).ignore();
            }
            Self::People { key, field, value } => {
                pipe.cmd("HSET").arg(&key).arg(field).arg(value).ignore();
                let expire = u64::try_from(EXPIRE_PEOPLE.as_millis()).unwrap_or(u64::MAX);
                pipe.cmd("PEXPIRE").arg(key).arg(expire).ignore();
            }
        }
    }
}

fn people_key(doc: Uuid) -> String {
    format!("pairpad:people:{doc}")
}

fn doc_channel(doc: Uuid) -> String {
    format!("{DOC_PREFIX}{doc}")
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[repr(u8)]
enum Kind {
    Updates = 1,
    Presence = 2,
    Tick = 3,
    Bye = 4,
    Query = 5,
}

fn remote_from(remote: &Remote) -> Option<InstanceId> {
    match remote {
        Remote::Updates { from, .. }
        | Remote::Presence { from, .. }
        | Remote::Tick { from, .. }
        | Remote::Bye { from }
        | Remote::Query { from } => Some(*from),
        Remote::Resubscribed => None,
    }
}

/// Reads a message published on a document's channel; `None` when it is malformed.
fn decode(payload: &[u8]) -> Option<Remote> {
    let (&kind, rest) = payload.split_first()?;
    let (from, rest) = take_u64(rest)?;
    Some(match kind {
        k if k == Kind::Updates as u8 => {
            let (first, rest) = take_u64(rest)?;
            let (count, mut rest) = take_u32(rest)?;
            let mut updates = Vec::with_capacity((count as usize).min(rest.len() / 4));
            for _ in 0..count {
                let (len, after) = take_u32(rest)?;
                let len = usize::try_from(len).ok()?;
                if after.len() < len {
                    return None;
                }
                updates.push(Bytes::copy_from_slice(&after[..len]));
                rest = &after[len..];
            }
            Remote::Updates {
                from,
                first: i64::from_le_bytes(first.to_le_bytes()),
                updates,
            }
        }
        k if k == Kind::Presence as u8 => Remote::Presence {
            from,
            frame: Bytes::copy_from_slice(rest),
        },
        k if k == Kind::Tick as u8 => {
            let (people, rest) = take_u32(rest)?;
            let (top, _) = take_u64(rest)?;
            Remote::Tick {
                from,
                people,
                top: i64::from_le_bytes(top.to_le_bytes()),
            }
        }
        k if k == Kind::Bye as u8 => Remote::Bye { from },
        k if k == Kind::Query as u8 => Remote::Query { from },
        _ => return None,
    })
}

fn take_u64(bytes: &[u8]) -> Option<(u64, &[u8])> {
    let (head, rest) = bytes.split_at_checked(8)?;
    Some((u64::from_le_bytes(head.try_into().ok()?), rest))
}

fn take_u32(bytes: &[u8]) -> Option<(u32, &[u8])> {
    let (head, rest) = bytes.split_at_checked(4)?;
    Some((u32::from_le_bytes(head.try_into().ok()?), rest))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn messages_read_back_and_truncated_ones_are_refused() {
        let metrics = Arc::new(Metrics::new());
        let cluster = Cluster::new("redis://127.0.0.1:1/", metrics).unwrap();
        let mut message = cluster.header(Kind::Updates, 0);
        message.extend_from_slice(&7i64.to_le_bytes());
        message.extend_from_slice(&2u32.to_le_bytes());
        for update in [&b"ab"[..], &b"cde"[..]] {
            message.extend_from_slice(&(update.len() as u32).to_le_bytes());
            message.extend_from_slice(update);
        }
        match decode(&message) {
            Some(Remote::Updates {
                from,
                first,
                updates,
            }) => {
                assert_eq!(from, cluster.instance());
                assert_eq!(first, 7);
                assert_eq!(updates, vec![Bytes::from("ab"), Bytes::from("cde")]);
            }
            other => panic!("{other:?}"),
        }
        for cut in 0..message.len() {
            assert!(decode(&message[..cut]).is_none(), "cut at {cut}");
        }
        // A count far larger than the message does not allocate for it.
        let mut lying = cluster.header(Kind::Updates, 0);
        lying.extend_from_slice(&1i64.to_le_bytes());
        lying.extend_from_slice(&u32::MAX.to_le_bytes());
        assert!(decode(&lying).is_none());
        let mut tick = cluster.header(Kind::Tick, 12);
        tick.extend_from_slice(&3u32.to_le_bytes());
        tick.extend_from_slice(&42i64.to_le_bytes());
        assert!(matches!(
            decode(&tick),
            Some(Remote::Tick {
                people: 3,
                top: 42,
                ..
            })
        ));
    }
}
