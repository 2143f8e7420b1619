//! What can go wrong talking to Asterisk, sorted by what the person at the keyboard should
//! check: the network, TLS, the port, the credentials, or the action itself.
//!
//! Every message says what happened and what to look at, in one line, because these end up
//! in logs and in `switchboard check` output read by someone who is trying to fix a PBX link.

use crate::action::ActionError;
use crate::message::Message;
use std::time::Duration;

/// An error of the AMI layer.
#[derive(Debug, Clone, thiserror::Error)]
pub enum AmiError {
    /// The TCP connection was refused: nothing listens on that port.
    #[error("connection to {addr} refused: is Asterisk running, and is the manager enabled on that port (manager.conf [general] enabled = yes, port/bindaddr)?")]
    Refused {
        /// `host:port` we tried.
        addr: String,
    },
    /// The host could not be reached or resolved.
    #[error("cannot reach {addr}: {detail} (check the host name, the network and any firewall)")]
    Unreachable {
        /// `host:port` we tried.
        addr: String,
        /// What the operating system said.
        detail: String,
    },
    /// Nothing answered within the connect timeout (TCP, TLS handshake and banner).
    #[error("no answer from {addr} within {after:?} while {stage}: check the host, the port and any firewall dropping packets")]
    ConnectTimeout {
        /// `host:port` we tried.
        addr: String,
        /// The timeout that expired.
        after: Duration,
        /// What we were waiting for ("connecting", "waiting for the AMI banner", …).
        stage: &'static str,
    },
    /// The TLS handshake failed (or the TLS settings could not be loaded).
    #[error("TLS with {addr} failed: {detail}")]
    Tls {
        /// `host:port` we tried.
        addr: String,
        /// What went wrong, and what to check.
        detail: String,
    },
    /// The peer answered, but not as an Asterisk Manager Interface.
    #[error("{addr} is not an Asterisk Manager port: {detail}")]
    NotAmi {
        /// `host:port` we tried.
        addr: String,
        /// What it sent instead.
        detail: String,
    },
    /// The connection broke (EOF, I/O error, a frame we refuse, a dead peer).
    #[error("connection lost: {reason}")]
    ConnectionLost {
        /// Why.
        reason: String,
    },
    /// Asterisk refused the username or secret.
    #[error("Asterisk rejected the login of user {username:?}: {message} (check the username and secret in manager.conf, the permit/deny lists, and the auth type)")]
    AuthRejected {
        /// The user we logged in as.
        username: String,
        /// Asterisk's `Message:` (usually `Authentication failed`).
        message: String,
    },
    /// The action was answered with `Response: Error`.
    #[error("action {action} failed: {message}")]
    Action {
        /// The action's name.
        action: String,
        /// Asterisk's `Message:`.
        message: String,
        /// The whole response, for the headers a caller may need.
        response: Box<Message>,
    },
    /// The action was refused for lack of permission (manager.conf `read=`/`write=`).
    #[error("action {action} refused: Permission denied (the manager user lacks the write class this action needs; see manager.conf write=)")]
    PermissionDenied {
        /// The action's name.
        action: String,
    },
    /// No response within the action's timeout (time spent with reading paused by a slow
    /// consumer does not count).
    #[error("action {action} got no response within {after:?}")]
    ActionTimeout {
        /// The action's name.
        action: String,
        /// The timeout that expired.
        after: Duration,
    },
    /// There is no session right now (connecting, backing off, or shut down).
    #[error("not connected to Asterisk")]
    NotConnected,
    /// The action would break the framing (a CR or LF in a key or value, an empty name…).
    #[error("invalid action: {0}")]
    InvalidAction(#[from] ActionError),
}

impl AmiError {
    /// True when the PBX could not be reached or the link was lost (not a login or an
    /// action problem): the reconnecting client retries these with backoff.
    pub fn is_connection_problem(&self) -> bool {
        matches!(
            self,
            AmiError::Refused { .. }
                | AmiError::Unreachable { .. }
                | AmiError::ConnectTimeout { .. }
                | AmiError::Tls { .. }
                | AmiError::NotAmi { .. }
                | AmiError::ConnectionLost { .. }
                | AmiError::NotConnected
        )
    }

    /// Classifies a `Response: Error` to `action`.
    pub(crate) fn from_error_response(action: &str, response: Message) -> AmiError {
        let message = response.get("Message").unwrap_or("").trim().to_string();
        if message.eq_ignore_ascii_case("Permission denied") {
            AmiError::PermissionDenied {
                action: action.to_string(),
            }
        } else {
            AmiError::Action {
                action: action.to_string(),
                message,
                response: Box::new(response),
            }
        }
    }
}
