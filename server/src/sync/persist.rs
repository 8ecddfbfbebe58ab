//! A room's write pipeline and its schedule: group commit of accepted updates, the
//! plain-text mirror and compaction, one store write at a time, and when each is due.
//!
//! Updates are numbered as the room accepts them (`accepted`); `durable` is the number of
//! the last one the store has committed. While a write is in flight, newly accepted updates
//! wait in `pending` and go to the store together in the next transaction. The room asks
//! [`Persister::next_write`] what to write, [`Persister::next_deadline`] when to ask again,
//! and [`Persister::settled`] whether it may unload.

use std::sync::Arc;
use std::time::Duration;

use futures_util::future::BoxFuture;
use futures_util::FutureExt;
use tokio::time::Instant;
use uuid::Uuid;

use crate::metrics::Metrics;
use crate::store::{Mirror, NewUpdate, RoomMirror, RoomUpdates, Store, StoreError, StoredDoc};

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

/// How eagerly the room wants its stored state brought up to date.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Pace {
    /// Serving peers: the mirror on its delay, compaction once the log is long.
    Steady,
    /// Unloading or shutting down: everything now, the log folded into a snapshot.
    Flush,
    /// The document is unusable: store the updates already accepted, nothing built from
    /// the document (no mirror, no snapshot).
    Salvage,
}

/// The write a room should start now.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum NextWrite {
    /// Every pending update in one transaction, with the mirror when it is due (so that
    /// continuous typing cannot keep the mirror from being written).
    Updates { with_mirror: bool },
    /// A snapshot of the whole document that folds the log, with the mirror.
    Compaction,
    /// The plain-text mirror alone.
    Mirror,
}

/// What a write in flight carries, handed back with its result.
#[derive(Debug)]
enum Written {
    Updates {
        batch: Vec<NewUpdate>,
        upto: u64,
        with_mirror: bool,
    },
    Mirror,
    Compaction,
}

/// A finished store write, handed back to the room by [`Persister::finished`].
#[derive(Debug)]
pub struct WriteOutcome {
    written: Written,
    result: Result<i64, StoreError>,
}

/// The room's side of persistence.
pub struct Persister {
    id: Uuid,
    store: Arc<dyn Store>,
    metrics: Arc<Metrics>,
    /// Compact after this many stored updates (more for a large snapshot).
    compact_after: usize,
    pending: Vec<NewUpdate>,
    pending_bytes: usize,
    in_flight: Option<BoxFuture<'static, WriteOutcome>>,
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
    /// When the stale mirror is to be written.
    mirror_due: Option<Instant>,
    retry_at: Option<Instant>,
    backoff: Duration,
    /// When the current run of failed appends began (a failed mirror or compaction holds
    /// back no edit, so it does not count).
    failing_since: Option<Instant>,
    /// When the append in flight started.
    appending_since: Option<Instant>,
    /// Whether the room counts in the `rooms_store_down` gauge.
    counted_down: bool,
}

/// Where a room's stored log stands when it loads.
#[derive(Debug, Clone, Copy, Default)]
pub struct StoredLog {
    /// Sequence number of the last stored update.
    pub last_seq: i64,
    /// Updates stored since the snapshot.
    pub len: usize,
    /// Size of the snapshot.
    pub snapshot_bytes: usize,
}

impl StoredLog {
    /// Where `stored`, a room as loaded, stands.
    pub fn of(stored: &StoredDoc) -> Self {
        Self {
            last_seq: stored.last_seq,
            len: stored.updates.len(),
            snapshot_bytes: stored.snapshot.as_ref().map_or(0, Vec::len),
        }
    }
}

/// What a room's writes are built from: its live document.
pub trait Source {
    /// The text, title and language to mirror, as of now.
    fn mirror(&self) -> Mirror;
    /// The whole document as one update, to fold the log into.
    fn snapshot(&mut self) -> Vec<u8>;
}

impl Persister {
    /// A pipeline for room `id` whose stored log is `log`, compacting after
    /// `compact_after` updates.
    pub fn new(
        id: Uuid,
        store: Arc<dyn Store>,
        metrics: Arc<Metrics>,
        compact_after: usize,
        log: StoredLog,
    ) -> Self {
        Self {
            id,
            store,
            metrics,
            compact_after: compact_after.max(1),
            pending: Vec::new(),
            pending_bytes: 0,
            in_flight: None,
            in_flight_bytes: 0,
            accepted: 0,
            durable: 0,
            store_seq: log.last_seq,
            since_compaction: log.len,
            snapshot_bytes: log.snapshot_bytes,
            // Until the first mirror, count it as large as the snapshot.
            mirror_bytes: log.snapshot_bytes,
            mirror_dirty: false,
            mirror_due: None,
            retry_at: None,
            backoff: FIRST_BACKOFF,
            failing_since: None,
            appending_since: None,
            counted_down: false,
        }
    }

    /// Whether the room should refuse an update of `len` bytes for now.
    pub fn is_full(&self, len: usize) -> bool {
        self.pending_bytes + self.in_flight_bytes + len > MAX_PENDING_BYTES
    }

    /// Queues an accepted update and returns its number. The mirror is now stale, due
    /// after [`MIRROR_DELAY`] (longer for a large room) unless it already was.
    pub fn accept(&mut self, update: NewUpdate) -> u64 {
        self.pending_bytes += update.data.len();
        self.pending.push(update);
        self.accepted += 1;
        self.mirror_dirty = true;
        let delay = self.mirror_delay();
        self.mirror_due
            .get_or_insert_with(|| Instant::now() + delay);
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

    /// Brings a stale mirror forward to now (the last person left the room).
    pub fn mirror_soon(&mut self) {
        if self.mirror_dirty {
            self.mirror_due = Some(Instant::now());
        }
    }

    /// Drops everything not yet written, the write in flight included, and writes nothing
    /// more: the document was deleted.
    pub fn abandon(&mut self) {
        self.pending.clear();
        self.pending_bytes = 0;
        self.in_flight = None;
        self.in_flight_bytes = 0;
        self.mirror_dirty = false;
        self.mirror_due = None;
        self.since_compaction = 0;
        self.retry_at = None;
        self.failing_since = None;
        self.appending_since = None;
    }

    /// Whether anything is waiting for, or being written to, the store.
    pub fn is_busy(&self) -> bool {
        self.in_flight.is_some() || !self.pending.is_empty()
    }

    /// Whether the stored state has caught up as far as `pace` asks: every update durable,
    /// and when flushing the log folded and the mirror current. A salvage is over once
    /// the store has failed it (what is left is lost either way; clients resend it).
    pub fn settled(&self, pace: Pace) -> bool {
        match pace {
            Pace::Steady => !self.is_busy(),
            Pace::Flush => !self.is_busy() && !self.has_unfolded_changes(),
            Pace::Salvage => !self.is_busy() || self.retry_at.is_some(),
        }
    }

    /// Whether the stored state is behind the document (log not folded, or mirror stale).
    fn has_unfolded_changes(&self) -> bool {
        self.since_compaction > 0 || self.mirror_dirty
    }

    /// Whether the log has grown past the compaction threshold, or past as many updates
    /// as keep a large snapshot's rewrite within [`SNAPSHOT_BYTES_PER_UPDATE`] per update,
    /// whichever is more.
    fn wants_compaction(&self) -> bool {
        self.since_compaction >= compaction_threshold(self.compact_after, self.snapshot_bytes)
    }

    /// How long after an edit the mirror is due: [`MIRROR_DELAY`], or longer for a room
    /// whose row (snapshot and text) is large, so that mirrors write at most
    /// [`MIRROR_BYTES_PER_SEC`].
    fn mirror_delay(&self) -> Duration {
        mirror_delay(self.snapshot_bytes + self.mirror_bytes)
    }

    /// Whether the store counts as down for this room's edits: it has failed every append
    /// for at least [`OUTAGE_GRACE`], or one append has hung for [`STALL_GRACE`].
    pub fn in_outage(&self, now: Instant) -> bool {
        self.outage_from().is_some_and(|at| at <= now)
    }

    /// As [`Self::in_outage`], and keeps the `rooms_store_down` gauge in step.
    pub fn check_outage(&mut self, now: Instant) -> bool {
        let down = self.in_outage(now);
        if down != self.counted_down {
            self.counted_down = down;
            if down {
                self.metrics.rooms_store_down.inc();
            } else {
                self.metrics.rooms_store_down.dec();
            }
        }
        down
    }

    /// When the store will count as down if nothing changes.
    fn outage_from(&self) -> Option<Instant> {
        let failing = self.failing_since.map(|since| since + OUTAGE_GRACE);
        let stalled = self.appending_since.map(|since| since + STALL_GRACE);
        failing.into_iter().chain(stalled).min()
    }

    /// The next moment the schedule needs the room to call [`Self::next_write`] (or
    /// [`Self::check_outage`], when `watching` for an outage because peers are waiting),
    /// other than the write in flight finishing.
    pub fn next_deadline(&self, pace: Pace, watching: bool) -> Option<Instant> {
        // While a write is in flight its completion wakes the room, and after a failed
        // one the retry time does: a due mirror waits for either. A deadline already past
        // would spin the room until something changes, so a retry time counts only until
        // it comes.
        let idle = self.in_flight.is_none();
        let retry = self.retry_at.filter(|at| idle && *at > Instant::now());
        let mirror = self
            .mirror_due
            .filter(|_| idle && pace != Pace::Salvage)
            .map(|due| retry.map_or(due, |at| due.max(at)));
        let outage = self.outage_from().filter(|_| watching);
        [mirror, retry, outage].into_iter().flatten().min()
    }

    /// The write to start now, if any: updates first (with the mirror when it is due),
    /// then compaction, then the mirror. `None` while a write is in flight or waiting out
    /// a backoff.
    pub fn next_write(&self, now: Instant, pace: Pace) -> Option<NextWrite> {
        if self.in_flight.is_some() || self.retry_at.is_some_and(|at| at > now) {
            return None;
        }
        let mirror_now = self.mirror_dirty
            && match pace {
                Pace::Steady => self.mirror_due.is_some_and(|due| due <= now),
                Pace::Flush => true,
                Pace::Salvage => false,
            };
        if !self.pending.is_empty() {
            return Some(NextWrite::Updates {
                with_mirror: mirror_now,
            });
        }
        let fold_now = match pace {
            Pace::Steady => self.wants_compaction(),
            Pace::Flush => self.wants_compaction() || self.has_unfolded_changes(),
            Pace::Salvage => false,
        };
        if fold_now {
            Some(NextWrite::Compaction)
        } else if mirror_now {
            Some(NextWrite::Mirror)
        } else {
            None
        }
    }

    /// Starts the write the schedule asks for now ([`Self::next_write`]), built from
    /// `source`; returns what it started.
    pub fn start_next(
        &mut self,
        now: Instant,
        pace: Pace,
        source: &mut impl Source,
    ) -> Option<NextWrite> {
        let next = self.next_write(now, pace)?;
        match next {
            NextWrite::Updates { with_mirror } => {
                self.start_updates(with_mirror.then(|| source.mirror()));
            }
            NextWrite::Compaction => {
                let snapshot = source.snapshot();
                self.start_compaction(snapshot, source.mirror());
            }
            NextWrite::Mirror => self.start_mirror(source.mirror()),
        }
        Some(next)
    }

    /// Sends every pending update to the store in one transaction, with `mirror` if given.
    fn start_updates(&mut self, mirror: Option<Mirror>) {
        let updates = std::mem::take(&mut self.pending);
        self.in_flight_bytes = std::mem::take(&mut self.pending_bytes);
        let with_mirror = mirror.is_some();
        if let Some(mirror) = &mirror {
            self.mirror_sent(mirror);
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
            WriteOutcome {
                written: Written::Updates {
                    batch,
                    upto,
                    with_mirror,
                },
                result,
            }
        });
    }

    /// Writes the plain-text mirror.
    fn start_mirror(&mut self, mirror: Mirror) {
        self.mirror_sent(&mirror);
        let (store, id) = (self.store.clone(), self.id);
        self.spawn(async move {
            let result = store.save_mirror(id, &mirror).await.map(|()| 0);
            WriteOutcome {
                written: Written::Mirror,
                result,
            }
        });
    }

    /// Stores `snapshot` (the whole document) and folds every durable update into it.
    fn start_compaction(&mut self, snapshot: Vec<u8>, mirror: Mirror) {
        self.mirror_sent(&mirror);
        self.snapshot_bytes = snapshot.len();
        let (store, id, through_seq) = (self.store.clone(), self.id, self.store_seq);
        self.spawn(async move {
            let result = store
                .compact(id, &snapshot, through_seq, &mirror)
                .await
                .map(|()| 0);
            WriteOutcome {
                written: Written::Compaction,
                result,
            }
        });
    }

    fn mirror_sent(&mut self, mirror: &Mirror) {
        self.mirror_dirty = false;
        self.mirror_due = None;
        self.mirror_bytes = mirror.text.code.len();
    }

    fn spawn(&mut self, write: impl std::future::Future<Output = WriteOutcome> + Send + 'static) {
        let metrics = self.metrics.clone();
        self.in_flight = Some(
            async move {
                let started = Instant::now();
                let outcome = write.await;
                metrics
                    .store_write_seconds
                    .observe(started.elapsed().as_secs_f64());
                outcome
            }
            .boxed(),
        );
    }

    /// Resolves when the write in flight finishes; pending forever when there is none.
    pub async fn finished(&mut self) -> WriteOutcome {
        match self.in_flight.as_mut() {
            Some(write) => write.await,
            None => std::future::pending().await,
        }
    }

    /// Records the outcome of a finished write. A failed write is retried with backoff;
    /// a failed one that carried the mirror leaves it due again on the usual delay.
    /// Returns the updates a successful append stored, with the number of the first in
    /// the document's log (the others follow on, when the store numbers each document's
    /// log on its own).
    pub fn complete(&mut self, outcome: WriteOutcome) -> Option<(i64, Vec<bytes::Bytes>)> {
        let now = Instant::now();
        self.in_flight = None;
        self.in_flight_bytes = 0;
        self.appending_since = None;
        if let Err(error) = &outcome.result {
            self.metrics.store_errors.inc();
            tracing::error!(room = %short_id(self.id), %error, retry_in = ?self.backoff, "store write failed");
            self.retry_at = Some(now + self.backoff);
            self.backoff = (self.backoff * 2).min(MAX_BACKOFF);
            if matches!(outcome.written, Written::Updates { .. }) {
                self.failing_since.get_or_insert(now);
            }
        } else {
            self.retry_at = None;
            self.backoff = FIRST_BACKOFF;
            self.failing_since = None;
        }
        let mut stored = None;
        match (outcome.written, outcome.result) {
            (Written::Updates { batch, upto, .. }, Ok(seq)) => {
                self.metrics.updates_stored.inc_by(batch.len() as u64);
                self.since_compaction += batch.len();
                self.durable = upto;
                self.store_seq = seq.max(self.store_seq);
                let first = seq - batch.len() as i64 + 1;
                stored = Some((first, batch.into_iter().map(|u| u.data).collect()));
            }
            (
                Written::Updates {
                    mut batch,
                    with_mirror,
                    ..
                },
                Err(_),
            ) => {
                self.mirror_dirty |= with_mirror;
                // Put the batch back in front of what arrived meanwhile, in order.
                self.pending_bytes += batch.iter().map(|u| u.data.len()).sum::<usize>();
                batch.append(&mut self.pending);
                self.pending = batch;
            }
            // Updates still pending when the snapshot was taken are in it too, and are
            // counted again once stored: that only brings the next compaction forward.
            (Written::Compaction, Ok(_)) => self.since_compaction = 0,
            (Written::Mirror | Written::Compaction, Err(_)) => self.mirror_dirty = true,
            (Written::Mirror, Ok(_)) => {}
        }
        if self.mirror_dirty {
            self.mirror_due.get_or_insert(now + MIRROR_DELAY);
        }
        stored
    }

    /// `count` updates stored by another server were applied to the document: the
    /// mirror is stale, and the log longer.
    pub fn applied_elsewhere(&mut self, count: usize) {
        self.since_compaction += count;
        self.mirror_dirty = true;
        let delay = self.mirror_delay();
        self.mirror_due
            .get_or_insert_with(|| Instant::now() + delay);
    }

    /// The document holds every update of its log through `seq` (with several servers
    /// appending, not only those this one stored): what a compaction folds.
    pub fn holds_through(&mut self, seq: i64) {
        self.store_seq = seq;
    }
}

impl Drop for Persister {
    fn drop(&mut self) {
        if self.counted_down {
            self.metrics.rooms_store_down.dec();
        }
        if self.is_busy() {
            tracing::error!(room = %short_id(self.id), "room unloaded with unsaved updates; clients resend them on reconnect");
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
    use bytes::Bytes;

    use super::*;
    use crate::store::fake::{FakeStore, Write};

    const MS: Duration = Duration::from_millis(1);

    fn update() -> NewUpdate {
        NewUpdate {
            data: Bytes::from_static(b"update"),
            client_id: None,
            author: None,
            created_at: 0,
        }
    }

    fn mirror() -> Mirror {
        Mirror {
            text: crate::store::RoomText {
                code: "fn main() {}".into(),
                ..Default::default()
            },
            updated_at: 0,
        }
    }

    fn persister(store: &Arc<FakeStore>, compact_after: usize) -> (Persister, Arc<Metrics>) {
        let metrics = Arc::new(Metrics::new());
        let persister = Persister::new(
            Uuid::new_v4(),
            store.clone(),
            metrics.clone(),
            compact_after,
            StoredLog::default(),
        );
        (persister, metrics)
    }

    struct Text;

    impl Source for Text {
        fn mirror(&self) -> Mirror {
            mirror()
        }

        fn snapshot(&mut self) -> Vec<u8> {
            vec![0; 16]
        }
    }

    /// Starts the write the schedule asks for now, as the room does.
    fn start(p: &mut Persister, pace: Pace) -> Option<NextWrite> {
        p.start_next(Instant::now(), pace, &mut Text)
    }

    async fn finish(p: &mut Persister) {
        let outcome = p.finished().await;
        p.complete(outcome);
    }

    #[tokio::test(start_paused = true)]
    async fn updates_go_at_once_and_the_mirror_a_second_after_the_first_edit() {
        let store = Arc::new(FakeStore::default());
        let (mut p, _) = persister(&store, 100);
        let t0 = Instant::now();
        assert_eq!(p.accept(update()), 1);
        assert_eq!(
            start(&mut p, Pace::Steady),
            Some(NextWrite::Updates { with_mirror: false })
        );
        assert_eq!(p.durable(), 0, "durable only once the store answers");
        finish(&mut p).await;
        assert_eq!(p.durable(), 1);
        assert_eq!(p.next_write(Instant::now(), Pace::Steady), None);
        assert_eq!(p.next_deadline(Pace::Steady, false), Some(t0 + 1000 * MS));
        tokio::time::advance(999 * MS).await;
        assert_eq!(p.next_write(Instant::now(), Pace::Steady), None);
        tokio::time::advance(MS).await;
        assert_eq!(start(&mut p, Pace::Steady), Some(NextWrite::Mirror));
        finish(&mut p).await;
        assert_eq!(p.next_deadline(Pace::Steady, false), None);
        assert!(p.settled(Pace::Steady));
        assert!(!p.settled(Pace::Flush), "the log is not folded yet");
    }

    #[tokio::test(start_paused = true)]
    async fn continuous_typing_carries_the_mirror_along_with_the_updates() {
        let store = Arc::new(FakeStore::default());
        let (mut p, _) = persister(&store, 100);
        for _ in 0..12 {
            p.accept(update());
            if let Some(NextWrite::Updates { with_mirror: true }) = start(&mut p, Pace::Steady) {
                finish(&mut p).await;
                assert!(p.settled(Pace::Steady));
                assert_eq!(p.next_deadline(Pace::Steady, false), None);
                return;
            }
            finish(&mut p).await;
            tokio::time::advance(100 * MS).await;
        }
        panic!(
            "the mirror never went with the updates: {:?}",
            store.writes()
        );
    }

    #[tokio::test(start_paused = true)]
    async fn the_log_is_folded_after_the_threshold_and_the_last_person_leaving_brings_the_mirror_forward(
    ) {
        let store = Arc::new(FakeStore::default());
        let (mut p, _) = persister(&store, 3);
        for _ in 0..3 {
            p.accept(update());
            start(&mut p, Pace::Steady);
            finish(&mut p).await;
        }
        assert_eq!(start(&mut p, Pace::Steady), Some(NextWrite::Compaction));
        finish(&mut p).await;
        let (last, ok) = store.writes().pop().unwrap();
        assert!(ok);
        assert!(
            matches!(last, Write::Compact { through_seq: 3, .. }),
            "{last:?}"
        );
        assert!(p.settled(Pace::Flush));
        // The compaction wrote the mirror too.
        assert_eq!(p.next_deadline(Pace::Steady, false), None);

        p.accept(update());
        start(&mut p, Pace::Steady);
        finish(&mut p).await;
        assert_eq!(p.next_write(Instant::now(), Pace::Steady), None);
        p.mirror_soon();
        assert_eq!(
            p.next_write(Instant::now(), Pace::Steady),
            Some(NextWrite::Mirror)
        );
    }

    #[tokio::test(start_paused = true)]
    async fn a_failing_store_is_retried_with_backoff_and_counts_as_down_after_two_seconds() {
        let store = Arc::new(FakeStore::default());
        let (mut p, metrics) = persister(&store, 100);
        store.fail(true);
        let t0 = Instant::now();
        p.accept(update());
        let mut waits = Vec::new();
        while Instant::now() < t0 + OUTAGE_GRACE {
            assert!(!p.check_outage(Instant::now()));
            match start(&mut p, Pace::Steady) {
                Some(NextWrite::Updates { .. }) => finish(&mut p).await,
                other => panic!("expected a retry of the updates, got {other:?}"),
            }
            let retry = p.next_deadline(Pace::Steady, true).unwrap();
            waits.push((retry - Instant::now()).as_millis());
            // One more edit while the store is failing.
            if waits.len() == 2 {
                p.accept(update());
            }
            tokio::time::advance(retry - Instant::now()).await;
        }
        assert_eq!(waits, [50, 100, 200, 400, 800, 450]);
        assert!(p.check_outage(Instant::now()));
        assert_eq!(metrics.rooms_store_down.get(), 1);
        assert_eq!(p.durable(), 0);

        store.fail(false);
        assert_eq!(
            p.next_write(Instant::now(), Pace::Steady),
            None,
            "backing off"
        );
        let retry = p.next_deadline(Pace::Steady, false).unwrap();
        assert_eq!(retry - t0, 3150 * MS);
        tokio::time::advance(retry - Instant::now()).await;
        assert!(start(&mut p, Pace::Steady).is_some());
        finish(&mut p).await;
        assert_eq!(p.durable(), 2);
        assert!(!p.check_outage(Instant::now()));
        assert_eq!(metrics.rooms_store_down.get(), 0);
        // Both updates, in one append, after the failed ones.
        let writes = store.writes();
        assert_eq!(writes.iter().filter(|(_, ok)| *ok).count(), 1);
        let (Write::Commit { appends, .. }, true) = writes.last().unwrap() else {
            panic!("{writes:?}")
        };
        assert_eq!(appends[0].1, 2);
    }

    #[tokio::test(start_paused = true)]
    async fn no_deadline_is_ever_in_the_past() {
        let store = Arc::new(FakeStore::default());
        let (mut p, _) = persister(&store, 100);
        let t0 = Instant::now();
        // A mirror write fails: it is due again in a second, and may be retried sooner.
        p.accept(update());
        start(&mut p, Pace::Steady);
        finish(&mut p).await;
        p.mirror_soon();
        store.fail(true);
        assert_eq!(start(&mut p, Pace::Steady), Some(NextWrite::Mirror));
        finish(&mut p).await;
        let mut wakes = Vec::new();
        while let Some(at) = p.next_deadline(Pace::Steady, false) {
            assert!(at > Instant::now(), "a deadline in the past spins the room");
            tokio::time::advance(at - Instant::now()).await;
            wakes.push((Instant::now() - t0).as_millis());
            if start(&mut p, Pace::Steady).is_some() {
                break;
            }
        }
        assert_eq!(wakes, [50, 1000], "the retry time, then the mirror's");
        // While the retried write is in flight, only its completion wakes the room.
        assert_eq!(p.next_deadline(Pace::Steady, false), None);
    }

    #[tokio::test(start_paused = true)]
    async fn a_write_that_hangs_counts_as_an_outage_after_five_seconds() {
        let store = Arc::new(FakeStore::default());
        let (mut p, metrics) = persister(&store, 100);
        let door = store.door.lock().await;
        let t0 = Instant::now();
        p.accept(update());
        start(&mut p, Pace::Steady);
        assert_eq!(p.next_deadline(Pace::Steady, false), None);
        assert_eq!(p.next_deadline(Pace::Steady, true), Some(t0 + 5000 * MS));
        tokio::time::advance(4999 * MS).await;
        assert!(!p.check_outage(Instant::now()));
        tokio::time::advance(MS).await;
        assert!(p.check_outage(Instant::now()));
        drop(door);
        finish(&mut p).await;
        assert!(!p.check_outage(Instant::now()));
        assert_eq!(metrics.rooms_store_down.get(), 0);
        assert_eq!(p.durable(), 1);
    }

    #[tokio::test(start_paused = true)]
    async fn unloading_folds_the_log_and_writes_the_mirror_without_waiting() {
        let store = Arc::new(FakeStore::default());
        let (mut p, _) = persister(&store, 100);
        p.accept(update());
        assert_eq!(
            start(&mut p, Pace::Flush),
            Some(NextWrite::Updates { with_mirror: true })
        );
        finish(&mut p).await;
        assert!(!p.settled(Pace::Flush));
        assert_eq!(start(&mut p, Pace::Flush), Some(NextWrite::Compaction));
        finish(&mut p).await;
        assert!(p.settled(Pace::Flush));
        assert_eq!(p.next_write(Instant::now(), Pace::Flush), None);
    }

    #[tokio::test(start_paused = true)]
    async fn a_salvage_stores_the_updates_and_nothing_built_from_the_document() {
        let store = Arc::new(FakeStore::default());
        let (mut p, metrics) = persister(&store, 1);
        p.accept(update());
        assert!(!p.settled(Pace::Salvage));
        assert_eq!(
            start(&mut p, Pace::Salvage),
            Some(NextWrite::Updates { with_mirror: false })
        );
        finish(&mut p).await;
        assert!(p.settled(Pace::Salvage));
        assert_eq!(p.next_write(Instant::now(), Pace::Salvage), None);
        assert_eq!(p.next_deadline(Pace::Salvage, false), None);

        // A salvage the store refuses ends too: there is nothing else to try.
        store.fail(true);
        p.accept(update());
        start(&mut p, Pace::Salvage);
        finish(&mut p).await;
        assert!(p.settled(Pace::Salvage));
        tokio::time::advance(OUTAGE_GRACE).await;
        assert!(p.check_outage(Instant::now()));
        drop(p);
        assert_eq!(metrics.rooms_store_down.get(), 0, "dropped with the room");
    }

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
