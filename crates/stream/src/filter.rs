//! Which updates a client wants: `?server=pbx1,pbx2&extension=2001&kinds=call,extension`.
//!
//! Every parameter is a comma-separated list; an absent one lets everything through.
//! - `server`: updates (and snapshot entries) of these PBXes only.
//! - `extension`: an agent's screen: the calls one of these extensions is or was part of
//!   (a call transferred away from the agent still reaches them once, with the view that
//!   no longer names them, so their screen drops it), these extensions' states, the queues
//!   they are members of. Server updates are not filtered by extension: an agent's screen
//!   wants to know its PBX is down.
//! - `kinds`: `call`, `extension`, `queue`, `server`.
//!
//! A filtered client sees gaps in `seq`; the numbers stay those of the whole stream, so it
//! resumes like any other client.

use crate::message::Kind;

/// Values per parameter at most.
pub const MAX_VALUES: usize = 64;
/// Bytes per value at most.
pub const MAX_VALUE_BYTES: usize = 128;

/// A client's filter.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Filter {
    servers: Option<Vec<String>>,
    extensions: Option<Vec<String>>,
    kinds: Option<Vec<Kind>>,
}

/// A parameter the stream cannot use.
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
#[error("query parameter `{parameter}`: {problem}")]
pub struct FilterError {
    pub parameter: &'static str,
    pub problem: String,
}

fn list(parameter: &'static str, value: Option<&str>) -> Result<Option<Vec<String>>, FilterError> {
    let Some(value) = value else {
        return Ok(None);
    };
    let err = |problem: String| FilterError { parameter, problem };
    let values: Vec<String> = value
        .split(',')
        .map(str::trim)
        .filter(|v| !v.is_empty())
        .map(str::to_string)
        .collect();
    if values.is_empty() {
        return Err(err("give at least one value, comma-separated".into()));
    }
    if values.len() > MAX_VALUES {
        return Err(err(format!("at most {MAX_VALUES} values")));
    }
    if let Some(v) = values.iter().find(|v| v.len() > MAX_VALUE_BYTES) {
        return Err(err(format!(
            "a value of {} bytes is longer than {MAX_VALUE_BYTES}",
            v.len()
        )));
    }
    Ok(Some(values))
}

impl Filter {
    /// Everything.
    pub fn all() -> Filter {
        Filter::default()
    }

    /// The filter of the query parameters `server`, `extension` and `kinds`.
    pub fn parse(
        server: Option<&str>,
        extension: Option<&str>,
        kinds: Option<&str>,
    ) -> Result<Filter, FilterError> {
        let kinds = match list("kinds", kinds)? {
            None => None,
            Some(names) => Some(
                names
                    .iter()
                    .map(|n| {
                        Kind::parse(n).ok_or_else(|| FilterError {
                            parameter: "kinds",
                            problem: format!(
                                "unknown kind `{n}`; the kinds are call, extension, queue, server"
                            ),
                        })
                    })
                    .collect::<Result<Vec<_>, _>>()?,
            ),
        };
        Ok(Filter {
            servers: list("server", server)?,
            extensions: list("extension", extension)?,
            kinds,
        })
    }

    /// Whether an update of `kind` from `server`, concerning `extensions`, passes.
    pub fn passes(&self, kind: Kind, server: &str, extensions: &[String]) -> bool {
        if let Some(k) = &self.kinds {
            if !k.contains(&kind) {
                return false;
            }
        }
        if let Some(s) = &self.servers {
            if !s.iter().any(|s| s == server) {
                return false;
            }
        }
        match (&self.extensions, kind) {
            (None, _) | (_, Kind::Server) => true,
            (Some(wanted), _) => extensions.iter().any(|e| wanted.contains(e)),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn v(s: &[&str]) -> Vec<String> {
        s.iter().map(|s| s.to_string()).collect()
    }

    #[test]
    fn an_absent_parameter_lets_everything_through() {
        let f = Filter::all();
        for k in Kind::ALL {
            assert!(f.passes(k, "pbx1", &[]));
        }
    }

    #[test]
    fn each_parameter_narrows() {
        let f = Filter::parse(Some("pbx1, pbx2"), Some("2001"), Some("call,server")).unwrap();
        assert!(f.passes(Kind::Call, "pbx2", &v(&["2002", "2001"])));
        assert!(!f.passes(Kind::Call, "pbx2", &v(&["2002"])));
        assert!(!f.passes(Kind::Call, "pbx3", &v(&["2001"])));
        assert!(!f.passes(Kind::Extension, "pbx1", &v(&["2001"])));
        // A server's state reaches an agent's screen whatever its extensions.
        assert!(f.passes(Kind::Server, "pbx1", &[]));
        assert!(!f.passes(Kind::Server, "pbx9", &[]));
    }

    #[test]
    fn bad_parameters_say_what_is_wrong() {
        let e = Filter::parse(None, None, Some("call,calls")).unwrap_err();
        assert_eq!(e.parameter, "kinds");
        assert!(e.problem.contains("`calls`"), "{e}");
        assert_eq!(
            Filter::parse(Some(" , "), None, None)
                .unwrap_err()
                .parameter,
            "server"
        );
        let many = vec!["x"; MAX_VALUES + 1].join(",");
        assert!(Filter::parse(None, Some(&many), None).is_err());
        let long = "9".repeat(MAX_VALUE_BYTES + 1);
        assert!(Filter::parse(None, Some(&long), None).is_err());
    }
}
