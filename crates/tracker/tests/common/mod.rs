//! Shared by the tracker's integration tests: decoding recordings, building synthetic
//! events, replaying.
#![allow(dead_code)]

use ami_wire::{AmiCodec, Frame, Message};
use bytes::BytesMut;
use std::path::{Path, PathBuf};
use tracker::{CallRecord, Tracker, TrackerConfig, Update};

/// The real Asterisk 22.10.1 recordings of the repository.
pub fn fixtures() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../../fixtures/asterisk/22.10.1")
}

/// Every scenario with a ground truth that has calls, by name.
pub fn scenarios() -> Vec<String> {
    let mut v: Vec<String> = std::fs::read_dir(fixtures())
        .expect("fixtures directory")
        .filter_map(|e| {
            let p = e.ok()?.path();
            let name = p.file_name()?.to_str()?.strip_suffix(".ami")?.to_string();
            let truth: serde_json::Value =
                serde_json::from_slice(&std::fs::read(p.with_extension("json")).ok()?).ok()?;
            (!truth["calls"].as_array()?.is_empty()).then_some(name)
        })
        .collect();
    v.sort();
    v
}

/// The messages of a recording, in order (the banner dropped).
pub fn messages(name: &str) -> Vec<Message> {
    let bytes = std::fs::read(fixtures().join(format!("{name}.ami"))).expect("recording");
    decode(&bytes)
}

pub fn decode(bytes: &[u8]) -> Vec<Message> {
    let mut codec = AmiCodec::client();
    let mut buf = BytesMut::from(bytes);
    let mut out = Vec::new();
    while let Some(f) = codec.decode_eof(&mut buf).expect("decodes") {
        if let Frame::Message(m) = f {
            out.push(m);
        }
    }
    out
}

/// Ground-truth calls of a scenario.
pub fn truth(name: &str) -> Vec<serde_json::Value> {
    let t: serde_json::Value = serde_json::from_slice(
        &std::fs::read(fixtures().join(format!("{name}.json"))).expect("truth"),
    )
    .expect("truth JSON");
    t["calls"].as_array().cloned().unwrap_or_default()
}

/// Runs messages through a fresh tracker, then `end_of_stream`; returns every update.
pub fn run(msgs: &[Message]) -> Vec<Update> {
    let mut t = Tracker::new(TrackerConfig::new("pbx1"));
    let mut out = Vec::new();
    for m in msgs {
        t.handle(m, None, &mut out);
    }
    t.end_of_stream(&mut out);
    out
}

/// The call records among updates, in the order calls ended.
pub fn records(updates: &[Update]) -> Vec<CallRecord> {
    updates
        .iter()
        .filter_map(|u| match u {
            Update::CallEnded(r) => Some(r.clone()),
            _ => None,
        })
        .collect()
}

/// One event from `(key, value)` pairs; `Event` first.
pub fn ev(pairs: &[(&str, &str)]) -> Message {
    Message::build(pairs.iter().copied()).expect("valid headers")
}

/// An event about one channel, with the snapshot headers every channel event carries.
/// `chan` is `(channel, uniqueid, linkedid, callerid, exten, state)`.
pub fn chan_ev(
    event: &str,
    ts: &str,
    chan: (&str, &str, &str, &str, &str, &str),
    extra: &[(&str, &str)],
) -> Message {
    let (channel, uniqueid, linkedid, cid, exten, state) = chan;
    let mut v: Vec<(&str, &str)> = vec![("Event", event), ("Privilege", "call,all")];
    if !ts.is_empty() {
        v.push(("Timestamp", ts));
    }
    v.extend([
        ("Channel", channel),
        ("ChannelState", state),
        ("CallerIDNum", cid),
        ("Exten", exten),
        ("Uniqueid", uniqueid),
        ("Linkedid", linkedid),
    ]);
    v.extend_from_slice(extra);
    ev(&v)
}

/// A two-channel event (Dial*, AgentCalled …): `src` may be `None` (Originate).
pub fn dial_ev(
    event: &str,
    ts: &str,
    src: Option<(&str, &str, &str, &str, &str, &str)>,
    dest: (&str, &str, &str, &str, &str, &str),
    extra: &[(&str, &str)],
) -> Message {
    let mut v: Vec<(&str, &str)> = vec![("Event", event), ("Timestamp", ts)];
    if let Some((channel, uniqueid, linkedid, cid, exten, state)) = src {
        v.extend([
            ("Channel", channel),
            ("ChannelState", state),
            ("CallerIDNum", cid),
            ("Exten", exten),
            ("Uniqueid", uniqueid),
            ("Linkedid", linkedid),
        ]);
    }
    let (channel, uniqueid, linkedid, cid, exten, state) = dest;
    v.extend([
        ("DestChannel", channel),
        ("DestChannelState", state),
        ("DestCallerIDNum", cid),
        ("DestExten", exten),
        ("DestUniqueid", uniqueid),
        ("DestLinkedid", linkedid),
    ]);
    v.extend_from_slice(extra);
    ev(&v)
}

/// Records as JSON values (what `replay --json` prints), for the truth rules.
pub fn as_json(records: &[CallRecord]) -> Vec<serde_json::Value> {
    records
        .iter()
        .map(|r| serde_json::to_value(r).expect("serialises"))
        .collect()
}

/// A tiny synthetic PBX for rule tests: remembers its channels and a clock, and produces
/// the events Asterisk 12+ sends, fed straight into a tracker.
pub struct Pbx {
    pub tracker: Tracker,
    pub updates: Vec<Update>,
    chans: HashMap<String, (String, String, String, String, String)>,
    clock: i64,
    /// Asterisk 13-era quirks: chan_sip names are given by the test; `BridgeID` casing.
    pub old_casing: bool,
}

use std::collections::HashMap;

impl Default for Pbx {
    fn default() -> Self {
        Pbx::new(TrackerConfig::new("pbx1"))
    }
}

impl Pbx {
    pub fn new(config: TrackerConfig) -> Pbx {
        Pbx {
            tracker: Tracker::new(config),
            updates: Vec::new(),
            chans: HashMap::new(),
            clock: 1_795_500_000_000_000,
            old_casing: false,
        }
    }

    /// Advances the clock by `secs` and returns the `Timestamp` header value.
    pub fn tick(&mut self, secs: f64) -> String {
        self.clock += (secs * 1e6) as i64;
        format!("{}.{:06}", self.clock / 1_000_000, self.clock % 1_000_000)
    }

    pub fn feed(&mut self, m: Message) {
        self.tracker.handle(&m, None, &mut self.updates);
    }

    fn snap(&self, uid: &str, state: &str) -> Vec<(String, String)> {
        let (name, lid, cid, exten, _) = self.chans.get(uid).cloned().unwrap_or_default();
        vec![
            ("Channel".into(), name),
            ("ChannelState".into(), state.into()),
            ("CallerIDNum".into(), cid),
            ("Exten".into(), exten),
            ("Uniqueid".into(), uid.into()),
            ("Linkedid".into(), lid),
        ]
    }

    fn state_of(&self, uid: &str) -> String {
        self.chans.get(uid).map(|c| c.4.clone()).unwrap_or_default()
    }

    /// An event with the channel snapshot of `uid` (and `Dest…` of `dest`).
    pub fn event(
        &mut self,
        name: &str,
        uid: Option<&str>,
        dest: Option<&str>,
        extra: &[(&str, &str)],
    ) {
        let ts = self.tick(0.1);
        let mut v: Vec<(String, String)> =
            vec![("Event".into(), name.into()), ("Timestamp".into(), ts)];
        if let Some(u) = uid {
            v.extend(self.snap(u, &self.state_of(u)));
        }
        if let Some(d) = dest {
            for (k, val) in self.snap(d, &self.state_of(d)) {
                v.push((format!("Dest{k}"), val));
            }
        }
        v.extend(extra.iter().map(|(k, v)| (k.to_string(), v.to_string())));
        let m = Message::build(v).expect("valid");
        self.feed(m);
    }

    pub fn newchannel(&mut self, name: &str, uid: &str, lid: &str, cid: &str, exten: &str) {
        self.chans.insert(
            uid.into(),
            (
                name.into(),
                lid.into(),
                cid.into(),
                exten.into(),
                "0".into(),
            ),
        );
        self.event("Newchannel", Some(uid), None, &[]);
    }

    pub fn set_exten(&mut self, uid: &str, exten: &str) {
        if let Some(c) = self.chans.get_mut(uid) {
            c.3 = exten.into();
        }
    }

    /// The dial plan sets the channel's caller ID number (`NewCallerid`).
    pub fn set_callerid(&mut self, uid: &str, number: &str) {
        if let Some(c) = self.chans.get_mut(uid) {
            c.2 = number.into();
        }
        self.event("NewCallerid", Some(uid), None, &[]);
    }

    pub fn newstate(&mut self, uid: &str, state: &str) {
        if let Some(c) = self.chans.get_mut(uid) {
            c.4 = state.into();
        }
        self.event("Newstate", Some(uid), None, &[]);
    }

    pub fn dial(&mut self, src: &str, dest: &str, status: &str) {
        if status.is_empty() {
            self.event("DialBegin", Some(src), Some(dest), &[]);
        } else {
            self.event("DialEnd", Some(src), Some(dest), &[("DialStatus", status)]);
        }
    }

    pub fn hangup(&mut self, uid: &str, cause: &str) {
        self.event(
            "Hangup",
            Some(uid),
            None,
            &[("Cause", cause), ("Cause-txt", "x")],
        );
    }

    /// The usual answered two-party call `a` → `b`: returns nothing, leaves it up.
    pub fn answered_call(&mut self, a: (&str, &str, &str), b: (&str, &str), lid: &str) {
        let (aname, auid, aexten) = a;
        let (bname, buid) = b;
        let acid = tracker::names::endpoint_of_channel(aname)
            .unwrap()
            .to_string();
        let bcid = tracker::names::endpoint_of_channel(bname)
            .unwrap()
            .to_string();
        self.newchannel(aname, auid, lid, &acid, aexten);
        self.newchannel(bname, buid, lid, &bcid, aexten);
        self.dial(auid, buid, "");
        self.newstate(buid, "5");
        self.newstate(buid, "6");
        self.dial(auid, buid, "ANSWER");
        self.newstate(auid, "6");
    }

    pub fn records(&self) -> Vec<CallRecord> {
        records(&self.updates)
    }

    pub fn finish(&mut self) -> Vec<CallRecord> {
        self.tracker.end_of_stream(&mut self.updates);
        self.records()
    }
}

/// Every call announced by `CallStarted` is closed by exactly one `CallEnded` or
/// `CallMerged`, after it started, and nothing else is closed (what live views rely on).
pub fn check_lifecycle(updates: &[Update]) -> Result<(), String> {
    let mut open: std::collections::HashSet<String> = Default::default();
    let mut seen: std::collections::HashSet<String> = Default::default();
    for u in updates {
        match u {
            Update::CallStarted(c) => {
                if !seen.insert(c.id.clone()) {
                    return Err(format!("{} started twice", c.id));
                }
                open.insert(c.id.clone());
            }
            Update::CallEnded(tracker::CallRecord { id, .. }) | Update::CallMerged { id, .. }
                if !open.remove(id) =>
            {
                return Err(format!("{id} closed but not open"));
            }
            _ => {}
        }
    }
    match open.is_empty() {
        true => Ok(()),
        false => Err(format!("never closed: {open:?}")),
    }
}
