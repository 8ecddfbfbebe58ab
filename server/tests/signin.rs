//! Sign-in with tokens: a server started with `--jwt-secret` or `--jwt-public-key`
//! refuses requests without a valid token (expired, wrongly signed, `alg: none`, wrong
//! audience, another algorithm), and writes the token's name into presence and onto
//! edits, whatever the client claims. Real sockets, a stock-protocol client.

mod common;

use jsonwebtoken::{encode, Algorithm, EncodingKey, Header};
use reqwest::StatusCode;
use serde_json::{json, Value};
use tokio_tungstenite::tungstenite::client::IntoClientRequest;

use common::{Db, Ended, TestServer, YClient};

const SECRET: &str = "the secret of the sign-in tests, 32+ bytes";
const FIXTURES: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/tests/fixtures");

fn now() -> u64 {
    jsonwebtoken::get_current_timestamp()
}

fn hs256(claims: Value) -> String {
    encode(
        &Header::default(),
        &claims,
        &EncodingKey::from_secret(SECRET.as_bytes()),
    )
    .unwrap()
}

fn person(name: &str) -> Value {
    json!({"exp": now() + 3600, "name": name, "aud": "pairpad"})
}

/// Unpadded base64url, for a hand-made token.
fn b64url(bytes: &[u8]) -> String {
    const ABC: &[u8; 64] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_";
    let mut out = String::new();
    for chunk in bytes.chunks(3) {
        let n = chunk.iter().fold(0u32, |n, &b| (n << 8) | u32::from(b)) << (8 * (3 - chunk.len()));
        for i in 0..=chunk.len() {
            out.push(char::from(ABC[((n >> (18 - 6 * i)) & 63) as usize]));
        }
    }
    out
}

async fn start(extra: &[&str]) -> TestServer {
    TestServer::start(Db::sqlite(), extra).await
}

async fn create_room(server: &TestServer, token: Option<&str>) -> (StatusCode, Value) {
    let mut request = reqwest::Client::new()
        .post(server.http("/api/rooms"))
        .json(&json!({"title": "Signed", "language": "rust"}));
    if let Some(token) = token {
        request = request.bearer_auth(token);
    }
    let response = request.send().await.unwrap();
    let status = response.status();
    (status, response.json().await.unwrap_or(Value::Null))
}

/// The HTTP status of a WebSocket handshake to `path` (101 when it upgrades).
async fn handshake(
    server: &TestServer,
    path: &str,
    protocols: Option<&str>,
) -> (u16, Option<String>) {
    let mut request = format!("ws://{}{path}", server.addr)
        .into_client_request()
        .unwrap();
    if let Some(protocols) = protocols {
        request
            .headers_mut()
            .insert("sec-websocket-protocol", protocols.parse().unwrap());
    }
    match tokio_tungstenite::connect_async(request).await {
        Ok((_, response)) => {
            let chosen = (response.headers().get("sec-websocket-protocol"))
                .map(|v| v.to_str().unwrap().to_string());
            (response.status().as_u16(), chosen)
        }
        Err(tokio_tungstenite::tungstenite::Error::Http(response)) => {
            (response.status().as_u16(), None)
        }
        Err(error) => panic!("handshake failed: {error}"),
    }
}

#[tokio::test]
async fn only_valid_tokens_get_in() {
    let server = start(&["--jwt-secret", SECRET, "--jwt-audience", "pairpad"]).await;
    let ada = hs256(person("Ada"));

    // No token, or a bad one: 401 with the reason, on the API and on WebSockets alike.
    let (status, body) = create_room(&server, None).await;
    assert_eq!(
        (status, body["error"]["code"].as_str()),
        (StatusCode::UNAUTHORIZED, Some("unauthorized"))
    );
    let response = reqwest::Client::new()
        .post(server.http("/api/rooms"))
        .json(&json!({}))
        .send()
        .await
        .unwrap();
    assert_eq!(response.headers()["www-authenticate"], "Bearer");
    let expired = hs256(json!({"exp": now() - 3600, "name": "Ada", "aud": "pairpad"}));
    let (status, body) = create_room(&server, Some(&expired)).await;
    assert_eq!(status, StatusCode::UNAUTHORIZED);
    assert!(body["error"]["message"]
        .as_str()
        .unwrap()
        .contains("expired"));
    let wrong_key = encode(
        &Header::default(),
        &person("Ada"),
        &EncodingKey::from_secret(b"another secret, also long enough!!"),
    )
    .unwrap();
    let header = b64url(br#"{"alg":"none","typ":"JWT"}"#);
    let claims = b64url(person("Ada").to_string().as_bytes());
    let none = format!("{header}.{claims}.");
    let wrong_audience = hs256(json!({"exp": now() + 3600, "name": "Ada", "aud": "elsewhere"}));
    let no_audience = hs256(json!({"exp": now() + 3600, "name": "Ada"}));
    let hs512 = encode(
        &Header::new(Algorithm::HS512),
        &person("Ada"),
        &EncodingKey::from_secret(SECRET.as_bytes()),
    )
    .unwrap();
    for bad in [
        &wrong_key,
        &none,
        &wrong_audience,
        &no_audience,
        &hs512,
        &"garbage".to_string(),
    ] {
        assert_eq!(
            create_room(&server, Some(bad)).await.0,
            StatusCode::UNAUTHORIZED,
            "{bad}"
        );
    }

    // A valid token: the room is made, and read by header, query or subprotocol.
    let (status, room) = create_room(&server, Some(&ada)).await;
    assert_eq!(status, StatusCode::CREATED);
    let room = room["roomId"].as_str().unwrap().to_string();
    let get = |token: Option<&str>| {
        let mut request = reqwest::Client::new().get(server.http(&format!("/api/rooms/{room}")));
        if let Some(token) = token {
            request = request.bearer_auth(token);
        }
        request.send()
    };
    assert_eq!(get(None).await.unwrap().status(), StatusCode::UNAUTHORIZED);
    assert_eq!(
        get(Some(&expired)).await.unwrap().status(),
        StatusCode::UNAUTHORIZED
    );
    assert_eq!(get(Some(&ada)).await.unwrap().status(), StatusCode::OK);
    let by_query = reqwest::get(server.http(&format!("/api/rooms/{room}?token={ada}")))
        .await
        .unwrap();
    assert_eq!(by_query.status(), StatusCode::OK);
    assert_eq!(
        handshake(&server, &format!("/ws/{room}"), None).await.0,
        401
    );
    assert_eq!(
        handshake(&server, &format!("/ws/{room}?token={none}"), None)
            .await
            .0,
        401
    );
    assert_eq!(
        handshake(&server, &format!("/ws/{room}?token={ada}"), None)
            .await
            .0,
        101
    );
    let offered = format!("pairpad, pairpad.token.{ada}");
    let (status, chosen) = handshake(&server, &format!("/ws/{room}"), Some(&offered)).await;
    assert_eq!((status, chosen.as_deref()), (101, Some("pairpad")));
    // The pages and probes need none (the editor brings its token from the address).
    assert_eq!(common::status(server.addr, "/").await, 200);
    assert_eq!(
        common::status(server.addr, &format!("/r/{room}")).await,
        200
    );
    assert_eq!(common::status(server.addr, "/health").await, 200);
    server.stop().await;
}

#[tokio::test]
async fn the_token_names_the_person_everywhere() {
    let server = start(&["--jwt-secret", SECRET]).await;
    let token =
        hs256(json!({"exp": now() + 3600, "name": "Ada Lovelace", "email": "ada@example.com"}));
    let room = create_room(&server, Some(&token)).await.1["roomId"]
        .as_str()
        .unwrap()
        .to_string();
    let ada = YClient::connect(server.addr, &format!("{room}?token={token}")).await;
    let watcher_token = hs256(json!({"exp": now() + 3600, "name": "Watcher"}));
    let watcher = YClient::connect(server.addr, &format!("{room}?token={watcher_token}")).await;

    // Ada's client claims to be someone else: everyone sees the token's name.
    ada.set_name("Grace Hopper");
    watcher
        .wait_for("Ada's verified name", |c| {
            c.remote_names() == ["Ada Lovelace"]
        })
        .await;
    let user = {
        let awareness = watcher.awareness.lock().unwrap();
        let found = awareness.iter().find_map(|(_, state)| {
            let json: Value = serde_json::from_str(state.data.as_deref()?).ok()?;
            (json["user"]["name"] == "Ada Lovelace").then(|| json["user"].clone())
        });
        found.unwrap()
    };
    assert_eq!(
        (user["verified"].as_bool(), user["email"].as_str()),
        (Some(true), Some("ada@example.com"))
    );

    // Her edit is stored under the verified name.
    ada.append("signed edit");
    watcher.wait_text("signed edit").await;
    let url = server.db.url();
    let store = pairpad_server::store::connect(&url).await.unwrap();
    let id = common::stored_id(store.as_ref(), &room).await;
    store.close().await;
    let pool = sqlx::SqlitePool::connect(&url).await.unwrap();
    let authors: Vec<Option<String>> =
        sqlx::query_scalar("SELECT author FROM room_updates WHERE room_id = ? ORDER BY seq")
            .bind(id.to_string())
            .fetch_all(&pool)
            .await
            .unwrap();
    assert!(
        authors.iter().flatten().any(|a| a == "Ada Lovelace"),
        "{authors:?}"
    );
    assert!(
        !authors.iter().flatten().any(|a| a == "Grace Hopper"),
        "{authors:?}"
    );
    pool.close().await;
    server.stop().await;
}

#[tokio::test]
async fn a_token_may_be_held_to_viewing_or_to_certain_rooms() {
    let server = start(&["--jwt-secret", SECRET]).await;
    let owner = hs256(json!({"exp": now() + 3600, "name": "Owner"}));
    let first = create_room(&server, Some(&owner)).await.1;
    let other = create_room(&server, Some(&owner)).await.1;
    let (room, other) = (
        first["roomId"].as_str().unwrap(),
        other["roomId"].as_str().unwrap(),
    );
    let http = reqwest::Client::new();

    // View-only: reads, never writes, even by the edit link and with the owner key.
    let viewer = hs256(json!({"exp": now() + 3600, "name": "Vic", "pairpad_access": "view"}));
    let files = server.http(&format!("/api/rooms/{room}/files"));
    let response = http
        .post(&files)
        .bearer_auth(&viewer)
        .header("Pairpad-Owner-Key", first["ownerKey"].as_str().unwrap())
        .json(&json!({"path": "x.rs"}))
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), StatusCode::FORBIDDEN);
    assert_eq!(
        create_room(&server, Some(&viewer)).await.0,
        StatusCode::FORBIDDEN
    );
    let vic = YClient::connect(server.addr, &format!("{room}?token={viewer}")).await;
    vic.wait_for("the room", |c| c.meta("title").is_some())
        .await;
    vic.append("nope");
    assert!(matches!(
        vic.wait_closed().await,
        Ended::Closed { code: 4403, .. }
    ));

    // Held to one room: the others are closed to it, and it makes none.
    let held = hs256(json!({"exp": now() + 3600, "name": "Hal", "pairpad_rooms": [room]}));
    assert_eq!(
        http.get(server.http(&format!("/api/rooms/{room}")))
            .bearer_auth(&held)
            .send()
            .await
            .unwrap()
            .status(),
        StatusCode::OK
    );
    let refused = http
        .get(server.http(&format!("/api/rooms/{other}")))
        .bearer_auth(&held)
        .send()
        .await
        .unwrap();
    assert_eq!(refused.status(), StatusCode::FORBIDDEN);
    assert_eq!(
        handshake(&server, &format!("/ws/{other}?token={held}"), None)
            .await
            .0,
        403
    );
    assert_eq!(
        create_room(&server, Some(&held)).await.0,
        StatusCode::FORBIDDEN
    );
    let hal = YClient::connect(server.addr, &format!("{room}?token={held}")).await;
    hal.append("allowed");
    hal.wait_text("allowed").await;
    server.stop().await;
}

#[tokio::test]
async fn public_keys_verify_rs256_and_es256_and_nothing_else() {
    for (public, private, algorithm) in [
        ("es256-public.pem", "es256-private.pem", Algorithm::ES256),
        ("rs256-public.pem", "rs256-private.pem", Algorithm::RS256),
    ] {
        let public_path = format!("{FIXTURES}/{public}");
        let server = start(&[
            "--jwt-public-key",
            &public_path,
            "--jwt-issuer",
            "https://id.example.com",
        ])
        .await;
        let private_pem = std::fs::read(format!("{FIXTURES}/{private}")).unwrap();
        let key = match algorithm {
            Algorithm::ES256 => EncodingKey::from_ec_pem(&private_pem).unwrap(),
            _ => EncodingKey::from_rsa_pem(&private_pem).unwrap(),
        };
        let claims = json!({"exp": now() + 3600, "name": "Ada", "iss": "https://id.example.com"});
        let good = encode(&Header::new(algorithm), &claims, &key).unwrap();
        assert_eq!(
            create_room(&server, Some(&good)).await.0,
            StatusCode::CREATED,
            "{public}"
        );
        let wrong_issuer =
            json!({"exp": now() + 3600, "name": "Ada", "iss": "https://evil.example.com"});
        let bad = encode(&Header::new(algorithm), &wrong_issuer, &key).unwrap();
        assert_eq!(
            create_room(&server, Some(&bad)).await.0,
            StatusCode::UNAUTHORIZED
        );
        // The public key used as an HMAC secret (the algorithm confusion attack).
        let public_pem = std::fs::read(&public_path).unwrap();
        let confused = encode(
            &Header::new(Algorithm::HS256),
            &claims,
            &EncodingKey::from_secret(&public_pem),
        )
        .unwrap();
        assert_eq!(
            create_room(&server, Some(&confused)).await.0,
            StatusCode::UNAUTHORIZED,
            "{public}"
        );
        server.stop().await;
    }
}

/// A connection whose token expires is closed (4401), within a few seconds of the end of
/// the grace the server gives clocks that differ.
#[tokio::test]
async fn a_connection_is_closed_when_its_sign_in_expires() {
    let server = start(&["--jwt-secret", SECRET]).await;
    let owner = hs256(json!({"exp": now() + 3600, "name": "Owner"}));
    let room = create_room(&server, Some(&owner)).await.1["roomId"]
        .as_str()
        .unwrap()
        .to_string();
    // Expired 27 s ago: still taken (30 s of grace), for 3 s more.
    let ending = hs256(json!({"exp": now() - 27, "name": "Ending"}));
    let client = YClient::connect(server.addr, &format!("{room}?token={ending}")).await;
    let lasting = YClient::connect(server.addr, &format!("{room}?token={owner}")).await;
    assert_eq!(
        client.wait_closed().await,
        Ended::Closed {
            code: 4401,
            reason: "sign-in expired; sign in again".into()
        }
    );
    assert!(lasting.is_open());
    assert_eq!(
        handshake(&server, &format!("/ws/{room}?token={ending}"), None)
            .await
            .0,
        401
    );
    server.stop().await;
}
