//! One simulated person: a WebSocket, a yrs document to produce real updates, a reader
//! that answers the sync handshake and times every edit marker it receives, and (when
//! typing) a writer inserting a marker at a fixed rate.

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use anyhow::{anyhow, Context};
use futures_util::{SinkExt, StreamExt};
use tokio::sync::{mpsc, oneshot};
use tokio::task::JoinHandle;
use tokio_tungstenite::tungstenite::Message;
use yrs::updates::decoder::Decode;
use yrs::{ReadTxn, StateVector, Text, Transact};

use crate::protocol::{
    marker, read_bytes, read_var, scan_markers, Dialect, Framer, MSG_SYNC, SYNC_STEP1, SYNC_STEP2,
    SYNC_UPDATE,
};
use crate::stats::Stats;

/// Where and how clients connect.
#[derive(Debug, Clone)]
pub struct Target {
    /// WebSocket base, e.g. `ws://127.0.0.1:8420/ws`; the room is appended as a path.
    pub ws_base: String,
    /// The protocol spoken.
    pub dialect: Dialect,
}

/// A connected client; dropping it (or [`Client::close`]) disconnects.
pub struct Client {
    stop: Option<oneshot::Sender<()>>,
    task: JoinHandle<()>,
}

impl Client {
    /// Connects to `room`, completes the sync handshake, and returns once synced.
    pub async fn connect(
        target: &Target,
        room: &str,
        stats: Arc<Stats>,
        edits_per_sec: f64,
    ) -> anyhow::Result<Self> {
        let url = format!("{}/{room}", target.ws_base);
        let (ws, _) = tokio_tungstenite::connect_async(&url)
            .await
            .with_context(|| format!("connecting to {url}"))?;
        let (mut sink, mut stream) = ws.split();
        let framer = Framer::new(target.dialect, room);
        let me = NEXT_CLIENT.fetch_add(1, Ordering::Relaxed);
        let doc = yrs::Doc::new();
        let text = doc.get_or_insert_text("code");
        if let Some(hello) = framer.hello() {
            sink.send(Message::binary(hello)).await?;
        }
        let step1 = doc.transact().state_vector().encode_v1_bytes();
        sink.send(Message::binary(framer.sync(SYNC_STEP1, &step1)))
            .await?;

        // Writer: everything to the socket goes through one bounded queue.
        let (out_tx, mut out_rx) = mpsc::channel::<Vec<u8>>(256);
        let (synced_tx, synced_rx) = oneshot::channel();
        let (stop_tx, mut stop_rx) = oneshot::channel::<()>();
        let task = tokio::spawn(async move {
            let mut synced = Some(synced_tx);
            let period = Duration::from_secs_f64(1.0 / edits_per_sec.max(0.001));
            let mut tick =
                tokio::time::interval_at(tokio::time::Instant::now() + jitter(period), period);
            tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
            loop {
                tokio::select! {
                    _ = &mut stop_rx => break,
                    frame = stream.next() => match frame {
                        Some(Ok(Message::Binary(data))) => {
                            if let Some(reply) = on_frame(&framer, &doc, me, &data, &stats, &mut synced) {
                                if out_tx.try_send(reply).is_err() { break; }
                            }
                        }
                        Some(Ok(Message::Close(_))) | None | Some(Err(_)) => {
                            stats.disconnects.fetch_add(1, Ordering::Relaxed);
                            break;
                        }
                        Some(Ok(_)) => {}
                    },
                    Some(out) = out_rx.recv() => {
                        if sink.send(Message::binary(out)).await.is_err() { break; }
                    }
                    _ = tick.tick(), if edits_per_sec > 0.0 && synced.is_none() => {
                        if stats.paused.load(Ordering::Relaxed) {
                            continue;
                        }
                        let update = type_marker(&doc, &text, me, stats.epoch);
                        stats.sent.fetch_add(1, Ordering::Relaxed);
                        if sink.send(Message::binary(framer.sync(SYNC_UPDATE, &update))).await.is_err() { break; }
                    }
                }
            }
            let _ = sink.send(Message::Close(None)).await;
        });
        match tokio::time::timeout(Duration::from_secs(60), synced_rx).await {
            Ok(Ok(())) => Ok(Self {
                stop: Some(stop_tx),
                task,
            }),
            _ => {
                task.abort();
                Err(anyhow!("no sync step 2 from the server within 60 s"))
            }
        }
    }

    /// Disconnects with a close frame; a server that stopped reading gets five seconds,
    /// then the socket is dropped.
    pub async fn close(mut self) {
        if let Some(stop) = self.stop.take() {
            let _ = stop.send(());
        }
        if tokio::time::timeout(Duration::from_secs(5), &mut self.task)
            .await
            .is_err()
        {
            self.task.abort();
        }
    }
}

impl Drop for Client {
    fn drop(&mut self) {
        if let Some(stop) = self.stop.take() {
            let _ = stop.send(());
        }
    }
}

/// Spreads the first keystroke of each client over one period so they do not all fire
/// at once.
fn jitter(period: Duration) -> Duration {
    let nanos = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.subsec_nanos())
        .unwrap_or(0);
    period.mul_f64(f64::from(nanos % 1000) / 1000.0)
}

/// Numbers clients so markers name their sender; 0 is the bulk writer.
static NEXT_CLIENT: AtomicU64 = AtomicU64::new(1);

fn type_marker(doc: &yrs::Doc, text: &yrs::TextRef, me: u64, epoch: Instant) -> Vec<u8> {
    let mut txn = doc.transact_mut();
    let end = text.len(&txn);
    text.insert(&mut txn, end, &marker(me, epoch));
    txn.encode_update_v1()
}

/// Handles one frame; returns a reply to send, if any.
fn on_frame(
    framer: &Framer,
    doc: &yrs::Doc,
    me: u64,
    data: &[u8],
    stats: &Stats,
    synced: &mut Option<oneshot::Sender<()>>,
) -> Option<Vec<u8>> {
    let (kind, mut rest) = framer.open(data)?;
    if kind != MSG_SYNC {
        return None;
    }
    let step = read_var(&mut rest)?;
    let payload = read_bytes(&mut rest)?;
    match step {
        SYNC_STEP1 => {
            let remote = StateVector::decode_v1(payload).ok()?;
            let diff = doc.transact().encode_state_as_update_v1(&remote);
            Some(framer.sync(SYNC_STEP2, &diff))
        }
        SYNC_STEP2 => {
            if let Some(done) = synced.take() {
                stats
                    .join_bytes
                    .fetch_add(payload.len() as u64, Ordering::Relaxed);
                let _ = done.send(());
            }
            None
        }
        SYNC_UPDATE => {
            let now = stats.epoch.elapsed().as_micros() as u64;
            scan_markers(payload, |sender, sent| {
                if sender != me {
                    stats.record(now.saturating_sub(sent));
                }
            });
            None
        }
        _ => None,
    }
}

/// Largest text a [`Writer`] puts in one update.
const TEXT_CHUNK: usize = 32 * 1024;

/// Updates a [`Writer`] may have in flight beyond what the observer has received.
const WRITE_WINDOW: usize = 2_000;

/// A bare connection that writes many small updates as fast as the server applies them
/// (for building a large document), ignoring what comes back.
pub struct Writer {
    sink: futures_util::stream::SplitSink<
        tokio_tungstenite::WebSocketStream<
            tokio_tungstenite::MaybeTlsStream<tokio::net::TcpStream>,
        >,
        Message,
    >,
    framer: Framer,
    drain: JoinHandle<()>,
}

impl Writer {
    /// Connects and says hello; incoming messages are read and dropped.
    pub async fn connect(target: &Target, room: &str) -> anyhow::Result<Self> {
        let url = format!("{}/{room}", target.ws_base);
        let (ws, _) = tokio_tungstenite::connect_async(&url).await?;
        let (mut sink, mut stream) = ws.split();
        let framer = Framer::new(target.dialect, room);
        if let Some(hello) = framer.hello() {
            sink.send(Message::binary(hello)).await?;
        }
        let empty = StateVector::default().encode_v1_bytes();
        sink.send(Message::binary(framer.sync(SYNC_STEP1, &empty)))
            .await?;
        let drain = tokio::spawn(async move { while let Some(Ok(_)) = stream.next().await {} });
        Ok(Self {
            sink,
            framer,
            drain,
        })
    }

    /// Types `count` markers, one update each, never more than [`WRITE_WINDOW`] ahead of
    /// what the observer counted in `stats` has received: a server buried under a backlog
    /// of unread frames would miss its own ping deadlines (y-websocket closes a connection
    /// whose pong it has not read within 30 s).
    pub async fn write_updates(&mut self, count: usize, stats: &Stats) -> anyhow::Result<()> {
        let doc = yrs::Doc::new();
        let text = doc.get_or_insert_text("code");
        for sent in 1..=count {
            let update = type_marker(&doc, &text, 0, stats.epoch);
            self.sink
                .feed(Message::binary(self.framer.sync(SYNC_UPDATE, &update)))
                .await?;
            if sent % (WRITE_WINDOW / 4) == 0 {
                self.sink.flush().await?;
                while (sent as u64).saturating_sub(stats.delivered.load(Ordering::Relaxed))
                    > WRITE_WINDOW as u64
                {
                    tokio::time::sleep(Duration::from_millis(2)).await;
                }
            }
        }
        self.sink.flush().await?;
        Ok(())
    }

    /// Types `bytes` of plain text (lines of code-like filler), in updates of at most
    /// [`TEXT_CHUNK`] bytes.
    pub async fn write_text(&mut self, bytes: usize) -> anyhow::Result<()> {
        let doc = yrs::Doc::new();
        let text = doc.get_or_insert_text("code");
        let line = "    let value = compute(index, &table[offset..]); // filler\n";
        let mut written = 0;
        while written < bytes {
            let chunk: String = line
                .chars()
                .cycle()
                .take(TEXT_CHUNK.min(bytes - written))
                .collect();
            let update = {
                let mut txn = doc.transact_mut();
                let end = text.len(&txn);
                text.insert(&mut txn, end, &chunk);
                txn.encode_update_v1()
            };
            self.sink
                .send(Message::binary(self.framer.sync(SYNC_UPDATE, &update)))
                .await?;
            written += chunk.len();
        }
        Ok(())
    }

    /// Closes the connection.
    pub async fn close(mut self) {
        let _ = self.sink.send(Message::Close(None)).await;
        self.drain.abort();
    }
}

trait EncodeV1 {
    fn encode_v1_bytes(&self) -> Vec<u8>;
}

impl EncodeV1 for StateVector {
    fn encode_v1_bytes(&self) -> Vec<u8> {
        use yrs::updates::encoder::Encode;
        self.encode_v1()
    }
}
