//! A full disk under the SQLite database: what the writer says it wrote is in the file.
//!
//! The database sits on a 4 MiB tmpfs, mostly taken by a filler file, so SQLite answers
//! `database or disk is full` (SQLITE_FULL) half way through the calls. Space is then freed
//! and the writer must get every call in, and the file, opened afresh, must hold them all:
//! a failed COMMIT must leave no transaction open on a pooled connection for later batches
//! to "commit" into (they would be visible to that connection, counted as written, and
//! rolled back when the pool closes).
//!
//! Mounting a tmpfs needs root; elsewhere the test says it was skipped (and fails in CI).

mod common;

use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::Duration;

use common::call;
use store::{Store, Writer, WriterConfig};

/// A small tmpfs, unmounted on drop.
struct Tmpfs {
    dir: PathBuf,
    _parent: tempfile::TempDir,
}

impl Tmpfs {
    fn mount(size: &str) -> Result<Tmpfs, String> {
        let parent = tempfile::tempdir().map_err(|e| e.to_string())?;
        let dir = parent.path().join("fs");
        std::fs::create_dir(&dir).map_err(|e| e.to_string())?;
        let out = Command::new("mount")
            .args(["-t", "tmpfs", "-o", &format!("size={size}"), "tmpfs"])
            .arg(&dir)
            .output()
            .map_err(|e| format!("mount: {e}"))?;
        if !out.status.success() {
            return Err(format!(
                "cannot mount a tmpfs (needs root): {}",
                String::from_utf8_lossy(&out.stderr).trim()
            ));
        }
        Ok(Tmpfs {
            dir,
            _parent: parent,
        })
    }
}

impl Drop for Tmpfs {
    fn drop(&mut self) {
        let _ = Command::new("umount").arg("-l").arg(&self.dir).status();
    }
}

fn fill(path: &Path, bytes: usize) {
    std::fs::write(path, vec![0x55u8; bytes]).unwrap();
}

#[tokio::test]
async fn a_full_disk_loses_no_call_the_writer_counted() {
    let fs = match Tmpfs::mount("4m") {
        Ok(fs) => fs,
        Err(reason) => {
            testenv::skip("a_full_disk_loses_no_call_the_writer_counted", &reason);
            return;
        }
    };
    let db = fs.dir.join("calls.db");
    let url = format!("sqlite://{}", db.display());
    let filler = fs.dir.join("filler");
    // Leave room for the schema and a few batches, not for 300 calls. Once the filler is
    // gone, 4 MiB hold the calls twice over (in the WAL and, after a checkpoint, the file).
    fill(&filler, 3800 * 1024);
    let journal = tempfile::tempdir().unwrap();
    let store = Store::connect(&url).await.unwrap();
    let mut config = WriterConfig::new(journal.path());
    config.batch_records = 20;
    config.batch_interval = Duration::from_millis(10);
    config.retry_min = Duration::from_millis(20);
    config.retry_max = Duration::from_millis(100);
    let writer = Writer::start(store.clone(), config).unwrap();

    let n = 300;
    for i in 0..n {
        writer.submit(call("pbx1", i, "2001", "2002"));
        if i % 20 == 0 {
            tokio::time::sleep(Duration::from_millis(5)).await;
        }
    }
    // Wait until the disk is full and the writer knows it.
    let mut saw_full = false;
    for _ in 0..200 {
        let b = writer.backlog();
        if b.last_error.as_deref().is_some_and(|e| e.contains("full")) {
            saw_full = true;
            break;
        }
        tokio::time::sleep(Duration::from_millis(25)).await;
    }
    assert!(saw_full, "the disk filled up: {:?}", writer.backlog());
    let during = writer.backlog();
    assert!(
        during.written < n as u64,
        "not all written while full: {during:?}"
    );

    // Space is back: everything goes in, and is in the file.
    std::fs::remove_file(&filler).unwrap();
    tokio::time::timeout(Duration::from_secs(60), writer.flush())
        .await
        .expect("the writer catches up once space is back");
    let report = writer.shutdown().await;
    store.close().await;

    let reopened = Store::connect(&url).await.unwrap();
    let stored = reopened.count().await.unwrap();
    assert_eq!(
        stored, n as u64,
        "every call is in the file (writer said written={}, left_in_journal={})",
        report.written, report.left_in_journal
    );
    for i in [0, n / 2, n - 1] {
        let id = call("pbx1", i, "2001", "2002").id;
        assert!(reopened.get(&id).await.unwrap().is_some(), "{id} stored");
    }
    reopened.close().await;
}

/// Fills the filesystem of `path` up to the last block.
fn fill_up(path: &Path) {
    use std::io::Write;
    let mut f = std::fs::File::create(path).unwrap();
    let chunk = vec![0x55u8; 4096];
    while f.write_all(&chunk).is_ok() {}
    let _ = f.sync_all();
}

/// The journal's own disk is full: appends go on into the preallocated segment; past it
/// durability is suspended (records held in memory, none lost within the bound); once
/// space is back the held records are journaled and everything is written.
#[tokio::test]
async fn a_full_journal_disk_never_blocks_and_loses_nothing_within_the_bound() {
    let fs = match Tmpfs::mount("2m") {
        Ok(fs) => fs,
        Err(reason) => {
            testenv::skip(
                "a_full_journal_disk_never_blocks_and_loses_nothing_within_the_bound",
                &reason,
            );
            return;
        }
    };
    let db = common::TestDb::sqlite();
    let store = db.store().await;
    let journal = fs.dir.join("journal");
    let mut config = WriterConfig::new(&journal);
    config.journal_max_bytes = 512 * 1024; // segments of 256 KiB, ~180 calls each
    config.memory_records = 1000;
    config.batch_interval = Duration::from_millis(10);
    config.journal_sync_interval = Duration::from_millis(10);
    let writer = Writer::start(store.clone(), config).unwrap();
    let filler = fs.dir.join("filler");
    fill_up(&filler);

    // No await: nothing is drained meanwhile. The preallocated segment takes these.
    for i in 0..100 {
        writer.submit(call("pbx1", i, "2001", "2002"));
    }
    let b = writer.backlog();
    assert_eq!((b.in_journal, b.not_journaled), (100, 0), "{b:?}");
    assert_eq!(b.durability, store::Durability::Durable);
    // Past the segment, no new one can be made: held in memory, durability suspended.
    for i in 100..400 {
        writer.submit(call("pbx1", i, "2001", "2002"));
    }
    let b = writer.backlog();
    assert!(b.not_journaled > 0, "{b:?}");
    assert_eq!(b.lost, 0);
    assert!(
        matches!(&b.durability, store::Durability::Suspended { reason } if reason.contains("space")),
        "{b:?}"
    );

    std::fs::remove_file(&filler).unwrap();
    tokio::time::timeout(Duration::from_secs(30), writer.flush())
        .await
        .expect("written once space is back");
    assert_eq!(store.count().await.unwrap(), 400);
    let deadline = tokio::time::Instant::now() + Duration::from_secs(10);
    while writer.backlog().durability != store::Durability::Durable {
        assert!(
            tokio::time::Instant::now() < deadline,
            "{:?}",
            writer.backlog()
        );
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    assert_eq!(writer.backlog().lost, 0);
    writer.shutdown().await;
}
