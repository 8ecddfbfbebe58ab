//! Sharing a folder from the host's disk as a room's project.
//!
//! [`share`] reads the folder (respecting `.gitignore`, `.ignore` and `.pairpadignore`,
//! skipping `.git/`, symbolic links, binary files and files over the limits, and saying
//! which), creates a room holding its files, and keeps the two in step until
//! [`Sharing::stop`]:
//! - an edit made in the room reaches the file soon after its author pauses (when it is
//!   durable, and [`QUIET`] after the last one): written to a temporary file beside it
//!   and renamed over it, its permissions kept;
//! - a file created, renamed or deleted in the room is created, renamed or deleted on
//!   disk;
//! - a change on disk (an editor saving, `git checkout`, a formatter) reaches the room as
//!   the smallest edits from the text last synced, carried over what people typed since
//!   ([`crate::sync::merge`]); a new file on disk joins the project, a deleted one leaves.
//!
//! Every write goes through a [`cap_std::fs::Dir`] opened on the folder: no path from the
//! room, and no symbolic link in the folder, can make it write outside.

use std::collections::{HashMap, HashSet};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::Duration;

use cap_std::ambient_authority;
use cap_std::fs::Dir;
use tokio::sync::{broadcast, mpsc};
use tokio::task::JoinHandle;
use tokio::time::Instant;
use tokio_util::sync::CancellationToken;
use uuid::Uuid;

use crate::paths::ProjectPath;
use crate::projects::{self, FileError};
use crate::store::{now_millis, NewFile, StoreError};
use crate::sync::work::off_the_workers;
use crate::sync::{document, Change, DocId};
use crate::AppState;

/// How long after the last change a file is written, on either side.
pub const QUIET: Duration = Duration::from_millis(300);
/// Bytes read to tell a binary file (it has a NUL byte) from text.
const SNIFF_BYTES: usize = 8192;
/// The name prefix of the temporary files a write goes through.
const TEMP_PREFIX: &str = ".pairpad-write-";
/// Disk events waiting for the sharing task; more make it look at the whole folder.
const DISK_EVENTS: usize = 4096;

/// Why a file of the folder is not in the project.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SkipReason {
    /// A symbolic link: never followed.
    Symlink,
    /// Not UTF-8 text.
    Binary,
    /// Over `--max-document-bytes`.
    TooLarge,
    /// Its path breaks the project's rules (see [`crate::paths`]).
    BadPath,
    /// Another file's path differs from it only by letter case.
    CaseClash,
    /// The project reached `--max-files-per-room` or `--max-project-bytes`.
    ProjectFull,
    /// It could not be read.
    Unreadable,
}

impl SkipReason {
    /// The reason in words.
    pub fn describe(self) -> &'static str {
        match self {
            Self::Symlink => "symbolic link",
            Self::Binary => "binary file",
            Self::TooLarge => "over the size limit",
            Self::BadPath => "path not allowed",
            Self::CaseClash => "differs from another path only by letter case",
            Self::ProjectFull => "the project is full",
            Self::Unreadable => "unreadable",
        }
    }
}

/// A file left out, and why.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Skipped {
    /// Its path in the folder.
    pub path: String,
    /// Why.
    pub why: SkipReason,
}

/// Why a folder could not be shared.
#[derive(Debug, thiserror::Error)]
pub enum ShareError {
    /// The folder cannot be opened.
    #[error("cannot open {0}: {1}")]
    Folder(PathBuf, std::io::Error),
    /// The folder cannot be watched for changes.
    #[error("cannot watch {0}: {1}")]
    Watch(PathBuf, notify::Error),
    /// The room could not be created.
    #[error("cannot create the room: {0}")]
    Room(#[from] crate::rooms::CreateError),
    /// The store failed.
    #[error(transparent)]
    Store(#[from] StoreError),
}

/// A folder being shared.
pub struct Sharing {
    /// The room (its own id, which names its first file; no link).
    pub room: Uuid,
    /// The room as created: its links and its owner key.
    pub created: crate::rooms::Created,
    /// Files left out of the project.
    pub skipped: Vec<Skipped>,
    stop: CancellationToken,
    task: JoinHandle<usize>,
    _watcher: notify::RecommendedWatcher,
}

impl Sharing {
    /// Stops sharing once every edit made in the room is on disk; the number of files
    /// whose room text could not be written (0 when all is on disk).
    pub async fn stop(self) -> usize {
        self.stop.cancel();
        match self.task.await {
            Ok(unwritten) => unwritten,
            Err(error) => {
                tracing::error!(%error, "the sharing task failed");
                usize::MAX
            }
        }
    }
}

/// One file of the folder as read.
struct Found {
    path: ProjectPath,
    text: String,
}

/// Reads `folder` and opens a room holding its files (titled `title`, or the folder's
/// name), kept in step with the folder until [`Sharing::stop`].
pub async fn share(
    state: &AppState,
    folder: &Path,
    title: Option<&str>,
) -> Result<Sharing, ShareError> {
    let folder = folder
        .canonicalize()
        .map_err(|e| ShareError::Folder(folder.to_path_buf(), e))?;
    let dir = Dir::open_ambient_dir(&folder, ambient_authority())
        .map_err(|e| ShareError::Folder(folder.clone(), e))?;
    let config = state.config.clone();
    let root = folder.clone();
    let (found, skipped) = tokio::task::spawn_blocking(move || {
        scan(
            &root,
            config.max_document_bytes,
            config.max_files_per_room,
            config.max_project_bytes,
        )
    })
    .await
    .map_err(|e| ShareError::Folder(folder.clone(), std::io::Error::other(e.to_string())))?;
    let name = folder.file_name().map(|n| n.to_string_lossy().into_owned());
    let title = title.map(str::to_string).or(name);

    // The first file is the README at the top, else the first file by path.
    let first_at = found
        .iter()
        .position(|f| f.path.key() == "readme.md")
        .or(if found.is_empty() { None } else { Some(0) });
    let mut found = found;
    let first = first_at.map(|at| found.remove(at));
    let created = match &first {
        Some(first) => {
            crate::rooms::create_project(
                state.store.as_ref(),
                title.as_deref(),
                first.path.clone(),
                &first.text,
            )
            .await?
        }
        None => crate::rooms::create(state.store.as_ref(), title.as_deref(), None).await?,
    };
    let room = created.id;
    let created_at = now_millis();
    let files: Vec<NewFile> = found
        .iter()
        .map(|f| NewFile {
            id: Uuid::new_v4(),
            path: f.path.clone(),
            snapshot: document::file_update(&f.text),
            text: f.text.clone(),
            created_at,
        })
        .collect();
    let limits = projects::limits(state);
    if !files.is_empty() && !state.store.create_files(room, &files, limits).await? {
        return Err(ShareError::Store(StoreError::Corrupt(
            "the new room vanished".into(),
        )));
    }

    let mut tracked = Tracked::default();
    match first {
        Some(first) => tracked.add(room, first.path, first.text),
        // An empty folder: the room's own first file is written once edited.
        None => {
            let listed = projects::list(state, room).await.ok().unwrap_or_default();
            if let Some(path) = listed
                .first()
                .and_then(|f| ProjectPath::parse(&f.path).ok())
            {
                tracked.add(room, path, String::new());
            }
        }
    }
    for file in files {
        tracked.add(file.id, file.path, file.text);
    }

    let (disk_tx, disk_rx) = mpsc::channel(DISK_EVENTS);
    let overflow = Arc::new(AtomicBool::new(false));
    let watcher = watch(&folder, disk_tx, overflow.clone())?;
    let stop = CancellationToken::new();
    let agent = Agent {
        state: state.clone(),
        room,
        dir,
        tracked,
        changes: state.sync.subscribe(),
        disk: disk_rx,
        overflow,
        folder,
        text_due: HashMap::new(),
        disk_due: HashMap::new(),
    };
    let task = tokio::spawn(agent.run(stop.clone()));
    Ok(Sharing {
        room,
        created,
        skipped,
        stop,
        task,
        _watcher: watcher,
    })
}

/// Reads every file of `root` the ignore rules let through, in path order.
fn scan(
    root: &Path,
    max_file_bytes: usize,
    max_files: usize,
    max_project_bytes: usize,
) -> (Vec<Found>, Vec<Skipped>) {
    let mut found = Vec::new();
    let mut skipped = Vec::new();
    let mut keys = HashSet::new();
    let mut project_bytes = 0usize;
    let walk = walker(root).sort_by_file_path(|a, b| a.cmp(b)).build();
    for entry in walk.flatten() {
        let Some(kind) = entry.file_type() else {
            continue;
        };
        let Ok(relative) = entry.path().strip_prefix(root) else {
            continue;
        };
        let shown = relative.to_string_lossy().replace('\\', "/");
        if shown.is_empty() || kind.is_dir() {
            continue;
        }
        let mut skip = |why| {
            skipped.push(Skipped {
                path: shown.clone(),
                why,
            })
        };
        if kind.is_symlink() {
            skip(SkipReason::Symlink);
            continue;
        }
        let Some(path) = relative.to_str().and_then(|p| ProjectPath::parse(p).ok()) else {
            skip(SkipReason::BadPath);
            continue;
        };
        match read_text(entry.path(), max_file_bytes) {
            Ok(text) => {
                if !keys.insert(path.key()) {
                    skip(SkipReason::CaseClash);
                } else if found.len() >= max_files || project_bytes + text.len() > max_project_bytes
                {
                    skip(SkipReason::ProjectFull);
                } else {
                    project_bytes += text.len();
                    found.push(Found { path, text });
                }
            }
            Err(why) => skip(why),
        }
    }
    (found, skipped)
}

/// A walk of `root` as sharing sees it: ignore files respected (`.gitignore` even outside
/// a Git repository, `.ignore`, `.pairpadignore`), hidden files kept, `.git`, symbolic
/// links and editors' scratch files never entered.
fn walker(root: &Path) -> ignore::WalkBuilder {
    let mut walk = ignore::WalkBuilder::new(root);
    walk.hidden(false)
        .follow_links(false)
        .require_git(false)
        .add_custom_ignore_filename(".pairpadignore")
        .filter_entry(|entry| {
            let name = entry.file_name();
            name != ".git" && !name.to_str().is_some_and(is_scratch)
        });
    walk
}

/// Whether a file name is an editor's scratch file, never part of a project: backups
/// (`main.rs~`), Vim's swap files and the file it writes to test a folder (`4913`),
/// Emacs's lock and autosave files (`.#main.rs`, `#main.rs#`), macOS's `.DS_Store`, and
/// sharing's own temporary files.
fn is_scratch(name: &str) -> bool {
    name.ends_with('~')
        || [".swp", ".swo", ".swx"].iter().any(|s| name.ends_with(s))
        || name.starts_with(".#")
        || (name.len() > 1 && name.starts_with('#') && name.ends_with('#'))
        || name == "4913"
        || name == ".DS_Store"
        || name.starts_with(TEMP_PREFIX)
}

/// Whether the ignore rules let the file at `path` into the project: a walk down to it
/// only, which reads the ignore files on the way.
fn admitted(root: &Path, path: &ProjectPath) -> bool {
    let target = root.join(path.as_str());
    let along = target.clone();
    let walk = walker(root)
        .filter_entry(move |entry| along.starts_with(entry.path()) && entry.file_name() != ".git")
        .build();
    walk.flatten()
        .any(|entry| entry.path() == target && entry.file_type().is_some_and(|t| t.is_file()))
}

/// The text of the file at `path`, if it is UTF-8 text within `max_bytes`.
fn read_text(path: &Path, max_bytes: usize) -> Result<String, SkipReason> {
    let size = std::fs::symlink_metadata(path).map_err(|_| SkipReason::Unreadable)?;
    if size.len() > max_bytes as u64 {
        return Err(SkipReason::TooLarge);
    }
    let bytes = std::fs::read(path).map_err(|_| SkipReason::Unreadable)?;
    text_of(bytes)
}

/// `bytes` as text, unless they look binary.
fn text_of(bytes: Vec<u8>) -> Result<String, SkipReason> {
    if bytes[..bytes.len().min(SNIFF_BYTES)].contains(&0) {
        return Err(SkipReason::Binary);
    }
    String::from_utf8(bytes).map_err(|_| SkipReason::Binary)
}

/// Watches `folder`, handing the paths of changes to `events`; when they back up,
/// `overflow` says the whole folder must be looked at again.
fn watch(
    folder: &Path,
    events: mpsc::Sender<PathBuf>,
    overflow: Arc<AtomicBool>,
) -> Result<notify::RecommendedWatcher, ShareError> {
    use notify::Watcher;
    let mut watcher =
        notify::recommended_watcher(move |event: notify::Result<notify::Event>| match event {
            // The kernel's queue overflowed: events were lost.
            Ok(event) if event.need_rescan() => {
                overflow.store(true, Ordering::Relaxed);
            }
            // Reading a file (the sharing task's own reads included) changes nothing.
            Ok(event) if event.kind.is_access() => {}
            Ok(event) => {
                for path in event.paths {
                    if events.try_send(path).is_err() {
                        overflow.store(true, Ordering::Relaxed);
                    }
                }
            }
            Err(_) => overflow.store(true, Ordering::Relaxed),
        })
        .map_err(|e| ShareError::Watch(folder.to_path_buf(), e))?;
    watcher
        .watch(folder, notify::RecursiveMode::Recursive)
        .map_err(|e| ShareError::Watch(folder.to_path_buf(), e))?;
    Ok(watcher)
}

/// A file known on both sides, with the text they last agreed on.
struct File {
    path: ProjectPath,
    synced: String,
}

/// The files the sharing task keeps in step.
#[derive(Default)]
struct Tracked {
    files: HashMap<Uuid, File>,
    /// Each file's id by its exact path.
    by_path: HashMap<String, Uuid>,
}

impl Tracked {
    fn add(&mut self, id: Uuid, path: ProjectPath, synced: String) {
        self.by_path.insert(path.to_string(), id);
        self.files.insert(id, File { path, synced });
    }

    fn remove(&mut self, id: Uuid) -> Option<File> {
        let file = self.files.remove(&id)?;
        // Only if the path is still this file's (another may have moved there).
        if self.by_path.get(file.path.as_str()) == Some(&id) {
            self.by_path.remove(file.path.as_str());
        }
        Some(file)
    }

    fn id_at(&self, path: &ProjectPath) -> Option<Uuid> {
        self.by_path.get(path.as_str()).copied()
    }
}

/// The task that keeps a room and a folder in step.
struct Agent {
    state: AppState,
    room: Uuid,
    dir: Dir,
    folder: PathBuf,
    tracked: Tracked,
    changes: broadcast::Receiver<Change>,
    disk: mpsc::Receiver<PathBuf>,
    overflow: Arc<AtomicBool>,
    /// Files whose room text changed, and when to write them.
    text_due: HashMap<Uuid, Instant>,
    /// Paths that changed on disk, and when to read them.
    disk_due: HashMap<ProjectPath, Instant>,
}

impl Agent {
    /// Keeps the two in step until `stop`; then the number of files whose room text
    /// could not be written.
    async fn run(mut self, stop: CancellationToken) -> usize {
        loop {
            let next = self
                .text_due
                .values()
                .chain(self.disk_due.values())
                .min()
                .copied();
            tokio::select! {
                () = stop.cancelled() => break,
                change = self.changes.recv() => self.on_change(change).await,
                Some(path) = self.disk.recv() => self.on_disk_event(&path),
                () = sleep_until(next), if next.is_some() => {}
            }
            if self.overflow.swap(false, Ordering::Relaxed) {
                self.rescan_disk();
            }
            self.do_due().await;
        }
        // Before sharing stops: what changed on disk goes in, files made or moved in the
        // room go out, and then every edit made in the room goes to disk.
        let paths: Vec<ProjectPath> = self.disk_due.drain().map(|(path, _)| path).collect();
        for path in paths {
            self.read_in(&path).await;
        }
        self.follow_the_room().await;
        let ids: Vec<Uuid> = self.tracked.files.keys().copied().collect();
        let mut unwritten = 0;
        for id in ids {
            if !self.write_back(id, false).await {
                unwritten += 1;
            }
        }
        unwritten
    }

    async fn on_change(&mut self, change: Result<Change, broadcast::error::RecvError>) {
        let due = Instant::now() + QUIET;
        match change {
            Ok(Change::Text(doc)) if doc.room == self.room => {
                if self.tracked.files.contains_key(&doc.id) {
                    self.text_due.insert(doc.id, due);
                }
            }
            Ok(Change::Files(room)) if room == self.room => self.follow_the_room().await,
            Ok(_) => {}
            // Fell behind: look at everything.
            Err(broadcast::error::RecvError::Lagged(_)) => {
                for id in self.tracked.files.keys() {
                    self.text_due.insert(*id, due);
                }
                self.follow_the_room().await;
            }
            Err(broadcast::error::RecvError::Closed) => {}
        }
    }

    fn on_disk_event(&mut self, absolute: &Path) {
        let Ok(relative) = absolute.strip_prefix(&self.folder) else {
            return;
        };
        let Some(path) = relative.to_str().and_then(|p| ProjectPath::parse(p).ok()) else {
            return;
        };
        let name = path.segments().last().unwrap_or_default();
        if is_scratch(name) || path.segments().any(|s| s == ".git") {
            return;
        }
        self.disk_due.insert(path, Instant::now() + QUIET);
    }

    /// After missed disk events: every known file is read again, and new files found.
    fn rescan_disk(&mut self) {
        let due = Instant::now() + QUIET;
        for file in self.tracked.files.values() {
            self.disk_due.insert(file.path.clone(), due);
        }
        let (folder, max) = (&self.folder, self.state.config.max_document_bytes);
        let (found, _) = off_the_workers(|| scan(folder, max, usize::MAX, usize::MAX));
        for file in found {
            self.disk_due.insert(file.path, due);
        }
    }

    async fn do_due(&mut self) {
        let now = Instant::now();
        let texts: Vec<Uuid> = (self.text_due.iter())
            .filter(|(_, due)| **due <= now)
            .map(|(id, _)| *id)
            .collect();
        for id in texts {
            self.text_due.remove(&id);
            self.write_back(id, false).await;
        }
        let paths: Vec<ProjectPath> = (self.disk_due.iter())
            .filter(|(_, due)| **due <= now)
            .map(|(path, _)| path.clone())
            .collect();
        for path in paths {
            self.disk_due.remove(&path);
            self.read_in(&path).await;
        }
    }

    /// Writes file `id`'s live text to disk if it is not what the disk has (or anyway,
    /// when `always`); whether the disk has it now.
    async fn write_back(&mut self, id: Uuid, always: bool) -> bool {
        let Some(path) = self.tracked.files.get(&id).map(|f| f.path.clone()) else {
            return true;
        };
        // A change on disk is settling (an editor or `git checkout` may be halfway
        // through writing): take it in first, and write after.
        if !always && self.disk_due.contains_key(&path) {
            self.text_due.insert(id, Instant::now() + QUIET);
            return false;
        }
        // The disk changed since the last sync and that change is not in yet: merge it
        // first, so that writing the room's text does not undo it.
        if !always && self.disk_differs(id, &path) {
            self.read_in(&path).await;
        }
        let Ok(text) = projects::read(&self.state, self.room, id).await else {
            return false;
        };
        let unchanged = (self.tracked.files.get(&id)).is_some_and(|f| f.synced == text);
        if unchanged && !always {
            return true;
        }
        // The disk may have changed while the room's text was read: look once more.
        if !always && self.disk_differs(id, &path) {
            self.disk_due.insert(path, Instant::now());
            self.text_due.insert(id, Instant::now() + QUIET);
            return false;
        }
        let dir = &self.dir;
        match off_the_workers(|| write_file(dir, &path, &text)) {
            Ok(()) => {
                if let Some(file) = self.tracked.files.get_mut(&id) {
                    file.synced = text;
                }
                true
            }
            Err(error) => {
                tracing::warn!(%path, %error, "cannot write a shared file");
                false
            }
        }
    }

    /// Whether the disk holds something at `path` other than file `id`'s synced text.
    fn disk_differs(&self, id: Uuid, path: &ProjectPath) -> bool {
        let max = self.state.config.max_document_bytes;
        let dir = &self.dir;
        let on_disk = off_the_workers(|| read_file(dir, path, max));
        let synced = self.tracked.files.get(&id).map(|f| f.synced.as_str());
        matches!(&on_disk, Ok(Some(disk)) if Some(disk.as_str()) != synced)
    }

    /// Takes what the disk has at `path` into the room.
    async fn read_in(&mut self, path: &ProjectPath) {
        let max = self.state.config.max_document_bytes;
        let dir = &self.dir;
        let on_disk = off_the_workers(|| read_file(dir, path, max));
        let known = self.tracked.id_at(path);
        match (on_disk, known) {
            (Ok(Some(text)), Some(id)) => {
                let Some(file) = self.tracked.files.get_mut(&id) else {
                    return;
                };
                if file.synced == text {
                    return;
                }
                let base = file.synced.clone();
                let doc = DocId::file(self.room, id);
                match self.state.sync.rewrite(doc, base, text.clone()).await {
                    Some(live) => {
                        if let Some(file) = self.tracked.files.get_mut(&id) {
                            file.synced = text.clone();
                        }
                        // Others' edits merged in: the disk gets them once durable.
                        if live != text {
                            self.text_due.insert(id, Instant::now() + QUIET);
                        }
                    }
                    // Not taken (the file is unloading or gone): look again later.
                    None => {
                        self.disk_due.insert(path.clone(), Instant::now() + QUIET);
                    }
                }
            }
            (Ok(Some(text)), None) => {
                let folder = &self.folder;
                if !off_the_workers(|| admitted(folder, path)) {
                    return;
                }
                match projects::create(&self.state, self.room, path.as_str(), &text).await {
                    Ok(file) => self.tracked.add(file.id, path.clone(), text),
                    Err(error) => {
                        tracing::warn!(%path, %error, "a new file on disk stays out of the project");
                    }
                }
            }
            (Ok(None), Some(id)) if id != self.room => {
                match projects::delete(&self.state, self.room, id).await {
                    Ok(()) | Err(FileError::FileNotFound) => {
                        self.tracked.remove(id);
                    }
                    Err(error) => {
                        tracing::warn!(%path, %error, "a file deleted on disk stays in the project");
                    }
                }
            }
            (Ok(None), _) => {}
            (Err(error), _) => {
                tracing::debug!(%path, %error, "leaving a file on disk out");
            }
        }
    }

    /// Creates, moves and deletes on disk what was created, moved or deleted in the room.
    async fn follow_the_room(&mut self) {
        let Ok(files) = projects::list(&self.state, self.room).await else {
            return;
        };
        let mut seen = HashSet::new();
        for file in files {
            seen.insert(file.id);
            let Ok(path) = ProjectPath::parse(&file.path) else {
                continue;
            };
            match self.tracked.files.get(&file.id).map(|f| f.path.clone()) {
                None => {
                    // New in the room: its text goes to disk, unless anything is there (a
                    // file the project leaves out, binary or ignored, is the host's).
                    if occupied(&self.dir, &path) {
                        tracing::warn!(%path, "a file made in the room is already on disk; keeping the disk's");
                        continue;
                    }
                    self.tracked.add(file.id, path, String::new());
                    self.write_back(file.id, true).await;
                }
                Some(old) if old != path => {
                    let dir = &self.dir;
                    match off_the_workers(|| rename_file(dir, &old, &path)) {
                        Ok(()) => {
                            if let Some(tracked) = self.tracked.remove(file.id) {
                                self.tracked.add(file.id, path, tracked.synced);
                            }
                        }
                        Err(error) => {
                            tracing::warn!(from = %old, to = %path, %error, "cannot move a shared file");
                        }
                    }
                }
                Some(_) => {}
            }
        }
        let gone: Vec<Uuid> = (self.tracked.files.keys())
            .filter(|id| !seen.contains(id))
            .copied()
            .collect();
        for id in gone {
            if let Some(file) = self.tracked.remove(id) {
                let dir = &self.dir;
                if let Err(error) = off_the_workers(|| remove_file(dir, &file.path)) {
                    tracing::warn!(path = %file.path, %error, "cannot delete a shared file");
                }
            }
        }
    }
}

async fn sleep_until(at: Option<Instant>) {
    match at {
        Some(at) => tokio::time::sleep_until(at).await,
        None => std::future::pending().await,
    }
}

/// Whether any folder on the way to `path`, or `path` itself, is a symbolic link.
fn through_a_link(dir: &Dir, path: &ProjectPath) -> bool {
    let mut so_far = PathBuf::new();
    for segment in path.segments() {
        so_far.push(segment);
        match dir.symlink_metadata(&so_far) {
            Ok(meta) if meta.file_type().is_symlink() => return true,
            Ok(_) => {}
            Err(_) => return false,
        }
    }
    false
}

/// The text at `path`: `None` when there is no file, an error when it is a link, binary
/// or too large.
fn read_file(dir: &Dir, path: &ProjectPath, max: usize) -> std::io::Result<Option<String>> {
    if through_a_link(dir, path) {
        return Err(std::io::Error::other("a symbolic link"));
    }
    match dir.symlink_metadata(path.as_str()) {
        Ok(meta) if !meta.is_file() => return Err(std::io::Error::other("not a file")),
        Ok(meta) if meta.len() > max as u64 => return Err(std::io::Error::other("too large")),
        Ok(_) => {}
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(None),
        Err(e) => return Err(e),
    }
    let bytes = match dir.read(path.as_str()) {
        Ok(bytes) => bytes,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(None),
        Err(e) => return Err(e),
    };
    text_of(bytes)
        .map(Some)
        .map_err(|why| std::io::Error::other(why.describe()))
}

/// Writes `text` to `path` atomically: a temporary file beside it, renamed over it, with
/// the old file's permissions. Never through a symbolic link.
fn write_file(dir: &Dir, path: &ProjectPath, text: &str) -> std::io::Result<()> {
    if through_a_link(dir, path) {
        return Err(std::io::Error::other(
            "refusing to write through a symbolic link",
        ));
    }
    let target = Path::new(path.as_str());
    if let Some(parent) = target.parent().filter(|p| !p.as_os_str().is_empty()) {
        dir.create_dir_all(parent)?;
    }
    let name = target
        .file_name()
        .and_then(|n| n.to_str())
        .unwrap_or("file");
    let temp = target.with_file_name(format!("{TEMP_PREFIX}{}-{name}", Uuid::new_v4().simple()));
    let permissions = dir.metadata(target).ok().map(|m| m.permissions());
    let written = (|| {
        let mut file = dir.create(&temp)?;
        std::io::Write::write_all(&mut file, text.as_bytes())?;
        if let Some(permissions) = permissions {
            file.set_permissions(permissions)?;
        }
        // On disk before it takes the file's place.
        file.sync_all()?;
        dir.rename(&temp, dir, target)
    })();
    if written.is_err() {
        let _ = dir.remove_file(&temp);
    }
    written
}

fn rename_file(dir: &Dir, from: &ProjectPath, to: &ProjectPath) -> std::io::Result<()> {
    if through_a_link(dir, from) || through_a_link(dir, to) {
        return Err(std::io::Error::other(
            "refusing to move through a symbolic link",
        ));
    }
    // A rename replaces what is at its target: never a file of the host's.
    if occupied(dir, to) {
        return Err(std::io::Error::other(
            "something is already at the new path",
        ));
    }
    let target = Path::new(to.as_str());
    if let Some(parent) = target.parent().filter(|p| !p.as_os_str().is_empty()) {
        dir.create_dir_all(parent)?;
    }
    dir.rename(from.as_str(), dir, target)
}

/// Whether anything (a file, a folder, a link) is at `path`.
fn occupied(dir: &Dir, path: &ProjectPath) -> bool {
    !matches!(dir.symlink_metadata(path.as_str()), Err(e) if e.kind() == std::io::ErrorKind::NotFound)
}

fn remove_file(dir: &Dir, path: &ProjectPath) -> std::io::Result<()> {
    if through_a_link(dir, path) {
        return Err(std::io::Error::other(
            "refusing to delete through a symbolic link",
        ));
    }
    match dir.remove_file(path.as_str()) {
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(()),
        other => other,
    }
}

/// `pairpad-server share DIR`: serves on `listener` and shares `dir` until `shutdown`
/// resolves; then every edit made in the room is written to disk, and only then does the
/// server stop.
pub async fn run(
    config: crate::Config,
    listener: tokio::net::TcpListener,
    dir: PathBuf,
    title: Option<String>,
    shutdown: impl std::future::Future<Output = ()> + Send + 'static,
) -> Result<(), crate::ServerError> {
    crate::auth::SignIn::from_config(&config)?;
    let url = config.effective_database_url()?;
    let store = crate::store::connect(&url).await?;
    let state = AppState::new(config, store);
    let addr = listener.local_addr()?;
    let stop_server = CancellationToken::new();
    let server = tokio::spawn(crate::serve(
        state.clone(),
        listener,
        stop_server.clone().cancelled_owned(),
    ));
    let sharing = match share(&state, &dir, title.as_deref()).await {
        Ok(sharing) => sharing,
        Err(error) => {
            stop_server.cancel();
            let _ = server.await;
            return Err(crate::ServerError::Io(std::io::Error::other(
                error.to_string(),
            )));
        }
    };
    let host = match addr.ip() {
        ip if ip.is_unspecified() => "127.0.0.1".to_string(),
        ip => ip.to_string(),
    };
    let base = format!("http://{host}:{}", addr.port());
    let created = &sharing.created;
    println!(
        "sharing {} at {base}/r/{}\n  view only: {base}/v/{}\n  yours (owner key, keep it to yourself): {base}/r/{}#owner={}",
        dir.display(),
        created.edit_id,
        created.view_id,
        created.edit_id,
        created.owner_key
    );
    for skipped in &sharing.skipped {
        println!("  left out: {} ({})", skipped.path, skipped.why.describe());
    }
    shutdown.await;
    let unwritten = sharing.stop().await;
    stop_server.cancel();
    if unwritten > 0 {
        let _ = server.await;
        return Err(crate::ServerError::Io(std::io::Error::other(
            "some files could not be written; see the log",
        )));
    }
    println!("every edit is on disk; stopping");
    server
        .await
        .map_err(|e| crate::ServerError::Io(std::io::Error::other(e.to_string())))?
}
