//! Durability: edits survive graceful restarts, compaction, unloading and SIGKILL, on
//! SQLite and on PostgreSQL.

mod common;

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;

use pairpad_server::paths::ProjectPath;
use pairpad_server::store::{
    FileRecord, LinkChange, Mirror, NewFile, NewRoom, NewUpdate, ProjectLimits, RoomLinks,
    RoomMirror, RoomRecord, RoomUpdates, Store, StoreError, StoredDoc,
};
use tokio::sync::{mpsc, Semaphore};
use uuid::Uuid;

use common::{eventually, ChildServer, Db, TestServer, YClient, WAIT};

async fn stored_log_len(db: &Db, room: &str) -> usize {
    let store = pairpad_server::store::connect(&db.url()).await.unwrap();
    let id = common::stored_id(store.as_ref(), room).await;
    let doc = store.load(id).await.unwrap().unwrap();
    store.close().await;
    doc.updates.len()
}

async fn graceful_restart_keeps_everything(db: Db) {
    let server = TestServer::start(db.clone(), &["--compact-after", "10"]).await;
    let room = server.create_room().await;
    let ada = YClient::connect(server.addr, &room).await;
    let bob = YClient::connect(server.addr, &room).await;
    for i in 0..30 {
        ada.append(&format!("a{i} "));
        bob.insert(0, &format!("b{i} "));
    }
    let expected_len = (0..30).map(|i| format!("a{i} b{i} ").len()).sum::<usize>();
    ada.wait_for("all edits", |c| c.text().len() == expected_len)
        .await;
    bob.wait_for("all edits", |c| c.text().len() == expected_len)
        .await;
    let text = ada.text();
    assert_eq!(bob.text(), text);
    server.stop().await;

    // Shutdown folded the log into a snapshot and wrote the mirror.
    assert_eq!(stored_log_len(&db, &room).await, 0);
    let server = TestServer::start(db.clone(), &[]).await;
    assert_eq!(
        common::get_room(server.addr, &room).await["code"],
        text.as_str()
    );
    let cy = YClient::connect(server.addr, &room).await;
    cy.wait_text(&text).await;
    cy.append("!");
    cy.wait_text(&format!("{text}!")).await;
    server.stop().await;
}

#[tokio::test]
async fn graceful_restart_sqlite() {
    graceful_restart_keeps_everything(Db::sqlite()).await;
}

#[tokio::test]
async fn graceful_restart_postgres() {
    if let Some(db) = Db::postgres() {
        graceful_restart_keeps_everything(db).await;
    }
}

#[tokio::test]
async fn compaction_folds_the_log_while_people_type() {
    let db = Db::sqlite();
    let server = TestServer::start(db.clone(), &["--compact-after", "20"]).await;
    let room = server.create_room().await;
    let ada = YClient::connect(server.addr, &room).await;
    let bob = YClient::connect(server.addr, &room).await;
    for i in 0..200 {
        ada.append(&format!("{i},"));
    }
    let text: String = (0..200).map(|i| format!("{i},")).collect();
    bob.wait_text(&text).await;
    // 200 updates went in; compaction keeps the log near the threshold.
    eventually("log compacted", || async {
        stored_log_len(&db, &room).await < 60
    })
    .await;
    server.stop().await;
    let server = TestServer::start(db, &[]).await;
    let cy = YClient::connect(server.addr, &room).await;
    cy.wait_text(&text).await;
    server.stop().await;
}

#[tokio::test]
async fn idle_rooms_unload_and_load_again() {
    let db = Db::sqlite();
    let server = TestServer::start(db.clone(), &["--room-idle", "50ms"]).await;
    let room = server.create_room().await;
    let ada = YClient::connect(server.addr, &room).await;
    ada.append("fn main() {}");
    let bob = YClient::connect(server.addr, &room).await;
    bob.wait_text("fn main() {}").await;
    ada.close().await;
    bob.close().await;

    let metrics = || async {
        reqwest::get(server.http("/metrics"))
            .await
            .unwrap()
            .text()
            .await
            .unwrap()
    };
    eventually("room unloaded", || async {
        metrics().await.contains("pairpad_rooms_loaded 0")
    })
    .await;
    // Unloading wrote the exact mirror and folded the log.
    let record = common::get_room(server.addr, &room).await;
    assert_eq!(record["code"], "fn main() {}");
    assert_eq!(record["activeUsers"], 0);
    assert_eq!(stored_log_len(&db, &room).await, 0);

    let cy = YClient::connect(server.addr, &room).await;
    cy.wait_text("fn main() {}").await;
    assert!(metrics().await.contains("pairpad_rooms_loaded 1"));
    server.stop().await;
}

/// Edits seen by one client survive a SIGKILL of the server binary.
async fn sigkill_loses_nothing_seen(db: Db) {
    let server = ChildServer::start(&db).await;
    let room = common::create_room(server.addr).await;
    let ada = YClient::connect(server.addr, &room).await;
    let bob = YClient::connect(server.addr, &room).await;
    for i in 0..100 {
        ada.append(&format!("line {i}\n"));
    }
    let text: String = (0..100).map(|i| format!("line {i}\n")).collect();
    bob.wait_text(&text).await;
    server.kill().await;

    let server = ChildServer::start(&db).await;
    let cy = YClient::connect(server.addr, &room).await;
    cy.wait_text(&text).await;
    assert_eq!(server.terminate().await.code(), Some(0), "SIGTERM exits 0");
}

#[tokio::test]
async fn sigkill_sqlite() {
    sigkill_loses_nothing_seen(Db::sqlite()).await;
}

#[tokio::test]
async fn sigkill_postgres() {
    if let Some(db) = Db::postgres() {
        sigkill_loses_nothing_seen(db).await;
    }
}

/// A real store in front of which a test holds appends at a gate and refuses mirror
/// writes a given number of times.
struct TestStore {
    inner: Arc<dyn Store>,
    gate: Arc<Semaphore>,
    appends: mpsc::UnboundedSender<()>,
    mirror_refusals: AtomicUsize,
}

impl TestStore {
    /// Wraps the store for `db`; appends pass `permits` times before the gate holds them,
    /// and each one is announced on the returned channel.
    async fn new(db: &Db, permits: usize) -> (Arc<Self>, mpsc::UnboundedReceiver<()>) {
        let (appends, announced) = mpsc::unbounded_channel();
        let store = Arc::new(Self {
            inner: pairpad_server::store::connect(&db.url()).await.unwrap(),
            gate: Arc::new(Semaphore::new(permits)),
            appends,
            mirror_refusals: AtomicUsize::new(0),
        });
        (store, announced)
    }

    /// Whether to refuse this mirror write (using up one refusal).
    fn refuse_mirror(&self) -> bool {
        self.mirror_refusals
            .fetch_update(Ordering::SeqCst, Ordering::SeqCst, |n| n.checked_sub(1))
            .is_ok()
    }
}

fn refused() -> StoreError {
    StoreError::Corrupt("mirror write refused by the test".into())
}

#[async_trait::async_trait]
impl Store for TestStore {
    async fn create_room(&self, room: &NewRoom) -> Result<(), StoreError> {
        self.inner.create_room(room).await
    }
    async fn get_room(&self, id: Uuid) -> Result<Option<RoomRecord>, StoreError> {
        self.inner.get_room(id).await
    }
    async fn load(&self, id: Uuid) -> Result<Option<StoredDoc>, StoreError> {
        self.inner.load(id).await
    }
    async fn append_updates(&self, id: Uuid, updates: &[NewUpdate]) -> Result<i64, StoreError> {
        let _ = self.appends.send(());
        let _permit = self.gate.acquire().await.expect("gate");
        self.inner.append_updates(id, updates).await
    }
    async fn commit_many(
        &self,
        appends: &[RoomUpdates],
        mirrors: &[RoomMirror],
    ) -> Result<Vec<i64>, StoreError> {
        if !mirrors.is_empty() && self.refuse_mirror() {
            return Err(refused());
        }
        let mut seqs = Vec::new();
        for batch in appends {
            seqs.push(self.append_updates(batch.room, &batch.updates).await?);
        }
        for m in mirrors {
            self.inner.save_mirror(m.room, &m.mirror).await?;
        }
        Ok(seqs)
    }
    async fn save_mirror(&self, id: Uuid, mirror: &Mirror) -> Result<(), StoreError> {
        if self.refuse_mirror() {
            return Err(refused());
        }
        self.inner.save_mirror(id, mirror).await
    }
    async fn compact(
        &self,
        id: Uuid,
        snapshot: &[u8],
        through: i64,
        mirror: &Mirror,
    ) -> Result<(), StoreError> {
        self.inner.compact(id, snapshot, through, mirror).await
    }
    async fn create_files(
        &self,
        room: Uuid,
        files: &[NewFile],
        limits: ProjectLimits,
    ) -> Result<bool, StoreError> {
        self.inner.create_files(room, files, limits).await
    }
    async fn list_files(&self, room: Uuid) -> Result<Vec<FileRecord>, StoreError> {
        self.inner.list_files(room).await
    }
    async fn get_file(
        &self,
        room: Uuid,
        file: Uuid,
    ) -> Result<Option<(FileRecord, String)>, StoreError> {
        self.inner.get_file(room, file).await
    }
    async fn project_texts(&self, room: Uuid) -> Result<Vec<(FileRecord, String)>, StoreError> {
        self.inner.project_texts(room).await
    }
    async fn rename_file(
        &self,
        room: Uuid,
        file: Uuid,
        path: &ProjectPath,
        from: Option<&str>,
    ) -> Result<Option<i64>, StoreError> {
        self.inner.rename_file(room, file, path, from).await
    }
    async fn delete_file(&self, room: Uuid, file: Uuid) -> Result<bool, StoreError> {
        self.inner.delete_file(room, file).await
    }
    async fn find_link(&self, link: Uuid) -> Result<Option<RoomLinks>, StoreError> {
        self.inner.find_link(link).await
    }
    async fn change_links(&self, room: Uuid, change: LinkChange) -> Result<bool, StoreError> {
        self.inner.change_links(room, change).await
    }
    async fn delete_room(&self, room: Uuid) -> Result<bool, StoreError> {
        self.inner.delete_room(room).await
    }
    async fn ping(&self) -> Result<(), StoreError> {
        self.inner.ping().await
    }
    async fn close(&self) {
        self.inner.close().await
    }
}

#[tokio::test]
async fn updates_are_relayed_only_after_the_store_commits_them() {
    let db = Db::sqlite();
    let (store, mut appends) = TestStore::new(&db, 0).await;
    let server = TestServer::with_store(db, store.clone()).await;
    let addr = server.addr;

    let room = common::create_room(addr).await;
    let ada = YClient::connect(addr, &room).await;
    let bob = YClient::connect(addr, &room).await;
    ada.append("durable");
    tokio::time::timeout(WAIT, appends.recv())
        .await
        .expect("append starts")
        .unwrap();
    // Presence is not held back; the room handles Ada's messages in order, so when Bob
    // sees her presence, an unheld relay of her edit would already have reached him.
    ada.set_name("Ada");
    bob.wait_for("Ada's presence", |c| c.remote_names() == ["Ada"])
        .await;
    assert_eq!(bob.text(), "", "an edit is not relayed before it is stored");
    // A newcomer's initial sync waits too.
    let cy = YClient::connect(addr, &room).await;
    cy.wait_for("Ada's presence", |c| c.remote_names() == ["Ada"])
        .await;
    assert_eq!(
        cy.text(),
        "",
        "initial sync holds back what is not stored yet"
    );

    store.gate.add_permits(1_000);
    bob.wait_text("durable").await;
    cy.wait_text("durable").await;
    server.stop().await;
}

/// The stored plain-text mirror catches up after failed writes by itself, while the
/// room stays open and nobody types again.
#[tokio::test]
async fn a_refused_mirror_write_is_retried_without_another_edit() {
    let db = Db::sqlite();
    let (store, _appends) = TestStore::new(&db, 1_000).await;
    store.mirror_refusals.store(2, Ordering::SeqCst);
    let server = TestServer::with_store(db.clone(), store.clone()).await;
    let room = server.create_room().await;
    let ada = YClient::connect(server.addr, &room).await;
    ada.append("kept in the mirror");

    let reader = pairpad_server::store::connect(&db.url()).await.unwrap();
    let id: Uuid = common::stored_id(reader.as_ref(), &room).await;
    eventually("the stored mirror holds the text", || {
        let reader = &reader;
        async move {
            let stored = reader.get_room(id).await.unwrap().unwrap();
            stored.text.code == "kept in the mirror"
        }
    })
    .await;
    assert_eq!(
        store.mirror_refusals.load(Ordering::SeqCst),
        0,
        "both refusals were used"
    );
    assert!(ada.is_open(), "the room stayed open throughout");
    reader.close().await;
    server.stop().await;
}
