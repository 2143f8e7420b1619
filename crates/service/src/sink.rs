//! Where completed calls go: the pipeline hands every `CallEnded` record to a
//! [`RecordSink`] right where it is produced, not through the lossy bus.
//!
//! `submit` must never wait: the pipeline calls it on the event path. The store's writer
//! fits (it queues in memory, then spills to its journal, and writes in batches on its
//! own task); tests use [`MemorySink`].

use std::sync::{Arc, Mutex};
use tracker::CallRecord;

/// Takes completed call records without ever blocking the caller.
pub trait RecordSink: Send + Sync + 'static {
    /// Hands over one record. The sink owns it from here: it must not be lost.
    fn submit(&self, record: CallRecord);

    /// Records handed over and not yet stored (what `/api/servers` calls the
    /// `database_backlog`); 0 for a sink that stores at once.
    fn waiting(&self) -> u64 {
        0
    }
}

/// Keeps every record in memory, in the order submitted (tests, `--no-database` runs).
#[derive(Clone, Default)]
pub struct MemorySink {
    records: Arc<Mutex<Vec<CallRecord>>>,
}

impl MemorySink {
    /// An empty sink.
    pub fn new() -> MemorySink {
        MemorySink::default()
    }

    /// Everything submitted so far.
    pub fn records(&self) -> Vec<CallRecord> {
        self.records
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .clone()
    }
}

impl RecordSink for MemorySink {
    fn submit(&self, record: CallRecord) {
        self.records
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .push(record);
    }
}
