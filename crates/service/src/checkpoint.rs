//! Where a pipeline keeps its tracker's calls in progress across a restart of switchboard:
//! a directory of its own holding generations, `G.json` (a [`tracker::Checkpoint`]) and
//! `G.ended` (the Linkedids of the calls that ended after that checkpoint was taken, one
//! per line).
//!
//! **Why the `.ended` file.** A checkpoint is taken every few seconds, and a call may end
//! between one and a crash. Its record is safe (the store writer has it), but the last
//! checkpoint still holds it open: restored as it is, the resync after the restart would
//! close it again as `ended_while_disconnected`, and that record would replace the true
//! one (records are upserted by id). So each ended Linkedid is appended to the current
//! generation's `.ended` file as the call ends — one small `write(2)`, which a process
//! crash does not undo — and a restore skips every call listed in the `.ended` files of the
//! generation it loads and of any later one (a checkpoint whose write a crash cut short).
//!
//! A checkpoint is written off the event path (`spawn_blocking`): to a temporary file,
//! fsynced, renamed into place; only then are the older generations deleted. One write at a
//! time: a snapshot due while the previous one is still being written is skipped.

use std::collections::HashSet;
use std::fs::{self, File, OpenOptions};
use std::io::{self, Write};
use std::path::{Path, PathBuf};
use tracker::Checkpoint;

/// A checkpoint file larger than this is not read (it would be a bug, or not ours).
const MAX_BYTES: u64 = 512 * 1024 * 1024;

/// One pipeline's checkpoints.
#[derive(Debug)]
pub struct Checkpoints {
    dir: PathBuf,
    generation: u64,
    ended: Option<File>,
}

/// What a restart finds.
#[derive(Debug)]
pub struct Found {
    pub checkpoint: Checkpoint,
    /// Linkedids of calls that ended after it was taken: not to be restored.
    pub ended: HashSet<String>,
    pub path: PathBuf,
}

impl Checkpoints {
    /// The checkpoints kept in `dir`, one pipeline's alone (created when first written).
    pub fn new(dir: impl Into<PathBuf>) -> Checkpoints {
        Checkpoints {
            dir: dir.into(),
            generation: 0,
            ended: None,
        }
    }

    fn path(&self, generation: u64, ext: &str) -> PathBuf {
        self.dir.join(format!("{generation}.{ext}"))
    }

    /// Generations present on disk, with whether each has its checkpoint, oldest first.
    fn generations(&self) -> Vec<(u64, bool)> {
        let mut found: std::collections::BTreeMap<u64, bool> = Default::default();
        let Ok(entries) = fs::read_dir(&self.dir) else {
            return Vec::new();
        };
        for e in entries.flatten() {
            let file = e.file_name();
            let Some(rest) = file.to_str() else {
                continue;
            };
            let (g, ext) = match rest.split_once('.') {
                Some((g, ext)) => (g, ext),
                None => continue,
            };
            let Ok(g) = g.parse::<u64>() else { continue };
            let has = found.entry(g).or_insert(false);
            if ext == "json" {
                *has = true;
            }
        }
        found.into_iter().collect()
    }

    /// The newest complete checkpoint, with the calls that ended after it. `Err` says why
    /// the newest one cannot be read (the file is kept, renamed `….rejected`, for a
    /// person to look at). Also makes the next generation the one after everything found.
    pub fn load(&mut self) -> Result<Option<Found>, String> {
        let gens = self.generations();
        self.generation = gens.last().map_or(0, |(g, _)| *g);
        let Some(&(g, _)) = gens.iter().rev().find(|(_, has)| *has) else {
            return Ok(None);
        };
        let path = self.path(g, "json");
        let bytes = read_bounded(&path).map_err(|e| format!("{}: {e}", path.display()))?;
        let checkpoint = match Checkpoint::from_json(&bytes) {
            Ok(c) => c,
            Err(e) => {
                let _ = fs::rename(&path, path.with_extension("json.rejected"));
                return Err(format!("{}: {e}", path.display()));
            }
        };
        let mut ended = HashSet::new();
        for &(later, _) in gens.iter().filter(|(h, _)| *h >= g) {
            if let Ok(text) = fs::read_to_string(self.path(later, "ended")) {
                ended.extend(text.lines().filter(|l| !l.is_empty()).map(str::to_string));
            }
        }
        Ok(Some(Found {
            checkpoint,
            ended,
            path,
        }))
    }

    /// A call ended: remembered until the next checkpoint is in place.
    pub fn ended(&mut self, linkedid: &str) {
        if self.ended.is_none() {
            match self.open_ended() {
                Ok(f) => self.ended = Some(f),
                Err(e) => {
                    tracing::warn!(dir = %self.dir.display(), "call checkpoint: {e}");
                    return;
                }
            }
        }
        if let Some(f) = &mut self.ended {
            // One write of the whole line: a crash keeps it or not, never half of it that
            // could name another call.
            let line = format!("{linkedid}\n");
            if let Err(e) = f.write_all(line.as_bytes()) {
                tracing::warn!(dir = %self.dir.display(), "call checkpoint: {e}");
            }
        }
    }

    fn open_ended(&self) -> io::Result<File> {
        fs::create_dir_all(&self.dir)?;
        OpenOptions::new()
            .create(true)
            .append(true)
            .open(self.path(self.generation, "ended"))
    }

    /// Starts a new generation for `bytes` (a checkpoint just taken) and returns the job
    /// that writes it, to run off the event path.
    pub fn next(&mut self, bytes: Vec<u8>) -> impl FnOnce() -> io::Result<()> + Send + 'static {
        self.generation += 1;
        // From now on, ended calls are the new checkpoint's to skip.
        self.ended = self.open_ended().ok();
        let dir = self.dir.clone();
        let generation = self.generation;
        let path = self.path(generation, "json");
        move || write_generation(&dir, generation, &path, &bytes)
    }
}

fn read_bounded(path: &Path) -> io::Result<Vec<u8>> {
    let len = fs::metadata(path)?.len();
    if len > MAX_BYTES {
        return Err(io::Error::other(format!(
            "{len} bytes, more than a checkpoint may hold ({MAX_BYTES})"
        )));
    }
    fs::read(path)
}

fn write_generation(dir: &Path, generation: u64, path: &Path, bytes: &[u8]) -> io::Result<()> {
    fs::create_dir_all(dir)?;
    let tmp = path.with_extension("json.tmp");
    {
        let mut f = File::create(&tmp)?;
        f.write_all(bytes)?;
        f.sync_all()?;
    }
    fs::rename(&tmp, path)?;
    if let Ok(d) = File::open(dir) {
        let _ = d.sync_all();
    }
    // The new checkpoint is in place: what came before it is no longer needed.
    for e in fs::read_dir(dir)?.flatten() {
        let file = e.file_name();
        let Some(g) = file
            .to_str()
            .and_then(|r| r.split_once('.'))
            .and_then(|(g, _)| g.parse::<u64>().ok())
        else {
            continue;
        };
        // A rejected file stays for a person to look at.
        if g < generation && !file.to_string_lossy().ends_with(".rejected") {
            let _ = fs::remove_file(e.path());
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn checkpoint() -> Vec<u8> {
        tracker::Tracker::new(tracker::TrackerConfig::new("pbx1"))
            .checkpoint()
            .to_json()
    }

    #[test]
    fn a_call_ended_after_the_last_checkpoint_is_never_restored() {
        let dir = tempfile::tempdir().unwrap();
        let mut c = Checkpoints::new(dir.path());
        assert!(c.load().unwrap().is_none());
        c.next(checkpoint())().unwrap();
        c.ended("1.1");
        // A second checkpoint whose write a crash cut short: its ended calls count too.
        let _never_run = c.next(checkpoint());
        c.ended("2.2");
        drop(c);

        let mut again = Checkpoints::new(dir.path());
        let found = again.load().unwrap().expect("the first checkpoint");
        assert!(found.path.ends_with("1.json"), "{:?}", found.path);
        let mut ended: Vec<_> = found.ended.into_iter().collect();
        ended.sort();
        assert_eq!(ended, ["1.1", "2.2"]);
        // The next generation comes after every one found, the cut one included.
        again.next(checkpoint())().unwrap();
        let mut left: Vec<_> = fs::read_dir(dir.path())
            .unwrap()
            .map(|e| e.unwrap().file_name().into_string().unwrap())
            .collect();
        left.sort();
        assert_eq!(left, ["3.ended", "3.json"], "older generations are deleted");
    }

    #[test]
    fn a_damaged_checkpoint_is_set_aside_not_lost() {
        let dir = tempfile::tempdir().unwrap();
        fs::write(dir.path().join("4.json"), b"{\"version\": 1, \"cut sh").unwrap();
        let mut c = Checkpoints::new(dir.path());
        let e = c.load().unwrap_err();
        assert!(e.contains("not a call checkpoint"), "{e}");
        assert!(dir.path().join("4.json.rejected").exists());
        assert!(
            c.load().unwrap().is_none(),
            "the rejected file is read again"
        );
    }
}
