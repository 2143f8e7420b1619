//! The history query: filters, newest-first order and cursor paging.
//!
//! Paging is by *keyset*, not offset: a page ends at some `(started_at, id)` and the next
//! page is "everything strictly older than that key". Calls stored while a client pages
//! (newer ones, or a resync rewriting an old one) therefore never shift the pages: no call
//! is served twice and none is skipped. The cursor is that key, hex-encoded so clients
//! treat it as opaque.

use crate::error::QueryError;
use tracker::{CallRecord, Direction, Disposition, Timestamp};

/// Page size when the caller gives none.
pub const DEFAULT_LIMIT: u32 = 50;
/// The largest page served; a larger `limit` is served as this.
pub const MAX_LIMIT: u32 = 500;

/// Which calls, from where, how many. Every filter is optional; they combine with AND.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct HistoryQuery {
    /// Calls started at or after this instant (inclusive).
    pub since: Option<Timestamp>,
    /// Calls started before this instant (exclusive).
    pub until: Option<Timestamp>,
    /// Calls this extension took part in: as caller (`from.extension`), as dialed
    /// (`to.extension`), as `answered_by`, in a transfer (`by` or `to`), on hold (`by`) or
    /// as the endpoint of any leg. Exact match.
    pub extension: Option<String>,
    /// Calls whose `from.number` or `to.number` *contains* this text (substring, so
    /// `9605969` finds `01759605969`).
    pub number: Option<String>,
    /// Exact disposition.
    pub disposition: Option<Disposition>,
    /// Exact direction.
    pub direction: Option<Direction>,
    /// Calls of this configured PBX name only.
    pub server: Option<String>,
    /// Page size, 1..=[`MAX_LIMIT`]; `None` is [`DEFAULT_LIMIT`].
    pub limit: Option<u32>,
    /// Continue after this key (from [`Page::next_cursor`]).
    pub cursor: Option<Cursor>,
}

/// One page of history, newest first.
#[derive(Debug, Clone, PartialEq, serde::Serialize)]
pub struct Page {
    /// The calls, newest `started_at` first (ties: larger `id` first).
    pub calls: Vec<CallRecord>,
    /// Pass it back as `cursor` for the next page; `None` on the last page.
    pub next_cursor: Option<String>,
}

/// Where a page ended: the sort key of its last call.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Cursor {
    /// The stored sort time of the last call served (µs).
    pub(crate) started_at: i64,
    /// Its id.
    pub(crate) id: String,
}

/// Cursor format version, so the encoding can change without misreading old cursors.
const CURSOR_TAG: &str = "c1";

impl Cursor {
    /// The opaque text handed to clients.
    pub fn encode(&self) -> String {
        let plain = format!("{CURSOR_TAG}|{}|{}", self.started_at, self.id);
        plain.bytes().map(|b| format!("{b:02x}")).collect()
    }

    /// Reads what [`Cursor::encode`] produced; anything else is [`QueryError::BadCursor`].
    pub fn decode(text: &str) -> Result<Cursor, QueryError> {
        if !text.len().is_multiple_of(2) || text.len() > 2048 {
            return Err(QueryError::BadCursor);
        }
        let bytes = (0..text.len())
            .step_by(2)
            .map(|i| u8::from_str_radix(text.get(i..i + 2)?, 16).ok())
            .collect::<Option<Vec<u8>>>()
            .ok_or(QueryError::BadCursor)?;
        let plain = String::from_utf8(bytes).map_err(|_| QueryError::BadCursor)?;
        let mut parts = plain.splitn(3, '|');
        let (Some(CURSOR_TAG), Some(time), Some(id)) = (parts.next(), parts.next(), parts.next())
        else {
            return Err(QueryError::BadCursor);
        };
        let started_at = time.parse().map_err(|_| QueryError::BadCursor)?;
        Ok(Cursor {
            started_at,
            id: id.to_string(),
        })
    }
}

impl HistoryQuery {
    /// The page size actually served.
    pub fn effective_limit(&self) -> u32 {
        self.limit.unwrap_or(DEFAULT_LIMIT).clamp(1, MAX_LIMIT)
    }

    /// Builds a query from URL query parameters (`since=…&extension=2001&…`), the form the
    /// HTTP API receives. An empty value counts as absent (HTML forms send them); an unknown
    /// key, a bad time, disposition, direction, limit or cursor is a [`QueryError`].
    /// A `limit` above [`MAX_LIMIT`] is served as [`MAX_LIMIT`].
    pub fn from_params<'a, I>(params: I) -> Result<HistoryQuery, QueryError>
    where
        I: IntoIterator<Item = (&'a str, &'a str)>,
    {
        let mut q = HistoryQuery::default();
        for (key, value) in params {
            let value = value.trim();
            if value.is_empty() {
                continue;
            }
            let time = |param: &'static str| {
                Timestamp::parse_rfc3339(value).ok_or_else(|| QueryError::BadTime {
                    param,
                    value: value.to_string(),
                })
            };
            match key {
                "since" => q.since = Some(time("since")?),
                "until" => q.until = Some(time("until")?),
                "extension" => q.extension = Some(value.to_string()),
                "number" => q.number = Some(value.to_string()),
                "server" => q.server = Some(value.to_string()),
                "disposition" => q.disposition = Some(parse_disposition(value)?),
                "direction" => q.direction = Some(parse_direction(value)?),
                "limit" => {
                    let bad = || QueryError::BadLimit {
                        value: value.to_string(),
                        max: MAX_LIMIT,
                    };
                    let n: u64 = value.parse().map_err(|_| bad())?;
                    if n == 0 {
                        return Err(bad());
                    }
                    q.limit = Some(n.min(MAX_LIMIT as u64) as u32);
                }
                "cursor" => q.cursor = Some(Cursor::decode(value)?),
                other => return Err(QueryError::UnknownParameter(other.to_string())),
            }
        }
        q.check()?;
        Ok(q)
    }

    /// Checks what the types cannot: a non-empty time range and a usable limit.
    pub fn check(&self) -> Result<(), QueryError> {
        if let (Some(since), Some(until)) = (self.since, self.until) {
            if since > until {
                return Err(QueryError::EmptyRange {
                    since: since.to_rfc3339(),
                    until: until.to_rfc3339(),
                });
            }
        }
        if self.limit == Some(0) {
            return Err(QueryError::BadLimit {
                value: "0".into(),
                max: MAX_LIMIT,
            });
        }
        Ok(())
    }
}

/// `answered` → [`Disposition::Answered`], by the contract's names.
pub fn parse_disposition(s: &str) -> Result<Disposition, QueryError> {
    use Disposition::*;
    [Answered, NoAnswer, Busy, Failed, Abandoned]
        .into_iter()
        .find(|d| d.as_str() == s)
        .ok_or_else(|| QueryError::BadDisposition(s.to_string()))
}

/// `inbound` → [`Direction::Inbound`], by the contract's names.
pub fn parse_direction(s: &str) -> Result<Direction, QueryError> {
    use Direction::*;
    [Internal, Inbound, Outbound]
        .into_iter()
        .find(|d| d.as_str() == s)
        .ok_or_else(|| QueryError::BadDirection(s.to_string()))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cursor_round_trip_and_rejects_garbage() {
        let c = Cursor {
            started_at: -5,
            id: "pbx|1:17.3".into(),
        };
        assert_eq!(Cursor::decode(&c.encode()), Ok(c));
        for bad in ["", "zz", "abc", "63317c", "6331", "63327c317c78"] {
            assert_eq!(Cursor::decode(bad), Err(QueryError::BadCursor), "{bad}");
        }
    }

    #[test]
    fn params_parse_and_errors_name_the_problem() {
        let q = HistoryQuery::from_params([
            ("since", "2026-11-24T13:00:00Z"),
            ("extension", "2001"),
            ("disposition", "no_answer"),
            ("direction", "inbound"),
            ("limit", "9999"),
            ("number", ""),
        ])
        .unwrap();
        assert_eq!(q.extension.as_deref(), Some("2001"));
        assert_eq!(q.disposition, Some(Disposition::NoAnswer));
        assert_eq!(q.direction, Some(Direction::Inbound));
        assert_eq!(q.effective_limit(), MAX_LIMIT);
        assert_eq!(q.number, None);

        let err = |k, v| HistoryQuery::from_params([(k, v)]).unwrap_err();
        assert!(matches!(
            err("since", "yesterday"),
            QueryError::BadTime { .. }
        ));
        assert!(matches!(err("limit", "0"), QueryError::BadLimit { .. }));
        assert!(matches!(err("limit", "-1"), QueryError::BadLimit { .. }));
        assert!(matches!(
            err("disposition", "ANSWERED"),
            QueryError::BadDisposition(_)
        ));
        assert!(matches!(
            err("direction", "sideways"),
            QueryError::BadDirection(_)
        ));
        assert!(matches!(err("cursor", "nope"), QueryError::BadCursor));
        assert!(matches!(
            err("extention", "2001"),
            QueryError::UnknownParameter(_)
        ));
        let range = HistoryQuery::from_params([
            ("since", "2026-11-24T13:00:00Z"),
            ("until", "2026-11-24T12:00:00Z"),
        ]);
        assert!(matches!(range, Err(QueryError::EmptyRange { .. })));
    }
}
