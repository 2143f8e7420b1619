//! Every public recording (Asterisk 22 from our lab, Asterisk 13 from cacofonisk) replayed
//! through the simulator to a logged-in client: the client gets each bus event of the file,
//! in order, with its headers as recorded, in the first loop and again (rewritten) in the
//! second, and the simulator still answers afterwards.
//!
//! What a bus event is, is worked out here from the file's text on its own, not with
//! `sim::replay`: a classifier that dropped events would otherwise agree with itself.

mod common;
use common::Client;
use sim::{Mode, Server, SimConfig, Speed};
use std::path::{Path, PathBuf};

/// One event of a recording: its name and its headers, in order.
type Event = (String, Vec<(String, String)>);

fn recordings(corpus: &str) -> Vec<PathBuf> {
    fn walk(dir: &Path, out: &mut Vec<PathBuf>) {
        let entries = std::fs::read_dir(dir).unwrap_or_else(|e| panic!("{}: {e}", dir.display()));
        for e in entries {
            let p = e.unwrap().path();
            if p.is_dir() {
                walk(&p, out);
            } else if p.extension().is_some_and(|x| x == "ami") {
                out.push(p);
            }
        }
    }
    let root = Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../../fixtures")
        .join(corpus);
    let mut out = Vec::new();
    walk(&root, &mut out);
    out.sort();
    out
}

/// The events a PBX sent on its bus: every `Event:` message except the answers to the
/// recorder's own actions (they carry its ActionID; an OriginateResponse is the bus's answer
/// to an async Originate and is sent to all) and its own login's FullyBooted / SuccessfulAuth
/// / RequestBadFormat, which each client of the simulator gets from its own login.
fn bus_events(file: &Path) -> Vec<Event> {
    let text = String::from_utf8(std::fs::read(file).unwrap()).unwrap();
    let mut out = Vec::new();
    for block in text.split("\r\n\r\n") {
        let headers: Vec<(String, String)> = block
            .split("\r\n")
            .filter_map(|l| l.split_once(':'))
            .map(|(k, v)| (k.to_string(), v.strip_prefix(' ').unwrap_or(v).to_string()))
            .collect();
        let get = |key: &str| headers.iter().find(|(k, _)| k == key).map(|(_, v)| v);
        let Some(name) = get("Event").cloned() else {
            continue;
        };
        let own = matches!(
            name.as_str(),
            "FullyBooted" | "SuccessfulAuth" | "RequestBadFormat"
        );
        let answer = get("ActionID").is_some() && name != "OriginateResponse";
        if !own && !answer {
            out.push((name, headers));
        }
    }
    out
}

/// Replays `file` twice at full speed; `Err` says what went wrong.
async fn replay(file: &Path) -> Result<usize, String> {
    let expected = bus_events(file);
    let cfg = SimConfig::new(Mode::Replay {
        file: file.to_path_buf(),
        speed: Speed::Max,
        loops: 2,
    })
    .listen("127.0.0.1:0".parse().unwrap());
    let sim = Server::start(cfg)
        .await
        .map_err(|e| format!("start: {e}"))?;
    let mut c = Client::login(sim.addr()).await;
    for own in ["FullyBooted", "SuccessfulAuth"] {
        match c.next().await {
            Some(m) if m.is_event(own) => {}
            other => return Err(format!("expected the login's {own}, got {other:?}")),
        }
    }
    for pass in 0..2 {
        for (i, (name, headers)) in expected.iter().enumerate() {
            let Some(m) = c.next().await else {
                return Err(format!(
                    "loop {pass}: the stream stopped after {i} of {} events",
                    expected.len()
                ));
            };
            if m.name() != name {
                return Err(format!(
                    "loop {pass} event {i}: got {}, want {name}",
                    m.name()
                ));
            }
            if pass == 0 {
                let got: Vec<(String, String)> = m
                    .headers()
                    .map(|(k, v)| (k.to_string(), v.to_string()))
                    .collect();
                if &got != headers {
                    return Err(format!("event {i} ({name}): got {got:?}, want {headers:?}"));
                }
            } else if m.len() != headers.len() {
                return Err(format!(
                    "loop 1 event {i} ({name}): headers changed in number"
                ));
            }
        }
    }
    // The engine is still up after the last event (a panic there ends the stream).
    let p = c.action("Action: Ping\nActionID: p\n\n", "p").await;
    if p.get("Ping") != Some("Pong") {
        return Err(format!("after the replay, Ping gave {p:?}"));
    }
    Ok(expected.len())
}

async fn replay_all(corpus: &str, at_least: usize) {
    let files = recordings(corpus);
    assert!(
        files.len() >= at_least,
        "{corpus}: {} recordings, want at least {at_least}",
        files.len()
    );
    let mut failures = Vec::new();
    let mut events = 0;
    for f in &files {
        match replay(f).await {
            Ok(n) => events += n,
            Err(e) => failures.push(format!("{}: {e}", f.display())),
        }
    }
    assert!(failures.is_empty(), "{}", failures.join("\n"));
    assert!(events > 0, "{corpus}: no events at all");
}

#[tokio::test]
async fn every_asterisk_22_recording_reaches_the_client() {
    replay_all("asterisk", 19).await;
}

/// Asterisk 13 without `timestampevents`: no event has a Timestamp.
#[tokio::test]
async fn every_cacofonisk_recording_reaches_the_client() {
    replay_all("cacofonisk", 27).await;
}
