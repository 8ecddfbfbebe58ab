//! The list of a project's files in its room document: the map `files`, file id to path,
//! which every client watches to draw the file tree. The store is the truth (files are
//! created, renamed and deleted through the REST API); the room keeps an index of it and
//! puts the map back whenever a client changes it, as it does with the title.

use std::collections::{BTreeMap, HashSet};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;

use bytes::Bytes;
use uuid::Uuid;
use yrs::{Any, DeepObservable, Doc, Map, MapRef, Out, ReadTxn, Transact};

use super::clocks::Clocks;
use crate::store::FileRecord;

/// The root map of a room document that lists its project's files.
pub const FILES: &str = "files";

/// A change to a project's files, for the room to show.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum FileChange {
    /// A file was created, or renamed to `path` (its `revision`th rename).
    Listed {
        /// The file.
        id: Uuid,
        /// Its path now.
        path: String,
        /// Renames so far: a change with a lower revision than the room has seen is late.
        revision: i64,
    },
    /// A file was deleted.
    Removed {
        /// The file.
        id: Uuid,
    },
}

#[derive(Debug, Clone, PartialEq, Eq)]
struct Entry {
    path: String,
    revision: i64,
}

/// The room's index of its project's files, and the watch on the document's map.
pub struct FileIndex {
    map: MapRef,
    files: BTreeMap<Uuid, Entry>,
    /// Files deleted while the room was loaded: a late `Listed` for one is ignored.
    removed: HashSet<Uuid>,
    /// Set whenever a transaction touches the map (the room's own included).
    touched: Arc<AtomicBool>,
}

impl FileIndex {
    /// An index of `files` over `doc`'s map, watching it from now on.
    pub fn new(doc: &Doc, files: &[FileRecord]) -> Self {
        let map = doc.get_or_insert_map(FILES);
        let touched = Arc::new(AtomicBool::new(false));
        let flag = touched.clone();
        map.observe_deep("pairpad-files", move |_, _| {
            flag.store(true, Ordering::Relaxed);
        });
        Self {
            map,
            files: files
                .iter()
                .map(|f| {
                    let entry = Entry {
                        path: f.path.clone(),
                        revision: f.revision,
                    };
                    (f.id, entry)
                })
                .collect(),
            removed: HashSet::new(),
            touched,
        }
    }

    /// Records `change` in the index. Returns whether it was news (a late or repeated
    /// change is not).
    pub fn apply(&mut self, change: FileChange) -> bool {
        match change {
            FileChange::Listed { id, path, revision } => {
                if self.removed.contains(&id) {
                    return false;
                }
                let entry = Entry { path, revision };
                match self.files.get(&id) {
                    Some(known) if known.revision > entry.revision || *known == entry => false,
                    _ => {
                        self.files.insert(id, entry);
                        true
                    }
                }
            }
            FileChange::Removed { id } => {
                self.removed.insert(id);
                self.files.remove(&id).is_some()
            }
        }
    }

    /// Whether a transaction touched the map since the last call.
    pub fn take_touched(&self) -> bool {
        self.touched.swap(false, Ordering::Relaxed)
    }

    /// Makes the document's map show the index: the correction as a v1 update (applied
    /// already, `clocks` advanced), or `None` when the map is right.
    pub(super) fn reconcile(&self, doc: &Doc, clocks: &mut Clocks) -> Option<Bytes> {
        let (extra, wrong) = {
            let txn = doc.transact();
            self.differences(&txn)
        };
        if extra.is_empty() && wrong.is_empty() {
            self.take_touched();
            return None;
        }
        let mut txn = doc.transact_mut();
        for key in &extra {
            self.map.remove(&mut txn, key);
        }
        for id in &wrong {
            if let Some(entry) = self.files.get(id) {
                self.map
                    .insert(&mut txn, id.to_string(), entry.path.as_str());
            }
        }
        clocks.advance(txn.insert_set());
        let update = Bytes::from(txn.encode_update_v1());
        drop(txn);
        self.take_touched();
        Some(update)
    }

    /// The map's keys that are not files, and the files the map does not show right.
    fn differences<T: ReadTxn>(&self, txn: &T) -> (Vec<String>, Vec<Uuid>) {
        let mut extra = Vec::new();
        let mut seen = HashSet::new();
        for (key, value) in self.map.iter(txn) {
            // A file's key is its id in the one form the server writes: any other
            // spelling of it is a key of its own, and not a file.
            let id = Uuid::try_parse(key)
                .ok()
                .filter(|id| self.files.contains_key(id) && id.hyphenated().to_string() == key);
            let right = id.is_some_and(|id| shows(&value, &self.files[&id].path));
            match (id, right) {
                (Some(id), true) => {
                    seen.insert(id);
                }
                (Some(_), false) => {}
                (None, _) => extra.push(key.to_string()),
            }
        }
        let wrong = (self.files.keys())
            .filter(|id| !seen.contains(id))
            .copied()
            .collect();
        (extra, wrong)
    }

    /// The path of file `id`, if the project has it.
    pub fn path(&self, id: Uuid) -> Option<&str> {
        self.files.get(&id).map(|entry| entry.path.as_str())
    }
}

/// Whether a map value is the string `path` (a shared type holding it is not).
fn shows(value: &Out, path: &str) -> bool {
    matches!(value, Out::Any(Any::String(s)) if **s == *path)
}

#[cfg(test)]
mod tests {
    use yrs::updates::decoder::Decode;
    use yrs::Update;

    use super::*;

    fn record(id: Uuid, path: &str) -> FileRecord {
        FileRecord {
            id,
            path: path.into(),
            language: "rust".into(),
            bytes: 0,
            updated_at: 0,
            revision: 0,
        }
    }

    fn map_of(doc: &Doc) -> BTreeMap<String, String> {
        let map = doc.get_or_insert_map(FILES);
        let txn = doc.transact();
        map.iter(&txn)
            .map(|(k, v)| (k.to_string(), v.to_string(&txn)))
            .collect()
    }

    #[test]
    fn the_map_is_put_back_to_the_index_whatever_a_client_does() {
        let (a, b) = (Uuid::new_v4(), Uuid::new_v4());
        let doc = Doc::new();
        let mut clocks = Clocks::of(&doc.transact());
        let index = FileIndex::new(&doc, &[record(a, "main.rs"), record(b, "src/lib.rs")]);
        // A new room's map is empty: the first reconcile fills it.
        assert!(index.reconcile(&doc, &mut clocks).is_some());
        let right = map_of(&doc);
        assert_eq!(right.len(), 2);
        assert!(index.reconcile(&doc, &mut clocks).is_none());

        // A client renames, adds, deletes and nests: all of it is put back.
        let client = Doc::new();
        let state = doc
            .transact()
            .encode_state_as_update_v1(&yrs::StateVector::default());
        client
            .transact_mut()
            .apply_update(Update::decode_v1(&state).unwrap())
            .unwrap();
        let map = client.get_or_insert_map(FILES);
        let forged = {
            let mut txn = client.transact_mut();
            map.insert(&mut txn, a.to_string(), "../../etc/passwd");
            map.insert(&mut txn, "not-a-file", "x");
            map.insert(&mut txn, a.to_string().to_uppercase(), "../x");
            map.insert(&mut txn, a.simple().to_string(), "../y");
            map.remove(&mut txn, &b.to_string());
            txn.encode_update_v1()
        };
        {
            let mut txn = doc.transact_mut();
            txn.apply_update(Update::decode_v1(&forged).unwrap())
                .unwrap();
            clocks.advance(txn.insert_set());
        }
        assert!(index.take_touched());
        let correction = index.reconcile(&doc, &mut clocks).expect("a correction");
        assert_eq!(map_of(&doc), right);
        // The correction brings the client back too.
        client
            .transact_mut()
            .apply_update(Update::decode_v1(&correction).unwrap())
            .unwrap();
        assert_eq!(map_of(&client), right);
        assert!(!index.take_touched());
        assert_eq!(clocks.state_vector(), &doc.transact().state_vector());
    }

    #[test]
    fn late_and_repeated_changes_are_ignored() {
        let a = Uuid::new_v4();
        let doc = Doc::new();
        let mut index = FileIndex::new(&doc, &[]);
        let listed = |path: &str, revision| FileChange::Listed {
            id: a,
            path: path.into(),
            revision,
        };
        assert!(index.apply(listed("a.rs", 0)));
        assert!(!index.apply(listed("a.rs", 0)));
        assert!(index.apply(listed("b.rs", 2)));
        assert!(
            !index.apply(listed("c.rs", 1)),
            "an older rename arriving late"
        );
        assert_eq!(index.path(a), Some("b.rs"));
        assert!(index.apply(FileChange::Removed { id: a }));
        assert!(
            !index.apply(listed("d.rs", 3)),
            "a deleted file stays deleted"
        );
        assert_eq!(index.path(a), None);
    }
}
