//! Logging in, and learning which Asterisk we talk to, before the session proper starts.
//!
//! Plain login sends the secret:
//!
//! ```text
//! Action: Login            Response: Success
//! ActionID: sb1-1          ActionID: sb1-1
//! Username: admin          Message: Authentication accepted
//! Secret: amp111
//! ```
//!
//! MD5 login proves it without sending it: `Action: Challenge` / `AuthType: md5` returns
//! `Challenge: <digits>`, then `Login` carries `AuthType: md5` and
//! `Key: md5hex(challenge + secret)`.
//!
//! A refused login is `Response: Error` / `Message: Authentication failed`, after which
//! Asterisk closes the socket at once; it becomes [`AmiError::AuthRejected`], never a
//! timeout. Asterisk sends no event before the login is accepted; right after it come
//! `FullyBooted` and `SuccessfulAuth`, which are kept for the event stream.
//!
//! The Asterisk version comes from `CoreSettings` (`AsteriskVersion:`), else from
//! `Command: core show version`; a user allowed neither (`Permission denied`) gets `None`.

use crate::action::Action;
use crate::action_id::ActionIds;
use crate::codec::{Frame, FrameError};
use crate::config::{Auth, ClientConfig};
use crate::error::AmiError;
use crate::message::{Kind, Message};
use crate::transport::Transport;
use futures::StreamExt;
use md5::{Digest, Md5};
use std::collections::VecDeque;
use std::time::Duration;
use tokio::io::AsyncWriteExt;

/// The connection before the session's task takes it over: actions are written and their
/// responses read in line, and the events that arrive meanwhile are kept, in order, for the
/// event stream.
pub(crate) struct Handshake {
    pub(crate) transport: Transport,
    pub(crate) ids: ActionIds,
    /// Events read so far, in wire order.
    pub(crate) early: VecDeque<Message>,
    /// At most this many are kept before the handshake gives up waiting (the queue bound).
    max_early: usize,
}

/// Why an exchange did not produce a response.
pub(crate) enum ExchangeError {
    /// The connection failed.
    Lost(AmiError),
    /// No response in time.
    Timeout,
    /// So many events arrived that keeping more would break the memory bound.
    TooManyEvents,
}

impl Handshake {
    pub(crate) fn new(transport: Transport, ids: ActionIds, max_early: usize) -> Handshake {
        Handshake {
            transport,
            ids,
            early: VecDeque::new(),
            max_early: max_early.max(1),
        }
    }

    /// Sends `action` and reads until its response.
    pub(crate) async fn exchange(
        &mut self,
        mut action: Action,
        timeout: Duration,
    ) -> Result<Message, ExchangeError> {
        let id = self.ids.next_id();
        action.set_action_id(&id);
        let mut out = bytes::BytesMut::new();
        action
            .encode(&mut out)
            .map_err(|e| ExchangeError::Lost(AmiError::InvalidAction(e)))?;
        let work = async {
            let w = &mut self.transport.writer;
            w.write_all(&out).await.map_err(lost_io)?;
            w.flush().await.map_err(lost_io)?;
            loop {
                let frame = match self.transport.reader.next().await {
                    Some(Ok(Frame::Message(m))) => m,
                    Some(Ok(Frame::Banner(_))) => continue,
                    Some(Err(FrameError::Io(e))) => return Err(lost_io(e)),
                    Some(Err(e)) => {
                        return Err(ExchangeError::Lost(AmiError::ConnectionLost {
                            reason: format!("protocol error: {e}"),
                        }))
                    }
                    None => {
                        return Err(ExchangeError::Lost(AmiError::ConnectionLost {
                            reason: format!(
                                "Asterisk closed the connection before answering {}",
                                action.name()
                            ),
                        }))
                    }
                };
                match frame.kind() {
                    Kind::Response if frame.action_id() == Some(id.as_str()) => return Ok(frame),
                    Kind::Event => {
                        if self.early.len() >= self.max_early {
                            return Err(ExchangeError::TooManyEvents);
                        }
                        self.early.push_back(frame);
                    }
                    _ => tracing::debug!(?frame, "ignored during login"),
                }
            }
        };
        tokio::time::timeout(timeout, work)
            .await
            .unwrap_or(Err(ExchangeError::Timeout))
    }
}

fn lost_io(e: std::io::Error) -> ExchangeError {
    ExchangeError::Lost(AmiError::ConnectionLost {
        reason: format!("socket error during login: {e}"),
    })
}

/// `md5hex(challenge + secret)`, the `Key:` of an MD5 login.
pub fn md5_key(challenge: &str, secret: &str) -> String {
    let digest = Md5::new()
        .chain_update(challenge.as_bytes())
        .chain_update(secret.as_bytes())
        .finalize();
    digest.iter().map(|b| format!("{b:02x}")).collect()
}

fn is_error(m: &Message) -> bool {
    m.name().eq_ignore_ascii_case("Error")
}

/// Logs in as `config.username`, plain or MD5.
pub(crate) async fn login(h: &mut Handshake, config: &ClientConfig) -> Result<(), AmiError> {
    let timeout = config.action_timeout;
    let exchange_error = |action: &str, e: ExchangeError| match e {
        ExchangeError::Lost(e) => e,
        ExchangeError::Timeout => AmiError::ActionTimeout {
            action: action.to_string(),
            after: timeout,
        },
        ExchangeError::TooManyEvents => AmiError::ConnectionLost {
            reason: "Asterisk sent events before the login was answered".into(),
        },
    };
    let rejected = |message: String| AmiError::AuthRejected {
        username: config.username.clone(),
        message,
    };

    let mut login = Action::new("Login");
    match config.auth {
        Auth::Plain => {
            login = login
                .header("Username", &config.username)
                .header("Secret", &config.secret);
        }
        Auth::Md5 => {
            let challenge = Action::new("Challenge").header("AuthType", "md5");
            let answer = h
                .exchange(challenge, timeout)
                .await
                .map_err(|e| exchange_error("Challenge", e))?;
            let Some(challenge) = answer.get("Challenge").filter(|_| !is_error(&answer)) else {
                let message = answer
                    .get("Message")
                    .unwrap_or("no Challenge in the answer");
                return Err(rejected(format!(
                    "the MD5 challenge was refused ({message}); try plain authentication"
                )));
            };
            login = login
                .header("AuthType", "md5")
                .header("Username", &config.username)
                .header("Key", md5_key(challenge, &config.secret));
        }
    }
    if let Some(events) = &config.events {
        login = login.header("Events", events);
    }
    let answer = h
        .exchange(login, timeout)
        .await
        .map_err(|e| exchange_error("Login", e))?;
    if is_error(&answer) || !answer.name().eq_ignore_ascii_case("Success") {
        let message = answer.get("Message").unwrap_or(answer.name()).to_string();
        return Err(rejected(message));
    }
    Ok(())
}

/// Asks which Asterisk this is. Never fails: an Asterisk that will not say is `None`.
pub(crate) async fn asterisk_version(h: &mut Handshake, timeout: Duration) -> Option<String> {
    match h.exchange(Action::new("CoreSettings"), timeout).await {
        Ok(m) if !is_error(&m) => {
            if let Some(v) = m
                .get("AsteriskVersion")
                .map(str::trim)
                .filter(|v| !v.is_empty())
            {
                return Some(v.to_string());
            }
        }
        Ok(_) => {}
        // Nothing more to learn if the link is gone or the events overflow; the session
        // proper will notice the first.
        Err(_) => return None,
    }
    let command = Action::new("Command").header("Command", "core show version");
    match h.exchange(command, timeout).await {
        Ok(m) if !is_error(&m) => m.output().find_map(version_from_banner),
        _ => None,
    }
}

/// `Asterisk 22.10.1 built by root @ host on …` → `22.10.1`.
fn version_from_banner(line: &str) -> Option<String> {
    let rest = line.trim().strip_prefix("Asterisk ")?;
    let v = rest.split_whitespace().next()?;
    Some(v.to_string())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn md5_key_is_md5hex_of_challenge_then_secret() {
        // RFC 1321 test vectors.
        assert_eq!(md5_key("", ""), "d41d8cd98f00b204e9800998ecf8427e");
        assert_eq!(md5_key("abc", ""), "900150983cd24fb0d6963f7d28e17f72");
    }

    #[test]
    fn version_is_read_from_core_show_version() {
        assert_eq!(
            version_from_banner("Asterisk 22.10.1 built by root @ pbx on a x86_64"),
            Some("22.10.1".into())
        );
        assert_eq!(version_from_banner("Privilege: Command"), None);
    }
}
