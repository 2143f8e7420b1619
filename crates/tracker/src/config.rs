//! What the tracker needs to know about the PBX it watches: its name, which endpoints are our
//! phones and which are trunks, and how long a silent call may stay open.

/// Which endpoint names are internal extensions (our phones).
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum ExtensionPattern {
    /// All-digit names with a length in `min..=max` (the default: 2 to 6 digits).
    Digits {
        /// Shortest extension.
        min: usize,
        /// Longest extension.
        max: usize,
    },
    /// Names starting with one of these prefixes (e.g. `["2", "3"]`).
    Prefixes(Vec<String>),
    /// Exactly these names.
    List(Vec<String>),
}

impl Default for ExtensionPattern {
    fn default() -> Self {
        ExtensionPattern::Digits { min: 2, max: 6 }
    }
}

impl ExtensionPattern {
    /// True when `name` is one of our phones.
    pub fn matches(&self, name: &str) -> bool {
        match self {
            ExtensionPattern::Digits { min, max } => {
                (*min..=*max).contains(&name.len()) && name.bytes().all(|b| b.is_ascii_digit())
            }
            ExtensionPattern::Prefixes(p) => p.iter().any(|p| name.starts_with(p.as_str())),
            ExtensionPattern::List(l) => l.iter().any(|l| l == name),
        }
    }
}

/// The tracker's configuration (one tracker per PBX).
#[derive(Clone, Debug)]
pub struct TrackerConfig {
    /// The PBX's name: call ids are `server:linkedid`.
    pub server: String,
    /// Which endpoints are our phones.
    pub extensions: ExtensionPattern,
    /// Endpoints that are trunks even if they match `extensions`.
    pub trunks: Vec<String>,
    /// A call with no event for this long is closed as `expired` by [`crate::Tracker::expire`].
    pub expire_after_secs: u64,
}

impl Default for TrackerConfig {
    fn default() -> Self {
        TrackerConfig {
            server: "pbx1".into(),
            extensions: ExtensionPattern::default(),
            trunks: Vec::new(),
            // Longer than any real call is likely to stay silent: a call on hold sends no
            // event at all, so this must be generous (4 hours).
            expire_after_secs: 4 * 3600,
        }
    }
}

impl TrackerConfig {
    /// A default configuration for the PBX named `server`.
    pub fn new(server: impl Into<String>) -> TrackerConfig {
        TrackerConfig {
            server: server.into(),
            ..TrackerConfig::default()
        }
    }

    /// True when the endpoint is one of our phones (not a trunk).
    pub fn is_extension(&self, endpoint: &str) -> bool {
        !self.trunks.iter().any(|t| t == endpoint) && self.extensions.matches(endpoint)
    }
}
