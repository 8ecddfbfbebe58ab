//! The commands through Tauri's IPC on the mock runtime: no display needed. The app is
//! built with its real context, so the capabilities (who may call what) are the shipped
//! ones.

use serde_json::{json, Value};
use tauri::ipc::{CallbackFn, InvokeBody};
use tauri::test::{get_ipc_response, mock_builder, INVOKE_KEY};
use tauri::webview::InvokeRequest;
use tauri::{Manager, WebviewWindow, WebviewWindowBuilder};

use crate::settings::Settings;
use crate::{setup, Desktop};

struct App {
    app: tauri::App<tauri::test::MockRuntime>,
    main: WebviewWindow<tauri::test::MockRuntime>,
    _dir: tempfile::TempDir,
}

fn app() -> App {
    let dir = tempfile::tempdir().unwrap();
    let desktop = Desktop::new(Some(dir.path().join("settings.json")), None);
    let app = setup(mock_builder(), desktop)
        .build(tauri::generate_context!())
        .unwrap();
    let main = WebviewWindowBuilder::new(&app, "main", Default::default())
        .build()
        .unwrap();
    App {
        app,
        main,
        _dir: dir,
    }
}

/// Calls a command as the start page would; `Err` holds the command's error JSON.
fn call(app: &App, cmd: &str, args: Value) -> Result<Value, Value> {
    call_from(&app.main, "tauri://localhost", cmd, args)
}

fn call_from(
    webview: &WebviewWindow<tauri::test::MockRuntime>,
    url: &str,
    cmd: &str,
    args: Value,
) -> Result<Value, Value> {
    get_ipc_response(
        webview,
        InvokeRequest {
            cmd: cmd.into(),
            callback: CallbackFn(0),
            error: CallbackFn(1),
            url: url.parse().unwrap(),
            body: InvokeBody::Json(args),
            headers: Default::default(),
            invoke_key: INVOKE_KEY.to_string(),
        },
    )
    .map(|body| body.deserialize::<Value>().unwrap())
}

fn room_windows(app: &App) -> usize {
    app.app
        .webview_windows()
        .keys()
        .filter(|label| label.starts_with("room-"))
        .count()
}

#[test]
fn settings_are_checked_saved_and_the_database_tested() {
    let app = app();
    let defaults = call(&app, "get_settings", json!({})).unwrap();
    assert_eq!(
        defaults,
        json!({"displayName": "", "port": 8420, "databaseUrl": null})
    );

    let saved = call(
        &app,
        "save_settings",
        json!({"settings": {"displayName": " Ada ", "port": 9100, "databaseUrl": ""}}),
    )
    .unwrap();
    assert_eq!(saved["displayName"], "Ada");
    assert_eq!(saved["databaseUrl"], Value::Null);
    let on_disk = Settings::load(&app._dir.path().join("settings.json"));
    assert_eq!((on_disk.display_name.as_str(), on_disk.port), ("Ada", 9100));

    let low_port = call(&app, "save_settings", json!({"settings": {"port": 80}})).unwrap_err();
    assert_eq!(low_port["code"], "invalid");

    // A PostgreSQL server that is not there: refused, with a reason and no password.
    let down = call(
        &app,
        "save_settings",
        json!({"settings": {"databaseUrl": "postgres://ada:hunter2@127.0.0.1:1/pairpad"}}),
    )
    .unwrap_err();
    assert_eq!(down["code"], "database");
    assert!(
        !down["message"].as_str().unwrap().contains("hunter2"),
        "{down}"
    );
    let kept = call(&app, "get_settings", json!({})).unwrap();
    assert_eq!(kept["port"], 9100, "failed save keeps the old settings");

    // A PostgreSQL server that is there (scripts/test starts one): accepted.
    match std::env::var("PAIRPAD_TEST_POSTGRES_URL") {
        Ok(url) => {
            let saved = call(
                &app,
                "save_settings",
                json!({"settings": {"port": 9100, "databaseUrl": url}}),
            );
            assert_eq!(saved.unwrap()["databaseUrl"], json!(url));
        }
        Err(_) if std::env::var_os("CI").is_some() => {
            panic!("PAIRPAD_TEST_POSTGRES_URL must be set under CI")
        }
        Err(_) => eprintln!("PAIRPAD_TEST_POSTGRES_URL not set: PostgreSQL settings check skipped"),
    }
}

#[test]
fn join_refuses_bad_and_unreachable_urls_with_reasons() {
    let app = app();
    for (url, code) in [
        ("", "bad_url"),
        ("not a link", "bad_url"),
        ("ftp://files.example/r/1", "bad_url"),
        ("javascript:alert(1)", "bad_url"),
        (
            "http://127.0.0.1:1/r/00000000-0000-4000-8000-000000000000",
            "unreachable",
        ),
    ] {
        let error = call(&app, "join_room", json!({ "url": url })).unwrap_err();
        assert_eq!(error["code"], code, "{url}: {error}");
        assert!(!error["message"].as_str().unwrap().is_empty());
    }
    assert_eq!(room_windows(&app), 0);
    assert_eq!(call(&app, "nearby_sessions", json!({})).unwrap(), json!([]));
}

#[test]
fn hosting_opens_a_room_window_and_others_can_join_it() {
    let app = app();
    let data = tempfile::tempdir().unwrap();
    let desktop = app.app.state::<Desktop>();
    let settings = Settings {
        port: free_port(),
        database_url: Some(format!("sqlite://{}", data.path().join("p.db").display())),
        ..Settings::default()
    };
    desktop.store_settings(settings).unwrap();

    let info = call(&app, "start_hosting", json!({})).unwrap();
    let local = info["localUrl"].as_str().unwrap().to_string();
    assert!(local.starts_with("http://127.0.0.1:"), "{info}");
    assert_eq!(room_windows(&app), 1);
    assert_eq!(
        call(&app, "hosting_status", json!({})).unwrap()["roomId"],
        info["roomId"]
    );
    // Asking again returns the same session.
    assert_eq!(
        call(&app, "start_hosting", json!({})).unwrap()["roomId"],
        info["roomId"]
    );

    // Joining the hosted room (as a colleague's app would) opens a second window;
    // a room id the server does not know is refused.
    assert_eq!(
        call(&app, "join_room", json!({ "url": local })).unwrap(),
        json!(local)
    );
    assert_eq!(room_windows(&app), 2);
    let port = info["port"].as_u64().unwrap();
    let unknown = format!("http://127.0.0.1:{port}/r/00000000-0000-4000-8000-000000000000");
    assert_eq!(
        call(&app, "join_room", json!({ "url": unknown })).unwrap_err()["code"],
        "unreachable"
    );

    // Room windows show remote pages: the app's commands are refused there, and so they
    // are for a remote page in the main window.
    let (label, room) = app
        .app
        .webview_windows()
        .into_iter()
        .find(|(label, _)| label.starts_with("room-"))
        .unwrap();
    let refused = call_from(&room, &local, "get_settings", json!({})).unwrap_err();
    assert!(
        refused.to_string().contains("not allowed"),
        "{label}: {refused}"
    );
    let remote = call_from(
        &app.main,
        "http://192.0.2.7:8420/r/x",
        "get_settings",
        json!({}),
    );
    assert!(remote.unwrap_err().to_string().contains("not allowed"));

    // A colleague who found the session nearby asks to join: only the host's answer
    // gives the room away.
    let server = format!("http://127.0.0.1:{port}");
    let knock = call(&app, "knock", json!({ "server": server })).unwrap();
    let knock_id = knock.as_str().unwrap().to_string();
    let waiting = call(
        &app,
        "knock_status",
        json!({ "server": server, "knockId": knock_id }),
    );
    assert_eq!(
        waiting.unwrap(),
        json!({ "status": "pending", "url": null })
    );
    let pending = call(&app, "pending_knocks", json!({})).unwrap();
    assert_eq!(pending[0]["knockId"], json!(knock_id));
    assert_eq!(pending[0]["address"], "127.0.0.1");
    call(
        &app,
        "answer_knock",
        json!({ "knockId": knock_id, "admit": true }),
    )
    .unwrap();
    let admitted = call(
        &app,
        "knock_status",
        json!({ "server": server, "knockId": knock_id }),
    )
    .unwrap();
    assert_eq!(admitted["status"], "admitted");
    assert_eq!(admitted["url"], json!(local));
    assert_eq!(call(&app, "pending_knocks", json!({})).unwrap(), json!([]));
    let again = call(
        &app,
        "answer_knock",
        json!({ "knockId": knock_id, "admit": false }),
    );
    assert_eq!(again.unwrap_err()["code"], "knock_gone");
    let other = call(&app, "knock", json!({ "server": server })).unwrap();
    call(
        &app,
        "answer_knock",
        json!({ "knockId": other, "admit": false }),
    )
    .unwrap();
    let refused = call(
        &app,
        "knock_status",
        json!({ "server": server, "knockId": other }),
    );
    assert_eq!(refused.unwrap()["status"], "refused");

    call(&app, "stop_hosting", json!({})).unwrap();
    assert_eq!(
        call(&app, "hosting_status", json!({})).unwrap(),
        Value::Null
    );
    assert!(!desktop.is_hosting());
}

fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

/// The room's edit link, as `GET /api/rooms/{link}` answers it to a guest: the status
/// and whether they may edit.
fn as_guest(url: &str) -> (u16, Option<bool>) {
    let runtime = tokio::runtime::Runtime::new().unwrap();
    runtime.block_on(async {
        let response = reqwest::get(url).await.unwrap();
        let status = response.status().as_u16();
        let body: Value = response.json().await.unwrap_or(Value::Null);
        (status, body["canEdit"].as_bool())
    })
}

#[test]
fn the_host_chooses_what_guests_may_do_asks_before_they_join_and_replaces_the_link() {
    let app = app();
    let data = tempfile::tempdir().unwrap();
    let desktop = app.app.state::<Desktop>();
    let settings = Settings {
        port: free_port(),
        database_url: Some(format!("sqlite://{}", data.path().join("p.db").display())),
        ..Settings::default()
    };
    desktop.store_settings(settings).unwrap();
    let info = call(&app, "start_hosting", json!({})).unwrap();
    assert_eq!(
        (info["guests"].as_str(), info["asking"].as_bool()),
        (Some("edit"), Some(false))
    );
    let port = info["port"].as_u64().unwrap();
    let api = |room: &str| format!("http://127.0.0.1:{port}/api/rooms/{room}");
    let room = info["roomId"].as_str().unwrap().to_string();
    assert_eq!(as_guest(&api(&room)), (200, Some(true)));

    // Only view: guests read, the host (owner key) edits.
    let info = call(&app, "set_guest_access", json!({ "access": "view" })).unwrap();
    assert_eq!(info["guests"], "view");
    assert_eq!(as_guest(&api(&room)), (200, Some(false)));
    let refused = call(&app, "set_guest_access", json!({ "access": "admin" }));
    assert_eq!(refused.unwrap_err()["code"], "bad_request");
    let info = call(&app, "set_guest_access", json!({ "access": "edit" })).unwrap();
    assert_eq!(as_guest(&api(&room)).1, Some(true));
    assert_eq!(info["guests"], "edit");

    // Asking before anyone joins: colleagues get the page to ask at.
    let info = call(&app, "set_asking", json!({ "asking": true })).unwrap();
    assert_eq!(info["asking"], true);
    for url in info["joinUrls"].as_array().unwrap() {
        assert!(url.as_str().unwrap().ends_with("/join"), "{url}");
    }
    assert_eq!(call(&app, "hosted_people", json!({})).unwrap(), json!([]));
    assert_eq!(
        call(&app, "remove_person", json!({ "conns": [12345] })).unwrap(),
        0
    );
    call(&app, "set_asking", json!({ "asking": false })).unwrap();

    // A new link: the old one is gone, the host's window reopens on the new one.
    let info = call(&app, "new_room_link", json!({})).unwrap();
    let fresh = info["roomId"].as_str().unwrap();
    assert_ne!(fresh, room);
    assert!(info["localUrl"].as_str().unwrap().ends_with(fresh));
    assert_eq!(as_guest(&api(&room)).0, 404);
    assert_eq!(as_guest(&api(fresh)).0, 200);
    // The host's window on the new link holds the owner key (the old one is destroyed,
    // which the mock runtime does not carry out).
    let reopened = app.app.webview_windows().into_values().any(|window| {
        window.url().is_ok_and(|url| {
            url.path().ends_with(fresh) && url.fragment().is_some_and(|f| f.starts_with("owner="))
        })
    });
    assert!(reopened, "the host's window reopened on the new link");

    call(&app, "stop_hosting", json!({})).unwrap();
    let after = call(&app, "set_asking", json!({ "asking": true }));
    assert_eq!(after.unwrap_err()["code"], "not_hosting");
}
