//! The Asterisk Manager Interface (AMI) wire format, and nothing else: no sockets, no
//! runtime, no calls.
//!
//! AMI is a line-oriented text protocol over TCP (port 5038) or TLS (5039). A server greets
//! with a banner, then both sides exchange messages of `Key: Value` lines ended by an empty
//! line. Clients send *actions*; the server answers each with a *response* carrying the
//! same `ActionID`, and sends *events* as things happen on the PBX.
//!
//! - [`message`]: one decoded message, zero-copy.
//! - [`codec`]: the decoder, sans-IO (bytes in, frames out), with hard bounds on everything
//!   a peer sends; with the `tokio-codec` feature it is also a tokio-util `Decoder` /
//!   `Encoder`.
//! - [`action`]: actions, built so that nothing a caller passes can break the framing.
//!
//! This crate sits at the seam between the session stack (`ami`: connections, login, TLS,
//! reconnection) and the pure consumers of messages (`tracker`), so that the tracker
//! compiles without tokio, rustls or rand. See `docs/ARCHITECTURE.md`.
#![forbid(unsafe_code)]
#![warn(missing_docs)]

pub mod action;
pub mod codec;
pub mod message;
mod scan;

pub use action::{Action, ActionError};
pub use codec::{AmiCodec, Banner, Frame, FrameError, Limits};
pub use message::{Kind, Message};
