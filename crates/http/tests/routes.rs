//! The HTTP layer over real HTTP on 127.0.0.1, against an in-memory backend holding real
//! call records: parameters, errors, paging, JSON shapes, bounds and the loopback rule.

use http::{
    Backend, BackendError, ConnectionState, HistoryPage, HistoryQuery, Lag, Options, Readiness,
    ServeError, ServerStatus,
};
use serde_json::{json, Value};
use std::collections::HashSet;
use std::sync::{Arc, Mutex};
use std::time::Duration;
use tokio::net::TcpListener;
use tokio::sync::oneshot;
use tracker::{
    CallRecord, Direction, Disposition, EndReason, Leg, LegRole, Party, QueueInfo, TimelineEntry,
    Timestamp,
};

/// Completed calls kept newest first; pages by keyset (`started_at`, `id`), as a database
/// would, with the cursor `<micros>/<id>`.
struct Memory {
    calls: Vec<CallRecord>,
    readiness: Mutex<Readiness>,
    /// How long `history` takes (for the request deadline).
    history_delay: Duration,
}

impl Memory {
    fn new(mut calls: Vec<CallRecord>) -> Memory {
        calls.sort_by_key(|r| std::cmp::Reverse(key(r)));
        Memory {
            calls,
            readiness: Mutex::new(Readiness {
                ready: true,
                reasons: vec![],
            }),
            history_delay: Duration::ZERO,
        }
    }
}

fn key(r: &CallRecord) -> (i64, String) {
    (r.started_at.map_or(i64::MIN, |t| t.0), r.id.clone())
}

fn parse_cursor(cursor: &str) -> Option<(i64, String)> {
    let (micros, id) = cursor.split_once('/')?;
    Some((micros.parse().ok()?, id.to_string()))
}

impl Backend for Memory {
    type ActiveCall = Value;
    type Extension = Value;
    type Queue = Value;

    async fn servers(&self) -> Vec<ServerStatus> {
        vec![ServerStatus {
            name: "pbx1".into(),
            state: ConnectionState::Connected,
            since: Timestamp::parse_rfc3339("2026-11-24T13:00:00Z"),
            asterisk_version: Some("22.10.1".into()),
            last_event_age_seconds: Some(0.5),
            events_per_second: 12.0,
            reconnects: 1,
            ping_rtt_seconds: Some(0.0012),
            lag: Lag {
                queue_depth: 3,
                oldest_seconds: Some(0.01),
            },
            database_backlog: 2,
            last_error: None,
        }]
    }

    async fn active_calls(&self) -> Vec<Value> {
        vec![json!({"id": "pbx1:1.1", "legs": [{"channel": "PJSIP/2001-00000001"}]})]
    }

    async fn extensions(&self) -> Vec<Value> {
        vec![json!({"extension": "2001", "state": "inuse", "calls": ["pbx1:1.1"]})]
    }

    async fn queues(&self) -> Vec<Value> {
        vec![json!({"name": "support", "waiting": [], "members": []})]
    }

    async fn history(&self, query: HistoryQuery) -> Result<HistoryPage, BackendError> {
        tokio::time::sleep(self.history_delay).await;
        let after = match &query.cursor {
            None => None,
            Some(c) => Some(parse_cursor(c).ok_or_else(|| {
                BackendError::BadParameter(history::ParamError::new(
                    "cursor",
                    format!("'{c}' is not a cursor this server issued"),
                ))
            })?),
        };
        let mut matching = self
            .calls
            .iter()
            .filter(|r| after.as_ref().is_none_or(|a| key(r) < *a))
            .filter(|r| query.matches(r));
        let calls: Vec<CallRecord> = matching
            .by_ref()
            .take(query.limit as usize)
            .cloned()
            .collect();
        let next_cursor = match (matching.next(), calls.last()) {
            (Some(_), Some(last)) => {
                let (micros, id) = key(last);
                Some(format!("{micros}/{id}"))
            }
            _ => None,
        };
        Ok(HistoryPage { calls, next_cursor })
    }

    async fn call(&self, id: String) -> Result<Option<CallRecord>, BackendError> {
        Ok(self.calls.iter().find(|r| r.id == id).cloned())
    }

    async fn readiness(&self) -> Readiness {
        self.readiness.lock().unwrap().clone()
    }
}

/// A varied history: every disposition and direction, two servers, one queue call, a
/// timeline, and calls sharing a start time (the cursor must still not skip or repeat).
fn records() -> Vec<CallRecord> {
    let dispositions = [
        Disposition::Answered,
        Disposition::NoAnswer,
        Disposition::Busy,
        Disposition::Failed,
        Disposition::Abandoned,
    ];
    let directions = [Direction::Internal, Direction::Inbound, Direction::Outbound];
    let base = Timestamp::parse_rfc3339("2026-11-24T13:00:00Z").unwrap().0;
    (0..23)
        .map(|i| {
            let server = if i % 4 == 0 { "pbx2" } else { "pbx1" };
            let linkedid = format!("1795526382.{i}");
            // Pairs of calls start in the same second.
            let started = Timestamp(base + (i / 2) as i64 * 60_000_000);
            let caller = format!("{}", 2001 + i % 3);
            let disposition = dispositions[i % dispositions.len()];
            let answered = disposition == Disposition::Answered;
            CallRecord {
                id: format!("{server}:{linkedid}"),
                server: server.into(),
                linkedid: linkedid.clone(),
                direction: directions[i % directions.len()],
                from: Party {
                    number: Some(caller.clone()),
                    name: None,
                    extension: Some(caller.clone()),
                },
                to: Party {
                    number: Some(if i % 3 == 1 {
                        "5550100".into()
                    } else {
                        "2004".into()
                    }),
                    name: None,
                    extension: None,
                },
                answered_by: answered.then(|| "2004".to_string()),
                disposition,
                hangup_cause: Some(16),
                hangup_cause_text: Some("Normal Clearing".into()),
                started_at: Some(started),
                answered_at: answered.then_some(Timestamp(started.0 + 2_000_000)),
                ended_at: Some(Timestamp(started.0 + 30_000_000)),
                ring_seconds: Some(2.0),
                talk_seconds: answered.then_some(28.0),
                queue: (i % 5 == 4).then(|| QueueInfo {
                    name: "support".into(),
                    wait_seconds: Some(4.2),
                }),
                transfers: vec![],
                holds: vec![],
                voicemail: false,
                end: EndReason::Hangup,
                legs: vec![Leg {
                    channel: format!("PJSIP/{caller}-0000000{i}"),
                    uniqueid: linkedid,
                    endpoint: Some(caller),
                    number: None,
                    role: LegRole::Caller,
                    started_at: Some(started),
                    answered_at: None,
                    ended_at: None,
                    hangup_cause: Some(16),
                }],
                timeline: vec![TimelineEntry {
                    at: Some(started),
                    kind: "ringing".into(),
                    text: "2001 calls 2004".into(),
                }],
            }
        })
        .collect()
}

/// A served API on 127.0.0.1:<free port>; dropping it shuts the server down.
struct Server {
    base: String,
    stop: Option<oneshot::Sender<()>>,
    task: Option<tokio::task::JoinHandle<Result<(), ServeError>>>,
}

impl Server {
    async fn start(backend: Memory, options: Options) -> Server {
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let base = format!("http://{}", listener.local_addr().unwrap());
        let (stop, stopped) = oneshot::channel::<()>();
        let task = tokio::spawn(http::serve_on(
            listener,
            Arc::new(backend),
            options,
            async move {
                let _ = stopped.await;
            },
        ));
        Server {
            base,
            stop: Some(stop),
            task: Some(task),
        }
    }

    async fn get(&self, path: &str) -> (u16, Value) {
        let response = reqwest::get(format!("{}{path}", self.base)).await.unwrap();
        let status = response.status().as_u16();
        let text = response.text().await.unwrap();
        let body = serde_json::from_str(&text)
            .unwrap_or_else(|e| panic!("{path}: body is not JSON ({e}): {text}"));
        (status, body)
    }

    /// `GET path` that must fail with `status`; returns the error message.
    async fn error(&self, path: &str, status: u16) -> String {
        let (got, body) = self.get(path).await;
        assert_eq!(got, status, "{path}: {body}");
        body["error"]
            .as_str()
            .unwrap_or_else(|| panic!("{path}: no error message: {body}"))
            .to_string()
    }

    async fn stop(mut self) -> Result<(), ServeError> {
        let _ = self.stop.take().unwrap().send(());
        self.task.take().unwrap().await.unwrap()
    }
}

async fn serve(backend: Memory) -> Server {
    Server::start(backend, Options::default()).await
}

fn ids(body: &Value) -> Vec<String> {
    body["calls"]
        .as_array()
        .unwrap()
        .iter()
        .map(|c| c["id"].as_str().unwrap().to_string())
        .collect()
}

#[tokio::test]
async fn health_ready_and_probes() {
    let server = serve(Memory::new(records())).await;
    assert_eq!(
        server.get("/health").await,
        (200, json!({"status": "alive"}))
    );
    assert_eq!(
        server.get("/ready").await,
        (200, json!({"ready": true, "reasons": []}))
    );
    server.stop().await.unwrap();

    let backend = Memory::new(vec![]);
    *backend.readiness.lock().unwrap() = Readiness {
        ready: false,
        reasons: vec!["PBX pbx1 is reconnecting".into()],
    };
    let server = serve(backend).await;
    let (status, body) = server.get("/ready").await;
    assert_eq!(status, 503);
    assert_eq!(body["reasons"], json!(["PBX pbx1 is reconnecting"]));
    // Liveness does not depend on readiness.
    assert_eq!(server.get("/health").await.0, 200);
    server.stop().await.unwrap();
}

#[tokio::test]
async fn live_state_shapes() {
    let server = serve(Memory::new(records())).await;
    let (status, body) = server.get("/api/servers").await;
    assert_eq!(status, 200);
    let pbx = &body["servers"][0];
    assert_eq!(pbx["name"], "pbx1");
    assert_eq!(pbx["state"], "connected");
    assert_eq!(pbx["since"], "2026-11-24T13:00:00.000000Z");
    assert_eq!(pbx["asterisk_version"], "22.10.1");
    assert_eq!(
        pbx["lag"],
        json!({"queue_depth": 3, "oldest_seconds": 0.01})
    );
    assert_eq!(pbx["ping_rtt_seconds"], 0.0012);
    assert_eq!(pbx["database_backlog"], 2);
    let (_, calls) = server.get("/api/calls").await;
    assert_eq!(
        calls["calls"][0]["legs"][0]["channel"],
        "PJSIP/2001-00000001"
    );
    let (_, ext) = server.get("/api/extensions").await;
    assert_eq!(ext["extensions"][0]["state"], "inuse");
    let (_, queues) = server.get("/api/queues").await;
    assert_eq!(queues["queues"][0]["name"], "support");
    server.stop().await.unwrap();
}

#[tokio::test]
async fn history_pages_newest_first_without_gaps_or_repeats() {
    let all = records();
    let server = serve(Memory::new(all.clone())).await;
    let (status, first) = server.get("/api/calls/history").await;
    assert_eq!(status, 200);
    assert_eq!(first["calls"].as_array().unwrap().len(), all.len());
    assert_eq!(first["next_cursor"], Value::Null);
    let expected = ids(&first);

    // Newest first, by start time.
    let starts: Vec<&str> = first["calls"]
        .as_array()
        .unwrap()
        .iter()
        .map(|c| c["started_at"].as_str().unwrap())
        .collect();
    let mut sorted = starts.clone();
    sorted.sort_by(|a, b| b.cmp(a));
    assert_eq!(starts, sorted);

    // The same list, three at a time, following next_cursor.
    let mut paged = Vec::new();
    let mut path = "/api/calls/history?limit=3".to_string();
    loop {
        let (status, page) = server.get(&path).await;
        assert_eq!(status, 200, "{page}");
        let got = ids(&page);
        assert!(got.len() <= 3);
        paged.extend(got);
        match page["next_cursor"].as_str() {
            Some(cursor) => {
                let cursor: String = form_encode(cursor);
                path = format!("/api/calls/history?limit=3&cursor={cursor}");
            }
            None => break,
        }
    }
    assert_eq!(paged, expected);
    assert_eq!(paged.iter().collect::<HashSet<_>>().len(), all.len());
    server.stop().await.unwrap();
}

fn form_encode(value: &str) -> String {
    form_urlencoded::byte_serialize(value.as_bytes()).collect()
}

#[tokio::test]
async fn history_filters() {
    let all = records();
    let server = serve(Memory::new(all.clone())).await;
    let check = |query: &'static str, keep: &dyn Fn(&CallRecord) -> bool| {
        let want: HashSet<String> = all
            .iter()
            .filter(|r| keep(r))
            .map(|r| r.id.clone())
            .collect();
        assert!(
            !want.is_empty() && want.len() < all.len(),
            "{query} must split the set"
        );
        (query, want)
    };
    let cases = [
        check("disposition=busy", &|r| r.disposition == Disposition::Busy),
        check("direction=inbound", &|r| r.direction == Direction::Inbound),
        check("server=pbx2", &|r| r.server == "pbx2"),
        check("number=55501", &|r| {
            r.to.number.as_deref() == Some("5550100")
        }),
        check("extension=2002", &|r| {
            r.from.extension.as_deref() == Some("2002")
        }),
        check("since=2026-11-24T13:05:00Z", &|r| {
            r.started_at.unwrap() >= Timestamp::parse_rfc3339("2026-11-24T13:05:00Z").unwrap()
        }),
        check("until=2026-11-24T13:05:00Z", &|r| {
            r.started_at.unwrap() < Timestamp::parse_rfc3339("2026-11-24T13:05:00Z").unwrap()
        }),
        check("server=pbx1&disposition=answered", &|r| {
            r.server == "pbx1" && r.disposition == Disposition::Answered
        }),
    ];
    for (query, want) in cases {
        let (status, body) = server.get(&format!("/api/calls/history?{query}")).await;
        assert_eq!(status, 200, "{query}: {body}");
        let got: HashSet<String> = ids(&body).into_iter().collect();
        assert_eq!(got, want, "{query}");
    }
    server.stop().await.unwrap();
}

#[tokio::test]
async fn history_rejects_bad_parameters_by_name() {
    let server = serve(Memory::new(records())).await;
    for (query, parameter) in [
        ("limit=0", "limit"),
        ("limit=ten", "limit"),
        ("limit=5000", "limit"),
        ("since=yesterday", "since"),
        ("until=2026-13-01T00:00:00Z", "until"),
        ("disposition=lost", "disposition"),
        ("direction=sideways", "direction"),
        ("dispostion=busy", "dispostion"),
        ("server=a&server=b", "server"),
        ("cursor=not-ours", "cursor"),
        ("number=", "number"),
    ] {
        let message = server
            .error(&format!("/api/calls/history?{query}"), 400)
            .await;
        assert!(
            message.starts_with(&format!("{parameter}: ")),
            "{query}: {message}"
        );
    }
    server.stop().await.unwrap();
}

#[tokio::test]
async fn one_call_with_its_timeline() {
    let all = records();
    let server = serve(Memory::new(all.clone())).await;
    let record = &all[7];
    for path in [
        format!("/api/calls/{}", record.id),
        format!("/api/calls/{}", record.id.replace(':', "%3A")),
    ] {
        let (status, body) = server.get(&path).await;
        assert_eq!(status, 200, "{path}");
        let back: CallRecord = serde_json::from_value(body.clone()).unwrap();
        assert_eq!(&back, record);
        assert_eq!(body["timeline"][0]["kind"], "ringing");
    }
    let message = server.error("/api/calls/pbx1:999.9", 404).await;
    assert!(message.contains("'pbx1:999.9'"), "{message}");
    let long = "x".repeat(300);
    let message = server.error(&format!("/api/calls/{long}"), 400).await;
    assert!(message.starts_with("id: "), "{message}");
    let message = server.error("/api/calls/%FF%FE", 400).await;
    assert!(message.starts_with("id: "), "{message}");
    server.stop().await.unwrap();
}

#[tokio::test]
async fn unknown_routes_and_methods_answer_json() {
    let server = serve(Memory::new(vec![])).await;
    let message = server.error("/api/nope", 404).await;
    assert!(message.contains("/api/openapi.json"), "{message}");
    server.error("/", 404).await;
    let response = reqwest::Client::new()
        .delete(format!("{}/api/calls/pbx1:1.1", server.base))
        .send()
        .await
        .unwrap();
    assert_eq!(response.status().as_u16(), 405);
    let body: Value = response.json().await.unwrap();
    assert!(body["error"].as_str().unwrap().contains("read-only"));
    server.stop().await.unwrap();
}

/// A real path for a route template: `{id}` becomes a call the backend holds.
fn concrete(template: &str) -> String {
    template.replace("{id}", "pbx1:1795526382.3")
}

#[tokio::test]
async fn no_route_is_served_undocumented_or_documented_but_not_served() {
    let server = serve(Memory::new(records())).await;
    let (status, doc) = server.get("/api/openapi.json").await;
    assert_eq!(status, 200);
    let built = http::openapi_document().as_ref().unwrap();
    assert_eq!(doc, serde_json::from_str::<Value>(built).unwrap());

    // Every row of the table is documented under its path and method, with its access.
    for route in http::ROUTES {
        let operation = &doc["paths"][route.path][route.method.openapi_key()];
        assert_eq!(
            operation["operationId"], route.operation_id,
            "{route:?} is not documented: {operation}"
        );
        let security = match route.access {
            http::Access::Open => json!([]),
            http::Access::Token => json!([{"bearer": []}]),
        };
        assert_eq!(operation["security"], security, "{route:?}");
    }

    // Every documented operation is a row of the table, and a real request with its method
    // reaches a handler (not the 404 / 405 fallbacks).
    let client = reqwest::Client::new();
    let mut documented = 0;
    for (path, item) in doc["paths"].as_object().unwrap() {
        for (key, operation) in item.as_object().unwrap() {
            documented += 1;
            let route = http::ROUTES
                .iter()
                .find(|r| r.path == path && r.method.openapi_key() == key)
                .unwrap_or_else(|| panic!("{key} {path} is documented but not in ROUTES"));
            assert!(operation["responses"]["200"].is_object(), "{key} {path}");
            let response = client
                .request(
                    route.method.method(),
                    format!("{}{}", server.base, concrete(path)),
                )
                .send()
                .await
                .unwrap();
            assert!(
                response.status().is_success(),
                "{key} {path}: {}",
                response.status()
            );
        }
    }
    assert_eq!(documented, http::ROUTES.len());

    // A path no row names is not served, however close to one it is.
    for path in [
        "/api/call",
        "/api/calls/a/b",
        "/healthz",
        "/api/openapi.json/x",
        "/api",
    ] {
        server.error(path, 404).await;
    }

    // Every history parameter is documented.
    let documented: Vec<&str> = doc["paths"]["/api/calls/history"]["get"]["parameters"]
        .as_array()
        .unwrap()
        .iter()
        .map(|p| p["name"].as_str().unwrap())
        .collect();
    assert_eq!(documented, http::HISTORY_PARAMETERS);
    server.stop().await.unwrap();
}

#[tokio::test]
async fn no_token_route_answers_without_a_token_and_no_open_route_asks_for_one() {
    let options = Options {
        tokens: vec!["0123456789abcdef".into()],
        ..Options::default()
    };
    let server = Server::start(Memory::new(records()), options).await;
    let client = reqwest::Client::new();
    for route in http::ROUTES {
        let url = format!("{}{}", server.base, concrete(route.path));
        let bare = client
            .request(route.method.method(), &url)
            .send()
            .await
            .unwrap();
        let with_token = client
            .request(route.method.method(), &url)
            .bearer_auth("0123456789abcdef")
            .send()
            .await
            .unwrap();
        assert!(
            with_token.status().is_success(),
            "{route:?}: {}",
            with_token.status()
        );
        match route.access {
            http::Access::Open => assert!(bare.status().is_success(), "{route:?}"),
            http::Access::Token => assert_eq!(bare.status().as_u16(), 401, "{route:?}"),
        }
    }
    server.stop().await.unwrap();
}

#[tokio::test]
async fn metrics_are_prometheus_text() {
    http::metrics::install().unwrap();
    // A second install is harmless: the binary and tests may both call it.
    http::metrics::install().unwrap();
    metrics::counter!(http::metrics::names::RECONNECTS, "server" => "pbx1").increment(2);
    let server = serve(Memory::new(records())).await;
    server.get("/api/servers").await;
    let response = reqwest::get(format!("{}/metrics", server.base))
        .await
        .unwrap();
    assert_eq!(response.status().as_u16(), 200);
    assert!(response.headers()["content-type"]
        .to_str()
        .unwrap()
        .starts_with("text/plain; version=0.0.4"));
    let text = response.text().await.unwrap();
    assert!(
        text.contains("switchboard_reconnects_total{server=\"pbx1\"} 2"),
        "{text}"
    );
    assert!(
        text.contains("# HELP switchboard_reconnects_total"),
        "{text}"
    );
    // Other tests of this binary may have counted requests too: at least ours is there.
    let served = text
        .lines()
        .find_map(|l| {
            l.strip_prefix(r#"switchboard_http_requests_total{route="/api/servers",status="200"} "#)
        })
        .unwrap_or_else(|| panic!("no request counter for /api/servers: {text}"));
    assert!(served.parse::<u64>().unwrap() >= 1, "{served}");
    server.stop().await.unwrap();
}

#[tokio::test]
async fn refuses_non_loopback_without_tokens() {
    let options = Options {
        listen: "0.0.0.0:0".parse().unwrap(),
        ..Options::default()
    };
    let err = http::serve(Arc::new(Memory::new(vec![])), options, async {})
        .await
        .unwrap_err();
    assert!(matches!(err, ServeError::NotLoopback(_)), "{err}");
    assert!(err.to_string().contains("configure tokens first"), "{err}");
}

#[tokio::test]
async fn tokens_guard_the_api_but_not_the_probes() {
    let options = Options {
        tokens: vec!["s3cret".into()],
        ..Options::default()
    };
    let server = Server::start(Memory::new(records()), options).await;
    let message = server.error("/api/servers", 401).await;
    assert!(message.contains("Bearer"), "{message}");
    assert_eq!(server.get("/health").await.0, 200);
    assert_eq!(server.get("/ready").await.0, 200);
    let client = reqwest::Client::new();
    let get = |token: &'static str| {
        client
            .get(format!("{}/api/servers", server.base))
            .bearer_auth(token)
            .send()
    };
    assert_eq!(get("s3cret").await.unwrap().status().as_u16(), 200);
    assert_eq!(get("s3cre7").await.unwrap().status().as_u16(), 401);
    // The scheme is case-insensitive (RFC 9110); curl users write it every way.
    let raw = |value: &'static str| {
        client
            .get(format!("{}/api/servers", server.base))
            .header("Authorization", value)
            .send()
    };
    assert_eq!(raw("bearer s3cret").await.unwrap().status().as_u16(), 200);
    assert_eq!(raw("BEARER s3cret").await.unwrap().status().as_u16(), 200);
    assert_eq!(raw("Basic s3cret").await.unwrap().status().as_u16(), 401);
    server.stop().await.unwrap();
}

#[tokio::test]
async fn bounded_requests() {
    let mut backend = Memory::new(records());
    backend.history_delay = Duration::from_secs(5);
    let options = Options {
        request_timeout: Duration::from_millis(200),
        body_limit: 64,
        ..Options::default()
    };
    let server = Server::start(backend, options).await;
    let message = server.error("/api/calls/history", 503).await;
    assert!(message.contains("too long"), "{message}");
    let response = reqwest::Client::new()
        .get(format!("{}/api/servers", server.base))
        .body(vec![b'x'; 1000])
        .send()
        .await
        .unwrap();
    assert_eq!(response.status().as_u16(), 413);
    let body: Value = response.json().await.unwrap();
    assert!(body["error"].as_str().unwrap().contains("too large"));
    server.stop().await.unwrap();
}

#[tokio::test]
async fn idle_connections_are_closed() {
    use tokio::io::AsyncReadExt;
    let options = Options {
        idle_timeout: Duration::from_millis(200),
        ..Options::default()
    };
    let server = Server::start(Memory::new(vec![]), options).await;
    let addr = server.base.trim_start_matches("http://").to_string();
    let mut idle = tokio::net::TcpStream::connect(&addr).await.unwrap();
    // A client that never sends a request: the server hangs up (EOF or reset) by itself.
    let mut buf = [0u8; 64];
    let closed = tokio::time::timeout(Duration::from_secs(10), idle.read(&mut buf))
        .await
        .expect("the server kept an idle connection open");
    assert!(matches!(closed, Ok(0) | Err(_)), "{closed:?}");
    server.stop().await.unwrap();
}

/// Sends `request` as is on a fresh connection and reads the whole answer (the server
/// closes after it: each request here says `Connection: close` or is one hyper refuses).
async fn raw_exchange(addr: &str, request: &[u8]) -> String {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    let mut stream = tokio::net::TcpStream::connect(addr).await.unwrap();
    stream.write_all(request).await.unwrap();
    let mut answer = Vec::new();
    tokio::time::timeout(Duration::from_secs(5), stream.read_to_end(&mut answer))
        .await
        .expect("the server neither answered nor closed")
        .unwrap();
    String::from_utf8_lossy(&answer).into_owned()
}

impl Server {
    fn addr(&self) -> String {
        self.base.trim_start_matches("http://").to_string()
    }
}

#[tokio::test]
async fn a_client_dribbling_headers_cannot_hold_a_connection_past_the_header_deadline() {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    let options = Options {
        header_read_timeout: Duration::from_millis(500),
        // Far longer than the test: only the header deadline can close the connection.
        idle_timeout: Duration::from_secs(60),
        ..Options::default()
    };
    let server = Server::start(Memory::new(vec![]), options).await;
    let stream = tokio::net::TcpStream::connect(server.addr()).await.unwrap();
    let (mut read, mut write) = stream.into_split();
    // One byte every 100 ms: never idle for long, but the head would take 30 s to arrive.
    let dribble = tokio::spawn(async move {
        let head = format!(
            "GET /health HTTP/1.1\r\nX-Slow: {}\r\n\r\n",
            "a".repeat(300)
        );
        for byte in head.bytes() {
            if write.write_all(&[byte]).await.is_err() {
                return;
            }
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
    });
    let mut answer = Vec::new();
    let closed = tokio::time::timeout(Duration::from_secs(5), read.read_to_end(&mut answer))
        .await
        .expect("the server kept a dribbling client past its header deadline");
    // Reset or EOF; either way without an answer (hyper sends none on this deadline).
    assert!(matches!(closed, Ok(0) | Err(_)), "{closed:?}");
    assert!(answer.is_empty(), "{}", String::from_utf8_lossy(&answer));
    dribble.abort();

    // A client that sends its head at once is served as before, twice on one connection.
    assert_eq!(server.get("/health").await.0, 200);
    let answer = raw_exchange(
        &server.addr(),
        b"GET /health HTTP/1.1\r\nHost: x\r\n\r\nGET /ready HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n",
    )
    .await;
    assert_eq!(answer.matches("HTTP/1.1 200 OK").count(), 2, "{answer}");
    assert!(answer.contains(r#"{"status":"alive"}"#), "{answer}");
    server.stop().await.unwrap();
}
