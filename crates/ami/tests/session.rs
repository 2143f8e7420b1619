//! One session against scripted peers: correlation, lists, timeouts, keep-alive, errors.

use ami::testing::ScriptedServer;
use ami::{Action, AmiError, ClientConfig, Connection, Disconnect, SessionEvent};
use std::time::Duration;

fn config(port: u16) -> ClientConfig {
    let mut c = ClientConfig::new("127.0.0.1", port, "admin", "amp111");
    c.ping_interval = Duration::ZERO;
    c.action_timeout = Duration::from_secs(10);
    c
}

async fn next_event(events: &mut ami::EventStream) -> SessionEvent {
    tokio::time::timeout(Duration::from_secs(10), events.recv())
        .await
        .expect("an event within 10 s")
        .expect("the stream is open")
}

#[tokio::test]
async fn login_ping_events_and_logoff() {
    let server = ScriptedServer::bind().await.unwrap();
    let port = server.port();
    let peer = tokio::spawn(async move {
        let mut peer = server.accept().await.unwrap();
        let login = peer.accept_login().await.unwrap();
        assert_eq!(login.get("Username"), Some("admin"));
        assert_eq!(login.get("Secret"), Some("amp111"));
        assert_eq!(
            login.get("Events"),
            Some("call,agent"),
            "the Events mask of the login"
        );
        peer.send_pairs(&[("Event", "Newchannel"), ("Channel", "PJSIP/2001-00000000")])
            .await
            .unwrap();
        peer.answer_until_eof().await
    });

    let mut cfg = config(port);
    cfg.events = Some("call,agent".into());
    let (conn, mut events) = Connection::connect(&cfg).await.unwrap();
    assert_eq!(conn.info().asterisk_version.as_deref(), Some("22.10.1"));
    assert_eq!(conn.info().protocol_version, "11.0.0");
    match next_event(&mut events).await {
        SessionEvent::Connected {
            session,
            asterisk_version,
            protocol_version,
            ..
        } => {
            assert_eq!(session, 1);
            assert_eq!(asterisk_version.as_deref(), Some("22.10.1"));
            assert_eq!(protocol_version, "11.0.0");
        }
        other => panic!("expected Connected, got {other:?}"),
    }
    match next_event(&mut events).await {
        SessionEvent::Event(m) => assert!(m.is_event("FullyBooted")),
        other => panic!("{other:?}"),
    }
    match next_event(&mut events).await {
        SessionEvent::Event(m) => assert!(m.is_event("Newchannel")),
        other => panic!("{other:?}"),
    }
    let pong = conn.send(Action::new("Ping")).await.unwrap();
    assert_eq!(pong.get("Ping"), Some("Pong"));
    conn.logoff().await.unwrap();
    assert_eq!(conn.closed().await, Disconnect::LoggedOff);
    match next_event(&mut events).await {
        SessionEvent::Disconnected {
            session, reason, ..
        } => {
            assert_eq!(session, 1);
            assert_eq!(reason, Disconnect::LoggedOff);
        }
        other => panic!("{other:?}"),
    }
    assert!(
        events.recv().await.is_none(),
        "the stream ends with the session"
    );
    let seen = peer.await.unwrap();
    assert_eq!(seen.last().map(|m| m.name()), Some("Logoff"));
    assert_eq!(conn.stats().events_received, 2);
}

#[tokio::test]
async fn action_that_gets_no_response_times_out_and_the_session_lives_on() {
    let server = ScriptedServer::bind().await.unwrap();
    let port = server.port();
    let peer = tokio::spawn(async move {
        let mut peer = server.accept().await.unwrap();
        peer.accept_login().await.unwrap();
        let ignored = peer.expect("Status").await.unwrap();
        // Answer it late, after the next action: the client must not hand this to anyone.
        let ping = peer.expect("Ping").await.unwrap();
        peer.reply(&ignored, "Success", &[("Message", "late")])
            .await
            .unwrap();
        peer.reply(&ping, "Success", &[("Ping", "Pong")])
            .await
            .unwrap();
        peer.answer_until_eof().await
    });
    let (conn, _events) = Connection::connect(&config(port)).await.unwrap();
    let err = conn
        .send_timeout(Action::new("Status"), Duration::from_millis(100))
        .await
        .unwrap_err();
    assert!(
        matches!(&err, AmiError::ActionTimeout { action, .. } if action == "Status"),
        "{err:?}"
    );
    let pong = conn.send(Action::new("Ping")).await.unwrap();
    assert_eq!(pong.get("Ping"), Some("Pong"));
    assert!(!conn.is_closed());
    conn.logoff().await.unwrap();
    peer.await.unwrap();
}

#[tokio::test]
async fn dead_peer_is_detected_by_the_keepalive() {
    let server = ScriptedServer::bind().await.unwrap();
    let port = server.port();
    let peer = tokio::spawn(async move {
        let mut peer = server.accept().await.unwrap();
        peer.accept_login().await.unwrap();
        // Alive at the TCP level, silent at the AMI level: reads the Ping, never answers.
        let ping = peer.expect("Ping").await.unwrap();
        let more = peer.read_action().await;
        (ping, more, peer)
    });
    let mut cfg = config(port);
    cfg.ping_interval = Duration::from_millis(50);
    cfg.ping_timeout = Duration::from_millis(100);
    let (conn, mut events) = Connection::connect(&cfg).await.unwrap();
    let reason = tokio::time::timeout(Duration::from_secs(10), conn.closed())
        .await
        .expect("the dead peer is noticed");
    assert_eq!(
        reason,
        Disconnect::PingTimeout {
            after: Duration::from_millis(100)
        }
    );
    let (ping, more, _peer) = peer.await.unwrap();
    assert_eq!(ping.name(), "Ping");
    assert!(
        more.is_none(),
        "one ping outstanding at a time, then the socket closes"
    );
    let mut last = None;
    while let Some(e) = events.recv().await {
        last = Some(e);
    }
    assert!(matches!(
        last,
        Some(SessionEvent::Disconnected {
            reason: Disconnect::PingTimeout { .. },
            ..
        })
    ));
    let err = conn.send(Action::new("Ping")).await.unwrap_err();
    assert!(matches!(err, AmiError::ConnectionLost { .. }), "{err:?}");
}

#[tokio::test]
async fn keepalive_pings_measure_the_round_trip() {
    let server = ScriptedServer::bind().await.unwrap();
    let port = server.port();
    tokio::spawn(async move {
        let mut peer = server.accept().await.unwrap();
        peer.accept_login().await.unwrap();
        peer.answer_until_eof().await
    });
    let mut cfg = config(port);
    cfg.ping_interval = Duration::from_millis(20);
    let (conn, _events) = Connection::connect(&cfg).await.unwrap();
    let rtt = async {
        loop {
            if let Some(rtt) = conn.stats().last_ping_rtt {
                return rtt;
            }
            tokio::time::sleep(Duration::from_millis(10)).await;
        }
    };
    tokio::time::timeout(Duration::from_secs(10), rtt)
        .await
        .unwrap();
    assert!(!conn.is_closed());
}

#[tokio::test]
async fn responses_answered_out_of_order_reach_their_own_callers() {
    const N: usize = 200;
    let server = ScriptedServer::bind().await.unwrap();
    let port = server.port();
    tokio::spawn(async move {
        let mut peer = server.accept().await.unwrap();
        peer.accept_login().await.unwrap();
        // Collect every action, then answer in reverse order, echoing what each asked.
        let mut actions = Vec::new();
        while actions.len() < N {
            actions.push(peer.read_action().await.unwrap());
        }
        for a in actions.iter().rev() {
            let n = a.get("Variable").unwrap().to_string();
            peer.reply(a, "Success", &[("Value", &n)]).await.unwrap();
        }
        peer.answer_until_eof().await
    });
    let (conn, _events) = Connection::connect(&config(port)).await.unwrap();
    let sends = (0..N).map(|i| {
        let conn = conn.clone();
        tokio::spawn(async move {
            let r = conn
                .send(Action::new("Getvar").header("Variable", format!("v{i}")))
                .await
                .unwrap();
            (i, r.get("Value").unwrap().to_string())
        })
    });
    for handle in sends.collect::<Vec<_>>() {
        let (i, value) = handle.await.unwrap();
        assert_eq!(value, format!("v{i}"));
    }
}

#[tokio::test]
async fn a_list_collects_its_items_while_other_events_interleave() {
    let server = ScriptedServer::bind().await.unwrap();
    let port = server.port();
    tokio::spawn(async move {
        let mut peer = server.accept().await.unwrap();
        peer.accept_login().await.unwrap();
        let a = peer.expect("CoreShowChannels").await.unwrap();
        let id = a.action_id().unwrap().to_string();
        let start = [
            ("Response", "Success"),
            ("ActionID", &id),
            ("EventList", "start"),
            ("Message", "Channels will follow"),
        ];
        peer.send_pairs(&start).await.unwrap();
        peer.send_pairs(&[
            ("Event", "CoreShowChannel"),
            ("ActionID", &id),
            ("Channel", "A"),
        ])
        .await
        .unwrap();
        peer.send_pairs(&[("Event", "Newstate"), ("Channel", "B")])
            .await
            .unwrap();
        peer.send_pairs(&[
            ("Event", "CoreShowChannel"),
            ("ActionID", &id),
            ("Channel", "C"),
        ])
        .await
        .unwrap();
        peer.send_pairs(&[
            ("Event", "CoreShowChannelsComplete"),
            ("ActionID", &id),
            ("EventList", "Complete"),
            ("ListItems", "2"),
        ])
        .await
        .unwrap();
        peer.answer_until_eof().await
    });
    let (conn, mut events) = Connection::connect(&config(port)).await.unwrap();
    let r = conn.send(Action::new("CoreShowChannels")).await.unwrap();
    let items: Vec<_> = r.items().map(|m| m.get("Channel").unwrap()).collect();
    assert_eq!(items, ["A", "C"]);
    assert_eq!(r.events.len(), 3);
    let mut names = Vec::new();
    while names.len() < 5 {
        if let SessionEvent::Event(m) = next_event(&mut events).await {
            names.push(m.name().to_string());
        }
    }
    assert_eq!(
        names,
        [
            "FullyBooted",
            "CoreShowChannel",
            "Newstate",
            "CoreShowChannel",
            "CoreShowChannelsComplete"
        ]
    );
}

#[tokio::test]
async fn legacy_follows_command_output_is_read_as_output() {
    let server = ScriptedServer::bind().await.unwrap();
    let port = server.port();
    tokio::spawn(async move {
        let mut peer = server.accept().await.unwrap();
        peer.accept_login().await.unwrap();
        let a = peer.expect("Command").await.unwrap();
        let id = a.action_id().unwrap();
        let body = format!(
            "Response: Follows\r\nPrivilege: Command\r\nActionID: {id}\r\nChannel              Location\r\n0 active channels\r\n--END COMMAND--\r\n\r\n"
        );
        peer.send_raw(body.as_bytes()).await.unwrap();
        peer.answer_until_eof().await
    });
    let (conn, _events) = Connection::connect(&config(port)).await.unwrap();
    let r = conn
        .send(Action::new("Command").header("Command", "core show channels"))
        .await
        .unwrap();
    let lines: Vec<_> = r.output().collect();
    assert_eq!(
        lines,
        ["Channel              Location", "0 active channels"]
    );
}

#[tokio::test]
async fn peer_closing_fails_waiting_actions_with_connection_lost() {
    let server = ScriptedServer::bind().await.unwrap();
    let port = server.port();
    tokio::spawn(async move {
        let mut peer = server.accept().await.unwrap();
        peer.accept_login().await.unwrap();
        peer.expect("Status").await.unwrap();
        peer.send_pairs(&[
            ("Event", "Shutdown"),
            ("Shutdown", "Cleanly"),
            ("Restart", "True"),
        ])
        .await
        .unwrap();
        peer.close().await;
    });
    let (conn, _events) = Connection::connect(&config(port)).await.unwrap();
    let err = conn.send(Action::new("Status")).await.unwrap_err();
    assert!(matches!(err, AmiError::ConnectionLost { .. }), "{err:?}");
    assert_eq!(
        conn.closed().await,
        Disconnect::AsteriskShutdown { restart: true }
    );
}

#[tokio::test]
async fn an_action_with_a_line_break_is_refused_before_anything_is_sent() {
    let server = ScriptedServer::bind().await.unwrap();
    let port = server.port();
    let peer = tokio::spawn(async move {
        let mut peer = server.accept().await.unwrap();
        peer.accept_login().await.unwrap();
        peer.answer_until_eof().await
    });
    let (conn, _events) = Connection::connect(&config(port)).await.unwrap();
    let evil = Action::new("Hangup").header("Channel", "x\r\nAction: Originate");
    let err = conn.send(evil).await.unwrap_err();
    assert!(matches!(err, AmiError::InvalidAction(_)), "{err:?}");
    conn.logoff().await.unwrap();
    let seen = peer.await.unwrap();
    let names: Vec<_> = seen.iter().map(|m| m.name()).collect();
    assert_eq!(names, ["Logoff"]);
}

mod connect_errors {
    use super::*;

    #[tokio::test]
    async fn refused() {
        let port = {
            let l = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
            l.local_addr().unwrap().port()
        };
        let err = Connection::connect(&config(port)).await.err().unwrap();
        assert!(matches!(err, AmiError::Refused { .. }), "{err:?}");
    }

    #[tokio::test]
    async fn no_banner_is_a_connect_timeout() {
        let server = ScriptedServer::bind().await.unwrap();
        let mut cfg = config(server.port());
        cfg.connect_timeout = Duration::from_millis(200);
        let hold = tokio::spawn(async move {
            let tcp = server.accept_tcp().await.unwrap();
            tokio::time::sleep(Duration::from_secs(5)).await;
            drop(tcp);
        });
        let err = Connection::connect(&cfg).await.err().unwrap();
        match &err {
            AmiError::ConnectTimeout { stage, .. } => assert!(stage.contains("banner")),
            other => panic!("{other:?}"),
        }
        assert!(
            err.to_string().contains("TLS"),
            "hints at a TLS port: {err}"
        );
        hold.abort();
    }

    #[tokio::test]
    async fn not_ami() {
        let server = ScriptedServer::bind().await.unwrap();
        let cfg = config(server.port());
        tokio::spawn(async move {
            let mut peer = server.accept().await.unwrap();
            peer.send_raw(b"SSH-2.0-OpenSSH_9.6\r\n").await.unwrap();
            let _ = peer.read_action().await;
        });
        let err = Connection::connect(&cfg).await.err().unwrap();
        assert!(matches!(err, AmiError::NotAmi { .. }), "{err:?}");
        assert!(err.to_string().contains("SSH-2.0"), "{err}");
    }

    #[tokio::test]
    async fn tls_to_a_plain_port() {
        let server = ScriptedServer::bind().await.unwrap();
        let mut cfg = config(server.port());
        cfg.tls = Some(ami::TlsOptions::accept_any());
        tokio::spawn(async move {
            let mut peer = server.accept().await.unwrap();
            peer.send_banner().await.unwrap();
            let _ = peer.read_action().await;
        });
        let err = Connection::connect(&cfg).await.err().unwrap();
        assert!(matches!(err, AmiError::Tls { .. }), "{err:?}");
    }
}

/// A PBX that breaks a limit of the codec (a line over 64 KiB, too many headers) is a
/// protocol error, counted as a decode error, never "Asterisk closed the connection",
/// whether it then keeps the socket open or closes it at once.
#[tokio::test]
async fn a_frame_over_the_limits_is_a_counted_protocol_error() {
    let huge_line = {
        let mut v = b"Event: Newchannel\r\nChannel: ".to_vec();
        v.extend(std::iter::repeat_n(b'a', 70 * 1024));
        v.extend_from_slice(b"\r\n\r\n");
        v
    };
    let many_headers = {
        let mut v = b"Event: Newchannel\r\n".to_vec();
        for i in 0..20_000 {
            v.extend_from_slice(format!("H{i}: x\r\n").as_bytes());
        }
        v.extend_from_slice(b"\r\n");
        v
    };
    for (what, bytes, expect) in [
        ("a long line", huge_line, "longer than"),
        ("too many headers", many_headers, "headers"),
    ] {
        for close_after in [false, true] {
            let server = ScriptedServer::bind().await.unwrap();
            let port = server.port();
            let bytes = bytes.clone();
            let peer = tokio::spawn(async move {
                let mut peer = server.accept().await.unwrap();
                peer.accept_login().await.unwrap();
                peer.send_raw(&bytes).await.unwrap();
                if close_after {
                    peer.close().await;
                } else {
                    tokio::time::sleep(Duration::from_secs(5)).await;
                }
            });
            let (conn, _events) = Connection::connect(&config(port)).await.unwrap();
            let end = tokio::time::timeout(Duration::from_secs(10), conn.closed())
                .await
                .expect("the session ends");
            match &end {
                Disconnect::Protocol(m) => assert!(m.contains(expect), "{what}: {m}"),
                other => panic!("{what} (close_after={close_after}): {other:?}"),
            }
            assert_eq!(conn.stats().decode_errors, 1, "{what}");
            peer.abort();
        }
    }
}
