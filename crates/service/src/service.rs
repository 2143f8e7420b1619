//! The whole service for one configuration: the call history (store and writer), the
//! supervisor with one pipeline per enabled PBX, the bus, and reloads.
//!
//! ```text
//!   Service::start(config) ──▶ Store::connect ──▶ Writer::start ──▶ Supervisor (pipelines)
//!   Service::reload(new)   ──▶ reload::diff(old, new) ──▶ Supervisor::apply
//!   Service::shutdown()    ──▶ stop every pipeline (open calls closed) ──▶ flush the writer
//! ```

use crate::bus::Bus;
use crate::config::{Config, DatabaseConfig};
use crate::metrics;
use crate::reload::{self, ConfigChange};
use crate::sink::RecordSink;
use crate::spec::pipeline_spec;
use crate::supervisor::{Changes, Supervisor};
use std::sync::{Arc, Mutex};
use std::time::Duration;
use store::{Backlog, ShutdownReport, Store, StoreError, Writer, WriterConfig, WriterHandle};
use tokio::task::JoinHandle;
use tracker::CallRecord;

/// Messages the bus holds for its slowest subscriber before that one is told it lagged.
pub const BUS_CAPACITY: usize = 4096;

/// Why the service could not start.
#[derive(Debug, thiserror::Error)]
pub enum StartError {
    /// The database could not be opened or migrated.
    #[error("call history database: {0}")]
    Store(#[from] StoreError),
}

/// The store writer is where completed calls go: `submit` never waits.
impl RecordSink for WriterHandle {
    fn submit(&self, record: CallRecord) {
        WriterHandle::submit(self, record);
    }
}

/// A running switchboard service.
pub struct Service {
    config: Mutex<Arc<Config>>,
    supervisor: Supervisor,
    store: Store,
    writer: WriterHandle,
    sampler: JoinHandle<()>,
}

/// The writer's settings from `[database]`.
pub fn writer_config(db: &DatabaseConfig) -> WriterConfig {
    let mut w = WriterConfig::new(db.journal_dir.clone());
    w.memory_records = db.memory_bound;
    w.batch_records = db.batch_size.max(1);
    w.batch_interval = db.flush_interval;
    w
}

/// Opens the call history. A database *server* that cannot be reached is not a reason to
/// refuse the start: services come up in any order after a reboot, and the writer already
/// keeps completed calls (in memory, then in its journal) until the database answers, so
/// the service starts and `/ready` says the database is down. A SQLite file that cannot be
/// opened, a bad URL or a failed migration are configuration mistakes: refused, at once.
async fn open_store(db: &DatabaseConfig) -> Result<Store, StoreError> {
    let store = Store::connect_lazy(db.url.expose())?;
    match store.ready().await {
        Ok(()) => tracing::info!(database = %db.url, "call history opened"),
        Err(e @ StoreError::Connect { .. }) if store.backend() != "sqlite" => tracing::warn!(
            database = %db.url,
            "call history database unreachable at start ({e}); completed calls are kept \
             and written when it answers"
        ),
        Err(e) => return Err(e),
    }
    Ok(store)
}

impl Service {
    /// Opens the database, starts the writer and one pipeline per enabled PBX.
    pub async fn start(config: Config) -> Result<Service, StartError> {
        // A checked configuration is one every pipeline can run: nothing more to refuse.
        let specs: Vec<_> = config.enabled_servers().map(pipeline_spec).collect();
        let store = open_store(&config.database).await?;
        let writer = Writer::start(store.clone(), writer_config(&config.database))?;
        let sink: Arc<dyn RecordSink> = Arc::new(writer.clone());
        let supervisor = Supervisor::new(Bus::new(BUS_CAPACITY), sink);
        for spec in specs {
            // Names are unique in a checked configuration.
            if let Err(e) = supervisor.start(spec) {
                tracing::warn!("{e}");
            }
        }
        let sampler = tokio::spawn(sample_database(writer.clone()));
        Ok(Service {
            config: Mutex::new(Arc::new(config)),
            supervisor,
            store,
            writer,
            sampler,
        })
    }

    /// The pipelines.
    pub fn supervisor(&self) -> &Supervisor {
        &self.supervisor
    }

    /// The bus (subscribe for live updates).
    pub fn bus(&self) -> &Bus {
        self.supervisor.bus()
    }

    /// The call history, for queries.
    pub fn store(&self) -> &Store {
        &self.store
    }

    /// Completed calls not yet in the database, and how the database is doing.
    pub fn backlog(&self) -> Backlog {
        self.writer.backlog()
    }

    /// Waits until every call completed so far is in the database.
    pub async fn flush(&self) {
        self.writer.flush().await;
    }

    /// The configuration running now.
    pub fn config(&self) -> Arc<Config> {
        self.config
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .clone()
    }

    /// Applies a new configuration: added servers start, removed ones stop (their open
    /// calls closed and stored), changed ones restart; every other session is left alone.
    /// Changes to `[http]` and `[log]` are the caller's to apply (the binary replaces its HTTP
    /// server and its log filter); a change to `[database]` needs a restart of the process.
    /// All are reported in the result.
    pub async fn reload(&self, new: Arc<Config>) -> ConfigChange {
        let old = self.config();
        let change = reload::diff(&old, &new);
        let mut changes = Changes {
            stop: change.removed.clone(),
            ..Changes::default()
        };
        // Every setting a checked configuration holds is one a pipeline runs (the
        // extensions pattern included: the tracker takes the configuration's own regular
        // expression), so no changed server can be stopped for want of a spec.
        changes.start.extend(change.added.iter().map(pipeline_spec));
        for c in &change.changed {
            tracing::info!(server = %c.name, fields = ?c.fields, "settings changed");
            changes.restart.push(pipeline_spec(&c.new));
        }
        if change.database_changed {
            tracing::warn!(
                "[database] changed: this takes effect at the next start of switchboard"
            );
        }
        self.supervisor.apply(changes).await;
        *self.config.lock().unwrap_or_else(|p| p.into_inner()) = new;
        change
    }

    /// Stops every pipeline (their open calls are closed and handed to the writer), then
    /// writes everything to the database — or, if it stays away past the writer's grace
    /// period, to the journal for the next start.
    pub async fn shutdown(self) -> ShutdownReport {
        self.supervisor.stop_all().await;
        self.sampler.abort();
        let report = self.writer.shutdown().await;
        self.store.close().await;
        report
    }
}

/// The database metrics, once a second: the backlog, and the latency of each new batch.
async fn sample_database(writer: WriterHandle) {
    let backlog_gauge = ::metrics::gauge!(metrics::DB_BACKLOG);
    let write_latency = ::metrics::histogram!(metrics::DB_WRITE);
    let mut written = 0;
    let mut tick = tokio::time::interval(Duration::from_secs(1));
    loop {
        tick.tick().await;
        let b = writer.backlog();
        backlog_gauge.set(b.waiting() as f64);
        if b.written != written {
            written = b.written;
            if let Some(l) = b.last_write_latency {
                write_latency.record(l.as_secs_f64());
            }
        }
    }
}
