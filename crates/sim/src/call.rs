//! A call the engine plays from a template, and what the generator remembers of the calls
//! it made (their truth). Its own module so that the engine and the generator, which both
//! handle calls, need not import each other.

use crate::kind::Kind;
use crate::template::{Instance, Template};
use serde_json::Value;
use tokio::sync::oneshot;

/// A call being played from a template.
pub(crate) struct Call {
    pub(crate) tpl: &'static Template,
    pub(crate) inst: Instance,
    pub(crate) next: usize,
    pub(crate) originate_reply: Option<oneshot::Sender<Result<(), String>>>,
    /// The generator's record of this call (its truth), if it made it.
    pub(crate) tag: Option<Tag>,
    /// Instead of playing event `.0`, the callee (a phone) blind-transfers the caller to
    /// extension `.1`.
    pub(crate) transfer_at: Option<(usize, String)>,
}

impl Call {
    pub(crate) fn new(tpl: &'static Template, inst: Instance) -> Call {
        Call {
            tpl,
            inst,
            next: 0,
            originate_reply: None,
            tag: None,
            transfer_at: None,
        }
    }
}

/// What the generator remembers of one of its calls.
#[derive(Debug)]
pub(crate) struct Tag {
    pub(crate) kind: Kind,
    pub(crate) truth: serde_json::Map<String, Value>,
    pub(crate) phones: Vec<String>,
    pub(crate) queue: Option<usize>,
    /// Past its blind transfer: the record so far is in `truth`.
    pub(crate) transferred: bool,
    /// The pace of its DTMF attended transfer, for the feature transfer kinds.
    pub(crate) atxfer: Option<crate::atxfer::Timing>,
}

impl Tag {
    /// Whether the callee transfers with the DTMF feature (see [`Kind::FeatureTransfer`]),
    /// and at which pace.
    pub(crate) fn atxfer_timing(&self) -> Option<crate::atxfer::Timing> {
        self.atxfer
    }
}
