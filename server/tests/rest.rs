//! The REST contract over real sockets: every status code the API promises.

mod common;

use common::{Db, TestServer};
use reqwest::StatusCode;
use serde_json::{json, Value};

async fn error_code(response: reqwest::Response) -> (StatusCode, String) {
    let status = response.status();
    let body: Value = response.json().await.expect("error body is JSON");
    let code = body["error"]["code"]
        .as_str()
        .expect("error.code")
        .to_string();
    assert!(
        body["error"]["message"].is_string(),
        "error.message in {body}"
    );
    (status, code)
}

#[tokio::test]
async fn create_then_get_a_room() {
    let server = TestServer::sqlite().await;
    let client = reqwest::Client::new();
    let response = client
        .post(server.http("/api/rooms"))
        .json(&json!({"title": "Bug bash", "language": "python"}))
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), StatusCode::CREATED);
    let created: Value = response.json().await.unwrap();
    let id = created["roomId"].as_str().unwrap();
    assert_eq!(uuid::Uuid::parse_str(id).unwrap().get_version_num(), 4);
    assert_eq!(
        created["url"].as_str().unwrap(),
        format!("http://{}/r/{id}", server.addr)
    );

    let room = common::get_room(server.addr, id).await;
    assert_eq!(room["roomId"], id);
    assert_eq!(room["title"], "Bug bash");
    assert_eq!(room["language"], "python");
    assert_eq!(room["code"], "");
    assert_eq!(room["activeUsers"], 0);
    for field in ["createdAt", "updatedAt"] {
        let stamp = room[field].as_str().unwrap();
        chrono::DateTime::parse_from_rfc3339(stamp).expect("RFC 3339 time");
    }

    // Defaults, and an empty body counts as {}.
    let response = client.post(server.http("/api/rooms")).send().await.unwrap();
    assert_eq!(response.status(), StatusCode::CREATED);
    let id: Value = response.json().await.unwrap();
    let room = common::get_room(server.addr, id["roomId"].as_str().unwrap()).await;
    assert_eq!(
        (room["title"].as_str(), room["language"].as_str()),
        (Some("Untitled"), Some("plaintext"))
    );
    server.stop().await;
}

#[tokio::test]
async fn bad_requests_get_json_errors() {
    let server = TestServer::sqlite().await;
    let client = reqwest::Client::new();
    let post = |body: String| {
        client
            .post(server.http("/api/rooms"))
            .header("content-type", "application/json")
            .body(body)
            .send()
    };

    let cases = [
        ("{not json", StatusCode::BAD_REQUEST, "bad_request"),
        (
            r#"{"title": 42}"#,
            StatusCode::UNPROCESSABLE_ENTITY,
            "invalid_body",
        ),
        (
            r#"{"colour": "red"}"#,
            StatusCode::UNPROCESSABLE_ENTITY,
            "invalid_body",
        ),
        (
            r#"{"language": "<script>"}"#,
            StatusCode::UNPROCESSABLE_ENTITY,
            "invalid_body",
        ),
    ];
    for (body, status, code) in cases {
        let got = error_code(post(body.to_string()).await.unwrap()).await;
        assert_eq!(got, (status, code.to_string()), "body {body}");
    }
    let long_title = json!({ "title": "x".repeat(201) }).to_string();
    let got = error_code(post(long_title).await.unwrap()).await;
    assert_eq!(got.0, StatusCode::UNPROCESSABLE_ENTITY);

    let huge = json!({ "title": "x".repeat(2 << 20) }).to_string();
    let got = error_code(post(huge).await.unwrap()).await;
    assert_eq!(
        got,
        (StatusCode::PAYLOAD_TOO_LARGE, "payload_too_large".into())
    );

    let got = error_code(
        client
            .get(server.http("/api/rooms/not-a-uuid"))
            .send()
            .await
            .unwrap(),
    )
    .await;
    assert_eq!(got, (StatusCode::BAD_REQUEST, "bad_request".into()));
    let unknown = uuid::Uuid::new_v4();
    let got = error_code(
        client
            .get(server.http(&format!("/api/rooms/{unknown}")))
            .send()
            .await
            .unwrap(),
    )
    .await;
    assert_eq!(got, (StatusCode::NOT_FOUND, "room_not_found".into()));
    let got = error_code(
        client
            .get(server.http("/api/nothing"))
            .send()
            .await
            .unwrap(),
    )
    .await;
    assert_eq!(got, (StatusCode::NOT_FOUND, "not_found".into()));
    let got = error_code(
        client
            .delete(server.http("/api/rooms"))
            .send()
            .await
            .unwrap(),
    )
    .await;
    assert_eq!(
        got,
        (StatusCode::METHOD_NOT_ALLOWED, "method_not_allowed".into())
    );
    server.stop().await;
}

#[tokio::test]
async fn websocket_upgrade_is_refused_with_http_statuses() {
    let server = TestServer::sqlite().await;
    let client = reqwest::Client::new();
    let room = server.create_room().await;
    let upgrade = |path: String, origin: Option<&'static str>| {
        let mut request = client
            .get(server.http(&path))
            .header("connection", "upgrade")
            .header("upgrade", "websocket")
            .header("sec-websocket-version", "13")
            .header("sec-websocket-key", "dGhlIHNhbXBsZSBub25jZQ==");
        if let Some(origin) = origin {
            request = request.header("origin", origin);
        }
        request.send()
    };
    let unknown = uuid::Uuid::new_v4();
    let got = error_code(upgrade(format!("/ws/{unknown}"), None).await.unwrap()).await;
    assert_eq!(got, (StatusCode::NOT_FOUND, "room_not_found".into()));
    let got = error_code(upgrade("/ws/12345".into(), None).await.unwrap()).await;
    assert_eq!(got, (StatusCode::BAD_REQUEST, "bad_request".into()));
    let got = error_code(
        upgrade(format!("/ws/{room}"), Some("http://evil.example"))
            .await
            .unwrap(),
    )
    .await;
    assert_eq!(got, (StatusCode::FORBIDDEN, "origin_not_allowed".into()));
    let same_origin: &'static str = Box::leak(format!("http://{}", server.addr).into_boxed_str());
    let response = upgrade(format!("/ws/{room}"), Some(same_origin))
        .await
        .unwrap();
    assert_eq!(response.status(), StatusCode::SWITCHING_PROTOCOLS);
    drop(response);
    // A plain GET (no upgrade headers) on an existing room is a bad request, not a crash.
    let got = error_code(
        client
            .get(server.http(&format!("/ws/{room}")))
            .send()
            .await
            .unwrap(),
    )
    .await;
    assert_eq!(got.0, StatusCode::BAD_REQUEST);
    server.stop().await;
}

#[tokio::test]
async fn health_ready_metrics_and_pages() {
    let server = TestServer::sqlite().await;
    let get = |path: &str| reqwest::get(server.http(path));
    assert_eq!(get("/health").await.unwrap().status(), StatusCode::OK);
    assert_eq!(get("/ready").await.unwrap().status(), StatusCode::OK);
    let metrics = get("/metrics").await.unwrap();
    assert_eq!(metrics.status(), StatusCode::OK);
    assert!(metrics.headers()["content-type"]
        .to_str()
        .unwrap()
        .starts_with("text/plain"));
    let text = metrics.text().await.unwrap();
    for name in [
        "pairpad_rooms_loaded",
        "pairpad_connections",
        "pairpad_messages_in_total",
        "pairpad_messages_out_total",
        "pairpad_store_write_seconds_bucket",
    ] {
        assert!(text.contains(name), "{name} missing from /metrics:\n{text}");
    }
    let landing = get("/").await.unwrap();
    assert_eq!(landing.status(), StatusCode::OK);
    assert!(landing.text().await.unwrap().contains("Pairpad"));
    server.stop().await;
}

#[tokio::test]
async fn ready_is_503_when_the_store_is_down() {
    let db = Db::sqlite();
    let config = pairpad_server::Config::from_args(["--database-url", &db.url()]).unwrap();
    let store = pairpad_server::store::connect(&db.url()).await.unwrap();
    let state = pairpad_server::AppState::new(config, store.clone());
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
    let server = tokio::spawn(pairpad_server::serve(state, listener, async {
        let _ = stopped.await;
    }));
    let ready = || reqwest::get(format!("http://{addr}/ready"));
    assert_eq!(ready().await.unwrap().status(), StatusCode::OK);
    store.close().await;
    let got = error_code(ready().await.unwrap()).await;
    assert_eq!(got.0, StatusCode::SERVICE_UNAVAILABLE);
    assert_eq!(
        reqwest::get(format!("http://{addr}/health"))
            .await
            .unwrap()
            .status(),
        StatusCode::OK
    );
    let _ = stop.send(());
    server.await.unwrap().unwrap();
}
