//! Backpressure: a slow consumer loses nothing, reading pauses, deadlines stand still while
//! it does, and the lag is measured.

use ami::testing::ScriptedServer;
use ami::{Action, ClientConfig, Connection, SessionEvent};
use std::time::Duration;

const BURST: usize = 3000;

#[tokio::test]
async fn slow_consumer_pauses_reading_and_loses_nothing() {
    let server = ScriptedServer::bind().await.unwrap();
    let port = server.port();
    tokio::spawn(async move {
        let mut peer = server.accept().await.unwrap();
        peer.accept_login().await.unwrap();
        while let Some(action) = peer.read_action().await {
            if action.name() == "Burst" {
                for i in 0..BURST {
                    let n = i.to_string();
                    peer.send_pairs(&[("Event", "Seq"), ("Privilege", "user,all"), ("N", &n)])
                        .await
                        .unwrap();
                }
                peer.reply(&action, "Success", &[("Message", "burst sent")])
                    .await
                    .unwrap();
            } else if action.name() == "Ping" {
                peer.reply(&action, "Success", &[("Ping", "Pong")])
                    .await
                    .unwrap();
            } else {
                peer.reply(&action, "Goodbye", &[]).await.unwrap();
                break;
            }
        }
    });

    let mut cfg = ClientConfig::new("127.0.0.1", port, "admin", "amp111");
    cfg.queue_capacity = 8;
    // Far shorter than the consumer's nap: if these ran while reading is paused, the
    // session would be declared dead and the Burst action would time out.
    cfg.ping_interval = Duration::from_millis(30);
    cfg.ping_timeout = Duration::from_millis(30);
    cfg.action_timeout = Duration::from_millis(200);
    let (conn, mut events) = Connection::connect(&cfg).await.unwrap();
    let burst = tokio::spawn({
        let conn = conn.clone();
        async move { conn.send(Action::new("Burst")).await }
    });

    // The consumer naps: the queue fills and reading pauses.
    tokio::time::sleep(Duration::from_secs(1)).await;
    let lagging = conn.stats();
    assert!(lagging.reading_paused, "{lagging:?}");
    assert_eq!(lagging.queue_depth, 8);
    assert_eq!(lagging.queue_capacity, 8);
    assert!(
        lagging.oldest_queued_age.unwrap() >= Duration::from_secs(1),
        "the oldest event has waited through the whole nap: {lagging:?}"
    );
    assert!(
        !burst.is_finished(),
        "its response is behind the unread events"
    );

    // Now it drains everything: every event, in order, none lost.
    let mut next = 0;
    let mut others = Vec::new();
    while next < BURST {
        match tokio::time::timeout(Duration::from_secs(10), events.recv())
            .await
            .unwrap()
            .unwrap()
        {
            SessionEvent::Event(m) if m.is_event("Seq") => {
                assert_eq!(m.get("N").unwrap(), next.to_string());
                next += 1;
            }
            other => others.push(other),
        }
    }
    assert!(matches!(others[0], SessionEvent::Connected { .. }));
    assert_eq!(others.len(), 2, "Connected, FullyBooted: {others:?}");
    let response = burst
        .await
        .unwrap()
        .expect("no timeout while reading was paused");
    assert_eq!(response.get("Message"), Some("burst sent"));
    assert!(
        !conn.is_closed(),
        "the keep-alive did not fire while paused"
    );
    conn.ping().await.unwrap();

    let after = conn.stats();
    assert!(!after.reading_paused);
    assert!(after.pauses >= 1);
    assert!(
        after.paused_total >= Duration::from_millis(500),
        "{after:?}"
    );
    assert_eq!(after.events_received as usize, BURST + 1);
    assert_eq!(after.queue_depth, 0);
    assert_eq!(after.oldest_queued_age, None);
}

#[tokio::test]
async fn shutdown_never_waits_on_a_consumer_that_stopped_reading() {
    let server = ScriptedServer::bind().await.unwrap();
    let port = server.port();
    let peer = tokio::spawn(async move {
        let mut peer = server.accept().await.unwrap();
        peer.accept_login().await.unwrap();
        for i in 0..100 {
            let n = i.to_string();
            peer.send_pairs(&[("Event", "Seq"), ("N", &n)])
                .await
                .unwrap();
        }
        peer.answer_until_eof().await
    });
    let mut cfg = ClientConfig::new("127.0.0.1", port, "admin", "amp111");
    cfg.queue_capacity = 4;
    cfg.ping_interval = Duration::ZERO;
    let (client, events) = ami::Client::spawn(cfg);
    let mut status = client.status();
    tokio::time::timeout(
        Duration::from_secs(10),
        status.wait_for(ami::Status::is_connected),
    )
    .await
    .unwrap()
    .unwrap();
    // Let the queue fill: reading pauses, the Goodbye will sit behind unread events.
    let paused = async {
        while !client.stats().reading_paused {
            tokio::time::sleep(Duration::from_millis(10)).await;
        }
    };
    tokio::time::timeout(Duration::from_secs(10), paused)
        .await
        .unwrap();
    tokio::time::timeout(Duration::from_secs(10), client.shutdown())
        .await
        .expect("shutdown returns although nobody reads the events");
    let seen = peer.await.unwrap();
    assert_eq!(
        seen.last().unwrap().name(),
        "Logoff",
        "Logoff was still sent"
    );
    drop(events);
}
