//! Durability: edits survive graceful restarts, compaction, unloading and SIGKILL, on
//! SQLite and on PostgreSQL.

mod common;

use std::time::Duration;

use common::{ChildServer, Db, TestServer, YClient, WAIT};

/// Waits (bounded by [`WAIT`]) until `check` holds, re-reading state between attempts.
async fn eventually<F, Fut>(what: &str, mut check: F)
where
    F: FnMut() -> Fut,
    Fut: std::future::Future<Output = bool>,
{
    let deadline = tokio::time::Instant::now() + WAIT;
    while !check().await {
        assert!(tokio::time::Instant::now() < deadline, "timed out: {what}");
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

async fn stored_log_len(db: &Db, room: &str) -> usize {
    let store = pairpad_server::store::connect(&db.url()).await.unwrap();
    let doc = store.load(room.parse().unwrap()).await.unwrap().unwrap();
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
