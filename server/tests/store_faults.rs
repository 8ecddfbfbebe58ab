//! A store that fails under the server: a full disk, a deleted database file, a read-only
//! database. In each, nothing is relayed that is not committed, peers are told to come
//! back later instead of looking connected, `/ready` says 503, and once the store recovers
//! nothing anyone saw is lost.

mod common;

use std::io::Write;
use std::path::PathBuf;
use std::process::Command;
use std::sync::Arc;

use common::{eventually, status, Db, Ended, TestServer, YClient};

/// A small tmpfs mounted on a temporary directory (needs root, as in CI), holding the
/// SQLite database, so that the test can fill the disk and free it again.
struct Tmpfs {
    dir: Arc<tempfile::TempDir>,
}

impl Tmpfs {
    /// Mounts a tmpfs of `size` bytes; `None` (the test is skipped) outside CI when this
    /// process may not mount.
    fn mount(size: usize) -> Option<Self> {
        let dir = Arc::new(tempfile::tempdir().expect("tempdir"));
        let mounted = Command::new("mount")
            .args(["-t", "tmpfs", "-o", &format!("size={size}"), "tmpfs"])
            .arg(dir.path())
            .status()
            .is_ok_and(|s| s.success());
        if mounted {
            return Some(Self { dir });
        }
        assert!(
            std::env::var_os("CI").is_none(),
            "cannot mount a tmpfs; CI runs these tests as root"
        );
        eprintln!("skipping: cannot mount a tmpfs (run as root)");
        None
    }

    fn db(&self) -> Db {
        Db::Sqlite(self.dir.clone())
    }

    fn filler(&self) -> PathBuf {
        self.dir.path().join("filler")
    }

    /// Writes a file until the disk is full.
    fn fill(&self) {
        let mut file = std::fs::File::create(self.filler()).expect("filler");
        let block = vec![0u8; 16 * 1024];
        while file.write_all(&block).is_ok() {}
        // The last partial block may have left a few bytes free.
        while file.write_all(&[0]).is_ok() {}
    }

    fn free(&self) {
        std::fs::remove_file(self.filler()).expect("remove filler");
    }
}

impl Drop for Tmpfs {
    fn drop(&mut self) {
        let _ = Command::new("umount")
            .arg("-l")
            .arg(self.dir.path())
            .status();
    }
}

/// Sends chunks from `writer` until `reader` stops receiving them because the server
/// turned it away; returns the text `reader` last had. Every chunk `reader` saw was
/// relayed, so it must survive.
async fn type_until_turned_away(writer: &YClient, reader: &YClient, chunk_bytes: usize) -> String {
    for i in 0..4_000 {
        let chunk = format!("<{i}:{}>", "x".repeat(chunk_bytes));
        writer.append(&chunk);
        reader
            .wait_for("chunk relayed or reader turned away", |c| {
                c.text().contains(&chunk) || !c.is_open()
            })
            .await;
        if !reader.is_open() {
            return reader.text();
        }
    }
    panic!("the store never failed");
}

fn assert_told_to_retry(ended: Ended) {
    match ended {
        Ended::Closed { code, reason } => {
            assert_eq!(code, 1013, "{reason}");
            assert!(reason.contains("storage"), "{reason}");
        }
        other => panic!("expected a 1013 close, got {other:?}"),
    }
}

#[tokio::test]
async fn a_full_disk_loses_nothing_relayed_and_the_store_recovers() {
    let Some(disk) = Tmpfs::mount(6 << 20) else {
        return;
    };
    let server = TestServer::start(disk.db(), &[]).await;
    let room = server.create_room().await;
    let ada = YClient::connect(server.addr, &room).await;
    let bob = YClient::connect(server.addr, &room).await;
    ada.append("before;");
    bob.wait_text("before;").await;
    assert_eq!(status(server.addr, "/ready").await, 200);

    disk.fill();
    let seen = type_until_turned_away(&ada, &bob, 4096).await;
    assert_told_to_retry(bob.wait_closed().await);
    assert_eq!(
        status(server.addr, "/ready").await,
        503,
        "not ready while full"
    );
    // Newcomers are turned away too while the store cannot write.
    let cy = YClient::connect(server.addr, &room).await;
    assert!(matches!(
        cy.wait_closed().await,
        Ended::Closed { code: 1013, .. }
    ));
    let typed = ada.text();

    disk.free();
    eventually("ready again once the disk has room", || async {
        status(server.addr, "/ready").await == 200
    })
    .await;
    // Everything the writer typed, relayed or not, was kept and is written now.
    let dan = YClient::connect(server.addr, &room).await;
    dan.wait_text(&typed).await;
    // Writes after the failure really commit (not into a transaction left open).
    dan.append("after;");
    let typed = format!("{typed}after;");
    let eve = YClient::connect(server.addr, &room).await;
    eve.wait_text(&typed).await;
    server.stop().await;

    let server = TestServer::start(disk.db(), &[]).await;
    let reader = YClient::connect(server.addr, &room).await;
    reader.wait_text(&typed).await;
    assert!(typed.starts_with(&seen));
    server.stop().await;
}

#[tokio::test]
async fn a_deleted_database_file_is_detected() {
    let db = Db::sqlite();
    let server = TestServer::start(db.clone(), &[]).await;
    let room = server.create_room().await;
    let ada = YClient::connect(server.addr, &room).await;
    let bob = YClient::connect(server.addr, &room).await;
    ada.append("kept;");
    bob.wait_text("kept;").await;

    let Db::Sqlite(dir) = &db else { unreachable!() };
    std::fs::remove_file(dir.path().join("pairpad.db")).expect("delete the database");
    ada.append("never relayed;");
    assert_told_to_retry(bob.wait_closed().await);
    assert_eq!(bob.text(), "kept;", "nothing relayed into a deleted file");
    assert_eq!(status(server.addr, "/ready").await, 503);
}

#[tokio::test]
async fn a_read_only_database_is_not_ready_and_relays_nothing() {
    let db = Db::sqlite();
    let server = TestServer::start(db.clone(), &[]).await;
    let room = server.create_room().await;
    server.stop().await;

    let Db::Sqlite(dir) = &db else { unreachable!() };
    let read_only = Db::Url(format!(
        "sqlite://{}?mode=ro",
        dir.path().join("pairpad.db").display()
    ));
    let server = TestServer::start(read_only, &[]).await;
    assert_eq!(status(server.addr, "/ready").await, 503);
    let ada = YClient::connect(server.addr, &room).await;
    let bob = YClient::connect(server.addr, &room).await;
    ada.append("cannot be stored;");
    assert_told_to_retry(bob.wait_closed().await);
    assert_eq!(bob.text(), "");
}
