//! The hub: numbers every change of every PBX, keeps the state they add up to, keeps a
//! ring of recent updates, and fans them out to any number of clients.
//!
//! **One lock, one order.** Numbering, applying a change to the state, keeping it in the
//! ring and sending it to the clients happen under one mutex, so the order of `seq` is the
//! order of the state's changes and of every client's messages. A client subscribes (or
//! resyncs after a lag) under the same mutex: the snapshot it gets is the state after
//! exactly `seq`, and its receiver starts at `seq + 1`. Nothing a client does runs under
//! that mutex: the snapshot's entries are `Arc`s collected under it and serialized after.
//!
//! **Nobody waits for a client.** The fan-out is a `tokio::sync::broadcast` channel: one
//! shared ring with a cursor per client, `client_queue` messages deep. Sending never waits.
//! A client more than `client_queue` behind loses its place; it is sent a `lagged` notice
//! and a fresh snapshot (it has lost updates, so only a snapshot can make its state right
//! again), and a client that lags [`HubConfig::max_lags`] times within
//! [`HubConfig::lag_window`] is closed with a reason: it cannot keep up, and sending it
//! snapshots would only make it slower.
//!
//! **Epoch.** A random id chosen at start. Sequence numbers restart at each start, so a
//! resume token is `EPOCH-SEQ`, and a token of another epoch gets a fresh snapshot: a
//! client is never handed another history's updates.

use crate::filter::Filter;
use crate::frame::Frame;
use crate::message::{
    ByeMessage, Change, Event, Kind, LaggedMessage, SnapshotMessage, UpdateMessage,
};
use crate::ring::Ring;
use bytes::Bytes;
use pbx_status::ServerStatus;
use serde::Serialize;
use std::collections::{BTreeMap, VecDeque};
use std::sync::atomic::{AtomicU64, Ordering::Relaxed};
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::{Duration, Instant};
use tokio::sync::broadcast;
use tracker::{ActiveCall, CallRecord, ExtensionView, Leg, Party, QueueView};

/// The bounds of the hub (`[http.stream]` in the configuration).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct HubConfig {
    /// Updates kept for resuming, at most.
    pub ring_messages: usize,
    /// Bytes of JSON kept for resuming, at most.
    pub ring_bytes: usize,
    /// How far (in updates) a client may fall behind before it is told it lagged.
    pub client_queue: usize,
    /// Lags within [`HubConfig::lag_window`] after which a client is closed.
    pub max_lags: usize,
    pub lag_window: Duration,
}

impl Default for HubConfig {
    fn default() -> Self {
        HubConfig {
            ring_messages: 10_000,
            ring_bytes: 32 * 1024 * 1024,
            client_queue: 1024,
            max_lags: 3,
            lag_window: Duration::from_secs(60),
        }
    }
}

/// What a client is sent.
#[derive(Clone, Debug)]
pub struct Message {
    /// `snapshot`, `update`, `lagged` or `bye` (SSE's `event:`).
    pub kind: &'static str,
    /// `EPOCH-SEQ` for snapshots and updates (SSE's `id:`, the resume token).
    pub id: Option<String>,
    /// The JSON text.
    pub json: Bytes,
}

/// The next thing for a client.
#[derive(Clone, Debug)]
pub enum Next {
    Message(Message),
    /// Close the connection, with this reason.
    Close(String),
}

/// Counters, for the metrics.
#[derive(Debug, Default)]
pub struct HubStats {
    /// Updates numbered.
    pub updates: AtomicU64,
    /// Changes dropped because nothing changed.
    pub unchanged: AtomicU64,
    /// Lag notices sent.
    pub lagged: AtomicU64,
    /// Clients closed for being too slow.
    pub too_slow: AtomicU64,
    /// Snapshots sent.
    pub snapshots: AtomicU64,
    /// Resumes served from the ring.
    pub resumed: AtomicU64,
}

struct CallEntry {
    view: Arc<ActiveCall>,
    extensions: Vec<String>,
}

struct State {
    seq: u64,
    ring: Ring,
    calls: BTreeMap<String, CallEntry>,
    extensions: BTreeMap<(String, String), Arc<ExtensionView>>,
    queues: BTreeMap<(String, String), Arc<QueueView>>,
    servers: BTreeMap<String, Arc<ServerStatus>>,
    closed: Option<String>,
}

/// The stream's hub. Shared as `Arc<Hub>` by every pipeline (publishing) and the HTTP layer
/// (subscribing).
pub struct Hub {
    epoch: Arc<str>,
    config: HubConfig,
    state: Mutex<State>,
    tx: broadcast::Sender<Arc<Frame>>,
    stats: HubStats,
}

impl std::fmt::Debug for Hub {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Hub").field("epoch", &self.epoch).finish()
    }
}

/// The extensions a call concerns: its parties' and its legs' endpoints.
fn call_extensions(call: &ActiveCall) -> Vec<String> {
    extensions_of(&call.from, &call.to, &call.answered_by, &call.legs)
}

/// The same for a record, whose fields are the live view's.
fn record_extensions(record: &CallRecord) -> Vec<String> {
    extensions_of(&record.from, &record.to, &record.answered_by, &record.legs)
}

fn extensions_of(
    from: &Party,
    to: &Party,
    answered_by: &Option<String>,
    legs: &[Leg],
) -> Vec<String> {
    let mut v: Vec<String> = [&from.extension, &to.extension, answered_by]
        .into_iter()
        .flatten()
        .cloned()
        .chain(legs.iter().filter_map(|l| l.endpoint.clone()))
        .collect();
    v.sort();
    v.dedup();
    v
}

fn queue_extensions(q: &QueueView) -> Vec<String> {
    q.members
        .iter()
        .filter_map(|m| m.extension.clone())
        .collect()
}

fn union(mut a: Vec<String>, b: &[String]) -> Vec<String> {
    a.extend(b.iter().cloned());
    a.sort();
    a.dedup();
    a
}

impl Hub {
    pub fn new(config: HubConfig) -> Arc<Hub> {
        let (tx, _) = broadcast::channel(config.client_queue.max(1));
        Arc::new(Hub {
            epoch: Arc::from(format!("{:016x}", rand::random::<u64>())),
            state: Mutex::new(State {
                seq: 0,
                ring: Ring::new(config.ring_messages, config.ring_bytes),
                calls: BTreeMap::new(),
                extensions: BTreeMap::new(),
                queues: BTreeMap::new(),
                servers: BTreeMap::new(),
                closed: None,
            }),
            config,
            tx,
            stats: HubStats::default(),
        })
    }

    /// This run's epoch.
    pub fn epoch(&self) -> &str {
        &self.epoch
    }

    /// The last sequence number given out.
    pub fn seq(&self) -> u64 {
        self.lock().seq
    }

    pub fn config(&self) -> &HubConfig {
        &self.config
    }

    pub fn stats(&self) -> &HubStats {
        &self.stats
    }

    /// Clients subscribed now.
    pub fn clients(&self) -> usize {
        self.tx.receiver_count()
    }

    /// Updates and bytes the resume ring holds now.
    pub fn ring_usage(&self) -> (usize, usize) {
        let s = self.lock();
        (s.ring.len(), s.ring.bytes())
    }

    fn lock(&self) -> MutexGuard<'_, State> {
        // Every critical section completes or panics in our own code; the state left by a
        // panic is still the best we have.
        self.state.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// Applies `changes` of `server`, in order: each that changes something is numbered,
    /// kept and sent. Never waits for a client.
    pub fn publish(&self, server: &Arc<str>, changes: impl IntoIterator<Item = Change>) {
        let mut state = self.lock();
        if state.closed.is_some() {
            return;
        }
        for change in changes {
            self.apply(&mut state, server, change);
        }
    }

    fn apply(&self, s: &mut State, server: &Arc<str>, change: Change) {
        match change {
            Change::Call { event, call } => {
                let id = call.id.clone();
                let new_ext = call_extensions(&call);
                let (extensions, same) = match s.calls.get(&id) {
                    Some(old) => (union(new_ext.clone(), &old.extensions), *old.view == call),
                    None => (new_ext.clone(), false),
                };
                if same && event == Event::Updated {
                    self.stats.unchanged.fetch_add(1, Relaxed);
                    return;
                }
                let view = Arc::new(call);
                s.calls.insert(
                    id,
                    CallEntry {
                        view: view.clone(),
                        extensions: new_ext,
                    },
                );
                self.emit(s, server, Kind::Call, event, &*view, None, None, extensions);
            }
            Change::CallEnded { id, record } => self.call_gone(s, server, &id, Some(&record), None),
            Change::CallMerged { id, into } => self.call_gone(s, server, &id, None, Some(&into)),
            Change::Extension(view) => {
                let key = (view.server.clone(), view.extension.clone());
                if s.extensions.get(&key).is_some_and(|old| **old == view) {
                    self.stats.unchanged.fetch_add(1, Relaxed);
                    return;
                }
                let view = Arc::new(view);
                s.extensions.insert(key, view.clone());
                let ext = vec![view.extension.clone()];
                self.emit(
                    s,
                    server,
                    Kind::Extension,
                    Event::Changed,
                    &*view,
                    None,
                    None,
                    ext,
                );
            }
            Change::Queue(view) => {
                let key = (view.server.clone(), view.name.clone());
                let old_ext = match s.queues.get(&key) {
                    Some(old) if **old == view => {
                        self.stats.unchanged.fetch_add(1, Relaxed);
                        return;
                    }
                    Some(old) => queue_extensions(old),
                    None => Vec::new(),
                };
                let ext = union(queue_extensions(&view), &old_ext);
                let view = Arc::new(view);
                s.queues.insert(key, view.clone());
                self.emit(
                    s,
                    server,
                    Kind::Queue,
                    Event::Changed,
                    &*view,
                    None,
                    None,
                    ext,
                );
            }
            Change::Server(status) => {
                let status = Arc::new(status);
                s.servers.insert(status.name.clone(), status.clone());
                self.emit(
                    s,
                    server,
                    Kind::Server,
                    Event::Changed,
                    &*status,
                    None,
                    None,
                    vec![],
                );
            }
            Change::Reconcile {
                calls,
                extensions,
                queues,
            } => {
                let keep_calls: Vec<String> = calls.iter().map(|c| c.id.clone()).collect();
                let gone: Vec<String> = s
                    .calls
                    .iter()
                    .filter(|(id, c)| c.view.server == **server && !keep_calls.contains(id))
                    .map(|(id, _)| id.clone())
                    .collect();
                for id in gone {
                    self.call_gone_removed(s, server, &id);
                }
                for call in calls {
                    self.apply(
                        s,
                        server,
                        Change::Call {
                            event: Event::Updated,
                            call,
                        },
                    );
                }
                let keep: Vec<(String, String)> = extensions
                    .iter()
                    .map(|e| (e.server.clone(), e.extension.clone()))
                    .collect();
                self.remove_where(s, server, Kind::Extension, |k| !keep.contains(k));
                for e in extensions {
                    self.apply(s, server, Change::Extension(e));
                }
                let keep: Vec<(String, String)> = queues
                    .iter()
                    .map(|q| (q.server.clone(), q.name.clone()))
                    .collect();
                self.remove_where(s, server, Kind::Queue, |k| !keep.contains(k));
                for q in queues {
                    self.apply(s, server, Change::Queue(q));
                }
            }
            Change::Forget => {
                let gone: Vec<String> = s
                    .calls
                    .iter()
                    .filter(|(_, c)| c.view.server == **server)
                    .map(|(id, _)| id.clone())
                    .collect();
                for id in gone {
                    self.call_gone_removed(s, server, &id);
                }
                self.remove_where(s, server, Kind::Extension, |_| true);
                self.remove_where(s, server, Kind::Queue, |_| true);
                if let Some(status) = s.servers.remove(&**server) {
                    self.emit(
                        s,
                        server,
                        Kind::Server,
                        Event::Removed,
                        &*status,
                        None,
                        None,
                        vec![],
                    );
                }
            }
        }
    }

    fn call_gone(
        &self,
        s: &mut State,
        server: &Arc<str>,
        id: &str,
        record: Option<&CallRecord>,
        into: Option<&str>,
    ) {
        // A call that ended before the hub ever saw it live (a whole call in one batch)
        // still has its record sent, with the record standing in for the view.
        let Some(entry) = s.calls.remove(id) else {
            if let Some(record) = record {
                let ext = record_extensions(record);
                self.emit(
                    s,
                    server,
                    Kind::Call,
                    Event::Ended,
                    record,
                    Some(record),
                    None,
                    ext,
                );
            }
            return;
        };
        let event = if record.is_some() {
            Event::Ended
        } else {
            Event::Merged
        };
        self.emit(
            s,
            server,
            Kind::Call,
            event,
            &*entry.view,
            record,
            into,
            entry.extensions,
        );
    }

    fn call_gone_removed(&self, s: &mut State, server: &Arc<str>, id: &str) {
        if let Some(entry) = s.calls.remove(id) {
            self.emit(
                s,
                server,
                Kind::Call,
                Event::Removed,
                &*entry.view,
                None,
                None,
                entry.extensions,
            );
        }
    }

    fn remove_where(
        &self,
        s: &mut State,
        server: &Arc<str>,
        kind: Kind,
        gone: impl Fn(&(String, String)) -> bool,
    ) {
        let of_server = |k: &(String, String)| k.0 == **server && gone(k);
        match kind {
            Kind::Extension => {
                let keys: Vec<_> = s
                    .extensions
                    .keys()
                    .filter(|k| of_server(k))
                    .cloned()
                    .collect();
                for k in keys {
                    if let Some(v) = s.extensions.remove(&k) {
                        let ext = vec![v.extension.clone()];
                        self.emit(s, server, kind, Event::Removed, &*v, None, None, ext);
                    }
                }
            }
            Kind::Queue => {
                let keys: Vec<_> = s.queues.keys().filter(|k| of_server(k)).cloned().collect();
                for k in keys {
                    if let Some(v) = s.queues.remove(&k) {
                        let ext = queue_extensions(&v);
                        self.emit(s, server, kind, Event::Removed, &*v, None, None, ext);
                    }
                }
            }
            Kind::Call | Kind::Server => {}
        }
    }

    #[allow(clippy::too_many_arguments)]
    fn emit<T: Serialize>(
        &self,
        s: &mut State,
        server: &Arc<str>,
        kind: Kind,
        event: Event,
        data: &T,
        record: Option<&CallRecord>,
        into: Option<&str>,
        extensions: Vec<String>,
    ) {
        let seq = s.seq + 1;
        let message = UpdateMessage {
            kind_of_message: "update",
            epoch: &self.epoch,
            seq,
            server,
            kind,
            event,
            data,
            record,
            into,
        };
        let json = match serde_json::to_vec(&message) {
            Ok(j) => Bytes::from(j),
            // Our own types always serialize; a failure is a bug, not worth a hole in seq.
            Err(_) => return,
        };
        s.seq = seq;
        let frame = Arc::new(Frame {
            seq,
            server: server.clone(),
            kind,
            extensions: extensions.into_boxed_slice(),
            json,
            bye: None,
        });
        s.ring.push(frame.clone());
        self.stats.updates.fetch_add(1, Relaxed);
        let _ = self.tx.send(frame);
    }

    /// Sends every client a `bye` with `reason`, after which their subscriptions close;
    /// publishing stops. For a shutdown.
    pub fn close(&self, reason: &str) {
        let mut s = self.lock();
        if s.closed.is_some() {
            return;
        }
        s.closed = Some(reason.to_string());
        let json = serde_json::to_vec(&ByeMessage {
            kind_of_message: "bye",
            epoch: &self.epoch,
            seq: s.seq,
            reason,
        })
        .unwrap_or_default();
        let _ = self.tx.send(Arc::new(Frame {
            seq: 0,
            server: Arc::from(""),
            kind: Kind::Server,
            extensions: Box::new([]),
            json: Bytes::from(json),
            bye: Some(reason.to_string()),
        }));
    }

    /// A new client. `since` is its resume token (`EPOCH-SEQ`): when the ring holds every
    /// update after it, the client is sent exactly those; otherwise (another epoch, too
    /// old, not a token) a snapshot with `"resumed": false`. Without `since`, a snapshot.
    pub fn subscribe(self: &Arc<Self>, filter: Filter, since: Option<&str>) -> Subscription {
        let mut sub = Subscription {
            hub: self.clone(),
            filter,
            rx: None,
            pending: VecDeque::new(),
            lags: VecDeque::new(),
            closing: None,
        };
        let resume = since.and_then(|t| {
            let (epoch, seq) = t.trim().rsplit_once('-')?;
            (epoch == &*self.epoch).then_some(())?;
            seq.parse::<u64>().ok()
        });
        let state = self.lock();
        if let Some(reason) = &state.closed {
            sub.closing = Some(reason.clone());
            return sub;
        }
        if let Some(seq) = resume {
            if let Some(frames) = state.ring.after(seq, state.seq) {
                sub.rx = Some(self.tx.subscribe());
                drop(state);
                self.stats.resumed.fetch_add(1, Relaxed);
                sub.pending = frames
                    .iter()
                    .filter(|f| sub.filter.passes(f.kind, &f.server, &f.extensions))
                    .map(|f| self.update_message(f))
                    .collect();
                return sub;
            }
        }
        let resumed = since.map(|_| false);
        let snapshot = sub.resync(state, resumed);
        sub.pending.push_back(snapshot);
        sub
    }

    fn update_message(&self, frame: &Frame) -> Message {
        Message {
            kind: "update",
            id: Some(format!("{}-{}", self.epoch, frame.seq)),
            json: frame.json.clone(),
        }
    }
}

/// One client's view of the stream.
pub struct Subscription {
    hub: Arc<Hub>,
    filter: Filter,
    rx: Option<broadcast::Receiver<Arc<Frame>>>,
    pending: VecDeque<Message>,
    /// When this client lagged, within the window.
    lags: VecDeque<Instant>,
    /// Set once the subscription must end, with the reason.
    closing: Option<String>,
}

impl Subscription {
    /// Takes a fresh receiver and the snapshot it starts after, under the hub's lock held
    /// as `state`, and serializes the snapshot after releasing it.
    fn resync(&mut self, state: MutexGuard<'_, State>, resumed: Option<bool>) -> Message {
        let f = &self.filter;
        let calls: Vec<Arc<ActiveCall>> = state
            .calls
            .values()
            .filter(|c| f.passes(Kind::Call, &c.view.server, &c.extensions))
            .map(|c| c.view.clone())
            .collect();
        let extensions: Vec<Arc<ExtensionView>> = state
            .extensions
            .values()
            .filter(|e| {
                f.passes(
                    Kind::Extension,
                    &e.server,
                    std::slice::from_ref(&e.extension),
                )
            })
            .cloned()
            .collect();
        let queues: Vec<Arc<QueueView>> = state
            .queues
            .values()
            .filter(|q| f.passes(Kind::Queue, &q.server, &queue_extensions(q)))
            .cloned()
            .collect();
        let servers: Vec<Arc<ServerStatus>> = state
            .servers
            .values()
            .filter(|s| f.passes(Kind::Server, &s.name, &[]))
            .cloned()
            .collect();
        let seq = state.seq;
        self.rx = Some(self.hub.tx.subscribe());
        drop(state);
        let hub = &self.hub;
        hub.stats.snapshots.fetch_add(1, Relaxed);
        let json = serde_json::to_vec(&SnapshotMessage {
            kind_of_message: "snapshot",
            epoch: &hub.epoch,
            seq,
            resumed,
            calls,
            extensions,
            queues,
            servers,
        })
        .unwrap_or_default();
        Message {
            kind: "snapshot",
            id: Some(format!("{}-{}", hub.epoch, seq)),
            json: Bytes::from(json),
        }
    }

    /// The next message for this client, or the reason to close its connection. Waits
    /// for the next update the filter lets through; cancel-safe.
    pub async fn next(&mut self) -> Next {
        loop {
            if let Some(m) = self.pending.pop_front() {
                return Next::Message(m);
            }
            if let Some(reason) = &self.closing {
                return Next::Close(reason.clone());
            }
            let Some(rx) = self.rx.as_mut() else {
                return Next::Close("the stream is closed".into());
            };
            match rx.recv().await {
                Ok(frame) => {
                    if let Some(reason) = &frame.bye {
                        self.closing = Some(reason.clone());
                        return Next::Message(Message {
                            kind: "bye",
                            id: None,
                            json: frame.json.clone(),
                        });
                    }
                    if self
                        .filter
                        .passes(frame.kind, &frame.server, &frame.extensions)
                    {
                        return Next::Message(self.hub.update_message(&frame));
                    }
                }
                Err(broadcast::error::RecvError::Lagged(missed)) => self.lagged(missed),
                Err(broadcast::error::RecvError::Closed) => {
                    self.closing = Some("the service stopped".into());
                }
            }
        }
    }

    fn lagged(&mut self, missed: u64) {
        let hub = self.hub.clone();
        let now = Instant::now();
        while self
            .lags
            .front()
            .is_some_and(|t| now.duration_since(*t) > hub.config.lag_window)
        {
            self.lags.pop_front();
        }
        self.lags.push_back(now);
        if self.lags.len() >= hub.config.max_lags.max(1) {
            hub.stats.too_slow.fetch_add(1, Relaxed);
            self.rx = None;
            self.closing = Some(format!(
                "too slow: fell behind the stream {} times within {} s",
                self.lags.len(),
                hub.config.lag_window.as_secs()
            ));
            return;
        }
        hub.stats.lagged.fetch_add(1, Relaxed);
        let state = hub.lock();
        let notice = serde_json::to_vec(&LaggedMessage {
            kind_of_message: "lagged",
            epoch: &hub.epoch,
            seq: state.seq,
            missed,
        })
        .unwrap_or_default();
        self.pending.push_back(Message {
            kind: "lagged",
            id: None,
            json: Bytes::from(notice),
        });
        let snapshot = self.resync(state, None);
        self.pending.push_back(snapshot);
    }

    /// Ends this subscription with `reason` (its token was revoked, the server stops):
    /// the next call of [`next`](Self::next) says so.
    pub fn close(&mut self, reason: impl Into<String>) {
        self.pending.clear();
        self.rx = None;
        self.closing = Some(reason.into());
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use pbx_status::{ConnectionState, Lag};
    use serde_json::Value;

    fn server(name: &str, state: ConnectionState) -> Change {
        Change::Server(ServerStatus {
            name: name.into(),
            state,
            since: None,
            asterisk_version: None,
            last_event_age_seconds: None,
            events_per_second: 0.0,
            reconnects: 0,
            ping_rtt_seconds: None,
            lag: Lag::default(),
            database_backlog: 0,
            last_error: None,
        })
    }

    fn ext(server: &str, e: &str, state: &'static str) -> Change {
        Change::Extension(ExtensionView {
            server: server.into(),
            extension: e.into(),
            state,
            hint: None,
            calls: vec![],
        })
    }

    fn json(m: &Message) -> Value {
        serde_json::from_slice(&m.json).unwrap()
    }

    async fn message(sub: &mut Subscription) -> Message {
        match sub.next().await {
            Next::Message(m) => m,
            Next::Close(why) => panic!("closed: {why}"),
        }
    }

    #[tokio::test]
    async fn unchanged_views_take_no_sequence_number() {
        let hub = Hub::new(HubConfig::default());
        let pbx: Arc<str> = Arc::from("pbx1");
        hub.publish(
            &pbx,
            [ext("pbx1", "2001", "idle"), ext("pbx1", "2001", "idle")],
        );
        assert_eq!(hub.seq(), 1);
        hub.publish(&pbx, [ext("pbx1", "2001", "ringing")]);
        assert_eq!(hub.seq(), 2);
        assert_eq!(hub.stats().unchanged.load(Relaxed), 1);
    }

    #[tokio::test]
    async fn a_slow_client_is_told_it_lagged_gets_a_snapshot_and_is_closed_when_it_stays_behind() {
        let hub = Hub::new(HubConfig {
            client_queue: 4,
            max_lags: 2,
            ..HubConfig::default()
        });
        let pbx: Arc<str> = Arc::from("pbx1");
        let mut slow = hub.subscribe(Filter::all(), None);
        assert_eq!(message(&mut slow).await.kind, "snapshot");
        let states = ["idle", "ringing", "inuse", "onhold"];
        for i in 0..20 {
            hub.publish(&pbx, [ext("pbx1", "2001", states[i % 4])]);
        }
        // Publishing never waited; the client learns it missed some, then gets the state.
        let lagged = message(&mut slow).await;
        assert_eq!(lagged.kind, "lagged");
        assert!(json(&lagged)["missed"].as_u64().unwrap() >= 16);
        let snap = message(&mut slow).await;
        assert_eq!(json(&snap)["seq"], 20);
        assert_eq!(json(&snap)["extensions"][0]["state"], "onhold");
        for i in 0..20 {
            hub.publish(&pbx, [ext("pbx1", "2001", states[i % 4])]);
        }
        match slow.next().await {
            Next::Close(why) => assert!(why.starts_with("too slow"), "{why}"),
            Next::Message(m) => panic!("expected a close, got {}", m.kind),
        }
        assert_eq!(hub.stats().too_slow.load(Relaxed), 1);
    }

    #[tokio::test]
    async fn resume_from_the_ring_and_past_it() {
        let hub = Hub::new(HubConfig {
            ring_messages: 5,
            ..HubConfig::default()
        });
        let pbx: Arc<str> = Arc::from("pbx1");
        for i in 0..10 {
            hub.publish(&pbx, [ext("pbx1", &format!("20{i:02}"), "idle")]);
        }
        let token = |seq: u64| format!("{}-{seq}", hub.epoch());
        // 7 is in the ring: exactly 8, 9, 10 come.
        let mut sub = hub.subscribe(Filter::all(), Some(&token(7)));
        for want in 8..=10 {
            let m = message(&mut sub).await;
            assert_eq!(m.kind, "update");
            assert_eq!(json(&m)["seq"], want);
            assert_eq!(m.id.as_deref(), Some(token(want).as_str()));
        }
        // 2 is older than the ring holds: a snapshot says the resume failed.
        let mut old = hub.subscribe(Filter::all(), Some(&token(2)));
        let m = message(&mut old).await;
        assert_eq!(json(&m)["type"], "snapshot");
        assert_eq!(json(&m)["resumed"], false);
        assert_eq!(json(&m)["extensions"].as_array().unwrap().len(), 10);
        // A number from the future is not trusted either.
        let mut future = hub.subscribe(Filter::all(), Some(&token(99)));
        assert_eq!(message(&mut future).await.kind, "snapshot");
    }

    #[tokio::test]
    async fn filters_apply_to_snapshots_and_updates_alike() {
        let hub = Hub::new(HubConfig::default());
        let (a, b): (Arc<str>, Arc<str>) = (Arc::from("pbx1"), Arc::from("pbx2"));
        hub.publish(
            &a,
            [
                ext("pbx1", "2001", "idle"),
                server("pbx1", ConnectionState::Connected),
            ],
        );
        hub.publish(&b, [ext("pbx2", "2001", "idle")]);
        let filter = Filter::parse(Some("pbx1"), None, Some("extension")).unwrap();
        let mut sub = hub.subscribe(filter, None);
        let snap = json(&message(&mut sub).await);
        assert_eq!(snap["extensions"].as_array().unwrap().len(), 1);
        assert_eq!(snap["servers"].as_array().unwrap().len(), 0);
        hub.publish(&b, [ext("pbx2", "2001", "busy")]);
        hub.publish(&a, [server("pbx1", ConnectionState::Reconnecting)]);
        hub.publish(&a, [ext("pbx1", "2001", "busy")]);
        let m = json(&message(&mut sub).await);
        assert_eq!(
            (m["server"].as_str(), m["seq"].as_u64()),
            (Some("pbx1"), Some(6))
        );
    }

    #[tokio::test]
    async fn forgetting_a_pbx_removes_what_it_had_and_close_says_why() {
        let hub = Hub::new(HubConfig::default());
        let pbx: Arc<str> = Arc::from("pbx1");
        hub.publish(
            &pbx,
            [
                ext("pbx1", "2001", "idle"),
                server("pbx1", ConnectionState::Connected),
            ],
        );
        let mut sub = hub.subscribe(Filter::all(), None);
        message(&mut sub).await;
        hub.publish(&pbx, [Change::Forget]);
        let events: Vec<(String, String)> = [message(&mut sub).await, message(&mut sub).await]
            .iter()
            .map(|m| {
                let v = json(m);
                (
                    v["kind"].as_str().unwrap().into(),
                    v["event"].as_str().unwrap().into(),
                )
            })
            .collect();
        assert_eq!(
            events,
            [
                ("extension".into(), "removed".into()),
                ("server".into(), "removed".into())
            ]
        );
        hub.close("the service is shutting down");
        let bye = message(&mut sub).await;
        assert_eq!(bye.kind, "bye");
        assert_eq!(json(&bye)["reason"], "the service is shutting down");
        assert!(matches!(sub.next().await, Next::Close(_)));
        // Nothing is published after the close.
        hub.publish(&pbx, [ext("pbx1", "2002", "idle")]);
        assert_eq!(hub.seq(), 4);
    }
}
