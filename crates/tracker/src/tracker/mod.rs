//! The state machine: AMI events in, [`Update`]s out.
//!
//! Channels are keyed by `Uniqueid` and grouped into calls by `Linkedid` (every channel a
//! call creates inherits the Linkedid of the channel that started it). Every event that
//! carries a channel snapshot (`Channel`, `Uniqueid`, `Linkedid`, `CallerIDNum`, `Exten`,
//! `ChannelState`, and the same with a `Dest` prefix) refreshes what is known of that channel,
//! so the tracker never depends on an event a site may filter out (`VarSet`, `Newexten`,
//! `DeviceStateChange`, `Cdr`): `Newstate Up` or a `ChannelState: 6` on any later event both
//! say a channel answered.
//!
//! This file holds the [`Tracker`] itself and the dispatch of events; each concept the
//! events speak of has its own file, an `impl Tracker` block of its handlers:
//!
//! - `channels`: channel snapshots, the call a channel belongs to, hangups, renames;
//! - `dialing`: dials (and the Asterisk ≤ 11 `Dial`), Originate;
//! - `bridges`: who is connected to whom (bridges and Local pairs);
//! - `answering`: who answered and when — the only place the `answered_by` rule is applied;
//! - `conference`, `pickup`: the events that answer a call without a leg going Up;
//! - `holds`: `Hold`/`Unhold`;
//! - `transfers`: every transfer rule (blind, attended, AMI `Redirect`, the fold);
//! - `queues`: queue callers, members and agents;
//! - `presence`: extension and device states;
//! - `resync`: what a new session's lists reconcile;
//! - `checkpoint`: the calls in progress, saved and restored across a restart.

mod bridges;
mod call;
mod channels;
mod checkpoint;
mod conference;
mod dialing;
mod holds;
mod pickup;
mod presence;
mod queues;
mod resync;
#[cfg(test)]
mod rule_sites;

use crate::names::known_number;
use crate::update::{ActiveCall, Update};
use crate::{EndReason, Timestamp, TrackerConfig};
use ami_wire::Message;
use call::Call;
use channels::PLAIN;
use presence::ExtState;
use queues::QueueState;
use resync::Resync;
use std::collections::{BTreeMap, HashMap, HashSet, VecDeque};

pub use checkpoint::{Checkpoint, CheckpointError, CHECKPOINT_VERSION};

/// How a channel came to our knowledge, which decides what its first sight means.
#[derive(Clone, Copy, PartialEq)]
pub(super) enum Seen {
    /// A live event: times are the event's.
    Live,
    /// An item of `CoreShowChannels`: it already existed, we do not know when it answered.
    Listed,
}

/// Linkedids of calls already reported, remembered so a late event (app_queue's second
/// `DialEnd`, an `AgentComplete` after the hangups) does not start a ghost call.
const RECENTLY_ENDED: usize = 8192;

/// A bounded set of recently seen keys (oldest forgotten first).
#[derive(Default)]
struct Recent {
    order: VecDeque<String>,
    set: HashSet<String>,
}

impl Recent {
    fn insert(&mut self, key: &str) {
        if self.set.insert(key.to_string()) {
            self.order.push_back(key.to_string());
            if self.order.len() > RECENTLY_ENDED {
                if let Some(old) = self.order.pop_front() {
                    self.set.remove(&old);
                }
            }
        }
    }
    fn contains(&self, key: &str) -> bool {
        self.set.contains(key)
    }
}

/// The call tracker of one PBX. See the crate docs for the rules it implements.
pub struct Tracker {
    config: TrackerConfig,
    calls: HashMap<String, Call>,
    /// Uniqueid → Linkedid of the call the channel belongs to.
    channels: HashMap<String, String>,
    /// Endpoint → Linkedids of the open calls with a channel of it (live or not): which
    /// calls an extension is in, without scanning every call.
    by_endpoint: HashMap<String, Vec<String>>,
    ended: Recent,
    last_ts: Option<Timestamp>,
    extensions: BTreeMap<String, ExtState>,
    devices: BTreeMap<String, &'static str>,
    queues: BTreeMap<String, QueueState>,
    resync: Option<Resync>,
    /// Queues whose waiting callers a `QueueStatus` list is rebuilding.
    queues_listing: HashSet<String>,
    /// Hangups of channels never seen, ignored (see [`Tracker::unknown_hangups`]).
    unknown_hangups: u64,
    bridges: bridges::Bridges,
}

fn num(s: Option<&str>) -> Option<String> {
    known_number(s).map(str::to_string)
}

fn header<'a>(m: &'a Message, k: &str) -> Option<&'a str> {
    m.get(k).map(str::trim).filter(|v| !v.is_empty())
}

impl Tracker {
    /// A tracker with no calls.
    pub fn new(config: TrackerConfig) -> Tracker {
        Tracker {
            config,
            calls: HashMap::new(),
            channels: HashMap::new(),
            by_endpoint: HashMap::new(),
            ended: Recent::default(),
            last_ts: None,
            extensions: BTreeMap::new(),
            devices: BTreeMap::new(),
            queues: BTreeMap::new(),
            resync: None,
            queues_listing: HashSet::new(),
            unknown_hangups: 0,
            bridges: bridges::Bridges::default(),
        }
    }

    /// How many `Hangup`, `HangupRequest` and `SoftHangupRequest` events named a channel
    /// this tracker never saw, and were ignored rather than made into a call.
    ///
    /// A channel is seen through `Newchannel`, a `CoreShowChannel` list entry, or any event
    /// that describes a channel still alive (`Newstate`, `DialBegin`, `BridgeEnter`, …). A
    /// hangup is the end of a channel, not a sign of one: after a resync that listed no
    /// channels, or when the PBX sends stray hangups, making a call of each would invent a
    /// missed call (`no_answer`, `to: null`) per event. A growing count says events were
    /// missed between the PBX and us, or that the PBX reports channels it never announced.
    pub fn unknown_hangups(&self) -> u64 {
        self.unknown_hangups
    }

    /// The configuration it runs with.
    pub fn config(&self) -> &TrackerConfig {
        &self.config
    }

    /// Runs with `config` from now on, keeping every call, extension state and queue it
    /// knows: a reload that changes only which endpoints are extensions or trunks must not
    /// cost the calls in progress. Calls already classified keep their direction; the new
    /// rules apply to what happens next. `config.server` is kept as it was (the ids of the
    /// open calls are built from it).
    pub fn reconfigure(&mut self, config: TrackerConfig) {
        let server = std::mem::take(&mut self.config.server);
        self.config = TrackerConfig { server, ..config };
    }

    /// Number of calls open now.
    pub fn open_calls(&self) -> usize {
        self.calls.len()
    }

    /// The stream is over (end of a recording): every open call is reported with what was
    /// known and `end: "stream_ended"`, oldest first.
    pub fn end_of_stream(&mut self, out: &mut Vec<Update>) {
        let mut ids: Vec<(Option<Timestamp>, String)> = self
            .calls
            .values()
            .map(|c| (c.first_seen, c.linkedid.clone()))
            .collect();
        ids.sort();
        for (_, id) in ids {
            self.finish(&id, EndReason::StreamEnded, out);
        }
    }

    /// Closes calls with no event for longer than `expire_after_secs` before `now`, with
    /// `end: "expired"` (their `Hangup` was lost).
    pub fn expire(&mut self, now: Timestamp, out: &mut Vec<Update>) {
        let limit = now.0 - (self.config.expire_after_secs as i64).saturating_mul(1_000_000);
        let mut stale = Vec::new();
        for call in self.calls.values_mut() {
            match call.last_event {
                Some(t) if t.0 < limit => stale.push((call.first_seen, call.linkedid.clone())),
                Some(_) => {}
                // Offline, without any time: start counting from now.
                None => call.last_event = Some(now),
            }
        }
        stale.sort();
        for (_, id) in stale {
            self.finish(&id, EndReason::Expired, out);
        }
    }

    /// Live calls, oldest first, for `/api/calls`.
    pub fn active_calls(&self) -> Vec<ActiveCall> {
        let mut v: Vec<&Call> = self
            .calls
            .values()
            .filter(|c| c.absorbed_into.is_none())
            .collect();
        v.sort_by(|a, b| (a.first_seen, &a.linkedid).cmp(&(b.first_seen, &b.linkedid)));
        v.into_iter().map(|c| c.active(&self.config)).collect()
    }

    /// One live call by id (`server:linkedid`), if `/api/calls` lists it (a call merged
    /// into another is not listed).
    pub fn active_call(&self, id: &str) -> Option<ActiveCall> {
        let linkedid = id.strip_prefix(&self.config.server)?.strip_prefix(':')?;
        self.calls
            .get(linkedid)
            .filter(|c| c.absorbed_into.is_none())
            .map(|c| c.active(&self.config))
    }

    /// Feeds one message. `received_at` is the time of reception for live sessions (used
    /// only when no event of the session has carried a `Timestamp`); `None` offline.
    pub fn handle(&mut self, msg: &Message, received_at: Option<Timestamp>, out: &mut Vec<Update>) {
        let start = out.len();
        self.dispatch(msg, received_at, out);
        self.announce(out, start);
    }

    fn dispatch(&mut self, msg: &Message, received_at: Option<Timestamp>, out: &mut Vec<Update>) {
        if msg.kind() != ami_wire::Kind::Event {
            return;
        }
        let t = match msg.get("Timestamp").and_then(Timestamp::from_ami) {
            Some(t) => {
                self.last_ts = Some(t);
                Some(t)
            }
            None => self.last_ts.or(received_at),
        };
        // Event names are matched case-insensitively, lowered on the stack: this runs for
        // every event, and no name we know is longer than the buffer.
        let raw = msg.name().trim().as_bytes();
        let mut buf = [0u8; 32];
        let Some(dst) = buf.get_mut(..raw.len()) else {
            return;
        };
        dst.copy_from_slice(raw);
        dst.make_ascii_lowercase();
        let name = std::str::from_utf8(dst).unwrap_or("");
        match name {
            "varset" => self.on_varset(msg, t, out),
            "newchannel"
            | "newstate"
            | "newconnectedline"
            | "musiconholdstart"
            | "musiconholdstop"
            | "confbridgeleave"
            | "localbridge"
            | "localoptimizationbegin"
            | "localoptimizationend"
            | "newaccountcode" => {
                self.touch(msg, &PLAIN, t, Seen::Live, out);
            }
            "newexten" => self.on_newexten(msg, t, out),
            "newcallerid" => self.on_newcallerid(msg, t, out),
            "bridgeenter" => self.on_bridge_enter(msg, t, out),
            "bridgeleave" => self.on_bridge_leave(msg, t, out),
            "dialbegin" | "dialstate" | "dialend" => self.on_dial(msg, name, t, out),
            "dial" => self.on_legacy_dial(msg, t, out),
            "hangup" => self.on_hangup(msg, t, out),
            "hanguprequest" | "softhanguprequest" => {
                self.touch_known(msg, t, out);
            }
            "hold" | "unhold" => self.on_hold(msg, name == "hold", t, out),
            "messagewaiting" => {
                if let Some(l) = self.touch(msg, &PLAIN, t, Seen::Live, out) {
                    if let Some(c) = self.calls.get_mut(&l) {
                        c.fell_to_voicemail(t);
                    }
                }
            }
            "confbridgejoin" => self.on_confbridge(msg, t, out),
            "blindtransfer" => self.on_blind_transfer(msg, t, out),
            "attendedtransfer" => self.on_attended_transfer(msg, t, out),
            "pickup" => self.on_pickup(msg, t, out),
            "originateresponse" => self.on_originate_response(msg),
            "rename" => self.on_rename(msg),
            "queuecallerjoin" | "join" => self.on_queue_join(msg, t, out),
            "queuecallerleave" | "leave" => self.on_queue_leave(msg, t, out),
            "queuecallerabandon" => self.on_queue_abandon(msg, t, out),
            "agentcalled" => self.on_agent(msg, false, t, out),
            "agentconnect" => self.on_agent(msg, true, t, out),
            "agentringnoanswer" | "agentcomplete" | "agentdump" => {
                self.touch(msg, &PLAIN, t, Seen::Live, out);
            }
            "extensionstatus" => self.on_extension_status(msg, out),
            "devicestatechange" => self.on_device_state(msg, out),
            "queuememberstatus" | "queuememberadded" | "queuememberpause" | "queuememberpaused"
            | "queuemember" => self.on_queue_member(msg, out),
            "queuememberremoved" => self.on_queue_member_removed(msg, out),
            "queueparams" => self.on_queue_params(msg),
            "queueentry" => self.on_queue_entry(msg, t, out),
            "queuestatuscomplete" => self.on_queue_status_complete(out),
            "coreshowchannel" => self.on_core_show_channel(msg, t, out),
            "coreshowchannelscomplete" => self.on_core_show_channels_complete(t, out),
            _ => {}
        }
    }

    /// Closes a call and reports its record (unless a pickup swallowed it).
    fn finish(&mut self, linkedid: &str, end: EndReason, out: &mut Vec<Update>) {
        self.settle_unbridged(linkedid, out);
        let Some(call) = self.calls.remove(linkedid) else {
            return;
        };
        for ch in &call.channels {
            self.bridges.leave(&ch.uniqueid);
            if self.channels.get(&ch.uniqueid).map(String::as_str) == Some(linkedid) {
                self.channels.remove(&ch.uniqueid);
            }
        }
        self.ended.insert(linkedid);
        for ch in &call.channels {
            if let Some(e) = &ch.endpoint {
                self.unindex_endpoint(e, linkedid);
            }
        }
        for q in self.queues.values_mut() {
            q.callers
                .retain(|c| !call.channels.iter().any(|ch| ch.uniqueid == c.uniqueid));
        }
        if let Some(into) = &call.absorbed_into {
            out.push(Update::CallMerged {
                id: format!("{}:{}", self.config.server, linkedid),
                into: format!("{}:{}", self.config.server, into),
            });
        } else {
            out.push(Update::CallEnded(call.record(&self.config, end)));
        }
    }

    /// Fills in the placeholder views of `CallStarted`/`CallUpdated` pushed while handling
    /// one event, so an update shows the call as the whole event left it; one view per call
    /// and event is enough (a `CallUpdated` next to its `CallStarted` says nothing new).
    fn announce(&self, out: &mut Vec<Update>, start: usize) {
        let mut seen: Vec<String> = Vec::new();
        let mut i = start;
        while i < out.len() {
            let (placeholder, started) = match &out[i] {
                Update::CallStarted(a) => (a.server.is_empty().then(|| a.linkedid.clone()), true),
                Update::CallUpdated(a) => (a.server.is_empty().then(|| a.linkedid.clone()), false),
                _ => (None, false),
            };
            let Some(linkedid) = placeholder else {
                i += 1;
                continue;
            };
            // A second view of the same call, or a view of a call this very event closed
            // or merged away, says nothing new.
            if !started && (seen.contains(&linkedid) || !self.calls.contains_key(&linkedid)) {
                out.remove(i);
                continue;
            }
            seen.push(linkedid.clone());
            let view = match self.calls.get(&linkedid) {
                Some(c) => c.active(&self.config),
                None => {
                    let mut a = ActiveCall::placeholder(&linkedid);
                    a.id = format!("{}:{}", self.config.server, linkedid);
                    a.server = self.config.server.clone();
                    a
                }
            };
            out[i] = if started {
                Update::CallStarted(view)
            } else {
                Update::CallUpdated(view)
            };
            i += 1;
        }
    }
}
