//! Actions: what a client asks of Asterisk.
//!
//! ```text
//! Action: Originate\r\n
//! ActionID: 7\r\n
//! Channel: PJSIP/2001\r\n
//! \r\n
//! ```
//!
//! An action is only ever written whole or not at all: a CR or LF inside a key or value
//! would end the line early and let the rest be read as headers or as a new action (a
//! `Channel` of `x\r\nAction: Originate` would place a second call). [`Action::encode`]
//! refuses such an action before writing a byte.

use bytes::BytesMut;
use std::fmt;

/// Why an action (or a synthesised message) cannot be written.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum ActionError {
    /// A key or value would break the framing or be misread.
    #[error("invalid header {key:?}: {reason}")]
    InvalidHeader {
        /// The offending key (its value is not repeated: it may be a secret).
        key: String,
        /// What is wrong with it.
        reason: &'static str,
    },
}

/// Checks that `key: value` reads back as exactly that one header.
pub(crate) fn check_header(key: &str, value: &str) -> Result<(), ActionError> {
    let bad = |reason| {
        Err(ActionError::InvalidHeader {
            key: key.chars().filter(|c| !c.is_control()).take(64).collect(),
            reason,
        })
    };
    if key.is_empty() {
        return bad("the key is empty");
    }
    if key.contains(['\r', '\n']) {
        return bad("the key contains a CR or LF");
    }
    if key.contains(':') {
        return bad("the key contains ':'");
    }
    if key.starts_with(' ') || key.ends_with(' ') {
        return bad("the key starts or ends with a space");
    }
    if value.contains(['\r', '\n']) {
        return bad("the value contains a CR or LF");
    }
    Ok(())
}

/// Keys whose values are never shown in logs or debug output.
const SECRET_KEYS: [&str; 2] = ["Secret", "Key"];

/// An action to send. Build it with [`Action::new`] and [`Action::header`]; the session
/// adds the `ActionID`.
#[derive(Clone, PartialEq, Eq)]
pub struct Action {
    name: String,
    headers: Vec<(String, String)>,
}

impl Action {
    /// `Action: <name>` with no headers yet.
    pub fn new(name: impl Into<String>) -> Action {
        Action {
            name: name.into(),
            headers: Vec::new(),
        }
    }

    /// Adds a header. Repeated keys are sent in order (`Variable` may appear many times).
    /// Validity is checked when the action is encoded.
    pub fn header(mut self, key: impl Into<String>, value: impl Into<String>) -> Action {
        self.headers.push((key.into(), value.into()));
        self
    }

    /// Adds a header in place.
    pub fn push_header(&mut self, key: impl Into<String>, value: impl Into<String>) {
        self.headers.push((key.into(), value.into()));
    }

    /// Sets `ActionID`, replacing any earlier one.
    pub fn set_action_id(&mut self, id: impl Into<String>) {
        self.headers
            .retain(|(k, _)| !k.eq_ignore_ascii_case("ActionID"));
        self.headers.insert(0, ("ActionID".into(), id.into()));
    }

    /// The action's name (`Login`, `Originate`, …).
    pub fn name(&self) -> &str {
        &self.name
    }

    /// The first value of `key`, case-insensitively.
    pub fn get(&self, key: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(k, _)| k.eq_ignore_ascii_case(key))
            .map(|(_, v)| v.as_str())
    }

    /// The `ActionID`, if set.
    pub fn action_id(&self) -> Option<&str> {
        self.get("ActionID")
    }

    /// The headers, in order (without the `Action:` line).
    pub fn headers(&self) -> impl Iterator<Item = (&str, &str)> {
        self.headers.iter().map(|(k, v)| (k.as_str(), v.as_str()))
    }

    /// Checks every key and value; see the module docs.
    pub fn validate(&self) -> Result<(), ActionError> {
        check_header("Action", &self.name)?;
        if self.name.is_empty() {
            return Err(ActionError::InvalidHeader {
                key: "Action".into(),
                reason: "the action name is empty",
            });
        }
        self.headers
            .iter()
            .try_for_each(|(k, v)| check_header(k, v))
    }

    /// Appends the action's wire form to `dst`, or nothing if it is invalid.
    pub fn encode(&self, dst: &mut BytesMut) -> Result<(), ActionError> {
        self.validate()?;
        let len = 10
            + self.name.len()
            + self
                .headers
                .iter()
                .map(|(k, v)| k.len() + v.len() + 4)
                .sum::<usize>();
        dst.reserve(len);
        dst.extend_from_slice(b"Action: ");
        dst.extend_from_slice(self.name.as_bytes());
        dst.extend_from_slice(b"\r\n");
        for (k, v) in &self.headers {
            dst.extend_from_slice(k.as_bytes());
            dst.extend_from_slice(b": ");
            dst.extend_from_slice(v.as_bytes());
            dst.extend_from_slice(b"\r\n");
        }
        dst.extend_from_slice(b"\r\n");
        Ok(())
    }
}

impl fmt::Debug for Action {
    /// Secrets (`Secret`, the MD5 `Key`) are shown as `***`.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let mut m = f.debug_map();
        m.entry(&"Action", &self.name);
        for (k, v) in &self.headers {
            if SECRET_KEYS.iter().any(|s| s.eq_ignore_ascii_case(k)) {
                m.entry(k, &"***");
            } else {
                m.entry(k, v);
            }
        }
        m.finish()
    }
}
