//! Asking to join over the network: only the host, in-process, lets anyone in, and only an
//! admitted request learns the room.

mod common;

use common::{Db, TestServer};
use pairpad_server::http::lobby::Answer;
use serde_json::{json, Value};
use uuid::Uuid;

async fn post(server: &TestServer, path: &str, body: Value) -> (u16, Value) {
    let response = reqwest::Client::builder()
        .local_address("127.0.0.2".parse::<std::net::IpAddr>().unwrap())
        .build()
        .unwrap()
        .post(server.http(path))
        .json(&body)
        .send()
        .await
        .expect("answer");
    let status = response.status().as_u16();
    (status, response.json().await.unwrap_or(Value::Null))
}

async fn get(server: &TestServer, path: &str) -> (u16, Value) {
    let response = reqwest::get(server.http(path)).await.expect("answer");
    let status = response.status().as_u16();
    (status, response.json().await.unwrap_or(Value::Null))
}

async fn lobby_server() -> (
    TestServer,
    std::sync::Arc<pairpad_server::http::lobby::Lobby>,
) {
    let db = Db::sqlite();
    let config = pairpad_server::Config::from_args(["--database-url", &db.url(), "--lobby"])
        .expect("config");
    let store = pairpad_server::store::connect(&db.url())
        .await
        .expect("store");
    let state = pairpad_server::AppState::new(config, store);
    let lobby = state.lobby.clone().expect("lobby on");
    (TestServer::with_state(db, state).await, lobby)
}

#[tokio::test]
async fn the_host_lets_people_in_or_not() {
    let (server, lobby) = lobby_server().await;
    let room = server.create_room().await;

    let (status, body) = post(&server, "/api/lobby/knocks", json!({"name": " Bob "})).await;
    assert_eq!(status, 202, "{body}");
    let bob = body["knockId"].as_str().expect("knockId").to_string();
    let (status, body) = get(&server, &format!("/api/lobby/knocks/{bob}")).await;
    assert_eq!((status, body.clone()), (200, json!({"status": "pending"})));

    let pending = lobby.pending();
    assert_eq!(pending.len(), 1);
    assert_eq!(pending[0].name, "Bob");
    assert_eq!(pending[0].address, "127.0.0.2");
    let room_id: Uuid = room.parse().unwrap();
    assert!(lobby.answer(pending[0].knock_id, Answer::Admitted(room_id)));
    let (status, body) = get(&server, &format!("/api/lobby/knocks/{bob}")).await;
    assert_eq!(status, 200);
    assert_eq!(body, json!({"status": "admitted", "roomId": room}));

    let (_, body) = post(&server, "/api/lobby/knocks", json!({"name": "Mallory"})).await;
    let mallory = body["knockId"].as_str().unwrap().to_string();
    assert!(lobby.answer(mallory.parse().unwrap(), Answer::Refused));
    let (_, body) = get(&server, &format!("/api/lobby/knocks/{mallory}")).await;
    assert_eq!(body, json!({"status": "refused"}));
    assert!(!lobby.answer(mallory.parse().unwrap(), Answer::Admitted(room_id)));

    // Bad input and strangers' guesses.
    for name in ["", &"x".repeat(65), "a\u{7}b"] {
        let (status, _) = post(&server, "/api/lobby/knocks", json!({ "name": name })).await;
        assert_eq!(status, 422, "{name:?}");
    }
    let (status, body) = get(&server, &format!("/api/lobby/knocks/{}", Uuid::new_v4())).await;
    assert_eq!(
        (status, body["error"]["code"].clone()),
        (404, json!("knock_not_found"))
    );
    let (status, _) = get(&server, "/api/lobby/knocks/not-a-uuid").await;
    assert_eq!(status, 400);
    server.stop().await;
}

#[tokio::test]
async fn knocking_is_bounded_and_off_unless_asked_for() {
    let (server, lobby) = lobby_server().await;
    let mut refused = 0;
    for i in 0..40 {
        let (status, _) = post(
            &server,
            "/api/lobby/knocks",
            json!({"name": format!("n{i}")}),
        )
        .await;
        match status {
            202 => {}
            429 => refused += 1,
            other => panic!("unexpected {other}"),
        }
    }
    assert_eq!(refused, 30, "ten knocks a minute from one address");
    assert_eq!(lobby.pending().len(), 10);
    server.stop().await;

    let server = TestServer::sqlite().await;
    let (status, _) = post(&server, "/api/lobby/knocks", json!({"name": "Bob"})).await;
    assert_eq!(status, 404);
    server.stop().await;
}

/// The desktop host's controls through the library: asking before anyone joins (only
/// those let in come in, by any link, unless they show the owner key), who is here, and
/// taking someone out.
#[tokio::test]
async fn the_host_asks_before_anyone_joins_sees_who_is_here_and_removes_people() {
    let db = Db::sqlite();
    let config = pairpad_server::Config::from_args(["--database-url", &db.url(), "--lobby"])
        .expect("config");
    let store = pairpad_server::store::connect(&db.url())
        .await
        .expect("store");
    let state = pairpad_server::AppState::new(config, store);
    let lobby = state.lobby.clone().expect("lobby on");
    let server = TestServer::with_state(db, state.clone()).await;
    let created = common::create_room_full(server.addr).await;
    let room = common::stored_id(state.store.as_ref(), &created.room).await;
    let from = |ip: &str| {
        reqwest::Client::builder()
            .local_address(ip.parse::<std::net::IpAddr>().unwrap())
            .build()
            .unwrap()
    };
    let room_url = server.http(&format!("/api/rooms/{}", created.room));

    // Ada is here before the host starts asking: she stays.
    let ada = common::YClient::connect_from("127.0.0.2", server.addr, &created.room).await;
    ada.set_name("Ada");
    common::eventually("Ada is listed", || async {
        pairpad_server::owner::people(&state, room)
            .await
            .iter()
            .any(|p| p.name == "Ada")
    })
    .await;
    let present = (pairpad_server::owner::people(&state, room)
        .await
        .into_iter())
    .map(|p| p.address);
    lobby.ask_before_joining(true, present);
    assert_eq!(
        from("127.0.0.2")
            .get(&room_url)
            .send()
            .await
            .unwrap()
            .status(),
        200
    );

    // Bob, new, is sent to knock, by the edit or the view link, over REST or WebSocket.
    let bob = from("127.0.0.3");
    let refused = bob.get(&room_url).send().await.unwrap();
    assert_eq!(refused.status(), 403);
    let message = refused.json::<Value>().await.unwrap()["error"]["message"].clone();
    assert!(message.as_str().unwrap().contains("/join"), "{message}");
    let by_view = server.http(&format!("/api/rooms/v/{}", created.view));
    assert_eq!(bob.get(&by_view).send().await.unwrap().status(), 403);
    // The owner key lets its holder in from anywhere (the host's own windows).
    let owned = bob
        .get(&room_url)
        .header("Pairpad-Owner-Key", &created.owner_key);
    assert_eq!(owned.send().await.unwrap().status(), 200);
    // The page to knock on is served.
    assert_eq!(common::status(server.addr, "/join").await, 200);

    // Once the host lets him in, he comes in.
    let knock = bob
        .post(server.http("/api/lobby/knocks"))
        .json(&json!({"name": "Bob"}))
        .send()
        .await
        .unwrap()
        .json::<Value>()
        .await
        .unwrap()["knockId"]
        .as_str()
        .unwrap()
        .parse()
        .unwrap();
    assert!(lobby.answer(knock, Answer::Admitted(created.room.parse().unwrap())));
    assert_eq!(bob.get(&room_url).send().await.unwrap().status(), 200);
    let bob_editor = common::YClient::connect_from("127.0.0.3", server.addr, &created.room).await;
    bob_editor.set_name("Bob");
    common::eventually("Bob is listed", || async {
        pairpad_server::owner::people(&state, room)
            .await
            .iter()
            .any(|p| p.name == "Bob")
    })
    .await;

    // The host takes Bob out: he is told, and must knock again.
    let people = pairpad_server::owner::people(&state, room).await;
    let bob_here = people.iter().find(|p| p.name == "Bob").unwrap();
    assert_eq!(bob_here.address.to_string(), "127.0.0.3");
    lobby.turn_out(bob_here.address);
    assert_eq!(
        pairpad_server::owner::remove(&state, room, &bob_here.conns).await,
        1
    );
    assert_eq!(
        bob_editor.wait_closed().await,
        common::Ended::Closed {
            code: 4410,
            reason: "the host removed you from the session".into()
        }
    );
    assert_eq!(bob.get(&room_url).send().await.unwrap().status(), 403);
    assert!(ada.is_open(), "nobody else is touched");

    // No longer asking: anyone with the link comes in.
    lobby.ask_before_joining(false, []);
    assert_eq!(bob.get(&room_url).send().await.unwrap().status(), 200);
    server.stop().await;
}
