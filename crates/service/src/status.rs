//! Per-PBX status, for `/api/servers`, readiness and people: is the session up, since
//! when, which Asterisk, how fresh are its events, how far behind are we.
//!
//! Most of it is read on demand from the AMI client (its `watch` status and its counters);
//! the pipeline adds what only it knows (when the last event was consumed, the event
//! rate), through [`Activity`], a few atomics updated per batch.

use std::sync::atomic::{AtomicU64, Ordering::Relaxed};
use std::sync::Mutex;
use std::time::{Duration, Instant, SystemTime};

pub use pbx_status::{ConnectionState, Lag, Readiness, ReadyPolicy, ServerStatus};

/// The one translation from the AMI client's state to the word `/api/servers`, `/ready`
/// and the bus use. `ever_failed` (a session was lost or an attempt failed since the
/// pipeline started) tells a first connection from a reconnection: people reading the
/// status want to know whether the PBX was ever up, not the client's inner steps.
pub fn connection_state(status: &ami::Status, ever_failed: bool) -> ConnectionState {
    match status {
        ami::Status::Connected { .. } => ConnectionState::Connected,
        ami::Status::Connecting { .. } | ami::Status::Authenticating { .. } if !ever_failed => {
            ConnectionState::Connecting
        }
        ami::Status::Connecting { .. }
        | ami::Status::Authenticating { .. }
        | ami::Status::Disconnected { .. } => ConnectionState::Reconnecting,
        ami::Status::Stopped { .. } => ConnectionState::Disconnected,
    }
}

/// A configured PBX that runs no pipeline (`enabled = false`).
pub(crate) fn disabled(name: &str) -> ServerStatus {
    ServerStatus::new(name, ConnectionState::Disabled)
}

/// Assembles one running PBX's status from the client's view and the pipeline's.
/// `database_backlog` is the writer's: it is shared by every PBX, so each shows the whole
/// process's.
pub(crate) fn build(
    name: &str,
    status: &ami::Status,
    stats: &ami::Stats,
    activity: &Activity,
    database_backlog: u64,
) -> ServerStatus {
    let (since, asterisk_version, last_error) = match status {
        ami::Status::Connecting { at, .. } | ami::Status::Authenticating { at } => {
            (*at, None, activity.last_error())
        }
        ami::Status::Connected {
            asterisk_version,
            at,
            ..
        } => (*at, asterisk_version.clone(), None),
        ami::Status::Disconnected { reason, at, .. } => (*at, None, Some(reason.clone())),
        ami::Status::Stopped { at } => (*at, None, None),
    };
    let ever_failed = stats.reconnects > 0 || stats.failed_attempts > 0;
    ServerStatus {
        name: name.to_string(),
        state: connection_state(status, ever_failed),
        since: Some(timestamp(since)),
        asterisk_version,
        last_event_age_seconds: activity.last_event_age().map(|d| d.as_secs_f64()),
        events_per_second: activity.rate(),
        reconnects: stats.reconnects,
        ping_rtt_seconds: stats.last_ping_rtt.map(|d| d.as_secs_f64()),
        lag: Lag {
            queue_depth: stats.queue_depth,
            oldest_seconds: (stats.queue_depth > 0)
                .then(|| stats.oldest_queued_age.map_or(0.0, |d| d.as_secs_f64())),
        },
        database_backlog,
        last_error,
    }
}

/// The `/ready` rule applied to this process: the policy, every configured PBX's status,
/// and the database as the writer last found it.
pub(crate) fn readiness(
    policy: &ReadyPolicy,
    servers: &[ServerStatus],
    backlog: &store::Backlog,
) -> Readiness {
    let mut problems = Vec::new();
    if let (Some(e), n) = (&backlog.last_error, backlog.consecutive_failures) {
        if n > 0 {
            problems.push(format!("{e} ({n} failed writes in a row)"));
        }
    }
    if let store::Durability::Suspended { reason } = &backlog.durability {
        // The live API works, but a crash now would lose calls: an orchestrator must know.
        problems.push(format!(
            "durability suspended, completed calls are held in memory only: {reason} ({} lost so far)",
            backlog.lost
        ));
    }
    let database = if problems.is_empty() {
        Ok(())
    } else {
        Err(problems.join("; "))
    };
    Readiness::evaluate(policy, servers, database)
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_first_connection_is_never_reported_as_a_reconnection() {
        let at = SystemTime::now();
        let connecting = ami::Status::Connecting { attempt: 1, at };
        let login = ami::Status::Authenticating { at };
        assert_eq!(
            connection_state(&connecting, false),
            ConnectionState::Connecting
        );
        assert_eq!(connection_state(&login, false), ConnectionState::Connecting);
        assert_eq!(
            connection_state(&connecting, true),
            ConnectionState::Reconnecting
        );
        assert_eq!(
            connection_state(&login, true),
            ConnectionState::Reconnecting
        );
        let lost = ami::Status::Disconnected {
            reason: "closed".into(),
            at,
            retry_in: Some(Duration::from_secs(1)),
        };
        assert_eq!(
            connection_state(&lost, false),
            ConnectionState::Reconnecting
        );
        let stopped = ami::Status::Stopped { at };
        assert_eq!(
            connection_state(&stopped, true),
            ConnectionState::Disconnected
        );
    }
}
