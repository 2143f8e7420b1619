//! Synthetic traffic: calls of the kinds real Asterisk was recorded making, with new
//! parties, new ids and new durations, and the ground truth of each call.
//!
//! Calls arrive as a Poisson process of `calls_per_second` (simulated time), at most
//! `concurrency` at once. Each call takes a kind, weighted as on a small office PBX, and free
//! phones: a phone is in at most one generated call at a time, and the members of each queue
//! are agents only (as in the `load_mix` recording), so the hint and device states the
//! templates carry are exactly the states of the simulated phones. A queue takes one caller at
//! a time (its template rings both members, which must be free).
//!
//! A ring group call (`600`) rings two such phones; an attended transfer takes three (the
//! caller, the callee who transfers, the target). Their templates are spliced from the
//! recordings (`spliced/`); an attended transfer's consultation is a second Linkedid of the
//! same generated call, and its truth is the one call the caller experienced. A DTMF attended
//! transfer (also three phones) stops its template where the callee would hang up and hands
//! the call to the engine's `Atxfer` (as `Action: Atxfer` does): its Local channels share the
//! call's Linkedid, and its truth is written when the transfer's last step is over.
//!
//! Two traits of provider dial plans are kinds of their own, spliced from an internal call
//! (the caller ID also from an outbound one):
//! the caller's dial plan sets its caller ID before dialing (`NewCallerid`; the truth's
//! caller is the number the callee was shown), and the caller dials a `Local/` route whose
//! `;2` half dials the phone (the truth's answerer is the phone; the Local pair is never a
//! party).
//!
//! Everything random comes from the seed; the same seed and settings give the same calls.
//! The ground truth (`--truth`) is one JSON line per call, written when the call ends, with
//! the fields of the recordings' ground truth (`caller`, `called`, `answered_by`,
//! `disposition`, `transfers`, `queue`, `started_at`, `answered_at`, `ended_at`, …), read
//! by `tools/truthcheck.py --records RECORDS TRUTH`.

use crate::call::{Call, Tag};
use crate::config::{GenConfig, TruthSink};
use crate::kind::{Kind, MIX};
use crate::plan::Plan;
use crate::rng::Rng;
use crate::template::{Instance, Template};
use crate::templates::t;
use crate::wire::fmt_rfc3339;
use serde_json::{json, Value};
use std::collections::{HashMap, HashSet};
use std::io::Write;
use std::sync::{Arc, Mutex};

/// The ring group's number in the dial plan (`Dial(PJSIP/2002&PJSIP/2003,30)` on the real
/// PBX). The generator rings two free phones that are not queue agents, chosen per call.
const RING_GROUP: &str = "600";

/// The traffic generator.
pub(crate) struct Generator {
    cfg: GenConfig,
    plan: Plan,
    rng: Rng,
    /// The phones that may take part in a call (not queue agents), indices into the plan.
    callable: Vec<usize>,
    busy: Busy,
    queue_busy: Vec<bool>,
    next_t: u64,
    end_t: Option<u64>,
    started: u64,
    active: usize,
    truth: Option<Arc<Mutex<dyn Write + Send>>>,
}

impl Generator {
    pub(crate) fn new(cfg: &GenConfig, plan: &Plan) -> Result<Generator, String> {
        if !(cfg.calls_per_second > 0.0 && cfg.calls_per_second.is_finite()) {
            return Err(format!(
                "calls per second must be a positive number, not {}",
                cfg.calls_per_second
            ));
        }
        if cfg.concurrency == 0 {
            return Err("concurrency must be at least 1".into());
        }
        if plan.phones.len() < 2 {
            return Err("at least two extensions are needed (e.g. 2001-2010)".into());
        }
        if !cfg.trunk_prefix.bytes().all(|b| b.is_ascii_digit()) {
            return Err(format!(
                "trunk prefix {:?} must be digits",
                cfg.trunk_prefix
            ));
        }
        let truth: Option<Arc<Mutex<dyn Write + Send>>> = match &cfg.truth {
            None => None,
            Some(TruthSink::Writer(w)) => Some(w.clone()),
            Some(TruthSink::File(p)) => {
                let f = std::fs::File::create(p)
                    .map_err(|e| format!("cannot create the truth file {}: {e}", p.display()))?;
                Some(Arc::new(Mutex::new(f)))
            }
        };
        let agents: HashSet<String> = plan
            .queues
            .iter()
            .flat_map(|q| q.members.iter().cloned())
            .collect();
        let callable = (0..plan.phones.len())
            .filter(|&i| !agents.contains(&plan.phones[i].ext))
            .collect();
        Ok(Generator {
            cfg: cfg.clone(),
            plan: plan.clone(),
            rng: Rng::new(cfg.seed),
            callable,
            busy: Busy::new(plan),
            queue_busy: vec![false; plan.queues.len()],
            next_t: 0,
            end_t: None,
            started: 0,
            active: 0,
            truth,
        })
    }

    /// Sets the simulated time of the first call.
    pub(crate) fn set_start(&mut self, t: u64) {
        self.next_t = t;
        self.end_t = self.cfg.duration.map(|d| t + d.as_micros() as u64);
    }

    /// When the next call starts, if one is to start.
    pub(crate) fn next_start(&self) -> Option<u64> {
        if self.cfg.calls.is_some_and(|n| self.started >= n)
            || self.end_t.is_some_and(|e| self.next_t > e)
            || self.active >= self.cfg.concurrency
            || !self.any_kind_possible()
        {
            // Held back until a call ends and frees what the next one needs.
            return None;
        }
        Some(self.next_t)
    }

    fn arrival_gap(&mut self) -> u64 {
        let u = self.rng.unit();
        (-(1.0 - u).ln() / self.cfg.calls_per_second * 1e6) as u64
    }

    /// The free phones that may take part in a call, in the plan's order (indices).
    fn free_phones(&self) -> Vec<usize> {
        self.callable
            .iter()
            .copied()
            .filter(|&i| !self.busy.at(i))
            .collect()
    }

    /// How many [`Generator::free_phones`] there are, without listing them: asked before
    /// every event sent (see `next_start`).
    fn free_count(&self) -> usize {
        // Only callable phones are ever busy.
        self.callable.len().saturating_sub(self.busy.len())
    }

    fn fits(k: Kind, free: usize, queue_free: bool) -> bool {
        free >= k.phones_needed() && (k.phones_needed() > 0 || queue_free)
    }

    /// The kinds that can start now (enough free phones, a free queue).
    fn possible(&self) -> Vec<(Kind, u64)> {
        let free = self.free_count();
        let queue_free = self.queue_busy.iter().any(|b| !b);
        MIX.iter()
            .copied()
            .filter(|(k, _)| Self::fits(*k, free, queue_free))
            .collect()
    }

    fn any_kind_possible(&self) -> bool {
        let free = self.free_count();
        let queue_free = self.queue_busy.iter().any(|b| !b);
        MIX.iter().any(|(k, _)| Self::fits(*k, free, queue_free))
    }

    fn pick_kind(&mut self) -> Option<Kind> {
        let ok = self.possible();
        let total: u64 = ok.iter().map(|(_, w)| w).sum();
        if total == 0 {
            return None;
        }
        let mut x = self.rng.below(total);
        for (k, w) in ok {
            if x < w {
                return Some(k);
            }
            x -= w;
        }
        None
    }

    fn digits(&mut self, n: usize) -> String {
        (0..n)
            .map(|_| char::from(b'0' + self.rng.below(10) as u8))
            .collect()
    }

    /// The caller ID a dial plan sets for extension `ext` (see [`Kind::CallerIdSet`]): half
    /// the calls a short internal number (`2001` → `201`, as a provider numbers its
    /// accounts), the other half the company's DID for that line (`+31850002001`).
    fn caller_id_for(&mut self, ext: &str) -> String {
        match (self.rng.below(2), ext.get(..1), ext.get(2..)) {
            (0, Some(head), Some(tail)) if ext.len() >= 4 => format!("{head}{tail}"),
            _ => did_of(ext),
        }
    }

    /// Starts the call due at `t` (if phones are free), and schedules the next arrival.
    pub(crate) fn start(&mut self, t: u64) -> Option<Call> {
        self.next_t = t + self.arrival_gap();
        let kind = self.pick_kind()?;
        let tpl = kind.template();
        let mut texts = vec![String::new(); t::COUNT];
        let mut phones = Vec::new();
        let mut queue = None;
        let mut set = |i: u8, v: String| texts[i as usize] = v;
        match kind.phones_needed() {
            0 => {
                let free: Vec<usize> = (0..self.queue_busy.len())
                    .filter(|&q| !self.queue_busy[q])
                    .collect();
                let q = free[self.rng.below(free.len() as u64) as usize];
                let caller = format!("+1555{}", self.digits(7));
                let plan_q = &self.plan.queues[q];
                set(t::CALLER, caller);
                set(t::DID, self.plan.did.clone());
                set(t::QUEUE, plan_q.name.clone());
                set(t::TRUNK, self.plan.trunk.clone());
                let a = plan_q.members.first().cloned().unwrap_or_default();
                let b = plan_q.members.get(1).cloned().unwrap_or_else(|| a.clone());
                set(t::AGENT_A_NAME, self.plan.name_of(&a));
                set(t::AGENT_B_NAME, self.plan.name_of(&b));
                set(t::AGENT_A, a);
                set(t::AGENT_B, b);
                queue = Some(q);
            }
            n => {
                let mut free = self.free_phones();
                for _ in 0..n {
                    let i = self.rng.below(free.len() as u64) as usize;
                    phones.push(self.plan.phones[free.swap_remove(i)].ext.clone());
                }
                set(t::CALLER, phones[0].clone());
                set(t::CALLER_NAME, self.plan.name_of(&phones[0]));
                set(t::TRUNK, self.plan.trunk.clone());
                if matches!(kind, Kind::Outbound | Kind::OutboundCallerIdSet) {
                    let digits = self.digits(10);
                    let number = format!("{}{digits}", self.cfg.trunk_prefix);
                    set(t::CALLEE, number);
                } else {
                    set(t::CALLEE, phones[1].clone());
                    set(t::CALLEE_NAME, self.plan.name_of(&phones[1]));
                }
                if let Some(third) = phones.get(2) {
                    set(t::THIRD, third.clone());
                    set(t::THIRD_NAME, self.plan.name_of(third));
                }
                set(t::GROUP, RING_GROUP.to_string());
                match kind {
                    Kind::CallerIdSet => {
                        let shown = self.caller_id_for(&phones[0]);
                        set(t::CALLER_ID, shown);
                    }
                    // The far end is shown the company's number, never an extension.
                    Kind::OutboundCallerIdSet => set(t::CALLER_ID, did_of(&phones[0])),
                    _ => {}
                }
            }
        }
        let mut inst = Instance::new(tpl, texts, t);
        let s = 1_000_000;
        match kind {
            Kind::InternalAnswered
            | Kind::Outbound
            | Kind::OutboundCallerIdSet
            | Kind::BlindTransfer
            | Kind::RingGroup
            | Kind::FeatureTransfer
            | Kind::FeatureTransferNoAnswer
            | Kind::CallerIdSet
            | Kind::LocalRoute => {
                let ring = self.rng.range(s, 6 * s);
                inst.stretch(tpl, "ring", ring);
                let talk = self.rng.range(3 * s, 45 * s);
                inst.stretch(tpl, "talk", talk);
            }
            Kind::InternalNoAnswer | Kind::RingGroupNoAnswer => {
                let ring = self.rng.range(2 * s, 15 * s);
                inst.stretch(tpl, "ring", ring);
            }
            Kind::QueueAnswered => {
                let ring = self.rng.range(2 * s, 12 * s);
                inst.stretch(tpl, "ring", ring);
                let talk = self.rng.range(2 * s, 40 * s);
                inst.stretch(tpl, "talk", talk);
            }
            Kind::QueueAbandoned => {
                let wait = self.rng.range(2 * s, 14 * s);
                inst.stretch(tpl, "wait", wait);
            }
            Kind::Hold => {
                let ring = self.rng.range(s, 5 * s);
                inst.stretch(tpl, "ring", ring);
                let talk = self.rng.range(2 * s, 20 * s);
                inst.stretch(tpl, "talk", talk);
                let hold = self.rng.range(2 * s, 15 * s);
                inst.stretch(tpl, "hold", hold);
            }
            Kind::Voicemail => {
                let msg = self.rng.range(2 * s, 15 * s);
                inst.stretch(tpl, "message", msg);
            }
            Kind::AttendedTransfer => {
                inst.stretch(tpl, "ring", self.rng.range(s, 5 * s));
                inst.stretch(tpl, "talk", self.rng.range(2 * s, 20 * s));
                // From the hold to the consultation call's first event: dialing.
                inst.stretch(tpl, "hold", self.rng.range(s, 4 * s));
                inst.stretch(tpl, "ring2", self.rng.range(s, 6 * s));
                inst.stretch(tpl, "talk2", self.rng.range(2 * s, 15 * s));
                inst.stretch(tpl, "talk3", self.rng.range(3 * s, 30 * s));
            }
            Kind::InternalBusy => {}
        }
        let texts = &inst.texts;
        let text = |i: u8| texts[i as usize].clone();
        let mut truth = serde_json::Map::new();
        // The caller is what the callee was shown: the caller ID the dial plan set, if it did.
        let caller = if matches!(kind, Kind::CallerIdSet | Kind::OutboundCallerIdSet) {
            text(t::CALLER_ID)
        } else {
            text(t::CALLER)
        };
        truth.insert("caller".into(), json!(caller));
        let called = if queue.is_some() {
            text(t::DID)
        } else if matches!(kind, Kind::RingGroup | Kind::RingGroupNoAnswer) {
            text(t::GROUP)
        } else {
            text(t::CALLEE)
        };
        truth.insert("called".into(), json!(called));
        let kind_name = format!("{kind:?}");
        truth.insert("kind".into(), json!(kind_name));
        truth.insert("seq".into(), json!(self.started + 1));
        for p in &phones {
            self.busy.insert(p.clone());
        }
        if let Some(q) = queue {
            self.queue_busy[q] = true;
        }
        self.started += 1;
        self.active += 1;
        truth.insert("started_at".into(), json!(fmt_rfc3339(t)));
        let mut call = Call::new(tpl, inst);
        let atxfer = match kind {
            Kind::FeatureTransfer => Some(crate::atxfer::Timing {
                ring_us: self.rng.range(s, 6 * s),
                consult_us: self.rng.range(2 * s, 15 * s),
                talk_us: self.rng.range(3 * s, 30 * s),
                answers: true,
            }),
            Kind::FeatureTransferNoAnswer => Some(crate::atxfer::Timing {
                ring_us: crate::atxfer::NO_ANSWER_US,
                consult_us: 0,
                talk_us: self.rng.range(3 * s, 30 * s),
                answers: false,
            }),
            _ => None,
        };
        // The callee transfers where the template's talk ends (its hangup would come).
        if kind == Kind::BlindTransfer || atxfer.is_some() {
            if let (Some(at), Some(target)) = (tpl.anchor("talk"), phones.get(2)) {
                call.transfer_at = Some((at, target.clone()));
            }
        }
        call.tag = Some(Tag {
            kind,
            truth,
            phones,
            queue,
            transferred: false,
            atxfer,
        });
        Some(call)
    }

    /// Nothing starts before `t` (the latest event sent).
    pub(crate) fn not_before(&mut self, t: u64) {
        self.next_t = self.next_t.max(t);
    }

    /// The callee blind-transferred the caller (see [`Kind::BlindTransfer`]): the call goes
    /// on as `inst`, the caller dialing the target; what happened so far goes into the truth.
    pub(crate) fn transferred(&mut self, tag: &mut Tag, inst: &mut Instance, tpl: &Template) {
        let s = 1_000_000;
        let ring = self.rng.range(s, 6 * s);
        inst.stretch(tpl, "ring", ring);
        let talk = self.rng.range(3 * s, 30 * s);
        inst.stretch(tpl, "talk", talk);
        let by = tag.truth.get("called").cloned().unwrap_or(Value::Null);
        let to = inst.texts[t::CALLEE as usize].clone();
        let at = json!(fmt_rfc3339(inst.start));
        tag.truth.insert("answered_by".into(), by.clone());
        tag.truth.insert(
            "transfers".into(),
            json!([{"kind": "blind", "by": by, "to": to, "at": at}]),
        );
        tag.transferred = true;
    }

    /// A call is over (played to its end at `t`, or cut short then by a hangup action or a
    /// restart): free its phones and write its truth.
    pub(crate) fn finish(&mut self, call: Call, t: u64) {
        let cut = call.next < call.tpl.len();
        self.finish_as(call, t, cut, None);
    }

    /// The DTMF attended transfer that continued `call` (see [`Kind::FeatureTransfer`]) is
    /// over at `t`: `transferred_at` when it completed, `cut` when a hangup action or a
    /// restart ended it early. Its template stopped at the transfer, so the truth's
    /// answer is the template's.
    pub(crate) fn finish_atxfer(
        &mut self,
        call: Call,
        t: u64,
        transferred_at: Option<u64>,
        cut: bool,
    ) {
        self.finish_as(call, t, cut, transferred_at);
    }

    fn finish_as(&mut self, call: Call, t: u64, cut: bool, transferred_at: Option<u64>) {
        let Some(tag) = call.tag else { return };
        for p in &tag.phones {
            self.busy.remove(p);
        }
        if let Some(q) = tag.queue {
            if let Some(b) = self.queue_busy.get_mut(q) {
                *b = false;
            }
        }
        self.active = self.active.saturating_sub(1);
        self.next_t = self.next_t.max(t);
        if self.truth.is_none() {
            return;
        }
        let mut truth = tag.truth;
        if let Some(l) = call.inst.uid(0) {
            // Not a ground-truth field: it says which events were this call (Linkedid).
            truth.insert("linkedid".into(), json!(l));
        }
        if tag.transferred {
            // The answer happened before the transfer; the record only gets its end.
            truth.insert("disposition".into(), json!("answered"));
            truth.insert("queue".into(), Value::Null);
            truth.insert("ended_at".into(), json!(fmt_rfc3339(t)));
            if cut {
                truth.insert(
                    "note".into(),
                    json!("cut short by an AMI action or a restart"),
                );
            }
            self.write_truth(truth);
            return;
        }
        let tpl = call.tpl;
        let when = |i: usize| json!(fmt_rfc3339(call.inst.time_of(tpl, i)));
        let text = |i: u8| call.inst.texts[i as usize].clone();
        let answer_at = tag
            .kind
            .answer_phase()
            .and_then(|p| tpl.anchor(p))
            .filter(|&i| i < call.next);
        // `abandoned` is the caller leaving the queue, which AMI shows by
        // `QueueCallerAbandon`. A queue call cut short (a restart, a Hangup action) before
        // its template sent one was never shown to abandon: the events the cut makes up
        // (`synth::teardown`) are hangups only, so the call was not answered, no more.
        let abandon_sent =
            (0..call.next.min(tpl.len())).any(|i| tpl.event_name(i) == "QueueCallerAbandon");
        let (answered_by, disposition) = match (tag.kind, answer_at) {
            (Kind::InternalBusy, _) if !cut => (Value::Null, "busy"),
            (Kind::QueueAnswered, Some(_)) => (json!(text(t::AGENT_A)), "answered"),
            (Kind::QueueAnswered | Kind::QueueAbandoned, None) if abandon_sent => {
                (Value::Null, "abandoned")
            }
            (Kind::Outbound, Some(_)) => (json!(text(t::CALLEE)), "answered"),
            (_, Some(_)) => (json!(text(t::CALLEE)), "answered"),
            (_, None) => (Value::Null, "no_answer"),
        };
        truth.insert("answered_by".into(), answered_by);
        truth.insert("disposition".into(), json!(disposition));
        // The transfer is the first event after the consultation's talk.
        let transfers = match (tag.kind, tpl.anchor("talk2")) {
            (Kind::AttendedTransfer, Some(at)) if at < call.next => json!([{
                "kind": "attended",
                "by": text(t::CALLEE),
                "to": text(t::THIRD),
                "at": when(at),
            }]),
            (Kind::FeatureTransfer | Kind::FeatureTransferNoAnswer, _) => match transferred_at {
                Some(at) => json!([{
                    "kind": "attended",
                    "by": text(t::CALLEE),
                    "to": text(t::THIRD),
                    "at": fmt_rfc3339(at),
                }]),
                None => json!([]),
            },
            _ => json!([]),
        };
        truth.insert("transfers".into(), transfers);
        let queue = tag.queue.map(|_| text(t::QUEUE));
        truth.insert("queue".into(), json!(queue));
        truth.insert("answered_at".into(), answer_at.map_or(Value::Null, when));
        truth.insert("ended_at".into(), json!(fmt_rfc3339(t)));
        let outbound = matches!(tag.kind, Kind::Outbound | Kind::OutboundCallerIdSet);
        if outbound && answer_at.is_some() {
            truth.insert("answered_by_trunk".into(), json!(text(t::TRUNK)));
        }
        if tag.kind == Kind::Voicemail {
            truth.insert("voicemail".into(), json!(!cut));
        }
        if tag.kind == Kind::Hold {
            if let (Some(h), Some(u)) = (tpl.anchor("talk"), tpl.anchor("hold")) {
                if h < call.next {
                    let unheld = if u < call.next { when(u) } else { Value::Null };
                    truth.insert(
                        "holds".into(),
                        json!([{"by": text(t::CALLEE), "held_at": when(h), "unheld_at": unheld}]),
                    );
                }
            }
        }
        if cut {
            truth.insert(
                "note".into(),
                json!("cut short by an AMI action or a restart"),
            );
        }
        self.write_truth(truth);
    }

    fn write_truth(&mut self, truth: serde_json::Map<String, Value>) {
        let Some(sink) = self.truth.clone() else {
            return;
        };
        let mut line = serde_json::to_vec(&Value::Object(truth)).unwrap_or_default();
        line.push(b'\n');
        let mut w = sink.lock().unwrap_or_else(|p| p.into_inner());
        if let Err(e) = w.write_all(&line) {
            tracing::warn!(error = %e, "cannot write the ground truth; no more will be written");
            drop(w);
            self.truth = None;
        }
    }

    /// After a PBX restart every call is gone: every phone and queue is free.
    pub(crate) fn restarted(&mut self) {
        self.busy.clear();
        self.queue_busy.iter_mut().for_each(|b| *b = false);
        self.active = 0;
    }
}

/// The company's DID for an extension's line (`2001` → `+31850002001`).
fn did_of(ext: &str) -> String {
    format!("+3185000{ext}")
}

/// Which phones of the plan are in a call: a flag per phone, so that counting and listing
/// the free ones (before every event at full speed) hashes nothing.
#[derive(Debug)]
struct Busy {
    index: HashMap<String, usize>,
    flags: Vec<bool>,
    count: usize,
}

impl Busy {
    fn new(plan: &Plan) -> Busy {
        Busy {
            index: plan
                .phones
                .iter()
                .enumerate()
                .map(|(i, p)| (p.ext.clone(), i))
                .collect(),
            flags: vec![false; plan.phones.len()],
            count: 0,
        }
    }

    /// Marks a phone of the plan busy; false if it already was (or is not in the plan).
    fn insert(&mut self, ext: String) -> bool {
        match self.index.get(&ext) {
            Some(&i) if !self.flags[i] => {
                self.flags[i] = true;
                self.count += 1;
                true
            }
            _ => false,
        }
    }

    fn remove(&mut self, ext: &str) -> bool {
        match self.index.get(ext) {
            Some(&i) if self.flags[i] => {
                self.flags[i] = false;
                self.count -= 1;
                true
            }
            _ => false,
        }
    }

    /// Whether the phone at this index of the plan is busy.
    fn at(&self, i: usize) -> bool {
        self.flags.get(i).copied().unwrap_or(false)
    }

    fn len(&self) -> usize {
        self.count
    }

    fn clear(&mut self) {
        self.flags.iter_mut().for_each(|f| *f = false);
        self.count = 0;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The truth of the first `kind` call the generator starts, cut short after the
    /// events before `next(template)` were sent.
    fn cut(kind: Kind, next: impl Fn(&Template) -> usize) -> Value {
        let sink = Arc::new(Mutex::new(Vec::<u8>::new()));
        let cfg = GenConfig {
            extensions: (2001, 2020),
            seed: 3,
            truth: Some(TruthSink::Writer(sink.clone())),
            ..GenConfig::default()
        };
        let plan = Plan::new(2001, 2020, &cfg.queues);
        let mut g = Generator::new(&cfg, &plan).unwrap();
        g.set_start(1_000_000);
        for _ in 0..10_000 {
            let t = g.next_start().expect("a call can start");
            let Some(mut call) = g.start(t) else { continue };
            let mine = call.tag.as_ref().is_some_and(|tag| tag.kind == kind);
            if mine {
                call.next = next(call.tpl);
            }
            // Every other call ends before it began: its phones are free again.
            g.finish(call, t);
            if mine {
                let text = String::from_utf8(sink.lock().unwrap().clone()).unwrap();
                let last = text.lines().last().expect("a truth line");
                return serde_json::from_str(last).unwrap();
            }
        }
        panic!("no {kind:?} call in 10,000");
    }

    fn event(tpl: &Template, name: &str) -> usize {
        (0..tpl.len())
            .find(|&i| tpl.event_name(i) == name)
            .expect("the event")
    }

    #[test]
    fn a_blind_transfer_cut_after_the_answer_was_answered() {
        let after = cut(Kind::BlindTransfer, |t| t.anchor("ring").unwrap() + 1);
        assert_eq!(after["kind"], "BlindTransfer");
        assert_eq!(after["disposition"], "answered", "{after}");
        assert_eq!(after["answered_by"], after["called"], "{after}");
        assert!(after["answered_at"].is_string(), "{after}");
        assert_eq!(after["transfers"], json!([]), "{after}");
        let before = cut(Kind::BlindTransfer, |t| t.anchor("ring").unwrap());
        assert_eq!(before["disposition"], "no_answer", "{before}");
        assert_eq!(before["answered_by"], Value::Null, "{before}");
    }

    #[test]
    fn a_queue_call_cut_before_any_queue_caller_abandon_is_not_abandoned() {
        // In the queue, ringing its agents, cut before the answer: no abandon was shown.
        let waiting = cut(Kind::QueueAnswered, |t| t.anchor("ring").unwrap());
        assert_eq!(waiting["disposition"], "no_answer", "{waiting}");
        assert_eq!(waiting["answered_by"], Value::Null, "{waiting}");
        assert_eq!(waiting["queue"], "support", "{waiting}");
        let before = cut(Kind::QueueAbandoned, |t| event(t, "QueueCallerAbandon"));
        assert_eq!(before["disposition"], "no_answer", "{before}");
        // Once `QueueCallerAbandon` was sent, the caller did abandon.
        let after = cut(Kind::QueueAbandoned, |t| event(t, "QueueCallerAbandon") + 1);
        assert_eq!(after["disposition"], "abandoned", "{after}");
        let whole = cut(Kind::QueueAbandoned, |t| t.len());
        assert_eq!(whole["disposition"], "abandoned", "{whole}");
        assert!(whole.get("note").is_none(), "{whole}");
    }
}
