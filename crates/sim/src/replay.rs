//! A recording (`.ami`: the bytes Asterisk sent on one connection) as a source of events.
//!
//! What is replayed: the bus events (those with a `Timestamp:` header or without an
//! `ActionID:`, plus `OriginateResponse`), exactly as recorded. What is not: the banner, the responses to the
//! recorder's own actions, its `FullyBooted` and `SuccessfulAuth` (each client gets its own
//! from the simulator's login), and the items of the recorder's list actions. Those list items
//! (`CoreShowChannel`, `QueueEntry`, …) still describe what was up when the recording started,
//! so they feed the simulator's state at their place in the stream.
//!
//! When looping, each pass after the first rewrites what identifies a call, so every loop is
//! new calls to a tracker: `Uniqueid`/`Linkedid` `E.S` become `E+shift.S+k·span`, channel
//! sequence numbers `-0000001a` move by `k·span` too, bridge ids get a loop prefix, and every
//! `Timestamp` moves forward by the recording's length plus one second per loop.

use crate::state::affects_state;
use crate::wire::{parse_ts, put_hex8, put_ts, put_u64};
use ami::{AmiCodec, Frame, Message};
use bytes::{Bytes, BytesMut};
use std::path::Path;

/// One message of a recording.
#[derive(Clone, Debug)]
pub struct ReplayItem {
    /// Its `Timestamp` (µs), or the last one before it.
    pub ts: u64,
    /// The message as recorded.
    pub msg: Message,
    /// Sent to clients (a bus event) or only read into the state (a list item).
    pub send: bool,
    /// Whether it can change the state the lists report (see [`affects_state`]).
    pub affects: bool,
    /// Where the values that a loop rewrites lie in the message's bytes.
    subs: Vec<Sub>,
}

/// A value to rewrite in later loops: its byte range and what it is.
#[derive(Clone, Copy, Debug)]
struct Sub {
    start: u32,
    end: u32,
    what: SubKind,
}

#[derive(Clone, Copy, Debug)]
enum SubKind {
    Timestamp(u64),
    Uid(u64, u64),
    /// A channel name; `hex_at` is where its 8 hex digits start.
    Chan {
        seq: u64,
        hex_at: u32,
    },
    Bridge,
}

/// Finds, once at load time, the values a loop has to rewrite.
fn find_subs(raw: &[u8]) -> Vec<Sub> {
    let mut subs = Vec::new();
    let mut pos = 0;
    while pos < raw.len() {
        let Some(nl) = memchr::memchr(b'\n', &raw[pos..]) else {
            break;
        };
        let line_end = pos + nl;
        let end = if line_end > pos && raw[line_end - 1] == b'\r' {
            line_end - 1
        } else {
            line_end
        };
        let line = &raw[pos..end];
        if let Some(c) = memchr::memchr(b':', line) {
            let key = std::str::from_utf8(&line[..c]).unwrap_or("");
            let vs = if line.get(c + 1) == Some(&b' ') {
                c + 2
            } else {
                c + 1
            };
            let v = std::str::from_utf8(&line[vs.min(line.len())..]).unwrap_or("");
            let (start, stop) = ((pos + vs) as u32, end as u32);
            let what = if key == "Timestamp" {
                parse_ts(v).map(SubKind::Timestamp)
            } else if is_id_key(key) {
                split_uid(v).map(|(e, s)| SubKind::Uid(e, s))
            } else if key.eq_ignore_ascii_case("BridgeUniqueid")
                || key.eq_ignore_ascii_case("BridgeId")
            {
                (v.len() >= 8 && v.is_char_boundary(8)).then_some(SubKind::Bridge)
            } else {
                split_chan(v).map(|(head, seq, _)| SubKind::Chan {
                    seq,
                    hex_at: head.len() as u32 + 1,
                })
            };
            if let Some(what) = what {
                subs.push(Sub {
                    start,
                    end: stop,
                    what,
                });
            }
        }
        pos = line_end + 1;
    }
    subs
}

/// A loaded recording.
#[derive(Clone, Debug)]
pub struct Recording {
    /// Its messages worth replaying, in order.
    pub items: Vec<ReplayItem>,
    /// First and last `Timestamp`, µs.
    pub span: (u64, u64),
    /// Largest Uniqueid sequence and channel sequence seen, for loop rewriting.
    max_uid_seq: u64,
    max_chan_seq: u64,
    /// Whether any message had a `Timestamp` (Asterisk's `timestampevents`, off by default).
    timed: bool,
}

/// Why a recording could not be read.
#[derive(Debug, thiserror::Error)]
pub enum ReplayError {
    /// The file could not be read.
    #[error("cannot read the recording {path}: {source}")]
    Io {
        /// The file.
        path: String,
        /// Why.
        source: std::io::Error,
    },
    /// The bytes are not AMI.
    #[error("{path} is not an AMI recording: {source}")]
    Format {
        /// The file.
        path: String,
        /// What the decoder said.
        source: ami::FrameError,
    },
}

impl Recording {
    /// Reads a `.ami` file.
    pub fn load(path: &Path) -> Result<Recording, ReplayError> {
        let bytes = std::fs::read(path).map_err(|source| ReplayError::Io {
            path: path.display().to_string(),
            source,
        })?;
        Recording::parse(&bytes).map_err(|source| ReplayError::Format {
            path: path.display().to_string(),
            source,
        })
    }

    /// Parses the bytes of a recording (with or without its banner line).
    pub fn parse(bytes: &[u8]) -> Result<Recording, ami::FrameError> {
        let mut buf = BytesMut::from(bytes);
        let mut codec = if bytes.starts_with(b"Asterisk Call Manager/") {
            AmiCodec::client()
        } else {
            AmiCodec::server()
        };
        let mut items = Vec::new();
        let mut last_ts = 0;
        let (mut max_uid_seq, mut max_chan_seq) = (0, 0);
        let mut first_ts = None;
        while let Some(frame) = codec.decode_eof(&mut buf)? {
            let Frame::Message(msg) = frame else { continue };
            if msg.kind() != ami::Kind::Event {
                continue;
            }
            let ts = msg.get("Timestamp").and_then(parse_ts);
            if let Some(ts) = ts {
                last_ts = ts;
                first_ts.get_or_insert(ts);
            }
            for (k, v) in msg.headers() {
                if is_id_key(k) {
                    if let Some((_, seq)) = split_uid(v) {
                        max_uid_seq = max_uid_seq.max(seq);
                    }
                } else if let Some((_, seq, _)) = split_chan(v) {
                    max_chan_seq = max_chan_seq.max(seq);
                }
            }
            let name = msg.name();
            let own_session = matches!(name, "SuccessfulAuth" | "RequestBadFormat" | "FullyBooted");
            // Without `timestampevents = yes` (Asterisk's default) no event has a Timestamp:
            // what tells the recorder's list items apart then is the ActionID they answer.
            let send = !own_session
                && (ts.is_some() || name == "OriginateResponse" || msg.action_id().is_none());
            items.push(ReplayItem {
                ts: last_ts,
                affects: affects_state(name),
                subs: find_subs(msg.as_bytes()),
                msg,
                send,
            });
        }
        // Items before the first timestamp (list items right after login) take the first.
        let first = first_ts.unwrap_or(0);
        for it in items.iter_mut().take_while(|i| i.ts == 0) {
            it.ts = first;
        }
        Ok(Recording {
            span: (first, last_ts.max(first)),
            items,
            max_uid_seq,
            max_chan_seq,
            timed: first_ts.is_some(),
        })
    }

    /// How far each loop moves in time: the recording's length plus one second.
    pub fn loop_shift_us(&self) -> u64 {
        // Saturating: the timestamps are whatever the file says, up to u64::MAX µs.
        self.span
            .1
            .saturating_sub(self.span.0)
            .saturating_add(1_000_000)
    }

    /// Whether the recording says when its events happened. Without, its events are all
    /// due at its start, and the simulator's clock starts from the wall clock instead.
    pub fn is_timed(&self) -> bool {
        self.timed
    }

    /// The bytes of item `i` for loop `k` (0 = as recorded), appended to `out`.
    /// Appends nothing for an `i` past the end.
    pub fn render_into(&self, i: usize, k: u64, out: &mut BytesMut) {
        let Some(it) = self.items.get(i) else { return };
        let raw = it.msg.as_bytes();
        if k == 0 {
            out.extend_from_slice(raw);
            return;
        }
        let at = out.len();
        if self.rewrite(it, k, out).is_none() {
            // The ranges found at load time did not fit the message (they always should):
            // better the event as recorded than none.
            out.truncate(at);
            out.extend_from_slice(raw);
        }
    }

    /// `render_into` for a later loop; None if a range does not fit the message.
    fn rewrite(&self, it: &ReplayItem, k: u64, out: &mut BytesMut) -> Option<()> {
        // Saturating throughout: ids and times come from the file and can be anything.
        let shift = k.saturating_mul(self.loop_shift_us());
        let uid_span = self.max_uid_seq.saturating_add(1);
        let chan_span = self.max_chan_seq.saturating_add(1);
        let raw = it.msg.as_bytes();
        let mut last = 0;
        for sub in &it.subs {
            let (start, end) = (sub.start as usize, sub.end as usize);
            out.extend_from_slice(raw.get(last..start)?);
            match sub.what {
                SubKind::Timestamp(t) => put_ts(out, t.saturating_add(shift)),
                SubKind::Uid(e, s) => {
                    put_u64(out, e.saturating_add(shift / 1_000_000));
                    out.extend_from_slice(b".");
                    put_u64(out, s.saturating_add(k.saturating_mul(uid_span)));
                }
                SubKind::Chan { seq, hex_at } => {
                    let hex_at = start + hex_at as usize;
                    out.extend_from_slice(raw.get(start..hex_at)?);
                    put_hex8(out, seq.saturating_add(k.saturating_mul(chan_span)));
                    out.extend_from_slice(raw.get(hex_at + 8..end)?);
                }
                SubKind::Bridge => {
                    put_hex8(out, k);
                    out.extend_from_slice(raw.get(start + 8..end)?);
                }
            }
            last = end;
        }
        out.extend_from_slice(raw.get(last..)?);
        Some(())
    }

    /// The time of item `i` in loop `k`, None past the end.
    pub fn time_of(&self, i: usize, k: u64) -> Option<u64> {
        let it = self.items.get(i)?;
        Some(it.ts.saturating_add(k.saturating_mul(self.loop_shift_us())))
    }

    /// The bytes of a message (for the replay's fast path at loop 0), None past the end.
    pub fn bytes(&self, i: usize) -> Option<&Bytes> {
        self.items.get(i).map(|it| it.msg.as_bytes())
    }
}

/// Keys whose value is a Uniqueid (`Uniqueid`, `Linkedid`, `DestUniqueid`,
/// `TransfereeLinkedid`, …), but not a bridge's.
fn is_id_key(key: &str) -> bool {
    let ends = |suffix: &str| {
        key.len() >= suffix.len()
            && key.is_char_boundary(key.len() - suffix.len())
            && key[key.len() - suffix.len()..].eq_ignore_ascii_case(suffix)
    };
    let bridge =
        key.len() >= 6 && key.is_char_boundary(6) && key[..6].eq_ignore_ascii_case("bridge");
    (ends("uniqueid") || ends("linkedid")) && !bridge
}

/// `1795526532.38` → (1795526532, 38).
fn split_uid(v: &str) -> Option<(u64, u64)> {
    let (e, s) = v.split_once('.')?;
    if e.len() < 9 || !e.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    Some((e.parse().ok()?, s.parse().ok()?))
}

/// A channel name `TECH/resource-hhhhhhhh[;n]` → (`TECH/resource`, seq, `;n`).
pub(crate) fn split_chan(v: &str) -> Option<(&str, u64, &str)> {
    if !v.contains('/') || v.contains(' ') {
        return None;
    }
    let (head, rest) = v.rsplit_once('-')?;
    let (hex, tail) = match rest.find(';') {
        Some(i) => rest.split_at(i),
        None => (rest, ""),
    };
    if hex.len() != 8 || !hex.bytes().all(|b| b.is_ascii_hexdigit()) {
        return None;
    }
    Some((head, u64::from_str_radix(hex, 16).ok()?, tail))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn channel_names_split() {
        assert_eq!(
            split_chan("PJSIP/2001-0000001a"),
            Some(("PJSIP/2001", 0x1a, ""))
        );
        assert_eq!(
            split_chan("Local/600@internal-00000003;2"),
            Some(("Local/600@internal", 3, ";2"))
        );
        assert_eq!(split_chan("PJSIP/2001"), None);
        assert_eq!(split_chan("2026-11-24"), None);
    }

    #[test]
    fn each_loop_is_new_calls_later() {
        let rec = Recording::parse(include_bytes!(
            "../../../fixtures/asterisk/22.10.1/internal_answered.ami"
        ))
        .unwrap();
        let shift = rec.loop_shift_us();
        for i in 0..rec.items.len() {
            let mut a = BytesMut::new();
            rec.render_into(i, 0, &mut a);
            assert_eq!(&a[..], &rec.items[i].msg.as_bytes()[..]);
            let mut b = BytesMut::new();
            rec.render_into(i, 2, &mut b);
            let mut codec = AmiCodec::server();
            let Ok(Some(Frame::Message(m))) = codec.decode(&mut b) else {
                panic!("item {i}")
            };
            let orig = &rec.items[i].msg;
            assert_eq!(m.len(), orig.len());
            if let Some(t) = orig.get("Timestamp").and_then(parse_ts) {
                assert_eq!(m.get("Timestamp").and_then(parse_ts), Some(t + 2 * shift));
            }
            if let Some(u) = orig.get("Uniqueid") {
                assert_ne!(m.get("Uniqueid"), Some(u));
                let (_, s) = split_uid(m.get("Uniqueid").unwrap()).unwrap();
                let (_, s0) = split_uid(u).unwrap();
                assert_eq!(s, s0 + 2 * (rec.max_uid_seq + 1));
            }
            if let Some(c) = orig.get("Channel") {
                let (h, seq, _) = split_chan(m.get("Channel").unwrap()).unwrap();
                let (h0, seq0, _) = split_chan(c).unwrap();
                assert_eq!((h, seq), (h0, seq0 + 2 * (rec.max_chan_seq + 1)));
            }
            if let Some(v) = orig.get("Variable") {
                assert_eq!(m.get("Variable"), Some(v));
            }
        }
    }
}
