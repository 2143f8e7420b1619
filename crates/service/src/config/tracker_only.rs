//! The tracker's settings of a configuration file, and nothing else: what `switchboard
//! replay --config` needs to read a recording as the live service would (which endpoints are
//! phones, which are trunks, the name in call ids) without the PBX being reachable.
//!
//! Secrets are never resolved here (`secret_env` names a variable that may not exist on the
//! machine replaying; `secret_file` a file it may not be allowed to read), and the keys
//! only a live session needs (host, username, TLS files) are not required. The file is
//! parsed by the same reader as a full load, so a key the tracker takes means the same in
//! both, and a file that has a syntax error or a bad `extensions` is refused the same way.

use super::error::{ConfigError, ConfigErrors, Origin};
use super::file;
use super::raw::default_name;
use super::sources::read_text;
use std::path::Path;
use tracker::TrackerConfig;

/// The tracker settings of every enabled `[[servers]]` entry of `path`, in file order
/// (`[server_defaults]` applied). Errors name the file and line, as a full load would.
pub fn tracker_settings(path: &Path) -> Result<Vec<TrackerConfig>, ConfigErrors> {
    let text = match read_text(path, true) {
        Ok(Some(text)) => text,
        Ok(None) => return Ok(Vec::new()),
        Err(e) => return Err(ConfigErrors(vec![e])),
    };
    let mut raw = file::read(path, &text).map_err(ConfigErrors)?;
    let mut out = Vec::new();
    for (i, mut s) in std::mem::take(&mut raw.servers).into_iter().enumerate() {
        s.fill_from(&raw.defaults);
        if s.enabled.as_ref().is_some_and(|v| !v.value) {
            continue;
        }
        let name = s.name.map_or_else(|| default_name(i), |v| v.value);
        let mut config = TrackerConfig::new(name);
        if let Some(e) = s.extensions {
            config.extensions = e.value;
        }
        if let Some(t) = s.trunks {
            config.trunks = t.value;
        }
        out.push(config);
    }
    Ok(out)
}

/// The one entry `server` names, or the only one when `server` is `None`.
pub fn tracker_settings_of(
    path: &Path,
    server: Option<&str>,
) -> Result<TrackerConfig, ConfigErrors> {
    let all = tracker_settings(path)?;
    let refuse = |message: String| {
        ConfigErrors(vec![ConfigError::at(
            Origin::Flag,
            format!("{}: {message}", path.display()),
        )])
    };
    let names = || {
        all.iter()
            .map(|c| c.server.as_str())
            .collect::<Vec<_>>()
            .join(", ")
    };
    match server {
        Some(name) => match all.iter().find(|c| c.server == name) {
            Some(c) => Ok(c.clone()),
            None => Err(refuse(format!(
                "no enabled [[servers]] entry is named {name:?} (the file has: {})",
                names()
            ))),
        },
        None => match all.len() {
            1 => Ok(all.into_iter().next().expect("one entry")),
            0 => Err(refuse("no enabled [[servers]] entry".into())),
            _ => Err(refuse(format!(
                "several [[servers]] entries ({}): say which one with --server NAME",
                names()
            ))),
        },
    }
}
