//! Where a configuration comes from, and loading it.
//!
//! Precedence, lowest first: built-in defaults < `switchboard.toml` < `.env` < the process
//! environment < command-line flags. A [`Sources`] is kept for the life of the process:
//! a reload (SIGHUP, file change) calls [`Sources::load`] again, which re-reads the file,
//! `.env` and secret files; the process environment is the snapshot taken at start (it
//! cannot change from outside anyway).

use super::dotenv;
use super::env::{self, Env};
use super::error::{ConfigError, ConfigErrors, Origin};
use super::file;
use super::finish::finish;
use super::model::{Config, LogFormat};
use super::raw::{RawConfig, Val};
use std::collections::BTreeMap;
use std::fmt;
use std::path::{Path, PathBuf};

/// The configuration file to read.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ConfigFile {
    pub path: PathBuf,
    /// Named with `--config`: its absence is an error. The default `./switchboard.toml`
    /// is read only if present (and picked up by the watcher when it appears).
    pub required: bool,
}

/// Everything a configuration is made from.
#[derive(Clone, Default)]
pub struct Sources {
    pub file: Option<ConfigFile>,
    /// The `.env` file, read if present.
    pub dotenv: Option<PathBuf>,
    /// The process environment (a snapshot; tests pass their own map).
    pub env: BTreeMap<String, String>,
    /// `--log-format` on the command line.
    pub log_format: Option<LogFormat>,
    /// Refuse a configuration with no PBX (`run`: yes; `demo` adds its own).
    pub require_server: bool,
}

impl Sources {
    pub const DEFAULT_FILE: &'static str = "switchboard.toml";
    pub const DEFAULT_DOTENV: &'static str = ".env";

    /// What `switchboard run` reads: `--config PATH` or `./switchboard.toml`, `./.env`
    /// and the process environment.
    pub fn from_process(config: Option<PathBuf>) -> Sources {
        Sources {
            file: Some(match config {
                Some(path) => ConfigFile {
                    path,
                    required: true,
                },
                None => ConfigFile {
                    path: PathBuf::from(Self::DEFAULT_FILE),
                    required: false,
                },
            }),
            dotenv: Some(PathBuf::from(Self::DEFAULT_DOTENV)),
            // Variables that are not UTF-8 cannot be ours; skipping them avoids the panic
            // of `std::env::vars`.
            env: std::env::vars_os()
                .filter_map(|(k, v)| Some((k.into_string().ok()?, v.into_string().ok()?)))
                .collect(),
            log_format: None,
            require_server: true,
        }
    }

    /// No file, no `.env`, an empty environment: build up from here in tests.
    pub fn empty() -> Sources {
        Sources {
            require_server: true,
            ..Sources::default()
        }
    }

    pub fn with_file(mut self, path: impl Into<PathBuf>) -> Self {
        self.file = Some(ConfigFile {
            path: path.into(),
            required: true,
        });
        self
    }

    pub fn with_dotenv(mut self, path: impl Into<PathBuf>) -> Self {
        self.dotenv = Some(path.into());
        self
    }

    pub fn with_env<K: Into<String>, V: Into<String>>(
        mut self,
        vars: impl IntoIterator<Item = (K, V)>,
    ) -> Self {
        self.env
            .extend(vars.into_iter().map(|(k, v)| (k.into(), v.into())));
        self
    }

    pub fn file_path(&self) -> Option<&Path> {
        self.file.as_ref().map(|f| f.path.as_path())
    }

    /// Reads every source, checks everything, and returns the configuration or every
    /// error found.
    pub fn load(&self) -> Result<Config, ConfigErrors> {
        let mut errors = Vec::new();
        let mut raw = RawConfig::default();
        if let Some(f) = &self.file {
            match read_text(&f.path, f.required) {
                Ok(Some(text)) => match file::read(&f.path, &text) {
                    Ok(r) => raw = r,
                    Err(e) => errors.extend(e),
                },
                Ok(None) => {}
                Err(e) => errors.push(e),
            }
        }
        let dotenv = match &self.dotenv {
            Some(path) => match read_text(path, false) {
                Ok(Some(text)) => match dotenv::parse(path, &text) {
                    Ok(entries) => Some((path.as_path(), entries)),
                    Err(e) => {
                        errors.extend(e);
                        None
                    }
                },
                Ok(None) => None,
                Err(e) => {
                    errors.push(e);
                    None
                }
            },
            None => None,
        };
        let env = Env::new(&self.env, dotenv);
        env::apply(&mut raw, &env, &mut errors);
        if let Some(f) = self.log_format {
            raw.log.format = Some(Val::new(f, Origin::Flag, "--log-format"));
        }
        match finish(raw, &env, self.require_server, &mut errors) {
            Some(config) if errors.is_empty() => Ok(config),
            _ => Err(ConfigErrors(errors)),
        }
    }
}

/// Larger than any real configuration: a bound on what a mistaken path (a log file, a
/// disk image) makes us read.
pub(crate) const MAX_FILE_BYTES: u64 = 4 << 20;

/// A file's text; `None` if it is optional and absent.
pub(super) fn read_text(path: &Path, required: bool) -> Result<Option<String>, ConfigError> {
    let too_big = std::fs::metadata(path).is_ok_and(|m| m.len() > MAX_FILE_BYTES);
    if too_big {
        return Err(ConfigError::new(
            Origin::Default,
            path.display().to_string(),
            format!(
                "larger than {} MiB: not a configuration file",
                MAX_FILE_BYTES >> 20
            ),
        ));
    }
    match std::fs::read(path) {
        Ok(bytes) => String::from_utf8(bytes).map(Some).map_err(|e| {
            let line = 1 + e.as_bytes()[..e.utf8_error().valid_up_to()]
                .iter()
                .filter(|&&b| b == b'\n')
                .count();
            ConfigError::at(
                Origin::File {
                    path: path.to_path_buf(),
                    line,
                },
                "not UTF-8 text",
            )
        }),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound && !required => Ok(None),
        // Named on the command line, or one we looked for ourselves (present but
        // unreadable: permissions, a folder of that name).
        Err(e) if required => Err(ConfigError::new(
            Origin::Flag,
            format!("--config {}", path.display()),
            format!("cannot read: {e}"),
        )),
        Err(e) => Err(ConfigError::new(
            Origin::Default,
            path.display().to_string(),
            format!("cannot read: {e}"),
        )),
    }
}

/// Lists the variables' names only: their values may be passwords.
impl fmt::Debug for Sources {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Sources")
            .field("file", &self.file)
            .field("dotenv", &self.dotenv)
            .field("env", &self.env.keys().collect::<Vec<_>>())
            .field("log_format", &self.log_format)
            .field("require_server", &self.require_server)
            .finish()
    }
}
