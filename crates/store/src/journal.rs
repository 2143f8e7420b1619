//! The journal: every completed call is appended here *before* anything else happens to it,
//! and stays until the database has confirmed it.
//!
//! A directory of *segments*, `NNNNNNNNNNNNNNNNNNNN.log`, each an append-only file of
//! entries, one per line: `crc32c seq json\n`, where `seq` is the record's place in the
//! order of submission (it never goes back, across restarts too) and the CRC-32C (8 hex
//! digits) covers `seq json`. A segment is preallocated to its full size when it is created
//! (real blocks, not a sparse `set_len`), so appends inside it cannot fail for want of disk
//! space; the unused tail reads as NUL bytes, which the reader skips. The writer task keeps
//! a spare segment ready, so that rotating to a new segment on the event path needs no new
//! space either.
//!
//! A segment is deleted only once every record in it is committed to the database. The
//! highest sequence number known to be committed is kept in the file `committed` (a hint:
//! replay skips what it covers; if it is lost or stale, more is replayed, which is harmless
//! as records are upserted by `id`). The file `database` names the database this journal
//! belongs to, so that its records are never replayed into another one.
//!
//! Appends go straight to the file (one `pwrite`, no user-space buffer), so a process crash
//! keeps every entry written; `fsync`, which only matters for power loss, is done by the
//! writer's sync task every `journal_sync_interval`, never on the event path. An entry that
//! is torn (a crash mid-write) or damaged fails its checksum: it is set aside in
//! `rejected.txt` and counted, and the entries around it are replayed.

use std::collections::VecDeque;
use std::fs::{self, File, OpenOptions};
use std::io::{self, BufRead, BufReader, Read, Seek, SeekFrom, Write};
use std::path::{Path, PathBuf};
use std::time::SystemTime;

use tracker::CallRecord;

/// Largest segment. Small enough that the drained part of a long outage is deleted as the
/// writer goes and that preallocating one (off the event path) is quick; large enough that
/// a segment holds a few thousand calls.
pub(crate) const SEGMENT_MAX_BYTES: u64 = 4 * 1024 * 1024;
/// Smallest segment, whatever the size cap.
const SEGMENT_MIN_BYTES: u64 = 4 * 1024;
/// A longer line is not one this code wrote (records are a few KB): set aside unread.
const MAX_LINE: usize = 64 * 1024 * 1024;
const CRC: crc::Crc<u32> = crc::Crc::<u32>::new(&crc::CRC_32_ISCSI);
const EXT: &str = "log";
/// Journals written before the log-first design: JSON lines without checksums. Converted at
/// start (see [`Log::convert_legacy`]).
const LEGACY_EXT: &str = "jsonl";

/// A segment that is no longer appended to.
#[derive(Debug)]
pub(crate) struct Segment {
    pub(crate) path: PathBuf,
    /// Lowest and highest sequence number in it (`first > last`: none yet).
    pub(crate) first: u64,
    pub(crate) last: u64,
    /// Bytes of entries (the rest up to `size` is preallocated NULs). `None` for segments
    /// of an earlier run: read to the end.
    pub(crate) len: Option<u64>,
    /// Bytes it takes on disk (what counts against the size cap).
    pub(crate) size: u64,
    /// About when its first record arrived.
    pub(crate) since: SystemTime,
    /// Written by an earlier run: its bad entries were set aside when the journal was
    /// opened, so the reader skips them quietly.
    pub(crate) earlier_run: bool,
}

#[derive(Debug)]
struct Head {
    file: File,
    seg: Segment,
    /// Where the next entry goes.
    len: u64,
}

/// What opening the journal found.
#[derive(Debug, Default)]
pub(crate) struct Scan {
    /// Records not yet committed (sequence numbers above `committed`).
    pub(crate) pending: u64,
    /// Their lowest and highest sequence numbers.
    pub(crate) first: u64,
    pub(crate) last: u64,
    /// The highest sequence number seen (committed or not).
    pub(crate) max_seq: u64,
    /// Entries that failed their checksum or did not decode; set aside in `rejected.txt`.
    pub(crate) rejected: u64,
    /// What `committed` said.
    pub(crate) committed: u64,
}

/// The journal's bookkeeping; lives inside the writer's shared state (appends happen under
/// its lock, everything slow happens outside it).
#[derive(Debug)]
pub(crate) struct Log {
    dir: PathBuf,
    sealed: VecDeque<Segment>,
    head: Option<Head>,
    /// A preallocated, empty segment ready to become the head.
    spare: Option<(PathBuf, File, u64)>,
    /// A spare is being created outside the lock (its size is already counted).
    spare_pending: bool,
    /// The spare became the head since the last [`Log::wants_spare`]: make another.
    pub(crate) spare_taken: bool,
    next_file: u64,
    /// Bytes of every segment file, spare and reservations included.
    allocated: u64,
    max_bytes: u64,
    segment_bytes: u64,
    unsynced: bool,
    to_sync: Vec<File>,
}

impl Log {
    /// Opens (creating) the directory, sets aside the bad entries of segments left by an
    /// earlier run, deletes those with nothing left to write, and counts the rest.
    pub(crate) fn open(dir: &Path, max_bytes: u64) -> io::Result<(Log, Scan)> {
        fs::create_dir_all(dir)?;
        let mut scan = Scan {
            committed: read_committed(dir),
            ..Scan::default()
        };
        let mut found = Vec::new();
        let mut next_file = 1;
        for entry in fs::read_dir(dir)? {
            let path = entry?.path();
            let Some(no) = file_no(&path, EXT) else {
                continue;
            };
            next_file = next_file.max(no + 1);
            let mut first = u64::MAX;
            let mut last = 0;
            let mut pending = 0;
            let mut reader = EntryReader::open(&path, 0, None)?;
            while let Some(entry) = reader.next()? {
                match entry {
                    Entry::Record { seq, .. } => {
                        scan.max_seq = scan.max_seq.max(seq);
                        if seq > scan.committed {
                            pending += 1;
                            first = first.min(seq);
                            last = last.max(seq);
                        }
                    }
                    Entry::Bad { text, reason } => {
                        scan.rejected += 1;
                        set_aside(dir, &path, &text, &reason);
                    }
                }
            }
            if pending == 0 {
                fs::remove_file(&path)?;
                continue;
            }
            scan.pending += pending;
            let meta = fs::metadata(&path)?;
            found.push(Segment {
                path,
                first,
                last,
                len: None,
                size: meta.len(),
                since: meta.modified().unwrap_or(SystemTime::now()),
                earlier_run: true,
            });
        }
        // Ordered by what they hold, not by file number: a spare made ahead of time may
        // carry a lower number than a segment created after it.
        found.sort_by_key(|s| s.first);
        scan.first = found.first().map_or(0, |s| s.first);
        scan.last = found.iter().map(|s| s.last).max().unwrap_or(0);
        let allocated = found.iter().map(|s| s.size).sum();
        let segment_bytes = (max_bytes / 2).clamp(SEGMENT_MIN_BYTES, SEGMENT_MAX_BYTES);
        let log = Log {
            dir: dir.to_path_buf(),
            sealed: found.into(),
            head: None,
            spare: None,
            spare_pending: false,
            spare_taken: false,
            next_file,
            allocated,
            max_bytes,
            segment_bytes,
            unsynced: false,
            to_sync: Vec::new(),
        };
        Ok((log, scan))
    }

    /// Journals of the earlier design (`*.jsonl`, no checksum, no sequence numbers): their
    /// records are appended to this log from `next_seq` on, the files deleted once the log
    /// is fsynced. Returns the records appended and those set aside.
    pub(crate) fn convert_legacy(&mut self, next_seq: &mut u64) -> io::Result<(u64, u64)> {
        let mut files: Vec<(u64, PathBuf)> = fs::read_dir(&self.dir)?
            .filter_map(|e| e.ok().map(|e| e.path()))
            .filter_map(|p| file_no(&p, LEGACY_EXT).map(|n| (n, p)))
            .collect();
        files.sort();
        let (mut appended, mut rejected) = (0, 0);
        for (_, path) in &files {
            let mut reader = BufReader::new(File::open(path)?);
            let mut buf = Vec::new();
            loop {
                buf.clear();
                if reader.read_until(b'\n', &mut buf)? == 0 {
                    break;
                }
                let text = buf.strip_suffix(b"\n").unwrap_or(&buf);
                match serde_json::from_slice::<CallRecord>(text) {
                    Ok(r) => {
                        self.append(*next_seq, &r)?;
                        *next_seq += 1;
                        appended += 1;
                    }
                    Err(e) => {
                        rejected += 1;
                        set_aside(&self.dir, path, text, &e.to_string());
                    }
                }
            }
        }
        if !files.is_empty() {
            for f in self.take_unsynced() {
                f.sync_data()?;
            }
            for (_, path) in &files {
                fs::remove_file(path)?;
            }
            sync_dir(&self.dir);
        }
        Ok((appended, rejected))
    }

    /// Appends one record (one `pwrite`). Fails when the head is full and no new segment
    /// can be had (size cap, disk full) or on an I/O error; nothing of the entry counts
    /// then, and the caller holds the record elsewhere.
    pub(crate) fn append(&mut self, seq: u64, record: &CallRecord) -> io::Result<()> {
        let line = encode(seq, record)?;
        let fits = |h: &Head| h.len + line.len() as u64 <= h.seg.size;
        if !self.head.as_ref().is_some_and(fits) {
            self.rotate(line.len() as u64)?;
        }
        let head = self.head.as_mut().expect("rotate leaves a head or fails");
        if let Err(e) = write_at(&head.file, &line, head.len) {
            // Whatever part went in is overwritten with NULs (best effort), and the next
            // entry goes to a new segment rather than after a possibly damaged spot.
            let _ = write_at(&head.file, &vec![0; line.len()], head.len);
            self.seal_head();
            return Err(e);
        }
        head.len += line.len() as u64;
        head.seg.first = head.seg.first.min(seq);
        head.seg.last = head.seg.last.max(seq);
        self.unsynced = true;
        Ok(())
    }

    /// Makes the spare (or, failing that, a segment created here and now) the head.
    fn rotate(&mut self, need: u64) -> io::Result<()> {
        self.seal_head();
        let spare = self.spare.take_if(|(_, _, size)| *size >= need);
        let (path, file, size) = match spare {
            Some(spare) => {
                self.spare_taken = true;
                spare
            }
            None => {
                // No spare ready (a burst outran the sync task, or a record larger than a
                // segment): create one on the spot, which needs free space.
                let size = self.segment_bytes.max(need);
                let path = self.reserve(size)?;
                match create_segment(&self.dir, &path, size) {
                    Ok(file) => (path, file, size),
                    Err(e) => {
                        self.allocated -= size;
                        return Err(e);
                    }
                }
            }
        };
        self.head = Some(Head {
            file,
            len: 0,
            seg: Segment {
                path,
                first: u64::MAX,
                last: 0,
                len: Some(0),
                size,
                since: SystemTime::now(),
                earlier_run: false,
            },
        });
        Ok(())
    }

    /// Counts a new segment of `size` against the cap and names it.
    fn reserve(&mut self, size: u64) -> io::Result<PathBuf> {
        if self.allocated + size > self.max_bytes {
            return Err(io::Error::other(format!(
                "journal size cap reached: {} bytes in use of journal_max_bytes = {}",
                self.allocated, self.max_bytes
            )));
        }
        self.allocated += size;
        let path = self.dir.join(format!("{:020}.{EXT}", self.next_file));
        self.next_file += 1;
        Ok(path)
    }

    /// The spare segment to create now, outside the lock, if one is missing (its size is
    /// counted from now on). Then [`Log::install_spare`].
    pub(crate) fn wants_spare(&mut self) -> Option<(PathBuf, u64)> {
        self.spare_taken = false;
        if self.spare.is_some() || self.spare_pending {
            return None;
        }
        let size = self.segment_bytes;
        let path = self.reserve(size).ok()?;
        self.spare_pending = true;
        Some((path, size))
    }

    pub(crate) fn install_spare(&mut self, path: PathBuf, size: u64, file: io::Result<File>) {
        self.spare_pending = false;
        match file {
            Ok(file) => self.spare = Some((path, file, size)),
            Err(_) => self.allocated -= size,
        }
    }

    /// The next append can go in without new space (or there is room for a new segment).
    pub(crate) fn writable(&self) -> bool {
        self.spare.is_some()
            || self.head.as_ref().is_some_and(|h| h.len < h.seg.size)
            || self.allocated + self.segment_bytes <= self.max_bytes
    }

    /// Closes the head segment for appends.
    pub(crate) fn seal_head(&mut self) {
        if let Some(head) = self.head.take() {
            let mut seg = head.seg;
            seg.len = Some(head.len);
            if std::mem::take(&mut self.unsynced) {
                self.to_sync.push(head.file);
            }
            self.sealed.push_back(seg);
        }
    }

    /// Forgets the segments whose records are all committed (`seq <= committed`) and
    /// returns their paths, to delete outside the lock.
    pub(crate) fn trim(&mut self, committed: u64) -> Vec<PathBuf> {
        let mut gone = Vec::new();
        while self.sealed.front().is_some_and(|s| s.last <= committed) {
            let seg = self.sealed.pop_front().expect("checked");
            self.allocated -= seg.size;
            gone.push(seg.path);
        }
        gone
    }

    /// At shutdown with nothing left to write: the head and the spare go too, so a clean
    /// stop leaves no segment behind.
    pub(crate) fn remove_all(&mut self) -> Vec<PathBuf> {
        self.seal_head();
        let mut gone = self.trim(u64::MAX);
        if let Some((path, _, size)) = self.spare.take() {
            self.allocated -= size;
            gone.push(path);
        }
        gone
    }

    /// Where to read the records from `seq` on: the first segment that holds any at or
    /// above it, how far to read (`None`: to the end), and whether it is the head.
    pub(crate) fn locate(&self, seq: u64) -> Option<(PathBuf, Option<u64>, bool, u64)> {
        let sealed = self
            .sealed
            .iter()
            .find(|s| s.last >= seq && s.first <= s.last)
            .map(|s| (s.path.clone(), s.len, s.earlier_run, s.last));
        sealed.or_else(|| {
            self.head
                .as_ref()
                .filter(|h| h.seg.last >= seq && h.seg.first <= h.seg.last)
                .map(|h| (h.seg.path.clone(), Some(h.len), false, h.seg.last))
        })
    }

    /// When the oldest segment's first record arrived.
    pub(crate) fn oldest(&self) -> Option<SystemTime> {
        self.sealed
            .front()
            .map(|s| s.since)
            .or(self.head.as_ref().map(|h| h.seg.since))
    }

    /// Files to fsync (outside the lock) for the appends since the last call.
    pub(crate) fn take_unsynced(&mut self) -> Vec<File> {
        let mut files: Vec<File> = self.to_sync.drain(..).collect();
        if std::mem::take(&mut self.unsynced) {
            if let Some(head) = &self.head {
                match head.file.try_clone() {
                    Ok(f) => files.push(f),
                    Err(_) => self.unsynced = true,
                }
            }
        }
        files
    }

    /// Bytes the journal takes on disk.
    pub(crate) fn allocated(&self) -> u64 {
        self.allocated
    }

    /// The directory, for messages.
    pub(crate) fn dir(&self) -> &Path {
        &self.dir
    }
}

fn encode(seq: u64, record: &CallRecord) -> io::Result<Vec<u8>> {
    let mut body = format!("{seq} ").into_bytes();
    serde_json::to_writer(&mut body, record).map_err(io::Error::other)?;
    let mut line = format!("{:08x} ", CRC.checksum(&body)).into_bytes();
    line.extend_from_slice(&body);
    line.push(b'\n');
    Ok(line)
}

/// One entry of a segment.
pub(crate) enum Entry {
    Record {
        seq: u64,
        record: Box<CallRecord>,
    },
    /// Torn, damaged, or not a call record: the bytes, and why.
    Bad {
        text: Vec<u8>,
        reason: String,
    },
}

fn decode(text: &[u8]) -> Entry {
    let bad = |reason: &str| Entry::Bad {
        text: text.to_vec(),
        reason: reason.to_string(),
    };
    if text.len() < 10 || text[8] != b' ' {
        return bad("not a journal entry (cut short by a crash?)");
    }
    let crc = std::str::from_utf8(&text[..8])
        .ok()
        .and_then(|h| u32::from_str_radix(h, 16).ok());
    let body = &text[9..];
    if crc != Some(CRC.checksum(body)) {
        return bad("checksum mismatch (torn or damaged entry)");
    }
    let Some(space) = body.iter().position(|&b| b == b' ') else {
        return bad("no sequence number");
    };
    let seq = std::str::from_utf8(&body[..space])
        .ok()
        .and_then(|s| s.parse::<u64>().ok());
    let Some(seq) = seq else {
        return bad("bad sequence number");
    };
    match serde_json::from_slice::<CallRecord>(&body[space + 1..]) {
        Ok(r) => Entry::Record {
            seq,
            record: Box::new(r),
        },
        Err(e) => bad(&format!("not a call record: {e}")),
    }
}

/// Reads the entries of a segment in order. An entry ends at `\n`; NUL bytes (the
/// preallocated tail, or a hole a power loss left) end the text before them and are
/// skipped, so that entries after a hole are still read.
pub(crate) struct EntryReader {
    inner: BufReader<io::Take<File>>,
    /// Offset in the file of the next byte to read.
    pub(crate) pos: u64,
}

impl EntryReader {
    /// From byte `from`, up to byte `limit` (`None`: the end of the file).
    pub(crate) fn open(path: &Path, from: u64, limit: Option<u64>) -> io::Result<EntryReader> {
        let mut file = File::open(path)?;
        file.seek(SeekFrom::Start(from))?;
        let take = limit.map_or(u64::MAX, |l| l.saturating_sub(from));
        Ok(EntryReader {
            inner: BufReader::with_capacity(256 * 1024, file.take(take)),
            pos: from,
        })
    }

    pub(crate) fn next(&mut self) -> io::Result<Option<Entry>> {
        let mut line = Vec::new();
        let mut too_long = false;
        loop {
            let buf = self.inner.fill_buf()?;
            if buf.is_empty() {
                break;
            }
            if line.is_empty() && !too_long {
                let zeros = buf.iter().take_while(|&&b| b == 0).count();
                if zeros > 0 {
                    self.inner.consume(zeros);
                    self.pos += zeros as u64;
                    continue;
                }
            }
            let (take, ended, skip) = match buf.iter().position(|&b| b == b'\n' || b == 0) {
                Some(i) => (i, true, usize::from(buf[i] == b'\n')),
                None => (buf.len(), false, 0),
            };
            if line.len() + take > MAX_LINE {
                too_long = true;
            } else if !too_long {
                line.extend_from_slice(&buf[..take]);
            }
            self.inner.consume(take + skip);
            self.pos += (take + skip) as u64;
            if ended {
                if line.is_empty() && !too_long {
                    continue; // an empty line
                }
                break;
            }
        }
        if too_long {
            line.truncate(1024);
            return Ok(Some(Entry::Bad {
                text: line,
                reason: format!("line longer than {MAX_LINE} bytes"),
            }));
        }
        Ok((!line.is_empty()).then(|| decode(&line)))
    }
}

/// Copies a bad entry to `rejected.txt` for a person to look at.
pub(crate) fn set_aside(dir: &Path, segment: &Path, text: &[u8], reason: &str) {
    tracing::error!(
        segment = %segment.display(),
        reason,
        "journal entry is not a valid call record; set aside in rejected.txt"
    );
    let _ = OpenOptions::new()
        .create(true)
        .append(true)
        .open(dir.join("rejected.txt"))
        .and_then(|mut f| f.write_all(&[text, b"\n"].concat()));
}

fn file_no(path: &Path, ext: &str) -> Option<u64> {
    path.file_name()?
        .to_str()?
        .strip_suffix(ext)?
        .strip_suffix('.')?
        .parse()
        .ok()
}

/// Creates a segment with its space really allocated, and makes it durable.
pub(crate) fn create_segment(dir: &Path, path: &Path, size: u64) -> io::Result<File> {
    let made = (|| {
        let file = OpenOptions::new()
            .read(true)
            .write(true)
            .create_new(true)
            .open(path)?;
        preallocate(&file, size)?;
        file.sync_all()?;
        Ok(file)
    })();
    match made {
        Ok(file) => {
            sync_dir(dir);
            Ok(file)
        }
        Err(e) => {
            let _ = fs::remove_file(path);
            Err(e)
        }
    }
}

/// `fallocate`, which reserves blocks (`set_len` only makes a sparse file, whose writes can
/// still fail with ENOSPC); where the filesystem has no such call, zeros are written.
fn preallocate(file: &File, size: u64) -> io::Result<()> {
    #[cfg(unix)]
    {
        match rustix::fs::fallocate(file, rustix::fs::FallocateFlags::empty(), 0, size) {
            Ok(()) => return Ok(()),
            Err(e) if e == rustix::io::Errno::NOSPC => return Err(e.into()),
            Err(_) => {} // not supported here: write zeros
        }
    }
    let zeros = vec![0u8; 64 * 1024];
    let mut done = 0;
    while done < size {
        let n = (size - done).min(zeros.len() as u64);
        write_at(file, &zeros[..n as usize], done)?;
        done += n;
    }
    Ok(())
}

fn write_at(file: &File, buf: &[u8], offset: u64) -> io::Result<()> {
    #[cfg(unix)]
    {
        std::os::unix::fs::FileExt::write_all_at(file, buf, offset)
    }
    #[cfg(not(unix))]
    {
        let mut f = file;
        f.seek(SeekFrom::Start(offset))?;
        f.write_all(buf)
    }
}

const COMMITTED: &str = "committed";

/// The `committed` hint (0 when missing or unreadable: replay everything).
fn read_committed(dir: &Path) -> u64 {
    let Ok(text) = fs::read(dir.join(COMMITTED)) else {
        return 0;
    };
    let text = text.strip_suffix(b"\n").unwrap_or(&text);
    match (text.len() > 9).then(|| decode_committed(text)).flatten() {
        Some(seq) => seq,
        None => {
            tracing::warn!(dir = %dir.display(), "journal file `committed` unreadable; replaying the whole journal");
            0
        }
    }
}

fn decode_committed(text: &[u8]) -> Option<u64> {
    let crc = u32::from_str_radix(std::str::from_utf8(&text[..8]).ok()?, 16).ok()?;
    let body = &text[9..];
    (crc == CRC.checksum(body))
        .then(|| std::str::from_utf8(body).ok()?.parse().ok())
        .flatten()
}

/// Keeps the `committed` hint: one fixed-size `pwrite` per committed batch, not fsynced
/// (a stale hint only means more is replayed).
#[derive(Debug)]
pub(crate) struct CommittedFile(Option<File>);

impl CommittedFile {
    pub(crate) fn open(dir: &Path) -> CommittedFile {
        CommittedFile(
            OpenOptions::new()
                .create(true)
                .truncate(false)
                .write(true)
                .open(dir.join(COMMITTED))
                .ok(),
        )
    }

    pub(crate) fn store(&self, seq: u64) {
        if let Some(f) = &self.0 {
            let body = format!("{seq:020}");
            let text = format!("{:08x} {body}\n", CRC.checksum(body.as_bytes()));
            let _ = write_at(f, text.as_bytes(), 0);
        }
    }
}

const DATABASE: &str = "database";

/// Which database the journal's records belong to (the URL, password removed), if it
/// says.
pub(crate) fn bound_database(dir: &Path) -> Option<String> {
    fs::read_to_string(dir.join(DATABASE))
        .ok()
        .map(|s| s.trim_end().to_string())
}

/// Binds the journal to `url`, durably, before any record is appended.
pub(crate) fn bind_database(dir: &Path, url: &str) -> io::Result<()> {
    let tmp = dir.join(format!("{DATABASE}.tmp"));
    let mut f = File::create(&tmp)?;
    f.write_all(format!("{url}\n").as_bytes())?;
    f.sync_all()?;
    fs::rename(&tmp, dir.join(DATABASE))?;
    sync_dir(dir);
    Ok(())
}

/// Makes a new file's directory entry durable (best effort: not every filesystem allows
/// opening a directory).
pub(crate) fn sync_dir(dir: &Path) {
    if let Ok(d) = File::open(dir) {
        let _ = d.sync_all();
    }
}
