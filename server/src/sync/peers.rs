//! A room's connections: their outbound queues and closers, and their presence. Sending
//! never waits: a peer whose queue is full is too slow to keep up and is dropped (1013),
//! and its presence is cleared for everyone left.

use std::borrow::Cow;
use std::collections::HashMap;
use std::net::IpAddr;
use std::sync::Arc;

use bytes::Bytes;
use yrs::sync::AwarenessUpdate;
use yrs::Doc;

use super::presence::{Presence, Refusal};
use super::{close_code, ConnId, Leavers, PeerLink};
use crate::access::PeerAccess;
use crate::metrics::Metrics;

/// The reason a peer that cannot keep up is given.
const TOO_SLOW: &str = "too slow: outbound queue full";

/// See the module docs.
pub(crate) struct Peers {
    /// The room, as logs name it.
    room: String,
    links: HashMap<ConnId, PeerLink>,
    presence: Presence,
    metrics: Arc<Metrics>,
    /// Presence frames for the other servers (with `--redis-url`), until taken.
    published: Option<Vec<Bytes>>,
}

impl Peers {
    /// No peers yet, in the room (`room` as logs name it) whose document is `doc`.
    pub(crate) fn new(room: String, doc: Doc, metrics: Arc<Metrics>) -> Self {
        Self {
            room,
            links: HashMap::new(),
            presence: Presence::new(doc),
            metrics,
            published: None,
        }
    }

    /// Keeps the presence frames this room's peers cause for the other servers (see
    /// [`Self::take_published`]).
    pub(crate) fn share_presence(&mut self) {
        self.published = Some(Vec::new());
    }

    /// The presence frames caused since the last call, to publish to the other servers.
    pub(crate) fn take_published(&mut self) -> Vec<Bytes> {
        self.published
            .as_mut()
            .map(std::mem::take)
            .unwrap_or_default()
    }

    /// Whether presence client id `client` belongs to one of this room's connections.
    pub(crate) fn holds_client(&self, client: u64) -> bool {
        self.presence.holds(client)
    }

    /// This server's peers' presence as one frame.
    pub(crate) fn presence_frame(&mut self) -> Option<Bytes> {
        self.presence.frame()
    }

    fn publish(&mut self, frame: &Bytes) {
        if let Some(published) = &mut self.published {
            published.push(frame.clone());
        }
    }

    /// Adds a peer, sending it `greeting` (the room's state vector) and everyone's
    /// presence.
    pub(crate) fn admit(&mut self, conn: ConnId, link: PeerLink, greeting: Bytes) {
        link.queue.push(greeting);
        if let Some(presence) = self.presence.frame() {
            link.queue.push(presence);
        }
        self.links.insert(conn, link);
    }

    /// Whether `conn` is a peer.
    pub(crate) fn contains(&self, conn: ConnId) -> bool {
        self.links.contains_key(&conn)
    }

    /// Number of peers.
    pub(crate) fn len(&self) -> usize {
        self.links.len()
    }

    /// Whether there are none.
    pub(crate) fn is_empty(&self) -> bool {
        self.links.is_empty()
    }

    /// The client address of `conn`.
    pub(crate) fn address(&self, conn: ConnId) -> Option<IpAddr> {
        self.links.get(&conn).map(|link| link.address)
    }

    /// Queues `frame` for `conn`.
    pub(crate) fn send(&mut self, conn: ConnId, frame: Bytes) {
        let Some(link) = self.links.get(&conn) else {
            return;
        };
        self.metrics.messages_out.inc();
        if !link.queue.push(frame) {
            self.drop_slow(vec![conn]);
        }
    }

    /// Queues `frame` for every peer but `except`.
    pub(crate) fn broadcast(&mut self, except: Option<ConnId>, frame: &Bytes) {
        let slow = self.fan_out(except, frame);
        self.drop_slow(slow);
    }

    /// Queues `frame` for every peer but `except`; returns those too slow to take it.
    fn fan_out(&self, except: Option<ConnId>, frame: &Bytes) -> Vec<ConnId> {
        let mut slow = Vec::new();
        for (&conn, link) in &self.links {
            if Some(conn) != except {
                self.metrics.messages_out.inc();
                if !link.queue.push(frame.clone()) {
                    slow.push(conn);
                }
            }
        }
        slow
    }

    fn drop_slow(&mut self, slow: Vec<ConnId>) {
        for conn in slow {
            self.close(conn, close_code::TRY_AGAIN_LATER, TOO_SLOW);
        }
    }

    /// Closes `conn`'s connection with `code` and `reason` and forgets it, clearing its
    /// presence for everyone left (and dropping, in turn, anyone too slow to hear that).
    pub(crate) fn close(&mut self, conn: ConnId, code: u16, reason: &str) {
        let mut closing = vec![(conn, code, Cow::Owned(reason.to_string()))];
        while let Some((conn, code, reason)) = closing.pop() {
            // A peer may be found slow twice before it is dropped.
            let Some(link) = self.links.get(&conn) else {
                continue;
            };
            if reason == TOO_SLOW {
                self.metrics.slow_peers_dropped.inc();
                tracing::info!(room = %self.room, conn, "dropping peer that cannot keep up");
            }
            link.closer.close(code, reason);
            for slow in self.forget(conn) {
                closing.push((slow, close_code::TRY_AGAIN_LATER, Cow::Borrowed(TOO_SLOW)));
            }
        }
    }

    /// Forgets `conn` (it left) and clears its presence for everyone left; returns those
    /// too slow to take that.
    pub(crate) fn forget(&mut self, conn: ConnId) -> Vec<ConnId> {
        let Some(link) = self.links.remove(&conn) else {
            return Vec::new();
        };
        match self.presence.remove(conn, link.address) {
            Some(frame) => {
                self.publish(&frame);
                self.fan_out(None, &frame)
            }
            None => Vec::new(),
        }
    }

    /// Forgets `conn`, which left of its own accord.
    pub(crate) fn leave(&mut self, conn: ConnId) {
        let slow = self.forget(conn);
        self.drop_slow(slow);
    }

    /// Closes every connection with `code` and `reason`.
    pub(crate) fn close_all(&mut self, code: u16, reason: &str) {
        let conns: Vec<ConnId> = self.links.keys().copied().collect();
        for conn in conns {
            self.close(conn, code, reason);
        }
    }

    /// Tells every connection to close with `code` and `reason`, keeping them as peers
    /// until they go.
    pub(crate) fn ask_all_to_close(&self, code: u16, reason: &str) {
        for link in self.links.values() {
            link.closer.close(code, reason);
        }
    }

    /// Forgets every peer at once (the room is failing; their connections were told).
    pub(crate) fn clear(&mut self) {
        self.links.clear();
    }

    /// Closes every connection `leavers` includes with `code` and `reason`.
    pub(crate) fn close_where(&mut self, leavers: Leavers, code: u16, reason: &str) {
        let conns: Vec<ConnId> = (self.links.iter())
            .filter(|(&conn, link)| match leavers {
                Leavers::Connection(one) => conn == one,
                _ => leavers.include(&link.access),
            })
            .map(|(&conn, _)| conn)
            .collect();
        for conn in conns {
            self.close(conn, code, reason);
        }
    }

    /// Every connection, as the host sees it, on document `doc`.
    pub(crate) fn connected(&self, doc: super::DocId) -> Vec<crate::owner::Connected> {
        (self.links.iter())
            .map(|(&conn, link)| crate::owner::Connected {
                conn,
                doc,
                name: self.author(conn),
                address: link.address.to_canonical(),
                viewer: !link.access.can_edit,
                owner: link.access.owner,
            })
            .collect()
    }

    /// What `conn` may do.
    pub(crate) fn access(&self, conn: ConnId) -> Option<&PeerAccess> {
        self.links.get(&conn).map(|link| &link.access)
    }

    /// Applies presence from `conn` and relays it to everyone (the sender too, as
    /// y-websocket does: clients use it as a liveness signal).
    pub(crate) fn update_presence(
        &mut self,
        conn: ConnId,
        update: AwarenessUpdate,
        elsewhere: &dyn Fn(u64) -> bool,
    ) -> Result<(), Refusal> {
        let Some(link) = self.links.get(&conn) else {
            return Ok(());
        };
        let (address, stamp) = (link.address, link.access.stamp());
        if let Some(frame) = self
            .presence
            .apply(conn, address, update, &stamp, elsewhere)?
        {
            self.publish(&frame);
            self.broadcast(None, &frame);
        }
        Ok(())
    }

    /// Sends `conn` everyone's presence, when anyone has any.
    pub(crate) fn send_presence(&mut self, conn: ConnId) {
        if let Some(frame) = self.presence.frame() {
            self.send(conn, frame);
        }
    }

    /// Who `conn` is, stored with its updates: the name it signed in with, else the
    /// display name it last published for itself.
    pub(crate) fn author(&self, conn: ConnId) -> Option<String> {
        let signed_in = self.links.get(&conn)?.access.person.as_ref();
        (signed_in.map(|person| super::author::of_person(person.name.clone())))
            .or_else(|| self.presence.author(conn))
    }

    /// The lowest presence client id `conn` brought, stored with its updates.
    pub(crate) fn client_id(&self, conn: ConnId) -> Option<i64> {
        self.presence.client_id(conn)
    }
}

#[cfg(test)]
mod tests {
    use yrs::sync::Awareness;

    use super::super::queue::{self, Inbound};
    use super::super::Closer;
    use super::*;

    fn peer() -> (PeerLink, Inbound) {
        let (queue, inbound) = queue::outbound(None);
        let link = PeerLink {
            queue,
            closer: Closer::default(),
            address: IpAddr::from([192, 0, 2, 1]),
            access: PeerAccess::full(),
        };
        (link, inbound)
    }

    fn presence(name: &str) -> AwarenessUpdate {
        let mut awareness = Awareness::new(Doc::new());
        awareness.set_local_state_raw(format!(r#"{{"user":{{"name":"{name}"}}}}"#));
        awareness.update().unwrap()
    }

    #[test]
    fn a_slow_peer_is_dropped_and_counted_once_even_when_found_slow_again() {
        let metrics = Arc::new(Metrics::new());
        let mut peers = Peers::new("test".into(), Doc::new(), metrics.clone());
        let mut ends = Vec::new();
        for conn in 1..=3 {
            let (link, inbound) = peer();
            peers.admit(conn, link.clone(), Bytes::from_static(b"hello"));
            ends.push((link, inbound));
        }
        // Two of them have presence, whose removal everyone left is told of.
        peers
            .update_presence(1, presence("Ada"), &|_| false)
            .unwrap();
        peers
            .update_presence(3, presence("Cy"), &|_| false)
            .unwrap();
        // Nobody reads: every queue fills up.
        for (link, _) in &ends {
            while link.queue.push(Bytes::from_static(b"x")) {}
        }
        peers.broadcast(None, &Bytes::from_static(b"edit"));
        assert!(peers.is_empty());
        assert_eq!(metrics.slow_peers_dropped.get(), 3);
        for (link, _) in &ends {
            let reason = link.closer.reason().unwrap();
            assert_eq!(
                (reason.code, reason.reason.as_str()),
                (close_code::TRY_AGAIN_LATER, TOO_SLOW)
            );
        }
    }
}
