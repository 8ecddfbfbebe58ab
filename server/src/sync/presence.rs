//! Presence (awareness): who is in the room, their names, cursors and selections.
//!
//! A state is the JSON a client publishes about itself (`{user: {name, color}, cursor}`):
//! every client in the room parses it, so one that is not JSON, or is huge, would break or
//! burden them all; [`check_state`] refuses those. [`Presence`] keeps the room's states and
//! which connection brought each client id into the room.

use std::collections::hash_map::Entry;
use std::collections::{HashMap, HashSet};
use std::net::IpAddr;
use std::time::{Duration, Instant};

use bytes::Bytes;
use yrs::sync::{Awareness, AwarenessUpdate};
use yrs::{ClientID, Doc};

use super::{close_code, protocol, ConnId};

/// Presence client ids one connection may bring into the room; more are ignored.
const MAX_CLIENTS_PER_PEER: usize = 16;

/// Largest presence state accepted, in bytes (a cursor and a name take a few hundred).
pub const MAX_STATE_BYTES: usize = 4096;
/// The reason given when a state is over [`MAX_STATE_BYTES`].
pub const TOO_LARGE: &str = "presence state too large";
/// Longest display name kept for stored updates, in characters.
const MAX_NAME_CHARS: usize = 100;

/// Whether a state is the removal marker `null`.
pub fn is_null(json: &str) -> bool {
    json == "null"
}

/// Checks one state: `null` or a JSON object of at most [`MAX_STATE_BYTES`]. Returns the
/// display name it carries (`user.name`, cut to 100 characters, and marked with `~` when
/// it looks like one of the server's own, [`super::author`]), if any.
pub fn check_state(json: &str) -> Result<Option<String>, &'static str> {
    if is_null(json) {
        return Ok(None);
    }
    if json.len() > MAX_STATE_BYTES {
        return Err(TOO_LARGE);
    }
    let state: serde_json::Value =
        serde_json::from_str(json).map_err(|_| "presence state is not JSON")?;
    if !state.is_object() {
        return Err("presence state is not a JSON object");
    }
    Ok(state
        .pointer("/user/name")
        .and_then(serde_json::Value::as_str)
        .map(|name| super::author::of_person(name.chars().take(MAX_NAME_CHARS).collect())))
}

/// Whether client id `id` departed lately from an address other than `address`.
fn reserved(departed: &HashMap<u64, (IpAddr, Instant)>, id: u64, address: IpAddr) -> bool {
    departed
        .get(&id)
        .is_some_and(|&(from, at)| from != address && at.elapsed() < RESERVED_FOR)
}

/// What the server writes into the presence states of one connection: whether it may
/// only view (`user.viewer`, so that everyone's editor can say so), and the name (and
/// email) it signed in with, over whatever name it gave itself.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Stamp {
    /// The connection may only view.
    pub viewer: bool,
    /// Its verified name and email.
    pub person: Option<crate::access::Person>,
}

impl Stamp {
    /// `json` (a JSON object, checked) with this stamp on its `user`; `None` when it
    /// needs none (what most states, a cursor moved by an editor, need: not parsed again).
    pub fn apply(&self, json: &str) -> Option<String> {
        // Without a backslash a key is spelled out as is: a state with neither mark needs
        // nothing taken out.
        let marked =
            json.contains('\\') || json.contains("\"viewer\"") || json.contains("\"verified\"");
        if !self.viewer && self.person.is_none() && !marked {
            return None;
        }
        let Ok(serde_json::Value::Object(mut state)) = serde_json::from_str(json) else {
            return None;
        };
        let stamps = self.viewer || self.person.is_some();
        if stamps && !state.get("user").is_some_and(serde_json::Value::is_object) {
            state.insert("user".into(), serde_json::Value::Object(Default::default()));
        }
        if let Some(serde_json::Value::Object(user)) = state.get_mut("user") {
            match self.viewer {
                true => user.insert("viewer".into(), true.into()),
                false => user.remove("viewer"),
            };
            if let Some(person) = &self.person {
                user.insert("name".into(), person.name.clone().into());
                user.insert("verified".into(), true.into());
                match &person.email {
                    Some(email) => user.insert("email".into(), email.clone().into()),
                    None => user.remove("email"),
                };
            } else {
                user.remove("verified");
            }
        }
        Some(serde_json::Value::Object(state).to_string())
    }
}

/// The room's presence states, and who owns each.
///
/// A client id belongs to the connection that first brought it into the room, as on the
/// reference server: stock clients pass on other people's presence too, and that neither
/// counts against their limit nor makes their leaving remove it. Removals of ids the room
/// never saw are dropped (they would cost memory and tell nobody anything).
pub(crate) struct Presence {
    awareness: Awareness,
    /// Which connection brought each client id into the room.
    owners: HashMap<u64, ConnId>,
    /// Each connection's client ids and the name from its state.
    peers: HashMap<ConnId, Peer>,
    /// Everyone's presence as one awareness frame, encoded once until presence changes.
    frame: Option<Bytes>,
    /// Client ids whose connection went, kept for their address for a while: the person
    /// reconnecting takes theirs back, and nobody elsewhere can take it meanwhile.
    departed: HashMap<u64, (IpAddr, Instant)>,
}

/// How long a departed client id stays reserved for its address.
const RESERVED_FOR: Duration = Duration::from_secs(60);
/// Most departed client ids kept; the oldest go first.
const MAX_DEPARTED: usize = 4096;
/// Highest presence clock taken (a client at a change a second would need 34 years).
const MAX_CLOCK: u32 = 1 << 30;
/// Most departed client ids kept for one address.
const MAX_DEPARTED_PER_ADDRESS: usize = 64;

#[derive(Default)]
struct Peer {
    clients: HashSet<u64>,
    author: Option<String>,
}

/// Why a connection's presence was refused: the close code and reason to give it.
pub(crate) type Refusal = (u16, &'static str);

impl Presence {
    /// Presence for the room whose document is `doc`.
    pub(crate) fn new(doc: Doc) -> Self {
        Self {
            awareness: Awareness::new(doc),
            owners: HashMap::new(),
            peers: HashMap::new(),
            frame: None,
            departed: HashMap::new(),
        }
    }

    /// Everyone's presence as one frame, `None` when nobody has any.
    pub(crate) fn frame(&mut self) -> Option<Bytes> {
        if self.frame.is_none() {
            let states = self.awareness.update().ok()?;
            if states.clients.is_empty() {
                return None;
            }
            self.frame = Some(protocol::awareness(states));
        }
        self.frame.clone()
    }

    /// Applies `update` from `conn` and returns the frame to relay to everyone (the sender
    /// too, as y-websocket does: clients use it as a liveness signal), if anything changed.
    ///
    /// A connection sets presence only for the client ids it brought into the room: stock
    /// clients pass on everyone's presence, so other ids, and states older than the
    /// room's, are dropped without a word (applying them could only put back something
    /// stale, or let one person speak for another). Ids `elsewhere` says another server's
    /// peers hold are taken only as a connection's first (someone who moved here), never
    /// passed on by another, and only alone in its message. Each state it may set is
    /// `stamp`ed.
    pub(crate) fn apply(
        &mut self,
        conn: ConnId,
        address: IpAddr,
        mut update: AwarenessUpdate,
        stamp: &Stamp,
        elsewhere: &dyn Fn(u64) -> bool,
    ) -> Result<Option<Bytes>, Refusal> {
        // Each state's name, read while checking it (the one parse most states get).
        // (Allocated only for states that name someone: a flood of removals costs nothing.)
        let mut names = HashMap::new();
        for (client, entry) in &update.clients {
            match check_state(&entry.json) {
                Ok(Some(name)) => {
                    names.insert(*client, name);
                }
                Ok(None) => {}
                Err(reason) if reason == TOO_LARGE => return Err((close_code::TOO_BIG, reason)),
                Err(reason) => return Err((close_code::INVALID_PAYLOAD, reason)),
            }
        }
        let awareness = &self.awareness;
        let lone = update.clients.len() == 1;
        let peer = self.peers.entry(conn).or_default();
        let mut dropped = HashSet::new();
        for (client, entry) in &mut update.clients {
            let id = client.get();
            let null = is_null(&entry.json);
            let known = awareness.meta(*client).map(|(clock, _)| clock);
            // A client counts its clock up by one per change: one near the top is made up
            // (to outrun its owner's), and counting past it would overflow.
            if entry.clock > MAX_CLOCK {
                dropped.insert(*client);
                continue;
            }
            match self.owners.entry(id) {
                Entry::Occupied(owner) if *owner.get() != conn => {
                    dropped.insert(*client);
                }
                // Its own, but older than what the room has: nothing to apply.
                Entry::Occupied(_)
                    if known.is_some_and(|k| entry.clock < k || (entry.clock == k && !null)) =>
                {
                    dropped.insert(*client);
                }
                Entry::Occupied(owner) => {
                    if null {
                        owner.remove();
                        peer.clients.remove(&id);
                    }
                }
                Entry::Vacant(_) if null => {
                    dropped.insert(*client);
                }
                // Someone's who just left, from elsewhere: theirs to take back.
                Entry::Vacant(_) if reserved(&self.departed, id, address) => {
                    dropped.insert(*client);
                }
                Entry::Vacant(slot) => {
                    // Past its share, a connection's new ids are dropped rather than the
                    // connection closed: a stock client passes on the presence of people
                    // who have left (ghosts an attacker made, say), and must not pay for it.
                    if peer.clients.len() >= MAX_CLIENTS_PER_PEER {
                        dropped.insert(*client);
                        continue;
                    }
                    // Someone on another server, passed back by a stock client here (which
                    // sends everyone's presence when it connects): taken only from a
                    // connection that brings it alone, as its first (someone who moved).
                    if elsewhere(id) && (!lone || !peer.clients.is_empty()) {
                        dropped.insert(*client);
                        continue;
                    }
                    // Older than what the room saw for this id: a connection passing on
                    // the presence of someone who left (a ghost) is ignored, but one that
                    // brings it as its very first is that person back (a stock client
                    // reconnects with the clock it had). Theirs counts on from the room's
                    // clock: whoever had the id meanwhile, even with a clock pushed to the
                    // top, cannot keep their presence out.
                    if let Some(k) = known.filter(|&k| entry.clock <= k) {
                        if !peer.clients.is_empty() {
                            dropped.insert(*client);
                            continue;
                        }
                        entry.clock = k.saturating_add(1);
                    }
                    slot.insert(conn);
                    peer.clients.insert(id);
                }
            }
            if !null && !dropped.contains(client) {
                let name = match stamp.apply(&entry.json) {
                    Some(stamped) => {
                        let name = check_state(&stamped).ok().flatten();
                        entry.json = stamped.into();
                        name
                    }
                    None => names.remove(client),
                };
                if name.is_some() {
                    peer.author = name;
                }
            }
        }
        update.clients.retain(|client, _| !dropped.contains(client));
        if update.clients.is_empty() {
            return Ok(None);
        }
        let frame = protocol::awareness(update.clone());
        if let Err(error) = self.awareness.apply_update(update) {
            tracing::debug!(%error, "ignoring awareness update");
            return Ok(None);
        }
        self.frame = None;
        Ok(Some(frame))
    }

    /// Forgets the presence `conn` (from `address`) brought, keeping its client ids for
    /// that address a while; returns the frame that tells everyone left.
    pub(crate) fn remove(&mut self, conn: ConnId, address: IpAddr) -> Option<Bytes> {
        let peer = self.peers.remove(&conn)?;
        let gone: Vec<_> = peer.clients.iter().map(|&c| ClientID::new(c)).collect();
        if gone.is_empty() {
            return None;
        }
        let now = Instant::now();
        self.departed
            .retain(|_, (_, at)| now.saturating_duration_since(*at) < RESERVED_FOR);
        for client in &gone {
            self.owners.remove(&client.get());
            self.awareness.remove_state(*client);
            // One address keeps at most its share of reservations, and the oldest go first:
            // a flood of short connections from a few addresses cannot push out others'.
            let mine = (self.departed.values())
                .filter(|(from, _)| *from == address)
                .count();
            if mine >= MAX_DEPARTED_PER_ADDRESS || self.departed.len() >= MAX_DEPARTED {
                let own_first = mine >= MAX_DEPARTED_PER_ADDRESS;
                let oldest = (self.departed.iter())
                    .filter(|(_, (from, _))| !own_first || *from == address)
                    .min_by_key(|(_, (_, at))| *at)
                    .map(|(&id, _)| id);
                if let Some(oldest) = oldest {
                    self.departed.remove(&oldest);
                }
            }
            self.departed.insert(client.get(), (address, now));
        }
        self.frame = None;
        let update = self.awareness.update_with_clients(gone).ok()?;
        Some(protocol::awareness(update))
    }

    /// Whether client id `client` belongs to one of the room's connections.
    pub(crate) fn holds(&self, client: u64) -> bool {
        self.owners.contains_key(&client)
    }

    /// The display name `conn` last published, stored with its updates.
    pub(crate) fn author(&self, conn: ConnId) -> Option<String> {
        self.peers.get(&conn)?.author.clone()
    }

    /// The lowest client id `conn` brought, stored with its updates.
    pub(crate) fn client_id(&self, conn: ConnId) -> Option<i64> {
        let lowest = self.peers.get(&conn)?.clients.iter().min().copied()?;
        i64::try_from(lowest).ok()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn stamps_leave_a_plain_state_alone_and_take_out_marks_however_spelled() {
        let editor = Stamp::default();
        assert_eq!(
            editor.apply(r#"{"user":{"name":"Ada"},"cursor":null}"#),
            None
        );
        let escaped = editor
            .apply(r#"{"user":{"name":"Ada","\u0076erified":true}}"#)
            .unwrap();
        assert!(
            !escaped.contains("verified") && escaped.contains("Ada"),
            "{escaped}"
        );
        let plain = editor
            .apply(r#"{"user":{"name":"Ada","viewer":true}}"#)
            .unwrap();
        assert!(!plain.contains("viewer"), "{plain}");
        let viewer = Stamp {
            viewer: true,
            person: None,
        };
        let stamped = viewer.apply(r#"{"cursor":null}"#).unwrap();
        assert!(stamped.contains(r#""viewer":true"#), "{stamped}");
    }

    #[test]
    fn states_are_json_objects_of_bounded_size() {
        assert_eq!(check_state("null"), Ok(None));
        assert_eq!(
            check_state(r##"{"user":{"name":"Ada","color":"#fff"}}"##),
            Ok(Some("Ada".into()))
        );
        assert_eq!(check_state(r#"{"cursor":null}"#), Ok(None));
        assert!(check_state(r#"{"user":"#).is_err(), "truncated JSON");
        assert!(check_state("42").is_err());
        assert!(check_state("[]").is_err());
        let big = format!(r#"{{"pad":"{}"}}"#, "x".repeat(MAX_STATE_BYTES));
        assert_eq!(check_state(&big), Err(TOO_LARGE));
        let long = format!(r#"{{"user":{{"name":"{}"}}}}"#, "n".repeat(500));
        assert_eq!(check_state(&long).unwrap().unwrap().len(), 100);
    }
}
