//! What the HTTP layer needs from the rest of switchboard.
//!
//! The API keeps no state of its own (see `DESIGN.md`, "Shape"): every answer is read from
//! the service through [`Backend`] at the time of the request. The trait is the seam between
//! the two crates, so the HTTP layer can be tested against an in-memory backend holding real
//! call records, and the service can change how it keeps its state without touching HTTP.

use crate::status::{Readiness, ServerStatus};
use serde::Serialize;
use std::future::Future;
use tracker::{CallRecord, Direction, Disposition, Timestamp};

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

    /// The Prometheus text exposition of every metric. By default, what the recorder
    /// installed by [`crate::metrics::install`] holds.
    fn metrics_text(&self) -> String {
        crate::metrics::render()
    }
}

/// The filters of `/api/calls/history`, already checked.
///
/// Matching rules (a record matches when every given filter matches):
/// - `since` / `until`: `started_at` is at or after `since` and strictly before `until`;
///   a record without `started_at` matches neither bound.
/// - `extension` (exact): `from.extension`, `to.extension`, `answered_by`, a transfer's `by`
///   or `to`, a hold's `by`, or a leg's `endpoint`.
/// - `number` (substring, so `9605969` finds `01759605969`): `from.number` or `to.number`.
///
/// These are the store's rules (`store::HistoryQuery`), so an in-memory backend and the
/// database answer alike.
/// - `disposition`, `direction`, `server`: equal.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct HistoryQuery {
    pub since: Option<Timestamp>,
    pub until: Option<Timestamp>,
    pub extension: Option<String>,
    pub number: Option<String>,
    pub disposition: Option<Disposition>,
    pub direction: Option<Direction>,
    pub server: Option<String>,
    /// 1 to [`HistoryQuery::MAX_LIMIT`]; [`HistoryQuery::DEFAULT_LIMIT`] when not given.
    pub limit: usize,
    /// Opaque: whatever an earlier page's `next_cursor` said.
    pub cursor: Option<String>,
}

impl HistoryQuery {
    /// Records per page when the client does not say.
    pub const DEFAULT_LIMIT: usize = 50;
    /// The most records one page may hold, so one request has a bounded cost.
    pub const MAX_LIMIT: usize = 1000;

    /// Whether `record` passes every filter except the cursor and the limit (the rules
    /// above, in one place, for backends that filter in memory).
    pub fn matches(&self, record: &CallRecord) -> bool {
        let eq = |a: &Option<String>, b: &str| a.as_deref() == Some(b);
        passes(
            &self.since,
            |&since| matches!(record.started_at, Some(t) if t >= since),
        ) && passes(
            &self.until,
            |&until| matches!(record.started_at, Some(t) if t < until),
        ) && passes(&self.extension, |ext| {
            eq(&record.from.extension, ext)
                || eq(&record.to.extension, ext)
                || eq(&record.answered_by, ext)
                || record
                    .transfers
                    .iter()
                    .any(|t| t.by == *ext || t.to == *ext)
                || record.holds.iter().any(|h| h.by == *ext)
                || record.legs.iter().any(|l| eq(&l.endpoint, ext))
        }) && passes(&self.number, |number| {
            let has =
                |n: &Option<String>| n.as_deref().is_some_and(|n| n.contains(number.as_str()));
            has(&record.from.number) || has(&record.to.number)
        }) && passes(&self.disposition, |&d| d == record.disposition)
            && passes(&self.direction, |&d| d == record.direction)
            && passes(&self.server, |s| *s == record.server)
    }
}

/// An absent filter lets everything through.
fn passes<T>(filter: &Option<T>, test: impl FnOnce(&T) -> bool) -> bool {
    match filter {
        None => true,
        Some(value) => test(value),
    }
}

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
    #[error("{parameter}: {message}")]
    BadParameter {
        parameter: &'static str,
        message: String,
    },
    /// A dependency is down (the database): HTTP 503, the client may retry.
    #[error("{0}")]
    Unavailable(String),
    /// Anything else: HTTP 500.
    #[error("{0}")]
    Internal(String),
}
