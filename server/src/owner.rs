//! What a room's owner can do, for every front end: the REST API (with the owner key) and
//! the desktop app's host (in-process). Who is connected, and taking someone out, are
//! here too: the host's controls.

use std::collections::BTreeMap;
use std::net::IpAddr;

use uuid::Uuid;

use crate::access::Via;
use crate::store::{Access, LinkChange, StoreError};
use crate::sync::{close_code, ConnId, DocId, Leavers, RoomCommand};
use crate::AppState;

/// Why connections are closed when their link is replaced, the room's access changes or
/// the host takes someone out.
pub const EDIT_LINK_REPLACED: &str =
    "the edit link was replaced; ask the room's owner for the new one";
/// See [`EDIT_LINK_REPLACED`].
pub const VIEW_LINK_REPLACED: &str =
    "the view link was replaced; ask the room's owner for the new one";
/// See [`EDIT_LINK_REPLACED`].
pub const ACCESS_CHANGED: &str = "the room's owner changed who may edit; reconnect";
/// See [`EDIT_LINK_REPLACED`].
pub const REMOVED: &str = "the host removed you from the session";

/// The reason among this module's that `reason` spells (another server's event names
/// one); the access-changed one for any other.
pub fn known_reason(reason: &str) -> &'static str {
    [
        EDIT_LINK_REPLACED,
        VIEW_LINK_REPLACED,
        ACCESS_CHANGED,
        REMOVED,
    ]
    .into_iter()
    .find(|known| *known == reason)
    .unwrap_or(ACCESS_CHANGED)
}

/// Makes room `room`'s edit link edit (or only view, for everyone but the owner); whoever
/// it changes things for is told to reconnect. `false` when there is no such room.
pub async fn set_access(state: &AppState, room: Uuid, access: Access) -> Result<bool, StoreError> {
    if !state
        .store
        .change_links(room, LinkChange::Access(access))
        .await?
    {
        return Ok(false);
    }
    state.sync.access_changed();
    let revoke = || RoomCommand::Revoke {
        leavers: Leavers::EditorsButTheOwner,
        code: close_code::ACCESS_CHANGED,
        reason: ACCESS_CHANGED,
    };
    state.sync.tell_room(room, revoke).await;
    Ok(true)
}

/// Gives room `room` a new edit or view link; the old one stops working and whoever came
/// by it is disconnected with the reason. The new link, `None` when there is no such room.
pub async fn replace_link(
    state: &AppState,
    room: Uuid,
    via: Via,
) -> Result<Option<Uuid>, StoreError> {
    let link = Uuid::new_v4();
    let (change, reason) = match via {
        Via::Edit => (LinkChange::Edit(link), EDIT_LINK_REPLACED),
        Via::View => (LinkChange::View(link), VIEW_LINK_REPLACED),
    };
    if !state.store.change_links(room, change).await? {
        return Ok(None);
    }
    state.sync.access_changed();
    let revoke = || RoomCommand::Revoke {
        leavers: Leavers::Came(via),
        code: close_code::GONE,
        reason,
    };
    state.sync.tell_room(room, revoke).await;
    Ok(Some(link))
}

/// Deletes room `room`, its files and their histories; everyone in it is disconnected.
/// `false` when there is no such room.
pub async fn delete_room(state: &AppState, room: Uuid) -> Result<bool, StoreError> {
    if !state.store.delete_room(room).await? {
        return Ok(false);
    }
    state.sync.access_changed();
    let deleted = || RoomCommand::Deleted { room: true };
    state.sync.tell_room(room, deleted).await;
    Ok(true)
}

/// One connection to a room, as the host sees it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Connected {
    /// The connection.
    pub conn: ConnId,
    /// The document it is on.
    pub doc: DocId,
    /// The name it goes by (signed in, or published), if any yet.
    pub name: Option<String>,
    /// Where it connects from.
    pub address: IpAddr,
    /// Whether it may only view.
    pub viewer: bool,
    /// Whether it showed the owner key.
    pub owner: bool,
}

/// Someone in a room: their connections (the room's own document, and each file they
/// have open) from one address under one name.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Person {
    /// The name they go by ("Someone" before they published one).
    pub name: String,
    /// Where they connect from.
    pub address: IpAddr,
    /// Whether they may only view.
    pub viewer: bool,
    /// Whether they are the owner (the host).
    pub owner: bool,
    /// Their connections.
    pub conns: Vec<ConnId>,
}

/// Everyone connected to room `room` (any of its documents), grouped by address and name.
pub async fn people(state: &AppState, room: Uuid) -> Vec<Person> {
    let mut grouped: BTreeMap<(IpAddr, String), Person> = BTreeMap::new();
    for connected in state.sync.connected(room).await {
        let name = connected.name.clone().unwrap_or_else(|| "Someone".into());
        let person = grouped
            .entry((connected.address, name.clone()))
            .or_insert_with(|| Person {
                name,
                address: connected.address,
                viewer: true,
                owner: false,
                conns: Vec::new(),
            });
        person.viewer &= connected.viewer;
        person.owner |= connected.owner;
        person.conns.push(connected.conn);
    }
    grouped.into_values().collect()
}

/// Disconnects connections `conns` of room `room` with a reason that tells them not to
/// come back on their own ("removed"); returns how many there were.
pub async fn remove(state: &AppState, room: Uuid, conns: &[ConnId]) -> usize {
    let present: Vec<ConnId> = (state.sync.connected(room).await.into_iter())
        .map(|c| c.conn)
        .filter(|c| conns.contains(c))
        .collect();
    for &conn in &present {
        let revoke = || RoomCommand::Revoke {
            leavers: Leavers::Connection(conn),
            code: close_code::REMOVED,
            reason: REMOVED,
        };
        state.sync.tell_room(room, revoke).await;
    }
    present.len()
}
