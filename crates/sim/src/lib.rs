//! A simulated Asterisk: an AMI server that replays real recordings, generates PBX traffic
//! and injects faults, for tests, benchmarks, demos and people without an Asterisk at hand.
//!
//! ```no_run
//! # async fn demo() -> Result<(), sim::SimError> {
//! use sim::{Mode, Server, SimConfig, Speed};
//! let cfg = SimConfig::new(Mode::Replay {
//!     file: "fixtures/asterisk/22.10.1/load_mix.ami".into(),
//!     speed: Speed::Max,
//!     loops: 1,
//! })
//! .listen("127.0.0.1:0".parse().unwrap());
//! let sim = Server::start(cfg).await?;
//! println!("AMI on {}", sim.addr());
//! sim.drop_connections(); // a fault, from a test
//! # Ok(()) }
//! ```
//!
//! The wire format is Asterisk 22's, byte for byte as in `fixtures/asterisk/22.10.1/`
//! (whose README documents what real Asterisk does). The pieces:
//!
//! - [`server`]: the listener, [`Server::start`] and the [`SimHandle`] (faults, counters).
//! - `session`: one client connection: login (plain and MD5), actions, events, faults.
//! - `engine`: the time line: replayed events, calls played from templates, made-up events.
//! - `shared`: what all of one simulator's tasks share (state, clock, faults); `cmd`: what
//!   they ask of the engine. Neither knows the tasks, so the tasks do not know each other.
//! - [`state`]: channels, hints and queues as the events sent so far describe them; the
//!   list actions answer from it.
//! - [`replay`]: recordings as event sources; `template`/`templates`: real call event
//!   sequences with blanks; `generate`: synthetic traffic with its ground truth.
#![forbid(unsafe_code)]
#![warn(missing_docs)]

mod atxfer;
mod call;
mod clock;
mod cmd;
pub mod config;
mod engine;
mod faults;
mod generate;
mod kind;
mod lists;
pub mod plan;
pub mod replay;
mod rng;
pub mod server;
mod session;
mod shared;
pub mod state;
mod synth;
mod template;
mod templates;
mod wire;

pub use config::{GenConfig, Mode, SimConfig, Speed, TruthSink};
pub use plan::Plan;
pub use server::{Server, SimError, SimHandle};
