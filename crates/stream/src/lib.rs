//! switchboard's live stream: the seam between the service, whose pipelines publish what
//! changed, and the HTTP layer, which serves it to WebSocket and SSE clients.
//!
//! ```text
//!  pipeline pbx1 ─┐ Change                         ┌─▶ Subscription ─▶ WebSocket client
//!  pipeline pbx2 ─┼──────▶ Hub: seq, state, ring ──┼─▶ Subscription ─▶ SSE client
//!                 │        (one mutex, one order)  └─▶ …  (each its own cursor, never waited for)
//! ```
//!
//! - [`message`]: the changes pipelines report and the JSON messages clients read.
//! - [`hub`]: numbering, the state they add up to (for snapshots), the resume ring, the
//!   fan-out and what happens to a slow client.
//! - [`filter`]: `server`, `extension`, `kinds`.
//!
//! The crate knows nothing of HTTP or of AMI: it depends on the tracker's view types (the
//! data of every update is what the REST routes show) and on `pbx-status`.
#![forbid(unsafe_code)]

pub mod filter;
mod frame;
pub mod hub;
pub mod message;
mod ring;

pub use filter::{Filter, FilterError};
pub use frame::Frame;
pub use hub::{Hub, HubConfig, HubStats, Message, Next, Subscription};
pub use message::{Change, Event, Kind};
