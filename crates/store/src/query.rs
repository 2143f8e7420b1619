//! Newest-first pages of history and their cursor. The query itself (filters, limit) is the
//! `history` crate's, shared with the HTTP API.
//!
//! Paging is by *keyset*, not offset: a page ends at some `(started_at, id)` and the next
//! page is "everything strictly older than that key". Calls stored while a client pages
//! (newer ones, or a resync rewriting an old one) therefore never shift the pages: no call
//! is served twice and none is skipped. The cursor is that key, hex-encoded so clients
//! treat it as opaque.

use crate::error::QueryError;
use tracker::CallRecord;

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
}
