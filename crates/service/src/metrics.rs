//! The service's metrics, through the `metrics` facade: whichever recorder the binary
//! installs (the Prometheus exporter behind `/metrics`) receives them; with none installed
//! they cost next to nothing.
//!
//! The names are the ones the `http` crate describes and buckets (`http::metrics::names`).
//! Every name starts with `switchboard_`; every per-PBX series has a `server` label.
//! Handles are registered once per pipeline and kept, so the event path does no key
//! lookups but for the event-name counter, whose handles are cached too.

use metrics::{Counter, Gauge, Histogram};
use std::collections::HashMap;
use std::time::Duration;

/// `Event:` messages consumed, by `server` and `event` (the AMI event name).
pub const EVENTS: &str = "switchboard_events_received_total";
/// Sessions closed because the peer sent something the codec refuses.
pub const DECODE_ERRORS: &str = "switchboard_decode_errors_total";
/// Successful logins after the first.
pub const RECONNECTS: &str = "switchboard_reconnects_total";
/// 1 while the session is logged in, else 0.
pub const CONNECTED: &str = "switchboard_connected";
/// Keep-alive `Ping` round trips, in seconds.
pub const PING_RTT: &str = "switchboard_ping_rtt_seconds";
/// Age of the oldest event read from the socket and not consumed yet, in seconds.
pub const INGEST_LAG: &str = "switchboard_ingest_lag_seconds";
/// Events read from the socket but not consumed yet.
pub const INGEST_QUEUE_DEPTH: &str = "switchboard_ingest_queue_depth";
/// Calls in progress.
pub const ACTIVE_CALLS: &str = "switchboard_active_calls";
/// Calls completed, by `server` and `disposition`.
pub const CALLS_COMPLETED: &str = "switchboard_calls_completed_total";
/// Time to write one batch of call records, in seconds.
pub const DB_WRITE: &str = "switchboard_db_write_seconds";
/// Completed calls not yet in the database (memory and journal).
pub const DB_BACKLOG: &str = "switchboard_db_backlog";

/// Distinct event names counted per PBX; past this, `event="other"`. A peer that invents
/// event names must not be able to grow the metrics without bound.
const MAX_EVENT_NAMES: usize = 256;

/// Says what each metric means, for the `# HELP` lines. Call once, after installing the
/// recorder.
pub fn describe() {
    metrics::describe_counter!(EVENTS, "AMI events consumed, by server and event name");
    metrics::describe_counter!(
        DECODE_ERRORS,
        "AMI sessions closed because the peer sent something undecodable"
    );
    metrics::describe_counter!(RECONNECTS, "AMI logins after the first, by server");
    metrics::describe_gauge!(CONNECTED, "1 while the AMI session is logged in");
    metrics::describe_histogram!(
        PING_RTT,
        metrics::Unit::Seconds,
        "AMI keep-alive round trip"
    );
    metrics::describe_gauge!(
        INGEST_LAG,
        metrics::Unit::Seconds,
        "age of the oldest AMI event not yet consumed"
    );
    metrics::describe_gauge!(INGEST_QUEUE_DEPTH, "AMI events read but not yet consumed");
    metrics::describe_gauge!(ACTIVE_CALLS, "calls in progress, by server");
    metrics::describe_counter!(
        CALLS_COMPLETED,
        "calls completed, by server and disposition"
    );
    metrics::describe_histogram!(
        DB_WRITE,
        metrics::Unit::Seconds,
        "call history batch writes"
    );
    metrics::describe_gauge!(DB_BACKLOG, "completed calls waiting for the database");
}

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
    completed: HashMap<&'static str, Counter>,
    /// Last values of the client's cumulative counters, to add only the difference.
    seen_decode_errors: u64,
    seen_reconnects: u64,
    seen_rtt: Option<Duration>,
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
            completed: HashMap::new(),
            seen_decode_errors: 0,
            seen_reconnects: 0,
            seen_rtt: None,
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
