//! The writer: takes completed call records off the event path and into the database.
//!
//! ```text
//!  submit() ──▶ journal on disk (always first) ─────────────┐  read back only for what
//!      └──────▶ memory copy (bounded) ──▶ writer task ──batch──▶ Store::upsert_batch
//!                                           retry with backoff; segment deleted once committed
//! ```
//!
//! [`WriterHandle::submit`] takes a lock, appends the record to the journal (one `pwrite` to
//! the page cache) and keeps a copy in memory for the next batch: it never awaits and never
//! waits for the database. From the moment `submit` returns the record survives a crash of
//! the process; once the sync task has fsynced it (every `journal_sync_interval`), a power
//! loss too. The journal is the copy that counts; memory only saves reading it back. When
//! memory is full, records are in the journal only and the writer reads them back from it,
//! in order, before taking copies in memory again.
//!
//! Every record gets a sequence number; the database is written strictly in that order (so
//! a later version of a call always overwrites an earlier one), and "committed up to N" is
//! what decides when a journal segment may go.
//!
//! When the journal cannot be written (its disk full, `journal_max_bytes` reached, an I/O
//! error) durability is *suspended*: records are held in memory only, up to
//! `memory_records`; past that each one is lost, counted in [`Backlog::lost`] and logged.
//! The sync task retries the journal and, once it takes appends again, writes the records
//! held in memory to it first; then durability is restored.
//!
//! The writer task writes a batch when `batch_records` are waiting or the oldest has waited
//! `batch_interval`, in one transaction. A failed batch is retried, with a backoff doubling
//! from `retry_min` to `retry_max`, until the database takes it: the event path never
//! notices.

use std::collections::VecDeque;
use std::path::PathBuf;
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::{Duration, Instant, SystemTime};

use tokio::sync::{watch, Notify};
use tokio::task::JoinHandle;
use tokio::time::sleep_until;
use tracker::CallRecord;

use crate::journal::{
    bind_database, bound_database, create_segment, set_aside, sync_dir, CommittedFile, Entry,
    EntryReader, Log,
};
use crate::{Store, StoreError};

/// How the writer batches, buffers and retries.
#[derive(Debug, Clone)]
pub struct WriterConfig {
    /// Records kept in memory for batching (copies of journaled records; the only copy
    /// while the journal cannot be written). Past it, records wait in the journal alone.
    pub memory_records: usize,
    /// Directory of the on-disk journal (created if missing). One writer per directory.
    pub journal_dir: PathBuf,
    /// Records per transaction at most.
    pub batch_records: usize,
    /// Longest a record waits for its batch to fill.
    pub batch_interval: Duration,
    /// First retry delay after a failed write.
    pub retry_min: Duration,
    /// Longest retry delay.
    pub retry_max: Duration,
    /// How often journal appends are fsynced: a record submitted longer ago than this (and
    /// one fsync) survives a power loss. A process crash loses nothing submitted.
    pub journal_sync_interval: Duration,
    /// Most bytes the journal may take on disk (preallocated segments count in full). Past
    /// it, durability is suspended until the database has drained enough of it.
    pub journal_max_bytes: u64,
    /// At shutdown, how long to keep retrying a failing database before leaving the
    /// remaining records in the journal for the next start.
    pub shutdown_grace: Duration,
}

impl WriterConfig {
    /// Defaults: 10 000 records in memory, batches of 500 or 200 ms, retries from 100 ms to
    /// 5 s, journal fsync every 50 ms, a journal of 1 GiB at most, 10 s of grace at
    /// shutdown.
    pub fn new(journal_dir: impl Into<PathBuf>) -> WriterConfig {
        WriterConfig {
            memory_records: 10_000,
            journal_dir: journal_dir.into(),
            batch_records: 500,
            batch_interval: Duration::from_millis(200),
            retry_min: Duration::from_millis(100),
            retry_max: Duration::from_secs(5),
            journal_sync_interval: Duration::from_millis(50),
            journal_max_bytes: 1024 * 1024 * 1024,
            shutdown_grace: Duration::from_secs(10),
        }
    }
}

/// Whether a completed call survives a crash.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub enum Durability {
    /// Every record is in the journal before `submit` returns.
    #[default]
    Durable,
    /// The journal cannot be written: records are held in memory only (a crash loses
    /// them), and past `memory_records` they are lost (see [`Backlog::lost`]).
    Suspended {
        /// Why the journal cannot be written.
        reason: String,
    },
}

/// What is waiting to be written, for `/ready`, `/health` and `/metrics`.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Backlog {
    /// Records in memory (queued or in the batch being written).
    pub in_memory: usize,
    /// Records in the on-disk journal not yet in the database.
    pub in_journal: u64,
    /// Of the records in memory, those the journal lacks (a crash would lose them): not 0
    /// only while durability is suspended.
    pub not_journaled: usize,
    /// Bytes the journal takes on disk (against `journal_max_bytes`).
    pub journal_bytes: u64,
    /// Durable, or suspended (and why): `/ready` and a metric should show it.
    pub durability: Durability,
    /// How long the oldest waiting record has waited.
    pub oldest_age: Option<Duration>,
    /// The last database error, until a write succeeds again.
    pub last_error: Option<String>,
    /// Failed writes in a row (0 when the database is fine).
    pub consecutive_failures: u32,
    /// How long the last successful batch took.
    pub last_write_latency: Option<Duration>,
    /// Records written since start.
    pub written: u64,
    /// Records lost since start: the journal could not be written and memory was full.
    /// Each is logged; should stay 0.
    pub lost: u64,
    /// The last journal I/O error, if any.
    pub journal_error: Option<String>,
    /// Records set aside in `rejected.txt` in the journal directory: refused by the
    /// database for good (a constraint, an unstorable value), or journal entries that
    /// failed their checksum.
    pub rejected: u64,
}

impl Backlog {
    /// Records not yet in the database: those in the journal and those held in memory
    /// only (the other records in memory are copies of journaled ones).
    pub fn waiting(&self) -> u64 {
        self.in_journal + self.not_journaled as u64
    }
}

/// What [`WriterHandle::shutdown`] achieved.
#[derive(Debug, Clone, PartialEq)]
pub struct ShutdownReport {
    /// Records written since start.
    pub written: u64,
    /// Records left in the journal (database still failing at the end of the grace
    /// period); they are written on the next start.
    pub left_in_journal: u64,
    /// The database error that made it give up, if any.
    pub last_error: Option<String>,
}

/// The writer's entry point: [`Writer::start`].
#[derive(Debug)]
pub struct Writer;

impl Writer {
    /// Opens the journal (queueing any records a previous run left there, to be written
    /// first), and starts the writer and sync tasks on the current tokio runtime.
    ///
    /// Refuses a journal that belongs to another database and still holds records
    /// ([`StoreError::JournalOfAnotherDatabase`]): they must never go to the wrong one.
    pub fn start(store: Store, config: WriterConfig) -> Result<WriterHandle, StoreError> {
        let dir = config.journal_dir.clone();
        let journal_err = |source| StoreError::Journal {
            dir: dir.clone(),
            source,
        };
        let (mut log, scan) = Log::open(&dir, config.journal_max_bytes).map_err(journal_err)?;
        let legacy = has_legacy_segments(&dir);
        match bound_database(&dir) {
            Some(bound) if bound == store.url() => {}
            Some(bound) if scan.pending > 0 || legacy => {
                return Err(StoreError::JournalOfAnotherDatabase {
                    dir,
                    journal: bound,
                    database: store.url().to_string(),
                    pending: scan.pending,
                });
            }
            _ => bind_database(&dir, store.url()).map_err(journal_err)?,
        }
        let mut next_seq = scan.max_seq.max(scan.committed) + 1;
        let mut disk = VecDeque::new();
        if scan.pending > 0 {
            disk.push_back((scan.first, scan.last));
        }
        let legacy_from = next_seq;
        let (converted, legacy_rejected) =
            log.convert_legacy(&mut next_seq).map_err(journal_err)?;
        if converted > 0 {
            disk.push_back((legacy_from, next_seq - 1));
        }
        if let Some((path, size)) = log.wants_spare() {
            // A failure shows at the first append (durability suspended, with the reason).
            let file = create_segment(&dir, &path, size);
            log.install_spare(path, size, file);
        }
        let left = scan.pending + converted;
        if left > 0 {
            tracing::info!(
                records = left,
                dir = %dir.display(),
                "replaying call records left in the journal by a previous run"
            );
        }
        let (progress, _) = watch::channel(Progress {
            done: scan.committed,
            closed: false,
        });
        let shared = Arc::new(Shared {
            state: Mutex::new(State {
                memory: VecDeque::new(),
                inflight: 0,
                log,
                disk,
                next_seq,
                committed: scan.committed,
                in_log: left,
                unlogged: 0,
                log_failure: None,
                burst_lost: 0,
                flush_waiters: 0,
                stopping_since: None,
                closed: false,
                health: Backlog {
                    rejected: scan.rejected + legacy_rejected,
                    ..Backlog::default()
                },
            }),
            wake: Notify::new(),
            sync_wake: Notify::new(),
            progress,
            committed_file: CommittedFile::open(&dir),
            config,
        });
        let task = tokio::spawn(run(shared.clone(), store));
        tokio::spawn(sync_task(shared.clone()));
        Ok(WriterHandle {
            inner: Arc::new(HandleInner {
                shared,
                task: Mutex::new(Some(task)),
            }),
        })
    }
}

fn has_legacy_segments(dir: &std::path::Path) -> bool {
    std::fs::read_dir(dir).is_ok_and(|d| {
        d.filter_map(|e| e.ok())
            .any(|e| e.path().extension().is_some_and(|x| x == "jsonl"))
    })
}

/// The cheap, cloneable side of the writer that the event path holds. When the last clone
/// is dropped the writer finishes what it has and stops.
#[derive(Clone, Debug)]
pub struct WriterHandle {
    inner: Arc<HandleInner>,
}

#[derive(Debug)]
struct HandleInner {
    shared: Arc<Shared>,
    task: Mutex<Option<JoinHandle<ShutdownReport>>>,
}

impl Drop for HandleInner {
    fn drop(&mut self) {
        self.shared.stop();
    }
}

#[derive(Debug)]
struct Shared {
    state: Mutex<State>,
    /// Wakes the writer task: a batch may be ready, a flush or stop was asked.
    wake: Notify,
    /// Wakes the sync task: the spare segment was taken, or the journal failed.
    sync_wake: Notify,
    progress: watch::Sender<Progress>,
    committed_file: CommittedFile,
    config: WriterConfig,
}

/// Published after every commit, for `flush` to wait on.
#[derive(Debug, Clone, Copy, Default)]
struct Progress {
    /// Every record with a sequence number up to this is in the database.
    done: u64,
    /// The writer task has ended.
    closed: bool,
}

/// A record in memory.
#[derive(Debug)]
struct Held {
    seq: u64,
    record: CallRecord,
    at: Instant,
    /// In the journal too.
    logged: bool,
}

#[derive(Debug)]
struct State {
    /// In sequence order. The first `inflight` are in the batch being written; they leave
    /// only once committed.
    memory: VecDeque<Held>,
    inflight: usize,
    log: Log,
    /// Inclusive ranges of sequence numbers whose records are in the journal only (memory
    /// was full), oldest first; the writer reads them back from the journal. No record in
    /// memory has a number inside a range.
    disk: VecDeque<(u64, u64)>,
    /// The number the next record gets.
    next_seq: u64,
    /// Every record numbered up to this is in the database (or set aside).
    committed: u64,
    /// Journaled records not yet committed.
    in_log: u64,
    /// Records in memory the journal lacks; always the last ones of `memory`.
    unlogged: usize,
    /// Why the journal cannot be written (durability suspended); submit does not try it
    /// while this is set, the sync task does.
    log_failure: Option<String>,
    /// Records lost since durability was suspended (or since the last one was kept).
    burst_lost: u64,
    flush_waiters: usize,
    stopping_since: Option<Instant>,
    /// The writer task has ended: submissions are journaled and fsynced at once.
    closed: bool,
    health: Backlog,
}

impl Shared {
    fn lock(&self) -> MutexGuard<'_, State> {
        // A panic while holding the lock leaves counters, not broken invariants: go on.
        self.state.lock().unwrap_or_else(|e| e.into_inner())
    }

    fn stop(&self) {
        let mut st = self.lock();
        st.stopping_since.get_or_insert_with(Instant::now);
        drop(st);
        self.wake.notify_one();
    }

    fn publish(&self, st: &State) {
        let closed = st.closed;
        let done = st.committed;
        self.progress.send_replace(Progress { done, closed });
    }
}

impl State {
    /// The journal failed: durability is suspended until the sync task finds it writable.
    fn suspend(&mut self, reason: String) {
        if self.log_failure.is_none() {
            tracing::error!(error = %reason, "journal not writable: durability suspended; completed calls are held in memory only until it is");
        }
        self.health.journal_error = Some(reason.clone());
        self.log_failure = Some(reason);
    }

    fn lose(&mut self, id: &str) {
        self.health.lost += 1;
        self.burst_lost += 1;
        if self.burst_lost == 1 {
            let reason = self
                .log_failure
                .as_deref()
                .unwrap_or("journal not writable");
            tracing::error!(id, error = %reason, "call record lost: journal not writable and memory full; further losses are counted until one is kept again");
        }
    }

    fn end_burst(&mut self) {
        if self.burst_lost > 0 {
            tracing::error!(
                lost = self.burst_lost,
                total_lost = self.health.lost,
                "call records were lost while durability was suspended"
            );
            self.burst_lost = 0;
        }
    }

    fn push_disk(&mut self, seq: u64) -> bool {
        match self.disk.back_mut() {
            Some((_, last)) if *last + 1 == seq => {
                *last = seq;
                false
            }
            _ => {
                self.disk.push_back((seq, seq));
                true
            }
        }
    }

    /// Appends to the journal the records held in memory only, oldest first, at most
    /// `max` of them; clears the suspension once none is left and the journal takes
    /// appends. Returns whether records are still unjournaled and the journal took all it
    /// was given (so the caller may go on).
    fn relog(&mut self, max: usize) -> bool {
        let start = self.memory.len() - self.unlogged;
        let mut done = 0;
        for held in self.memory.iter_mut().skip(start) {
            if done == max {
                break;
            }
            if held.logged {
                continue;
            }
            if let Err(e) = self.log.append(held.seq, &held.record) {
                let reason = format!("cannot append to {}: {e}", self.log.dir().display());
                self.health.journal_error = Some(reason.clone());
                self.log_failure = Some(reason);
                return false;
            }
            held.logged = true;
            self.unlogged -= 1;
            self.in_log += 1;
            done += 1;
        }
        if self.unlogged == 0 && self.log_failure.is_some() && self.log.writable() {
            self.log_failure = None;
            self.end_burst();
            tracing::info!("journal writable again: durability restored");
        }
        self.unlogged > 0
    }
}

impl WriterHandle {
    /// Hands a completed call to the writer. Never waits for the database and never
    /// blocks: it appends one line to the journal file (and keeps a copy in memory).
    pub fn submit(&self, record: CallRecord) {
        let shared = &self.inner.shared;
        let config = &shared.config;
        let mut st = shared.lock();
        let seq = st.next_seq;
        let logged = st.log_failure.is_none() && {
            match st.log.append(seq, &record) {
                Ok(()) => true,
                Err(e) => {
                    let reason = format!("cannot append to {}: {e}", st.log.dir().display());
                    st.suspend(reason);
                    shared.sync_wake.notify_one();
                    false
                }
            }
        };
        if st.closed {
            // No task will write or fsync it: fsync now (only after shutdown).
            if logged {
                st.next_seq += 1;
                st.in_log += 1;
                for f in st.log.take_unsynced() {
                    let _ = f.sync_data();
                }
            } else {
                st.lose(&record.id);
            }
            return;
        }
        let room = st.memory.len() < config.memory_records;
        if !logged && !room {
            st.lose(&record.id);
            return;
        }
        st.next_seq += 1;
        if logged {
            st.in_log += 1;
        } else {
            st.unlogged += 1;
        }
        // A journaled record waits in the journal alone while older ones do (order), or
        // when memory is full; one the journal lacks must be in memory.
        let mut wake_for_disk = false;
        if room && (!logged || st.disk.is_empty()) {
            st.memory.push_back(Held {
                seq,
                record,
                at: Instant::now(),
                logged,
            });
        } else {
            wake_for_disk = st.push_disk(seq);
        }
        st.end_burst();
        // Wake the writer only when it has something new to decide: the first record
        // (start the batch timer), a full batch, or records to read back from the journal.
        let n = st.memory.len();
        let wake = wake_for_disk || n == 1 || n == config.batch_records;
        let spare = std::mem::take(&mut st.log.spare_taken);
        drop(st);
        if spare {
            shared.sync_wake.notify_one();
        }
        if wake {
            shared.wake.notify_one();
        }
    }

    /// What is waiting to be written, and how the database and the journal are doing.
    pub fn backlog(&self) -> Backlog {
        let st = self.inner.shared.lock();
        let now = Instant::now();
        let memory_age = st.memory.front().map(|h| now.duration_since(h.at));
        let journal_age = st
            .log
            .oldest()
            .filter(|_| !st.disk.is_empty())
            .map(|at| SystemTime::now().duration_since(at).unwrap_or_default());
        Backlog {
            in_memory: st.memory.len(),
            in_journal: st.in_log,
            not_journaled: st.unlogged,
            journal_bytes: st.log.allocated(),
            durability: match &st.log_failure {
                None => Durability::Durable,
                Some(reason) => Durability::Suspended {
                    reason: reason.clone(),
                },
            },
            oldest_age: memory_age.max(journal_age),
            ..st.health.clone()
        }
    }

    /// Returns once every record submitted before the call is in the database (or the
    /// writer has stopped). Waits as long as the database is away.
    pub async fn flush(&self) {
        let shared = &self.inner.shared;
        let mut progress = shared.progress.subscribe();
        let target = {
            let mut st = shared.lock();
            st.flush_waiters += 1;
            st.next_seq - 1
        };
        // Decrements the count even if this future is dropped half way.
        struct Waiting<'a>(&'a Shared);
        impl Drop for Waiting<'_> {
            fn drop(&mut self) {
                self.0.lock().flush_waiters -= 1;
            }
        }
        let _waiting = Waiting(shared);
        shared.wake.notify_one();
        let _ = progress.wait_for(|p| p.done >= target || p.closed).await;
    }

    /// Writes everything queued and stops the writer. If the database keeps failing for
    /// `shutdown_grace`, the records stay in the journal for the next start (those held in
    /// memory only are journaled now, if the journal takes them). Submissions after this
    /// are journaled and fsynced at once.
    pub async fn shutdown(self) -> ShutdownReport {
        let shared = self.inner.shared.clone();
        shared.stop();
        let task = self
            .inner
            .task
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .take();
        let report = |st: &State, last_error| ShutdownReport {
            written: st.health.written,
            left_in_journal: st.in_log,
            last_error,
        };
        match task {
            Some(task) => match task.await {
                Ok(r) => r,
                Err(e) => report(&shared.lock(), Some(format!("writer task failed: {e}"))),
            },
            None => {
                // Another clone is shutting down: wait for it.
                let mut progress = shared.progress.subscribe();
                let _ = progress.wait_for(|p| p.closed).await;
                let st = shared.lock();
                report(&st, st.health.last_error.clone())
            }
        }
    }
}

/// What the writer task does next.
enum Next {
    /// The first records of memory (a copy: they stay until committed).
    Memory(Vec<CallRecord>, u64),
    /// Records numbered in this range, from the journal.
    Journal(u64, u64),
    Wait(Option<Instant>),
    Exit,
}

/// Where the writer reads the journal back.
struct Cursor {
    path: PathBuf,
    pos: u64,
    /// An entry read past the range being written, for the next range.
    peeked: Option<(u64, Box<CallRecord>)>,
}

/// The writer task.
async fn run(shared: Arc<Shared>, store: Store) -> ShutdownReport {
    let mut cursor: Option<Cursor> = None;
    let gave_up = loop {
        match decide(&shared) {
            Next::Memory(batch, last) => {
                if write(&shared, &store, &batch).await.is_err() {
                    break true;
                }
                let mut st = shared.lock();
                let n = std::mem::take(&mut st.inflight);
                for held in st.memory.drain(..n).collect::<Vec<_>>() {
                    if held.logged {
                        st.in_log = st.in_log.saturating_sub(1);
                    } else {
                        st.unlogged -= 1;
                    }
                }
                st.health.written += n as u64;
                commit(&shared, st, last);
            }
            Next::Journal(from, to) => match read_journal(&shared, &mut cursor, from, to).await {
                Ok(Some((records, through))) => {
                    if write(&shared, &store, &records).await.is_err() {
                        break true;
                    }
                    let mut st = shared.lock();
                    st.in_log = st.in_log.saturating_sub(records.len() as u64);
                    st.health.written += records.len() as u64;
                    if let Some(front) = st.disk.front_mut() {
                        front.0 = through + 1;
                        if front.0 > front.1 {
                            st.disk.pop_front();
                        }
                    }
                    if st.disk.is_empty() {
                        // Recount: an entry that failed its checksum was counted when
                        // appended.
                        st.in_log = st.memory.iter().filter(|h| h.logged).count() as u64;
                        cursor = None;
                    }
                    commit(&shared, st, through);
                }
                Ok(None) => {}
                Err(()) => break true,
            },
            Next::Wait(deadline) => {
                let deadline = deadline.map(tokio::time::Instant::from_std);
                tokio::select! {
                    _ = shared.wake.notified() => {}
                    _ = async { match deadline { Some(d) => sleep_until(d).await, None => std::future::pending().await } } => {}
                }
            }
            Next::Exit => break false,
        }
    };
    // Stopping. Records held in memory only go to the journal now if it takes them; the
    // journaled ones are already there, in order.
    let mut st = shared.lock();
    st.inflight = 0;
    if gave_up && st.unlogged > 0 {
        st.relog(usize::MAX);
        let left = st.unlogged;
        if left > 0 {
            st.health.lost += left as u64;
            tracing::error!(records = left, error = ?st.log_failure, "cannot journal call records at shutdown: they are lost");
        }
    }
    st.end_burst();
    st.memory.clear();
    st.unlogged = 0;
    let clean = !gave_up && st.in_log == 0;
    let gone = if clean {
        st.log.remove_all()
    } else {
        Vec::new()
    };
    let files = st.log.take_unsynced();
    st.closed = true;
    shared.publish(&st);
    let report = ShutdownReport {
        written: st.health.written,
        left_in_journal: st.in_log,
        last_error: st.health.last_error.clone(),
    };
    let dir = st.log.dir().to_path_buf();
    drop(st);
    shared.sync_wake.notify_one();
    for f in files {
        let _ = f.sync_data();
    }
    for path in gone {
        let _ = std::fs::remove_file(path);
    }
    sync_dir(&dir);
    if report.left_in_journal > 0 {
        tracing::warn!(
            records = report.left_in_journal,
            dir = %dir.display(),
            "call records left in the journal; they are written at the next start"
        );
    }
    report
}

/// After a commit of every record numbered up to `through`: deletes the journal segments
/// that holds nothing else, keeps the `committed` hint, wakes `flush`.
fn commit(shared: &Shared, mut st: MutexGuard<'_, State>, through: u64) {
    st.committed = st.committed.max(through);
    let committed = st.committed;
    let gone = st.log.trim(committed);
    shared.publish(&st);
    drop(st);
    shared.committed_file.store(committed);
    for path in gone {
        if let Err(e) = std::fs::remove_file(&path) {
            shared.lock().health.journal_error =
                Some(format!("cannot delete {}: {e}", path.display()));
        }
    }
}

/// Picks the next step under the lock (no I/O here).
fn decide(shared: &Shared) -> Next {
    let config = &shared.config;
    let mut st = shared.lock();
    let urgent = st.stopping_since.is_some() || st.flush_waiters > 0;
    let disk = st.disk.front().copied();
    let memory = st.memory.front().map(|h| (h.seq, h.at));
    if let Some((from, to)) = disk {
        if memory.is_none_or(|(seq, _)| from < seq) {
            return Next::Journal(from, to);
        }
    }
    if let Some((_, oldest)) = memory {
        let limit = config.batch_records.max(1);
        let n = st
            .memory
            .iter()
            .take(limit)
            .take_while(|h| disk.is_none_or(|(from, _)| h.seq < from))
            .count();
        let due = oldest + config.batch_interval;
        let ready = n == limit || n < st.memory.len() || Instant::now() >= due || urgent;
        if !ready {
            return Next::Wait(Some(due));
        }
        st.inflight = n;
        let last = st.memory[n - 1].seq;
        let batch = st.memory.iter().take(n).map(|h| h.record.clone()).collect();
        return Next::Memory(batch, last);
    }
    if st.stopping_since.is_some() {
        return Next::Exit;
    }
    Next::Wait(None)
}

/// Reads the next records numbered `from..=to` back from the journal (from one segment,
/// at most a batch). Returns them and the number up to which the range is covered, or
/// `None` after a read error (backed off). `Err` means "stopping and the journal cannot
/// be read".
async fn read_journal(
    shared: &Shared,
    cursor: &mut Option<Cursor>,
    from: u64,
    to: u64,
) -> Result<Option<(Vec<CallRecord>, u64)>, ()> {
    let located = shared.lock().log.locate(from);
    let Some((path, limit, earlier_run, seg_last)) = located else {
        // Nothing numbered that high is in the journal any more (entries that failed
        // their checksum were set aside and counted): the range is done.
        return Ok(Some((Vec::new(), to)));
    };
    let mut cur = match cursor.take() {
        Some(c) if c.path == path => c,
        _ => Cursor {
            path: path.clone(),
            pos: 0,
            peeked: None,
        },
    };
    let max = shared.config.batch_records.max(1);
    let dir = shared.config.journal_dir.clone();
    let read = tokio::task::spawn_blocking(move || {
        let mut reader = EntryReader::open(&cur.path, cur.pos, limit)?;
        let mut records = Vec::new();
        let mut through = from - 1;
        let mut bad = 0u64;
        let mut exhausted = false;
        while records.len() < max {
            let entry = match cur.peeked.take() {
                Some((seq, record)) => Entry::Record { seq, record },
                None => match reader.next()? {
                    Some(e) => e,
                    None => {
                        exhausted = true;
                        break;
                    }
                },
            };
            match entry {
                Entry::Record { seq, .. } if seq < from => {}
                Entry::Record { seq, record } if seq > to => {
                    // Entries are in order: nothing else of the range is left to find.
                    through = to;
                    cur.peeked = Some((seq, record));
                    break;
                }
                Entry::Record { seq, record } => {
                    records.push(*record);
                    through = seq;
                }
                Entry::Bad { text, reason } => {
                    if !earlier_run {
                        set_aside(&dir, &cur.path, &text, &reason);
                        bad += 1;
                    }
                }
            }
        }
        cur.pos = reader.pos;
        if exhausted {
            // Everything this segment held up to `seg_last` lay before `limit`.
            through = through.max(seg_last.min(to));
        }
        Ok::<_, std::io::Error>((cur, records, through, bad))
    })
    .await
    .map_err(std::io::Error::other)
    .and_then(|r| r);
    match read {
        Ok((cur, records, through, bad)) => {
            *cursor = Some(cur);
            if bad > 0 {
                shared.lock().health.rejected += bad;
            }
            Ok(Some((records, through)))
        }
        Err(e) => {
            let msg = format!("cannot read journal segment {}: {e}", path.display());
            tracing::error!(error = %msg, "journal unreadable; retrying");
            let stopping = {
                let mut st = shared.lock();
                st.health.journal_error = Some(msg);
                st.stopping_since.is_some()
            };
            if stopping {
                return Err(());
            }
            tokio::time::sleep(shared.config.retry_max).await;
            Ok(None)
        }
    }
}

/// fsyncs the journal every `journal_sync_interval` (the durability bound for a power
/// loss), keeps a spare segment preallocated, and while durability is suspended retries
/// the journal. Runs beside the writer task so that a database outage, which keeps the
/// writer in its retry loop, delays none of it.
async fn sync_task(shared: Arc<Shared>) {
    let period = shared
        .config
        .journal_sync_interval
        .max(Duration::from_millis(1));
    let mut tick = tokio::time::interval(period);
    tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    loop {
        tokio::select! {
            _ = tick.tick() => {}
            _ = shared.sync_wake.notified() => {}
        }
        let (files, spare, dir) = {
            let mut st = shared.lock();
            if st.closed {
                return;
            }
            let files = st.log.take_unsynced();
            (files, st.log.wants_spare(), st.log.dir().to_path_buf())
        };
        let idle = files.is_empty() && spare.is_none();
        let work = move || {
            let synced = files.iter().try_for_each(|f| f.sync_data());
            let spare = spare.map(|(path, size)| {
                let file = create_segment(&dir, &path, size);
                (path, size, file)
            });
            (synced, spare)
        };
        let done = if idle {
            Ok(work())
        } else {
            tokio::task::spawn_blocking(work).await
        };
        let Ok((synced, spare)) = done else { continue };
        let retry = {
            let mut st = shared.lock();
            if let Err(e) = synced {
                // The kernel may have dropped the pages it could not write: what this fsync
                // covered is not known to be on disk.
                let reason = format!("journal fsync failed: {e}");
                st.suspend(reason);
            }
            if let Some((path, size, file)) = spare {
                if let Err(e) = &file {
                    st.health.journal_error = Some(format!(
                        "cannot preallocate journal segment {}: {e}",
                        path.display()
                    ));
                }
                st.log.install_spare(path, size, file);
            }
            st.log_failure.is_some()
        };
        if retry {
            // In chunks, so submit never waits long for the lock.
            loop {
                let more = shared.lock().relog(256);
                if !more {
                    break;
                }
                tokio::task::yield_now().await;
            }
        }
    }
}

/// Writes a batch in one transaction, retrying until it succeeds. `Err` only when
/// stopping and the database has failed for longer than the grace period.
///
/// A batch the database *refuses* (see [`StoreError::is_record_refused`]) is written record
/// by record instead, and the records refused on their own are set aside in `rejected.txt`:
/// one bad record must not stop every call behind it.
async fn write(shared: &Shared, store: &Store, batch: &[CallRecord]) -> Result<(), ()> {
    if batch.is_empty() {
        return Ok(());
    }
    let config = &shared.config;
    let mut backoff = config.retry_min;
    let mut set_aside = std::collections::HashSet::new();
    loop {
        let started = Instant::now();
        let result = match store.upsert_batch(batch).await {
            Err(e) if e.is_record_refused() => {
                one_by_one(shared, store, batch, &mut set_aside).await
            }
            other => other,
        };
        match result {
            Ok(()) => {
                let mut st = shared.lock();
                if st.health.consecutive_failures > 0 {
                    tracing::info!(
                        failures = st.health.consecutive_failures,
                        "database writes resumed"
                    );
                }
                st.health.consecutive_failures = 0;
                st.health.last_error = None;
                st.health.last_write_latency = Some(started.elapsed());
                return Ok(());
            }
            Err(e) => {
                let mut st = shared.lock();
                st.health.consecutive_failures += 1;
                let failures = st.health.consecutive_failures;
                st.health.last_error = Some(e.to_string());
                if failures == 1 || failures.is_multiple_of(20) {
                    tracing::warn!(error = %e, failures, retry_in_ms = backoff.as_millis() as u64, records = batch.len(), "writing call records failed; buffering and retrying");
                }
                if let Some(since) = st.stopping_since {
                    if since.elapsed() >= config.shutdown_grace {
                        return Err(());
                    }
                }
            }
        }
        tokio::time::sleep(backoff).await;
        backoff = (backoff * 2).min(config.retry_max);
    }
}

/// Writes each record of a refused batch on its own; sets aside those refused alone.
/// `set_aside` remembers them across retries so each is set aside once.
async fn one_by_one(
    shared: &Shared,
    store: &Store,
    batch: &[CallRecord],
    set_aside: &mut std::collections::HashSet<usize>,
) -> Result<(), StoreError> {
    for (i, record) in batch.iter().enumerate() {
        if set_aside.contains(&i) {
            continue;
        }
        match store.upsert(record).await {
            Ok(()) => {}
            Err(e) if e.is_record_refused() => {
                let dir = shared.config.journal_dir.clone();
                let line = serde_json::json!({"error": e.to_string(), "record": record});
                let written = tokio::task::spawn_blocking(move || {
                    use std::io::Write;
                    let mut f = std::fs::OpenOptions::new()
                        .create(true)
                        .append(true)
                        .open(dir.join("rejected.txt"))?;
                    f.write_all(format!("{line}\n").as_bytes())?;
                    f.sync_data()
                })
                .await
                .map_err(std::io::Error::other)
                .and_then(|r| r);
                if let Err(io) = written {
                    // Without a copy on disk, setting it aside would lose it: keep retrying.
                    let dir = shared.config.journal_dir.display().to_string();
                    shared.lock().health.journal_error =
                        Some(format!("cannot write {dir}/rejected.txt: {io}"));
                    return Err(e);
                }
                tracing::error!(id = %record.id, error = %e, "the database refuses this call record; set aside in rejected.txt");
                set_aside.insert(i);
                shared.lock().health.rejected += 1;
            }
            Err(e) => return Err(e),
        }
    }
    Ok(())
}
