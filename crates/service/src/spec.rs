//! From a `[[servers]]` entry of the configuration to what a pipeline runs: the AMI
//! client's settings and the tracker's.

use crate::config::{AuthKind, ServerConfig};
use crate::pipeline::PipelineSpec;
use ami::{Auth, ClientConfig, TlsOptions};
use tracker::{ExtensionPattern, TrackerConfig};

/// A server entry the pipeline cannot run as configured.
#[derive(Debug, thiserror::Error)]
#[error("server {server:?}: {message}")]
pub struct SpecError {
    /// The `name` of the `[[servers]]` entry.
    pub server: String,
    /// What is wrong and what to change.
    pub message: String,
}

/// The pipeline spec of one configured PBX.
pub fn pipeline_spec(server: &ServerConfig) -> Result<PipelineSpec, SpecError> {
    let mut client = ClientConfig::new(
        server.host.clone(),
        server.port,
        server.username.clone(),
        // The one place the secret leaves its wrapper: the AMI login needs it.
        server.secret.expose(),
    );
    client.auth = match server.auth {
        AuthKind::Plain => Auth::Plain,
        AuthKind::Md5 => Auth::Md5,
    };
    client.tls = match &server.tls {
        None => None,
        Some(tls) => {
            let mut options = match (tls.pin_sha256, &tls.ca_file, tls.verify) {
                (Some(pin), _, _) => TlsOptions::pin(pin),
                (None, Some(ca), _) => TlsOptions::ca_file(ca.clone()),
                (None, None, false) => TlsOptions::accept_any(),
                (None, None, true) => TlsOptions::system_roots(),
            };
            options.server_name = tls.server_name.clone();
            Some(options)
        }
    };
    client.events = Some(server.events.header_value());
    client.connect_timeout = server.connect_timeout;
    client.ping_interval = server.keepalive.interval;
    client.ping_timeout = server.keepalive.deadline;
    client.backoff.initial = server.backoff.initial;
    client.backoff.max = server.backoff.max.max(server.backoff.initial);

    let mut spec = PipelineSpec::new(server.name.clone(), client);
    spec.tracker = TrackerConfig {
        server: server.name.clone(),
        extensions: extension_pattern(server.extensions.as_str()).ok_or_else(|| SpecError {
            server: server.name.clone(),
            message: format!(
                "extensions = {:?} is not a form the call tracker understands yet: use digits \
                 with a length range (\"[0-9]{{2,6}}\"), a list of names (\"2001|2002\"), or \
                 prefixes (\"(2|3).*\")",
                server.extensions.as_str()
            ),
        })?,
        trunks: server.trunks.clone(),
        ..TrackerConfig::new(server.name.clone())
    };
    Ok(spec)
}

/// The tracker's pattern for the configuration's regular expression, for the forms people
/// write: `[0-9]{2,6}` / `\d{4}` (digits of a length), `2001|2002` (a list), `(2|3).*`
/// (prefixes). `None` for anything else.
pub fn extension_pattern(regex: &str) -> Option<ExtensionPattern> {
    let r = regex.trim();
    let digits = r
        .strip_prefix("[0-9]")
        .or_else(|| r.strip_prefix("\\d"))
        .and_then(|rest| rest.strip_prefix('{'))
        .and_then(|rest| rest.strip_suffix('}'));
    if let Some(range) = digits {
        let (min, max) = match range.split_once(',') {
            Some((a, b)) => (a.trim().parse().ok()?, b.trim().parse().ok()?),
            None => {
                let n = range.trim().parse().ok()?;
                (n, n)
            }
        };
        return (min <= max).then_some(ExtensionPattern::Digits { min, max });
    }
    let literal = |s: &str| {
        !s.is_empty()
            && s.bytes()
                .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_')
    };
    if let Some(inner) = r.strip_prefix('(').and_then(|s| s.strip_suffix(").*")) {
        let prefixes: Vec<&str> = inner.split('|').collect();
        if prefixes.iter().all(|p| literal(p)) {
            return Some(ExtensionPattern::Prefixes(
                prefixes.into_iter().map(String::from).collect(),
            ));
        }
    }
    let names: Vec<&str> = r.split('|').collect();
    if names.iter().all(|n| literal(n)) {
        return Some(ExtensionPattern::List(
            names.into_iter().map(String::from).collect(),
        ));
    }
    None
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_usual_extension_patterns_are_understood() {
        assert_eq!(
            extension_pattern("[0-9]{2,6}"),
            Some(ExtensionPattern::Digits { min: 2, max: 6 })
        );
        assert_eq!(
            extension_pattern("\\d{4}"),
            Some(ExtensionPattern::Digits { min: 4, max: 4 })
        );
        assert_eq!(
            extension_pattern("2001|2002"),
            Some(ExtensionPattern::List(vec!["2001".into(), "2002".into()]))
        );
        assert_eq!(
            extension_pattern("(2|3).*"),
            Some(ExtensionPattern::Prefixes(vec!["2".into(), "3".into()]))
        );
        assert_eq!(extension_pattern("[0-9]{6,2}"), None);
        assert_eq!(extension_pattern("2[0-9]+x?"), None);
    }
}
