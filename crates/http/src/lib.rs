//! switchboard's HTTP API (read-only for now): live state, call history, health,
//! readiness and Prometheus metrics.
//!
//! The crate keeps no state of its own: each request is answered from a [`Backend`] the
//! service implements. The binary calls [`metrics::install`] once at start, then
//! [`serve`] with its backend, the [`Options`] from its configuration and a shutdown signal.
//!
//! The routes are the rows of [`ROUTES`]: the router serves exactly those and the OpenAPI
//! document's `paths` are built from them, so no route is served undocumented.
//!
//! | route | answer |
//! |---|---|
//! | `GET /health` | 200 `{"status":"alive"}` while the process serves HTTP |
//! | `GET /ready` | 200 or 503 `{"ready":bool,"reasons":[...]}` ([`ReadyPolicy`]) |
//! | `GET /metrics` | Prometheus text ([`metrics::names`]) |
//! | `GET /api/servers` | `{"servers":[ServerStatus...]}` |
//! | `GET /api/calls` | `{"calls":[...]}` calls in progress, with their legs |
//! | `GET /api/calls/history` | `{"calls":[CallRecord...],"next_cursor":...}` newest first |
//! | `GET /api/calls/{id}` | one `CallRecord` with its timeline, or 404 |
//! | `GET /api/extensions` | `{"extensions":[...]}` |
//! | `GET /api/queues` | `{"queues":[...]}` |
//! | `GET /api/openapi.json` | the OpenAPI document of all this |
//!
//! Errors are JSON, `{"error": "..."}`: 400 naming the bad parameter, 404 for unknown ids
//! and routes, 401 without a valid token (when tokens are configured), 413 for a body over
//! the limit, 414 / 431 for a request target / headers over the limits of `limits`, 503
//! when the backend or the request deadline gives out, or (with `Retry-After`) for
//! anything but `/health` and `/ready` while every connection slot is taken.
#![forbid(unsafe_code)]

mod admission;
mod auth;
mod backend;
mod error;
mod limits;
pub mod metrics;
mod openapi;
mod query;
mod routes;
mod serve;
mod status;

pub use backend::{Backend, BackendError, HistoryPage, HistoryQuery};
pub use error::ApiError;
/// Every parameter `/api/calls/history` understands.
pub use history::PARAMETERS as HISTORY_PARAMETERS;
pub use openapi::document as openapi_document;
pub use routes::{Access, Route, Verb, ROUTES};
pub use serve::{check_listen, serve, serve_on, Options, ServeError};
pub use status::{ConnectionState, Lag, Readiness, ReadyPolicy, ServerStatus};

use axum::extract::{MatchedPath, Request};
use axum::http::{header, StatusCode};
use axum::middleware::{self, Next};
use axum::response::{IntoResponse, Response};
use axum::Router;
use std::sync::Arc;
use tower_http::limit::RequestBodyLimitLayer;
use tower_http::timeout::TimeoutLayer;

/// The whole API as an axum [`Router`], with its bounds (request deadline, body limit),
/// authentication (when `options.tokens` is not empty) and request metrics. [`serve`] uses
/// it; it is public for embedding and tests.
pub fn router<B: Backend>(backend: Arc<B>, options: &Options) -> Router {
    let (probes, mut api) = routes::routes::<B>();
    if !options.tokens.is_empty() {
        let tokens = auth::Tokens(options.tokens.clone().into());
        api = api.route_layer(middleware::from_fn_with_state(tokens, auth::require_token));
    }
    probes
        .merge(api)
        .fallback(routes::no_route)
        .method_not_allowed_fallback(routes::wrong_method)
        .with_state(backend)
        .layer(TimeoutLayer::with_status_code(
            StatusCode::SERVICE_UNAVAILABLE,
            options.request_timeout,
        ))
        .layer(RequestBodyLimitLayer::new(options.body_limit))
        .layer(middleware::from_fn(json_errors))
        .layer(middleware::from_fn(count_request))
        .layer(middleware::from_fn(limits::head_limits))
}

/// The timeout and body-limit layers answer with a bare status or plain text; give those a
/// JSON body like every other error, so clients parse one shape.
async fn json_errors(request: Request, next: Next) -> Response {
    let response = next.run(request).await;
    let status = response.status();
    let json = response
        .headers()
        .get(header::CONTENT_TYPE)
        .is_some_and(|v| v.as_bytes().starts_with(b"application/json"));
    if !(status.is_client_error() || status.is_server_error()) || json {
        return response;
    }
    let message = match status {
        StatusCode::PAYLOAD_TOO_LARGE => "request body too large: this API takes no body",
        StatusCode::SERVICE_UNAVAILABLE => "the request took too long to answer; retry later",
        _ => status.canonical_reason().unwrap_or("error"),
    };
    ApiError {
        status,
        message: message.to_string(),
    }
    .into_response()
}

/// Counts answered requests by route template (not raw path: ids would make the label
/// set unbounded) and status.
async fn count_request(request: Request, next: Next) -> Response {
    let route = request
        .extensions()
        .get::<MatchedPath>()
        .map_or("unmatched", |p| p.as_str())
        .to_string();
    let response = next.run(request).await;
    ::metrics::counter!(
        metrics::names::HTTP_REQUESTS,
        "route" => route,
        "status" => response.status().as_u16().to_string()
    )
    .increment(1);
    response
}
