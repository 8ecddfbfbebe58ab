//! Sharing a folder: a real folder on disk, a real server, stock clients. What the room
//! does reaches the disk and what the disk does reaches the room, never outside the folder.

mod common;

use std::path::Path;

use common::{Db, TestServer, YClient};
use pairpad_server::share::{self, SkipReason};
use serde_json::{json, Value};

fn write(root: &Path, path: &str, text: &[u8]) {
    let path = root.join(path);
    std::fs::create_dir_all(path.parent().unwrap()).unwrap();
    std::fs::write(path, text).unwrap();
}

fn read(root: &Path, path: &str) -> Option<String> {
    std::fs::read_to_string(root.join(path)).ok()
}

async fn files(addr: std::net::SocketAddr, room: uuid::Uuid) -> Vec<(String, String)> {
    let list: Value = reqwest::get(format!("http://{addr}/api/rooms/{room}/files"))
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    list["files"]
        .as_array()
        .unwrap()
        .iter()
        .map(|f| {
            let path = f["path"].as_str().unwrap().to_string();
            (path, f["fileId"].as_str().unwrap().to_string())
        })
        .collect()
}

async fn file_id(addr: std::net::SocketAddr, room: uuid::Uuid, path: &str) -> Option<String> {
    (files(addr, room).await.into_iter())
        .find(|(p, _)| p == path)
        .map(|(_, id)| id)
}

#[tokio::test]
async fn a_shared_folder_and_its_room_stay_in_step_both_ways() {
    let folder = tempfile::tempdir().unwrap();
    let outside = tempfile::tempdir().unwrap();
    let root = folder.path();
    write(root, "README.md", b"# Demo\n");
    write(root, "src/main.rs", b"fn main() {}\n");
    write(root, "src/util/mod.rs", b"mod a;\n");
    write(root, ".gitignore", b"ignored.txt\nbuild/\n");
    write(root, "ignored.txt", b"secret\n");
    write(root, "build/out.txt", b"artifact\n");
    write(root, ".git/config", b"[core]\n");
    write(root, "logo.png", b"\x89PNG\r\n\x1a\n\0\0\0");
    // Editors' scratch files are not the project's.
    for scratch in [
        "README.md~",
        "src/.#main.rs",
        "src/#main.rs#",
        "4913",
        ".DS_Store",
    ] {
        write(root, scratch, b"scratch\n");
    }
    std::os::unix::fs::symlink(outside.path(), root.join("link")).unwrap();
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        let script = root.join("run.sh");
        std::fs::write(&script, "#!/bin/sh\necho hi\n").unwrap();
        std::fs::set_permissions(&script, std::fs::Permissions::from_mode(0o755)).unwrap();
    }

    let db = Db::sqlite();
    let config = pairpad_server::Config::from_args(["--database-url", &db.url()]).unwrap();
    let store = pairpad_server::store::connect(&db.url()).await.unwrap();
    let state = pairpad_server::AppState::new(config, store);
    let server = TestServer::with_state(db, state.clone()).await;
    let sharing = share::share(&state, root, None).await.expect("share");
    // Everything below reaches the room by its edit link.
    let room = sharing.created.edit_id;

    // The tree: ignored, binary, .git and linked files left out, and said so.
    let listed: Vec<String> = files(server.addr, room)
        .await
        .into_iter()
        .map(|f| f.0)
        .collect();
    assert_eq!(
        listed,
        [
            ".gitignore",
            "README.md",
            "run.sh",
            "src/main.rs",
            "src/util/mod.rs"
        ]
    );
    let mut skipped: Vec<(String, SkipReason)> = (sharing.skipped.iter())
        .map(|s| (s.path.clone(), s.why))
        .collect();
    skipped.sort_by(|a, b| a.0.cmp(&b.0));
    assert_eq!(
        skipped,
        [
            ("link".to_string(), SkipReason::Symlink),
            ("logo.png".to_string(), SkipReason::Binary)
        ]
    );
    // The README is the room's own text.
    assert_eq!(
        file_id(server.addr, room, "README.md").await.as_deref(),
        Some(sharing.room.to_string().as_str())
    );

    // An edit in the room reaches the file, the file's mode kept.
    let run = file_id(server.addr, room, "run.sh").await.unwrap();
    let editor = YClient::connect(server.addr, &format!("{room}/{run}")).await;
    editor.wait_text("#!/bin/sh\necho hi\n").await;
    editor.append("echo bye\n");
    common::eventually("the edit on disk", || async {
        read(root, "run.sh").as_deref() == Some("#!/bin/sh\necho hi\necho bye\n")
    })
    .await;
    {
        use std::os::unix::fs::PermissionsExt;
        let mode = std::fs::metadata(root.join("run.sh"))
            .unwrap()
            .permissions()
            .mode();
        assert_eq!(mode & 0o777, 0o755);
    }

    // A change on disk while someone types: both survive, in the room and on disk.
    let util = file_id(server.addr, room, "src/util/mod.rs").await.unwrap();
    let ada = YClient::connect(server.addr, &format!("{room}/{util}")).await;
    let bob = YClient::connect(server.addr, &format!("{room}/{util}")).await;
    ada.wait_text("mod a;\n").await;
    ada.insert(0, "// top\n");
    bob.wait_text("// top\nmod a;\n").await;
    write(root, "src/util/mod.rs", b"mod a;\nmod b;\n");
    let merged = "// top\nmod a;\nmod b;\n";
    bob.wait_text(merged).await;
    common::eventually("the merge on disk", || async {
        read(root, "src/util/mod.rs").as_deref() == Some(merged)
    })
    .await;

    // Files created, moved and deleted in the room.
    let api = reqwest::Client::new();
    let base = format!("http://{}/api/rooms/{room}/files", server.addr);
    let created: Value = api
        .post(&base)
        .json(&json!({"path": "docs/guide.md", "text": "Guide\n"}))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let guide = created["fileId"].as_str().unwrap().to_string();
    common::eventually("the new file on disk", || async {
        read(root, "docs/guide.md").as_deref() == Some("Guide\n")
    })
    .await;
    let moved = api
        .patch(format!("{base}/{guide}"))
        .json(&json!({"path": "docs/howto.md"}))
        .send()
        .await
        .unwrap();
    assert_eq!(moved.status(), 200);
    common::eventually("the file moved on disk", || async {
        read(root, "docs/howto.md").as_deref() == Some("Guide\n")
            && read(root, "docs/guide.md").is_none()
    })
    .await;
    let deleted = api.delete(format!("{base}/{guide}")).send().await.unwrap();
    assert_eq!(deleted.status(), 204);
    common::eventually("the file deleted on disk", || async {
        read(root, "docs/howto.md").is_none()
    })
    .await;

    // Files created and deleted on disk; what the ignore rules leave out stays out.
    write(root, "build/more.txt", b"artifact\n");
    write(root, "ignored.txt", b"still secret\n");
    write(root, "src/new.rs~", b"pub fn old() {}\n");
    write(root, "src/.new.rs.swp", b"swap\n");
    write(root, "src/new.rs", b"pub fn new() {}\n");
    common::eventually("the disk's new file in the room", || async {
        file_id(server.addr, room, "src/new.rs").await.is_some()
    })
    .await;
    std::fs::remove_file(root.join("src/main.rs")).unwrap();
    common::eventually("the disk's deletion in the room", || async {
        file_id(server.addr, room, "src/main.rs").await.is_none()
    })
    .await;
    // Written before the deletion, so looked at by now.
    let now_listed: Vec<String> = (files(server.addr, room).await.into_iter())
        .map(|f| f.0)
        .collect();
    assert!(
        !(now_listed.iter()).any(|p| {
            [
                "build/more.txt",
                "ignored.txt",
                "src/new.rs~",
                "src/.new.rs.swp",
            ]
            .contains(&p.as_str())
        }),
        "{now_listed:?}"
    );

    // A path through the link is never written: nothing lands outside the folder.
    let through = api
        .post(&base)
        .json(&json!({"path": "link/evil.txt", "text": "pwned\n"}))
        .send()
        .await
        .unwrap();
    assert_eq!(through.status(), 201);
    let marker = api
        .post(&base)
        .json(&json!({"path": "after.txt", "text": "after\n"}))
        .send()
        .await
        .unwrap();
    assert_eq!(marker.status(), 201);
    common::eventually("a later file on disk", || async {
        read(root, "after.txt").is_some()
    })
    .await;
    assert!(
        std::fs::read_dir(outside.path()).unwrap().next().is_none(),
        "nothing written outside the folder"
    );
    // Nor over a file the project leaves out (binary, ignored): those are the host's.
    for (path, text) in [
        ("logo.png", "not a picture"),
        ("ignored.txt", "overwritten"),
    ] {
        let made = api
            .post(&base)
            .json(&json!({"path": path, "text": text}))
            .send()
            .await
            .unwrap();
        assert_eq!(made.status(), 201, "{path}");
    }
    let marker = api
        .post(&base)
        .json(&json!({"path": "later.txt", "text": "later\n"}))
        .send()
        .await
        .unwrap();
    assert_eq!(marker.status(), 201);
    common::eventually("a file made after them on disk", || async {
        read(root, "later.txt").is_some()
    })
    .await;
    assert_eq!(
        std::fs::read(root.join("logo.png")).unwrap(),
        b"\x89PNG\r\n\x1a\n\0\0\0"
    );
    assert_eq!(read(root, "ignored.txt").as_deref(), Some("still secret\n"));

    // Stopping writes every pending edit first.
    editor.append("echo last\n");
    editor
        .wait_for("the edit", |c| c.text().ends_with("echo last\n"))
        .await;
    let last = editor.text();
    // The edit is durable once another client has it.
    let watcher = YClient::connect(server.addr, &format!("{room}/{run}")).await;
    watcher.wait_text(&last).await;
    sharing.stop().await;
    assert_eq!(read(root, "run.sh").as_deref(), Some(last.as_str()));
    server.stop().await;
}

/// `pairpad-server share DIR`, with the server's flags after the folder: the room serves
/// the folder, and SIGTERM writes every edit to disk before the process exits 0.
#[tokio::test]
async fn the_share_command_writes_every_edit_before_it_exits() {
    use tokio::io::AsyncBufReadExt;

    let folder = tempfile::tempdir().unwrap();
    write(folder.path(), "notes.md", b"draft\n");
    let db = Db::sqlite();
    let mut child = tokio::process::Command::new(env!("CARGO_BIN_EXE_pairpad-server"))
        .arg("share")
        .arg(folder.path())
        .args(["--bind", "127.0.0.1:0", "--database-url", &db.url()])
        .env("RUST_LOG", "warn")
        .stdout(std::process::Stdio::piped())
        .kill_on_drop(true)
        .spawn()
        .unwrap();
    let mut lines = tokio::io::BufReader::new(child.stdout.take().unwrap()).lines();
    let url = tokio::time::timeout(std::time::Duration::from_secs(30), async {
        while let Some(line) = lines.next_line().await.unwrap() {
            if let Some((_, url)) = line.split_once(" at http://") {
                return url.to_string();
            }
        }
        panic!("the share command exited early");
    })
    .await
    .expect("sharing starts");
    let (addr, room) = url.split_once("/r/").unwrap();
    let addr: std::net::SocketAddr = addr.parse().unwrap();
    let ada = YClient::connect(addr, room).await;
    ada.wait_text("draft\n").await;
    ada.append("final\n");
    let bob = YClient::connect(addr, room).await;
    bob.wait_text("draft\nfinal\n").await;
    // At once: the write-back's pause has not passed yet.
    let pid = child.id().unwrap().to_string();
    assert!(std::process::Command::new("kill")
        .args(["-TERM", &pid])
        .status()
        .unwrap()
        .success());
    let mut said = Vec::new();
    while let Ok(Some(line)) = lines.next_line().await {
        said.push(line);
    }
    let status = child.wait().await.unwrap();
    assert_eq!(status.code(), Some(0), "{said:?}");
    assert!(
        said.iter().any(|l| l.contains("every edit is on disk")),
        "{said:?}"
    );
    assert_eq!(
        read(folder.path(), "notes.md").as_deref(),
        Some("draft\nfinal\n")
    );
}
