//! The journal as input and as a resource: a damaged entry, a journal of another
//! database, the size cap.

mod common;

use std::path::Path;
use std::time::Duration;

use common::{call, segments, TestDb};
use store::{Durability, StoreError, Writer, WriterConfig};

fn config(dir: &Path) -> WriterConfig {
    let mut c = common::config(dir);
    c.journal_sync_interval = Duration::from_millis(10);
    c
}

fn crashed_run(url: &str, dir: &Path, n: i64) {
    common::crashed_run(url, config(dir), n);
}

#[tokio::test]
async fn a_damaged_entry_is_set_aside_and_the_others_replayed() {
    let db = TestDb::sqlite();
    let store = db.store().await;
    let journal = tempfile::tempdir().unwrap();
    crashed_run(&db.url, journal.path(), 20);
    // Flip one byte inside the JSON of the 10th entry (the one of call 9).
    let seg = segments(journal.path())
        .into_iter()
        .find(|p| std::fs::read(p).unwrap()[0] != 0)
        .expect("a segment with entries");
    let mut bytes = std::fs::read(&seg).unwrap();
    let line_start = bytes
        .iter()
        .enumerate()
        .filter(|(_, &b)| b == b'\n')
        .nth(8)
        .map(|(i, _)| i + 1)
        .unwrap();
    let at = line_start + 60;
    bytes[at] = if bytes[at] == b'x' { b'y' } else { b'x' };
    std::fs::write(&seg, &bytes).unwrap();

    let writer = Writer::start(store.clone(), config(journal.path())).unwrap();
    assert_eq!(writer.backlog().rejected, 1);
    assert_eq!(writer.backlog().in_journal, 19);
    writer.flush().await;
    assert_eq!(store.count().await.unwrap(), 19);
    let damaged = call("pbx1", 9, "2001", "2002").id;
    assert_eq!(store.get(&damaged).await.unwrap(), None);
    for i in [0, 8, 10, 19] {
        let id = call("pbx1", i, "2001", "2002").id;
        assert!(store.get(&id).await.unwrap().is_some(), "{id} replayed");
    }
    let rejected = std::fs::read_to_string(journal.path().join("rejected.txt")).unwrap();
    assert_eq!(rejected.lines().count(), 1);
    assert!(rejected.contains("1700000000.9"), "{rejected}");
    writer.shutdown().await;
    // The NUL-filled preallocated tails were not taken for entries.
    assert_eq!(
        std::fs::read_to_string(journal.path().join("rejected.txt"))
            .unwrap()
            .lines()
            .count(),
        1
    );
}

#[tokio::test]
async fn a_journal_is_never_replayed_into_another_database() {
    let a = TestDb::sqlite();
    let b = TestDb::sqlite();
    let store_a = a.store().await;
    let store_b = b.store().await;
    let journal = tempfile::tempdir().unwrap();
    crashed_run(&a.url, journal.path(), 5);

    let err = Writer::start(store_b.clone(), config(journal.path())).unwrap_err();
    let StoreError::JournalOfAnotherDatabase {
        journal: bound,
        database,
        pending,
        ..
    } = &err
    else {
        panic!("wrong error: {err}");
    };
    assert_eq!(
        (bound.as_str(), database.as_str(), *pending),
        (store_a.url(), store_b.url(), 5)
    );
    let text = err.to_string();
    assert!(
        text.contains(store_a.url()) && text.contains(store_b.url()),
        "{text}"
    );
    assert_eq!(store_b.count().await.unwrap(), 0);

    // With its own database the journal is written; once empty it may serve another.
    let writer = Writer::start(store_a.clone(), config(journal.path())).unwrap();
    writer.flush().await;
    writer.shutdown().await;
    assert_eq!(store_a.count().await.unwrap(), 5);
    let writer = Writer::start(store_b.clone(), config(journal.path())).unwrap();
    writer.submit(call("pbx1", 100, "2001", "2002"));
    writer.flush().await;
    writer.shutdown().await;
    assert_eq!(store_b.count().await.unwrap(), 1);
    assert_eq!(store_a.count().await.unwrap(), 5);
}

/// A 16 KiB journal holds about ten calls. Past it records are held in memory (durability
/// suspended), past the memory bound each loss is counted; once the database has drained
/// the journal, it is durable again.
#[tokio::test]
async fn past_the_size_cap_records_are_held_then_counted_lost() {
    let db = TestDb::sqlite();
    let store = db.store().await;
    let journal = tempfile::tempdir().unwrap();
    let mut c = config(journal.path());
    c.journal_max_bytes = 16 * 1024;
    c.memory_records = 20;
    let writer = Writer::start(store.clone(), c).unwrap();
    // No await: the writer's tasks cannot drain anything meanwhile.
    for i in 0..60 {
        writer.submit(call("pbx1", i, "2001", "2002"));
    }
    let b = writer.backlog();
    assert!(b.in_journal > 0 && b.in_journal < 20, "{b:?}");
    assert_eq!(b.in_memory, 20);
    assert_eq!(b.not_journaled as u64, 20 - b.in_journal);
    assert_eq!(b.lost, 40);
    assert!(b.journal_bytes <= 16 * 1024);
    match &b.durability {
        Durability::Suspended { reason } => assert!(reason.contains("cap"), "{reason}"),
        d => panic!("not suspended: {d:?}"),
    }
    assert!(b.journal_error.is_some());

    writer.flush().await;
    assert_eq!(store.count().await.unwrap(), 20);
    let deadline = tokio::time::Instant::now() + Duration::from_secs(10);
    while writer.backlog().durability != Durability::Durable {
        assert!(
            tokio::time::Instant::now() < deadline,
            "{:?}",
            writer.backlog()
        );
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    for i in 100..105 {
        writer.submit(call("pbx1", i, "2001", "2002"));
    }
    let b = writer.backlog();
    assert_eq!((b.in_journal, b.not_journaled, b.lost), (5, 0, 40), "{b:?}");
    writer.flush().await;
    assert_eq!(store.count().await.unwrap(), 25);
    writer.shutdown().await;
}

/// A journal file is input: garbage of every shape (random bytes, long lines, NUL holes,
/// lines that look like entries) is set aside and counted, never a panic or a hang.
#[tokio::test]
async fn garbage_segments_are_set_aside_without_panic() {
    let db = TestDb::sqlite();
    let store = db.store().await;
    let journal = tempfile::tempdir().unwrap();
    let mut state = 0x2545_f491_4f6c_dd1du64;
    let mut next = move || {
        state ^= state << 13;
        state ^= state >> 7;
        state ^= state << 17;
        state
    };
    for f in 0..8 {
        let mut bytes = Vec::new();
        for _ in 0..200 {
            match next() % 6 {
                0 => bytes.extend_from_slice(b"deadbeef 12 {\"id\":1}\n"),
                1 => bytes.extend(std::iter::repeat_n(0, (next() % 5000) as usize)),
                2 => bytes.push(b'\n'),
                3 => {
                    bytes.extend_from_slice(format!("{:08x} {} ", next() as u32, next()).as_bytes())
                }
                _ => bytes.extend((0..next() % 300).map(|_| next() as u8)),
            }
        }
        std::fs::write(journal.path().join(format!("{:020}.log", f + 1)), bytes).unwrap();
    }
    std::fs::write(journal.path().join("committed"), b"\xff\xfe garbage").unwrap();
    let writer = Writer::start(store.clone(), config(journal.path())).unwrap();
    let b = writer.backlog();
    assert!(b.rejected > 0);
    assert_eq!(b.in_journal, 0);
    writer.submit(call("pbx1", 1, "2001", "2002"));
    writer.flush().await;
    assert_eq!(store.count().await.unwrap(), 1);
    writer.shutdown().await;
    assert!(segments(journal.path()).is_empty());
}
