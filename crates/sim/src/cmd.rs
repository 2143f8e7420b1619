//! What sessions and the handle ask of the engine, and what it hands back: the messages on
//! its channels, apart from the engine itself so that the tasks sending them need not know it.

use bytes::Bytes;
use std::sync::Arc;
use tokio::sync::{mpsc, oneshot};

/// Events handed to sessions together: the bytes and where each event ends.
#[derive(Debug)]
pub(crate) struct Batch {
    pub(crate) bytes: Bytes,
    pub(crate) ends: Vec<usize>,
}

/// What sessions and the handle ask of the engine.
pub(crate) enum Cmd {
    /// A session logged in: send it the stream from now on.
    Subscribe(mpsc::Sender<Arc<Batch>>),
    /// `Action: Originate`.
    Originate(OriginateReq, oneshot::Sender<Result<(), String>>),
    /// `Action: Hangup`.
    Hangup {
        channel: String,
        reply: oneshot::Sender<Result<(), String>>,
    },
    /// `Action: Redirect` (`blind: false`) or `Action: BlindTransfer` (`blind: true`).
    Transfer {
        channel: String,
        context: String,
        exten: String,
        blind: bool,
        reply: oneshot::Sender<Result<(), String>>,
    },
    /// `Action: Atxfer`: `channel` transfers its peer to `exten` with a consultation call.
    Atxfer {
        channel: String,
        context: String,
        exten: String,
        reply: oneshot::Sender<Result<(), String>>,
    },
    /// A PBX restart: end every call, send `Shutdown`, start the counters over.
    Restart(oneshot::Sender<()>),
    /// Stop the engine.
    Stop,
}

/// The parts of an Originate the engine needs.
#[derive(Debug, Clone)]
pub(crate) struct OriginateReq {
    pub(crate) channel: String,
    pub(crate) context: String,
    pub(crate) exten: String,
    pub(crate) caller_name: Option<String>,
    pub(crate) action_id: Option<String>,
    pub(crate) is_async: bool,
}
