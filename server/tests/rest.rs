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

    // Defaults, and an empty JSON body counts as {}.
    let response = client
        .post(server.http("/api/rooms"))
        .header("content-type", "application/json")
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), StatusCode::CREATED);
    let id: Value = response.json().await.unwrap();
    let room = common::get_room(server.addr, id["roomId"].as_str().unwrap()).await;
    assert_eq!(
        (room["title"].as_str(), room["language"].as_str()),
        (Some("Untitled"), Some("plaintext"))
    );
    server.stop().await;
}

/// Any web page may send a `text/plain` (or body-less) POST to another origin without
/// asking; only `application/json` bodies are taken, which a page must ask for first.
#[tokio::test]
async fn only_json_bodies_are_taken() {
    let server = TestServer::sqlite().await;
    let client = reqwest::Client::new();
    for path in ["/api/rooms", "/api/autocomplete"] {
        for content_type in [
            None,
            Some("text/plain"),
            Some("application/x-www-form-urlencoded"),
        ] {
            let mut request = client.post(server.http(path)).body(r#"{"title":"csrf"}"#);
            if let Some(content_type) = content_type {
                request = request.header("content-type", content_type);
            }
            let got = error_code(request.send().await.unwrap()).await;
            assert_eq!(
                got,
                (
                    StatusCode::UNSUPPORTED_MEDIA_TYPE,
                    "unsupported_media_type".to_string()
                ),
                "{path} {content_type:?}"
            );
        }
    }
    let response = client
        .post(server.http("/api/rooms"))
        .header("content-type", "application/json; charset=utf-8")
        .body("{}")
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), StatusCode::CREATED);
    server.stop().await;
}

#[tokio::test]
async fn room_ids_have_one_form() {
    let server = TestServer::sqlite().await;
    let room = server.create_room().await;
    let upper = room.to_uppercase();
    let simple = room.replace('-', "");
    for other in [upper, simple] {
        let response = reqwest::get(server.http(&format!("/api/rooms/{other}")))
            .await
            .unwrap();
        assert_eq!(response.status(), StatusCode::BAD_REQUEST, "{other}");
    }
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
    // RFC 6455's own example key and answer.
    assert_eq!(
        response.headers()["sec-websocket-accept"],
        "s3pPLMBiTxaQ9kYGzzhZRbK+xOo="
    );
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
    server.stop().await;
}

#[tokio::test]
async fn editor_pages_and_assets_are_served_from_the_binary() {
    let server = TestServer::sqlite().await;
    let client = reqwest::Client::new();
    let get = |path: String| client.get(server.http(&path)).send();

    let landing = get("/".into()).await.unwrap();
    assert_eq!(landing.status(), StatusCode::OK);
    let csp = landing.headers()["content-security-policy"]
        .to_str()
        .unwrap();
    assert!(csp.contains("script-src 'self'"), "{csp}");
    assert_eq!(landing.headers()["referrer-policy"], "no-referrer");
    let html = landing.text().await.unwrap();
    assert!(html.contains("Create room"), "{html}");

    // An existing room gets the editor; unknown and malformed ids the not-found page.
    let id = server.create_room().await;
    let room = get(format!("/r/{id}")).await.unwrap();
    assert_eq!(room.status(), StatusCode::OK);
    let editor = room.text().await.unwrap();
    assert!(editor.contains(r#"id="editor""#));
    for missing in ["/r/00000000-0000-4000-8000-000000000000", "/r/not-a-uuid"] {
        let page = get(missing.into()).await.unwrap();
        assert_eq!(page.status(), StatusCode::NOT_FOUND, "{missing}");
        assert!(page.text().await.unwrap().contains("Room not found"));
    }
    // A browser at `/r`, `/r/` or a mistyped address gets the page too; scripts get JSON.
    for path in ["/r", "/r/", "/nowhere", "/r/x/y"] {
        let page = client
            .get(server.http(path))
            .header("accept", "text/html,application/xhtml+xml")
            .send()
            .await
            .unwrap();
        assert_eq!(page.status(), StatusCode::NOT_FOUND, "{path}");
        assert!(
            page.text().await.unwrap().contains("Go to the start page"),
            "{path}"
        );
        let api = client.get(server.http(path)).send().await.unwrap();
        assert_eq!(api.status(), StatusCode::NOT_FOUND, "{path}");
        assert_eq!(
            api.json::<serde_json::Value>().await.unwrap()["error"]["code"],
            "not_found"
        );
    }

    // Every script and stylesheet the editor names is served, immutable, with an ETag
    // that answers 304.
    let assets: Vec<&str> = editor
        .split('"')
        .filter(|s| s.starts_with("/assets/"))
        .collect();
    assert_eq!(assets.len(), 2, "one script and one stylesheet in {editor}");
    for asset in assets {
        let response = get(asset.into()).await.unwrap();
        assert_eq!(response.status(), StatusCode::OK, "{asset}");
        assert!(response.headers()["cache-control"]
            .to_str()
            .unwrap()
            .contains("immutable"));
        let etag = response.headers()["etag"].clone();
        let again = client
            .get(server.http(asset))
            .header("if-none-match", etag)
            .send()
            .await
            .unwrap();
        assert_eq!(again.status(), StatusCode::NOT_MODIFIED, "{asset}");
    }
    let worker = get("/sw.js".into()).await.unwrap();
    assert_eq!(worker.status(), StatusCode::OK);
    assert!(worker.headers()["content-type"]
        .to_str()
        .unwrap()
        .contains("javascript"));
    let (status, code) = error_code(get("/assets/nope.js".into()).await.unwrap()).await;
    assert_eq!(
        (status, code.as_str()),
        (StatusCode::NOT_FOUND, "not_found")
    );
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
