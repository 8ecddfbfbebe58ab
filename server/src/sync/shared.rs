//! A room's side of the cluster (`--redis-url`): where its copy of the document stands in
//! the document's log, what other servers published that it cannot apply yet, the
//! catch-up from the store when it missed something, and the presence of other servers'
//! peers.
//!
//! The log's numbers are the store's (see [`crate::store::Store::catch_up`]): one series
//! per document, committed in order. The copy holds every update through `through`; an
//! update numbered past `through + 1` waits until the gap fills, since applying it first
//! could leave yrs holding it aside, and after [`HEAL_AFTER`] the room reads what it lacks
//! from the store.

use std::collections::{BTreeMap, HashMap};
use std::sync::Arc;
use std::time::Duration;

use bytes::Bytes;
use futures_util::future::BoxFuture;
use futures_util::FutureExt;
use tokio::time::Instant;
use uuid::Uuid;
use yrs::sync::awareness::AwarenessUpdateEntry;
use yrs::sync::AwarenessUpdate;
use yrs::ClientID;

use super::protocol::{self, Incoming};
use crate::cluster::{Cluster, InstanceId};
use crate::store::{Catchup, RoomLinks, Store, StoreError};

/// How long a gap may stay open before the room reads what it lacks from the store (pub/sub
/// delivers one server's messages in order, but two servers' may cross).
pub const HEAL_AFTER: Duration = Duration::from_millis(300);
/// How often a room tells the other servers it is here, how many it serves and how far its
/// copy goes.
pub const TICK_EVERY: Duration = Duration::from_secs(2);
/// A server not heard from for this long is gone: its peers' presence is removed.
pub const EXPIRE_AFTER: Duration = Duration::from_secs(7);
/// Bytes of other servers' updates held while waiting for a gap to fill; past this they
/// are dropped, and read from the store instead.
const MAX_WAITING_BYTES: usize = 16 << 20;
/// Presence states kept per other server and document.
const MAX_REMOTE_CLIENTS: usize = 512;
/// How often a room checks its links and access in the store while Redis is down (the
/// events that say they changed cannot come).
pub const LINKS_CHECK_EVERY: Duration = Duration::from_secs(5);
/// Other servers kept track of per document.
const MAX_OTHERS: usize = 64;
/// How far past what the copy holds a published update may be numbered: further is taken
/// for a forged or corrupt message (no server commits that many while another reads).
const MAX_AHEAD: i64 = 1 << 16;

/// What the room needs to know of another server.
struct Other {
    heard: Instant,
    people: u32,
    top: i64,
    /// Its peers' presence: client id → (clock, state).
    clients: HashMap<u64, (u32, Arc<str>)>,
}

/// See the module docs.
pub(crate) struct Shared {
    cluster: Arc<Cluster>,
    doc: Uuid,
    /// The copy holds every update through this number.
    through: i64,
    /// Stored by this server past `through`: first number → last.
    own_ahead: BTreeMap<i64, i64>,
    /// Published by others past `through + 1`: first number → updates.
    waiting: BTreeMap<i64, Vec<Bytes>>,
    waiting_bytes: usize,
    /// Since when the copy has been known to lack something.
    behind_since: Option<Instant>,
    healing: Option<BoxFuture<'static, Result<Option<Catchup>, StoreError>>>,
    others: HashMap<InstanceId, Other>,
    next_tick: Instant,
    /// What the last tick said: people here, and whether this server stored anything
    /// since (a room nobody here uses, that writes nothing, need not tick).
    ticked_people: u32,
    stored_since_tick: bool,
    /// The room's links and access as last read from the store (`None` when unknown).
    links: Option<RoomLinks>,
    /// The read of them in flight, and whether its answer is only to be taken in (the
    /// change it would show was already acted on).
    checking: Option<(BoxFuture<'static, Result<Links, StoreError>>, bool)>,
    /// When to read them next.
    next_check: Option<Instant>,
}

/// A read from the store that finished (see [`Shared::read_finished`]).
pub(crate) enum Finished {
    /// The catch-up.
    Healed(Result<Option<Catchup>, StoreError>),
    /// The links, and whether they were only to be taken in.
    Links(Result<Links, StoreError>, bool),
}

/// A room's links and access as stored, and whether the document is still there.
pub(crate) struct Links {
    /// The room's links, `None` when the room is gone.
    pub room: Option<RoomLinks>,
    /// Whether the document (the room's own, or a file) still exists.
    pub doc_exists: bool,
}

impl Shared {
    /// A room whose copy of `doc` holds the log through `through`, and whose links were
    /// `links` when it loaded; subscribes to it.
    pub(crate) fn new(
        cluster: Arc<Cluster>,
        doc: Uuid,
        through: i64,
        links: Option<RoomLinks>,
    ) -> Self {
        cluster.watch(doc);
        Self {
            cluster,
            doc,
            through,
            own_ahead: BTreeMap::new(),
            waiting: BTreeMap::new(),
            waiting_bytes: 0,
            behind_since: None,
            healing: None,
            others: HashMap::new(),
            next_tick: Instant::now(),
            ticked_people: 0,
            stored_since_tick: true,
            links,
            checking: None,
            next_check: None,
        }
    }

    /// How far the copy holds the log: what a compaction may fold.
    pub(crate) fn through(&self) -> i64 {
        self.through
    }

    /// This server stored `updates` as numbers `first`, `first + 1`, …: tells the others,
    /// and counts them as held.
    pub(crate) fn stored(&mut self, first: i64, updates: &[Bytes]) {
        if updates.is_empty() {
            return;
        }
        self.cluster.publish_updates(self.doc, first, updates);
        self.stored_since_tick = true;
        let Some(last) = last_of(first, updates.len()) else {
            return;
        };
        if last > self.through {
            self.own_ahead.insert(first, last);
        }
    }

    /// Another server stored `updates` as numbers `first`, …: kept until they can apply.
    pub(crate) fn received(&mut self, first: i64, updates: Vec<Bytes>) {
        let Some(last) = last_of(first, updates.len()) else {
            return;
        };
        if last <= self.through || first < 1 || first - self.through > MAX_AHEAD {
            return;
        }
        let size: usize = updates.iter().map(Bytes::len).sum();
        if self.waiting_bytes + size > MAX_WAITING_BYTES {
            // Read from the store instead.
            self.behind_since.get_or_insert_with(Instant::now);
            return;
        }
        self.waiting_bytes += size;
        if let Some(replaced) = self.waiting.insert(first, updates) {
            self.waiting_bytes -= replaced.iter().map(Bytes::len).sum::<usize>();
        }
    }

    /// The updates that apply now, with their numbers, in order (those that follow on
    /// from what the copy holds); the copy is taken to hold them once they are returned,
    /// unless [`Self::not_applied`] says otherwise.
    pub(crate) fn ready(&mut self) -> Vec<(i64, Bytes)> {
        let mut ready = Vec::new();
        loop {
            if let Some((&first, &last)) = self.own_ahead.first_key_value() {
                if first <= self.through + 1 {
                    self.own_ahead.pop_first();
                    self.through = self.through.max(last);
                    continue;
                }
            }
            if let Some((&first, _)) = self.waiting.first_key_value() {
                if first <= self.through + 1 {
                    let Some((first, updates)) = self.waiting.pop_first() else {
                        break;
                    };
                    self.waiting_bytes -= updates.iter().map(Bytes::len).sum::<usize>();
                    let held = usize::try_from(self.through + 1 - first).unwrap_or(0);
                    let numbered = (first..).zip(updates).skip(held);
                    for (seq, update) in numbered {
                        ready.push((seq, update));
                        self.through = self.through.max(seq);
                    }
                    continue;
                }
            }
            break;
        }
        self.check_behind();
        ready
    }

    /// Update `seq` (returned by [`Self::ready`]) could not be applied (it was unreadable,
    /// or yrs refused it: a forged or corrupt message): the copy holds the log only up to
    /// before it, and reads the rest from the store.
    pub(crate) fn not_applied(&mut self, seq: i64) {
        self.through = self.through.min(seq - 1);
        self.behind_now();
    }

    /// Notes whether the copy lacks something it knows of.
    fn check_behind(&mut self) {
        let others_ahead = self.others.values().any(|o| o.top > self.through);
        if self.own_ahead.is_empty() && self.waiting.is_empty() && !others_ahead {
            self.behind_since = None;
        } else {
            self.behind_since.get_or_insert_with(Instant::now);
        }
    }

    /// The copy lacks something for certain (it resubscribed): read the store now.
    pub(crate) fn behind_now(&mut self) {
        self.behind_since = Some(Instant::now() - HEAL_AFTER);
    }

    /// Starts reading what the copy lacks from `store`, if a gap has been open long
    /// enough and no read is in flight.
    pub(crate) fn heal_if_due(&mut self, store: &Arc<dyn Store>, now: Instant) {
        let due = self
            .behind_since
            .is_some_and(|since| since + HEAL_AFTER <= now);
        if !due || self.healing.is_some() {
            return;
        }
        let (store, doc, after) = (store.clone(), self.doc, self.through);
        self.healing = Some(async move { store.catch_up(doc, after).await }.boxed());
    }

    /// The catch-up read finished: the copy holds the log through `through` once what it
    /// read is applied.
    pub(crate) fn caught_up(&mut self, through: Option<i64>) {
        self.healing = None;
        let Some(through) = through else {
            // The read failed: try again after another wait.
            self.behind_since = Some(Instant::now());
            return;
        };
        self.through = self.through.max(through);
        let held = self.through;
        self.own_ahead.retain(|_, last| *last > held);
        let mut dropped = 0;
        self.waiting.retain(|first, updates| {
            let keep = first + updates.len() as i64 - 1 > held;
            if !keep {
                dropped += updates.iter().map(Bytes::len).sum::<usize>();
            }
            keep
        });
        self.waiting_bytes -= dropped;
        self.behind_since = None;
    }

    /// Another server's tick: it serves `people` here and its copy goes through `top`.
    pub(crate) fn heard_tick(&mut self, from: InstanceId, people: u32, top: i64) {
        let Some(other) = self.other(from) else {
            return;
        };
        other.people = people;
        other.top = other.top.max(top);
        if top > self.through {
            self.behind_since.get_or_insert_with(Instant::now);
        }
    }

    /// Another server's record, made when it is first heard of (`None` past
    /// [`MAX_OTHERS`]: made-up server ids cannot grow the room without bound).
    fn other(&mut self, from: InstanceId) -> Option<&mut Other> {
        if self.others.len() >= MAX_OTHERS && !self.others.contains_key(&from) {
            return None;
        }
        let other = self.others.entry(from).or_insert_with(|| Other {
            heard: Instant::now(),
            people: 0,
            top: 0,
            clients: HashMap::new(),
        });
        other.heard = Instant::now();
        Some(other)
    }

    /// Another server's presence frame: recorded, and returned to relay to this server's
    /// peers (`None` when it is not a presence frame or holds nothing to relay). States of
    /// client ids `here` says are connected to this server now (someone who moved here,
    /// whose old connection closed over there) are left out.
    pub(crate) fn heard_presence(
        &mut self,
        from: InstanceId,
        frame: Bytes,
        here: impl Fn(u64) -> bool,
    ) -> Option<Bytes> {
        let messages = protocol::decode_frame(&frame).ok()?;
        let other = self.other(from)?;
        let mut relayed = HashMap::new();
        let mut left_out = false;
        for message in messages {
            let Incoming::Awareness(update) = message else {
                continue;
            };
            for (client, entry) in update.clients {
                // The same rules as for this server's own peers: a state that would break
                // or burden every client is not passed on.
                if here(client.get()) || super::presence::check_state(&entry.json).is_err() {
                    left_out = true;
                    continue;
                }
                if super::presence::is_null(&entry.json) {
                    other.clients.remove(&client.get());
                } else if other.clients.len() < MAX_REMOTE_CLIENTS
                    || other.clients.contains_key(&client.get())
                {
                    other
                        .clients
                        .insert(client.get(), (entry.clock, entry.json.clone()));
                }
                relayed.insert(client, entry);
            }
        }
        match (relayed.is_empty(), left_out) {
            (true, _) => None,
            (false, false) => Some(frame),
            (false, true) => Some(protocol::awareness(AwarenessUpdate { clients: relayed })),
        }
    }

    /// Whether another server has client id `client` among its peers.
    pub(crate) fn holds_elsewhere(&self, client: u64) -> bool {
        self.others
            .values()
            .any(|o| o.clients.contains_key(&client))
    }

    /// Everyone's presence on other servers as one frame, for a newcomer (but for the
    /// client ids `here` says are connected to this server now).
    pub(crate) fn presence_frame(&self, here: impl Fn(u64) -> bool) -> Option<Bytes> {
        let clients: HashMap<ClientID, AwarenessUpdateEntry> = (self.others.values())
            .flat_map(|other| other.clients.iter())
            .filter(|(&client, _)| !here(client))
            .map(|(&client, (clock, json))| {
                let entry = AwarenessUpdateEntry {
                    clock: *clock,
                    json: json.clone(),
                };
                (ClientID::new(client), entry)
            })
            .collect();
        (!clients.is_empty()).then(|| protocol::awareness(AwarenessUpdate { clients }))
    }

    /// Another server unloaded the document or stopped: the frame that removes its
    /// peers' presence, if it had any (but for the client ids `here` says are connected
    /// to this server now: someone who moved here from it).
    pub(crate) fn gone(&mut self, from: InstanceId, here: impl Fn(u64) -> bool) -> Option<Bytes> {
        let other = self.others.remove(&from)?;
        let clients: HashMap<ClientID, AwarenessUpdateEntry> = removal_entries(other)
            .filter(|(client, _)| !here(client.get()) && !self.holds_elsewhere(client.get()))
            .collect();
        (!clients.is_empty()).then(|| protocol::awareness(AwarenessUpdate { clients }))
    }

    /// Removes the servers not heard from in [`EXPIRE_AFTER`]; the frame that removes
    /// their peers' presence, if any (see [`Self::gone`] for `here`).
    pub(crate) fn expire(&mut self, now: Instant, here: impl Fn(u64) -> bool) -> Option<Bytes> {
        let silent: Vec<InstanceId> = (self.others.iter())
            .filter(|(_, other)| other.heard + EXPIRE_AFTER <= now)
            .map(|(&id, _)| id)
            .collect();
        let mut clients = HashMap::new();
        let mut gone = Vec::new();
        for id in silent {
            tracing::info!(
                instance = id,
                "another server went silent; removing its presence"
            );
            gone.extend(self.others.remove(&id));
        }
        // Someone who moved to another server that is still heard from stays.
        for other in gone {
            clients.extend(
                removal_entries(other).filter(|(client, _)| {
                    !here(client.get()) && !self.holds_elsewhere(client.get())
                }),
            );
        }
        self.check_behind();
        (!clients.is_empty()).then(|| protocol::awareness(AwarenessUpdate { clients }))
    }

    /// People connected to the document on other servers.
    pub(crate) fn people_elsewhere(&self) -> usize {
        self.others.values().map(|o| o.people as usize).sum()
    }

    /// When the next tick is due.
    pub(crate) fn next_tick(&self) -> Instant {
        self.next_tick
    }

    /// When the room next has something to do here: a tick, or a catch-up once a gap has
    /// been open for [`HEAL_AFTER`].
    pub(crate) fn next_deadline(&self) -> Instant {
        let heal = (self.behind_since)
            .filter(|_| self.healing.is_none())
            .map(|since| since + HEAL_AFTER);
        heal.map_or(self.next_tick, |heal| heal.min(self.next_tick))
    }

    /// Sends a tick if one is due.
    pub(crate) fn tick_if_due(&mut self, now: Instant, people: usize) {
        if now < self.next_tick {
            return;
        }
        self.next_tick = now + TICK_EVERY;
        let people = u32::try_from(people).unwrap_or(u32::MAX);
        // Nobody here, before as now, and nothing stored: nothing to tell (others need
        // a tick to keep this server's people, or to learn how far its log went).
        if people == 0 && self.ticked_people == 0 && !self.stored_since_tick {
            return;
        }
        self.cluster.publish_tick(self.doc, people, self.through);
        self.ticked_people = people;
        self.stored_since_tick = false;
    }

    /// Reads the room's links again soon (Redis came back: a change made meanwhile was
    /// not heard of).
    pub(crate) fn check_links_soon(&mut self) {
        self.next_check = Some(Instant::now());
    }

    /// Starts reading the room's (`room`) links and whether document `doc` exists, when
    /// a read is due: asked for, or every [`LINKS_CHECK_EVERY`] while Redis is down.
    /// With `adopt`, the answer is only taken in (a change was just acted on here).
    pub(crate) fn check_links_if_due(
        &mut self,
        store: &Arc<dyn Store>,
        now: Instant,
        room: Uuid,
        adopt: bool,
    ) {
        if self.checking.is_some() {
            return;
        }
        let down = !self.cluster.is_up();
        let due = adopt || self.next_check.is_some_and(|at| at <= now);
        if !due && !down {
            return;
        }
        if !due && down {
            self.next_check.get_or_insert(now + LINKS_CHECK_EVERY);
            return;
        }
        self.next_check = down.then_some(now + LINKS_CHECK_EVERY);
        let (store, doc) = (store.clone(), self.doc);
        let read = async move {
            let links = store.room_links(room).await?;
            let doc_exists = match (doc == room, &links) {
                (_, None) => false,
                (true, Some(_)) => true,
                (false, Some(_)) => store.get_file(room, doc).await?.is_some(),
            };
            Ok(Links {
                room: links,
                doc_exists,
            })
        };
        self.checking = Some((read.boxed(), adopt));
    }

    /// Resolves when a read from the store in flight finishes (the catch-up or the links);
    /// pending forever when there is none.
    pub(crate) async fn read_finished(&mut self) -> Finished {
        let healing = async {
            match self.healing.as_mut() {
                Some(read) => read.await,
                None => std::future::pending().await,
            }
        };
        let checking = async {
            match self.checking.as_mut() {
                Some((read, adopt)) => {
                    let adopt = *adopt;
                    (read.await, adopt)
                }
                None => std::future::pending().await,
            }
        };
        tokio::select! {
            healed = healing => Finished::Healed(healed),
            (read, adopt) = checking => Finished::Links(read, adopt),
        }
    }

    /// The read of the links finished: what changed since the last (`None` when the
    /// read failed), the new links taken in.
    pub(crate) fn links_read(
        &mut self,
        read: Result<Links, StoreError>,
    ) -> Option<(Option<RoomLinks>, Links)> {
        self.checking = None;
        let read = read.ok()?;
        let before = self.links.clone();
        self.links = read.room.clone();
        Some((before, read))
    }

    /// When the next read of the links is due, if one is.
    pub(crate) fn next_links_check(&self) -> Option<Instant> {
        self.next_check.filter(|_| self.checking.is_none())
    }

    /// Publishes a presence frame of this server's peers.
    pub(crate) fn publish_presence(&self, frame: &[u8]) {
        self.cluster.publish_presence(self.doc, frame);
    }

    /// Ticks at once (another server asked who is here).
    pub(crate) fn announce_presence_only(&mut self) {
        self.next_tick = Instant::now();
    }

    /// Asks the other servers for their presence, and ticks at once.
    pub(crate) fn announce(&mut self) {
        self.cluster.publish_query(self.doc);
        self.next_tick = Instant::now();
    }
}

impl Drop for Shared {
    fn drop(&mut self) {
        self.cluster.publish_bye(self.doc);
        self.cluster.unwatch(self.doc);
    }
}

/// The number of the last of `count` updates numbered from `first`; `None` for none, or
/// past the largest number.
fn last_of(first: i64, count: usize) -> Option<i64> {
    let count = i64::try_from(count).ok().filter(|&c| c > 0)?;
    first.checked_add(count - 1)
}

fn removal_entries(other: Other) -> impl Iterator<Item = (ClientID, AwarenessUpdateEntry)> {
    other.clients.into_iter().map(|(client, (clock, _))| {
        // At the clock clients last saw (a removal at an equal clock is taken): one
        // higher would make them ignore that person's next state, should they be back.
        let entry = AwarenessUpdateEntry {
            clock,
            json: Arc::from("null"),
        };
        (ClientID::new(client), entry)
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::metrics::Metrics;

    fn shared(through: i64) -> Shared {
        let cluster = Cluster::new("redis://127.0.0.1:1/", Arc::new(Metrics::new())).unwrap();
        Shared::new(cluster, Uuid::new_v4(), through, None)
    }

    fn updates(names: &[&'static str]) -> Vec<Bytes> {
        names
            .iter()
            .map(|n| Bytes::from_static(n.as_bytes()))
            .collect()
    }

    fn texts(ready: Vec<(i64, Bytes)>) -> Vec<Bytes> {
        ready.into_iter().map(|(_, update)| update).collect()
    }

    #[tokio::test]
    async fn an_update_that_did_not_apply_is_not_counted_as_held() {
        let mut room = shared(4);
        // A forged message takes number 5 before the real one comes.
        room.received(5, updates(&["garbage"]));
        assert_eq!(room.ready().len(), 1);
        room.not_applied(5);
        assert_eq!(room.through(), 4);
        assert!(room.behind_since.is_some());
        room.received(5, updates(&["real"]));
        assert_eq!(texts(room.ready()), updates(&["real"]));
        // Numbers at the very top, or far ahead, are not kept (nor do they overflow).
        room.received(i64::MAX, updates(&["a", "b"]));
        room.received(i64::MAX - 1, updates(&["a"]));
        room.received(6 + MAX_AHEAD, updates(&["far"]));
        room.received(-3, updates(&["negative"]));
        assert!(room.waiting.is_empty());
    }

    #[tokio::test]
    async fn updates_apply_in_the_log_order_whatever_order_they_arrive_in() {
        let mut room = shared(10);
        // 13 and 14 arrive before 11 and 12.
        room.received(13, updates(&["13", "14"]));
        assert!(room.ready().is_empty());
        assert_eq!(room.through(), 10);
        // This server stored 12 itself.
        room.stored(12, &updates(&["12"]));
        assert!(room.ready().is_empty());
        room.received(11, updates(&["11"]));
        assert_eq!(texts(room.ready()), updates(&["11", "13", "14"]));
        assert_eq!(room.through(), 14);
        // Repeats and overlaps give nothing twice.
        room.received(12, updates(&["12", "13", "14", "15"]));
        assert_eq!(room.ready(), vec![(15, Bytes::from_static(b"15"))]);
        room.received(9, updates(&["9", "10"]));
        assert!(room.ready().is_empty());
        assert!(room.behind_since.is_none());
    }

    #[tokio::test(start_paused = true)]
    async fn a_gap_that_stays_open_is_read_from_the_store_and_closes() {
        let mut room = shared(0);
        room.received(3, updates(&["3"]));
        assert!(room.ready().is_empty());
        let since = room.behind_since.expect("behind");
        tokio::time::advance(HEAL_AFTER).await;
        assert!(since + HEAL_AFTER <= Instant::now());
        // The store had 1 to 4.
        room.caught_up(Some(4));
        assert_eq!(room.through(), 4);
        assert!(room.waiting.is_empty() && room.waiting_bytes == 0);
        assert!(room.behind_since.is_none());
        // A tick from a server further along opens a gap too.
        room.heard_tick(7, 2, 6);
        assert!(room.behind_since.is_some());
        assert_eq!(room.people_elsewhere(), 2);
    }

    #[tokio::test]
    async fn presence_from_another_server_is_held_to_the_same_rules() {
        let mut room = shared(0);
        let mut update = AwarenessUpdate {
            clients: HashMap::new(),
        };
        let state = |json: &str| AwarenessUpdateEntry {
            clock: 1,
            json: Arc::from(json),
        };
        update.clients.insert(ClientID::new(1), state("{not json"));
        update.clients.insert(
            ClientID::new(2),
            state(&format!("{{\"pad\":\"{}\"}}", "x".repeat(5000))),
        );
        update
            .clients
            .insert(ClientID::new(3), state(r#"{"user":{"name":"Ada"}}"#));
        let relayed = room
            .heard_presence(5, protocol::awareness(update), |_| false)
            .expect("Ada is relayed");
        let Ok(messages) = protocol::decode_frame(&relayed) else {
            panic!("a frame")
        };
        let Some(Incoming::Awareness(update)) = messages.into_iter().next() else {
            panic!("awareness")
        };
        let ids: Vec<u64> = update.clients.keys().map(|c| c.get()).collect();
        assert_eq!(ids, vec![3]);
        // Made-up servers cannot grow the room past its bound.
        for server in 0..(MAX_OTHERS as u64 + 10) {
            room.heard_tick(1000 + server, 1, 0);
        }
        assert_eq!(room.others.len(), MAX_OTHERS);
    }

    #[tokio::test(start_paused = true)]
    async fn a_silent_server_s_presence_is_removed() {
        let mut room = shared(0);
        let mut awareness = yrs::sync::Awareness::new(yrs::Doc::new());
        awareness.set_local_state_raw(r#"{"user":{"name":"Ada"}}"#);
        let update = awareness.update().unwrap();
        let seen_clock = update.clients.values().next().expect("a state").clock;
        let frame = protocol::awareness(update);
        assert!(room.heard_presence(5, frame.clone(), |_| true).is_none());
        assert!(room.heard_presence(5, frame, |_| false).is_some());
        assert!(room.presence_frame(|_| false).is_some());
        assert!(room.presence_frame(|_| true).is_none());
        assert!(room.expire(Instant::now(), |_| false).is_none());
        tokio::time::advance(EXPIRE_AFTER).await;
        let removal = room.expire(Instant::now(), |_| false).expect("removal");
        let Ok(messages) = protocol::decode_frame(&removal) else {
            panic!("removal frame")
        };
        let Some(Incoming::Awareness(update)) = messages.into_iter().next() else {
            panic!("awareness")
        };
        let entry = update.clients.values().next().expect("one client");
        assert_eq!(&*entry.json, "null");
        // At the clock last seen, so that the person's next state (one higher) is taken
        // should they come back through another server.
        assert_eq!(entry.clock, seen_clock);
        assert!(room.presence_frame(|_| false).is_none());
    }
}
