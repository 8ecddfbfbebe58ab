//! Yjs sync over real WebSockets with yrs clients: convergence, late joiners, presence,
//! and bad frames that close only their sender.

mod common;

use common::{state_vector, Ended, TestServer, YClient};
use tokio_tungstenite::tungstenite::Message;

#[tokio::test]
async fn concurrent_peers_converge_and_a_late_joiner_gets_the_same_document() {
    let server = TestServer::sqlite().await;
    let room = server.create_room().await;
    let mut peers = Vec::new();
    for _ in 0..4 {
        peers.push(YClient::connect(server.addr, &room).await);
    }
    // Every peer types at once, at the start and at the end of the text.
    for round in 0..25 {
        for (i, peer) in peers.iter().enumerate() {
            peer.append(&format!("[p{i} r{round}]"));
            peer.insert(0, &format!("<{i}>"));
        }
    }
    let expected_len = peers
        .iter()
        .enumerate()
        .map(|(i, _)| {
            (0..25)
                .map(|r| format!("[p{i} r{r}]<{i}>").len())
                .sum::<usize>()
        })
        .sum::<usize>();
    for peer in &peers {
        peer.wait_for("all edits arrived", |c| c.text().len() == expected_len)
            .await;
    }
    let text = peers[0].text();
    for peer in &peers {
        assert_eq!(peer.text(), text, "peers converge");
    }
    for i in 0..4 {
        for r in 0..25 {
            assert!(
                text.contains(&format!("[p{i} r{r}]")),
                "edit p{i} r{r} kept"
            );
        }
    }
    let late = YClient::connect(server.addr, &room).await;
    late.wait_text(&text).await;
    assert_eq!(state_vector(&late), state_vector(&peers[0]));

    let live = common::get_room(server.addr, &room).await;
    assert_eq!(live["code"], text.as_str());
    assert_eq!(live["activeUsers"], 5);
    server.stop().await;
}

#[tokio::test]
async fn presence_propagates_and_is_removed_on_disconnect() {
    let server = TestServer::sqlite().await;
    let room = server.create_room().await;
    let ada = YClient::connect(server.addr, &room).await;
    let bob = YClient::connect(server.addr, &room).await;
    ada.set_name("Ada");
    bob.wait_for("Ada's presence", |c| c.remote_names() == ["Ada"])
        .await;
    bob.set_name("Bob");
    ada.wait_for("Bob's presence", |c| c.remote_names() == ["Bob"])
        .await;

    // A newcomer gets everyone's presence on join.
    let cy = YClient::connect(server.addr, &room).await;
    cy.wait_for("presence of both", |c| c.remote_names() == ["Ada", "Bob"])
        .await;

    ada.close().await;
    bob.wait_for("Ada removed", |c| c.remote_names().is_empty())
        .await;
    cy.wait_for("Ada removed", |c| c.remote_names() == ["Bob"])
        .await;
    server.stop().await;
}

#[tokio::test]
async fn a_peer_gone_quiet_is_removed_for_everyone_within_ten_seconds() {
    let server = TestServer::sqlite().await;
    let room = server.create_room().await;
    let ada = YClient::connect(server.addr, &room).await;
    let bob = YClient::connect(server.addr, &room).await;
    bob.set_name("Bob");
    ada.wait_for("Bob's presence", |c| c.remote_names() == ["Bob"])
        .await;
    let since = std::time::Instant::now();
    bob.freeze();
    // Ada keeps talking, as a person does; the room stays usable meanwhile.
    let deadline = since + std::time::Duration::from_secs(12);
    while !ada.remote_names().is_empty() {
        assert!(
            std::time::Instant::now() < deadline,
            "Bob still shown after {:?}",
            since.elapsed()
        );
        ada.append(".");
        tokio::time::sleep(std::time::Duration::from_millis(250)).await;
    }
    let gone = since.elapsed();
    eprintln!("a silent peer was removed after {gone:?}");
    assert!(
        gone >= std::time::Duration::from_secs(3),
        "removed too early: {gone:?}"
    );
    ada.close().await;
    server.stop().await;
}

/// Sends `frame` from a fresh client and checks that it alone is closed with `code`,
/// while two other peers keep syncing.
async fn bad_frame_closes_only_its_sender(frame: Message, code: u16) {
    let server = TestServer::sqlite().await;
    let room = server.create_room().await;
    let ada = YClient::connect(server.addr, &room).await;
    let bob = YClient::connect(server.addr, &room).await;
    let mallory = YClient::connect(server.addr, &room).await;
    ada.append("before ");
    bob.wait_text("before ").await;
    mallory.wait_text("before ").await;

    mallory.send_raw(frame);
    match mallory.wait_closed().await {
        Ended::Closed { code: got, reason } => {
            assert_eq!(got, code, "close code (reason {reason:?})");
            assert!(!reason.is_empty(), "a reason is given");
        }
        other => panic!("expected a close frame, got {other:?}"),
    }
    ada.append("after");
    bob.wait_text("before after").await;
    bob.append("!");
    ada.wait_text("before after!").await;
    assert!(ada.is_open() && bob.is_open());
    server.stop().await;
}

#[tokio::test]
async fn malformed_frame() {
    bad_frame_closes_only_its_sender(Message::Binary(vec![0, 7, 1, 2, 3].into()), 1007).await;
}

#[tokio::test]
async fn truncated_update() {
    use yrs::updates::encoder::Encode;
    use yrs::{Text, Transact};
    let doc = yrs::Doc::new();
    let text = doc.get_or_insert_text("code");
    let mut txn = doc.transact_mut();
    text.insert(&mut txn, 0, "a real edit, cut short");
    let update = txn.encode_update_v1();
    let mut frame = yrs::sync::Message::Sync(yrs::sync::SyncMessage::Update(update)).encode_v1();
    frame.truncate(frame.len() - 5);
    bad_frame_closes_only_its_sender(Message::Binary(frame.into()), 1007).await;
}

#[tokio::test]
async fn undecodable_update_body() {
    let frame = vec![0u8, 2, 6, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff];
    bad_frame_closes_only_its_sender(Message::Binary(frame.into()), 1007).await;
}

#[tokio::test]
async fn oversized_frame() {
    // Over twice the default document cap (8 MiB) and the message headers.
    let frame = vec![0u8; (16 << 20) + 65];
    bad_frame_closes_only_its_sender(Message::Binary(frame.into()), 1009).await;
}

#[tokio::test]
async fn text_frame() {
    bad_frame_closes_only_its_sender(Message::Text("hello".into()), 1003).await;
}

#[tokio::test]
async fn shutdown_closes_sockets_with_going_away() {
    let server = TestServer::sqlite().await;
    let room = server.create_room().await;
    let ada = YClient::connect(server.addr, &room).await;
    ada.append("hi");
    ada.wait_for("synced", |c| c.text() == "hi").await;
    server.stop().await;
    assert!(matches!(
        ada.wait_closed().await,
        Ended::Closed { code: 1001, .. }
    ));
}

#[tokio::test]
async fn a_peer_that_stops_reading_is_dropped_and_the_room_keeps_going() {
    let server = TestServer::sqlite().await;
    let room = server.create_room().await;
    let ada = YClient::connect(server.addr, &room).await;
    let bob = YClient::connect(server.addr, &room).await;
    // Connects, then never reads a byte: its (small) socket buffers fill, then its queue.
    let socket = tokio::net::TcpSocket::new_v4().unwrap();
    socket.set_recv_buffer_size(4096).unwrap();
    let tcp = socket.connect(server.addr).await.unwrap();
    let url = format!("ws://{}/ws/{room}", server.addr);
    let (stalled, _) = tokio_tungstenite::client_async(url, tcp).await.unwrap();
    // Presence is relayed at once and never merged: a flood of large (but allowed) cursor
    // states.
    let padding = "p".repeat(3 * 1024);
    let mut expected = String::new();
    for i in 0..1500 {
        ada.set_name(&format!("Ada {i} {padding}"));
        if i % 10 == 0 {
            ada.append("x");
            expected.push('x');
        }
        // In waves that a reading peer keeps up with however busy the machine is (a wave
        // is well under a queue's worth): only the peer that never reads falls behind.
        if i % 100 == 99 {
            let wave_end = format!("Ada {i} ");
            bob.wait_for("the end of a wave of Ada's presence", |c| {
                c.remote_names().iter().any(|n| n.starts_with(&wave_end))
            })
            .await;
        }
    }
    bob.wait_text(&expected).await;
    bob.wait_for("Ada's last presence", |c| {
        c.remote_names().iter().any(|n| n.starts_with("Ada 1499 "))
    })
    .await;
    let metrics = reqwest::get(server.http("/metrics"))
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    assert!(
        metrics.contains("pairpad_slow_peers_dropped_total 1"),
        "the stalled peer was dropped:\n{metrics}"
    );
    let live = common::get_room(server.addr, &room).await;
    assert_eq!(live["activeUsers"], 2);
    drop(stalled);
    server.stop().await;
}

/// Newcomers share one encoding of the whole document until it changes; one who joins
/// after an edit must get that edit in its sync reply, not a stale copy.
#[tokio::test]
async fn a_newcomer_after_an_edit_gets_that_edit() {
    let server = TestServer::sqlite().await;
    let room = server.create_room().await;
    let writer = YClient::connect(server.addr, &room).await;
    writer.append("first");
    let watcher = YClient::connect(server.addr, &room).await;
    watcher.wait_text("first").await;
    // Two newcomers in a row: the second is answered from the shared encoding.
    for _ in 0..2 {
        let newcomer = YClient::connect(server.addr, &room).await;
        newcomer.wait_text("first").await;
        newcomer.close().await;
    }
    writer.append(" second");
    // Once the watcher has it, the server has applied it: nothing is relayed after this,
    // so the next newcomer can only learn it from its sync reply.
    watcher.wait_text("first second").await;
    let late = YClient::connect(server.addr, &room).await;
    late.wait_text("first second").await;
    assert_eq!(state_vector(&late), state_vector(&writer));
    server.stop().await;
}

/// A document larger than one WebSocket fragment reaches a newcomer whole (the server
/// sends such a reply in fragments).
#[tokio::test]
async fn a_large_document_reaches_a_newcomer_whole() {
    let server = TestServer::sqlite().await;
    let room = server.create_room().await;
    let writer = YClient::connect(server.addr, &room).await;
    let text: String = (0..6_000).map(|i| format!("line {i:05}\n")).collect();
    assert!(text.len() > 64 * 1024);
    writer.append(&text);
    let watcher = YClient::connect(server.addr, &room).await;
    watcher.wait_text(&text).await;
    let late = YClient::connect(server.addr, &room).await;
    late.wait_text(&text).await;
    // Its sync reply holds the whole document, the room's metadata included.
    late.wait_for("the whole document", |c| {
        state_vector(c) == state_vector(&writer)
    })
    .await;
    server.stop().await;
}

/// What the room already has, sent again (a sync reply written before the client saw the
/// server's state repeats its edits), is neither stored a second time nor relayed.
#[tokio::test]
async fn a_repeated_update_is_neither_stored_nor_relayed() {
    let server = TestServer::sqlite().await;
    let room = server.create_room().await;
    let writer = YClient::connect(server.addr, &room).await;
    let reader = YClient::connect(server.addr, &room).await;
    writer.append("once");
    reader.wait_text("once").await;
    let frames_before = reader.frames_received();
    writer.repeat_everything();
    writer.append("!");
    reader.wait_text("once!").await;
    assert_eq!(
        reader.frames_received(),
        frames_before + 1,
        "only the new edit reached the other peer"
    );
    let metrics = reqwest::get(server.http("/metrics"))
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    assert!(
        metrics
            .lines()
            .any(|l| l == "pairpad_updates_stored_total 2"),
        "two updates stored, not three:\n{metrics}"
    );
    server.stop().await;
}
