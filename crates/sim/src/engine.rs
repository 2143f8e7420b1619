//! The engine: the one task that owns the PBX's time line and sends its events.
//!
//! Everything that happens on the simulated PBX goes through here, in time order: the
//! recording being replayed, the calls being played from templates (generated or created by
//! `Originate`), and the events made up on the spot (a hangup by action, a restart). The
//! engine queues each batch for reading into the shared [`State`](crate::state::State) before
//! it sends it (a thread of its own reads it; whoever looks at the state first reads what is
//! left, see `shared::Unread`), so the list actions always agree with the stream, and hands
//! the events in batches to every logged-in session through a bounded channel: a slow client
//! slows the stream down (as a full socket would), it never makes the simulator buffer
//! without bound.

use crate::atxfer::{self, Atxfer};
use crate::call::Call;
use crate::cmd::{Batch, Cmd, OriginateReq};
use crate::generate::Generator;
use crate::replay::{Recording, ReplayItem};
use crate::shared::{Shared, StateOp, Unread};
use crate::state::affects_state;
use crate::synth;
use crate::template::{Ids, Instance};
use crate::templates::{t, templates};
use bytes::{Bytes, BytesMut};
use std::cmp::Reverse;
use std::collections::{BinaryHeap, HashMap, VecDeque};
use std::sync::Arc;
use tokio::sync::{mpsc, oneshot};

struct ReplayCursor {
    rec: Arc<Recording>,
    i: usize,
    k: u64,
    loops: u64,
}

impl ReplayCursor {
    /// The item to play next, None once every loop is done.
    fn current(&self) -> Option<&ReplayItem> {
        if self.k >= self.loops {
            return None;
        }
        self.rec.items.get(self.i)
    }

    fn next_ts(&self) -> Option<u64> {
        self.current()?;
        self.rec.time_of(self.i, self.k)
    }

    /// Moves on, into the next loop after the last item: the one place that steps the
    /// cursor, so that `i` never stays past the end (a recording of list items only used to
    /// leave it there and panic the next look).
    fn advance(&mut self) {
        self.i += 1;
        if self.i >= self.rec.items.len() {
            self.i = 0;
            self.k += 1;
        }
    }
}

enum Next {
    Pending,
    Replay,
    Call(u64),
    Start,
    Atxfer(u64),
}

/// The engine task's state.
pub(crate) struct Engine {
    shared: Arc<Shared>,
    rx: mpsc::Receiver<Cmd>,
    subs: Vec<mpsc::Sender<Arc<Batch>>>,
    replay: Option<ReplayCursor>,
    calls: HashMap<u64, Call>,
    heap: BinaryHeap<Reverse<(u64, u64, u64)>>,
    order: u64,
    next_id: u64,
    pending: VecDeque<BytesMut>,
    ids: Ids,
    gen: Option<Generator>,
    /// Attended transfers in progress (`Action: Atxfer`, or a generated call's callee), by
    /// id, with the generated call they continue.
    atxfers: HashMap<u64, (Atxfer, Option<Call>)>,
    /// When each transfer's next step is due: on the engine's time line, like the calls, so
    /// that generated traffic stays deterministic at `Speed::Max`.
    atxfer_due: BinaryHeap<Reverse<(u64, u64)>>,
    next_atxfer: u64,
    /// Local channels are numbered on their own (`Local/2003@internal-0000000N;1`).
    local_seq: u64,
    /// Wakes the state reader thread when a batch waits for it.
    wake: std::sync::mpsc::SyncSender<()>,
}

/// At most this many `Atxfer` transfers at once (each waits on timers).
const MAX_ATXFERS: usize = 1024;

const BATCH_EVENTS: usize = 1024;
const BATCH_BYTES: usize = 1024 * 1024;

impl Engine {
    pub(crate) fn new(
        shared: Arc<Shared>,
        rx: mpsc::Receiver<Cmd>,
        wake: std::sync::mpsc::SyncSender<()>,
        replay: Option<(Arc<Recording>, u32)>,
        gen: Option<Generator>,
        boot_secs: u64,
    ) -> Engine {
        let mut e = Engine {
            shared,
            rx,
            subs: Vec::new(),
            replay: replay.map(|(rec, loops)| ReplayCursor {
                rec,
                i: 0,
                k: 0,
                loops: loops.max(1) as u64,
            }),
            calls: HashMap::new(),
            heap: BinaryHeap::new(),
            order: 0,
            next_id: 0,
            pending: VecDeque::new(),
            ids: Ids {
                boot_secs,
                ..Ids::default()
            },
            gen,
            atxfers: HashMap::new(),
            atxfer_due: BinaryHeap::new(),
            next_atxfer: 0,
            local_seq: 0,
            wake,
        };
        // What a recording says about calls already up (list items before its first bus
        // event) is the state a client finds when it logs in.
        if let Some(c) = e.replay.as_mut() {
            let mut st = e.shared.state();
            while let Some(it) = c.current().filter(|it| c.k == 0 && !it.send) {
                st.apply(&it.msg);
                c.advance();
            }
        }
        e
    }

    fn now(&self) -> u64 {
        self.shared.clock().now()
    }

    /// Runs until stopped.
    pub(crate) async fn run(mut self) {
        loop {
            loop {
                match self.rx.try_recv() {
                    Ok(cmd) => {
                        if !self.handle(cmd).await {
                            return;
                        }
                    }
                    Err(mpsc::error::TryRecvError::Empty) => break,
                    Err(mpsc::error::TryRecvError::Disconnected) => return,
                }
            }
            self.subs.retain(|s| !s.is_closed());
            if self.subs.is_empty() {
                self.shared.clock().pause();
                if !self.wait_command().await {
                    return;
                }
                continue;
            }
            self.shared.clock().resume();
            let Some((due, _)) = self.next() else {
                if !self.wait_command().await {
                    return;
                }
                continue;
            };
            let now = self.now();
            if due > now {
                let wait = {
                    let mut c = self.shared.clock();
                    if c.is_max() {
                        c.advance_to(due);
                        None
                    } else {
                        Some(c.wall_until(due))
                    }
                };
                if let Some(wait) = wait {
                    tokio::select! {
                        _ = tokio::time::sleep(wait) => {}
                        cmd = self.rx.recv() => {
                            match cmd {
                                Some(cmd) => if !self.handle(cmd).await { return },
                                None => return,
                            }
                            continue;
                        }
                    }
                }
            }
            self.emit_due(false).await;
        }
    }

    /// Waits for the next command and handles it; false to stop.
    async fn wait_command(&mut self) -> bool {
        match self.rx.recv().await {
            Some(cmd) => self.handle(cmd).await,
            None => false,
        }
    }

    /// The earliest thing to do, and when.
    fn next(&self) -> Option<(u64, Next)> {
        if !self.pending.is_empty() {
            return Some((0, Next::Pending));
        }
        let mut best: Option<(u64, Next)> = None;
        let mut consider = |t: Option<u64>, n: Next| {
            if let Some(t) = t {
                if best.as_ref().is_none_or(|(b, _)| t < *b) {
                    best = Some((t, n));
                }
            }
        };
        consider(self.replay.as_ref().and_then(|r| r.next_ts()), Next::Replay);
        if let Some(Reverse((t, _, id))) = self.heap.peek() {
            consider(Some(*t), Next::Call(*id));
        }
        consider(self.gen.as_ref().and_then(|g| g.next_start()), Next::Start);
        if let Some(Reverse((t, id))) = self.atxfer_due.peek() {
            consider(Some(*t), Next::Atxfer(*id));
        }
        best
    }

    /// Sends every event that is due, in batches.
    /// `pending_only`: just the made-up events waiting to go (a restart sends nothing else).
    async fn emit_due(&mut self, pending_only: bool) {
        let max = self.shared.clock().is_max();
        // At full speed a batch fills up: room for all of it at once, instead of growing
        // (copying) the buffer four times on the way to a megabyte.
        let mut buf = BytesMut::with_capacity(if max {
            BATCH_BYTES + 64 * 1024
        } else {
            64 * 1024
        });
        let mut ends = Vec::with_capacity(if max { BATCH_EVENTS } else { 16 });
        // Synchronous Originates answered once the state can see their call.
        let mut replies = Vec::new();
        // How the state reads this batch (later, see `Unread`).
        let mut ops = Vec::with_capacity(ends.capacity());
        let read = |start: usize, end: usize| StateOp::Read(start as u32, end as u32);
        let mut latest;
        {
            let now = self.now();
            // At full speed the clock simply follows the events: a batch takes as many as
            // fit, not only those of one instant (one write per event would be slow).
            latest = now;
            while ends.len() < BATCH_EVENTS && buf.len() < BATCH_BYTES {
                let Some((t, what)) = self.next() else { break };
                if (t > now && !max) || (pending_only && !matches!(what, Next::Pending)) {
                    break;
                }
                latest = latest.max(t);
                match what {
                    Next::Pending => {
                        let Some(ev) = self.pending.pop_front() else {
                            break;
                        };
                        let start = buf.len();
                        buf.extend_from_slice(&ev);
                        ends.push(buf.len());
                        ops.push(read(start, buf.len()));
                    }
                    Next::Replay => {
                        let Some(c) = self.replay.as_mut() else { break };
                        let Some(it) = c.current() else { break };
                        let start = buf.len();
                        c.rec.render_into(c.i, c.k, &mut buf);
                        if it.send {
                            ends.push(buf.len());
                            ops.push(if it.affects {
                                read(start, buf.len())
                            } else {
                                StateOp::Time(t)
                            });
                        } else {
                            ops.push(if it.affects {
                                StateOp::Message(Bytes::copy_from_slice(&buf[start..]))
                            } else {
                                StateOp::Time(t)
                            });
                            buf.truncate(start);
                        }
                        c.advance();
                    }
                    Next::Call(id) => {
                        self.heap.pop();
                        let Some(call) = self.calls.get_mut(&id) else {
                            continue;
                        };
                        let i = call.next;
                        if call.transfer_at.as_ref().is_some_and(|(at, _)| *at == i) {
                            // The transfer reads the state, which must have seen this batch
                            // so far: read it here, then go on filling the batch (its events
                            // come next, as pending ones).
                            if let Some(call) = self.calls.remove(&id) {
                                self.catch_up(&buf, &mut ops, latest, max);
                                self.transfer_by_callee(call);
                            }
                            continue;
                        }
                        let start = buf.len();
                        call.inst.render(call.tpl, i, &mut self.ids, &mut buf);
                        ends.push(buf.len());
                        if call.tpl.event_name(i) == "OriginateResponse" {
                            replies.extend(call.originate_reply.take());
                        }
                        call.next += 1;
                        let more = call.next < call.tpl.len();
                        let next_t = more.then(|| call.inst.time_of(call.tpl, call.next));
                        ops.push(if affects_state(call.tpl.event_name(i)) {
                            read(start, buf.len())
                        } else {
                            StateOp::Time(t)
                        });
                        match next_t {
                            Some(nt) => {
                                self.order += 1;
                                self.heap.push(Reverse((nt, self.order, id)));
                            }
                            None => {
                                // Ended: its phones are free for the next call at once.
                                if let Some(call) = self.calls.remove(&id) {
                                    match self.gen.as_mut() {
                                        Some(g) => g.finish(call, t),
                                        None => drop(call),
                                    }
                                }
                            }
                        }
                    }
                    Next::Start => {
                        let Some(g) = self.gen.as_mut() else { break };
                        if let Some(call) = g.start(t) {
                            self.schedule(call);
                        }
                    }
                    Next::Atxfer(id) => {
                        self.atxfer_due.pop();
                        // As for a transfer: the state catches up, the step's events come
                        // next, as pending ones.
                        self.catch_up(&buf, &mut ops, latest, max);
                        let shared = self.shared.clone();
                        let st = shared.state();
                        self.atxfer_step(id, &st, t);
                    }
                }
            }
        }
        if max {
            self.shared.clock().advance_to(latest);
        }
        if let Some(g) = self.gen.as_mut() {
            // Arrivals held back (concurrency, free phones) start now, never in the past.
            g.not_before(latest.max(self.shared.clock().now()));
        }
        let bytes = buf.freeze();
        if !ops.is_empty() {
            let unread = Unread {
                bytes: bytes.clone(),
                ops,
            };
            if self.shared.queue_unread(unread) {
                // Fails only when a wake-up is pending already: the reader finds this too.
                let _ = self.wake.try_send(());
            } else {
                // The reader fell behind: read here, at the cost of the engine's pace.
                drop(self.shared.state());
            }
        }
        for r in replies {
            let _ = r.send(Ok(()));
        }
        if !ends.is_empty() {
            self.broadcast(Batch { bytes, ends }).await;
        }
    }

    /// Brings the state up to the batch being filled (`ops` so far, read here and taken out
    /// of the batch's reading), and at full speed the clock up to its latest event: what a
    /// transfer in the middle of a batch needs to see. Cheaper than ending the batch there,
    /// which at full speed made batches small (one write each) in transfer-heavy traffic.
    fn catch_up(&self, buf: &BytesMut, ops: &mut Vec<StateOp>, latest: u64, max: bool) {
        if max {
            self.shared.clock().advance_to(latest);
        }
        let mut st = self.shared.state();
        for op in ops.drain(..) {
            op.read_into(buf, &mut st);
        }
    }

    async fn broadcast(&mut self, batch: Batch) {
        let batch = Arc::new(batch);
        for s in &self.subs {
            // A session that went away just drops out; `run` prunes it.
            let _ = s.send(batch.clone()).await;
        }
    }

    /// Starts playing a call.
    pub(crate) fn schedule(&mut self, call: Call) {
        self.next_id += 1;
        self.order += 1;
        let t = call.inst.time_of(call.tpl, 0);
        self.heap.push(Reverse((t, self.order, self.next_id)));
        self.calls.insert(self.next_id, call);
    }

    /// Handles a command; false to stop.
    async fn handle(&mut self, cmd: Cmd) -> bool {
        match cmd {
            Cmd::Subscribe(tx) => self.subs.push(tx),
            Cmd::Originate(req, reply) => self.originate(req, reply),
            Cmd::Hangup { channel, reply } => {
                let r = self.hangup(&channel);
                let _ = reply.send(r);
            }
            Cmd::Transfer {
                channel,
                context,
                exten,
                blind,
                reply,
            } => {
                let r = self.transfer(&channel, &context, &exten, blind);
                let _ = reply.send(r);
            }
            Cmd::Atxfer {
                channel,
                context,
                exten,
                reply,
            } => {
                let r = self.atxfer(&channel, &context, &exten);
                let _ = reply.send(r);
            }
            Cmd::Restart(reply) => {
                self.restart().await;
                let _ = reply.send(());
            }
            Cmd::Stop => return false,
        }
        true
    }

    fn originate(&mut self, req: OriginateReq, reply: oneshot::Sender<Result<(), String>>) {
        let plan = &self.shared.plan;
        let (tech, ep) = req.channel.split_once('/').unwrap_or(("", ""));
        let phone = plan
            .phone(ep)
            .filter(|_| tech.eq_ignore_ascii_case("PJSIP"));
        let Some(phone) = phone else {
            if req.is_async {
                let _ = reply.send(Ok(()));
                self.pending.push_back(synth::originate_failure(
                    self.now(),
                    req.action_id.as_deref(),
                    &req.channel,
                    &req.context,
                    &req.exten,
                ));
            } else {
                let _ = reply.send(Err("Originate failed".into()));
            }
            return;
        };
        let tpl = &templates().originate;
        let mut texts = vec![String::new(); t::COUNT];
        texts[t::CALLER as usize] = phone.ext.clone();
        texts[t::CALLER_NAME as usize] = phone.name.clone();
        texts[t::CALLEE as usize] = req.exten.clone();
        texts[t::CALLEE_NAME as usize] = plan.name_of(&req.exten);
        texts[t::ORIG_NAME as usize] = req
            .caller_name
            .clone()
            .unwrap_or_else(|| phone.name.clone());
        // Asterisk creates the channel about half a second after queueing the originate.
        let mut inst = Instance::new(tpl, texts, self.now() + 500_000);
        inst.action_id = req.action_id.clone().unwrap_or_default();
        let mut call = Call::new(tpl, inst);
        if req.is_async {
            let _ = reply.send(Ok(()));
        } else {
            call.originate_reply = Some(reply);
        }
        self.schedule(call);
    }

    /// Hangs up the call a channel belongs to.
    fn hangup(&mut self, channel: &str) -> Result<(), String> {
        let shared = self.shared.clone();
        let st = shared.state();
        let Some(target) = st.channel(channel) else {
            return Err("No such channel".into());
        };
        let now = self.now();
        let ended = self.take_calls_of(&target.linkedid);
        // A call played from one template may hold two Linkedids (an attended transfer's
        // consultation): all of its channels end with it.
        let chans: Vec<_> = st
            .channels()
            .into_iter()
            .filter(|c| {
                c.linkedid == target.linkedid
                    || ended.iter().any(|call| call.inst.has_uid(&c.linkedid))
            })
            .collect();
        self.pending.extend(synth::teardown(&st, &chans, "32", now));
        self.finish_calls(ended, now);
        Ok(())
    }

    /// Stops playing the calls that the call `linkedid` is part of.
    fn take_calls_of(&mut self, linkedid: &str) -> Vec<Call> {
        let ids: Vec<u64> = self
            .calls
            .iter()
            .filter(|(_, c)| c.inst.has_uid(linkedid))
            .map(|(id, _)| *id)
            .collect();
        ids.iter().filter_map(|id| self.calls.remove(id)).collect()
    }

    /// Calls cut short at `now`: the generator writes their truth.
    fn finish_calls(&mut self, calls: Vec<Call>, now: u64) {
        if let Some(g) = self.gen.as_mut() {
            for call in calls {
                g.finish(call, now);
            }
        }
    }

    /// Sends a channel somewhere else. Redirect: the channel leaves its bridge and runs the
    /// dialplan at `exten`; its peer is hung up. BlindTransfer: the channel's peer is the one
    /// sent to `exten` and the channel itself (the transferer) hangs up. A phone extension is
    /// then dialed with the events of the Originate recording's second half (an answered
    /// channel that dials), keeping the moved channel's Uniqueid and Linkedid.
    fn transfer(
        &mut self,
        channel: &str,
        context: &str,
        exten: &str,
        blind: bool,
    ) -> Result<(), String> {
        let shared = self.shared.clone();
        let st = shared.state();
        let Some(x) = st.channel(channel).cloned() else {
            return Err(if blind {
                "No such channel"
            } else {
                "Channel specified does not exist"
            }
            .into());
        };
        let peers: Vec<_> = st
            .channels()
            .into_iter()
            .filter(|c| c.name != x.name && c.bridge.is_some() && c.bridge == x.bridge)
            .cloned()
            .collect();
        let (moved, mut others) = if blind {
            let Some(peer) = peers.first().cloned() else {
                return Err("Transfer failed: the channel is not bridged".into());
            };
            (peer, vec![x.clone()])
        } else {
            (x.clone(), peers)
        };
        let now = self.now();
        let ended = self.take_calls_of(&x.linkedid);
        // The rest of a call of two Linkedids (an attended transfer's other part) no longer
        // plays: its channels hang up too.
        for c in st.channels() {
            if c.linkedid != x.linkedid && ended.iter().any(|call| call.inst.has_uid(&c.linkedid)) {
                others.push(c.clone());
            }
        }
        self.finish_calls(ended, now);
        if let (true, Some(b)) = (blind, x.bridge.as_deref()) {
            self.pending
                .push_back(synth::blind_transfer(now, &x, &moved, b, context, exten));
        }
        if let Some(b) = moved.bridge.as_deref() {
            let left = others.iter().filter(|c| c.bridge == moved.bridge).count();
            self.pending.push_back(synth::bridge_event(
                "BridgeLeave",
                b,
                left,
                now,
                Some(&moved),
            ));
        }
        let refs: Vec<&crate::state::Channel> = others.iter().collect();
        self.pending.extend(synth::teardown(&st, &refs, "16", now));
        drop(st);
        let plan = &self.shared.plan;
        if plan.phone(exten).is_none() {
            // Not a phone: the dialplan has nothing for it; the channel hangs up.
            let st = shared.state();
            self.pending
                .extend(synth::teardown(&st, &[&moved], "16", now));
            return Ok(());
        }
        let tpl = &templates().dial_from_up;
        let mut texts = vec![String::new(); t::COUNT];
        texts[t::CALLER as usize] = moved.cid_num.clone();
        // `PJSIP/pstn` for a trunk channel, whose caller number is an outside one.
        let tech = moved.name.split_once('/').map_or("PJSIP", |(t, _)| t);
        texts[t::ENDPOINT as usize] = format!("{tech}/{}", crate::state::endpoint_of(&moved.name));
        texts[t::CALLER_NAME as usize] = moved.cid_name.clone();
        texts[t::ORIG_NAME as usize] = moved.cid_name.clone();
        texts[t::CALLEE as usize] = exten.to_string();
        texts[t::CALLEE_NAME as usize] = plan.name_of(exten);
        let mut inst = Instance::new(tpl, texts, now + 50_000);
        inst.bind_first_channel(&moved.uniqueid, &moved.linkedid, &moved.name);
        self.schedule(Call::new(tpl, inst));
        Ok(())
    }

    /// A generated call whose callee now blind-transfers the caller: the callee's channel is
    /// the one of that phone in the call; the caller goes on in a new call part that keeps
    /// the generator's record (with the transfer added).
    fn transfer_by_callee(&mut self, mut call: Call) {
        let Some((_, target)) = call.transfer_at.take() else {
            return;
        };
        let callee = call.inst.texts[t::CALLEE as usize].clone();
        let Some(linkedid) = call.inst.uid(0).map(str::to_string) else {
            return;
        };
        let chan = {
            let st = self.shared.state();
            st.channels()
                .into_iter()
                .find(|c| c.linkedid == linkedid && c.endpoint() == callee)
                .map(|c| c.name.clone())
        };
        let Some(chan) = chan else { return };
        if let Some(timing) = call.tag.as_ref().and_then(|t| t.atxfer_timing()) {
            // A DTMF attended transfer: the same path as `Action: Atxfer`.
            let now = self.now();
            let back = self.start_atxfer(&chan, "internal", &target, timing, Some(call));
            if let (Some(call), Some(g)) = (back, self.gen.as_mut()) {
                g.finish(call, now);
            }
            return;
        }
        let tag = call.tag.take();
        let before = self.next_id;
        if self.transfer(&chan, "internal", &target, true).is_ok() && self.next_id > before {
            if let Some(new) = self.calls.get_mut(&self.next_id) {
                new.tag = tag;
                if let (Some(g), Some(tag)) = (self.gen.as_mut(), new.tag.as_mut()) {
                    g.transferred(tag, &mut new.inst, new.tpl);
                }
            }
        }
    }

    /// Starts an attended transfer by `channel` (the DTMF feature `Action: Atxfer` asks
    /// for): see [`crate::atxfer`]. Like Asterisk, which only queues the feature's digits,
    /// it answers success when the channel exists, even if nothing can come of it (the
    /// channel is in no bridge, or `exten` is no phone).
    fn atxfer(&mut self, channel: &str, context: &str, exten: &str) -> Result<(), String> {
        if self.shared.state().channel(channel).is_none() {
            return Err("Channel specified does not exist".into());
        }
        if self.atxfers.len() >= MAX_ATXFERS {
            return Err("Atxfer failed: too many transfers in progress".into());
        }
        let _ = self.start_atxfer(channel, context, exten, atxfer::Timing::default(), None);
        Ok(())
    }

    /// Starts the transfer of `channel`'s peer to `exten`, continuing the generated call
    /// `call` if given; the call comes back when the transfer cannot start.
    fn start_atxfer(
        &mut self,
        channel: &str,
        context: &str,
        exten: &str,
        timing: atxfer::Timing,
        call: Option<Call>,
    ) -> Option<Call> {
        let shared = self.shared.clone();
        let st = shared.state();
        let x = st.channel(channel).cloned();
        let peer = x.as_ref().and_then(|x| {
            st.channels()
                .into_iter()
                .find(|c| c.name != x.name && c.bridge.is_some() && c.bridge == x.bridge)
                .cloned()
        });
        let (Some(x), Some(peer), Some(phone)) = (x, peer, shared.plan.phone(exten)) else {
            return call;
        };
        let now = self.now();
        // The call's template stops here: from now on the transfer says what happens.
        let ended = self.take_calls_of(&x.linkedid);
        self.finish_calls(ended, now);
        self.local_seq += 1;
        let (a, events) = Atxfer::start(
            &st,
            &mut self.ids,
            self.local_seq,
            &x,
            &peer,
            context,
            exten,
            &phone.name,
            timing,
            now,
        );
        drop(st);
        self.pending.extend(events);
        self.next_atxfer += 1;
        let id = self.next_atxfer;
        if let Some(wait) = a.wait() {
            self.atxfer_due.push(Reverse((now + wait, id)));
        }
        self.atxfers.insert(id, (a, call));
        None
    }

    /// Takes transfer `id`'s step due at `t` (its events go to `pending`); a transfer that
    /// is over, or whose channels are gone (a Hangup action), ends the call it continues.
    fn atxfer_step(&mut self, id: u64, st: &crate::state::State, t: u64) {
        let Some((mut a, call)) = self.atxfers.remove(&id) else {
            return;
        };
        let alive = a.alive(st);
        if alive {
            self.pending.extend(a.step(st, t));
            if let Some(wait) = a.wait() {
                self.atxfers.insert(id, (a, call));
                self.atxfer_due.push(Reverse((t + wait, id)));
                return;
            }
        }
        if let (Some(call), Some(g)) = (call, self.gen.as_mut()) {
            g.finish_atxfer(call, t, a.transferred_at, !alive);
        }
    }

    async fn restart(&mut self) {
        let now = self.now();
        {
            let shared = self.shared.clone();
            let st = shared.state();
            let chans = st.channels();
            self.pending.extend(synth::teardown(&st, &chans, "4", now));
        }
        // Asterisk takes about a second between the hangups and the Shutdown event.
        self.pending
            .push_back(synth::shutdown(now + 1_000_000, true));
        // Send it all now, whatever the pace.
        while !self.pending.is_empty() {
            self.emit_due(true).await;
        }
        // Every connection closes after what it was sent so far: nothing after `Shutdown`.
        self.subs.clear();
        let calls: Vec<Call> = self.calls.drain().map(|(_, c)| c).collect();
        for call in calls {
            if let Some(g) = self.gen.as_mut() {
                g.finish(call, now);
            }
        }
        self.heap.clear();
        self.atxfer_due.clear();
        for (_, (a, call)) in self.atxfers.drain() {
            if let (Some(call), Some(g)) = (call, self.gen.as_mut()) {
                g.finish_atxfer(call, now, a.transferred_at, true);
            }
        }
        let boot = now + 1_000_000;
        self.ids = Ids {
            boot_secs: boot / 1_000_000,
            uuid_seq: self.ids.uuid_seq,
            ..Ids::default()
        };
        if let Some(g) = self.gen.as_mut() {
            g.restarted();
        }
        let plan = self.shared.plan.clone();
        // Through `state()`: what was sent before the restart is read first, not after.
        self.shared.state().reset(&plan, boot);
    }
}
