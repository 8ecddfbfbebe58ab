//! One test suite, run against both stores. PostgreSQL comes from `PAIRPAD_TEST_POSTGRES_URL`
//! (set by `scripts/test`, which starts a throwaway server); under CI its absence fails.

use std::sync::Arc;

use bytes::Bytes;
use uuid::Uuid;

use super::*;
use crate::paths::ProjectPath;

/// A fresh SQLite store in a temporary directory (kept alive by the returned guard).
async fn sqlite() -> (Arc<dyn Store>, tempfile::TempDir) {
    let dir = tempfile::tempdir().expect("tempdir");
    let url = format!("sqlite://{}", dir.path().join("test.db").display());
    (connect(&url).await.expect("open sqlite"), dir)
}

/// The test PostgreSQL store, or `None` (outside CI only) when none is configured.
async fn postgres() -> Option<Arc<dyn Store>> {
    match std::env::var("PAIRPAD_TEST_POSTGRES_URL") {
        Ok(url) => Some(connect(&url).await.expect("connect to test PostgreSQL")),
        Err(_) if std::env::var_os("CI").is_some() => {
            panic!("PAIRPAD_TEST_POSTGRES_URL is not set; scripts/test starts PostgreSQL")
        }
        Err(_) => {
            eprintln!("skipping PostgreSQL store tests: PAIRPAD_TEST_POSTGRES_URL is not set");
            None
        }
    }
}

fn new_room(title: &str) -> NewRoom {
    NewRoom {
        id: Uuid::new_v4(),
        edit_id: Uuid::new_v4(),
        view_id: Uuid::new_v4(),
        owner_key_hash: "ab".repeat(32),
        title: title.into(),
        language: "rust".into(),
        path: ProjectPath::parse("main.rs").unwrap(),
        text: String::new(),
        snapshot: vec![0, 0],
        created_at: 1_000,
    }
}

fn update(byte: u8, at: i64) -> NewUpdate {
    NewUpdate {
        data: Bytes::from(vec![byte; 3]),
        client_id: Some(42),
        author: Some("Ada".into()),
        created_at: at,
    }
}

fn mirror(code: &str, at: i64) -> Mirror {
    Mirror {
        text: RoomText {
            code: code.into(),
            title: "Renamed".into(),
            language: "python".into(),
        },
        updated_at: at,
    }
}

async fn create_and_get(store: &dyn Store) {
    let room = new_room("Pairing");
    store.create_room(&room).await.unwrap();
    let got = store.get_room(room.id).await.unwrap().unwrap();
    assert_eq!(got.id, room.id);
    assert_eq!(got.text.title, "Pairing");
    assert_eq!(got.text.language, "rust");
    assert_eq!(got.text.code, "");
    assert_eq!((got.created_at, got.updated_at), (1_000, 1_000));
    assert!(store.get_room(Uuid::new_v4()).await.unwrap().is_none());
    assert!(store.load(Uuid::new_v4()).await.unwrap().is_none());
    assert!(store.create_room(&room).await.is_err(), "duplicate id");
}

async fn append_then_load(store: &dyn Store) {
    let room = new_room("log");
    store.create_room(&room).await.unwrap();
    let first = store
        .append_updates(room.id, &[update(1, 2_000)])
        .await
        .unwrap();
    let batch: Vec<_> = (2..=4).map(|b| update(b, 3_000)).collect();
    let last = store.append_updates(room.id, &batch).await.unwrap();
    assert!(last > first, "sequence numbers grow: {first} then {last}");
    assert_eq!(store.append_updates(room.id, &[]).await.unwrap(), 0);

    let doc = store.load(room.id).await.unwrap().unwrap();
    assert_eq!(doc.snapshot.as_deref(), Some(&[0u8, 0][..]));
    let firsts: Vec<u8> = doc.updates.iter().map(|u| u[0]).collect();
    assert_eq!(firsts, vec![1, 2, 3, 4], "updates come back in order");
    assert_eq!(doc.last_seq, last);
    let record = store.get_room(room.id).await.unwrap().unwrap();
    assert_eq!(
        record.updated_at, 1_000,
        "the mirror, not the log, moves updated_at"
    );
}

async fn compact_folds_the_log(store: &dyn Store) {
    let room = new_room("compact");
    store.create_room(&room).await.unwrap();
    let upto = store
        .append_updates(room.id, &[update(1, 2_000), update(2, 2_000)])
        .await
        .unwrap();
    let after = store
        .append_updates(room.id, &[update(3, 2_500)])
        .await
        .unwrap();
    store
        .compact(room.id, b"snapshot", upto, &mirror("fn main() {}", 4_000))
        .await
        .unwrap();

    let doc = store.load(room.id).await.unwrap().unwrap();
    assert_eq!(doc.snapshot.as_deref(), Some(&b"snapshot"[..]));
    assert_eq!(
        doc.updates,
        vec![vec![3u8; 3]],
        "only updates after the fold remain"
    );
    assert_eq!(doc.last_seq, after);
    let record = store.get_room(room.id).await.unwrap().unwrap();
    assert_eq!(record.text.code, "fn main() {}");
    assert_eq!(
        (record.text.title.as_str(), record.text.language.as_str()),
        ("Renamed", "python")
    );
    assert_eq!(record.updated_at, 4_000);
}

async fn mirror_is_saved_and_never_goes_back_in_time(store: &dyn Store) {
    let room = new_room("mirror");
    store.create_room(&room).await.unwrap();
    store
        .save_mirror(room.id, &mirror("let x = 1;", 5_000))
        .await
        .unwrap();
    let mut older = mirror("let x = 2;", 4_000);
    older.text.title = "Older".into();
    store.save_mirror(room.id, &older).await.unwrap();
    let record = store.get_room(room.id).await.unwrap().unwrap();
    assert_eq!(record.text.code, "let x = 2;");
    assert_eq!(record.text.title, "Older");
    assert_eq!(record.updated_at, 5_000);
    store.ping().await.unwrap();
}

/// Appends from many rooms at once (group commit shares transactions between them): each
/// room gets its own updates, in order; a room that does not exist fails alone.
async fn concurrent_appends_from_many_rooms(store: Arc<dyn Store>) {
    let mut rooms = Vec::new();
    for i in 0..16 {
        let room = new_room(&format!("busy {i}"));
        store.create_room(&room).await.unwrap();
        rooms.push(room.id);
    }
    let mut writes = tokio::task::JoinSet::new();
    for &id in &rooms {
        let store = store.clone();
        writes.spawn(async move {
            let mut last = 0;
            for n in 0..8u8 {
                let seq = store.append_updates(id, &[update(n, 2_000)]).await.unwrap();
                assert!(seq > last, "sequence numbers grow within a room");
                last = seq;
            }
        });
    }
    let ghost = {
        let store = store.clone();
        tokio::spawn(async move {
            store
                .append_updates(Uuid::new_v4(), &[update(9, 2_000)])
                .await
        })
    };
    while let Some(done) = writes.join_next().await {
        done.unwrap();
    }
    assert!(
        ghost.await.unwrap().is_err(),
        "an unknown room's append fails"
    );
    for id in rooms {
        let doc = store.load(id).await.unwrap().unwrap();
        let bytes: Vec<u8> = doc.updates.iter().map(|u| u[0]).collect();
        assert_eq!(bytes, (0..8).collect::<Vec<u8>>());
    }
}

/// One commit holding two rooms, one of them twice: each batch gets its own last sequence
/// number, and a mirror in the same commit is saved.
async fn commit_many_numbers_each_batch(store: &dyn Store) {
    let a = new_room("a");
    let b = new_room("b");
    store.create_room(&a).await.unwrap();
    store.create_room(&b).await.unwrap();
    let batch = |room: Uuid, bytes: &[u8], at: i64| RoomUpdates {
        room,
        updates: bytes.iter().map(|&n| update(n, at)).collect(),
    };
    let appends = [
        batch(a.id, &[1, 2], 5_000),
        batch(b.id, &[3], 6_000),
        batch(a.id, &[4], 7_000),
        batch(b.id, &[], 9_000),
    ];
    let text = RoomMirror {
        room: a.id,
        mirror: mirror("a text", 8_000),
    };
    let seqs = store.commit_many(&appends, &[text]).await.unwrap();
    assert_eq!(seqs.len(), 4);
    assert!(seqs[0] < seqs[2], "a's second batch comes after its first");
    assert!(
        seqs[1] > 0 && seqs[3] == 0,
        "an empty batch gets 0: {seqs:?}"
    );
    let doc = store.load(a.id).await.unwrap().unwrap();
    assert_eq!(doc.last_seq, seqs[2]);
    let bytes: Vec<u8> = doc.updates.iter().map(|u| u[0]).collect();
    assert_eq!(bytes, [1, 2, 4]);
    assert_eq!(store.load(b.id).await.unwrap().unwrap().last_seq, seqs[1]);
    let record = store.get_room(a.id).await.unwrap().unwrap();
    assert_eq!(
        (record.text.code.as_str(), record.updated_at),
        ("a text", 8_000)
    );
}

/// A commit larger than one statement (hundreds of updates, rooms interleaved, several
/// mirrors, one room mirrored twice): every update lands in its room, in order, under the
/// sequence number returned, and the last mirror of a room wins.
async fn large_commit(store: &dyn Store) {
    let rooms: Vec<NewRoom> = (0..3).map(|i| new_room(&format!("big {i}"))).collect();
    for room in &rooms {
        store.create_room(room).await.unwrap();
    }
    // 5 rounds of 3 rooms x 40 updates: 600 rows, more than any one statement holds.
    let appends: Vec<RoomUpdates> = (0..5u8)
        .flat_map(|round| {
            rooms.iter().map(move |room| RoomUpdates {
                room: room.id,
                updates: (0..40u8).map(|n| update(round * 40 + n, 10_000)).collect(),
            })
        })
        .collect();
    let mirrors: Vec<RoomMirror> = rooms
        .iter()
        .map(|room| RoomMirror {
            room: room.id,
            mirror: mirror("first", 11_000),
        })
        .chain(std::iter::once(RoomMirror {
            room: rooms[0].id,
            mirror: mirror("second", 12_000),
        }))
        .collect();
    let seqs = store.commit_many(&appends, &mirrors).await.unwrap();
    for (i, room) in rooms.iter().enumerate() {
        let doc = store.load(room.id).await.unwrap().unwrap();
        let bytes: Vec<u8> = doc.updates.iter().map(|u| u[0]).collect();
        let expected: Vec<u8> = (0..200).collect();
        assert_eq!(bytes, expected, "room {i} has its updates in order");
        assert_eq!(doc.last_seq, seqs[4 * 3 + i], "room {i}'s last batch");
    }
    let code = |i: usize| {
        let id = rooms[i].id;
        async move { store.get_room(id).await.unwrap().unwrap().text.code }
    };
    assert_eq!(code(0).await, "second");
    assert_eq!(code(1).await, "first");
}

const LIMITS: ProjectLimits = ProjectLimits {
    max_files: 100,
    max_bytes: 1 << 20,
};

fn new_file(path: &str, text: &str) -> NewFile {
    NewFile {
        id: Uuid::new_v4(),
        path: ProjectPath::parse(path).unwrap(),
        text: text.into(),
        snapshot: vec![0, 0],
        created_at: 2_000,
    }
}

/// A project's files: created, listed with the first file, read, renamed, deleted; paths
/// clash case-insensitively; a file is not a room, and its log is its own.
async fn files_of_a_project(store: &dyn Store) {
    let room = new_room("project");
    store.create_room(&room).await.unwrap();
    let lib = new_file("src/lib.rs", "pub fn answer() -> u8 { 42 }");
    assert!(store
        .create_files(room.id, std::slice::from_ref(&lib), LIMITS)
        .await
        .unwrap());
    let readme = new_file("README.md", "# Héllo");
    assert!(store
        .create_files(room.id, std::slice::from_ref(&readme), LIMITS)
        .await
        .unwrap());
    assert!(matches!(
        store
            .create_files(room.id, &[new_file("SRC/Lib.rs", "")], LIMITS)
            .await,
        Err(StoreError::PathTaken)
    ));
    assert!(matches!(
        store
            .create_files(room.id, &[new_file("MAIN.RS", "")], LIMITS)
            .await,
        Err(StoreError::PathTaken)
    ));
    assert!(!store
        .create_files(Uuid::new_v4(), &[new_file("x.rs", "")], LIMITS)
        .await
        .unwrap());
    // Another room may use the same paths.
    let other = new_room("other");
    store.create_room(&other).await.unwrap();
    assert!(store
        .create_files(other.id, &[new_file("src/lib.rs", "")], LIMITS)
        .await
        .unwrap());

    // A file where a folder is, a folder where a file is, a folder spelled otherwise.
    for clash in ["src", "main.rs/x.rs", "Src/other.rs", "readme.md/x"] {
        assert!(
            matches!(
                store
                    .create_files(room.id, &[new_file(clash, "")], LIMITS)
                    .await,
                Err(StoreError::PathTaken)
            ),
            "{clash}"
        );
    }
    // The limits, counted inside the write.
    let full = ProjectLimits {
        max_files: 3,
        max_bytes: 1 << 20,
    };
    assert!(matches!(
        store
            .create_files(room.id, &[new_file("b.rs", "")], full)
            .await,
        Err(StoreError::ProjectFull(_))
    ));
    let small = ProjectLimits {
        max_files: 100,
        max_bytes: 40,
    };
    assert!(matches!(
        store
            .create_files(room.id, &[new_file("b.rs", "0123456789")], small)
            .await,
        Err(StoreError::ProjectFull(_))
    ));
    // A batch is added whole or not at all.
    let batch = [
        new_file("a/1.rs", ""),
        new_file("a/2.rs", ""),
        new_file("readme.MD", ""),
    ];
    assert!(matches!(
        store.create_files(room.id, &batch, LIMITS).await,
        Err(StoreError::PathTaken)
    ));
    let files = store.list_files(room.id).await.unwrap();
    let listed: Vec<(Uuid, &str, i64)> = files
        .iter()
        .map(|f| (f.id, f.path.as_str(), f.bytes))
        .collect();
    assert_eq!(
        listed,
        [
            (readme.id, "README.md", 8),
            (room.id, "main.rs", 0),
            (lib.id, "src/lib.rs", 28)
        ]
    );
    let (record, text) = store.get_file(room.id, lib.id).await.unwrap().unwrap();
    assert_eq!(
        (record.path.as_str(), text.as_str()),
        ("src/lib.rs", lib.text.as_str())
    );
    assert!(store.get_file(other.id, lib.id).await.unwrap().is_none());
    assert!(
        store.get_room(lib.id).await.unwrap().is_none(),
        "a file is not a room"
    );
    assert_eq!(store.load(lib.id).await.unwrap().unwrap().project, room.id);
    assert_eq!(store.load(room.id).await.unwrap().unwrap().project, room.id);

    let moved = ProjectPath::parse("src/answer.rs").unwrap();
    assert_eq!(
        store
            .rename_file(room.id, lib.id, &moved, None)
            .await
            .unwrap(),
        Some(1)
    );
    // A rename that expects the file where it no longer is does nothing.
    let stale = ProjectPath::parse("src/stale.rs").unwrap();
    assert_eq!(
        (store
            .rename_file(room.id, lib.id, &stale, Some("src/lib.rs"))
            .await)
            .unwrap(),
        None
    );
    assert_eq!(
        (store
            .rename_file(room.id, lib.id, &moved, Some("src/answer.rs"))
            .await)
            .unwrap(),
        Some(2)
    );
    let taken = ProjectPath::parse("readme.MD").unwrap();
    assert!(matches!(
        store.rename_file(room.id, lib.id, &taken, None).await,
        Err(StoreError::PathTaken)
    ));
    let into_a_file = ProjectPath::parse("README.md/lib.rs").unwrap();
    assert!(matches!(
        store.rename_file(room.id, lib.id, &into_a_file, None).await,
        Err(StoreError::PathTaken)
    ));
    let first = ProjectPath::parse("app.rs").unwrap();
    assert_eq!(
        store
            .rename_file(room.id, room.id, &first, None)
            .await
            .unwrap(),
        Some(1)
    );
    assert_eq!(
        store.get_room(room.id).await.unwrap().unwrap().text.title,
        "project",
        "renaming the first file keeps the room's title"
    );
    assert_eq!(
        store
            .rename_file(other.id, lib.id, &moved, None)
            .await
            .unwrap(),
        None
    );

    store
        .append_updates(lib.id, &[update(7, 3_000)])
        .await
        .unwrap();
    assert!(
        !store.delete_file(room.id, room.id).await.unwrap(),
        "the first file stays"
    );
    assert!(!store.delete_file(other.id, lib.id).await.unwrap());
    assert!(store.delete_file(room.id, lib.id).await.unwrap());
    assert!(store.load(lib.id).await.unwrap().is_none());
    let paths: Vec<String> = (store.list_files(room.id).await.unwrap())
        .into_iter()
        .map(|f| f.path)
        .collect();
    assert_eq!(paths, ["README.md", "app.rs"]);
}

async fn links_access_and_deletion(store: &dyn Store) {
    let room = new_room("Links");
    store.create_room(&room).await.unwrap();
    let first = RoomLinks {
        room: room.id,
        edit: room.edit_id,
        view: Some(room.view_id),
        owner_key_hash: Some(room.owner_key_hash.clone()),
        access: Access::Edit,
    };
    assert_eq!(
        store.find_link(room.edit_id).await.unwrap(),
        Some(first.clone())
    );
    assert_eq!(
        store.find_link(room.view_id).await.unwrap(),
        Some(first.clone())
    );
    assert_eq!(
        store.find_link(room.id).await.unwrap(),
        None,
        "the room's id is no link"
    );
    assert_eq!(store.find_link(Uuid::new_v4()).await.unwrap(), None);

    let file = new_file("lib.rs", "fn x() {}");
    let limits = ProjectLimits {
        max_files: 10,
        max_bytes: 1 << 20,
    };
    assert!(store
        .create_files(room.id, std::slice::from_ref(&file), limits)
        .await
        .unwrap());
    assert_eq!(
        store.find_link(file.id).await.unwrap(),
        None,
        "a file is no link"
    );

    let view = LinkChange::Access(Access::View);
    assert!(store.change_links(room.id, view).await.unwrap());
    let edit = Uuid::new_v4();
    assert!(store
        .change_links(room.id, LinkChange::Edit(edit))
        .await
        .unwrap());
    assert_eq!(
        store.find_link(room.edit_id).await.unwrap(),
        None,
        "the old edit link is gone"
    );
    let now = store.find_link(edit).await.unwrap().unwrap();
    assert_eq!(
        (now.edit, now.access, now.view),
        (edit, Access::View, Some(room.view_id))
    );
    let viewer = Uuid::new_v4();
    assert!(store
        .change_links(room.id, LinkChange::View(viewer))
        .await
        .unwrap());
    assert_eq!(store.find_link(room.view_id).await.unwrap(), None);
    assert_eq!(
        store.find_link(viewer).await.unwrap().unwrap().room,
        room.id
    );
    assert!(!store
        .change_links(file.id, LinkChange::Edit(Uuid::new_v4()))
        .await
        .unwrap());
    assert!(!store.change_links(Uuid::new_v4(), view).await.unwrap());

    store
        .append_updates(file.id, &[update(1, 2_000)])
        .await
        .unwrap();
    store
        .append_updates(room.id, &[update(2, 2_000)])
        .await
        .unwrap();
    assert!(
        !store.delete_room(file.id).await.unwrap(),
        "a file is not a room"
    );
    assert!(store.delete_room(room.id).await.unwrap());
    assert!(store.get_room(room.id).await.unwrap().is_none());
    assert!(store.load(room.id).await.unwrap().is_none());
    assert!(
        store.load(file.id).await.unwrap().is_none(),
        "its files go with it"
    );
    assert_eq!(store.find_link(edit).await.unwrap(), None);
    assert!(!store.delete_room(room.id).await.unwrap());
}

async fn suite(store: Arc<dyn Store>) {
    links_access_and_deletion(store.as_ref()).await;
    files_of_a_project(store.as_ref()).await;
    large_commit(store.as_ref()).await;
    concurrent_appends_from_many_rooms(store.clone()).await;
    commit_many_numbers_each_batch(store.as_ref()).await;
    create_and_get(store.as_ref()).await;
    append_then_load(store.as_ref()).await;
    compact_folds_the_log(store.as_ref()).await;
    mirror_is_saved_and_never_goes_back_in_time(store.as_ref()).await;
    store.close().await;
    assert!(
        store.ping().await.is_err(),
        "a closed store stops answering"
    );
}

#[tokio::test]
async fn sqlite_store() {
    let (store, _dir) = sqlite().await;
    suite(store).await;
}

#[tokio::test]
async fn postgres_store() {
    if let Some(store) = postgres().await {
        suite(store).await;
    }
}

#[tokio::test]
async fn unknown_url_scheme_is_refused() {
    assert!(matches!(
        connect("mysql://localhost/x").await,
        Err(StoreError::UnsupportedUrl)
    ));
}
