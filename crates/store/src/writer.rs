//! The writer: takes completed call records off the event path and into the database.
//!
//! ```text
//!  submit() ──▶ memory queue (bounded) ──┐
//!      │  full, or journal not empty     ├──▶ writer task ──batch──▶ Store::upsert_batch
//!      └──────▶ journal on disk ─────────┘      retry with backoff while the database is away
//! ```
//!
//! [`WriterHandle::submit`] takes a lock for a few instructions and returns: it never awaits
//! and never waits for the database. While the memory queue has room and the journal is
//! empty, a record goes to memory; otherwise it is appended to the journal (one `write` to
//! the page cache; fsync happens in the writer task, in batches). Order is first in, first
//! out across both: everything in memory is older than everything in the journal, the writer
//! drains memory first, and records go to memory again only once the journal is empty. So
//! a later version of a call always overwrites an earlier one.
//!
//! The writer task writes a batch when `batch_records` are waiting or the oldest has waited
//! `batch_interval`, in one transaction. A failed batch is retried, with a backoff doubling
//! from `retry_min` to `retry_max`, until the database takes it. Meanwhile submissions pile
//! up in memory and then in the journal: the event path never notices.

use std::collections::VecDeque;
use std::path::PathBuf;
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::{Duration, Instant, SystemTime};

use tokio::sync::{watch, Notify};
use tokio::task::JoinHandle;
use tokio::time::sleep_until;
use tracker::CallRecord;

use crate::journal::{sync_dir, Journal, Line, SegmentReader};
use crate::{Store, StoreError};

/// How the writer batches, buffers and retries.
#[derive(Debug, Clone)]
pub struct WriterConfig {
    /// Records held in memory before spilling to the journal (0: always journal).
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
    /// How often journal appends are fsynced.
    pub journal_sync_interval: Duration,
    /// At shutdown, how long to keep retrying a failing database before leaving the
    /// remaining records in the journal for the next start.
    pub shutdown_grace: Duration,
}

impl WriterConfig {
    /// Defaults: 10 000 records in memory, batches of 500 or 200 ms, retries from 100 ms to
    /// 5 s, journal fsync every 50 ms, 10 s of grace at shutdown.
    pub fn new(journal_dir: impl Into<PathBuf>) -> WriterConfig {
        WriterConfig {
            memory_records: 10_000,
            journal_dir: journal_dir.into(),
            batch_records: 500,
            batch_interval: Duration::from_millis(200),
            retry_min: Duration::from_millis(100),
            retry_max: Duration::from_secs(5),
            journal_sync_interval: Duration::from_millis(50),
            shutdown_grace: Duration::from_secs(10),
        }
    }
}

/// What is waiting to be written, for `/health` and `/metrics`.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Backlog {
    /// Records in memory (queued or in the batch being written).
    pub in_memory: usize,
    /// Records in the on-disk journal.
    pub in_journal: u64,
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
    /// Records that could be neither queued nor journaled (journal directory unwritable
    /// while memory was full). Should stay 0; see `journal_error`.
    pub dropped: u64,
    /// The last journal I/O error, if any.
    pub journal_error: Option<String>,
    /// Records the database refused for good (a constraint, an unstorable value), set
    /// aside in `rejected.txt` in the journal directory so they do not hold up the queue.
    pub rejected: u64,
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
    /// first), and starts the writer task on the current tokio runtime.
    pub fn start(store: Store, config: WriterConfig) -> Result<WriterHandle, StoreError> {
        let journal = Journal::open(&config.journal_dir).map_err(|source| StoreError::Journal {
            dir: config.journal_dir.clone(),
            source,
        })?;
        let left = journal.pending();
        if left > 0 {
            tracing::info!(
                records = left,
                dir = %config.journal_dir.display(),
                "replaying call records left in the journal by a previous run"
            );
        }
        let (progress, _) = watch::channel(Progress::default());
        let shared = Arc::new(Shared {
            state: Mutex::new(State {
                memory: VecDeque::new(),
                inflight: 0,
                inflight_since: None,
                journal,
                submitted: left,
                done: 0,
                flush_waiters: 0,
                stopping_since: None,
                closed: false,
                health: Backlog::default(),
            }),
            wake: Notify::new(),
            progress,
            config,
        });
        let task = tokio::spawn(run(shared.clone(), store));
        Ok(WriterHandle {
            inner: Arc::new(HandleInner {
                shared,
                task: Mutex::new(Some(task)),
            }),
        })
    }
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
    progress: watch::Sender<Progress>,
    config: WriterConfig,
}

/// Published after every commit, for `flush` to wait on.
#[derive(Debug, Clone, Copy, Default)]
struct Progress {
    /// Records (in submission order) that are in the database.
    done: u64,
    /// The writer task has ended.
    closed: bool,
}

#[derive(Debug)]
struct State {
    memory: VecDeque<(CallRecord, Instant)>,
    /// Records taken from `memory` into the batch being written.
    inflight: usize,
    inflight_since: Option<Instant>,
    journal: Journal,
    /// Records accepted so far (journal replay included), in order.
    submitted: u64,
    /// Of those, how many are in the database (the first `done` of them: FIFO).
    done: u64,
    flush_waiters: usize,
    stopping_since: Option<Instant>,
    /// The task has ended: submissions go to the journal, fsynced at once.
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
        let done = st.done;
        self.progress.send_replace(Progress { done, closed });
    }
}

impl WriterHandle {
    /// Hands a completed call to the writer. Never waits for the database and never
    /// blocks: at worst it appends one line to the journal file.
    pub fn submit(&self, record: CallRecord) {
        let shared = &self.inner.shared;
        let config = &shared.config;
        let mut st = shared.lock();
        if !st.closed && st.journal.is_empty() && st.memory.len() < config.memory_records {
            st.memory.push_back((record, Instant::now()));
            st.submitted += 1;
            // Wake the writer only when it has something new to decide: the first record
            // (start the batch timer) or a full batch.
            let wake = st.memory.len() == 1 || st.memory.len() == config.batch_records;
            drop(st);
            if wake {
                shared.wake.notify_one();
            }
            return;
        }
        let was_empty = st.journal.is_empty();
        match st.journal.append(&record) {
            Ok(()) => {
                st.submitted += 1;
                if st.closed {
                    // No writer task will fsync it: do it now (only after shutdown).
                    for f in st.journal.take_unsynced().into_iter().flatten() {
                        let _ = f.sync_data();
                    }
                    return;
                }
                let head = st.journal.head_records() as usize;
                drop(st);
                if was_empty || head == config.batch_records {
                    shared.wake.notify_one();
                }
            }
            Err(e) => {
                st.health.dropped += 1;
                let msg = format!("cannot append to {}: {e}", st.journal.dir().display());
                tracing::error!(id = %record.id, error = %msg, "call record lost: memory queue full and journal not writable");
                st.health.journal_error = Some(msg);
            }
        }
    }

    /// What is waiting to be written, and how the database is doing.
    pub fn backlog(&self) -> Backlog {
        let st = self.inner.shared.lock();
        let now = Instant::now();
        let memory_age = st
            .inflight_since
            .or(st.memory.front().map(|(_, at)| *at))
            .map(|at| now.duration_since(at));
        let journal_age = st
            .journal
            .oldest()
            .map(|at| SystemTime::now().duration_since(at).unwrap_or_default());
        Backlog {
            in_memory: st.memory.len() + st.inflight,
            in_journal: st.journal.pending(),
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
            st.submitted
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

    /// Writes everything queued (memory and journal) and stops the writer. If the database
    /// keeps failing for `shutdown_grace`, what is still in memory goes to the journal
    /// (fsynced) for the next start, so nothing is lost either way. Submissions after this
    /// go straight to the journal.
    pub async fn shutdown(self) -> ShutdownReport {
        let shared = self.inner.shared.clone();
        shared.stop();
        let task = self
            .inner
            .task
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .take();
        match task {
            Some(task) => match task.await {
                Ok(report) => report,
                Err(e) => ShutdownReport {
                    written: shared.lock().health.written,
                    left_in_journal: shared.lock().journal.pending(),
                    last_error: Some(format!("writer task failed: {e}")),
                },
            },
            None => {
                // Another clone is shutting down: wait for it.
                let mut progress = shared.progress.subscribe();
                let _ = progress.wait_for(|p| p.closed).await;
                let st = shared.lock();
                ShutdownReport {
                    written: st.health.written,
                    left_in_journal: st.journal.pending(),
                    last_error: st.health.last_error.clone(),
                }
            }
        }
    }
}

/// What the writer task does next.
enum Next {
    Memory(Vec<CallRecord>),
    Journal,
    Wait(Option<Instant>),
    Exit,
}

/// The writer task.
async fn run(shared: Arc<Shared>, store: Store) -> ShutdownReport {
    let config = shared.config.clone();
    let mut reader: Option<SegmentReader> = None;
    let mut sync_tick = tokio::time::interval(config.journal_sync_interval);
    sync_tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    let gave_up = loop {
        let next = decide(&shared, &config);
        match next {
            Next::Memory(batch) => {
                if let Err(()) = write(&shared, &store, &batch).await {
                    break Some(batch);
                }
                let mut st = shared.lock();
                st.inflight = 0;
                st.inflight_since = None;
                st.done += batch.len() as u64;
                st.health.written += batch.len() as u64;
                shared.publish(&st);
            }
            Next::Journal => match drain_journal(&shared, &store, &config, &mut reader).await {
                Ok(()) => {}
                Err(()) => break Some(Vec::new()),
            },
            Next::Wait(deadline) => {
                let deadline = deadline.map(tokio::time::Instant::from_std);
                tokio::select! {
                    _ = shared.wake.notified() => {}
                    _ = sync_tick.tick() => sync_journal(&shared).await,
                    _ = async { match deadline { Some(d) => sleep_until(d).await, None => std::future::pending().await } } => {}
                }
            }
            Next::Exit => break None,
        }
    };
    // Stopping. Whatever is still in memory (the database gave up on us) goes to the
    // journal, ahead of what is already there.
    let mut st = shared.lock();
    if let Some(mut batch) = gave_up {
        batch.extend(st.memory.drain(..).map(|(r, _)| r));
        st.inflight = 0;
        st.inflight_since = None;
        if let Err(e) = st.journal.prepend(&batch) {
            st.health.dropped += batch.len() as u64;
            tracing::error!(records = batch.len(), error = %e, "cannot journal call records at shutdown: they are lost");
        }
    }
    st.journal.seal_head();
    let files = st.journal.take_unsynced();
    st.closed = true;
    shared.publish(&st);
    let report = ShutdownReport {
        written: st.health.written,
        left_in_journal: st.journal.pending(),
        last_error: st.health.last_error.clone(),
    };
    let dir = st.journal.dir().to_path_buf();
    drop(st);
    for f in files.into_iter().flatten() {
        let _ = f.sync_data();
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

/// Picks the next step under the lock (no I/O here).
fn decide(shared: &Shared, config: &WriterConfig) -> Next {
    let mut st = shared.lock();
    let urgent = st.stopping_since.is_some() || st.flush_waiters > 0;
    if let Some(oldest) = st.memory.front().map(|(_, at)| *at) {
        let due = oldest + config.batch_interval;
        let ready = st.memory.len() >= config.batch_records
            || Instant::now() >= due
            || urgent
            || !st.journal.is_empty();
        if !ready {
            return Next::Wait(Some(due));
        }
        let n = st.memory.len().min(config.batch_records.max(1));
        st.inflight = n;
        st.inflight_since = Some(oldest);
        return Next::Memory(st.memory.drain(..n).map(|(r, _)| r).collect());
    }
    if st.journal.front().is_some() {
        return Next::Journal;
    }
    if st.journal.head_records() > 0 {
        let since = st.journal.head_since().unwrap_or(SystemTime::now());
        let waited = SystemTime::now().duration_since(since).unwrap_or_default();
        if st.journal.head_records() as usize >= config.batch_records
            || waited >= config.batch_interval
            || urgent
        {
            st.journal.seal_head();
            return Next::Journal;
        }
        return Next::Wait(Some(Instant::now() + (config.batch_interval - waited)));
    }
    if st.stopping_since.is_some() {
        return Next::Exit;
    }
    Next::Wait(None)
}

/// Writes one batch from the front journal segment; deletes the segment when all of it is
/// in the database. `Err` means "stopping and the database keeps failing".
async fn drain_journal(
    shared: &Shared,
    store: &Store,
    config: &WriterConfig,
    reader: &mut Option<SegmentReader>,
) -> Result<(), ()> {
    let (path, total, consumed) = {
        let st = shared.lock();
        match st.journal.front() {
            Some(seg) => (seg.path.clone(), seg.records, st.journal.consumed_in_front),
            None => return Ok(()),
        }
    };
    // The file must be durable before it is the only copy anyone will retry from.
    sync_journal(shared).await;
    if reader.as_ref().is_none_or(|r| r.path != path) {
        match open_at(&path, consumed).await {
            Ok(r) => *reader = Some(r),
            Err(e) => return journal_failed(shared, &path, e).await,
        }
    }
    let mut r = reader.take().expect("opened above");
    let max = config.batch_records.max(1);
    let read = tokio::task::spawn_blocking(move || {
        let lines = r.read(max);
        (r, lines)
    })
    .await;
    let (r, lines) = match read {
        Ok((r, Ok(lines))) => (r, lines),
        Ok((_, Err(e))) => return journal_failed(shared, &path, e).await,
        Err(e) => return journal_failed(shared, &path, std::io::Error::other(e)).await,
    };
    *reader = Some(r);
    let n = lines.len() as u64;
    let records: Vec<CallRecord> = lines
        .into_iter()
        .filter_map(|l| match l {
            Line::Record(r) => Some(*r),
            Line::Rejected => None,
        })
        .collect();
    write(shared, store, &records).await?;
    let mut st = shared.lock();
    st.journal.consumed_in_front += n;
    st.done += n;
    st.health.written += records.len() as u64;
    if n == 0 || st.journal.consumed_in_front >= total {
        if n == 0 && st.journal.consumed_in_front < total {
            tracing::warn!(segment = %path.display(), "journal segment shorter than counted; treating it as drained");
            st.done += total - st.journal.consumed_in_front;
        }
        *reader = None;
        if let Err(e) = st.journal.pop_front() {
            st.health.journal_error = Some(format!("cannot delete {}: {e}", path.display()));
        }
    }
    shared.publish(&st);
    Ok(())
}

/// Opens a segment and skips the lines already committed.
async fn open_at(path: &std::path::Path, skip: u64) -> std::io::Result<SegmentReader> {
    let path = path.to_path_buf();
    tokio::task::spawn_blocking(move || {
        let mut r = SegmentReader::open(&path)?;
        let mut left = skip;
        while left > 0 {
            let n = r.read(left.min(1000) as usize)?.len() as u64;
            if n == 0 {
                break;
            }
            left -= n;
        }
        Ok(r)
    })
    .await
    .map_err(std::io::Error::other)?
}

/// A journal segment cannot be read: record it and back off, so a person can look.
async fn journal_failed(
    shared: &Shared,
    path: &std::path::Path,
    e: std::io::Error,
) -> Result<(), ()> {
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
    Ok(())
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

/// fsyncs what was appended to the journal since the last time, outside the lock.
async fn sync_journal(shared: &Shared) {
    let files = shared.lock().journal.take_unsynced();
    if files.is_empty() {
        return;
    }
    let result = tokio::task::spawn_blocking(move || {
        for f in files {
            f?.sync_data()?;
        }
        Ok::<(), std::io::Error>(())
    })
    .await;
    if let Ok(Err(e)) = result {
        shared.lock().health.journal_error = Some(format!("journal fsync failed: {e}"));
    }
}
