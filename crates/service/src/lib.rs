//! The service core of switchboard: its configuration (with reload) and its logging; one
//! pipeline per PBX, joined by one bus.
//!
//! ```text
//!  PBX ─▶ ami::Client ─▶ tracker::Tracker ─▶ sinks: store writer, metrics
//!                                         └─▶ stream::Hub ─▶ WebSocket / SSE (lossy, per client)
//! ```
//!
//! - [`config`]: `switchboard.toml`, the environment and `.env`.
//! - [`pipeline`]: one PBX: session, tracker, expiry, resync, lifecycle logs;
//!   [`spec`]: a configured server → what its pipeline runs.
//! - [`service`]: all of it for one configuration: store, writer, pipelines, reload.
//! - [`supervisor`]: the set of pipelines; start, stop, restart, apply a reload.
//! - [`topology`]: reloads all or nothing: every part staged before any is touched.
//! - [`live`]: the tracker's updates as the stream's changes (whole views); [`sink`]:
//!   where completed calls go.
//! - [`checkpoint`]: the calls in progress, kept across a restart.
//! - [`status`]: per-PBX status; [`metrics`]: the `switchboard_*` metrics.
#![forbid(unsafe_code)]

pub mod config;
pub mod logging;
pub mod reload;
pub mod watch;

pub mod checkpoint;
pub mod live;
pub mod metrics;
pub mod pipeline;
pub mod service;
pub mod sink;
pub mod spec;
pub mod status;
pub mod supervisor;
pub mod topology;

pub use pipeline::{resync_actions, Pipeline, PipelineSpec};
pub use service::{Plan, Service, StartError};
pub use sink::{MemorySink, RecordSink};
pub use status::{ConnectionState, Readiness, ReadyPolicy, ServerStatus};
pub use supervisor::{AlreadyRunning, Applied, Changes, Supervisor};
pub use topology::{Component, Refusal, Refused, Reloaded, Topology};
