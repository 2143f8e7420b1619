//! `switchboard check` end to end: the real binary against scripted AMI peers (and real
//! Asterisk recordings), checking what it prints and its exit codes.

use ami::testing::{replay, Recording, ReplayOptions, ScriptedServer};
use std::path::{Path, PathBuf};
use std::process::Output;
use std::time::Duration;

const SECRET: &str = "amp111";

fn fixtures() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../../fixtures/asterisk/22.10.1")
}

/// `--host 127.0.0.1 --port PORT --username USER --secret SECRET` then `extra`.
fn local<'a>(port: &'a str, user: &'a str, secret: &'a str, extra: &[&'a str]) -> Vec<&'a str> {
    let mut args = vec![
        "--host",
        "127.0.0.1",
        "--port",
        port,
        "--username",
        user,
        "--secret",
        secret,
    ];
    args.extend_from_slice(extra);
    args
}

/// Runs `switchboard check ARGS` with no terminal and no AMI_PASSWORD unless given.
async fn check(args: &[&str], password: Option<&str>) -> Output {
    let mut cmd = tokio::process::Command::new(env!("CARGO_BIN_EXE_switchboard"));
    cmd.arg("check")
        .args(args)
        .env_remove("AMI_PASSWORD")
        .stdin(std::process::Stdio::null())
        .kill_on_drop(true);
    if let Some(p) = password {
        cmd.env("AMI_PASSWORD", p);
    }
    tokio::time::timeout(Duration::from_secs(30), cmd.output())
        .await
        .expect("check finishes")
        .unwrap()
}

fn text(o: &Output) -> (String, String) {
    (
        String::from_utf8_lossy(&o.stdout).into_owned(),
        String::from_utf8_lossy(&o.stderr).into_owned(),
    )
}

fn assert_code(o: &Output, code: i32) {
    let (out, err) = text(o);
    assert_eq!(
        o.status.code(),
        Some(code),
        "stdout:\n{out}\nstderr:\n{err}"
    );
    assert!(
        !out.contains(SECRET) && !err.contains(SECRET),
        "the secret is never printed"
    );
    if code != 0 {
        assert_eq!(err.lines().count(), 1, "one line per failure: {err}");
    }
}

/// What check does first: log in, then one Ping.
async fn login_and_pong(peer: &mut ami::testing::Peer) {
    peer.accept_login().await.unwrap();
    let ping = peer.expect("Ping").await.unwrap();
    peer.reply(&ping, "Success", &[("Ping", "Pong")])
        .await
        .unwrap();
}

/// A peer that logs anyone in, sends `events` events and answers pings.
async fn live_peer(events: usize) -> (u16, tokio::task::JoinHandle<Vec<ami::Message>>) {
    let server = ScriptedServer::bind().await.unwrap();
    let port = server.port();
    let task = tokio::spawn(async move {
        let mut peer = server.accept().await.unwrap();
        login_and_pong(&mut peer).await;
        for i in 0..events {
            let n = i.to_string();
            peer.send_pairs(&[("Event", "Newchannel"), ("Channel", &n)])
                .await
                .unwrap();
        }
        peer.answer_until_eof().await
    });
    (port, task)
}

#[tokio::test]
async fn prints_version_timings_ping_and_events() {
    let (port, peer) = live_peer(3).await;
    let port = port.to_string();
    let o = check(&local(&port, "admin", SECRET, &["--events", "4"]), None).await;
    assert_code(&o, 0);
    let (out, _) = text(&o);
    for needle in [
        "connected to 127.0.0.1:",
        "logged in as admin (plain) in ",
        "Asterisk version: 22.10.1",
        "ping: ",
        "Event: FullyBooted",
        "Event: Newchannel",
        "Channel: 2",
        "4 events in",
    ] {
        assert!(out.contains(needle), "{needle:?} in:\n{out}");
    }
    let seen = peer.await.unwrap();
    assert_eq!(seen.last().unwrap().name(), "Logoff");
}

#[tokio::test]
async fn quiet_counts_events_and_reads_the_secret_from_the_environment() {
    let (port, peer) = live_peer(200).await;
    let port = port.to_string();
    let o = check(
        &[
            "--host",
            "127.0.0.1",
            "--port",
            &port,
            "--username",
            "admin",
            "--events",
            "201",
            "--quiet",
        ],
        Some(SECRET),
    )
    .await;
    assert_code(&o, 0);
    let (out, _) = text(&o);
    assert!(out.contains("201 events in"), "{out}");
    assert!(out.contains("events/s"), "{out}");
    assert!(
        !out.contains("Event: Newchannel"),
        "quiet prints no events:\n{out}"
    );
    let login = peer.await.unwrap();
    assert!(!login.is_empty());
}

#[tokio::test]
async fn no_secret_and_no_terminal_is_a_usage_error() {
    let o = check(&["--host", "127.0.0.1", "--username", "admin"], None).await;
    assert_code(&o, 2);
    assert!(text(&o).1.contains("AMI_PASSWORD"));
}

#[tokio::test]
async fn missing_flags_are_a_usage_error() {
    let o = check(&["--username", "admin", "--secret", SECRET], None).await;
    assert_eq!(o.status.code(), Some(2));
    let o = check(
        &[
            "--host",
            "h",
            "--username",
            "u",
            "--secret",
            "s",
            "--action",
            "Ping",
            "--header",
            "no colon",
        ],
        None,
    )
    .await;
    assert_code(&o, 2);
}

#[tokio::test]
async fn refused_port_exits_3() {
    let port = {
        let l = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        l.local_addr().unwrap().port().to_string()
    };
    let o = check(&local(&port, "admin", SECRET, &[]), None).await;
    assert_code(&o, 3);
    assert!(text(&o).1.contains("refused"));
}

#[tokio::test]
async fn tls_defaults_to_port_5039() {
    // Whatever 5039 is on this machine, the attempt must name it.
    let o = check(
        &[
            "--host",
            "127.0.0.1",
            "--username",
            "admin",
            "--secret",
            SECRET,
            "--tls",
            "--timeout",
            "1",
        ],
        None,
    )
    .await;
    let (out, err) = text(&o);
    assert!(
        out.contains("127.0.0.1:5039") || err.contains("127.0.0.1:5039"),
        "{out}{err}"
    );
}

#[tokio::test]
async fn not_ami_exits_3() {
    let server = ScriptedServer::bind().await.unwrap();
    let port = server.port().to_string();
    tokio::spawn(async move {
        let mut peer = server.accept().await.unwrap();
        peer.send_raw(b"HTTP/1.1 400 Bad Request\r\n\r\n")
            .await
            .unwrap();
        let _ = peer.read_action().await;
    });
    let o = check(&local(&port, "admin", SECRET, &[]), None).await;
    assert_code(&o, 3);
    assert!(text(&o).1.contains("not an Asterisk Manager port"));
}

async fn replay_peer(name: &'static str, options: ReplayOptions) -> String {
    let server = ScriptedServer::bind().await.unwrap();
    let port = server.port();
    tokio::spawn(async move {
        let peer = server.accept().await.unwrap();
        let rec = Recording::load(&fixtures(), name).unwrap();
        replay(peer, &rec, &options).await
    });
    port.to_string()
}

#[tokio::test]
async fn rejected_credentials_exit_4() {
    let port = replay_peer("actions_login_failed", ReplayOptions::default()).await;
    let o = check(&local(&port, "admin", "wrong-secret", &[]), None).await;
    assert_eq!(o.status.code(), Some(4), "{:?}", text(&o));
    let err = text(&o).1;
    assert!(
        err.contains("rejected the login") && err.contains("manager.conf"),
        "{err}"
    );
    assert!(!err.contains("wrong-secret"));
}

#[tokio::test]
async fn md5_login_against_the_recording() {
    let port = replay_peer("actions_login_md5", ReplayOptions::default()).await;
    let o = check(
        &local(&port, "admin", SECRET, &["--auth", "md5", "--events", "2"]),
        None,
    )
    .await;
    assert_code(&o, 0);
    assert!(text(&o).0.contains("(md5)"));
}

#[tokio::test]
async fn permission_denied_action_exits_5() {
    let port = replay_peer(
        "actions_monitor_denied",
        ReplayOptions {
            asterisk_version: None,
        },
    )
    .await;
    // The recording's next action after Ping is this Originate.
    let o = check(
        &local(
            &port,
            "monitor",
            "mon222",
            &[
                "--action",
                "Originate",
                "--header",
                "Channel: PJSIP/2001",
                "--header",
                "Context: internal",
                "--header",
                "Exten: 2002",
                "--header",
                "Priority: 1",
                "--header",
                "Async: true",
            ],
        ),
        None,
    )
    .await;
    assert_eq!(o.status.code(), Some(5), "{:?}", text(&o));
    let (out, err) = text(&o);
    assert!(out.contains("Asterisk version: unknown"), "{out}");
    assert!(
        err.contains("Permission denied") && err.contains("write="),
        "{err}"
    );
}

#[tokio::test]
async fn action_prints_its_response_and_list() {
    let server = ScriptedServer::bind().await.unwrap();
    let port = server.port().to_string();
    tokio::spawn(async move {
        let mut peer = server.accept().await.unwrap();
        login_and_pong(&mut peer).await;
        let a = peer.expect("QueueStatus").await.unwrap();
        assert_eq!(a.get("Queue"), Some("support"));
        let id = a.action_id().unwrap().to_string();
        peer.reply(
            &a,
            "Success",
            &[
                ("EventList", "start"),
                ("Message", "Queue status will follow"),
            ],
        )
        .await
        .unwrap();
        peer.send_pairs(&[
            ("Event", "QueueParams"),
            ("Queue", "support"),
            ("ActionID", &id),
        ])
        .await
        .unwrap();
        peer.send_pairs(&[
            ("Event", "QueueStatusComplete"),
            ("ActionID", &id),
            ("EventList", "Complete"),
            ("ListItems", "1"),
        ])
        .await
        .unwrap();
        let unknown = peer.expect("Frobnicate").await;
        drop(unknown);
    });
    let o = check(
        &local(
            &port,
            "admin",
            SECRET,
            &["--action", "QueueStatus", "--header", "Queue: support"],
        ),
        None,
    )
    .await;
    assert_code(&o, 0);
    let out = text(&o).0;
    assert!(out.contains("QueueStatus: answered in"), "{out}");
    assert!(
        out.contains("Event: QueueParams") && out.contains("ListItems: 1"),
        "{out}"
    );
}

#[tokio::test]
async fn unanswered_action_exits_5_and_dropped_link_exits_3() {
    let server = ScriptedServer::bind().await.unwrap();
    let port = server.port().to_string();
    tokio::spawn(async move {
        // First run: the action is never answered.
        let mut peer = server.accept().await.unwrap();
        login_and_pong(&mut peer).await;
        let _held = peer.read_action().await;
        let _ = peer.read_action().await;
        // Second run: the link drops while waiting for events.
        let mut peer = server.accept().await.unwrap();
        login_and_pong(&mut peer).await;
        peer.close().await;
    });
    let args = local(
        &port,
        "admin",
        SECRET,
        &["--action", "Status", "--timeout", "0.3"],
    );
    let o = check(&args, None).await;
    assert_code(&o, 5);
    assert!(text(&o).1.contains("no response within"), "{:?}", text(&o));

    let o = check(&local(&port, "admin", SECRET, &[]), None).await;
    assert_code(&o, 3);
    assert!(text(&o).1.contains("dropped after login"), "{:?}", text(&o));
}

/// A PBX with no traffic: after login only `FullyBooted` arrives. `check` must count it,
/// say how long it really waited (the whole timeout, as fewer events came than asked),
/// and not invent a rate from a single event.
#[tokio::test]
async fn a_quiet_pbx_counts_fully_booted_and_reports_the_real_wait() {
    let (port, peer) = live_peer(0).await;
    let port = port.to_string();
    let o = check(
        &local(&port, "admin", SECRET, &["--events", "5", "--timeout", "1"]),
        None,
    )
    .await;
    assert_code(&o, 0);
    let (out, _) = text(&o);
    assert!(out.contains("Event: FullyBooted"), "{out}");
    let summary = out.lines().last().unwrap();
    assert!(
        summary.starts_with("1 event in "),
        "singular, FullyBooted counted: {summary}"
    );
    let waited: f64 = summary
        .split_whitespace()
        .nth(3)
        .and_then(|s| s.parse().ok())
        .unwrap_or_else(|| panic!("a wait in seconds: {summary}"));
    assert!(
        waited >= 1.0,
        "the wait reported is the wait done (1 s timeout): {summary}"
    );
    assert!(
        !summary.contains("events/s"),
        "no rate from one event: {summary}"
    );
    drop(peer);
}

/// `--tls-pin` trusts the self-signed certificate an admin made with `openssl req -x509`
/// (CA:TRUE, a name that is not the host) by its SHA-256, as openssl prints it; a wrong
/// pin exits 3 and names the fingerprint the server presented.
#[tokio::test]
async fn tls_pin_trusts_exactly_the_pinned_certificate() {
    let key = rcgen::KeyPair::generate().unwrap();
    let mut params = rcgen::CertificateParams::new(vec!["asterisk.lab".to_string()]).unwrap();
    params.is_ca = rcgen::IsCa::Ca(rcgen::BasicConstraints::Unconstrained);
    let cert = params.self_signed(&key).unwrap();
    let pin = ami::CertPin::of(cert.der()).to_string();
    let server = ScriptedServer::bind_tls(vec![cert.der().to_vec()], key.serialize_der())
        .await
        .unwrap();
    let port = server.port().to_string();
    let peer = tokio::spawn(async move {
        let mut peer = server.accept().await.unwrap();
        login_and_pong(&mut peer).await;
        peer.answer_until_eof().await;
        // The second attempt, with the wrong pin, never gets past the handshake.
        let _ = server.accept().await;
    });
    let ok = check(
        &local(
            &port,
            "admin",
            SECRET,
            &["--tls-pin", &pin, "--events", "1", "--timeout", "2"],
        ),
        None,
    )
    .await;
    assert_code(&ok, 0);
    let (out, _) = text(&ok);
    assert!(out.contains("TLS (pinned certificate)"), "{out}");
    // One event asked for: the FullyBooted right after login is it (the stream's
    // connection marker used to take its place, and check waited its whole timeout).
    assert!(
        out.contains("for 1 event…") && out.contains("\n1 event in "),
        "{out}"
    );
    let wrong = "00".repeat(32);
    let refused = check(
        &local(
            &port,
            "admin",
            SECRET,
            &["--tls-pin", &wrong, "--timeout", "2"],
        ),
        None,
    )
    .await;
    assert_code(&refused, 3);
    let (_, err) = text(&refused);
    assert!(
        err.contains("not the pinned one") && err.contains(&pin),
        "{err}"
    );
    peer.abort();
}
