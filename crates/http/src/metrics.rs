//! Prometheus metrics: the exporter the binary installs once, and the names every crate
//! records under.
//!
//! The service records with the `metrics` crate's macros (`metrics::counter!(...)`), which
//! go to whatever recorder is installed process-wide. [`install`] makes that recorder
//! `metrics-exporter-prometheus`'s, without its own HTTP listener: `/metrics` of this crate
//! renders it. Without [`install`], the macros are no-ops and `/metrics` is empty.

use metrics_exporter_prometheus::{Matcher, PrometheusBuilder, PrometheusHandle};
use std::sync::OnceLock;

/// The names and declarations of every metric, owned by the `metric-names` crate (the
/// service records under the same ones).
pub use metric_names as names;

static HANDLE: OnceLock<PrometheusHandle> = OnceLock::new();

/// Why the exporter could not be installed.
#[derive(Debug, thiserror::Error)]
#[error("could not install the Prometheus metrics recorder: {0}")]
pub struct InstallError(String);

/// Installs the Prometheus recorder as the process's `metrics` recorder. Call once at
/// start; later calls return the same handle. Fails if another recorder was installed.
pub fn install() -> Result<PrometheusHandle, InstallError> {
    if let Some(handle) = HANDLE.get() {
        return Ok(handle.clone());
    }
    let mut builder = PrometheusBuilder::new();
    for m in names::ALL.iter().filter(|m| !m.buckets.is_empty()) {
        builder = builder
            .set_buckets_for_metric(Matcher::Full(m.name.into()), m.buckets)
            .map_err(|e| InstallError(e.to_string()))?;
    }
    let handle = builder
        .install_recorder()
        .map_err(|e| InstallError(e.to_string()))?;
    names::describe();
    Ok(HANDLE.get_or_init(|| handle).clone())
}

/// The handle [`install`] created, if it was called.
pub fn handle() -> Option<&'static PrometheusHandle> {
    HANDLE.get()
}

/// The text exposition of every metric; empty before [`install`].
pub fn render() -> String {
    HANDLE
        .get()
        .map(PrometheusHandle::render)
        .unwrap_or_default()
}
