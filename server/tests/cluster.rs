//! Several servers sharing rooms through Redis and PostgreSQL (`--redis-url`): real
//! server processes, a real `redis-server` (Debian's, which scripts/test installs) that
//! the tests stop and start, and the test PostgreSQL server.

mod common;

use std::net::SocketAddr;
use std::process::{Child, Command, Stdio};

use common::{eventually, get_room, ChildServer, Db, YClient};
use yrs::updates::encoder::Encode;

/// A `redis-server` on a port of its own, without persistence.
struct Redis {
    port: u16,
    child: Option<Child>,
    dir: tempfile::TempDir,
}

impl Redis {
    /// Starts one, or `None` outside CI when `redis-server` is not installed.
    async fn start() -> Option<Self> {
        let binary = redis_binary()?;
        let port = std::net::TcpListener::bind("127.0.0.1:0")
            .and_then(|l| l.local_addr())
            .expect("free port")
            .port();
        let mut redis = Self {
            port,
            child: None,
            dir: tempfile::tempdir().expect("tempdir"),
        };
        redis.run(&binary).await;
        Some(redis)
    }

    async fn run(&mut self, binary: &str) {
        let child = Command::new(binary)
            .args(["--port", &self.port.to_string(), "--bind", "127.0.0.1"])
            .args(["--save", "", "--appendonly", "no", "--protected-mode", "no"])
            .arg("--dir")
            .arg(self.dir.path())
            .stdout(Stdio::null())
            .spawn()
            .expect("spawn redis-server");
        self.child = Some(child);
        let addr = SocketAddr::from(([127, 0, 0, 1], self.port));
        eventually("redis-server accepts connections", || async move {
            tokio::net::TcpStream::connect(addr).await.is_ok()
        })
        .await;
    }

    fn url(&self) -> String {
        format!("redis://127.0.0.1:{}/0", self.port)
    }

    /// Kills it: every connection drops, every message in flight is lost.
    fn stop(&mut self) {
        if let Some(mut child) = self.child.take() {
            let _ = child.kill();
            let _ = child.wait();
        }
    }

    /// Starts it again on the same port.
    async fn restart(&mut self) {
        let binary = redis_binary().expect("redis-server");
        self.run(&binary).await;
    }
}

impl Drop for Redis {
    fn drop(&mut self) {
        self.stop();
    }
}

fn redis_binary() -> Option<String> {
    let binary = std::env::var("PAIRPAD_REDIS_SERVER").unwrap_or_else(|_| "redis-server".into());
    let found = Command::new(&binary)
        .arg("--version")
        .stdout(Stdio::null())
        .status()
        .is_ok_and(|s| s.success());
    match found {
        true => Some(binary),
        false if std::env::var_os("CI").is_some() => {
            panic!("redis-server is not installed; scripts/test installs it")
        }
        false => {
            eprintln!("skipping: redis-server is not installed");
            None
        }
    }
}

/// The test PostgreSQL database and a Redis server, or `None` when either is missing.
async fn backing() -> Option<(Db, Redis)> {
    let db = Db::postgres()?;
    let redis = Redis::start().await?;
    Some((db, redis))
}

async fn servers(db: &Db, redis: &Redis, count: usize, extra: &[&str]) -> Vec<ChildServer> {
    let url = redis.url();
    let mut args = vec!["--redis-url", url.as_str()];
    args.extend_from_slice(extra);
    let mut started = Vec::new();
    for _ in 0..count {
        started.push(ChildServer::start_with(db, &args, &[]).await);
    }
    started
}

/// A value from `/metrics`.
async fn metric(addr: SocketAddr, name: &str) -> f64 {
    let text = reqwest::get(format!("http://{addr}/metrics"))
        .await
        .expect("metrics")
        .text()
        .await
        .expect("body");
    text.lines()
        .find_map(|line| line.strip_prefix(name)?.strip_prefix(' ')?.parse().ok())
        .unwrap_or(0.0)
}

/// Waits until every server at `addrs` answers `/ready` with `status`.
async fn ready_becomes(addrs: &[SocketAddr], status: u16) {
    for &addr in addrs {
        eventually(&format!("/ready answers {status}"), || async move {
            common::status(addr, "/ready").await == status
        })
        .await;
    }
}

/// Makes `room` view-only through the server at `addr`, as its owner.
async fn make_view_only(addr: SocketAddr, room: &common::Created) {
    let patched = reqwest::Client::new()
        .patch(format!("http://{addr}/api/rooms/{}", room.room))
        .header("Pairpad-Owner-Key", &room.owner_key)
        .json(&serde_json::json!({"access": "view"}))
        .send()
        .await
        .expect("patch");
    assert_eq!(patched.status(), 200);
}

/// The close code and reason the server ended `client`'s connection with.
async fn closed(client: &YClient) -> (u16, String) {
    match client.wait_closed().await {
        common::Ended::Closed { code, reason } => (code, reason),
        other => panic!("expected a close frame, got {other:?}"),
    }
}

/// Waits until every client's text holds every chunk, then checks they are identical.
async fn converge(clients: &[&YClient], chunks: &[String]) -> String {
    for client in clients {
        client
            .wait_for("every chunk", |c| {
                let text = c.text();
                chunks.iter().all(|chunk| text.contains(chunk.as_str()))
            })
            .await;
    }
    let text = clients[0].text();
    for client in clients {
        client.wait_text(&text).await;
    }
    text
}

#[tokio::test]
async fn three_servers_serve_one_room_as_if_they_were_one() {
    let Some((db, redis)) = backing().await else {
        return;
    };
    let servers = servers(&db, &redis, 3, &[]).await;
    let room = common::create_room(servers[0].addr).await;
    let mut clients = Vec::new();
    for server in &servers {
        for _ in 0..2 {
            clients.push(YClient::connect(server.addr, &room).await);
        }
    }
    // Everyone types at once, at the start and at the end.
    let mut chunks = Vec::new();
    for round in 0..25 {
        for (i, client) in clients.iter().enumerate() {
            let chunk = format!("<{i}.{round}>");
            match round % 2 {
                0 => client.insert(0, &chunk),
                _ => client.append(&chunk),
            }
            chunks.push(chunk);
        }
        tokio::task::yield_now().await;
    }
    let all: Vec<&YClient> = clients.iter().collect();
    let text = converge(&all, &chunks).await;
    // A late joiner on each server gets the identical document.
    for server in &servers {
        let late = YClient::connect(server.addr, &room).await;
        late.wait_text(&text).await;
        assert_eq!(
            common::state_vector(&late),
            common::state_vector(&clients[0])
        );
    }
    // Presence crosses, and goes when its connection does.
    clients[0].set_name("Ada");
    clients[4]
        .wait_for("Ada on the third server", |c| {
            c.remote_names().contains(&"Ada".to_string())
        })
        .await;
    clients.remove(0).close().await;
    clients[3]
        .wait_for("Ada gone from the third server", |c| {
            !c.remote_names().contains(&"Ada".to_string())
        })
        .await;
    // Every server counts everyone, one that does not have the room loaded too.
    let expected = clients.len() as u64;
    let bystander = ChildServer::start_with(&db, &["--redis-url", &redis.url()], &[]).await;
    for addr in servers.iter().map(|s| s.addr).chain([bystander.addr]) {
        let room = room.clone();
        eventually("activeUsers counts every server's people", || {
            let room = room.clone();
            async move { get_room(addr, &room).await["activeUsers"] == expected }
        })
        .await;
    }
    assert!(metric(servers[0].addr, "pairpad_cluster_published_updates_total").await > 0.0);
    assert!(metric(servers[2].addr, "pairpad_cluster_received_updates_total").await > 0.0);
    assert_eq!(common::status(servers[1].addr, "/ready").await, 200);
}

#[tokio::test]
async fn a_server_killed_mid_typing_loses_nothing_anyone_saw() {
    let Some((db, redis)) = backing().await else {
        return;
    };
    let mut servers = servers(&db, &redis, 3, &[]).await;
    let room = common::create_room(servers[0].addr).await;
    let mut clients = Vec::new();
    for server in &servers {
        for _ in 0..2 {
            clients.push(YClient::connect(server.addr, &room).await);
        }
    }
    // Someone on the server about to die is seen on the others.
    clients[2].set_name("Bea");
    clients[0]
        .wait_for("Bea from the middle server", |c| {
            c.remote_names().contains(&"Bea".to_string())
        })
        .await;
    let mut chunks = Vec::new();
    for round in 0..20 {
        for (i, client) in clients.iter().enumerate() {
            let chunk = format!("<{i}.{round}>");
            client.append(&chunk);
            chunks.push(chunk);
        }
        tokio::task::yield_now().await;
        if round == 10 {
            // The middle server dies with writes in flight.
            servers.remove(1).kill().await;
        }
    }
    // Nobody said goodbye for Bea: her presence expires on the servers left.
    clients[0]
        .wait_for("Bea's presence gone with her server", |c| {
            !c.remote_names().contains(&"Bea".to_string())
        })
        .await;
    // Its clients reconnect elsewhere with everything they had (their own typing
    // included), as an editor does.
    let orphans: Vec<YClient> = clients.drain(2..4).collect();
    for (i, orphan) in orphans.iter().enumerate() {
        let moved = YClient::connect(servers[i % 2].addr, &room).await;
        moved.carry_over(orphan);
        clients.push(moved);
    }
    let all: Vec<&YClient> = clients.iter().collect();
    let text = converge(&all, &chunks).await;
    // And the store has it all: a server started now loads the same text.
    let fresh = ChildServer::start_with(&db, &["--redis-url", &redis.url()], &[]).await;
    let late = YClient::connect(fresh.addr, &room).await;
    late.wait_text(&text).await;
}

#[tokio::test]
async fn servers_that_lost_redis_catch_up_when_it_is_back() {
    let Some((db, mut redis)) = backing().await else {
        return;
    };
    let servers = servers(&db, &redis, 2, &[]).await;
    let room = common::create_room(servers[0].addr).await;
    let ada = YClient::connect(servers[0].addr, &room).await;
    let bob = YClient::connect(servers[1].addr, &room).await;
    let mut chunks = Vec::new();
    for round in 0..10 {
        for (name, client) in [("a", &ada), ("b", &bob)] {
            let chunk = format!("<{name}{round}>");
            client.append(&chunk);
            chunks.push(chunk);
        }
        tokio::task::yield_now().await;
    }
    converge(&[&ada, &bob], &chunks).await;
    redis.stop();
    ready_becomes(&[servers[0].addr, servers[1].addr], 503).await;
    // Each server keeps serving its own people; nothing crosses.
    for round in 10..20 {
        for (name, client) in [("a", &ada), ("b", &bob)] {
            let chunk = format!("<{name}{round}>");
            client.append(&chunk);
            chunks.push(chunk);
        }
    }
    ada.wait_for("Ada's own typing stored and kept", |c| {
        c.text().contains("<a19>")
    })
    .await;
    redis.restart().await;
    let text = converge(&[&ada, &bob], &chunks).await;
    assert!(text.contains("<a19>") && text.contains("<b19>"));
    let healed = metric(servers[0].addr, "pairpad_cluster_healed_updates_total").await
        + metric(servers[1].addr, "pairpad_cluster_healed_updates_total").await;
    assert!(healed > 0.0, "the catch-up is counted");
    ready_becomes(&[servers[0].addr, servers[1].addr], 200).await;
}

#[tokio::test]
async fn two_servers_compacting_one_busy_room_keep_it_whole() {
    let Some((db, redis)) = backing().await else {
        return;
    };
    let servers = servers(&db, &redis, 2, &["--compact-after", "5"]).await;
    let room = common::create_room(servers[0].addr).await;
    let ada = YClient::connect(servers[0].addr, &room).await;
    let bob = YClient::connect(servers[1].addr, &room).await;
    let mut chunks = Vec::new();
    for round in 0..60 {
        for (name, client) in [("a", &ada), ("b", &bob)] {
            let chunk = format!("<{name}{round}>");
            client.insert(0, &chunk);
            chunks.push(chunk);
        }
        tokio::task::yield_now().await;
        if round == 30 {
            // A server loading the room while both write and fold it.
            let cy = ChildServer::start_with(&db, &["--redis-url", &redis.url()], &[]).await;
            let late = YClient::connect(cy.addr, &room).await;
            late.wait_for("the room so far", |c| c.text().contains("<a30>"))
                .await;
        }
    }
    let text = converge(&[&ada, &bob], &chunks).await;
    // Loaded afresh from the store, it is the same document.
    let fresh = ChildServer::start_with(&db, &["--redis-url", &redis.url()], &[]).await;
    let late = YClient::connect(fresh.addr, &room).await;
    late.wait_text(&text).await;
    let stored = pairpad_server::store::connect(&db.url())
        .await
        .expect("store");
    let id = common::stored_id(stored.as_ref(), &room).await;
    eventually("the log was folded", || {
        let stored = stored.clone();
        async move {
            let doc = stored.load(id).await.expect("load").expect("room");
            doc.snapshot.is_some() && doc.updates.len() < 120
        }
    })
    .await;
}

#[tokio::test]
async fn sharing_needs_postgres() {
    let db = Db::sqlite();
    let output = tokio::process::Command::new(env!("CARGO_BIN_EXE_pairpad-server"))
        .args(["--bind", "127.0.0.1:0", "--database-url", &db.url()])
        .args(["--redis-url", "redis://127.0.0.1:1/0"])
        .output()
        .await
        .expect("run");
    assert!(!output.status.success());
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(stderr.contains("PostgreSQL"), "{stderr}");
}

#[tokio::test]
async fn files_and_owner_actions_reach_every_server() {
    let Some((db, redis)) = backing().await else {
        return;
    };
    let servers = servers(&db, &redis, 2, &[]).await;
    let (a, b) = (servers[0].addr, servers[1].addr);
    let room = common::create_room_full(a).await;
    let http = reqwest::Client::new();
    // A file made through one server is edited together through both.
    let created: serde_json::Value = http
        .post(format!("http://{a}/api/rooms/{}/files", room.room))
        .json(&serde_json::json!({"path": "src/lib.rs", "text": "fn main() {}\n"}))
        .send()
        .await
        .expect("create file")
        .json()
        .await
        .expect("json");
    let file = created["fileId"].as_str().expect("file id").to_string();
    let on_file = format!("{}/{file}", room.room);
    let ada = YClient::connect(a, &on_file).await;
    let bob = YClient::connect(b, &on_file).await;
    ada.wait_text("fn main() {}\n").await;
    bob.wait_text("fn main() {}\n").await;
    ada.insert(0, "// Ada\n");
    bob.append("// Bob\n");
    let both = ["// Ada\n".to_string(), "// Bob\n".to_string()];
    converge(&[&ada, &bob], &both).await;
    // The room's list of files on the other server shows it.
    let lister = YClient::connect(b, &room.room).await;
    lister
        .wait_for("the file in the list", |c| {
            c.files().values().any(|path| path.contains("src/lib.rs"))
        })
        .await;
    // Deleted through one server: its editors on the other are told.
    let deleted = http
        .delete(format!("http://{a}/api/rooms/{}/files/{file}", room.room))
        .header("Pairpad-Owner-Key", &room.owner_key)
        .send()
        .await
        .expect("delete");
    assert!(deleted.status().is_success(), "{}", deleted.status());
    assert_eq!(closed(&bob).await, (1000, "file deleted".into()));
    // Made view-only through one server: the other's editors are closed (4001).
    let editor = YClient::connect(b, &room.room).await;
    editor.wait_for("synced", |c| c.frames_received() > 0).await;
    make_view_only(a, &room).await;
    assert_eq!(closed(&editor).await.0, 4001);
}

/// Publishes `payload` on document `doc`'s channel, as something with access to Redis.
async fn publish(redis: &Redis, doc: uuid::Uuid, payload: Vec<u8>) {
    let client = redis::Client::open(redis.url()).expect("redis url");
    let mut connection = client
        .get_multiplexed_async_connection()
        .await
        .expect("redis");
    redis::cmd("PUBLISH")
        .arg(format!("pairpad:doc:{doc}"))
        .arg(payload)
        .query_async::<()>(&mut connection)
        .await
        .expect("publish");
}

#[tokio::test]
async fn an_unreadable_update_on_redis_does_not_take_a_real_one_s_place() {
    let Some((db, redis)) = backing().await else {
        return;
    };
    let servers = servers(&db, &redis, 2, &[]).await;
    let room = common::create_room(servers[0].addr).await;
    let ada = YClient::connect(servers[0].addr, &room).await;
    let bob = YClient::connect(servers[1].addr, &room).await;
    ada.append("one ");
    bob.append("two ");
    converge(&[&ada, &bob], &["one ".into(), "two ".into()]).await;
    let store = pairpad_server::store::connect(&db.url())
        .await
        .expect("store");
    let id = common::stored_id(store.as_ref(), &room).await;
    let top = store.load(id).await.expect("load").expect("room").last_seq;
    // Garbage numbered as the next update, from a server nobody knows.
    let mut forged = vec![1u8];
    forged.extend_from_slice(&42u64.to_le_bytes());
    forged.extend_from_slice(&(top + 1).to_le_bytes());
    forged.extend_from_slice(&1u32.to_le_bytes());
    forged.extend_from_slice(&7u32.to_le_bytes());
    forged.extend_from_slice(b"garbage");
    publish(&redis, id, forged).await;
    // The real update with that number (and those after) still reach the other server.
    for word in ["important ", "line "] {
        ada.append(word);
    }
    bob.wait_for("Ada's line on the other server", |c| {
        c.text().contains("important line")
    })
    .await;
    converge(&[&ada, &bob], &["important line ".into()]).await;
}

#[tokio::test]
async fn owner_actions_while_redis_is_down_still_reach_every_server() {
    let Some((db, mut redis)) = backing().await else {
        return;
    };
    let servers = servers(&db, &redis, 2, &[]).await;
    let (a, b) = (servers[0].addr, servers[1].addr);
    let room = common::create_room_full(a).await;
    let editor = YClient::connect(b, &room.room).await;
    editor.wait_for("synced", |c| c.frames_received() > 0).await;
    let other = common::create_room_full(a).await;
    let doomed = YClient::connect(b, &other.room).await;
    doomed.wait_for("synced", |c| c.frames_received() > 0).await;
    redis.stop();
    ready_becomes(&[a, b], 503).await;
    let http = reqwest::Client::new();
    make_view_only(a, &room).await;
    let deleted = http
        .delete(format!("http://{a}/api/rooms/{}", other.room))
        .header("Pairpad-Owner-Key", &other.owner_key)
        .send()
        .await
        .expect("delete");
    assert_eq!(deleted.status(), 204);
    // No event can tell the other server; it finds out from the store.
    assert_eq!(closed(&editor).await.0, 4001);
    assert_eq!(closed(&doomed).await.0, 4404);
}

#[tokio::test]
async fn presence_passed_back_by_a_client_does_not_outlive_its_server() {
    let Some((db, redis)) = backing().await else {
        return;
    };
    let mut servers = servers(&db, &redis, 2, &[]).await;
    let room = common::create_room(servers[0].addr).await;
    let cy = YClient::connect(servers[1].addr, &room).await;
    cy.set_name("Cy");
    let ada = YClient::connect(servers[0].addr, &room).await;
    ada.wait_for("Cy from the other server", |c| {
        c.remote_names().contains(&"Cy".to_string())
    })
    .await;
    // A stock client sends everyone's presence when it connects: Cy's included.
    let echo = YClient::connect(servers[0].addr, &room).await;
    echo.wait_for("Cy", |c| c.remote_names().contains(&"Cy".to_string()))
        .await;
    echo.set_name("Echo");
    let everyone = {
        let awareness = echo.awareness.lock().unwrap();
        let ids: Vec<_> = awareness.iter().map(|(id, _)| id).collect();
        let update = awareness.update_with_clients(ids).unwrap();
        yrs::sync::Message::Awareness(update).encode_v1()
    };
    echo.send(everyone);
    ada.wait_for("Echo", |c| c.remote_names().contains(&"Echo".to_string()))
        .await;
    // Cy's server dies: Cy goes everywhere, whoever passed Cy's presence on.
    servers.remove(1).kill().await;
    ada.wait_for("Cy gone with their server", |c| {
        !c.remote_names().contains(&"Cy".to_string())
    })
    .await;
    assert!(ada.remote_names().contains(&"Echo".to_string()));
}
