//! The configuration as read, before defaults and cross-checks: every field optional and
//! remembering where it came from, so the file, `.env` and the environment can each be
//! laid over the previous source and a later error can still point at the right line.

use super::error::{ConfigError, Origin};
use super::model::{AuthKind, EventMask, ExtensionPattern, LogFormat, ReadyPolicy, TlsConfig};
use super::secret::{DatabaseUrl, Secret};
use std::net::SocketAddr;
use std::path::PathBuf;
use std::time::Duration;

/// A value and where it was set.
#[derive(Clone, Debug)]
pub(crate) struct Val<T> {
    pub value: T,
    pub origin: Origin,
    /// `servers[0].port`, `http.listen`, or the variable name `AMI_PORT`.
    pub key: String,
}

impl<T> Val<T> {
    pub fn new(value: T, origin: Origin, key: impl Into<String>) -> Self {
        Val {
            value,
            origin,
            key: key.into(),
        }
    }

    pub fn error(&self, message: impl Into<String>) -> ConfigError {
        ConfigError::new(self.origin.clone(), self.key.clone(), message)
    }
}

/// Where a server's secret is to be found; read when the configuration is finished.
#[derive(Clone, Debug)]
pub(crate) enum SecretSpec {
    Inline(Secret),
    /// Already resolved against the configuration file's folder.
    File(PathBuf),
    /// The name of an environment variable.
    Env(String),
}

/// One `[[servers]]` table (or `[server_defaults]`, or the `AMI_*` variables).
#[derive(Clone, Debug, Default)]
pub(crate) struct RawServer {
    /// The table's header line.
    pub origin: Origin,
    /// `servers[0]`; empty for a server made from `AMI_*` alone.
    pub key: String,
    /// Made from `AMI_*` variables: errors about missing fields name the variable.
    pub from_env: bool,
    pub name: Option<Val<String>>,
    pub host: Option<Val<String>>,
    pub port: Option<Val<u16>>,
    pub username: Option<Val<String>>,
    pub secret: Option<Val<SecretSpec>>,
    pub tls: Option<Val<Option<TlsConfig>>>,
    pub auth: Option<Val<AuthKind>>,
    pub events: Option<Val<EventMask>>,
    pub keepalive_interval: Option<Val<Duration>>,
    pub keepalive_deadline: Option<Val<Duration>>,
    pub connect_timeout: Option<Val<Duration>>,
    pub backoff_initial: Option<Val<Duration>>,
    pub backoff_max: Option<Val<Duration>>,
    pub extensions: Option<Val<ExtensionPattern>>,
    pub trunks: Option<Val<Vec<String>>>,
    pub enabled: Option<Val<bool>>,
}

impl RawServer {
    /// Fields this server does not set are taken from `[server_defaults]`.
    pub fn fill_from(&mut self, d: &RawServer) {
        fn fill<T: Clone>(mine: &mut Option<Val<T>>, theirs: &Option<Val<T>>) {
            if mine.is_none() {
                mine.clone_from(theirs);
            }
        }
        // `name` and `host` identify one PBX: defaults for them make no sense.
        fill(&mut self.port, &d.port);
        fill(&mut self.username, &d.username);
        fill(&mut self.secret, &d.secret);
        fill(&mut self.tls, &d.tls);
        fill(&mut self.auth, &d.auth);
        fill(&mut self.events, &d.events);
        fill(&mut self.keepalive_interval, &d.keepalive_interval);
        fill(&mut self.keepalive_deadline, &d.keepalive_deadline);
        fill(&mut self.connect_timeout, &d.connect_timeout);
        fill(&mut self.backoff_initial, &d.backoff_initial);
        fill(&mut self.backoff_max, &d.backoff_max);
        fill(&mut self.extensions, &d.extensions);
        fill(&mut self.trunks, &d.trunks);
        fill(&mut self.enabled, &d.enabled);
    }

    /// The key to blame when a required field is missing.
    pub fn missing(&self, field: &str) -> ConfigError {
        if self.from_env {
            let var = match field {
                "host" => "AMI_HOST",
                "username" => "AMI_USERNAME",
                "secret" => "AMI_PASSWORD",
                _ => field,
            };
            ConfigError::new(Origin::Env, var, "is not set")
        } else {
            ConfigError::new(
                self.origin.clone(),
                format!("{}.{field}", self.key),
                "missing",
            )
        }
    }
}

#[derive(Clone, Debug, Default)]
pub(crate) struct RawHttp {
    pub listen: Option<Val<SocketAddr>>,
    pub ready: Option<Val<ReadyPolicy>>,
    pub tokens: Option<Val<Vec<Secret>>>,
    /// `[http.stream]`.
    pub stream_ring_messages: Option<Val<usize>>,
    pub stream_ring_mb: Option<Val<usize>>,
    pub stream_client_queue: Option<Val<usize>>,
}

#[derive(Clone, Debug, Default)]
pub(crate) struct RawDatabase {
    pub url: Option<Val<DatabaseUrl>>,
    pub batch_size: Option<Val<usize>>,
    pub flush_interval: Option<Val<Duration>>,
    pub memory_bound: Option<Val<usize>>,
    pub journal_dir: Option<Val<PathBuf>>,
    pub journal_sync_interval: Option<Val<Duration>>,
    pub journal_max_mb: Option<Val<u64>>,
}

#[derive(Clone, Debug, Default)]
pub(crate) struct RawLog {
    pub format: Option<Val<LogFormat>>,
    pub filter: Option<Val<String>>,
}

#[derive(Clone, Debug, Default)]
pub(crate) struct RawConfig {
    pub servers: Vec<RawServer>,
    pub defaults: RawServer,
    pub http: RawHttp,
    pub database: RawDatabase,
    pub log: RawLog,
}

impl RawConfig {
    /// The name a server will have: its own, or `pbx1`, `pbx2`... by position.
    pub fn effective_name(&self, index: usize) -> String {
        self.servers[index]
            .name
            .as_ref()
            .map_or_else(|| default_name(index), |n| n.value.clone())
    }
}

pub(crate) fn default_name(index: usize) -> String {
    format!("pbx{}", index + 1)
}
