//! What can go wrong, split by whose fault it is.
//!
//! [`QueryError`] is the caller's: a history filter or cursor that does not parse. The HTTP
//! layer answers it with `400 Bad Request` and the error's text. Everything else in
//! [`StoreError`] is the server's (database down, corrupt row) and is a `5xx`.

use thiserror::Error;

/// A history query the caller got wrong.
#[derive(Debug, Clone, PartialEq, Eq, Error)]
pub enum QueryError {
    /// A filter or the limit is wrong (see [`history::HistoryQuery::check`]).
    #[error(transparent)]
    Invalid(#[from] history::ParamError),
    /// The cursor was not produced by this server's `next_cursor` (or was altered).
    #[error("cursor: {BAD_CURSOR}")]
    BadCursor,
}

/// What is wrong with a cursor this server did not hand out.
const BAD_CURSOR: &str = "not one this server handed out (take it from next_cursor unchanged)";

impl From<QueryError> for history::ParamError {
    /// The error as one about a request parameter, for an API to answer with `400`.
    fn from(e: QueryError) -> history::ParamError {
        match e {
            QueryError::Invalid(e) => e,
            QueryError::BadCursor => history::ParamError::new("cursor", BAD_CURSOR),
        }
    }
}

/// Any failure of the store.
#[derive(Debug, Error)]
pub enum StoreError {
    /// The caller's query is wrong (HTTP 400).
    #[error(transparent)]
    Query(#[from] QueryError),
    /// `DATABASE_URL` is neither `sqlite:` nor `postgres://`.
    #[error(
        "unsupported database URL {0:?}: use sqlite://path/to/file.db or postgres://user@host/db"
    )]
    UnsupportedUrl(String),
    /// The URL parsed but its options are wrong.
    #[error("bad database URL {url:?}: {source}")]
    BadUrl {
        /// The URL, password removed.
        url: String,
        /// Why sqlx refused it.
        source: sqlx::Error,
    },
    /// Could not open or reach the database.
    #[error("cannot connect to the database at {url}: {source} (check that it runs, the address, the credentials, and for SQLite that the directory exists and is writable)")]
    Connect {
        /// The URL, password removed.
        url: String,
        /// The driver's error.
        source: sqlx::Error,
    },
    /// A migration failed; the schema is left at the last migration that succeeded.
    #[error("database migration failed: {0}")]
    Migrate(#[from] sqlx::migrate::MigrateError),
    /// A query failed (connection lost, disk full, ...).
    #[error("database error: {0}")]
    Database(#[from] sqlx::Error),
    /// The journal directory cannot be opened or read.
    #[error("cannot use the journal directory {dir}: {source} (check it exists and is writable)")]
    Journal {
        /// The directory.
        dir: std::path::PathBuf,
        /// The I/O error.
        source: std::io::Error,
    },
    /// The journal holds call records for another database: replaying them here would
    /// put calls in the wrong history.
    #[error("the journal in {dir} belongs to the database {journal}, not {database}, and holds {pending} call records not yet written there: start once with {journal} to write them, or move the directory away (the records are then kept but not written)")]
    JournalOfAnotherDatabase {
        /// The journal directory.
        dir: std::path::PathBuf,
        /// The database it belongs to (password removed).
        journal: String,
        /// The database it was opened with (password removed).
        database: String,
        /// Records waiting in it (entries of the earlier journal format not counted).
        pending: u64,
    },
    /// A stored record does not decode as a call record.
    #[error("stored call record {id:?} is not valid: {source}")]
    Corrupt {
        /// The record's id.
        id: String,
        /// Why it does not decode.
        source: serde_json::Error,
    },
}

impl StoreError {
    /// True when the database refused *this data* (a constraint, a value it cannot store),
    /// so trying again can never succeed; false for everything that may pass later
    /// (connection lost, timeouts, locks, disk full, a server shutting down).
    pub fn is_record_refused(&self) -> bool {
        let StoreError::Database(sqlx::Error::Database(e)) = self else {
            return matches!(self, StoreError::Corrupt { .. });
        };
        if e.try_downcast_ref::<sqlx::postgres::PgDatabaseError>()
            .is_some()
        {
            // SQLSTATE classes 22 (data exception) and 23 (integrity constraint violation).
            return e
                .code()
                .is_some_and(|c| c.starts_with("22") || c.starts_with("23"));
        }
        // SQLite: the primary result code is the low byte of the extended one.
        let primary = e
            .code()
            .and_then(|c| c.parse::<u32>().ok())
            .map(|c| c & 0xff);
        // TOOBIG, CONSTRAINT, MISMATCH, RANGE.
        matches!(primary, Some(18 | 19 | 20 | 25))
    }

    /// True when the caller is at fault (answer 400), false when the server is (5xx).
    pub fn is_client_error(&self) -> bool {
        matches!(self, StoreError::Query(_))
    }
}

/// `postgres://user:secret@host/db` → `postgres://user:***@host/db`: errors and logs must
/// never show a password.
pub(crate) fn redact_url(url: &str) -> String {
    let Some((scheme, rest)) = url.split_once("://") else {
        return url.to_string();
    };
    let (authority, path) = match rest.find('/') {
        Some(i) => rest.split_at(i),
        None => (rest, ""),
    };
    match authority.rsplit_once('@') {
        Some((userinfo, host)) => {
            let user = userinfo.split(':').next().unwrap_or("");
            if userinfo.contains(':') {
                format!("{scheme}://{user}:***@{host}{path}")
            } else {
                format!("{scheme}://{userinfo}@{host}{path}")
            }
        }
        None => url.to_string(),
    }
}

#[cfg(test)]
mod tests {
    use super::redact_url;

    #[test]
    fn passwords_never_show() {
        assert_eq!(
            redact_url("postgres://u:pw@h:5432/db?x=1"),
            "postgres://u:***@h:5432/db?x=1"
        );
        assert_eq!(redact_url("postgres://u@h/db"), "postgres://u@h/db");
        assert_eq!(redact_url("sqlite://a/b.db"), "sqlite://a/b.db");
    }
}
