//! A database outage, made by cutting a TCP proxy between the store and the shared
//! PostgreSQL (the server itself is never touched): nothing completed is lost and
//! `submit` never waits.

mod common;

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::{Duration, Instant};

use common::{call, upstream_of, TestDb};
use store::{Store, Writer, WriterConfig};
use tokio::net::{TcpListener, TcpSocket, TcpStream};
use tokio::sync::{watch, Mutex};
use tokio::task::JoinHandle;

/// Forwards 127.0.0.1:<port> to a server. `cut()` closes every forwarded connection and
/// the listening socket (new connections are refused); `restore()` listens again on the
/// same port.
struct Proxy {
    addr: SocketAddr,
    upstream: SocketAddr,
    up: watch::Sender<bool>,
    acceptor: Mutex<Option<JoinHandle<()>>>,
}

impl Proxy {
    async fn start(upstream: SocketAddr) -> Arc<Proxy> {
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let (up, _) = watch::channel(true);
        let proxy = Arc::new(Proxy {
            addr: listener.local_addr().unwrap(),
            upstream,
            up,
            acceptor: Mutex::new(None),
        });
        *proxy.acceptor.lock().await = Some(tokio::spawn(proxy.clone().accept(listener)));
        proxy
    }

    async fn accept(self: Arc<Proxy>, listener: TcpListener) {
        loop {
            let Ok((client, _)) = listener.accept().await else {
                return;
            };
            let mut up = self.up.subscribe();
            let upstream = self.upstream;
            tokio::spawn(async move {
                let Ok(mut server) = TcpStream::connect(upstream).await else {
                    return;
                };
                let mut client = client;
                tokio::select! {
                    _ = tokio::io::copy_bidirectional(&mut client, &mut server) => {}
                    _ = up.wait_for(|up| !up) => {} // cut: both sockets are dropped here
                }
            });
        }
    }

    async fn cut(&self) {
        if let Some(acceptor) = self.acceptor.lock().await.take() {
            acceptor.abort();
            let _ = acceptor.await; // the listener is closed once the task is gone
        }
        self.up.send_replace(false);
    }

    async fn restore(self: &Arc<Proxy>) {
        self.up.send_replace(true);
        let socket = TcpSocket::new_v4().unwrap();
        socket.set_reuseaddr(true).unwrap();
        socket.bind(self.addr).unwrap();
        let listener = socket.listen(128).unwrap();
        *self.acceptor.lock().await = Some(tokio::spawn(self.clone().accept(listener)));
    }
}

fn config(dir: &std::path::Path) -> WriterConfig {
    let mut c = WriterConfig::new(dir);
    c.memory_records = 50;
    c.batch_records = 100;
    c.batch_interval = Duration::from_millis(20);
    c.retry_min = Duration::from_millis(50);
    c.retry_max = Duration::from_millis(500);
    c
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_ten_second_outage_loses_nothing_and_never_blocks_submit() {
    let Some(db) =
        TestDb::postgres("a_ten_second_outage_loses_nothing_and_never_blocks_submit").await
    else {
        return;
    };
    let proxy = Proxy::start(upstream_of(&db.url)).await;
    let store = Store::connect(&db.url_via(proxy.addr)).await.unwrap();
    let journal = tempfile::tempdir().unwrap();
    let writer = Writer::start(store.clone(), config(journal.path())).unwrap();

    for n in 0..100 {
        writer.submit(call("pbx1", n, "2001", "2002"));
    }
    writer.flush().await;
    assert_eq!(store.count().await.unwrap(), 100);

    proxy.cut().await;
    let outage = Instant::now();
    let mut slowest = Duration::ZERO;
    let mut n = 100;
    // ~10 s of traffic: 20 calls every 100 ms.
    while outage.elapsed() < Duration::from_secs(10) {
        for _ in 0..20 {
            let t = Instant::now();
            writer.submit(call("pbx1", n, "2001", "2002"));
            slowest = slowest.max(t.elapsed());
            n += 1;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    let submitted_during_outage = n - 100;
    // Every submission returned while the database was still unreachable.
    let b = writer.backlog();
    eprintln!("backlog at the end of the outage: {b:?}; slowest submit {slowest:?}");
    assert!(b.last_error.is_some(), "the writer saw the outage");
    assert!(b.consecutive_failures > 0);
    assert!(
        b.in_memory <= 50 + 100,
        "memory bound (plus one batch in flight) held"
    );
    assert_eq!(
        b.in_journal, submitted_during_outage as u64,
        "everything submitted during the outage is waiting, in the journal"
    );
    assert_eq!(b.waiting(), submitted_during_outage as u64);
    assert_eq!(b.durability, store::Durability::Durable);
    assert!(b.oldest_age.unwrap() >= Duration::from_secs(5));

    proxy.restore().await;
    tokio::time::timeout(Duration::from_secs(120), writer.flush())
        .await
        .expect("backlog drained after the database came back");
    assert_eq!(store.count().await.unwrap(), n as u64, "no call lost");
    let b = writer.backlog();
    assert_eq!((b.in_memory, b.in_journal), (0, 0));
    assert_eq!(b.last_error, None);
    let report = writer.shutdown().await;
    assert_eq!(report.left_in_journal, 0);
}

/// Shutdown while the database is away: after the grace period what is in memory goes to
/// the journal ahead of what is already there, and the next start writes it all — with the
/// later version of a call winning.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn shutdown_during_an_outage_journals_everything_for_the_next_start() {
    let Some(db) =
        TestDb::postgres("shutdown_during_an_outage_journals_everything_for_the_next_start").await
    else {
        return;
    };
    let proxy = Proxy::start(upstream_of(&db.url)).await;
    let store = Store::connect(&db.url_via(proxy.addr)).await.unwrap();
    let journal = tempfile::tempdir().unwrap();
    let mut c = config(journal.path());
    c.memory_records = 10;
    c.shutdown_grace = Duration::from_secs(1);
    let writer = Writer::start(store.clone(), c.clone()).unwrap();
    proxy.cut().await;
    let first = call("pbx1", 0, "2001", "2002");
    let mut last = first.clone();
    last.disposition = tracker::Disposition::Busy;
    writer.submit(first); // in memory
    for n in 1..30 {
        writer.submit(call("pbx1", n, "2001", "2002"));
    }
    writer.submit(last.clone()); // in the journal, after the first version
    let report = writer.shutdown().await;
    assert_eq!(report.left_in_journal, 31);
    assert!(report.last_error.is_some());

    proxy.restore().await;
    let writer = Writer::start(store.clone(), c).unwrap();
    assert_eq!(writer.backlog().in_journal, 31);
    tokio::time::timeout(Duration::from_secs(60), writer.flush())
        .await
        .unwrap();
    assert_eq!(store.count().await.unwrap(), 30);
    assert_eq!(store.get(&last.id).await.unwrap(), Some(last));
    writer.shutdown().await;
}

/// The database is unreachable when the service starts: `connect_lazy` gives a store all
/// the same, calls are buffered, and they are written (schema migrated first) once the
/// database answers.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_database_down_at_start_is_waited_for() {
    let Some(db) = TestDb::postgres("a_database_down_at_start_is_waited_for").await else {
        return;
    };
    let proxy = Proxy::start(upstream_of(&db.url)).await;
    proxy.cut().await;
    let url = db.url_via(proxy.addr);
    let err = Store::connect(&url).await.unwrap_err();
    assert!(matches!(err, store::StoreError::Connect { .. }), "{err}");
    let store = Store::connect_lazy(&url).unwrap();
    let journal = tempfile::tempdir().unwrap();
    let writer = Writer::start(store.clone(), config(journal.path())).unwrap();
    for n in 0..120 {
        writer.submit(call("pbx1", n, "2001", "2002"));
    }
    // Wait until the writer has tried and failed at least once.
    let deadline = Instant::now() + Duration::from_secs(30);
    while writer.backlog().last_error.is_none() {
        assert!(Instant::now() < deadline, "the writer never tried");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    assert_eq!(writer.backlog().in_journal, 120);
    assert_eq!(writer.backlog().waiting(), 120);
    proxy.restore().await;
    tokio::time::timeout(Duration::from_secs(60), writer.flush())
        .await
        .unwrap();
    assert_eq!(store.count().await.unwrap(), 120);
    writer.shutdown().await;
}
