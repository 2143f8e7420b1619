//! The whole service for one configuration: the call history (store and writer), the
//! supervisor with one pipeline per enabled PBX, the bus, and reloads.
//!
//! ```text
//!   Service::start(config) ──▶ Store::connect ──▶ Writer::start ──▶ Supervisor (pipelines)
//!   Service::reload(new)   ──▶ reload::diff(old, new) ──▶ Supervisor::apply
//!   Service::shutdown()    ──▶ stop every pipeline (open calls closed) ──▶ flush the writer
//! ```

use crate::config::ServerConfig;
use crate::config::{Config, DatabaseConfig};
use crate::metrics;
use crate::pipeline::PipelineSpec;
use crate::reload::{self, ConfigChange};
use crate::sink::RecordSink;
use crate::spec::pipeline_spec;
use crate::status::{self, Readiness, ServerStatus};
use crate::supervisor::{Changes, Supervisor};
use crate::topology::{Refusal, Refused, Reloaded};
use std::sync::{Arc, Mutex};
use std::time::Duration;
use store::{Backlog, ShutdownReport, Store, StoreError, Writer, WriterConfig, WriterHandle};
use tokio::task::JoinHandle;
use tracker::CallRecord;

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

    fn waiting(&self) -> u64 {
        self.backlog().waiting()
    }
}

/// A reload of the pipelines, checked and built by [`Service::stage`], applied by
/// [`Service::commit`]. Dropping it applies nothing.
#[derive(Debug)]
pub struct Plan {
    new: Arc<Config>,
    change: ConfigChange,
    changes: Changes,
}

/// A running switchboard service.
pub struct Service {
    config: Mutex<Arc<Config>>,
    supervisor: Supervisor,
    store: Store,
    writer: WriterHandle,
    sampler: JoinHandle<()>,
}

/// Where the calls in progress of every PBX are checkpointed: beside the store's journal,
/// one directory per PBX (see [`crate::checkpoint`]).
pub fn checkpoint_dir(config: &Config) -> std::path::PathBuf {
    config.database.journal_dir.join("checkpoints")
}

/// The pipeline of `server` in this process: its own settings, and where its calls in
/// progress are kept across a restart.
fn spec(config: &Config, server: &ServerConfig) -> PipelineSpec {
    let mut spec = pipeline_spec(server);
    spec.checkpoint_dir = Some(checkpoint_dir(config).join(&server.name));
    spec
}

/// The writer's settings from `[database]`.
pub fn writer_config(db: &DatabaseConfig) -> WriterConfig {
    let mut w = WriterConfig::new(db.journal_dir.clone());
    w.memory_records = db.memory_bound;
    w.journal_sync_interval = db.journal_sync_interval;
    w.journal_max_bytes = db.journal_max_mb.saturating_mul(1024 * 1024);
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
        let specs: Vec<_> = config.enabled_servers().map(|s| spec(&config, s)).collect();
        let store = open_store(&config.database).await?;
        let writer = Writer::start(store.clone(), writer_config(&config.database))?;
        let sink: Arc<dyn RecordSink> = Arc::new(writer.clone());
        let supervisor = Supervisor::new(stream::Hub::new(config.http.stream.clone()), sink);
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

    /// The live stream (subscribe for updates).
    pub fn hub(&self) -> &Arc<stream::Hub> {
        self.supervisor.hub()
    }

    /// The call history, for queries.
    pub fn store(&self) -> &Store {
        &self.store
    }

    /// Completed calls not yet in the database, and how the database is doing.
    pub fn backlog(&self) -> Backlog {
        self.writer.backlog()
    }

    /// Every configured PBX's status, in the configuration's order (disabled ones too).
    pub fn statuses(&self) -> Vec<ServerStatus> {
        let config = self.config();
        let backlog = self.writer.backlog();
        let database_backlog = backlog.waiting();
        config
            .servers
            .iter()
            .map(
                |s| match self.supervisor.get(&s.name).filter(|_| s.enabled) {
                    Some(p) => p.status(database_backlog),
                    None => status::disabled(&s.name),
                },
            )
            .collect()
    }

    /// What `/ready` answers: the `[http] ready` policy applied to every PBX's status and
    /// to the database.
    pub fn readiness(&self) -> Readiness {
        let config = self.config();
        status::readiness(&config.http.ready, &self.statuses(), &self.writer.backlog())
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

    /// Checks and builds what `new` asks of the pipelines, touching nothing that runs:
    /// the TLS settings of every server that will open a new session are loaded as a
    /// connection would load them. Every refusal is collected, not only the first.
    pub async fn stage(&self, new: Arc<Config>) -> Result<Plan, Refused> {
        let old = self.config();
        let change = reload::diff(&old, &new);
        let mut changes = Changes {
            stop: change.removed.clone(),
            ..Changes::default()
        };
        // Every setting a checked configuration holds is one a pipeline runs (the
        // extensions pattern included: the tracker takes the configuration's own regular
        // expression), so building a spec cannot fail.
        changes
            .start
            .extend(change.added.iter().map(|s| spec(&new, s)));
        for c in &change.changed {
            if c.needs_new_session() {
                changes.restart.push(spec(&new, &c.new));
            } else {
                changes.retune.push(spec(&new, &c.new));
            }
        }
        let to_check: Vec<(String, String, ami::TlsOptions)> = changes
            .start
            .iter()
            .chain(&changes.restart)
            .filter_map(|spec| {
                let tls = spec.client.tls.clone()?;
                Some((spec.name.clone(), spec.client.host.clone(), tls))
            })
            .collect();
        // Reading a CA file or the system store is blocking I/O.
        let refusals = tokio::task::spawn_blocking(move || {
            to_check
                .into_iter()
                .filter_map(|(name, host, tls)| {
                    tls.check(&host).err().map(|reason| Refusal {
                        key: format!("[[servers]] {name}: tls"),
                        reason,
                    })
                })
                .collect::<Vec<_>>()
        })
        .await
        .unwrap_or_else(|e| {
            vec![Refusal {
                key: "[[servers]]".into(),
                reason: format!("checking TLS settings failed: {e}"),
            }]
        });
        if !refusals.is_empty() {
            return Err(Refused(refusals));
        }
        Ok(Plan {
            new,
            change,
            changes,
        })
    }

    /// Applies a staged plan: removed servers stop (their open calls closed and stored),
    /// added ones start, changed ones restart — or, when only `extensions`/`trunks`
    /// changed, their running tracker takes the new settings; every other session is left
    /// alone. `[http]` and `[log]` are their own components' (see [`crate::topology`]); a
    /// change to `[database]` needs a restart of the process and is only reported.
    pub async fn commit(&self, plan: Plan) -> Reloaded {
        let Plan {
            new,
            change,
            changes,
        } = plan;
        if change.database_changed {
            tracing::warn!(
                "[database] changed: this takes effect at the next start of switchboard"
            );
        }
        let pipelines = self.supervisor.apply(changes).await;
        *self.config.lock().unwrap_or_else(|p| p.into_inner()) = new;
        Reloaded { change, pipelines }
    }

    /// [`stage`](Self::stage) then [`commit`](Self::commit): the pipelines' part of a
    /// reload, all or nothing. [`Topology::reload`](crate::Topology::reload) does the same
    /// for the whole process.
    pub async fn reload(&self, new: Arc<Config>) -> Result<Reloaded, Refused> {
        let plan = self.stage(new).await?;
        Ok(self.commit(plan).await)
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
    let failures = ::metrics::gauge!(metrics::DB_FAILURES);
    let rejected = ::metrics::counter!(metrics::DB_REJECTED);
    let durable = ::metrics::gauge!(metrics::DURABLE);
    let lost = ::metrics::counter!(metrics::CALLS_LOST);
    let journal_bytes = ::metrics::gauge!(metrics::JOURNAL_BYTES);
    let write_latency = ::metrics::histogram!(metrics::DB_WRITE);
    let mut written = 0;
    let mut tick = tokio::time::interval(Duration::from_secs(1));
    loop {
        tick.tick().await;
        let b = writer.backlog();
        backlog_gauge.set(b.waiting() as f64);
        failures.set(f64::from(b.consecutive_failures));
        rejected.absolute(b.rejected);
        durable.set(if b.durability == store::Durability::Durable {
            1.0
        } else {
            0.0
        });
        lost.absolute(b.lost);
        journal_bytes.set(b.journal_bytes as f64);
        if b.written != written {
            written = b.written;
            if let Some(l) = b.last_write_latency {
                write_latency.record(l.as_secs_f64());
            }
        }
    }
}
