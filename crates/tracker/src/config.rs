//! What the tracker needs to know about the PBX it watches: its name, which endpoints are our
//! phones and which are trunks, and how long a silent call may stay open.

/// Which endpoint names are internal extensions (our phones): a regular expression that
/// must match the whole name (it is anchored for you). The default, `[0-9]{2,6}`, says an
/// endpoint named by a short number is a phone and anything else (`pstn`, `trunk-out`) is a
/// trunk.
///
/// This is the one definition: the configuration parses `extensions` into it and hands it
/// to the tracker as is, so any expression the configuration accepts the tracker runs.
#[derive(Clone)]
pub struct ExtensionPattern {
    source: String,
    regex: regex::Regex,
}

impl ExtensionPattern {
    /// The default pattern.
    pub const DEFAULT: &'static str = "[0-9]{2,6}";

    /// Compiles `pattern`, anchored at both ends.
    pub fn new(pattern: &str) -> Result<ExtensionPattern, regex::Error> {
        // Bounded: a pattern comes from the operator, but a huge one still must not make
        // every event slow or take the memory of a large automaton.
        let regex = regex::RegexBuilder::new(&format!("^(?:{pattern})$"))
            .size_limit(1 << 20)
            .build()?;
        Ok(ExtensionPattern {
            source: pattern.to_string(),
            regex,
        })
    }

    /// The expression as written.
    pub fn as_str(&self) -> &str {
        &self.source
    }

    /// True when `name` is one of our phones.
    pub fn matches(&self, name: &str) -> bool {
        self.regex.is_match(name)
    }
}

impl Default for ExtensionPattern {
    fn default() -> Self {
        ExtensionPattern::new(Self::DEFAULT).expect("the default pattern compiles")
    }
}

impl PartialEq for ExtensionPattern {
    fn eq(&self, other: &Self) -> bool {
        self.source == other.source
    }
}

impl Eq for ExtensionPattern {}

impl std::fmt::Debug for ExtensionPattern {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "ExtensionPattern({:?})", self.source)
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
