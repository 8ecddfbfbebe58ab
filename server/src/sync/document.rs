//! The layout of a room's Yjs document, in one place: the shared text `code` and the map
//! `meta` with `title` and `language`. The browser editor (`ui/src/connection.js`) and
//! any stock Yjs client use the same names; everything on the server that creates, reads,
//! describes or mirrors a room document goes through here.

use yrs::{
    Any, Doc, GetString, Map, MapRef, Out, ReadTxn, StateVector, TextRef, Transact, TransactionMut,
};

/// The shared text.
pub const TEXT: &str = "code";
/// The map of room settings.
pub const META: &str = "meta";
/// `meta` key of the room's title.
pub const TITLE: &str = "title";
/// `meta` key of the room's language id.
pub const LANGUAGE: &str = "language";

/// The first stored state of a new room: `meta.title` and `meta.language` set, the text
/// empty, encoded as a v1 update.
pub fn initial_update(title: &str, language: &str) -> Vec<u8> {
    let doc = Doc::new();
    let layout = Layout::on(&doc);
    {
        let mut txn = doc.transact_mut();
        layout.set_meta(&mut txn, TITLE, title);
        layout.set_meta(&mut txn, LANGUAGE, language);
    }
    let update = doc
        .transact()
        .encode_state_as_update_v1(&StateVector::default());
    update
}

/// A room document's root types.
#[derive(Clone)]
pub struct Layout {
    text: TextRef,
    meta: MapRef,
}

impl Layout {
    /// The root types of `doc`, created if they are not there yet.
    pub fn on(doc: &Doc) -> Self {
        Self {
            text: doc.get_or_insert_text(TEXT),
            meta: doc.get_or_insert_map(META),
        }
    }

    /// The shared text.
    pub fn text<T: ReadTxn>(&self, txn: &T) -> String {
        self.text.get_string(txn)
    }

    /// `meta[key]` when it is a string.
    pub fn meta_string<T: ReadTxn>(&self, txn: &T, key: &str) -> Option<String> {
        match self.meta.get(txn, key)? {
            Out::Any(Any::String(s)) => Some(s.to_string()),
            _ => None,
        }
    }

    /// `meta[key]` as it is, whatever a client put there.
    pub fn meta_value<T: ReadTxn>(&self, txn: &T, key: &str) -> Option<Out> {
        self.meta.get(txn, key)
    }

    /// Sets `meta[key]` to a string.
    pub fn set_meta(&self, txn: &mut TransactionMut, key: &str, value: &str) {
        self.meta.insert(txn, key, value);
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use yrs::updates::decoder::Decode;
    use yrs::Update;

    #[test]
    fn a_new_room_starts_with_its_title_and_language_and_no_text() {
        let doc = Doc::new();
        let layout = Layout::on(&doc);
        doc.transact_mut()
            .apply_update(Update::decode_v1(&initial_update("Pairing", "rust")).unwrap())
            .unwrap();
        let txn = doc.transact();
        assert_eq!(layout.meta_string(&txn, TITLE).as_deref(), Some("Pairing"));
        assert_eq!(layout.meta_string(&txn, LANGUAGE).as_deref(), Some("rust"));
        assert_eq!(layout.text(&txn), "");
        assert_eq!(layout.meta_string(&txn, "missing"), None);
    }
}
