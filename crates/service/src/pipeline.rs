//! One PBX's pipeline: its AMI client → its tracker → the sinks and the bus.
//!
//! ```text
//!  ami::Client ──SessionEvent──▶ [pipeline task] ── CallEnded ──▶ RecordSink (store writer)
//!   (reconnects,                  owns the Tracker ── every Update ─▶ Bus (lossy fan-out)
//!    backpressure)                 ticks: expire, metrics                ▲
//!                                        │                               │ snapshots
//!                                        └── Arc<Mutex<Tracker>> ◀── HTTP readers
//! ```
//!
//! One task per PBX, sharing nothing with the other pipelines but the bus and the sink,
//! neither of which ever waits: a PBX that is down, slow or misbehaving stalls only its
//! own task.
//!
//! **Who owns the tracker.** The pipeline task is the only writer. It locks the tracker
//! once per *batch* of events (up to [`BATCH`] drained without waiting) rather than once
//! per event, and never across an `.await`. Readers (the HTTP API) lock it briefly to
//! build a snapshot. We chose this over publishing a fresh snapshot after every batch
//! because snapshots are only needed when someone asks, which is rare next to the event
//! rate: the event path pays nothing for them, and a reader sees the state as of the last
//! batch, which is as fresh as a published snapshot would be.
//!
//! **Resync.** Every login is followed by `CoreShowChannels`, `ExtensionStateList` and
//! `QueueStatus` (the client's `on_connect` list). The pipeline tells the tracker when a
//! session starts and when it is lost; the tracker then adopts the calls the lists show
//! and closes (as `ended_while_disconnected`) the ones they no longer contain. Those
//! records carry the same `server:linkedid` id as before, so the store updates the row
//! rather than adding one: no ghost call and no duplicate.
//!
//! **Time.** The tracker's clock is the PBX's (`Timestamp` headers). The expiry timer
//! therefore runs on the PBX's clock too — the last timestamp seen plus the wall time
//! since — so a PBX whose clock is off, or a simulator that runs hours of traffic in
//! seconds, does not get its calls expired by our clock.

use crate::checkpoint::Checkpoints;
use crate::live::{self, LiveViews};
use crate::logging::lifecycle;
use crate::metrics::PipelineMetrics;
use crate::sink::RecordSink;
use crate::status::{self, timestamp, Activity, ServerStatus};
use ami::{Action, ClientConfig, ClientHandle, EventStream, SessionEvent};
use std::path::PathBuf;
use std::sync::atomic::{AtomicUsize, Ordering::Relaxed};
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::{Duration, Instant, SystemTime};
use stream::{Change, Hub};
use tokio::task::JoinHandle;
use tokio_util::sync::CancellationToken;
use tracker::{EndReason, Timestamp, Tracker, TrackerConfig, Update};

/// Events handled under one lock of the tracker at most.
pub const BATCH: usize = 256;

/// Everything needed to run one PBX's pipeline.
#[derive(Clone, Debug)]
pub struct PipelineSpec {
    /// The PBX's name (unique in the process).
    pub name: String,
    /// How to reach it. Its `on_connect` list is replaced by the resync actions.
    pub client: ClientConfig,
    /// How to understand it.
    pub tracker: TrackerConfig,
    /// How often to expire silent calls and refresh the metrics.
    pub tick: Duration,
    /// Where the calls in progress are checkpointed, so that a restart resumes them with
    /// their history (see [`crate::checkpoint`]); `None`: not kept.
    pub checkpoint_dir: Option<PathBuf>,
    /// How often, at most, while calls change.
    pub checkpoint_interval: Duration,
}

impl PipelineSpec {
    /// A spec with the tracker configured for `name` and a 1 s tick.
    pub fn new(name: impl Into<String>, client: ClientConfig) -> PipelineSpec {
        let name = name.into();
        PipelineSpec {
            tracker: TrackerConfig::new(name.clone()),
            name,
            client,
            tick: Duration::from_secs(1),
            checkpoint_dir: None,
            checkpoint_interval: Duration::from_secs(5),
        }
    }
}

/// The actions sent after every login so that the tracker can rebuild its state: the
/// live channels, the extension states, and the queues with their callers.
pub fn resync_actions() -> Vec<Action> {
    vec![
        Action::new("CoreShowChannels"),
        Action::new("ExtensionStateList"),
        Action::new("QueueStatus"),
    ]
}

/// A running pipeline. Dropping it does not stop it; [`Pipeline::stop`] does.
pub struct Pipeline {
    name: Arc<str>,
    client: ClientHandle,
    shared: Arc<Shared>,
    hub: Arc<Hub>,
    cancel: CancellationToken,
    task: Mutex<Option<JoinHandle<()>>>,
}

/// What the task and the readers share.
struct Shared {
    tracker: Mutex<Tracker>,
    activity: Activity,
    active_calls: AtomicUsize,
}

impl Pipeline {
    /// Starts the AMI client and the task that drains it. Must be called inside a tokio
    /// runtime.
    pub fn start(spec: PipelineSpec, hub: Arc<Hub>, sink: Arc<dyn RecordSink>) -> Pipeline {
        let PipelineSpec {
            name,
            mut client,
            tracker,
            tick,
            checkpoint_dir,
            checkpoint_interval,
        } = spec;
        client.on_connect = resync_actions();
        let address = client.addr();
        let username = client.username.clone();
        let auth = match client.auth {
            ami::Auth::Plain => "plain",
            ami::Auth::Md5 => "md5",
        };
        let name: Arc<str> = Arc::from(name);
        let (handle, events) = ami::Client::spawn(client);
        let shared = Arc::new(Shared {
            tracker: Mutex::new(Tracker::new(tracker)),
            activity: Activity::new(),
            active_calls: AtomicUsize::new(0),
        });
        let cancel = CancellationToken::new();
        let task = Task {
            name: name.clone(),
            address,
            username,
            auth,
            client: handle.clone(),
            events,
            shared: shared.clone(),
            hub: hub.clone(),
            live: LiveViews::default(),
            changes: Vec::new(),
            sink,
            metrics: PipelineMetrics::new(&name),
            pbx_clock: None,
            resync: None,
            connecting_since: None,
            attempt: 0,
            out: Vec::new(),
            checkpoints: checkpoint_dir.map(|dir| Checkpointing {
                files: Checkpoints::new(dir),
                interval: checkpoint_interval,
                last: Instant::now(),
                dirty: false,
                writing: None,
            }),
        };
        let task = tokio::spawn(task.run(tick, cancel.clone()));
        Pipeline {
            name,
            client: handle,
            hub,
            shared,
            cancel,
            task: Mutex::new(Some(task)),
        }
    }

    /// The PBX's name.
    pub fn name(&self) -> &str {
        &self.name
    }

    /// The AMI client, to send actions (originate, hang up…).
    pub fn client(&self) -> &ClientHandle {
        &self.client
    }

    /// The current status; `database_backlog` is the writer's, which the pipeline does
    /// not know.
    pub fn status(&self, database_backlog: u64) -> ServerStatus {
        let status = self.client.status().borrow().clone();
        status::build(
            &self.name,
            &status,
            &self.client.stats(),
            &self.shared.activity,
            database_backlog,
        )
    }

    /// The current session number (from 1, one more per successful login), while logged
    /// in: a session that survived a reload still has its number.
    pub fn session(&self) -> Option<u64> {
        match &*self.client.status().borrow() {
            ami::Status::Connected { session, .. } => Some(*session),
            _ => None,
        }
    }

    /// Hands the tracker new classification rules (`extensions`, `trunks`) without
    /// touching the session or the calls in progress.
    pub fn retune(&self, tracker: TrackerConfig) {
        let mut t = lock(&self.shared.tracker);
        t.reconfigure(tracker);
        // Under the tracker's lock, so the stream has it between the same batches as the
        // tracker: which numbers are extensions may have changed every view.
        self.hub.publish(&self.name, [live::reconcile(&t)]);
    }

    /// The tracker, locked, for a snapshot. Keep the guard short: the pipeline waits for
    /// it before its next batch.
    pub fn tracker(&self) -> MutexGuard<'_, Tracker> {
        lock(&self.shared.tracker)
    }

    /// Stops the session (with a `Logoff`), closes the calls still open (as
    /// `stream_ended`, handed to the sink like any other), and waits for the task to end.
    /// Stopping twice is harmless: the second call returns at once.
    pub async fn stop(&self) {
        self.cancel.cancel();
        let task = self.task.lock().unwrap_or_else(|p| p.into_inner()).take();
        if let Some(task) = task {
            if let Err(e) = task.await {
                tracing::error!(server = %self.name, error = %e, "pipeline task failed");
            }
        }
    }
}

fn lock(tracker: &Mutex<Tracker>) -> MutexGuard<'_, Tracker> {
    // The tracker is pure and every call into it completes or panics inside one batch; a
    // poisoned lock means a bug there, and the state it left is still the best we have.
    tracker.lock().unwrap_or_else(|p| p.into_inner())
}

/// Counting the resync after a login, for its log line.
struct Resync {
    session: u64,
    closed: usize,
}

struct Task {
    name: Arc<str>,
    address: String,
    username: String,
    auth: &'static str,
    client: ClientHandle,
    events: EventStream,
    shared: Arc<Shared>,
    /// The live stream, published to under the tracker's lock (see [`Task::publish`]).
    hub: Arc<Hub>,
    live: LiveViews,
    changes: Vec<Change>,
    sink: Arc<dyn RecordSink>,
    metrics: PipelineMetrics,
    /// The last PBX timestamp seen and when (our monotonic clock).
    pbx_clock: Option<(Timestamp, Instant)>,
    resync: Option<Resync>,
    /// When the current connection attempt started, for the "in N ms" of the log lines.
    connecting_since: Option<SystemTime>,
    /// Attempts since the last session was up.
    attempt: u32,
    out: Vec<Update>,
    checkpoints: Option<Checkpointing>,
}

/// The checkpoints of the calls in progress, taken on the tick while calls change.
struct Checkpointing {
    files: Checkpoints,
    interval: Duration,
    last: Instant,
    /// Events were handled since the last checkpoint.
    dirty: bool,
    writing: Option<JoinHandle<std::io::Result<()>>>,
}

impl Task {
    async fn run(mut self, tick: Duration, cancel: CancellationToken) {
        let mut status = self.client.status();
        // The first state is already there when the task starts: log it too.
        let first = status.borrow_and_update().clone();
        self.status_changed(&first);
        self.restore();
        let mut ticker = tokio::time::interval(tick.max(Duration::from_millis(10)));
        ticker.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        loop {
            tokio::select! {
                biased;
                _ = cancel.cancelled() => break,
                event = self.events.recv() => match event {
                    Some(event) => self.batch(event),
                    None => break,
                },
                changed = status.changed() => {
                    if changed.is_err() {
                        break;
                    }
                    let s = status.borrow_and_update().clone();
                    self.status_changed(&s);
                }
                _ = ticker.tick() => self.tick(),
            }
        }
        self.finish().await;
    }

    /// Handles `first` and whatever else is already queued, up to [`BATCH`], under one
    /// lock; then hands the updates on, outside the lock.
    fn batch(&mut self, first: SessionEvent) {
        let mut n = 0u64;
        {
            let shared = self.shared.clone();
            let mut tracker = lock(&shared.tracker);
            let mut next = Some(first);
            let mut handled = 0;
            while let Some(event) = next.take() {
                if matches!(event, SessionEvent::Event(_)) {
                    n += 1;
                }
                self.handle(&mut tracker, event);
                handled += 1;
                if handled < BATCH {
                    next = self.events.try_recv();
                }
            }
            self.shared
                .active_calls
                .store(tracker.open_calls(), Relaxed);
            self.publish();
        }
        if n > 0 {
            self.shared.activity.consumed(n);
        }
        if let Some(c) = &mut self.checkpoints {
            c.dirty = true;
        }
        self.dispatch();
    }

    /// Takes back the calls of the last checkpoint, before the first event: the resync of
    /// the first session then keeps those the PBX still has and closes the others.
    fn restore(&mut self) {
        let Some(c) = &mut self.checkpoints else {
            return;
        };
        match c.files.load() {
            Ok(None) => {}
            Ok(Some(found)) => {
                let mut checkpoint = found.checkpoint;
                let saved = checkpoint.calls();
                checkpoint.retain(|l| !found.ended.contains(l));
                let shared = self.shared.clone();
                let mut tracker = lock(&shared.tracker);
                match tracker.restore(checkpoint) {
                    Ok(n) => {
                        self.live.reconcile(&tracker, &mut self.changes);
                        self.publish();
                        self.shared
                            .active_calls
                            .store(tracker.open_calls(), Relaxed);
                        tracing::info!(
                            server = %self.name,
                            resumed = n,
                            ended_since = saved - n.min(saved),
                            file = %found.path.display(),
                            "calls in progress taken back from the last checkpoint; the first resync keeps those the PBX still has"
                        );
                    }
                    Err(e) => {
                        tracing::warn!(server = %self.name, file = %found.path.display(), "checkpoint not used: {e}")
                    }
                }
            }
            Err(e) => tracing::warn!(server = %self.name, "checkpoint not used: {e}"),
        }
    }

    /// Writes a checkpoint if calls changed since the last one and it is time, unless the
    /// previous one is still being written.
    fn maybe_checkpoint(&mut self) {
        let Some(c) = &mut self.checkpoints else {
            return;
        };
        if !c.dirty || c.last.elapsed() < c.interval {
            return;
        }
        if c.writing.as_ref().is_some_and(|w| !w.is_finished()) {
            return;
        }
        let bytes = lock(&self.shared.tracker).checkpoint().to_json();
        let job = c.files.next(bytes);
        let name = self.name.clone();
        c.writing = Some(tokio::task::spawn_blocking(move || {
            let done = job();
            if let Err(e) = &done {
                tracing::warn!(server = %name, "cannot write the call checkpoint: {e}");
            }
            done
        }));
        c.dirty = false;
        c.last = Instant::now();
    }

    /// The last checkpoint, written before the calls are closed at a stop: the next start
    /// resumes them.
    async fn final_checkpoint(&mut self) {
        let Some(c) = &mut self.checkpoints else {
            return;
        };
        if let Some(w) = c.writing.take() {
            let _ = w.await;
        }
        let bytes = lock(&self.shared.tracker).checkpoint().to_json();
        let job = c.files.next(bytes);
        match tokio::task::spawn_blocking(job).await {
            Ok(Ok(())) => {}
            Ok(Err(e)) => {
                tracing::warn!(server = %self.name, "cannot write the call checkpoint: {e}")
            }
            Err(e) => tracing::warn!(server = %self.name, "call checkpoint: {e}"),
        }
    }

    fn handle(&mut self, tracker: &mut Tracker, event: SessionEvent) {
        match event {
            SessionEvent::Event(message) => {
                let name = message.name();
                self.metrics.event(name);
                let header_time = message.get("Timestamp").and_then(Timestamp::from_ami);
                if let Some(t) = header_time {
                    self.pbx_clock = Some((t, Instant::now()));
                }
                // Without a Timestamp header the tracker uses the session's last one, or,
                // in a session that has none at all, the time the event was read.
                let received = self.events.last_received_at().map(timestamp);
                let call = message
                    .get("Linkedid")
                    .map(|l| format!("{}:{}", self.name, l.trim()));
                self.step(tracker, call, |t, out| t.handle(&message, received, out));
                if name.eq_ignore_ascii_case("CoreShowChannelsComplete") {
                    self.resynced(tracker);
                    // What the lists adopted and closed, and anything no event announced.
                    self.live.reconcile(tracker, &mut self.changes);
                }
            }
            SessionEvent::Connected {
                session,
                protocol_version,
                asterisk_version,
                at,
            } => {
                let took = self
                    .connecting_since
                    .take()
                    .and_then(|since| at.duration_since(since).ok())
                    .unwrap_or_default();
                lifecycle::authenticated(&self.name, &self.username, self.auth, took);
                lifecycle::asterisk_version(
                    &self.name,
                    asterisk_version
                        .as_deref()
                        .unwrap_or("(version unknown: the AMI user may not run CoreSettings)"),
                    &protocol_version,
                );
                tracing::debug!(server = %self.name, session, "session started");
                self.attempt = 0;
                self.shared.activity.set_last_error(None);
                self.metrics.connected(true);
                self.resync = Some(Resync { session, closed: 0 });
                self.step(tracker, None, |t, out| {
                    t.session_started(Some(timestamp(at)), out)
                });
            }
            SessionEvent::Disconnected {
                session,
                reason,
                at,
            } => {
                tracing::debug!(server = %self.name, session, "session ended");
                lifecycle::disconnected(&self.name, &reason);
                self.shared
                    .activity
                    .set_last_error(Some(reason.to_string()));
                self.metrics.connected(false);
                self.resync = None;
                self.step(tracker, None, |t, out| {
                    t.session_lost(Some(timestamp(at)), out)
                });
            }
        }
    }

    /// The `CoreShowChannels` list is complete: the tracker has adopted what is up and
    /// closed what is gone.
    fn resynced(&mut self, tracker: &Tracker) {
        if let Some(resync) = self.resync.take() {
            let closed = resync.closed + self.out.iter().filter(|u| is_closed_by_resync(u)).count();
            tracing::debug!(server = %self.name, session = resync.session, "resync lists complete");
            lifecycle::resynced(&self.name, tracker.open_calls(), closed);
        }
    }

    /// Hands the updates of the last batch to the sink, the metrics and the bus.
    fn dispatch(&mut self) {
        for update in self.out.drain(..) {
            if let Some(c) = &mut self.checkpoints {
                match &update {
                    Update::CallEnded(r) => c.files.ended(&r.linkedid),
                    Update::CallMerged { id, .. } => {
                        let linkedid = id.split_once(':').map_or(id.as_str(), |(_, l)| l);
                        c.files.ended(linkedid);
                    }
                    _ => {}
                }
            }
            if let Update::CallEnded(record) = &update {
                if let Some(resync) = &mut self.resync {
                    if record.end == EndReason::EndedWhileDisconnected {
                        resync.closed += 1;
                    }
                }
                self.metrics.call_completed(record.disposition.as_str());
                self.sink.submit(record.clone());
            }
        }
    }

    /// One step of the tracker (an event, a session's start or loss, an expiry, the end):
    /// its updates go to `out` for the sinks, and the views they touched (and those of
    /// `call`, the call the event named) to the stream's changes.
    fn step(
        &mut self,
        tracker: &mut Tracker,
        call: Option<String>,
        step: impl FnOnce(&mut Tracker, &mut Vec<Update>),
    ) {
        let start = self.out.len();
        step(tracker, &mut self.out);
        self.live
            .observe(tracker, call, &self.out[start..], &mut self.changes);
    }

    /// Hands the stream's changes of the last events to the hub. Called with the tracker
    /// still locked, so that the hub gets every pipeline's changes in the tracker's order
    /// even when a retune publishes from outside the task.
    fn publish(&mut self) {
        if !self.changes.is_empty() {
            self.hub.publish(&self.name, self.changes.drain(..));
        }
    }

    fn status_changed(&mut self, status: &ami::Status) {
        let server = status::build(
            &self.name,
            status,
            &self.client.stats(),
            &self.shared.activity,
            self.sink.waiting(),
        );
        self.hub.publish(&self.name, [Change::Server(server)]);
        match status {
            ami::Status::Connecting { at, .. } => {
                self.connecting_since = Some(*at);
                lifecycle::connecting(&self.name, &self.address);
            }
            ami::Status::Authenticating { at } => {
                let took = self
                    .connecting_since
                    .and_then(|since| at.duration_since(since).ok())
                    .unwrap_or_default();
                lifecycle::connected(&self.name, &self.address, took);
            }
            ami::Status::Disconnected {
                reason,
                at,
                retry_in,
            } => {
                self.attempt += 1;
                // An attempt that failed before any session (a session's end was logged
                // from the event stream already).
                if let Some(since) = self.connecting_since.take() {
                    let took = at.duration_since(since).unwrap_or_default();
                    lifecycle::connect_failed(&self.name, &self.address, reason, took);
                    self.shared.activity.set_last_error(Some(reason.clone()));
                }
                if let Some(delay) = retry_in {
                    lifecycle::reconnecting(&self.name, *delay, self.attempt);
                }
            }
            ami::Status::Connected { .. } | ami::Status::Stopped { .. } => {}
        }
    }

    /// Expires silent calls and refreshes the metrics fed by the client's counters.
    fn tick(&mut self) {
        self.metrics.sample(&self.client.stats());
        if let Some((t, seen)) = self.pbx_clock {
            let elapsed = i64::try_from(seen.elapsed().as_micros()).unwrap_or(i64::MAX);
            let now = Timestamp(t.0.saturating_add(elapsed));
            {
                let shared = self.shared.clone();
                let mut tracker = lock(&shared.tracker);
                self.step(&mut tracker, None, |t, out| t.expire(now, out));
                self.publish();
                let active = tracker.open_calls();
                self.shared.active_calls.store(active, Relaxed);
            }
            self.dispatch();
        }
        self.metrics
            .active_calls(self.shared.active_calls.load(Relaxed));
        let unknown_hangups = lock(&self.shared.tracker).unknown_hangups();
        self.metrics.unknown_hangups(unknown_hangups);
        self.maybe_checkpoint();
    }

    /// Stopped or the stream ended: log off, take what the session still had queued, and
    /// close the calls left open so that the history has them.
    async fn finish(mut self) {
        self.client.shutdown().await;
        {
            let shared = self.shared.clone();
            let mut tracker = lock(&shared.tracker);
            while let Some(event) = self.events.try_recv() {
                // The session is ending on purpose: its Disconnected must not start the
                // "ended while disconnected" bookkeeping, end_of_stream closes everything.
                if !matches!(event, SessionEvent::Disconnected { .. }) {
                    self.handle(&mut tracker, event);
                }
            }
            self.publish();
        }
        self.dispatch();
        // Before the calls are closed: a restart takes them back from here. Their closing
        // below is this process's, not an end the next one must know of: it is not noted.
        self.final_checkpoint().await;
        self.checkpoints = None;
        {
            let shared = self.shared.clone();
            let mut tracker = lock(&shared.tracker);
            self.step(&mut tracker, None, |t, out| t.end_of_stream(out));
            // This pipeline is over: the PBX leaves the stream (a restart by a reload
            // brings it back with its new session).
            self.changes.push(Change::Forget);
            self.publish();
            self.shared.active_calls.store(0, Relaxed);
        }
        self.dispatch();
        self.metrics.stopped();
        tracing::info!(target: lifecycle::TARGET, server = %self.name, "{}: stopped", self.name);
    }
}

fn is_closed_by_resync(update: &Update) -> bool {
    matches!(update, Update::CallEnded(r) if r.end == EndReason::EndedWhileDisconnected)
}
