//! The reconnecting client: sessions in order on one stream, backoff that grows and resets,
//! status, clean shutdown.

use ami::testing::ScriptedServer;
use ami::{Action, AmiError, Backoff, Client, ClientConfig, Disconnect, SessionEvent, Status};
use std::time::Duration;

fn config(port: u16, backoff_ms: u64) -> ClientConfig {
    let mut c = ClientConfig::new("127.0.0.1", port, "admin", "amp111");
    c.ping_interval = Duration::ZERO;
    c.backoff = Backoff {
        initial: Duration::from_millis(backoff_ms),
        max: Duration::from_millis(backoff_ms * 4),
        multiplier: 2.0,
        jitter: 0.0,
        healthy_after: Duration::from_secs(3600),
    };
    c
}

async fn recv(events: &mut ami::EventStream) -> SessionEvent {
    tokio::time::timeout(Duration::from_secs(10), events.recv())
        .await
        .expect("an event in time")
        .expect("stream open")
}

#[tokio::test]
async fn reconnects_after_the_link_drops_and_keeps_one_ordered_stream() {
    let server = ScriptedServer::bind().await.unwrap();
    let port = server.port();
    let peer = tokio::spawn(async move {
        let mut first = server.accept().await.unwrap();
        first.accept_login().await.unwrap();
        first.close().await;
        let mut second = server.accept().await.unwrap();
        second.accept_login().await.unwrap();
        second.answer_until_eof().await
    });
    let (client, mut events) = Client::spawn(config(port, 10));
    let mut seen = Vec::new();
    while seen.len() < 5 {
        seen.push(match recv(&mut events).await {
            SessionEvent::Connected { session, .. } => format!("connected {session}"),
            SessionEvent::Event(m) => m.name().to_string(),
            SessionEvent::Disconnected {
                session, reason, ..
            } => {
                assert_eq!(reason, Disconnect::Closed);
                format!("disconnected {session}")
            }
        });
    }
    assert_eq!(
        seen,
        [
            "connected 1",
            "FullyBooted",
            "disconnected 1",
            "connected 2",
            "FullyBooted"
        ]
    );
    // The status follows.
    let mut status = client.status();
    tokio::time::timeout(
        Duration::from_secs(10),
        status.wait_for(Status::is_connected),
    )
    .await
    .unwrap()
    .unwrap();
    let pong = client.send(Action::new("Ping")).await.unwrap();
    assert_eq!(pong.get("Ping"), Some("Pong"));
    let stats = client.stats();
    assert_eq!((stats.sessions, stats.reconnects), (2, 1));

    client.shutdown().await;
    assert!(matches!(*client.status().borrow(), Status::Stopped { .. }));
    let seen = peer.await.unwrap();
    assert_eq!(
        seen.last().unwrap().name(),
        "Logoff",
        "clean Logoff on shutdown"
    );
    match recv(&mut events).await {
        SessionEvent::Disconnected {
            session, reason, ..
        } => {
            assert_eq!((session, reason), (2, Disconnect::LoggedOff))
        }
        other => panic!("{other:?}"),
    }
    assert!(
        events.recv().await.is_none(),
        "the stream ends after shutdown"
    );
}

/// The `retry_in` of every `Disconnected` status seen, until `n` were seen.
async fn retry_delays(client: &ami::ClientHandle, n: usize) -> Vec<(String, Duration)> {
    let mut status = client.status();
    let mut out = Vec::new();
    while out.len() < n {
        tokio::time::timeout(Duration::from_secs(20), status.changed())
            .await
            .unwrap()
            .unwrap();
        if let Status::Disconnected {
            reason,
            retry_in: Some(d),
            ..
        } = &*status.borrow_and_update()
        {
            out.push((reason.clone(), *d));
        }
    }
    out
}

/// True when `got` is `expected` with some entries skipped (a watch channel may skip).
fn is_subsequence(got: &[Duration], expected: &[Duration]) -> bool {
    let mut it = expected.iter();
    got.iter().all(|g| it.any(|e| e == g))
}

#[tokio::test]
async fn refused_logins_back_off_exponentially_up_to_the_cap() {
    let server = ScriptedServer::bind().await.unwrap();
    let port = server.port();
    tokio::spawn(async move {
        loop {
            let mut peer = server.accept().await.unwrap();
            peer.send_banner().await.unwrap();
            let login = peer.expect("Login").await.unwrap();
            peer.reply(&login, "Error", &[("Message", "Authentication failed")])
                .await
                .unwrap();
            peer.close().await;
        }
    });
    let (client, _events) = Client::spawn(config(port, 50));
    let delays = retry_delays(&client, 4).await;
    let ms = Duration::from_millis;
    let expected = [ms(50), ms(100), ms(200), ms(200), ms(200), ms(200), ms(200)];
    let got: Vec<Duration> = delays.iter().map(|(_, d)| *d).collect();
    assert!(is_subsequence(&got, &expected), "{got:?}");
    assert!(
        delays[0].0.contains("rejected the login"),
        "{}",
        delays[0].0
    );
    assert!(matches!(
        client.send(Action::new("Ping")).await,
        Err(AmiError::NotConnected)
    ));
    assert!(client.stats().failed_attempts >= 4);
    assert_eq!(client.stats().sessions, 0);
    tokio::time::timeout(Duration::from_secs(5), client.shutdown())
        .await
        .expect("shutdown does not wait for the backoff");
}

async fn sessions_that_die_at_once(healthy_after: Duration) -> Vec<Duration> {
    let server = ScriptedServer::bind().await.unwrap();
    let port = server.port();
    tokio::spawn(async move {
        loop {
            let mut peer = server.accept().await.unwrap();
            peer.accept_login().await.unwrap();
            peer.close().await;
        }
    });
    let mut cfg = config(port, 40);
    cfg.backoff.healthy_after = healthy_after;
    let (client, mut events) = Client::spawn(cfg);
    tokio::spawn(async move { while events.recv().await.is_some() {} });
    let delays = retry_delays(&client, 4).await;
    client.shutdown().await;
    delays.into_iter().map(|(_, d)| d).collect()
}

#[tokio::test]
async fn backoff_resets_only_after_a_healthy_session() {
    let ms = Duration::from_millis;
    // Every session counts as healthy: the delay starts over each time.
    let got = sessions_that_die_at_once(Duration::ZERO).await;
    assert!(got.iter().all(|d| *d == ms(40)), "{got:?}");
    // A session that dies right after login is no progress: the delay keeps growing.
    let got = sessions_that_die_at_once(Duration::from_secs(3600)).await;
    let expected = [ms(40), ms(80), ms(160), ms(160), ms(160), ms(160)];
    assert!(is_subsequence(&got, &expected), "{got:?}");
    assert!(got.iter().any(|d| *d > ms(40)), "{got:?}");
}

#[tokio::test]
async fn unreachable_pbx_reports_status_and_send_fails_fast() {
    let port = {
        let l = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        l.local_addr().unwrap().port()
    };
    let (client, _events) = Client::spawn(config(port, 20));
    let delays = retry_delays(&client, 1).await;
    assert!(delays[0].0.contains("refused"), "{}", delays[0].0);
    let err = client.send(Action::new("Ping")).await.unwrap_err();
    assert!(matches!(err, AmiError::NotConnected));
    drop(client);
}

/// A frame over the codec's limits ends the session as a counted protocol error, through
/// the reconnecting client too (its status, its stream and its counters say so).
#[tokio::test]
async fn a_frame_over_the_limits_is_reported_as_a_protocol_error() {
    let server = ScriptedServer::bind().await.unwrap();
    let port = server.port();
    let peer = tokio::spawn(async move {
        let mut first = server.accept().await.unwrap();
        first.accept_login().await.unwrap();
        let mut line = b"Event: Newchannel\r\nChannel: ".to_vec();
        line.extend(std::iter::repeat_n(b'a', 70 * 1024));
        first.send_raw(&line).await.unwrap();
        tokio::time::sleep(Duration::from_secs(10)).await;
    });
    let (client, mut events) = Client::spawn(config(port, 5000));
    let reason = loop {
        if let SessionEvent::Disconnected { reason, .. } = recv(&mut events).await {
            break reason;
        }
    };
    match &reason {
        Disconnect::Protocol(m) => assert!(m.contains("longer than"), "{m}"),
        other => panic!("{other:?}"),
    }
    assert!(reason.to_string().starts_with("protocol error"), "{reason}");
    assert_eq!(client.stats().decode_errors, 1);
    peer.abort();
    client.shutdown().await;
}
