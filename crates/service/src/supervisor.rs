//! The supervisor: the set of running pipelines, one per PBX, each started, stopped and
//! restarted on its own.
//!
//! The map of pipelines is behind a plain mutex held only to insert, remove or look up;
//! starting and stopping happen outside it, so that stopping a PBX that takes its time
//! to log off never delays a status request or another PBX's restart.

use crate::pipeline::{Pipeline, PipelineSpec};
use crate::sink::RecordSink;
use std::collections::BTreeMap;
use std::sync::{Arc, Mutex, MutexGuard};
use stream::Hub;

/// What a reload asks of the supervisor; names refer to [`PipelineSpec::name`].
#[derive(Debug, Default)]
pub struct Changes {
    /// New PBXes to start.
    pub start: Vec<PipelineSpec>,
    /// PBXes to stop (removed or disabled).
    pub stop: Vec<String>,
    /// PBXes whose settings changed: stopped, then started with the new spec.
    pub restart: Vec<PipelineSpec>,
    /// PBXes whose tracker settings alone changed: the running tracker takes them, the
    /// session and its calls go on.
    pub retune: Vec<PipelineSpec>,
}

/// What [`Supervisor::apply`] did, by PBX name.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Applied {
    pub started: Vec<String>,
    pub stopped: Vec<String>,
    pub restarted: Vec<String>,
    /// Running on, with new tracker settings.
    pub retuned: Vec<String>,
    /// Running on, untouched.
    pub kept: Vec<String>,
}

impl std::fmt::Display for Applied {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let mut parts = Vec::new();
        for (names, what) in [
            (&self.started, "started"),
            (&self.stopped, "stopped"),
            (&self.restarted, "restarted"),
            (&self.retuned, "new tracker settings for"),
        ] {
            if !names.is_empty() {
                parts.push(format!("{what} {}", names.join(", ")));
            }
        }
        parts.push(format!("{} kept as they were", self.kept.len()));
        f.write_str(&parts.join("; "))
    }
}

/// Runs the pipelines.
pub struct Supervisor {
    pipelines: Mutex<BTreeMap<String, Arc<Pipeline>>>,
    hub: Arc<Hub>,
    sink: Arc<dyn RecordSink>,
}

/// A PBX name that is already running.
#[derive(Debug, thiserror::Error)]
#[error("a PBX named {0:?} is already running; PBX names must be unique")]
pub struct AlreadyRunning(pub String);

impl Supervisor {
    /// No pipelines yet; they will publish on `hub` and hand completed calls to `sink`.
    pub fn new(hub: Arc<Hub>, sink: Arc<dyn RecordSink>) -> Supervisor {
        Supervisor {
            pipelines: Mutex::new(BTreeMap::new()),
            hub,
            sink,
        }
    }

    fn map(&self) -> MutexGuard<'_, BTreeMap<String, Arc<Pipeline>>> {
        self.pipelines.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// The live stream every pipeline publishes on.
    pub fn hub(&self) -> &Arc<Hub> {
        &self.hub
    }

    /// Starts one PBX's pipeline.
    pub fn start(&self, spec: PipelineSpec) -> Result<(), AlreadyRunning> {
        let mut map = self.map();
        if map.contains_key(&spec.name) {
            return Err(AlreadyRunning(spec.name));
        }
        let name = spec.name.clone();
        let pipeline = Pipeline::start(spec, self.hub.clone(), self.sink.clone());
        map.insert(name, Arc::new(pipeline));
        Ok(())
    }

    /// Stops one PBX's pipeline and waits until its open calls are handed to the sink.
    /// False when no such PBX runs.
    pub async fn stop(&self, name: &str) -> bool {
        let Some(pipeline) = self.map().remove(name) else {
            return false;
        };
        stop_pipeline(pipeline).await;
        true
    }

    /// Stops (if running) and starts again with `spec`.
    pub async fn restart(&self, spec: PipelineSpec) {
        self.stop(&spec.name).await;
        // Nobody else starts this name between the two steps but another restart of the
        // same PBX, which would have found it running: report and keep the running one.
        if let Err(e) = self.start(spec) {
            tracing::warn!("{e}");
        }
    }

    /// Applies a reload: only the named PBXes are touched; every other session goes on.
    /// Says what it did, and which running PBXes it kept as they were.
    pub async fn apply(&self, changes: Changes) -> Applied {
        let mut applied = Applied::default();
        // Stops first, so that a PBX renamed in place (removed + added with the same
        // address) never runs twice at once.
        let stops = changes.stop.iter().map(|name| async move {
            let stopped = self.stop(name).await;
            if stopped {
                tracing::info!(server = %name, "removed from the configuration: stopped");
            }
            stopped.then(|| name.clone())
        });
        applied.stopped = futures::future::join_all(stops)
            .await
            .into_iter()
            .flatten()
            .collect();
        for spec in changes.retune {
            match self.get(&spec.name) {
                Some(p) => {
                    tracing::info!(server = %spec.name, "extensions or trunks changed: the running tracker takes them, the session goes on");
                    p.retune(spec.tracker);
                    applied.retuned.push(spec.name);
                }
                // Not running (it could not be started): start it as configured now.
                None => match self.start(spec) {
                    Ok(()) => {}
                    Err(e) => tracing::warn!("{e}"),
                },
            }
        }
        applied.restarted = changes.restart.iter().map(|s| s.name.clone()).collect();
        let restarts = changes.restart.into_iter().map(|spec| async move {
            tracing::info!(server = %spec.name, "configuration changed: restarting its session");
            self.restart(spec).await;
        });
        futures::future::join_all(restarts).await;
        for spec in changes.start {
            let name = spec.name.clone();
            match self.start(spec) {
                Ok(()) => {
                    tracing::info!(server = %name, "added to the configuration: started");
                    applied.started.push(name);
                }
                Err(e) => tracing::warn!("{e}"),
            }
        }
        applied.kept = self
            .names()
            .into_iter()
            .filter(|n| {
                !applied.started.contains(n)
                    && !applied.restarted.contains(n)
                    && !applied.retuned.contains(n)
            })
            .collect();
        applied
    }

    /// Stops every pipeline, all at once, and waits for them.
    pub async fn stop_all(&self) {
        let all: Vec<_> = std::mem::take(&mut *self.map()).into_values().collect();
        futures::future::join_all(all.into_iter().map(stop_pipeline)).await;
    }

    /// Names of the running PBXes, sorted.
    pub fn names(&self) -> Vec<String> {
        self.map().keys().cloned().collect()
    }

    /// One running pipeline, to read its tracker or send actions through its client.
    pub fn get(&self, name: &str) -> Option<Arc<Pipeline>> {
        self.map().get(name).cloned()
    }

    /// Every running pipeline, sorted by name.
    pub fn pipelines(&self) -> Vec<Arc<Pipeline>> {
        self.map().values().cloned().collect()
    }
}

async fn stop_pipeline(pipeline: Arc<Pipeline>) {
    pipeline.stop().await;
}
