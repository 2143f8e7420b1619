//! What the tracker tells the rest of switchboard: [`Update`]s, and the read-only snapshots
//! behind the HTTP API (`/api/calls`, `/api/extensions`, `/api/queues`).
//!
//! Everything here is `serde::Serialize`: updates are broadcast as JSON to WebSocket and SSE
//! clients, tagged with `"type"` (`call_started`, `call_ended`, `extension_state`, …).

use crate::{CallRecord, Direction, Hold, Leg, Party, QueueInfo, Timestamp, Transfer};
use serde::Serialize;

/// One change the tracker saw.
#[derive(Clone, Debug, PartialEq, Serialize)]
#[serde(tag = "type", rename_all = "snake_case")]
pub enum Update {
    /// A call appeared (first channel seen, or adopted from `CoreShowChannels`).
    CallStarted(ActiveCall),
    /// A party of the call started ringing.
    CallRinging {
        /// `server:linkedid`.
        id: String,
        /// The ringing channel.
        channel: String,
        /// Its endpoint, if known.
        endpoint: Option<String>,
        /// When.
        at: Option<Timestamp>,
    },
    /// The call was answered (by `answered_by` of the record rules).
    CallAnswered {
        /// `server:linkedid`.
        id: String,
        /// Who answered.
        answered_by: String,
        /// When.
        at: Option<Timestamp>,
    },
    /// A party put the call on hold.
    CallHold {
        /// `server:linkedid`.
        id: String,
        /// The phone that held.
        by: String,
        /// When.
        at: Option<Timestamp>,
    },
    /// The hold ended.
    CallUnhold {
        /// `server:linkedid`.
        id: String,
        /// The phone that had held.
        by: String,
        /// When.
        at: Option<Timestamp>,
    },
    /// The call was transferred.
    CallTransferred {
        /// `server:linkedid`.
        id: String,
        /// What happened.
        transfer: Transfer,
    },
    /// Something else about the call changed (a leg, the queue, …): the whole live view.
    CallUpdated(ActiveCall),
    /// The call is over: its final record (for the history).
    CallEnded(CallRecord),
    /// The call was part of another one and has no record of its own: an attended
    /// transfer's consultation call (folded into the transferred call) or the `*8` call of a
    /// pickup. Live views drop it; the history never sees it.
    CallMerged {
        /// The call that disappears (`server:linkedid`).
        id: String,
        /// The call it became part of.
        into: String,
    },
    /// An extension's hint state changed (`ExtensionStatus`).
    ExtensionState(ExtensionView),
    /// A device's state changed (`DeviceStateChange`).
    DeviceState {
        /// `PJSIP/2001`.
        device: String,
        /// One of the [`state names`](state_from_device).
        state: &'static str,
    },
    /// A queue's callers or members changed.
    QueueChanged(QueueView),
}

/// Where a live call stands.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum CallState {
    /// Placed; nothing rings yet (dial plan, IVR).
    Dialing,
    /// Some party rings.
    Ringing,
    /// Waiting in a queue.
    Queued,
    /// Answered and talking.
    Up,
    /// Answered, and someone holds it.
    OnHold,
}

/// A live call, as `/api/calls` shows it. Same field names as the [`CallRecord`].
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct ActiveCall {
    /// `server:linkedid`.
    pub id: String,
    /// The PBX.
    pub server: String,
    /// Asterisk's Linkedid.
    pub linkedid: String,
    /// internal / inbound / outbound, as far as known.
    pub direction: Direction,
    /// The caller.
    pub from: Party,
    /// What the caller dialed.
    pub to: Party,
    /// Who answered first, if anyone yet.
    pub answered_by: Option<String>,
    /// Where it stands.
    pub state: CallState,
    /// When it started.
    pub started_at: Option<Timestamp>,
    /// When it was answered.
    pub answered_at: Option<Timestamp>,
    /// The queue, for queue calls.
    pub queue: Option<QueueInfo>,
    /// Transfers so far.
    pub transfers: Vec<Transfer>,
    /// Holds so far.
    pub holds: Vec<Hold>,
    /// Its channels (live and gone).
    pub legs: Vec<Leg>,
}

impl ActiveCall {
    /// An empty view of a call that is being set up; the tracker fills it in before the
    /// update leaves `handle`.
    pub(crate) fn placeholder(linkedid: &str) -> ActiveCall {
        ActiveCall {
            id: String::new(),
            server: String::new(),
            linkedid: linkedid.to_string(),
            direction: Direction::Internal,
            from: Party::default(),
            to: Party::default(),
            answered_by: None,
            state: CallState::Dialing,
            started_at: None,
            answered_at: None,
            queue: None,
            transfers: Vec::new(),
            holds: Vec::new(),
            legs: Vec::new(),
        }
    }
}

/// One extension, as `/api/extensions` shows it.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct ExtensionView {
    /// The PBX (the `server` of its calls): two PBXes may both have a `2001`.
    pub server: String,
    /// `2001`.
    pub extension: String,
    /// `idle`, `ringing`, `inuse`, `inuse_ringing`, `busy`, `onhold`, `unavailable`, `unknown`.
    pub state: &'static str,
    /// The hint (`PJSIP/2001`), when known.
    pub hint: Option<String>,
    /// Ids of the live calls the extension has a channel in.
    pub calls: Vec<String>,
}

/// One queue, as `/api/queues` shows it.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct QueueView {
    /// The PBX.
    pub server: String,
    /// The queue's name.
    pub name: String,
    /// Callers waiting, in position order.
    pub callers: Vec<QueueCaller>,
    /// Members and their states.
    pub members: Vec<QueueMemberView>,
}

/// A caller waiting in a queue.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct QueueCaller {
    /// The caller's channel.
    pub channel: String,
    /// Its Uniqueid.
    pub uniqueid: String,
    /// The call id (`server:linkedid`) when known.
    pub call_id: Option<String>,
    /// The caller's number.
    pub number: Option<String>,
    /// Position (1 = next).
    pub position: u32,
    /// When the caller joined (or `None` when adopted from `QueueStatus` without times).
    pub joined_at: Option<Timestamp>,
}

/// A queue member.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct QueueMemberView {
    /// `PJSIP/2003`.
    pub interface: String,
    /// `Carol` (the member name, not the extension).
    pub name: Option<String>,
    /// The extension behind the interface.
    pub extension: Option<String>,
    /// The member's device state name.
    pub state: &'static str,
    /// Paused members get no calls.
    pub paused: bool,
}

/// The state name of an `ExtensionStatus` `Status` code (a bit set: 1 in use, 2 busy,
/// 4 unavailable, 8 ringing, 16 on hold; -1/-2 no such hint).
pub fn state_from_hint(status: i32) -> &'static str {
    match status {
        0 => "idle",
        s if s < 0 => "unknown",
        s if s & 4 != 0 => "unavailable",
        s if s & 2 != 0 => "busy",
        s if s & 16 != 0 => "onhold",
        s if s & 1 != 0 && s & 8 != 0 => "inuse_ringing",
        s if s & 8 != 0 => "ringing",
        s if s & 1 != 0 => "inuse",
        _ => "unknown",
    }
}

/// The state name of an `ExtensionStatus` `StatusText` (`Idle`, `InUse&Ringing`, `Hold`,
/// …), for peers that send no numeric `Status`.
pub fn state_from_hint_text(text: &str) -> &'static str {
    let t = text.trim().to_ascii_lowercase();
    let has = |w: &str| t.split('&').any(|p| p == w);
    match () {
        _ if t == "idle" => "idle",
        _ if has("unavailable") => "unavailable",
        _ if has("busy") => "busy",
        _ if has("hold") || has("onhold") => "onhold",
        _ if has("inuse") && has("ringing") => "inuse_ringing",
        _ if has("ringing") => "ringing",
        _ if has("inuse") => "inuse",
        _ => "unknown",
    }
}

/// The state name of a `DeviceStateChange` `State` (`NOT_INUSE`, `INUSE`, `RINGINUSE`, …).
pub fn state_from_device(state: &str) -> &'static str {
    match state.trim().to_ascii_uppercase().as_str() {
        "NOT_INUSE" | "IDLE" => "idle",
        "INUSE" | "IN_USE" => "inuse",
        "BUSY" => "busy",
        "INVALID" | "UNAVAILABLE" => "unavailable",
        "RINGING" => "ringing",
        "RINGINUSE" => "inuse_ringing",
        "ONHOLD" => "onhold",
        _ => "unknown",
    }
}

/// The state name of a numeric device state (`QueueMember`/`QueueMemberStatus` `Status`:
/// 0 unknown, 1 not in use, 2 in use, 3 busy, 4 invalid, 5 unavailable, 6 ringing,
/// 7 ring+in use, 8 on hold).
pub fn state_from_device_code(code: i32) -> &'static str {
    match code {
        1 => "idle",
        2 => "inuse",
        3 => "busy",
        4 | 5 => "unavailable",
        6 => "ringing",
        7 => "inuse_ringing",
        8 => "onhold",
        _ => "unknown",
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn hint_states() {
        assert_eq!(state_from_hint(0), "idle");
        assert_eq!(state_from_hint(1), "inuse");
        assert_eq!(state_from_hint(2), "busy");
        assert_eq!(state_from_hint(4), "unavailable");
        assert_eq!(state_from_hint(8), "ringing");
        assert_eq!(state_from_hint(9), "inuse_ringing");
        assert_eq!(state_from_hint(16), "onhold");
        assert_eq!(state_from_hint(17), "onhold");
        assert_eq!(state_from_hint(-1), "unknown");
        assert_eq!(state_from_hint_text("InUse&Ringing"), "inuse_ringing");
        assert_eq!(state_from_hint_text("InUse&Hold"), "onhold");
        assert_eq!(state_from_hint_text("Idle"), "idle");
        assert_eq!(state_from_hint_text("Unavailable"), "unavailable");
        assert_eq!(state_from_hint_text("what"), "unknown");
    }

    #[test]
    fn device_states() {
        assert_eq!(state_from_device("NOT_INUSE"), "idle");
        assert_eq!(state_from_device("RINGINUSE"), "inuse_ringing");
        assert_eq!(state_from_device("INVALID"), "unavailable");
        assert_eq!(state_from_device_code(2), "inuse");
        assert_eq!(state_from_device_code(6), "ringing");
    }
}
