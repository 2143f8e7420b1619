//! The Asterisk Manager Interface (AMI): the wire format and the sessions built on it.
//!
//! AMI is a line-oriented text protocol over TCP (port 5038) or TLS (5039). A server greets
//! with a banner, then both sides exchange messages of `Key: Value` lines ended by an empty
//! line. Clients send *actions*; the server answers each with a *response* carrying the
//! same `ActionID`, and sends *events* as things happen on the PBX. Some actions answer
//! with a list: a response with `EventList: start`, one event per item, and a closing
//! `…Complete` event.
//!
//! This crate knows nothing of calls; that is the `tracker` crate's business.
//!
//! Wire format (owned by the `ami-wire` crate, re-exported here so a session user needs
//! one dependency):
//! - [`message`]: one decoded message, zero-copy.
//! - [`codec`]: the decoder and encoder, with hard bounds on everything a peer sends.
//! - [`action`]: actions, built so that nothing a caller passes can break the framing.
//!
//! Sessions:
//! - [`config`]: where to connect and how patient to be; [`tls`]: AMI over TLS.
//! - [`login`]: plain and MD5 login, the Asterisk version.
//! - [`connection`]: one logged-in session: ActionID correlation, lists, keep-alive,
//!   backpressure.
//! - [`client`]: reconnects forever, with [`backoff`]; publishes a [`status`].
//! - [`queue`]: the bounded event queue and its lag; [`stats`]: counters.
//!
//! ```no_run
//! # async fn example() -> Result<(), ami::AmiError> {
//! use ami::{Action, Client, ClientConfig, SessionEvent};
//! let mut config = ClientConfig::new("127.0.0.1", 5038, "admin", "amp111");
//! config.on_connect = vec![Action::new("CoreShowChannels")];
//! let (client, mut events) = Client::spawn(config);
//! tokio::spawn(async move {
//!     while let Some(event) = events.recv().await {
//!         if let SessionEvent::Event(m) = event {
//!             println!("{}", m.name());
//!         }
//!     }
//! });
//! let pong = client.send(Action::new("Ping")).await?;
//! assert_eq!(pong.get("Ping"), Some("Pong"));
//! client.shutdown().await;
//! # Ok(()) }
//! ```
#![forbid(unsafe_code)]
#![warn(missing_docs)]

pub use ami_wire::action;
mod action_id;
pub mod backoff;
pub mod client;
pub use ami_wire::codec;
pub mod config;
pub mod connection;
pub mod error;
pub mod login;
pub use ami_wire::message;
pub mod queue;
pub mod response;
pub mod stats;
pub mod status;
#[cfg(feature = "testing")]
pub mod testing;
pub mod tls;
mod transport;

pub use action::{Action, ActionError};
pub use backoff::Backoff;
pub use client::{Client, ClientHandle};
pub use codec::{AmiCodec, Banner, Frame, FrameError, Limits};
pub use config::{Auth, ClientConfig};
pub use connection::{Connection, SessionInfo};
pub use error::AmiError;
pub use message::{Kind, Message};
pub use queue::{EventStream, QueueProbe, SessionEvent};
pub use response::Response;
pub use stats::Stats;
pub use status::{Disconnect, Status};
pub use tls::{CertPin, TlsOptions, TlsVerify};
