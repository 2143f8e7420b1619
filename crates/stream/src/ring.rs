//! The ring of recent updates a client may resume from, bounded by count and by bytes.
//!
//! Sequence numbers are consecutive (every numbered update enters the ring), so the
//! updates after `seq` are found by subtraction, not by search.

use crate::frame::Frame;
use std::collections::VecDeque;
use std::sync::Arc;

pub(crate) struct Ring {
    frames: VecDeque<Arc<Frame>>,
    bytes: usize,
    max_frames: usize,
    max_bytes: usize,
}

impl Ring {
    pub(crate) fn new(max_frames: usize, max_bytes: usize) -> Ring {
        Ring {
            frames: VecDeque::new(),
            bytes: 0,
            max_frames: max_frames.max(1),
            max_bytes,
        }
    }

    /// Keeps `frame`, dropping the oldest past either bound (the newest is always kept,
    /// however large).
    pub(crate) fn push(&mut self, frame: Arc<Frame>) {
        self.bytes += frame.json.len();
        self.frames.push_back(frame);
        while self.frames.len() > self.max_frames
            || (self.bytes > self.max_bytes && self.frames.len() > 1)
        {
            if let Some(old) = self.frames.pop_front() {
                self.bytes -= old.json.len();
            }
        }
    }

    /// Every frame after `seq`, if the ring still holds all of them; `current` is the last
    /// number given out. `Some(empty)` when `seq` is the current one.
    pub(crate) fn after(&self, seq: u64, current: u64) -> Option<Vec<Arc<Frame>>> {
        if seq > current {
            return None;
        }
        if seq == current {
            return Some(Vec::new());
        }
        let first = self.frames.front()?.seq;
        if seq + 1 < first {
            return None;
        }
        let skip = usize::try_from(seq + 1 - first).ok()?;
        Some(self.frames.iter().skip(skip).cloned().collect())
    }

    pub(crate) fn len(&self) -> usize {
        self.frames.len()
    }

    pub(crate) fn bytes(&self) -> usize {
        self.bytes
    }
}
