//! Who may do what: view links that never change the document, the owner's calls,
//! replaced links and deleted rooms that disconnect whoever came by them, and presence
//! that each connection may set only for itself. Real sockets, stock-protocol clients.

mod common;

use reqwest::StatusCode;
use serde_json::{json, Value};
use yrs::sync::awareness::AwarenessUpdateEntry;
use yrs::sync::{AwarenessUpdate, Message as YMessage};
use yrs::updates::encoder::Encode;
use yrs::{ClientID, ReadTxn, StateVector, Transact};

use common::{create_room_full, Ended, TestServer, YClient};

/// The y-websocket path of view link `view`.
fn view_path(view: &str) -> String {
    format!("v/{view}")
}

async fn send(request: reqwest::RequestBuilder) -> (StatusCode, Value) {
    let response = request.send().await.expect("request");
    let status = response.status();
    let body = response.json().await.unwrap_or(Value::Null);
    (status, body)
}

fn everything(client: &YClient) -> Vec<u8> {
    let awareness = client.awareness.lock().unwrap();
    let txn = awareness.doc().transact();
    txn.encode_state_as_update_v1(&StateVector::default())
}

#[tokio::test]
async fn a_view_link_reads_everything_and_changes_nothing() {
    let server = TestServer::sqlite().await;
    let room = create_room_full(server.addr).await;
    assert_ne!(room.view, room.room);
    let http = reqwest::Client::new();

    // The editor writes, deletes and adds a file.
    let ada = YClient::connect(server.addr, &room.room).await;
    ada.append("fn main() { let secret = 1; }");
    ada.delete(12, 16);
    ada.wait_text("fn main() { }").await;
    let files = server.http(&format!("/api/rooms/{}/files", room.room));
    let (status, _) = send(
        http.post(&files)
            .json(&json!({"path": "notes.md", "text": "hi"})),
    )
    .await;
    assert_eq!(status, StatusCode::CREATED);

    // REST by the view link: the room without its edit link, its files, their text.
    let (status, seen) = send(http.get(server.http(&format!("/api/rooms/v/{}", room.view)))).await;
    assert_eq!(status, StatusCode::OK);
    assert!(seen.get("roomId").is_none(), "{seen}");
    assert_eq!(seen["canEdit"], false);
    assert_eq!(seen["viewId"], room.view.as_str());
    assert!(
        !seen.to_string().contains(&room.room),
        "the edit link is nowhere"
    );
    let (status, listed) =
        send(http.get(server.http(&format!("/api/rooms/v/{}/files", room.view)))).await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(listed["files"].as_array().unwrap().len(), 2);
    let notes = (listed["files"].as_array().unwrap().iter())
        .find(|f| f["path"] == "notes.md")
        .unwrap()["fileId"]
        .as_str()
        .unwrap()
        .to_string();
    let text = http
        .get(server.http(&format!("/api/rooms/v/{}/files/{notes}", room.view)))
        .send()
        .await
        .unwrap();
    assert_eq!(text.text().await.unwrap(), "hi");
    let archive = server.http(&format!("/api/rooms/v/{}/archive", room.view));
    assert_eq!(
        http.get(archive).send().await.unwrap().status(),
        StatusCode::OK
    );
    // ... and no writes: not by the view link's paths, nor by the view id on the edit paths.
    let viewer_files = server.http(&format!("/api/rooms/v/{}/files", room.view));
    let (status, _) = send(http.post(&viewer_files).json(&json!({"path": "x.md"}))).await;
    assert_eq!(status, StatusCode::METHOD_NOT_ALLOWED);
    let as_edit = server.http(&format!("/api/rooms/{}/files", room.view));
    let (status, _) = send(http.post(&as_edit).json(&json!({"path": "x.md"}))).await;
    assert_eq!(status, StatusCode::NOT_FOUND, "a view id is no edit link");
    assert_eq!(
        common::status(server.addr, &format!("/ws/{}", room.view)).await,
        404
    );
    assert_eq!(
        common::status(server.addr, &format!("/v/{}", room.room)).await,
        404
    );
    assert_eq!(
        common::status(server.addr, &format!("/v/{}", room.view)).await,
        200
    );

    // A stock client by the view link gets the whole document, which names no edit link.
    let viewer = YClient::connect(server.addr, &view_path(&room.view)).await;
    viewer.wait_text("fn main() { }").await;
    viewer
        .wait_for("the list of files", |c| c.files().len() == 2)
        .await;
    let state = everything(&viewer);
    let needle = room.room.as_bytes();
    assert!(
        !state.windows(needle.len()).any(|w| w == needle),
        "the edit link is not in the document"
    );
    // A file of the project, by the view link.
    let reader = YClient::connect(server.addr, &format!("{}/{notes}", view_path(&room.view))).await;
    reader.wait_text("hi").await;

    // Repeating what it has (deletions included, as its sync reply does on every
    // reconnect) changes nothing and is let through.
    viewer.repeat_everything();
    ada.append("\n");
    viewer.wait_text("fn main() { }\n").await;
    assert!(viewer.is_open());

    // An edit is refused with the documented close, and never reaches anyone.
    viewer.append("// from a viewer");
    let ended = viewer.wait_closed().await;
    assert_eq!(
        ended,
        Ended::Closed {
            code: 4403,
            reason: "read-only: this link can view the room but not edit it".into()
        }
    );
    reader.insert(0, "x");
    assert!(matches!(
        reader.wait_closed().await,
        Ended::Closed { code: 4403, .. }
    ));
    ada.append("after");
    ada.wait_text("fn main() { }\nafter").await;
    let late = YClient::connect(server.addr, &room.room).await;
    late.wait_text("fn main() { }\nafter").await;
    let text = http
        .get(server.http(&format!("/api/rooms/{}/files/{notes}", room.room)))
        .send()
        .await
        .unwrap();
    assert_eq!(text.text().await.unwrap(), "hi");
    server.stop().await;
}

#[tokio::test]
async fn owner_calls_need_the_owner_key() {
    let server = TestServer::sqlite().await;
    let room = create_room_full(server.addr).await;
    let http = reqwest::Client::new();
    let url = server.http(&format!("/api/rooms/{}", room.room));
    let with_key =
        |request: reqwest::RequestBuilder| request.header("Pairpad-Owner-Key", &room.owner_key);
    let wrong_key =
        |request: reqwest::RequestBuilder| request.header("Pairpad-Owner-Key", "0".repeat(64));

    // Without the key, or with another: 403, and nothing changes.
    let calls = || {
        [
            http.patch(&url).json(&json!({"title": "Mine now"})),
            http.delete(&url),
            http.post(format!("{url}/edit-link")),
            http.post(format!("{url}/view-link")),
        ]
    };
    for call in calls() {
        let (status, body) = send(call).await;
        assert_eq!(
            (status, body["error"]["code"].as_str()),
            (StatusCode::FORBIDDEN, Some("forbidden"))
        );
    }
    for call in calls() {
        assert_eq!(send(wrong_key(call)).await.0, StatusCode::FORBIDDEN);
    }
    let (_, seen) = send(http.get(&url)).await;
    assert_eq!(
        (seen["title"].as_str(), seen["owner"].as_bool()),
        (Some("Test"), Some(false))
    );
    assert_eq!(seen["hasOwner"], true);
    // The view link cannot reach the owner's calls at all.
    let by_view = server.http(&format!("/api/rooms/{}", room.view));
    assert_eq!(
        send(with_key(http.delete(&by_view))).await.0,
        StatusCode::NOT_FOUND
    );

    // With it: a new title, live in the document; bad values are refused.
    let ada = YClient::connect(server.addr, &room.room).await;
    let (status, seen) = send(with_key(http.patch(&url)).json(&json!({"title": "Renamed"}))).await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(
        (seen["title"].as_str(), seen["owner"].as_bool()),
        (Some("Renamed"), Some(true))
    );
    ada.wait_for("the new title", |c| {
        c.meta("title").as_deref() == Some("Renamed")
    })
    .await;
    let (status, _) =
        send(with_key(http.patch(&url)).json(&json!({"title": "x".repeat(201)}))).await;
    assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY);
    let (status, _) = send(with_key(http.patch(&url)).json(&json!({"access": "admin"}))).await;
    assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY);

    // Someone else's title change through the document is put back.
    ada.set_meta("title", "Hijacked");
    ada.wait_for("the title put back", |c| {
        c.meta("title").as_deref() == Some("Renamed")
    })
    .await;
    let owner = YClient::connect(
        server.addr,
        &format!("{}?owner={}", room.room, room.owner_key),
    )
    .await;
    owner
        .wait_for("the room", |c| c.meta("title").is_some())
        .await;
    owner.set_meta("title", "The owner's");
    ada.wait_for("the owner's title", |c| {
        c.meta("title").as_deref() == Some("The owner's")
    })
    .await;

    // View-only for everyone: editors are told and, back by the same link, only view.
    let (status, seen) = send(with_key(http.patch(&url)).json(&json!({"access": "view"}))).await;
    assert_eq!(
        (status, seen["access"].as_str()),
        (StatusCode::OK, Some("view"))
    );
    assert!(matches!(
        ada.wait_closed().await,
        Ended::Closed { code: 4001, .. }
    ));
    assert!(owner.is_open(), "the owner stays");
    let (_, seen) = send(http.get(&url)).await;
    assert_eq!(seen["canEdit"], false);
    let files = format!("{url}/files");
    let (status, body) = send(http.post(&files).json(&json!({"path": "a.rs"}))).await;
    assert_eq!(status, StatusCode::FORBIDDEN);
    assert!(body["error"]["message"]
        .as_str()
        .unwrap()
        .contains("view-only"));
    assert_eq!(
        send(with_key(http.post(&files)).json(&json!({"path": "a.rs"})))
            .await
            .0,
        StatusCode::CREATED
    );
    let bob = YClient::connect(server.addr, &room.room).await;
    bob.wait_for("the room", |c| c.meta("title").is_some())
        .await;
    bob.append("nope");
    assert!(matches!(
        bob.wait_closed().await,
        Ended::Closed { code: 4403, .. }
    ));
    owner.append("the owner still edits");
    let carol = YClient::connect(server.addr, &room.room).await;
    carol.wait_text("the owner still edits").await;
    // And back: everyone edits again.
    let (status, _) = send(with_key(http.patch(&url)).json(&json!({"access": "edit"}))).await;
    assert_eq!(status, StatusCode::OK);
    assert!(matches!(
        carol.wait_closed().await,
        Ended::Closed { code: 4001, .. }
    ));
    let dave = YClient::connect(server.addr, &room.room).await;
    dave.wait_text("the owner still edits").await;
    dave.append("!");
    owner.wait_text("the owner still edits!").await;
    server.stop().await;
}

#[tokio::test]
async fn a_replaced_link_stops_working_and_disconnects_whoever_came_by_it() {
    let server = TestServer::sqlite().await;
    let room = create_room_full(server.addr).await;
    let http = reqwest::Client::new();
    let url = server.http(&format!("/api/rooms/{}", room.room));
    let ada = YClient::connect(server.addr, &room.room).await;
    ada.append("kept");
    let viewer = YClient::connect(server.addr, &view_path(&room.view)).await;
    viewer.wait_text("kept").await;

    let (status, fresh) = send(
        http.post(format!("{url}/edit-link"))
            .header("Pairpad-Owner-Key", &room.owner_key),
    )
    .await;
    assert_eq!(status, StatusCode::OK);
    let new_room = fresh["roomId"].as_str().unwrap().to_string();
    assert!(fresh["url"]
        .as_str()
        .unwrap()
        .ends_with(&format!("/r/{new_room}")));
    assert_eq!(
        ada.wait_closed().await,
        Ended::Closed {
            code: 4404,
            reason: "the edit link was replaced; ask the room's owner for the new one".into()
        }
    );
    assert!(viewer.is_open(), "the view link still works");
    // The old link is gone everywhere; the new one opens the same room.
    assert_eq!(
        common::status(server.addr, &format!("/api/rooms/{}", room.room)).await,
        404
    );
    assert_eq!(
        common::status(server.addr, &format!("/ws/{}", room.room)).await,
        404
    );
    assert_eq!(
        common::status(server.addr, &format!("/r/{}", room.room)).await,
        404
    );
    let bob = YClient::connect(server.addr, &new_room).await;
    bob.wait_text("kept").await;
    bob.append("!");
    viewer.wait_text("kept!").await;

    // The view link too.
    let (status, fresh) = send(
        http.post(server.http(&format!("/api/rooms/{new_room}/view-link")))
            .header("Pairpad-Owner-Key", &room.owner_key),
    )
    .await;
    assert_eq!(status, StatusCode::OK);
    assert!(matches!(
        viewer.wait_closed().await,
        Ended::Closed { code: 4404, .. }
    ));
    assert!(bob.is_open());
    let new_view = fresh["viewId"].as_str().unwrap();
    assert_eq!(
        common::status(server.addr, &format!("/api/rooms/v/{}", room.view)).await,
        404
    );
    let again = YClient::connect(server.addr, &view_path(new_view)).await;
    again.wait_text("kept!").await;
    server.stop().await;
}

#[tokio::test]
async fn a_deleted_room_is_gone_for_everyone() {
    let server = TestServer::sqlite().await;
    let room = create_room_full(server.addr).await;
    let http = reqwest::Client::new();
    let url = server.http(&format!("/api/rooms/{}", room.room));
    let (status, file) = send(
        http.post(format!("{url}/files"))
            .json(&json!({"path": "b.rs", "text": "b"})),
    )
    .await;
    assert_eq!(status, StatusCode::CREATED);
    let file = file["fileId"].as_str().unwrap();
    let ada = YClient::connect(server.addr, &room.room).await;
    let in_file = YClient::connect(server.addr, &format!("{}/{file}", room.room)).await;
    in_file.wait_text("b").await;
    let viewer = YClient::connect(server.addr, &view_path(&room.view)).await;
    ada.append("typing");
    viewer.wait_text("typing").await;

    let (status, _) = send(
        http.delete(&url)
            .header("Pairpad-Owner-Key", &room.owner_key),
    )
    .await;
    assert_eq!(status, StatusCode::NO_CONTENT);
    for client in [&ada, &in_file, &viewer] {
        assert_eq!(
            client.wait_closed().await,
            Ended::Closed {
                code: 4404,
                reason: "room deleted".into()
            }
        );
    }
    for path in [
        format!("/api/rooms/{}", room.room),
        format!("/api/rooms/v/{}", room.view),
        format!("/api/rooms/{}/files/{file}", room.room),
        format!("/ws/{}", room.room),
        format!("/r/{}", room.room),
    ] {
        assert_eq!(common::status(server.addr, &path).await, 404, "{path}");
    }
    let (status, _) = send(
        http.delete(&url)
            .header("Pairpad-Owner-Key", &room.owner_key),
    )
    .await;
    assert_eq!(status, StatusCode::NOT_FOUND);
    // Nothing of it is left in the store, and the server is still well.
    assert_eq!(common::status(server.addr, "/ready").await, 200);
    let store = pairpad_server::store::connect(&server.db.url())
        .await
        .unwrap();
    assert!(store
        .find_link(room.room.parse().unwrap())
        .await
        .unwrap()
        .is_none());
    store.close().await;
    server.stop().await;
}

/// An awareness message that sets `client`'s state to `json` at `clock`.
fn presence_of(client: u64, clock: u32, json: &str) -> Vec<u8> {
    let mut update = AwarenessUpdate {
        clients: Default::default(),
    };
    update.clients.insert(
        ClientID::new(client),
        AwarenessUpdateEntry {
            clock,
            json: json.into(),
        },
    );
    YMessage::Awareness(update).encode_v1()
}

#[tokio::test]
async fn presence_is_each_connections_own_and_viewers_are_marked() {
    let server = TestServer::sqlite().await;
    let room = create_room_full(server.addr).await;
    let ada = YClient::connect(server.addr, &room.room).await;
    ada.set_name("Ada");
    let bob = YClient::connect(server.addr, &room.room).await;
    bob.set_name("Bob");
    let watcher = YClient::connect(server.addr, &room.room).await;
    watcher
        .wait_for("both names", |c| c.remote_names() == ["Ada", "Bob"])
        .await;

    // Mallory's connection sets Ada's client id, at a later clock, and removes Bob's.
    let mallory = YClient::connect(server.addr, &room.room).await;
    mallory.set_name("Mallory");
    watcher
        .wait_for("Mallory", |c| c.remote_names().len() == 3)
        .await;
    mallory.send(presence_of(
        ada.client_id(),
        1000,
        r#"{"user":{"name":"Mallory as Ada"}}"#,
    ));
    mallory.send(presence_of(bob.client_id(), 1000, "null"));
    // The stored author of an edit is the name of the connection that sent it, even when
    // that connection passes on someone else's presence.
    mallory.append("m");
    ada.append("a");
    watcher
        .wait_for("both edits", |c| c.text().len() == 2)
        .await;
    assert_eq!(watcher.remote_names(), ["Ada", "Bob", "Mallory"]);
    // Someone calling themselves by a name the server uses for its own edits is stored
    // as someone else.
    let faker = YClient::connect(server.addr, &room.room).await;
    faker.set_name("pairpad:disk");
    faker
        .wait_for("the room's text", |c| c.text().len() == 2)
        .await;
    faker.append("f");
    watcher
        .wait_for("the three edits", |c| c.text().len() == 3)
        .await;

    // A viewer's presence is marked as such; an editor cannot mark itself verified.
    let viewer = YClient::connect(server.addr, &view_path(&room.view)).await;
    viewer.set_name("Vera");
    bob.send(presence_of(
        bob.client_id(),
        500,
        r#"{"user":{"name":"Bob","verified":true,"viewer":true}}"#,
    ));
    let user_of = |c: &YClient, name: &str| -> Option<Value> {
        let awareness = c.awareness.lock().unwrap();
        let found = awareness.iter().find_map(|(_, state)| {
            let json: Value = serde_json::from_str(state.data.as_deref()?).ok()?;
            (json["user"]["name"] == name).then(|| json["user"].clone())
        });
        found
    };
    watcher
        .wait_for("Vera as a viewer", |c| {
            user_of(c, "Vera").is_some_and(|u| u["viewer"] == true)
        })
        .await;
    watcher
        .wait_for("Bob's later state", |c| user_of(c, "Bob").is_some())
        .await;
    let bob_seen = user_of(&watcher, "Bob").unwrap();
    assert!(
        bob_seen.get("verified").is_none() && bob_seen.get("viewer").is_none(),
        "{bob_seen}"
    );
    assert!(viewer.is_open(), "a viewer may publish presence");

    // Both edits were relayed, so both are stored: each under its sender's own name.
    let url = server.db.url();
    let store = pairpad_server::store::connect(&url).await.unwrap();
    let id = common::stored_id(store.as_ref(), &room.room).await;
    store.close().await;
    let pool = sqlx::SqlitePool::connect(&url).await.unwrap();
    let authors: Vec<Option<String>> =
        sqlx::query_scalar("SELECT author FROM room_updates WHERE room_id = ? ORDER BY seq")
            .bind(id.to_string())
            .fetch_all(&pool)
            .await
            .unwrap();
    let people: Vec<&str> = (authors.iter().flatten())
        .map(String::as_str)
        .filter(|a| !a.starts_with("pairpad:"))
        .collect();
    assert_eq!(people, ["Mallory", "Ada", "~pairpad:disk"]);
    pool.close().await;
    server.stop().await;
}

/// A client id whose connection dropped stays its person's for a while: someone
/// elsewhere cannot take it over (and with it their name and cursor) before they are
/// back; they can, from where they were.
#[tokio::test]
async fn a_departed_persons_presence_is_theirs_to_take_back() {
    let server = TestServer::sqlite().await;
    let room = create_room_full(server.addr).await;
    let watcher = YClient::connect(server.addr, &room.room).await;
    let alice = YClient::connect_from("127.0.0.2", server.addr, &room.room).await;
    alice.set_name("Alice");
    watcher
        .wait_for("Alice", |c| c.remote_names() == ["Alice"])
        .await;
    let id = alice.client_id();
    alice.close().await;
    watcher
        .wait_for("Alice gone", |c| c.remote_names().is_empty())
        .await;

    // From another address, by the view link: her id is not to be had.
    let mallory = YClient::connect_from("127.0.0.3", server.addr, &view_path(&room.view)).await;
    mallory.send(presence_of(
        id,
        1000,
        r#"{"user":{"name":"Mallory as Alice"}}"#,
    ));
    mallory.set_name("Mallory");
    watcher
        .wait_for("Mallory", |c| {
            c.remote_names().contains(&"Mallory".to_string())
        })
        .await;
    assert_eq!(watcher.remote_names(), ["Mallory"]);

    // Nor after a flood of short connections from a third address, each leaving 16 ids
    // behind, meant to push her reservation out.
    for round in 0..270u64 {
        let flood = YClient::connect_from("127.0.0.4", server.addr, &view_path(&room.view)).await;
        for n in 0..16 {
            let ghost = 1_000_000 + round * 16 + n;
            flood.send(presence_of(ghost, 1, r#"{"user":{"name":"ghost"}}"#));
        }
        flood.close().await;
    }
    mallory.send(presence_of(
        id,
        2000,
        r#"{"user":{"name":"Mallory as Alice"}}"#,
    ));
    mallory.set_name("Mallory again");
    watcher
        .wait_for("Mallory again", |c| {
            c.remote_names().contains(&"Mallory again".to_string())
        })
        .await;
    assert!(!watcher
        .remote_names()
        .contains(&"Mallory as Alice".to_string()));

    // From her own address someone takes it with the clock pushed to the top, and leaves:
    // Alice, back, still shows.
    let trick = YClient::connect_from("127.0.0.2", server.addr, &view_path(&room.view)).await;
    trick.send(presence_of(
        id,
        u32::MAX,
        r#"{"user":{"name":"Made-up clock"}}"#,
    ));
    trick.send(presence_of(
        id,
        1 << 30,
        r#"{"user":{"name":"Clock trick"}}"#,
    ));
    watcher
        .wait_for("the trick", |c| {
            c.remote_names().contains(&"Clock trick".to_string())
        })
        .await;
    assert!(!watcher
        .remote_names()
        .contains(&"Made-up clock".to_string()));
    trick.close().await;
    watcher
        .wait_for("the trick gone", |c| {
            !c.remote_names().contains(&"Clock trick".to_string())
        })
        .await;
    let back = YClient::connect_from("127.0.0.2", server.addr, &room.room).await;
    back.send(presence_of(id, 1001, r#"{"user":{"name":"Alice"}}"#));
    watcher
        .wait_for("Alice back", |c| {
            c.remote_names().contains(&"Alice".to_string())
        })
        .await;
    server.stop().await;
}

/// A client that reconnects by the view link and sends the same edit again, in a loop
/// (as y-websocket before 3.1 does on 4403), soon has its requests refused before the
/// room answers them, instead of costing a whole sync reply each time.
#[tokio::test]
async fn a_viewer_that_sends_the_same_edit_in_a_loop_is_soon_refused_cheaply() {
    let server = TestServer::sqlite().await;
    let room = create_room_full(server.addr).await;
    let ada = YClient::connect(server.addr, &room.room).await;
    ada.append("the room's text");
    let mut refused_cheaply = false;
    for _ in 0..40 {
        let viewer = YClient::connect_from("127.0.0.5", server.addr, &view_path(&room.view)).await;
        viewer.append("again");
        match viewer.wait_closed().await {
            Ended::Closed { code: 4403, .. } => {}
            Ended::Closed { code: 1008, reason } => {
                assert!(reason.contains("too costly"), "{reason}");
                refused_cheaply = true;
                break;
            }
            other => panic!("unexpected end: {other:?}"),
        }
    }
    assert!(refused_cheaply, "the loop was never throttled");
    // Others are not touched.
    ada.append("!");
    let late = YClient::connect(server.addr, &room.room).await;
    late.wait_text("the room's text!").await;
    server.stop().await;
}
