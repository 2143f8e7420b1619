//! The state machine: AMI events in, [`Update`]s out.
//!
//! Channels are keyed by `Uniqueid` and grouped into calls by `Linkedid` (every channel a
//! call creates inherits the Linkedid of the channel that started it). Every event that
//! carries a channel snapshot (`Channel`, `Uniqueid`, `Linkedid`, `CallerIDNum`, `Exten`,
//! `ChannelState`, and the same with a `Dest` prefix) refreshes what is known of that channel,
//! so the tracker never depends on an event a site may filter out (`VarSet`, `Newexten`,
//! `DeviceStateChange`, `Cdr`): `Newstate Up` or a `ChannelState: 6` on any later event both
//! say a channel answered.

use crate::call::{Answerer, Call, Channel};
use crate::names::{dialed_exten, endpoint_of_channel, endpoint_of_interface, known_number};
use crate::update::{
    state_from_device, state_from_device_code, state_from_hint, state_from_hint_text, ActiveCall,
    ExtensionView, QueueCaller, QueueMemberView, QueueView, Update,
};
use crate::{
    EndReason, Hold, LegRole, QueueInfo, Timestamp, TrackerConfig, Transfer, TransferKind,
};
use ami_wire::Message;
use std::collections::{BTreeMap, HashMap, HashSet, VecDeque};

/// Linkedids of calls already reported, remembered so a late event (app_queue's second
/// `DialEnd`, an `AgentComplete` after the hangups) does not start a ghost call.
const RECENTLY_ENDED: usize = 8192;
/// Callers kept per queue (a queue longer than this is a PBX in trouble).
const MAX_QUEUE_CALLERS: usize = 10_000;
/// Members kept per queue.
const MAX_QUEUE_MEMBERS: usize = 10_000;
/// Extensions and devices kept.
const MAX_EXTENSIONS: usize = 100_000;
/// Queues kept.
const MAX_QUEUES: usize = 10_000;

/// The header names of one channel snapshot in an event: plain (`Channel`, `Uniqueid`, …)
/// or prefixed (`DestChannel`, `DestUniqueid`, … in Dial and Agent events).
struct Snapshot {
    channel: &'static str,
    uniqueid: &'static str,
    linkedid: &'static str,
    number: &'static str,
    name: &'static str,
    exten: &'static str,
    state: &'static str,
}

const PLAIN: Snapshot = Snapshot {
    channel: "Channel",
    uniqueid: "Uniqueid",
    linkedid: "Linkedid",
    number: "CallerIDNum",
    name: "CallerIDName",
    exten: "Exten",
    state: "ChannelState",
};

const DEST: Snapshot = Snapshot {
    channel: "DestChannel",
    uniqueid: "DestUniqueid",
    linkedid: "DestLinkedid",
    number: "DestCallerIDNum",
    name: "DestCallerIDName",
    exten: "DestExten",
    state: "DestChannelState",
};

/// How a channel came to our knowledge, which decides what its first sight means.
#[derive(Clone, Copy, PartialEq)]
enum Seen {
    /// A live event: times are the event's.
    Live,
    /// An item of `CoreShowChannels`: it already existed, we do not know when it answered.
    Listed,
}

struct ExtState {
    state: &'static str,
    hint: Option<String>,
}

#[derive(Default)]
struct QueueState {
    callers: Vec<QueueCaller>,
    members: BTreeMap<String, QueueMemberView>,
}

/// What a resync after a (re)connect has to reconcile.
struct Resync {
    /// Calls open when the session started.
    open_before: HashSet<String>,
    /// Uniqueids listed by `CoreShowChannels` so far.
    listed: HashSet<String>,
}

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

    /// A new AMI session logged in: the lists that follow (`CoreShowChannels`, …) are a
    /// resync. Calls open now and missing from `CoreShowChannels` are closed with
    /// `end: "ended_while_disconnected"` when its `CoreShowChannelsComplete` arrives.
    pub fn session_started(&mut self, at: Option<Timestamp>, _out: &mut Vec<Update>) {
        // Timestamps of the old session say nothing about the new one.
        self.last_ts = at;
        self.resync = Some(Resync {
            open_before: self.calls.keys().cloned().collect(),
            listed: HashSet::new(),
        });
    }

    /// The AMI session dropped. Calls stay open: they may well go on without us, and the
    /// resync of the next session decides.
    pub fn session_lost(&mut self, at: Option<Timestamp>, _out: &mut Vec<Update>) {
        if at.is_some() {
            self.last_ts = at;
        }
        self.resync = None;
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

    /// One live call by id (`server:linkedid`).
    pub fn active_call(&self, id: &str) -> Option<ActiveCall> {
        let linkedid = id.strip_prefix(&self.config.server)?.strip_prefix(':')?;
        self.calls.get(linkedid).map(|c| c.active(&self.config))
    }

    /// Extensions with their states and current calls, for `/api/extensions`.
    pub fn extensions(&self) -> Vec<ExtensionView> {
        let mut names: Vec<&String> = self.extensions.keys().collect();
        // Devices of our phones with no hint still say something about the phone.
        for dev in self.devices.keys() {
            if let Some(e) = endpoint_of_interface(dev) {
                if self.config.is_extension(e) && !self.extensions.contains_key(e) {
                    names.push(
                        self.devices
                            .get_key_value(dev)
                            .map(|(k, _)| k)
                            .unwrap_or(dev),
                    );
                }
            }
        }
        let mut out: Vec<ExtensionView> = names
            .into_iter()
            .filter_map(|n| {
                let ext = endpoint_of_interface(n).unwrap_or(n);
                self.extension_view(ext)
            })
            .collect();
        out.sort_by(|a, b| a.extension.cmp(&b.extension));
        out.dedup_by(|a, b| a.extension == b.extension);
        out
    }

    fn extension_view(&self, ext: &str) -> Option<ExtensionView> {
        let (state, hint) = match self.extensions.get(ext) {
            Some(s) => (s.state, s.hint.clone()),
            None => {
                let (dev, st) = self
                    .devices
                    .iter()
                    .find(|(d, _)| endpoint_of_interface(d) == Some(ext))?;
                (*st, Some(dev.clone()))
            }
        };
        let mut calls: Vec<String> = self
            .by_endpoint
            .get(ext)
            .into_iter()
            .flatten()
            .filter_map(|l| self.calls.get(l))
            .filter(|c| {
                c.absorbed_into.is_none()
                    && c.channels
                        .iter()
                        .any(|ch| !ch.hung_up && !ch.local() && ch.endpoint.as_deref() == Some(ext))
            })
            .map(|c| format!("{}:{}", self.config.server, c.linkedid))
            .collect();
        calls.sort();
        Some(ExtensionView {
            extension: ext.to_string(),
            state,
            hint,
            calls,
        })
    }

    /// Queues with waiting callers and members, for `/api/queues`.
    pub fn queues(&self) -> Vec<QueueView> {
        self.queues.keys().map(|q| self.queue_view(q)).collect()
    }

    fn queue_view(&self, name: &str) -> QueueView {
        let q = self.queues.get(name);
        let mut callers = q.map(|q| q.callers.clone()).unwrap_or_default();
        callers.sort_by_key(|c| c.position);
        QueueView {
            name: name.to_string(),
            callers,
            members: q
                .map(|q| q.members.values().cloned().collect())
                .unwrap_or_default(),
        }
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
            | "newcallerid"
            | "newconnectedline"
            | "bridgeenter"
            | "bridgeleave"
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
                        c.voicemail = true;
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
            "queuecallerabandon" => {
                if let Some(l) = self.touch(msg, &PLAIN, t, Seen::Live, out) {
                    if let Some(c) = self.calls.get_mut(&l) {
                        c.abandoned = true;
                        c.note(t, "abandoned", "caller hung up while waiting".into());
                    }
                }
            }
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
            "queuestatuscomplete" => {
                for q in std::mem::take(&mut self.queues_listing) {
                    let view = self.queue_view(&q);
                    out.push(Update::QueueChanged(view));
                }
            }
            "coreshowchannel" => self.on_core_show_channel(msg, t, out),
            "coreshowchannelscomplete" => self.on_core_show_channels_complete(t, out),
            _ => {}
        }
    }

    /// Finds or creates the channel a snapshot describes; returns the Linkedid of its call.
    fn touch(
        &mut self,
        msg: &Message,
        keys: &Snapshot,
        t: Option<Timestamp>,
        seen: Seen,
        out: &mut Vec<Update>,
    ) -> Option<String> {
        let uniqueid = header(msg, keys.uniqueid)?;
        if uniqueid.eq_ignore_ascii_case("<unknown>") {
            return None;
        }
        let linkedid = match self.channels.get(uniqueid) {
            Some(l) => l.clone(),
            None => {
                let linkedid = header(msg, keys.linkedid).unwrap_or(uniqueid);
                if self.ended.contains(linkedid) || self.ended.contains(uniqueid) {
                    return None;
                }
                let channel_name = header(msg, keys.channel)?;
                self.add_channel(linkedid, uniqueid, channel_name, t, seen, out)?;
                linkedid.to_string()
            }
        };
        let call = self.calls.get_mut(&linkedid)?;
        if seen == Seen::Live {
            call.last_event = t.or(call.last_event);
        }
        let is_caller = call.is_caller(uniqueid);
        let ch = call.channel_mut(uniqueid)?;
        if ch.number.is_none() {
            ch.number = num(msg.get(keys.number));
        }
        if ch.cid_name.is_none() {
            ch.cid_name = num(msg.get(keys.name));
        }
        let exten = msg.get(keys.exten).map(str::trim);
        if let Some(e) = dialed_exten(exten) {
            if ch.exten.as_deref() != Some(e) {
                ch.exten = Some(e.to_string());
            }
        }
        if is_caller {
            // A call from a trunk is to the number it arrived on (the DID), whatever the
            // dial plan does next (IVR, Goto an extension): the first real exten settles it.
            let from_trunk = ch
                .endpoint
                .as_deref()
                .is_some_and(|e| !ch.local() && !self.config.is_extension(e));
            call.offer_to(exten, from_trunk);
        }
        match header(msg, keys.state) {
            Some("6") => self.mark_up(&linkedid, uniqueid, t, seen, out),
            Some("5") => self.mark_ringing(&linkedid, uniqueid, t, out),
            _ => {}
        }
        Some(linkedid)
    }

    fn add_channel(
        &mut self,
        linkedid: &str,
        uniqueid: &str,
        name: &str,
        t: Option<Timestamp>,
        seen: Seen,
        out: &mut Vec<Update>,
    ) -> Option<()> {
        let is_new_call = !self.calls.contains_key(linkedid);
        let call = self
            .calls
            .entry(linkedid.to_string())
            .or_insert_with(|| Call::new(linkedid, t));
        if !call.can_add_leg() {
            return None;
        }
        let caller_is_local = call.caller_channel().is_some_and(Channel::local);
        let role = if uniqueid == linkedid {
            call.caller = Some(uniqueid.to_string());
            LegRole::Caller
        } else if caller_is_local && call.origin.is_none() && !crate::names::is_local(name) {
            // An Originate through a Local channel: the first phone it rings is the caller.
            call.origin = Some(uniqueid.to_string());
            LegRole::Caller
        } else if !call.transfers.is_empty() {
            LegRole::TransferTarget
        } else {
            LegRole::Callee
        };
        call.channels.push(Channel {
            uniqueid: uniqueid.to_string(),
            name: name.to_string(),
            endpoint: endpoint_of_channel(name).map(str::to_string),
            number: None,
            cid_name: None,
            exten: None,
            role,
            started_at: if seen == Seen::Live { t } else { None },
            answered_at: None,
            ended_at: None,
            cause: None,
            cause_text: None,
            up: false,
            ringing: false,
            hung_up: false,
            originated: false,
        });
        self.channels
            .insert(uniqueid.to_string(), linkedid.to_string());
        if let Some(e) = endpoint_of_channel(name) {
            self.index_endpoint(e, linkedid);
        }
        // Announced after the whole event has been read (see `announce`).
        if is_new_call {
            out.push(Update::CallStarted(ActiveCall::placeholder(linkedid)));
        } else {
            out.push(Update::CallUpdated(ActiveCall::placeholder(linkedid)));
        }
        Some(())
    }

    fn mark_up(
        &mut self,
        linkedid: &str,
        uniqueid: &str,
        t: Option<Timestamp>,
        seen: Seen,
        out: &mut Vec<Update>,
    ) {
        let Some(call) = self.calls.get_mut(linkedid) else {
            return;
        };
        let is_caller = call.is_caller(uniqueid) || call.origin.as_deref() == Some(uniqueid);
        let already = call.answered_by.is_some();
        let extension_of = |e: &str| self.config.is_extension(e);
        let Some(ch) = call.channel_mut(uniqueid) else {
            return;
        };
        if ch.up {
            return;
        }
        ch.up = true;
        ch.ringing = false;
        if seen == Seen::Live {
            ch.answered_at = t;
        }
        // The PBX answering the caller (voicemail, queue music, an originate's first leg)
        // is not the call being answered; Local channels are plumbing, never a person.
        if is_caller || ch.local() || ch.originated || already {
            return;
        }
        let who = match ch.endpoint.as_deref() {
            Some(e) if extension_of(e) => Answerer::Extension(e.to_string()),
            _ => Answerer::FarEnd,
        };
        call.answered_by = Some(who);
        call.answered_at = if seen == Seen::Live { t } else { None };
        let by = call.answered_by_text().unwrap_or_default();
        call.note(t, "answered", format!("answered by {by}"));
        out.push(Update::CallAnswered {
            id: format!("{}:{}", self.config.server, linkedid),
            answered_by: by,
            at: t,
        });
    }

    fn mark_ringing(
        &mut self,
        linkedid: &str,
        uniqueid: &str,
        t: Option<Timestamp>,
        out: &mut Vec<Update>,
    ) {
        let Some(call) = self.calls.get_mut(linkedid) else {
            return;
        };
        let is_caller = call.is_caller(uniqueid);
        let Some(ch) = call.channel_mut(uniqueid) else {
            return;
        };
        if ch.ringing || ch.up || is_caller || ch.local() {
            return;
        }
        ch.ringing = true;
        let (channel, endpoint) = (ch.name.clone(), ch.endpoint.clone());
        out.push(Update::CallRinging {
            id: format!("{}:{}", self.config.server, linkedid),
            channel,
            endpoint,
            at: t,
        });
    }

    /// `VarSet` is most of the traffic (over half of all events) and only says the channel
    /// is alive: a known channel just counts as activity. An unknown one is adopted, as
    /// from any other snapshot (attaching mid-call).
    fn on_varset(&mut self, msg: &Message, t: Option<Timestamp>, out: &mut Vec<Update>) {
        if let Some(l) = header(msg, "Uniqueid").and_then(|u| self.channels.get(u)) {
            if let (Some(c), Some(t)) = (self.calls.get_mut(l.as_str()), t) {
                c.last_event = Some(t);
            }
            return;
        }
        self.touch(msg, &PLAIN, t, Seen::Live, out);
    }

    fn on_newexten(&mut self, msg: &Message, t: Option<Timestamp>, out: &mut Vec<Update>) {
        let Some(l) = self.touch(msg, &PLAIN, t, Seen::Live, out) else {
            return;
        };
        let app = header(msg, "Application").unwrap_or("");
        let uniqueid = header(msg, "Uniqueid").unwrap_or("");
        if let Some(c) = self.calls.get_mut(&l) {
            if c.is_caller(uniqueid) && app.eq_ignore_ascii_case("VoiceMail") {
                c.voicemail = true;
                c.offer_to(msg.get("Exten"), true);
            }
        }
    }

    fn on_dial(&mut self, msg: &Message, name: &str, t: Option<Timestamp>, out: &mut Vec<Update>) {
        let dialer = self.touch(msg, &PLAIN, t, Seen::Live, out);
        let Some(dest_l) = self.touch(msg, &DEST, t, Seen::Live, out) else {
            return;
        };
        let dest = header(msg, "DestUniqueid").unwrap_or("").to_string();
        let Some(call) = self.calls.get_mut(&dest_l) else {
            return;
        };
        if dialer.is_none() && header(msg, "Uniqueid").is_none() {
            // No dialing channel: an AMI Originate rings its first phone. That phone is the
            // caller (see the crate docs), and its answering is not the call's answer.
            if name == "dialbegin" {
                if let Some(ch) = call.channel_mut(&dest) {
                    ch.originated = true;
                }
                if call.caller.is_none() {
                    call.caller = Some(dest.clone());
                }
            }
            return;
        }
        let dialer_id = header(msg, "Uniqueid").unwrap_or("");
        match name {
            "dialbegin" => {
                if call.is_caller(dialer_id) {
                    call.offer_to(msg.get("Exten"), true);
                    call.offer_to(msg.get("DestExten"), true);
                }
                call.set_dial(&dest, "");
                let dialer_up = call
                    .channel(dialer_id)
                    .is_some_and(|c| c.up && !c.local() && !c.hung_up);
                // A resync list can be newer than the events still on their way: Asterisk
                // answers the action before it flushes the events queued for the session.
                // A dial to a channel the list already showed up is that late dial, not a
                // new one (a redirect's target is a channel that just came to be).
                let dest_up_already = call.channel(&dest).is_some_and(|c| c.up);
                if call.answered_by.is_some() && dialer_up && !dest_up_already {
                    // An answered party dials anew: it was sent elsewhere. After a
                    // `BlindTransfer` this is that transfer's dial; with no transfer event,
                    // a program moved it with AMI `Redirect` (the rulebook in lib.rs: blind, by
                    // `ami:Redirect`).
                    if let Some(ch) = call.channel_mut(&dest) {
                        ch.role = LegRole::TransferTarget;
                    }
                    if call.blind_pending > 0 {
                        call.blind_pending -= 1;
                    } else {
                        let to = dialed_exten(msg.get("Exten"))
                            .or_else(|| dialed_exten(msg.get("DestExten")))
                            .unwrap_or("unknown")
                            .to_string();
                        let l = dest_l.clone();
                        self.push_transfer(
                            &l,
                            Transfer {
                                kind: TransferKind::Blind,
                                by: "ami:Redirect".into(),
                                to,
                                at: t,
                            },
                            out,
                        );
                    }
                }
            }
            "dialend" => {
                let status = header(msg, "DialStatus").unwrap_or("").to_ascii_uppercase();
                call.set_dial(&dest, &status);
                if status == "ANSWER" {
                    self.mark_up(&dest_l, &dest, t, Seen::Live, out);
                }
            }
            _ => {
                let status = header(msg, "DialStatus").unwrap_or("");
                if status.eq_ignore_ascii_case("RINGING") {
                    self.mark_ringing(&dest_l, &dest, t, out);
                }
            }
        }
    }

    /// Asterisk ≤ 11: `Event: Dial` with `SubEvent: Begin|End`, `UniqueID`/`DestUniqueID`.
    fn on_legacy_dial(&mut self, msg: &Message, t: Option<Timestamp>, out: &mut Vec<Update>) {
        let Some(l) = self.touch(msg, &PLAIN, t, Seen::Live, out) else {
            return;
        };
        let sub = header(msg, "SubEvent").unwrap_or("").to_ascii_lowercase();
        let uniqueid = header(msg, "Uniqueid").unwrap_or("").to_string();
        if sub == "begin" {
            let (Some(dest), Some(dest_name)) =
                (header(msg, "DestUniqueid"), header(msg, "Destination"))
            else {
                return;
            };
            match self.channels.get(dest).cloned() {
                None => {
                    self.add_channel(&l, dest, dest_name, t, Seen::Live, out);
                }
                // Asterisk 11 has no Linkedid: the dialed channel's `Newchannel` made it a
                // call of its own. The dial says whose call it belongs to.
                Some(own)
                    if own != l && self.calls.get(&own).is_some_and(|c| c.channels.len() == 1) =>
                {
                    self.fold(&own, &l, out);
                }
                Some(_) => {}
            }
            if let Some(c) = self.calls.get_mut(&l) {
                if c.is_caller(&uniqueid) {
                    c.offer_to(
                        msg.get("Dialstring")
                            .map(|d| d.split('@').next().unwrap_or(d)),
                        false,
                    );
                }
                c.set_dial(dest, "");
            }
        } else if sub == "end" {
            let status = header(msg, "DialStatus").unwrap_or("").to_ascii_uppercase();
            if let Some(c) = self.calls.get_mut(&l) {
                // Old versions name no destination on End: it closes every open dial.
                let open: Vec<String> = c
                    .dials
                    .iter()
                    .filter(|d| d.1.is_empty())
                    .map(|d| d.0.clone())
                    .collect();
                for d in open {
                    c.set_dial(&d, &status);
                }
            }
        }
    }

    /// [`Tracker::touch`] for events that end a channel: a channel never seen is not
    /// created, only counted (see [`Tracker::unknown_hangups`]).
    fn touch_known(
        &mut self,
        msg: &Message,
        t: Option<Timestamp>,
        out: &mut Vec<Update>,
    ) -> Option<String> {
        let uniqueid = header(msg, PLAIN.uniqueid)?;
        if !self.channels.contains_key(uniqueid) {
            // A late event of a call already closed is not a stranger.
            let linkedid = header(msg, PLAIN.linkedid).unwrap_or(uniqueid);
            if !self.ended.contains(linkedid) && !self.ended.contains(uniqueid) {
                self.unknown_hangups += 1;
            }
            return None;
        }
        self.touch(msg, &PLAIN, t, Seen::Live, out)
    }

    fn on_hangup(&mut self, msg: &Message, t: Option<Timestamp>, out: &mut Vec<Update>) {
        let Some(l) = self.touch_known(msg, t, out) else {
            return;
        };
        let uniqueid = header(msg, "Uniqueid").unwrap_or("");
        let Some(call) = self.calls.get_mut(&l) else {
            return;
        };
        if let Some(ch) = call.channel_mut(uniqueid) {
            if !ch.hung_up {
                ch.hung_up = true;
                ch.ended_at = t;
                ch.cause = header(msg, "Cause").and_then(|c| c.parse().ok());
                ch.cause_text = header(msg, "Cause-txt").map(str::to_string);
            }
        }
        if call.all_hung_up() {
            self.finish(&l, EndReason::Hangup, out);
        }
    }

    /// Closes a call and reports its record (unless a pickup swallowed it).
    fn finish(&mut self, linkedid: &str, end: EndReason, out: &mut Vec<Update>) {
        let Some(call) = self.calls.remove(linkedid) else {
            return;
        };
        for ch in &call.channels {
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

    fn party_of(&self, msg: &Message, prefix_channel: &str, prefix_number: &str) -> String {
        header(msg, prefix_channel)
            .and_then(endpoint_of_channel)
            .filter(|e| self.config.is_extension(e))
            .map(str::to_string)
            .or_else(|| num(msg.get(prefix_number)))
            .unwrap_or_else(|| "unknown".into())
    }

    fn on_hold(&mut self, msg: &Message, hold: bool, t: Option<Timestamp>, out: &mut Vec<Update>) {
        let Some(l) = self.touch(msg, &PLAIN, t, Seen::Live, out) else {
            return;
        };
        let by = self.party_of(msg, "Channel", "CallerIDNum");
        let id = format!("{}:{}", self.config.server, l);
        let Some(call) = self.calls.get_mut(&l) else {
            return;
        };
        if hold {
            if call.holds.len() < 256 {
                call.holds.push(Hold {
                    by: by.clone(),
                    held_at: t,
                    unheld_at: None,
                });
            }
            call.note(t, "hold", format!("{by} put the call on hold"));
            out.push(Update::CallHold { id, by, at: t });
        } else {
            if let Some(h) = call
                .holds
                .iter_mut()
                .rev()
                .find(|h| h.by == by && h.unheld_at.is_none())
            {
                h.unheld_at = t;
            }
            call.note(t, "unhold", format!("{by} took the call off hold"));
            out.push(Update::CallUnhold { id, by, at: t });
        }
    }

    fn on_confbridge(&mut self, msg: &Message, t: Option<Timestamp>, out: &mut Vec<Update>) {
        let Some(l) = self.touch(msg, &PLAIN, t, Seen::Live, out) else {
            return;
        };
        let uniqueid = header(msg, "Uniqueid").unwrap_or("");
        let id = format!("{}:{}", self.config.server, l);
        let Some(call) = self.calls.get_mut(&l) else {
            return;
        };
        if call.is_caller(uniqueid) {
            call.offer_to(msg.get("Exten"), true);
            if call.answered_by.is_none() {
                // The caller dialed a conference room: the room answers.
                call.answered_by = Some(Answerer::Application);
                call.answered_at = t;
                let by = call.answered_by_text().unwrap_or_default();
                call.note(t, "conference", format!("joined conference {by}"));
                out.push(Update::CallAnswered {
                    id,
                    answered_by: by,
                    at: t,
                });
            }
        }
    }

    fn push_transfer(&mut self, linkedid: &str, transfer: Transfer, out: &mut Vec<Update>) {
        let id = format!("{}:{}", self.config.server, linkedid);
        let Some(call) = self.calls.get_mut(linkedid) else {
            return;
        };
        if call.transfers.len() >= 64 {
            return;
        }
        call.note(
            transfer.at,
            "transfer",
            format!(
                "{} transfer by {} to {}",
                match transfer.kind {
                    TransferKind::Blind => "blind",
                    TransferKind::Attended => "attended",
                },
                transfer.by,
                transfer.to
            ),
        );
        call.transfers.push(transfer.clone());
        out.push(Update::CallTransferred { id, transfer });
    }

    fn call_of(&self, msg: &Message, uniqueid: &str, linkedid: &str) -> Option<String> {
        header(msg, uniqueid)
            .and_then(|u| self.channels.get(u).cloned())
            .or_else(|| {
                header(msg, linkedid)
                    .filter(|l| self.calls.contains_key(*l))
                    .map(str::to_string)
            })
    }

    fn on_blind_transfer(&mut self, msg: &Message, t: Option<Timestamp>, out: &mut Vec<Update>) {
        if header(msg, "Result").is_some_and(|r| !r.eq_ignore_ascii_case("Success")) {
            return;
        }
        let Some(l) = self
            .call_of(msg, "TransfereeUniqueid", "TransfereeLinkedid")
            .or_else(|| self.call_of(msg, "TransfererUniqueid", "TransfererLinkedid"))
        else {
            return;
        };
        let by = self.party_of(msg, "TransfererChannel", "TransfererCallerIDNum");
        let to = header(msg, "Extension").unwrap_or("unknown").to_string();
        if let Some(c) = self.calls.get_mut(&l) {
            c.blind_pending = c.blind_pending.saturating_add(1);
        }
        self.push_transfer(
            &l,
            Transfer {
                kind: TransferKind::Blind,
                by,
                to,
                at: t,
            },
            out,
        );
    }

    /// An attended transfer joins the transferee (in the original call) with the target (in
    /// the consultation call). The consultation call is folded into the transferred call:
    /// its channels move over and it is not reported on its own.
    fn on_attended_transfer(&mut self, msg: &Message, t: Option<Timestamp>, out: &mut Vec<Update>) {
        if header(msg, "Result").is_some_and(|r| !r.eq_ignore_ascii_case("Success")) {
            return;
        }
        let Some(orig) = self
            .call_of(msg, "TransfereeUniqueid", "TransfereeLinkedid")
            .or_else(|| self.call_of(msg, "OrigTransfererUniqueid", "OrigTransfererLinkedid"))
        else {
            return;
        };
        // The consultation call is whichever of the transferer's two calls (or the target's)
        // is not the transferee's: the order of Orig/Second is chronological, not by role.
        let consult = [
            ("SecondTransfererUniqueid", "SecondTransfererLinkedid"),
            ("OrigTransfererUniqueid", "OrigTransfererLinkedid"),
            ("TransferTargetUniqueid", "TransferTargetLinkedid"),
        ]
        .iter()
        .filter_map(|(u, l)| self.call_of(msg, u, l))
        .find(|c| *c != orig);
        let by = self.party_of(msg, "OrigTransfererChannel", "OrigTransfererCallerIDNum");
        let target = header(msg, "TransferTargetChannel")
            .and_then(endpoint_of_channel)
            .filter(|e| self.config.is_extension(e))
            .map(str::to_string);
        let to = consult
            .as_ref()
            .and_then(|c| self.calls.get(c))
            .and_then(|c| c.to_number.clone())
            .or(target)
            .or_else(|| num(msg.get("SecondTransfererConnectedLineNum")))
            .unwrap_or_else(|| "unknown".into());
        if let Some(consult) = consult {
            self.fold(&consult, &orig, out);
        }
        self.push_transfer(
            &orig,
            Transfer {
                kind: TransferKind::Attended,
                by,
                to,
                at: t,
            },
            out,
        );
    }

    /// Moves every channel of call `from` into call `into`; `from` is not reported.
    fn fold(&mut self, from: &str, into: &str, out: &mut Vec<Update>) {
        let Some(mut gone) = self.calls.remove(from) else {
            return;
        };
        self.ended.insert(from);
        out.push(Update::CallMerged {
            id: format!("{}:{}", self.config.server, from),
            into: format!("{}:{}", self.config.server, into),
        });
        out.push(Update::CallUpdated(ActiveCall::placeholder(into)));
        let Some(target) = self.calls.get_mut(into) else {
            return;
        };
        for mut ch in gone.channels.drain(..) {
            if !target.can_add_leg() {
                self.channels.remove(&ch.uniqueid);
                continue;
            }
            if ch.role == LegRole::Callee {
                ch.role = LegRole::TransferTarget;
            } else if ch.role == LegRole::Caller {
                ch.role = LegRole::Callee;
            }
            self.channels.insert(ch.uniqueid.clone(), into.to_string());
            target.channels.push(ch);
        }
        for ch in &target.channels {
            if let Some(e) = &ch.endpoint {
                if let Some(v) = self.by_endpoint.get_mut(e) {
                    v.retain(|l| l != from);
                    if !v.iter().any(|l| l == into) {
                        v.push(into.to_string());
                    }
                }
            }
        }
    }

    fn index_endpoint(&mut self, endpoint: &str, linkedid: &str) {
        let v = self.by_endpoint.entry(endpoint.to_string()).or_default();
        if !v.iter().any(|l| l == linkedid) {
            v.push(linkedid.to_string());
        }
    }

    fn unindex_endpoint(&mut self, endpoint: &str, linkedid: &str) {
        if let Some(v) = self.by_endpoint.get_mut(endpoint) {
            v.retain(|l| l != linkedid);
            if v.is_empty() {
                self.by_endpoint.remove(endpoint);
            }
        }
    }

    /// `Pickup`: the picking phone's channel (which dialed `*8`) takes over the ringing
    /// one. The picked-up call is answered by the phone that picked up; the picker's own
    /// little call is swallowed.
    fn on_pickup(&mut self, msg: &Message, t: Option<Timestamp>, out: &mut Vec<Update>) {
        let picker = self.touch(msg, &PLAIN, t, Seen::Live, out);
        let Some(target) = self.call_of(msg, "TargetUniqueid", "TargetLinkedid") else {
            return;
        };
        let by = self.party_of(msg, "Channel", "CallerIDNum");
        if let Some(p) = picker.filter(|p| *p != target) {
            if let Some(c) = self.calls.get_mut(&p) {
                c.absorbed_into = Some(target.clone());
            }
        }
        let id = format!("{}:{}", self.config.server, target);
        if let Some(c) = self.calls.get_mut(&target) {
            if c.answered_by.is_none() {
                c.answered_by = Some(Answerer::Extension(by.clone()));
                c.answered_at = t;
                c.note(t, "pickup", format!("picked up by {by}"));
                out.push(Update::CallAnswered {
                    id,
                    answered_by: by,
                    at: t,
                });
            }
        }
    }

    fn on_originate_response(&mut self, msg: &Message) {
        if !header(msg, "Response").is_some_and(|r| r.eq_ignore_ascii_case("Success")) {
            // Failed before any phone rang: not a call (the rulebook in lib.rs).
            return;
        }
        let Some(l) = header(msg, "Uniqueid")
            .and_then(|u| self.channels.get(u))
            .cloned()
        else {
            return;
        };
        if let Some(c) = self.calls.get_mut(&l) {
            if let Some(e) = dialed_exten(msg.get("Exten")) {
                c.originate_exten = Some(e.to_string());
            }
        }
    }

    /// Asterisk ≤ 11 renames channels on masquerade (`Rename`: `Channel` → `Newname`).
    fn on_rename(&mut self, msg: &Message) {
        let (Some(u), Some(new)) = (header(msg, "Uniqueid"), header(msg, "Newname")) else {
            return;
        };
        let Some(l) = self.channels.get(u).cloned() else {
            return;
        };
        if let Some(ch) = self.calls.get_mut(&l).and_then(|c| c.channel_mut(u)) {
            ch.name = new.to_string();
            ch.endpoint = endpoint_of_channel(new).map(str::to_string);
        }
        if let Some(e) = endpoint_of_channel(new) {
            self.index_endpoint(e, &l);
        }
    }

    fn queue_mut(&mut self, name: &str) -> Option<&mut QueueState> {
        if !self.queues.contains_key(name) && self.queues.len() >= MAX_QUEUES {
            return None;
        }
        Some(self.queues.entry(name.to_string()).or_default())
    }

    fn on_queue_join(&mut self, msg: &Message, t: Option<Timestamp>, out: &mut Vec<Update>) {
        let l = self.touch(msg, &PLAIN, t, Seen::Live, out);
        let Some(queue) = header(msg, "Queue").map(str::to_string) else {
            return;
        };
        if let Some(c) = l.as_ref().and_then(|l| self.calls.get_mut(l)) {
            c.queue = Some(QueueInfo {
                name: queue.clone(),
                wait_seconds: None,
            });
            c.queue_joined_at = t;
            c.offer_to(msg.get("Exten"), true);
            c.note(t, "queue", format!("joined queue {queue}"));
            out.push(Update::CallUpdated(ActiveCall::placeholder(&c.linkedid)));
        }
        let caller = QueueCaller {
            channel: header(msg, "Channel").unwrap_or("").to_string(),
            uniqueid: header(msg, "Uniqueid").unwrap_or("").to_string(),
            call_id: l.map(|l| format!("{}:{}", self.config.server, l)),
            number: num(msg.get("CallerIDNum")),
            position: header(msg, "Position")
                .and_then(|p| p.parse().ok())
                .unwrap_or(0),
            joined_at: t,
        };
        if let Some(q) = self.queue_mut(&queue) {
            q.callers.retain(|c| c.uniqueid != caller.uniqueid);
            if q.callers.len() < MAX_QUEUE_CALLERS {
                q.callers.push(caller);
            }
            out.push(Update::QueueChanged(self.queue_view(&queue)));
        }
    }

    fn on_queue_leave(&mut self, msg: &Message, t: Option<Timestamp>, out: &mut Vec<Update>) {
        let l = self.touch(msg, &PLAIN, t, Seen::Live, out);
        if let Some(c) = l.as_ref().and_then(|l| self.calls.get_mut(l)) {
            if let (Some(q), Some(joined), Some(t)) = (c.queue.as_mut(), c.queue_joined_at, t) {
                if q.wait_seconds.is_none() {
                    q.wait_seconds = Some((t.seconds_since(joined) * 1000.0).round() / 1000.0);
                }
            }
        }
        let Some(queue) = header(msg, "Queue").map(str::to_string) else {
            return;
        };
        let uniqueid = header(msg, "Uniqueid").unwrap_or("");
        if let Some(q) = self.queues.get_mut(&queue) {
            let before = q.callers.len();
            let pos = q
                .callers
                .iter()
                .find(|c| c.uniqueid == uniqueid)
                .map(|c| c.position);
            q.callers.retain(|c| c.uniqueid != uniqueid);
            if let Some(pos) = pos {
                for c in q.callers.iter_mut().filter(|c| c.position > pos) {
                    c.position -= 1;
                }
            }
            if q.callers.len() != before {
                out.push(Update::QueueChanged(self.queue_view(&queue)));
            }
        }
    }

    fn on_agent(
        &mut self,
        msg: &Message,
        connect: bool,
        t: Option<Timestamp>,
        out: &mut Vec<Update>,
    ) {
        let l = self.touch(msg, &PLAIN, t, Seen::Live, out);
        let dest_l = self.touch(msg, &DEST, t, Seen::Live, out);
        let dest = header(msg, "DestUniqueid").unwrap_or("");
        let Some(l) = l.or(dest_l) else {
            return;
        };
        let queue = header(msg, "Queue").map(str::to_string);
        let agent = header(msg, "Interface")
            .and_then(endpoint_of_interface)
            .map(str::to_string);
        let id = format!("{}:{}", self.config.server, l);
        let is_ext = agent
            .as_deref()
            .is_some_and(|a| self.config.is_extension(a));
        let Some(call) = self.calls.get_mut(&l) else {
            return;
        };
        if let Some(ch) = call.channel_mut(dest) {
            if ch.role == LegRole::Callee {
                ch.role = LegRole::Agent;
            }
        }
        if call.queue.is_none() {
            if let Some(q) = &queue {
                call.queue = Some(QueueInfo {
                    name: q.clone(),
                    wait_seconds: None,
                });
            }
        }
        if !connect {
            return;
        }
        if let (Some(q), Some(h)) = (
            call.queue.as_mut(),
            header(msg, "HoldTime").and_then(|h| h.parse::<f64>().ok()),
        ) {
            q.wait_seconds.get_or_insert(h);
        }
        // The agent's extension from its interface (`PJSIP/2003` → 2003), not its name.
        let previously = call.answered_by.clone();
        match (&previously, agent) {
            (None, Some(a)) if is_ext => {
                call.answered_by = Some(Answerer::Extension(a.clone()));
                call.answered_at = t;
                out.push(Update::CallAnswered {
                    id,
                    answered_by: a,
                    at: t,
                });
            }
            // The agent leg already went Up and was taken for the answerer: the interface
            // is the better name when they differ (Local channel members).
            (Some(Answerer::Extension(_)), Some(a)) if is_ext => {
                call.answered_by = Some(Answerer::Extension(a));
            }
            _ => {}
        }
    }

    fn set_extension(
        &mut self,
        ext: &str,
        state: &'static str,
        hint: Option<&str>,
        out: &mut Vec<Update>,
    ) {
        let full = self.extensions.len() >= MAX_EXTENSIONS;
        let changed = match self.extensions.get_mut(ext) {
            Some(e) => {
                if let Some(h) = hint {
                    e.hint = Some(h.to_string());
                }
                std::mem::replace(&mut e.state, state) != state
            }
            None if !full => {
                self.extensions.insert(
                    ext.to_string(),
                    ExtState {
                        state,
                        hint: hint.map(str::to_string),
                    },
                );
                true
            }
            None => false,
        };
        if changed {
            if let Some(v) = self.extension_view(ext) {
                out.push(Update::ExtensionState(v));
            }
        }
    }

    fn on_extension_status(&mut self, msg: &Message, out: &mut Vec<Update>) {
        let Some(ext) = header(msg, "Exten").map(str::to_string) else {
            return;
        };
        let state = match header(msg, "Status").and_then(|s| s.parse::<i32>().ok()) {
            Some(s) => state_from_hint(s),
            None => header(msg, "StatusText").map_or("unknown", state_from_hint_text),
        };
        let hint = header(msg, "Hint").map(str::to_string);
        self.set_extension(&ext, state, hint.as_deref(), out);
    }

    fn on_device_state(&mut self, msg: &Message, out: &mut Vec<Update>) {
        let (Some(device), Some(state)) = (header(msg, "Device"), header(msg, "State")) else {
            return;
        };
        let state = state_from_device(state);
        if !self.devices.contains_key(device) && self.devices.len() >= MAX_EXTENSIONS {
            return;
        }
        if self.devices.insert(device.to_string(), state) != Some(state) {
            out.push(Update::DeviceState {
                device: device.to_string(),
                state,
            });
        }
    }

    fn on_queue_member(&mut self, msg: &Message, out: &mut Vec<Update>) {
        let Some(queue) = header(msg, "Queue").map(str::to_string) else {
            return;
        };
        let Some(interface) = header(msg, "Interface")
            .or_else(|| header(msg, "Location"))
            .or_else(|| header(msg, "StateInterface"))
            .map(str::to_string)
        else {
            return;
        };
        let name = header(msg, "MemberName")
            .or_else(|| header(msg, "Name"))
            .map(str::to_string);
        let state = state_from_device_code(
            header(msg, "Status")
                .and_then(|s| s.parse().ok())
                .unwrap_or(0),
        );
        let paused =
            header(msg, "Paused").is_some_and(|p| p == "1" || p.eq_ignore_ascii_case("true"));
        let extension = endpoint_of_interface(&interface).map(str::to_string);
        let Some(q) = self.queue_mut(&queue) else {
            return;
        };
        let view = QueueMemberView {
            interface: interface.clone(),
            name,
            extension,
            state,
            paused,
        };
        if q.members.get(&interface) == Some(&view) {
            return;
        }
        if !q.members.contains_key(&interface) && q.members.len() >= MAX_QUEUE_MEMBERS {
            return;
        }
        q.members.insert(interface, view);
        if msg.action_id().is_none() {
            out.push(Update::QueueChanged(self.queue_view(&queue)));
        } else {
            self.queues_listing.insert(queue);
        }
    }

    fn on_queue_member_removed(&mut self, msg: &Message, out: &mut Vec<Update>) {
        let (Some(queue), Some(interface)) = (header(msg, "Queue"), header(msg, "Interface"))
        else {
            return;
        };
        if let Some(q) = self.queues.get_mut(queue) {
            if q.members.remove(interface).is_some() {
                let queue = queue.to_string();
                out.push(Update::QueueChanged(self.queue_view(&queue)));
            }
        }
    }

    /// `QueueParams` opens a queue's part of a `QueueStatus` list: its waiting callers are
    /// rebuilt from the `QueueEntry` items that follow.
    fn on_queue_params(&mut self, msg: &Message) {
        let Some(queue) = header(msg, "Queue").map(str::to_string) else {
            return;
        };
        if let Some(q) = self.queue_mut(&queue) {
            q.callers.clear();
            self.queues_listing.insert(queue);
        }
    }

    fn on_queue_entry(&mut self, msg: &Message, t: Option<Timestamp>, out: &mut Vec<Update>) {
        let Some(queue) = header(msg, "Queue").map(str::to_string) else {
            return;
        };
        let l = self.touch(msg, &PLAIN, t, Seen::Listed, out);
        let wait = header(msg, "Wait").and_then(|w| w.parse::<i64>().ok());
        let joined_at = match (t, wait) {
            (Some(t), Some(w)) => Some(Timestamp(t.0 - w * 1_000_000)),
            _ => None,
        };
        if let Some(c) = l.as_ref().and_then(|l| self.calls.get_mut(l)) {
            if c.queue.is_none() {
                c.queue = Some(QueueInfo {
                    name: queue.clone(),
                    wait_seconds: None,
                });
            }
            c.queue_joined_at = c.queue_joined_at.or(joined_at);
            c.to_frozen = c.to_number.is_some();
        }
        let caller = QueueCaller {
            channel: header(msg, "Channel").unwrap_or("").to_string(),
            uniqueid: header(msg, "Uniqueid").unwrap_or("").to_string(),
            call_id: l.map(|l| format!("{}:{}", self.config.server, l)),
            number: num(msg.get("CallerIDNum")),
            position: header(msg, "Position")
                .and_then(|p| p.parse().ok())
                .unwrap_or(0),
            joined_at,
        };
        if let Some(q) = self.queue_mut(&queue) {
            q.callers.retain(|c| c.uniqueid != caller.uniqueid);
            if q.callers.len() < MAX_QUEUE_CALLERS {
                q.callers.push(caller);
            }
            self.queues_listing.insert(queue);
        }
    }

    /// An item of `CoreShowChannels`: a channel that exists now. Unknown ones are adopted
    /// (with their call); known ones are left as they are, apart from what the list adds.
    fn on_core_show_channel(&mut self, msg: &Message, t: Option<Timestamp>, out: &mut Vec<Update>) {
        let Some(l) = self.touch(msg, &PLAIN, t, Seen::Listed, out) else {
            return;
        };
        let uniqueid = header(msg, "Uniqueid").unwrap_or("").to_string();
        if let Some(r) = self.resync.as_mut() {
            r.listed.insert(uniqueid.clone());
        }
        let app = header(msg, "Application")
            .unwrap_or("")
            .to_ascii_lowercase();
        let data = header(msg, "ApplicationData").unwrap_or("");
        let duration = header(msg, "Duration").and_then(parse_hms);
        let Some(call) = self.calls.get_mut(&l) else {
            return;
        };
        let is_caller = call.is_caller(&uniqueid);
        let mut started = None;
        if let Some(ch) = call.channel_mut(&uniqueid) {
            if ch.started_at.is_none() {
                ch.started_at = match (t, duration) {
                    (Some(t), Some(d)) => Some(Timestamp(t.0 - d * 1_000_000)),
                    _ => None,
                };
                started = ch.started_at;
            }
        }
        if is_caller && started.is_some() {
            call.first_seen = started;
        }
        if !call.is_caller(&uniqueid) {
            return;
        }
        match app.as_str() {
            "dial" | "queue" | "confbridge" | "meetme" | "voicemail" => {
                call.offer_to(msg.get("Exten"), true)
            }
            _ => {}
        }
        if app == "queue" && call.queue.is_none() {
            let name = data.split([',', '|']).next().unwrap_or("").trim();
            if !name.is_empty() {
                call.queue = Some(QueueInfo {
                    name: name.to_string(),
                    wait_seconds: None,
                });
            }
        }
        if app == "voicemail" {
            call.voicemail = true;
        }
        if (app == "confbridge" || app == "meetme") && call.answered_by.is_none() {
            call.answered_by = Some(Answerer::Application);
        }
    }

    /// The end of `CoreShowChannels`: after a reconnect, calls we had open that are not in
    /// the list ended while we were away; channels of listed calls that are missing hung up.
    fn on_core_show_channels_complete(&mut self, t: Option<Timestamp>, out: &mut Vec<Update>) {
        let Some(resync) = self.resync.take() else {
            return;
        };
        let mut gone = Vec::new();
        for l in &resync.open_before {
            let Some(call) = self.calls.get_mut(l) else {
                continue;
            };
            if call
                .channels
                .iter()
                .any(|c| resync.listed.contains(&c.uniqueid))
            {
                for ch in call.channels.iter_mut() {
                    if !ch.hung_up && !resync.listed.contains(&ch.uniqueid) {
                        ch.hung_up = true;
                        ch.ended_at = t;
                    }
                }
            } else {
                gone.push((call.first_seen, l.clone()));
            }
        }
        gone.sort();
        for (_, l) in gone {
            self.finish(&l, EndReason::EndedWhileDisconnected, out);
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

/// `HH:MM:SS` (CoreShowChannel `Duration`) in seconds.
fn parse_hms(s: &str) -> Option<i64> {
    let mut total = 0i64;
    for part in s.split(':') {
        total = total
            .checked_mul(60)?
            .checked_add(part.trim().parse::<i64>().ok()?)?;
    }
    Some(total)
}
