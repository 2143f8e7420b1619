//! One AMI message: what Asterisk sends (responses, events) and what clients send (actions).
//!
//! On the wire a message is a run of `Key: Value` lines ended by an empty line:
//!
//! ```text
//! Event: Newchannel\r\n
//! Privilege: call,all\r\n
//! Timestamp: 1795526382.111838\r\n
//! Channel: PJSIP/2001-00000000\r\n
//! \r\n
//! ```
//!
//! The first line says what the message is (`Event:`, `Response:`, `Action:`). It must be the
//! first line that decides, not the presence of a key: `Event: OriginateResponse` carries a
//! `Response: Success` header of its own.
//!
//! A [`Message`] keeps the bytes it was decoded from in one reference-counted [`Bytes`] and
//! records where each key and value lies in it, so decoding allocates one small vector per
//! message and copies nothing. Keys are matched case-insensitively because Asterisk itself is
//! not consistent (`BridgeId` in `CoreShowChannel`, `BridgeID` in `Status`). Repeated keys
//! (`Output`, `ChanVariable`, `Variable`) are kept in order.

use bytes::Bytes;
use bytestring::ByteString;
use std::fmt;

/// Where a key or a value lies in the message's bytes.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) struct Span {
    pub(crate) start: u32,
    pub(crate) end: u32,
}

impl Span {
    pub(crate) fn new(start: usize, end: usize) -> Span {
        // The codec bounds a message far below 4 GiB, so offsets fit in u32.
        Span {
            start: start as u32,
            end: end as u32,
        }
    }
    fn range(self) -> std::ops::Range<usize> {
        self.start as usize..self.end as usize
    }
}

/// A header: a key and its value. `key == None` marks a line of a legacy
/// `Response: Follows` command body, which has no key and reads as `Output`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) struct Field {
    pub(crate) key: Option<Span>,
    pub(crate) value: Span,
}

/// What a message is, decided by its first line.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Kind {
    /// `Event: …`, something that happened on the PBX (or an item of an action's list).
    Event,
    /// `Response: …`, the answer to an action.
    Response,
    /// `Action: …`, a request (what a client sends; the simulator decodes these).
    Action,
    /// Anything else: not a message Asterisk sends. Kept so the caller can report it.
    Other,
}

/// A decoded AMI message. Cheap to clone (the bytes are shared).
#[derive(Clone)]
pub struct Message {
    /// Valid UTF-8, checked once when the message is made, so lookups slice it for free.
    raw: ByteString,
    fields: Vec<Field>,
    kind: Kind,
}

const OUTPUT: &str = "Output";

impl Message {
    /// Assembled by the codec: `raw` holds the message, `fields` point into it.
    pub(crate) fn from_parts(raw: Bytes, fields: Vec<Field>) -> Message {
        // The codec has already made the bytes UTF-8 (see `codec::make_utf8`); the lossy
        // fallback only guards the invariant and leaves spans pointing at nothing.
        let raw = ByteString::try_from(raw.clone())
            .unwrap_or_else(|_| ByteString::from(String::from_utf8_lossy(&raw).into_owned()));
        let mut m = Message {
            raw,
            fields,
            kind: Kind::Other,
        };
        m.kind = match m.fields.first().and_then(|f| f.key).map(|k| m.slice(k)) {
            Some(k) if k.eq_ignore_ascii_case("Event") => Kind::Event,
            Some(k) if k.eq_ignore_ascii_case("Response") => Kind::Response,
            Some(k) if k.eq_ignore_ascii_case("Action") => Kind::Action,
            _ => Kind::Other,
        };
        m
    }

    /// Builds a message from `(key, value)` pairs, formatted as Asterisk would send it. For
    /// tests and for programs that synthesise messages (the simulator); a key or value with a
    /// CR or LF in it is rejected, as for actions.
    pub fn build<K: AsRef<str>, V: AsRef<str>>(
        pairs: impl IntoIterator<Item = (K, V)>,
    ) -> Result<Message, crate::ActionError> {
        let mut raw = Vec::with_capacity(256);
        let mut fields = Vec::new();
        for (k, v) in pairs {
            let (k, v) = (k.as_ref(), v.as_ref());
            crate::action::check_header(k, v)?;
            let ks = raw.len();
            raw.extend_from_slice(k.as_bytes());
            let ke = raw.len();
            raw.extend_from_slice(b": ");
            let vs = raw.len();
            raw.extend_from_slice(v.as_bytes());
            let ve = raw.len();
            raw.extend_from_slice(b"\r\n");
            fields.push(Field {
                key: Some(Span::new(ks, ke)),
                value: Span::new(vs, ve),
            });
        }
        raw.extend_from_slice(b"\r\n");
        Ok(Message::from_parts(Bytes::from(raw), fields))
    }

    fn slice(&self, s: Span) -> &str {
        // Spans only split at ASCII bytes, so they are always on character boundaries.
        self.raw.get(s.range()).unwrap_or_default()
    }

    /// What the first line says this message is.
    pub fn kind(&self) -> Kind {
        self.kind
    }

    /// The value of the first line: the event name, the response status or the action name.
    pub fn name(&self) -> &str {
        self.fields.first().map_or("", |f| self.slice(f.value))
    }

    /// True when this is `Event: <name>` (case-insensitive).
    pub fn is_event(&self, name: &str) -> bool {
        self.kind == Kind::Event && self.name().eq_ignore_ascii_case(name)
    }

    /// The first value of `key`, matched case-insensitively.
    pub fn get(&self, key: &str) -> Option<&str> {
        self.fields
            .iter()
            .find(|f| self.key_is(f, key))
            .map(|f| self.slice(f.value))
    }

    /// Every value of `key`, in order (for `Output`, `ChanVariable`, `Variable`).
    pub fn get_all<'a>(&'a self, key: &'a str) -> impl Iterator<Item = &'a str> + 'a {
        self.fields
            .iter()
            .filter(move |f| self.key_is(f, key))
            .map(|f| self.slice(f.value))
    }

    fn key_is(&self, f: &Field, key: &str) -> bool {
        match f.key {
            Some(k) => self.slice(k).eq_ignore_ascii_case(key),
            None => key.eq_ignore_ascii_case(OUTPUT),
        }
    }

    /// All headers in order, as `(key, value)`.
    pub fn headers(&self) -> impl Iterator<Item = (&str, &str)> + '_ {
        self.fields.iter().map(|f| {
            let k = f.key.map_or(OUTPUT, |k| self.slice(k));
            (k, self.slice(f.value))
        })
    }

    /// Number of headers (legacy command output lines included).
    pub fn len(&self) -> usize {
        self.fields.len()
    }

    /// True for a message with no header at all (never produced by the decoder).
    pub fn is_empty(&self) -> bool {
        self.fields.is_empty()
    }

    /// `ActionID`, which ties responses and list events to the action that asked for them.
    pub fn action_id(&self) -> Option<&str> {
        self.get("ActionID")
    }

    /// The lines of a `Command` action's output, in either format Asterisk uses: the
    /// `Output:` headers of Asterisk 14+ or the body of a legacy `Response: Follows`.
    pub fn output(&self) -> impl Iterator<Item = &str> + '_ {
        self.get_all(OUTPUT)
    }

    /// The bytes the message was decoded from, exactly as received (the terminating empty
    /// line included). For a message received with bare LF endings, those are kept too.
    pub fn as_bytes(&self) -> &Bytes {
        self.raw.as_bytes()
    }
}

impl fmt::Debug for Message {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let mut m = f.debug_map();
        for (k, v) in self.headers() {
            m.entry(&k, &v);
        }
        m.finish()
    }
}

impl fmt::Display for Message {
    /// The message as `Key: Value` lines, for people reading logs and `switchboard check`.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        for (k, v) in self.headers() {
            writeln!(f, "{k}: {v}")?;
        }
        Ok(())
    }
}

impl PartialEq for Message {
    /// Two messages are equal when they have the same headers in the same order, whatever
    /// line endings they were read with.
    fn eq(&self, other: &Message) -> bool {
        self.kind == other.kind && self.headers().eq(other.headers())
    }
}
