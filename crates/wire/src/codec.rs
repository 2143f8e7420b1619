//! The AMI decoder: bytes in, [`Frame`]s out, sans-IO (with the `tokio-codec` feature,
//! also a tokio-util `Decoder` / `Encoder`).
//!
//! What the decoder accepts, learnt from real Asterisk (see `fixtures/asterisk/*/README.md`):
//!
//! - A client connection opens with a banner line, `Asterisk Call Manager/11.0.0\r\n`, which
//!   is *not* followed by an empty line; the first message starts right after it.
//! - Then messages: `Key: Value` lines, each ended by CRLF (a bare LF is tolerated), and an
//!   empty line that ends the message. Values may be empty or end in spaces; both are kept
//!   exactly. The value starts after the first `:` and one space, so a value may itself
//!   contain `: ` (`Message: Originate failed: no channel`).
//! - The legacy command output of Asterisk 13 and older: `Response: Follows`, a few headers,
//!   then raw output lines (which may be empty or contain colons) up to `--END COMMAND--`.
//!   Those lines read as `Output` headers, the same as the `Output:` lines of Asterisk 14+.
//! - Blank lines between messages are skipped.
//!
//! Every buffer is bounded ([`Limits`]): a line, the number of headers and the size of one
//! message. A peer that exceeds one gets a [`FrameError`] that ends that connection only;
//! an endless line never grows memory past `max_line`.
//!
//! Bytes that are not UTF-8 (a caller name in Latin-1, line noise) are replaced one for one
//! by `?`, so a message is always text and nothing else about it changes.

use crate::message::{Field, Message, Span};
use crate::scan;
use bytes::{Buf, BytesMut};
use std::io;

/// Hard bounds on what one peer can make us hold in memory.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Limits {
    /// Longest line, in bytes (without its line ending).
    pub max_line: usize,
    /// Most headers in one message (legacy command output lines count as headers).
    pub max_headers: usize,
    /// Largest message, in bytes.
    pub max_message: usize,
}

impl Default for Limits {
    /// Generous for real traffic: the largest message in the recordings is a few KiB, and a
    /// `Command` on a busy PBX can print some thousand lines.
    fn default() -> Limits {
        Limits {
            max_line: 64 * 1024,
            max_headers: 16 * 1024,
            max_message: 4 * 1024 * 1024,
        }
    }
}

/// What the decoder yields.
#[derive(Clone, Debug, PartialEq)]
pub enum Frame {
    /// The greeting line a server sends when a client connects.
    Banner(Banner),
    /// A message.
    Message(Message),
}

/// The greeting, e.g. `Asterisk Call Manager/11.0.0`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Banner {
    /// The whole line, without its line ending.
    pub line: String,
}

impl Banner {
    /// Whether `line` is an AMI greeting (`Asterisk Call Manager/…`, or a vendor's
    /// `… Call Manager/…`): the one test of what a banner is.
    pub fn is_banner_line(line: &[u8]) -> bool {
        line.windows(13).any(|w| w == b"Call Manager/")
    }

    /// The AMI protocol version after the `/` (`11.0.0` on Asterisk 22). This is the
    /// protocol's version, not Asterisk's; `CoreSettings` or `core show version` tells that.
    pub fn version(&self) -> &str {
        self.line.rsplit_once('/').map_or("", |(_, v)| v.trim())
    }
}

/// Why a byte stream could not be decoded. Each of these ends the connection it came from.
#[derive(Debug, thiserror::Error)]
pub enum FrameError {
    /// The peer sent a line longer than [`Limits::max_line`] bytes.
    #[error("the peer sent a line longer than {limit} bytes (the limit); closing this connection")]
    LineTooLong {
        /// The limit that was exceeded.
        limit: usize,
    },
    /// The peer sent a message with more than [`Limits::max_headers`] headers.
    #[error("the peer sent a message with more than {limit} headers (the limit); closing this connection")]
    TooManyHeaders {
        /// The limit that was exceeded.
        limit: usize,
    },
    /// The peer sent a message larger than [`Limits::max_message`] bytes.
    #[error(
        "the peer sent a message larger than {limit} bytes (the limit); closing this connection"
    )]
    MessageTooLarge {
        /// The limit that was exceeded.
        limit: usize,
    },
    /// The first line was not an AMI banner: this is not an Asterisk Manager port.
    #[error("the peer is not an Asterisk Manager Interface: it greeted with {first_line:?} instead of \"Asterisk Call Manager/…\"")]
    NotAmi {
        /// What the peer sent instead (at most 80 characters of it).
        first_line: String,
    },
    /// Reading from the socket failed.
    #[error("{0}")]
    Io(#[from] io::Error),
}

/// Which side of the connection the codec is on.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Side {
    /// Reads what a server sends: a banner first.
    Client,
    /// Reads what a client sends: no banner.
    Server,
}

/// The AMI codec. [`AmiCodec::client`] for a connection to Asterisk, [`AmiCodec::server`]
/// for the server side (the simulator).
#[derive(Debug)]
pub struct AmiCodec {
    limits: Limits,
    expect_banner: bool,
    /// Headers of the message being read; their spans point into the read buffer, whose
    /// front is the start of that message.
    fields: Vec<Field>,
    /// Where the next unread line starts, relative to the front of the read buffer.
    pos: usize,
    /// Inside the body of a legacy `Response: Follows`.
    legacy_body: bool,
}

impl AmiCodec {
    /// A codec for the client side: expects the banner, then messages.
    pub fn client() -> AmiCodec {
        AmiCodec::new(Side::Client, Limits::default())
    }

    /// A codec for the server side: messages only.
    pub fn server() -> AmiCodec {
        AmiCodec::new(Side::Server, Limits::default())
    }

    /// Replaces the default bounds.
    pub fn with_limits(mut self, limits: Limits) -> AmiCodec {
        self.limits = limits;
        self
    }

    fn new(side: Side, limits: Limits) -> AmiCodec {
        AmiCodec {
            limits,
            expect_banner: side == Side::Client,
            fields: Vec::new(),
            pos: 0,
            legacy_body: false,
        }
    }

    fn reset(&mut self) {
        self.fields.clear();
        self.pos = 0;
        self.legacy_body = false;
    }

    /// Reads the banner line, if a whole one is there.
    fn decode_banner(&mut self, buf: &mut BytesMut) -> Result<Option<Frame>, FrameError> {
        let Some(nl) = memchr::memchr(b'\n', buf) else {
            // `+ 1`: the line's CR may already be here, its LF not yet.
            if buf.len() > self.limits.max_line + 1 {
                return Err(FrameError::LineTooLong {
                    limit: self.limits.max_line,
                });
            }
            return Ok(None);
        };
        let line = buf.split_to(nl + 1);
        let line = trim_eol(&line);
        let text = String::from_utf8_lossy(line).into_owned();
        if !Banner::is_banner_line(line) {
            return Err(FrameError::NotAmi {
                first_line: text.chars().take(80).collect(),
            });
        }
        if line.len() > self.limits.max_line {
            return Err(FrameError::LineTooLong {
                limit: self.limits.max_line,
            });
        }
        self.expect_banner = false;
        Ok(Some(Frame::Banner(Banner { line: text })))
    }
}

/// The line without its `\n` or `\r\n`.
fn trim_eol(line: &[u8]) -> &[u8] {
    let line = line.strip_suffix(b"\n").unwrap_or(line);
    line.strip_suffix(b"\r").unwrap_or(line)
}

/// Replaces every byte of an invalid UTF-8 sequence by `?`, keeping the length.
fn make_utf8(bytes: &mut [u8]) {
    // Nearly every message is plain ASCII, which is cheaper to confirm than UTF-8.
    if bytes.is_ascii() {
        return;
    }
    let mut at = 0;
    while let Err(e) = std::str::from_utf8(&bytes[at..]) {
        let bad_start = at + e.valid_up_to();
        let bad_len = e.error_len().unwrap_or(bytes.len() - bad_start);
        bytes[bad_start..bad_start + bad_len].fill(b'?');
        at = bad_start + bad_len;
    }
}

const END_COMMAND: &[u8] = b"--END COMMAND--";

impl AmiCodec {
    /// Decodes the next frame from the front of `buf`, or `Ok(None)` when more bytes are
    /// needed. The bytes of a whole message are cut off `buf`; a partial one stays there
    /// and the work done on it is remembered, so each byte is scanned once.
    pub fn decode(&mut self, buf: &mut BytesMut) -> Result<Option<Frame>, FrameError> {
        if self.expect_banner {
            return self.decode_banner(buf);
        }
        let limits = self.limits;
        // The position lives in a local while lines are read, and is saved on the way out.
        let mut pos = self.pos;
        let mut lines = scan::Lines::new(buf, pos);
        loop {
            let Some(found) = lines.line(pos) else {
                self.pos = pos;
                // `+ 1`: the line's CR may already be here, its LF not yet; whether a line
                // is too long must not depend on where the reads split it.
                if buf.len() - pos > limits.max_line + 1 {
                    return Err(FrameError::LineTooLong {
                        limit: limits.max_line,
                    });
                }
                if buf.len() > limits.max_message {
                    return Err(FrameError::MessageTooLarge {
                        limit: limits.max_message,
                    });
                }
                return Ok(None);
            };
            let start = pos;
            let mut end = found.newline;
            pos = end + 1;
            if end > start && buf[end - 1] == b'\r' {
                end -= 1;
            }
            if end - start > limits.max_line {
                return Err(FrameError::LineTooLong {
                    limit: limits.max_line,
                });
            }
            if pos > limits.max_message {
                return Err(FrameError::MessageTooLarge {
                    limit: limits.max_message,
                });
            }
            let line = &buf[start..end];

            if self.legacy_body {
                // Asterisk appends the trailer right after the output, so output that does
                // not end in a newline leaves it at the end of the last line.
                if let Some(last) = line.strip_suffix(END_COMMAND) {
                    if !last.is_empty() {
                        self.push(None, Span::new(start, end - END_COMMAND.len()))?;
                    }
                    self.pos = pos;
                    return Ok(Some(self.finish(buf)));
                }
                let is_header = line.starts_with(b"Privilege: ") || line.starts_with(b"ActionID: ");
                if !is_header || self.fields.len() > 3 {
                    self.push(None, Span::new(start, end))?;
                    continue;
                }
            } else if line.is_empty() {
                if self.fields.is_empty() {
                    // A stray blank line between messages: drop it.
                    buf.advance(pos);
                    pos = 0;
                    lines = scan::Lines::new(buf, pos);
                    continue;
                }
                self.pos = pos;
                return Ok(Some(self.finish(buf)));
            }

            let (key, value) = match found.colon.map(|c| c - start) {
                Some(c) => {
                    let vs = if line.get(c + 1) == Some(&b' ') {
                        c + 2
                    } else {
                        c + 1
                    };
                    (Span::new(start, start + c), Span::new(start + vs, end))
                }
                // A line with no colon: keep it whole as a key with an empty value, so the
                // consumer can see (and report) what the peer sent.
                None => (Span::new(start, end), Span::new(end, end)),
            };
            self.push(Some(key), value)?;
            if self.fields.len() == 1 && line.eq_ignore_ascii_case(b"Response: Follows") {
                self.legacy_body = true;
            }
        }
    }

    /// As [`AmiCodec::decode`], at the end of the stream: a message cut off by the end is
    /// dropped, never delivered as if it were whole.
    pub fn decode_eof(&mut self, buf: &mut BytesMut) -> Result<Option<Frame>, FrameError> {
        match self.decode(buf)? {
            Some(frame) => Ok(Some(frame)),
            None => {
                // A message cut off by EOF is incomplete: the peer closed mid-message. Drop it
                // rather than deliver half a message as if it were whole.
                buf.clear();
                self.reset();
                Ok(None)
            }
        }
    }
}

impl AmiCodec {
    fn push(&mut self, key: Option<Span>, value: Span) -> Result<(), FrameError> {
        if self.fields.len() >= self.limits.max_headers {
            return Err(FrameError::TooManyHeaders {
                limit: self.limits.max_headers,
            });
        }
        self.fields.push(Field { key, value });
        Ok(())
    }

    /// The message ends at `self.pos`: cut it off the buffer.
    fn finish(&mut self, buf: &mut BytesMut) -> Frame {
        let mut raw = buf.split_to(self.pos);
        make_utf8(&mut raw);
        // The next message is likely about as long: size its header list for that, so
        // decoding costs one allocation per message, not one per doubling.
        let hint = self.fields.len().max(8);
        let fields = std::mem::replace(&mut self.fields, Vec::with_capacity(hint));
        self.reset();
        Frame::Message(Message::from_parts(raw.freeze(), fields))
    }
}

/// The tokio-util traits, for `FramedRead` / `FramedWrite` (feature `tokio-codec`).
#[cfg(feature = "tokio-codec")]
mod tokio_codec {
    use super::*;
    use crate::action::{Action, ActionError};
    use tokio_util::codec::{Decoder, Encoder};

    impl Decoder for AmiCodec {
        type Item = Frame;
        type Error = FrameError;

        fn decode(&mut self, buf: &mut BytesMut) -> Result<Option<Frame>, FrameError> {
            AmiCodec::decode(self, buf)
        }

        fn decode_eof(&mut self, buf: &mut BytesMut) -> Result<Option<Frame>, FrameError> {
            AmiCodec::decode_eof(self, buf)
        }
    }

    impl Encoder<&Action> for AmiCodec {
        type Error = io::Error;

        /// Writes the action, or nothing at all when a key or value could break the framing
        /// (an [`io::ErrorKind::InvalidInput`] error wrapping the [`ActionError`]).
        fn encode(&mut self, action: &Action, dst: &mut BytesMut) -> Result<(), io::Error> {
            action
                .encode(dst)
                .map_err(|e: ActionError| io::Error::new(io::ErrorKind::InvalidInput, e))
        }
    }

    impl Encoder<Action> for AmiCodec {
        type Error = io::Error;

        fn encode(&mut self, action: Action, dst: &mut BytesMut) -> Result<(), io::Error> {
            self.encode(&action, dst)
        }
    }

    impl Encoder<&Message> for AmiCodec {
        type Error = io::Error;

        /// Writes a message as it was received or built (the simulator sends events this way).
        fn encode(&mut self, message: &Message, dst: &mut BytesMut) -> Result<(), io::Error> {
            dst.extend_from_slice(message.as_bytes());
            Ok(())
        }
    }
}
