//! Bearer tokens for `/api/*`.
//!
//! With no token configured the API is read-only and listens on loopback only (see
//! [`crate::serve`]): whoever can reach it already runs on this machine. With tokens, a
//! request to `/api/*` must carry `Authorization: Bearer <token>`. The probes (`/health`,
//! `/ready`, `/metrics`) stay open, as orchestrators and Prometheus expect.

use crate::error::ApiError;
use axum::extract::{Request, State};
use axum::http::{header, StatusCode};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use std::sync::Arc;

/// The configured tokens.
#[derive(Clone)]
pub(crate) struct Tokens(pub Arc<[String]>);

pub(crate) async fn require_token(
    State(tokens): State<Tokens>,
    request: Request,
    next: Next,
) -> Response {
    let presented = request
        .headers()
        .get(header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok())
        .and_then(bearer);
    match presented {
        Some(token) if known(&tokens.0, token) => next.run(request).await,
        Some(_) => unauthorized("the bearer token is not one of the configured tokens"),
        None => unauthorized("this API needs an Authorization: Bearer <token> header"),
    }
}

fn unauthorized(message: &str) -> Response {
    ApiError {
        status: StatusCode::UNAUTHORIZED,
        message: message.to_string(),
    }
    .into_response()
}

/// The credentials of an `Authorization: Bearer <token>` value. The scheme is
/// case-insensitive (RFC 9110 §11.1: `bearer`, `BEARER` are the same scheme).
fn bearer(value: &str) -> Option<&str> {
    let (scheme, token) = value.trim_start().split_once(' ')?;
    scheme
        .eq_ignore_ascii_case("bearer")
        .then(|| token.trim())
        .filter(|t| !t.is_empty())
}

/// Whether `presented` is one of `tokens`, in a time that depends on neither which token
/// matched (every one is compared) nor how much of a guess was right.
fn known(tokens: &[String], presented: &str) -> bool {
    tokens.iter().fold(false, |found, t| {
        found | same(t.as_bytes(), presented.as_bytes())
    })
}

/// Compares every byte of `presented`, whatever the lengths: the time taken follows the
/// attacker's own input, not the secret's content.
fn same(expected: &[u8], presented: &[u8]) -> bool {
    let mut diff = u8::from(expected.len() != presented.len());
    for (i, p) in presented.iter().enumerate() {
        diff |= expected.get(i).copied().unwrap_or(0) ^ p;
    }
    diff == 0
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_scheme_is_case_insensitive_and_the_token_required() {
        assert_eq!(bearer("Bearer abc"), Some("abc"));
        assert_eq!(bearer("bearer abc"), Some("abc"));
        assert_eq!(bearer("BEARER  abc "), Some("abc"));
        assert_eq!(bearer("Basic abc"), None);
        assert_eq!(bearer("Bearer "), None);
        assert_eq!(bearer("Bearerabc"), None);
    }

    #[test]
    fn a_token_matches_only_itself_whatever_its_place() {
        let tokens = ["first".to_string(), "second".to_string()];
        assert!(known(&tokens, "first"));
        assert!(known(&tokens, "second"));
        for wrong in ["", "firs", "firstt", "secone", "\0first"] {
            assert!(!known(&tokens, wrong), "{wrong:?}");
        }
        assert!(!same(b"abc", b""));
        assert!(!same(b"", b"abc"));
    }
}
