//! The recorded exchanges of a real Asterisk 22.10.1, replayed by a scripted peer: the
//! session must handle each exactly — login (plain, MD5, refused), permission denied, event
//! lists, command output, TLS, pipelined resync lists — and hand every `Event:` to the
//! stream in wire order.

use ami::testing::{replay, Recording, ReplayOptions, ScriptedServer};
use ami::{
    Action, AmiError, Auth, Client, ClientConfig, Connection, Message, SessionEvent, Status,
    TlsOptions,
};
use std::path::{Path, PathBuf};
use std::time::Duration;

fn fixtures() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../../fixtures/asterisk/22.10.1")
}

fn recording(name: &str) -> Recording {
    Recording::load(&fixtures(), name).unwrap()
}

fn config(port: u16, user: &str, secret: &str) -> ClientConfig {
    let mut c = ClientConfig::new("127.0.0.1", port, user, secret);
    c.ping_interval = Duration::ZERO;
    // Generous: a failure must show up as the right error, never as this timeout.
    c.action_timeout = Duration::from_secs(20);
    c
}

/// A peer on a free port that replays `name` to its first client; yields the actions seen.
async fn replay_peer(
    name: &'static str,
    options: ReplayOptions,
) -> (u16, tokio::task::JoinHandle<Vec<Message>>) {
    let server = ScriptedServer::bind().await.unwrap();
    let port = server.port();
    let peer = tokio::spawn(async move {
        let peer = server.accept().await.unwrap();
        replay(peer, &recording(name), &options).await.unwrap()
    });
    (port, peer)
}

/// Headers without the ActionID (ours differ from the recording's by design).
fn content(m: &Message) -> Vec<(String, String)> {
    m.headers()
        .filter(|(k, _)| !k.eq_ignore_ascii_case("ActionID"))
        .map(|(k, v)| (k.to_string(), v.to_string()))
        .collect()
}

/// The recorded action, ready to send again (the session sets its own ActionID).
fn action_of(recorded: &Message) -> Action {
    let mut a = Action::new(recorded.name());
    for (k, v) in recorded.headers().skip(1) {
        if !k.eq_ignore_ascii_case("ActionID") {
            a.push_header(k, v);
        }
    }
    a
}

/// Every event the recording holds, in order.
fn recorded_events(rec: &Recording) -> Vec<Vec<(String, String)>> {
    rec.messages
        .iter()
        .filter(|m| m.kind() == ami::Kind::Event)
        .map(content)
        .collect()
}

/// Drains a stream until it ends; returns the events and checks the session framing.
async fn drain(mut events: ami::EventStream) -> Vec<Message> {
    let mut out = Vec::new();
    let mut connected = false;
    let mut disconnected = false;
    let collect = async {
        while let Some(e) = events.recv().await {
            match e {
                SessionEvent::Connected { .. } => {
                    assert!(!connected && out.is_empty(), "Connected comes first");
                    connected = true;
                }
                SessionEvent::Event(m) => {
                    assert!(connected && !disconnected, "events inside the session");
                    out.push(m);
                }
                SessionEvent::Disconnected { .. } => disconnected = true,
            }
        }
    };
    tokio::time::timeout(Duration::from_secs(30), collect)
        .await
        .expect("the stream ends");
    assert!(connected && disconnected);
    out
}

/// Sends the recorded actions of `actions_admin` after the login, one after the other or
/// all at once, and checks each answer against the recording.
async fn admin_session(pipelined: bool) {
    let rec = recording("actions_admin");
    let server = ScriptedServer::bind().await.unwrap();
    let cfg = config(server.port(), "admin", "amp111");
    let peer = tokio::spawn(async move {
        let rec = recording("actions_admin");
        let peer = server.accept().await.unwrap();
        replay(peer, &rec, &ReplayOptions::default()).await.unwrap()
    });
    let (conn, events) = Connection::connect(&cfg).await.unwrap();
    let drained = tokio::spawn(drain(events));
    assert_eq!(conn.info().asterisk_version.as_deref(), Some("22.10.1"));

    let actions: Vec<&Message> = rec.sent[1..rec.sent.len() - 1].iter().collect();
    let results = if pipelined {
        futures::future::join_all(actions.iter().map(|a| conn.send(action_of(a)))).await
    } else {
        let mut results = Vec::new();
        for a in &actions {
            results.push(conn.send(action_of(a)).await);
        }
        results
    };
    for (recorded, result) in actions.iter().zip(&results) {
        let id = recorded.action_id().unwrap();
        let answer = rec
            .messages
            .iter()
            .find(|m| m.kind() == ami::Kind::Response && m.action_id() == Some(id))
            .unwrap();
        match answer.name() {
            "Error" => {
                let err = result.as_ref().unwrap_err();
                match err {
                    AmiError::Action {
                        action, message, ..
                    } => {
                        assert_eq!(action, recorded.name());
                        assert_eq!(message, answer.get("Message").unwrap());
                    }
                    other => panic!("{id}: {other:?}"),
                }
            }
            _ => {
                let response = result.as_ref().unwrap_or_else(|e| panic!("{id}: {e}"));
                assert_eq!(content(&response.message), content(answer), "{id}");
                let list: Vec<_> = rec
                    .messages
                    .iter()
                    .filter(|m| m.kind() == ami::Kind::Event && m.action_id() == Some(id))
                    .map(content)
                    .collect();
                // Events carrying the ActionID after the answer (OriginateResponse) are not
                // part of it; a list's are, all of them.
                if response.is_list() {
                    let got: Vec<_> = response.events.iter().map(content).collect();
                    assert_eq!(got, list, "{id}: list events");
                    let items = response.events.last().unwrap().get("ListItems").unwrap();
                    assert_eq!(response.items().count().to_string(), items, "{id}");
                }
            }
        }
    }
    // Specific answers a person would look at.
    let by_name = |name: &str| {
        actions
            .iter()
            .position(|a| a.name() == name)
            .map(|i| &results[i])
            .unwrap()
    };
    assert_eq!(by_name("Ping").as_ref().unwrap().get("Ping"), Some("Pong"));
    let version = &results[actions
        .iter()
        .position(|a| a.get("Command") == Some("core show version"))
        .unwrap()];
    assert!(version
        .as_ref()
        .unwrap()
        .output()
        .any(|l| l.starts_with("Asterisk 22.10.1")));
    let unknown = by_name("FrobnicateTheWidget").as_ref().unwrap_err();
    assert!(
        unknown.to_string().contains("Invalid/unknown command"),
        "{unknown}"
    );

    conn.logoff().await.unwrap();
    let stream = drained.await.unwrap();
    let got: Vec<_> = stream.iter().map(content).collect();
    assert_eq!(got, recorded_events(&rec), "every event, in wire order");
    assert!(
        stream.iter().any(|m| m.is_event("OriginateResponse")),
        "events carrying the ActionID of a finished action reach the stream"
    );
    let seen = peer.await.unwrap();
    assert_eq!(seen.last().unwrap().name(), "Logoff");
    assert_eq!(conn.stats().events_received as usize, got.len());
}

#[tokio::test]
async fn admin_actions_one_by_one() {
    admin_session(false).await;
}

#[tokio::test]
async fn admin_actions_pipelined_are_never_mixed_up() {
    admin_session(true).await;
}

#[tokio::test]
async fn md5_login_sends_the_recorded_key() {
    let (port, peer) = replay_peer("actions_login_md5", ReplayOptions::default()).await;
    let mut cfg = config(port, "admin", "amp111");
    cfg.auth = Auth::Md5;
    let (conn, events) = Connection::connect(&cfg).await.unwrap();
    let drained = tokio::spawn(drain(events));
    conn.ping().await.unwrap();
    conn.logoff().await.unwrap();
    let seen = peer.await.unwrap();
    let rec = recording("actions_login_md5");
    let recorded_login = rec.sent.iter().find(|m| m.name() == "Login").unwrap();
    let login = seen.iter().find(|m| m.name() == "Login").unwrap();
    assert_eq!(login.get("AuthType"), Some("md5"));
    assert_eq!(login.get("Key"), recorded_login.get("Key"));
    assert_eq!(
        login.get("Secret"),
        None,
        "the secret never crosses the wire"
    );
    let challenge = rec
        .messages
        .iter()
        .find_map(|m| m.get("Challenge"))
        .unwrap();
    assert_eq!(
        login.get("Key").unwrap(),
        ami::login::md5_key(challenge, "amp111")
    );
    let names: Vec<String> = drained
        .await
        .unwrap()
        .iter()
        .map(|m| m.name().to_string())
        .collect();
    assert_eq!(names, ["FullyBooted", "SuccessfulAuth"]);
}

#[tokio::test]
async fn md5_login_with_a_wrong_secret_is_rejected() {
    let (port, _peer) = replay_peer("actions_login_md5", ReplayOptions::default()).await;
    let mut cfg = config(port, "admin", "not-the-secret");
    cfg.auth = Auth::Md5;
    let err = Connection::connect(&cfg).await.err().unwrap();
    assert!(matches!(err, AmiError::AuthRejected { .. }), "{err:?}");
}

#[tokio::test]
async fn failed_login_is_an_auth_error_not_a_timeout() {
    let (port, peer) = replay_peer("actions_login_failed", ReplayOptions::default()).await;
    let cfg = config(port, "admin", "wrong-secret");
    let err = Connection::connect(&cfg).await.err().unwrap();
    match &err {
        AmiError::AuthRejected { username, message } => {
            assert_eq!(username, "admin");
            assert_eq!(message, "Authentication failed");
        }
        other => panic!("{other:?}"),
    }
    assert!(err.to_string().contains("rejected the login"), "{err}");
    let seen = peer.await.unwrap();
    assert_eq!(seen.len(), 1, "nothing is sent after the refusal: {seen:?}");
}

#[tokio::test]
async fn monitor_user_gets_permission_denied_and_no_version() {
    let rec = recording("actions_monitor_denied");
    let (port, peer) = replay_peer(
        "actions_monitor_denied",
        ReplayOptions {
            asterisk_version: None,
        },
    )
    .await;
    let cfg = config(port, "monitor", "mon222");
    let (conn, events) = Connection::connect(&cfg).await.unwrap();
    let drained = tokio::spawn(drain(events));
    assert_eq!(
        conn.info().asterisk_version,
        None,
        "version unknown, no error"
    );
    for recorded in &rec.sent[1..rec.sent.len() - 1] {
        let result = conn.send(action_of(recorded)).await;
        if recorded.name() == "Ping" {
            result.unwrap();
        } else {
            match result {
                Err(AmiError::PermissionDenied { action }) => assert_eq!(action, recorded.name()),
                other => panic!("{}: {other:?}", recorded.name()),
            }
        }
    }
    conn.logoff().await.unwrap();
    let got: Vec<_> = drained.await.unwrap().iter().map(content).collect();
    assert_eq!(got, recorded_events(&rec));
    let seen = peer.await.unwrap();
    assert!(seen.iter().any(|m| m.name() == "CoreSettings"));
}

#[tokio::test]
async fn pipelined_resync_lists_after_attach_reach_the_stream_in_wire_order() {
    let rec = recording("attach_midcall");
    let server = ScriptedServer::bind().await.unwrap();
    let mut cfg = config(server.port(), "admin", "amp111");
    cfg.on_connect = rec.sent[1..4].iter().map(action_of).collect();
    let peer = tokio::spawn(async move {
        let peer = server.accept().await.unwrap();
        replay(
            peer,
            &recording("attach_midcall"),
            &ReplayOptions::default(),
        )
        .await
        .unwrap()
    });
    let (client, mut events) = Client::spawn(cfg);
    let mut got = Vec::new();
    let collect = async {
        while let Some(e) = events.recv().await {
            match e {
                SessionEvent::Connected {
                    session,
                    asterisk_version,
                    ..
                } => {
                    assert_eq!(session, 1);
                    assert_eq!(asterisk_version.as_deref(), Some("22.10.1"));
                }
                SessionEvent::Event(m) => {
                    got.push(content(&m));
                    if m.is_event("QueueStatusComplete") {
                        break;
                    }
                }
                SessionEvent::Disconnected { .. } => panic!("no disconnect yet"),
            }
        }
    };
    tokio::time::timeout(Duration::from_secs(20), collect)
        .await
        .unwrap();
    let recorded = recorded_events(&rec);
    assert_eq!(got[..], recorded[..got.len()]);
    let count = |name: &str| got.iter().filter(|h| h[0].1 == name).count();
    assert_eq!(count("CoreShowChannel"), 9);
    assert_eq!(count("QueueEntry"), 1);
    assert_eq!(count("ExtensionStateListComplete"), 1);
    // The recorded client logged off last; so do we, and the peer plays the rest.
    client.shutdown().await;
    let seen = peer.await.unwrap();
    let names: Vec<&str> = seen.iter().map(|m| m.name()).collect();
    assert_eq!(
        names,
        [
            "Login",
            "CoreSettings",
            "CoreShowChannels",
            "ExtensionStateList",
            "QueueStatus",
            "Logoff"
        ]
    );
    assert!(matches!(*client.status().borrow(), Status::Stopped { .. }));
}

#[tokio::test]
async fn tls_login_with_a_self_signed_certificate() {
    let cert = rcgen::generate_simple_self_signed(vec!["localhost".to_string()]).unwrap();
    let cert_der = cert.cert.der().to_vec();
    let key_der = cert.key_pair.serialize_der();
    let dir = tempfile::tempdir().unwrap();
    let ca = dir.path().join("asterisk.pem");
    std::fs::write(&ca, cert.cert.pem()).unwrap();
    let other = rcgen::generate_simple_self_signed(vec!["localhost".to_string()]).unwrap();
    let wrong_ca = dir.path().join("other.pem");
    std::fs::write(&wrong_ca, other.cert.pem()).unwrap();

    let server = ScriptedServer::bind_tls(vec![cert_der], key_der)
        .await
        .unwrap();
    let port = server.port();
    let rec = recording("tls_login");
    let peer = tokio::spawn(async move {
        let rec = recording("tls_login");
        let mut sessions = Vec::new();
        // 1: accept-any; 2: the right CA file; 3: a wrong CA file (handshake fails).
        for _ in 0..2 {
            let peer = server.accept().await.unwrap();
            sessions.push(replay(peer, &rec, &ReplayOptions::default()).await.unwrap());
        }
        assert!(
            server.accept().await.is_err(),
            "the client refuses the certificate"
        );
        sessions
    });

    for tls in [
        TlsOptions::accept_any(),
        TlsOptions {
            server_name: Some("localhost".into()),
            ..TlsOptions::ca_file(&ca)
        },
    ] {
        let mut cfg = config(port, "admin", "amp111");
        cfg.tls = Some(tls);
        let (conn, events) = Connection::connect(&cfg).await.unwrap();
        let drained = tokio::spawn(drain(events));
        conn.ping().await.unwrap();
        let list = conn.send(Action::new("CoreShowChannels")).await.unwrap();
        assert!(list.is_list());
        assert_eq!(list.items().count(), 0);
        conn.logoff().await.unwrap();
        let got: Vec<_> = drained.await.unwrap().iter().map(content).collect();
        assert_eq!(got, recorded_events(&rec));
    }

    let mut cfg = config(port, "admin", "amp111");
    cfg.tls = Some(TlsOptions {
        server_name: Some("localhost".into()),
        ..TlsOptions::ca_file(&wrong_ca)
    });
    let err = Connection::connect(&cfg).await.err().unwrap();
    assert!(matches!(err, AmiError::Tls { .. }), "{err:?}");
    assert!(err.to_string().contains("not trusted"), "{err}");
    let sessions = peer.await.unwrap();
    assert_eq!(sessions.len(), 2);
}

/// `TlsVerify::SystemRoots` trusts what the operating system trusts. The test points the
/// trust store at a file with `SSL_CERT_FILE` (honoured as by OpenSSL), which only this test
/// of this binary reads: first the server's own certificate (trusted), then another one.
#[tokio::test]
async fn tls_with_the_system_trust_store() {
    let cert = rcgen::generate_simple_self_signed(vec!["localhost".to_string()]).unwrap();
    let other = rcgen::generate_simple_self_signed(vec!["localhost".to_string()]).unwrap();
    let dir = tempfile::tempdir().unwrap();
    let (trusted, untrusted) = (dir.path().join("system.pem"), dir.path().join("other.pem"));
    std::fs::write(&trusted, cert.cert.pem()).unwrap();
    std::fs::write(&untrusted, other.cert.pem()).unwrap();
    let server = ScriptedServer::bind_tls(
        vec![cert.cert.der().to_vec()],
        cert.key_pair.serialize_der(),
    )
    .await
    .unwrap();
    let port = server.port();
    let peer = tokio::spawn(async move {
        let rec = recording("tls_login");
        let peer = server.accept().await.unwrap();
        let session = replay(peer, &rec, &ReplayOptions::default()).await.unwrap();
        assert!(
            server.accept().await.is_err(),
            "the client refuses the certificate"
        );
        session
    });

    let options = TlsOptions {
        server_name: Some("localhost".into()),
        ..TlsOptions::system_roots()
    };
    std::env::set_var("SSL_CERT_FILE", &trusted);
    let mut cfg = config(port, "admin", "amp111");
    cfg.tls = Some(options.clone());
    let (conn, events) = Connection::connect(&cfg).await.unwrap();
    let drained = tokio::spawn(drain(events));
    conn.ping().await.unwrap();
    let list = conn.send(Action::new("CoreShowChannels")).await.unwrap();
    assert!(list.is_list());
    conn.logoff().await.unwrap();
    drained.await.unwrap();

    std::env::set_var("SSL_CERT_FILE", &untrusted);
    let err = Connection::connect(&cfg).await.err().unwrap();
    assert!(err.to_string().contains("not trusted"), "{err}");
    std::env::remove_var("SSL_CERT_FILE");
    peer.await.unwrap();
}

/// The self-signed certificate Asterisk admins make with `openssl req -x509`: it carries
/// `CA:TRUE`, so the WebPKI rules refuse it as a server's own (`CaUsedAsEndEntity`) even
/// when it is the CA file. Given as the CA file it is trusted as a pin; pinned by its
/// SHA-256 it is trusted whatever name it carries; any other certificate is refused, with
/// the fingerprint it presented.
#[tokio::test]
async fn tls_with_an_openssl_style_self_signed_certificate_as_ca_file_or_pin() {
    let key = rcgen::KeyPair::generate().unwrap();
    let mut params = rcgen::CertificateParams::new(vec!["asterisk.lab".to_string()]).unwrap();
    params.is_ca = rcgen::IsCa::Ca(rcgen::BasicConstraints::Unconstrained);
    let cert = params.self_signed(&key).unwrap();
    let pin = ami::CertPin::of(cert.der());
    let dir = tempfile::tempdir().unwrap();
    let ca = dir.path().join("asterisk.pem");
    std::fs::write(&ca, cert.pem()).unwrap();

    let server = ScriptedServer::bind_tls(vec![cert.der().to_vec()], key.serialize_der())
        .await
        .unwrap();
    let port = server.port();
    let peer = tokio::spawn(async move {
        let rec = recording("tls_login");
        let mut sessions = Vec::new();
        for _ in 0..2 {
            let peer = server.accept().await.unwrap();
            sessions.push(replay(peer, &rec, &ReplayOptions::default()).await.unwrap());
        }
        assert!(server.accept().await.is_err(), "the wrong pin is refused");
        sessions
    });

    // Connected to 127.0.0.1, a name the certificate does not carry: a pin checks bytes.
    for tls in [TlsOptions::ca_file(&ca), TlsOptions::pin(pin)] {
        let mut cfg = config(port, "admin", "amp111");
        cfg.tls = Some(tls.clone());
        let (conn, events) = Connection::connect(&cfg)
            .await
            .unwrap_or_else(|e| panic!("{tls:?}: {e}"));
        let drained = tokio::spawn(drain(events));
        conn.ping().await.unwrap();
        conn.logoff().await.unwrap();
        drained.await.unwrap();
    }

    let other = ami::CertPin::of(b"another certificate");
    let mut cfg = config(port, "admin", "amp111");
    cfg.tls = Some(TlsOptions::pin(other));
    let err = Connection::connect(&cfg).await.err().unwrap();
    assert!(matches!(err, AmiError::Tls { .. }), "{err:?}");
    let text = err.to_string();
    assert!(
        text.contains("not the pinned one") && text.contains(&pin.to_string()),
        "says what the server presented: {text}"
    );
    assert_eq!(peer.await.unwrap().len(), 2);
}
