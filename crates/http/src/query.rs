//! The query string of `/api/calls/history`, checked parameter by parameter.
//!
//! Parsed by hand rather than with serde so every error names the parameter and says what
//! was expected, and so unknown or repeated parameters are refused instead of silently
//! ignored (a typo such as `?dispostion=busy` would otherwise return every call).

use crate::backend::HistoryQuery;
use crate::error::ApiError;
use tracker::{Direction, Disposition, Timestamp};

/// Every parameter `/api/calls/history` understands.
pub const HISTORY_PARAMETERS: &[&str] = &[
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

/// Parses a raw (percent-encoded) query string.
pub fn parse_history(raw: Option<&str>) -> Result<HistoryQuery, ApiError> {
    let mut query = HistoryQuery {
        limit: HistoryQuery::DEFAULT_LIMIT,
        ..HistoryQuery::default()
    };
    let mut seen: Vec<&'static str> = Vec::new();
    for (key, value) in form_urlencoded::parse(raw.unwrap_or("").as_bytes()) {
        let Some(&name) = HISTORY_PARAMETERS.iter().find(|p| **p == key) else {
            return Err(ApiError::bad_parameter(
                &truncate(&key),
                format!(
                    "unknown parameter; /api/calls/history takes {}",
                    HISTORY_PARAMETERS.join(", ")
                ),
            ));
        };
        if seen.contains(&name) {
            return Err(ApiError::bad_parameter(name, "given more than once"));
        }
        seen.push(name);
        if value.len() > MAX_VALUE_LEN {
            return Err(ApiError::bad_parameter(
                name,
                format!("longer than {MAX_VALUE_LEN} bytes"),
            ));
        }
        if value.is_empty() {
            return Err(ApiError::bad_parameter(
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
            "disposition" => query.disposition = Some(disposition(&value)?),
            "direction" => query.direction = Some(direction(&value)?),
            "limit" => query.limit = limit(&value)?,
            _ => unreachable!("every name of HISTORY_PARAMETERS has an arm"),
        }
    }
    if let (Some(since), Some(until)) = (query.since, query.until) {
        if until <= since {
            return Err(ApiError::bad_parameter(
                "until",
                format!("{until} is not after since ({since})"),
            ));
        }
    }
    Ok(query)
}

fn timestamp(name: &str, value: &str) -> Result<Timestamp, ApiError> {
    Timestamp::parse_rfc3339(value).ok_or_else(|| {
        ApiError::bad_parameter(
            name,
            format!(
                "'{}' is not an RFC 3339 time such as 2026-11-24T13:19:42Z",
                truncate(value)
            ),
        )
    })
}

fn limit(value: &str) -> Result<usize, ApiError> {
    match value.parse::<usize>() {
        Ok(n) if (1..=HistoryQuery::MAX_LIMIT).contains(&n) => Ok(n),
        _ => Err(ApiError::bad_parameter(
            "limit",
            format!(
                "'{}' is not a whole number from 1 to {}",
                truncate(value),
                HistoryQuery::MAX_LIMIT
            ),
        )),
    }
}

fn disposition(value: &str) -> Result<Disposition, ApiError> {
    use Disposition::*;
    [Answered, NoAnswer, Busy, Failed, Abandoned]
        .into_iter()
        .find(|d| d.as_str() == value)
        .ok_or_else(|| {
            ApiError::bad_parameter(
                "disposition",
                format!(
                    "'{}' is not one of answered, no_answer, busy, failed, abandoned",
                    truncate(value)
                ),
            )
        })
}

fn direction(value: &str) -> Result<Direction, ApiError> {
    use Direction::*;
    [Internal, Inbound, Outbound]
        .into_iter()
        .find(|d| d.as_str() == value)
        .ok_or_else(|| {
            ApiError::bad_parameter(
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

    fn err(raw: &str) -> String {
        parse_history(Some(raw)).unwrap_err().message
    }

    #[test]
    fn parses_every_filter() {
        let q = parse_history(Some(
            "since=2026-11-24T13:00:00Z&until=2026-11-24T15:00:00%2B01:00&extension=2001\
             &number=%2B4930&disposition=no_answer&direction=inbound&server=pbx1&limit=7&cursor=abc",
        ))
        .unwrap();
        assert_eq!(q.since, Timestamp::parse_rfc3339("2026-11-24T13:00:00Z"));
        assert_eq!(q.until, Timestamp::parse_rfc3339("2026-11-24T14:00:00Z"));
        assert_eq!(q.number.as_deref(), Some("+4930"));
        assert_eq!(q.disposition, Some(Disposition::NoAnswer));
        assert_eq!(q.direction, Some(Direction::Inbound));
        assert_eq!(q.limit, 7);
        assert_eq!(q.cursor.as_deref(), Some("abc"));
        assert_eq!(
            parse_history(None).unwrap().limit,
            HistoryQuery::DEFAULT_LIMIT
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
        let long = "x".repeat(1000);
        assert!(err(&format!("cursor={long}")).starts_with("cursor: longer than"));
        assert!(
            err(&format!("{long}=1")).len() < 300,
            "echo of the name is bounded"
        );
    }
}
