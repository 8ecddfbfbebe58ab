//! Test harness: a real server on 127.0.0.1:0 (in-process or as a child process) and a
//! Yjs client (yrs over tokio-tungstenite) that speaks the y-websocket protocol.
#![allow(dead_code)]

use std::process::Stdio;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use futures_util::{SinkExt, StreamExt};
use serde_json::Value;
use tokio::io::{AsyncBufReadExt, BufReader};
use tokio::net::TcpListener;
use tokio::sync::{mpsc, oneshot, watch};
use tokio::task::JoinHandle;
use tokio_tungstenite::tungstenite::protocol::frame::coding::CloseCode;
use tokio_tungstenite::tungstenite::Message;
use yrs::sync::{Awareness, Message as YMessage, SyncMessage};
use yrs::updates::decoder::Decode;
use yrs::updates::encoder::Encode;
use yrs::{GetString, ReadTxn, StateVector, Text, Transact, Update};

/// Upper bound for any single wait in a test; reaching it is a failure, never a sync point.
pub const WAIT: Duration = Duration::from_secs(20);

/// Waits (bounded by [`WAIT`]) until `check` holds, re-reading state between attempts.
pub async fn eventually<F, Fut>(what: &str, mut check: F)
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

/// The status `GET path` answers with.
pub async fn status(addr: std::net::SocketAddr, path: &str) -> u16 {
    reqwest::get(format!("http://{addr}{path}"))
        .await
        .map_or(0, |r| r.status().as_u16())
}

/// Where the store of a test server lives.
#[derive(Clone, Debug)]
pub enum Db {
    Sqlite(Arc<tempfile::TempDir>),
    Postgres(String),
    /// Any other database URL (a SQLite file opened read-only, say).
    Url(String),
}

impl Db {
    pub fn sqlite() -> Self {
        Db::Sqlite(Arc::new(tempfile::tempdir().expect("tempdir")))
    }

    /// The test PostgreSQL database, or `None` outside CI when none is configured.
    pub fn postgres() -> Option<Self> {
        match std::env::var("PAIRPAD_TEST_POSTGRES_URL") {
            Ok(url) => Some(Db::Postgres(url)),
            Err(_) if std::env::var_os("CI").is_some() => {
                panic!("PAIRPAD_TEST_POSTGRES_URL is not set; scripts/test starts PostgreSQL")
            }
            Err(_) => {
                eprintln!("skipping: PAIRPAD_TEST_POSTGRES_URL is not set");
                None
            }
        }
    }

    pub fn url(&self) -> String {
        match self {
            Db::Sqlite(dir) => format!("sqlite://{}", dir.path().join("pairpad.db").display()),
            Db::Postgres(url) | Db::Url(url) => url.clone(),
        }
    }
}

/// An in-process server.
pub struct TestServer {
    pub addr: std::net::SocketAddr,
    pub db: Db,
    stop: Option<oneshot::Sender<()>>,
    task: Option<JoinHandle<Result<(), pairpad_server::ServerError>>>,
}

/// What tells an in-process test server to shut down gracefully.
type StopSignal = std::pin::Pin<Box<dyn std::future::Future<Output = ()> + Send>>;

impl TestServer {
    pub async fn start(db: Db, extra_args: &[&str]) -> Self {
        let mut args = vec!["--database-url".to_string(), db.url()];
        args.extend(extra_args.iter().map(|s| s.to_string()));
        let config = pairpad_server::Config::from_args(args).expect("config");
        Self::launch(db, |listener, stop| {
            pairpad_server::run(config, listener, stop)
        })
        .await
    }

    pub async fn sqlite() -> Self {
        Self::start(Db::sqlite(), &[]).await
    }

    /// A server in this process on `store` (typically a test wrapper around a real store
    /// for `db`).
    pub async fn with_store(db: Db, store: Arc<dyn pairpad_server::store::Store>) -> Self {
        let config =
            pairpad_server::Config::from_args(["--database-url", &db.url()]).expect("config");
        Self::with_state(db, pairpad_server::AppState::new(config, store)).await
    }

    /// A server in this process serving `state`, which the test may keep a clone of.
    pub async fn with_state(db: Db, state: pairpad_server::AppState) -> Self {
        Self::launch(db, |listener, stop| {
            pairpad_server::serve(state, listener, stop)
        })
        .await
    }

    /// Binds 127.0.0.1:0 and spawns `serve` on it, with a signal that [`Self::stop`] fires.
    async fn launch<F>(db: Db, serve: impl FnOnce(TcpListener, StopSignal) -> F) -> Self
    where
        F: std::future::Future<Output = Result<(), pairpad_server::ServerError>> + Send + 'static,
    {
        let listener = TcpListener::bind("127.0.0.1:0").await.expect("bind");
        let addr = listener.local_addr().expect("addr");
        let (stop, stopped) = oneshot::channel::<()>();
        let signal: StopSignal = Box::pin(async {
            let _ = stopped.await;
        });
        let task = tokio::spawn(serve(listener, signal));
        Self {
            addr,
            db,
            stop: Some(stop),
            task: Some(task),
        }
    }

    pub fn http(&self, path: &str) -> String {
        format!("http://{}{}", self.addr, path)
    }

    pub async fn create_room(&self) -> String {
        create_room(self.addr).await
    }

    /// Graceful shutdown; waits until the server has flushed and exited.
    pub async fn stop(mut self) {
        if let Some(stop) = self.stop.take() {
            let _ = stop.send(());
        }
        if let Some(task) = self.task.take() {
            tokio::time::timeout(WAIT, task)
                .await
                .expect("server stops in time")
                .expect("server task")
                .expect("server exits cleanly");
        }
    }
}

pub async fn create_room(addr: std::net::SocketAddr) -> String {
    let response = reqwest::Client::new()
        .post(format!("http://{addr}/api/rooms"))
        .json(&serde_json::json!({"title": "Test", "language": "rust"}))
        .send()
        .await
        .expect("create room");
    assert_eq!(response.status(), 201);
    let body: Value = response.json().await.expect("json");
    body["roomId"].as_str().expect("roomId").to_string()
}

/// A room as `POST /api/rooms` creates it: its edit link, view link and owner key.
#[allow(dead_code)]
pub struct Created {
    pub room: String,
    pub view: String,
    pub owner_key: String,
}

#[allow(dead_code)]
pub async fn create_room_full(addr: std::net::SocketAddr) -> Created {
    let response = reqwest::Client::new()
        .post(format!("http://{addr}/api/rooms"))
        .json(&serde_json::json!({"title": "Test", "language": "rust"}))
        .send()
        .await
        .expect("create room");
    assert_eq!(response.status(), 201);
    let body: Value = response.json().await.expect("json");
    let field = |name: &str| body[name].as_str().expect(name).to_string();
    Created {
        room: field("roomId"),
        view: field("viewId"),
        owner_key: field("ownerKey"),
    }
}

/// The id the store keeps room `link` (its edit or view link) under: its own, which
/// names its first file.
#[allow(dead_code)]
pub async fn stored_id(store: &dyn pairpad_server::store::Store, link: &str) -> uuid::Uuid {
    let link = link.parse().expect("a link is a UUID");
    store
        .find_link(link)
        .await
        .expect("find link")
        .expect("room exists")
        .room
}

pub async fn get_room(addr: std::net::SocketAddr, room: &str) -> Value {
    let response = reqwest::get(format!("http://{addr}/api/rooms/{room}"))
        .await
        .expect("get room");
    assert_eq!(response.status(), 200);
    response.json().await.expect("json")
}

/// The server binary as a child process (for SIGKILL tests).
pub struct ChildServer {
    pub addr: std::net::SocketAddr,
    child: tokio::process::Child,
}

impl ChildServer {
    pub async fn start(db: &Db) -> Self {
        Self::start_with(db, &[], &[]).await
    }

    /// Runs the server with `extra_args`, under `wrapper` (a command such as
    /// `prlimit --nofile=512:8192`) when that is not empty.
    pub async fn start_with(db: &Db, extra_args: &[&str], wrapper: &[&str]) -> Self {
        let binary = env!("CARGO_BIN_EXE_pairpad-server");
        let mut command = match wrapper.split_first() {
            Some((program, args)) => {
                let mut command = tokio::process::Command::new(program);
                command.args(args).arg(binary);
                command
            }
            None => tokio::process::Command::new(binary),
        };
        let mut child = command
            .args(["--bind", "127.0.0.1:0", "--database-url", &db.url()])
            .args(extra_args)
            .env("RUST_LOG", "warn")
            .stdout(Stdio::piped())
            .stderr(Stdio::inherit())
            .kill_on_drop(true)
            .spawn()
            .expect("spawn pairpad-server");
        let stdout = child.stdout.take().expect("stdout");
        let mut lines = BufReader::new(stdout).lines();
        let addr = tokio::time::timeout(WAIT, async {
            while let Some(line) = lines.next_line().await.expect("read stdout") {
                if let Some(url) = line.strip_prefix("listening on http://") {
                    return url.parse().expect("address");
                }
            }
            panic!("server exited before listening");
        })
        .await
        .expect("server starts in time");
        tokio::spawn(async move { while let Ok(Some(_)) = lines.next_line().await {} });
        Self { addr, child }
    }

    pub fn pid(&self) -> u32 {
        self.child.id().expect("running")
    }

    /// Peak resident memory of the server process so far, in bytes.
    pub fn peak_rss(&self) -> u64 {
        let pid = self.child.id().expect("running");
        let status = std::fs::read_to_string(format!("/proc/{pid}/status")).expect("status");
        status
            .lines()
            .find_map(|line| line.strip_prefix("VmHWM:"))
            .and_then(|kb| kb.trim().trim_end_matches("kB").trim().parse::<u64>().ok())
            .expect("VmHWM")
            * 1024
    }

    pub async fn kill(mut self) {
        self.child.start_kill().expect("SIGKILL");
        self.child.wait().await.expect("wait");
    }

    pub async fn terminate(mut self) -> std::process::ExitStatus {
        let pid = self.child.id().expect("pid");
        let status = std::process::Command::new("kill")
            .args(["-TERM", &pid.to_string()])
            .status()
            .expect("kill -TERM");
        assert!(status.success());
        tokio::time::timeout(WAIT, self.child.wait())
            .await
            .expect("exits in time")
            .expect("wait")
    }
}

/// How a connection ended, as seen by the client.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Ended {
    Open,
    Closed { code: u16, reason: String },
    Dropped,
}

/// A y-websocket client backed by a yrs document.
pub struct YClient {
    pub awareness: Arc<Mutex<Awareness>>,
    out: mpsc::UnboundedSender<Message>,
    changes: watch::Receiver<u64>,
    ended: watch::Receiver<Ended>,
    frozen: watch::Sender<bool>,
    task: JoinHandle<()>,
}

impl YClient {
    pub async fn connect(addr: std::net::SocketAddr, room: &str) -> Self {
        Self::connect_from("127.0.0.1", addr, room).await
    }

    /// Connects from the loopback address `from` (any of 127.0.0.0/8), as a client on
    /// another machine would.
    pub async fn connect_from(from: &str, addr: std::net::SocketAddr, room: &str) -> Self {
        let socket = tokio::net::TcpSocket::new_v4().expect("socket");
        socket
            .bind(std::net::SocketAddr::new(from.parse().expect("ip"), 0))
            .expect("bind");
        let tcp = socket.connect(addr).await.expect("connect");
        tcp.set_nodelay(true).expect("nodelay");
        let (ws, _) = tokio_tungstenite::client_async(format!("ws://{addr}/ws/{room}"), tcp)
            .await
            .expect("websocket connect");
        let (mut sink, mut stream) = ws.split();
        let awareness = Arc::new(Mutex::new(Awareness::new(yrs::Doc::new())));
        let (out, mut out_rx) = mpsc::unbounded_channel::<Message>();
        let (changed, changes) = watch::channel(0u64);
        let (end_tx, ended) = watch::channel(Ended::Open);
        let (frozen, mut freeze) = watch::channel(false);
        {
            let sv = awareness.lock().unwrap().doc().transact().state_vector();
            let hello = YMessage::Sync(SyncMessage::SyncStep1(sv)).encode_v1();
            out.send(Message::Binary(hello.into())).unwrap();
        }
        let state = awareness.clone();
        let replies = out.clone();
        let task = tokio::spawn(async move {
            loop {
                tokio::select! {
                    _ = async { freeze.wait_for(|f| *f).await.is_ok() } => {
                        // A machine gone quiet: the socket stays open, nothing is read,
                        // written or answered (not even pings) again.
                        let _held = (sink, stream);
                        match std::future::pending::<std::convert::Infallible>().await {}
                    }
                    outgoing = out_rx.recv() => match outgoing {
                        Some(m) => if sink.send(m).await.is_err() { break },
                        None => break,
                    },
                    incoming = stream.next() => match incoming {
                        Some(Ok(Message::Binary(frame))) => {
                            handle_frame(&state, &frame, &replies);
                            changed.send_modify(|n| *n += 1);
                        }
                        Some(Ok(Message::Close(frame))) => {
                            let ended = frame.map_or(Ended::Closed { code: 1005, reason: String::new() }, |f| Ended::Closed {
                                code: u16::from(f.code),
                                reason: f.reason.to_string(),
                            });
                            let _ = end_tx.send(ended);
                            changed.send_modify(|n| *n += 1);
                            return;
                        }
                        Some(Ok(_)) => {}
                        Some(Err(_)) | None => break,
                    },
                }
            }
            let _ = end_tx.send(Ended::Dropped);
            changed.send_modify(|n| *n += 1);
        });
        Self {
            awareness,
            out,
            changes,
            ended,
            frozen,
            task,
        }
    }

    /// From now on reads, writes and answers nothing, with the socket left open: a peer
    /// whose network dropped or whose machine froze.
    pub fn freeze(&self) {
        let _ = self.frozen.send(true);
    }

    pub fn text(&self) -> String {
        let awareness = self.awareness.lock().unwrap();
        let doc = awareness.doc();
        let text = doc.get_or_insert_text("code");
        let txn = doc.transact();
        text.get_string(&txn)
    }

    /// Inserts `chunk` at `index` (clamped to the end) and sends the update.
    pub fn insert(&self, index: u32, chunk: &str) {
        let update = {
            let awareness = self.awareness.lock().unwrap();
            let doc = awareness.doc();
            let text = doc.get_or_insert_text("code");
            let mut txn = doc.transact_mut();
            let len = text.len(&txn);
            text.insert(&mut txn, index.min(len), chunk);
            txn.encode_update_v1()
        };
        self.send(YMessage::Sync(SyncMessage::Update(update)).encode_v1());
    }

    /// Sets `meta[key]` to `value` and sends the update.
    pub fn set_meta(&self, key: &str, value: impl Into<yrs::Any>) {
        let update = {
            let awareness = self.awareness.lock().unwrap();
            let doc = awareness.doc();
            let meta = doc.get_or_insert_map("meta");
            let mut txn = doc.transact_mut();
            yrs::Map::insert(&meta, &mut txn, key, value.into());
            txn.encode_update_v1()
        };
        self.send(YMessage::Sync(SyncMessage::Update(update)).encode_v1());
    }

    /// The room document's list of files: file id to path.
    pub fn files(&self) -> std::collections::BTreeMap<String, String> {
        let awareness = self.awareness.lock().unwrap();
        let doc = awareness.doc();
        let files = doc.get_or_insert_map("files");
        let txn = doc.transact();
        yrs::Map::iter(&files, &txn)
            .map(|(id, path)| (id.to_string(), path.to_string(&txn)))
            .collect()
    }

    /// Sets `files[key]` as a client might and sends the change.
    pub fn set_file_entry(&self, key: &str, path: &str) {
        let update = {
            let awareness = self.awareness.lock().unwrap();
            let doc = awareness.doc();
            let files = doc.get_or_insert_map("files");
            let mut txn = doc.transact_mut();
            yrs::Map::insert(&files, &mut txn, key, path);
            txn.encode_update_v1()
        };
        self.send(YMessage::Sync(SyncMessage::Update(update)).encode_v1());
    }

    /// Removes `meta[key]` and sends the change.
    pub fn remove_meta(&self, key: &str) {
        let update = {
            let awareness = self.awareness.lock().unwrap();
            let doc = awareness.doc();
            let meta = doc.get_or_insert_map("meta");
            let mut txn = doc.transact_mut();
            yrs::Map::remove(&meta, &mut txn, key);
            txn.encode_update_v1()
        };
        self.send(YMessage::Sync(SyncMessage::Update(update)).encode_v1());
    }

    /// `meta[key]` as this client sees it, as JSON.
    pub fn meta(&self, key: &str) -> Option<String> {
        let awareness = self.awareness.lock().unwrap();
        let doc = awareness.doc();
        let meta = doc.get_or_insert_map("meta");
        let txn = doc.transact();
        yrs::Map::get(&meta, &txn, key).map(|value| value.to_string(&txn))
    }

    /// Deletes `len` characters at `index` and sends the update.
    pub fn delete(&self, index: u32, len: u32) {
        let update = {
            let awareness = self.awareness.lock().unwrap();
            let doc = awareness.doc();
            let text = doc.get_or_insert_text("code");
            let mut txn = doc.transact_mut();
            yrs::Text::remove_range(&text, &mut txn, index, len);
            txn.encode_update_v1()
        };
        self.send(YMessage::Sync(SyncMessage::Update(update)).encode_v1());
    }

    pub fn append(&self, chunk: &str) {
        self.insert(u32::MAX, chunk);
    }

    pub fn set_name(&self, name: &str) {
        let message = {
            let mut awareness = self.awareness.lock().unwrap();
            awareness
                .set_local_state(serde_json::json!({"user": {"name": name, "color": "#30bced"}}))
                .unwrap();
            YMessage::Awareness(awareness.update().unwrap()).encode_v1()
        };
        self.send(message);
    }

    pub fn client_id(&self) -> u64 {
        self.awareness.lock().unwrap().client_id().get()
    }

    /// Names of remote clients in this client's presence view.
    pub fn remote_names(&self) -> Vec<String> {
        let awareness = self.awareness.lock().unwrap();
        let me = awareness.client_id();
        let mut names: Vec<String> = awareness
            .iter()
            .filter(|(id, _)| *id != me)
            .filter_map(|(_, state)| {
                let json: Value = serde_json::from_str(state.data.as_deref()?).ok()?;
                Some(json["user"]["name"].as_str()?.to_string())
            })
            .collect();
        names.sort();
        names
    }

    /// Binary frames received so far (each one counts, whatever it holds).
    pub fn frames_received(&self) -> u64 {
        *self.changes.borrow()
    }

    /// Sends everything this client has as one update, as a client does whose sync
    /// reply was written before it saw the server's state.
    pub fn repeat_everything(&self) {
        let update = {
            let awareness = self.awareness.lock().unwrap();
            let txn = awareness.doc().transact();
            txn.encode_state_as_update_v1(&StateVector::default())
        };
        self.send(YMessage::Sync(SyncMessage::Update(update)).encode_v1());
    }

    /// Takes in everything `old` has (a client of a server that died) and sends it, as
    /// an editor reconnecting elsewhere does.
    pub fn carry_over(&self, old: &YClient) {
        let update = {
            let old = old.awareness.lock().unwrap();
            let txn = old.doc().transact();
            txn.encode_state_as_update_v1(&StateVector::default())
        };
        {
            let awareness = self.awareness.lock().unwrap();
            let decoded = Update::decode_v1(&update).expect("valid update");
            awareness
                .doc()
                .transact_mut()
                .apply_update(decoded)
                .expect("applies");
        }
        self.send(YMessage::Sync(SyncMessage::Update(update)).encode_v1());
    }

    pub fn send(&self, frame: Vec<u8>) {
        let _ = self.out.send(Message::Binary(frame.into()));
    }

    pub fn send_raw(&self, message: Message) {
        let _ = self.out.send(message);
    }

    /// Waits until `check` holds for this client (fails the test after [`WAIT`]).
    pub async fn wait_for(&self, what: &str, check: impl Fn(&Self) -> bool) {
        let mut changes = self.changes.clone();
        let result = tokio::time::timeout(WAIT, async {
            loop {
                if check(self) {
                    return;
                }
                if changes.changed().await.is_err() {
                    assert!(check(self), "connection task ended before: {what}");
                    return;
                }
            }
        })
        .await;
        assert!(
            result.is_ok(),
            "timed out waiting for: {what}; text = {:?}",
            self.text()
        );
    }

    pub async fn wait_text(&self, expected: &str) {
        self.wait_for(&format!("text == {expected:?}"), |c| c.text() == expected)
            .await;
    }

    /// Waits until the server ends the connection and returns how.
    pub async fn wait_closed(&self) -> Ended {
        let mut ended = self.ended.clone();
        let result = tokio::time::timeout(WAIT, ended.wait_for(|e| *e != Ended::Open))
            .await
            .expect("connection closes in time")
            .expect("watch")
            .clone();
        result
    }

    pub fn is_open(&self) -> bool {
        *self.ended.borrow() == Ended::Open
    }

    /// Closes the connection with a normal close frame.
    pub async fn close(self) {
        let _ = self.out.send(Message::Close(Some(
            tokio_tungstenite::tungstenite::protocol::CloseFrame {
                code: CloseCode::Normal,
                reason: "".into(),
            },
        )));
        let _ = tokio::time::timeout(WAIT, self.task).await;
    }
}

fn handle_frame(state: &Mutex<Awareness>, frame: &[u8], replies: &mpsc::UnboundedSender<Message>) {
    let mut awareness = state.lock().unwrap();
    let mut decoder = yrs::updates::decoder::DecoderV1::from(frame);
    for message in yrs::sync::protocol::MessageReader::new(&mut decoder) {
        match message.expect("server sends well-formed messages") {
            YMessage::Sync(SyncMessage::SyncStep1(sv)) => {
                let diff = awareness.doc().transact().encode_state_as_update_v1(&sv);
                let reply = YMessage::Sync(SyncMessage::SyncStep2(diff)).encode_v1();
                let _ = replies.send(Message::Binary(reply.into()));
            }
            YMessage::Sync(SyncMessage::SyncStep2(update) | SyncMessage::Update(update)) => {
                let update = Update::decode_v1(&update).expect("valid update");
                awareness
                    .doc()
                    .transact_mut()
                    .apply_update(update)
                    .expect("applies");
            }
            YMessage::Awareness(update) => {
                let _ = awareness.apply_update(update);
            }
            _ => {}
        }
    }
}

/// A client's state vector: equal state vectors mean the same set of updates seen.
pub fn state_vector(client: &YClient) -> StateVector {
    let awareness = client.awareness.lock().unwrap();
    let txn = awareness.doc().transact();
    txn.state_vector()
}
