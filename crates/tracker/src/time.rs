//! Instants as the PBX reports them.

use serde::{Deserialize, Deserializer, Serialize, Serializer};
use std::fmt;

/// An instant, in microseconds since the Unix epoch: the resolution of Asterisk's
/// `Timestamp: 1795526382.111838` header. Serialised as RFC 3339 (UTC, microseconds).
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Timestamp(pub i64);

impl Timestamp {
    /// Parses Asterisk's `Timestamp` header: `<epoch seconds>.<microseconds>`.
    pub fn from_ami(value: &str) -> Option<Timestamp> {
        let value = value.trim();
        let (secs, frac) = value.split_once('.').unwrap_or((value, ""));
        let secs: i64 = secs.parse().ok()?;
        if frac.len() > 9 || !frac.bytes().all(|b| b.is_ascii_digit()) {
            return None;
        }
        // Right-pad or cut the fraction to six digits: ".5" is 500000 µs.
        let mut micros = 0i64;
        for i in 0..6 {
            let d = frac.as_bytes().get(i).map_or(0, |b| (b - b'0') as i64);
            micros = micros * 10 + d;
        }
        secs.checked_mul(1_000_000)?
            .checked_add(micros)
            .map(Timestamp)
    }

    /// From seconds since the epoch (the system clock, in live sessions without timestamps).
    pub fn from_unix_seconds_f64(secs: f64) -> Timestamp {
        Timestamp((secs * 1_000_000.0).round() as i64)
    }

    /// Microseconds since the epoch.
    pub fn micros(self) -> i64 {
        self.0
    }

    /// Seconds from `earlier` to `self` (negative if `earlier` is later).
    pub fn seconds_since(self, earlier: Timestamp) -> f64 {
        (self.0 - earlier.0) as f64 / 1_000_000.0
    }

    /// RFC 3339 in UTC with microseconds, e.g. `2026-11-24T13:19:42.111838Z`.
    pub fn to_rfc3339(self) -> String {
        let nanos = self.0 as i128 * 1000;
        match ::time::OffsetDateTime::from_unix_timestamp_nanos(nanos) {
            Ok(t) => {
                let format = ::time::macros::format_description!(
                    "[year]-[month]-[day]T[hour]:[minute]:[second].[subsecond digits:6]Z"
                );
                t.format(&format).unwrap_or_default()
            }
            Err(_) => String::new(),
        }
    }

    /// Parses RFC 3339 (any offset, any fraction).
    pub fn parse_rfc3339(s: &str) -> Option<Timestamp> {
        let t = ::time::OffsetDateTime::parse(s, &::time::format_description::well_known::Rfc3339)
            .ok()?;
        Some(Timestamp((t.unix_timestamp_nanos() / 1000) as i64))
    }
}

impl fmt::Display for Timestamp {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.to_rfc3339())
    }
}

impl Serialize for Timestamp {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(&self.to_rfc3339())
    }
}

impl<'de> Deserialize<'de> for Timestamp {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Timestamp, D::Error> {
        let s = String::deserialize(d)?;
        Timestamp::parse_rfc3339(&s)
            .ok_or_else(|| serde::de::Error::custom(format!("not an RFC 3339 time: {s:?}")))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_asterisk_timestamps() {
        assert_eq!(
            Timestamp::from_ami("1795526382.111838"),
            Some(Timestamp(1_795_526_382_111_838))
        );
        assert_eq!(Timestamp::from_ami("12.5"), Some(Timestamp(12_500_000)));
        assert_eq!(Timestamp::from_ami("12"), Some(Timestamp(12_000_000)));
        assert_eq!(Timestamp::from_ami("x.1"), None);
        assert_eq!(Timestamp::from_ami("1.-1"), None);
        assert_eq!(Timestamp::from_ami("99999999999999999999.1"), None);
    }

    #[test]
    fn rfc3339_round_trip() {
        let t = Timestamp(1_795_526_382_111_838);
        assert_eq!(t.to_rfc3339(), "2026-11-24T13:19:42.111838Z");
        assert_eq!(Timestamp::parse_rfc3339(&t.to_rfc3339()), Some(t));
        assert_eq!(
            Timestamp::parse_rfc3339("2026-11-24T14:19:42.111838+01:00"),
            Some(t)
        );
    }
}
