//! The durability promise under a real crash: a child process (this test binary, re-run
//! in "child" mode) submits calls non-stop and prints each id once `submit` has returned;
//! the parent kills it with SIGKILL mid-stream, starts a writer on the same journal and
//! database, and checks that every printed id is in the database. Also with the database
//! unreachable (PostgreSQL) or locked by another writer (SQLite) at the time of the crash.

mod common;

use std::io::{BufRead, BufReader};
use std::path::Path;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use common::{call, upstream_of, TestDb};
use store::{Store, Writer, WriterConfig};

const CHILD_URL: &str = "SB_CRASH_CHILD_URL";
const CHILD_DIR: &str = "SB_CRASH_CHILD_DIR";
const SYNC: Duration = Duration::from_millis(50);

fn config(dir: &Path) -> WriterConfig {
    let mut c = WriterConfig::new(dir);
    c.journal_sync_interval = SYNC;
    c.retry_min = Duration::from_millis(20);
    c.retry_max = Duration::from_millis(200);
    c
}

/// The child: runs only when the parent sets the variables (otherwise passes at once).
#[test]
fn child_process() {
    let (Ok(url), Ok(dir)) = (std::env::var(CHILD_URL), std::env::var(CHILD_DIR)) else {
        return;
    };
    let rt = tokio::runtime::Runtime::new().unwrap();
    rt.block_on(async {
        let store = Store::connect_lazy(&url).unwrap();
        let writer = Writer::start(store, config(Path::new(&dir))).unwrap();
        let mut last_marker = Instant::now();
        for n in 0.. {
            writer.submit(call("crash", n, "2001", "2002"));
            println!("submitted {n}");
            if n % 20 == 19 {
                tokio::time::sleep(Duration::from_millis(1)).await;
            }
            if last_marker.elapsed() > Duration::from_millis(300) {
                // Past the group commit: everything up to n is fsynced by now.
                tokio::time::sleep(SYNC * 2).await;
                println!("synced {n}");
                last_marker = Instant::now();
            }
        }
    });
}

/// What the child printed before it was killed.
struct Printed {
    submitted: Vec<i64>,
    synced: Option<i64>,
}

/// Runs the child on `url` and `dir`, kills it (SIGKILL) once it has submitted at least
/// `min` calls and passed a sync marker.
fn crash_child(url: &str, dir: &Path, min: usize) -> Printed {
    let mut child = Command::new(std::env::current_exe().unwrap())
        .args([
            "child_process",
            "--exact",
            "--nocapture",
            "--test-threads=1",
        ])
        .env(CHILD_URL, url)
        .env(CHILD_DIR, dir)
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let mut lines = BufReader::new(child.stdout.take().unwrap()).lines();
    let mut printed = Printed {
        submitted: Vec::new(),
        synced: None,
    };
    let deadline = Instant::now() + Duration::from_secs(60);
    let mut killed = false;
    while let Some(Ok(line)) = lines.next() {
        if let Some(n) = line.strip_prefix("submitted ") {
            if let Ok(n) = n.parse() {
                printed.submitted.push(n);
            }
        } else if let Some(n) = line.strip_prefix("synced ") {
            printed.synced = n.parse().ok().or(printed.synced);
        }
        if !killed
            && ((printed.submitted.len() >= min && printed.synced.is_some())
                || Instant::now() > deadline)
        {
            child.kill().unwrap(); // SIGKILL: no destructor, no shutdown, no flush
            killed = true;
            // Read on: what the child printed before it died is still in the pipe.
        }
    }
    let status = child.wait().unwrap();
    assert!(
        killed && !status.success(),
        "the child was killed: {status}"
    );
    assert!(printed.submitted.len() >= min, "the child ran");
    printed
}

/// Restarts a writer on the journal and checks every printed id is stored.
async fn check_after_restart(store: &Store, dir: &Path, printed: &Printed, what: &str) {
    let writer = Writer::start(store.clone(), config(dir)).unwrap();
    tokio::time::timeout(Duration::from_secs(120), writer.flush())
        .await
        .expect("replay finishes");
    let mut missing = Vec::new();
    for &n in &printed.submitted {
        let id = call("crash", n, "2001", "2002").id;
        if store.get(&id).await.unwrap().is_none() {
            missing.push(n);
        }
    }
    let synced = printed.synced.unwrap();
    let lost_synced = missing.iter().filter(|&&n| n <= synced).count();
    eprintln!(
        "{what}: {} ids printed ({} before the last sync marker), {} missing after restart",
        printed.submitted.len(),
        printed.submitted.iter().filter(|&&n| n <= synced).count(),
        missing.len()
    );
    assert_eq!(
        lost_synced, 0,
        "{what}: a call older than the group commit was lost"
    );
    // A kill -9 is a process crash, not a power loss: nothing written is lost at all.
    assert!(missing.is_empty(), "{what}: lost {missing:?}");
    assert_eq!(writer.backlog().lost, 0);
    writer.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn crash_loses_no_call_older_than_the_group_commit() {
    on_every_backend!("crash_loses_no_call_older_than_the_group_commit", |db| {
        let store = db.store().await;
        let journal = tempfile::tempdir().unwrap();
        let printed = crash_child(&db.url, journal.path(), 3000);
        check_after_restart(&store, journal.path(), &printed, db.kind).await;
    });
}

/// SQLite: another connection holds the write lock for the whole life of the child, so
/// none of its batches commits (`database is locked`); everything it submitted is in the
/// journal only when it is killed.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn crash_while_sqlite_is_locked_loses_nothing() {
    use sqlx::Connection;
    let db = TestDb::sqlite();
    let store = db.store().await; // schema in place
    let mut lock = sqlx::SqliteConnection::connect(&db.url).await.unwrap();
    sqlx::raw_sql("BEGIN IMMEDIATE")
        .execute(&mut lock)
        .await
        .unwrap();
    let journal = tempfile::tempdir().unwrap();
    let url = db.url.clone();
    let dir = journal.path().to_path_buf();
    let printed = tokio::task::spawn_blocking(move || crash_child(&url, &dir, 1500))
        .await
        .unwrap();
    assert_eq!(
        store.count().await.unwrap(),
        0,
        "nothing could be committed"
    );
    sqlx::raw_sql("ROLLBACK").execute(&mut lock).await.unwrap();
    lock.close().await.unwrap();
    check_after_restart(&store, journal.path(), &printed, "sqlite locked").await;
}

/// PostgreSQL: the child's URL points at a port where nothing listens; after the crash a
/// forwarder to the real server is started on that port (same URL: the journal is bound
/// to it).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn crash_while_postgres_is_unreachable_loses_nothing() {
    let Some(db) = TestDb::postgres("crash_while_postgres_is_unreachable_loses_nothing").await
    else {
        return;
    };
    let upstream = upstream_of(&db.url);
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap();
    let url = db.url_via(port);
    let journal = tempfile::tempdir().unwrap();
    let (u, dir) = (url.clone(), journal.path().to_path_buf());
    let printed = tokio::task::spawn_blocking(move || crash_child(&u, &dir, 1500))
        .await
        .unwrap();
    let listener = tokio::net::TcpListener::bind(port).await.unwrap();
    let forwarder = tokio::spawn(async move {
        while let Ok((mut client, _)) = listener.accept().await {
            tokio::spawn(async move {
                if let Ok(mut server) = tokio::net::TcpStream::connect(upstream).await {
                    let _ = tokio::io::copy_bidirectional(&mut client, &mut server).await;
                }
            });
        }
    });
    let store = Store::connect(&url).await.unwrap();
    assert_eq!(
        store.count().await.unwrap(),
        0,
        "nothing could be committed"
    );
    check_after_restart(&store, journal.path(), &printed, "postgres unreachable").await;
    store.close().await;
    forwarder.abort();
}
