//! Counters a session keeps for health checks and metrics, and their snapshot.

use crate::queue::QueueProbe;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering::Relaxed};
use std::sync::Mutex;
use std::time::{Duration, Instant};

/// Live counters, shared by the sessions of one client (relaxed atomics: each is
/// independent; a snapshot is not a transaction).
#[derive(Default)]
pub(crate) struct Counters {
    pub(crate) events_received: AtomicU64,
    pub(crate) responses_received: AtomicU64,
    pub(crate) decode_errors: AtomicU64,
    pub(crate) sessions: AtomicU64,
    pub(crate) failed_attempts: AtomicU64,
    /// Last ping round trip in µs; `u64::MAX` = none yet.
    last_ping_rtt_us: AtomicU64,
    pub(crate) pauses: AtomicU64,
    paused_us: AtomicU64,
    pub(crate) paused: AtomicBool,
    paused_since: Mutex<Option<Instant>>,
}

impl Counters {
    pub(crate) fn new() -> Counters {
        Counters {
            last_ping_rtt_us: AtomicU64::new(u64::MAX),
            ..Counters::default()
        }
    }

    pub(crate) fn add(counter: &AtomicU64) {
        counter.fetch_add(1, Relaxed);
    }

    pub(crate) fn set_ping_rtt(&self, rtt: Duration) {
        let us = u64::try_from(rtt.as_micros()).unwrap_or(u64::MAX - 1);
        self.last_ping_rtt_us.store(us, Relaxed);
    }

    pub(crate) fn pause_started(&self, at: Instant) {
        self.pauses.fetch_add(1, Relaxed);
        self.paused.store(true, Relaxed);
        *self.paused_since.lock().unwrap_or_else(|p| p.into_inner()) = Some(at);
    }

    pub(crate) fn pause_ended(&self, lasted: Duration) {
        let us = u64::try_from(lasted.as_micros()).unwrap_or(u64::MAX);
        self.paused_us.fetch_add(us, Relaxed);
        self.paused.store(false, Relaxed);
        *self.paused_since.lock().unwrap_or_else(|p| p.into_inner()) = None;
    }

    pub(crate) fn snapshot(&self, queue: &QueueProbe) -> Stats {
        let rtt = self.last_ping_rtt_us.load(Relaxed);
        let current_pause = self
            .paused_since
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .map_or(Duration::ZERO, |t| t.elapsed());
        let sessions = self.sessions.load(Relaxed);
        Stats {
            events_received: self.events_received.load(Relaxed),
            responses_received: self.responses_received.load(Relaxed),
            decode_errors: self.decode_errors.load(Relaxed),
            sessions,
            reconnects: sessions.saturating_sub(1),
            failed_attempts: self.failed_attempts.load(Relaxed),
            last_ping_rtt: (rtt != u64::MAX).then(|| Duration::from_micros(rtt)),
            queue_depth: queue.depth(),
            queue_capacity: queue.capacity(),
            oldest_queued_age: queue.oldest_age(),
            reading_paused: self.paused.load(Relaxed),
            pauses: self.pauses.load(Relaxed),
            paused_total: Duration::from_micros(self.paused_us.load(Relaxed)) + current_pause,
        }
    }
}

/// A snapshot of a client's (or connection's) health.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Stats {
    /// `Event:` messages read from Asterisk, all sessions together.
    pub events_received: u64,
    /// `Response:` messages read.
    pub responses_received: u64,
    /// Sessions closed because the peer sent something the codec refuses.
    pub decode_errors: u64,
    /// Successful logins.
    pub sessions: u64,
    /// Successful logins after the first one.
    pub reconnects: u64,
    /// Attempts that failed before a session was up (unreachable, TLS, login refused…).
    pub failed_attempts: u64,
    /// Round trip of the last answered keep-alive `Ping`.
    pub last_ping_rtt: Option<Duration>,
    /// Events waiting for the consumer.
    pub queue_depth: usize,
    /// The queue's bound.
    pub queue_capacity: usize,
    /// Age of the oldest waiting event: how far behind the consumer is.
    pub oldest_queued_age: Option<Duration>,
    /// True while reading from the socket is paused because the queue is full.
    pub reading_paused: bool,
    /// How many times reading paused.
    pub pauses: u64,
    /// Total time reading was paused.
    pub paused_total: Duration,
}
