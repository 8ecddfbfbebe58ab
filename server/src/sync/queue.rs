//! A connection's outbound queue, bounded in frames and in bytes. A bound in frames alone
//! lets a few bytes of requests fill 512 slots with document-sized replies (hundreds of
//! megabytes for one peer); the byte bound makes such a peer count as too slow instead.

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;

use bytes::Bytes;

/// Frames queued for one peer before it counts as too slow.
pub const MAX_FRAMES: usize = 512;
/// Bytes queued for one peer before it counts as too slow. A frame is always accepted
/// into an empty queue, so a reply larger than this (a large document) still goes out.
pub const MAX_BYTES: usize = 8 << 20;

/// Creates a connection's queue: the room's end and the connection's end.
pub fn outbound() -> (Outbound, Inbound) {
    let (tx, rx) = flume::bounded(MAX_FRAMES);
    let bytes = Arc::new(AtomicUsize::new(0));
    (
        Outbound {
            tx,
            bytes: bytes.clone(),
        },
        Inbound { rx, bytes },
    )
}

/// The room's end of a connection's queue.
#[derive(Debug, Clone)]
pub struct Outbound {
    tx: flume::Sender<Bytes>,
    bytes: Arc<AtomicUsize>,
}

impl Outbound {
    /// Queues `frame`; `false` when the queue is full in frames or in bytes (the peer is
    /// too slow). A closed queue (the connection is ending) takes frames silently.
    pub fn push(&self, frame: Bytes) -> bool {
        let len = frame.len();
        let queued = self.bytes.load(Ordering::Relaxed);
        if queued > 0 && queued + len > MAX_BYTES {
            return false;
        }
        self.bytes.fetch_add(len, Ordering::Relaxed);
        match self.tx.try_send(frame) {
            Ok(()) => true,
            Err(flume::TrySendError::Full(_)) => {
                self.bytes.fetch_sub(len, Ordering::Relaxed);
                false
            }
            Err(flume::TrySendError::Disconnected(_)) => true,
        }
    }

    /// Bytes waiting in the queue.
    #[cfg(test)]
    fn queued_bytes(&self) -> usize {
        self.bytes.load(Ordering::Relaxed)
    }
}

/// The connection's end of its queue.
#[derive(Debug)]
pub struct Inbound {
    rx: flume::Receiver<Bytes>,
    bytes: Arc<AtomicUsize>,
}

impl Inbound {
    /// The next frame; `None` once the room has dropped this peer.
    pub async fn recv(&self) -> Option<Bytes> {
        let frame = self.rx.recv_async().await.ok()?;
        Some(self.taken(frame))
    }

    /// The next frame if one is waiting.
    pub fn try_recv(&self) -> Option<Bytes> {
        self.rx.try_recv().ok().map(|frame| self.taken(frame))
    }

    fn taken(&self, frame: Bytes) -> Bytes {
        self.bytes.fetch_sub(frame.len(), Ordering::Relaxed);
        frame
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_queue_is_bounded_in_bytes_but_takes_one_large_frame() {
        let (out, inbound) = outbound();
        assert!(
            out.push(Bytes::from(vec![0; MAX_BYTES * 2])),
            "one large frame"
        );
        assert!(!out.push(Bytes::from_static(b"x")), "nothing after it");
        assert_eq!(inbound.try_recv().map(|f| f.len()), Some(MAX_BYTES * 2));
        assert_eq!(out.queued_bytes(), 0);
        let half = Bytes::from(vec![0; MAX_BYTES / 2]);
        assert!(out.push(half.clone()) && out.push(half.clone()));
        assert!(!out.push(half), "full in bytes");
    }

    #[test]
    fn the_queue_is_bounded_in_frames() {
        let (out, _inbound) = outbound();
        for _ in 0..MAX_FRAMES {
            assert!(out.push(Bytes::from_static(b"x")));
        }
        assert!(!out.push(Bytes::from_static(b"x")));
        assert_eq!(out.queued_bytes(), MAX_FRAMES);
    }
}
