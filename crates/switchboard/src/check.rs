//! `switchboard check`: the first thing to run when a PBX link misbehaves.
//!
//! Connects, logs in, and reports what a person needs to tell where it breaks: the
//! connect and login latency, the Asterisk version, a Ping round trip, then either some
//! events or the answer to one action. With `--quiet` it counts events instead of printing
//! them, a quick throughput probe.
//!
//! Exit codes (for scripts): 0 success; 2 usage (bad flags, no secret and no terminal to ask
//! on); 3 the PBX cannot be reached or was lost (refused, timeout, TLS, not AMI, dropped);
//! 4 the credentials were rejected; 5 the action failed (error, permission denied, timeout).
//! Every failure is one line on stderr saying what happened and what to check.

use ami::{
    Action, AmiError, Auth, ClientConfig, Connection, EventStream, SessionEvent, TlsOptions,
};
use std::collections::VecDeque;
use std::io::{IsTerminal, Write};
use std::path::PathBuf;
use std::process::ExitCode;
use std::time::{Duration, Instant};

#[derive(clap::Args, Debug)]
pub struct Args {
    /// Asterisk host name or address.
    #[arg(long)]
    host: String,
    /// Manager port [default: 5038, or 5039 with --tls].
    #[arg(long)]
    port: Option<u16>,
    /// Manager user (a [section] of manager.conf).
    #[arg(long)]
    username: String,
    /// The user's secret; else $AMI_PASSWORD; else asked on the terminal. Never printed.
    #[arg(long)]
    secret: Option<String>,
    /// How to log in: plain sends the secret, md5 answers a challenge.
    #[arg(long, value_enum, default_value_t = AuthArg::Plain)]
    auth: AuthArg,
    /// AMI over TLS. The certificate is accepted as is (Asterisk's is usually
    /// self-signed) unless --tls-ca is given.
    #[arg(long)]
    tls: bool,
    /// Verify the server's certificate against this PEM file (implies --tls). A
    /// self-signed certificate in it (openssl req -x509) is trusted as a pin.
    #[arg(long, value_name = "FILE", conflicts_with = "tls_pin")]
    tls_ca: Option<PathBuf>,
    /// Trust exactly the certificate with this SHA-256 fingerprint, as `openssl x509
    /// -noout -fingerprint -sha256` prints it (AB:CD:…; implies --tls; no name check).
    #[arg(long, value_name = "SHA256")]
    tls_pin: Option<ami::CertPin>,
    /// How many events to print (or count, with --quiet) before leaving.
    #[arg(long, value_name = "N", default_value_t = 10)]
    events: u64,
    /// Print no events: only how many arrived and at what rate.
    #[arg(long)]
    quiet: bool,
    /// Send this action and print its response (and list) instead of events.
    #[arg(long, value_name = "NAME")]
    action: Option<String>,
    /// A header of the action, as 'Key: Value'; repeat for more.
    #[arg(long = "header", value_name = "'Key: Value'", requires = "action")]
    headers: Vec<String>,
    /// Seconds to wait for the action's response, or for the events.
    #[arg(long, value_name = "S", default_value_t = 10.0)]
    timeout: f64,
}

#[derive(clap::ValueEnum, Clone, Copy, Debug)]
enum AuthArg {
    Plain,
    Md5,
}

/// Exit codes.
const USAGE: u8 = 2;
const UNREACHABLE: u8 = 3;
const REJECTED: u8 = 4;
const ACTION_FAILED: u8 = 5;

struct Failure {
    code: u8,
    message: String,
}

impl Failure {
    fn new(code: u8, message: impl Into<String>) -> Failure {
        Failure {
            code,
            message: message.into(),
        }
    }
}

pub fn main(args: Args) -> ExitCode {
    let runtime = match tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
    {
        Ok(rt) => rt,
        Err(e) => {
            eprintln!("error: cannot start the async runtime: {e}");
            return ExitCode::FAILURE;
        }
    };
    match runtime.block_on(run(args)) {
        Ok(()) => ExitCode::SUCCESS,
        Err(f) => {
            eprintln!("error: {}", f.message);
            ExitCode::from(f.code)
        }
    }
}

/// The secret from the flag, the environment or the terminal, in that order.
fn secret(args: &Args) -> Result<String, Failure> {
    if let Some(s) = &args.secret {
        return Ok(s.clone());
    }
    if let Ok(s) = std::env::var("AMI_PASSWORD") {
        return Ok(s);
    }
    if std::io::stdin().is_terminal() {
        let prompt = format!("AMI secret for {}@{}: ", args.username, args.host);
        return rpassword::prompt_password(prompt)
            .map_err(|e| Failure::new(USAGE, format!("could not read the secret: {e}")));
    }
    Err(Failure::new(
        USAGE,
        "no secret: pass --secret, set AMI_PASSWORD, or run on a terminal to be asked",
    ))
}

fn action(args: &Args) -> Result<Option<Action>, Failure> {
    let Some(name) = &args.action else {
        return Ok(None);
    };
    let mut action = Action::new(name.trim());
    for h in &args.headers {
        let Some((k, v)) = h.split_once(':') else {
            return Err(Failure::new(
                USAGE,
                format!("--header {h:?} is not 'Key: Value'"),
            ));
        };
        action.push_header(k.trim(), v.trim_start());
    }
    action
        .validate()
        .map_err(|e| Failure::new(USAGE, format!("--action/--header: {e}")))?;
    Ok(Some(action))
}

fn config(args: &Args, secret: String) -> Result<ClientConfig, Failure> {
    let timeout = Duration::try_from_secs_f64(args.timeout)
        .ok()
        .filter(|d| !d.is_zero())
        .ok_or_else(|| Failure::new(USAGE, "--timeout must be a positive number of seconds"))?;
    let tls = match (args.tls_pin, &args.tls_ca, args.tls) {
        (Some(pin), _, _) => Some(TlsOptions::pin(pin)),
        (None, Some(ca), _) => Some(TlsOptions::ca_file(ca)),
        (None, None, true) => Some(TlsOptions::accept_any()),
        (None, None, false) => None,
    };
    let port = args.port.unwrap_or(if tls.is_some() { 5039 } else { 5038 });
    let mut config = ClientConfig::new(&args.host, port, &args.username, secret);
    config.auth = match args.auth {
        AuthArg::Plain => Auth::Plain,
        AuthArg::Md5 => Auth::Md5,
    };
    config.tls = tls;
    config.action_timeout = timeout;
    // One interactive session: our own pings below are enough.
    config.ping_interval = Duration::ZERO;
    Ok(config)
}

/// Maps an error to its exit code.
fn failure(e: AmiError) -> Failure {
    let code = match &e {
        AmiError::AuthRejected { .. } => REJECTED,
        AmiError::InvalidAction(_) => USAGE,
        e if e.is_connection_problem() => UNREACHABLE,
        // An error response, permission denied, or no response in time.
        _ => ACTION_FAILED,
    };
    Failure::new(code, e.to_string())
}

fn ms(d: Duration) -> String {
    format!("{:.1} ms", d.as_secs_f64() * 1000.0)
}

async fn run(args: Args) -> Result<(), Failure> {
    let action = action(&args)?;
    let secret = secret(&args)?;
    let config = config(&args, secret)?;
    let mut out = std::io::stdout().lock();

    let (conn, mut events) = Connection::connect(&config).await.map_err(|e| {
        // A login that gets no answer is a PBX problem, not an action's.
        match e {
            AmiError::ActionTimeout { after, .. } => Failure::new(
                UNREACHABLE,
                format!("no answer to the login within {after:?}: the peer accepts connections but does not behave like AMI"),
            ),
            e => failure(e),
        }
    })?;
    let info = conn.info().clone();
    let tls = match &config.tls {
        None => "",
        Some(t) if t.verify == ami::TlsVerify::AcceptAny => ", TLS (certificate not verified)",
        Some(TlsOptions {
            verify: ami::TlsVerify::Pin(_),
            ..
        }) => ", TLS (pinned certificate)",
        Some(_) => ", TLS (certificate verified)",
    };
    let _ = writeln!(
        out,
        "connected to {}{tls} in {}",
        config.addr(),
        ms(info.connect_time)
    );
    let _ = writeln!(out, "banner: {}", info.banner);
    let auth = match config.auth {
        Auth::Plain => "plain",
        Auth::Md5 => "md5",
    };
    let _ = writeln!(
        out,
        "logged in as {} ({auth}) in {}",
        config.username,
        ms(info.login_time)
    );
    let version = info
        .asterisk_version
        .as_deref()
        .unwrap_or("unknown (this user may not run CoreSettings or Command)");
    let _ = writeln!(out, "Asterisk version: {version}");
    // The wait `check` reports starts here: events that arrive during the ping count.
    let watch_started = Instant::now();
    let (rtt, early) = ping_while_draining(&conn, &mut events, args.events).await;
    let rtt = rtt.map_err(failure)?;
    let _ = writeln!(out, "ping: {}", ms(rtt));
    let _ = out.flush();
    drop(out);

    let result = match action {
        Some(action) => run_action(&conn, events, action).await,
        None => watch_events(&args, early, events, config.action_timeout, watch_started).await,
    };
    let _ = conn.logoff().await;
    result
}

/// Pings while reading events. The Pong can only be read once the event queue has room:
/// on a busy PBX the queue fills during the round trip, reading pauses (backpressure),
/// and a ping awaited without draining would wait forever. Events that arrive meanwhile
/// are kept, up to the `want` that `check` will show at most, and shown first.
async fn ping_while_draining(
    conn: &Connection,
    events: &mut EventStream,
    want: u64,
) -> (Result<Duration, AmiError>, VecDeque<SessionEvent>) {
    let mut early = VecDeque::new();
    // Only events count toward `want`: the stream's `Connected` marker comes first and
    // must not take the place of the `FullyBooted` right behind it.
    let mut kept = 0u64;
    let ping = conn.ping();
    tokio::pin!(ping);
    let mut open = true;
    loop {
        tokio::select! {
            rtt = &mut ping => return (rtt, early),
            event = events.recv(), if open => match event {
                Some(e @ SessionEvent::Event(_)) if kept < want => {
                    kept += 1;
                    early.push_back(e);
                }
                Some(SessionEvent::Event(_)) => {}
                Some(e) => early.push_back(e),
                // The stream ended: the ping fails on its own, as the link is gone.
                None => open = false,
            },
        }
    }
}

/// Sends the action and prints its response and list.
async fn run_action(
    conn: &Connection,
    mut events: EventStream,
    action: Action,
) -> Result<(), Failure> {
    // Keep draining: while the event queue is full, responses are not read either.
    let drain = tokio::spawn(async move { while events.recv().await.is_some() {} });
    let name = action.name().to_string();
    let started = Instant::now();
    let result = conn.send(action).await;
    drain.abort();
    let response = result.map_err(failure)?;
    let mut out = std::io::stdout().lock();
    let _ = writeln!(out, "\n{name}: answered in {}", ms(started.elapsed()));
    let _ = write!(out, "{}", response.message);
    for event in &response.events {
        let _ = write!(out, "\n{event}");
    }
    Ok(())
}

/// Prints (or counts) events until `--events` arrived or the time is up.
async fn watch_events(
    args: &Args,
    early: VecDeque<SessionEvent>,
    mut events: EventStream,
    limit: Duration,
    started: Instant,
) -> Result<(), Failure> {
    let mut early = early.into_iter();
    let mut out = std::io::stdout().lock();
    let want = args.events;
    if !args.quiet && want > 0 {
        let noun = if want == 1 { "event" } else { "events" };
        let _ = writeln!(out, "\nwaiting up to {limit:?} for {want} {noun}…");
    }
    let deadline = tokio::time::Instant::now() + limit;
    let mut count = 0u64;
    while count < want {
        let next = match early.next() {
            Some(e) => Some(e),
            None => match tokio::time::timeout_at(deadline, events.recv()).await {
                Err(_) => break,
                Ok(next) => next,
            },
        };
        match next {
            Some(SessionEvent::Event(m)) => {
                count += 1;
                if !args.quiet {
                    let _ = write!(out, "\n{m}");
                }
            }
            Some(SessionEvent::Connected { .. }) => {}
            Some(SessionEvent::Disconnected { reason, .. }) => {
                return Err(Failure::new(
                    UNREACHABLE,
                    format!("the connection dropped after login: {reason}"),
                ));
            }
            None => {
                return Err(Failure::new(
                    UNREACHABLE,
                    "the connection dropped after login",
                ));
            }
        }
    }
    let _ = writeln!(out, "\n{}", summary(count, started.elapsed()));
    Ok(())
}

/// Fewer events than this say nothing about a rate (two events read from one TCP segment
/// are microseconds apart: "11111111 events/s").
const RATE_MIN_EVENTS: u64 = 10;

/// `N events in S s[, R events/s]`: the wait is the one `check` did (until the last event
/// asked for, or the whole timeout), so the rate is events over the time it took to get
/// them.
fn summary(count: u64, waited: Duration) -> String {
    let noun = if count == 1 { "event" } else { "events" };
    let secs = waited.as_secs_f64();
    let rate = if count >= RATE_MIN_EVENTS && waited >= Duration::from_millis(1) {
        format!(", {:.0} events/s", count as f64 / secs)
    } else {
        String::new()
    };
    format!("{count} {noun} in {secs:.3} s{rate}")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn summary_says_event_once_and_no_rate_from_a_handful() {
        assert_eq!(summary(0, Duration::from_secs(10)), "0 events in 10.000 s");
        assert_eq!(
            summary(1, Duration::from_millis(1500)),
            "1 event in 1.500 s"
        );
        assert_eq!(summary(2, Duration::from_nanos(180)), "2 events in 0.000 s");
        assert_eq!(
            summary(100, Duration::from_millis(500)),
            "100 events in 0.500 s, 200 events/s"
        );
    }
}
