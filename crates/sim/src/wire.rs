//! Writing AMI messages the way Asterisk 22 writes them.
//!
//! Asterisk formats every message as `Key: Value\r\n` lines and an empty line. Events from
//! its bus (with `timestampevents = yes`) read:
//!
//! ```text
//! Event: Newchannel\r\n
//! Privilege: call,all\r\n
//! Timestamp: 1795526532.170602\r\n
//! Channel: PJSIP/2001-00000024\r\n
//! ...
//! \r\n
//! ```
//!
//! Responses have no `Privilege:` nor `Timestamp:`, and neither do the items of a list
//! (`CoreShowChannel`, …): those carry the `ActionID:` of the action that asked instead.
//! A client that sent no `ActionID` gets none back. The order of headers is Asterisk's, so
//! every writer in this crate spells its headers out in the order seen in the recordings.

use bytes::BytesMut;

/// Appends one message to a buffer, header by header.
pub(crate) struct Msg<'a> {
    buf: &'a mut BytesMut,
}

impl<'a> Msg<'a> {
    /// Starts a message whose first line is `first: value` (`Event`, `Response`).
    pub(crate) fn new(buf: &'a mut BytesMut, first: &str, value: &str) -> Msg<'a> {
        let mut m = Msg { buf };
        m.h(first, value);
        m
    }

    /// A bus event: `Event`, `Privilege` and, when known, `Timestamp` as the 3rd line.
    pub(crate) fn event(
        buf: &'a mut BytesMut,
        name: &str,
        privilege: &str,
        ts: Option<u64>,
    ) -> Msg<'a> {
        let mut m = Msg::new(buf, "Event", name);
        m.h("Privilege", privilege);
        if let Some(ts) = ts {
            m.h("Timestamp", &fmt_ts(ts));
        }
        m
    }

    /// A response, with the client's `ActionID` when it sent one.
    pub(crate) fn response(
        buf: &'a mut BytesMut,
        status: &str,
        action_id: Option<&str>,
    ) -> Msg<'a> {
        let mut m = Msg::new(buf, "Response", status);
        m.opt("ActionID", action_id);
        m
    }

    /// One `Key: Value` line. A CR or LF inside the value (which could only come from a
    /// client echoing odd bytes back) becomes a space, so no value can break the framing.
    pub(crate) fn h(&mut self, key: &str, value: &str) -> &mut Self {
        self.buf.extend_from_slice(key.as_bytes());
        self.buf.extend_from_slice(b": ");
        if value.bytes().any(|b| b == b'\r' || b == b'\n') {
            let clean: String = value
                .chars()
                .map(|c| if c == '\r' || c == '\n' { ' ' } else { c })
                .collect();
            self.buf.extend_from_slice(clean.as_bytes());
        } else {
            self.buf.extend_from_slice(value.as_bytes());
        }
        self.buf.extend_from_slice(b"\r\n");
        self
    }

    /// A header only when there is a value (Asterisk leaves out an absent `ActionID`).
    pub(crate) fn opt(&mut self, key: &str, value: Option<&str>) -> &mut Self {
        if let Some(v) = value {
            self.h(key, v);
        }
        self
    }

    /// Ends the message with the empty line.
    pub(crate) fn end(self) {
        self.buf.extend_from_slice(b"\r\n");
    }
}

/// Formats microseconds since the epoch as Asterisk's `Timestamp:` (`1795526532.170602`).
pub(crate) fn fmt_ts(us: u64) -> String {
    format!("{}.{:06}", us / 1_000_000, us % 1_000_000)
}

// The writers below append numbers to an event being built without a `String` per number:
// at `Speed::Max` the simulator writes a million events a second, each with a `Timestamp`
// and a few ids, and `format!` was a visible share of that.

/// "00", "01", … "99": two digits per division.
const PAIRS: [u8; 200] = {
    let mut t = [0u8; 200];
    let mut i = 0;
    while i < 100 {
        t[2 * i] = b'0' + (i / 10) as u8;
        t[2 * i + 1] = b'0' + (i % 10) as u8;
        i += 1;
    }
    t
};

/// Appends `n` in decimal.
pub(crate) fn put_u64(out: &mut BytesMut, mut n: u64) {
    let mut digits = [0u8; 20];
    let mut i = digits.len();
    while n >= 100 {
        let p = (n % 100) as usize * 2;
        n /= 100;
        i -= 2;
        digits[i..i + 2].copy_from_slice(&PAIRS[p..p + 2]);
    }
    if n >= 10 {
        let p = n as usize * 2;
        i -= 2;
        digits[i..i + 2].copy_from_slice(&PAIRS[p..p + 2]);
    } else {
        i -= 1;
        digits[i] = b'0' + n as u8;
    }
    out.extend_from_slice(&digits[i..]);
}

/// Appends a `Timestamp:` value, as [`fmt_ts`] writes it.
pub(crate) fn put_ts(out: &mut BytesMut, us: u64) {
    put_u64(out, us / 1_000_000);
    let f = (us % 1_000_000) as usize;
    let (a, b, c) = (f / 10_000 * 2, f / 100 % 100 * 2, f % 100 * 2);
    out.extend_from_slice(&[
        b'.',
        PAIRS[a],
        PAIRS[a + 1],
        PAIRS[b],
        PAIRS[b + 1],
        PAIRS[c],
        PAIRS[c + 1],
    ]);
}

/// Appends `n` as `{:08x}` does (channel sequence numbers, bridge-id prefixes).
pub(crate) fn put_hex8(out: &mut BytesMut, n: u64) {
    const HEX: &[u8; 16] = b"0123456789abcdef";
    if n > 0xffff_ffff {
        out.extend_from_slice(format!("{n:08x}").as_bytes());
        return;
    }
    let mut h = [0u8; 8];
    for (i, d) in h.iter_mut().enumerate() {
        *d = HEX[((n >> (28 - 4 * i)) & 0xf) as usize];
    }
    out.extend_from_slice(&h);
}

/// Parses a `Timestamp:` value into microseconds since the epoch. Fractions shorter than six
/// digits are read as such (`.5` is 500000 µs); anything else is `None`.
pub(crate) fn parse_ts(s: &str) -> Option<u64> {
    let (secs, frac) = s.trim().split_once('.').unwrap_or((s.trim(), ""));
    let secs: u64 = secs.parse().ok()?;
    let mut us: u64 = 0;
    let mut digits = 0;
    for c in frac.chars().take(6) {
        us = us * 10 + c.to_digit(10)? as u64;
        digits += 1;
    }
    for _ in digits..6 {
        us *= 10;
    }
    secs.checked_mul(1_000_000)?.checked_add(us)
}

/// Date and time (UTC) of µs since the epoch, to the millisecond:
/// `2026-11-24T13:22:12.168` (what both formats below start with).
fn utc_millis(us: u64) -> String {
    let t = time::OffsetDateTime::from_unix_timestamp((us / 1_000_000) as i64)
        .unwrap_or(time::OffsetDateTime::UNIX_EPOCH);
    format!(
        "{:04}-{:02}-{:02}T{:02}:{:02}:{:02}.{:03}",
        t.year(),
        t.month() as u8,
        t.day(),
        t.hour(),
        t.minute(),
        t.second(),
        (us % 1_000_000) / 1000
    )
}

/// `EventTV` / `SessionTV` of security events: `2026-11-24T13:22:12.168+0000`.
pub(crate) fn fmt_event_tv(us: u64) -> String {
    utc_millis(us) + "+0000"
}

/// Times of the ground-truth files: `2026-11-24T13:20:10.677Z`.
pub(crate) fn fmt_rfc3339(us: u64) -> String {
    utc_millis(us) + "Z"
}

/// `HH:MM:SS`, as in `CoreShowChannel`'s `Duration`.
pub(crate) fn fmt_hms(secs: u64) -> String {
    format!(
        "{:02}:{:02}:{:02}",
        secs / 3600,
        (secs / 60) % 60,
        secs % 60
    )
}

/// The wall clock in microseconds since the epoch.
pub(crate) fn now_us() -> u64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_micros() as u64)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn timestamps_round_trip() {
        assert_eq!(parse_ts("1795526532.170602"), Some(1_795_526_532_170_602));
        assert_eq!(fmt_ts(1_795_526_532_000_602), "1795526532.000602");
        assert_eq!(parse_ts("12.5"), Some(12_500_000));
        assert_eq!(parse_ts("x"), None);
        assert_eq!(
            fmt_event_tv(1_795_526_532_168_964),
            "2026-11-24T13:22:12.168+0000"
        );
        assert_eq!(fmt_hms(3725), "01:02:05");
    }

    #[test]
    fn number_writers_match_format() {
        for n in [
            0u64,
            7,
            10,
            999_999,
            1_000_000,
            1_795_526_532_000_602,
            u64::MAX,
        ] {
            let mut b = BytesMut::new();
            put_u64(&mut b, n);
            assert_eq!(&b[..], n.to_string().as_bytes());
            let mut b = BytesMut::new();
            put_ts(&mut b, n);
            assert_eq!(&b[..], fmt_ts(n).as_bytes());
        }
        for n in [0u64, 0x1a, 0xdead_beef, 0xffff_ffff, 0x1_0000_0000] {
            let mut b = BytesMut::new();
            put_hex8(&mut b, n);
            assert_eq!(&b[..], format!("{n:08x}").as_bytes());
        }
    }

    #[test]
    fn values_cannot_break_framing() {
        let mut b = BytesMut::new();
        let mut m = Msg::response(&mut b, "Success", Some("a\r\nEvent: x"));
        m.h("Ping", "Pong");
        m.end();
        assert_eq!(
            &b[..],
            b"Response: Success\r\nActionID: a  Event: x\r\nPing: Pong\r\n\r\n"
        );
    }
}
