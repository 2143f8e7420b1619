//! How a simulator is set up: where it listens, who may log in, what traffic it makes.

use crate::plan::Plan;
use std::io::Write;
use std::net::SocketAddr;
use std::path::PathBuf;
use std::sync::{Arc, Mutex};
use std::time::Duration;

/// How fast events go out.
#[derive(Clone, Copy, Debug, PartialEq)]
pub enum Speed {
    /// At the recorded (or generated) pace, from the `Timestamp` headers.
    Realtime,
    /// That pace times a factor (`Factor(10.0)` is ten times faster).
    Factor(f64),
    /// As fast as the clients' sockets take them; the clock jumps to the next event.
    Max,
}

impl Speed {
    /// Parses `1`, `10`, `0.5`, `max`.
    pub fn parse(s: &str) -> Option<Speed> {
        if s.eq_ignore_ascii_case("max") {
            return Some(Speed::Max);
        }
        match s.parse::<f64>() {
            Ok(1.0) => Some(Speed::Realtime),
            Ok(f) if f > 0.0 && f.is_finite() => Some(Speed::Factor(f)),
            _ => None,
        }
    }

    /// The factor, or `None` for `Max`.
    pub(crate) fn factor(self) -> Option<f64> {
        match self {
            Speed::Realtime => Some(1.0),
            Speed::Factor(f) => Some(f),
            Speed::Max => None,
        }
    }
}

/// Where the generator's ground truth goes: one JSON line per call, in the order calls end.
#[derive(Clone)]
pub enum TruthSink {
    /// A file, created (truncated) when the simulator starts.
    File(PathBuf),
    /// Any writer (tests use a shared `Vec<u8>`).
    Writer(Arc<Mutex<dyn Write + Send>>),
}

impl std::fmt::Debug for TruthSink {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            TruthSink::File(p) => write!(f, "File({})", p.display()),
            TruthSink::Writer(_) => f.write_str("Writer(..)"),
        }
    }
}

/// Synthetic traffic.
#[derive(Clone, Debug)]
pub struct GenConfig {
    /// First and last phone extension (`2001..=2100`).
    pub extensions: (u32, u32),
    /// Prefix of outbound numbers (the outbound route is `0X.`).
    pub trunk_prefix: String,
    /// Queues; inbound calls on the DID go to the first.
    pub queues: Vec<String>,
    /// New calls per second (simulated time).
    pub calls_per_second: f64,
    /// At most this many calls at once.
    pub concurrency: usize,
    /// Stop starting calls after this much simulated time.
    pub duration: Option<Duration>,
    /// Stop after this many calls (whichever of `duration` and `calls` comes first).
    pub calls: Option<u64>,
    /// Everything random comes from this seed: the same seed gives the same calls.
    pub seed: u64,
    /// Pace of the events.
    pub speed: Speed,
    /// Where to write the ground truth.
    pub truth: Option<TruthSink>,
    /// Simulated start time (µs since the epoch); default: the wall clock at start. Set it
    /// to get byte-identical output for a seed.
    pub start_epoch_us: Option<u64>,
}

impl Default for GenConfig {
    fn default() -> GenConfig {
        GenConfig {
            extensions: (2001, 2100),
            trunk_prefix: "0".into(),
            queues: vec!["support".into()],
            calls_per_second: 1.0,
            concurrency: 10,
            duration: None,
            calls: None,
            seed: 1,
            speed: Speed::Realtime,
            truth: None,
            start_epoch_us: None,
        }
    }
}

/// What traffic the simulated PBX carries.
#[derive(Clone, Debug)]
pub enum Mode {
    /// No traffic of its own: only what actions (Originate, …) cause.
    Quiet {
        /// Pace of the calls that actions create.
        speed: Speed,
    },
    /// A recording's events.
    Replay {
        /// The `.ami` file.
        file: PathBuf,
        /// Pace.
        speed: Speed,
        /// How many times to play it (1 = once); each loop is new calls.
        loops: u32,
    },
    /// Synthetic calls.
    Generate(GenConfig),
}

/// Everything a simulator needs.
#[derive(Clone, Debug)]
pub struct SimConfig {
    /// Where to listen (`127.0.0.1:5038`; port 0 picks a free port).
    pub listen: SocketAddr,
    /// Accepted `(username, secret)` pairs.
    pub users: Vec<(String, String)>,
    /// The traffic.
    pub mode: Mode,
    /// The PBX's phones, trunk and queues (for generated traffic, derived from the
    /// [`GenConfig`]).
    pub plan: Plan,
}

impl SimConfig {
    /// Defaults of the recordings' PBX: `127.0.0.1:5038`, `admin` / `amp111`, no traffic.
    pub fn new(mode: Mode) -> SimConfig {
        let plan = match &mode {
            Mode::Generate(g) => Plan::new(g.extensions.0, g.extensions.1, &g.queues),
            _ => Plan::default(),
        };
        SimConfig {
            listen: "127.0.0.1:5038".parse().expect("a valid address"),
            users: vec![("admin".into(), "amp111".into())],
            mode,
            plan,
        }
    }

    /// For tests: a free port on loopback, no traffic, calls from actions at full speed.
    pub fn quiet_for_tests() -> SimConfig {
        let mut c = SimConfig::new(Mode::Quiet { speed: Speed::Max });
        c.listen = "127.0.0.1:0".parse().expect("a valid address");
        c
    }

    /// Sets the listen address.
    pub fn listen(mut self, addr: SocketAddr) -> SimConfig {
        self.listen = addr;
        self
    }

    pub(crate) fn speed(&self) -> Speed {
        match &self.mode {
            Mode::Quiet { speed } | Mode::Replay { speed, .. } => *speed,
            Mode::Generate(g) => g.speed,
        }
    }
}
