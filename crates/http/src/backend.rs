//! What the HTTP layer needs from the rest of switchboard.
//!
//! The API keeps no state of its own (see `docs/ARCHITECTURE.md`, "Shape"): every answer is read from
//! the service through [`Backend`] at the time of the request. The trait is the seam between
//! the two crates, so the HTTP layer can be tested against an in-memory backend holding real
//! call records, and the service can change how it keeps its state without touching HTTP.

use crate::status::{Readiness, ServerStatus};
use serde::Serialize;
use std::future::Future;
use tracker::CallRecord;

/// The service as the HTTP API sees it.
///
/// Every method is called once per request, concurrently from many requests: an
/// implementation answers from shared state (a snapshot behind a lock, a `watch` channel,
/// the store's connection pool) and never blocks the async runtime for long.
pub trait Backend: Send + Sync + 'static {
    /// An active call as `/api/calls` shows it (with its legs).
    type ActiveCall: Serialize + Send;
    /// An extension as `/api/extensions` shows it (state and current calls).
    type Extension: Serialize + Send;
    /// A queue as `/api/queues` shows it (waiting callers, members and their states).
    type Queue: Serialize + Send;

    /// One entry per configured PBX, in configuration order.
    fn servers(&self) -> impl Future<Output = Vec<ServerStatus>> + Send;

    /// Calls in progress on every PBX.
    fn active_calls(&self) -> impl Future<Output = Vec<Self::ActiveCall>> + Send;

    /// Every known extension with its state.
    fn extensions(&self) -> impl Future<Output = Vec<Self::Extension>> + Send;

    /// Every known queue.
    fn queues(&self) -> impl Future<Output = Vec<Self::Queue>> + Send;

    /// Completed calls matching `query`, newest first (by `started_at`, then `id`), at most
    /// `query.limit` of them, with a cursor for the next page when there are more.
    fn history(
        &self,
        query: HistoryQuery,
    ) -> impl Future<Output = Result<HistoryPage, BackendError>> + Send;

    /// One call by its `id` (`server:linkedid`), with its timeline; `Ok(None)` if unknown.
    fn call(
        &self,
        id: String,
    ) -> impl Future<Output = Result<Option<CallRecord>, BackendError>> + Send;

    /// Whether the service can do its job now, and if not, why (see [`Readiness::evaluate`]).
    fn readiness(&self) -> impl Future<Output = Readiness> + Send;

    /// The live stream behind `/api/stream` and `/api/events`; `None` when this backend
    /// has none (those routes then answer 503).
    fn stream(&self) -> Option<std::sync::Arc<stream::Hub>> {
        None
    }

    /// The Prometheus text exposition of every metric. By default, what the recorder
    /// installed by [`crate::metrics::install`] holds.
    fn metrics_text(&self) -> String {
        crate::metrics::render()
    }
}

/// The filters of `/api/calls/history`, already checked: the `history` crate's query, which
/// the store shares, so an in-memory backend (filtering with [`HistoryQuery::matches`]) and
/// the database answer alike.
pub use history::HistoryQuery;

/// One page of history: `{"calls": [...], "next_cursor": "..." | null}`.
#[derive(Clone, Debug, Default, PartialEq, Serialize)]
pub struct HistoryPage {
    pub calls: Vec<CallRecord>,
    /// `None` on the last page.
    pub next_cursor: Option<String>,
}

/// Why the backend could not answer.
#[derive(Debug, thiserror::Error)]
pub enum BackendError {
    /// The client sent a value the backend cannot use (a cursor it did not issue, a filter
    /// the store cannot apply): HTTP 400, naming the parameter.
    #[error(transparent)]
    BadParameter(#[from] history::ParamError),
    /// A dependency is down (the database): HTTP 503, the client may retry.
    #[error("{0}")]
    Unavailable(String),
    /// Anything else: HTTP 500.
    #[error("{0}")]
    Internal(String),
}
