//! What the simulated PBX knows right now: channels, bridges, hint states, queues.
//!
//! The state is built only from the events the simulator sends (replayed or generated),
//! by the same reading a client would make of them, so the answers to `CoreShowChannels`,
//! `ExtensionStateList`, `QueueStatus` and `Status` always agree with the event stream.
//! The list items found inside a recording (the recorder's own `CoreShowChannels`, …, as in
//! `attach_midcall`) feed it too: they describe calls that were up before the recording
//! started.

use crate::plan::Plan;
use crate::wire::parse_ts;
use ami::Message;
use std::collections::{BTreeMap, HashMap};

/// One channel, with the header block Asterisk puts in every channel event.
#[derive(Clone, Debug, Default)]
pub struct Channel {
    /// `PJSIP/2001-00000024`.
    pub name: String,
    /// ChannelState (6 = Up).
    pub state: String,
    /// ChannelStateDesc (`Up`, `Ringing`, …).
    pub state_desc: String,
    /// CallerIDNum.
    pub cid_num: String,
    /// CallerIDName.
    pub cid_name: String,
    /// ConnectedLineNum.
    pub conn_num: String,
    /// ConnectedLineName.
    pub conn_name: String,
    /// Language.
    pub language: String,
    /// AccountCode.
    pub account: String,
    /// Context.
    pub context: String,
    /// Exten.
    pub exten: String,
    /// Priority.
    pub priority: String,
    /// Uniqueid.
    pub uniqueid: String,
    /// Linkedid.
    pub linkedid: String,
    /// The dialplan application running (`Dial`, `AppDial`, `Queue`).
    pub application: String,
    /// Its arguments.
    pub app_data: String,
    /// The bridge the channel is in.
    pub bridge: Option<String>,
    /// When it was created (µs since the epoch; 0 when unknown).
    pub created_us: u64,
    /// Order of creation, for listing.
    seq: u64,
}

impl Channel {
    /// The standard header block, in Asterisk's order.
    pub fn block(&self) -> [(&'static str, &str); 14] {
        [
            ("Channel", &self.name),
            ("ChannelState", &self.state),
            ("ChannelStateDesc", &self.state_desc),
            ("CallerIDNum", &self.cid_num),
            ("CallerIDName", &self.cid_name),
            ("ConnectedLineNum", &self.conn_num),
            ("ConnectedLineName", &self.conn_name),
            ("Language", &self.language),
            ("AccountCode", &self.account),
            ("Context", &self.context),
            ("Exten", &self.exten),
            ("Priority", &self.priority),
            ("Uniqueid", &self.uniqueid),
            ("Linkedid", &self.linkedid),
        ]
    }

    /// The endpoint part of the name: `PJSIP/2001-00000024` → `2001`.
    pub fn endpoint(&self) -> &str {
        endpoint_of(&self.name)
    }

    fn update(&mut self, m: &Headers<'_>) {
        for (key, field) in [
            ("ChannelState", &mut self.state),
            ("ChannelStateDesc", &mut self.state_desc),
            ("CallerIDNum", &mut self.cid_num),
            ("CallerIDName", &mut self.cid_name),
            ("ConnectedLineNum", &mut self.conn_num),
            ("ConnectedLineName", &mut self.conn_name),
            ("Language", &mut self.language),
            ("AccountCode", &mut self.account),
            ("Context", &mut self.context),
            ("Exten", &mut self.exten),
            ("Priority", &mut self.priority),
            ("Uniqueid", &mut self.uniqueid),
            ("Linkedid", &mut self.linkedid),
        ] {
            if let Some(v) = m.get(key) {
                if field != v {
                    *field = v.to_string();
                }
            }
        }
    }
}

/// A message's headers, read once.
struct Headers<'a>(Vec<(&'a str, &'a str)>);

impl<'a> Headers<'a> {
    fn get(&self, key: &str) -> Option<&'a str> {
        self.0
            .iter()
            .find(|(k, _)| k.len() == key.len() && k.eq_ignore_ascii_case(key))
            .map(|(_, v)| *v)
    }

    fn name(&self) -> &'a str {
        self.0.first().map_or("", |(_, v)| v)
    }
}

/// Whether an event can change what the lists report (most events, VarSet first, cannot).
pub fn affects_state(name: &str) -> bool {
    !matches!(
        name,
        "VarSet"
            | "RTCPSent"
            | "RTCPReceived"
            | "DialState"
            | "DialBegin"
            | "DialEnd"
            | "Cdr"
            | "MusicOnHoldStart"
            | "MusicOnHoldStop"
            | "AgentCalled"
            | "DTMFBegin"
            | "DTMFEnd"
    )
}

/// `PJSIP/2001-00000024` → `2001`; `Local/600@internal-00000003;1` → `600@internal`.
pub fn endpoint_of(channel: &str) -> &str {
    let rest = channel.split_once('/').map_or(channel, |(_, r)| r);
    rest.rsplit_once('-').map_or(rest, |(e, _)| e)
}

/// A hint's state, as `ExtensionStatus` reports it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ExtState {
    /// The extension.
    pub exten: String,
    /// Its context.
    pub context: String,
    /// The hint (`PJSIP/2001`).
    pub hint: String,
    /// The numeric state (0 Idle, 1 InUse, 8 Ringing, 9 InUse&Ringing, 16 Hold, …).
    pub status: String,
    /// Its text.
    pub text: String,
}

/// A queue member, with the fields of `QueueMember` / `QueueMemberStatus`.
#[derive(Clone, Debug, Default)]
pub struct Member {
    /// MemberName (`Carol`).
    pub name: String,
    /// Interface / Location (`PJSIP/2003`).
    pub interface: String,
    /// StateInterface.
    pub state_interface: String,
    /// `static` or `dynamic`.
    pub membership: String,
    /// Penalty.
    pub penalty: String,
    /// CallsTaken.
    pub calls_taken: String,
    /// LastCall (epoch seconds).
    pub last_call: String,
    /// LastPause.
    pub last_pause: String,
    /// LoginTime.
    pub login_time: String,
    /// InCall (0/1).
    pub in_call: String,
    /// Status (device state number).
    pub status: String,
    /// Paused (0/1).
    pub paused: String,
    /// PausedReason.
    pub paused_reason: String,
    /// Wrapuptime.
    pub wrapup: String,
}

/// A caller waiting in a queue.
#[derive(Clone, Debug, Default)]
pub struct Entry {
    /// The caller's channel.
    pub channel: String,
    /// Its Uniqueid.
    pub uniqueid: String,
    /// CallerIDNum.
    pub cid_num: String,
    /// CallerIDName.
    pub cid_name: String,
    /// ConnectedLineNum.
    pub conn_num: String,
    /// ConnectedLineName.
    pub conn_name: String,
    /// When it joined (µs since the epoch).
    pub joined_us: u64,
}

/// A queue with its counters, members and waiting callers.
#[derive(Clone, Debug, Default)]
pub struct Queue {
    /// Its name.
    pub name: String,
    /// Strategy (`ringall`).
    pub strategy: String,
    /// Calls answered by an agent.
    pub completed: u64,
    /// Callers who hung up while waiting.
    pub abandoned: u64,
    /// Average hold time, seconds.
    pub holdtime: u64,
    /// Average talk time, seconds.
    pub talktime: u64,
    /// Members in order.
    pub members: Vec<Member>,
    /// Waiting callers, in position order.
    pub entries: Vec<Entry>,
}

/// Everything the list actions report.
#[derive(Debug, Default)]
pub struct State {
    channels: HashMap<String, Channel>,
    next_seq: u64,
    /// Hint states, by extension.
    pub extensions: BTreeMap<String, ExtState>,
    /// Device states, by device (`PJSIP/2001` → `INUSE`).
    pub devices: BTreeMap<String, String>,
    /// Queues by name.
    pub queues: BTreeMap<String, Queue>,
    /// Calls processed since start (the count of caller channels that have ended).
    pub processed_calls: u64,
    /// The latest `Timestamp` seen (µs), the simulator's idea of "now".
    pub last_ts: u64,
}

impl State {
    /// The state of an idle PBX with this plan: every hint idle, every queue empty.
    pub fn new(plan: &Plan, now_us: u64) -> State {
        let mut s = State::default();
        s.reset(plan, now_us);
        s
    }

    /// Back to idle (after a restart).
    pub fn reset(&mut self, plan: &Plan, now_us: u64) {
        self.channels.clear();
        self.extensions.clear();
        self.devices.clear();
        self.queues.clear();
        for p in &plan.phones {
            self.extensions.insert(
                p.ext.clone(),
                ExtState {
                    exten: p.ext.clone(),
                    context: "internal".into(),
                    hint: format!("PJSIP/{}", p.ext),
                    status: "0".into(),
                    text: "Idle".into(),
                },
            );
        }
        for q in &plan.queues {
            let members = q
                .members
                .iter()
                .map(|ext| Member {
                    name: plan.name_of(ext),
                    interface: format!("PJSIP/{ext}"),
                    state_interface: format!("PJSIP/{ext}"),
                    membership: "static".into(),
                    penalty: "0".into(),
                    calls_taken: "0".into(),
                    last_call: "0".into(),
                    last_pause: "0".into(),
                    login_time: (now_us / 1_000_000).to_string(),
                    in_call: "0".into(),
                    status: "1".into(),
                    paused: "0".into(),
                    paused_reason: String::new(),
                    wrapup: "0".into(),
                })
                .collect();
            self.queues.insert(
                q.name.clone(),
                Queue {
                    name: q.name.clone(),
                    strategy: "ringall".into(),
                    members,
                    ..Queue::default()
                },
            );
        }
        self.last_ts = now_us;
    }

    /// Channels in order of creation.
    pub fn channels(&self) -> Vec<&Channel> {
        let mut v: Vec<&Channel> = self.channels.values().collect();
        v.sort_by_key(|c| c.seq);
        v
    }

    /// One channel by name.
    pub fn channel(&self, name: &str) -> Option<&Channel> {
        self.channels.get(name)
    }

    /// Number of channels up.
    pub fn channel_count(&self) -> usize {
        self.channels.len()
    }

    /// Reads one event the simulator sends (or a list item of a recording) into the state.
    pub fn apply(&mut self, m: &Message) {
        self.apply_bytes(m.as_bytes());
    }

    /// [`State::apply`] on the bytes of one message (`Key: Value` lines), without decoding
    /// it into a [`Message`] first: the engine's hot path.
    pub fn apply_bytes(&mut self, raw: &[u8]) {
        let Ok(text) = std::str::from_utf8(raw) else {
            return;
        };
        let headers: Vec<(&str, &str)> = text
            .split('\n')
            .map(|l| l.strip_suffix('\r').unwrap_or(l))
            .take_while(|l| !l.is_empty())
            .map(|l| {
                let (k, v) = l.split_once(':').unwrap_or((l, ""));
                (k, v.strip_prefix(' ').unwrap_or(v))
            })
            .collect();
        if !headers
            .first()
            .is_some_and(|(k, _)| k.eq_ignore_ascii_case("Event"))
        {
            return;
        }
        let m = &Headers(headers);
        if let Some(ts) = m.get("Timestamp").and_then(parse_ts) {
            self.last_ts = ts;
        }
        let name = m.name();
        match name {
            // The most frequent events first; VarSet changes nothing a list reports.
            "VarSet" | "RTCPSent" | "RTCPReceived" | "DialState" | "DialBegin" | "DialEnd" => {}
            "Newexten" => {
                if let Some(c) = m.get("Channel").and_then(|n| self.channels.get_mut(n)) {
                    c.update(m);
                    c.application = m.get("Application").unwrap_or_default().to_string();
                    c.app_data = m.get("AppData").unwrap_or_default().to_string();
                }
            }
            "Newchannel" | "CoreShowChannel" => self.add_channel(m),
            "Newstate" | "NewCallerid" | "NewConnectedLine" | "NewAccountCode"
            | "HangupRequest" | "SoftHangupRequest" => {
                if let Some(c) = m.get("Channel").and_then(|n| self.channels.get_mut(n)) {
                    c.update(m);
                }
            }
            "Hangup" => {
                if let Some(n) = m.get("Channel") {
                    if let Some(c) = self.channels.remove(n) {
                        if c.uniqueid == c.linkedid {
                            self.processed_calls += 1;
                        }
                    }
                }
            }
            "BridgeEnter" | "BridgeLeave" => {
                let bridge = m.get("BridgeUniqueid").map(str::to_string);
                if let Some(c) = m.get("Channel").and_then(|n| self.channels.get_mut(n)) {
                    c.update(m);
                    c.bridge = if name == "BridgeEnter" { bridge } else { None };
                }
            }
            "ExtensionStatus" => {
                if let (Some(exten), Some(status)) = (m.get("Exten"), m.get("Status")) {
                    let e = ExtState {
                        exten: exten.to_string(),
                        context: m.get("Context").unwrap_or("internal").to_string(),
                        hint: m.get("Hint").unwrap_or_default().to_string(),
                        status: status.to_string(),
                        text: m.get("StatusText").unwrap_or_default().to_string(),
                    };
                    self.extensions.insert(exten.to_string(), e);
                }
            }
            "DeviceStateChange" => {
                if let (Some(d), Some(s)) = (m.get("Device"), m.get("State")) {
                    self.devices.insert(d.to_string(), s.to_string());
                }
            }
            "QueueMemberStatus" | "QueueMember" | "QueueMemberAdded" => self.member(m),
            "QueueMemberRemoved" => {
                if let (Some(q), Some(i)) = (m.get("Queue"), m.get("Interface")) {
                    if let Some(q) = self.queues.get_mut(q) {
                        q.members.retain(|x| x.interface != i);
                    }
                }
            }
            "QueueParams" => {
                if let Some(q) = m.get("Queue") {
                    let q = self.queue(q);
                    let num = |k: &str| m.get(k).and_then(|v| v.parse().ok()).unwrap_or(0);
                    q.strategy = m.get("Strategy").unwrap_or("ringall").to_string();
                    q.completed = num("Completed");
                    q.abandoned = num("Abandoned");
                    q.holdtime = num("Holdtime");
                    q.talktime = num("TalkTime");
                }
            }
            "QueueCallerJoin" | "QueueEntry" => {
                if let (Some(q), Some(ch)) = (m.get("Queue"), m.get("Channel")) {
                    let wait = m
                        .get("Wait")
                        .and_then(|w| w.parse::<u64>().ok())
                        .unwrap_or(0);
                    let joined_us = self.last_ts.saturating_sub(wait * 1_000_000);
                    let e = Entry {
                        channel: ch.to_string(),
                        uniqueid: m.get("Uniqueid").unwrap_or_default().to_string(),
                        cid_num: m.get("CallerIDNum").unwrap_or_default().to_string(),
                        cid_name: m.get("CallerIDName").unwrap_or_default().to_string(),
                        conn_num: m.get("ConnectedLineNum").unwrap_or_default().to_string(),
                        conn_name: m.get("ConnectedLineName").unwrap_or_default().to_string(),
                        joined_us,
                    };
                    let q = self.queue(q);
                    q.entries.retain(|x| x.channel != e.channel);
                    q.entries.push(e);
                }
            }
            "QueueCallerLeave" => {
                if let (Some(q), Some(ch)) = (m.get("Queue"), m.get("Channel")) {
                    self.queue(q).entries.retain(|x| x.channel != ch);
                }
            }
            "QueueCallerAbandon" => {
                if let Some(q) = m.get("Queue") {
                    self.queue(q).abandoned += 1;
                }
            }
            "AgentConnect" => {
                if let Some(q) = m.get("Queue") {
                    let hold = m.get("HoldTime").and_then(|v| v.parse().ok()).unwrap_or(0);
                    let q = self.queue(q);
                    q.holdtime = (q.holdtime * q.completed + hold) / (q.completed + 1);
                }
            }
            "AgentComplete" => {
                if let Some(q) = m.get("Queue") {
                    let talk = m.get("TalkTime").and_then(|v| v.parse().ok()).unwrap_or(0);
                    let q = self.queue(q);
                    q.talktime = (q.talktime * q.completed + talk) / (q.completed + 1);
                    q.completed += 1;
                }
            }
            "Shutdown" => {
                self.channels.clear();
                for q in self.queues.values_mut() {
                    q.entries.clear();
                }
            }
            _ => {}
        }
    }

    fn queue(&mut self, name: &str) -> &mut Queue {
        self.queues
            .entry(name.to_string())
            .or_insert_with(|| Queue {
                name: name.to_string(),
                strategy: "ringall".into(),
                ..Queue::default()
            })
    }

    fn add_channel(&mut self, m: &Headers<'_>) {
        let Some(name) = m.get("Channel") else { return };
        let mut c = Channel {
            name: name.to_string(),
            seq: self.next_seq,
            created_us: self.last_ts,
            ..Channel::default()
        };
        self.next_seq += 1;
        c.update(m);
        if m.name() == "CoreShowChannel" {
            c.application = m.get("Application").unwrap_or_default().to_string();
            c.app_data = m.get("ApplicationData").unwrap_or_default().to_string();
            c.bridge = m
                .get("BridgeId")
                .filter(|b| !b.is_empty())
                .map(str::to_string);
            let secs = m.get("Duration").map_or(0, parse_hms);
            c.created_us = self.last_ts.saturating_sub(secs * 1_000_000);
        }
        self.channels.insert(c.name.clone(), c);
    }

    fn member(&mut self, m: &Headers<'_>) {
        let Some(q) = m.get("Queue") else { return };
        let Some(interface) = m.get("Interface").or(m.get("Location")) else {
            return;
        };
        let q = self.queue(q);
        let idx = match q.members.iter().position(|x| x.interface == interface) {
            Some(i) => i,
            None => {
                q.members.push(Member {
                    interface: interface.to_string(),
                    ..Member::default()
                });
                q.members.len() - 1
            }
        };
        let mem = &mut q.members[idx];
        for (keys, field) in [
            (&["MemberName", "Name"][..], &mut mem.name),
            (&["StateInterface"][..], &mut mem.state_interface),
            (&["Membership"][..], &mut mem.membership),
            (&["Penalty"][..], &mut mem.penalty),
            (&["CallsTaken"][..], &mut mem.calls_taken),
            (&["LastCall"][..], &mut mem.last_call),
            (&["LastPause"][..], &mut mem.last_pause),
            (&["LoginTime"][..], &mut mem.login_time),
            (&["InCall"][..], &mut mem.in_call),
            (&["Status"][..], &mut mem.status),
            (&["Paused"][..], &mut mem.paused),
            (&["PausedReason"][..], &mut mem.paused_reason),
            (&["Wrapuptime"][..], &mut mem.wrapup),
        ] {
            if let Some(v) = keys.iter().find_map(|k| m.get(k)) {
                *field = v.to_string();
            }
        }
    }
}

/// `HH:MM:SS` → seconds.
fn parse_hms(s: &str) -> u64 {
    s.split(':')
        .fold(0, |acc, p| acc * 60 + p.trim().parse::<u64>().unwrap_or(0))
}
