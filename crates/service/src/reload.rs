//! What changed between two configurations, so the supervisor restarts only that.
//!
//! A server is identified by its name. Only enabled servers count: a server that becomes
//! disabled is *removed* (its session stops), one that becomes enabled is *added*. A
//! server whose settings are all identical — secret included, compared by value, so a
//! rewritten `secret_file` counts — is *unchanged* and its session is left alone.

use crate::config::{Config, ServerConfig};
use std::collections::HashMap;
use std::fmt;

/// One server present in both configurations with different settings.
#[derive(Clone, Debug, PartialEq)]
pub struct ServerChange {
    pub name: String,
    /// The settings that differ, by their key in the file: `port`, `secret`, `tls`, ...
    pub fields: Vec<&'static str>,
    /// The new settings to restart the session with.
    pub new: ServerConfig,
}

/// Settings the tracker reads and the session does not: a change to these alone is applied
/// to the running tracker, and the session (and its calls in progress) goes on.
pub const TRACKER_ONLY: &[&str] = &["extensions", "trunks"];

impl ServerChange {
    /// True when the change needs a new AMI session (a restart of the pipeline); false
    /// when only [`TRACKER_ONLY`] settings changed.
    pub fn needs_new_session(&self) -> bool {
        self.fields.iter().any(|f| !TRACKER_ONLY.contains(f))
    }
}

/// The result of [`diff`].
#[derive(Clone, Debug, PartialEq, Default)]
pub struct ConfigChange {
    /// New (or newly enabled) servers, in the new file's order.
    pub added: Vec<ServerConfig>,
    /// Names of servers gone (or disabled).
    pub removed: Vec<String>,
    pub changed: Vec<ServerChange>,
    /// Names of servers to leave alone.
    pub unchanged: Vec<String>,
    pub http_changed: bool,
    pub database_changed: bool,
    pub log_changed: bool,
}

impl ConfigChange {
    /// Nothing to do.
    pub fn is_empty(&self) -> bool {
        self.added.is_empty()
            && self.removed.is_empty()
            && self.changed.is_empty()
            && !self.http_changed
            && !self.database_changed
            && !self.log_changed
    }
}

/// Compares two configurations. Pure: the supervisor keeps the configuration it runs and
/// diffs each new one against it.
pub fn diff(old: &Config, new: &Config) -> ConfigChange {
    let old_servers: HashMap<&str, &ServerConfig> = old
        .enabled_servers()
        .map(|s| (s.name.as_str(), s))
        .collect();
    let mut change = ConfigChange::default();
    for s in new.enabled_servers() {
        match old_servers.get(s.name.as_str()) {
            None => change.added.push(s.clone()),
            Some(o) => {
                let fields = o.changed_fields(s);
                if fields.is_empty() {
                    change.unchanged.push(s.name.clone());
                } else {
                    change.changed.push(ServerChange {
                        name: s.name.clone(),
                        fields,
                        new: s.clone(),
                    });
                }
            }
        }
    }
    change.removed = old
        .enabled_servers()
        .filter(|o| !new.enabled_servers().any(|s| s.name == o.name))
        .map(|o| o.name.clone())
        .collect();
    change.http_changed = old.http != new.http;
    change.database_changed = old.database != new.database;
    change.log_changed = old.log != new.log;
    change
}

/// One line for the log: `added pbx3; removed pbx2; changed pbx1 (port, secret); 4 unchanged`.
impl fmt::Display for ConfigChange {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if self.is_empty() {
            return write!(f, "no change ({} servers unchanged)", self.unchanged.len());
        }
        let mut parts = Vec::new();
        if !self.added.is_empty() {
            let names: Vec<&str> = self.added.iter().map(|s| s.name.as_str()).collect();
            parts.push(format!("added {}", names.join(", ")));
        }
        if !self.removed.is_empty() {
            parts.push(format!("removed {}", self.removed.join(", ")));
        }
        if !self.changed.is_empty() {
            let each: Vec<String> = self
                .changed
                .iter()
                .map(|c| format!("{} ({})", c.name, c.fields.join(", ")))
                .collect();
            parts.push(format!("changed {}", each.join(", ")));
        }
        for (yes, what) in [
            (self.http_changed, "[http] changed"),
            (self.database_changed, "[database] changed"),
            (self.log_changed, "[log] changed"),
        ] {
            if yes {
                parts.push(what.to_string());
            }
        }
        parts.push(format!("{} unchanged", self.unchanged.len()));
        f.write_str(&parts.join("; "))
    }
}
