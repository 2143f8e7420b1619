//! Where a session stands, for people and health checks: connecting, authenticating,
//! connected (with the Asterisk version), disconnected (with the reason). Each with its time.

use std::fmt;
use std::time::{Duration, SystemTime};

/// The state of a [`Client`](crate::Client), published on a `watch` channel.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Status {
    /// Opening TCP (and TLS) and waiting for the banner.
    Connecting {
        /// Attempt number since the last healthy session, from 1.
        attempt: u32,
        /// Since when.
        at: SystemTime,
    },
    /// The banner arrived; the login is under way.
    Authenticating {
        /// Since when.
        at: SystemTime,
    },
    /// Logged in.
    Connected {
        /// The session number (see [`SessionEvent::Connected`](crate::SessionEvent)).
        session: u64,
        /// AMI protocol version from the banner.
        protocol_version: String,
        /// Asterisk's version, when the user may ask for it.
        asterisk_version: Option<String>,
        /// Since when.
        at: SystemTime,
    },
    /// Not connected: the last attempt failed or the session ended.
    Disconnected {
        /// What happened, in one line.
        reason: String,
        /// Since when.
        at: SystemTime,
        /// When the next attempt is due (`None` once shut down).
        retry_in: Option<Duration>,
    },
    /// Shut down for good.
    Stopped {
        /// Since when.
        at: SystemTime,
    },
}

impl Status {
    /// True while logged in.
    pub fn is_connected(&self) -> bool {
        matches!(self, Status::Connected { .. })
    }
}

/// Why a session ended.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Disconnect {
    /// We logged off (shutdown).
    LoggedOff,
    /// Asterisk announced `Event: Shutdown` and closed the connection.
    AsteriskShutdown {
        /// `Restart: True` in the event.
        restart: bool,
    },
    /// Asterisk closed the connection without notice.
    Closed,
    /// The keep-alive `Ping` got no answer within the deadline.
    PingTimeout {
        /// The pong deadline.
        after: Duration,
    },
    /// Reading or writing the socket failed.
    Io(String),
    /// The peer sent something the codec refuses (a line or message too large…).
    Protocol(String),
    /// Every handle to the connection was dropped.
    Dropped,
}

impl fmt::Display for Disconnect {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Disconnect::LoggedOff => write!(f, "logged off"),
            Disconnect::AsteriskShutdown { restart: true } => {
                write!(f, "Asterisk is restarting (Event: Shutdown, Restart: True)")
            }
            Disconnect::AsteriskShutdown { restart: false } => {
                write!(f, "Asterisk shut down (Event: Shutdown)")
            }
            Disconnect::Closed => write!(
                f,
                "Asterisk closed the connection (restart, manager reload, or the session was kicked)"
            ),
            Disconnect::PingTimeout { after } => write!(
                f,
                "no answer to Ping within {after:?}: the PBX or the network path is dead"
            ),
            Disconnect::Io(e) => write!(f, "socket error: {e}"),
            Disconnect::Protocol(e) => write!(f, "protocol error: {e}"),
            Disconnect::Dropped => write!(f, "closed: every handle to the connection was dropped"),
        }
    }
}
