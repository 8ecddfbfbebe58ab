//! One WebSocket connection, served by one task: it decodes incoming frames and hands
//! them to the room, drains the connection's bounded outbound queue into the socket, pings
//! a quiet peer and sends the close frame. A bad frame closes this connection only.

use std::sync::{Arc, OnceLock};
use std::time::Duration;

use bytes::Bytes;
use futures_util::{SinkExt, StreamExt};
use hyper::upgrade::Upgraded;
use hyper_util::rt::TokioIo;
use tokio::io::AsyncReadExt;
use tokio::sync::{watch, OwnedSemaphorePermit, Semaphore};
use tokio::time::timeout;
use tokio_tungstenite::WebSocketStream;
use tokio_util::sync::CancellationToken;
use tungstenite::protocol::frame::coding::{CloseCode, Data, OpCode};
use tungstenite::protocol::frame::{CloseFrame, Frame};
use tungstenite::Message;

use super::protocol::decode_frame;
use super::{
    close_code, queue, Closer, ConnId, DocId, PeerLink, RoomCommand, RoomHandle, RoomRegistry,
};
use crate::access::PeerAccess;
use crate::metrics::Metrics;

/// How often the server pings the peer, and checks that it has heard from it.
const PING_EVERY: Duration = Duration::from_secs(2);
/// A peer that sends nothing (not even a pong) for this many pings in a row is closed, and
/// its presence removed for everyone: a dropped network or a frozen machine is noticed
/// after between 4 and 6 seconds of silence.
const SILENT_PINGS_LIMIT: u32 = 3;
/// A write that waited this long for the socket was waiting for the peer to acknowledge
/// earlier data: the peer is alive, only slow (a large document on a slow link), and its
/// pongs are queued behind that data.
const ACKED_WRITE: Duration = Duration::from_millis(50);
/// Most queued frames gathered into one socket write.
const MAX_FRAMES_PER_WRITE: usize = 64;
/// A message longer than this (a sync reply holding a large document) goes out in
/// fragments of this size: the socket library copies each frame into its write buffer and
/// keeps that buffer's capacity, so one whole-document frame would pin a document-sized
/// buffer to the connection for its lifetime.
const FRAGMENT_BYTES: usize = 32 * 1024;
/// A single socket write slower than this means the peer is gone.
const SEND_LIMIT: Duration = Duration::from_secs(10);
/// How long the close handshake may take.
const CLOSE_LIMIT: Duration = Duration::from_secs(1);
/// Bytes of one connection's frames handed to its room and not yet handled. Decoded, a
/// frame can take several times its size (a 10-byte presence removal becomes a map entry
/// of some 80), so a peer sending faster than its room works through them would otherwise
/// fill the room's queue with hundreds of megabytes. Past this the session stops reading,
/// and TCP holds the peer back. A frame larger than this goes alone.
const IN_FLIGHT_BYTES: u32 = 1 << 20;

/// What a session needs from the server.
#[derive(Clone)]
pub struct SessionContext {
    /// Live rooms.
    pub registry: Arc<RoomRegistry>,
    /// Metrics to count into.
    pub metrics: Arc<Metrics>,
    /// Cancelled when the server shuts down.
    pub shutdown: CancellationToken,
    /// Largest accepted binary message, in bytes: the document cap and the message
    /// headers around an update.
    pub max_message_bytes: usize,
    /// The document cap, named in the reason a sender of a larger message is given.
    pub max_document_bytes: usize,
    /// When to ping.
    pub clock: PingClock,
    /// What queued frames count against.
    pub memory: Arc<super::budget::MemoryBudget>,
}

/// One timer for every connection: it ticks every [`PING_EVERY`], and on each tick every
/// session pings its peer and counts its silence. A timer per connection would cost each
/// idle connection a heap-allocated sleep and an entry in the timer wheel. The clock starts
/// with the first connection and stops once the server that owns it is dropped.
#[derive(Debug, Clone, Default)]
pub struct PingClock(Arc<OnceLock<watch::Receiver<u64>>>);

impl PingClock {
    /// A receiver that sees the next tick (needs a Tokio runtime).
    fn subscribe(&self) -> watch::Receiver<u64> {
        let mut ticks = self
            .0
            .get_or_init(|| {
                let (tx, rx) = watch::channel(0);
                tokio::spawn(async move {
                    let mut every = tokio::time::interval(PING_EVERY);
                    every.tick().await;
                    for tick in 1u64.. {
                        every.tick().await;
                        if tx.send(tick).is_err() {
                            break;
                        }
                    }
                });
                rx
            })
            .clone();
        ticks.borrow_and_update();
        ticks
    }
}

/// How long a peer has gone unheard, counted in ping ticks.
#[derive(Debug, Default)]
struct Silence {
    ticks: u32,
}

impl Silence {
    /// Counts a tick; `true` once the peer has been silent for [`SILENT_PINGS_LIMIT`].
    fn tick(&mut self) -> bool {
        self.ticks += 1;
        self.ticks >= SILENT_PINGS_LIMIT
    }

    /// The peer sent something.
    fn heard(&mut self) {
        self.ticks = 0;
    }

    /// A write to the peer took `took`: one that had to wait for the peer's
    /// acknowledgements ([`ACKED_WRITE`]) counts as hearing from it.
    fn wrote(&mut self, took: Duration) {
        if took >= ACKED_WRITE {
            self.heard();
        }
    }
}

/// The upgraded connection.
pub type Socket = WebSocketStream<TokioIo<Upgraded>>;

/// Serves one upgraded connection to document `doc` until either side closes it; `slot`
/// (its place under the connection limit) is released when it ends.
pub fn serve(
    socket: Socket,
    doc: DocId,
    conn: ConnId,
    address: std::net::IpAddr,
    access: PeerAccess,
    ctx: SessionContext,
    slot: OwnedSemaphorePermit,
) -> impl std::future::Future<Output = ()> + Send {
    let (tx, outbound) = queue::outbound(Some(ctx.memory.clone()));
    // The session is built here and moved into the future once, and used there in place:
    // an idle connection's task then holds one copy of it, not also the arguments it was
    // built from or a second binding.
    let mut session = Session {
        ticks: ctx.clock.subscribe(),
        socket,
        outbound,
        closer: Closer::default(),
        conn,
        address,
        signed_in_until: access.signed_in_until,
        ctx,
        in_flight: Arc::new(Semaphore::new(IN_FLIGHT_BYTES as usize)),
        _slot: slot,
    };
    async move { session.serve(doc, tx, access).await }
}

/// One connection's state.
struct Session {
    /// When the connection's sign-in stops being taken (Unix seconds), if it signed in.
    signed_in_until: Option<u64>,
    ticks: watch::Receiver<u64>,
    socket: Socket,
    outbound: queue::Inbound,
    closer: Closer,
    conn: ConnId,
    address: std::net::IpAddr,
    ctx: SessionContext,
    /// [`IN_FLIGHT_BYTES`], less what the room holds.
    in_flight: Arc<Semaphore>,
    _slot: OwnedSemaphorePermit,
}

/// Why a read failed, all a session needs to know of it (tungstenite's error is large,
/// and it would be held in every connection's task).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum ReadError {
    /// A message over the size limit.
    TooBig,
    /// The connection is broken or the peer broke the protocol.
    Gone,
}

impl From<tungstenite::Error> for ReadError {
    fn from(error: tungstenite::Error) -> Self {
        match error {
            tungstenite::Error::Capacity(_) => Self::TooBig,
            _ => Self::Gone,
        }
    }
}

/// What woke the session.
enum Event {
    Incoming(Option<Result<Message, ReadError>>),
    Outgoing(Message),
    Tick,
    ClockStopped,
    Stop,
}

impl Session {
    async fn serve(&mut self, doc: DocId, tx: queue::Outbound, access: PeerAccess) {
        let metrics = self.ctx.metrics.clone();
        metrics.connections.inc();
        let epoch = access.epoch;
        let link = PeerLink {
            queue: tx,
            closer: self.closer.clone(),
            address: self.address,
            access,
        };
        // The joining, leaving and closing steps are boxed: each is short-lived, and inline
        // they would make every idle connection's task as large as the largest of them.
        let handle = Box::pin(self.ctx.registry.join(doc, self.conn, &link)).await;
        // Only the room holds the queue's sender now.
        drop(link);
        match handle {
            Some(handle) => {
                self.run(&handle).await;
                let conn = self.conn;
                Box::pin(handle.send(RoomCommand::Leave { conn })).await;
            }
            None if self.ctx.shutdown.is_cancelled() => {
                self.closer
                    .close(close_code::GOING_AWAY, "server shutting down");
            }
            None if self.ctx.registry.access_epoch() != epoch => self.closer.close(
                close_code::ACCESS_CHANGED,
                "the room's access changed; reconnect",
            ),
            None => self
                .closer
                .close(close_code::TRY_AGAIN_LATER, "room unavailable; retry later"),
        }
        Box::pin(self.finish()).await;
        metrics.connections.dec();
    }

    /// Reads, writes and pings until the connection is to close; the reason is in `closer`.
    async fn run(&mut self, room: &RoomHandle) {
        let mut ticking = true;
        let mut silence = Silence::default();
        loop {
            // Unbiased: neither a chatty peer nor a busy room can starve the other side.
            let event = tokio::select! {
                () = self.closer.closed() => Event::Stop,
                () = self.ctx.shutdown.cancelled() => {
                    self.closer.close(close_code::GOING_AWAY, "server shutting down");
                    Event::Stop
                }
                frame = self.outbound.recv() => match frame {
                    Some(frame) => Event::Outgoing(Message::Binary(frame)),
                    // The room dropped this peer.
                    None => Event::Stop,
                },
                next = self.socket.next() => Event::Incoming(next.map(|r| r.map_err(ReadError::from))),
                tick = self.ticks.changed(), if ticking => match tick {
                    Ok(()) => Event::Tick,
                    Err(_) => Event::ClockStopped,
                },
            };
            let go_on = match event {
                Event::Stop => false,
                Event::ClockStopped => {
                    ticking = false;
                    true
                }
                Event::Outgoing(message) => self.write_noting_acks(message, &mut silence).await,
                Event::Tick if silence.tick() => {
                    self.closer
                        .close(close_code::POLICY, "no traffic; ping timeout");
                    false
                }
                Event::Tick if self.sign_in_expired() => {
                    let reason = "sign-in expired; sign in again";
                    self.closer.close(close_code::SIGNED_OUT, reason);
                    false
                }
                Event::Tick => {
                    self.write_noting_acks(Message::Ping(Bytes::new()), &mut silence)
                        .await
                }
                Event::Incoming(next) => {
                    silence.heard();
                    self.on_incoming(next, room).await
                }
            };
            if !go_on {
                return;
            }
        }
    }

    /// Whether the connection signed in and its token is no longer taken.
    fn sign_in_expired(&self) -> bool {
        let now = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map_or(0, |d| d.as_secs());
        self.signed_in_until.is_some_and(|until| now >= until)
    }

    /// Handles one read from the socket; `false` when the connection is to close.
    async fn on_incoming(
        &mut self,
        next: Option<Result<Message, ReadError>>,
        room: &RoomHandle,
    ) -> bool {
        let message = match next {
            None => return false,
            Some(Err(error)) => {
                self.on_read_error(error);
                return false;
            }
            Some(Ok(message)) => message,
        };
        let metrics = &self.ctx.metrics;
        metrics.messages_in.inc();
        let frame = match message {
            Message::Binary(frame) => frame,
            Message::Text(_) => {
                metrics.bad_frames.inc();
                self.closer
                    .close(close_code::UNSUPPORTED, "text frames are not supported");
                return false;
            }
            Message::Ping(_) | Message::Pong(_) | Message::Frame(_) => return true,
            Message::Close(_) => return false,
        };
        if frame.len() > self.ctx.max_message_bytes {
            metrics.bad_frames.inc();
            self.close_too_big();
            return false;
        }
        // Waits (reading nothing more) while the room holds too much of this peer's.
        let cost = u32::try_from(frame.len()).map_or(IN_FLIGHT_BYTES, |n| n.min(IN_FLIGHT_BYTES));
        let Ok(held) = self.in_flight.clone().acquire_many_owned(cost).await else {
            return false;
        };
        match decode_frame(&frame) {
            Ok(messages) if messages.is_empty() => true,
            Ok(messages) => {
                let conn = self.conn;
                let command = RoomCommand::Messages {
                    conn,
                    messages,
                    held,
                };
                if room.send(command).await {
                    true
                } else {
                    self.closer
                        .close(close_code::TRY_AGAIN_LATER, "room closed; reconnect");
                    false
                }
            }
            Err(error) => {
                metrics.bad_frames.inc();
                tracing::debug!(conn = self.conn, %error, "closing connection after a bad frame");
                self.closer
                    .close(close_code::INVALID_PAYLOAD, error.to_string());
                false
            }
        }
    }

    /// A read error: an oversized message gets 1009; anything else means the socket is gone.
    fn on_read_error(&self, error: ReadError) {
        if error == ReadError::TooBig {
            self.ctx.metrics.bad_frames.inc();
            self.close_too_big();
        }
    }

    /// A message larger than any document may be: the sender is told the document cap
    /// (its editor then stops reconnecting with the same edit).
    fn close_too_big(&self) {
        self.closer.close(
            close_code::TOO_BIG,
            super::close_reason::document_too_large(self.ctx.max_document_bytes),
        );
    }

    /// Writes as [`Self::write`]; a write that had to wait for the peer's acknowledgements
    /// counts as hearing from it.
    async fn write_noting_acks(&mut self, message: Message, silence: &mut Silence) -> bool {
        let started = tokio::time::Instant::now();
        let written = self.write(message).await;
        silence.wrote(started.elapsed());
        written
    }

    /// Sends `message` and whatever else is queued (up to a limit) in one socket write;
    /// `false` when the connection is to close.
    async fn write(&mut self, message: Message) -> bool {
        let (socket, outbound) = (&mut self.socket, &self.outbound);
        let batch = async {
            feed(socket, message).await?;
            for _ in 1..MAX_FRAMES_PER_WRITE {
                match outbound.try_recv() {
                    Some(frame) => feed(socket, Message::Binary(frame)).await?,
                    None => break,
                }
            }
            socket.flush().await
        };
        match timeout(SEND_LIMIT, batch).await {
            Ok(Ok(())) => true,
            Ok(Err(_)) => {
                self.closer.close(close_code::GOING_AWAY, "");
                false
            }
            Err(_) => {
                self.ctx.metrics.slow_peers_dropped.inc();
                self.closer
                    .close(close_code::TRY_AGAIN_LATER, "too slow: send timed out");
                false
            }
        }
    }

    /// Sends the close frame with the reason given to the closer, then reads until the
    /// peer's close frame, so that closing our socket cannot reset the connection before
    /// the peer has read ours.
    async fn finish(&mut self) {
        self.closer.close(close_code::NORMAL, "");
        let reason = self.closer.reason().unwrap_or(super::CloseReason {
            code: close_code::NORMAL,
            reason: String::new(),
        });
        let frame = CloseFrame {
            code: CloseCode::from(reason.code),
            reason: truncate_reason(&reason.reason).into(),
        };
        if timeout(CLOSE_LIMIT, self.socket.send(Message::Close(Some(frame))))
            .await
            .is_err()
        {
            return;
        }
        let out_of_step = reason.code == close_code::TOO_BIG;
        let _ = timeout(CLOSE_LIMIT, async {
            if out_of_step {
                // The rest of a message over the limit is still coming: discard it until
                // the peer has read our close frame and closes, or closing with its data
                // unread would reset the connection before the close frame is read.
                let mut discard = [0u8; 4096];
                let io = self.socket.get_mut();
                while let Ok(read) = io.read(&mut discard).await {
                    if read == 0 {
                        break;
                    }
                }
                return;
            }
            while let Some(Ok(message)) = self.socket.next().await {
                if matches!(message, Message::Close(_)) {
                    break;
                }
            }
        })
        .await;
    }
}

/// Queues `message` on the socket; a long binary message goes as fragments that share
/// its bytes (boxed, so that the rare long message does not enlarge every connection).
async fn feed(socket: &mut Socket, message: Message) -> Result<(), tungstenite::Error> {
    match message {
        Message::Binary(data) if data.len() > FRAGMENT_BYTES => {
            Box::pin(feed_fragments(socket, data)).await
        }
        other => socket.feed(other).await,
    }
}

async fn feed_fragments(socket: &mut Socket, data: Bytes) -> Result<(), tungstenite::Error> {
    let mut start = 0;
    while start < data.len() {
        let end = (start + FRAGMENT_BYTES).min(data.len());
        let kind = if start == 0 {
            Data::Binary
        } else {
            Data::Continue
        };
        let fragment = Frame::message(
            data.slice(start..end),
            OpCode::Data(kind),
            end == data.len(),
        );
        socket.feed(Message::Frame(fragment)).await?;
        start = end;
    }
    Ok(())
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
    use tokio::time::Instant;

    use super::*;

    const MS: Duration = Duration::from_millis(1);

    /// When a peer last heard from at `heard` (after the clock started) is timed out,
    /// counting from the clock's start.
    async fn timed_out_after(heard: Duration) -> Duration {
        let clock = PingClock::default();
        let start = Instant::now();
        let mut ticks = clock.subscribe();
        let mut silence = Silence::default();
        tokio::time::sleep(heard).await;
        // Ticks before the peer spoke were counted then, and its message reset them.
        ticks.borrow_and_update();
        silence.heard();
        loop {
            ticks.changed().await.expect("the clock runs");
            if silence.tick() {
                return start.elapsed();
            }
        }
    }

    #[tokio::test(start_paused = true)]
    async fn a_silent_peer_times_out_after_four_to_six_seconds() {
        assert_eq!(timed_out_after(1999 * MS).await, 6000 * MS);
        assert_eq!(timed_out_after(2001 * MS).await, 8000 * MS);
        assert_eq!(timed_out_after(Duration::ZERO).await, 6000 * MS);
    }

    #[tokio::test(start_paused = true)]
    async fn a_write_that_waited_for_the_peer_counts_as_hearing_from_it() {
        let mut silence = Silence::default();
        assert!(!silence.tick());
        silence.wrote(49 * MS);
        assert!(!silence.tick());
        silence.wrote(ACKED_WRITE);
        assert!(!silence.tick());
        assert!(!silence.tick());
        assert!(silence.tick(), "three silent ticks in a row");
    }

    #[test]
    fn close_reasons_fit_the_frame() {
        assert_eq!(truncate_reason("short"), "short");
        let long = "é".repeat(100);
        let cut = truncate_reason(&long);
        assert!(cut.len() <= 123 && long.starts_with(&cut));
    }
}
