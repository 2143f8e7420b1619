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
        .and_then(|v| v.strip_prefix("Bearer "))
        .map(str::trim);
    match presented {
        Some(token)
            if tokens
                .0
                .iter()
                .any(|t| same(t.as_bytes(), token.as_bytes())) =>
        {
            next.run(request).await
        }
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

/// Compares without stopping at the first difference, so the time taken does not tell an
/// attacker how much of a guess was right.
fn same(a: &[u8], b: &[u8]) -> bool {
    a.len() == b.len() && a.iter().zip(b).fold(0u8, |acc, (x, y)| acc | (x ^ y)) == 0
}
