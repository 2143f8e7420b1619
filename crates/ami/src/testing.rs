//! A scripted AMI peer for tests (feature `testing`): the server side of the wire on
//! 127.0.0.1, driven line by line by a test, or replaying a real Asterisk recording.
//!
//! This is not the simulator (that is the `sim` crate's job): it knows no PBX, only what a
//! test tells it to send, or what a recording says Asterisk sent.
//!
//! Replaying a recording (`NAME.ami` = what Asterisk sent, `NAME.sent` = what the recording
//! client sent): each action the client under test sends is matched, in order, to the next
//! recorded action of the same name. The peer then sends the recorded bytes up to that
//! action's answer (its response, or for a list the `…Complete` event), with the recorded
//! `ActionID`s replaced by the client's. Actions the recording does not have (the client's
//! `CoreSettings`, a keep-alive `Ping`) get a synthesised answer. A login whose credentials
//! differ from the recorded ones is refused as Asterisk would (`Authentication failed`, then
//! close); for MD5 that checks the client's `Key` against the recorded one.

use crate::codec::{AmiCodec, Frame};
use crate::message::Message;
use bytes::BytesMut;
use futures::StreamExt;
use std::collections::HashMap;
use std::io;
use std::path::Path;
use std::sync::Arc;
use tokio::io::{AsyncRead, AsyncWrite, AsyncWriteExt, ReadHalf, WriteHalf};
use tokio::net::{TcpListener, TcpStream};
use tokio_util::codec::FramedRead;

/// The banner of the Asterisk 22 recordings.
pub const BANNER: &str = "Asterisk Call Manager/11.0.0\r\n";

trait Stream: AsyncRead + AsyncWrite + Send + Unpin {}
impl<T: AsyncRead + AsyncWrite + Send + Unpin> Stream for T {}
type BoxStream = Box<dyn Stream>;

/// A listener on 127.0.0.1 with a free port, plain or TLS.
pub struct ScriptedServer {
    listener: TcpListener,
    tls: Option<tokio_rustls::TlsAcceptor>,
}

impl ScriptedServer {
    /// Plain TCP.
    pub async fn bind() -> io::Result<ScriptedServer> {
        Ok(ScriptedServer {
            listener: TcpListener::bind("127.0.0.1:0").await?,
            tls: None,
        })
    }

    /// TLS with the given certificate chain and PKCS#8 key (DER), as Asterisk's port 5039.
    pub async fn bind_tls(
        cert_chain: Vec<Vec<u8>>,
        key_pkcs8: Vec<u8>,
    ) -> io::Result<ScriptedServer> {
        use rustls::pki_types::{CertificateDer, PrivateKeyDer, PrivatePkcs8KeyDer};
        let provider = Arc::new(rustls::crypto::ring::default_provider());
        let certs = cert_chain.into_iter().map(CertificateDer::from).collect();
        let key = PrivateKeyDer::Pkcs8(PrivatePkcs8KeyDer::from(key_pkcs8));
        let config = rustls::ServerConfig::builder_with_provider(provider)
            .with_safe_default_protocol_versions()
            .and_then(|b| b.with_no_client_auth().with_single_cert(certs, key))
            .map_err(|e| io::Error::new(io::ErrorKind::InvalidInput, e))?;
        Ok(ScriptedServer {
            listener: TcpListener::bind("127.0.0.1:0").await?,
            tls: Some(tokio_rustls::TlsAcceptor::from(Arc::new(config))),
        })
    }

    /// The port it listens on.
    pub fn port(&self) -> u16 {
        self.listener.local_addr().map(|a| a.port()).unwrap_or(0)
    }

    /// Waits for the next client (and its TLS handshake).
    pub async fn accept(&self) -> io::Result<Peer> {
        let (tcp, _) = self.listener.accept().await?;
        let stream: BoxStream = match &self.tls {
            None => Box::new(tcp),
            Some(acceptor) => Box::new(acceptor.accept(tcp).await?),
        };
        Ok(Peer::new(stream))
    }

    /// The raw TCP accept, for tests that misbehave below AMI (never send a banner…).
    pub async fn accept_tcp(&self) -> io::Result<TcpStream> {
        Ok(self.listener.accept().await?.0)
    }
}

/// One accepted client, seen from the server side.
pub struct Peer {
    reader: FramedRead<ReadHalf<BoxStream>, AmiCodec>,
    writer: WriteHalf<BoxStream>,
}

impl Peer {
    fn new(stream: BoxStream) -> Peer {
        let (r, w) = tokio::io::split(stream);
        Peer {
            reader: FramedRead::new(r, AmiCodec::server()),
            writer: w,
        }
    }

    /// Writes raw bytes.
    pub async fn send_raw(&mut self, bytes: &[u8]) -> io::Result<()> {
        self.writer.write_all(bytes).await?;
        self.writer.flush().await
    }

    /// Writes the Asterisk 22 banner.
    pub async fn send_banner(&mut self) -> io::Result<()> {
        self.send_raw(BANNER.as_bytes()).await
    }

    /// Writes one message.
    pub async fn send(&mut self, m: &Message) -> io::Result<()> {
        self.send_raw(m.as_bytes()).await
    }

    /// Writes a message built from `pairs`.
    pub async fn send_pairs(&mut self, pairs: &[(&str, &str)]) -> io::Result<()> {
        let m = Message::build(pairs.iter().copied())
            .map_err(|e| io::Error::new(io::ErrorKind::InvalidInput, e))?;
        self.send(&m).await
    }

    /// Answers `action` with `Response: <status>` plus `extra` headers, echoing its ActionID.
    pub async fn reply(
        &mut self,
        action: &Message,
        status: &str,
        extra: &[(&str, &str)],
    ) -> io::Result<()> {
        let id = action.action_id().unwrap_or("");
        let mut pairs = vec![("Response", status), ("ActionID", id)];
        pairs.extend_from_slice(extra);
        self.send_pairs(&pairs).await
    }

    /// The next action the client sent; `None` at EOF (or on garbage).
    pub async fn read_action(&mut self) -> Option<Message> {
        match self.reader.next().await {
            Some(Ok(Frame::Message(m))) => Some(m),
            _ => None,
        }
    }

    /// Banner, then a plain login with any credentials: `Response: Success`, `FullyBooted`,
    /// and a `CoreSettings` answer (`AsteriskVersion: 22.10.1`) if the client asks. Returns
    /// the login action.
    pub async fn accept_login(&mut self) -> io::Result<Message> {
        self.send_banner().await?;
        let login = self.expect("Login").await?;
        self.reply(&login, "Success", &[("Message", "Authentication accepted")])
            .await?;
        self.send_pairs(&[
            ("Event", "FullyBooted"),
            ("Privilege", "system,all"),
            ("Uptime", "1"),
            ("LastReload", "1"),
            ("Status", "Fully Booted"),
        ])
        .await?;
        let next = self.expect("CoreSettings").await?;
        self.reply(
            &next,
            "Success",
            &[("AMIversion", "11.0.0"), ("AsteriskVersion", "22.10.1")],
        )
        .await?;
        Ok(login)
    }

    /// Reads the next action and checks its name.
    pub async fn expect(&mut self, name: &str) -> io::Result<Message> {
        match self.read_action().await {
            Some(m) if m.name().eq_ignore_ascii_case(name) => Ok(m),
            Some(m) => Err(io::Error::other(format!(
                "expected Action: {name}, got {m:?}"
            ))),
            None => Err(io::Error::other(format!(
                "expected Action: {name}, the client closed"
            ))),
        }
    }

    /// Answers keep-alive pings (and anything else with `Success`) until the client leaves.
    /// Returns the actions seen.
    pub async fn answer_until_eof(mut self) -> Vec<Message> {
        let mut seen = Vec::new();
        while let Some(action) = self.read_action().await {
            let ok = if action.name().eq_ignore_ascii_case("Ping") {
                self.reply(&action, "Success", &[("Ping", "Pong")]).await
            } else if action.name().eq_ignore_ascii_case("Logoff") {
                let _ = self
                    .reply(
                        &action,
                        "Goodbye",
                        &[("Message", "Thanks for all the fish.")],
                    )
                    .await;
                seen.push(action);
                break;
            } else {
                self.reply(&action, "Success", &[]).await
            };
            seen.push(action);
            if ok.is_err() {
                break;
            }
        }
        seen
    }

    /// Closes the connection (EOF for the client).
    pub async fn close(mut self) {
        let _ = self.writer.shutdown().await;
    }
}

/// A real recording: the banner and messages Asterisk sent, and the actions the recording
/// client sent.
pub struct Recording {
    /// The banner line.
    pub banner: String,
    /// What Asterisk sent, in order.
    pub messages: Vec<Message>,
    /// What the recording client sent, in order.
    pub sent: Vec<Message>,
}

impl Recording {
    /// Loads `DIR/NAME.ami` and `DIR/NAME.sent`.
    pub fn load(dir: &Path, name: &str) -> io::Result<Recording> {
        let received = std::fs::read(dir.join(format!("{name}.ami")))?;
        let sent = std::fs::read(dir.join(format!("{name}.sent")))?;
        let (banner, messages) = decode_all(AmiCodec::client(), &received)?;
        let (_, sent) = decode_all(AmiCodec::server(), &sent)?;
        Ok(Recording {
            banner: banner.unwrap_or_default(),
            messages,
            sent,
        })
    }

    /// Index of the message that completes the answer to recorded action `action`.
    fn answer_end(&self, action: &Message) -> Option<usize> {
        let id = action.action_id()?;
        let response = self
            .messages
            .iter()
            .position(|m| m.kind() == crate::Kind::Response && m.action_id() == Some(id))?;
        if !crate::response::is_list_start(&self.messages[response]) {
            return Some(response);
        }
        self.messages
            .iter()
            .enumerate()
            .skip(response)
            .find(|(_, m)| m.action_id() == Some(id) && crate::response::is_list_end(m))
            .map(|(i, _)| i)
    }
}

fn decode_all(mut codec: AmiCodec, bytes: &[u8]) -> io::Result<(Option<String>, Vec<Message>)> {
    let mut buf = BytesMut::from(bytes);
    let mut banner = None;
    let mut out = Vec::new();
    while let Some(frame) = codec
        .decode_eof(&mut buf)
        .map_err(|e| io::Error::new(io::ErrorKind::InvalidData, e))?
    {
        match frame {
            Frame::Banner(b) => banner = Some(b.line),
            Frame::Message(m) => out.push(m),
        }
    }
    Ok((banner, out))
}

/// How to answer what the recording does not cover.
#[derive(Clone, Debug)]
pub struct ReplayOptions {
    /// `CoreSettings` answers this `AsteriskVersion`; `None` answers `Permission denied`
    /// (as for a user with no write class).
    pub asterisk_version: Option<String>,
}

impl Default for ReplayOptions {
    fn default() -> ReplayOptions {
        ReplayOptions {
            asterisk_version: Some("22.10.1".into()),
        }
    }
}

/// Plays `recording` to the client on `peer`. Returns every action the client sent.
pub async fn replay(
    mut peer: Peer,
    recording: &Recording,
    options: &ReplayOptions,
) -> io::Result<Vec<Message>> {
    let ends: Vec<Option<usize>> = recording
        .sent
        .iter()
        .map(|a| recording.answer_end(a))
        .collect();
    let mut ids: HashMap<String, String> = HashMap::new();
    let mut cursor = 0;
    let mut next = 0;
    let mut seen = Vec::new();
    peer.send_raw(format!("{}\r\n", recording.banner).as_bytes())
        .await?;
    while let Some(action) = peer.read_action().await {
        seen.push(action.clone());
        let scripted = recording
            .sent
            .get(next)
            .filter(|r| r.name().eq_ignore_ascii_case(action.name()));
        let Some(recorded) = scripted else {
            if !answer_unscripted(&mut peer, &action, options).await? {
                break;
            }
            continue;
        };
        next += 1;
        if recorded.name().eq_ignore_ascii_case("Login") && !same_credentials(recorded, &action) {
            peer.reply(&action, "Error", &[("Message", "Authentication failed")])
                .await?;
            break;
        }
        if let (Some(r), Some(c)) = (recorded.action_id(), action.action_id()) {
            ids.insert(r.to_string(), c.to_string());
        }
        let Some(end) = ends[next - 1] else {
            continue;
        };
        // The recorded server had nothing more to answer: it closed after this.
        let last = ends[next..].iter().all(Option::is_none);
        let upto = if last {
            recording.messages.len()
        } else {
            end + 1
        };
        while cursor < upto {
            peer.send(&substitute(&recording.messages[cursor], &ids))
                .await?;
            cursor += 1;
        }
        if last {
            break;
        }
    }
    peer.close().await;
    Ok(seen)
}

fn same_credentials(recorded: &Message, got: &Message) -> bool {
    ["Username", "Secret", "Key", "AuthType"]
        .iter()
        .all(|k| match (recorded.get(k), got.get(k)) {
            (Some(a), Some(b)) => a.eq_ignore_ascii_case(b) || a == b,
            (None, None) => true,
            _ => false,
        })
}

/// Rewrites recorded ActionIDs into the client's.
fn substitute(m: &Message, ids: &HashMap<String, String>) -> Message {
    let Some(id) = m.action_id() else {
        return m.clone();
    };
    let Some(new) = ids.get(id) else {
        return m.clone();
    };
    let pairs = m.headers().map(|(k, v)| {
        let v = if k.eq_ignore_ascii_case("ActionID") {
            new.as_str()
        } else {
            v
        };
        (k.to_string(), v.to_string())
    });
    Message::build(pairs).unwrap_or_else(|_| m.clone())
}

/// Answers an action the recording does not have. `false` when the connection should end.
async fn answer_unscripted(
    peer: &mut Peer,
    action: &Message,
    options: &ReplayOptions,
) -> io::Result<bool> {
    let name = action.name();
    if name.eq_ignore_ascii_case("Ping") {
        peer.reply(
            action,
            "Success",
            &[("Ping", "Pong"), ("Timestamp", "1795526382.000000")],
        )
        .await?;
    } else if name.eq_ignore_ascii_case("CoreSettings") || name.eq_ignore_ascii_case("Command") {
        match &options.asterisk_version {
            Some(v) if name.eq_ignore_ascii_case("CoreSettings") => {
                peer.reply(
                    action,
                    "Success",
                    &[("AMIversion", "11.0.0"), ("AsteriskVersion", v)],
                )
                .await?
            }
            Some(v) => {
                let line = format!("Asterisk {v} built by scripted-peer");
                peer.reply(
                    action,
                    "Success",
                    &[("Message", "Command output follows"), ("Output", &line)],
                )
                .await?
            }
            None => {
                peer.reply(action, "Error", &[("Message", "Permission denied")])
                    .await?
            }
        }
    } else if name.eq_ignore_ascii_case("Logoff") {
        peer.reply(
            action,
            "Goodbye",
            &[("Message", "Thanks for all the fish.")],
        )
        .await?;
        return Ok(false);
    } else {
        let message = format!(
            "Invalid/unknown command: {name}. Use Action: ListCommands to show available commands."
        );
        peer.reply(action, "Error", &[("Message", &message)])
            .await?;
    }
    Ok(true)
}
