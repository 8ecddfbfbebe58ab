//! Prometheus metrics. One registry per server instance, so that several servers in one
//! process (tests, the desktop app) never mix their figures.

use prometheus_client::encoding::text::encode;
use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::gauge::Gauge;
use prometheus_client::metrics::histogram::{exponential_buckets, Histogram};
use prometheus_client::registry::Registry;

/// Every metric the server exports.
#[derive(Debug)]
pub struct Metrics {
    registry: Registry,
    /// Rooms whose document is in memory.
    pub rooms_loaded: Gauge,
    /// Open WebSocket connections.
    pub connections: Gauge,
    /// WebSocket messages received from clients.
    pub messages_in: Counter,
    /// WebSocket messages queued to clients.
    pub messages_out: Counter,
    /// Document updates made durable.
    pub updates_stored: Counter,
    /// Connections dropped because their outbound queue was full.
    pub slow_peers_dropped: Counter,
    /// Connections closed for sending a malformed, text or oversized frame.
    pub bad_frames: Counter,
    /// Failed store writes (each is retried).
    pub store_errors: Counter,
    /// Latency of store writes (append batches, mirrors, compactions), in seconds.
    pub store_write_seconds: Histogram,
    /// Rooms whose writes have failed (or hung) long enough that they turn peers away;
    /// `/ready` answers 503 while any is.
    pub rooms_store_down: Gauge,
    /// With `--redis-url`: whether this server reaches Redis now (1) or not (0).
    pub redis_up: Gauge,
    /// Updates published to the other servers through Redis.
    pub cluster_published: Counter,
    /// Updates other servers published that this one received.
    pub cluster_received: Counter,
    /// Updates this server fetched from the store because Redis had not brought them (a
    /// gap in a document's numbers, Redis down or restarted).
    pub cluster_healed: Counter,
    /// Messages to the other servers dropped (Redis down, or the queue to it full).
    pub cluster_dropped: Counter,
    /// Round trip to Redis (PING), in seconds.
    pub redis_latency_seconds: Histogram,
}

impl Metrics {
    /// Creates the metrics and registers them under the `pairpad_` prefix.
    pub fn new() -> Self {
        let mut registry = Registry::with_prefix("pairpad");
        let metrics = Self {
            rooms_loaded: Gauge::default(),
            connections: Gauge::default(),
            messages_in: Counter::default(),
            messages_out: Counter::default(),
            updates_stored: Counter::default(),
            slow_peers_dropped: Counter::default(),
            bad_frames: Counter::default(),
            store_errors: Counter::default(),
            store_write_seconds: Histogram::new(exponential_buckets(0.000_25, 2.0, 16)),
            rooms_store_down: Gauge::default(),
            redis_up: Gauge::default(),
            cluster_published: Counter::default(),
            cluster_received: Counter::default(),
            cluster_healed: Counter::default(),
            cluster_dropped: Counter::default(),
            redis_latency_seconds: Histogram::new(exponential_buckets(0.000_05, 2.0, 16)),
            registry: Registry::default(),
        };
        let m = &metrics;
        let gauges = [
            ("rooms_loaded", "Rooms loaded in memory", &m.rooms_loaded),
            ("connections", "Open WebSocket connections", &m.connections),
            (
                "rooms_store_down",
                "Rooms that cannot write and turn peers away",
                &m.rooms_store_down,
            ),
            (
                "redis_up",
                "Whether Redis is reachable (1) or not (0)",
                &m.redis_up,
            ),
        ];
        for (name, help, gauge) in gauges {
            registry.register(name, help, gauge.clone());
        }
        let counters = [
            ("messages_in", "WebSocket messages received", &m.messages_in),
            ("messages_out", "WebSocket messages sent", &m.messages_out),
            ("updates_stored", "Updates made durable", &m.updates_stored),
            (
                "slow_peers_dropped",
                "Connections dropped for not keeping up",
                &m.slow_peers_dropped,
            ),
            (
                "bad_frames",
                "Connections closed for bad frames",
                &m.bad_frames,
            ),
            ("store_errors", "Failed store writes", &m.store_errors),
            (
                "cluster_published_updates",
                "Updates published to the other servers",
                &m.cluster_published,
            ),
            (
                "cluster_received_updates",
                "Updates received from the other servers",
                &m.cluster_received,
            ),
            (
                "cluster_healed_updates",
                "Updates fetched from the store to fill a gap",
                &m.cluster_healed,
            ),
            (
                "cluster_dropped_messages",
                "Messages to the other servers dropped",
                &m.cluster_dropped,
            ),
        ];
        for (name, help, counter) in counters {
            registry.register(name, help, counter.clone());
        }
        registry.register(
            "store_write_seconds",
            "Latency of store writes",
            m.store_write_seconds.clone(),
        );
        registry.register(
            "redis_latency_seconds",
            "Round trip to Redis",
            m.redis_latency_seconds.clone(),
        );
        Self {
            registry,
            ..metrics
        }
    }

    /// Renders every metric in the Prometheus text format.
    pub fn render(&self) -> String {
        let mut out = String::new();
        // Writing into a String cannot fail.
        let _ = encode(&mut out, &self.registry);
        out
    }
}

impl Default for Metrics {
    fn default() -> Self {
        Self::new()
    }
}
