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

    /// Takes the standard block's values from an event (the first of each key, as
    /// [`Headers::get`] would), in one pass over its headers.
    fn update(&mut self, m: &Headers<'_>) {
        let mut seen = 0u16;
        for (k, v) in m.iter() {
            let Some(i) = channel_key(k) else { continue };
            if seen & (1 << i) != 0 {
                continue;
            }
            seen |= 1 << i;
            let field = match i {
                0 => &mut self.state,
                1 => &mut self.state_desc,
                2 => &mut self.cid_num,
                3 => &mut self.cid_name,
                4 => &mut self.conn_num,
                5 => &mut self.conn_name,
                6 => &mut self.language,
                7 => &mut self.account,
                8 => &mut self.context,
                9 => &mut self.exten,
                10 => &mut self.priority,
                11 => &mut self.uniqueid,
                _ => &mut self.linkedid,
            };
            set(field, v);
        }
    }
}

/// Which of [`CHANNEL_KEYS`] a header is (any case), telling them apart by length and a
/// letter or two before comparing: every channel event goes through here.
fn channel_key(k: &str) -> Option<usize> {
    let b = k.as_bytes();
    let at = |i: usize| b.get(i).map_or(0, u8::to_ascii_lowercase);
    let i = match (b.len(), at(0)) {
        (5, _) => 9,
        (7, _) => 8,
        (8, b'l') if at(1) == b'a' => 6,
        (8, b'l') => 12,
        (8, b'p') => 10,
        (8, b'u') => 11,
        (11, b'c') => 2,
        (11, b'a') => 7,
        (12, b'c') if at(4) == b'n' => 0,
        (12, b'c') => 3,
        (16, b'c') if at(1) == b'h' => 1,
        (16, b'c') => 4,
        (17, b'c') => 5,
        _ => return None,
    };
    // Asterisk's own spelling first: a plain comparison is cheaper than one ignoring case.
    (CHANNEL_KEYS[i] == k || CHANNEL_KEYS[i].eq_ignore_ascii_case(k)).then_some(i)
}

/// The keys [`Channel::update`] reads.
const CHANNEL_KEYS: [&str; 13] = [
    "ChannelState",
    "ChannelStateDesc",
    "CallerIDNum",
    "CallerIDName",
    "ConnectedLineNum",
    "ConnectedLineName",
    "Language",
    "AccountCode",
    "Context",
    "Exten",
    "Priority",
    "Uniqueid",
    "Linkedid",
];

/// Overwrites a field, reusing its allocation (most updates repeat the value or keep its
/// length).
fn set(field: &mut String, v: &str) {
    if field != v {
        field.clear();
        field.push_str(v);
    }
}

/// A message's headers, read once: `(key, value)` byte ranges into its text. The ranges'
/// vector is the state's, reused from message to message.
struct Headers<'a> {
    text: &'a str,
    at: Vec<[u32; 4]>,
}

impl<'a> Headers<'a> {
    /// Splits `Key: Value` lines up to the first empty line (a line without a colon is a
    /// key with an empty value; one space after the colon is not part of the value).
    fn parse(text: &'a str, mut at: Vec<[u32; 4]>) -> Headers<'a> {
        at.clear();
        let b = text.as_bytes();
        // One pass over the message for colons and line ends together: the first colon of
        // a line ends its key, the line end its value.
        let mut pos = 0;
        let mut colon = None;
        for i in memchr::memchr2_iter(b':', b'\n', b) {
            if b[i] == b':' {
                colon = colon.or(Some(i));
                continue;
            }
            if !push_line(b, pos, i, colon.take(), &mut at) {
                return Headers { text, at };
            }
            pos = i + 1;
        }
        if pos < b.len() {
            // The last line has no line end.
            let colon = memchr::memchr(b':', &b[pos..]).map(|c| pos + c);
            push_line(b, pos, b.len(), colon, &mut at);
        }
        Headers { text, at }
    }

    fn iter(&self) -> impl Iterator<Item = (&'a str, &'a str)> + '_ {
        let t = self.text;
        self.at
            .iter()
            .map(move |&[k, ke, v, ve]| (&t[k as usize..ke as usize], &t[v as usize..ve as usize]))
    }

    fn get(&self, key: &str) -> Option<&'a str> {
        self.iter()
            .find(|(k, _)| k.len() == key.len() && k.eq_ignore_ascii_case(key))
            .map(|(_, v)| v)
    }

    fn name(&self) -> &'a str {
        self.iter().next().map_or("", |(_, v)| v)
    }
}

/// Adds the line `b[pos..nl]` (`nl`: its `\n` or the end) with its first colon; false at
/// the empty line that ends a message.
fn push_line(
    b: &[u8],
    pos: usize,
    nl: usize,
    colon: Option<usize>,
    at: &mut Vec<[u32; 4]>,
) -> bool {
    let end = if nl > pos && b[nl - 1] == b'\r' {
        nl - 1
    } else {
        nl
    };
    if end == pos {
        return false;
    }
    let (k_end, v_start) = match colon.filter(|&c| c < end) {
        Some(c) if b.get(c + 1) == Some(&b' ') => (c, c + 2),
        Some(c) => (c, c + 1),
        None => (end, end),
    };
    at.push([pos as u32, k_end as u32, v_start as u32, end as u32]);
    true
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
    /// Reused by [`State::apply_bytes`] for each message's header positions.
    scratch: Vec<[u32; 4]>,
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
        let m = Headers::parse(text, std::mem::take(&mut self.scratch));
        if m.iter()
            .next()
            .is_some_and(|(k, _)| k.eq_ignore_ascii_case("Event"))
        {
            self.apply_headers(&m);
        }
        self.scratch = m.at;
    }

    fn apply_headers(&mut self, m: &Headers<'_>) {
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
                    set(&mut c.application, m.get("Application").unwrap_or_default());
                    set(&mut c.app_data, m.get("AppData").unwrap_or_default());
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
                    let context = m.get("Context").unwrap_or("internal");
                    let hint = m.get("Hint").unwrap_or_default();
                    let text = m.get("StatusText").unwrap_or_default();
                    match self.extensions.get_mut(exten) {
                        Some(e) => {
                            set(&mut e.context, context);
                            set(&mut e.hint, hint);
                            set(&mut e.status, status);
                            set(&mut e.text, text);
                        }
                        None => {
                            let e = ExtState {
                                exten: exten.to_string(),
                                context: context.to_string(),
                                hint: hint.to_string(),
                                status: status.to_string(),
                                text: text.to_string(),
                            };
                            self.extensions.insert(exten.to_string(), e);
                        }
                    }
                }
            }
            "DeviceStateChange" => {
                if let (Some(d), Some(s)) = (m.get("Device"), m.get("State")) {
                    match self.devices.get_mut(d) {
                        Some(v) => set(v, s),
                        None => {
                            self.devices.insert(d.to_string(), s.to_string());
                        }
                    }
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

#[cfg(test)]
mod tests {
    use super::*;

    /// How the state read headers before it parsed byte ranges: the reference the fast
    /// reader must agree with.
    fn split_headers(text: &str) -> Vec<(&str, &str)> {
        text.split('\n')
            .map(|l| l.strip_suffix('\r').unwrap_or(l))
            .take_while(|l| !l.is_empty())
            .map(|l| {
                let (k, v) = l.split_once(':').unwrap_or((l, ""));
                (k, v.strip_prefix(' ').unwrap_or(v))
            })
            .collect()
    }

    #[test]
    fn headers_read_as_lines_split_at_the_first_colon() {
        let odd = [
            "Event: A\r\nKey:\r\nKey2: \r\nNoColon\r\n:v\r\nA:b:c\r\nS:  two\r\n\r\nAfter: x\r\n",
            "Event: A\nLF: only\n",
            "Event: A\r\nLast: no newline",
            "Event: A\r\nCR\r\r\n",
            "",
            "\r\n",
        ];
        let load_mix = std::fs::read_to_string(concat!(
            env!("CARGO_MANIFEST_DIR"),
            "/../../fixtures/asterisk/22.10.1/load_mix.ami"
        ))
        .unwrap();
        let msgs = load_mix.split("\r\n\r\n").map(|m| format!("{m}\r\n\r\n"));
        for text in odd.iter().map(|s| s.to_string()).chain(msgs) {
            let h = Headers::parse(&text, Vec::new());
            let fast: Vec<_> = h.iter().collect();
            assert_eq!(fast, split_headers(&text), "{text:?}");
        }
    }

    #[test]
    fn channel_keys_are_told_apart_in_any_case() {
        for (i, k) in CHANNEL_KEYS.iter().enumerate() {
            assert_eq!(channel_key(k), Some(i), "{k}");
            assert_eq!(channel_key(&k.to_ascii_lowercase()), Some(i), "{k}");
            assert_eq!(channel_key(&k.to_ascii_uppercase()), Some(i), "{k}");
        }
        for k in [
            "",
            "Event",
            "Queue",
            "Channel",
            "Location",
            "Linkedix",
            "Timestamp",
            "DestChannelState",
            "CallerIDNumX",
            "AccountCodes",
            "ChannelStatx",
        ] {
            assert_eq!(channel_key(k), None, "{k}");
        }
    }
}
