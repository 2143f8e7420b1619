//! The call history of switchboard: call records in SQLite or PostgreSQL, written in
//! batches off the event path.
//!
//! - [`Store`] opens the database (`sqlite://…` or `postgres://…`), migrates its schema,
//!   stores records ([`Store::upsert_batch`]) and answers the history API
//!   ([`Store::history`], [`Store::get`]).
//! - [`Writer`] sits between the event path and the store: [`WriterHandle::submit`] never
//!   waits for the database; every record is appended to an on-disk journal first (fsynced
//!   in groups), written to the database in batches, retried through outages, and removed
//!   from the journal only once the database confirmed it, so a crash loses no completed
//!   call.
//!
//! Records are keyed by their `id` (`server:linkedid`): storing a call again (a replay, a
//! resync) replaces its row. The whole record, timeline included, is stored as JSON; the
//! fields the filters need are copied into indexed columns.
#![forbid(unsafe_code)]
#![warn(missing_docs)]

mod columns;
mod error;
mod journal;
mod migrate;
mod query;
mod sql;
mod store;
mod writer;

pub use error::{QueryError, StoreError};
pub use history::{HistoryQuery, DEFAULT_LIMIT, MAX_LIMIT};
pub use query::{Cursor, Page};
pub use store::Store;
pub use writer::{Backlog, Durability, ShutdownReport, Writer, WriterConfig, WriterHandle};
