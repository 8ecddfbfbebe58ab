//! Rooms as projects of files, over real sockets: the REST contract (every status, path
//! attacks included), files edited by stock clients, the room's live list of files, and
//! kill -9 durability of a file that is not the first.

mod common;

use std::collections::BTreeMap;
use std::io::Read;

use common::{ChildServer, Db, Ended, TestServer, YClient};
use reqwest::StatusCode;
use serde_json::{json, Value};

struct Api {
    client: reqwest::Client,
    base: String,
}

impl Api {
    fn new(addr: std::net::SocketAddr) -> Self {
        Self {
            client: reqwest::Client::new(),
            base: format!("http://{addr}"),
        }
    }

    async fn send(&self, request: reqwest::RequestBuilder) -> (StatusCode, Value) {
        let response = request.send().await.expect("request");
        let status = response.status();
        let text = response.text().await.expect("body");
        (
            status,
            serde_json::from_str(&text).unwrap_or(Value::String(text)),
        )
    }

    async fn list(&self, room: &str) -> (StatusCode, Value) {
        let url = format!("{}/api/rooms/{room}/files", self.base);
        self.send(self.client.get(url)).await
    }

    async fn create(&self, room: &str, body: Value) -> (StatusCode, Value) {
        let url = format!("{}/api/rooms/{room}/files", self.base);
        self.send(self.client.post(url).json(&body)).await
    }

    async fn read(&self, room: &str, file: &str) -> (StatusCode, Value) {
        let url = format!("{}/api/rooms/{room}/files/{file}", self.base);
        self.send(self.client.get(url)).await
    }

    async fn rename(&self, room: &str, file: &str, path: &str) -> (StatusCode, Value) {
        let url = format!("{}/api/rooms/{room}/files/{file}", self.base);
        let body = json!({ "path": path });
        self.send(self.client.patch(url).json(&body)).await
    }

    async fn delete(&self, room: &str, file: &str) -> StatusCode {
        let url = format!("{}/api/rooms/{room}/files/{file}", self.base);
        self.send(self.client.delete(url)).await.0
    }

    /// Creates `path` holding `text`; its file id.
    async fn add(&self, room: &str, path: &str, text: &str) -> String {
        let (status, body) = self.create(room, json!({"path": path, "text": text})).await;
        assert_eq!(status, StatusCode::CREATED, "{body}");
        assert_eq!(body["path"], path);
        body["fileId"].as_str().expect("fileId").to_string()
    }
}

fn paths(list: &Value) -> Vec<&str> {
    list["files"]
        .as_array()
        .expect("files")
        .iter()
        .map(|f| f["path"].as_str().expect("path"))
        .collect()
}

fn code(body: &Value) -> &str {
    body["error"]["code"].as_str().unwrap_or("")
}

#[tokio::test]
async fn the_files_api_answers_every_status_it_promises() {
    let server = TestServer::start(
        Db::sqlite(),
        &["--max-document-bytes", "4096", "--max-files-per-room", "4"],
    )
    .await;
    let api = Api::new(server.addr);
    let room = server.create_room().await;

    // A new room has its first file.
    let (status, list) = api.list(&room).await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(paths(&list), ["main.rs"]);
    let first = &list["files"][0];
    // The first file's id is the room's own, which is no link.
    let main = common::get_room(server.addr, &room).await["fileId"]
        .as_str()
        .unwrap()
        .to_string();
    assert_ne!(main, room);
    assert_eq!(first["fileId"], main.as_str());
    assert_eq!(first["language"], "rust");
    assert_eq!(first["bytes"], 0);
    chrono::DateTime::parse_from_rfc3339(first["updatedAt"].as_str().unwrap()).unwrap();

    let lib = api
        .add(&room, "src/lib.rs", "pub fn answer() -> u8 { 42 }")
        .await;
    let readme = api.add(&room, "README.md", "").await;
    let (_, list) = api.list(&room).await;
    assert_eq!(paths(&list), ["README.md", "main.rs", "src/lib.rs"]);
    assert_eq!(list["files"][2]["bytes"], 28);
    assert_eq!(list["files"][0]["language"], "markdown");

    // Reading: the text as text/plain.
    let response = reqwest::get(format!("{}/api/rooms/{room}/files/{lib}", api.base))
        .await
        .unwrap();
    assert_eq!(response.status(), StatusCode::OK);
    assert_eq!(
        response.headers()["content-type"],
        "text/plain; charset=utf-8"
    );
    assert_eq!(
        response.text().await.unwrap(),
        "pub fn answer() -> u8 { 42 }"
    );

    // Paths taken, case-insensitively, and the first file's too.
    for taken in ["src/lib.rs", "SRC/LIB.rs", "Main.rs"] {
        let (status, body) = api.create(&room, json!({ "path": taken })).await;
        assert_eq!(
            (status, code(&body)),
            (StatusCode::CONFLICT, "conflict"),
            "{taken}"
        );
    }
    // Path attacks and odd forms.
    let deep = vec!["a"; 10_000].join("/");
    for bad in [
        "",
        "../x",
        "/etc/passwd",
        "a/../../b",
        "a/./b",
        "a//b",
        "a\\b",
        "C:/Windows/x",
        "a\u{0}b",
        "tab\there",
        deep.as_str(),
    ] {
        let (status, body) = api.create(&room, json!({ "path": bad })).await;
        assert_eq!(
            (status, code(&body)),
            (StatusCode::UNPROCESSABLE_ENTITY, "invalid_body"),
            "{bad:?}"
        );
    }
    let (status, _) = api.create(&room, json!({ "text": "no path" })).await;
    assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY);
    let (status, _) = api
        .create(&room, json!({ "path": "x.rs", "mode": 777 }))
        .await;
    assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY, "unknown fields");
    // Too large a text, then one file too many.
    let big = "x".repeat(5_000);
    let (status, body) = api
        .create(&room, json!({ "path": "big.txt", "text": big }))
        .await;
    assert_eq!(
        (status, code(&body)),
        (StatusCode::PAYLOAD_TOO_LARGE, "too_large")
    );
    let fourth = api.add(&room, "fourth.txt", "").await;
    let (status, body) = api.create(&room, json!({ "path": "fifth.txt" })).await;
    assert_eq!(
        (status, code(&body)),
        (StatusCode::PAYLOAD_TOO_LARGE, "too_large")
    );

    // Renaming.
    let (status, body) = api.rename(&room, &lib, "src/answer.rs").await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(body, json!({"fileId": lib, "path": "src/answer.rs"}));
    let (status, _) = api.rename(&room, &lib, "readme.md").await;
    assert_eq!(status, StatusCode::CONFLICT);
    let (status, _) = api.rename(&room, &lib, "../escape.rs").await;
    assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY);
    let (status, _) = api.rename(&room, &main, "app.rs").await;
    assert_eq!(status, StatusCode::OK, "the first file may move");
    // A rename that names where it saw the file is refused once the file has moved.
    let url = format!("{}/api/rooms/{room}/files/{lib}", api.base);
    let stale = json!({ "path": "src/mine.rs", "from": "src/lib.rs" });
    let (status, body) = api.send(api.client.patch(&url).json(&stale)).await;
    assert_eq!(status, StatusCode::CONFLICT);
    assert!(body["error"]["message"]
        .as_str()
        .unwrap()
        .contains("moved or renamed meanwhile"));
    let fresh = json!({ "path": "src/answer2.rs", "from": "src/answer.rs" });
    let (status, _) = api.send(api.client.patch(&url).json(&fresh)).await;
    assert_eq!(status, StatusCode::OK);
    let back = json!({ "path": "src/answer.rs", "from": "src/answer2.rs" });
    assert_eq!(
        api.send(api.client.patch(&url).json(&back)).await.0,
        StatusCode::OK
    );

    // A file where a folder is, and a path through a file.
    for clash in ["src", "README.md/notes.md", "Src/other.rs"] {
        let (status, _) = api.create(&room, json!({ "path": clash })).await;
        assert_eq!(status, StatusCode::CONFLICT, "{clash}");
    }

    // Deleting.
    assert_eq!(api.delete(&room, &fourth).await, StatusCode::NO_CONTENT);
    assert_eq!(api.delete(&room, &fourth).await, StatusCode::NOT_FOUND);
    assert_eq!(api.delete(&room, &main).await, StatusCode::CONFLICT);
    let (_, list) = api.list(&room).await;
    assert_eq!(paths(&list), ["README.md", "app.rs", "src/answer.rs"]);

    // Unknown and malformed ids.
    let nobody = uuid::Uuid::new_v4().to_string();
    let (status, body) = api.list(&nobody).await;
    assert_eq!(
        (status, code(&body)),
        (StatusCode::NOT_FOUND, "room_not_found")
    );
    let (status, body) = api.create(&nobody, json!({ "path": "a.rs" })).await;
    assert_eq!(
        (status, code(&body)),
        (StatusCode::NOT_FOUND, "room_not_found")
    );
    let (status, body) = api.read(&room, &nobody).await;
    assert_eq!(
        (status, code(&body)),
        (StatusCode::NOT_FOUND, "file_not_found")
    );
    let (status, _) = api.rename(&room, &nobody, "b.rs").await;
    assert_eq!(status, StatusCode::NOT_FOUND);
    assert_eq!(api.delete(&room, &nobody).await, StatusCode::NOT_FOUND);
    let (status, _) = api.read(&room, "not-a-uuid").await;
    assert_eq!(status, StatusCode::BAD_REQUEST);
    let (status, _) = api.list(&room.to_uppercase()).await;
    assert_eq!(status, StatusCode::BAD_REQUEST);
    // A file is not a room, and belongs to its own room only.
    let other = server.create_room().await;
    assert_eq!(
        common::status(server.addr, &format!("/api/rooms/{readme}")).await,
        404
    );
    let (status, _) = api.read(&other, &readme).await;
    assert_eq!(status, StatusCode::NOT_FOUND);
    assert_eq!(api.delete(&other, &readme).await, StatusCode::NOT_FOUND);
    for path in [
        format!("/ws/{readme}"),
        format!("/ws/{other}/{readme}"),
        format!("/ws/{room}/{nobody}"),
    ] {
        assert_eq!(websocket_status(server.addr, &path).await, 404, "{path}");
    }
    assert_eq!(
        websocket_status(server.addr, &format!("/ws/{room}/x")).await,
        400
    );

    // The archive holds every file at its path.
    let response = reqwest::get(format!("{}/api/rooms/{room}/archive", api.base))
        .await
        .unwrap();
    assert_eq!(response.status(), StatusCode::OK);
    assert_eq!(response.headers()["content-type"], "application/zip");
    let bytes = response.bytes().await.unwrap();
    let mut zip = zip::ZipArchive::new(std::io::Cursor::new(bytes.to_vec())).unwrap();
    let mut entries = BTreeMap::new();
    for i in 0..zip.len() {
        let mut entry = zip.by_index(i).unwrap();
        let mut text = String::new();
        entry.read_to_string(&mut text).unwrap();
        entries.insert(entry.name().to_string(), text);
    }
    let expected: BTreeMap<String, String> = [
        ("README.md", ""),
        ("app.rs", ""),
        ("src/answer.rs", "pub fn answer() -> u8 { 42 }"),
    ]
    .into_iter()
    .map(|(p, t)| (p.to_string(), t.to_string()))
    .collect();
    assert_eq!(entries, expected);
    let (status, _) = api
        .send(
            api.client
                .get(format!("{}/api/rooms/{nobody}/archive", api.base)),
        )
        .await;
    assert_eq!(status, StatusCode::NOT_FOUND);
    server.stop().await;
}

/// The HTTP status a WebSocket handshake to `path` gets (101 when it opens).
async fn websocket_status(addr: std::net::SocketAddr, path: &str) -> u16 {
    match tokio_tungstenite::connect_async(format!("ws://{addr}{path}")).await {
        Ok(_) => 101,
        Err(tokio_tungstenite::tungstenite::Error::Http(response)) => response.status().as_u16(),
        Err(error) => panic!("handshake to {path} failed: {error}"),
    }
}

#[tokio::test]
async fn stock_clients_edit_a_file_and_converge() {
    let server = TestServer::sqlite().await;
    let api = Api::new(server.addr);
    let room = server.create_room().await;
    let file = api.add(&room, "src/lib.rs", "// lib\n").await;
    let doc = format!("{room}/{file}");
    let ada = YClient::connect(server.addr, &doc).await;
    let bob = YClient::connect(server.addr, &doc).await;
    ada.wait_text("// lib\n").await;
    bob.wait_text("// lib\n").await;
    for i in 0..20 {
        ada.append(&format!("a{i} "));
        bob.insert(0, &format!("b{i} "));
    }
    ada.wait_for("both edits", |c| c.text().matches(' ').count() == 40 + 1)
        .await;
    bob.wait_for("both edits", |c| c.text() == ada.text()).await;
    let late = YClient::connect(server.addr, &doc).await;
    late.wait_for("the late joiner's copy", |c| c.text() == ada.text())
        .await;
    // The REST API reads the live text; the room's own text is untouched.
    let (status, text) = api.read(&room, &file).await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(text, Value::String(ada.text()));
    let first = YClient::connect(server.addr, &room).await;
    first
        .wait_for("the room's list of files", |c| c.files().len() == 2)
        .await;
    assert_eq!(first.text(), "");
    server.stop().await;
}

#[tokio::test]
async fn the_room_shows_its_files_live_and_keeps_the_list_right() {
    let server = TestServer::sqlite().await;
    let api = Api::new(server.addr);
    let room = server.create_room().await;
    let ada = YClient::connect(server.addr, &room).await;
    let shows =
        |c: &YClient, id: &str, path: &str| c.files().get(id).map(String::as_str) == Some(path);
    let main = common::get_room(server.addr, &room).await["fileId"]
        .as_str()
        .unwrap()
        .to_string();
    ada.wait_for("the first file listed", |c| shows(c, &main, "main.rs"))
        .await;

    let file = api.add(&room, "notes/todo.md", "- [ ] ship").await;
    ada.wait_for("the new file", |c| shows(c, &file, "notes/todo.md"))
        .await;
    let (status, _) = api.rename(&room, &file, "TODO.md").await;
    assert_eq!(status, StatusCode::OK);
    ada.wait_for("the renamed file", |c| shows(c, &file, "TODO.md"))
        .await;

    // A client that changes the list has it put back.
    ada.set_file_entry(&file, "../../etc/passwd");
    ada.set_file_entry("6f1c2a4e-8b0d-4c4e-9a53-0d7b2f7f1a10", "ghost.rs");
    ada.wait_for("the list put back", |c| {
        shows(c, &file, "TODO.md") && c.files().len() == 2
    })
    .await;
    assert!(ada.is_open());

    // Whoever has a deleted file open is told; the list drops it.
    let editor = YClient::connect(server.addr, &format!("{room}/{file}")).await;
    editor.wait_text("- [ ] ship").await;
    assert_eq!(api.delete(&room, &file).await, StatusCode::NO_CONTENT);
    assert_eq!(
        editor.wait_closed().await,
        Ended::Closed {
            code: 1000,
            reason: "file deleted".into()
        }
    );
    ada.wait_for("the deleted file gone", |c| !c.files().contains_key(&file))
        .await;
    // After a restart the list is the same.
    let db = server.db.clone();
    ada.close().await;
    server.stop().await;
    let server = TestServer::start(db, &[]).await;
    let bob = YClient::connect(server.addr, &room).await;
    bob.wait_for("the list after a restart", |c| c.files().len() == 1)
        .await;
    server.stop().await;
}

/// Edits to a file seen by a second client survive a SIGKILL of the server.
async fn sigkill_keeps_a_files_edits(db: Db) {
    let server = ChildServer::start(&db).await;
    let room = common::create_room(server.addr).await;
    let api = Api::new(server.addr);
    let file = api.add(&room, "src/main.rs", "").await;
    let doc = format!("{room}/{file}");
    let ada = YClient::connect(server.addr, &doc).await;
    let bob = YClient::connect(server.addr, &doc).await;
    for i in 0..100 {
        ada.append(&format!("line {i}\n"));
    }
    let text: String = (0..100).map(|i| format!("line {i}\n")).collect();
    bob.wait_text(&text).await;
    server.kill().await;

    let server = ChildServer::start(&db).await;
    // Before anyone opens the file, the API reads what is stored, not the mirror (which
    // may be a second behind the last edits).
    let api = Api::new(server.addr);
    let (status, read) = api.read(&room, &file).await;
    assert_eq!(
        (status, read),
        (StatusCode::OK, Value::String(text.clone()))
    );
    let cy = YClient::connect(server.addr, &doc).await;
    cy.wait_text(&text).await;
    let first = YClient::connect(server.addr, &room).await;
    first
        .wait_for("the room untouched", |c| c.files().len() == 2)
        .await;
    assert_eq!(first.text(), "");
    assert_eq!(server.terminate().await.code(), Some(0));
}

#[tokio::test]
async fn sigkill_keeps_a_files_edits_sqlite() {
    sigkill_keeps_a_files_edits(Db::sqlite()).await;
}

#[tokio::test]
async fn sigkill_keeps_a_files_edits_postgres() {
    if let Some(db) = Db::postgres() {
        sigkill_keeps_a_files_edits(db).await;
    }
}

#[tokio::test]
async fn the_limits_hold_under_concurrent_requests() {
    let server = TestServer::start(Db::sqlite(), &["--max-files-per-room", "5"]).await;
    let room = server.create_room().await;
    let api = std::sync::Arc::new(Api::new(server.addr));
    let tasks: Vec<_> = (0..20)
        .map(|i| {
            let (api, room) = (api.clone(), room.clone());
            tokio::spawn(async move {
                api.create(&room, json!({ "path": format!("f{i}.txt") }))
                    .await
                    .0
            })
        })
        .collect();
    let mut created = 0;
    for task in tasks {
        match task.await.unwrap() {
            StatusCode::CREATED => created += 1,
            StatusCode::PAYLOAD_TOO_LARGE => {}
            other => panic!("unexpected {other}"),
        }
    }
    assert_eq!(created, 4, "four files besides the first");
    let (_, list) = api.list(&room).await;
    assert_eq!(paths(&list).len(), 5);
    server.stop().await;
}

#[tokio::test]
async fn a_files_language_follows_its_path_whatever_its_document_says() {
    let server = TestServer::start(Db::sqlite(), &["--room-idle", "100ms"]).await;
    let api = Api::new(server.addr);
    let room = server.create_room().await;
    let file = api.add(&room, "x.rs", "fn x() {}").await;
    let doc = format!("{room}/{file}");
    let ada = YClient::connect(server.addr, &doc).await;
    ada.wait_text("fn x() {}").await;
    ada.set_meta("language", "python");
    ada.set_meta("title", "evil title");
    ada.append("\n");
    ada.wait_text("fn x() {}\n").await;
    ada.close().await;
    // Once the file has unloaded (its mirror written), and again after it loads again.
    for round in 0..2 {
        all_unloaded(server.addr).await;
        let (_, list) = api.list(&room).await;
        let listed = (list["files"].as_array().unwrap().iter())
            .find(|f| f["path"] == "x.rs")
            .map(|f| f["language"].clone());
        assert_eq!(listed, Some(json!("rust")), "round {round}");
        let bob = YClient::connect(server.addr, &doc).await;
        bob.append("// more");
        bob.wait_for("the edit", |c| c.text().ends_with("// more"))
            .await;
        bob.close().await;
    }
    server.stop().await;
}

/// Waits until no document is loaded (each unloads once written).
async fn all_unloaded(addr: std::net::SocketAddr) {
    common::eventually("every document unloaded", || async move {
        let metrics = reqwest::get(format!("http://{addr}/metrics"))
            .await
            .unwrap()
            .text()
            .await
            .unwrap();
        metrics.lines().any(|l| l == "pairpad_rooms_loaded 0")
    })
    .await;
}

/// A document over a cap that was lowered since can still be cut down.
#[tokio::test]
async fn a_file_over_a_lowered_cap_takes_deletions_but_not_growth() {
    let server = TestServer::sqlite().await;
    let api = Api::new(server.addr);
    let room = server.create_room().await;
    let file = api.add(&room, "big.txt", &"x".repeat(5_000)).await;
    let db = server.db.clone();
    server.stop().await;
    let server = TestServer::start(db, &["--max-document-bytes", "2000"]).await;
    let doc = format!("{room}/{file}");
    let ada = YClient::connect(server.addr, &doc).await;
    ada.wait_for("the text", |c| c.text().len() == 5_000).await;
    ada.delete(0, 1_000);
    ada.wait_for("the deletion taken", |c| c.text().len() == 4_000)
        .await;
    let bob = YClient::connect(server.addr, &doc).await;
    bob.wait_for("the deletion stored and relayed", |c| {
        c.text().len() == 4_000
    })
    .await;
    assert!(ada.is_open());
    ada.append("more");
    assert!(matches!(
        ada.wait_closed().await,
        Ended::Closed { code: 1009, .. }
    ));
    server.stop().await;
}
