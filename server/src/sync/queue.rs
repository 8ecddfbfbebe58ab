//! A connection's outbound queue, bounded in frames and in bytes. A bound in frames alone
//! lets a few bytes of requests fill 512 slots with document-sized replies (hundreds of
//! megabytes for one peer); the byte bound makes such a peer count as too slow instead.

use std::sync::Arc;

use bytes::Bytes;

use super::budget::{MemoryBudget, SharedCount};

/// Frames queued for one peer before it counts as too slow.
pub const MAX_FRAMES: usize = 512;
/// Bytes queued for one peer before it counts as too slow. A frame is always accepted
/// into an empty queue, so a reply larger than this (a large document) still goes out.
pub const MAX_BYTES: usize = 8 << 20;

/// Bytes queued for a peer that make it count as behind while the memory budget is spent
/// (a frame or two in flight is not behind).
pub const BEHIND_BYTES: usize = 256 << 10;

/// Creates a connection's queue: the room's end and the connection's end. Queued bytes
/// count against `budget`; while it is spent, a peer that is behind counts as too slow.
pub fn outbound(budget: Option<Arc<MemoryBudget>>) -> (Outbound, Inbound) {
    let (tx, rx) = flume::bounded(MAX_FRAMES);
    let bytes = SharedCount::new(budget);
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
    bytes: Arc<SharedCount>,
}

impl Outbound {
    /// Queues `frame`; `false` when the queue is full in frames or in bytes (the peer is
    /// too slow). A closed queue (the connection is ending) takes frames silently.
    pub fn push(&self, frame: Bytes) -> bool {
        let len = frame.len();
        let queued = self.bytes.get();
        let behind = queued >= BEHIND_BYTES && self.bytes.budget_exhausted();
        if queued > 0 && (queued + len > MAX_BYTES || behind) {
            return false;
        }
        self.bytes.add(len);
        match self.tx.try_send(frame) {
            Ok(()) => true,
            Err(flume::TrySendError::Full(_)) => {
                self.bytes.sub(len);
                false
            }
            Err(flume::TrySendError::Disconnected(_)) => {
                self.bytes.sub(len);
                true
            }
        }
    }

    /// Bytes waiting in the queue.
    #[cfg(test)]
    fn queued_bytes(&self) -> usize {
        self.bytes.get()
    }
}

/// The connection's end of its queue.
#[derive(Debug)]
pub struct Inbound {
    rx: flume::Receiver<Bytes>,
    bytes: Arc<SharedCount>,
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
        self.bytes.sub(frame.len());
        frame
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_queue_is_bounded_in_bytes_but_takes_one_large_frame() {
        let (out, inbound) = outbound(None);
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
        let (out, _inbound) = outbound(None);
        for _ in 0..MAX_FRAMES {
            assert!(out.push(Bytes::from_static(b"x")));
        }
        assert!(!out.push(Bytes::from_static(b"x")));
        assert_eq!(out.queued_bytes(), MAX_FRAMES);
    }

    #[test]
    fn queued_bytes_count_against_the_budget_until_both_ends_are_gone() {
        let budget = MemoryBudget::new(100);
        let (out, inbound) = outbound(Some(budget.clone()));
        assert!(out.push(Bytes::from(vec![0; 150])), "into an empty queue");
        assert!(budget.exhausted());
        assert!(
            out.push(Bytes::from(vec![0; BEHIND_BYTES])),
            "a frame in flight"
        );
        assert!(
            !out.push(Bytes::from_static(b"x")),
            "a peer behind, budget spent"
        );
        assert_eq!(inbound.try_recv().map(|f| f.len()), Some(150));
        assert_eq!(inbound.try_recv().map(|f| f.len()), Some(BEHIND_BYTES));
        assert_eq!(budget.used(), 0);
        assert!(out.push(Bytes::from(vec![0; 40])));
        drop(inbound);
        assert!(
            out.push(Bytes::from(vec![0; 40])),
            "closed queues take frames"
        );
        assert_eq!(budget.used(), 40);
        drop(out);
        assert_eq!(budget.used(), 0);
    }
}
