//! Simulated time.
//!
//! Events carry the time of the PBX (`Timestamp`), which is not the wall clock: a replay
//! keeps the recording's times, and at `Speed::Max` the clock jumps from one event to the
//! next. The clock runs only while somebody is logged in, so a client that connects later
//! (or reconnects) continues where the stream stood instead of missing what happened
//! meanwhile.

use std::time::{Duration, Instant};

/// The simulator's clock, in µs since the epoch.
#[derive(Debug)]
pub(crate) struct Clock {
    sim: u64,
    wall: Instant,
    factor: Option<f64>,
    running: bool,
}

impl Clock {
    /// Stopped at `start`; `factor` is `None` for `Speed::Max`.
    pub(crate) fn new(start: u64, factor: Option<f64>) -> Clock {
        Clock {
            sim: start,
            wall: Instant::now(),
            factor,
            running: false,
        }
    }

    pub(crate) fn now(&self) -> u64 {
        match (self.running, self.factor) {
            (true, Some(f)) => self.sim + (self.wall.elapsed().as_micros() as f64 * f) as u64,
            _ => self.sim,
        }
    }

    pub(crate) fn is_max(&self) -> bool {
        self.factor.is_none()
    }

    pub(crate) fn pause(&mut self) {
        if self.running {
            self.sim = self.now();
            self.running = false;
        }
    }

    pub(crate) fn resume(&mut self) {
        if !self.running {
            self.wall = Instant::now();
            self.running = true;
        }
    }

    /// Moves the clock forward to `t` (never back).
    pub(crate) fn advance_to(&mut self, t: u64) {
        if t > self.now() {
            self.sim = t;
            self.wall = Instant::now();
        }
    }

    /// How long to wait on the wall clock until simulated time `t`.
    pub(crate) fn wall_until(&self, t: u64) -> Duration {
        let ahead = t.saturating_sub(self.now());
        match self.factor {
            Some(f) => Duration::from_micros((ahead as f64 / f) as u64),
            None => Duration::ZERO,
        }
    }
}
