//! Settings written as text, the same way whether they come from TOML or from the
//! environment: ports, booleans, durations, addresses. Each returns the message of a
//! [`super::ConfigError`]; the caller adds where and which key.

use super::model::{AuthKind, EventMask, LogFormat};
use super::secret::DatabaseUrl;
use std::net::{Ipv4Addr, SocketAddr};
use std::time::Duration;

/// A value quoted for an error message, cut short so a pasted blob stays readable.
pub(crate) fn quoted(s: &str) -> String {
    const MAX: usize = 40;
    if s.chars().count() > MAX {
        let cut: String = s.chars().take(MAX).collect();
        format!("{cut:?}…")
    } else {
        format!("{s:?}")
    }
}

pub(crate) const PORT_EXPECTED: &str = "expected an integer 1-65535";

pub(crate) fn port_from_int(n: i64) -> Result<u16, String> {
    match u16::try_from(n) {
        Ok(p) if p > 0 => Ok(p),
        _ => Err(format!("{PORT_EXPECTED}, got {n}")),
    }
}

pub(crate) fn port(s: &str) -> Result<u16, String> {
    match s.trim().parse::<i64>() {
        Ok(n) => port_from_int(n),
        Err(_) => Err(format!("{PORT_EXPECTED}, got {}", quoted(s))),
    }
}

pub(crate) fn boolean(s: &str) -> Result<bool, String> {
    match s.trim().to_ascii_lowercase().as_str() {
        "1" | "true" | "yes" | "on" => Ok(true),
        "0" | "false" | "no" | "off" => Ok(false),
        _ => Err(format!(
            "expected true or false (also yes/no, on/off, 1/0), got {}",
            quoted(s)
        )),
    }
}

pub(crate) fn auth(s: &str) -> Result<AuthKind, String> {
    match s.trim().to_ascii_lowercase().as_str() {
        "plain" => Ok(AuthKind::Plain),
        "md5" => Ok(AuthKind::Md5),
        _ => Err(format!("expected \"plain\" or \"md5\", got {}", quoted(s))),
    }
}

/// The longest duration any setting takes. Every duration switchboard reads (keep-alive,
/// timeouts, backoff, flush interval) is about seconds or minutes; a value past a day is a
/// typo (`"10d"` for `"10s"`) or an overflow waiting to happen (a keep-alive of 3 billion
/// years turns into an `Instant` that cannot be represented), so it is refused here.
pub(crate) const MAX_DURATION: Duration = Duration::from_secs(24 * 3600);

/// `"10s"`, `"500ms"`, `"1m 30s"`; more than zero, at most a day.
pub(crate) fn duration(s: &str) -> Result<Duration, String> {
    match humantime::parse_duration(s.trim()) {
        Ok(d) if d.is_zero() => Err("must be more than 0".into()),
        Ok(d) if d > MAX_DURATION => Err(format!("must be at most 24h, got {}", quoted(s))),
        Ok(d) => Ok(d),
        Err(_) => Err(format!(
            "expected a duration such as \"10s\" or \"500ms\", got {}",
            quoted(s)
        )),
    }
}

/// The shortest API token taken. A token is the whole of the API's protection once it
/// listens beyond loopback: one guessable in an afternoon of requests is no protection.
pub(crate) const MIN_TOKEN_LEN: usize = 16;

/// An `[http] tokens` entry: at least [`MIN_TOKEN_LEN`] characters of the RFC 6750 token
/// alphabet (letters, digits, `-._~+/`, trailing `=`), so that it can travel in an
/// `Authorization: Bearer` header as written. The errors never show the token.
pub(crate) fn token(s: &str) -> Result<&str, String> {
    let body = s.trim_end_matches('=');
    if !body
        .bytes()
        .all(|b| b.is_ascii_alphanumeric() || b"-._~+/".contains(&b))
    {
        return Err(
            "a token may hold only letters, digits and -._~+/ (then = padding): \
                    no spaces or other characters, which a Bearer header cannot carry"
                .into(),
        );
    }
    if s.len() < MIN_TOKEN_LEN {
        return Err(format!(
            "a token of {} characters is too short: use at least {MIN_TOKEN_LEN} (e.g. `openssl rand -hex 24`)",
            s.len()
        ));
    }
    Ok(s)
}

/// A number of seconds, for those who write `keepalive_interval = 10`.
pub(crate) fn duration_from_secs(n: f64) -> Result<Duration, String> {
    if n.is_finite() && n > 0.0 && n <= MAX_DURATION.as_secs_f64() {
        Ok(Duration::from_secs_f64(n))
    } else {
        Err(format!(
            "expected a duration such as \"10s\" or a number of seconds more than 0 and at most 86400 (24h), got {n}"
        ))
    }
}

/// An IP address and port; `localhost` is taken as 127.0.0.1 (resolving names could give
/// a different address than the one a person meant to expose).
pub(crate) fn listen(s: &str) -> Result<SocketAddr, String> {
    let t = s.trim();
    if let Ok(a) = t.parse::<SocketAddr>() {
        return Ok(a);
    }
    if let Some(port) = t.strip_prefix("localhost:") {
        if let Ok(p) = port.parse::<u16>() {
            return Ok(SocketAddr::from((Ipv4Addr::LOCALHOST, p)));
        }
    }
    Err(format!(
        "expected an IP address and port such as \"127.0.0.1:8480\" or \"[::1]:8480\", got {}",
        quoted(s)
    ))
}

pub(crate) fn log_format(s: &str) -> Result<LogFormat, String> {
    LogFormat::parse(s.trim())
        .ok_or_else(|| format!("expected \"readable\" or \"json\", got {}", quoted(s)))
}

/// A `tracing` filter (`info`, `warn,ami=debug`), checked now rather than at startup.
pub(crate) fn filter(s: &str) -> Result<String, String> {
    match tracing_subscriber::EnvFilter::builder().parse(s.trim()) {
        Ok(_) => Ok(s.trim().to_string()),
        Err(e) => Err(format!(
            "expected a level (error, warn, info, debug, trace) or a filter such as \"info,ami=debug\", got {}: {e}",
            quoted(s)
        )),
    }
}

/// The URL itself is never repeated: it may carry a password.
pub(crate) fn database_url(s: &str) -> Result<DatabaseUrl, String> {
    let url = DatabaseUrl::new(s.trim());
    if url.is_sqlite() || url.is_postgres() {
        Ok(url)
    } else {
        Err(format!(
            "expected sqlite://FILE or postgres://USER:PASSWORD@HOST/DB, got a URL with scheme {}",
            quoted(url.scheme())
        ))
    }
}

/// `"on"`, `"off"`, or event classes as `"call,agent"`.
pub(crate) fn events(s: &str) -> Result<EventMask, String> {
    match s.trim().to_ascii_lowercase().as_str() {
        "on" | "yes" | "true" => Ok(EventMask::On),
        "off" | "no" | "false" => Ok(EventMask::Off),
        list => event_classes(list.split(',').map(str::trim)),
    }
}

pub(crate) fn event_classes<'a>(list: impl Iterator<Item = &'a str>) -> Result<EventMask, String> {
    let mut out: Vec<String> = Vec::new();
    for class in list {
        let class = class.to_ascii_lowercase();
        if !EventMask::CLASSES.contains(&class.as_str()) {
            return Err(format!(
                "unknown event class {}; expected \"on\", \"off\" or classes among {}",
                quoted(&class),
                EventMask::CLASSES.join(", ")
            ));
        }
        if !out.contains(&class) {
            out.push(class);
        }
    }
    if out.is_empty() {
        return Err("expected \"on\", \"off\" or a list of event classes, got nothing".into());
    }
    Ok(EventMask::Classes(out))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn text_forms() {
        assert_eq!(port("5038"), Ok(5038));
        assert_eq!(
            port("x"),
            Err("expected an integer 1-65535, got \"x\"".to_string())
        );
        assert!(port("0").is_err() && port("65536").is_err());
        assert_eq!(boolean("Yes"), Ok(true));
        assert_eq!(duration("1m 30s"), Ok(Duration::from_secs(90)));
        assert!(duration("0s").is_err() && duration("ten").is_err());
        assert_eq!(
            listen("localhost:9000").unwrap().to_string(),
            "127.0.0.1:9000"
        );
        assert_eq!(listen("[::1]:8480").unwrap().to_string(), "[::1]:8480");
        assert!(listen("8480").is_err());
        assert_eq!(
            events("Call, agent").unwrap().header_value(),
            "call,agent".to_string()
        );
        assert!(events("calls").is_err());
        assert!(filter("info,ami=debug").is_ok());
        assert!(filter("info,ami=loud").is_err());
        let e = database_url("mysql://u:hunter2@h/db").unwrap_err();
        assert!(!e.contains("hunter2"), "{e}");
        assert!(quoted(&"x".repeat(100)).ends_with('…'));
    }
}
