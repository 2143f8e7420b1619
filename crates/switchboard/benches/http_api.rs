//! How fast `switchboard run` answers its HTTP API over a large call history: requests per
//! second and latency (p50, p99) for the history with its filters, paging deep with a
//! cursor, and one call by id — each beside `/health` measured in the same run, which
//! costs the HTTP stack only (no database), so the ratio says what the history query adds.
//!
//! The history: the 338 calls of the real `load_mix` recording (from `switchboard replay
//! --json`), copied with new ids and times to `BENCH_CALLS` calls (100,000 by default), in a
//! SQLite file the real binary serves. `BENCH_SECONDS` per endpoint (3), `BENCH_CLIENTS`
//! concurrent keep-alive clients (16).
//!
//! Run with `cargo bench -p switchboard --bench http_api` (a release build).

use std::path::Path;
use std::process::Stdio;
use std::sync::Arc;
use std::time::{Duration, Instant};
use tracker::{CallRecord, Timestamp};

fn env_or(name: &str, default: u64) -> u64 {
    std::env::var(name)
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(default)
}

fn fixture(name: &str) -> std::path::PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../../fixtures/asterisk/22.10.1")
        .join(name)
}

/// The real records of `load_mix`, as the tracker makes them.
fn real_records() -> Vec<CallRecord> {
    let out = std::process::Command::new(env!("CARGO_BIN_EXE_switchboard"))
        .args(["replay", "--json"])
        .arg(fixture("load_mix.ami"))
        .output()
        .expect("switchboard replay runs");
    assert!(out.status.success(), "{out:?}");
    String::from_utf8(out.stdout)
        .unwrap()
        .lines()
        .map(|l| serde_json::from_str(l).expect("a call record"))
        .collect()
}

/// `n` calls: the real ones again and again, each round an hour later, with new ids.
fn history(base: &[CallRecord], n: usize) -> Vec<CallRecord> {
    let shift = |t: &mut Option<Timestamp>, by: i64| {
        if let Some(t) = t {
            t.0 += by;
        }
    };
    (0..n)
        .map(|i| {
            let mut r = base[i % base.len()].clone();
            let round = (i / base.len()) as i64;
            r.linkedid = format!("{}.{round}", r.linkedid);
            r.id = format!("{}:{}", r.server, r.linkedid);
            let by = round * 3_600_000_000;
            shift(&mut r.started_at, by);
            shift(&mut r.answered_at, by);
            shift(&mut r.ended_at, by);
            r
        })
        .collect()
}

struct Figures {
    requests: u64,
    per_second: f64,
    p50: Duration,
    p99: Duration,
    bytes: u64,
}

/// `clients` keep-alive clients GET `path` as fast as answers come, for `secs` seconds.
async fn load(base: &str, path: &str, clients: u64, secs: u64) -> Figures {
    let url = Arc::new(format!("{base}{path}"));
    let until = Instant::now() + Duration::from_secs(secs);
    let start = Instant::now();
    let mut tasks = Vec::new();
    for _ in 0..clients {
        let url = url.clone();
        tasks.push(tokio::spawn(async move {
            let client = reqwest::Client::new();
            let (mut lat, mut bytes) = (Vec::new(), 0u64);
            while Instant::now() < until {
                let t = Instant::now();
                let r = client.get(url.as_str()).send().await.expect("GET");
                assert!(r.status().is_success(), "{url}: {}", r.status());
                bytes += r.bytes().await.expect("body").len() as u64;
                lat.push(t.elapsed());
            }
            (lat, bytes)
        }));
    }
    let (mut lat, mut bytes) = (Vec::new(), 0);
    for t in tasks {
        let (l, b) = t.await.unwrap();
        lat.extend(l);
        bytes += b;
    }
    let elapsed = start.elapsed();
    lat.sort();
    let pick = |q: f64| lat[((lat.len() as f64 * q) as usize).min(lat.len() - 1)];
    Figures {
        requests: lat.len() as u64,
        per_second: lat.len() as f64 / elapsed.as_secs_f64(),
        p50: pick(0.5),
        p99: pick(0.99),
        bytes,
    }
}

fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

#[tokio::main]
async fn main() {
    let calls = env_or("BENCH_CALLS", 100_000) as usize;
    let secs = env_or("BENCH_SECONDS", 3);
    let clients = env_or("BENCH_CLIENTS", 16);
    let dir = tempfile::tempdir().unwrap();
    let db = format!("sqlite://{}", dir.path().join("calls.db").display());

    let records = history(&real_records(), calls);
    let store = store::Store::connect(&db).await.unwrap();
    let t = Instant::now();
    for chunk in records.chunks(1000) {
        store.upsert_batch(chunk).await.unwrap();
    }
    println!(
        "history: {calls} calls stored in {:.1} s (SQLite, batches of 1,000)",
        t.elapsed().as_secs_f64()
    );
    store.close().await;

    let pbx = sim::Server::start(sim::SimConfig::quiet_for_tests())
        .await
        .unwrap();
    let http = free_port();
    std::fs::write(
        dir.path().join("switchboard.toml"),
        format!(
            "[[servers]]\nname = \"pbx1\"\nhost = \"127.0.0.1\"\nport = {}\nusername = \"admin\"\n\
             secret = \"amp111\"\n\n[http]\nlisten = \"127.0.0.1:{http}\"\n\n[database]\nurl = {db:?}\n\n\
             [log]\nlevel = \"warn\"\n",
            pbx.addr().port()
        ),
    )
    .unwrap();
    let mut child = tokio::process::Command::new(env!("CARGO_BIN_EXE_switchboard"))
        .args(["run", "--config", "switchboard.toml"])
        .current_dir(dir.path())
        .stdout(Stdio::null())
        .kill_on_drop(true)
        .spawn()
        .expect("switchboard run starts");
    let base = format!("http://127.0.0.1:{http}");
    let client = reqwest::Client::new();
    let deadline = Instant::now() + Duration::from_secs(30);
    while client.get(format!("{base}/health")).send().await.is_err() {
        assert!(Instant::now() < deadline, "switchboard run did not serve");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }

    // A cursor 100 pages of 50 deep (fewer in a small history), and an id in the middle.
    let depth = (calls / 50).saturating_sub(1).min(100);
    let mut cursor = String::new();
    for _ in 0..depth {
        let path = format!("{base}/api/calls/history?limit=50{cursor}");
        let page: serde_json::Value = client.get(path).send().await.unwrap().json().await.unwrap();
        let next = page["next_cursor"].as_str().unwrap();
        cursor = format!("&cursor={next}");
    }
    let id = &records[calls / 2].id;

    let endpoints = [
        ("/health (reference)", "/health".to_string()),
        ("history, newest 50", "/api/calls/history?limit=50".into()),
        (
            "history, 50, 100 pages deep",
            format!("/api/calls/history?limit=50{cursor}"),
        ),
        ("history, newest 500", "/api/calls/history?limit=500".into()),
        (
            "history, extension=2001",
            "/api/calls/history?limit=50&extension=2001".into(),
        ),
        (
            "history, number contains 555",
            "/api/calls/history?limit=50&number=555".into(),
        ),
        (
            "history, disposition=busy",
            "/api/calls/history?limit=50&disposition=busy".into(),
        ),
        (
            "history, a one-day range",
            "/api/calls/history?limit=50&since=2026-12-01T00:00:00Z&until=2026-12-02T00:00:00Z"
                .into(),
        ),
        ("one call by id", format!("/api/calls/{id}")),
    ];
    println!("{clients} clients, {secs} s per endpoint, {calls} calls in the history\n");
    println!("| endpoint | requests/s | vs /health | p50 | p99 | KB/answer |");
    println!("|---|---|---|---|---|---|");
    let mut reference = None;
    for (name, path) in endpoints {
        let f = load(&base, &path, clients, secs).await;
        let reference = *reference.get_or_insert(f.per_second);
        println!(
            "| {name} | {:.0} | {:.2} | {:.1} ms | {:.1} ms | {:.1} |",
            f.per_second,
            f.per_second / reference,
            f.p50.as_secs_f64() * 1e3,
            f.p99.as_secs_f64() * 1e3,
            f.bytes as f64 / f.requests.max(1) as f64 / 1024.0
        );
    }
    let _ = child.kill().await;
    pbx.shutdown().await;
}
