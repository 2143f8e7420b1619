//! How to reach and log in to one Asterisk, and how patient to be with it.

use crate::action::Action;
use crate::backoff::Backoff;
use crate::tls::TlsOptions;
use std::fmt;
use std::time::Duration;

/// How the secret is proven at login.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum Auth {
    /// `Action: Login` with `Secret:` in clear (fine on loopback or inside TLS).
    #[default]
    Plain,
    /// `Action: Challenge` (`AuthType: MD5`) first, then `Login` with
    /// `Key: md5hex(challenge + secret)`: the secret never crosses the wire.
    Md5,
}

/// Everything a [`Connection`](crate::Connection) or a [`Client`](crate::Client) needs.
#[derive(Clone)]
pub struct ClientConfig {
    /// Host name or IP address of Asterisk.
    pub host: String,
    /// The manager port: 5038 for TCP, 5039 for TLS by Asterisk's convention.
    pub port: u16,
    /// `[user]` section of `manager.conf`.
    pub username: String,
    /// That user's `secret =`. Never logged.
    pub secret: String,
    /// Plain or MD5 challenge login.
    pub auth: Auth,
    /// AMI over TLS when set.
    pub tls: Option<TlsOptions>,
    /// The `Events:` header of the login (`"on"`, `"off"`, or a class list such as
    /// `"call,agent"`). `None` sends none: Asterisk then sends every event the user's `read=`
    /// classes allow.
    pub events: Option<String>,
    /// Limit for TCP connect + TLS handshake + the banner.
    pub connect_timeout: Duration,
    /// A `Ping` is sent this often; zero turns the keep-alive off.
    pub ping_interval: Duration,
    /// A `Ping` unanswered this long means the peer is dead: the session is closed.
    pub ping_timeout: Duration,
    /// Default time an action may wait for its response (login included).
    pub action_timeout: Duration,
    /// Delays between reconnection attempts.
    pub backoff: Backoff,
    /// Events held for the consumer before reading from the socket pauses.
    pub queue_capacity: usize,
    /// Actions sent right after every successful login (to resync state): their list events
    /// go to the event stream like any others.
    pub on_connect: Vec<Action>,
}

impl ClientConfig {
    /// Defaults for everything but where to go and who to be: plain login, no TLS,
    /// connect timeout 3 s, ping every 10 s with a 5 s deadline, actions 10 s,
    /// 4096 queued events.
    pub fn new(
        host: impl Into<String>,
        port: u16,
        username: impl Into<String>,
        secret: impl Into<String>,
    ) -> ClientConfig {
        ClientConfig {
            host: host.into(),
            port,
            username: username.into(),
            secret: secret.into(),
            auth: Auth::Plain,
            tls: None,
            events: None,
            connect_timeout: Duration::from_secs(3),
            ping_interval: Duration::from_secs(10),
            ping_timeout: Duration::from_secs(5),
            action_timeout: Duration::from_secs(10),
            backoff: Backoff::default(),
            queue_capacity: 4096,
            on_connect: Vec::new(),
        }
    }

    /// `host:port`, as shown in errors.
    pub fn addr(&self) -> String {
        if self.host.contains(':') && !self.host.starts_with('[') {
            format!("[{}]:{}", self.host, self.port)
        } else {
            format!("{}:{}", self.host, self.port)
        }
    }
}

impl fmt::Debug for ClientConfig {
    /// The secret is never shown.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("ClientConfig")
            .field("host", &self.host)
            .field("port", &self.port)
            .field("username", &self.username)
            .field("secret", &"***")
            .field("auth", &self.auth)
            .field("tls", &self.tls)
            .field("events", &self.events)
            .field("connect_timeout", &self.connect_timeout)
            .field("ping_interval", &self.ping_interval)
            .field("ping_timeout", &self.ping_timeout)
            .field("action_timeout", &self.action_timeout)
            .field("backoff", &self.backoff)
            .field("queue_capacity", &self.queue_capacity)
            .field("on_connect", &self.on_connect)
            .finish()
    }
}
