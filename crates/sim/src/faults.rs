//! Faults on demand, and the counters tests read.
//!
//! Each fault is a switch shared by every connection; sessions look at it on each write, so
//! turning one on or off takes effect on the next event. The one-shot faults (drop every
//! connection now, start an endless line) are generation counters on a `watch` channel:
//! every session sees the counter move and acts once.

use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use tokio::sync::watch;

/// The fault switches.
#[derive(Debug)]
pub(crate) struct Faults {
    pub(crate) stall: watch::Sender<bool>,
    pub(crate) refuse_logins: AtomicBool,
    /// Close each connection after it has been sent this many events (0: never).
    pub(crate) drop_after: AtomicU64,
    /// Garbage after every this many events (0: never).
    pub(crate) garbage_every: AtomicU64,
    pub(crate) dribble: AtomicBool,
    /// Bumped to close every connection at once.
    pub(crate) drop_gen: watch::Sender<u64>,
    /// Bumped to make every connection start an endless line.
    pub(crate) endless_gen: watch::Sender<u64>,
}

impl Default for Faults {
    fn default() -> Faults {
        Faults {
            stall: watch::channel(false).0,
            refuse_logins: AtomicBool::new(false),
            drop_after: AtomicU64::new(0),
            garbage_every: AtomicU64::new(0),
            dribble: AtomicBool::new(false),
            drop_gen: watch::channel(0).0,
            endless_gen: watch::channel(0).0,
        }
    }
}

impl Faults {
    pub(crate) fn bump(tx: &watch::Sender<u64>) {
        tx.send_modify(|g| *g += 1);
    }

    pub(crate) fn get(a: &AtomicU64) -> u64 {
        a.load(Ordering::Relaxed)
    }
}

/// What the simulator has done so far.
#[derive(Debug, Default)]
pub(crate) struct Counters {
    pub(crate) connected: AtomicU64,
    pub(crate) logins: AtomicU64,
    pub(crate) events_sent: AtomicU64,
    pub(crate) sessions: AtomicU64,
}
