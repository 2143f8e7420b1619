//! The listening socket, the shared state, and the handle tests use to drive faults.

use crate::clock::Clock;
use crate::cmd::Cmd;
use crate::config::{Mode, SimConfig};
use crate::engine::Engine;
use crate::faults::Faults;
use crate::generate::Generator;
use crate::replay::{Recording, ReplayError};
use crate::shared::{Ctl, Shared};
use crate::state::State;
use crate::wire::now_us;
use std::net::SocketAddr;
use std::sync::atomic::Ordering;
use std::sync::Arc;
use std::time::Duration;
use tokio::net::{TcpListener, TcpSocket};
use tokio::sync::mpsc;

/// Why the simulator could not start.
#[derive(Debug, thiserror::Error)]
pub enum SimError {
    /// The listen address is taken or not ours.
    #[error("cannot listen on {addr}: {source} (is another simulator or Asterisk already on that port?)")]
    Listen {
        /// The address.
        addr: SocketAddr,
        /// Why.
        source: std::io::Error,
    },
    /// The recording to replay is unreadable.
    #[error(transparent)]
    Replay(#[from] ReplayError),
    /// The generator's settings do not make sense.
    #[error("invalid traffic settings: {0}")]
    Generate(String),
    /// The thread that reads events into the state could not start.
    #[error("cannot start the simulator's state thread: {0}")]
    Thread(std::io::Error),
}

/// The simulator.
pub struct Server;

impl Server {
    /// Starts a simulator: binds `config.listen`, loads the recording or sets up the
    /// generator, and serves until [`SimHandle::shutdown`] (or the handle is dropped and
    /// the runtime ends).
    pub async fn start(config: SimConfig) -> Result<SimHandle, SimError> {
        let speed = config.speed();
        let (replay, gen, start_us) = match &config.mode {
            Mode::Quiet { .. } => (None, None, now_us()),
            Mode::Replay { file, loops, .. } => {
                let rec = Arc::new(Recording::load(file)?);
                // A recording without timestamps has no time of its own: the events it
                // stamps (SuccessfulAuth, generated ones) had better carry today's.
                let start = if rec.is_timed() { rec.span.0 } else { now_us() };
                (Some((rec, *loops)), None, start)
            }
            Mode::Generate(g) => {
                let gen = Generator::new(g, &config.plan).map_err(SimError::Generate)?;
                let start = g.start_epoch_us.unwrap_or_else(now_us);
                (None, Some(gen), start)
            }
        };
        let listener = bind(config.listen).map_err(|source| SimError::Listen {
            addr: config.listen,
            source,
        })?;
        let addr = listener.local_addr().map_err(|source| SimError::Listen {
            addr: config.listen,
            source,
        })?;
        let (cmd_tx, cmd_rx) = mpsc::channel(256);
        let (ctl_tx, ctl_rx) = mpsc::channel(4);
        let boot = now_us();
        let shared = Arc::new(Shared::new(
            config.users.clone(),
            config.plan.clone(),
            State::new(&config.plan, start_us),
            Clock::new(start_us, speed.factor()),
            cmd_tx,
            boot,
            ctl_tx,
        ));
        let gen = gen.map(|mut g: Generator| {
            g.set_start(start_us);
            g
        });
        let (wake, woken) = std::sync::mpsc::sync_channel::<()>(1);
        let reader = shared.clone();
        // The state reader (see `Unread`); it ends when the engine does (it holds `wake`).
        std::thread::Builder::new()
            .name("sim-state".into())
            .spawn(move || {
                while woken.recv().is_ok() {
                    drop(reader.state());
                }
            })
            .map_err(SimError::Thread)?;
        // Queue members logged in when the PBX started, in the PBX's own time.
        let engine = Engine::new(
            shared.clone(),
            cmd_rx,
            wake,
            replay,
            gen,
            start_us / 1_000_000,
        );
        tokio::spawn(engine.run());
        tokio::spawn(accept_loop(shared.clone(), listener, addr, ctl_rx));
        tracing::info!(%addr, "AMI simulator listening");
        Ok(SimHandle { shared, addr })
    }
}

fn bind(addr: SocketAddr) -> std::io::Result<TcpListener> {
    let sock = if addr.is_ipv4() {
        TcpSocket::new_v4()?
    } else {
        TcpSocket::new_v6()?
    };
    // A restart binds the same port again right away.
    sock.set_reuseaddr(true)?;
    sock.bind(addr)?;
    sock.listen(1024)
}

async fn accept_loop(
    shared: Arc<Shared>,
    listener: TcpListener,
    addr: SocketAddr,
    mut ctl: mpsc::Receiver<Ctl>,
) {
    let mut listener = Some(listener);
    loop {
        let Some(l) = listener.as_ref() else { return };
        tokio::select! {
            r = l.accept() => match r {
                Ok((sock, _)) => {
                    tokio::spawn(crate::session::serve(shared.clone(), sock));
                }
                Err(e) => {
                    // Out of file descriptors and the like: wait instead of spinning.
                    tracing::warn!(error = %e, "accept failed");
                    tokio::time::sleep(Duration::from_millis(50)).await;
                }
            },
            c = ctl.recv() => match c {
                Some(Ctl::Down(d, closed)) => {
                    // Closing the listening socket makes connects fail with "refused".
                    listener = None;
                    let _ = closed.send(());
                    tokio::select! {
                        _ = tokio::time::sleep(d) => {}
                        c = ctl.recv() => if !matches!(c, Some(Ctl::Down(..))) { return },
                    }
                    for _ in 0..100 {
                        match bind(addr) {
                            Ok(l) => { listener = Some(l); break; }
                            Err(_) => tokio::time::sleep(Duration::from_millis(20)).await,
                        }
                    }
                    if listener.is_none() {
                        tracing::error!(%addr, "could not listen again after the simulated restart");
                    }
                }
                Some(Ctl::Stop) | None => return,
            },
        }
    }
}

/// Control of a running simulator: its address, its faults, its counters.
///
/// Every fault switch takes effect on the next event written to each connection.
#[derive(Clone)]
pub struct SimHandle {
    shared: Arc<Shared>,
    addr: SocketAddr,
}

impl SimHandle {
    /// The address it listens on (with the real port when configured with port 0).
    pub fn addr(&self) -> SocketAddr {
        self.addr
    }

    /// Closes every connection now (no Logoff, no Shutdown: as if the network broke).
    pub fn drop_connections(&self) {
        Faults::bump(&self.shared.faults.drop_gen);
    }

    /// Closes each connection after it has been sent `n` events (counted per connection,
    /// from its login); `0` turns this off.
    pub fn drop_after_events(&self, n: u64) {
        self.shared.faults.drop_after.store(n, Ordering::Relaxed);
    }

    /// Stops sending (and answering) while `true`, keeping every socket open; new
    /// connections get no banner meanwhile.
    pub fn stall(&self, on: bool) {
        self.shared.faults.stall.send_replace(on);
    }

    /// Answers every Login with `Authentication failed` (and closes) while `true`.
    pub fn refuse_logins(&self, on: bool) {
        self.shared
            .faults
            .refuse_logins
            .store(on, Ordering::Relaxed);
    }

    /// Writes a few bytes of garbage (control bytes, invalid UTF-8, a line without a
    /// colon) after every `n` events; `0` turns this off.
    pub fn garbage_every(&self, n: u64) {
        self.shared.faults.garbage_every.store(n, Ordering::Relaxed);
    }

    /// Makes every current connection start a line that never ends (until the client
    /// closes the socket).
    pub fn endless_line(&self) {
        Faults::bump(&self.shared.faults.endless_gen);
    }

    /// Writes one byte at a time while `true`.
    pub fn dribble(&self, on: bool) {
        self.shared.faults.dribble.store(on, Ordering::Relaxed);
    }

    /// A PBX restart: every call hangs up, `Event: Shutdown` (`Restart: True`) goes to every
    /// client, every connection closes, connections are refused for `down_for`, then the
    /// PBX is back with a new uptime and the Uniqueid sequence started over. Returns when
    /// the PBX is down.
    pub async fn restart(&self, down_for: Duration) {
        self.shared.restart(down_for).await;
    }

    /// Stops the simulator: closes the listener and every connection.
    pub async fn shutdown(&self) {
        let _ = self.shared.ctl.send(Ctl::Stop).await;
        Faults::bump(&self.shared.faults.drop_gen);
        let _ = self.shared.cmd_tx.send(Cmd::Stop).await;
    }

    /// Connections open now.
    pub fn clients_connected(&self) -> u64 {
        self.shared.counters.connected.load(Ordering::Relaxed)
    }

    /// Successful logins so far.
    pub fn logins(&self) -> u64 {
        self.shared.counters.logins.load(Ordering::Relaxed)
    }

    /// Events written to clients so far (all connections together).
    pub fn events_sent(&self) -> u64 {
        self.shared.counters.events_sent.load(Ordering::Relaxed)
    }

    /// Channels up on the simulated PBX now.
    pub fn channels_up(&self) -> usize {
        self.shared.state().channel_count()
    }
}
