//! Every metric switchboard exports, declared once: its name, type, labels, help text and
//! histogram buckets.
//!
//! Two crates need them: `service`, which records (through the `metrics` facade), and
//! `http`, which installs the Prometheus exporter and serves `/metrics`. Each used to carry
//! its own list, with different help texts; this crate, which depends on nothing but the
//! facade, is the one place. Every name starts with `switchboard_`; per-PBX series carry a
//! `server` label.

/// What kind of series a metric is.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Kind {
    Counter,
    Gauge,
    Histogram,
}

/// One metric's declaration.
#[derive(Debug)]
pub struct Metric {
    pub name: &'static str,
    pub kind: Kind,
    pub labels: &'static [&'static str],
    /// The `# HELP` line.
    pub help: &'static str,
    /// Seconds, for the metrics that measure time.
    pub seconds: bool,
    /// Histogram bucket bounds; empty for other kinds.
    pub buckets: &'static [f64],
}

pub const EVENTS_RECEIVED: &str = "switchboard_events_received_total";
pub const DECODE_ERRORS: &str = "switchboard_decode_errors_total";
pub const RECONNECTS: &str = "switchboard_reconnects_total";
pub const CONNECTED: &str = "switchboard_connected";
pub const PING_RTT: &str = "switchboard_ping_rtt_seconds";
pub const INGEST_QUEUE_DEPTH: &str = "switchboard_ingest_queue_depth";
pub const INGEST_LAG: &str = "switchboard_ingest_lag_seconds";
pub const ACTIVE_CALLS: &str = "switchboard_active_calls";
pub const CALLS_COMPLETED: &str = "switchboard_calls_completed_total";
pub const UNKNOWN_HANGUPS: &str = "switchboard_unknown_channel_hangups_total";
pub const DB_WRITE: &str = "switchboard_db_write_seconds";
pub const DB_BACKLOG: &str = "switchboard_db_backlog";
pub const DB_FAILURES: &str = "switchboard_db_consecutive_failures";
pub const DB_REJECTED: &str = "switchboard_db_rejected_total";
pub const DURABLE: &str = "switchboard_durable";
pub const CALLS_LOST: &str = "switchboard_calls_lost_total";
pub const JOURNAL_BYTES: &str = "switchboard_journal_bytes";
pub const HTTP_REQUESTS: &str = "switchboard_http_requests_total";

const SERVER: &[&str] = &["server"];

/// A LAN ping is around a millisecond; the slow tail is what matters.
const RTT_BUCKETS: &[f64] = &[
    0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5,
];
/// A batch write takes some milliseconds; an outage's retries take seconds.
const WRITE_BUCKETS: &[f64] = &[
    0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0,
];

const fn plain(
    name: &'static str,
    kind: Kind,
    labels: &'static [&'static str],
    help: &'static str,
) -> Metric {
    Metric {
        name,
        kind,
        labels,
        help,
        seconds: false,
        buckets: &[],
    }
}

const fn timing(
    name: &'static str,
    labels: &'static [&'static str],
    help: &'static str,
    buckets: &'static [f64],
) -> Metric {
    Metric {
        name,
        kind: Kind::Histogram,
        labels,
        help,
        seconds: true,
        buckets,
    }
}

/// Every metric, in the order `/metrics` readers will want to learn them.
pub const ALL: &[Metric] = &[
    plain(EVENTS_RECEIVED, Kind::Counter, &["server", "event"], "AMI events consumed, by server and event name (past 256 names per server: event=\"other\")"),
    plain(DECODE_ERRORS, Kind::Counter, SERVER, "AMI sessions closed because the peer sent something undecodable"),
    plain(RECONNECTS, Kind::Counter, SERVER, "AMI logins after the first"),
    plain(CONNECTED, Kind::Gauge, SERVER, "1 while the AMI session is logged in, else 0"),
    timing(PING_RTT, SERVER, "AMI keep-alive Ping round trip", RTT_BUCKETS),
    plain(INGEST_QUEUE_DEPTH, Kind::Gauge, SERVER, "AMI events read from the socket but not yet tracked"),
    Metric { seconds: true, ..plain(INGEST_LAG, Kind::Gauge, SERVER, "age of the oldest AMI event not yet tracked") },
    plain(ACTIVE_CALLS, Kind::Gauge, SERVER, "calls in progress"),
    plain(CALLS_COMPLETED, Kind::Counter, &["server", "disposition"], "calls completed, by disposition"),
    plain(UNKNOWN_HANGUPS, Kind::Counter, SERVER, "hangups of channels never seen, ignored rather than made into calls (events were missed, or the PBX never announced the channel)"),
    timing(DB_WRITE, &[], "time to write one batch of call records", WRITE_BUCKETS),
    plain(DB_BACKLOG, Kind::Gauge, &[], "completed calls waiting to be written to the database (memory and journal)"),
    plain(DB_FAILURES, Kind::Gauge, &[], "failed database writes in a row (0 while the database takes them)"),
    plain(DB_REJECTED, Kind::Counter, &[], "call records the database refused for good, or journal entries that failed their checksum, set aside in rejected.txt"),
    plain(DURABLE, Kind::Gauge, &[], "1 while every completed call is in the on-disk journal before anything else; 0 while durability is suspended (journal unwritable or full)"),
    plain(CALLS_LOST, Kind::Counter, &[], "completed calls lost: the journal could not be written and the memory bound was reached; each is logged"),
    plain(JOURNAL_BYTES, Kind::Gauge, &[], "bytes the on-disk journal takes (against journal_max_bytes)"),
    plain(HTTP_REQUESTS, Kind::Counter, &["route", "status"], "HTTP requests answered, by route and status"),
];

/// The declaration of `name`, if it is one of ours.
pub fn get(name: &str) -> Option<&'static Metric> {
    ALL.iter().find(|m| m.name == name)
}

/// Gives every metric its `# HELP` (and unit) to whichever recorder is installed. Call once,
/// after installing it.
pub fn describe() {
    use metrics::Unit;
    for m in ALL {
        let unit = if m.seconds {
            Unit::Seconds
        } else {
            Unit::Count
        };
        match m.kind {
            Kind::Counter => metrics::describe_counter!(m.name, unit, m.help),
            Kind::Gauge => metrics::describe_gauge!(m.name, unit, m.help),
            Kind::Histogram => metrics::describe_histogram!(m.name, unit, m.help),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_metric_is_declared_once_and_named_for_prometheus() {
        let mut names: Vec<_> = ALL.iter().map(|m| m.name).collect();
        names.sort_unstable();
        let before = names.len();
        names.dedup();
        assert_eq!(names.len(), before, "a name declared twice");
        for m in ALL {
            assert!(m.name.starts_with("switchboard_"), "{}", m.name);
            assert_eq!(
                m.kind == Kind::Counter,
                m.name.ends_with("_total"),
                "{}",
                m.name
            );
            assert_eq!(m.seconds, m.name.ends_with("_seconds"), "{}", m.name);
            assert_eq!(
                m.kind == Kind::Histogram,
                !m.buckets.is_empty(),
                "{}",
                m.name
            );
            assert!(m.buckets.windows(2).all(|w| w[0] < w[1]), "{}", m.name);
        }
    }
}
