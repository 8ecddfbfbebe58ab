//! `POST /api/autocomplete` over real sockets, with and without a model behind a fake
//! OpenAI-compatible server started in the test.

mod common;

use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use axum::http::{HeaderMap, StatusCode as AxumStatus};
use axum::routing::post;
use axum::{Json, Router};
use common::{Db, TestServer};
use reqwest::StatusCode;
use serde_json::{json, Value};

async fn complete(server: &TestServer, body: Value) -> (StatusCode, Value) {
    let response = reqwest::Client::new()
        .post(server.http("/api/autocomplete"))
        .timeout(Duration::from_secs(10))
        .json(&body)
        .send()
        .await
        .expect("an answer within 10 s");
    let status = response.status();
    (status, response.json().await.expect("JSON body"))
}

fn labels(body: &Value) -> Vec<String> {
    body["suggestions"]
        .as_array()
        .expect("suggestions")
        .iter()
        .map(|s| s["label"].as_str().unwrap().to_string())
        .collect()
}

#[tokio::test]
async fn local_completions_and_errors() {
    let server = TestServer::sqlite().await;
    let code = "def compute_total(items):\n    return sum(items)\n\n# computed_in_comment\ncom";
    let cursor = code.encode_utf16().count();
    let (status, body) = complete(
        &server,
        json!({"code": code, "cursor": cursor, "language": "python"}),
    )
    .await;
    assert_eq!(status, StatusCode::OK);
    let first = &body["suggestions"][0];
    assert_eq!(first["label"], "compute_total");
    assert_eq!(first["kind"], "function");
    assert_eq!(first["insertText"], "compute_total");
    assert!(first["detail"].is_string());
    assert!(!labels(&body).contains(&"computed_in_comment".to_string()));

    let (status, body) = complete(
        &server,
        json!({"code": "abc", "cursor": 4, "language": "rust"}),
    )
    .await;
    assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY);
    assert_eq!(body["error"]["code"], "invalid_body");

    let (status, body) = complete(
        &server,
        json!({"code": "apple apricot\nap", "cursor": 16, "language": "no-such-lang"}),
    )
    .await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(labels(&body), ["apple", "apricot"]);

    let (status, _) = complete(&server, json!({"code": "x", "language": "rust"})).await;
    assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY, "missing cursor");
    let huge = "x".repeat(2 << 20);
    let (status, body) = complete(
        &server,
        json!({"code": huge, "cursor": 0, "language": "rust"}),
    )
    .await;
    assert_eq!(status, StatusCode::PAYLOAD_TOO_LARGE);
    assert_eq!(body["error"]["code"], "payload_too_large");
    server.stop().await;
}

/// How the fake model answers.
#[derive(Clone, Copy)]
enum Fake {
    Good,
    NeverAnswers,
    Garbage,
    WrongShape,
    Status500,
}

/// A fake OpenAI-compatible server; records each request's body and Authorization header.
async fn fake_model(mode: Fake) -> (String, Arc<Mutex<Vec<(Value, Option<String>)>>>) {
    let seen = Arc::new(Mutex::new(Vec::new()));
    let log = seen.clone();
    let app = Router::new().route(
        "/v1/completions",
        post(move |headers: HeaderMap, Json(body): Json<Value>| {
            let log = log.clone();
            async move {
                let auth = headers
                    .get("authorization")
                    .map(|v| v.to_str().unwrap().to_string());
                log.lock().unwrap().push((body, auth));
                match mode {
                    Fake::Good => (
                        AxumStatus::OK,
                        r#"{"choices":[{"text":"total += item.price;\n"}]}"#.to_string(),
                    ),
                    Fake::NeverAnswers => std::future::pending().await,
                    Fake::Garbage => (AxumStatus::OK, "<html>not json</html>".to_string()),
                    Fake::WrongShape => (AxumStatus::OK, r#"{"choices":"nope"}"#.to_string()),
                    Fake::Status500 => (AxumStatus::INTERNAL_SERVER_ERROR, "{}".to_string()),
                }
            }
        }),
    );
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    tokio::spawn(async move { axum::serve(listener, app).await.unwrap() });
    (format!("http://{addr}/v1"), seen)
}

async fn with_model(mode: Fake) -> (TestServer, Arc<Mutex<Vec<(Value, Option<String>)>>>) {
    let (endpoint, seen) = fake_model(mode).await;
    let server = TestServer::start(
        Db::sqlite(),
        &[
            "--ai-endpoint",
            &endpoint,
            "--ai-model",
            "tiny-coder",
            "--ai-timeout",
            "300ms",
            "--ai-api-key",
            "sk-test-key",
        ],
    )
    .await;
    (server, seen)
}

const CODE: &str = "let total = 0;\nfor (const item of items) {\n  to\n}";

fn request() -> Value {
    let cursor = CODE.find("to\n").unwrap() + 2;
    json!({"code": CODE, "cursor": cursor, "language": "javascript"})
}

#[tokio::test]
async fn a_model_suggestion_is_merged_first() {
    let (server, seen) = with_model(Fake::Good).await;
    let (status, body) = complete(&server, request()).await;
    assert_eq!(status, StatusCode::OK);
    let first = &body["suggestions"][0];
    assert_eq!(first["kind"], "ai");
    assert_eq!(first["label"], "total += item.price;");
    assert_eq!(first["insertText"], "total += item.price;");
    assert!(
        labels(&body).contains(&"total".to_string()),
        "local results too"
    );
    let (sent, auth) = seen.lock().unwrap()[0].clone();
    assert_eq!(sent["model"], "tiny-coder");
    assert!(
        sent["prompt"].as_str().unwrap().ends_with("  to"),
        "prompt is the code before the cursor"
    );
    assert_eq!(sent["suffix"], "\n}");
    assert_eq!(auth.as_deref(), Some("Bearer sk-test-key"));
    server.stop().await;
}

#[tokio::test]
async fn a_slow_or_broken_model_leaves_local_results() {
    for mode in [
        Fake::NeverAnswers,
        Fake::Garbage,
        Fake::WrongShape,
        Fake::Status500,
    ] {
        let (server, seen) = with_model(mode).await;
        let started = Instant::now();
        let (status, body) = complete(&server, request()).await;
        assert_eq!(status, StatusCode::OK);
        assert!(
            started.elapsed() < Duration::from_secs(5),
            "the time budget bounds the wait"
        );
        let suggestions = body["suggestions"].as_array().unwrap();
        assert!(suggestions.iter().all(|s| s["kind"] != "ai"));
        assert_eq!(suggestions[0]["label"], "total");
        assert_eq!(seen.lock().unwrap().len(), 1, "the model was asked");
        server.stop().await;
    }
}

/// Names defined in the project's other files are offered by prefix, with their path;
/// the file being edited is not counted twice, and without a room nothing changes.
#[tokio::test]
async fn names_from_the_projects_other_files() {
    let server = TestServer::sqlite().await;
    let room = server.create_room().await;
    let created: Value = reqwest::Client::new()
        .post(server.http(&format!("/api/rooms/{room}/files")))
        .json(&json!({"path": "src/util.rs", "text": "pub fn compute_checksum(data: &[u8]) -> u32 { 0 }\n"}))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let util = created["fileId"].as_str().unwrap().to_string();
    let body = |file: &str| json!({"code": "fn main() {\n    comp", "cursor": 20, "language": "rust", "room": room, "file": file});
    // The index is built in the background after the first request.
    common::eventually("the other file's function offered", || async {
        let (status, answer) = complete(&server, body(&room)).await;
        assert_eq!(status, StatusCode::OK);
        let found = (answer["suggestions"].as_array().unwrap().iter())
            .find(|s| s["label"] == "compute_checksum")
            .cloned();
        found.is_some_and(|s| s["detail"] == "src/util.rs")
    })
    .await;
    let (_, answer) = complete(&server, body(&util)).await;
    assert!(
        !labels(&answer).contains(&"compute_checksum".to_string()),
        "the file's own names come from its text"
    );
    let (_, answer) = complete(
        &server,
        json!({"code": "fn main() {\n    comp", "cursor": 20, "language": "rust"}),
    )
    .await;
    assert!(!labels(&answer).contains(&"compute_checksum".to_string()));
    server.stop().await;
}
