//! What every task of one simulator shares: the state the lists answer from (and the
//! batches still to be read into it), the clock, the faults, and the way to the engine.

use crate::clock::Clock;
use crate::cmd::Cmd;
use crate::faults::{Counters, Faults};
use crate::plan::Plan;
use crate::state::State;
use crate::wire::now_us;
use bytes::Bytes;
use std::collections::VecDeque;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Mutex, MutexGuard};
use std::time::Duration;
use tokio::sync::{mpsc, oneshot};

/// What the listener task is told.
pub(crate) enum Ctl {
    /// Close the listener for this long; the sender learns when it is closed.
    Down(Duration, oneshot::Sender<()>),
    Stop,
}

/// What every task of one simulator shares.
pub(crate) struct Shared {
    pub(crate) users: Vec<(String, String)>,
    pub(crate) plan: Plan,
    /// Read through [`Shared::state`] only: events sent may still wait in `unread`.
    state: Mutex<State>,
    /// Batches handed to the sessions whose effect on `state` is not read yet, oldest first.
    unread: Mutex<VecDeque<Unread>>,
    clock: Mutex<Clock>,
    pub(crate) faults: Faults,
    pub(crate) counters: Counters,
    pub(crate) cmd_tx: mpsc::Sender<Cmd>,
    boot: AtomicU64,
    pub(crate) ctl: mpsc::Sender<Ctl>,
    /// Bumped to close every session once its queued events are written (restart).
    pub(crate) close_gen: tokio::sync::watch::Sender<u64>,
}

/// Events sent whose effect on the state is still to be read, in the order they were sent.
///
/// At full speed reading each event into the state is about as much work as producing it,
/// so the engine hands the batch to the state reader (a thread of its own) and goes on
/// producing. Whoever looks at the state first reads what is left (see [`Shared::state`]),
/// so a list action still answers from every event sent before it.
pub(crate) struct Unread {
    pub(crate) bytes: Bytes,
    pub(crate) ops: Vec<StateOp>,
}

/// One step of reading a batch into the state.
pub(crate) enum StateOp {
    /// Read the event at this byte range of the batch.
    Read(u32, u32),
    /// Read this message (not sent: a list item found inside a recording).
    Message(Bytes),
    /// An event that changes nothing the lists report happened at this time.
    Time(u64),
}

impl StateOp {
    /// Reads this step into the state; `batch` is the batch the byte ranges refer to.
    pub(crate) fn read_into(&self, batch: &[u8], st: &mut State) {
        match self {
            StateOp::Read(a, b) => st.apply_bytes(&batch[*a as usize..*b as usize]),
            StateOp::Message(m) => st.apply_bytes(m),
            StateOp::Time(t) => st.last_ts = *t,
        }
    }
}

impl Unread {
    fn read_into(&self, st: &mut State) {
        for op in &self.ops {
            op.read_into(&self.bytes, st);
        }
    }
}

/// Batches allowed to wait for the state reader before the engine reads them itself: a
/// reader that falls behind slows the engine down instead of piling batches up.
const MAX_UNREAD: usize = 4;

impl Shared {
    #[allow(clippy::too_many_arguments)]
    pub(crate) fn new(
        users: Vec<(String, String)>,
        plan: Plan,
        state: State,
        clock: Clock,
        cmd_tx: mpsc::Sender<Cmd>,
        boot_us: u64,
        ctl: mpsc::Sender<Ctl>,
    ) -> Shared {
        Shared {
            users,
            plan,
            state: Mutex::new(state),
            unread: Mutex::new(VecDeque::new()),
            clock: Mutex::new(clock),
            faults: Faults::default(),
            counters: Counters::default(),
            cmd_tx,
            boot: AtomicU64::new(boot_us),
            ctl,
            close_gen: tokio::sync::watch::channel(0).0,
        }
    }

    /// The state, with every event sent so far read into it.
    pub(crate) fn state(&self) -> MutexGuard<'_, State> {
        let mut st = self.state.lock().unwrap_or_else(|p| p.into_inner());
        // Batches are taken off the queue only under the state's lock, so they are read in
        // the order they were sent, whoever reads them.
        loop {
            let next = self
                .unread
                .lock()
                .unwrap_or_else(|p| p.into_inner())
                .pop_front();
            match next {
                Some(u) => u.read_into(&mut st),
                None => return st,
            }
        }
    }

    /// Queues a batch sent for the state reader; false when the queue is full and the
    /// caller should read it now (`drop(shared.state())`).
    pub(crate) fn queue_unread(&self, u: Unread) -> bool {
        let mut q = self.unread.lock().unwrap_or_else(|p| p.into_inner());
        q.push_back(u);
        q.len() <= MAX_UNREAD
    }

    pub(crate) fn clock(&self) -> MutexGuard<'_, Clock> {
        self.clock.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// When the PBX (re)started, wall clock µs.
    pub(crate) fn boot_us(&self) -> u64 {
        self.boot.load(Ordering::Relaxed)
    }

    /// A PBX restart: hangups and `Shutdown` to every client, close every connection,
    /// refuse connections for `down_for`, then come back with a new uptime and the Uniqueid
    /// sequence started over.
    pub(crate) async fn restart(&self, down_for: Duration) {
        let (tx, rx) = oneshot::channel();
        if self.cmd_tx.send(Cmd::Restart(tx)).await.is_ok() {
            let _ = rx.await;
        }
        Faults::bump(&self.close_gen);
        let (tx, rx) = oneshot::channel();
        if self.ctl.send(Ctl::Down(down_for, tx)).await.is_ok() {
            let _ = rx.await;
        }
        self.boot
            .store(now_us() + down_for.as_micros() as u64, Ordering::Relaxed);
    }
}
