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
use crate::store::{Catchup, Store, StoreError};

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
}

impl Shared {
    /// A room whose copy of `doc` holds the log through `through`; subscribes to it.
    pub(crate) fn new(cluster: Arc<Cluster>, doc: Uuid, through: i64) -> Self {
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
        let last = first + updates.len() as i64 - 1;
        if last > self.through {
            self.own_ahead.insert(first, last);
        }
    }

    /// Another server stored `updates` as numbers `first`, …: kept until they can apply.
    pub(crate) fn received(&mut self, first: i64, updates: Vec<Bytes>) {
        let last = first + updates.len() as i64 - 1;
        if updates.is_empty() || last <= self.through {
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

    /// The updates that apply now, in order (those that follow on from what the copy
    /// holds); the copy is taken to hold them once they are returned.
    pub(crate) fn ready(&mut self) -> Vec<Bytes> {
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
                    let last = first + updates.len() as i64 - 1;
                    ready.extend(updates.into_iter().skip(held));
                    self.through = self.through.max(last);
                    continue;
                }
            }
            break;
        }
        self.check_behind();
        ready
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

    /// Resolves when the catch-up read in flight finishes; pending forever when there is
    /// none.
    pub(crate) async fn healed(&mut self) -> Result<Option<Catchup>, StoreError> {
        match self.healing.as_mut() {
            Some(read) => read.await,
            None => std::future::pending().await,
        }
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
        let other = self.other(from);
        other.people = people;
        other.top = other.top.max(top);
        if top > self.through {
            self.behind_since.get_or_insert_with(Instant::now);
        }
    }

    fn other(&mut self, from: InstanceId) -> &mut Other {
        let other = self.others.entry(from).or_insert_with(|| Other {
            heard: Instant::now(),
            people: 0,
            top: 0,
            clients: HashMap::new(),
        });
        other.heard = Instant::now();
        other
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
        let other = self.other(from);
        let mut relayed = HashMap::new();
        let mut left_out = false;
        for message in messages {
            let Incoming::Awareness(update) = message else {
                continue;
            };
            for (client, entry) in update.clients {
                if here(client.get()) {
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

    /// Everyone's presence on other servers as one frame, for a newcomer.
    pub(crate) fn presence_frame(&self) -> Option<Bytes> {
        let clients: HashMap<ClientID, AwarenessUpdateEntry> = (self.others.values())
            .flat_map(|other| other.clients.iter())
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
            .filter(|(client, _)| !here(client.get()))
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
        for id in silent {
            tracing::info!(
                instance = id,
                "another server went silent; removing its presence"
            );
            if let Some(other) = self.others.remove(&id) {
                clients.extend(removal_entries(other).filter(|(client, _)| !here(client.get())));
            }
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
        self.cluster.publish_tick(self.doc, people, self.through);
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

fn removal_entries(other: Other) -> impl Iterator<Item = (ClientID, AwarenessUpdateEntry)> {
    other.clients.into_iter().map(|(client, (clock, _))| {
        let entry = AwarenessUpdateEntry {
            clock: clock.saturating_add(1),
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
        Shared::new(cluster, Uuid::new_v4(), through)
    }

    fn updates(names: &[&'static str]) -> Vec<Bytes> {
        names
            .iter()
            .map(|n| Bytes::from_static(n.as_bytes()))
            .collect()
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
        assert_eq!(room.ready(), updates(&["11", "13", "14"]));
        assert_eq!(room.through(), 14);
        // Repeats and overlaps give nothing twice.
        room.received(12, updates(&["12", "13", "14", "15"]));
        assert_eq!(room.ready(), updates(&["15"]));
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

    #[tokio::test(start_paused = true)]
    async fn a_silent_server_s_presence_is_removed() {
        let mut room = shared(0);
        let mut awareness = yrs::sync::Awareness::new(yrs::Doc::new());
        awareness.set_local_state_raw(r#"{"user":{"name":"Ada"}}"#);
        let frame = protocol::awareness(awareness.update().unwrap());
        assert!(room.heard_presence(5, frame.clone(), |_| true).is_none());
        assert!(room.heard_presence(5, frame, |_| false).is_some());
        assert!(room.presence_frame().is_some());
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
        assert!(room.presence_frame().is_none());
    }
}
