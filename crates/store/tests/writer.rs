//! The writer with a real SQLite file (and PostgreSQL when configured): batching, the
//! memory bound and the journal, crash replay, shutdown.

mod common;

use std::path::Path;
use std::time::Duration;

use common::{call, config, segments, TestDb};
use store::Writer;

/// Entries in a journal segment (its preallocated tail is NUL bytes).
fn entries(path: &Path) -> usize {
    std::fs::read(path)
        .unwrap()
        .split(|&b| b == b'\n')
        .filter(|l| !l.is_empty() && l[0] != 0)
        .count()
}

#[tokio::test]
async fn submitted_records_reach_the_database_in_batches() {
    on_every_backend!("submitted_records_reach_the_database_in_batches", |db| {
        let store = db.store().await;
        let journal = tempfile::tempdir().unwrap();
        let writer = Writer::start(store.clone(), config(journal.path())).unwrap();
        for n in 0..1234 {
            writer.submit(call("pbx1", n, "2001", "2002"));
        }
        // The same calls again (a replay): rows are updated, not added.
        for n in 0..100 {
            writer.submit(call("pbx1", n, "2001", "2002"));
        }
        writer.flush().await;
        assert_eq!(store.count().await.unwrap(), 1234, "{}", db.kind);
        let b = writer.backlog();
        assert_eq!((b.in_memory, b.in_journal), (0, 0));
        assert_eq!(b.written, 1334);
        assert_eq!(b.last_error, None);
        assert!(b.last_write_latency.is_some());
        assert_eq!(b.oldest_age, None);
        // A record submitted after the flush is written by the batch timer alone.
        writer.submit(call("pbx1", 5000, "2001", "2002"));
        let deadline = tokio::time::Instant::now() + Duration::from_secs(10);
        while store.count().await.unwrap() < 1235 {
            assert!(
                tokio::time::Instant::now() < deadline,
                "batch timer never fired"
            );
            tokio::time::sleep(Duration::from_millis(10)).await;
        }
        let report = writer.shutdown().await;
        assert_eq!(report.left_in_journal, 0);
        assert_eq!(report.written, 1335);
        assert!(segments(journal.path()).is_empty());
    });
}

#[tokio::test]
async fn past_the_memory_bound_records_spill_to_the_journal() {
    let db = TestDb::sqlite();
    let store = db.store().await;
    let journal = tempfile::tempdir().unwrap();
    let mut c = config(journal.path());
    c.memory_records = 3;
    let writer = Writer::start(store.clone(), c).unwrap();
    // The writer task cannot run before this test yields: everything past the bound goes
    // to disk, and submit() returned each time without waiting.
    for n in 0..500 {
        writer.submit(call("pbx1", n, "2001", "2002"));
    }
    // Every record is journaled first; memory holds copies of the first 3 only.
    let b = writer.backlog();
    assert_eq!(b.in_memory, 3);
    assert_eq!(b.in_journal, 500);
    assert_eq!(b.not_journaled, 0);
    assert_eq!(b.durability, store::Durability::Durable);
    let lines: usize = segments(journal.path()).iter().map(|p| entries(p)).sum();
    assert_eq!(lines, 500);
    writer.flush().await;
    assert_eq!(store.count().await.unwrap(), 500);
    let b = writer.backlog();
    assert_eq!((b.in_memory, b.in_journal), (0, 0));
    // Once read back, records go to memory again.
    writer.submit(call("pbx1", 900, "2001", "2002"));
    assert_eq!(writer.backlog().in_memory, 1);
    writer.shutdown().await;
    assert_eq!(store.count().await.unwrap(), 501);
    // A clean stop with everything written leaves no segment behind.
    assert!(segments(journal.path()).is_empty());
}

/// Order survives the trip through the journal: the later version of a call wins.
#[tokio::test]
async fn later_versions_win_across_memory_and_journal() {
    let db = TestDb::sqlite();
    let store = db.store().await;
    let journal = tempfile::tempdir().unwrap();
    let mut c = config(journal.path());
    c.memory_records = 1;
    let writer = Writer::start(store.clone(), c).unwrap();
    let first = call("pbx1", 1, "2001", "2002");
    let mut second = first.clone();
    second.disposition = tracker::Disposition::Busy;
    writer.submit(first); // memory
    writer.submit(second.clone()); // journal
    writer.flush().await;
    assert_eq!(store.get(&second.id).await.unwrap(), Some(second));
    writer.shutdown().await;
}

/// A crash (the process dies: tasks stop at their next await, nothing is flushed) leaves
/// journaled records on disk; the next writer on that directory writes them.
#[tokio::test]
async fn journal_is_replayed_after_a_crash() {
    let db = TestDb::sqlite();
    let store = db.store().await;
    let journal = tempfile::tempdir().unwrap();
    let mut c = config(journal.path());
    c.memory_records = 0; // the journal only
    common::crashed_run(&db.url, c, 300);
    assert_eq!(
        store.count().await.unwrap(),
        0,
        "nothing was written before the crash"
    );
    assert!(!segments(journal.path()).is_empty());
    // Keep a copy of the journal: replaying it a second time must change nothing (a crash
    // after the database commit but before the segment was deleted).
    let copy = tempfile::tempdir().unwrap();
    for p in segments(journal.path()) {
        std::fs::copy(&p, copy.path().join(p.file_name().unwrap())).unwrap();
    }

    let writer = Writer::start(store.clone(), config(journal.path())).unwrap();
    assert_eq!(writer.backlog().in_journal, 300);
    writer.flush().await;
    assert_eq!(store.count().await.unwrap(), 300);
    writer.shutdown().await;
    assert!(segments(journal.path()).is_empty());

    let writer = Writer::start(store.clone(), config(copy.path())).unwrap();
    writer.submit(call("pbx1", 1000, "2001", "2002"));
    writer.flush().await;
    assert_eq!(
        store.count().await.unwrap(),
        301,
        "replayed twice, stored once"
    );
    writer.shutdown().await;
}

/// A line cut short by a crash mid-write is set aside; the rest is written.
#[tokio::test]
async fn a_torn_journal_line_is_skipped_not_fatal() {
    let db = TestDb::sqlite();
    let store = db.store().await;
    let journal = tempfile::tempdir().unwrap();
    let good = serde_json::to_string(&call("pbx1", 1, "2001", "2002")).unwrap();
    let torn = &serde_json::to_string(&call("pbx1", 2, "2001", "2002")).unwrap()[..40];
    std::fs::write(
        journal.path().join("00000000000000000005.jsonl"),
        format!("{good}\n{torn}"),
    )
    .unwrap();
    // A journal of the earlier format (no checksums) is converted at start; its torn line
    // is set aside then.
    let writer = Writer::start(store.clone(), config(journal.path())).unwrap();
    assert_eq!(writer.backlog().in_journal, 1);
    assert_eq!(writer.backlog().rejected, 1);
    writer.flush().await;
    assert_eq!(store.count().await.unwrap(), 1);
    let rejected = std::fs::read_to_string(journal.path().join("rejected.txt")).unwrap();
    assert_eq!(rejected.trim_end(), torn);
    writer.shutdown().await;
    assert!(segments(journal.path()).is_empty());
}

/// Dropping every handle (no explicit shutdown) still writes what was submitted.
#[tokio::test]
async fn dropping_the_last_handle_drains() {
    let db = TestDb::sqlite();
    let store = db.store().await;
    let journal = tempfile::tempdir().unwrap();
    let writer = Writer::start(store.clone(), config(journal.path())).unwrap();
    let clone = writer.clone();
    for n in 0..50 {
        clone.submit(call("pbx1", n, "2001", "2002"));
    }
    drop(clone);
    drop(writer);
    let deadline = tokio::time::Instant::now() + Duration::from_secs(10);
    while store.count().await.unwrap() < 50 {
        assert!(tokio::time::Instant::now() < deadline, "not drained");
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
}

/// A call left in the journal by a previous run and submitted again (newer) right after
/// start: the newer version is what ends up stored, because new records queue behind the
/// journal rather than overtaking it through memory.
#[tokio::test]
async fn a_newer_version_never_loses_to_a_replayed_one() {
    let db = TestDb::sqlite();
    let store = db.store().await;
    let journal = tempfile::tempdir().unwrap();
    let old = call("pbx1", 1, "2001", "2002");
    let mut new = old.clone();
    new.disposition = tracker::Disposition::Busy;
    std::fs::write(
        journal.path().join("00000000000000000005.jsonl"),
        format!("{}\n", serde_json::to_string(&old).unwrap()),
    )
    .unwrap();
    let writer = Writer::start(store.clone(), config(journal.path())).unwrap();
    writer.submit(new.clone());
    writer.flush().await;
    assert_eq!(store.get(&new.id).await.unwrap(), Some(new));
    writer.shutdown().await;
}

/// A record the database refuses for good (here: a rule added for the test) is set aside
/// in `rejected.txt`; the records around it in the same batch are written.
#[tokio::test]
async fn a_refused_record_is_set_aside_and_the_rest_written() {
    use sqlx::Connection;
    on_every_backend!("a_refused_record_is_set_aside_and_the_rest_written", |db| {
        let store = db.store().await;
        match db.kind {
            "sqlite" => {
                let mut c = sqlx::SqliteConnection::connect(&db.url).await.unwrap();
                sqlx::raw_sql(
                    "CREATE TRIGGER poison BEFORE INSERT ON calls WHEN NEW.linkedid = 'poison' \
                     BEGIN SELECT RAISE(ABORT, 'poison call'); END;",
                )
                .execute(&mut c)
                .await
                .unwrap();
            }
            _ => {
                let mut c = sqlx::PgConnection::connect(&db.url).await.unwrap();
                sqlx::raw_sql(
                    "ALTER TABLE calls ADD CONSTRAINT poison CHECK (linkedid <> 'poison')",
                )
                .execute(&mut c)
                .await
                .unwrap();
            }
        }
        let journal = tempfile::tempdir().unwrap();
        let writer = Writer::start(store.clone(), config(journal.path())).unwrap();
        for n in 0..10 {
            writer.submit(call("pbx1", n, "2001", "2002"));
        }
        let mut poison = call("pbx1", 99, "2001", "2002");
        poison.linkedid = "poison".into();
        writer.submit(poison.clone());
        for n in 10..20 {
            writer.submit(call("pbx1", n, "2001", "2002"));
        }
        writer.flush().await;
        assert_eq!(store.count().await.unwrap(), 20, "{}", db.kind);
        let b = writer.backlog();
        assert_eq!(b.rejected, 1);
        assert_eq!(b.last_error, None);
        let rejected = std::fs::read_to_string(journal.path().join("rejected.txt")).unwrap();
        assert_eq!(rejected.lines().count(), 1);
        let line: serde_json::Value = serde_json::from_str(rejected.trim()).unwrap();
        assert_eq!(line["record"]["id"], poison.id.as_str());
        assert!(line["error"].as_str().unwrap().contains("poison"));
        writer.shutdown().await;
    });
}
