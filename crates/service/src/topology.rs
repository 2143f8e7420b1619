//! Reloads, all or nothing, as Vector's topology does them.
//!
//! A reload touches three kinds of parts: the PBX pipelines (the [`Service`]'s), the log
//! filter ([`LogHandle`]) and whatever the binary serves beside them, the HTTP API (any
//! [`Component`]). Each part first *stages* what the new configuration asks of it — checks
//! it and builds it beside the running one: TLS material read and parsed, a listener
//! bound, a filter parsed — without touching anything that runs. Only when every part has
//! staged does anything change, and then every part *commits*, in an order where nothing
//! left can fail. If any part refuses, every staged piece is dropped (a listener bound for
//! the new address closes), every PBX keeps its session and state, the running
//! configuration stays, and each refusal is reported on a line of its own.
//!
//! What a commit does to the pipelines is [`Supervisor::apply`](crate::Supervisor::apply)'s:
//! only the PBXes whose settings changed are touched, and a change of `extensions` or
//! `trunks` alone is handed to the running tracker, so the calls in progress survive it.
//!
//! A refused configuration is not retried by itself: SIGHUP, or the next change of the
//! file, tries again (the watcher publishes every good configuration on SIGHUP, even one
//! equal to the last it published, for exactly this).

use crate::config::{Config, LogFormat};
use crate::logging::LogHandle;
use crate::reload::ConfigChange;
use crate::supervisor::Applied;
use crate::Service;
use std::fmt;
use std::future::Future;
use std::sync::Arc;

/// One part of the configuration that cannot be applied, and why.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Refusal {
    /// Where in the configuration: `[http] listen`, `[[servers]] pbx1: tls`.
    pub key: String,
    /// Why, in one line.
    pub reason: String,
}

impl fmt::Display for Refusal {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}: {}", self.key, self.reason)
    }
}

/// A configuration that was not applied at all: every refusal found, one per line.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub struct Refused(pub Vec<Refusal>);

impl fmt::Display for Refused {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        for (i, r) in self.0.iter().enumerate() {
            if i > 0 {
                f.write_str("\n")?;
            }
            write!(f, "  {r}")?;
        }
        Ok(())
    }
}

/// What a reload applied.
#[derive(Clone, Debug, PartialEq)]
pub struct Reloaded {
    /// How the new configuration differs from the old one.
    pub change: ConfigChange,
    /// What was done to the pipelines, and which were kept.
    pub pipelines: Applied,
}

/// A part of the process a reload may have to replace (the binary's HTTP API).
pub trait Component: Send {
    /// What `stage` built and `commit` puts in place.
    type Staged: Send;

    /// Checks what `new` asks of this part and builds it beside the running one, touching
    /// nothing that runs. `Ok(None)`: nothing to change.
    fn stage(
        &mut self,
        running: &Config,
        new: &Config,
    ) -> impl Future<Output = Result<Option<Self::Staged>, Refusal>> + Send;

    /// Puts the staged part in place of the running one. Whatever could fail was done in
    /// `stage`: this cannot refuse.
    fn commit(&mut self, staged: Self::Staged) -> impl Future<Output = ()> + Send;
}

/// No part besides the pipelines (tests, embedders without an API).
impl Component for () {
    type Staged = ();

    async fn stage(&mut self, _: &Config, _: &Config) -> Result<Option<()>, Refusal> {
        Ok(None)
    }

    async fn commit(&mut self, (): ()) {}
}

/// The running process: the service, its log filter and the binary's `A`.
pub struct Topology<A> {
    service: Arc<Service>,
    log: Option<LogHandle>,
    api: A,
}

impl<A: Component> Topology<A> {
    pub fn new(service: Arc<Service>, log: Option<LogHandle>, api: A) -> Topology<A> {
        Topology { service, log, api }
    }

    /// The binary's part, to wait on it or to stop it.
    pub fn api(&mut self) -> &mut A {
        &mut self.api
    }

    /// Hands the binary's part back (at shutdown).
    pub fn into_api(self) -> A {
        self.api
    }

    /// Applies `new` in full, or nothing of it (see the module's documentation). Logs the
    /// outcome.
    pub async fn reload(&mut self, new: Arc<Config>) -> Result<Reloaded, Refused> {
        let running = self.service.config();
        let mut refusals = Vec::new();
        let plan = match self.service.stage(new.clone()).await {
            Ok(plan) => Some(plan),
            Err(Refused(r)) => {
                refusals.extend(r);
                None
            }
        };
        let log = match &mut self.log {
            Some(log) => log.stage(&running, &new).await.unwrap_or_else(|r| {
                refusals.push(r);
                None
            }),
            None => None,
        };
        let api = self.api.stage(&running, &new).await.unwrap_or_else(|r| {
            refusals.push(r);
            None
        });
        let Some(plan) = plan.filter(|_| refusals.is_empty()) else {
            let refused = Refused(refusals);
            tracing::error!("configuration not applied, everything runs as before:\n{refused}");
            return Err(refused);
        };
        let reloaded = self.service.commit(plan).await;
        if let (Some(handle), Some(staged)) = (&mut self.log, log) {
            handle.commit(staged).await;
        }
        if let Some(staged) = api {
            self.api.commit(staged).await;
        }
        tracing::info!(
            "configuration applied: {}; pipelines: {}",
            reloaded.change,
            reloaded.pipelines
        );
        Ok(reloaded)
    }
}

/// The log filter, staged: parsed before anything changes.
pub struct StagedLog {
    filter: tracing_subscriber::EnvFilter,
    format: Option<LogFormat>,
}

impl Component for LogHandle {
    type Staged = StagedLog;

    async fn stage(
        &mut self,
        running: &Config,
        new: &Config,
    ) -> Result<Option<StagedLog>, Refusal> {
        if running.log == new.log {
            return Ok(None);
        }
        let filter = crate::logging::parse_filter(&new.log.filter).map_err(|reason| Refusal {
            key: "[log] filter".into(),
            reason,
        })?;
        Ok(Some(StagedLog {
            filter,
            format: (new.log.format != running.log.format).then_some(new.log.format),
        }))
    }

    async fn commit(&mut self, staged: StagedLog) {
        self.set_filter(staged.filter);
        if let Some(format) = staged.format {
            tracing::warn!(
                "log format {format:?} takes effect at the next start (a log shipper expects one format per process)"
            );
        }
    }
}
