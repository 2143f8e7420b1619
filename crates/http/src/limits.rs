//! Bounds on a request's head, answered in JSON like every other error.
//!
//! hyper answers a head it cannot take (URI over 64 KiB, head over its buffer, more than 100
//! headers, bytes that are not HTTP) with a bare status and an empty body, and has no hook to
//! change that answer. So the limits clients can plausibly hit are ours, below hyper's, and
//! answered by [`head_limits`] with a JSON body; hyper's own answers remain for heads past
//! its buffer, over 100 headers, and malformed requests.

use crate::error::ApiError;
use axum::extract::Request;
use axum::http::StatusCode;
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};

/// Longest request target (path and query) answered; longer gets 414. A history query
/// with every parameter is a few hundred bytes.
pub const MAX_URI_BYTES: usize = 8 * 1024;

/// Largest total of header names and values answered; more gets 431.
pub const MAX_HEADER_BYTES: usize = 32 * 1024;

/// hyper's read buffer per connection (its default is about 400 KiB): room for a head at
/// our limits, and a bound on what each connection can make the server hold (64 KiB times
/// `max_connections` plus the probe lane).
pub const MAX_BUF_SIZE: usize = 64 * 1024;

const _: () = assert!(MAX_URI_BYTES + MAX_HEADER_BYTES + 1024 < MAX_BUF_SIZE);

/// 414 or 431 in JSON for a head over our limits.
pub async fn head_limits(request: Request, next: Next) -> Response {
    let uri = request.uri();
    let uri_bytes = uri.path_and_query().map_or(0, |pq| pq.as_str().len())
        + uri.authority().map_or(0, |a| a.as_str().len());
    if uri_bytes > MAX_URI_BYTES {
        return ApiError {
            status: StatusCode::URI_TOO_LONG,
            message: format!(
                "request target of {uri_bytes} bytes; at most {MAX_URI_BYTES} are accepted"
            ),
        }
        .into_response();
    }
    let header_bytes: usize = request
        .headers()
        .iter()
        .map(|(name, value)| name.as_str().len() + value.len() + 4)
        .sum();
    if header_bytes > MAX_HEADER_BYTES {
        return ApiError {
            status: StatusCode::REQUEST_HEADER_FIELDS_TOO_LARGE,
            message: format!(
                "request headers of {header_bytes} bytes; at most {MAX_HEADER_BYTES} are accepted"
            ),
        }
        .into_response();
    }
    next.run(request).await
}
