//! One call while it lives: its channels and what happened to it, and how that becomes a
//! [`CallRecord`] (the rules of the crate docs are applied in [`Call::record`]).

pub(in crate::tracker) mod answering;
pub(in crate::tracker) mod transfers;

use crate::names::is_plumbing;
use crate::update::{ActiveCall, CallState};
use crate::{
    CallRecord, Direction, Disposition, EndReason, Hold, Leg, LegRole, Party, QueueInfo,
    TimelineEntry, Timestamp, TrackerConfig,
};
use answering::Answer;
use serde::{Deserialize, Serialize};
use transfers::Transfers;

/// Most calls have two to four channels; a ring group or a queue a few more. A call that
/// keeps growing (a channel storm on one Linkedid) stops recording legs past this bound.
const MAX_LEGS: usize = 64;
/// Timeline lines kept per call.
const MAX_TIMELINE: usize = 64;
/// Dials remembered per call (app_queue retries add one per attempt).
const MAX_DIALS: usize = 128;

/// One channel (a leg) of a call.
#[derive(Clone, Debug, Serialize, Deserialize)]
pub(crate) struct Channel {
    pub uniqueid: String,
    pub name: String,
    pub endpoint: Option<String>,
    pub number: Option<String>,
    pub cid_name: Option<String>,
    pub exten: Option<String>,
    pub role: LegRole,
    pub started_at: Option<Timestamp>,
    pub answered_at: Option<Timestamp>,
    pub ended_at: Option<Timestamp>,
    pub cause: Option<u16>,
    pub cause_text: Option<String>,
    pub up: bool,
    pub ringing: bool,
    pub hung_up: bool,
    /// Placed by an AMI Originate (a `DialBegin` with no dialing channel).
    pub originated: bool,
    /// `number` was set by the dial plan (`NewCallerid`), not inherited at creation.
    #[serde(default)]
    pub number_from_dialplan: bool,
    /// The channel has dialed: the caller ID it presented is settled, a later
    /// `NewCallerid` (a transfer's connected-line shuffle) does not rename the caller.
    #[serde(default)]
    pub dialed: bool,
    /// Dials this channel has begun and not yet ended: a `DialBegin` while one is open is
    /// the same `Dial` ringing one more destination.
    #[serde(default)]
    pub open_dials: u16,
    /// Dialed by a real channel (not a Local one): app_dial bridges it with its dialer as
    /// soon as it answers, so its `Up` is the answer. Any other channel (dialed by a Local
    /// channel, which runs dial plan between the answer and the connection: a "press 1"
    /// prompt; or one whose dial we never saw) answers once connected to the caller
    /// (`tracker/bridges.rs`).
    #[serde(default)]
    pub dialed_direct: bool,
}

impl Channel {
    /// A Local channel, or another of Asterisk's own (a conference announcer): plumbing,
    /// never a party.
    pub fn local(&self) -> bool {
        is_plumbing(&self.name)
    }

    fn leg(&self) -> Leg {
        Leg {
            channel: self.name.clone(),
            uniqueid: self.uniqueid.clone(),
            endpoint: self.endpoint.clone(),
            number: self.number.clone(),
            role: self.role,
            started_at: self.started_at,
            answered_at: self.answered_at,
            ended_at: self.ended_at,
            hangup_cause: self.cause,
        }
    }
}

/// A call: every channel sharing one Linkedid. Serialised only into a checkpoint
/// (`tracker/checkpoint.rs`): a field added here needs `#[serde(default)]`, so that the
/// checkpoints of earlier versions still load.
#[derive(Clone, Debug, Serialize, Deserialize)]
pub(crate) struct Call {
    pub linkedid: String,
    pub channels: Vec<Channel>,
    /// Uniqueid of the caller's channel (see the crate docs: who the caller is).
    pub caller: Option<String>,
    /// When the caller's channel is a Local channel (an Originate to `Local/…`), the first
    /// real channel of the call: the phone rung first, which is the caller in the record.
    pub origin: Option<String>,
    pub to_number: Option<String>,
    /// `to` is settled once the caller dials, queues or conferences.
    pub to_frozen: bool,
    /// Who answered and when: set only by the `answered_by` rule (`tracker/call/answering.rs`).
    pub answer: Answer,
    pub first_seen: Option<Timestamp>,
    pub last_event: Option<Timestamp>,
    /// (DestUniqueid, DialStatus) of the dials the call's parties made; one entry per
    /// destination, so app_queue's doubled `DialEnd` counts once.
    pub dials: Vec<(String, String)>,
    pub queue: Option<QueueInfo>,
    pub queue_joined_at: Option<Timestamp>,
    pub abandoned: bool,
    /// Set only by the transfer rules (`tracker/call/transfers.rs`).
    pub transfers: Transfers,
    pub holds: Vec<Hold>,
    pub voicemail: bool,
    /// The call was a pickup's own `*8` leg, swallowed by this call (its linkedid).
    pub absorbed_into: Option<String>,
    pub originate_exten: Option<String>,
    pub timeline: Vec<TimelineEntry>,
    /// A bridge event named one of its channels: bridges are not filtered for this call.
    #[serde(default)]
    pub bridged: bool,
    /// When the last of its dials ended (`DialEnd`): a call that then fell to voicemail
    /// stopped ringing there.
    #[serde(default)]
    pub rang_until: Option<Timestamp>,
    /// When it was first seen in voicemail.
    #[serde(default)]
    pub voicemail_at: Option<Timestamp>,
}

impl Call {
    pub fn new(linkedid: &str, at: Option<Timestamp>) -> Call {
        Call {
            linkedid: linkedid.to_string(),
            channels: Vec::with_capacity(2),
            caller: None,
            origin: None,
            to_number: None,
            to_frozen: false,
            answer: Answer::default(),
            first_seen: at,
            last_event: at,
            dials: Vec::new(),
            queue: None,
            queue_joined_at: None,
            abandoned: false,
            transfers: Transfers::default(),
            holds: Vec::new(),
            voicemail: false,
            absorbed_into: None,
            originate_exten: None,
            timeline: Vec::new(),
            bridged: false,
            rang_until: None,
            voicemail_at: None,
        }
    }

    pub fn channel(&self, uniqueid: &str) -> Option<&Channel> {
        self.channels.iter().find(|c| c.uniqueid == uniqueid)
    }

    pub fn channel_mut(&mut self, uniqueid: &str) -> Option<&mut Channel> {
        self.channels.iter_mut().find(|c| c.uniqueid == uniqueid)
    }

    pub fn can_add_leg(&self) -> bool {
        self.channels.len() < MAX_LEGS
    }

    pub fn caller_channel(&self) -> Option<&Channel> {
        self.caller.as_deref().and_then(|u| self.channel(u))
    }

    pub fn is_caller(&self, uniqueid: &str) -> bool {
        self.caller.as_deref() == Some(uniqueid)
    }

    /// The person who called: the phone behind a Local caller, else the caller's channel.
    pub fn person(&self) -> Option<&Channel> {
        self.origin
            .as_deref()
            .and_then(|u| self.channel(u))
            .or_else(|| self.caller_channel())
    }

    pub fn is_person(&self, uniqueid: &str) -> bool {
        self.is_caller(uniqueid) || self.origin.as_deref() == Some(uniqueid)
    }

    /// A channel that can be the call's answerer: not the person who called (the PBX
    /// answering the caller, an originate's first leg), not plumbing (a Local channel).
    pub fn may_be_answerer(&self, ch: &Channel) -> bool {
        !(self.is_person(&ch.uniqueid) || ch.local() || ch.originated)
    }

    /// Every channel has hung up (and there was at least one).
    pub fn all_hung_up(&self) -> bool {
        !self.channels.is_empty() && self.channels.iter().all(|c| c.hung_up)
    }

    pub fn note(&mut self, at: Option<Timestamp>, kind: &str, text: String) {
        if self.timeline.len() < MAX_TIMELINE {
            self.timeline.push(TimelineEntry {
                at,
                kind: kind.to_string(),
                text,
            });
        }
    }

    /// A dial to `dest` begins; `direct`: from a real channel (see
    /// [`Channel::dialed_direct`]).
    pub fn begin_dial(&mut self, dest: &str, direct: bool) {
        self.set_dial(dest, "");
        if let Some(ch) = self.channel_mut(dest).filter(|_| direct) {
            ch.dialed_direct = true;
        }
    }

    /// Records the outcome of one dial; the last word per destination wins.
    pub fn set_dial(&mut self, dest: &str, status: &str) {
        if let Some(d) = self.dials.iter_mut().find(|d| d.0 == dest) {
            d.1 = status.to_string();
        } else if self.dials.len() < MAX_DIALS {
            self.dials.push((dest.to_string(), status.to_string()));
        }
    }

    /// Sets `to` from the caller's dial plan position, unless it is already settled.
    pub fn offer_to(&mut self, exten: Option<&str>, freeze: bool) {
        if self.to_frozen {
            return;
        }
        if let Some(e) = crate::names::dialed_exten(exten) {
            self.to_number = Some(e.to_string());
        }
        if freeze && self.to_number.is_some() {
            self.to_frozen = true;
        }
    }

    pub fn answered_by_text(&self) -> Option<String> {
        self.answer.text(self.to_number.as_deref())
    }

    fn to_number(&self) -> Option<String> {
        self.to_number
            .clone()
            .or_else(|| self.originate_exten.clone())
    }

    fn from(&self, config: &TrackerConfig) -> Party {
        let Some(c) = self.person() else {
            return Party::default();
        };
        let extension = c
            .endpoint
            .as_ref()
            .filter(|e| !c.local() && config.is_extension(e))
            .cloned();
        // An Originate's first leg shows whatever caller ID the program chose; the caller
        // is the phone itself.
        let is_origin = self.origin.as_deref() == Some(c.uniqueid.as_str());
        // ... unless the dial plan itself named the phone (`NewCallerid` on that leg, as
        // click-to-dial plans do with the phone's internal number).
        let number =
            if (c.originated || is_origin) && extension.is_some() && !c.number_from_dialplan {
                extension.clone()
            } else {
                c.number.clone().or_else(|| extension.clone())
            };
        Party {
            number,
            name: c.cid_name.clone(),
            extension,
        }
    }

    fn to(&self, config: &TrackerConfig) -> Party {
        let number = self.to_number();
        let extension = number
            .as_ref()
            .filter(|n| self.is_our_extension(n, config))
            .cloned();
        Party {
            number,
            name: None,
            extension,
        }
    }

    fn is_our_extension(&self, number: &str, config: &TrackerConfig) -> bool {
        config.is_extension(number)
            && self
                .channels
                .iter()
                .any(|c| !c.local() && c.endpoint.as_deref() == Some(number))
            || (config.is_extension(number) && !self.has_trunk_leg(config))
    }

    fn has_trunk_leg(&self, config: &TrackerConfig) -> bool {
        self.channels.iter().any(|c| {
            !c.local()
                && !self.is_person(&c.uniqueid)
                && c.endpoint
                    .as_deref()
                    .is_some_and(|e| !config.is_extension(e))
        })
    }

    /// internal / inbound / outbound (see the crate docs).
    pub fn direction(&self, config: &TrackerConfig) -> Direction {
        let caller_is_ext = self
            .person()
            .and_then(|c| c.endpoint.as_deref().filter(|_| !c.local()))
            .map(|e| config.is_extension(e));
        match caller_is_ext {
            Some(false) => Direction::Inbound,
            _ if self.has_trunk_leg(config) => Direction::Outbound,
            _ => Direction::Internal,
        }
    }

    /// The disposition rules of the crate docs.
    pub fn disposition(&self) -> Disposition {
        if self.answer.is_answered() {
            return Disposition::Answered;
        }
        if self.queue.is_some() && self.abandoned {
            return Disposition::Abandoned;
        }
        if self.voicemail {
            return Disposition::NoAnswer;
        }
        let has = |s: &[&str]| self.dials.iter().any(|d| s.contains(&d.1.as_str()));
        if has(&["NOANSWER", "CANCEL"]) {
            return Disposition::NoAnswer;
        }
        if has(&["BUSY"]) {
            return Disposition::Busy;
        }
        if has(&["CONGESTION", "CHANUNAVAIL", "INVALIDARGS"]) {
            return Disposition::Failed;
        }
        if self.queue.is_some() {
            // Left the queue (timeout, empty queue) without an agent and without hanging up
            // while waiting: nobody answered.
            return Disposition::NoAnswer;
        }
        match self.caller_channel().and_then(|c| c.cause) {
            Some(17) => Disposition::Busy,
            // Unallocated number, no route, channel unacceptable, rejected, number changed,
            // invalid format, network out of order, temporary failure, congestion, ...
            Some(
                1..=3
                | 6
                | 21
                | 22
                | 27
                | 28
                | 34
                | 38
                | 41
                | 42
                | 44
                | 47
                | 58
                | 65
                | 66
                | 79
                | 88,
            ) => Disposition::Failed,
            _ => Disposition::NoAnswer,
        }
    }

    /// An unanswered call that fell to voicemail rang until its dials ended (or, with none
    /// seen, until voicemail took it), not for the time spent leaving a message.
    fn ring_end(&self) -> Option<Timestamp> {
        if !self.voicemail {
            return None;
        }
        self.rang_until.or(self.voicemail_at)
    }

    /// Notes that the call fell to voicemail.
    pub fn fell_to_voicemail(&mut self, at: Option<Timestamp>) {
        self.voicemail = true;
        if self.voicemail_at.is_none() {
            self.voicemail_at = at;
        }
    }

    fn started_at(&self) -> Option<Timestamp> {
        self.caller_channel()
            .and_then(|c| c.started_at)
            .or_else(|| self.channels.iter().filter_map(|c| c.started_at).min())
            .or(self.first_seen)
    }

    fn ended_at(&self) -> Option<Timestamp> {
        self.channels
            .iter()
            .filter_map(|c| c.ended_at)
            .max()
            .or(self.last_event)
    }

    pub fn state(&self) -> CallState {
        if self.answer.is_answered() {
            if self.holds.iter().any(|h| h.unheld_at.is_none()) {
                CallState::OnHold
            } else {
                CallState::Up
            }
        } else if self
            .channels
            .iter()
            .any(|c| c.ringing && !c.hung_up && !c.up)
        {
            CallState::Ringing
        } else if self.queue.is_some() {
            CallState::Queued
        } else {
            CallState::Dialing
        }
    }

    /// The live view for `/api/calls`.
    pub fn active(&self, config: &TrackerConfig) -> ActiveCall {
        ActiveCall {
            id: format!("{}:{}", config.server, self.linkedid),
            server: config.server.clone(),
            linkedid: self.linkedid.clone(),
            direction: self.direction(config),
            from: self.from(config),
            to: self.to(config),
            answered_by: self.answered_by_text(),
            state: self.state(),
            started_at: self.started_at(),
            answered_at: self.answer.at(),
            queue: self.queue.clone(),
            transfers: self.transfers.list().to_vec(),
            holds: self.holds.clone(),
            legs: self.channels.iter().map(Channel::leg).collect(),
        }
    }

    /// The final record (the contract of `docs/ARCHITECTURE.md`).
    pub fn record(&self, config: &TrackerConfig, end: EndReason) -> CallRecord {
        let started_at = self.started_at();
        let ended_at = self.ended_at();
        let answered_at = if self.answer.is_answered() {
            self.answer.at()
        } else {
            None
        };
        let secs = |a: Option<Timestamp>, b: Option<Timestamp>| match (a, b) {
            (Some(a), Some(b)) => Some(((b.seconds_since(a)).max(0.0) * 1000.0).round() / 1000.0),
            _ => None,
        };
        let caller = self.caller_channel();
        let mut holds = self.holds.clone();
        for h in holds.iter_mut().filter(|h| h.unheld_at.is_none()) {
            h.unheld_at = ended_at;
        }
        CallRecord {
            id: format!("{}:{}", config.server, self.linkedid),
            server: config.server.clone(),
            linkedid: self.linkedid.clone(),
            direction: self.direction(config),
            from: self.from(config),
            to: self.to(config),
            answered_by: self.answered_by_text(),
            disposition: self.disposition(),
            hangup_cause: caller.and_then(|c| c.cause),
            hangup_cause_text: caller.and_then(|c| c.cause_text.clone()),
            started_at,
            answered_at,
            ended_at,
            ring_seconds: secs(started_at, answered_at.or(self.ring_end()).or(ended_at)),
            talk_seconds: answered_at.and_then(|a| secs(Some(a), ended_at)),
            queue: self.queue.clone(),
            transfers: self.transfers.list().to_vec(),
            holds,
            voicemail: self.voicemail,
            end,
            legs: self.channels.iter().map(Channel::leg).collect(),
            timeline: self.timeline.clone(),
        }
    }
}
