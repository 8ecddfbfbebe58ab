//! The benchmark scenarios. Each prints one JSON object per measurement (a row) so that
//! `report` can put the servers side by side.

use std::sync::atomic::Ordering;
use std::sync::Arc;
use std::time::{Duration, Instant};

use futures_util::stream::{self, StreamExt};
use serde::Serialize;

use crate::client::{Client, Target};
use crate::stats::{sample, Stats, Window};

/// Connections opened at once while ramping up.
const CONNECT_CONCURRENCY: usize = 64;
/// Edits per second per typing client.
pub const EDITS_PER_SEC: f64 = 5.0;
/// Latency bound for "sustained".
pub const P99_BOUND_MS: f64 = 50.0;

/// The server under test.
pub struct Server {
    /// Label in the results (`pairpad`, `y-websocket`, `hocuspocus`, …).
    pub name: String,
    /// How clients connect.
    pub target: Target,
    /// REST base to create rooms (Pairpad refuses unknown rooms); `None`: any name works.
    pub rooms_api: Option<String>,
    /// Process to read CPU and memory from.
    pub pid: u32,
    /// A second instance sharing the first one's rooms (scale-out).
    pub second: Option<Target>,
    /// Other processes whose CPU counts with the server's (the second instance, Redis).
    pub also_pids: Vec<u32>,
}

impl Server {
    /// CPU time of the server and the processes that count with it, µs.
    fn cpu_us(&self) -> u64 {
        std::iter::once(self.pid)
            .chain(self.also_pids.iter().copied())
            .map(|pid| sample(pid).cpu_us)
            .sum()
    }
}

/// One measurement.
#[derive(Debug, Serialize)]
pub struct Row {
    server: String,
    scenario: &'static str,
    /// What was varied: connections, target deliveries/s, …
    x: f64,
    clients: usize,
    #[serde(flatten)]
    window: Window,
    deliveries_per_sec: f64,
    cpu_us_per_delivery: Option<f64>,
    /// Percent of one core the load generator itself used in the window: near 100, the
    /// generator and not the server may be what limits the rate.
    loadgen_core_percent: Option<f64>,
    rss_kib: u64,
    rss_bytes_per_connection: Option<f64>,
    seconds: f64,
    errors: u64,
    /// Bytes the server wrote to storage per edit typed in the window (large document).
    #[serde(skip_serializing_if = "Option::is_none")]
    written_per_edit: Option<f64>,
    /// Rooms the server still holds in memory (Pairpad's `/metrics`), after a churn soak.
    #[serde(skip_serializing_if = "Option::is_none")]
    rooms_loaded: Option<f64>,
}

impl Row {
    fn new(server: &Server, scenario: &'static str, x: f64, clients: usize) -> Self {
        Self {
            server: server.name.clone(),
            scenario,
            x,
            clients,
            window: Window::default(),
            deliveries_per_sec: 0.0,
            cpu_us_per_delivery: None,
            loadgen_core_percent: None,
            rss_kib: sample(server.pid).rss_kib,
            rss_bytes_per_connection: None,
            seconds: 0.0,
            errors: 0,
            written_per_edit: None,
            rooms_loaded: None,
        }
    }

    fn emit(&self) {
        match serde_json::to_string(self) {
            Ok(line) => println!("{line}"),
            Err(error) => eprintln!("cannot encode a result: {error}"),
        }
    }
}

/// A room name the server accepts.
async fn new_room(server: &Server) -> anyhow::Result<String> {
    let Some(api) = &server.rooms_api else {
        static NEXT: std::sync::atomic::AtomicU64 = std::sync::atomic::AtomicU64::new(0);
        return Ok(format!(
            "bench-{}-{}",
            std::process::id(),
            NEXT.fetch_add(1, Ordering::Relaxed)
        ));
    };
    #[derive(serde::Deserialize)]
    #[serde(rename_all = "camelCase")]
    struct Created {
        room_id: String,
    }
    let created: Created = reqwest::Client::new()
        .post(format!("{api}/api/rooms"))
        .json(&serde_json::json!({}))
        .send()
        .await?
        .error_for_status()?
        .json()
        .await?;
    Ok(created.room_id)
}

/// Opens `sizes.len()` rooms with `sizes[i]` clients each; typing clients type at
/// `EDITS_PER_SEC` when `typing` says so for (room, member).
async fn open_rooms(
    server: &Server,
    stats: &Arc<Stats>,
    sizes: &[usize],
    typing: impl Fn(usize, usize) -> bool,
) -> (Vec<Client>, u64) {
    let mut plan = Vec::new();
    for &size in sizes {
        match new_room(server).await {
            Ok(room) => plan.extend((0..size).map(|member| (room.clone(), member))),
            Err(error) => eprintln!("cannot create a room: {error:#}"),
        }
    }
    let plan = plan.into_iter().enumerate().map(|(i, (room, member))| {
        let rate = if typing(i, member) {
            EDITS_PER_SEC
        } else {
            0.0
        };
        (room, &server.target, rate)
    });
    connect_all(stats, plan).await
}

/// Connects every `(room, target, edits per second)` of `plan`, a few at a time; the
/// clients and how many failed.
async fn connect_all<'a>(
    stats: &Arc<Stats>,
    plan: impl Iterator<Item = (String, &'a Target, f64)>,
) -> (Vec<Client>, u64) {
    let results: Vec<_> = stream::iter(plan)
        .map(|(room, target, rate)| {
            let stats = stats.clone();
            async move { Client::connect(target, &room, stats, rate).await }
        })
        .buffer_unordered(CONNECT_CONCURRENCY)
        .collect()
        .await;
    let mut errors = 0;
    let mut clients = Vec::new();
    for result in results {
        match result {
            Ok(client) => clients.push(client),
            Err(error) => {
                if errors == 0 {
                    eprintln!("connect failed: {error:#}");
                }
                errors += 1;
            }
        }
    }
    (clients, errors)
}

/// Closes every client at once (each gives up after five seconds).
async fn close_all(clients: Vec<Client>) {
    futures_util::future::join_all(clients.into_iter().map(Client::close)).await;
}

/// Measures for `seconds` after a warm-up; fills latency, rate and CPU.
async fn measure(server: &Server, stats: &Stats, row: &mut Row, seconds: f64) {
    tokio::time::sleep(Duration::from_secs(2)).await;
    stats.take_window();
    let cpu_before = server.cpu_us();
    let ours_before = sample(std::process::id());
    let start = Instant::now();
    tokio::time::sleep(Duration::from_secs_f64(seconds)).await;
    let window = stats.take_window();
    let elapsed = start.elapsed().as_secs_f64();
    let after = sample(server.pid);
    let cpu_after = server.cpu_us();
    let ours_after = sample(std::process::id());
    row.loadgen_core_percent =
        Some(ours_after.cpu_us.saturating_sub(ours_before.cpu_us) as f64 / 1e4 / elapsed);
    row.deliveries_per_sec = window.delivered as f64 / elapsed;
    row.cpu_us_per_delivery = (window.delivered > 0)
        .then(|| cpu_after.saturating_sub(cpu_before) as f64 / window.delivered as f64);
    row.window = window;
    row.rss_kib = after.rss_kib;
    row.seconds = elapsed;
}

/// How long the idle scenario waits between steps.
const IDLE_SETTLE: Duration = Duration::from_secs(6);

/// 1. Idle connections in rooms of 2: memory per connection.
pub async fn idle(server: &Server, counts: &[usize]) {
    // One baseline, before any connection: memory a step frees but keeps for reuse would
    // otherwise hide the next step's growth.
    tokio::time::sleep(Duration::from_secs(1)).await;
    let base = sample(server.pid).rss_kib;
    for (step, &count) in counts.iter().enumerate() {
        if step > 0 {
            // Let the last step's rooms go (the script starts Pairpad with a 5 s room
            // idle time) so that they are not counted against this step's connections.
            tokio::time::sleep(IDLE_SETTLE).await;
        }
        let stats = Arc::new(Stats::new());
        let started = Instant::now();
        let (clients, errors) = open_rooms(server, &stats, &vec![2; count / 2], |_, _| false).await;
        tokio::time::sleep(Duration::from_secs(2)).await;
        let mut row = Row::new(server, "idle", count as f64, clients.len());
        row.errors = errors;
        row.seconds = started.elapsed().as_secs_f64();
        if !clients.is_empty() {
            let grown = row.rss_kib.saturating_sub(base) as f64 * 1024.0;
            row.rss_bytes_per_connection = Some(grown / clients.len() as f64);
        }
        row.emit();
        close_all(clients).await;
    }
}

/// 2 and 3. Steady typing in rooms of 2–4, stepping the delivery rate up until the
/// server no longer keeps p99 under the bound or stops keeping up.
pub async fn steady(server: &Server, targets: &[f64], seconds: f64) {
    let stats = Arc::new(Stats::new());
    let mut clients = Vec::new();
    let mut sizes_open = Vec::new();
    let mut misses = 0;
    for &target in targets {
        // Rooms of 2, 3, 4 in turn deliver 10, 30, 60 edits/s: add rooms until the
        // planned rate reaches the target.
        let mut planned: f64 = sizes_open
            .iter()
            .map(|&k: &usize| (k * (k - 1)) as f64 * EDITS_PER_SEC)
            .sum();
        let mut add = Vec::new();
        while planned < target {
            let k = 2 + (sizes_open.len() + add.len()) % 3;
            planned += (k * (k - 1)) as f64 * EDITS_PER_SEC;
            add.push(k);
        }
        // Typing pauses while the step's new clients join, then resumes; `measure` warms
        // up before it starts counting.
        stats.paused.store(true, Ordering::Relaxed);
        let (mut more, errors) = open_rooms(server, &stats, &add, |_, _| true).await;
        stats.paused.store(false, Ordering::Relaxed);
        clients.append(&mut more);
        sizes_open.extend(add);
        let mut row = Row::new(server, "steady", target, clients.len());
        row.errors = errors + stats.disconnects.swap(0, Ordering::Relaxed);
        measure(server, &stats, &mut row, seconds).await;
        row.emit();
        // A server that no longer delivers the target rate only falls further behind at
        // the next step (and new clients wait behind its backlog to join): stop there.
        // One that keeps up but misses the latency bound gets one more step.
        let kept_up = row.deliveries_per_sec >= 0.9 * target;
        if !kept_up {
            break;
        }
        if row.window.p99_ms > P99_BOUND_MS {
            misses += 1;
            if misses >= 2 {
                break;
            }
        }
    }
    close_all(clients).await;
}

/// 4. One big room: 200 people, 10 of them typing.
pub async fn big_room(server: &Server, people: usize, typists: usize, seconds: f64) {
    let stats = Arc::new(Stats::new());
    let (clients, errors) = open_rooms(server, &stats, &[people], |i, _| i < typists).await;
    let mut row = Row::new(server, "big-room", people as f64, clients.len());
    row.errors = errors;
    measure(server, &stats, &mut row, seconds).await;
    row.emit();
    close_all(clients).await;
}

/// Scenario 5, cold join: a document built from `updates` small edits; time for a
/// newcomer to receive the full state (median of 5 joins).
pub async fn cold_join(server: &Server, updates: usize) {
    let room = match new_room(server).await {
        Ok(room) => room,
        Err(error) => return eprintln!("cold join: {error:#}"),
    };
    let stats = Arc::new(Stats::new());
    let observer = Client::connect(&server.target, &room, stats.clone(), 0.0).await;
    let writer = crate::client::Writer::connect(&server.target, &room).await;
    let (Ok(observer), Ok(mut writer)) = (observer, writer) else {
        return eprintln!("cold join: cannot connect");
    };
    let build = Instant::now();
    // A server gets ten minutes to build the document; one that is slower is measured
    // on what it has built by then.
    let deadline = build + Duration::from_secs(600);
    let writing = writer.write_updates(updates, &stats);
    if let Ok(Err(error)) = tokio::time::timeout_at(deadline.into(), writing).await {
        return eprintln!("cold join: writing failed: {error:#}");
    }
    // The observer has every edit once the server has applied them all.
    while stats.delivered.load(Ordering::Relaxed) < updates as u64 && Instant::now() < deadline {
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    let built_in = build.elapsed().as_secs_f64();
    let mut joins = Vec::new();
    for _ in 0..5 {
        let probe_stats = Arc::new(Stats::new());
        let start = Instant::now();
        match Client::connect(&server.target, &room, probe_stats.clone(), 0.0).await {
            Ok(probe) => {
                joins.push(start.elapsed().as_secs_f64() * 1000.0);
                stats.join_bytes.store(
                    probe_stats.join_bytes.load(Ordering::Relaxed),
                    Ordering::Relaxed,
                );
                probe.close().await;
            }
            Err(error) => eprintln!("cold join probe: {error:#}"),
        }
    }
    joins.sort_by(f64::total_cmp);
    let mut row = Row::new(server, "cold-join", updates as f64, 1);
    row.window.p50_ms = joins.get(joins.len() / 2).copied().unwrap_or(f64::NAN);
    row.window.max_ms = joins.last().copied().unwrap_or(f64::NAN);
    // `delivered` tells how far a server that ran out of time got.
    row.window.delivered = stats.delivered.load(Ordering::Relaxed);
    row.seconds = built_in;
    row.deliveries_per_sec = row.window.delivered as f64 / built_in;
    row.errors = (5 - joins.len()) as u64;
    row.emit();
    observer.close().await;
    writer.close().await;
}

/// Large document: two people type (5 edits/s each) into a document of `kib` KiB of text;
/// what the server writes to storage per edit, and the latency.
pub async fn large_doc(server: &Server, kib: usize, seconds: f64) {
    let room = match new_room(server).await {
        Ok(room) => room,
        Err(error) => return eprintln!("large document: {error:#}"),
    };
    match crate::client::Writer::connect(&server.target, &room).await {
        Ok(mut writer) => {
            if let Err(error) = writer.write_text(kib * 1024).await {
                return eprintln!("large document: writing failed: {error:#}");
            }
            writer.close().await;
        }
        Err(error) => return eprintln!("large document: cannot connect: {error:#}"),
    }
    let stats = Arc::new(Stats::new());
    let mut clients = Vec::new();
    let mut errors = 0;
    for _ in 0..2 {
        // A typist's join returns once it holds the whole document.
        match Client::connect(&server.target, &room, stats.clone(), EDITS_PER_SEC).await {
            Ok(client) => clients.push(client),
            Err(error) => {
                eprintln!("large document: {error:#}");
                errors += 1;
            }
        }
    }
    let mut row = Row::new(server, "large-doc", kib as f64, clients.len());
    row.errors = errors;
    let written_before = sample(server.pid).write_bytes;
    let sent_before = stats.sent.load(Ordering::Relaxed);
    measure(server, &stats, &mut row, seconds).await;
    let written = sample(server.pid)
        .write_bytes
        .saturating_sub(written_before);
    let sent = stats.sent.load(Ordering::Relaxed) - sent_before;
    row.written_per_edit = (sent > 0).then(|| written as f64 / sent as f64);
    row.emit();
    close_all(clients).await;
}

/// Scale-out: `rooms` rooms of 2, both typing; first both people of every room on the
/// first instance, then one on each instance (every edit crosses Redis). The second row's
/// latency and CPU per delivery against the first's are what the hop costs.
pub async fn scale_out(server: &Server, rooms: usize, seconds: f64) {
    let Some(second) = &server.second else {
        return eprintln!("scale-out needs a second instance (--ws2)");
    };
    for spans in [1usize, 2] {
        let stats = Arc::new(Stats::new());
        let mut plan = Vec::new();
        for _ in 0..rooms {
            match new_room(server).await {
                Ok(room) => {
                    let other = if spans == 2 { second } else { &server.target };
                    plan.push((room.clone(), &server.target, EDITS_PER_SEC));
                    plan.push((room, other, EDITS_PER_SEC));
                }
                Err(error) => eprintln!("cannot create a room: {error:#}"),
            }
        }
        let (clients, errors) = connect_all(&stats, plan.into_iter()).await;
        let mut row = Row::new(server, "scale-out", spans as f64, clients.len());
        row.errors = errors;
        measure(server, &stats, &mut row, seconds).await;
        row.errors += stats.disconnects.swap(0, Ordering::Relaxed);
        row.emit();
        close_all(clients).await;
    }
}

/// 6. Durable writes: a fixed moderate load; compare latency between stores.
pub async fn durable(server: &Server, rooms: usize, seconds: f64) {
    let stats = Arc::new(Stats::new());
    let (clients, errors) = open_rooms(server, &stats, &vec![2; rooms], |_, _| true).await;
    let mut row = Row::new(server, "durable", rooms as f64, clients.len());
    row.errors = errors;
    let sent_before = stats.sent.load(Ordering::Relaxed);
    measure(server, &stats, &mut row, seconds).await;
    // Updates accepted per second (each is durable before anyone sees it on Pairpad).
    row.x = (stats.sent.load(Ordering::Relaxed) - sent_before) as f64 / (row.seconds + 2.0);
    row.emit();
    close_all(clients).await;
}

/// Scenario 7, churn: rooms of 2 join, type for two seconds and leave, for `seconds`;
/// then memory must come back to where it started. The baseline is taken after a short
/// warm-up of the same churn and a settle, so that caches and allocator pools that fill
/// once (SQLite's page cache, the runtime's) are not counted as growth.
pub async fn churn(server: &Server, seconds: f64, settle: Duration) {
    let stats = Arc::new(Stats::new());
    let cold = sample(server.pid).rss_kib;
    let warm_up = (seconds / 6.0).min(10.0);
    let mut errors = churn_waves(server, &stats, warm_up).await;
    tokio::time::sleep(settle).await;
    let base = sample(server.pid).rss_kib;
    stats.take_window();
    errors += churn_waves(server, &stats, seconds).await;
    let peak = sample(server.pid).rss_kib;
    tokio::time::sleep(settle).await;
    let mut row = Row::new(server, "churn", seconds, 0);
    row.window = stats.take_window();
    row.errors = errors;
    row.seconds = seconds;
    row.rss_bytes_per_connection = Some(row.rss_kib as f64 * 1024.0);
    eprintln!(
        "{}: churn RSS {cold} KiB cold, {base} KiB after warm-up, {peak} KiB at the end, {} KiB after settling",
        server.name, row.rss_kib
    );
    row.x = base as f64;
    row.rooms_loaded = rooms_loaded(server).await;
    row.emit();
}

/// Waves of five rooms of 2 join every 200 ms, type for two seconds and leave; returns
/// the failed connections.
async fn churn_waves(server: &Server, stats: &Arc<Stats>, seconds: f64) -> u64 {
    let start = Instant::now();
    let mut waves = tokio::task::JoinSet::new();
    let mut errors = 0;
    while start.elapsed().as_secs_f64() < seconds {
        let (clients, failed) = open_rooms(server, stats, &[2, 2, 2, 2, 2], |_, _| true).await;
        errors += failed;
        waves.spawn(async move {
            tokio::time::sleep(Duration::from_secs(2)).await;
            close_all(clients).await;
        });
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    while waves.join_next().await.is_some() {}
    errors
}

/// `pairpad_rooms_loaded` from the server's metrics, when it has a Pairpad API.
async fn rooms_loaded(server: &Server) -> Option<f64> {
    let api = server.rooms_api.as_ref()?;
    let text = reqwest::get(format!("{api}/metrics"))
        .await
        .ok()?
        .text()
        .await
        .ok()?;
    text.lines()
        .find_map(|line| line.strip_prefix("pairpad_rooms_loaded "))
        .and_then(|value| value.trim().parse().ok())
}

/// 8. Reconnect storm: `count` clients drop at once and reconnect at once.
pub async fn reconnect_storm(server: &Server, count: usize) {
    let stats = Arc::new(Stats::new());
    let mut rooms = Vec::new();
    for _ in 0..count / 2 {
        match new_room(server).await {
            Ok(room) => rooms.push(room),
            Err(error) => return eprintln!("reconnect storm: {error:#}"),
        }
    }
    let connect_all = |stats: Arc<Stats>| {
        let rooms = rooms.clone();
        async move {
            let results: Vec<_> = stream::iter(rooms.iter().flat_map(|r| [r.clone(), r.clone()]))
                .map(|room| {
                    let stats = stats.clone();
                    async move { Client::connect(&server.target, &room, stats, 0.0).await }
                })
                .buffer_unordered(count)
                .collect()
                .await;
            results
        }
    };
    let first: Vec<Client> = connect_all(stats.clone())
        .await
        .into_iter()
        .flatten()
        .collect();
    drop(first); // every socket goes at once
    let start = Instant::now();
    let again = connect_all(stats.clone()).await;
    let elapsed = start.elapsed().as_secs_f64();
    let errors = again.iter().filter(|r| r.is_err()).count() as u64;
    let mut row = Row::new(
        server,
        "reconnect-storm",
        count as f64,
        count - errors as usize,
    );
    row.seconds = elapsed;
    row.errors = errors;
    row.emit();
    close_all(again.into_iter().flatten().collect()).await;
}
