//! Configuration errors that point at the line a person has to fix.
//!
//! Every error names where the bad setting came from (a line of `switchboard.toml`, a line
//! of `.env`, or the process environment), the key as a path (`servers[1].port`, 0-based
//! like most path notations) or the variable (`AMI_PORT`), what was wrong, and — where we
//! can guess — a hint. Errors never contain a secret's value: the code that builds them
//! describes a secret by its type only.

use std::fmt;
use std::path::PathBuf;

/// Where a setting came from.
#[derive(Clone, Debug, PartialEq, Eq, Default)]
pub enum Origin {
    /// A line (1-based) of a TOML configuration file.
    File { path: PathBuf, line: usize },
    /// A line (1-based) of a `.env` file.
    DotEnv { path: PathBuf, line: usize },
    /// The process environment.
    Env,
    /// A built-in default, or nowhere in particular (e.g. "no server configured").
    #[default]
    Default,
    /// A command-line flag.
    Flag,
}

impl fmt::Display for Origin {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Origin::File { path, line } | Origin::DotEnv { path, line } => {
                write!(f, "{}:{line}", path.display())
            }
            Origin::Env => f.write_str("environment"),
            Origin::Default => f.write_str("configuration"),
            Origin::Flag => f.write_str("command line"),
        }
    }
}

/// One thing wrong with the configuration.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ConfigError {
    pub origin: Origin,
    /// `servers[1].port`, `http.listen`, `AMI_PORT`; `None` for a TOML syntax error.
    pub key: Option<String>,
    pub message: String,
    pub hint: Option<String>,
}

impl ConfigError {
    pub fn new(origin: Origin, key: impl Into<String>, message: impl Into<String>) -> Self {
        ConfigError {
            origin,
            key: Some(key.into()),
            message: message.into(),
            hint: None,
        }
    }

    /// An error about a place rather than a key (a syntax error, a line of `.env`).
    pub fn at(origin: Origin, message: impl Into<String>) -> Self {
        ConfigError {
            origin,
            key: None,
            message: message.into(),
            hint: None,
        }
    }

    pub fn with_hint(mut self, hint: impl Into<String>) -> Self {
        self.hint = Some(hint.into());
        self
    }
}

impl fmt::Display for ConfigError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}: ", self.origin)?;
        if let Some(key) = &self.key {
            write!(f, "{key}: ")?;
        }
        f.write_str(&self.message)?;
        if let Some(hint) = &self.hint {
            write!(f, " (hint: {hint})")?;
        }
        Ok(())
    }
}

impl std::error::Error for ConfigError {}

/// Everything wrong with a configuration, in the order found: a person fixes them all in
/// one go instead of one per run.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ConfigErrors(pub Vec<ConfigError>);

impl ConfigErrors {
    pub fn iter(&self) -> std::slice::Iter<'_, ConfigError> {
        self.0.iter()
    }

    pub fn len(&self) -> usize {
        self.0.len()
    }

    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }
}

impl From<ConfigError> for ConfigErrors {
    fn from(e: ConfigError) -> Self {
        ConfigErrors(vec![e])
    }
}

impl fmt::Display for ConfigErrors {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        for (i, e) in self.0.iter().enumerate() {
            if i > 0 {
                f.write_str("\n")?;
            }
            write!(f, "{e}")?;
        }
        Ok(())
    }
}

impl std::error::Error for ConfigErrors {}

/// The known name closest to `unknown`, if it is close enough to be a typo.
pub(crate) fn closest<'a>(unknown: &str, known: &[&'a str]) -> Option<&'a str> {
    let unknown = unknown.to_ascii_lowercase();
    // `ca` for `ca_file`: a known name that begins with what was typed.
    if unknown.len() >= 2 {
        if let Some(k) = known
            .iter()
            .find(|k| k.to_ascii_lowercase().starts_with(&unknown))
        {
            return Some(k);
        }
    }
    known
        .iter()
        .map(|k| (edit_distance(&unknown, &k.to_ascii_lowercase()), *k))
        .filter(|(d, k)| *d <= 2.max(k.len() / 4))
        .min_by_key(|(d, _)| *d)
        .map(|(_, k)| k)
}

/// A hint for an unknown name: the likely typo, or the list of what is allowed.
pub(crate) fn unknown_hint(unknown: &str, known: &[&str]) -> String {
    match closest(unknown, known) {
        Some(k) => format!("did you mean `{k}`?"),
        None => format!("known keys: {}", known.join(", ")),
    }
}

/// Levenshtein distance; names are short, so the quadratic table is fine.
fn edit_distance(a: &str, b: &str) -> usize {
    let b: Vec<char> = b.chars().collect();
    let mut prev: Vec<usize> = (0..=b.len()).collect();
    for (i, ca) in a.chars().enumerate() {
        let mut cur = vec![i + 1; b.len() + 1];
        for (j, cb) in b.iter().enumerate() {
            let cost = usize::from(ca != *cb);
            cur[j + 1] = (prev[j] + cost).min(prev[j + 1] + 1).min(cur[j] + 1);
        }
        prev = cur;
    }
    prev[b.len()]
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn typos_find_their_key() {
        assert_eq!(closest("prot", &["host", "port", "name"]), Some("port"));
        assert_eq!(
            closest("usrname", &["username", "secret"]),
            Some("username")
        );
        assert_eq!(closest("colour", &["host", "port"]), None);
        assert_eq!(
            closest("AMI_PASWORD", &["AMI_PASSWORD", "AMI_PORT"]),
            Some("AMI_PASSWORD")
        );
    }

    #[test]
    fn display_names_file_line_key_and_hint() {
        let e = ConfigError::new(
            Origin::File {
                path: "switchboard.toml".into(),
                line: 12,
            },
            "servers[1].port",
            "expected an integer 1-65535, got \"x\"",
        );
        assert_eq!(
            e.to_string(),
            "switchboard.toml:12: servers[1].port: expected an integer 1-65535, got \"x\""
        );
        let e = ConfigError::new(Origin::Env, "AMI_PORT", "bad").with_hint("a number");
        assert_eq!(e.to_string(), "environment: AMI_PORT: bad (hint: a number)");
    }
}
