//! [`RawConfig`] → [`Config`]: defaults filled in, secrets read, and the checks that
//! look at more than one value (unique names, ready list, listen address vs tokens).

use super::env::Env;
use super::error::{ConfigError, Origin};
use super::model::{
    Backoff, Config, DatabaseConfig, HttpConfig, KeepAlive, LogConfig, ReadyPolicy, SecretSource,
    ServerConfig,
};
use super::raw::{default_name, RawConfig, RawServer, SecretSpec, Val};
use super::secret::Secret;
use super::value::quoted;
use std::collections::HashMap;

pub(crate) fn finish(
    mut raw: RawConfig,
    env: &Env,
    require_server: bool,
    errors: &mut Vec<ConfigError>,
) -> Option<Config> {
    let mut servers = Vec::new();
    // name → (key, line) of the first server that took it.
    let mut seen: HashMap<String, Val<()>> = HashMap::new();
    for (i, mut s) in std::mem::take(&mut raw.servers).into_iter().enumerate() {
        s.fill_from(&raw.defaults);
        let name = s.name.clone().unwrap_or_else(|| {
            Val::new(default_name(i), s.origin.clone(), format!("{}.name", s.key))
        });
        if let Err(msg) = check_name(&name.value) {
            errors.push(name.error(msg));
        } else if let Some(first) = seen.get(&name.value) {
            errors.push(
                name.error(format!(
                    "duplicate server name {}, also used by {} ({})",
                    quoted(&name.value),
                    first.key.trim_end_matches(".name"),
                    first.origin
                ))
                .with_hint("names identify a PBX in call ids and must be unique"),
            );
        } else {
            seen.insert(
                name.value.clone(),
                Val::new((), name.origin.clone(), name.key.clone()),
            );
        }
        if let Some(server) = server(s, name.value, env, errors) {
            servers.push(server);
        }
    }
    if require_server && seen.is_empty() && errors.is_empty() {
        errors.push(ConfigError::at(Origin::Default, "no PBX configured").with_hint(
            "add a [[servers]] table to switchboard.toml, or set AMI_HOST, AMI_USERNAME and AMI_PASSWORD",
        ));
    }

    let http = http(&raw, &seen, errors);
    let d = DatabaseConfig::default();
    let rd = raw.database;
    let database = DatabaseConfig {
        url: rd.url.map_or(d.url, |v| v.value),
        batch_size: rd.batch_size.map_or(d.batch_size, |v| v.value),
        flush_interval: rd.flush_interval.map_or(d.flush_interval, |v| v.value),
        memory_bound: rd.memory_bound.map_or(d.memory_bound, |v| v.value),
        journal_dir: rd.journal_dir.map_or(d.journal_dir, |v| v.value),
        journal_sync_interval: rd
            .journal_sync_interval
            .map_or(d.journal_sync_interval, |v| v.value),
        journal_max_mb: rd.journal_max_mb.map_or(d.journal_max_mb, |v| v.value),
    };
    let l = LogConfig::default();
    let log = LogConfig {
        format: raw.log.format.map_or(l.format, |v| v.value),
        filter: raw.log.filter.map_or(l.filter, |v| v.value),
    };
    if !errors.is_empty() {
        return None;
    }
    Some(Config {
        servers,
        http,
        database,
        log,
    })
}

/// Names go into call ids (`name:linkedid`), metric labels, URLs and the name of the
/// directory of the PBX's call checkpoints (hence never `.` or `..`).
fn check_name(name: &str) -> Result<(), String> {
    let ok = !name.is_empty()
        && name != "."
        && name != ".."
        && name.len() <= 64
        && name
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || matches!(c, '-' | '_' | '.'));
    if ok {
        Ok(())
    } else {
        Err(format!(
            "expected 1-64 letters, digits, '-', '_' or '.' (not \".\" or \"..\"), got {}",
            quoted(name)
        ))
    }
}

fn server(
    s: RawServer,
    name: String,
    env: &Env,
    errors: &mut Vec<ConfigError>,
) -> Option<ServerConfig> {
    let before = errors.len();
    let host = match &s.host {
        Some(h) => {
            if let Err(msg) = check_host(&h.value) {
                errors.push(h.error(msg.0).with_hint(msg.1));
            }
            Some(h.value.clone())
        }
        None => {
            errors.push(
                s.missing("host")
                    .with_hint("the PBX's host name or IP address"),
            );
            None
        }
    };
    let username = match &s.username {
        Some(u) if u.value.trim().is_empty() => {
            errors.push(u.error("is empty"));
            None
        }
        Some(u) => match one_line(&u.value) {
            Ok(name) => Some(name.to_string()),
            Err(why) => {
                errors.push(u.error(why));
                None
            }
        },
        None => {
            errors.push(
                s.missing("username")
                    .with_hint("the [user] of the PBX's manager.conf"),
            );
            None
        }
    };
    let secret = match &s.secret {
        // A disabled server keeps its settings for later; its secret file or variable
        // need not exist yet (they are checked when it is enabled).
        Some(spec) if s.enabled.as_ref().is_some_and(|v| !v.value) => {
            read_secret(spec, env, &mut Vec::new())
                .or_else(|| Some((Secret::new(""), SecretSource::Inline)))
        }
        Some(spec) => read_secret(spec, env, errors),
        None => {
            let e = s.missing("secret");
            let e = if s.from_env {
                e
            } else {
                e.with_hint("set one of secret, secret_file or secret_env")
            };
            errors.push(e);
            None
        }
    };
    let tls = s.tls.as_ref().and_then(|v| v.value.clone());
    if let (Some(t), Some(v)) = (&tls, &s.tls) {
        if t.pin_sha256.is_some() && t.ca_file.is_some() {
            errors
                .push(v.error("has both pin_sha256 and ca_file").with_hint(
                    "a pin trusts one certificate, a CA file a chain: give one of them",
                ));
        }
        if let Some(ca) = &t.ca_file {
            if let Err(e) = std::fs::metadata(ca).and_then(|m| {
                if m.is_file() {
                    Ok(())
                } else {
                    Err(std::io::Error::other("not a file"))
                }
            }) {
                errors.push(v.error(format!("ca_file {}: {e}", ca.display())));
            }
        }
    }
    let ka = KeepAlive::default();
    let keepalive = KeepAlive {
        interval: s
            .keepalive_interval
            .as_ref()
            .map_or(ka.interval, |v| v.value),
        deadline: s
            .keepalive_deadline
            .as_ref()
            .map_or(ka.deadline, |v| v.value),
    };
    let b = Backoff::default();
    let backoff = Backoff {
        initial: s.backoff_initial.as_ref().map_or(b.initial, |v| v.value),
        max: s.backoff_max.as_ref().map_or(b.max, |v| v.value),
    };
    if backoff.initial > backoff.max {
        let at = s.backoff_max.as_ref().or(s.backoff_initial.as_ref());
        let msg = format!(
            "backoff_initial ({:?}) is longer than backoff_max ({:?})",
            backoff.initial, backoff.max
        );
        errors.push(match at {
            Some(v) => v.error(msg),
            None => ConfigError::new(s.origin.clone(), s.key.clone(), msg),
        });
    }
    if errors.len() > before {
        return None;
    }
    let (secret, secret_source) = secret?;
    Some(ServerConfig {
        name,
        host: host?,
        port: s
            .port
            .as_ref()
            .map_or(if tls.is_some() { 5039 } else { 5038 }, |v| v.value),
        username: username?,
        secret,
        secret_source,
        tls,
        auth: s.auth.map(|v| v.value).unwrap_or_default(),
        events: s.events.map(|v| v.value).unwrap_or_default(),
        keepalive,
        connect_timeout: s
            .connect_timeout
            .map_or(ServerConfig::DEFAULT_CONNECT_TIMEOUT, |v| v.value),
        backoff,
        extensions: s.extensions.map(|v| v.value).unwrap_or_default(),
        trunks: s.trunks.map(|v| v.value).unwrap_or_default(),
        enabled: s.enabled.is_none_or(|v| v.value),
    })
}

/// A host name or IP address, not a URL and not `host:port`.
fn check_host(host: &str) -> Result<(), (String, String)> {
    let h = host.trim();
    if h.is_empty() {
        return Err((
            "is empty".into(),
            "the PBX's host name or IP address".into(),
        ));
    }
    if h.contains("://") {
        return Err((
            format!("expected a host name or IP address, got {}", quoted(host)),
            "no scheme: AMI is not HTTP; write the bare host and use tls = true for TLS".into(),
        ));
    }
    if h.contains(':') && h.parse::<std::net::Ipv6Addr>().is_err() {
        return Err((
            format!("expected a host name or IP address, got {}", quoted(host)),
            "put the port in `port` (AMI_PORT), not after the host".into(),
        ));
    }
    if h.chars().any(|c| c.is_whitespace() || c == '/') {
        return Err((
            format!("expected a host name or IP address, got {}", quoted(host)),
            "a host name has no spaces or slashes".into(),
        ));
    }
    Ok(())
}

fn read_secret(
    spec: &Val<SecretSpec>,
    env: &Env,
    errors: &mut Vec<ConfigError>,
) -> Option<(Secret, SecretSource)> {
    let (value, source) = match &spec.value {
        SecretSpec::Inline(s) => (s.expose().to_string(), SecretSource::Inline),
        SecretSpec::File(path) => match std::fs::read_to_string(path) {
            Ok(text) => (text, SecretSource::File(path.clone())),
            Err(e) => {
                errors.push(
                    spec.error(format!("cannot read {}: {e}", path.display()))
                        .with_hint(
                            "a relative secret_file is read from the configuration file's folder",
                        ),
                );
                return None;
            }
        },
        SecretSpec::Env(var) => match env.get(var) {
            Some(v) => (v.value.clone(), SecretSource::Env(var.clone())),
            None => {
                errors.push(spec.error(format!("environment variable {var} is not set")));
                return None;
            }
        },
    };
    let value = match one_line(&value) {
        Ok(v) => v,
        Err(why) => {
            errors.push(spec.error(why));
            return None;
        }
    };
    if value.is_empty() {
        errors.push(spec.error("the secret is empty"));
        return None;
    }
    Some((Secret::new(value.to_string()), source))
}

/// An AMI login value (user name or secret) as one line. AMI frames are lines, so a CR or
/// LF inside one can never log in: it would end the header early (and let the rest be read
/// as another header). One trailing `\n` or `\r\n` is the editor's, `echo`'s or a
/// Kubernetes secret's, not the value's, and is dropped, wherever the value came from (a
/// file, `.env`, the environment); any other line break is an error here rather than a
/// login refused forever. Spaces are kept: a password may begin or end with one.
fn one_line(value: &str) -> Result<&str, &'static str> {
    let v = value
        .strip_suffix('\n')
        .map_or(value, |v| v.strip_suffix('\r').unwrap_or(v));
    if v.contains(['\r', '\n']) {
        return Err(
            "contains a line break (CR or LF), which an AMI login cannot carry; \
                    only one trailing newline is dropped",
        );
    }
    Ok(v)
}

fn http(
    raw: &RawConfig,
    servers: &HashMap<String, Val<()>>,
    errors: &mut Vec<ConfigError>,
) -> HttpConfig {
    let d = HttpConfig::default();
    let h = &raw.http;
    let tokens: Vec<Secret> = h.tokens.as_ref().map_or_else(Vec::new, |v| v.value.clone());
    if let Some(l) = &h.listen {
        if !l.value.ip().is_loopback() && tokens.is_empty() {
            errors.push(
                l.error(format!(
                    "{} is not a loopback address, and no [http] tokens are configured",
                    l.value
                ))
                .with_hint(
                    "without tokens the API is read-only and listens on 127.0.0.1 or [::1] only; \
                     put a reverse proxy with authentication in front to expose it",
                ),
            );
        }
    }
    if let Some(r) = &h.ready {
        if let ReadyPolicy::Servers(names) = &r.value {
            for n in names {
                if !servers.contains_key(n) {
                    let mut known: Vec<&str> = servers.keys().map(String::as_str).collect();
                    known.sort_unstable();
                    errors.push(
                        r.error(format!("unknown server {}", quoted(n)))
                            .with_hint(format!("servers: {}", known.join(", "))),
                    );
                }
            }
        }
    }
    HttpConfig {
        listen: h.listen.as_ref().map_or(d.listen, |v| v.value),
        ready: h.ready.as_ref().map_or(d.ready, |v| v.value.clone()),
        tokens,
        stream: stream::HubConfig {
            ring_messages: h
                .stream_ring_messages
                .as_ref()
                .map_or(d.stream.ring_messages, |v| v.value),
            ring_bytes: h
                .stream_ring_mb
                .as_ref()
                .map_or(d.stream.ring_bytes, |v| v.value.saturating_mul(1024 * 1024)),
            client_queue: h
                .stream_client_queue
                .as_ref()
                .map_or(d.stream.client_queue, |v| v.value),
            ..d.stream
        },
    }
}
