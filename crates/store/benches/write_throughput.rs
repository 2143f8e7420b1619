//! Records per second into the database: one record per transaction (the reference), in
//! batches of 500 per transaction (`Store::upsert_batch`), and through the `Writer`
//! (submit + flush), on SQLite and — when `SWITCHBOARD_TEST_POSTGRES` is set — PostgreSQL.
//! Every figure is also given as a ratio to the reference measured in the same run.
//!
//! `cargo bench -p store --bench write_throughput`

#[path = "../tests/common/mod.rs"]
mod common;

use std::time::{Duration, Instant};

use common::{call, TestDb};
use store::{Store, Writer, WriterConfig};
use tracker::CallRecord;

const ROUNDS: usize = 3;

fn records(server: &str, from: i64, n: i64) -> Vec<CallRecord> {
    (from..from + n)
        .map(|i| call(server, i, "2001", "2002"))
        .collect()
}

fn rate(n: usize, took: Duration) -> f64 {
    n as f64 / took.as_secs_f64()
}

fn median(mut v: Vec<f64>) -> f64 {
    v.sort_by(|a, b| a.total_cmp(b));
    v[v.len() / 2]
}

async fn bench(db: &TestDb, one_by_one: i64, batched: i64) {
    let store: Store = db.store().await;
    let journal = tempfile::tempdir().unwrap();
    let (mut single, mut batch, mut writer_rates) = (vec![], vec![], vec![]);
    let mut submit_us = vec![];
    let mut next = 0;
    for round in 0..ROUNDS {
        let rs = records("bench", next, one_by_one);
        next += one_by_one;
        let t = Instant::now();
        for r in &rs {
            store.upsert(r).await.unwrap();
        }
        single.push(rate(rs.len(), t.elapsed()));

        let rs = records("bench", next, batched);
        next += batched;
        let t = Instant::now();
        for chunk in rs.chunks(500) {
            store.upsert_batch(chunk).await.unwrap();
        }
        batch.push(rate(rs.len(), t.elapsed()));

        let rs = records("bench", next, batched);
        next += batched;
        let writer = Writer::start(store.clone(), WriterConfig::new(journal.path())).unwrap();
        let t = Instant::now();
        let n = rs.len();
        for r in rs {
            writer.submit(r);
        }
        // The event path's cost: the submissions alone, before any waiting.
        submit_us.push(t.elapsed().as_secs_f64() * 1e6 / n as f64);
        writer.flush().await;
        writer_rates.push(rate(n, t.elapsed()));
        writer.shutdown().await;
        eprintln!("  {} round {round} done", db.kind);
    }
    assert_eq!(store.count().await.unwrap(), next as u64);
    let reference = median(single);
    let b = median(batch);
    let w = median(writer_rates);
    println!(
        "{:<9} one-by-one {:>9.0} rec/s (1.0x) | batches of 500 {:>9.0} rec/s ({:.1}x) | Writer submit+flush {:>9.0} rec/s ({:.1}x) | submit alone {:.1} us/record",
        db.kind,
        reference,
        b,
        b / reference,
        w,
        w / reference,
        median(submit_us)
    );
}

#[tokio::main]
async fn main() {
    // `cargo bench` passes `--bench`; `cargo test --benches` passes nothing: run small.
    let quick = !std::env::args().any(|a| a == "--bench");
    let (one, many) = if quick { (20, 200) } else { (1000, 20_000) };
    println!("median of {ROUNDS} rounds; one-by-one: {one} records, batched/writer: {many} records per round");
    bench(&TestDb::sqlite(), one, many).await;
    match TestDb::postgres("write_throughput").await {
        Some(db) => bench(&db, one, many).await,
        None => println!("postgres  skipped: SWITCHBOARD_TEST_POSTGRES is not set"),
    }
}
