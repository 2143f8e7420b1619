//! The routes: one handler per path, each a thin translation between HTTP and [`Backend`].

use crate::backend::{Backend, HistoryPage};
use crate::error::ApiError;
use crate::query::parse_history;
use crate::status::Readiness;
use axum::extract::rejection::PathRejection;
use axum::extract::{Path, RawQuery, State};
use axum::http::{header, Method, StatusCode, Uri};
use axum::response::{IntoResponse, Response};
use axum::routing::{on, MethodFilter, MethodRouter};
use axum::{Json, Router};
use serde::Serialize;
use std::sync::Arc;
use tracker::CallRecord;

/// Longest call id accepted (`server:linkedid` is a few dozen bytes).
const MAX_ID_LEN: usize = 256;

/// Every route the API serves. [`crate::router`] registers exactly these and the OpenAPI
/// document's `paths` are built from exactly these ([`crate::openapi`]), because axum cannot
/// list the routes of a `Router`: with two lists, one would drift.
#[rustfmt::skip] // a table reads best as one row per route
pub static ROUTES: &[Route] = &[
    //    method     path                   access          handler                operation id
    route(Verb::Get, "/health",             Access::Open,   Endpoint::Health,       "health"),
    route(Verb::Get, "/ready",              Access::Open,   Endpoint::Ready,        "ready"),
    route(Verb::Get, "/metrics",            Access::Open,   Endpoint::Metrics,      "metrics"),
    route(Verb::Get, "/api/openapi.json",   Access::Token,  Endpoint::OpenApi,      "openapi"),
    route(Verb::Get, "/api/servers",        Access::Token,  Endpoint::Servers,      "listServers"),
    route(Verb::Get, "/api/calls",          Access::Token,  Endpoint::ActiveCalls,  "listActiveCalls"),
    route(Verb::Get, "/api/calls/history",  Access::Token,  Endpoint::History,      "listCallHistory"),
    route(Verb::Get, "/api/calls/{id}",     Access::Token,  Endpoint::Call,         "getCall"),
    route(Verb::Get, "/api/extensions",     Access::Token,  Endpoint::Extensions,   "listExtensions"),
    route(Verb::Get, "/api/queues",         Access::Token,  Endpoint::Queues,       "listQueues"),
];

/// One row of [`ROUTES`].
#[derive(Debug)]
pub struct Route {
    pub method: Verb,
    /// An axum path template (`{id}` for a segment), which is also OpenAPI's.
    pub path: &'static str,
    pub access: Access,
    endpoint: Endpoint,
    /// The key of its operation under `x-operations` in `openapi.json`, and its
    /// `operationId` in the served document.
    pub operation_id: &'static str,
}

impl Route {
    /// A probe route: what an orchestrator or a load balancer asks, which the probe lane
    /// answers when every connection slot is taken (see `admission`).
    pub fn is_probe(&self) -> bool {
        matches!(self.endpoint, Endpoint::Health | Endpoint::Ready)
    }
}

const fn route(
    method: Verb,
    path: &'static str,
    access: Access,
    endpoint: Endpoint,
    operation_id: &'static str,
) -> Route {
    Route {
        method,
        path,
        access,
        endpoint,
        operation_id,
    }
}

/// The methods the API takes (read-only so far). Our own enum rather than axum's `Method`
/// so turning one into a router filter and an OpenAPI key cannot fail.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Verb {
    /// GET, and HEAD with it (axum answers HEAD from the GET handler).
    Get,
}

impl Verb {
    pub fn method(self) -> Method {
        match self {
            Verb::Get => Method::GET,
        }
    }

    /// The key of an operation under a path item in OpenAPI.
    pub fn openapi_key(self) -> &'static str {
        match self {
            Verb::Get => "get",
        }
    }

    fn filter(self) -> MethodFilter {
        match self {
            Verb::Get => MethodFilter::GET,
        }
    }
}

/// Who may call a route.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Access {
    /// Anyone who can connect: probes stay open to scrapers and orchestrators whatever the
    /// API's authentication.
    Open,
    /// A bearer token, when tokens are configured (see `auth`).
    Token,
}

/// Which handler serves a route. An enum because [`ROUTES`] is a `static` and handlers are
/// generic over the backend; the exhaustive match in [`handler`] ties each to its code.
#[derive(Clone, Copy, Debug)]
enum Endpoint {
    Health,
    Ready,
    Metrics,
    OpenApi,
    Servers,
    ActiveCalls,
    History,
    Call,
    Extensions,
    Queues,
}

fn handler<B: Backend>(route: &Route) -> MethodRouter<Arc<B>> {
    let filter = route.method.filter();
    match route.endpoint {
        Endpoint::Health => on(filter, health),
        Endpoint::Ready => on(filter, ready::<B>),
        Endpoint::Metrics => on(filter, metrics::<B>),
        Endpoint::OpenApi => on(filter, openapi),
        Endpoint::Servers => on(filter, servers::<B>),
        Endpoint::ActiveCalls => on(filter, active_calls::<B>),
        Endpoint::History => on(filter, history::<B>),
        Endpoint::Call => on(filter, call::<B>),
        Endpoint::Extensions => on(filter, extensions::<B>),
        Endpoint::Queues => on(filter, queues::<B>),
    }
}

/// The routes of [`ROUTES`] with their handlers, before the layers of [`crate::router`]:
/// the open ones and those [`Access::Token`] guards.
pub(crate) fn routes<B: Backend>() -> (Router<Arc<B>>, Router<Arc<B>>) {
    let mut open = Router::new();
    let mut guarded = Router::new();
    for route in ROUTES {
        match route.access {
            Access::Open => open = open.route(route.path, handler::<B>(route)),
            Access::Token => guarded = guarded.route(route.path, handler::<B>(route)),
        }
    }
    (open, guarded)
}

/// `/health`: the process is alive and serving HTTP. Says nothing about PBXes or the
/// database (that is `/ready`), so an orchestrator never restarts a healthy process because
/// a PBX is down.
async fn health() -> Response {
    ([(header::CONTENT_TYPE, "application/json")], HEALTH_BODY).into_response()
}

/// `/health`'s answer, also sent by the accept loop itself when no connection can be
/// served (`admission::refuse`).
pub(crate) const HEALTH_BODY: &str = r#"{"status":"alive"}"#;

/// `/ready`: 200 when the service can do its job under the configured policy, else 503
/// with the reasons.
async fn ready<B: Backend>(State(backend): State<Arc<B>>) -> (StatusCode, Json<Readiness>) {
    let readiness = backend.readiness().await;
    let status = if readiness.ready {
        StatusCode::OK
    } else {
        StatusCode::SERVICE_UNAVAILABLE
    };
    (status, Json(readiness))
}

/// `/metrics`: Prometheus text exposition format 0.0.4.
async fn metrics<B: Backend>(State(backend): State<Arc<B>>) -> impl IntoResponse {
    (
        [(
            header::CONTENT_TYPE,
            "text/plain; version=0.0.4; charset=utf-8",
        )],
        backend.metrics_text(),
    )
}

async fn openapi() -> Response {
    match crate::openapi_document() {
        Ok(text) => ([(header::CONTENT_TYPE, "application/json")], text.as_str()).into_response(),
        Err(err) => ApiError {
            status: StatusCode::INTERNAL_SERVER_ERROR,
            message: err.clone(),
        }
        .into_response(),
    }
}

/// A list under a name: `{"servers": [...]}`. An object rather than a bare array, so fields
/// can be added later without breaking clients.
fn listed<T: Serialize>(name: &'static str, items: Vec<T>) -> Response {
    let mut body = serde_json::Map::new();
    match serde_json::to_value(items) {
        Ok(value) => {
            body.insert(name.to_string(), value);
            Json(body).into_response()
        }
        Err(err) => ApiError {
            status: StatusCode::INTERNAL_SERVER_ERROR,
            message: format!("could not encode {name}: {err}"),
        }
        .into_response(),
    }
}

async fn servers<B: Backend>(State(backend): State<Arc<B>>) -> Response {
    listed("servers", backend.servers().await)
}

async fn active_calls<B: Backend>(State(backend): State<Arc<B>>) -> Response {
    listed("calls", backend.active_calls().await)
}

async fn extensions<B: Backend>(State(backend): State<Arc<B>>) -> Response {
    listed("extensions", backend.extensions().await)
}

async fn queues<B: Backend>(State(backend): State<Arc<B>>) -> Response {
    listed("queues", backend.queues().await)
}

/// `/api/calls/history`: completed calls, newest first, a page at a time.
async fn history<B: Backend>(
    State(backend): State<Arc<B>>,
    RawQuery(raw): RawQuery,
) -> Result<Json<HistoryPage>, ApiError> {
    let query = parse_history(raw.as_deref())?;
    let limit = query.limit;
    let mut page = backend.history(query).await?;
    // The page size is the client's bound on the answer; hold the backend to it.
    page.calls.truncate(limit as usize);
    Ok(Json(page))
}

/// `/api/calls/{id}`: one completed call with its timeline.
async fn call<B: Backend>(
    State(backend): State<Arc<B>>,
    id: Result<Path<String>, PathRejection>,
) -> Result<Json<CallRecord>, ApiError> {
    let Path(id) = id.map_err(|e| ApiError::bad_parameter("id", e.body_text()))?;
    if id.len() > MAX_ID_LEN {
        return Err(ApiError::bad_parameter(
            "id",
            format!("longer than {MAX_ID_LEN} bytes; a call id is server:linkedid"),
        ));
    }
    match backend.call(id.clone()).await? {
        Some(record) => Ok(Json(record)),
        None => Err(ApiError::not_found(format!(
            "no call with id '{id}' (ids are server:linkedid, e.g. pbx1:1700000000.12; \
             calls in progress are under /api/calls)"
        ))),
    }
}

/// Unknown paths: 404 in JSON, pointing at the list of routes.
pub(crate) async fn no_route(method: Method, uri: Uri) -> ApiError {
    ApiError::not_found(format!(
        "no route for {method} {}; the routes are listed in /api/openapi.json",
        uri.path()
    ))
}

/// A known path with a method it does not take: 405 in JSON.
pub(crate) async fn wrong_method(method: Method, uri: Uri) -> ApiError {
    ApiError {
        status: StatusCode::METHOD_NOT_ALLOWED,
        message: format!(
            "{} does not take {method}: this API is read-only, use GET",
            uri.path()
        ),
    }
}
