//! The call record: what switchboard says happened on one call.
//!
//! This is a contract (see `docs/ARCHITECTURE.md`, "Contracts"): the HTTP API, the store, NATS
//! subscribers and `switchboard replay --json` all emit it, and other programs read it.
//! Field names never change; new fields may be added.

use crate::Timestamp;
use serde::{Deserialize, Serialize};

/// One call as the caller experienced it, from the first ring to the last hangup.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct CallRecord {
    /// `server:linkedid`: stable, so replaying or resyncing a call updates its record.
    pub id: String,
    /// The configured name of the PBX.
    pub server: String,
    /// Asterisk's `Linkedid`, shared by every channel of the call.
    pub linkedid: String,
    /// internal, inbound or outbound.
    pub direction: Direction,
    /// Who called.
    pub from: Party,
    /// What the caller dialed.
    pub to: Party,
    /// The first party other than the caller that answered (see the crate docs).
    pub answered_by: Option<String>,
    /// How the call ended.
    pub disposition: Disposition,
    /// Q.850 cause of the caller's hangup.
    pub hangup_cause: Option<u16>,
    /// Asterisk's text for `hangup_cause`.
    pub hangup_cause_text: Option<String>,
    /// When the caller's channel appeared.
    pub started_at: Option<Timestamp>,
    /// When `answered_by` answered.
    pub answered_at: Option<Timestamp>,
    /// When the last channel of the call hung up.
    pub ended_at: Option<Timestamp>,
    /// From `started_at` to `answered_at` (or to `ended_at` if never answered).
    pub ring_seconds: Option<f64>,
    /// From `answered_at` to `ended_at`; absent when never answered.
    pub talk_seconds: Option<f64>,
    /// The queue the call went through, if any.
    pub queue: Option<QueueInfo>,
    /// Transfers, in order.
    #[serde(default)]
    pub transfers: Vec<Transfer>,
    /// Holds, in order.
    #[serde(default)]
    pub holds: Vec<Hold>,
    /// The call ended in voicemail.
    #[serde(default)]
    pub voicemail: bool,
    /// How the record was closed.
    pub end: EndReason,
    /// Every channel of the call.
    #[serde(default)]
    pub legs: Vec<Leg>,
    /// What happened, in order, for people reading one call (`/api/calls/{id}`).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub timeline: Vec<TimelineEntry>,
}

/// Where a call came from and went to, relative to this PBX.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Direction {
    /// One of our phones called another.
    Internal,
    /// A trunk brought the call in.
    Inbound,
    /// One of our phones called out through a trunk.
    Outbound,
}

/// One end of a call.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Party {
    /// The number as the PBX presented it (`from`) or as dialed (`to`).
    pub number: Option<String>,
    /// The caller ID name, when known.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub name: Option<String>,
    /// The internal extension, when the party is one of our phones.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub extension: Option<String>,
}

/// How the call ended, from the caller's point of view.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Disposition {
    /// A person or a dialed application answered.
    Answered,
    /// Nobody answered (timeout, caller cancelled, or voicemail).
    NoAnswer,
    /// The called party was busy.
    Busy,
    /// Congestion, unavailable, rejected by the network.
    Failed,
    /// The caller hung up while waiting in a queue.
    Abandoned,
}

impl Disposition {
    /// The name used in JSON and query parameters.
    pub fn as_str(self) -> &'static str {
        match self {
            Disposition::Answered => "answered",
            Disposition::NoAnswer => "no_answer",
            Disposition::Busy => "busy",
            Disposition::Failed => "failed",
            Disposition::Abandoned => "abandoned",
        }
    }
}

impl Direction {
    /// The name used in JSON and query parameters.
    pub fn as_str(self) -> &'static str {
        match self {
            Direction::Internal => "internal",
            Direction::Inbound => "inbound",
            Direction::Outbound => "outbound",
        }
    }
}

/// The queue part of a call through a queue.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct QueueInfo {
    /// The queue's name.
    pub name: String,
    /// Seconds the caller waited in the queue.
    pub wait_seconds: Option<f64>,
}

/// Blind or attended.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum TransferKind {
    /// Sent on without consultation (also AMI `Redirect`).
    Blind,
    /// After a consultation call.
    Attended,
}

/// A transfer of the call.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Transfer {
    /// blind or attended.
    pub kind: TransferKind,
    /// The phone that transferred, or `ami:Redirect` for a program.
    pub by: String,
    /// Where the call went.
    pub to: String,
    /// When.
    pub at: Option<Timestamp>,
}

/// A hold period.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Hold {
    /// The phone that put the call on hold.
    pub by: String,
    /// When it did.
    pub held_at: Option<Timestamp>,
    /// When the hold ended (`None` if the call ended on hold).
    pub unheld_at: Option<Timestamp>,
}

/// How the record was closed.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum EndReason {
    /// Every channel hung up.
    Hangup,
    /// The event stream ended (end of a recording) with the call still open.
    StreamEnded,
    /// No event for the call for longer than the expiry time (lost `Hangup`).
    Expired,
    /// The call ended while the AMI session was down; found out on resync.
    EndedWhileDisconnected,
}

/// What a leg did in the call.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum LegRole {
    /// The channel that placed the call.
    Caller,
    /// A channel that was dialed.
    Callee,
    /// A queue member's channel.
    Agent,
    /// The channel a transfer brought in.
    TransferTarget,
}

/// One channel of the call.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Leg {
    /// `PJSIP/2001-00000000`.
    pub channel: String,
    /// Asterisk's `Uniqueid`.
    pub uniqueid: String,
    /// The endpoint (`2001`, `pstn`).
    pub endpoint: Option<String>,
    /// The number on this leg.
    pub number: Option<String>,
    /// What the leg did.
    pub role: LegRole,
    /// When the channel appeared.
    pub started_at: Option<Timestamp>,
    /// When it went up.
    pub answered_at: Option<Timestamp>,
    /// When it hung up.
    pub ended_at: Option<Timestamp>,
    /// Its hangup cause.
    pub hangup_cause: Option<u16>,
}

/// One line of a call's history.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct TimelineEntry {
    /// When.
    pub at: Option<Timestamp>,
    /// What kind of step (`ringing`, `answered`, `hold`, `transfer`, `hangup`, …).
    pub kind: String,
    /// A sentence for people.
    pub text: String,
}
