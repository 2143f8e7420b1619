//! Logging: `tracing` with a readable or JSON format and a `RUST_LOG`-style filter.
//!
//! The CLI calls [`init`] once, after loading the configuration (whose `log.filter` already
//! holds `RUST_LOG` if set, and whose `log.format` holds `LOG_FORMAT` or `--log-format`).
//! Lines go to stderr, so stdout stays clean for commands that print data. The filter can
//! be changed while running ([`LogHandle::apply`], on a configuration reload); the format
//! cannot (a log shipper expects one format per process).
//!
//! [`lifecycle`] holds the lines a person reads when a PBX link misbehaves, worded once.

pub mod lifecycle;

use crate::config::{LogConfig, LogFormat};
use std::io::IsTerminal;
use tracing::Subscriber;
use tracing_subscriber::fmt::MakeWriter;
use tracing_subscriber::layer::SubscriberExt;
use tracing_subscriber::registry::Registry;
use tracing_subscriber::util::SubscriberInitExt;
use tracing_subscriber::{reload, EnvFilter, Layer};

/// Changes the filter of the installed subscriber.
#[derive(Clone, Debug)]
pub struct LogHandle {
    filter: reload::Handle<EnvFilter, Registry>,
    format: LogFormat,
}

impl LogHandle {
    /// Applies a reloaded `[log]`: the new filter at once; a new format only at the next
    /// start (said in the returned message).
    pub fn apply(&self, config: &LogConfig) -> Result<(), String> {
        let filter = parse_filter(&config.filter)?;
        self.filter
            .reload(filter)
            .map_err(|e| format!("log filter: {e}"))?;
        if config.format != self.format {
            return Err(format!(
                "log format {:?} takes effect at the next start; still {:?}",
                config.format, self.format
            ));
        }
        Ok(())
    }
}

impl LogHandle {
    /// Puts a filter checked beforehand in place. Fails only once the subscriber is gone,
    /// when there is nothing left to filter.
    pub(crate) fn set_filter(&self, filter: EnvFilter) {
        if let Err(e) = self.filter.reload(filter) {
            tracing::warn!("log filter: {e}");
        }
    }
}

/// A `RUST_LOG`-style filter, or why it is not one.
pub(crate) fn parse_filter(text: &str) -> Result<EnvFilter, String> {
    EnvFilter::builder()
        .parse(text)
        .map_err(|e| format!("log filter {text:?}: {e}"))
}

/// Installs the global subscriber. Fails if one is installed already.
pub fn init(config: &LogConfig) -> Result<LogHandle, String> {
    let ansi = std::io::stderr().is_terminal();
    let (subscriber, handle) = subscriber(config, std::io::stderr, ansi)?;
    subscriber
        .try_init()
        .map_err(|e| format!("cannot install the logger: {e}"))?;
    Ok(handle)
}

/// The subscriber [`init`] installs, writing to `writer`: for tests and for embedding.
pub fn subscriber<W>(
    config: &LogConfig,
    writer: W,
    ansi: bool,
) -> Result<(impl Subscriber + Send + Sync, LogHandle), String>
where
    W: for<'w> MakeWriter<'w> + Send + Sync + 'static,
{
    let filter = parse_filter(&config.filter)?;
    let (filter, reload_handle) = reload::Layer::new(filter);
    let output = match config.format {
        LogFormat::Readable => tracing_subscriber::fmt::layer()
            .with_writer(writer)
            .with_ansi(ansi)
            .boxed(),
        LogFormat::Json => tracing_subscriber::fmt::layer()
            .json()
            .flatten_event(true)
            .with_writer(writer)
            .boxed(),
    };
    let subscriber = tracing_subscriber::registry().with(filter).with(output);
    Ok((
        subscriber,
        LogHandle {
            filter: reload_handle,
            format: config.format,
        },
    ))
}
