//! The call-history query: which completed calls a client asks for, and how many at a time.
//!
//! Two crates must agree on it: the store, which turns it into SQL, and the HTTP API, which
//! parses it from `/api/calls/history?…` and whose in-memory test backends filter with
//! [`HistoryQuery::matches`]. Keeping one definition here is what stops them drifting apart:
//! each used to carry its own copy, and the API promised pages of 1,000 calls while the
//! store silently served 500.
//!
//! The cursor is opaque here: whoever serves the pages (the store) encodes where a page
//! ended and checks what comes back.
#![forbid(unsafe_code)]
#![warn(missing_docs)]

mod parse;

pub use parse::{parse_direction, parse_disposition, ParamError, PARAMETERS};

use tracker::{CallRecord, Direction, Disposition, Timestamp};

/// Page size when the client gives none.
pub const DEFAULT_LIMIT: u32 = 50;
/// The largest page: one request has a bounded cost (records are a few KB each).
pub const MAX_LIMIT: u32 = 1000;

/// The filters of a history request, plus paging. Every filter is optional; they combine
/// with AND.
///
/// Matching rules (the store's SQL implements the same, and is tested against
/// [`HistoryQuery::matches`]):
/// - `since` / `until`: `started_at` is at or after `since` and strictly before `until`; a
///   record without `started_at` matches neither bound.
/// - `extension` (exact): the caller's or dialed extension, `answered_by`, a transfer's `by`
///   or `to`, a hold's `by`, or the endpoint of any leg.
/// - `number` (substring, so `9605969` finds `01759605969`): `from.number` or `to.number`.
/// - `disposition`, `direction`, `server`: equal.
#[derive(Clone, Debug, PartialEq)]
pub struct HistoryQuery {
    /// Calls started at or after this instant.
    pub since: Option<Timestamp>,
    /// Calls started before this instant.
    pub until: Option<Timestamp>,
    /// Calls this extension took part in.
    pub extension: Option<String>,
    /// Calls whose caller's or dialed number contains this text.
    pub number: Option<String>,
    /// Exact disposition.
    pub disposition: Option<Disposition>,
    /// Exact direction.
    pub direction: Option<Direction>,
    /// Calls of this configured PBX only.
    pub server: Option<String>,
    /// Calls per page, 1 to [`MAX_LIMIT`] ([`DEFAULT_LIMIT`] by default).
    pub limit: u32,
    /// Continue after the page that handed out this `next_cursor` (opaque here).
    pub cursor: Option<String>,
}

impl Default for HistoryQuery {
    fn default() -> Self {
        HistoryQuery {
            since: None,
            until: None,
            extension: None,
            number: None,
            disposition: None,
            direction: None,
            server: None,
            limit: DEFAULT_LIMIT,
            cursor: None,
        }
    }
}

impl HistoryQuery {
    /// Checks what the types cannot: a limit from 1 to [`MAX_LIMIT`] and a time range that
    /// is not empty. [`HistoryQuery::parse`] already did; queries built in code call this.
    pub fn check(&self) -> Result<(), ParamError> {
        if !(1..=MAX_LIMIT).contains(&self.limit) {
            return Err(ParamError::new(
                "limit",
                format!(
                    "'{}' is not a whole number from 1 to {MAX_LIMIT}",
                    self.limit
                ),
            ));
        }
        if let (Some(since), Some(until)) = (self.since, self.until) {
            if until <= since {
                return Err(ParamError::new(
                    "until",
                    format!("{until} is not after since ({since})"),
                ));
            }
        }
        Ok(())
    }

    /// Whether `record` passes every filter (cursor and limit aside): the rules above, for
    /// backends that filter in memory.
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
