//! The query string of `/api/calls/history`: parsed by the `history` crate (shared with the
//! store), its errors turned into `400` answers that name the parameter.

use crate::backend::HistoryQuery;
use crate::error::ApiError;

/// Parses a raw (percent-encoded) query string; an error names the parameter.
pub fn parse_history(raw: Option<&str>) -> Result<HistoryQuery, ApiError> {
    HistoryQuery::parse(raw.unwrap_or(""))
        .map_err(|e| ApiError::bad_parameter(&e.parameter, e.message))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn errors_are_bad_requests_that_name_the_parameter() {
        let err = parse_history(Some("dispostion=busy")).unwrap_err();
        assert_eq!(err.status, axum::http::StatusCode::BAD_REQUEST);
        assert!(
            err.message.starts_with("dispostion: unknown parameter"),
            "{}",
            err.message
        );
        assert_eq!(parse_history(None).unwrap(), HistoryQuery::default());
    }
}
