//! One numbered update as the hub keeps it: in the resume ring and in every client's
//! queue, serialized once.

use crate::message::Kind;
use bytes::Bytes;
use std::sync::Arc;

/// One numbered update, serialized once for every client.
#[derive(Debug)]
pub struct Frame {
    /// 0 for a `bye`, which is not an update.
    pub seq: u64,
    pub server: Arc<str>,
    pub kind: Kind,
    /// The extensions it concerns, for the `extension` filter.
    pub(crate) extensions: Box<[String]>,
    /// The whole message.
    pub json: Bytes,
    pub(crate) bye: Option<String>,
}
