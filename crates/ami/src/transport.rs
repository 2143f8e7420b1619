//! Opening the byte stream to Asterisk: TCP, optionally TLS, then the banner.
//!
//! All three steps share one deadline, the connect timeout (3 s by default): a PBX that
//! does not answer, a firewall that drops packets, a TLS port spoken to in plain text (it
//! waits for a ClientHello and never sends a banner) — each ends within that time, with an
//! error naming the step that did not finish.

use crate::codec::{AmiCodec, Banner, Frame, FrameError};
use crate::config::ClientConfig;
use crate::error::AmiError;
use futures::StreamExt;
use std::io;
use tokio::io::{AsyncRead, AsyncWrite, ReadHalf, WriteHalf};
use tokio::net::TcpStream;
use tokio::time::{timeout_at, Instant};
use tokio_util::codec::FramedRead;

/// A TCP or TLS stream, so the session code does not care which.
pub(crate) trait AsyncStream: AsyncRead + AsyncWrite + Send + Unpin {}
impl<T: AsyncRead + AsyncWrite + Send + Unpin> AsyncStream for T {}

pub(crate) type BoxStream = Box<dyn AsyncStream>;
pub(crate) type Reader = FramedRead<ReadHalf<BoxStream>, AmiCodec>;
pub(crate) type Writer = WriteHalf<BoxStream>;

/// An open stream whose banner has been read.
pub(crate) struct Transport {
    pub(crate) reader: Reader,
    pub(crate) writer: Writer,
    pub(crate) banner: Banner,
}

/// Connects, does the TLS handshake if asked, and reads the banner, all within
/// `config.connect_timeout`.
pub(crate) async fn open(config: &ClientConfig) -> Result<Transport, AmiError> {
    let addr = config.addr();
    let after = config.connect_timeout;
    let deadline = Instant::now() + after;
    let timed_out = |stage| AmiError::ConnectTimeout {
        addr: addr.clone(),
        after,
        stage,
    };

    let tcp = timeout_at(
        deadline,
        TcpStream::connect((config.host.as_str(), config.port)),
    )
    .await
    .map_err(|_| timed_out("connecting"))?
    .map_err(|e| connect_error(&addr, e))?;
    // Actions are small and latency matters more than packet count.
    let _ = tcp.set_nodelay(true);

    let stream: BoxStream = match &config.tls {
        None => Box::new(tcp),
        Some(tls) => {
            let (connector, name) =
                tls.connector(&config.host)
                    .map_err(|detail| AmiError::Tls {
                        addr: addr.clone(),
                        detail,
                    })?;
            let stream = timeout_at(deadline, connector.connect(name, tcp))
                .await
                .map_err(|_| timed_out("in the TLS handshake (is this port really TLS?)"))?
                .map_err(|e| AmiError::Tls {
                    addr: addr.clone(),
                    detail: tls_hint(&e),
                })?;
            Box::new(stream)
        }
    };

    let (read, writer) = tokio::io::split(stream);
    let mut reader = FramedRead::new(read, AmiCodec::client());
    let banner_stage = if config.tls.is_some() {
        "waiting for the AMI banner"
    } else {
        "waiting for the AMI banner (if this is Asterisk's TLS port, enable TLS)"
    };
    let first = timeout_at(deadline, reader.next())
        .await
        .map_err(|_| timed_out(banner_stage))?;
    let not_ami = |detail: String| AmiError::NotAmi {
        addr: addr.clone(),
        detail,
    };
    match first {
        Some(Ok(Frame::Banner(banner))) => Ok(Transport {
            reader,
            writer,
            banner,
        }),
        Some(Ok(Frame::Message(m))) => Err(not_ami(format!(
            "it sent a message instead of a banner: {:?}",
            m.name()
        ))),
        Some(Err(FrameError::NotAmi { first_line })) => Err(not_ami(format!(
            "it greeted with {first_line:?} instead of \"Asterisk Call Manager/…\" (check the port)"
        ))),
        Some(Err(FrameError::Io(e))) => Err(AmiError::ConnectionLost {
            reason: format!("reading the banner from {addr}: {e}"),
        }),
        Some(Err(e)) => Err(not_ami(format!("its first line is not a banner: {e}"))),
        None => Err(not_ami(
            "it closed the connection without sending the AMI banner".into(),
        )),
    }
}

fn connect_error(addr: &str, e: io::Error) -> AmiError {
    match e.kind() {
        io::ErrorKind::ConnectionRefused => AmiError::Refused {
            addr: addr.to_string(),
        },
        _ => AmiError::Unreachable {
            addr: addr.to_string(),
            detail: e.to_string(),
        },
    }
}

/// The handshake error with what usually causes it.
fn tls_hint(e: &io::Error) -> String {
    let text = e.to_string();
    let lower = text.to_ascii_lowercase();
    if lower.contains("corrupt message") || lower.contains("invalidcontenttype") {
        format!("{text}: the port answered in plain text; it is probably the plain AMI port (5038), so connect without TLS")
    } else if lower.contains("pinned") {
        text
    } else if lower.contains("certificate") || lower.contains("unknownissuer") {
        format!("{text}: the server's certificate is not trusted by the CA file (or its name does not match the host)")
    } else if lower.contains("eof") || lower.contains("reset") {
        format!(
            "{text}: the server closed the handshake; check tlsenable/tlsbindaddr in manager.conf"
        )
    } else {
        text
    }
}
