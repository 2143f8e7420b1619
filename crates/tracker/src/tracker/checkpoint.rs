//! The calls in progress, saved so that a restart of switchboard resumes them with their
//! history (legs, answer, transfers, holds, timeline) instead of adopting them afresh from
//! the PBX's channel list, which knows none of that.
//!
//! A checkpoint is a JSON document with a `version`. Version 1 is the first; a later
//! version may add fields, and must keep loading every earlier version (a test loads the
//! committed version-1 file, `tests/data/checkpoint-v1.json`). What is restored is only a
//! starting point: the resync that follows the next login reconciles it with the PBX —
//! calls the PBX still has go on, the others are closed as `ended_while_disconnected`.

use super::call::Call;
use super::Tracker;
use crate::Timestamp;
use serde::{Deserialize, Serialize};
use std::fmt;

/// The newest format this tracker writes.
pub const CHECKPOINT_VERSION: u32 = 1;
/// The oldest format it still reads.
const OLDEST_READABLE: u32 = 1;

/// The calls in progress of one PBX, at one moment.
#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct Checkpoint {
    version: u32,
    /// The PBX (`server` of the tracker): a checkpoint never goes into another's tracker.
    server: String,
    /// The last PBX timestamp the tracker had seen.
    taken_at: Option<Timestamp>,
    calls: Vec<Call>,
}

/// Why a checkpoint cannot be restored.
#[derive(Debug)]
pub enum CheckpointError {
    /// Not a checkpoint (or a cut one).
    Format(serde_json::Error),
    /// Written by a newer switchboard, or too old.
    Version { found: u32 },
    /// Another PBX's.
    Server { found: String, expected: String },
}

impl fmt::Display for CheckpointError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            CheckpointError::Format(e) => write!(f, "not a call checkpoint: {e}"),
            CheckpointError::Version { found } => write!(
                f,
                "checkpoint version {found}: this switchboard reads versions {OLDEST_READABLE} to {CHECKPOINT_VERSION}"
            ),
            CheckpointError::Server { found, expected } => write!(
                f,
                "the checkpoint is PBX {found:?}'s, not {expected:?}'s"
            ),
        }
    }
}

impl std::error::Error for CheckpointError {}

impl Checkpoint {
    /// The JSON document.
    pub fn to_json(&self) -> Vec<u8> {
        // Every field is plain data: serialising cannot fail.
        serde_json::to_vec(self).unwrap_or_default()
    }

    /// Reads a checkpoint of any readable version.
    pub fn from_json(bytes: &[u8]) -> Result<Checkpoint, CheckpointError> {
        #[derive(Deserialize)]
        struct Head {
            version: u32,
        }
        let head: Head = serde_json::from_slice(bytes).map_err(CheckpointError::Format)?;
        if !(OLDEST_READABLE..=CHECKPOINT_VERSION).contains(&head.version) {
            return Err(CheckpointError::Version {
                found: head.version,
            });
        }
        serde_json::from_slice(bytes).map_err(CheckpointError::Format)
    }

    /// Calls it holds.
    pub fn calls(&self) -> usize {
        self.calls.len()
    }

    /// Keeps only the calls whose Linkedid `keep` accepts (a restart leaves out the calls
    /// known to have ended after the checkpoint was taken).
    pub fn retain(&mut self, mut keep: impl FnMut(&str) -> bool) {
        self.calls.retain(|c| keep(&c.linkedid));
    }

    /// The PBX it belongs to.
    pub fn server(&self) -> &str {
        &self.server
    }
}

impl Tracker {
    /// The calls in progress now.
    pub fn checkpoint(&self) -> Checkpoint {
        let mut calls: Vec<Call> = self.calls.values().cloned().collect();
        calls.sort_by(|a, b| a.linkedid.cmp(&b.linkedid));
        Checkpoint {
            version: CHECKPOINT_VERSION,
            server: self.config.server.clone(),
            taken_at: self.last_ts,
            calls,
        }
    }

    /// Takes back the calls of a checkpoint, before the first session logs in; the resync
    /// of that session then keeps those the PBX still has and closes the others. A call the
    /// tracker already knows, or has already ended, is left as it is. Returns how many
    /// calls were restored.
    pub fn restore(&mut self, checkpoint: Checkpoint) -> Result<usize, CheckpointError> {
        if checkpoint.server != self.config.server {
            return Err(CheckpointError::Server {
                found: checkpoint.server,
                expected: self.config.server.clone(),
            });
        }
        let mut restored = 0;
        for call in checkpoint.calls {
            let linkedid = call.linkedid.clone();
            if self.calls.contains_key(&linkedid) || self.ended.contains(&linkedid) {
                continue;
            }
            for ch in &call.channels {
                self.channels.insert(ch.uniqueid.clone(), linkedid.clone());
                if let Some(e) = &ch.endpoint {
                    self.index_endpoint(e, &linkedid);
                }
            }
            self.calls.insert(linkedid, call);
            restored += 1;
        }
        if self.last_ts.is_none() {
            self.last_ts = checkpoint.taken_at;
        }
        Ok(restored)
    }
}
