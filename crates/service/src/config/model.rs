//! The configuration as the rest of the service sees it: validated, defaults filled in,
//! secrets read. Nothing in here can be wrong any more; [`super::Sources::load`] made sure.

use super::secret::{DatabaseUrl, Secret};
use std::net::SocketAddr;
use std::path::PathBuf;
use std::time::Duration;

/// The whole configuration of one switchboard process.
#[derive(Clone, Debug, PartialEq)]
pub struct Config {
    /// Every configured PBX, in file order, disabled ones included.
    pub servers: Vec<ServerConfig>,
    pub http: HttpConfig,
    pub database: DatabaseConfig,
    pub log: LogConfig,
}

impl Config {
    pub fn server(&self, name: &str) -> Option<&ServerConfig> {
        self.servers.iter().find(|s| s.name == name)
    }

    /// The servers the supervisor should run.
    pub fn enabled_servers(&self) -> impl Iterator<Item = &ServerConfig> {
        self.servers.iter().filter(|s| s.enabled)
    }
}

/// One PBX: where its AMI port is, how to log in, how to watch the link.
#[derive(Clone, Debug, PartialEq)]
pub struct ServerConfig {
    /// Unique; the prefix of call ids (`pbx1:1700000000.12`) and the label of its metrics.
    /// Letters, digits, `-`, `_`, `.`.
    pub name: String,
    pub host: String,
    /// 5038 by default, 5039 with TLS (Asterisk's defaults in `manager.conf`).
    pub port: u16,
    pub username: String,
    pub secret: Secret,
    /// Where the secret came from, to say so in logs without saying the secret.
    pub secret_source: SecretSource,
    /// `None`: plain TCP.
    pub tls: Option<TlsConfig>,
    pub auth: AuthKind,
    /// The `Events:` header of the login.
    pub events: EventMask,
    pub keepalive: KeepAlive,
    /// TCP connect plus TLS handshake plus the banner.
    pub connect_timeout: Duration,
    pub backoff: Backoff,
    /// Which endpoints are our phones; see [`ExtensionPattern`].
    pub extensions: ExtensionPattern,
    /// Endpoints that are trunks even if they match `extensions`.
    pub trunks: Vec<String>,
    pub enabled: bool,
}

impl ServerConfig {
    pub const DEFAULT_CONNECT_TIMEOUT: Duration = Duration::from_secs(5);

    /// A server with every default (plain TCP on `port`, plain login, all events): for
    /// code that makes its own, such as `switchboard demo` with its simulated PBX.
    pub fn new(
        name: impl Into<String>,
        host: impl Into<String>,
        port: u16,
        username: impl Into<String>,
        secret: Secret,
    ) -> Self {
        ServerConfig {
            name: name.into(),
            host: host.into(),
            port,
            username: username.into(),
            secret,
            secret_source: SecretSource::Inline,
            tls: None,
            auth: AuthKind::default(),
            events: EventMask::default(),
            keepalive: KeepAlive::default(),
            connect_timeout: Self::DEFAULT_CONNECT_TIMEOUT,
            backoff: Backoff::default(),
            extensions: ExtensionPattern::default(),
            trunks: Vec::new(),
            enabled: true,
        }
    }

    /// `host:port`, as a person would type it (IPv6 literals in brackets).
    pub fn address(&self) -> String {
        if self.host.contains(':') {
            format!("[{}]:{}", self.host, self.port)
        } else {
            format!("{}:{}", self.host, self.port)
        }
    }

    /// The names of the settings that differ between `self` and `other`, for the reload
    /// log and for deciding whether the session must be restarted.
    pub fn changed_fields(&self, other: &ServerConfig) -> Vec<&'static str> {
        let mut out = Vec::new();
        let mut check = |name: &'static str, same: bool| {
            if !same {
                out.push(name);
            }
        };
        check("name", self.name == other.name);
        check("host", self.host == other.host);
        check("port", self.port == other.port);
        check("username", self.username == other.username);
        // Compares the values, so a changed secret file counts; the source alone
        // (file → env with the same value) does not need a new session.
        check("secret", self.secret == other.secret);
        check("tls", self.tls == other.tls);
        check("auth", self.auth == other.auth);
        check("events", self.events == other.events);
        check("keepalive", self.keepalive == other.keepalive);
        check(
            "connect_timeout",
            self.connect_timeout == other.connect_timeout,
        );
        check("backoff", self.backoff == other.backoff);
        check("extensions", self.extensions == other.extensions);
        check("trunks", self.trunks == other.trunks);
        check("enabled", self.enabled == other.enabled);
        out
    }
}

/// Where a server's secret was read from.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum SecretSource {
    /// `secret = "..."` in the file.
    Inline,
    /// `secret_file = "..."`, resolved against the configuration file's folder.
    File(PathBuf),
    /// `secret_env = "VAR"`, or `AMI_PASSWORD`.
    Env(String),
}

/// TLS to the AMI port (Asterisk's `tlsenable = yes`, port 5039 by default).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct TlsConfig {
    /// Check the certificate chain and the host name. Off only for a lab PBX with a
    /// self-signed certificate; prefer `ca_file`.
    pub verify: bool,
    /// PEM file with the CA certificates to trust instead of the system's roots.
    pub ca_file: Option<PathBuf>,
    /// The name to check the certificate against when `host` is an IP address.
    pub server_name: Option<String>,
    /// Trust exactly the certificate with this SHA-256 fingerprint (no name or chain
    /// check): Asterisk's self-signed certificate, vouched for by its admin.
    pub pin_sha256: Option<ami::CertPin>,
}

impl Default for TlsConfig {
    fn default() -> Self {
        TlsConfig {
            verify: true,
            ca_file: None,
            server_name: None,
            pin_sha256: None,
        }
    }
}

/// How to log in.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Default)]
pub enum AuthKind {
    /// `Action: Login` with `Secret:`: the secret crosses the wire; use TLS off a LAN.
    #[default]
    Plain,
    /// `Action: Challenge` then `Login` with `Key: md5(challenge + secret)`.
    Md5,
}

impl AuthKind {
    pub fn as_str(self) -> &'static str {
        match self {
            AuthKind::Plain => "plain",
            AuthKind::Md5 => "md5",
        }
    }
}

/// The `Events:` header of the login: which event classes Asterisk sends us. The user in
/// `manager.conf` must also have `read` permission for them.
#[derive(Clone, Debug, PartialEq, Eq, Default)]
pub enum EventMask {
    /// Every class the user may read. What call tracking needs, and the default.
    #[default]
    On,
    /// No events: actions only.
    Off,
    /// Only these classes (lowercase, e.g. `call`, `agent`, `system`).
    Classes(Vec<String>),
}

impl EventMask {
    /// Event classes Asterisk knows (`manager.conf`'s read/write permissions).
    pub const CLASSES: &'static [&'static str] = &[
        "system",
        "call",
        "log",
        "verbose",
        "command",
        "agent",
        "user",
        "config",
        "dtmf",
        "reporting",
        "cdr",
        "dialplan",
        "originate",
        "agi",
        "cc",
        "aoc",
        "test",
        "security",
        "message",
        "all",
    ];

    /// The value of the login's `Events:` header.
    pub fn header_value(&self) -> String {
        match self {
            EventMask::On => "on".into(),
            EventMask::Off => "off".into(),
            EventMask::Classes(c) => c.join(","),
        }
    }
}

/// Keep-alive: a `Ping` every `interval` when the link is otherwise quiet; no answer
/// within `deadline` means the link is dead (a half-open TCP connection can otherwise
/// look healthy for many minutes).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct KeepAlive {
    pub interval: Duration,
    pub deadline: Duration,
}

impl Default for KeepAlive {
    fn default() -> Self {
        KeepAlive {
            interval: Duration::from_secs(10),
            deadline: Duration::from_secs(5),
        }
    }
}

/// Reconnection delays: `initial` after the first failure, doubling (with jitter) up to
/// `max`, back to `initial` once a session has been up for a while.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Backoff {
    pub initial: Duration,
    pub max: Duration,
}

impl Default for Backoff {
    fn default() -> Self {
        Backoff {
            initial: Duration::from_millis(500),
            max: Duration::from_secs(30),
        }
    }
}

/// Which endpoint names are internal extensions: the tracker's own type, a regular
/// expression that must match the whole name, parsed here once and run by the tracker as is.
pub use tracker::ExtensionPattern;

/// `[http]`: the API's listen address and readiness policy.
#[derive(Clone, Debug, PartialEq)]
pub struct HttpConfig {
    /// `127.0.0.1:8480` by default (8088/8089 are Asterisk's own HTTP server).
    pub listen: SocketAddr,
    pub ready: ReadyPolicy,
    /// Bearer tokens for the control API (later). Without any, the API is read-only and
    /// listens on loopback only.
    pub tokens: Vec<Secret>,
    /// `[http.stream]`: how many recent updates `/api/stream` and `/api/events` keep for
    /// clients that resume (`ring_messages`, `ring_mb`), and how far a client may fall
    /// behind before it is told it lagged (`client_queue`).
    pub stream: stream::HubConfig,
}

impl HttpConfig {
    pub const DEFAULT_LISTEN: &'static str = "127.0.0.1:8480";
}

impl Default for HttpConfig {
    fn default() -> Self {
        HttpConfig {
            listen: Self::DEFAULT_LISTEN.parse().expect("valid default"),
            ready: ReadyPolicy::All,
            tokens: Vec::new(),
            stream: stream::HubConfig::default(),
        }
    }
}

/// `[http] ready`: when `/ready` says yes. The type is `pbx-status`'s, where the rule that
/// applies it lives.
pub use pbx_status::ReadyPolicy;

/// `[database]`: where call history goes and how writes are batched and buffered.
#[derive(Clone, Debug, PartialEq)]
pub struct DatabaseConfig {
    /// `sqlite://switchboard.db` (a file in the working directory) by default, or
    /// `postgres://user:password@host/db`.
    pub url: DatabaseUrl,
    /// Records written per transaction at most.
    pub batch_size: usize,
    /// A batch is written at the latest this long after its first record.
    pub flush_interval: Duration,
    /// Completed calls held in memory for the writer; every one is in the journal first,
    /// so this bounds memory, not durability — except while the journal cannot be written,
    /// when these are all that is kept, and past this calls are lost (counted).
    pub memory_bound: usize,
    /// Folder of the on-disk journal every completed call goes to first.
    pub journal_dir: PathBuf,
    /// How often the journal is fsynced: the durability bound for a power loss.
    pub journal_sync_interval: Duration,
    /// The journal's size cap, in MiB.
    pub journal_max_mb: u64,
}

impl DatabaseConfig {
    pub const DEFAULT_URL: &'static str = "sqlite://switchboard.db";
}

impl Default for DatabaseConfig {
    fn default() -> Self {
        DatabaseConfig {
            url: DatabaseUrl::new(Self::DEFAULT_URL),
            batch_size: 200,
            flush_interval: Duration::from_millis(500),
            memory_bound: 10_000,
            journal_dir: PathBuf::from("switchboard-journal"),
            journal_sync_interval: Duration::from_millis(50),
            journal_max_mb: 1024,
        }
    }
}

/// `[log]`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct LogConfig {
    pub format: LogFormat,
    /// A `tracing` filter: `info`, or `info,ami=debug`. `RUST_LOG` overrides it.
    pub filter: String,
}

impl Default for LogConfig {
    fn default() -> Self {
        LogConfig {
            format: LogFormat::Readable,
            filter: "info".into(),
        }
    }
}

/// How log lines look.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Default)]
pub enum LogFormat {
    /// One line per event for a person at a terminal or in `journalctl`.
    #[default]
    Readable,
    /// One JSON object per line for a log shipper.
    Json,
}

impl LogFormat {
    pub fn parse(s: &str) -> Option<LogFormat> {
        match s.to_ascii_lowercase().as_str() {
            "readable" | "text" | "pretty" | "plain" => Some(LogFormat::Readable),
            "json" => Some(LogFormat::Json),
            _ => None,
        }
    }
}
