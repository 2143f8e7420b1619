//! Running the API: where it listens, the loopback rule, and the bounds on connections.

use crate::admission::{self, Admission, Admit, Registered, Slot, Tracked};
use crate::backend::Backend;
use hyper_util::rt::{TokioIo, TokioTimer};
use hyper_util::service::TowerToHyperService;
use std::future::Future;
use std::io;
use std::net::SocketAddr;
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll};
use std::time::Duration;
use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::{watch, OwnedSemaphorePermit};

/// How the API is served.
#[derive(Clone, Debug)]
pub struct Options {
    /// `127.0.0.1:8480` by default (`HTTP_LISTEN`, `[http] listen`).
    pub listen: SocketAddr,
    /// Bearer tokens for `/api/*`. While empty, the API listens on loopback only.
    pub tokens: Vec<String>,
    /// A request not answered within this time gets 503.
    pub request_timeout: Duration,
    /// Largest request body accepted (the read-only API takes none).
    pub body_limit: usize,
    /// Connections served at once (256), each kept alive between requests. Lowered at
    /// start, with a warning, to fit under the process's soft limit on open files (less 64
    /// for the rest of the process and 144 for the places below). At the limit the server
    /// still accepts, and nothing waits in the kernel's accept queue for a slot: a new
    /// connection takes the slot of one that has rested at least 1 s between requests
    /// (never one with a request in progress or partly received), else it is served on a
    /// probe lane of 16 more connections, one request each, where `/health` and `/ready`
    /// are answered and anything else gets 503 with `Retry-After: 1` and a JSON error;
    /// with the lane full too, the accept loop itself answers `/health` with 200 and
    /// anything else with that 503, from the request's first bytes (waited for up to
    /// 200 ms, 64 connections at a time), and closes. Shedding is logged at most once a
    /// minute. See `admission`.
    pub max_connections: usize,
    /// A connection on which no byte arrives for this long is closed (idle keep-alive
    /// connections and clients that stall mid-request alike).
    pub idle_timeout: Duration,
    /// A request's line and headers must have arrived within this time of the server
    /// starting to wait for them (when the connection is accepted, or when the previous
    /// response on it was sent), else the connection is closed without an answer. Bounds
    /// clients that send a header byte every few seconds, which `idle_timeout` never
    /// catches; it also closes a kept-alive connection idle for this long.
    pub header_read_timeout: Duration,
}

impl Options {
    /// The default listen address.
    pub const DEFAULT_LISTEN: &'static str = "127.0.0.1:8480";
}

impl Default for Options {
    fn default() -> Self {
        Options {
            listen: SocketAddr::from(([127, 0, 0, 1], 8480)),
            tokens: Vec::new(),
            request_timeout: Duration::from_secs(10),
            body_limit: 16 * 1024,
            max_connections: 256,
            idle_timeout: Duration::from_secs(60),
            header_read_timeout: Duration::from_secs(10),
        }
    }
}

/// Why the API could not be served.
#[derive(Debug, thiserror::Error)]
pub enum ServeError {
    /// The loopback rule.
    #[error(
        "refusing to serve the HTTP API on {0}: no API tokens are configured, so the API is \
         read-only and listens on a loopback address only (127.0.0.1 or ::1). Listen on \
         loopback (HTTP_LISTEN=127.0.0.1:8480) or configure tokens first"
    )]
    NotLoopback(SocketAddr),
    /// Binding the listen address failed.
    #[error(
        "cannot listen on {addr} for the HTTP API: {source} (is another process using the port?)"
    )]
    Bind { addr: SocketAddr, source: io::Error },
    /// The server stopped on an I/O error.
    #[error("the HTTP API stopped: {0}")]
    Io(#[from] io::Error),
}

/// Checks the loopback rule for `addr` under `options`.
pub fn check_listen(addr: SocketAddr, options: &Options) -> Result<(), ServeError> {
    let loopback = addr.ip().to_canonical().is_loopback();
    if loopback || !options.tokens.is_empty() {
        Ok(())
    } else {
        Err(ServeError::NotLoopback(addr))
    }
}

/// Binds `options.listen` (after the loopback rule) and serves until `shutdown` completes.
pub async fn serve<B: Backend>(
    backend: Arc<B>,
    options: Options,
    shutdown: impl Future<Output = ()> + Send + 'static,
) -> Result<(), ServeError> {
    check_listen(options.listen, &options)?;
    let listener = TcpListener::bind(options.listen)
        .await
        .map_err(|source| ServeError::Bind {
            addr: options.listen,
            source,
        })?;
    serve_on(listener, backend, options, shutdown).await
}

/// Serves on a listener the caller bound (tests, port 0), under the same rules as
/// [`serve`]: `options.listen` is ignored, the listener's address must pass the loopback
/// rule.
pub async fn serve_on<B: Backend>(
    listener: TcpListener,
    backend: Arc<B>,
    options: Options,
    shutdown: impl Future<Output = ()> + Send + 'static,
) -> Result<(), ServeError> {
    let addr = listener.local_addr()?;
    check_listen(addr, &options)?;
    let app = crate::router(backend, &options);
    let lane_app = app
        .clone()
        .layer(axum::middleware::from_fn(admission::probes_only));
    let fd_limit = admission::fd_soft_limit();
    let max_connections = admission::connection_limit(options.max_connections, fd_limit);
    if max_connections < options.max_connections {
        tracing::warn!(
            max_connections = options.max_connections,
            fd_soft_limit = fd_limit,
            serving = max_connections,
            "HTTP API: max_connections lowered to fit under the limit on open files \
             (raise it with `ulimit -n` or LimitNOFILE=)"
        );
    }
    let admission = Arc::new(Admission::new(max_connections));
    tracing::info!(
        %addr,
        read_only = options.tokens.is_empty(),
        max_connections,
        "HTTP API listening"
    );
    // Histograms keep raw samples until upkeep folds them; run it while we serve.
    let upkeep = tokio::spawn(async {
        let mut tick = tokio::time::interval(Duration::from_secs(5));
        loop {
            tick.tick().await;
            if let Some(handle) = crate::metrics::handle() {
                handle.run_upkeep();
            }
        }
    });
    // `axum::serve` sets up hyper without a timer, hence without a header-read deadline,
    // and waits for a free slot before accepting; this is its accept loop and graceful
    // shutdown with the deadline configured and the connection limit of `admission`.
    let mut http1 = hyper::server::conn::http1::Builder::new();
    http1
        .timer(TokioTimer::new())
        .header_read_timeout(options.header_read_timeout)
        .max_buf_size(crate::limits::MAX_BUF_SIZE);
    let mut lane_http1 = http1.clone();
    lane_http1.keep_alive(false).header_read_timeout(
        options
            .header_read_timeout
            .min(admission::LANE_HEADER_TIMEOUT),
    );

    // Dropping `stop_rx` (on shutdown) tells the accept loop and every connection to stop;
    // each connection holds a `done_rx` until it ends, so `done_tx.closed()` waits for all.
    let (stop_tx, stop_rx) = watch::channel(());
    tokio::spawn(async move {
        shutdown.await;
        drop(stop_rx);
    });
    let (done_tx, done_rx) = watch::channel(());
    loop {
        let stream = tokio::select! {
            stream = accept(&listener) => stream,
            () = stop_tx.closed() => break,
        };
        let _ = stream.set_nodelay(true);
        let serving = Serving {
            stop_tx: stop_tx.clone(),
            done_rx: done_rx.clone(),
            idle_timeout: options.idle_timeout,
        };
        match admission.admit() {
            Admit::Full(permit) => {
                let registered = admission.register();
                let connection = serving.connection(
                    stream,
                    permit,
                    registered.slot.clone(),
                    app.clone(),
                    &http1,
                );
                tokio::spawn(serving.drive(connection, Some(registered)));
            }
            Admit::AfterEviction(lane) => {
                let admission = admission.clone();
                let (app, lane_app) = (app.clone(), lane_app.clone());
                let (http1, lane_http1) = (http1.clone(), lane_http1.clone());
                tokio::spawn(async move {
                    match admission.slot_after_eviction().await {
                        Some(permit) => {
                            drop(lane);
                            let registered = admission.register();
                            let connection = serving.connection(
                                stream,
                                permit,
                                registered.slot.clone(),
                                app,
                                &http1,
                            );
                            serving.drive(connection, Some(registered)).await;
                        }
                        None => {
                            let connection = serving.connection(
                                stream,
                                lane,
                                admission.unregistered(),
                                lane_app,
                                &lane_http1,
                            );
                            serving.drive(connection, None).await;
                        }
                    }
                });
            }
            Admit::Lane(lane) => {
                let connection = serving.connection(
                    stream,
                    lane,
                    admission.unregistered(),
                    lane_app.clone(),
                    &lane_http1,
                );
                tokio::spawn(serving.drive(connection, None));
            }
            Admit::Refuse => admission.refuse(stream),
        }
    }
    drop(done_rx);
    drop(listener);
    done_tx.closed().await;
    upkeep.abort();
    Ok(())
}

/// The next connection from the listener.
async fn accept(listener: &TcpListener) -> TcpStream {
    loop {
        match listener.accept().await {
            Ok((stream, _addr)) => return stream,
            Err(err) => {
                // Out of file descriptors and the like: back off instead of spinning.
                tracing::warn!(error = %err, "HTTP accept failed");
                tokio::time::sleep(Duration::from_millis(100)).await;
            }
        }
    }
}

type Connection = hyper::server::conn::http1::Connection<
    TokioIo<BoundedStream>,
    Tracked<TowerToHyperService<axum::Router>>,
>;

/// What every served connection shares with the accept loop.
struct Serving {
    stop_tx: watch::Sender<()>,
    done_rx: watch::Receiver<()>,
    idle_timeout: Duration,
}

impl Serving {
    fn connection(
        &self,
        stream: TcpStream,
        permit: OwnedSemaphorePermit,
        slot: Arc<Slot>,
        app: axum::Router,
        http1: &hyper::server::conn::http1::Builder,
    ) -> Connection {
        let io = BoundedStream {
            stream,
            idle: Box::pin(tokio::time::sleep(self.idle_timeout)),
            idle_timeout: self.idle_timeout,
            slot: slot.clone(),
            _permit: permit,
        };
        let service = Tracked {
            inner: TowerToHyperService::new(app),
            slot,
        };
        http1.serve_connection(TokioIo::new(io), service)
    }

    /// Serves the connection to its end; closes it gracefully (after the request in
    /// progress, if any) on shutdown or when the accept loop evicts it.
    async fn drive(self, connection: Connection, registered: Option<Registered>) {
        let mut connection = std::pin::pin!(connection);
        let mut stopping = std::pin::pin!(self.stop_tx.closed());
        let evicted = async {
            match &registered {
                Some(registered) => registered.slot.evicted().await,
                None => std::future::pending().await,
            }
        };
        let mut evicted = std::pin::pin!(evicted);
        let mut asked = false;
        loop {
            tokio::select! {
                result = connection.as_mut() => {
                    if let Err(err) = result {
                        // Header deadline, idle timeout, a client that went away: the
                        // connection is over either way.
                        tracing::debug!(error = %err, "HTTP connection ended");
                    }
                    break;
                }
                () = &mut stopping, if !asked => {
                    asked = true;
                    connection.as_mut().graceful_shutdown();
                }
                () = &mut evicted, if !asked => {
                    asked = true;
                    connection.as_mut().graceful_shutdown();
                }
            }
        }
        // `registered` leaves the registry as this returns.
        drop(self.done_rx);
    }
}

/// A served connection: holds its place (slot or probe lane) until dropped, tells its slot
/// when request bytes arrive, and fails reads after the idle timeout so hyper closes it.
struct BoundedStream {
    stream: TcpStream,
    idle: Pin<Box<tokio::time::Sleep>>,
    idle_timeout: Duration,
    slot: Arc<Slot>,
    _permit: OwnedSemaphorePermit,
}

impl AsyncRead for BoundedStream {
    fn poll_read(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<io::Result<()>> {
        let this = &mut *self;
        let before = buf.filled().len();
        match Pin::new(&mut this.stream).poll_read(cx, buf) {
            Poll::Ready(result) => {
                if buf.filled().len() > before {
                    this.slot.read();
                }
                let deadline = tokio::time::Instant::now() + this.idle_timeout;
                this.idle.as_mut().reset(deadline);
                Poll::Ready(result)
            }
            Poll::Pending => match this.idle.as_mut().poll(cx) {
                Poll::Ready(()) => Poll::Ready(Err(io::Error::new(
                    io::ErrorKind::TimedOut,
                    "HTTP connection idle for too long",
                ))),
                Poll::Pending => Poll::Pending,
            },
        }
    }
}

impl AsyncWrite for BoundedStream {
    fn poll_write(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<io::Result<usize>> {
        Pin::new(&mut self.stream).poll_write(cx, buf)
    }

    fn poll_flush(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.stream).poll_flush(cx)
    }

    fn poll_shutdown(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.stream).poll_shutdown(cx)
    }

    fn poll_write_vectored(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        bufs: &[io::IoSlice<'_>],
    ) -> Poll<io::Result<usize>> {
        Pin::new(&mut self.stream).poll_write_vectored(cx, bufs)
    }

    fn is_write_vectored(&self) -> bool {
        self.stream.is_write_vectored()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn loopback_rule() {
        let open = Options::default();
        let with_tokens = Options {
            tokens: vec!["t".into()],
            ..Options::default()
        };
        for ok in [
            "127.0.0.1:8480",
            "127.1.2.3:1",
            "[::1]:8480",
            "[::ffff:127.0.0.1]:80",
        ] {
            assert!(check_listen(ok.parse().unwrap(), &open).is_ok(), "{ok}");
        }
        for bad in ["0.0.0.0:8480", "192.0.2.1:8480", "[::]:8480"] {
            let err = check_listen(bad.parse().unwrap(), &open)
                .unwrap_err()
                .to_string();
            assert!(err.contains("no API tokens are configured"), "{err}");
            assert!(err.contains("configure tokens first"), "{err}");
            assert!(check_listen(bad.parse().unwrap(), &with_tokens).is_ok());
        }
    }
}
