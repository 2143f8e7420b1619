//! The query string of a history request, checked parameter by parameter.
//!
//! Parsed by hand rather than with serde so every error names the parameter and says what
//! was expected, and so unknown or repeated parameters are refused instead of silently
//! ignored (a typo such as `?dispostion=busy` would otherwise return every call).

use crate::{HistoryQuery, MAX_LIMIT};
use std::fmt;
use tracker::{Direction, Disposition, Timestamp};

/// Every parameter a history request understands.
pub const PARAMETERS: &[&str] = &[
    "since",
    "until",
    "extension",
    "number",
    "disposition",
    "direction",
    "server",
    "limit",
    "cursor",
];

/// Longest value accepted for any parameter: numbers, names and cursors are short.
const MAX_VALUE_LEN: usize = 256;

/// A parameter the client got wrong, and what was expected of it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ParamError {
    /// The parameter's name as the client sent it (at most a short prefix of it).
    pub parameter: String,
    /// What is wrong, in words meant for the client.
    pub message: String,
}

impl ParamError {
    /// An error about `parameter`.
    pub fn new(parameter: &str, message: impl Into<String>) -> ParamError {
        ParamError {
            parameter: truncate(parameter),
            message: message.into(),
        }
    }
}

impl fmt::Display for ParamError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}: {}", self.parameter, self.message)
    }
}

impl std::error::Error for ParamError {}

impl HistoryQuery {
    /// Parses a raw (percent-encoded) query string such as
    /// `since=2026-11-24T13:00:00Z&extension=2001&limit=20`.
    pub fn parse(raw: &str) -> Result<HistoryQuery, ParamError> {
        let mut query = HistoryQuery::default();
        let mut seen: Vec<&'static str> = Vec::new();
        for (key, value) in form_urlencoded::parse(raw.as_bytes()) {
            let Some(&name) = PARAMETERS.iter().find(|p| **p == key) else {
                return Err(ParamError::new(
                    &key,
                    format!(
                        "unknown parameter; the history takes {}",
                        PARAMETERS.join(", ")
                    ),
                ));
            };
            if seen.contains(&name) {
                return Err(ParamError::new(name, "given more than once"));
            }
            seen.push(name);
            if value.len() > MAX_VALUE_LEN {
                return Err(ParamError::new(
                    name,
                    format!("longer than {MAX_VALUE_LEN} bytes"),
                ));
            }
            if value.is_empty() {
                return Err(ParamError::new(
                    name,
                    "empty; leave the parameter out to not filter on it",
                ));
            }
            let value = value.into_owned();
            match name {
                "since" => query.since = Some(timestamp(name, &value)?),
                "until" => query.until = Some(timestamp(name, &value)?),
                "extension" => query.extension = Some(value),
                "number" => query.number = Some(value),
                "server" => query.server = Some(value),
                "cursor" => query.cursor = Some(value),
                "disposition" => query.disposition = Some(parse_disposition(&value)?),
                "direction" => query.direction = Some(parse_direction(&value)?),
                "limit" => query.limit = limit(&value)?,
                _ => unreachable!("every name of PARAMETERS has an arm"),
            }
        }
        query.check()?;
        Ok(query)
    }
}

fn timestamp(name: &str, value: &str) -> Result<Timestamp, ParamError> {
    Timestamp::parse_rfc3339(value).ok_or_else(|| {
        ParamError::new(
            name,
            format!(
                "'{}' is not an RFC 3339 time such as 2026-11-24T13:19:42Z",
                truncate(value)
            ),
        )
    })
}

fn limit(value: &str) -> Result<u32, ParamError> {
    match value.parse::<u32>() {
        Ok(n) if (1..=MAX_LIMIT).contains(&n) => Ok(n),
        _ => Err(ParamError::new(
            "limit",
            format!(
                "'{}' is not a whole number from 1 to {MAX_LIMIT}",
                truncate(value)
            ),
        )),
    }
}

/// `no_answer` → [`Disposition::NoAnswer`], by the call record contract's names.
pub fn parse_disposition(value: &str) -> Result<Disposition, ParamError> {
    use Disposition::*;
    [Answered, NoAnswer, Busy, Failed, Abandoned]
        .into_iter()
        .find(|d| d.as_str() == value)
        .ok_or_else(|| {
            ParamError::new(
                "disposition",
                format!(
                    "'{}' is not one of answered, no_answer, busy, failed, abandoned",
                    truncate(value)
                ),
            )
        })
}

/// `inbound` → [`Direction::Inbound`], by the call record contract's names.
pub fn parse_direction(value: &str) -> Result<Direction, ParamError> {
    use Direction::*;
    [Internal, Inbound, Outbound]
        .into_iter()
        .find(|d| d.as_str() == value)
        .ok_or_else(|| {
            ParamError::new(
                "direction",
                format!(
                    "'{}' is not one of internal, inbound, outbound",
                    truncate(value)
                ),
            )
        })
}

/// Echoes at most a short prefix of what the client sent: error messages stay small.
fn truncate(value: &str) -> String {
    const ECHO: usize = 64;
    match value.char_indices().nth(ECHO) {
        Some((cut, _)) => format!("{}…", &value[..cut]),
        None => value.to_string(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::DEFAULT_LIMIT;

    fn err(raw: &str) -> String {
        HistoryQuery::parse(raw).unwrap_err().to_string()
    }

    #[test]
    fn parses_every_filter() {
        let q = HistoryQuery::parse(
            "since=2026-11-24T13:00:00Z&until=2026-11-24T15:00:00%2B01:00&extension=2001\
             &number=%2B4930&disposition=no_answer&direction=inbound&server=pbx1&limit=7&cursor=abc",
        )
        .unwrap();
        assert_eq!(q.since, Timestamp::parse_rfc3339("2026-11-24T13:00:00Z"));
        assert_eq!(q.until, Timestamp::parse_rfc3339("2026-11-24T14:00:00Z"));
        assert_eq!(q.extension.as_deref(), Some("2001"));
        assert_eq!(q.number.as_deref(), Some("+4930"));
        assert_eq!(q.disposition, Some(Disposition::NoAnswer));
        assert_eq!(q.direction, Some(Direction::Inbound));
        assert_eq!(q.server.as_deref(), Some("pbx1"));
        assert_eq!(q.limit, 7);
        assert_eq!(q.cursor.as_deref(), Some("abc"));
        assert_eq!(HistoryQuery::parse("").unwrap(), HistoryQuery::default());
        assert_eq!(HistoryQuery::default().limit, DEFAULT_LIMIT);
        assert_eq!(
            HistoryQuery::parse(&format!("limit={MAX_LIMIT}"))
                .unwrap()
                .limit,
            MAX_LIMIT
        );
    }

    #[test]
    fn errors_name_the_parameter() {
        assert!(err("limit=0").starts_with("limit: '0' is not a whole number"));
        assert!(err("limit=1001").starts_with("limit:"));
        assert!(err("limit=-3").starts_with("limit:"));
        assert!(err("since=yesterday").starts_with("since: 'yesterday' is not an RFC 3339"));
        assert!(err("disposition=lost").starts_with("disposition: 'lost' is not one of"));
        assert!(err("direction=up").starts_with("direction:"));
        assert!(err("dispostion=busy").starts_with("dispostion: unknown parameter"));
        assert!(err("server=a&server=b").starts_with("server: given more than once"));
        assert!(err("extension=").starts_with("extension: empty"));
        assert!(err("since=2026-11-24T14:00:00Z&until=2026-11-24T13:00:00Z").starts_with("until:"));
        assert!(err("since=2026-11-24T14:00:00Z&until=2026-11-24T14:00:00Z").starts_with("until:"));
        let long = "x".repeat(1000);
        assert!(err(&format!("cursor={long}")).starts_with("cursor: longer than"));
        assert!(
            err(&format!("{long}=1")).len() < 300,
            "echo of the name is bounded"
        );
    }

    #[test]
    fn queries_built_in_code_are_checked_too() {
        let q = |limit| HistoryQuery {
            limit,
            ..HistoryQuery::default()
        };
        assert!(q(0).check().is_err());
        assert!(q(MAX_LIMIT + 1).check().is_err());
        assert!(q(1).check().is_ok() && q(MAX_LIMIT).check().is_ok());
    }
}
