//! Names defined in a project's other files, offered while typing in one of them.
//!
//! The index is built per room from the files' stored texts (their mirrors, at most about
//! a second behind), off the request path: a request takes whatever index is ready and
//! asks for a fresh one when it is older than [`FRESH_FOR`]. So completion never waits
//! for a project to be read, whatever its size.

use std::collections::{HashMap, HashSet};
use std::sync::{Arc, Mutex, PoisonError};
use std::time::{Duration, Instant};

use uuid::Uuid;

use super::{index, languages, scan, Kind};
use crate::store::Store;

/// How long an index is used before a request asks for a new one.
pub const FRESH_FOR: Duration = Duration::from_secs(5);
/// Most names kept per project.
const MAX_NAMES: usize = 50_000;
/// Rooms whose index is kept; the least recently asked for goes first.
const MAX_ROOMS: usize = 256;

/// A name defined in one of the project's files.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ProjectName {
    /// The name.
    pub name: String,
    /// What it names.
    pub kind: Kind,
    /// The file it is defined in.
    pub file: Uuid,
    /// That file's path, shown beside the suggestion.
    pub path: String,
}

/// The names defined in `text`, the file `file` at `path`.
pub fn names_in(file: Uuid, path: &str, text: &str) -> Vec<ProjectName> {
    let language = crate::paths::language_of(path);
    let lang = languages::find(language).unwrap_or(&languages::PLAIN);
    let scanned = scan::scan(text, &lang.syntax, text.len());
    let doc = index::build(&scanned.tokens, lang, text.len(), None);
    let mut names: Vec<ProjectName> = (doc.names.iter())
        .filter(|(name, info)| info.defined && name.chars().count() > 1)
        .map(|(name, info)| ProjectName {
            name: (*name).to_string(),
            kind: info.kind,
            file,
            path: path.to_string(),
        })
        .collect();
    names.sort_by(|a, b| a.name.cmp(&b.name));
    names
}

struct Entry {
    built: Instant,
    names: Arc<Vec<ProjectName>>,
    /// When it was last asked for.
    used: Instant,
}

/// The index of every room asked about recently.
#[derive(Default)]
pub struct ProjectIndex {
    rooms: Mutex<HashMap<Uuid, Entry>>,
    building: Mutex<HashSet<Uuid>>,
}

impl ProjectIndex {
    /// The names room `room`'s project defines, as last indexed (empty until the first
    /// index is ready). Starts building a fresh index on `store` when there is none or
    /// it is older than [`FRESH_FOR`].
    pub fn names(self: &Arc<Self>, room: Uuid, store: &Arc<dyn Store>) -> Arc<Vec<ProjectName>> {
        let now = Instant::now();
        let (names, stale) = {
            let mut rooms = self.rooms.lock().unwrap_or_else(PoisonError::into_inner);
            match rooms.get_mut(&room) {
                Some(entry) => {
                    entry.used = now;
                    (entry.names.clone(), now - entry.built > FRESH_FOR)
                }
                None => (Arc::default(), true),
            }
        };
        if stale {
            self.refresh(room, store.clone());
        }
        names
    }

    /// Builds room `room`'s index in the background, unless that is under way.
    fn refresh(self: &Arc<Self>, room: Uuid, store: Arc<dyn Store>) {
        if !(self.building.lock().unwrap_or_else(PoisonError::into_inner)).insert(room) {
            return;
        }
        let this = self.clone();
        tokio::spawn(async move {
            let texts = store.project_texts(room).await;
            let built = match texts {
                Ok(files) => tokio::task::spawn_blocking(move || {
                    let mut names = Vec::new();
                    for (file, text) in &files {
                        names.extend(names_in(file.id, &file.path, text));
                        if names.len() >= MAX_NAMES {
                            names.truncate(MAX_NAMES);
                            break;
                        }
                    }
                    names
                })
                .await
                .ok(),
                Err(error) => {
                    tracing::warn!(%error, "cannot index a project for completion");
                    None
                }
            };
            if let Some(names) = built {
                this.store(room, names);
            }
            (this.building.lock().unwrap_or_else(PoisonError::into_inner)).remove(&room);
        });
    }

    fn store(&self, room: Uuid, names: Vec<ProjectName>) {
        let now = Instant::now();
        let mut rooms = self.rooms.lock().unwrap_or_else(PoisonError::into_inner);
        if rooms.len() >= MAX_ROOMS && !rooms.contains_key(&room) {
            if let Some(oldest) = rooms.iter().min_by_key(|(_, e)| e.used).map(|(id, _)| *id) {
                rooms.remove(&oldest);
            }
        }
        let entry = Entry {
            built: now,
            names: Arc::new(names),
            used: now,
        };
        rooms.insert(room, entry);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_files_definitions_are_its_names() {
        let id = Uuid::new_v4();
        let names = names_in(
            id,
            "src/util.rs",
            "pub fn compute_checksum(data: &[u8]) -> u32 { let total = 0; total }\nstruct Ledger;\n",
        );
        let found: Vec<&str> = names.iter().map(|n| n.name.as_str()).collect();
        assert!(found.contains(&"compute_checksum"), "{found:?}");
        assert!(found.contains(&"Ledger"), "{found:?}");
        assert!(names
            .iter()
            .all(|n| n.file == id && n.path == "src/util.rs"));
        let python = names_in(id, "app.py", "def load_config(path):\n    return path\n");
        assert!(python.iter().any(|n| n.name == "load_config"));
    }
}
