//! Helpers of the service tests: a simulated PBX with its ground truth, a service on it,
//! waiting for conditions with a deadline, reading back the stored history.
#![allow(dead_code)] // each test file uses its own part

pub mod truth;

use service::config::{
    Config, DatabaseConfig, DatabaseUrl, HttpConfig, LogConfig, Secret, ServerConfig,
};
use service::Service;
use std::net::SocketAddr;
use std::path::Path;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

/// A generating simulator and the truth it writes.
pub struct Pbx {
    pub sim: sim::SimHandle,
    truth: Arc<Mutex<Vec<u8>>>,
}

impl Pbx {
    /// `calls` synthetic calls at `speed` times real time.
    pub async fn generate(calls: u64, seed: u64, speed: f64) -> Pbx {
        let truth = Arc::new(Mutex::new(Vec::<u8>::new()));
        let g = sim::GenConfig {
            extensions: (2001, 2020),
            calls_per_second: 2.0,
            concurrency: 6,
            calls: Some(calls),
            seed,
            speed: sim::Speed::Factor(speed),
            truth: Some(sim::TruthSink::Writer(truth.clone())),
            ..sim::GenConfig::default()
        };
        let sim = sim::Server::start(
            sim::SimConfig::new(sim::Mode::Generate(g))
                .listen(SocketAddr::from(([127, 0, 0, 1], 0))),
        )
        .await
        .expect("the simulator starts");
        Pbx { sim, truth }
    }

    /// A PBX with no traffic of its own.
    pub async fn quiet() -> Pbx {
        let sim = sim::Server::start(sim::SimConfig::quiet_for_tests())
            .await
            .expect("the simulator starts");
        Pbx {
            sim,
            truth: Arc::default(),
        }
    }

    /// The ground-truth calls written so far.
    pub fn truth(&self) -> Vec<serde_json::Value> {
        let bytes = self.truth.lock().unwrap().clone();
        truth::json_lines(&String::from_utf8_lossy(&bytes))
    }

    /// A `[[servers]]` entry for it.
    pub fn server(&self, name: &str) -> ServerConfig {
        let addr = self.sim.addr();
        let mut s = ServerConfig::new(
            name,
            addr.ip().to_string(),
            addr.port(),
            "admin",
            Secret::new("amp111"),
        );
        // Come back quickly after a restart of the simulated PBX.
        s.backoff.initial = Duration::from_millis(100);
        s.backoff.max = Duration::from_millis(500);
        s
    }
}

/// A configuration with these servers and the database at `url`, journal in `dir`.
pub fn config(servers: Vec<ServerConfig>, url: &str, dir: &Path) -> Config {
    Config {
        servers,
        http: HttpConfig::default(),
        database: DatabaseConfig {
            url: DatabaseUrl::new(url),
            flush_interval: Duration::from_millis(100),
            journal_dir: dir.join("journal"),
            ..DatabaseConfig::default()
        },
        log: LogConfig::default(),
    }
}

/// Polls `cond` every 20 ms until it holds; panics with `what` after `limit`.
pub async fn wait_until(what: &str, limit: Duration, mut cond: impl FnMut() -> bool) {
    let start = Instant::now();
    while !cond() {
        assert!(
            start.elapsed() < limit,
            "timed out after {limit:?} waiting for {what}"
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

/// Every stored call record, as JSON, through the store's paged history query.
pub async fn stored(service: &Service) -> Vec<serde_json::Value> {
    let mut out = Vec::new();
    let mut query = store::HistoryQuery {
        limit: store::MAX_LIMIT,
        ..Default::default()
    };
    loop {
        let page = service
            .store()
            .history(&query)
            .await
            .expect("history query");
        out.extend(page.calls.iter().map(|c| serde_json::to_value(c).unwrap()));
        match page.next_cursor {
            Some(c) => query.cursor = Some(c),
            None => return out,
        }
    }
}

/// Open calls of the pipeline `name`.
pub fn open_calls(service: &Service, name: &str) -> usize {
    service
        .supervisor()
        .get(name)
        .map_or(0, |p| p.tracker().open_calls())
}

/// The PostgreSQL URL of the test server, or `None` (and a line saying the test is skipped);
/// in CI a missing server fails the test (see the `testenv` crate).
pub fn postgres(test: &str) -> Option<String> {
    testenv::postgres(test)
}

/// A database of its own on the test server, named after the test and the process: the
/// URL to it. Dropped with the test server's other leftovers by whoever cleans it.
pub async fn fresh_postgres(url: &str, tag: &str) -> String {
    use sqlx::Connection;
    let name = format!("sb_{tag}_{}_{}", std::process::id(), unique());
    let mut admin = sqlx::PgConnection::connect(url)
        .await
        .expect("connect to SWITCHBOARD_TEST_POSTGRES");
    sqlx::query(&format!("CREATE DATABASE {name}"))
        .execute(&mut admin)
        .await
        .expect("create a test database");
    let _ = admin.close().await;
    match url.rsplit_once('/') {
        Some((base, _)) => format!("{base}/{name}"),
        None => format!("{url}/{name}"),
    }
}

fn unique() -> u64 {
    use std::sync::atomic::{AtomicU64, Ordering};
    static N: AtomicU64 = AtomicU64::new(0);
    let nanos = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.subsec_nanos() as u64);
    nanos * 100 + N.fetch_add(1, Ordering::Relaxed)
}

/// A TCP proxy that a test can cut: while cut, live connections are closed and new ones
/// are accepted and closed at once, as a database outage looks to a client.
pub struct Proxy {
    pub addr: SocketAddr,
    cut: tokio::sync::watch::Sender<bool>,
}

impl Proxy {
    pub async fn start(target: SocketAddr) -> Proxy {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        let (cut, cut_rx) = tokio::sync::watch::channel(false);
        tokio::spawn(async move {
            while let Ok((mut inbound, _)) = listener.accept().await {
                if *cut_rx.borrow() {
                    drop(inbound);
                    continue;
                }
                let mut cut_rx = cut_rx.clone();
                tokio::spawn(async move {
                    let Ok(mut outbound) = tokio::net::TcpStream::connect(target).await else {
                        return;
                    };
                    tokio::select! {
                        _ = tokio::io::copy_bidirectional(&mut inbound, &mut outbound) => {}
                        _ = cut_rx.wait_for(|c| *c) => {}
                    }
                });
            }
        });
        Proxy { addr, cut }
    }

    /// A proxy in front of the PostgreSQL server of `url`, and the URL that goes through it.
    pub async fn before_postgres(url: &str) -> (Proxy, String) {
        let (scheme_user, rest) = url.split_once('@').expect("postgres://user@host:port/db");
        let (hostport, db) = rest.split_once('/').expect("a database name");
        let target = tokio::net::lookup_host(hostport)
            .await
            .unwrap()
            .next()
            .unwrap();
        let proxy = Proxy::start(target).await;
        let proxied = format!("{scheme_user}@{}/{db}", proxy.addr);
        (proxy, proxied)
    }

    pub fn cut(&self, on: bool) {
        let _ = self.cut.send(on);
    }
}

/// A loopback port that was free a moment ago (for a server the test starts next).
pub fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}
