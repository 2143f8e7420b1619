//! [`Store`]: the call history in SQLite or PostgreSQL.

use std::str::FromStr;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use sqlx::postgres::{PgConnectOptions, PgPool, PgPoolOptions};
use sqlx::sqlite::{
    SqliteConnectOptions, SqliteJournalMode, SqlitePool, SqlitePoolOptions, SqliteSynchronous,
};
use sqlx::Row;
use std::sync::Arc;
use tokio::sync::OnceCell;
use tracker::CallRecord;

use crate::columns::Columns;
use crate::error::{redact_url, QueryError, StoreError};
use crate::migrate::migrator;
use crate::query::{Cursor, Page};
use crate::sql::{bind_all, record_column, Dialect, Statement, Value};
use history::HistoryQuery;

/// How long SQLite waits for another writer's lock before failing a statement.
const SQLITE_BUSY_TIMEOUT: Duration = Duration::from_secs(5);
/// How long to wait for a pooled connection (a database outage shows up as this).
const ACQUIRE_TIMEOUT: Duration = Duration::from_secs(5);
/// Rows per multi-row `INSERT`: far below both databases' limits on bound values
/// (SQLite 32766, PostgreSQL 65535) with the 12 columns of `calls`.
const ROWS_PER_INSERT: usize = 200;
/// (call, party) pairs per `INSERT` into `call_parties`.
const PARTIES_PER_INSERT: usize = 1000;

/// The call history: a pool of connections to one database, with its schema migrated.
/// Cheap to clone (the pool is shared).
#[derive(Clone, Debug)]
pub struct Store {
    pool: Pool,
    url: String,
    /// Set once the schema is known to be up to date (the first successful connection).
    migrated: Arc<OnceCell<()>>,
}

#[derive(Clone, Debug)]
enum Pool {
    Sqlite(SqlitePool),
    Postgres(PgPool),
}

/// Runs the same code on whichever pool the store has. Both arms are type-checked on their
/// own, so the body may use the pool's concrete type.
macro_rules! with_pool {
    ($store:expr, $pool:ident => $body:expr) => {
        match &$store.pool {
            Pool::Sqlite($pool) => $body,
            Pool::Postgres($pool) => $body,
        }
    };
}

impl Store {
    /// Opens the database and brings its schema up to date.
    ///
    /// - `sqlite://path/to/file.db` (also `sqlite:file.db`, `sqlite::memory:`): the file is
    ///   created if missing, in WAL mode (readers never wait for the writer) with
    ///   `synchronous = FULL` (every commit is fsynced: the writer deletes journal segments
    ///   once the database confirmed them, so a commit a power loss could still undo, as
    ///   with `NORMAL`, would lose calls; batches make it one fsync per batch) and a 5 s
    ///   busy timeout.
    /// - `postgres://user:pass@host:5432/db` (or `postgresql://`). `?options=-c
    ///   search_path=myschema` keeps the tables in a schema of their own.
    pub async fn connect(url: &str) -> Result<Store, StoreError> {
        let store = Store::connect_lazy(url)?;
        store.ready().await?;
        Ok(store)
    }

    /// Like [`Store::connect`] but touches no database now: the first operation connects
    /// and migrates, and until that succeeds every operation fails with a connection error.
    /// For a service that must start (and journal its calls) while the database is down.
    /// Only the URL is checked here.
    pub fn connect_lazy(url: &str) -> Result<Store, StoreError> {
        let shown = redact_url(url);
        let bad_url = |source| StoreError::BadUrl {
            url: shown.clone(),
            source,
        };
        let pool = if url.starts_with("sqlite:") {
            let options = SqliteConnectOptions::from_str(url).map_err(bad_url)?;
            // Create the file's directory too: `sqlite://data/calls.db` should just work.
            if let Some(dir) = options.get_filename().parent() {
                if !dir.as_os_str().is_empty() && !options.get_filename().as_os_str().is_empty() {
                    let _ = std::fs::create_dir_all(dir);
                }
            }
            let options = options
                .create_if_missing(true)
                .journal_mode(SqliteJournalMode::Wal)
                .synchronous(SqliteSynchronous::Full)
                .busy_timeout(SQLITE_BUSY_TIMEOUT)
                .foreign_keys(true);
            let pool = SqlitePoolOptions::new()
                .max_connections(4)
                .acquire_timeout(ACQUIRE_TIMEOUT)
                .connect_lazy_with(options);
            Pool::Sqlite(pool)
        } else if url.starts_with("postgres://") || url.starts_with("postgresql://") {
            let options = PgConnectOptions::from_str(url).map_err(bad_url)?;
            let pool = PgPoolOptions::new()
                .max_connections(8)
                .acquire_timeout(ACQUIRE_TIMEOUT)
                .connect_lazy_with(options);
            Pool::Postgres(pool)
        } else {
            return Err(StoreError::UnsupportedUrl(shown));
        };
        Ok(Store {
            pool,
            url: shown,
            migrated: Arc::new(OnceCell::new()),
        })
    }

    /// Connects (if no connection was ever made) and brings the schema up to date, once.
    /// Every operation does this first; a lazily opened store calls it to learn now whether
    /// the database answers, and may call it again after a failure.
    pub async fn ready(&self) -> Result<(), StoreError> {
        self.migrated
            .get_or_try_init(|| async {
                let connect_err = |source| StoreError::Connect {
                    url: self.url.clone(),
                    source,
                };
                with_pool!(self, pool => drop(pool.acquire().await.map_err(connect_err)?));
                let migrator = migrator(self.dialect()).await?;
                with_pool!(self, pool => migrator.run(pool).await)?;
                Ok::<(), StoreError>(())
            })
            .await?;
        Ok(())
    }

    /// The database URL with any password hidden, for logs.
    pub fn url(&self) -> &str {
        &self.url
    }

    /// `"sqlite"` or `"postgres"`.
    pub fn backend(&self) -> &'static str {
        match self.dialect() {
            Dialect::Sqlite => "sqlite",
            Dialect::Postgres => "postgres",
        }
    }

    fn dialect(&self) -> Dialect {
        match self.pool {
            Pool::Sqlite(_) => Dialect::Sqlite,
            Pool::Postgres(_) => Dialect::Postgres,
        }
    }

    /// Stores one record in its own transaction (insert, or replace the row with its id).
    /// The [`crate::Writer`] batches instead; this is for tools and the benchmark's
    /// reference.
    pub async fn upsert(&self, record: &CallRecord) -> Result<(), StoreError> {
        self.upsert_batch(std::slice::from_ref(record)).await
    }

    /// Stores records in one transaction: all or none. A record whose `id` is already
    /// stored replaces it (a replayed or resynced call updates its row, never duplicates
    /// it); when the same `id` appears twice in `records`, the later one wins.
    pub async fn upsert_batch(&self, records: &[CallRecord]) -> Result<(), StoreError> {
        if records.is_empty() {
            return Ok(());
        }
        self.ready().await?;
        // Keep the last version of each id: PostgreSQL refuses to update one row twice in
        // one INSERT, and the later version is the one that must win anyway.
        let mut latest: Vec<&CallRecord> = Vec::with_capacity(records.len());
        let mut seen = std::collections::HashMap::with_capacity(records.len());
        for r in records {
            match seen.get(r.id.as_str()) {
                Some(&i) => latest[i] = r,
                None => {
                    seen.insert(r.id.as_str(), latest.len());
                    latest.push(r);
                }
            }
        }
        let statements = self.upsert_statements(&latest)?;
        with_pool!(self, pool => {
            let mut conn = pool.acquire().await?;
            let written = async {
                let mut tx = sqlx::Connection::begin(&mut *conn).await?;
                for s in &statements {
                    bind_all!(sqlx::query(&s.sql), &s.args).execute(&mut *tx).await?;
                }
                tx.commit().await
            }
            .await;
            if let Err(e) = written {
                // A failed transaction must not go back to the pool. SQLite may roll a
                // transaction back by itself on SQLITE_FULL or an I/O error, after which
                // sqlx's own ROLLBACK fails and the connection still counts itself inside a
                // transaction: the next batch on it becomes a savepoint of a transaction
                // nobody commits, is visible on that connection, counts as written, and
                // vanishes when the pool closes. Closing the connection rolls back whatever
                // it still holds; the pool opens a fresh one for the retry.
                let _ = sqlx::Connection::close(conn.detach()).await;
                return Err(e.into());
            }
        });
        Ok(())
    }

    fn upsert_statements(&self, records: &[&CallRecord]) -> Result<Vec<Statement>, StoreError> {
        let d = self.dialect();
        let now = SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .map_or(0, |t| t.as_micros() as i64);
        let mut out = Vec::new();
        for chunk in records.chunks(ROWS_PER_INSERT) {
            let mut insert = Statement::new(
                d,
                "INSERT INTO calls (id, server, linkedid, direction, disposition, from_number, \
                 to_number, answered_by, started_at, ended_at, written_at, record) VALUES ",
            );
            let mut forget = Statement::new(d, "DELETE FROM call_parties WHERE call_id IN (");
            let mut parties: Vec<(String, String)> = Vec::new();
            for (i, r) in chunk.iter().enumerate() {
                let json = serde_json::to_string(r).map_err(|source| StoreError::Corrupt {
                    id: r.id.clone(),
                    source,
                })?;
                let cols = Columns::of(r);
                if i > 0 {
                    insert.push(", ");
                    forget.push(", ");
                }
                insert.push("(");
                for (j, v) in [
                    Value::Text(r.id.clone()),
                    Value::Text(r.server.clone()),
                    Value::Text(r.linkedid.clone()),
                    Value::Text(r.direction.as_str().into()),
                    Value::Text(r.disposition.as_str().into()),
                    Value::OptText(r.from.number.clone()),
                    Value::OptText(r.to.number.clone()),
                    Value::OptText(r.answered_by.clone()),
                    Value::Int(cols.sort_at),
                    Value::OptInt(cols.ended_at),
                    Value::Int(now),
                ]
                .into_iter()
                .enumerate()
                {
                    if j > 0 {
                        insert.push(", ");
                    }
                    insert.bind(v);
                }
                insert.push(", ").bind_json(json).push(")");
                forget.bind(Value::Text(r.id.clone()));
                parties.extend(cols.parties.into_iter().map(|p| (r.id.clone(), p)));
            }
            insert.push(
                " ON CONFLICT (id) DO UPDATE SET server = excluded.server, \
                 linkedid = excluded.linkedid, direction = excluded.direction, \
                 disposition = excluded.disposition, from_number = excluded.from_number, \
                 to_number = excluded.to_number, answered_by = excluded.answered_by, \
                 started_at = excluded.started_at, ended_at = excluded.ended_at, \
                 written_at = excluded.written_at, record = excluded.record",
            );
            forget.push(")");
            out.push(insert);
            out.push(forget);
            // A call can have any number of legs: the party rows get chunks of their own.
            for rows in parties.chunks(PARTIES_PER_INSERT) {
                let mut insert =
                    Statement::new(d, "INSERT INTO call_parties (call_id, party) VALUES ");
                for (i, (id, party)) in rows.iter().enumerate() {
                    insert.push(if i == 0 { "(" } else { ", (" });
                    insert.bind(Value::Text(id.clone())).push(", ");
                    insert.bind(Value::Text(party.clone())).push(")");
                }
                insert.push(" ON CONFLICT DO NOTHING");
                out.push(insert);
            }
        }
        Ok(out)
    }

    /// One call with its timeline, or `None` if no call has that id.
    pub async fn get(&self, id: &str) -> Result<Option<CallRecord>, StoreError> {
        self.ready().await?;
        let d = self.dialect();
        let mut s = Statement::new(d, "SELECT started_at, id, ");
        s.push(record_column(d))
            .push(" AS record FROM calls WHERE id = ")
            .bind(Value::Text(id.to_string()));
        Ok(self.fetch(&s).await?.into_iter().next().map(|(_, r)| r))
    }

    /// How many calls are stored.
    pub async fn count(&self) -> Result<u64, StoreError> {
        self.ready().await?;
        let n: i64 = with_pool!(self, pool => {
            sqlx::query("SELECT COUNT(*) FROM calls").fetch_one(pool).await?.try_get(0)?
        });
        Ok(n as u64)
    }

    /// A page of history, newest first, with the filters of `query` (see [`HistoryQuery`]).
    pub async fn history(&self, query: &HistoryQuery) -> Result<Page, StoreError> {
        query.check().map_err(QueryError::from)?;
        let cursor = query.cursor.as_deref().map(Cursor::decode).transpose()?;
        self.ready().await?;
        let d = self.dialect();
        let limit = query.limit as usize;
        let mut s = Statement::new(d, "SELECT c.started_at, c.id, ");
        s.push(match d {
            Dialect::Sqlite => "c.record",
            Dialect::Postgres => "c.record::text",
        })
        .push(" AS record FROM calls c WHERE 1 = 1");
        if let Some(t) = query.since {
            s.push(" AND c.started_at >= ").bind(Value::Int(t.micros()));
        }
        if let Some(t) = query.until {
            s.push(" AND c.started_at < ").bind(Value::Int(t.micros()));
        }
        if let Some(server) = &query.server {
            s.push(" AND c.server = ").bind(Value::Text(server.clone()));
        }
        if let Some(disp) = query.disposition {
            s.push(" AND c.disposition = ")
                .bind(Value::Text(disp.as_str().into()));
        }
        if let Some(dir) = query.direction {
            s.push(" AND c.direction = ")
                .bind(Value::Text(dir.as_str().into()));
        }
        if let Some(number) = &query.number {
            s.push(" AND (");
            s.contains("c.from_number", number).push(" OR ");
            s.contains("c.to_number", number).push(")");
        }
        if let Some(ext) = &query.extension {
            s.push(
                " AND EXISTS (SELECT 1 FROM call_parties p WHERE p.call_id = c.id AND p.party = ",
            )
            .bind(Value::Text(ext.clone()))
            .push(")");
        }
        if let Some(cursor) = &cursor {
            s.push(" AND (c.started_at < ")
                .bind(Value::Int(cursor.started_at))
                .push(" OR (c.started_at = ")
                .bind(Value::Int(cursor.started_at))
                .push(" AND c.id < ")
                .bind(Value::Text(cursor.id.clone()))
                .push("))");
        }
        // One more than the page: if it comes back, there is a next page.
        s.push(" ORDER BY c.started_at DESC, c.id DESC LIMIT ")
            .bind(Value::Int(limit as i64 + 1));
        let mut rows = self.fetch(&s).await?;
        let next_cursor = if rows.len() > limit {
            rows.truncate(limit);
            rows.last().map(|(started_at, r)| {
                Cursor {
                    started_at: *started_at,
                    id: r.id.clone(),
                }
                .encode()
            })
        } else {
            None
        };
        Ok(Page {
            calls: rows.into_iter().map(|(_, r)| r).collect(),
            next_cursor,
        })
    }

    /// Runs a `SELECT started_at, id, record` and decodes the records.
    async fn fetch(&self, s: &Statement) -> Result<Vec<(i64, CallRecord)>, StoreError> {
        let rows: Vec<(i64, String, String)> = with_pool!(self, pool => {
            let rows = bind_all!(sqlx::query(&s.sql), &s.args).fetch_all(pool).await?;
            rows.iter()
                .map(|row| Ok((row.try_get(0)?, row.try_get(1)?, row.try_get(2)?)))
                .collect::<Result<_, sqlx::Error>>()?
        });
        rows.into_iter()
            .map(|(at, id, json)| match serde_json::from_str(&json) {
                Ok(record) => Ok((at, record)),
                Err(source) => Err(StoreError::Corrupt { id, source }),
            })
            .collect()
    }

    /// Closes every connection (waits for queries in flight).
    pub async fn close(&self) {
        with_pool!(self, pool => pool.close().await)
    }
}
