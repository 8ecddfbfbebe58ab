//! An in-memory store for unit tests of the write schedule: it records every write, can
//! be told to fail or to hang, and takes no real time (so tests can pause the clock).

use std::collections::HashSet;
use std::sync::atomic::{AtomicBool, AtomicI64, Ordering};
use std::sync::{Mutex, PoisonError};

use async_trait::async_trait;
use uuid::Uuid;

use super::{
    FileRecord, LinkChange, Mirror, NewFile, NewRoom, ProjectLimits, RoomLinks, RoomMirror,
    RoomRecord, RoomUpdates, Store, StoreError, StoredDoc,
};
use crate::paths::ProjectPath;

/// One write the store was asked for.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum Write {
    /// A `commit_many`: how many updates per room, and the rooms whose mirror it wrote.
    Commit {
        appends: Vec<(Uuid, usize)>,
        mirrors: Vec<Uuid>,
    },
    /// A compaction of `room` through `through_seq`.
    Compact { room: Uuid, through_seq: i64 },
}

/// See the module docs.
#[derive(Default)]
pub(crate) struct FakeStore {
    writes: Mutex<Vec<(Write, bool)>>,
    failing: AtomicBool,
    /// Rooms whose writes fail, alone or with others.
    bad_rooms: Mutex<HashSet<Uuid>>,
    /// While held, every write waits.
    pub(crate) door: tokio::sync::Mutex<()>,
    seq: AtomicI64,
}

impl FakeStore {
    /// Makes every write fail (`true`) or succeed again.
    pub(crate) fn fail(&self, failing: bool) {
        self.failing.store(failing, Ordering::SeqCst);
    }

    /// Makes every write that touches `room` fail.
    pub(crate) fn refuse(&self, room: Uuid) {
        lock(&self.bad_rooms).insert(room);
    }

    /// The writes so far, each with whether it succeeded.
    pub(crate) fn writes(&self) -> Vec<(Write, bool)> {
        lock(&self.writes).clone()
    }

    fn record(&self, write: Write, rooms: &[Uuid]) -> Result<(), StoreError> {
        let bad = lock(&self.bad_rooms);
        let ok = !self.failing.load(Ordering::SeqCst) && rooms.iter().all(|r| !bad.contains(r));
        lock(&self.writes).push((write, ok));
        if ok {
            Ok(())
        } else {
            Err(StoreError::Unavailable("told to fail".into()))
        }
    }
}

fn lock<T>(mutex: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    mutex.lock().unwrap_or_else(PoisonError::into_inner)
}

#[async_trait]
impl Store for FakeStore {
    async fn create_room(&self, _room: &NewRoom) -> Result<(), StoreError> {
        Ok(())
    }

    async fn get_room(&self, _id: Uuid) -> Result<Option<RoomRecord>, StoreError> {
        Ok(None)
    }

    async fn load(&self, _id: Uuid) -> Result<Option<StoredDoc>, StoreError> {
        Ok(None)
    }

    async fn commit_many(
        &self,
        appends: &[RoomUpdates],
        mirrors: &[RoomMirror],
    ) -> Result<Vec<i64>, StoreError> {
        drop(self.door.lock().await);
        let rooms: Vec<Uuid> = appends
            .iter()
            .map(|a| a.room)
            .chain(mirrors.iter().map(|m| m.room))
            .collect();
        let write = Write::Commit {
            appends: appends.iter().map(|a| (a.room, a.updates.len())).collect(),
            mirrors: mirrors.iter().map(|m| m.room).collect(),
        };
        self.record(write, &rooms)?;
        Ok(appends
            .iter()
            .map(|a| {
                let n = i64::try_from(a.updates.len()).unwrap_or(i64::MAX);
                self.seq.fetch_add(n, Ordering::SeqCst) + n
            })
            .collect())
    }

    async fn compact(
        &self,
        id: Uuid,
        _snapshot: &[u8],
        through_seq: i64,
        _mirror: &Mirror,
    ) -> Result<(), StoreError> {
        drop(self.door.lock().await);
        let write = Write::Compact {
            room: id,
            through_seq,
        };
        self.record(write, &[id])
    }

    async fn create_files(
        &self,
        _room: Uuid,
        _files: &[NewFile],
        _limits: ProjectLimits,
    ) -> Result<bool, StoreError> {
        Ok(false)
    }

    async fn list_files(&self, _room: Uuid) -> Result<Vec<FileRecord>, StoreError> {
        Ok(Vec::new())
    }

    async fn get_file(
        &self,
        _room: Uuid,
        _file: Uuid,
    ) -> Result<Option<(FileRecord, String)>, StoreError> {
        Ok(None)
    }

    async fn project_texts(&self, _room: Uuid) -> Result<Vec<(FileRecord, String)>, StoreError> {
        Ok(Vec::new())
    }

    async fn rename_file(
        &self,
        _room: Uuid,
        _file: Uuid,
        _path: &ProjectPath,
        _from: Option<&str>,
    ) -> Result<Option<i64>, StoreError> {
        Ok(None)
    }

    async fn find_link(&self, _link: Uuid) -> Result<Option<RoomLinks>, StoreError> {
        Ok(None)
    }

    async fn change_links(&self, _room: Uuid, _change: LinkChange) -> Result<bool, StoreError> {
        Ok(false)
    }

    async fn delete_room(&self, _room: Uuid) -> Result<bool, StoreError> {
        Ok(false)
    }

    async fn delete_file(&self, _room: Uuid, _file: Uuid) -> Result<bool, StoreError> {
        Ok(false)
    }

    async fn ping(&self) -> Result<(), StoreError> {
        Ok(())
    }

    async fn close(&self) {}
}
