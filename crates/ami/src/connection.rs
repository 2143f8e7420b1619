//! One AMI session: a logged-in connection and the task that drives it.
//!
//! After the login ([`crate::login`]) one task owns the socket. It
//!
//! - writes the actions handed to it, each with a fresh `ActionID`, and remembers what it
//!   is waiting for;
//! - reads every message: a `Response:` resolves the action with its `ActionID`, unless it
//!   says `EventList: start`, in which case the action waits for the list's events up to
//!   the one with `EventList: Complete`; every `Event:` goes to the event queue, in wire
//!   order, including list items (which *also* go to the action that asked for them) and
//!   events carrying the `ActionID` of a finished action (`OriginateResponse`);
//! - sends a `Ping` every `ping_interval`; no answer within `ping_timeout` means the peer is
//!   dead, and the session ends;
//! - fails an action that got no response within its timeout.
//!
//! **Flow control.** The event queue is bounded. When it is full the task stops reading the
//! socket until the consumer makes room; nothing is dropped, TCP pushes back on Asterisk.
//! While reading is paused, the keep-alive and action deadlines stand still: what Asterisk
//! sent is waiting in our socket buffer, so it is alive, and a response we have not read yet
//! is not late. They resume, shifted by the length of the pause, when reading resumes.
//! A consequence: a consumer that stops draining the queue also stops responses from
//! arriving, so never wait for a response in the task that drains the events.

use crate::action::Action;
use crate::action_id::ActionIds;
use crate::codec::{Frame, FrameError};
use crate::config::ClientConfig;
use crate::error::AmiError;
use crate::login::{self, Handshake};
use crate::message::{Kind, Message};
use crate::queue::{self, EventSender, EventStream, PushError, QueueProbe, SessionEvent};
use crate::response::{is_list_end, is_list_start, Response};
use crate::stats::{Counters, Stats};
use crate::status::{Disconnect, Status};
use crate::transport::{self, Reader, Writer};
use bytes::BytesMut;
use futures::StreamExt;
use std::collections::{HashMap, VecDeque};
use std::pin::Pin;
use std::sync::Arc;
use std::time::{Duration, SystemTime};
use tokio::io::AsyncWriteExt;
use tokio::sync::{mpsc, oneshot, watch};
use tokio::time::{Instant, Sleep};

/// Stop taking new actions while this much is still unwritten (a peer that does not read).
const OUT_HIGH_WATER: usize = 256 * 1024;
/// Actions waiting for the session task to take them.
const COMMAND_QUEUE: usize = 256;
/// How long a shutdown waits for `Response: Goodbye`.
const LOGOFF_TIMEOUT: Duration = Duration::from_secs(2);

/// What is known about a session once it is logged in.
#[derive(Clone, Debug)]
pub struct SessionInfo {
    /// Session number (1 for a lone [`Connection`]; counts up in a [`Client`](crate::Client)).
    pub session: u64,
    /// The banner line, e.g. `Asterisk Call Manager/11.0.0`.
    pub banner: String,
    /// The AMI protocol version from the banner (`11.0.0`).
    pub protocol_version: String,
    /// Asterisk's version (`22.10.1`), if the user may ask.
    pub asterisk_version: Option<String>,
    /// When the login was accepted.
    pub connected_at: SystemTime,
    /// TCP connect + TLS handshake + banner.
    pub connect_time: Duration,
    /// The login exchange(s), challenge included.
    pub login_time: Duration,
}

enum Command {
    Send {
        action: Action,
        timeout: Duration,
        reply: oneshot::Sender<Result<Response, AmiError>>,
    },
    /// Close now, without `Logoff`.
    Close,
}

/// A logged-in AMI session. Cheap to clone; every clone talks to the same session.
/// When every clone is dropped, the connection is closed (without `Logoff`; call
/// [`Connection::logoff`] for a clean goodbye).
#[derive(Clone)]
pub struct Connection {
    commands: mpsc::Sender<Command>,
    info: Arc<SessionInfo>,
    ended: watch::Receiver<Option<Disconnect>>,
    finished: watch::Receiver<bool>,
    counters: Arc<Counters>,
    probe: QueueProbe,
    action_timeout: Duration,
}

/// What a session needs from whoever opens it.
pub(crate) struct SessionContext<'a> {
    pub(crate) session: u64,
    pub(crate) sink: EventSender,
    pub(crate) counters: Arc<Counters>,
    pub(crate) status: Option<&'a watch::Sender<Status>>,
}

impl Connection {
    /// Connects, logs in and starts the session: the single-session API, without
    /// reconnection. The stream starts with [`SessionEvent::Connected`] and ends with
    /// [`SessionEvent::Disconnected`].
    pub async fn connect(config: &ClientConfig) -> Result<(Connection, EventStream), AmiError> {
        let (sink, events) = queue::channel(config.queue_capacity);
        let ctx = SessionContext {
            session: 1,
            sink,
            counters: Arc::new(Counters::new()),
            status: None,
        };
        let connection = Connection::establish(config, ctx).await?;
        Ok((connection, events))
    }

    pub(crate) async fn establish(
        config: &ClientConfig,
        ctx: SessionContext<'_>,
    ) -> Result<Connection, AmiError> {
        let started = Instant::now();
        let transport = transport::open(config).await?;
        let connect_time = started.elapsed();
        if let Some(status) = ctx.status {
            status.send_replace(Status::Authenticating {
                at: SystemTime::now(),
            });
        }
        let banner = transport.banner.clone();
        let mut handshake = Handshake::new(
            transport,
            ActionIds::new(ctx.session),
            config.queue_capacity,
        );
        let login_started = Instant::now();
        login::login(&mut handshake, config).await?;
        let login_time = login_started.elapsed();
        let connected_at = SystemTime::now();
        let asterisk_version = login::asterisk_version(&mut handshake, config.action_timeout).await;

        let info = Arc::new(SessionInfo {
            session: ctx.session,
            banner: banner.line.clone(),
            protocol_version: banner.version().to_string(),
            asterisk_version,
            connected_at,
            connect_time,
            login_time,
        });
        // The stream sees the session start before any of its events, then whatever
        // arrived during the login, in order.
        let mut held = VecDeque::with_capacity(handshake.early.len() + 1);
        held.push_back(SessionEvent::Connected {
            session: info.session,
            protocol_version: info.protocol_version.clone(),
            asterisk_version: info.asterisk_version.clone(),
            at: connected_at,
        });
        Counters::add(&ctx.counters.sessions);
        ctx.counters.events_received.fetch_add(
            handshake.early.len() as u64,
            std::sync::atomic::Ordering::Relaxed,
        );
        held.extend(handshake.early.drain(..).map(SessionEvent::Event));

        let (commands_tx, commands_rx) = mpsc::channel(COMMAND_QUEUE);
        let (ended_tx, ended_rx) = watch::channel(None);
        let (finished_tx, finished_rx) = watch::channel(false);
        let probe = ctx.sink.probe();
        let now = Instant::now();
        let driver = Driver {
            session: ctx.session,
            reader: handshake.transport.reader,
            writer: handshake.transport.writer,
            out: BytesMut::with_capacity(4096),
            unflushed: false,
            commands: commands_rx,
            sink: ctx.sink,
            sink_open: true,
            held,
            paused_at: None,
            pending: HashMap::new(),
            ids: handshake.ids,
            ping_interval: config.ping_interval,
            ping_timeout: config.ping_timeout,
            next_ping: (!config.ping_interval.is_zero()).then(|| now + config.ping_interval),
            ping_outstanding: false,
            logoff_sent: false,
            shutdown_event: None,
            counters: ctx.counters.clone(),
            timer: Box::pin(tokio::time::sleep_until(now)),
            timer_at: None,
        };
        tokio::spawn(driver.run(ended_tx, finished_tx));
        Ok(Connection {
            commands: commands_tx,
            info,
            ended: ended_rx,
            finished: finished_rx,
            counters: ctx.counters,
            probe,
            action_timeout: config.action_timeout,
        })
    }

    /// What is known about this session.
    pub fn info(&self) -> &SessionInfo {
        &self.info
    }

    /// Sends an action and waits for its response (and, for a list, for all its events),
    /// with the configured action timeout. The `ActionID` is set by the session.
    pub async fn send(&self, action: Action) -> Result<Response, AmiError> {
        self.send_timeout(action, self.action_timeout).await
    }

    /// [`Connection::send`] with a timeout of its own.
    pub async fn send_timeout(
        &self,
        action: Action,
        timeout: Duration,
    ) -> Result<Response, AmiError> {
        action.validate()?;
        if let Some(reason) = self.ended.borrow().clone() {
            return Err(lost(&reason));
        }
        let name = action.name().to_string();
        let (reply, answer) = oneshot::channel();
        let command = Command::Send {
            action,
            timeout,
            reply,
        };
        // Waiting here only happens when the peer stops reading our actions; bound it.
        match tokio::time::timeout(timeout, self.commands.send(command)).await {
            Err(_) => {
                return Err(AmiError::ActionTimeout {
                    action: name,
                    after: timeout,
                })
            }
            Ok(Err(_)) => return Err(self.lost_now()),
            Ok(Ok(())) => {}
        }
        match answer.await {
            Ok(result) => result,
            Err(_) => Err(self.lost_now()),
        }
    }

    /// A `Ping` round trip.
    pub async fn ping(&self) -> Result<Duration, AmiError> {
        let started = Instant::now();
        self.send(Action::new("Ping")).await?;
        Ok(started.elapsed())
    }

    /// Logs off (`Response: Goodbye`) and closes, waiting at most a couple of seconds for
    /// Asterisk's goodbye. Closes in any case.
    pub async fn logoff(&self) -> Result<(), AmiError> {
        let wait = LOGOFF_TIMEOUT.min(self.action_timeout);
        let result = if self.is_closed() {
            Ok(())
        } else {
            // Bounded in real time: with a consumer that stopped reading, the session's own
            // deadlines stand still and `Goodbye` may never be read.
            let logoff = self.send_timeout(Action::new("Logoff"), wait);
            match tokio::time::timeout(wait, logoff).await {
                Ok(answer) => answer.map(|_| ()),
                Err(_) => Err(AmiError::ActionTimeout {
                    action: "Logoff".into(),
                    after: wait,
                }),
            }
        };
        let _ = self.commands.try_send(Command::Close);
        let _ = tokio::time::timeout(LOGOFF_TIMEOUT, self.closed()).await;
        result
    }

    /// Closes at once, without `Logoff`.
    pub fn close(&self) {
        let _ = self.commands.try_send(Command::Close);
    }

    /// Waits until the session has ended, and says why.
    pub async fn closed(&self) -> Disconnect {
        let mut ended = self.ended.clone();
        let result = ended.wait_for(Option::is_some).await;
        match result {
            Ok(reason) => reason.clone().unwrap_or(Disconnect::Dropped),
            Err(_) => Disconnect::Dropped,
        }
    }

    /// Waits until the session task is completely done: its last events and its
    /// [`SessionEvent::Disconnected`] are in the queue (or the consumer is gone).
    pub async fn finished(&self) {
        let mut finished = self.finished.clone();
        let _ = finished.wait_for(|done| *done).await;
    }

    /// True once the session has ended.
    pub fn is_closed(&self) -> bool {
        self.ended.borrow().is_some()
    }

    /// Counters and queue state.
    pub fn stats(&self) -> Stats {
        self.counters.snapshot(&self.probe)
    }

    fn lost_now(&self) -> AmiError {
        let reason = self.ended.borrow().clone().unwrap_or(Disconnect::Dropped);
        lost(&reason)
    }
}

fn lost(reason: &Disconnect) -> AmiError {
    AmiError::ConnectionLost {
        reason: reason.to_string(),
    }
}

/// Who is waiting for an answer.
enum Waiter {
    Caller(oneshot::Sender<Result<Response, AmiError>>),
    /// Our own keep-alive.
    Ping {
        sent: Instant,
    },
}

struct Pending {
    action: String,
    timeout: Duration,
    deadline: Instant,
    waiter: Waiter,
    /// The `EventList: start` response, while its list is still coming.
    response: Option<Message>,
    /// Events carrying this action's `ActionID`, in order.
    events: Vec<Message>,
    /// The `EventList: Complete` event has been seen.
    complete: bool,
}

/// The task that owns the socket. See the module docs.
struct Driver {
    session: u64,
    reader: Reader,
    writer: Writer,
    /// Encoded actions not yet written.
    out: BytesMut,
    /// Written but not yet flushed (TLS keeps records until flushed).
    unflushed: bool,
    commands: mpsc::Receiver<Command>,
    sink: EventSender,
    /// False once the consumer has dropped the stream: events then go nowhere.
    sink_open: bool,
    /// Events read but not yet queued because the queue was full. Non-empty = paused.
    held: VecDeque<SessionEvent>,
    paused_at: Option<Instant>,
    pending: HashMap<String, Pending>,
    ids: ActionIds,
    ping_interval: Duration,
    ping_timeout: Duration,
    next_ping: Option<Instant>,
    ping_outstanding: bool,
    logoff_sent: bool,
    /// `Restart:` of an `Event: Shutdown`, if Asterisk announced one.
    shutdown_event: Option<bool>,
    counters: Arc<Counters>,
    timer: Pin<Box<Sleep>>,
    timer_at: Option<Instant>,
}

/// Progress of the writing branch.
enum Wrote {
    Some,
    Flushed,
}

async fn write_some(writer: &mut Writer, out: &mut BytesMut) -> std::io::Result<Wrote> {
    if out.is_empty() {
        writer.flush().await?;
        return Ok(Wrote::Flushed);
    }
    match writer.write_buf(out).await? {
        0 => Err(std::io::ErrorKind::WriteZero.into()),
        _ => Ok(Wrote::Some),
    }
}

impl Driver {
    async fn run(
        mut self,
        ended: watch::Sender<Option<Disconnect>>,
        finished: watch::Sender<bool>,
    ) {
        self.drain_held();
        let reason = self.serve().await;
        tracing::debug!(session = self.session, %reason, "AMI session ended");
        self.finish(reason, ended).await;
        finished.send_replace(true);
    }

    async fn serve(&mut self) -> Disconnect {
        loop {
            let paused = !self.held.is_empty();
            self.arm_timer(paused);
            tokio::select! {
                biased;
                room = self.sink.wait_for_room(), if paused => {
                    if room {
                        self.drain_held();
                    } else {
                        self.sink_open = false;
                        self.held.clear();
                    }
                    if self.held.is_empty() {
                        self.resume();
                    }
                }
                command = self.commands.recv(), if self.out.len() < OUT_HIGH_WATER => {
                    match command {
                        Some(Command::Send { action, timeout, reply }) => {
                            self.write_action(action, timeout, Waiter::Caller(reply));
                        }
                        Some(Command::Close) => return Disconnect::LoggedOff,
                        None => return Disconnect::Dropped,
                    }
                }
                wrote = write_some(&mut self.writer, &mut self.out), if !self.out.is_empty() || self.unflushed => {
                    match wrote {
                        Ok(Wrote::Some) => self.unflushed = true,
                        Ok(Wrote::Flushed) => self.unflushed = false,
                        Err(e) => return Disconnect::Io(format!("writing to Asterisk: {e}")),
                    }
                }
                frame = self.reader.next(), if !paused => {
                    match frame {
                        Some(Ok(Frame::Message(m))) => {
                            if let Some(end) = self.message(m) {
                                return end;
                            }
                        }
                        Some(Ok(Frame::Banner(_))) => {}
                        Some(Err(FrameError::Io(e))) => {
                            return Disconnect::Io(format!("reading from Asterisk: {e}"));
                        }
                        Some(Err(e)) => {
                            Counters::add(&self.counters.decode_errors);
                            return Disconnect::Protocol(e.to_string());
                        }
                        None => return self.eof_reason(),
                    }
                }
                () = &mut self.timer, if self.timer_at.is_some() => {
                    self.timer_at = None;
                    if let Some(end) = self.on_timer() {
                        return end;
                    }
                }
            }
        }
    }

    fn eof_reason(&self) -> Disconnect {
        if self.logoff_sent {
            Disconnect::LoggedOff
        } else if let Some(restart) = self.shutdown_event {
            Disconnect::AsteriskShutdown { restart }
        } else {
            Disconnect::Closed
        }
    }

    /// Encodes `action` with a fresh id and registers who waits for it.
    fn write_action(&mut self, mut action: Action, timeout: Duration, waiter: Waiter) {
        let id = self.ids.next_id();
        action.set_action_id(&id);
        if let Err(e) = action.encode(&mut self.out) {
            if let Waiter::Caller(reply) = waiter {
                let _ = reply.send(Err(AmiError::InvalidAction(e)));
            }
            return;
        }
        if action.name().eq_ignore_ascii_case("Logoff") {
            self.logoff_sent = true;
        }
        // While paused the clock of deadlines stands still: count from the pause's start,
        // and `resume` adds the pause's length.
        let start = self.paused_at.unwrap_or_else(Instant::now);
        self.pending.insert(
            id,
            Pending {
                action: action.name().to_string(),
                timeout,
                deadline: start + timeout,
                waiter,
                response: None,
                events: Vec::new(),
                complete: false,
            },
        );
    }

    fn message(&mut self, m: Message) -> Option<Disconnect> {
        match m.kind() {
            Kind::Response => {
                Counters::add(&self.counters.responses_received);
                self.response(m)
            }
            Kind::Event => {
                Counters::add(&self.counters.events_received);
                self.event(m)
            }
            Kind::Action | Kind::Other => {
                tracing::warn!(session = self.session, message = ?m, "ignored a message that is neither a response nor an event");
                None
            }
        }
    }

    fn response(&mut self, m: Message) -> Option<Disconnect> {
        let Some(id) = m.action_id() else {
            tracing::debug!(session = self.session, response = ?m, "response without ActionID ignored");
            return None;
        };
        let Some(pending) = self.pending.get_mut(id) else {
            tracing::debug!(session = self.session, response = ?m, "response to an action no longer waited for");
            return None;
        };
        let is_error = m.name().eq_ignore_ascii_case("Error");
        if !is_error && is_list_start(&m) && !pending.complete {
            pending.response = Some(m);
            return None;
        }
        let id = id.to_string();
        let pending = self.pending.remove(&id)?;
        self.resolve(pending, m)
    }

    fn event(&mut self, m: Message) -> Option<Disconnect> {
        let mut done = None;
        if let Some(id) = m.action_id() {
            if let Some(pending) = self.pending.get_mut(id) {
                pending.events.push(m.clone());
                if is_list_end(&m) {
                    pending.complete = true;
                    if pending.response.is_some() {
                        done = Some(id.to_string());
                    }
                }
            }
        }
        if m.is_event("Shutdown") {
            self.shutdown_event = Some(
                m.get("Restart")
                    .is_some_and(|r| r.trim().eq_ignore_ascii_case("true")),
            );
        }
        self.enqueue(SessionEvent::Event(m));
        let pending = self.pending.remove(&done?)?;
        let response = pending.response.clone()?;
        self.resolve(pending, response)
    }

    /// Hands the answer to whoever waits for it.
    fn resolve(&mut self, pending: Pending, response: Message) -> Option<Disconnect> {
        match pending.waiter {
            Waiter::Ping { sent } => {
                self.counters.set_ping_rtt(sent.elapsed());
                self.ping_outstanding = false;
                None
            }
            Waiter::Caller(reply) => {
                let logoff = pending.action.eq_ignore_ascii_case("Logoff");
                let result = if response.name().eq_ignore_ascii_case("Error") {
                    Err(AmiError::from_error_response(&pending.action, response))
                } else {
                    Ok(Response {
                        message: response,
                        events: pending.events,
                    })
                };
                let _ = reply.send(result);
                // After `Goodbye` Asterisk closes; do not wait for it to.
                logoff.then_some(Disconnect::LoggedOff)
            }
        }
    }

    /// Queues an event behind any already held (order is never changed).
    fn enqueue(&mut self, event: SessionEvent) {
        if self.sink_open {
            self.held.push_back(event);
            self.drain_held();
        }
    }

    /// Queues held events while there is room.
    fn drain_held(&mut self) {
        while let Some(event) = self.held.pop_front() {
            if !self.sink_open {
                self.held.clear();
                break;
            }
            match self.sink.try_push(event) {
                Ok(()) => {}
                Err(PushError::Closed) => self.sink_open = false,
                Err(PushError::Full(event)) => {
                    self.held.push_front(event);
                    self.pause();
                    break;
                }
            }
        }
    }

    fn pause(&mut self) {
        if self.paused_at.is_none() {
            let now = Instant::now();
            self.paused_at = Some(now);
            self.counters.pause_started(now.into_std());
        }
    }

    /// Reading resumes: every deadline moves by the length of the pause.
    fn resume(&mut self) {
        let Some(since) = self.paused_at.take() else {
            return;
        };
        let lasted = since.elapsed();
        self.counters.pause_ended(lasted);
        for pending in self.pending.values_mut() {
            pending.deadline += lasted;
        }
        if let Some(next) = &mut self.next_ping {
            *next += lasted;
        }
    }

    /// Points the timer at the earliest deadline (none while paused).
    fn arm_timer(&mut self, paused: bool) {
        let wanted = if paused {
            None
        } else {
            let ping = self.next_ping.filter(|_| !self.ping_outstanding);
            self.pending.values().map(|p| p.deadline).chain(ping).min()
        };
        if wanted != self.timer_at {
            if let Some(at) = wanted {
                self.timer.as_mut().reset(at);
            }
            self.timer_at = wanted;
        }
    }

    fn on_timer(&mut self) -> Option<Disconnect> {
        let now = Instant::now();
        let expired: Vec<String> = self
            .pending
            .iter()
            .filter(|(_, p)| p.deadline <= now)
            .map(|(id, _)| id.clone())
            .collect();
        for id in expired {
            let Some(pending) = self.pending.remove(&id) else {
                continue;
            };
            match pending.waiter {
                Waiter::Ping { .. } => {
                    return Some(Disconnect::PingTimeout {
                        after: self.ping_timeout,
                    })
                }
                Waiter::Caller(reply) => {
                    let logoff = pending.action.eq_ignore_ascii_case("Logoff");
                    let _ = reply.send(Err(AmiError::ActionTimeout {
                        action: pending.action,
                        after: pending.timeout,
                    }));
                    if logoff {
                        return Some(Disconnect::LoggedOff);
                    }
                }
            }
        }
        if let Some(at) = self.next_ping {
            if at <= now && !self.ping_outstanding {
                self.ping_outstanding = true;
                self.next_ping = Some(now + self.ping_interval);
                let timeout = self.ping_timeout;
                self.write_action(Action::new("Ping"), timeout, Waiter::Ping { sent: now });
            }
        }
        None
    }

    /// Fails what still waits, tells the watchers, closes the socket and queues the
    /// session's last events and its `Disconnected`.
    async fn finish(mut self, reason: Disconnect, ended: watch::Sender<Option<Disconnect>>) {
        if self.paused_at.is_some() {
            self.resume();
        }
        self.commands.close();
        let lost = lost(&reason);
        while let Ok(command) = self.commands.try_recv() {
            if let Command::Send { reply, .. } = command {
                let _ = reply.send(Err(lost.clone()));
            }
        }
        for (_, pending) in self.pending.drain() {
            if let Waiter::Caller(reply) = pending.waiter {
                let _ = reply.send(Err(lost.clone()));
            }
        }
        ended.send_replace(Some(reason.clone()));
        // Actions not yet written stay unwritten: their callers were just told the
        // connection is lost. A peer that stopped reading must not hold us here.
        let _ = tokio::time::timeout(Duration::from_secs(1), self.writer.shutdown()).await;
        drop(self.reader);
        drop(self.writer);
        if self.sink_open {
            for event in self.held.drain(..) {
                if !self.sink.push(event).await {
                    return;
                }
            }
            self.sink
                .push(SessionEvent::Disconnected {
                    session: self.session,
                    reason,
                    at: SystemTime::now(),
                })
                .await;
        }
    }
}
