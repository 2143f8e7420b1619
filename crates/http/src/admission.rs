//! What happens at the connection limit.
//!
//! Waiting for a free slot before accepting (as `axum::serve` and this crate once did)
//! leaves every further client in the kernel's accept queue: 256 keep-alive clients then
//! lock out the whole API, `/health` included, and an orchestrator restarts a healthy
//! process. So the accept loop never waits. A connection over `max_connections` is, in
//! order of preference:
//!
//! 1. given the slot of the connection that has rested longest between requests, if one has
//!    rested for [`EVICTABLE_AFTER`]: closing a kept-alive connection at rest costs its
//!    client a reconnect but no answer, so a connection with a request in progress, or with
//!    request bytes not yet answered, is never chosen;
//! 2. else served on the probe lane, [`PROBE_LANE`] connections more, one request each, that
//!    answers only the probe routes (`/health`, `/ready`) and everything else with 503,
//!    `Retry-After` and a JSON error;
//! 3. else (the lane full too) answered by the accept loop itself from the first bytes of
//!    its request (waited for briefly, see [`PEEK_LANE`]): `/health` with 200, anything
//!    else with that 503; then closed.
//!
//! Every connection the server holds is a file descriptor, and running out of them breaks
//! more than HTTP (the database, the journal, the PBX connections), so the total is kept
//! under the process's soft limit on open files ([`connection_limit`]).

use crate::error::ApiError;
use crate::routes::ROUTES;
use axum::extract::Request;
use axum::http::{header, HeaderValue, Method, StatusCode};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use std::collections::{HashMap, VecDeque};
use std::future::Future;
use std::pin::Pin;
use std::sync::atomic::{AtomicBool, AtomicU64, AtomicUsize, Ordering::SeqCst};
use std::sync::{Arc, Mutex, OnceLock};
use std::time::{Duration, Instant};
use tokio::net::TcpStream;
use tokio::sync::{Notify, OwnedSemaphorePermit, Semaphore};

/// Connections served beyond `max_connections` for the probes alone.
pub const PROBE_LANE: usize = 16;

/// How long a connection must have rested between requests before a new one may take its
/// slot. A connection that has just been answered is likely to carry its client's next
/// request any moment; closing it then would race that request.
pub const EVICTABLE_AFTER: Duration = Duration::from_secs(1);

/// File descriptors left to the rest of the process (database connections, the journal,
/// PBX connections, the listening socket, the runtime's own, the one a refused connection
/// holds for an instant) when the connection limit is fitted under the soft limit.
const RESERVED_FDS: u64 = 64;

/// How long a connection that took an idle one's slot waits for that connection to close
/// before it is served on the probe lane instead.
const EVICTION_WAIT: Duration = Duration::from_secs(1);

/// Connections over the probe lane whose request has not arrived when accepted, waited for
/// at once (each for at most [`PEEK_WAIT`], or until displaced by a newer one) so that
/// `/health` can still be told apart. Twice this many hold a socket at most: displaced ones
/// close as soon as their task runs.
pub const PEEK_LANE: usize = 64;

/// How long such a connection's request is waited for.
const PEEK_WAIT: Duration = Duration::from_millis(200);

/// Header deadline on the probe lane: a probe sends its request at once, and a client that
/// does not must not hold one of its few places for long.
pub const LANE_HEADER_TIMEOUT: Duration = Duration::from_secs(2);

/// At most one warning about shedding per this long, with the counts since the last one.
const SHED_LOG_INTERVAL: Duration = Duration::from_secs(60);

/// The Retry-After of the 503s: a second, long enough for a slot to come free.
const RETRY_AFTER_SECONDS: u64 = 1;

const OVERLOADED: &str = "the API is serving as many connections as it may; only /health and \
                          /ready are answered right now, retry later";

/// `max_connections` fitted under the soft limit on open files, with the probe lane, the
/// connections being refused and [`RESERVED_FDS`] beside it (never below one).
pub fn connection_limit(max_connections: usize, fd_soft_limit: Option<u64>) -> usize {
    let wanted = max_connections.max(1);
    let Some(soft) = fd_soft_limit else {
        return wanted;
    };
    let room = soft.saturating_sub(RESERVED_FDS + (PROBE_LANE + 2 * PEEK_LANE) as u64);
    let room = usize::try_from(room).unwrap_or(usize::MAX).max(1);
    wanted.min(room)
}

/// The process's soft limit on open files, `None` when unlimited or unknown.
pub fn fd_soft_limit() -> Option<u64> {
    #[cfg(unix)]
    {
        rustix::process::getrlimit(rustix::process::Resource::Nofile).current
    }
    #[cfg(not(unix))]
    {
        None
    }
}

/// Where the accept loop puts a new connection.
pub enum Admit {
    /// A free slot.
    Full(OwnedSemaphorePermit),
    /// An idle connection was told to close; wait for its slot, holding a lane place
    /// meanwhile (so waiting connections count against the bound too).
    AfterEviction(OwnedSemaphorePermit),
    /// The probe lane.
    Lane(OwnedSemaphorePermit),
    /// Nowhere: [`Admission::refuse`] answers (`/health` 200, else 503) and closes.
    Refuse,
}

/// The slots, the lane, and who holds them.
pub struct Admission {
    max_connections: usize,
    full: Arc<Semaphore>,
    lane: Arc<Semaphore>,
    peek: Arc<Semaphore>,
    /// The connections waiting in [`Admission::refuse`], oldest first.
    peeks: Mutex<VecDeque<(u64, Arc<Notify>)>>,
    slots: Mutex<HashMap<u64, Arc<Slot>>>,
    next_id: AtomicU64,
    epoch: Instant,
    shed: Mutex<ShedLog>,
}

#[derive(Default)]
struct ShedLog {
    last: Option<Instant>,
    evicted: u64,
    lane: u64,
    refused: u64,
}

impl Admission {
    pub fn new(max_connections: usize) -> Admission {
        Admission {
            max_connections: max_connections.max(1),
            full: Arc::new(Semaphore::new(max_connections.max(1))),
            lane: Arc::new(Semaphore::new(PROBE_LANE)),
            peek: Arc::new(Semaphore::new(2 * PEEK_LANE)),
            peeks: Mutex::new(VecDeque::new()),
            slots: Mutex::new(HashMap::new()),
            next_id: AtomicU64::new(0),
            epoch: Instant::now(),
            shed: Mutex::new(ShedLog::default()),
        }
    }

    /// Decides at once, never waits.
    pub fn admit(&self) -> Admit {
        if let Ok(permit) = self.full.clone().try_acquire_owned() {
            return Admit::Full(permit);
        }
        let Ok(lane) = self.lane.clone().try_acquire_owned() else {
            self.shedding(|log| log.refused += 1);
            return Admit::Refuse;
        };
        if self.evict_one() {
            self.shedding(|log| log.evicted += 1);
            Admit::AfterEviction(lane)
        } else {
            self.shedding(|log| log.lane += 1);
            Admit::Lane(lane)
        }
    }

    /// A slot for a connection that evicted another, if it comes free in time.
    pub async fn slot_after_eviction(&self) -> Option<OwnedSemaphorePermit> {
        // The semaphore hands a released permit to waiters before `try_acquire`, so the
        // slot of the evicted connection comes here, not to the next connection accepted.
        tokio::time::timeout(EVICTION_WAIT, self.full.clone().acquire_owned())
            .await
            .ok()?
            .ok()
    }

    /// Registers a connection served in a slot; it leaves the registry when the returned
    /// handle is dropped.
    pub fn register(self: &Arc<Self>) -> Registered {
        let id = self.next_id.fetch_add(1, SeqCst);
        let slot = self.unregistered();
        self.lock_slots().insert(id, slot.clone());
        Registered {
            admission: self.clone(),
            id,
            slot,
        }
    }

    /// The state of a connection that no other may evict (one on the probe lane).
    pub fn unregistered(&self) -> Arc<Slot> {
        Arc::new(Slot {
            epoch: self.epoch,
            in_flight: AtomicUsize::new(0),
            reads: AtomicU64::new(0),
            reads_at_rest: AtomicU64::new(0),
            rest_since_ms: AtomicU64::new(millis_since(self.epoch)),
            evicting: AtomicBool::new(false),
            evict: Notify::new(),
        })
    }

    /// Tells the connection that has rested longest (at least [`EVICTABLE_AFTER`]) to close.
    fn evict_one(&self) -> bool {
        let now = millis_since(self.epoch);
        let min_rest = EVICTABLE_AFTER.as_millis() as u64;
        let slots = self.lock_slots();
        let oldest = slots
            .values()
            .filter_map(|slot| slot.at_rest_since().map(|since| (since, slot)))
            .filter(|(since, _)| now.saturating_sub(*since) >= min_rest)
            .min_by_key(|(since, _)| *since);
        match oldest {
            Some((_, slot)) if !slot.evicting.swap(true, SeqCst) => {
                slot.evict.notify_one();
                true
            }
            _ => false,
        }
    }

    fn lock_slots(&self) -> std::sync::MutexGuard<'_, HashMap<u64, Arc<Slot>>> {
        // A panic elsewhere while holding the lock leaves the map itself intact.
        self.slots.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// Counts a connection over the limit, and warns when shedding starts (then at most
    /// once per [`SHED_LOG_INTERVAL`]).
    fn shedding(&self, count: impl FnOnce(&mut ShedLog)) {
        let mut log = self.shed.lock().unwrap_or_else(|e| e.into_inner());
        count(&mut log);
        let now = Instant::now();
        if log
            .last
            .is_some_and(|last| now.duration_since(last) < SHED_LOG_INTERVAL)
        {
            return;
        }
        tracing::warn!(
            max_connections = self.max_connections,
            idle_evicted = log.evicted,
            probe_lane = log.lane,
            refused = log.refused,
            "HTTP API at its connection limit: closing idle connections for new ones, \
             answering only /health and /ready on the rest"
        );
        *log = ShedLog {
            last: Some(now),
            ..ShedLog::default()
        };
    }
}

fn millis_since(epoch: Instant) -> u64 {
    u64::try_from(epoch.elapsed().as_millis()).unwrap_or(u64::MAX)
}

/// What the accept loop knows of a connection in a slot: whether it is at rest between
/// requests, and how to tell it to close.
pub struct Slot {
    epoch: Instant,
    /// Requests handed to the router and not answered yet.
    in_flight: AtomicUsize,
    /// Reads that brought bytes from the client.
    reads: AtomicU64,
    /// `reads` when the last answer was handed to hyper (0 at accept): more reads since then
    /// mean a request has started arriving.
    reads_at_rest: AtomicU64,
    rest_since_ms: AtomicU64,
    evicting: AtomicBool,
    evict: Notify,
}

impl Slot {
    /// Since when the connection has been at rest: no request in progress and no byte of a
    /// next one received.
    fn at_rest_since(&self) -> Option<u64> {
        let idle = self.in_flight.load(SeqCst) == 0
            && self.reads.load(SeqCst) == self.reads_at_rest.load(SeqCst)
            && !self.evicting.load(SeqCst);
        idle.then(|| self.rest_since_ms.load(SeqCst))
    }

    /// Bytes arrived from the client.
    pub fn read(&self) {
        self.reads.fetch_add(1, SeqCst);
    }

    /// Resolves when the accept loop wants this connection's slot.
    pub async fn evicted(&self) {
        self.evict.notified().await;
    }

    fn start(&self) {
        self.in_flight.fetch_add(1, SeqCst);
    }

    fn answered(&self) {
        // Rest fields first: with `in_flight` still counting this request, no reader can
        // see the connection at rest with stale ones. A pipelined request already read
        // with this one's bytes is not seen (clients do not pipeline).
        self.reads_at_rest.store(self.reads.load(SeqCst), SeqCst);
        self.rest_since_ms.store(millis_since(self.epoch), SeqCst);
        self.in_flight.fetch_sub(1, SeqCst);
    }
}

/// A connection's place in the registry, for as long as it is served.
pub struct Registered {
    admission: Arc<Admission>,
    id: u64,
    pub slot: Arc<Slot>,
}

impl Drop for Registered {
    fn drop(&mut self) {
        self.admission.lock_slots().remove(&self.id);
    }
}

/// The router's service, counting the requests of one connection in progress.
#[derive(Clone)]
pub struct Tracked<S> {
    pub inner: S,
    pub slot: Arc<Slot>,
}

/// Marks a request answered when dropped: also when hyper drops it half-way (client gone).
struct InFlight(Arc<Slot>);

impl Drop for InFlight {
    fn drop(&mut self) {
        self.0.answered();
    }
}

impl<S, R> hyper::service::Service<R> for Tracked<S>
where
    S: hyper::service::Service<R>,
    S::Future: Send + 'static,
{
    type Response = S::Response;
    type Error = S::Error;
    type Future = Pin<Box<dyn Future<Output = Result<S::Response, S::Error>> + Send>>;

    fn call(&self, request: R) -> Self::Future {
        self.slot.start();
        let in_flight = InFlight(self.slot.clone());
        let answer = self.inner.call(request);
        Box::pin(async move {
            let answer = answer.await;
            drop(in_flight);
            answer
        })
    }
}

/// The probe lane's gate: probes go on to the router, anything else gets 503.
pub async fn probes_only(request: Request, next: Next) -> Response {
    let probe = matches!(*request.method(), Method::GET | Method::HEAD)
        && ROUTES
            .iter()
            .any(|route| route.is_probe() && route.path == request.uri().path());
    if probe {
        return next.run(request).await;
    }
    let mut response = ApiError {
        status: StatusCode::SERVICE_UNAVAILABLE,
        message: OVERLOADED.to_string(),
    }
    .into_response();
    response
        .headers_mut()
        .insert(header::RETRY_AFTER, HeaderValue::from(RETRY_AFTER_SECONDS));
    response
}

/// The answer to a connection there is no room for, from the first bytes of its request:
/// `/health` gets 200, anything else 503, without reading further. Liveness must not depend
/// on winning a race for the probe lane; that the accept loop answers is what `/health`
/// says, the process serves HTTP.
fn refusal(request: &[u8]) -> &'static [u8] {
    static REFUSAL: OnceLock<Vec<u8>> = OnceLock::new();
    static ALIVE: OnceLock<Vec<u8>> = OnceLock::new();
    match health_request(request) {
        Some(head_only) => {
            let alive =
                ALIVE.get_or_init(|| canned("200 OK", "", crate::routes::HEALTH_BODY).into_bytes());
            if head_only {
                let body_at = alive.len() - crate::routes::HEALTH_BODY.len();
                &alive[..body_at]
            } else {
                &alive[..]
            }
        }
        None => REFUSAL.get_or_init(|| {
            let body = serde_json::json!({ "error": OVERLOADED }).to_string();
            let retry = format!("retry-after: {RETRY_AFTER_SECONDS}\r\n");
            canned("503 Service Unavailable", &retry, &body).into_bytes()
        }),
    }
}

/// Answers (see [`refusal`]) and closes a connection there is no room for.
fn answer_refused(stream: &TcpStream, request: &[u8]) {
    // A fresh socket's send buffer takes these few hundred bytes at once; if it does not,
    // the client gets the close alone, which says the same.
    let _ = stream.try_write(refusal(request));
}

impl Admission {
    /// Answers a connection there is no room for and closes it. Its request is usually here
    /// already (the accept loop is behind when it gets here); if not, a task waits for it
    /// briefly, so a probe that connected a moment before it wrote is not told 503. At most
    /// [`PEEK_LANE`] wait: a newcomer displaces the one waiting longest, so under a flood
    /// of clients slow to speak, one that speaks at once (a probe) is still heard.
    pub fn refuse(self: &Arc<Self>, stream: TcpStream) {
        let mut request = [0u8; 1024];
        match stream.try_read(&mut request) {
            Ok(read) => answer_refused(&stream, &request[..read]),
            Err(err) if err.kind() == std::io::ErrorKind::WouldBlock => {
                let displaced = {
                    let mut waiting = self.lock_peeks();
                    (waiting.len() >= PEEK_LANE)
                        .then(|| waiting.pop_front())
                        .flatten()
                };
                if let Some((_, displaced)) = displaced {
                    displaced.notify_one();
                }
                // Displaced connections still hold their socket until their task runs; the
                // permits bound those too.
                let Ok(permit) = self.peek.clone().try_acquire_owned() else {
                    answer_refused(&stream, &[]);
                    return;
                };
                let id = self.next_id.fetch_add(1, SeqCst);
                let displaced = Arc::new(Notify::new());
                self.lock_peeks().push_back((id, displaced.clone()));
                let admission = self.clone();
                tokio::spawn(async move {
                    let _permit = permit;
                    let mut request = [0u8; 1024];
                    let mut read = 0;
                    tokio::select! {
                        ready = tokio::time::timeout(PEEK_WAIT, stream.readable()) => {
                            if let Ok(Ok(())) = ready {
                                read = stream.try_read(&mut request).unwrap_or(0);
                            }
                        }
                        () = displaced.notified() => {}
                    }
                    admission.lock_peeks().retain(|(waiting, _)| *waiting != id);
                    answer_refused(&stream, &request[..read]);
                });
            }
            // The client is gone already.
            Err(_) => {}
        }
    }

    fn lock_peeks(&self) -> std::sync::MutexGuard<'_, VecDeque<(u64, Arc<Notify>)>> {
        self.peeks.lock().unwrap_or_else(|e| e.into_inner())
    }
}

fn canned(status: &str, headers: &str, body: &str) -> String {
    format!(
        "HTTP/1.1 {status}\r\ncontent-type: application/json\r\n{headers}connection: close\r\n\
         content-length: {}\r\n\r\n{body}",
        body.len()
    )
}

/// Whether `request` starts as a `/health` request: `Some(true)` for HEAD. Only its first
/// bytes are looked at; anything unusual is not a probe.
fn health_request(request: &[u8]) -> Option<bool> {
    let (head_only, rest) = if let Some(rest) = request.strip_prefix(b"GET ") {
        (false, rest)
    } else {
        (true, request.strip_prefix(b"HEAD ")?)
    };
    let rest = rest.strip_prefix(b"/health")?;
    matches!(rest.first(), Some(b' ' | b'?')).then_some(head_only)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_connection_limit_fits_under_the_fd_soft_limit() {
        assert_eq!(connection_limit(256, None), 256);
        assert_eq!(connection_limit(256, Some(20_000)), 256);
        // 1024 is a common default soft limit: plenty.
        assert_eq!(connection_limit(256, Some(1024)), 256);
        assert_eq!(connection_limit(5_000, Some(1024)), 1024 - 64 - 16 - 128);
        assert_eq!(connection_limit(256, Some(10)), 1);
        assert_eq!(connection_limit(0, None), 1);
    }

    #[test]
    fn only_a_health_request_is_answered_by_the_accept_loop() {
        assert_eq!(health_request(b"GET /health HTTP/1.1\r\n"), Some(false));
        assert_eq!(health_request(b"GET /health?x=1 HTTP/1.1\r\n"), Some(false));
        assert_eq!(health_request(b"HEAD /health HTTP/1.1\r\n"), Some(true));
        for other in [
            &b""[..],
            b"GET /health",
            b"GET /healthz HTTP/1.1",
            b"GET /ready HTTP/1.1",
            b"POST /health HTTP/1.1",
            b"GET /api/calls HTTP/1.1",
            b"get /health HTTP/1.1",
        ] {
            assert_eq!(
                health_request(other),
                None,
                "{}",
                String::from_utf8_lossy(other)
            );
        }
    }
}
