//! The on-disk journal: where completed calls wait while the database cannot take them.
//!
//! A directory of *segments*, `NNNNNNNNNNNNNNNNNNNN.jsonl`, each an append-only file of call
//! records, one JSON document per line. Segment numbers give the order: the writer drains
//! the lowest first, and a segment is deleted only after every record in it is committed
//! to the database. A crash at any point therefore loses nothing that reached the file: on
//! the next start the remaining segments are written again, and since records are upserted
//! by `id`, writing one twice is harmless.
//!
//! Appends go straight to the file (no user-space buffer), so a process crash keeps every
//! line written; `fsync` — which only matters for power loss — is done in batches by the
//! writer task, never on the event path. A line cut short by a crash mid-write is skipped
//! on replay (and copied to `rejected.txt` for a person to look at).

use std::collections::VecDeque;
use std::fs::{self, File, OpenOptions};
use std::io::{self, BufRead, BufReader, Write};
use std::path::{Path, PathBuf};
use std::time::SystemTime;

use tracker::CallRecord;

/// Where the first segment of an empty directory starts: leaves room below for the
/// segments written at shutdown, which go *before* everything queued (see
/// [`Journal::prepend`]).
const FIRST_SEQ: u64 = 1_000_000_000_000;
/// A head segment this large is sealed and a new one started, so the drained part of a
/// long outage is deleted as the writer goes rather than at the very end.
pub(crate) const SEGMENT_MAX_BYTES: u64 = 16 * 1024 * 1024;

/// One closed segment waiting to be drained.
#[derive(Debug)]
pub(crate) struct Segment {
    pub(crate) path: PathBuf,
    /// Lines in it (a trailing partial line counts: the reader consumes it too).
    pub(crate) records: u64,
    /// About when its first record arrived (its file time, for segments of an earlier run).
    pub(crate) since: SystemTime,
}

/// The segment being appended to.
#[derive(Debug)]
struct Head {
    file: File,
    segment: Segment,
    bytes: u64,
}

/// The journal's bookkeeping; lives inside the writer's shared state (appends happen under
/// its lock).
#[derive(Debug)]
pub(crate) struct Journal {
    dir: PathBuf,
    sealed: VecDeque<Segment>,
    head: Option<Head>,
    next_seq: u64,
    /// Lines of the front sealed segment already committed to the database.
    pub(crate) consumed_in_front: u64,
    /// Appends to the head since the last fsync.
    unsynced: bool,
    /// Sealed segments whose last appends are not fsynced yet.
    to_sync: Vec<File>,
}

impl Journal {
    /// Opens (creating) the directory and lists segments left by an earlier run.
    pub(crate) fn open(dir: &Path) -> io::Result<Journal> {
        fs::create_dir_all(dir)?;
        let mut found = Vec::new();
        for entry in fs::read_dir(dir)? {
            let entry = entry?;
            let name = entry.file_name();
            let Some(seq) = name
                .to_str()
                .and_then(|n| n.strip_suffix(".jsonl"))
                .and_then(|n| n.parse::<u64>().ok())
            else {
                continue;
            };
            let path = entry.path();
            let records = count_lines(&path)?;
            let since = entry.metadata()?.modified().unwrap_or(SystemTime::now());
            if records == 0 {
                fs::remove_file(&path)?;
                continue;
            }
            found.push((
                seq,
                Segment {
                    path,
                    records,
                    since,
                },
            ));
        }
        found.sort_by_key(|(seq, _)| *seq);
        let next_seq = found.last().map_or(FIRST_SEQ, |(seq, _)| seq + 1);
        Ok(Journal {
            dir: dir.to_path_buf(),
            sealed: found.into_iter().map(|(_, s)| s).collect(),
            head: None,
            next_seq,
            consumed_in_front: 0,
            unsynced: false,
            to_sync: Vec::new(),
        })
    }

    /// Records not yet committed to the database.
    pub(crate) fn pending(&self) -> u64 {
        let sealed: u64 = self.sealed.iter().map(|s| s.records).sum();
        let head = self.head.as_ref().map_or(0, |h| h.segment.records);
        (sealed + head).saturating_sub(self.consumed_in_front)
    }

    /// No record waits in the journal.
    pub(crate) fn is_empty(&self) -> bool {
        self.pending() == 0
    }

    /// When the oldest waiting record arrived.
    pub(crate) fn oldest(&self) -> Option<SystemTime> {
        self.sealed
            .front()
            .map(|s| s.since)
            .or_else(|| self.head.as_ref().map(|h| h.segment.since))
            .filter(|_| !self.is_empty())
    }

    /// Records the head segment holds (not yet sealed).
    pub(crate) fn head_records(&self) -> u64 {
        self.head.as_ref().map_or(0, |h| h.segment.records)
    }

    /// When the head segment's first record arrived.
    pub(crate) fn head_since(&self) -> Option<SystemTime> {
        self.head.as_ref().map(|h| h.segment.since)
    }

    /// Appends one record as a line. On failure nothing of it stays in the file (a partial
    /// line is cut off again) and the head is sealed, so the next append starts a new file.
    pub(crate) fn append(&mut self, record: &CallRecord) -> io::Result<()> {
        let mut line = serde_json::to_vec(record).map_err(io::Error::other)?;
        line.push(b'\n');
        if self.head.is_none() {
            let path = self.dir.join(segment_name(self.next_seq));
            self.next_seq += 1;
            let file = OpenOptions::new()
                .create_new(true)
                .append(true)
                .open(&path)?;
            self.head = Some(Head {
                file,
                segment: Segment {
                    path,
                    records: 0,
                    since: SystemTime::now(),
                },
                bytes: 0,
            });
        }
        let head = self.head.as_mut().expect("head opened above");
        if let Err(e) = head.file.write_all(&line) {
            let _ = head.file.set_len(head.bytes);
            self.seal_head();
            return Err(e);
        }
        head.bytes += line.len() as u64;
        head.segment.records += 1;
        self.unsynced = true;
        if head.bytes >= SEGMENT_MAX_BYTES {
            self.seal_head();
        }
        Ok(())
    }

    /// Writes `records` as a new segment placed before every other, so they are drained
    /// first. Used at shutdown for records still in memory when the database is down:
    /// they are older than anything already journaled, and order matters because a later
    /// version of a call must overwrite an earlier one, not the reverse.
    pub(crate) fn prepend(&mut self, records: &[CallRecord]) -> io::Result<()> {
        if records.is_empty() {
            return Ok(());
        }
        let first = self
            .sealed
            .front()
            .map(|s| s.path.as_path())
            .or(self.head.as_ref().map(|h| h.segment.path.as_path()))
            .and_then(seq_of)
            .unwrap_or(self.next_seq);
        let seq = first
            .checked_sub(1)
            .ok_or_else(|| io::Error::other("journal numbering exhausted"))?;
        let path = self.dir.join(segment_name(seq));
        let mut file = OpenOptions::new()
            .create_new(true)
            .write(true)
            .open(&path)?;
        let mut buf = Vec::new();
        for r in records {
            serde_json::to_writer(&mut buf, r).map_err(io::Error::other)?;
            buf.push(b'\n');
        }
        file.write_all(&buf)?;
        file.sync_all()?;
        sync_dir(&self.dir);
        // The front segment may be half drained; after this the writer stops (this runs at
        // shutdown) and the next run reads every segment from its start, so its count of
        // drained lines no longer applies. Re-writing those lines is harmless (upsert).
        self.consumed_in_front = 0;
        self.sealed.push_front(Segment {
            path,
            records: records.len() as u64,
            since: SystemTime::now(),
        });
        Ok(())
    }

    /// Closes the head segment for appends and queues it for draining.
    pub(crate) fn seal_head(&mut self) {
        if let Some(head) = self.head.take() {
            if head.segment.records == 0 {
                let _ = fs::remove_file(&head.segment.path);
            } else {
                if std::mem::take(&mut self.unsynced) {
                    self.to_sync.push(head.file);
                }
                self.sealed.push_back(head.segment);
            }
        }
    }

    /// The segment the writer should read next.
    pub(crate) fn front(&self) -> Option<&Segment> {
        self.sealed.front()
    }

    /// The front segment is fully committed: delete it.
    pub(crate) fn pop_front(&mut self) -> io::Result<()> {
        self.consumed_in_front = 0;
        if let Some(seg) = self.sealed.pop_front() {
            fs::remove_file(&seg.path)?;
        }
        Ok(())
    }

    /// Files to fsync (outside the lock) for the appends since the last call: sealed
    /// segments not yet synced and a handle to the head.
    pub(crate) fn take_unsynced(&mut self) -> Vec<io::Result<File>> {
        let mut files: Vec<io::Result<File>> = self.to_sync.drain(..).map(Ok).collect();
        if std::mem::take(&mut self.unsynced) {
            if let Some(head) = &self.head {
                files.push(head.file.try_clone());
            }
        }
        files
    }

    /// The directory, for messages.
    pub(crate) fn dir(&self) -> &Path {
        &self.dir
    }
}

/// Reads a sealed segment in batches.
#[derive(Debug)]
pub(crate) struct SegmentReader {
    pub(crate) path: PathBuf,
    reader: BufReader<File>,
}

/// What one line of a segment held.
pub(crate) enum Line {
    Record(Box<CallRecord>),
    /// Not a call record (a line cut short by a crash, or damaged); already set aside.
    Rejected,
}

impl SegmentReader {
    pub(crate) fn open(path: &Path) -> io::Result<SegmentReader> {
        Ok(SegmentReader {
            path: path.to_path_buf(),
            reader: BufReader::new(File::open(path)?),
        })
    }

    /// Up to `max` lines; fewer at the end of the file.
    pub(crate) fn read(&mut self, max: usize) -> io::Result<Vec<Line>> {
        let mut out = Vec::new();
        let mut buf = Vec::new();
        while out.len() < max {
            buf.clear();
            if self.reader.read_until(b'\n', &mut buf)? == 0 {
                break;
            }
            let text = buf.strip_suffix(b"\n").unwrap_or(&buf);
            match serde_json::from_slice::<CallRecord>(text) {
                Ok(r) => out.push(Line::Record(Box::new(r))),
                Err(e) => {
                    tracing::warn!(
                        segment = %self.path.display(),
                        error = %e,
                        "journal line is not a call record (cut short by a crash?); set aside in rejected.txt"
                    );
                    if let Some(dir) = self.path.parent() {
                        let _ = OpenOptions::new()
                            .create(true)
                            .append(true)
                            .open(dir.join("rejected.txt"))
                            .and_then(|mut f| f.write_all(&[text, b"\n"].concat()));
                    }
                    out.push(Line::Rejected);
                }
            }
        }
        Ok(out)
    }
}

fn segment_name(seq: u64) -> String {
    format!("{seq:020}.jsonl")
}

fn seq_of(path: &Path) -> Option<u64> {
    path.file_name()?
        .to_str()?
        .strip_suffix(".jsonl")?
        .parse()
        .ok()
}

/// Lines in a file, a trailing line without `\n` included.
fn count_lines(path: &Path) -> io::Result<u64> {
    let mut reader = BufReader::new(File::open(path)?);
    let mut n = 0;
    let mut buf = Vec::new();
    while reader.read_until(b'\n', &mut buf)? > 0 {
        n += 1;
        buf.clear();
    }
    Ok(n)
}

/// Makes a new file's directory entry durable (best effort: not every filesystem allows
/// opening a directory).
pub(crate) fn sync_dir(dir: &Path) {
    if let Ok(d) = File::open(dir) {
        let _ = d.sync_all();
    }
}
