//! Who may do what in a room.
//!
//! A room has two links, each a random id of its own: the edit link (`/r/{id}`,
//! `/ws/{id}`) and the view link (`/v/{id}`, `/ws/v/{id}`). Whoever created the room
//! holds its owner key, which the server keeps only as a SHA-256 hash. With the key, its
//! holder may rename the room, make it view-only for everyone else, replace a link and
//! delete the room; in a view-only room, the edit link views and only the owner edits.
//!
//! [`Grant`] is what one request or connection may do, worked out from the link it came
//! by and the key it showed; the HTTP layer builds it, the sync core enforces it.

use sha2::{Digest, Sha256};
use uuid::Uuid;

use crate::store::{Access, RoomLinks};

/// The header that carries an owner key on REST calls.
pub const OWNER_KEY_HEADER: &str = "pairpad-owner-key";

/// Which of a room's links a request came by.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Via {
    /// The edit link.
    Edit,
    /// The view link.
    View,
}

/// What one request or connection may do in a room.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Grant {
    /// The room's links, owner and access.
    pub links: RoomLinks,
    /// The link it came by.
    pub via: Via,
    /// Whether it showed the room's owner key.
    pub owner: bool,
    /// Who signed in, when sign-in is on.
    pub person: Option<Person>,
    /// Whether the sign-in only views (then neither the edit link nor the owner key lets
    /// it change anything).
    pub view_only_sign_in: bool,
    /// When the sign-in stops being taken, Unix seconds.
    pub signed_in_until: Option<u64>,
}

impl Grant {
    /// What a request that came by link `link` as `via`, showing `owner_key`, may do;
    /// `None` when `link` is not the room's link of that kind.
    pub fn new(links: RoomLinks, link: Uuid, via: Via, owner_key: Option<&str>) -> Option<Self> {
        let matches = match via {
            Via::Edit => links.edit == link,
            Via::View => links.view == Some(link),
        };
        if !matches {
            return None;
        }
        let owner = match (owner_key, &links.owner_key_hash) {
            (Some(key), Some(hash)) => {
                constant_time_eq(hash_owner_key(key).as_bytes(), hash.as_bytes())
            }
            _ => false,
        };
        Some(Self {
            links,
            via,
            owner,
            person: None,
            view_only_sign_in: false,
            signed_in_until: None,
        })
    }

    /// Applies what `identity`'s token says: who this is, and whether it only views.
    pub fn sign_in(&mut self, identity: &crate::auth::Identity) {
        self.person = Some(identity.person.clone());
        self.signed_in_until = Some(identity.expires.saturating_add(crate::auth::LEEWAY_SECS));
        if identity.view_only {
            self.view_only_sign_in = true;
            self.owner = false;
        }
    }

    /// The room.
    pub fn room(&self) -> Uuid {
        self.links.room
    }

    /// Whether it may change the room's files and text: by the edit link in a room that
    /// everyone may edit, or as the owner by the edit link.
    pub fn can_edit(&self) -> bool {
        !self.view_only_sign_in
            && self.via == Via::Edit
            && (self.links.access == Access::Edit || self.owner)
    }

    /// Whether it may change the room's title: whoever may edit, in a room without an
    /// owner (made before owners); only the owner otherwise.
    pub fn can_retitle(&self) -> bool {
        self.can_edit() && (self.owner || self.links.owner_key_hash.is_none())
    }

    /// What the sync core needs to know of it, for a connection whose link was checked
    /// after `epoch` access changes.
    pub fn peer(&self, epoch: u64) -> PeerAccess {
        PeerAccess {
            via: self.via,
            can_edit: self.can_edit(),
            can_retitle: self.can_retitle(),
            owner: self.owner,
            person: self.person.clone(),
            epoch,
            signed_in_until: self.signed_in_until,
        }
    }
}

/// Someone who signed in: the name and email their token vouches for.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Person {
    /// Their name, as everyone sees it.
    pub name: String,
    /// Their email, when the token has one.
    pub email: Option<String>,
}

/// What a connection may do, as the room enforces it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PeerAccess {
    /// The link it came by.
    pub via: Via,
    /// Whether the room applies its updates; a connection that may not edit and sends an
    /// update that would change the document is closed with the reason.
    pub can_edit: bool,
    /// Whether it may change the room's title (others' changes are put back).
    pub can_retitle: bool,
    /// Whether it showed the owner key.
    pub owner: bool,
    /// Who signed in on it, when anyone did.
    pub person: Option<Person>,
    /// The count of access changes read before its link was checked (see
    /// [`crate::sync::service::SyncService::access_epoch`]).
    pub epoch: u64,
    /// When its sign-in stops being taken (Unix seconds): it is closed then.
    pub signed_in_until: Option<u64>,
}

impl PeerAccess {
    /// A connection that may do everything (tests, the room's own work).
    pub fn full() -> Self {
        Self {
            via: Via::Edit,
            can_edit: true,
            can_retitle: true,
            owner: true,
            person: None,
            epoch: 0,
            signed_in_until: None,
        }
    }

    /// What the room writes into this connection's presence.
    pub fn stamp(&self) -> crate::sync::presence::Stamp {
        crate::sync::presence::Stamp {
            viewer: !self.can_edit,
            person: self.person.clone(),
        }
    }
}

/// A new owner key (64 hex digits, 244 random bits) and the hash the store keeps.
pub fn new_owner_key() -> (String, String) {
    let key = format!("{}{}", Uuid::new_v4().simple(), Uuid::new_v4().simple());
    let hash = hash_owner_key(&key);
    (key, hash)
}

/// The hash of owner key `key`, as the store keeps it (SHA-256, lowercase hex).
pub fn hash_owner_key(key: &str) -> String {
    let digest = Sha256::digest(key.as_bytes());
    digest.iter().map(|b| format!("{b:02x}")).collect()
}

/// Compares two byte strings in time that depends only on their lengths.
fn constant_time_eq(a: &[u8], b: &[u8]) -> bool {
    a.len() == b.len() && a.iter().zip(b).fold(0u8, |acc, (x, y)| acc | (x ^ y)) == 0
}

#[cfg(test)]
mod tests {
    use super::*;

    fn links(access: Access, owned: bool) -> (RoomLinks, String) {
        let (key, hash) = new_owner_key();
        let links = RoomLinks {
            room: Uuid::new_v4(),
            edit: Uuid::new_v4(),
            view: Some(Uuid::new_v4()),
            owner_key_hash: owned.then_some(hash),
            access,
        };
        (links, key)
    }

    #[test]
    fn what_each_link_and_key_allows() {
        let (room, key) = links(Access::Edit, true);
        let (edit, view) = (room.edit, room.view.unwrap());
        assert!(
            Grant::new(room.clone(), view, Via::Edit, None).is_none(),
            "a view link edits nothing"
        );
        assert!(Grant::new(room.clone(), edit, Via::View, None).is_none());
        assert!(
            Grant::new(room.clone(), room.room, Via::Edit, None).is_none(),
            "the room's id is no link"
        );

        let editor = Grant::new(room.clone(), edit, Via::Edit, None).unwrap();
        assert!(editor.can_edit() && !editor.can_retitle() && !editor.owner);
        let wrong =
            Grant::new(room.clone(), edit, Via::Edit, Some("0".repeat(64).as_str())).unwrap();
        assert!(!wrong.owner);
        let owner = Grant::new(room.clone(), edit, Via::Edit, Some(&key)).unwrap();
        assert!(owner.owner && owner.can_edit() && owner.can_retitle());
        let viewer = Grant::new(room.clone(), view, Via::View, Some(&key)).unwrap();
        assert!(
            !viewer.can_edit(),
            "the view link views, even for the owner"
        );

        let (locked, key) = links(Access::View, true);
        let edit = locked.edit;
        assert!(!Grant::new(locked.clone(), edit, Via::Edit, None)
            .unwrap()
            .can_edit());
        assert!(Grant::new(locked, edit, Via::Edit, Some(&key))
            .unwrap()
            .can_edit());

        let (older, _) = links(Access::Edit, false);
        let editor = Grant::new(older.clone(), older.edit, Via::Edit, Some("anything")).unwrap();
        assert!(
            !editor.owner && editor.can_retitle(),
            "a room without owner: editors retitle"
        );
    }

    #[test]
    fn owner_keys_are_random_and_hashed() {
        let (a, hash) = new_owner_key();
        let (b, _) = new_owner_key();
        assert_ne!(a, b);
        assert_eq!(a.len(), 64);
        assert_eq!(hash_owner_key(&a), hash);
        assert_eq!(hash.len(), 64);
        assert!(!hash.contains(&a));
    }
}
