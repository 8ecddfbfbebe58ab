//! A room's write pipeline: group commit of accepted updates, the plain-text mirror and
//! compaction, one store write at a time.
//!
//! Updates are numbered as the room accepts them (`accepted`); `durable` is the number of
//! the last one the store has committed. While a write is in flight, newly accepted updates
//! wait in `pending` and go to the store together in the next transaction.

use std::sync::Arc;
use std::time::{Duration, Instant};

use futures_util::future::BoxFuture;
use futures_util::FutureExt;
use uuid::Uuid;

use crate::metrics::Metrics;
use crate::store::{Mirror, NewUpdate, RoomMirror, RoomUpdates, Store, StoreError};

/// Bytes of not-yet-durable updates a room holds before it refuses more.
pub const MAX_PENDING_BYTES: usize = 64 << 20;
const MAX_BACKOFF: Duration = Duration::from_secs(5);
/// The plain-text mirror is written at most this long after an edit, in a small document.
pub const MIRROR_DELAY: Duration = Duration::from_secs(1);
/// Bytes per second of mirror rows a busy room may write: a mirror rewrites the room's
/// whole row (SQLite rewrites a row whole, the snapshot in it too), so a large document's
/// mirror is written less often than a small one's.
const MIRROR_BYTES_PER_SEC: f64 = 64.0 * 1024.0;
/// Snapshot bytes a compaction may rewrite per update folded: a large document's log grows
/// longer between compactions, so that each update costs at most about this much.
const SNAPSHOT_BYTES_PER_UPDATE: usize = 1024;
const FIRST_BACKOFF: Duration = Duration::from_millis(50);
/// How long the store may keep failing before the room tells its peers (and turns
/// newcomers away) rather than leaving them connected while nothing is relayed.
pub const OUTAGE_GRACE: Duration = Duration::from_secs(2);
/// How long one write may take before the store counts as down (a database that stopped
/// answering makes a write wait for its connection timeout, not fail at once).
pub const STALL_GRACE: Duration = Duration::from_secs(5);

/// What a finished store write was.
#[derive(Debug)]
enum Job {
    Append {
        batch: Vec<NewUpdate>,
        upto: u64,
        mirrored: bool,
    },
    Mirror,
    Compact,
}

/// A finished store write, handed back to the room by [`Persister::finished`].
#[derive(Debug)]
pub struct Done {
    job: Job,
    result: Result<i64, StoreError>,
}

/// The room's side of persistence.
pub struct Persister {
    id: Uuid,
    store: Arc<dyn Store>,
    metrics: Arc<Metrics>,
    pending: Vec<NewUpdate>,
    pending_bytes: usize,
    in_flight: Option<BoxFuture<'static, Done>>,
    in_flight_bytes: usize,
    accepted: u64,
    durable: u64,
    store_seq: i64,
    since_compaction: usize,
    /// Size of the stored snapshot (as of the last compaction started) and of the last
    /// mirror sent: what rewriting the room's row costs.
    snapshot_bytes: usize,
    mirror_bytes: usize,
    mirror_dirty: bool,
    retry_at: Option<Instant>,
    backoff: Duration,
    /// When the current run of failed appends began (a failed mirror or compaction holds
    /// back no edit, so it does not count).
    failing_since: Option<Instant>,
    /// When the append in flight started.
    appending_since: Option<Instant>,
}

impl Persister {
    /// A pipeline for room `id` whose log ends at `store_seq` and holds `log_len` updates
    /// since the last snapshot, which is `snapshot_bytes` long.
    pub fn new(
        id: Uuid,
        store: Arc<dyn Store>,
        metrics: Arc<Metrics>,
        store_seq: i64,
        log_len: usize,
        snapshot_bytes: usize,
    ) -> Self {
        Self {
            id,
            store,
            metrics,
            pending: Vec::new(),
            pending_bytes: 0,
            in_flight: None,
            in_flight_bytes: 0,
            accepted: 0,
            durable: 0,
            store_seq,
            since_compaction: log_len,
            snapshot_bytes,
            // Until the first mirror, count it as large as the snapshot.
            mirror_bytes: snapshot_bytes,
            mirror_dirty: false,
            retry_at: None,
            backoff: FIRST_BACKOFF,
            failing_since: None,
            appending_since: None,
        }
    }

    /// Whether the room should refuse an update of `len` bytes for now.
    pub fn is_full(&self, len: usize) -> bool {
        self.pending_bytes + self.in_flight_bytes + len > MAX_PENDING_BYTES
    }

    /// Queues an accepted update and returns its number.
    pub fn accept(&mut self, update: NewUpdate) -> u64 {
        self.pending_bytes += update.data.len();
        self.pending.push(update);
        self.accepted += 1;
        self.mirror_dirty = true;
        self.accepted
    }

    /// Number of the last accepted update.
    pub fn accepted(&self) -> u64 {
        self.accepted
    }

    /// Number of the last durable update.
    pub fn durable(&self) -> u64 {
        self.durable
    }

    /// Whether anything is waiting for, or being written to, the store.
    pub fn is_busy(&self) -> bool {
        self.in_flight.is_some() || !self.pending.is_empty()
    }

    /// Whether the stored state is behind the document (log not folded, or mirror stale).
    pub fn has_unfolded_changes(&self) -> bool {
        self.since_compaction > 0 || self.mirror_dirty
    }

    /// Whether the mirror is stale.
    pub fn mirror_dirty(&self) -> bool {
        self.mirror_dirty
    }

    /// Whether the log has grown past `threshold` updates since the last snapshot, or past
    /// as many as keep a large snapshot's rewrite within [`SNAPSHOT_BYTES_PER_UPDATE`] per
    /// update, whichever is more.
    pub fn wants_compaction(&self, threshold: usize) -> bool {
        self.since_compaction >= compaction_threshold(threshold, self.snapshot_bytes)
    }

    /// How long after an edit the mirror is due: [`MIRROR_DELAY`], or longer for a room
    /// whose row (snapshot and text) is large, so that mirrors write at most
    /// [`MIRROR_BYTES_PER_SEC`].
    pub fn mirror_delay(&self) -> Duration {
        mirror_delay(self.snapshot_bytes + self.mirror_bytes)
    }

    /// When a failed write may be retried.
    pub fn retry_at(&self) -> Option<Instant> {
        self.retry_at
    }

    /// Whether the store counts as down for this room's edits: it has failed every append
    /// for at least [`OUTAGE_GRACE`], or one append has hung for [`STALL_GRACE`].
    pub fn in_outage(&self, now: Instant) -> bool {
        self.outage_from().is_some_and(|at| at <= now)
    }

    /// When the store will count as down if nothing changes.
    pub fn outage_from(&self) -> Option<Instant> {
        let failing = self.failing_since.map(|since| since + OUTAGE_GRACE);
        let stalled = self.appending_since.map(|since| since + STALL_GRACE);
        failing.into_iter().chain(stalled).min()
    }

    /// Whether a store write is in flight.
    pub fn writing(&self) -> bool {
        self.in_flight.is_some()
    }

    /// Whether a new write may start now.
    pub fn can_start(&self, now: Instant) -> bool {
        self.in_flight.is_none() && self.retry_at.is_none_or(|at| at <= now)
    }

    /// Sends every pending update to the store in one transaction, with the mirror when
    /// it is due (so that continuous typing cannot keep the mirror from being written).
    pub fn start_append(&mut self, mirror: Option<Mirror>) {
        let updates = std::mem::take(&mut self.pending);
        self.in_flight_bytes = std::mem::take(&mut self.pending_bytes);
        let mirrored = mirror.is_some();
        if let Some(mirror) = &mirror {
            self.mirror_dirty = false;
            self.mirror_bytes = mirror.code.len();
        }
        let (store, id, upto) = (self.store.clone(), self.id, self.accepted);
        self.appending_since = Some(Instant::now());
        self.spawn(async move {
            let appends = [RoomUpdates { room: id, updates }];
            let mirrors: Vec<RoomMirror> = mirror
                .into_iter()
                .map(|mirror| RoomMirror { room: id, mirror })
                .collect();
            let result = store
                .commit_many(&appends, &mirrors)
                .await
                .map(|seqs| seqs.first().copied().unwrap_or(0));
            let [RoomUpdates { updates: batch, .. }] = appends;
            Done {
                job: Job::Append {
                    batch,
                    upto,
                    mirrored,
                },
                result,
            }
        });
    }

    /// Writes the plain-text mirror.
    pub fn start_mirror(&mut self, mirror: Mirror) {
        self.mirror_dirty = false;
        self.mirror_bytes = mirror.code.len();
        let (store, id) = (self.store.clone(), self.id);
        self.spawn(async move {
            let result = store.save_mirror(id, &mirror).await.map(|()| 0);
            Done {
                job: Job::Mirror,
                result,
            }
        });
    }

    /// Stores `snapshot` (the whole document) and folds every durable update into it.
    pub fn start_compaction(&mut self, snapshot: Vec<u8>, mirror: Mirror) {
        self.mirror_dirty = false;
        self.snapshot_bytes = snapshot.len();
        self.mirror_bytes = mirror.code.len();
        let (store, id, through_seq) = (self.store.clone(), self.id, self.store_seq);
        self.spawn(async move {
            let result = store
                .compact(id, &snapshot, through_seq, &mirror)
                .await
                .map(|()| 0);
            Done {
                job: Job::Compact,
                result,
            }
        });
    }

    fn spawn(&mut self, write: impl std::future::Future<Output = Done> + Send + 'static) {
        let metrics = self.metrics.clone();
        self.in_flight = Some(
            async move {
                let started = Instant::now();
                let done = write.await;
                metrics
                    .store_write_seconds
                    .observe(started.elapsed().as_secs_f64());
                done
            }
            .boxed(),
        );
    }

    /// Resolves when the write in flight finishes; pending forever when there is none.
    pub async fn finished(&mut self) -> Done {
        match self.in_flight.as_mut() {
            Some(write) => write.await,
            None => std::future::pending().await,
        }
    }

    /// Records the outcome of a finished write. A failed write is retried with backoff.
    pub fn complete(&mut self, done: Done) {
        self.in_flight = None;
        self.in_flight_bytes = 0;
        self.appending_since = None;
        if let Err(error) = &done.result {
            self.metrics.store_errors.inc();
            tracing::error!(room = %short_id(self.id), %error, retry_in = ?self.backoff, "store write failed");
            self.retry_at = Some(Instant::now() + self.backoff);
            self.backoff = (self.backoff * 2).min(MAX_BACKOFF);
            if matches!(done.job, Job::Append { .. }) {
                self.failing_since.get_or_insert_with(Instant::now);
            }
        } else {
            self.retry_at = None;
            self.backoff = FIRST_BACKOFF;
            self.failing_since = None;
        }
        match (done.job, done.result) {
            (Job::Append { batch, upto, .. }, Ok(seq)) => {
                self.metrics.updates_stored.inc_by(batch.len() as u64);
                self.since_compaction += batch.len();
                self.durable = upto;
                self.store_seq = seq.max(self.store_seq);
            }
            (
                Job::Append {
                    mut batch,
                    mirrored,
                    ..
                },
                Err(_),
            ) => {
                self.mirror_dirty |= mirrored;
                // Put the batch back in front of what arrived meanwhile, in order.
                self.pending_bytes += batch.iter().map(|u| u.data.len()).sum::<usize>();
                batch.append(&mut self.pending);
                self.pending = batch;
            }
            // Updates still pending when the snapshot was taken are in it too, and are
            // counted again once stored: that only brings the next compaction forward.
            (Job::Compact, Ok(_)) => self.since_compaction = 0,
            (Job::Mirror | Job::Compact, Err(_)) => self.mirror_dirty = true,
            (Job::Mirror, Ok(_)) => {}
        }
    }
}

/// Updates a room's log may hold before compaction: `threshold`, or more for a snapshot
/// of `snapshot_bytes`.
fn compaction_threshold(threshold: usize, snapshot_bytes: usize) -> usize {
    threshold.max(snapshot_bytes / SNAPSHOT_BYTES_PER_UPDATE)
}

/// How long after an edit a mirror that rewrites `row_bytes` is due.
fn mirror_delay(row_bytes: usize) -> Duration {
    MIRROR_DELAY.max(Duration::from_secs_f64(
        row_bytes as f64 / MIRROR_BYTES_PER_SEC,
    ))
}

/// The first 8 characters of a room id: enough to follow a room in the logs without
/// writing its full (secret) id.
pub fn short_id(id: Uuid) -> String {
    id.simple().to_string()[..8].to_string()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_small_room_mirrors_after_a_second_and_a_large_one_less_often() {
        assert_eq!(mirror_delay(0), MIRROR_DELAY);
        assert_eq!(mirror_delay(40 * 1024), MIRROR_DELAY);
        // A 1 MiB snapshot and 1 MiB of text: at most 64 KiB/s of rewritten rows.
        assert_eq!(mirror_delay(2 << 20), Duration::from_secs(32));
    }

    #[test]
    fn a_large_snapshot_is_folded_after_more_updates() {
        assert_eq!(compaction_threshold(1_000, 0), 1_000);
        assert_eq!(compaction_threshold(1_000, 500 * 1024), 1_000);
        assert_eq!(compaction_threshold(1_000, 8 << 20), 8_192);
        assert_eq!(compaction_threshold(5, 8 << 20), 8_192);
    }
}
