//! Reloading the configuration while running: on SIGHUP and when the file changes.
//!
//! Each trigger loads and checks the whole configuration again ([`Sources::load`]). A good
//! one that differs from the running one is published on a `tokio::sync::watch` channel:
//! the binary holds the receiver and hands each configuration to the
//! [`Topology`](crate::Topology), which stages all of it and applies all of it or nothing,
//! restarting only what changed. A bad one is refused: its
//! errors are logged (file, line, key) and published as the last reload's report, and the
//! running configuration stays.
//!
//! **Polling, not `notify`.** The file's metadata is checked every second, and its bytes
//! are compared only when the modification time or size moved. We chose this over the
//! `notify` crate (inotify) because the usual ways a configuration file is replaced defeat
//! a watch on the file itself: editors that save by writing a new file and renaming it over
//! the old one, `git checkout`, Kubernetes ConfigMaps that swap a symlink, network
//! filesystems that send no events. Handling those with inotify means watching the folder
//! and filtering events; one `stat` per second handles them all, costs nothing
//! measurable, and a change a second late is fine for a configuration. Comparing bytes
//! means a `touch` or a save without changes does not restart anything. (The bytes are
//! also compared while the modification time is under 2 s old, for filesystems that
//! keep it in whole seconds.)
//!
//! What polling does not see: `.env` and secret files. SIGHUP re-reads everything.

use crate::config::{Config, ConfigErrors, Sources};
use crate::reload::{diff, ConfigChange};
use std::path::Path;
use std::sync::Arc;
use std::time::{Duration, SystemTime};
use tokio::sync::watch;
use tokio::task::JoinHandle;

/// What made a reload happen.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Trigger {
    Sighup,
    FileChanged,
    /// A call to [`Reloader::reload`] (an API, a test).
    Requested,
}

impl std::fmt::Display for Trigger {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(match self {
            Trigger::Sighup => "SIGHUP",
            Trigger::FileChanged => "file changed",
            Trigger::Requested => "requested",
        })
    }
}

/// The result of one reload.
#[derive(Clone, Debug, PartialEq)]
pub enum Outcome {
    /// A new configuration is published.
    Applied(ConfigChange),
    /// Loaded fine, and equal to the last one published. Published again all the same on
    /// SIGHUP or a request: the topology may have refused it (a port taken), and an
    /// administrator who signals wants it tried again; the topology diffs it against what
    /// runs, so an applied one costs nothing.
    Unchanged,
    /// Refused; the running configuration stays.
    Refused(ConfigErrors),
}

/// The last reload, for the health and status pages.
#[derive(Clone, Debug, PartialEq)]
pub struct ReloadReport {
    pub at: SystemTime,
    pub trigger: Trigger,
    pub outcome: Outcome,
}

/// How to watch.
#[derive(Clone, Copy, Debug)]
pub struct WatchOptions {
    /// How often to look at the file; `None`: only on SIGHUP.
    pub poll: Option<Duration>,
    /// Reload on SIGHUP (Unix).
    pub sighup: bool,
}

impl Default for WatchOptions {
    fn default() -> Self {
        WatchOptions {
            poll: Some(Duration::from_secs(1)),
            sighup: true,
        }
    }
}

/// What the file looked like when we last read it.
#[derive(Clone, Debug, PartialEq)]
struct Seen {
    modified: Option<SystemTime>,
    len: u64,
    bytes: Vec<u8>,
}

/// Loads, compares, publishes. The watcher task drives it; tests may too.
pub struct Reloader {
    sources: Sources,
    config: watch::Sender<Arc<Config>>,
    report: watch::Sender<Option<ReloadReport>>,
    seen: Option<Seen>,
}

/// The receiving ends: the running configuration and the last reload's report.
#[derive(Clone, Debug)]
pub struct ConfigReceiver {
    pub config: watch::Receiver<Arc<Config>>,
    pub report: watch::Receiver<Option<ReloadReport>>,
}

impl Reloader {
    /// `initial` is the configuration `sources` gave at start.
    pub fn new(sources: Sources, initial: Config) -> (Reloader, ConfigReceiver) {
        let (config, config_rx) = watch::channel(Arc::new(initial));
        let (report, report_rx) = watch::channel(None);
        let seen = sources.file_path().and_then(look);
        (
            Reloader {
                sources,
                config,
                report,
                seen,
            },
            ConfigReceiver {
                config: config_rx,
                report: report_rx,
            },
        )
    }

    /// Loads the configuration again and publishes it if it is good and new.
    pub async fn reload(&mut self, trigger: Trigger) -> Outcome {
        if let Some(p) = self.sources.file_path() {
            self.seen = look(p);
        }
        let sources = self.sources.clone();
        // File and secret reads are blocking I/O; keep them off the runtime's threads.
        let loaded = tokio::task::spawn_blocking(move || sources.load())
            .await
            .unwrap_or_else(|e| {
                Err(crate::config::ConfigError::at(
                    crate::config::Origin::Default,
                    format!("configuration loader failed: {e}"),
                )
                .into())
            });
        let outcome = match loaded {
            Err(errors) => {
                tracing::error!(
                    trigger = %trigger,
                    "configuration refused, the running one stays:\n{errors}"
                );
                Outcome::Refused(errors)
            }
            Ok(new) => {
                let old = self.config.borrow().clone();
                if *old == new {
                    tracing::info!(trigger = %trigger, "configuration loaded: no change");
                    if trigger != Trigger::FileChanged {
                        self.config.send_replace(Arc::new(new));
                    }
                    Outcome::Unchanged
                } else {
                    let change = diff(&old, &new);
                    tracing::info!(trigger = %trigger, "configuration loaded: {change}");
                    self.config.send_replace(Arc::new(new));
                    Outcome::Applied(change)
                }
            }
        };
        self.report.send_replace(Some(ReloadReport {
            at: SystemTime::now(),
            trigger,
            outcome: outcome.clone(),
        }));
        outcome
    }

    /// Looks at the file; reloads if its bytes changed since last time. A file that
    /// disappears is not a reason to reload (an editor may be halfway through a save):
    /// the running configuration stays until it is back or SIGHUP says otherwise.
    pub async fn poll(&mut self) -> Option<Outcome> {
        let path = self.sources.file_path()?.to_path_buf();
        let meta = std::fs::metadata(&path).ok()?;
        if let Some(s) = &self.seen {
            // Some filesystems keep modification times in whole seconds: a same-size
            // edit within the second of the last read would keep the stamp, so a
            // recent stamp is not trusted and the bytes are compared.
            let recent = meta
                .modified()
                .ok()
                .and_then(|m| SystemTime::now().duration_since(m).ok())
                .is_none_or(|age| age < Duration::from_secs(2));
            if !recent && s.modified == meta.modified().ok() && s.len == meta.len() {
                return None;
            }
        }
        let now = look(&path)?;
        let same = self.seen.as_ref().is_some_and(|s| s.bytes == now.bytes);
        self.seen = Some(now);
        if same {
            return None;
        }
        Some(self.reload(Trigger::FileChanged).await)
    }

    /// Reloads on SIGHUP and file changes until every receiver of the configuration is
    /// gone. `hangup` comes from [`hangup_signal`], registered before the task starts.
    async fn run(mut self, options: WatchOptions, mut hangup: Option<Hangup>) {
        let mut tick = options.poll.map(|p| {
            let mut i = tokio::time::interval(p);
            i.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
            i
        });
        loop {
            tokio::select! {
                _ = self.config.closed() => return,
                Some(()) = recv_hangup(&mut hangup) => {
                    self.reload(Trigger::Sighup).await;
                }
                _ = next_tick(&mut tick) => {
                    self.poll().await;
                }
            }
        }
    }
}

async fn next_tick(tick: &mut Option<tokio::time::Interval>) {
    match tick {
        Some(t) => {
            t.tick().await;
        }
        None => std::future::pending().await,
    }
}

fn look(path: &Path) -> Option<Seen> {
    let meta = std::fs::metadata(path).ok()?;
    // An oversized file is not read here; its length stands in for its bytes, and the
    // load it triggers refuses it with a message.
    let bytes = if meta.len() > crate::config::MAX_FILE_BYTES {
        meta.len().to_le_bytes().to_vec()
    } else {
        std::fs::read(path).ok()?
    };
    Some(Seen {
        modified: meta.modified().ok(),
        len: meta.len(),
        bytes,
    })
}

#[cfg(unix)]
type Hangup = tokio::signal::unix::Signal;
#[cfg(not(unix))]
type Hangup = ();

/// Registers for SIGHUP now, so a signal sent right after [`spawn`] returns is not the
/// default action (which ends the process).
#[cfg(unix)]
fn hangup_signal() -> std::io::Result<Hangup> {
    tokio::signal::unix::signal(tokio::signal::unix::SignalKind::hangup())
}

#[cfg(unix)]
async fn recv_hangup(h: &mut Option<Hangup>) -> Option<()> {
    match h {
        Some(s) => s.recv().await,
        None => std::future::pending().await,
    }
}

#[cfg(not(unix))]
fn hangup_signal() -> std::io::Result<Hangup> {
    Ok(())
}

#[cfg(not(unix))]
async fn recv_hangup(_: &mut Option<Hangup>) -> Option<()> {
    std::future::pending().await
}

/// Starts the watcher task. Call from inside a tokio runtime; the task ends when every
/// [`ConfigReceiver::config`] is dropped.
pub fn spawn(
    sources: Sources,
    initial: Config,
    options: WatchOptions,
) -> std::io::Result<(ConfigReceiver, JoinHandle<()>)> {
    let hangup = if options.sighup {
        Some(hangup_signal()?)
    } else {
        None
    };
    let (reloader, rx) = Reloader::new(sources, initial);
    let task = tokio::spawn(reloader.run(options, hangup));
    Ok((rx, task))
}
