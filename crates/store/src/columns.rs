//! What of a call record is copied into indexed columns.

use tracker::{CallRecord, Timestamp};

/// The indexed copy of one record's fields.
#[derive(Debug, Clone)]
pub(crate) struct Columns {
    pub(crate) sort_at: i64,
    pub(crate) ended_at: Option<i64>,
    /// Everyone who took part, deduplicated (see [`crate::HistoryQuery::extension`]).
    pub(crate) parties: Vec<String>,
}

/// The time a call is filed under: `started_at`, else `answered_at`, else `ended_at`, else
/// 0 (the epoch). Only records replayed offline from a recording with no `Timestamp` header
/// lack all three; they sort as the oldest calls.
pub(crate) fn sort_at(record: &CallRecord) -> i64 {
    record
        .started_at
        .or(record.answered_at)
        .or(record.ended_at)
        .map_or(0, Timestamp::micros)
}

impl Columns {
    pub(crate) fn of(record: &CallRecord) -> Columns {
        let mut parties: Vec<String> = Vec::new();
        let mut add = |p: Option<&str>| {
            if let Some(p) = p.map(str::trim).filter(|p| !p.is_empty()) {
                if !parties.iter().any(|q| q == p) {
                    parties.push(p.to_string());
                }
            }
        };
        add(record.from.extension.as_deref());
        add(record.to.extension.as_deref());
        add(record.answered_by.as_deref());
        for t in &record.transfers {
            add(Some(&t.by));
            add(Some(&t.to));
        }
        for h in &record.holds {
            add(Some(&h.by));
        }
        for leg in &record.legs {
            add(leg.endpoint.as_deref());
        }
        Columns {
            sort_at: sort_at(record),
            ended_at: record.ended_at.map(Timestamp::micros),
            parties,
        }
    }
}
