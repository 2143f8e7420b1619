//! The reconnecting client: one [`Connection`] after another, forever, until shut down.
//!
//! ```text
//! Connecting ─▶ Authenticating ─▶ Connected ─(link lost)─▶ Disconnected ─(backoff)─▶ Connecting …
//!      │               │                                        ▲
//!      └─(refused, timeout, TLS, not AMI, login rejected)───────┘
//! ```
//!
//! Every successful login is a new *session* with its own number. The [`EventStream`] is
//! one for the client's whole life: each session's events arrive between its
//! [`SessionEvent::Connected`](crate::SessionEvent) and `Disconnected`, and the next session's
//! `Connected` only comes after the previous `Disconnected`. Right after each login the
//! `on_connect` actions are sent (pipelined, in order), so a consumer that rebuilds its state
//! on `Connected` finds the resync lists right behind it in the stream.
//!
//! Attempts that fail — the PBX is down, refuses the login, … — are retried after a delay
//! that grows exponentially with jitter ([`crate::backoff`]), so a PBX that keeps refusing
//! is never hammered. The delay starts over after a session that stayed up long enough.

use crate::action::Action;
use crate::backoff::BackoffState;
use crate::config::ClientConfig;
use crate::connection::{Connection, SessionContext};
use crate::error::AmiError;
use crate::queue::{self, EventSender, EventStream, QueueProbe};
use crate::response::Response;
use crate::stats::{Counters, Stats};
use crate::status::{Disconnect, Status};
use std::sync::{Arc, Mutex};
use std::time::{Duration, SystemTime};
use tokio::sync::watch;
use tokio::time::Instant;

/// Starts reconnecting clients.
pub struct Client;

impl Client {
    /// Starts a client on the current tokio runtime. It connects at once and reconnects
    /// forever until [`ClientHandle::shutdown`] (or until every handle is dropped).
    pub fn spawn(config: ClientConfig) -> (ClientHandle, EventStream) {
        let (sink, events) = queue::channel(config.queue_capacity);
        let (status, _) = watch::channel(Status::Connecting {
            attempt: 1,
            at: SystemTime::now(),
        });
        let (stop_tx, stop_rx) = watch::channel(false);
        let (done_tx, done_rx) = watch::channel(false);
        let shared = Arc::new(Shared {
            current: Mutex::new(None),
            status,
            counters: Arc::new(Counters::new()),
            probe: sink.probe(),
            done: done_rx,
        });
        let task = Supervisor {
            config,
            shared: shared.clone(),
            sink,
            stop: stop_rx,
        };
        tokio::spawn(async move {
            task.run().await;
            let _ = done_tx.send(true);
        });
        let handle = ClientHandle {
            shared,
            stop: Arc::new(StopOnDrop(stop_tx)),
        };
        (handle, events)
    }
}

struct Shared {
    /// The live session, if any.
    current: Mutex<Option<Connection>>,
    status: watch::Sender<Status>,
    counters: Arc<Counters>,
    probe: QueueProbe,
    done: watch::Receiver<bool>,
}

impl Shared {
    fn current(&self) -> Option<Connection> {
        self.current
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .clone()
    }

    fn set_current(&self, connection: Option<Connection>) {
        *self.current.lock().unwrap_or_else(|p| p.into_inner()) = connection;
    }
}

/// Stops the client when the last handle goes away.
struct StopOnDrop(watch::Sender<bool>);

impl Drop for StopOnDrop {
    fn drop(&mut self) {
        self.0.send_replace(true);
    }
}

/// Talks to a running [`Client`]. Cheap to clone. When the last clone is dropped, the
/// client logs off and stops.
#[derive(Clone)]
pub struct ClientHandle {
    shared: Arc<Shared>,
    stop: Arc<StopOnDrop>,
}

impl ClientHandle {
    /// Sends an action on the current session and waits for its response (and list).
    /// Fails at once with [`AmiError::NotConnected`] when there is no session: actions are
    /// not kept for a later session, where they might no longer make sense.
    pub async fn send(&self, action: Action) -> Result<Response, AmiError> {
        action.validate()?;
        let connection = self.shared.current().ok_or(AmiError::NotConnected)?;
        connection.send(action).await
    }

    /// [`ClientHandle::send`] with a timeout of its own.
    pub async fn send_timeout(
        &self,
        action: Action,
        timeout: Duration,
    ) -> Result<Response, AmiError> {
        action.validate()?;
        let connection = self.shared.current().ok_or(AmiError::NotConnected)?;
        connection.send_timeout(action, timeout).await
    }

    /// The status, as it changes.
    pub fn status(&self) -> watch::Receiver<Status> {
        self.shared.status.subscribe()
    }

    /// Counters and the queue's depth and lag, now.
    pub fn stats(&self) -> Stats {
        self.shared.counters.snapshot(&self.shared.probe)
    }

    /// The current session, for callers that need [`Connection`]'s finer API.
    pub fn connection(&self) -> Option<Connection> {
        self.shared.current()
    }

    /// Logs off (if connected), closes and stops reconnecting. Returns once the client has
    /// stopped; never waits on the event consumer.
    pub async fn shutdown(&self) {
        self.stop.0.send_replace(true);
        let mut done = self.shared.done.clone();
        let _ = done.wait_for(|d| *d).await;
    }
}

/// The client's task.
struct Supervisor {
    config: ClientConfig,
    shared: Arc<Shared>,
    sink: EventSender,
    stop: watch::Receiver<bool>,
}

impl Supervisor {
    fn set_status(&self, status: Status) {
        self.shared.status.send_replace(status);
    }

    async fn stopped(stop: &mut watch::Receiver<bool>) {
        // An error means every handle is gone: that is a stop too.
        let _ = stop.wait_for(|s| *s).await;
    }

    async fn run(self) {
        let mut backoff = BackoffState::new(self.config.backoff);
        let mut session = 0u64;
        let mut attempt = 0u32;
        let mut stop = self.stop.clone();
        while !*stop.borrow() {
            attempt += 1;
            self.set_status(Status::Connecting {
                attempt,
                at: SystemTime::now(),
            });
            let ctx = SessionContext {
                session: session + 1,
                sink: self.sink.clone(),
                counters: self.shared.counters.clone(),
                status: Some(&self.shared.status),
            };
            let established = tokio::select! {
                r = Connection::establish(&self.config, ctx) => r,
                () = Self::stopped(&mut stop) => break,
            };
            let (reason, connection) = match established {
                Ok(connection) => {
                    session += 1;
                    attempt = 0;
                    let reason = self.serve(&connection, &mut backoff, &mut stop).await;
                    match reason {
                        Some(reason) => (reason.to_string(), Some(connection)),
                        None => break,
                    }
                }
                Err(e) => {
                    Counters::add(&self.shared.counters.failed_attempts);
                    tracing::warn!(addr = %self.config.addr(), error = %e, "AMI connection attempt failed");
                    (e.to_string(), None)
                }
            };
            let delay = backoff.next_delay();
            let retry_at = Instant::now() + delay;
            self.set_status(Status::Disconnected {
                reason,
                at: SystemTime::now(),
                retry_in: Some(delay),
            });
            // The next session's `Connected` must come after this one's `Disconnected`.
            if let Some(connection) = connection {
                tokio::select! {
                    () = connection.finished() => {}
                    () = Self::stopped(&mut stop) => break,
                }
            }
            tokio::select! {
                () = tokio::time::sleep_until(retry_at) => {}
                () = Self::stopped(&mut stop) => break,
            }
        }
        self.shared.set_current(None);
        self.set_status(Status::Stopped {
            at: SystemTime::now(),
        });
    }

    /// Runs one session until it ends (`Some(reason)`) or the client is stopped (`None`,
    /// after a `Logoff`).
    async fn serve(
        &self,
        connection: &Connection,
        backoff: &mut BackoffState,
        stop: &mut watch::Receiver<bool>,
    ) -> Option<Disconnect> {
        let info = connection.info();
        tracing::info!(
            addr = %self.config.addr(),
            session = info.session,
            asterisk = info.asterisk_version.as_deref().unwrap_or("unknown"),
            connect_ms = info.connect_time.as_millis() as u64,
            login_ms = info.login_time.as_millis() as u64,
            "AMI session up"
        );
        self.shared.set_current(Some(connection.clone()));
        self.set_status(Status::Connected {
            session: info.session,
            protocol_version: info.protocol_version.clone(),
            asterisk_version: info.asterisk_version.clone(),
            at: info.connected_at,
        });
        self.resync(connection);
        let up_since = Instant::now();
        let reason = tokio::select! {
            reason = connection.closed() => Some(reason),
            () = Self::stopped(stop) => None,
        };
        self.shared.set_current(None);
        match &reason {
            Some(reason) => {
                tracing::warn!(addr = %self.config.addr(), session = info.session, %reason, "AMI session lost");
                if up_since.elapsed() >= self.config.backoff.healthy_after {
                    backoff.reset();
                }
            }
            None => {
                if let Err(e) = connection.logoff().await {
                    tracing::debug!(error = %e, "Logoff was not answered cleanly");
                }
            }
        }
        reason
    }

    /// Sends the `on_connect` actions, in order, without waiting for them.
    fn resync(&self, connection: &Connection) {
        if self.config.on_connect.is_empty() {
            return;
        }
        let actions = self.config.on_connect.clone();
        let connection = connection.clone();
        tokio::spawn(async move {
            // `join_all` polls the sends in order, and each enqueues its action on its first
            // poll, so they go out in the configured order.
            let sends = actions.into_iter().map(|a| {
                let connection = &connection;
                async move {
                    let name = a.name().to_string();
                    (name, connection.send(a).await)
                }
            });
            for (name, result) in futures::future::join_all(sends).await {
                if let Err(e) = result {
                    tracing::warn!(action = %name, error = %e, "on-connect action failed");
                }
            }
        });
    }
}
