//! One WebSocket connection: a reader loop that decodes frames and hands them to the room,
//! and a writer task that drains the connection's bounded outbound queue, pings the peer
//! and sends the close frame. A bad frame closes this connection only.

use std::sync::Arc;
use std::time::Duration;

use axum::extract::ws::{CloseFrame, Message, WebSocket};
use bytes::Bytes;
use futures_util::stream::{SplitSink, SplitStream};
use futures_util::{SinkExt, StreamExt};
use tokio::sync::mpsc;
use tokio::time::timeout;
use tokio_util::sync::CancellationToken;
use uuid::Uuid;

use super::protocol::decode_frame;
use super::{close_code, Closer, ConnId, PeerLink, RoomCommand, RoomHandle, RoomRegistry};
use crate::metrics::Metrics;

/// Frames queued for one peer before it counts as too slow and is dropped.
pub const OUTBOUND_QUEUE: usize = 512;
/// How often the server pings an otherwise quiet peer.
const PING_EVERY: Duration = Duration::from_secs(20);
/// A peer that sends nothing (not even a pong) for this long is closed. Checked every
/// half limit, so a silent peer goes after between half and the whole of it.
const READ_IDLE_LIMIT: Duration = Duration::from_secs(60);
/// Most queued frames gathered into one socket write.
const MAX_FRAMES_PER_WRITE: usize = 64;
/// A single socket write slower than this means the peer is gone.
const SEND_LIMIT: Duration = Duration::from_secs(10);
/// How long the close handshake may take.
const CLOSE_LIMIT: Duration = Duration::from_secs(1);

/// What a session needs from the server.
#[derive(Clone)]
pub struct SessionContext {
    /// Live rooms.
    pub registry: Arc<RoomRegistry>,
    /// Metrics to count into.
    pub metrics: Arc<Metrics>,
    /// Cancelled when the server shuts down.
    pub shutdown: CancellationToken,
    /// Largest accepted binary message, in bytes.
    pub max_message_bytes: usize,
}

/// Serves one upgraded connection to room `room` until either side closes it.
pub async fn serve(socket: WebSocket, room: Uuid, conn: ConnId, ctx: SessionContext) {
    ctx.metrics.connections.inc();
    let (sink, mut stream) = socket.split();
    let (tx, rx) = mpsc::channel(OUTBOUND_QUEUE);
    let closer = Closer::default();
    let writer = tokio::spawn(write_loop(sink, rx, closer.clone(), ctx.metrics.clone()));
    let link = PeerLink {
        tx,
        closer: closer.clone(),
    };
    let handle = ctx.registry.join(room, conn, &link).await;
    // Only the room holds the queue's sender now: when it drops the peer, the writer ends.
    drop(link);
    match handle {
        Some(handle) => {
            read_loop(&mut stream, &handle, conn, &closer, &ctx).await;
            handle.send(RoomCommand::Leave { conn }).await;
        }
        None if ctx.shutdown.is_cancelled() => {
            closer.close(close_code::GOING_AWAY, "server shutting down");
        }
        None => closer.close(close_code::TRY_AGAIN_LATER, "room unavailable; retry later"),
    }
    closer.close(close_code::NORMAL, "");
    let _ = writer.await;
    // Complete the close handshake: read until the peer's close frame, so that closing our
    // socket cannot reset the connection before the peer has read our close frame.
    let _ = timeout(CLOSE_LIMIT, async {
        while let Some(Ok(message)) = stream.next().await {
            if matches!(message, Message::Close(_)) {
                break;
            }
        }
    })
    .await;
    ctx.metrics.connections.dec();
}

async fn read_loop(
    stream: &mut SplitStream<WebSocket>,
    room: &RoomHandle,
    conn: ConnId,
    closer: &Closer,
    ctx: &SessionContext,
) {
    // One timer for the whole connection rather than one per read: every half limit,
    // a peer that sent nothing since the last check is closed (pings come every 20 s).
    let mut idle_check = tokio::time::interval(READ_IDLE_LIMIT / 2);
    idle_check.tick().await;
    let mut heard = false;
    loop {
        let next = tokio::select! {
            biased;
            () = closer.closed() => return,
            () = ctx.shutdown.cancelled() => {
                closer.close(close_code::GOING_AWAY, "server shutting down");
                return;
            }
            next = stream.next() => next,
            _ = idle_check.tick() => {
                if !std::mem::take(&mut heard) {
                    return closer.close(close_code::POLICY, "no traffic; ping timeout");
                }
                continue;
            }
        };
        heard = true;
        let message = match next {
            None => return,
            Some(Err(error)) => return on_read_error(error, closer, ctx),
            Some(Ok(message)) => message,
        };
        ctx.metrics.messages_in.inc();
        let frame = match message {
            Message::Binary(frame) => frame,
            Message::Text(_) => {
                ctx.metrics.bad_frames.inc();
                return closer.close(close_code::UNSUPPORTED, "text frames are not supported");
            }
            Message::Ping(_) | Message::Pong(_) => continue,
            Message::Close(_) => return,
        };
        if frame.len() > ctx.max_message_bytes {
            ctx.metrics.bad_frames.inc();
            return closer.close(close_code::TOO_BIG, "message too big");
        }
        match decode_frame(&frame) {
            Ok(messages) if messages.is_empty() => {}
            Ok(messages) => {
                if !room.send(RoomCommand::Messages { conn, messages }).await {
                    return closer.close(close_code::TRY_AGAIN_LATER, "room closed; reconnect");
                }
            }
            Err(error) => {
                ctx.metrics.bad_frames.inc();
                tracing::debug!(conn, %error, "closing connection after a bad frame");
                return closer.close(close_code::INVALID_PAYLOAD, error.to_string());
            }
        }
    }
}

/// A read error: an oversized message gets 1009; anything else means the socket is gone.
fn on_read_error(error: axum::Error, closer: &Closer, ctx: &SessionContext) {
    let too_big = error
        .into_inner()
        .downcast_ref::<tungstenite::Error>()
        .is_some_and(|e| matches!(e, tungstenite::Error::Capacity(_)));
    if too_big {
        ctx.metrics.bad_frames.inc();
        closer.close(close_code::TOO_BIG, "message too big");
    }
}

async fn write_loop(
    mut sink: SplitSink<WebSocket, Message>,
    mut rx: mpsc::Receiver<Bytes>,
    closer: Closer,
    metrics: Arc<Metrics>,
) {
    let mut ping = tokio::time::interval(PING_EVERY);
    ping.tick().await;
    loop {
        let message = tokio::select! {
            biased;
            () = closer.closed() => break,
            frame = rx.recv() => match frame {
                Some(frame) => Message::Binary(frame),
                None => break,
            },
            _ = ping.tick() => Message::Ping(Bytes::new()),
        };
        // Everything else already queued goes out in the same socket write.
        let batch = async {
            sink.feed(message).await?;
            for _ in 1..MAX_FRAMES_PER_WRITE {
                match rx.try_recv() {
                    Ok(frame) => sink.feed(Message::Binary(frame)).await?,
                    Err(_) => break,
                }
            }
            sink.flush().await
        };
        match timeout(SEND_LIMIT, batch).await {
            Ok(Ok(())) => {}
            Ok(Err(_)) => return closer.close(close_code::GOING_AWAY, ""),
            Err(_) => {
                metrics.slow_peers_dropped.inc();
                closer.close(close_code::TRY_AGAIN_LATER, "too slow: send timed out");
                break;
            }
        }
    }
    let reason = closer.reason().unwrap_or(super::CloseReason {
        code: close_code::NORMAL,
        reason: String::new(),
    });
    let frame = CloseFrame {
        code: reason.code,
        reason: truncate_reason(&reason.reason).into(),
    };
    let _ = timeout(CLOSE_LIMIT, sink.send(Message::Close(Some(frame)))).await;
}

/// A close reason must fit in 123 bytes; cut at a character boundary.
fn truncate_reason(reason: &str) -> String {
    let mut end = reason.len().min(123);
    while !reason.is_char_boundary(end) {
        end -= 1;
    }
    reason[..end].to_string()
}

#[cfg(test)]
mod tests {
    use super::truncate_reason;

    #[test]
    fn close_reasons_fit_the_frame() {
        assert_eq!(truncate_reason("short"), "short");
        let long = "é".repeat(100);
        let cut = truncate_reason(&long);
        assert!(cut.len() <= 123 && long.starts_with(&cut));
    }
}
