//! Per-PBX status, for `/api/servers`, readiness and people: is the session up, since
//! when, which Asterisk, how fresh are its events, how far behind are we.
//!
//! Most of it is read on demand from the AMI client (its `watch` status and its counters);
//! the pipeline adds what only it knows (when the last event was consumed, the event
//! rate), through [`Activity`], a few atomics updated per batch.

use serde::Serialize;
use std::sync::atomic::{AtomicU64, Ordering::Relaxed};
use std::sync::Mutex;
use std::time::{Duration, Instant, SystemTime};

/// The state of a PBX's AMI session, in one word.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum ConnectionState {
    /// Opening the connection (TCP, TLS, banner).
    Connecting,
    /// Logging in.
    Authenticating,
    /// Logged in; events flow.
    Connected,
    /// Down; the client retries after its backoff.
    Disconnected,
    /// Stopped by the supervisor (removed from the configuration, or shutting down).
    Stopped,
}

impl ConnectionState {
    /// From the AMI client's detailed status.
    pub fn of(status: &ami::Status) -> ConnectionState {
        match status {
            ami::Status::Connecting { .. } => ConnectionState::Connecting,
            ami::Status::Authenticating { .. } => ConnectionState::Authenticating,
            ami::Status::Connected { .. } => ConnectionState::Connected,
            ami::Status::Disconnected { .. } => ConnectionState::Disconnected,
            ami::Status::Stopped { .. } => ConnectionState::Stopped,
        }
    }

    /// The word used in JSON and metrics.
    pub fn as_str(self) -> &'static str {
        match self {
            ConnectionState::Connecting => "connecting",
            ConnectionState::Authenticating => "authenticating",
            ConnectionState::Connected => "connected",
            ConnectionState::Disconnected => "disconnected",
            ConnectionState::Stopped => "stopped",
        }
    }
}

/// One PBX's status, as served by `/api/servers`.
#[derive(Clone, Debug, Serialize)]
pub struct ServerStatus {
    /// The configured name.
    pub name: String,
    /// `host:port` of its AMI.
    pub address: String,
    /// Connected, disconnected, …
    pub state: ConnectionState,
    /// Since when (RFC 3339).
    #[serde(with = "rfc3339")]
    pub since: SystemTime,
    /// The current session number (from 1; one more per successful login).
    pub session: Option<u64>,
    /// Asterisk's version, when connected and the user may ask for it.
    pub asterisk_version: Option<String>,
    /// Why the last session ended or the last attempt failed.
    pub last_error: Option<String>,
    /// When the next connection attempt is due, in seconds, while disconnected.
    pub retry_in_seconds: Option<f64>,
    /// Seconds since the last event was consumed.
    pub last_event_age_seconds: Option<f64>,
    /// Events per second over the last few seconds.
    pub events_per_second: f64,
    /// Events received since the pipeline started.
    pub events_received: u64,
    /// Successful logins after the first.
    pub reconnects: u64,
    /// Attempts that failed before a session was up.
    pub failed_attempts: u64,
    /// Round trip of the last keep-alive ping, in milliseconds.
    pub ping_rtt_ms: Option<f64>,
    /// How long the oldest unconsumed event has waited: the ingest lag, in seconds.
    pub lag_seconds: f64,
    /// Events read from the socket but not consumed yet.
    pub queue_depth: usize,
    /// True while reading from the socket is paused because the consumer is behind.
    pub reading_paused: bool,
    /// Calls in progress on this PBX.
    pub active_calls: usize,
}

impl ServerStatus {
    /// Assembles the status from the client's view and the pipeline's.
    pub(crate) fn build(
        name: &str,
        address: &str,
        status: &ami::Status,
        stats: &ami::Stats,
        activity: &Activity,
        active_calls: usize,
    ) -> ServerStatus {
        let (since, session, asterisk_version, last_error, retry_in) = match status {
            ami::Status::Connecting { at, .. } | ami::Status::Authenticating { at } => {
                (*at, None, None, activity.last_error(), None)
            }
            ami::Status::Connected {
                session,
                asterisk_version,
                at,
                ..
            } => (*at, Some(*session), asterisk_version.clone(), None, None),
            ami::Status::Disconnected {
                reason,
                at,
                retry_in,
            } => (*at, None, None, Some(reason.clone()), *retry_in),
            ami::Status::Stopped { at } => (*at, None, None, None, None),
        };
        ServerStatus {
            name: name.to_string(),
            address: address.to_string(),
            state: ConnectionState::of(status),
            since,
            session,
            asterisk_version,
            last_error,
            retry_in_seconds: retry_in.map(|d| d.as_secs_f64()),
            last_event_age_seconds: activity.last_event_age().map(|d| d.as_secs_f64()),
            events_per_second: activity.rate(),
            events_received: stats.events_received,
            reconnects: stats.reconnects,
            failed_attempts: stats.failed_attempts,
            ping_rtt_ms: stats.last_ping_rtt.map(|d| d.as_secs_f64() * 1000.0),
            lag_seconds: stats.oldest_queued_age.map_or(0.0, |d| d.as_secs_f64()),
            queue_depth: stats.queue_depth,
            reading_paused: stats.reading_paused,
            active_calls,
        }
    }
}

/// What the pipeline task records as it consumes events; read by status requests.
#[derive(Debug)]
pub(crate) struct Activity {
    started: Instant,
    /// µs after `started` of the last consumed event; `u64::MAX` = none yet.
    last_event_us: AtomicU64,
    rate: Mutex<Rate>,
    last_error: Mutex<Option<String>>,
}

/// Events per second, over windows of [`Rate::WINDOW`]: the last complete window's rate,
/// so the figure is steady enough to read and at most two windows old.
#[derive(Debug)]
struct Rate {
    window_start: Instant,
    count: u64,
    last: f64,
}

impl Rate {
    const WINDOW: Duration = Duration::from_secs(5);

    fn roll(&mut self, now: Instant) {
        let elapsed = now.duration_since(self.window_start);
        if elapsed >= Self::WINDOW {
            // A window with no events at all followed by silence reads as 0, not as the
            // rate of a window long gone.
            self.last = if elapsed >= Self::WINDOW * 2 {
                0.0
            } else {
                self.count as f64 / elapsed.as_secs_f64()
            };
            self.window_start = now;
            self.count = 0;
        }
    }
}

impl Activity {
    pub(crate) fn new() -> Activity {
        let now = Instant::now();
        Activity {
            started: now,
            last_event_us: AtomicU64::new(u64::MAX),
            rate: Mutex::new(Rate {
                window_start: now,
                count: 0,
                last: 0.0,
            }),
            last_error: Mutex::new(None),
        }
    }

    /// `n` events were consumed just now.
    pub(crate) fn consumed(&self, n: u64) {
        let now = Instant::now();
        let us =
            u64::try_from(now.duration_since(self.started).as_micros()).unwrap_or(u64::MAX - 1);
        self.last_event_us.store(us, Relaxed);
        let mut rate = self.rate.lock().unwrap_or_else(|p| p.into_inner());
        rate.roll(now);
        rate.count += n;
    }

    pub(crate) fn set_last_error(&self, error: Option<String>) {
        *self.last_error.lock().unwrap_or_else(|p| p.into_inner()) = error;
    }

    fn last_error(&self) -> Option<String> {
        self.last_error
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .clone()
    }

    fn last_event_age(&self) -> Option<Duration> {
        let us = self.last_event_us.load(Relaxed);
        (us != u64::MAX).then(|| {
            self.started
                .elapsed()
                .saturating_sub(Duration::from_micros(us))
        })
    }

    fn rate(&self) -> f64 {
        let mut rate = self.rate.lock().unwrap_or_else(|p| p.into_inner());
        rate.roll(Instant::now());
        rate.last
    }
}

/// A wall-clock instant as the tracker counts time (µs since the epoch).
pub fn timestamp(t: SystemTime) -> tracker::Timestamp {
    let us = match t.duration_since(std::time::UNIX_EPOCH) {
        Ok(d) => i64::try_from(d.as_micros()).unwrap_or(i64::MAX),
        Err(e) => -i64::try_from(e.duration().as_micros()).unwrap_or(i64::MAX),
    };
    tracker::Timestamp(us)
}

/// RFC 3339 for `SystemTime`, as everywhere else in the API.
mod rfc3339 {
    use serde::Serializer;
    use std::time::SystemTime;

    pub fn serialize<S: Serializer>(t: &SystemTime, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(&super::timestamp(*t).to_rfc3339())
    }
}
