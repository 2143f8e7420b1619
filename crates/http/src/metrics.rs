//! Prometheus metrics: the exporter the binary installs once, and the names every crate
//! records under.
//!
//! The service records with the `metrics` crate's macros (`metrics::counter!(...)`), which
//! go to whatever recorder is installed process-wide. [`install`] makes that recorder
//! `metrics-exporter-prometheus`'s, without its own HTTP listener: `/metrics` of this crate
//! renders it. Without [`install`], the macros are no-ops and `/metrics` is empty.

use metrics_exporter_prometheus::{Matcher, PrometheusBuilder, PrometheusHandle};
use std::sync::OnceLock;

/// The names, so the recording side and dashboards agree. Labels in brackets.
pub mod names {
    /// Counter: AMI events received [server, event].
    pub const EVENTS_RECEIVED: &str = "switchboard_events_received_total";
    /// Counter: frames that could not be decoded [server].
    pub const DECODE_ERRORS: &str = "switchboard_decode_errors_total";
    /// Counter: sessions re-established after a loss [server].
    pub const RECONNECTS: &str = "switchboard_reconnects_total";
    /// Gauge: 1 when the AMI session is connected, else 0 [server].
    pub const CONNECTED: &str = "switchboard_connected";
    /// Histogram: keep-alive `Ping` round trip in seconds [server].
    pub const PING_RTT: &str = "switchboard_ping_rtt_seconds";
    /// Gauge: events read from the socket but not yet tracked [server].
    pub const INGEST_QUEUE_DEPTH: &str = "switchboard_ingest_queue_depth";
    /// Gauge: age in seconds of the oldest untracked event [server].
    pub const INGEST_LAG: &str = "switchboard_ingest_lag_seconds";
    /// Gauge: calls in progress [server].
    pub const ACTIVE_CALLS: &str = "switchboard_active_calls";
    /// Counter: completed calls [server, disposition].
    pub const CALLS_COMPLETED: &str = "switchboard_calls_completed_total";
    /// Histogram: time to write one batch of records in seconds.
    pub const DB_WRITE: &str = "switchboard_db_write_seconds";
    /// Gauge: completed calls waiting to be written (memory and journal).
    pub const DB_BACKLOG: &str = "switchboard_db_backlog";
    /// Counter: HTTP requests answered [route, status] (recorded by this crate).
    pub const HTTP_REQUESTS: &str = "switchboard_http_requests_total";
}

static HANDLE: OnceLock<PrometheusHandle> = OnceLock::new();

/// Why the exporter could not be installed.
#[derive(Debug, thiserror::Error)]
#[error("could not install the Prometheus metrics recorder: {0}")]
pub struct InstallError(String);

/// Installs the Prometheus recorder as the process's `metrics` recorder. Call once at
/// start; later calls return the same handle. Fails if another recorder was installed.
pub fn install() -> Result<PrometheusHandle, InstallError> {
    if let Some(handle) = HANDLE.get() {
        return Ok(handle.clone());
    }
    // Buckets sized for what is measured: a LAN ping is around a millisecond, a batch
    // write some milliseconds, and the slow tail is what matters in both.
    let rtt = [
        0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5,
    ];
    let write = [
        0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0,
    ];
    let handle = PrometheusBuilder::new()
        .set_buckets_for_metric(Matcher::Full(names::PING_RTT.into()), &rtt)
        .and_then(|b| b.set_buckets_for_metric(Matcher::Full(names::DB_WRITE.into()), &write))
        .map_err(|e| InstallError(e.to_string()))?
        .install_recorder()
        .map_err(|e| InstallError(e.to_string()))?;
    describe();
    Ok(HANDLE.get_or_init(|| handle).clone())
}

/// The handle [`install`] created, if it was called.
pub fn handle() -> Option<&'static PrometheusHandle> {
    HANDLE.get()
}

/// The text exposition of every metric; empty before [`install`].
pub fn render() -> String {
    HANDLE
        .get()
        .map(PrometheusHandle::render)
        .unwrap_or_default()
}

/// `# HELP` lines, so a person reading `/metrics` knows what each series is.
fn describe() {
    use metrics::{describe_counter, describe_gauge, describe_histogram, Unit};
    use names::*;
    describe_counter!(
        EVENTS_RECEIVED,
        "AMI events received, by server and event type"
    );
    describe_counter!(DECODE_ERRORS, "AMI frames that could not be decoded");
    describe_counter!(RECONNECTS, "AMI sessions re-established after a loss");
    describe_gauge!(CONNECTED, "1 when the AMI session to the server is up");
    describe_histogram!(PING_RTT, Unit::Seconds, "AMI keep-alive round trip");
    describe_gauge!(INGEST_QUEUE_DEPTH, "AMI events read but not yet tracked");
    describe_gauge!(
        INGEST_LAG,
        Unit::Seconds,
        "Age of the oldest untracked event"
    );
    describe_gauge!(ACTIVE_CALLS, "Calls in progress");
    describe_counter!(CALLS_COMPLETED, "Completed calls, by disposition");
    describe_histogram!(
        DB_WRITE,
        Unit::Seconds,
        "Time to write one batch of call records"
    );
    describe_gauge!(
        DB_BACKLOG,
        "Completed calls waiting to be written to the database"
    );
    describe_counter!(HTTP_REQUESTS, "HTTP requests answered, by route and status");
}
