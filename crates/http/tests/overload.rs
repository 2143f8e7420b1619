//! The API at its connection limit, over real TCP on loopback: a flood of keep-alive clients
//! on a slow route must not lock out the probes, an idle connection makes room for a new
//! one but one with a request in progress never does, the probe lane answers probes and
//! sheds the rest, and heads over the limits get JSON errors.

use http::{
    Backend, BackendError, ConnectionState, HistoryPage, HistoryQuery, Lag, Options, Readiness,
    ServeError, ServerStatus,
};
use serde_json::Value;
use std::io::{Read, Write};
use std::net::{Ipv4Addr, SocketAddr};
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering::SeqCst};
use std::sync::Arc;
use std::time::{Duration, Instant};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpSocket, TcpStream};
use tokio::sync::oneshot;

/// A backend whose history takes `history_delay`: the slow route of the flood.
struct Slow {
    history_delay: Duration,
}

impl Backend for Slow {
    type ActiveCall = Value;
    type Extension = Value;
    type Queue = Value;

    async fn servers(&self) -> Vec<ServerStatus> {
        vec![ServerStatus {
            name: "pbx1".into(),
            state: ConnectionState::Connected,
            since: None,
            asterisk_version: None,
            last_event_age_seconds: None,
            events_per_second: 0.0,
            reconnects: 0,
            ping_rtt_seconds: None,
            lag: Lag {
                queue_depth: 0,
                oldest_seconds: None,
            },
            database_backlog: 0,
            last_error: None,
        }]
    }

    async fn active_calls(&self) -> Vec<Value> {
        vec![]
    }

    async fn extensions(&self) -> Vec<Value> {
        vec![]
    }

    async fn queues(&self) -> Vec<Value> {
        vec![]
    }

    async fn history(&self, _query: HistoryQuery) -> Result<HistoryPage, BackendError> {
        tokio::time::sleep(self.history_delay).await;
        Ok(HistoryPage {
            calls: vec![],
            next_cursor: None,
        })
    }

    async fn call(&self, _id: String) -> Result<Option<tracker::CallRecord>, BackendError> {
        Ok(None)
    }

    async fn readiness(&self) -> Readiness {
        Readiness {
            ready: true,
            reasons: vec![],
        }
    }
}

/// A served API on 127.0.0.1:<free port>; stopped by [`Server::stop`].
struct Server {
    addr: SocketAddr,
    stop: Option<oneshot::Sender<()>>,
    task: Option<tokio::task::JoinHandle<Result<(), ServeError>>>,
}

impl Server {
    async fn start(history_delay: Duration, options: Options) -> Server {
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        let (stop, stopped) = oneshot::channel::<()>();
        let task = tokio::spawn(http::serve_on(
            listener,
            Arc::new(Slow { history_delay }),
            options,
            async move {
                let _ = stopped.await;
            },
        ));
        Server {
            addr,
            stop: Some(stop),
            task: Some(task),
        }
    }

    async fn stop(mut self) {
        let _ = self.stop.take().unwrap().send(());
        self.task.take().unwrap().await.unwrap().unwrap();
    }
}

/// One HTTP/1.1 response as read off the wire.
#[derive(Debug)]
struct Answer {
    status: u16,
    head: String,
    body: String,
}

impl Answer {
    fn header(&self, name: &str) -> Option<&str> {
        self.head.lines().skip(1).find_map(|line| {
            let (n, v) = line.split_once(':')?;
            n.trim().eq_ignore_ascii_case(name).then(|| v.trim())
        })
    }

    fn closes(&self) -> bool {
        self.header("connection")
            .is_some_and(|v| v.eq_ignore_ascii_case("close"))
    }

    fn json(&self) -> Value {
        serde_json::from_str(&self.body)
            .unwrap_or_else(|e| panic!("not JSON ({e}): {}\n{}", self.head, self.body))
    }
}

/// Reads one response (head and a `content-length` body) from `stream`, keeping bytes past
/// it in `buffer`. `None` if the connection ends first.
async fn read_answer(stream: &mut TcpStream, buffer: &mut Vec<u8>) -> Option<Answer> {
    let mut chunk = [0u8; 4096];
    let head_end = loop {
        if let Some(at) = buffer.windows(4).position(|w| w == b"\r\n\r\n") {
            break at + 4;
        }
        let n = stream.read(&mut chunk).await.ok()?;
        if n == 0 {
            return None;
        }
        buffer.extend_from_slice(&chunk[..n]);
    };
    let head = String::from_utf8_lossy(&buffer[..head_end]).into_owned();
    let status = head.get(9..12)?.parse().ok()?;
    let mut answer = Answer {
        status,
        head,
        body: String::new(),
    };
    let length: usize = answer.header("content-length")?.parse().ok()?;
    while buffer.len() < head_end + length {
        let n = stream.read(&mut chunk).await.ok()?;
        if n == 0 {
            return None;
        }
        buffer.extend_from_slice(&chunk[..n]);
    }
    answer.body = String::from_utf8_lossy(&buffer[head_end..head_end + length]).into_owned();
    buffer.drain(..head_end + length);
    Some(answer)
}

fn get(path: &str) -> Vec<u8> {
    format!("GET {path} HTTP/1.1\r\nHost: switchboard\r\n\r\n").into_bytes()
}

/// Sends `request` on `stream` and reads its answer.
async fn exchange(stream: &mut TcpStream, request: &[u8]) -> Option<Answer> {
    stream.write_all(request).await.ok()?;
    let mut buffer = Vec::new();
    tokio::time::timeout(Duration::from_secs(10), read_answer(stream, &mut buffer))
        .await
        .expect("no answer within 10 s")
}

/// Whether the server has closed `stream` (EOF or reset) within `wait`.
async fn closed_within(stream: &mut TcpStream, wait: Duration) -> bool {
    let mut byte = [0u8; 1];
    matches!(
        tokio::time::timeout(wait, stream.read(&mut byte)).await,
        Ok(Ok(0) | Err(_))
    )
}

/// The soft limit on open files raised to the hard one: the flood needs a few thousand.
fn raise_fd_limit() -> u64 {
    use rustix::process::{getrlimit, setrlimit, Resource};
    let limit = getrlimit(Resource::Nofile);
    let raised = rustix::process::Rlimit {
        current: limit.maximum,
        maximum: limit.maximum,
    };
    if setrlimit(Resource::Nofile, raised).is_ok() {
        limit.maximum.unwrap_or(u64::MAX)
    } else {
        limit.current.unwrap_or(u64::MAX)
    }
}

/// How the flood went, from its clients' side.
#[derive(Default)]
struct FloodCounts {
    connected: AtomicU64,
    ok: AtomicU64,
    shed: AtomicU64,
}

/// `clients` keep-alive clients, each asking `path` again as soon as it is answered and
/// reconnecting when closed, from source addresses spread over 127.0.0.2-127.0.0.65 (more
/// source ports than one address has), on a thread and runtime of their own; runs until
/// `stop`. Run in a process of its own by [`Flood`].
fn flood(
    addr: SocketAddr,
    clients: usize,
    path: &'static str,
    stop: Arc<AtomicBool>,
    counts: Arc<FloodCounts>,
) -> std::thread::JoinHandle<()> {
    std::thread::spawn(move || {
        let runtime = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .unwrap();
        runtime.block_on(async move {
            let mut tasks = Vec::new();
            for i in 0..clients {
                let (stop, counts) = (stop.clone(), counts.clone());
                tasks.push(tokio::spawn(async move {
                    let source = Ipv4Addr::new(127, 0, 0, 2 + (i % 64) as u8);
                    let mut first = true;
                    while !stop.load(SeqCst) {
                        let Some(mut stream) = connect_from(source, addr).await else {
                            tokio::time::sleep(Duration::from_millis(50)).await;
                            continue;
                        };
                        if std::mem::take(&mut first) {
                            counts.connected.fetch_add(1, SeqCst);
                        }
                        let mut buffer = Vec::new();
                        while !stop.load(SeqCst) {
                            if stream.write_all(&get(path)).await.is_err() {
                                break;
                            }
                            let Some(answer) = read_answer(&mut stream, &mut buffer).await else {
                                break;
                            };
                            if answer.status == 200 {
                                counts.ok.fetch_add(1, SeqCst);
                            } else {
                                counts.shed.fetch_add(1, SeqCst);
                                // As a client honouring Retry-After would, if briefly.
                                tokio::time::sleep(Duration::from_millis(20)).await;
                            }
                            if answer.closes() {
                                break;
                            }
                        }
                    }
                }));
            }
            for task in tasks {
                let _ = task.await;
            }
        });
    })
}

async fn connect_from(source: Ipv4Addr, addr: SocketAddr) -> Option<TcpStream> {
    let socket = TcpSocket::new_v4().ok()?;
    socket.bind(SocketAddr::from((source, 0))).ok()?;
    tokio::time::timeout(Duration::from_secs(5), socket.connect(addr))
        .await
        .ok()?
        .ok()
}

/// What `curl -m3 /health` attempts saw, one after another, until one got 200 or
/// `deadline` passed; on a plain thread with blocking sockets, outside both runtimes.
#[derive(Debug, Default)]
struct Probes {
    attempts: u32,
    answered_200: u32,
    other_answers: Vec<String>,
    timeouts_or_errors: u32,
    latencies: Vec<Duration>,
}

fn probe_health(addr: SocketAddr, deadline: Duration, stop_on_200: bool, max: u32) -> Probes {
    let start = Instant::now();
    let mut probes = Probes::default();
    while start.elapsed() < deadline && probes.attempts < max {
        probes.attempts += 1;
        let began = Instant::now();
        match probe_once(addr) {
            Ok(answer) if answer.starts_with("HTTP/1.1 200") => {
                probes.answered_200 += 1;
                probes.latencies.push(began.elapsed());
                if stop_on_200 {
                    break;
                }
            }
            Ok(answer) => {
                probes
                    .other_answers
                    .push(answer.lines().next().unwrap_or("").to_string());
                std::thread::sleep(Duration::from_millis(50));
            }
            Err(_) => probes.timeouts_or_errors += 1,
        }
    }
    probes
}

/// One `GET /health` with curl's `-m3`: 3 s for the whole exchange.
fn probe_once(addr: SocketAddr) -> std::io::Result<String> {
    let timeout = Duration::from_secs(3);
    let start = Instant::now();
    let mut stream = std::net::TcpStream::connect_timeout(&addr, timeout)?;
    stream.set_write_timeout(Some(timeout))?;
    stream.write_all(b"GET /health HTTP/1.1\r\nHost: probe\r\nConnection: close\r\n\r\n")?;
    let mut answer = Vec::new();
    let mut chunk = [0u8; 1024];
    loop {
        let left = timeout.saturating_sub(start.elapsed());
        if left.is_zero() {
            return Err(std::io::ErrorKind::TimedOut.into());
        }
        stream.set_read_timeout(Some(left))?;
        match stream.read(&mut chunk) {
            Ok(0) => break,
            Ok(n) => answer.extend_from_slice(&chunk[..n]),
            Err(e) if answer.is_empty() => return Err(e),
            Err(_) => break,
        }
    }
    Ok(String::from_utf8_lossy(&answer).into_owned())
}

const FLOOD_CLIENTS: usize = 2_000;

/// Set for the child process that runs the flood: the server's address.
const FLOOD_ADDR_ENV: &str = "SWITCHBOARD_TEST_FLOOD_ADDR";
const FLOOD_CLIENTS_ENV: &str = "SWITCHBOARD_TEST_FLOOD_CLIENTS";

/// Not a test of its own: the flood's client process, which [`Flood::start`] runs as this
/// test binary with `--ignored --exact flood_process`. Prints `connected N` once its clients
/// are connected, floods until its stdin closes, then prints `counts OK SHED SECONDS` (since
/// `connected`).
#[test]
#[ignore]
fn flood_process() {
    let Ok(addr) = std::env::var(FLOOD_ADDR_ENV) else {
        return;
    };
    let addr: SocketAddr = addr.parse().unwrap();
    let clients: usize = std::env::var(FLOOD_CLIENTS_ENV).unwrap().parse().unwrap();
    raise_fd_limit();
    let stop = Arc::new(AtomicBool::new(false));
    let counts = Arc::new(FloodCounts::default());
    let flood = flood(
        addr,
        clients,
        "/api/calls/history",
        stop.clone(),
        counts.clone(),
    );
    let wait = Instant::now();
    while counts.connected.load(SeqCst) < clients as u64 && wait.elapsed() < Duration::from_secs(10)
    {
        std::thread::sleep(Duration::from_millis(20));
    }
    let began = Instant::now();
    let (ok_before, shed_before) = (counts.ok.load(SeqCst), counts.shed.load(SeqCst));
    println!("connected {}", counts.connected.load(SeqCst));
    let _ = std::io::stdin().read_to_end(&mut Vec::new());
    let seconds = began.elapsed().as_secs_f64();
    let ok = counts.ok.load(SeqCst) - ok_before;
    let shed = counts.shed.load(SeqCst) - shed_before;
    stop.store(true, SeqCst);
    flood.join().unwrap();
    println!("counts {ok} {shed} {seconds}");
}

/// A flood from a separate process: its own descriptors, runtime and CPU time, as real
/// clients would be.
struct Flood {
    child: std::process::Child,
    stdout: std::io::BufReader<std::process::ChildStdout>,
    clients: usize,
    connected: u64,
}

/// What the flood's clients saw.
#[derive(Debug)]
struct FloodReport {
    clients: usize,
    connected: u64,
    ok: u64,
    shed: u64,
    seconds: f64,
}

impl Flood {
    /// Starts `clients` clients on `addr`; returns once they are connected (or 10 s).
    fn start(addr: SocketAddr, clients: usize) -> Flood {
        let mut child = std::process::Command::new(std::env::current_exe().unwrap())
            .args(["--ignored", "--exact", "flood_process", "--nocapture"])
            .env(FLOOD_ADDR_ENV, addr.to_string())
            .env(FLOOD_CLIENTS_ENV, clients.to_string())
            .stdin(std::process::Stdio::piped())
            .stdout(std::process::Stdio::piped())
            .spawn()
            .unwrap();
        let stdout = std::io::BufReader::new(child.stdout.take().unwrap());
        let mut flood = Flood {
            child,
            stdout,
            clients,
            connected: 0,
        };
        let line = flood.line("connected ");
        flood.connected = line.trim().parse().unwrap();
        flood
    }

    /// The rest of the first line of the child's output that starts with `prefix`.
    fn line(&mut self, prefix: &str) -> String {
        use std::io::BufRead;
        let mut line = String::new();
        loop {
            line.clear();
            let read = self.stdout.read_line(&mut line).unwrap();
            assert!(read > 0, "the flood process ended without '{prefix}'");
            if let Some(rest) = line.strip_prefix(prefix) {
                return rest.to_string();
            }
        }
    }

    /// Stops the flood (closing its stdin) and reports.
    fn finish(mut self) -> FloodReport {
        drop(self.child.stdin.take());
        let counts = self.line("counts ");
        let status = self.child.wait().unwrap();
        assert!(status.success(), "the flood process failed: {status}");
        let mut fields = counts.split_whitespace();
        let mut next = || fields.next().unwrap().to_string();
        FloodReport {
            clients: self.clients,
            connected: self.connected,
            ok: next().parse().unwrap(),
            shed: next().parse().unwrap(),
            seconds: next().parse().unwrap(),
        }
    }
}

/// The flood's size: the issue's 2,000, within the limit on open files.
fn flood_clients() -> usize {
    let fd_limit = raise_fd_limit();
    FLOOD_CLIENTS.min(
        usize::try_from(fd_limit)
            .unwrap_or(usize::MAX)
            .saturating_sub(200),
    )
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_flood_of_keep_alive_clients_does_not_lock_out_health() {
    let clients = flood_clients();
    let server = Server::start(Duration::from_millis(50), Options::default()).await;
    let addr = server.addr;
    let flood = tokio::task::spawn_blocking(move || Flood::start(addr, clients))
        .await
        .unwrap();
    // The slots all busy, the rest of the flood shed and coming back.
    tokio::time::sleep(Duration::from_millis(500)).await;
    let probes =
        tokio::task::spawn_blocking(move || probe_health(addr, Duration::from_secs(10), true, 100))
            .await
            .unwrap();
    let report = tokio::task::spawn_blocking(move || flood.finish())
        .await
        .unwrap();
    server.stop().await;
    println!(
        "{} clients ({} connected): {} answered 200, {} shed in {:.1} s; /health probes: \
         {probes:?}",
        report.clients, report.connected, report.ok, report.shed, report.seconds
    );
    // Else there was no flood to survive.
    assert!(
        report.connected > 256 + 16,
        "the flood never went over the connection limit: {report:?}"
    );
    assert_eq!(
        probes.answered_200, 1,
        "/health was never answered 200 within 10 s under a flood of {clients} keep-alive \
         clients: {probes:?}"
    );
    // The flood itself was served too, not just shed.
    assert!(report.ok > 0, "no flood request was answered: {report:?}");
}

#[tokio::test]
async fn a_connection_with_a_request_in_progress_is_never_evicted_for_a_new_one() {
    let options = Options {
        max_connections: 2,
        ..Options::default()
    };
    let server = Server::start(Duration::from_secs(3), options).await;
    // Slot 1: a slow request in progress. Slot 2: the head of a request half sent.
    let mut busy = TcpStream::connect(server.addr).await.unwrap();
    busy.write_all(&get("/api/calls/history")).await.unwrap();
    let mut half = TcpStream::connect(server.addr).await.unwrap();
    half.write_all(b"GET /health HTTP/1.1\r\nHost: sw")
        .await
        .unwrap();
    // Both long enough in their slots to be evictable if they were at rest.
    tokio::time::sleep(Duration::from_millis(1_500)).await;

    // The newcomer gets the probe lane, not a slot: /health yes, the API no, then closed.
    let mut newcomer = TcpStream::connect(server.addr).await.unwrap();
    let answer = exchange(&mut newcomer, &get("/health")).await.unwrap();
    assert_eq!(answer.status, 200, "{answer:?}");
    assert!(
        answer.closes(),
        "the probe lane keeps no connection: {answer:?}"
    );
    let mut newcomer = TcpStream::connect(server.addr).await.unwrap();
    let answer = exchange(&mut newcomer, &get("/api/servers")).await.unwrap();
    assert_eq!(answer.status, 503, "{answer:?}");
    assert_eq!(answer.header("retry-after"), Some("1"), "{answer:?}");
    assert!(answer.closes(), "{answer:?}");
    let message = answer.json()["error"].as_str().unwrap().to_string();
    assert!(message.contains("/health"), "{message}");
    let mut newcomer = TcpStream::connect(server.addr).await.unwrap();
    let answer = exchange(&mut newcomer, &get("/ready")).await.unwrap();
    assert_eq!(answer.status, 200, "{answer:?}");

    // Neither was closed for them: the slow request is answered, the half head completes.
    let mut buffer = Vec::new();
    let answer = tokio::time::timeout(Duration::from_secs(10), read_answer(&mut busy, &mut buffer))
        .await
        .unwrap()
        .expect("the connection with a request in progress was closed");
    assert_eq!(answer.status, 200, "{answer:?}");
    let answer = exchange(&mut half, b"itchboard\r\n\r\n")
        .await
        .expect("the connection with a half-sent request was closed");
    assert_eq!(answer.status, 200, "{answer:?}");
    assert!(!answer.closes());
    server.stop().await;
}

#[tokio::test]
async fn an_idle_keep_alive_connection_makes_room_for_a_new_one() {
    let options = Options {
        max_connections: 1,
        ..Options::default()
    };
    let server = Server::start(Duration::ZERO, options).await;
    let mut idle = TcpStream::connect(server.addr).await.unwrap();
    let answer = exchange(&mut idle, &get("/api/servers")).await.unwrap();
    let answered = Instant::now();
    assert_eq!(answer.status, 200);
    assert!(!answer.closes());

    // Just answered: not evicted (its next request may be on the way); the newcomer gets
    // the probe lane. (Unless this machine stalled for the second of rest.)
    let mut early = TcpStream::connect(server.addr).await.unwrap();
    let answer = exchange(&mut early, &get("/api/servers")).await.unwrap();
    if answered.elapsed() < Duration::from_millis(800) {
        assert_eq!(answer.status, 503, "{answer:?}");
    }

    // At rest for over a second: the newcomer takes its slot and is fully served, kept
    // alive; the idle one is closed.
    tokio::time::sleep(Duration::from_millis(1_200)).await;
    let mut newcomer = TcpStream::connect(server.addr).await.unwrap();
    let answer = exchange(&mut newcomer, &get("/api/servers")).await.unwrap();
    assert_eq!(answer.status, 200, "{answer:?}");
    assert!(!answer.closes(), "{answer:?}");
    assert!(closed_within(&mut idle, Duration::from_secs(5)).await);
    let answer = exchange(&mut newcomer, &get("/api/extensions"))
        .await
        .unwrap();
    assert_eq!(answer.status, 200, "{answer:?}");
    server.stop().await;
}

#[tokio::test]
async fn a_full_probe_lane_does_not_leave_connections_waiting_and_recovers() {
    let options = Options {
        max_connections: 1,
        ..Options::default()
    };
    let server = Server::start(Duration::from_secs(30), options).await;
    let mut busy = TcpStream::connect(server.addr).await.unwrap();
    busy.write_all(&get("/api/calls/history")).await.unwrap();
    tokio::time::sleep(Duration::from_millis(100)).await;
    // Silent clients fill the probe lane (16 places).
    let mut silent = Vec::new();
    for _ in 0..16 {
        silent.push(TcpStream::connect(server.addr).await.unwrap());
    }
    tokio::time::sleep(Duration::from_millis(100)).await;
    // One more: answered 503 at once, not queued.
    let mut over = TcpStream::connect(server.addr).await.unwrap();
    let mut buffer = Vec::new();
    let answer = tokio::time::timeout(Duration::from_secs(1), read_answer(&mut over, &mut buffer))
        .await
        .expect("a connection over the probe lane was left waiting")
        .expect("closed without an answer");
    assert_eq!(answer.status, 503, "{answer:?}");
    assert_eq!(answer.header("retry-after"), Some("1"));
    assert!(answer.json()["error"].is_string());
    // The lane's header deadline (2 s) frees it of silent clients: /health again.
    for stream in &mut silent {
        assert!(closed_within(stream, Duration::from_secs(5)).await);
    }
    let mut probe = TcpStream::connect(server.addr).await.unwrap();
    let answer = exchange(&mut probe, &get("/health")).await.unwrap();
    assert_eq!(answer.status, 200, "{answer:?}");
    drop(busy);
    server.stop().await;
}

#[tokio::test]
async fn clients_slow_to_speak_do_not_crowd_out_a_probe_when_the_lane_is_full() {
    let options = Options {
        max_connections: 1,
        ..Options::default()
    };
    let server = Server::start(Duration::from_secs(30), options).await;
    let mut busy = TcpStream::connect(server.addr).await.unwrap();
    busy.write_all(&get("/api/calls/history")).await.unwrap();
    tokio::time::sleep(Duration::from_millis(100)).await;
    // The probe lane and then the accept loop's waiting places, full of silent clients.
    let mut silent = Vec::new();
    for _ in 0..16 + 200 {
        silent.push(TcpStream::connect(server.addr).await.unwrap());
    }
    // All accepted and waited on (200 ms each) before the probe comes.
    tokio::time::sleep(Duration::from_millis(50)).await;
    // A probe accepted before its request arrives, which it sends a moment later.
    let mut probe = TcpStream::connect(server.addr).await.unwrap();
    tokio::time::sleep(Duration::from_millis(20)).await;
    let answer = exchange(&mut probe, &get("/health")).await.unwrap();
    assert_eq!(answer.status, 200, "{answer:?}");
    assert_eq!(answer.body, r#"{"status":"alive"}"#);
    assert!(answer.closes(), "{answer:?}");
    drop(busy);
    server.stop().await;
}

#[tokio::test]
async fn heads_over_the_limits_get_json_errors_not_empty_bodies() {
    let server = Server::start(Duration::ZERO, Options::default()).await;
    let long = format!("/api/calls/history?number={}", "1".repeat(9_000));
    let mut stream = TcpStream::connect(server.addr).await.unwrap();
    let answer = exchange(&mut stream, &get(&long)).await.unwrap();
    assert_eq!(answer.status, 414, "{answer:?}");
    let message = answer.json()["error"].as_str().unwrap().to_string();
    assert!(message.contains("8192"), "{message}");

    let mut stream = TcpStream::connect(server.addr).await.unwrap();
    let request = format!(
        "GET /health HTTP/1.1\r\nHost: x\r\nCookie: {}\r\n\r\n",
        "c".repeat(40_000)
    );
    let answer = exchange(&mut stream, request.as_bytes()).await.unwrap();
    assert_eq!(answer.status, 431, "{answer:?}");
    let message = answer.json()["error"].as_str().unwrap().to_string();
    assert!(message.contains("32768"), "{message}");

    // Past hyper's buffer (64 KiB) hyper answers by itself, with a bare 431, and closes
    // with the rest of the head unread: the reset may beat the answer to the client.
    let mut stream = TcpStream::connect(server.addr).await.unwrap();
    let request = format!(
        "GET /health HTTP/1.1\r\nHost: x\r\nCookie: {}\r\n\r\n",
        "c".repeat(300_000)
    );
    if let Some(answer) = exchange(&mut stream, request.as_bytes()).await {
        assert_eq!(answer.status, 431, "{answer:?}");
    }
    // Bytes that are not HTTP: hyper's bare 400 (it has no hook for a body), then close.
    let mut stream = TcpStream::connect(server.addr).await.unwrap();
    let answer = exchange(&mut stream, b"NOT HTTP AT ALL\r\n\r\n")
        .await
        .unwrap();
    assert_eq!(answer.status, 400, "{answer:?}");
    assert!(answer.closes(), "{answer:?}");
    server.stop().await;
}

/// `/health` latency, one fresh connection per probe as curl or a kubelet would, without a
/// flood and then under one, in the same run: prints p50 / p99 and the ratio. A figure,
/// not an assertion: `cargo test --release -p switchboard-http --test overload -- --ignored
/// --nocapture`.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[ignore]
async fn figure_health_latency_under_a_flood() {
    let clients = flood_clients();
    let server = Server::start(Duration::from_millis(50), Options::default()).await;
    let addr = server.addr;
    let sample = move || {
        tokio::task::spawn_blocking(move || {
            let mut latencies = Vec::new();
            let (mut canned, mut served, mut failed) = (0, 0, 0);
            for _ in 0..500 {
                let began = Instant::now();
                match probe_once(addr) {
                    Ok(answer) if answer.starts_with("HTTP/1.1 200") => {
                        latencies.push(began.elapsed());
                        // The accept loop's own answer carries no date header.
                        if answer.contains("\r\ndate: ") {
                            served += 1;
                        } else {
                            canned += 1;
                        }
                    }
                    Ok(answer) => {
                        failed += 1;
                        eprintln!(
                            "not 200: {} (date: {})",
                            answer.lines().next().unwrap_or("(nothing)"),
                            answer.contains("\r\ndate: ")
                        );
                    }
                    Err(e) => {
                        failed += 1;
                        eprintln!("not 200: {e}");
                    }
                }
            }
            latencies.sort();
            (latencies, served, canned, failed)
        })
    };
    let quantile = |sorted: &[Duration], q: f64| -> Duration {
        sorted
            .get(((sorted.len() as f64 - 1.0) * q).round() as usize)
            .copied()
            .unwrap_or_default()
    };
    let (quiet, ..) = sample().await.unwrap();

    let flood = tokio::task::spawn_blocking(move || Flood::start(addr, clients))
        .await
        .unwrap();
    tokio::time::sleep(Duration::from_millis(500)).await;
    let (loud, served, canned, failed) = sample().await.unwrap();
    let report = tokio::task::spawn_blocking(move || flood.finish())
        .await
        .unwrap();
    let flood_rate = report.ok as f64 / report.seconds;
    server.stop().await;

    let (q50, q99) = (quantile(&quiet, 0.5), quantile(&quiet, 0.99));
    let (l50, l99) = (quantile(&loud, 0.5), quantile(&loud, 0.99));
    println!(
        "/health, 500 probes each: quiet p50 {q50:?} p99 {q99:?}; under {clients} keep-alive \
         clients on a 50 ms route ({flood_rate:.0} flood answers/s) p50 {l50:?} p99 {l99:?} \
         (x{:.1} / x{:.1}); under flood {served} served by a connection, {canned} by the \
         accept loop, {failed} not answered 200",
        l50.as_secs_f64() / q50.as_secs_f64(),
        l99.as_secs_f64() / q99.as_secs_f64(),
    );
}
