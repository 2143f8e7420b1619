//! Item 5 of the simulator's issue: at `Speed::Max`, how many events per second does a
//! client that only counts messages receive? Measured beside the same client reading the
//! same bytes from a plain socket (a task that writes a prepared buffer in a loop), so the
//! figure is a ratio against what this machine's loopback and this client can do at all.
//! Three modes: a replay's first pass (bytes as recorded), `--loop` (ids and times rewritten
//! per loop; the reference writes the recording's bytes), and generated traffic (20,000
//! calls, concurrency 150; the reference writes the first 16 MB the generator sent). Each is
//! measured 3 times; the best of each side is reported.
//!
//! Run with `cargo bench -p sim --bench throughput` (a release build).

use sim::{Mode, Server, SimConfig, Speed};
use std::sync::Arc;
use std::time::{Duration, Instant};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};

fn fixture(name: &str) -> std::path::PathBuf {
    std::path::Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../../fixtures/asterisk/22.10.1")
        .join(name)
}

/// Reads until `want` messages were counted (a message ends with an empty line).
async fn count(mut s: TcpStream, want: u64) -> (u64, u64, Duration) {
    let finder = memchr::memmem::Finder::new(b"\r\n\r\n");
    let mut buf = vec![0u8; 256 * 1024];
    let (mut n, mut bytes) = (0u64, 0u64);
    let mut carry = 0usize;
    let start = Instant::now();
    while n < want {
        let r = s.read(&mut buf[carry..]).await.expect("read");
        if r == 0 {
            break;
        }
        bytes += r as u64;
        let end = carry + r;
        let mut last = 0;
        for i in finder.find_iter(&buf[..end]) {
            n += 1;
            last = i + 4;
        }
        // Keep a partial message's tail so a boundary split across reads is not lost.
        let tail = (end - last).min(3);
        buf.copy_within(end - tail..end, 0);
        carry = tail;
    }
    (n, bytes, start.elapsed())
}

async fn via_simulator(loops: u32) -> (u64, u64, Duration) {
    let cfg = SimConfig::new(Mode::Replay {
        file: fixture("load_mix.ami"),
        speed: Speed::Max,
        loops,
    })
    .listen("127.0.0.1:0".parse().unwrap());
    let sim = Server::start(cfg).await.unwrap();
    let rec = sim::replay::Recording::load(&fixture("load_mix.ami")).unwrap();
    let per_loop = rec.items.iter().filter(|i| i.send).count() as u64;
    let mut s = TcpStream::connect(sim.addr()).await.unwrap();
    s.write_all(b"Action: Login\r\nUsername: admin\r\nSecret: amp111\r\n\r\n")
        .await
        .unwrap();
    // Response, FullyBooted, SuccessfulAuth come first.
    let r = count(s, per_loop * loops as u64 + 3).await;
    sim.shutdown().await;
    r
}

/// The reference: the same client reading `sample` (whole messages, `per` of them) written
/// in a loop by a task that does nothing else, until it has `events` messages.
async fn via_plain_socket(sample: Arc<Vec<u8>>, per: u64, events: u64) -> (u64, u64, Duration) {
    let l = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = l.local_addr().unwrap();
    let rounds = events.div_ceil(per);
    tokio::spawn(async move {
        let (mut s, _) = l.accept().await.unwrap();
        for _ in 0..rounds {
            if s.write_all(&sample).await.is_err() {
                return;
            }
        }
    });
    let s = TcpStream::connect(addr).await.unwrap();
    count(s, rounds * per).await
}

/// The bytes of `load_mix.ami`'s bus events, and how many events that is.
fn recorded_sample() -> (Arc<Vec<u8>>, u64) {
    let rec = sim::replay::Recording::load(&fixture("load_mix.ami")).unwrap();
    let mut bytes = Vec::new();
    let mut per = 0u64;
    for i in rec.items.iter().filter(|i| i.send) {
        bytes.extend_from_slice(i.msg.as_bytes());
        per += 1;
    }
    (Arc::new(bytes), per)
}

/// The first `SAMPLE_BYTES` or so of generated traffic, as the reference's bytes.
const SAMPLE_BYTES: usize = 16 * 1024 * 1024;

/// Generated traffic at full speed: `calls` calls, counted until the stream goes quiet.
/// Returns the events, the time, and the first whole messages of the stream (after the
/// login's) with their count.
async fn generated(calls: u64) -> (u64, Duration, Arc<Vec<u8>>, u64) {
    let g = sim::GenConfig {
        extensions: (2001, 2400),
        calls_per_second: 50.0,
        concurrency: 150,
        calls: Some(calls),
        seed: 1,
        speed: Speed::Max,
        ..sim::GenConfig::default()
    };
    let sim =
        Server::start(SimConfig::new(Mode::Generate(g)).listen("127.0.0.1:0".parse().unwrap()))
            .await
            .unwrap();
    let mut s = TcpStream::connect(sim.addr()).await.unwrap();
    s.write_all(b"Action: Login\r\nUsername: admin\r\nSecret: amp111\r\n\r\n")
        .await
        .unwrap();
    let finder = memchr::memmem::Finder::new(b"\r\n\r\n");
    let mut buf = vec![0u8; 256 * 1024];
    let mut sample = Vec::with_capacity(SAMPLE_BYTES + buf.len());
    let mut n = 0u64;
    let start = Instant::now();
    let mut last = Instant::now();
    while let Ok(Ok(r)) = tokio::time::timeout(Duration::from_millis(500), s.read(&mut buf)).await {
        if r == 0 {
            break;
        }
        n += finder.find_iter(&buf[..r]).count() as u64;
        last = Instant::now();
        if sample.len() < SAMPLE_BYTES {
            sample.extend_from_slice(&buf[..r]);
        }
    }
    sim.shutdown().await;
    // Whole messages only, without the login's response, FullyBooted and SuccessfulAuth.
    let ends: Vec<usize> = finder.find_iter(&sample).map(|i| i + 4).collect();
    let (from, to) = (ends[2], *ends.last().unwrap());
    let per = (ends.len() - 3) as u64;
    (n, last - start, Arc::new(sample[from..to].to_vec()), per)
}

fn best(v: &[f64]) -> f64 {
    v.iter().cloned().fold(0.0, f64::max)
}

fn main() {
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .unwrap();
    rt.block_on(async {
        let (recorded, per) = recorded_sample();
        for (label, loops) in [("first pass (as recorded)", 1u32), ("looping, ids rewritten", 10)] {
            let mut sim_rates = Vec::new();
            let mut ref_rates = Vec::new();
            let mut size = 0.0;
            for _ in 0..3 {
                let (n, b, d) = via_simulator(loops).await;
                sim_rates.push(n as f64 / d.as_secs_f64());
                size = b as f64 / n as f64;
                let (rn, _, rd) = via_plain_socket(recorded.clone(), per, n).await;
                ref_rates.push(rn as f64 / rd.as_secs_f64());
            }
            let (s, r) = (best(&sim_rates), best(&ref_rates));
            println!(
                "{label}: simulator {s:.0} events/s ({size:.0} bytes/event), plain socket {r:.0} events/s, ratio {:.2}",
                s / r
            );
        }
        let calls = 20_000;
        let mut sim_rates = Vec::new();
        let mut ref_rates = Vec::new();
        let mut calls_per_s = Vec::new();
        for _ in 0..3 {
            let (n, d, sample, per) = generated(calls).await;
            sim_rates.push(n as f64 / d.as_secs_f64());
            calls_per_s.push(calls as f64 / d.as_secs_f64());
            let (rn, _, rd) = via_plain_socket(sample, per, n).await;
            ref_rates.push(rn as f64 / rd.as_secs_f64());
        }
        let (s, r) = (best(&sim_rates), best(&ref_rates));
        println!(
            "generated, {calls} calls, concurrency 150: simulator {s:.0} events/s ({:.0} calls/s), plain socket {r:.0} events/s, ratio {:.2}",
            best(&calls_per_s),
            s / r
        );
    });
}
