//! The floor: the least a WebSocket relay can do on this machine. It keeps no document,
//! stores nothing and checks nothing. It answers each client's sync request with an empty
//! document, so that the client counts as synced, and writes every other message it
//! receives to the other connections of the room: at most one read per incoming frame,
//! one `send` per delivery, straight from the task that read the frame, with no queue, no
//! copy and no wakeup in between. Run under the same harness as the real servers, its CPU per
//! delivery and its highest rate show what the kernel and the WebSocket framing alone
//! cost, below which no server here can go.
//!
//! It is a measuring instrument, not a server: it trusts its clients, supports only
//! unfragmented binary messages, and a peer whose socket cannot take a frame at once
//! misses that frame (the harness would count the missing deliveries).

use std::cell::RefCell;
use std::collections::HashMap;
use std::net::SocketAddr;
use std::rc::Rc;

use anyhow::Context;
use bytes::{Buf, BytesMut};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::tcp::{OwnedReadHalf, OwnedWriteHalf};
use tokio::net::{TcpListener, TcpStream};
use tokio_tungstenite::tungstenite::handshake::derive_accept_key;

use crate::protocol::{MSG_SYNC, SYNC_STEP1};

/// Largest handshake request read.
const MAX_REQUEST: usize = 8 * 1024;
/// Largest message accepted.
const MAX_MESSAGE: usize = 1 << 20;

type Rooms = Rc<RefCell<HashMap<String, Vec<Peer>>>>;

struct Peer {
    id: u64,
    out: Rc<OwnedWriteHalf>,
}

/// Accepts connections on `bind` until the process is killed (needs a current-thread
/// runtime inside a `LocalSet`).
pub async fn serve(bind: SocketAddr) -> anyhow::Result<()> {
    let listener = TcpListener::bind(bind)
        .await
        .with_context(|| format!("binding {bind}"))?;
    let rooms: Rooms = Rc::default();
    let mut next_id = 0u64;
    loop {
        let (stream, _) = listener.accept().await?;
        next_id += 1;
        let (id, rooms) = (next_id, rooms.clone());
        tokio::task::spawn_local(async move {
            if let Err(error) = connection(stream, id, rooms).await {
                eprintln!("relay: connection {id}: {error:#}");
            }
        });
    }
}

async fn connection(mut stream: TcpStream, id: u64, rooms: Rooms) -> anyhow::Result<()> {
    stream.set_nodelay(true)?;
    let (room, mut buf) = handshake(&mut stream).await?;
    let (mut input, out) = stream.into_split();
    let out = Rc::new(out);
    rooms
        .borrow_mut()
        .entry(room.clone())
        .or_default()
        .push(Peer {
            id,
            out: out.clone(),
        });
    let result = relay(&mut input, &mut buf, id, &out, &room, &rooms).await;
    let mut all = rooms.borrow_mut();
    if let Some(peers) = all.get_mut(&room) {
        peers.retain(|p| p.id != id);
        if peers.is_empty() {
            all.remove(&room);
        }
    }
    result
}

/// Reads the HTTP upgrade request and answers it; returns the room (the request path) and
/// whatever the client sent after the request.
async fn handshake(stream: &mut TcpStream) -> anyhow::Result<(String, BytesMut)> {
    let mut buf = BytesMut::with_capacity(1024);
    let end = loop {
        if let Some(at) = buf.windows(4).position(|w| w == b"\r\n\r\n") {
            break at + 4;
        }
        anyhow::ensure!(buf.len() < MAX_REQUEST, "handshake request too long");
        anyhow::ensure!(stream.read_buf(&mut buf).await? > 0, "closed in handshake");
    };
    let request = String::from_utf8_lossy(&buf[..end]).into_owned();
    buf.advance(end);
    let path = request
        .split_whitespace()
        .nth(1)
        .context("no request path")?
        .to_string();
    let key = request
        .lines()
        .find_map(|line| {
            let (name, value) = line.split_once(':')?;
            name.trim()
                .eq_ignore_ascii_case("sec-websocket-key")
                .then(|| value.trim().to_string())
        })
        .context("no Sec-WebSocket-Key")?;
    let response = format!(
        "HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n\
         Sec-WebSocket-Accept: {}\r\n\r\n",
        derive_accept_key(key.as_bytes())
    );
    stream.write_all(response.as_bytes()).await?;
    Ok((path, buf))
}

/// Relays the connection's messages until it closes.
async fn relay(
    input: &mut OwnedReadHalf,
    buf: &mut BytesMut,
    id: u64,
    out: &OwnedWriteHalf,
    room: &str,
    rooms: &Rooms,
) -> anyhow::Result<()> {
    loop {
        while let Some((opcode, payload)) = next_frame(buf)? {
            match opcode {
                0x2 if is_sync_request(&payload) => {
                    // Sync step 2 carrying an empty Yjs update.
                    send(out, &server_frame(&[0, 1, 2, 0, 0]))?;
                }
                0x2 => {
                    let frame = server_frame(&payload);
                    // Sends do not wait, so the room may stay borrowed while they run.
                    if let Some(peers) = rooms.borrow().get(room) {
                        for peer in peers.iter().filter(|p| p.id != id) {
                            let _ = send(&peer.out, &frame);
                        }
                    }
                }
                0x8 => return Ok(()),
                _ => {}
            }
        }
        if input.read_buf(buf).await? == 0 {
            return Ok(());
        }
    }
}

fn is_sync_request(message: &[u8]) -> bool {
    message.len() >= 2 && u64::from(message[0]) == MSG_SYNC && u64::from(message[1]) == SYNC_STEP1
}

/// Writes `frame` with one system call; an error when the socket cannot take all of it.
fn send(out: &OwnedWriteHalf, frame: &[u8]) -> anyhow::Result<()> {
    let written = out.try_write(frame)?;
    anyhow::ensure!(written == frame.len(), "socket full");
    Ok(())
}

/// An unmasked binary frame, as a server sends it.
fn server_frame(payload: &[u8]) -> Vec<u8> {
    let mut frame = Vec::with_capacity(payload.len() + 10);
    frame.push(0x82);
    match payload.len() {
        n if n < 126 => frame.push(n as u8),
        n if n <= usize::from(u16::MAX) => {
            frame.push(126);
            frame.extend_from_slice(&(n as u16).to_be_bytes());
        }
        n => {
            frame.push(127);
            frame.extend_from_slice(&(n as u64).to_be_bytes());
        }
    }
    frame.extend_from_slice(payload);
    frame
}

/// Takes one whole client frame (masked) off the front of `buf`: its opcode and unmasked
/// payload, or `None` until more bytes arrive.
fn next_frame(buf: &mut BytesMut) -> anyhow::Result<Option<(u8, Vec<u8>)>> {
    if buf.len() < 2 {
        return Ok(None);
    }
    let opcode = buf[0] & 0x0f;
    anyhow::ensure!(buf[0] & 0x80 != 0, "fragmented messages are not supported");
    anyhow::ensure!(buf[1] & 0x80 != 0, "client frames must be masked");
    let (len, header) = match buf[1] & 0x7f {
        126 if buf.len() >= 4 => (usize::from(u16::from_be_bytes([buf[2], buf[3]])), 4),
        127 if buf.len() >= 10 => {
            let mut bytes = [0u8; 8];
            bytes.copy_from_slice(&buf[2..10]);
            (usize::try_from(u64::from_be_bytes(bytes))?, 10)
        }
        126 | 127 => return Ok(None),
        n => (usize::from(n), 2),
    };
    anyhow::ensure!(len <= MAX_MESSAGE, "message too big");
    if buf.len() < header + 4 + len {
        return Ok(None);
    }
    let mut mask = [0u8; 4];
    mask.copy_from_slice(&buf[header..header + 4]);
    buf.advance(header + 4);
    let mut payload = buf.split_to(len).to_vec();
    for (i, byte) in payload.iter_mut().enumerate() {
        *byte ^= mask[i % 4];
    }
    Ok(Some((opcode, payload)))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_masked_frame_is_unmasked_and_taken_whole() {
        let mask = [1u8, 2, 3, 4];
        let payload = b"hello";
        let mut buf = BytesMut::new();
        buf.extend_from_slice(&[0x82, 0x80 | payload.len() as u8]);
        buf.extend_from_slice(&mask);
        buf.extend(payload.iter().enumerate().map(|(i, b)| b ^ mask[i % 4]));
        buf.extend_from_slice(&[0x82]);
        let (opcode, got) = next_frame(&mut buf).unwrap().unwrap();
        assert_eq!((opcode, got.as_slice()), (0x2, &payload[..]));
        assert_eq!(next_frame(&mut buf).unwrap(), None);
        assert_eq!(buf.len(), 1);
    }

    #[test]
    fn long_payloads_get_the_extended_length() {
        let frame = server_frame(&[7u8; 300]);
        assert_eq!(&frame[..4], &[0x82, 126, 1, 44]);
        assert_eq!(frame.len(), 304);
    }
}
