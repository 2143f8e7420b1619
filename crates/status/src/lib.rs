//! What `/api/servers` and `/ready` say about each PBX and about the service as a whole:
//! one definition, computed by `service` (from the AMI client's state and the pipeline's
//! counters) and served by `switchboard-http`. A seam crate, as small as a contract can be:
//! it depends on nothing but `serde` and the tracker's `Timestamp`, so neither side pulls
//! the other in (see `docs/ARCHITECTURE.md`, "Crates").

use serde::Serialize;
use tracker::Timestamp;

/// The AMI session to one PBX, as `/api/servers` shows it.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct ServerStatus {
    /// The configured name (`pbx1`), the `server` of its call records.
    pub name: String,
    /// Where the session stands now.
    pub state: ConnectionState,
    /// When it entered `state`.
    pub since: Option<Timestamp>,
    /// From the PBX's banner / `CoreSettings` (`22.10.1`), once known.
    pub asterisk_version: Option<String>,
    /// Seconds since the last event arrived; `None` before the first one.
    pub last_event_age_seconds: Option<f64>,
    /// Events per second, averaged over the last few seconds.
    pub events_per_second: f64,
    /// Sessions re-established after a loss, since the service started.
    pub reconnects: u64,
    /// Round trip of the last keep-alive `Ping`, in seconds.
    pub ping_rtt_seconds: Option<f64>,
    /// How far the tracker is behind the socket.
    pub lag: Lag,
    /// Completed calls of this PBX not yet written to the database.
    pub database_backlog: u64,
    /// The last connection error, for people finding out why a PBX is down.
    pub last_error: Option<String>,
}

/// The life of an AMI session.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum ConnectionState {
    /// Opening the TCP/TLS connection or logging in, for the first time.
    Connecting,
    /// Logged in, events flowing.
    Connected,
    /// The session was lost; waiting to retry (backoff) or retrying.
    Reconnecting,
    /// Not connected and not trying (login refused, stopped).
    Disconnected,
    /// Configured but disabled.
    Disabled,
}

/// The queue between the socket and the tracker (see `docs/ARCHITECTURE.md`, "Shape").
#[derive(Clone, Copy, Debug, Default, PartialEq, Serialize)]
pub struct Lag {
    /// Events read but not yet tracked.
    pub queue_depth: usize,
    /// Age, in seconds, of the oldest of them; `None` when the queue is empty.
    pub oldest_seconds: Option<f64>,
}

/// The body of `/ready`: `{"ready": true|false, "reasons": [...]}`.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize)]
pub struct Readiness {
    pub ready: bool,
    /// Why not, one sentence per problem; empty when ready.
    pub reasons: Vec<String>,
}

/// Which PBXes must be connected for `/ready` to say yes (`[http] ready`). The database must
/// be reachable under every policy: without it the history cannot be kept.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub enum ReadyPolicy {
    /// Every enabled PBX.
    #[default]
    All,
    /// At least one enabled PBX.
    Any,
    /// These PBXes (the others may be down).
    Servers(Vec<String>),
}

impl ServerStatus {
    /// A PBX in `state` of which nothing else is known yet (a disabled one, for instance).
    pub fn new(name: impl Into<String>, state: ConnectionState) -> ServerStatus {
        ServerStatus {
            name: name.into(),
            state,
            since: None,
            asterisk_version: None,
            last_event_age_seconds: None,
            events_per_second: 0.0,
            reconnects: 0,
            ping_rtt_seconds: None,
            lag: Lag::default(),
            database_backlog: 0,
            last_error: None,
        }
    }
}

impl Readiness {
    /// Applies `policy` to the servers' states and the database check (`Err` says why the
    /// database is unreachable). Disabled servers never count.
    pub fn evaluate(
        policy: &ReadyPolicy,
        servers: &[ServerStatus],
        database: Result<(), String>,
    ) -> Readiness {
        let mut reasons = Vec::new();
        if let Err(why) = database {
            reasons.push(format!("database unreachable: {why}"));
        }
        let enabled: Vec<&ServerStatus> = servers
            .iter()
            .filter(|s| s.state != ConnectionState::Disabled)
            .collect();
        let down = |s: &ServerStatus| {
            let mut why = format!("PBX {} is {}", s.name, s.state.as_str());
            if let Some(err) = &s.last_error {
                why.push_str(&format!(" ({err})"));
            }
            why
        };
        match policy {
            ReadyPolicy::All | ReadyPolicy::Any if enabled.is_empty() => {
                reasons.push("no PBX is configured and enabled".to_string());
            }
            ReadyPolicy::All => reasons.extend(
                enabled
                    .iter()
                    .filter(|s| s.state != ConnectionState::Connected)
                    .map(|s| down(s)),
            ),
            ReadyPolicy::Any => {
                if !enabled
                    .iter()
                    .any(|s| s.state == ConnectionState::Connected)
                {
                    reasons.push(format!(
                        "no PBX is connected (ready policy \"any\"): {}",
                        enabled
                            .iter()
                            .map(|s| down(s))
                            .collect::<Vec<_>>()
                            .join("; ")
                    ));
                }
            }
            ReadyPolicy::Servers(names) => {
                for name in names {
                    match enabled.iter().find(|s| s.name == *name) {
                        Some(s) if s.state == ConnectionState::Connected => {}
                        Some(s) => reasons.push(down(s)),
                        None => reasons.push(format!(
                            "PBX {name}, named by the ready policy, is not configured or is disabled"
                        )),
                    }
                }
            }
        }
        Readiness {
            ready: reasons.is_empty(),
            reasons,
        }
    }
}

impl ConnectionState {
    /// The name used in JSON.
    pub fn as_str(self) -> &'static str {
        match self {
            ConnectionState::Connecting => "connecting",
            ConnectionState::Connected => "connected",
            ConnectionState::Reconnecting => "reconnecting",
            ConnectionState::Disconnected => "disconnected",
            ConnectionState::Disabled => "disabled",
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn server(name: &str, state: ConnectionState) -> ServerStatus {
        ServerStatus::new(name, state)
    }

    #[test]
    fn policies() {
        use ConnectionState::*;
        let servers = [server("a", Connected), server("b", Reconnecting)];
        let all = Readiness::evaluate(&ReadyPolicy::All, &servers, Ok(()));
        assert!(!all.ready);
        assert_eq!(all.reasons, ["PBX b is reconnecting"]);
        assert!(Readiness::evaluate(&ReadyPolicy::Any, &servers, Ok(())).ready);
        let list = ReadyPolicy::Servers(vec!["a".into()]);
        assert!(Readiness::evaluate(&list, &servers, Ok(())).ready);
        let list = ReadyPolicy::Servers(vec!["b".into(), "c".into()]);
        let r = Readiness::evaluate(&list, &servers, Ok(()));
        assert_eq!(r.reasons.len(), 2, "{r:?}");
        assert!(r.reasons[1].contains("not configured"));
        let db = Readiness::evaluate(&ReadyPolicy::Any, &servers, Err("refused".into()));
        assert_eq!(db.reasons, ["database unreachable: refused"]);
        let none = Readiness::evaluate(&ReadyPolicy::All, &[server("a", Disabled)], Ok(()));
        assert!(!none.ready);
        let any_down = Readiness::evaluate(&ReadyPolicy::Any, &[server("b", Connecting)], Ok(()));
        assert!(any_down.reasons[0].contains("PBX b is connecting"));
    }
}
