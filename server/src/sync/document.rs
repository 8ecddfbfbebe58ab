//! A room's Yjs document, in one place: its layout (the shared text `code` and the map
//! `meta` with `title` and `language`, the names the browser editor in
//! `ui/src/connection.js` and any stock Yjs client use), and [`RoomDoc`], the live
//! document a room actor serves: loaded from the store, answering sync requests, applying
//! updates, keeping its title and language valid, described and mirrored.

use std::panic::AssertUnwindSafe;
use std::sync::Arc;

use bytes::Bytes;
use uuid::Uuid;
use yrs::updates::decoder::Decode;
use yrs::{
    Any, Doc, GetString, Map, MapRef, Out, ReadTxn, StateVector, Text, TextRef, Transact,
    TransactionMut, Update,
};

use super::budget::{Charge, MemoryBudget};
use super::clocks::Clocks;
use super::files::{FileChange, FileIndex, FILES};
use super::merge;
use super::persist::Source;
use super::preflight::Shape;
use super::protocol;
use super::work::off_the_workers;
use crate::meta::{check_language, check_title, DEFAULT_LANGUAGE, DEFAULT_TITLE};
use crate::paths::ProjectPath;
use crate::store::{now_millis, FileRecord, Mirror, RoomText, StoredDoc};

/// The shared text.
pub const TEXT: &str = "code";
/// The map of room settings.
pub const META: &str = "meta";
/// `meta` key of the room's title.
pub const TITLE: &str = "title";
/// `meta` key of the room's language id.
pub const LANGUAGE: &str = "language";

/// A byte offset as yrs takes it (documents are capped far below 4 GiB).
fn u32_of(n: usize) -> Option<u32> {
    u32::try_from(n).ok()
}

/// The first stored state of new room `room`: `meta.title` and `meta.language` set, the
/// list of files holding its first file at `path`, and that file's `text`, as a v1
/// update.
pub fn initial_update(room: Uuid, path: &str, title: &str, language: &str, text: &str) -> Vec<u8> {
    let doc = Doc::new();
    let layout = Layout::on(&doc);
    let files = doc.get_or_insert_map(FILES);
    {
        let mut txn = doc.transact_mut();
        layout.set_meta(&mut txn, TITLE, title);
        layout.set_meta(&mut txn, LANGUAGE, language);
        files.insert(&mut txn, room.to_string(), path);
        if !text.is_empty() {
            layout.text.push(&mut txn, text);
        }
    }
    let update = doc
        .transact()
        .encode_state_as_update_v1(&StateVector::default());
    update
}

/// The first stored state of a new file of a project: its text in `code`, as a v1 update.
pub fn file_update(text: &str) -> Vec<u8> {
    let doc = Doc::new();
    let layout = Layout::on(&doc);
    {
        let mut txn = doc.transact_mut();
        layout.text.push(&mut txn, text);
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

/// Updates up to this size are applied on the room's task; larger ones (which may hold
/// thousands of items whose placement costs quadratic time) off the async workers. Sync
/// replies for documents stored in more than this are encoded off the workers too.
const INLINE_WORK_BYTES: usize = 4096;
/// Memory a loaded document is counted at, per byte of its stored form. Measured with
/// yrs 0.28: 0.7 to 2 bytes per encoded byte for a document loaded from the store, up to
/// about 8 for one built live from 100,000 scattered one-character edits.
const MEMORY_PER_STORED_BYTE: usize = 4;

/// What applying an update did.
#[derive(Debug)]
pub enum Applied {
    /// The document changed: the update is to be stored and relayed.
    Changed,
    /// The document had all of it already.
    Unchanged,
    /// yrs refused it.
    Refused(String),
    /// yrs panicked: the document can no longer be trusted.
    Panicked,
}

/// A live document: a room's (its first file, its title and language, its list of files)
/// or one of its other files'.
pub struct RoomDoc {
    doc: Doc,
    layout: Layout,
    /// The room's list of its project's files; `None` in a file's document.
    files: Option<FileIndex>,
    /// The title and language as last seen valid.
    settings: Settings,
    /// The state vector, kept current from each change.
    clocks: Clocks,
    /// What a newcomer (empty state vector) is sent: the whole document as a sync step 2
    /// frame, encoded once and shared by every such join until the document next changes.
    full_state: Option<Bytes>,
    /// The size in stored form (snapshot plus the updates after it), an upper bound on
    /// the encoded size.
    stored_bytes: usize,
    /// What the document counts against the server's memory budget.
    memory: Charge,
}

impl Source for RoomDoc {
    fn mirror(&self) -> Mirror {
        Mirror {
            text: self.describe(),
            updated_at: now_millis(),
        }
    }

    fn snapshot(&mut self) -> Vec<u8> {
        let snapshot = self
            .doc
            .transact()
            .encode_state_as_update_v1(&StateVector::default());
        self.set_stored_bytes(snapshot.len());
        snapshot
    }
}

impl RoomDoc {
    /// Rebuilds a document from its stored snapshot and updates (CPU-heavy: call it off
    /// the async workers). `files` is the project's list for a room's document, `None`
    /// for a file's. Updates it cannot read are skipped; their errors are returned.
    pub fn load(
        stored: &StoredDoc,
        files: Option<&[FileRecord]>,
        budget: Arc<MemoryBudget>,
    ) -> (Self, Vec<String>) {
        let doc = Doc::new();
        let layout = Layout::on(&doc);
        let errors = replay(&doc, stored);
        let stored_bytes = stored.snapshot.as_ref().map_or(0, Vec::len)
            + stored.updates.iter().map(Vec::len).sum::<usize>();
        let (settings, clocks) = {
            let txn = doc.transact();
            let settings = match files {
                Some(_) => Settings::of(&layout, &txn, stored),
                // A file's title and language are its path's, whatever its `meta` holds.
                None => Settings::of_path(&stored.path),
            };
            (settings, Clocks::of(&txn))
        };
        let mut room = Self {
            files: files.map(|files| FileIndex::new(&doc, files)),
            doc,
            layout,
            settings,
            clocks,
            full_state: None,
            stored_bytes: 0,
            memory: Charge::new(budget),
        };
        room.set_stored_bytes(stored_bytes);
        (room, errors)
    }

    /// The Yjs document (presence is kept against it).
    pub fn doc(&self) -> &Doc {
        &self.doc
    }

    /// The budget the document counts against.
    pub fn budget(&self) -> &MemoryBudget {
        self.memory.budget()
    }

    /// The sync step 1 a joining peer is sent: the document's state vector.
    pub fn step1(&mut self) -> Bytes {
        debug_assert_eq!(
            self.clocks.state_vector(),
            &self.doc.transact().state_vector()
        );
        self.clocks.step1()
    }

    /// The document's state vector.
    pub fn state_vector(&self) -> StateVector {
        self.clocks.state_vector().clone()
    }

    /// What the document gained since it had state vector `sv`, as one v1 update.
    pub fn changes_since(&self, sv: &StateVector) -> Bytes {
        Bytes::from(self.doc.transact().encode_state_as_update_v1(sv))
    }

    /// Takes what another server changed in the room's list of files as the list it
    /// keeps (that server checked it against the store): it is not put back.
    pub fn accept_remote_files(&self) {
        if let Some(files) = &self.files {
            files.take_touched();
        }
    }

    /// Whether an update of this shape builds only on edits the document has.
    pub fn has_what_it_needs(&self, shape: &Shape) -> bool {
        shape.needs_only(|client| self.clocks.get(client))
    }

    /// Whether `update` (of this shape) holds anything the document lacks: an edit it does
    /// not have, or a deletion of something it has not deleted. A client that may only
    /// view sends the second kind when it joins (its sync reply repeats every deletion it
    /// knows of), which changes nothing and is let through.
    pub fn would_change(&self, update: &Update, shape: &Shape) -> bool {
        if (shape.sections.iter()).any(|&(client, _, end)| end > self.clocks.get(client)) {
            return true;
        }
        let deletes = update.delete_set();
        if deletes.is_empty() {
            return false;
        }
        let deleted = self.doc.transact().snapshot().delete_set;
        !deletes.diff(&deleted).is_empty()
    }

    /// Sets a room document's title to `title` (already checked) for the room's owner;
    /// the update that does, `None` in a file's document.
    pub fn retitle(&mut self, title: &str) -> Option<Bytes> {
        self.files.as_ref()?;
        let update = {
            let mut txn = self.doc.transact_mut();
            self.layout.set_meta(&mut txn, TITLE, title);
            self.clocks.advance(txn.insert_set());
            Bytes::from(txn.encode_update_v1())
        };
        self.settings.title = title.to_string();
        self.changed(update.len());
        Some(update)
    }

    /// The sync step 2 that gives a peer with state vector `sv` everything it lacks.
    pub fn sync_reply(&mut self, sv: &StateVector) -> Bytes {
        let doc = &self.doc;
        let large = self.stored_bytes > INLINE_WORK_BYTES;
        let encode = || {
            let work = || protocol::sync_step2(doc.transact().encode_state_as_update_v1(sv));
            if large {
                off_the_workers(work)
            } else {
                work()
            }
        };
        if sv.is_empty() {
            self.full_state.get_or_insert_with(encode).clone()
        } else {
            encode()
        }
    }

    /// Applies `update` (whose encoded form is `len` bytes long).
    pub fn apply(&mut self, update: Update, len: usize) -> Applied {
        let (doc, clocks) = (&self.doc, &mut self.clocks);
        let apply = || {
            std::panic::catch_unwind(AssertUnwindSafe(|| {
                let mut txn = doc.transact_mut();
                let applied = txn.apply_update(update);
                // Whatever got in, even from an update refused halfway.
                clocks.advance(txn.insert_set());
                applied.map(|()| {
                    !txn.insert_set().is_empty()
                        || !txn.delete_set().is_empty()
                        || txn.has_missing_updates()
                })
            }))
        };
        let applied = if len > INLINE_WORK_BYTES {
            off_the_workers(apply)
        } else {
            apply()
        };
        match applied {
            Ok(Ok(true)) => {
                self.changed(len);
                Applied::Changed
            }
            Ok(Ok(false)) => Applied::Unchanged,
            Ok(Err(error)) => Applied::Refused(error.to_string()),
            Err(_) => Applied::Panicked,
        }
    }

    fn changed(&mut self, stored_len: usize) {
        self.full_state = None;
        self.set_stored_bytes(self.stored_bytes.saturating_add(stored_len));
    }

    /// Whether the document stays within `cap` bytes with `update` applied, or at least
    /// does not grow. The stored size only grows between compactions; when it and the
    /// update together pass the cap, the document is measured as it would be after the
    /// update (text the update both adds and deletes takes no room).
    pub fn fits(&mut self, update: &[u8], cap: usize) -> bool {
        if self.stored_bytes.saturating_add(update.len()) <= cap {
            return true;
        }
        let doc = &self.doc;
        let (now, after) = off_the_workers(|| {
            let state = doc
                .transact()
                .encode_state_as_update_v1(&StateVector::default());
            if state.len().saturating_add(update.len()) <= cap {
                return (state.len(), 0);
            }
            (state.len(), size_after(&state, update))
        });
        self.set_stored_bytes(now);
        // An update that does not make the document larger (a deletion, in one already
        // over a cap that was lowered) is always taken.
        after <= cap.max(now)
    }

    /// Puts back what the last change broke in a room's document: a title or language
    /// made invalid (see [`Settings::enforce`]), a title changed by someone who may not
    /// (`may_retitle` false), and the list of files changed by anyone but the room. The
    /// corrections are applied already; they are returned to be stored and relayed. A
    /// file's document has nothing to keep.
    pub fn corrections(&mut self, may_retitle: bool) -> Vec<Bytes> {
        let Some(files) = &self.files else {
            return Vec::new();
        };
        let mut corrections = Vec::new();
        if files.take_touched() {
            corrections.extend(files.reconcile(&self.doc, &mut self.clocks));
        }
        let settings =
            self.settings
                .enforce(&self.layout, &self.doc, &mut self.clocks, may_retitle);
        corrections.extend(settings);
        for correction in &corrections {
            self.changed(correction.len());
        }
        corrections
    }

    /// Shows `change` in a room document's list of files; the update that does, if any.
    pub fn change_files(&mut self, change: FileChange) -> Option<Bytes> {
        let files = self.files.as_mut()?;
        if !files.apply(change) {
            return None;
        }
        let update = files.reconcile(&self.doc, &mut self.clocks)?;
        self.changed(update.len());
        Some(update)
    }

    /// Makes a room document's list of files show the project as loaded: the update
    /// that does, if the stored document was behind.
    pub fn list_files(&mut self) -> Option<Bytes> {
        let update = self
            .files
            .as_ref()?
            .reconcile(&self.doc, &mut self.clocks)?;
        self.changed(update.len());
        Some(update)
    }

    /// Brings the text to `text`, a new version of `base` made elsewhere (a file saved
    /// on disk), by the smallest edits, carried over whatever others changed since
    /// `base`. Returns the update, applied already, when anything changed.
    pub fn rewrite(&mut self, base: &str, text: &str) -> Option<Bytes> {
        let current = self.layout.text(&self.doc.transact());
        let large = current.len().max(text.len()) > INLINE_WORK_BYTES;
        let plan = || merge::rebase(base, &current, &merge::splices(base, text));
        let splices = if large { off_the_workers(plan) } else { plan() };
        let splices: Vec<(u32, u32, &str)> = (splices.iter())
            .map(|s| Some((u32_of(s.at)?, u32_of(s.delete)?, s.insert.as_str())))
            .collect::<Option<_>>()?;
        if splices.is_empty() {
            return None;
        }
        let update = {
            let mut txn = self.doc.transact_mut();
            for &(at, delete, insert) in &splices {
                if delete > 0 {
                    self.layout.text.remove_range(&mut txn, at, delete);
                }
                if !insert.is_empty() {
                    self.layout.text.insert(&mut txn, at, insert);
                }
            }
            self.clocks.advance(txn.insert_set());
            Bytes::from(txn.encode_update_v1())
        };
        self.changed(update.len());
        Some(update)
    }

    /// A file's document moved to `path`: what its mirror says from now on.
    pub fn moved(&mut self, path: &ProjectPath) {
        if self.files.is_none() {
            self.settings = Settings::of_path(path.as_str());
        }
    }

    /// The client id the room's own corrections are written under.
    pub fn client_id(&self) -> Option<i64> {
        i64::try_from(self.doc.client_id().get()).ok()
    }

    /// The text, title and language now.
    pub fn describe(&self) -> RoomText {
        self.settings.describe(&self.layout, &self.doc.transact())
    }

    fn set_stored_bytes(&mut self, bytes: usize) {
        self.stored_bytes = bytes;
        self.memory
            .set(bytes.saturating_mul(MEMORY_PER_STORED_BYTE));
    }
}

/// The room's title and language as last seen valid: what the room describes and
/// mirrors, and what it puts back when a client sets an invalid value or removes one.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Settings {
    title: String,
    language: String,
}

impl Settings {
    /// The settings a loaded document holds. One it lacks (or holds invalid) is taken
    /// from the room's row, `stored` (a document may have lost a key before the room
    /// enforced it), or else the default.
    pub fn of<T: ReadTxn>(layout: &Layout, txn: &T, stored: &StoredDoc) -> Self {
        let pick = |key, row: &str, check: fn(&str) -> Result<(), &'static str>, default| {
            layout
                .meta_string(txn, key)
                .filter(|v| check(v).is_ok())
                .or_else(|| Some(row.to_string()).filter(|v| !v.is_empty() && check(v).is_ok()))
                .unwrap_or_else(|| String::from(default))
        };
        Self {
            title: pick(TITLE, &stored.title, check_title, DEFAULT_TITLE),
            language: pick(LANGUAGE, &stored.language, check_language, DEFAULT_LANGUAGE),
        }
    }

    /// A file's: its path, and the language its extension implies.
    fn of_path(path: &str) -> Self {
        Self {
            title: path.to_string(),
            language: crate::paths::language_of(path).into(),
        }
    }

    /// The room's text as of `txn`, with these settings.
    pub fn describe<T: ReadTxn>(&self, layout: &Layout, txn: &T) -> RoomText {
        RoomText {
            code: layout.text(txn),
            title: self.title.clone(),
            language: self.language.clone(),
        }
    }

    /// Checks `doc`'s title and language after a change: valid values are remembered, and
    /// an invalid or removed one is put back, as is any new title unless `may_retitle`.
    /// Returns the correction as a v1 update (the room stores and relays it like any
    /// other), having advanced `clocks` by it.
    fn enforce(
        &mut self,
        layout: &Layout,
        doc: &Doc,
        clocks: &mut Clocks,
        may_retitle: bool,
    ) -> Option<Bytes> {
        let (title, language) = {
            let txn = doc.transact();
            (
                layout.meta_value(&txn, TITLE),
                layout.meta_value(&txn, LANGUAGE),
            )
        };
        let title_ok = match may_retitle {
            true => remember(title.as_ref(), check_title, &mut self.title),
            false => matches!(&title, Some(Out::Any(Any::String(s))) if **s == *self.title),
        };
        let language_ok = remember(language.as_ref(), check_language, &mut self.language);
        if title_ok && language_ok {
            return None;
        }
        let mut txn = doc.transact_mut();
        if !title_ok {
            layout.set_meta(&mut txn, TITLE, &self.title);
        }
        if !language_ok {
            layout.set_meta(&mut txn, LANGUAGE, &self.language);
        }
        clocks.advance(txn.insert_set());
        Some(Bytes::from(txn.encode_update_v1()))
    }
}

/// Whether `value` is a string that `check` accepts; if so, it becomes `last_valid`.
fn remember(
    value: Option<&Out>,
    check: fn(&str) -> Result<(), &'static str>,
    last_valid: &mut String,
) -> bool {
    match value {
        Some(Out::Any(Any::String(s))) if check(s).is_ok() => {
            if **s != **last_valid {
                *last_valid = s.to_string();
            }
            true
        }
        _ => false,
    }
}

/// The text of a stored document, as it would load (CPU-heavy for a long log).
pub fn stored_text(stored: &StoredDoc) -> String {
    let doc = Doc::new();
    let layout = Layout::on(&doc);
    replay(&doc, stored);
    let text = layout.text(&doc.transact());
    text
}

/// Applies a room's stored snapshot and updates to `doc`; an update it cannot read is
/// skipped and its error returned, in order, so that the caller can log it.
fn replay(doc: &Doc, stored: &StoredDoc) -> Vec<String> {
    let mut txn = doc.transact_mut();
    let mut errors = Vec::new();
    for bytes in stored.snapshot.iter().chain(stored.updates.iter()) {
        if let Err(error) = apply(&mut txn, bytes) {
            errors.push(error);
        }
    }
    errors
}

fn apply(txn: &mut TransactionMut, update: &[u8]) -> Result<(), String> {
    let update = Update::decode_v1(update).map_err(|e| e.to_string())?;
    txn.apply_update(update).map_err(|e| e.to_string())
}

/// The encoded size of the document `state` once `update` is applied to it, measured on
/// a scratch copy (`usize::MAX` when either cannot be read).
fn size_after(state: &[u8], update: &[u8]) -> usize {
    let scratch = Doc::new();
    {
        let mut txn = scratch.transact_mut();
        for bytes in [state, update] {
            if apply(&mut txn, bytes).is_err() {
                return usize::MAX;
            }
        }
    }
    let size = scratch
        .transact()
        .encode_state_as_update_v1(&StateVector::default())
        .len();
    size
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
            .apply_update(
                Update::decode_v1(&initial_update(
                    Uuid::nil(),
                    "main.rs",
                    "Pairing",
                    "rust",
                    "",
                ))
                .unwrap(),
            )
            .unwrap();
        let txn = doc.transact();
        assert_eq!(layout.meta_string(&txn, TITLE).as_deref(), Some("Pairing"));
        assert_eq!(layout.meta_string(&txn, LANGUAGE).as_deref(), Some("rust"));
        assert_eq!(layout.text(&txn), "");
        assert_eq!(layout.meta_string(&txn, "missing"), None);
    }
}
