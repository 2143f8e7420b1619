//! The routes: one handler per path, each a thin translation between HTTP and [`Backend`].

use crate::backend::{Backend, HistoryPage};
use crate::error::ApiError;
use crate::query::parse_history;
use crate::status::Readiness;
use axum::extract::rejection::PathRejection;
use axum::extract::{Path, RawQuery, State};
use axum::http::{header, Method, StatusCode, Uri};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use axum::{Json, Router};
use serde::Serialize;
use std::sync::Arc;
use tracker::CallRecord;

/// The OpenAPI 3.1 description of these routes, served at `/api/openapi.json`. Written by
/// hand; a test requests every path it lists and checks the router answers it.
pub const OPENAPI: &str = include_str!("openapi.json");

/// Longest call id accepted (`server:linkedid` is a few dozen bytes).
const MAX_ID_LEN: usize = 256;

/// The routes with their handlers, before the layers of [`crate::router`].
pub(crate) fn routes<B: Backend>() -> (Router<Arc<B>>, Router<Arc<B>>) {
    // Probes stay open to scrapers and orchestrators whatever the API's authentication.
    let probes = Router::new()
        .route("/health", get(health))
        .route("/ready", get(ready::<B>))
        .route("/metrics", get(metrics::<B>));
    let api = Router::new()
        .route("/api/openapi.json", get(openapi))
        .route("/api/servers", get(servers::<B>))
        .route("/api/calls", get(active_calls::<B>))
        .route("/api/calls/history", get(history::<B>))
        .route("/api/calls/{id}", get(call::<B>))
        .route("/api/extensions", get(extensions::<B>))
        .route("/api/queues", get(queues::<B>));
    (probes, api)
}

/// `/health`: the process is alive and serving HTTP. Says nothing about PBXes or the
/// database (that is `/ready`), so an orchestrator never restarts a healthy process because
/// a PBX is down.
async fn health() -> Json<serde_json::Value> {
    Json(serde_json::json!({ "status": "alive" }))
}

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

async fn openapi() -> impl IntoResponse {
    ([(header::CONTENT_TYPE, "application/json")], OPENAPI)
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
