//! The service's metrics, through the `metrics` facade: whichever recorder the binary
//! installs (the Prometheus exporter behind `/metrics`) receives them; with none installed
//! they cost next to nothing.
//!
//! The names, help texts and buckets are declared once, in the `metric-names` crate, which
//! the `http` crate's exporter reads too. Every per-PBX series has a `server` label.
//! Handles are registered once per pipeline and kept, so the event path does no key
//! lookups but for the event-name counter, whose handles are cached too.

use metrics::{Counter, Gauge, Histogram};
use std::collections::HashMap;
use std::time::Duration;

pub use metric_names::{
    ACTIVE_CALLS, CALLS_COMPLETED, CALLS_LOST, CONNECTED, DB_BACKLOG, DB_FAILURES, DB_REJECTED,
    DB_WRITE, DECODE_ERRORS, DURABLE, EVENTS_RECEIVED as EVENTS, INGEST_LAG, INGEST_QUEUE_DEPTH,
    JOURNAL_BYTES, PING_RTT, RECONNECTS, UNKNOWN_HANGUPS,
};

/// Distinct event names counted per PBX; past this, `event="other"`. A peer that invents
/// event names must not be able to grow the metrics without bound.
const MAX_EVENT_NAMES: usize = 256;

/// One pipeline's handles.
pub(crate) struct PipelineMetrics {
    server: String,
    events: HashMap<String, Counter>,
    other_events: Counter,
    decode_errors: Counter,
    reconnects: Counter,
    connected: Gauge,
    ping_rtt: Histogram,
    lag: Gauge,
    queue_depth: Gauge,
    active_calls: Gauge,
    unknown_hangups: Counter,
    completed: HashMap<&'static str, Counter>,
    /// Last values of the client's cumulative counters, to add only the difference.
    seen_decode_errors: u64,
    seen_reconnects: u64,
    seen_rtt: Option<Duration>,
    seen_unknown_hangups: u64,
}

impl PipelineMetrics {
    pub(crate) fn new(server: &str) -> PipelineMetrics {
        let label = || [("server", server.to_string())];
        PipelineMetrics {
            server: server.to_string(),
            events: HashMap::new(),
            other_events: metrics::counter!(EVENTS, "server" => server.to_string(), "event" => "other"),
            decode_errors: metrics::counter!(DECODE_ERRORS, &label()),
            reconnects: metrics::counter!(RECONNECTS, &label()),
            connected: metrics::gauge!(CONNECTED, &label()),
            ping_rtt: metrics::histogram!(PING_RTT, &label()),
            lag: metrics::gauge!(INGEST_LAG, &label()),
            queue_depth: metrics::gauge!(INGEST_QUEUE_DEPTH, &label()),
            active_calls: metrics::gauge!(ACTIVE_CALLS, &label()),
            unknown_hangups: metrics::counter!(UNKNOWN_HANGUPS, &label()),
            completed: HashMap::new(),
            seen_decode_errors: 0,
            seen_reconnects: 0,
            seen_rtt: None,
            seen_unknown_hangups: 0,
        }
    }

    /// One event named `name` was consumed.
    pub(crate) fn event(&mut self, name: &str) {
        if let Some(c) = self.events.get(name) {
            c.increment(1);
            return;
        }
        // Only plain names become labels: anything else a peer sends is "other".
        let plain = !name.is_empty()
            && name.len() <= 64
            && name.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'_');
        if !plain || self.events.len() >= MAX_EVENT_NAMES {
            self.other_events.increment(1);
            return;
        }
        let c =
            metrics::counter!(EVENTS, "server" => self.server.clone(), "event" => name.to_string());
        c.increment(1);
        self.events.insert(name.to_string(), c);
    }

    pub(crate) fn call_completed(&mut self, disposition: &'static str) {
        let server = &self.server;
        self.completed
            .entry(disposition)
            .or_insert_with(|| {
                metrics::counter!(CALLS_COMPLETED, "server" => server.clone(), "disposition" => disposition)
            })
            .increment(1);
    }

    pub(crate) fn connected(&self, up: bool) {
        self.connected.set(if up { 1.0 } else { 0.0 });
    }

    pub(crate) fn active_calls(&self, n: usize) {
        self.active_calls.set(n as f64);
    }

    /// Brings the counter of ignored hangups up to the tracker's cumulative count.
    pub(crate) fn unknown_hangups(&mut self, total: u64) {
        self.unknown_hangups
            .increment(total.saturating_sub(self.seen_unknown_hangups));
        self.seen_unknown_hangups = total;
    }

    /// Brings the gauges and counters fed by the AMI client's counters up to date.
    pub(crate) fn sample(&mut self, stats: &ami::Stats) {
        self.decode_errors
            .increment(stats.decode_errors.saturating_sub(self.seen_decode_errors));
        self.seen_decode_errors = stats.decode_errors;
        self.reconnects
            .increment(stats.reconnects.saturating_sub(self.seen_reconnects));
        self.seen_reconnects = stats.reconnects;
        // One observation per answered ping: the client keeps only the last round trip, so
        // a new value means a new ping (two pings with the same µs round trip count once).
        if stats.last_ping_rtt != self.seen_rtt {
            if let Some(rtt) = stats.last_ping_rtt {
                self.ping_rtt.record(rtt.as_secs_f64());
            }
            self.seen_rtt = stats.last_ping_rtt;
        }
        self.lag
            .set(stats.oldest_queued_age.map_or(0.0, |d| d.as_secs_f64()));
        self.queue_depth.set(stats.queue_depth as f64);
    }

    /// The pipeline stopped: its gauges say so rather than keeping their last values.
    pub(crate) fn stopped(&self) {
        self.connected(false);
        self.active_calls(0);
        self.lag.set(0.0);
        self.queue_depth.set(0.0);
    }
}
