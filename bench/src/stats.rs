//! What a run measures: delivery latency (HDR histogram), counts, and the server
//! process's CPU time and memory from /proc.

use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::Mutex;
use std::time::Instant;

use hdrhistogram::Histogram;

/// Counters shared by every client of a run.
pub struct Stats {
    /// Zero of the marker clock.
    pub epoch: Instant,
    latency: Mutex<Histogram<u64>>,
    /// Edits delivered to a client (one per marker received).
    pub delivered: AtomicU64,
    /// Edits typed.
    pub sent: AtomicU64,
    /// Connections the server closed.
    pub disconnects: AtomicU64,
    /// Bytes of sync step 2 received (document size on join).
    pub join_bytes: AtomicU64,
    /// While set, typing clients skip their keystrokes (so that a server with a backlog
    /// can let the next step's clients join).
    pub paused: AtomicBool,
}

/// Latency figures in milliseconds over a window.
#[derive(Debug, Clone, Copy, Default, serde::Serialize)]
pub struct Window {
    /// Deliveries in the window.
    pub delivered: u64,
    /// Median latency, ms.
    pub p50_ms: f64,
    /// 95th percentile, ms.
    pub p95_ms: f64,
    /// 99th percentile, ms.
    pub p99_ms: f64,
    /// Worst, ms.
    pub max_ms: f64,
}

impl Stats {
    /// Fresh counters.
    pub fn new() -> Self {
        Self {
            epoch: Instant::now(),
            // 1 µs .. 60 s, 3 significant digits.
            latency: Mutex::new(
                Histogram::new_with_bounds(1, 60_000_000, 3).expect("valid bounds"),
            ),
            delivered: AtomicU64::new(0),
            sent: AtomicU64::new(0),
            disconnects: AtomicU64::new(0),
            join_bytes: AtomicU64::new(0),
            paused: AtomicBool::new(false),
        }
    }

    /// Records one delivery that took `micros`.
    pub fn record(&self, micros: u64) {
        self.delivered.fetch_add(1, Ordering::Relaxed);
        let mut h = self
            .latency
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        let _ = h.record(micros.clamp(1, 60_000_000));
    }

    /// Returns the figures since the last call and starts a new window.
    pub fn take_window(&self) -> Window {
        let mut h = self
            .latency
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        let ms = |q: f64| h.value_at_quantile(q) as f64 / 1000.0;
        let window = Window {
            delivered: h.len(),
            p50_ms: ms(0.50),
            p95_ms: ms(0.95),
            p99_ms: ms(0.99),
            max_ms: h.max() as f64 / 1000.0,
        };
        h.reset();
        window
    }
}

impl Default for Stats {
    fn default() -> Self {
        Self::new()
    }
}

/// CPU time (user + system), resident memory and storage writes of a process, read from
/// /proc.
#[derive(Debug, Clone, Copy, Default)]
pub struct ProcSample {
    /// CPU time used so far, µs.
    pub cpu_us: u64,
    /// Resident set size, KiB.
    pub rss_kib: u64,
    /// Bytes the process has caused to be written to storage (`write_bytes` of
    /// `/proc/PID/io`); 0 when that file cannot be read.
    pub write_bytes: u64,
}

/// Reads `/proc/PID/stat`, `/proc/PID/status` and `/proc/PID/io`; zeros when the process
/// is gone.
pub fn sample(pid: u32) -> ProcSample {
    let ticks = std::fs::read_to_string(format!("/proc/{pid}/stat"))
        .ok()
        .and_then(|stat| {
            // Fields after the command name (which may hold spaces) start at ")".
            let rest = stat.rsplit_once(')')?.1;
            let fields: Vec<&str> = rest.split_whitespace().collect();
            let utime: u64 = fields.get(11)?.parse().ok()?;
            let stime: u64 = fields.get(12)?.parse().ok()?;
            Some(utime + stime)
        })
        .unwrap_or(0);
    // The kernel reports CPU in clock ticks of 1/100 s on Linux.
    ProcSample {
        cpu_us: ticks * 10_000,
        rss_kib: proc_field(pid, "status", "VmRSS:"),
        write_bytes: proc_field(pid, "io", "write_bytes:"),
    }
}

/// The number after `key` on its line of `/proc/PID/FILE`; 0 when there is none.
fn proc_field(pid: u32, file: &str, key: &str) -> u64 {
    std::fs::read_to_string(format!("/proc/{pid}/{file}"))
        .ok()
        .and_then(|text| {
            let line = text.lines().find(|l| l.starts_with(key))?;
            line.split_whitespace().nth(1)?.parse().ok()
        })
        .unwrap_or(0)
}
