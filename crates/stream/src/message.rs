//! What travels on the stream: the changes pipelines report to the [`Hub`](crate::Hub), and
//! the JSON messages clients read (the contract is `DESIGN.md`, "Stream").
//!
//! ```text
//! {"type":"snapshot","epoch":"…","seq":41,"calls":[…],"extensions":[…],"queues":[…],"servers":[…]}
//! {"type":"update","epoch":"…","seq":42,"server":"pbx1","kind":"call","event":"ringing","data":{…}}
//! {"type":"update","epoch":"…","seq":43,"server":"pbx1","kind":"call","event":"ended","data":{…},"record":{…}}
//! {"type":"lagged","epoch":"…","seq":97,"missed":12}        (then a fresh snapshot)
//! {"type":"bye","epoch":"…","seq":97,"reason":"the service is shutting down"}
//! ```
//!
//! An update's `data` is the whole entity as the REST route shows it (`/api/calls`,
//! `/api/extensions`, `/api/queues`, `/api/servers`), never a delta: a client keeps a map
//! keyed by `kind` and id (`data.id` for calls, `server` + `data.extension`,
//! `server` + `data.name` for queues, `data.name` for servers), puts `data` in it, and
//! removes the entry when `event` is `ended`, `merged` or `removed`. Applying every update
//! after a snapshot's `seq` to that snapshot gives the state at any later point.

use pbx_status::ServerStatus;
use serde::Serialize;
use tracker::{ActiveCall, CallRecord, ExtensionView, QueueView};

/// What an update is about.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Kind {
    Call,
    Extension,
    Queue,
    Server,
}

impl Kind {
    pub const ALL: [Kind; 4] = [Kind::Call, Kind::Extension, Kind::Queue, Kind::Server];

    pub fn as_str(self) -> &'static str {
        match self {
            Kind::Call => "call",
            Kind::Extension => "extension",
            Kind::Queue => "queue",
            Kind::Server => "server",
        }
    }

    pub fn parse(s: &str) -> Option<Kind> {
        Kind::ALL.into_iter().find(|k| k.as_str() == s)
    }
}

/// What happened to the entity of an update.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Event {
    /// A call appeared.
    Started,
    /// A party of the call rings.
    Ringing,
    /// The call was answered.
    Answered,
    /// A party put it on hold.
    Held,
    /// The hold ended.
    Unheld,
    /// It was transferred (the transfer is the last of `data.transfers`).
    Transferred,
    /// Something else changed (a leg, the queue, a number the dial plan set…).
    Updated,
    /// The call is over: `record` is its call record, as the history keeps it.
    Ended,
    /// The call became part of another (`into`): an attended transfer's consultation, a
    /// pickup's `*8` call. It has no record of its own.
    Merged,
    /// An extension's, a queue's or a server's state changed.
    Changed,
    /// The entity is gone (a PBX removed from the configuration, an extension the tracker
    /// no longer lists).
    Removed,
}

impl Event {
    /// The entity leaves the client's map.
    pub fn removes(self) -> bool {
        matches!(self, Event::Ended | Event::Merged | Event::Removed)
    }
}

/// What a pipeline tells the hub. The hub numbers what changed and drops what did not
/// (an `Updated` view equal to the one it holds, an extension whose view is the same).
#[derive(Clone, Debug)]
pub enum Change {
    /// A live call's view after `event`.
    Call { event: Event, call: ActiveCall },
    /// The call ended; `record` goes out with the last view the hub holds.
    CallEnded { id: String, record: CallRecord },
    /// The call merged into `into`.
    CallMerged { id: String, into: String },
    /// An extension's view.
    Extension(ExtensionView),
    /// A queue's view.
    Queue(QueueView),
    /// The PBX's connection status.
    Server(ServerStatus),
    /// The whole state of the PBX, as its tracker lists it (after a resync, a retune of
    /// the extensions pattern): what differs is sent, what the hub holds of that PBX and
    /// this lacks is removed.
    Reconcile {
        calls: Vec<ActiveCall>,
        extensions: Vec<ExtensionView>,
        queues: Vec<QueueView>,
    },
    /// The PBX's pipeline stopped for good (removed or restarted by a reload): everything
    /// of it is removed, its server entry included.
    Forget,
}

/// An update as serialized.
#[derive(Serialize)]
pub(crate) struct UpdateMessage<'a, T: Serialize> {
    #[serde(rename = "type")]
    pub kind_of_message: &'static str,
    pub epoch: &'a str,
    pub seq: u64,
    pub server: &'a str,
    pub kind: Kind,
    pub event: Event,
    pub data: &'a T,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub record: Option<&'a CallRecord>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub into: Option<&'a str>,
}

/// A snapshot as serialized.
#[derive(Serialize)]
pub(crate) struct SnapshotMessage<'a> {
    #[serde(rename = "type")]
    pub kind_of_message: &'static str,
    pub epoch: &'a str,
    pub seq: u64,
    /// `false` when this snapshot replaces a resume the ring could not serve; absent when
    /// no resume was asked.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub resumed: Option<bool>,
    pub calls: Vec<std::sync::Arc<ActiveCall>>,
    pub extensions: Vec<std::sync::Arc<ExtensionView>>,
    pub queues: Vec<std::sync::Arc<QueueView>>,
    pub servers: Vec<std::sync::Arc<ServerStatus>>,
}

/// A `lagged` notice as serialized.
#[derive(Serialize)]
pub(crate) struct LaggedMessage<'a> {
    #[serde(rename = "type")]
    pub kind_of_message: &'static str,
    pub epoch: &'a str,
    pub seq: u64,
    /// Updates this client did not get (a fresh snapshot follows).
    pub missed: u64,
}

/// A `bye` as serialized.
#[derive(Serialize)]
pub(crate) struct ByeMessage<'a> {
    #[serde(rename = "type")]
    pub kind_of_message: &'static str,
    pub epoch: &'a str,
    pub seq: u64,
    pub reason: &'a str,
}
