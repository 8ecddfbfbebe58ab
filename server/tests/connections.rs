//! What one client may hold and how long it may dawdle, over real sockets: connections
//! per address, slow and idle HTTP connections, the open file limit, room creation per
//! address and the autocomplete workers.

mod common;

use std::net::{IpAddr, SocketAddr};
use std::time::Duration;

use common::{ChildServer, Db, TestServer, WAIT};
use serde_json::{json, Value};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpSocket, TcpStream};

/// A TCP connection to `server` from the loopback address `from` (any of 127.0.0.0/8).
async fn connect_from(from: &str, server: SocketAddr) -> TcpStream {
    let socket = TcpSocket::new_v4().expect("socket");
    socket
        .bind(SocketAddr::new(from.parse().expect("ip"), 0))
        .expect("bind");
    socket.connect(server).await.expect("connect")
}

/// An HTTP client whose requests leave from `from`.
fn client_from(from: &str) -> reqwest::Client {
    reqwest::Client::builder()
        .local_address(from.parse::<IpAddr>().expect("ip"))
        .timeout(Duration::from_secs(10))
        .build()
        .expect("client")
}

/// Reads until the server closes the connection (or [`WAIT`] passes) and returns what it
/// sent; `None` when it was still open at the deadline.
async fn read_until_closed(tcp: &mut TcpStream) -> Option<String> {
    let mut received = Vec::new();
    let read = tokio::time::timeout(WAIT, async {
        let mut chunk = [0u8; 4096];
        loop {
            match tcp.read(&mut chunk).await {
                Ok(0) | Err(_) => break,
                Ok(n) => received.extend_from_slice(&chunk[..n]),
            }
        }
    })
    .await;
    read.ok()
        .map(|()| String::from_utf8_lossy(&received).into_owned())
}

/// Whether the server answered on `tcp` at once, which it only does to refuse.
async fn refused_at_once(tcp: &mut TcpStream) -> Option<String> {
    let mut chunk = [0u8; 1024];
    match tokio::time::timeout(Duration::from_millis(300), tcp.read(&mut chunk)).await {
        Ok(Ok(n)) if n > 0 => Some(String::from_utf8_lossy(&chunk[..n]).into_owned()),
        _ => None,
    }
}

#[tokio::test]
async fn one_address_cannot_hold_every_connection() {
    let db = Db::sqlite();
    let server = ChildServer::start_with(&db, &["--max-connections-per-address", "16"], &[]).await;
    let mut held = Vec::new();
    for _ in 0..16 {
        held.push(connect_from("127.0.0.1", server.addr).await);
    }
    let mut refused = 0;
    for _ in 0..24 {
        let mut tcp = connect_from("127.0.0.1", server.addr).await;
        let answer = read_until_closed(&mut tcp).await.expect("closed at once");
        assert!(answer.starts_with("HTTP/1.1 429"), "{answer}");
        assert!(
            answer.to_ascii_lowercase().contains("retry-after:"),
            "{answer}"
        );
        assert!(answer.contains("too_many_connections"), "{answer}");
        refused += 1;
    }
    assert_eq!(refused, 24);
    // Everyone else still gets in, over HTTP and WebSocket alike.
    let other = client_from("127.0.0.2");
    let health = other
        .get(format!("http://{}/health", server.addr))
        .send()
        .await
        .expect("health from another address");
    assert_eq!(health.status(), 200);
    let created = other
        .post(format!("http://{}/api/rooms", server.addr))
        .json(&json!({}))
        .send()
        .await
        .expect("create");
    assert_eq!(created.status(), 201);
    // Closing one frees its place.
    drop(held.pop());
    common::eventually("a freed place is taken again", || async {
        let mut tcp = connect_from("127.0.0.1", server.addr).await;
        refused_at_once(&mut tcp).await.is_none()
    })
    .await;
}

#[tokio::test]
async fn slow_silent_and_idle_connections_are_closed() {
    let db = Db::sqlite();
    let server = ChildServer::start_with(&db, &["--header-timeout", "1s"], &[]).await;

    // Connected, sends nothing.
    let mut silent = TcpStream::connect(server.addr).await.expect("connect");
    assert!(
        read_until_closed(&mut silent).await.is_some(),
        "a silent connection stayed open"
    );

    // Slowloris: headers one byte at a time, never finished.
    let mut slow = TcpStream::connect(server.addr).await.expect("connect");
    slow.write_all(b"GET /health HTTP/1.1\r\nHost: x\r\nX-Slow: ")
        .await
        .expect("write");
    let trickle = async {
        loop {
            tokio::time::sleep(Duration::from_millis(200)).await;
            if slow.write_all(b"a").await.is_err() {
                return;
            }
        }
    };
    let ended = tokio::time::timeout(WAIT, trickle).await;
    assert!(ended.is_ok(), "a request trickling its headers stayed open");

    // Keep-alive: one request answered, then nothing.
    let mut idle = TcpStream::connect(server.addr).await.expect("connect");
    idle.write_all(b"GET /health HTTP/1.1\r\nHost: x\r\n\r\n")
        .await
        .expect("write");
    let answer = read_until_closed(&mut idle)
        .await
        .expect("an idle keep-alive connection stayed open");
    assert!(answer.starts_with("HTTP/1.1 200"), "{answer}");
}

#[tokio::test]
async fn the_open_file_limit_is_raised_at_start() {
    if std::process::Command::new("prlimit")
        .arg("--version")
        .output()
        .is_err()
    {
        panic!("prlimit (util-linux) is needed for this test");
    }
    let db = Db::sqlite();
    let server = ChildServer::start_with(&db, &[], &["prlimit", "--nofile=512:8192"]).await;
    let limits = std::fs::read_to_string(format!("/proc/{}/limits", server.pid())).expect("limits");
    let open_files = limits
        .lines()
        .find(|line| line.starts_with("Max open files"))
        .expect("open files line");
    let soft: u64 = open_files
        .split_whitespace()
        .nth(3)
        .and_then(|n| n.parse().ok())
        .expect("soft limit");
    assert_eq!(soft, 8192, "{open_files}");
    // More idle sockets than the old soft limit, from a few addresses: the server still
    // answers.
    let mut idle = Vec::new();
    for i in 0..600 {
        let from = format!("127.0.1.{}", 1 + i % 4);
        idle.push(connect_from(&from, server.addr).await);
    }
    let health = client_from("127.0.0.9")
        .get(format!("http://{}/health", server.addr))
        .send()
        .await
        .expect("health answers with 600 idle sockets open");
    assert_eq!(health.status(), 200);
}

#[tokio::test]
async fn room_creation_is_limited_per_address() {
    let server = TestServer::start(Db::sqlite(), &["--rooms-per-minute", "5"]).await;
    let create = |client: reqwest::Client| {
        let url = server.http("/api/rooms");
        async move {
            client
                .post(url)
                .json(&json!({"title": "t"}))
                .send()
                .await
                .expect("create")
        }
    };
    let here = client_from("127.0.0.1");
    for _ in 0..5 {
        assert_eq!(create(here.clone()).await.status(), 201);
    }
    let refused = create(here.clone()).await;
    assert_eq!(refused.status(), 429);
    let retry: u64 = refused
        .headers()
        .get("retry-after")
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.parse().ok())
        .expect("Retry-After in seconds");
    assert!((1..=12).contains(&retry), "retry after {retry}");
    let body: Value = refused.json().await.expect("json");
    assert_eq!(body["error"]["code"], "rate_limited");
    assert_eq!(create(client_from("127.0.0.2")).await.status(), 201);
    server.stop().await;
}

#[tokio::test]
async fn autocomplete_answers_busy_when_every_worker_is_taken() {
    let db = Db::sqlite();
    let config = pairpad_server::Config::from_args([
        "--database-url",
        &db.url(),
        "--autocomplete-concurrency",
        "2",
    ])
    .expect("config");
    let store = pairpad_server::store::connect(&db.url())
        .await
        .expect("store");
    let state = pairpad_server::AppState::new(config, store);
    let slots = state.autocomplete_slots.clone();
    let server = TestServer::with_state(db, state).await;
    let ask = || async {
        let response = reqwest::Client::new()
            .post(server.http("/api/autocomplete"))
            .json(&json!({"code": "let total = 1;\ntot", "cursor": 18, "language": "rust"}))
            .send()
            .await
            .expect("answer");
        let status = response.status();
        let retry = response.headers().get("retry-after").cloned();
        (status, retry, response.json::<Value>().await.expect("json"))
    };
    let (status, _, body) = ask().await;
    assert_eq!(status, 200, "{body}");
    // Every worker busy (as under a burst of large requests): a clear 503, at once.
    let taken = slots.clone().acquire_many_owned(2).await.expect("permits");
    let (status, retry, body) = ask().await;
    assert_eq!(status, 503, "{body}");
    assert_eq!(body["error"]["code"], "busy");
    assert!(retry.is_some());
    drop(taken);
    let (status, _, body) = ask().await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(body["suggestions"][0]["label"], "total");
    server.stop().await;
}
