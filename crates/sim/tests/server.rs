//! The simulator's server side, tested over TCP with the `ami` codec as the client.

mod common;
use common::{fixture, Client};
use futures::StreamExt;
use sim::{Mode, Server, SimConfig, Speed};
use std::time::Duration;

fn replay_cfg(name: &str, speed: Speed, loops: u32) -> SimConfig {
    replay_file(fixture(name), speed, loops)
}

fn replay_file(file: std::path::PathBuf, speed: Speed, loops: u32) -> SimConfig {
    SimConfig::new(Mode::Replay { file, speed, loops }).listen("127.0.0.1:0".parse().unwrap())
}

#[tokio::test]
async fn login_ping_unknown_logoff_as_asterisk_does() {
    let sim = Server::start(SimConfig::quiet_for_tests()).await.unwrap();
    let mut c = Client::login(sim.addr()).await;
    assert_eq!(c.banner, "Asterisk Call Manager/11.0.0");
    let fb = c.next().await.unwrap();
    assert!(fb.is_event("FullyBooted"));
    assert_eq!(
        fb.get("Timestamp"),
        None,
        "FullyBooted does not come from the bus"
    );
    let sa = c.next().await.unwrap();
    assert!(sa.is_event("SuccessfulAuth"));
    assert_eq!(sa.headers().nth(2).map(|h| h.0), Some("Timestamp"));
    assert_eq!(sa.get("AccountID"), Some("admin"));

    let p = c.action("Action: Ping\nActionID: p1\n\n", "p1").await;
    assert_eq!(p.get("Ping"), Some("Pong"));
    assert!(p.get("Timestamp").is_some());

    let u = c
        .action("Action: FrobnicateTheWidget\nActionID: u1\n\n", "u1")
        .await;
    assert_eq!(u.name(), "Error");
    assert_eq!(
        u.get("Message"),
        Some("Invalid/unknown command: FrobnicateTheWidget. Use Action: ListCommands to show available commands.")
    );
    let bad = c.next().await.unwrap();
    assert!(bad.is_event("RequestBadFormat"));

    let g = c.action("Action: Logoff\nActionID: bye\n\n", "bye").await;
    assert_eq!(g.name(), "Goodbye");
    assert_eq!(g.get("Message"), Some("Thanks for all the fish."));
    assert!(c.next().await.is_none(), "EOF after Logoff");
    assert_eq!(sim.logins(), 1);
}

#[tokio::test]
async fn wrong_secret_is_refused_and_closed_byte_for_byte() {
    let sim = Server::start(SimConfig::quiet_for_tests()).await.unwrap();
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    let mut s = tokio::net::TcpStream::connect(sim.addr()).await.unwrap();
    s.write_all(&std::fs::read(fixture("actions_login_failed.sent")).unwrap())
        .await
        .unwrap();
    let mut got = Vec::new();
    tokio::time::timeout(Duration::from_secs(5), s.read_to_end(&mut got))
        .await
        .unwrap()
        .unwrap();
    assert_eq!(
        got,
        std::fs::read(fixture("actions_login_failed.ami")).unwrap()
    );
}

#[tokio::test]
async fn md5_challenge_login() {
    let sim = Server::start(SimConfig::quiet_for_tests()).await.unwrap();
    let mut c = Client::connect(sim.addr()).await;
    let ch = c
        .action("Action: Challenge\nActionID: c\nAuthType: md5\n\n", "c")
        .await;
    let challenge = ch.get("Challenge").unwrap().to_string();
    assert!(challenge.bytes().all(|b| b.is_ascii_digit()));
    use md5::{Digest, Md5};
    let key: String = Md5::digest(format!("{challenge}amp111"))
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect();
    let r = c
        .action(
            &format!("Action: Login\nActionID: l\nAuthType: md5\nUsername: admin\nKey: {key}\n\n"),
            "l",
        )
        .await;
    assert_eq!(r.get("Message"), Some("Authentication accepted"));

    // A wrong key fails.
    let mut c = Client::connect(sim.addr()).await;
    c.action("Action: Challenge\nActionID: c\nAuthType: md5\n\n", "c")
        .await;
    let r = c
        .action(
            "Action: Login\nActionID: l\nAuthType: md5\nUsername: admin\nKey: 00\n\n",
            "l",
        )
        .await;
    assert_eq!(r.get("Message"), Some("Authentication failed"));
    assert!(c.next().await.is_none());
}

/// Every bus event of a recording arrives, byte for byte, in order.
#[tokio::test]
async fn replay_at_max_speed_sends_every_event_unchanged() {
    let sim = Server::start(replay_cfg("internal_answered.ami", Speed::Max, 1))
        .await
        .unwrap();
    let rec = sim::replay::Recording::load(&fixture("internal_answered.ami")).unwrap();
    let expected: Vec<_> = rec
        .items
        .iter()
        .filter(|i| i.send)
        .map(|i| i.msg.clone())
        .collect();
    assert!(expected.len() > 80);
    let mut c = Client::login(sim.addr()).await;
    c.next().await; // FullyBooted
    c.next().await; // SuccessfulAuth
    for e in &expected {
        let m = c.next().await.expect("an event");
        assert_eq!(m.as_bytes(), e.as_bytes());
    }
    // Then the connection stays open and idle: a Ping still works.
    let p = c.action("Action: Ping\nActionID: p\n\n", "p").await;
    assert_eq!(p.get("Ping"), Some("Pong"));
    // The call ended: no channel left.
    let r = c
        .action("Action: CoreShowChannels\nActionID: csc\n\n", "csc")
        .await;
    assert_eq!(r.get("EventList"), Some("start"));
    let done = c.next().await.unwrap();
    assert!(done.is_event("CoreShowChannelsComplete"));
    assert_eq!(done.get("ListItems"), Some("0"));
}

/// A recording that starts mid-call: the lists answer from what its list items said.
#[tokio::test]
async fn lists_answer_from_replayed_state() {
    let sim = Server::start(replay_cfg("attach_midcall.ami", Speed::Realtime, 1))
        .await
        .unwrap();
    let mut c = Client::login(sim.addr()).await;
    c.send("Action: CoreShowChannels\nActionID: a\n\n").await;
    let mut items = Vec::new();
    loop {
        let m = c.next().await.unwrap();
        if m.is_event("CoreShowChannel") {
            assert_eq!(m.action_id(), Some("a"));
            assert_eq!(m.get("Privilege"), None);
            items.push(m.get("Channel").unwrap().to_string());
        }
        if m.is_event("CoreShowChannelsComplete") {
            assert_eq!(m.get("ListItems"), Some(items.len().to_string().as_str()));
            break;
        }
    }
    assert_eq!(items.len(), 9, "{items:?}");
    assert!(items.contains(&"PJSIP/pstn-00000004".to_string()));

    let r = c.action("Action: QueueStatus\nActionID: q\n\n", "q").await;
    assert_eq!(r.get("Message"), Some("Queue status will follow"));
    let entry = c
        .until(|m| m.is_event("QueueEntry") || m.is_event("QueueStatusComplete"))
        .await;
    assert!(entry.is_event("QueueEntry"), "{entry:?}");
    assert_eq!(entry.get("CallerIDNum"), Some("+15553141592"));

    let r = c
        .action("Action: ExtensionStateList\nActionID: e\n\n", "e")
        .await;
    assert_eq!(r.get("EventList"), Some("start"));
    let first = c
        .until(|m| m.is_event("ExtensionStatus") && m.action_id() == Some("e"))
        .await;
    assert_eq!(first.get("Exten"), Some("2006"));
    assert_eq!(first.get("StatusText"), Some("InUse&Ringing"));
}

#[tokio::test]
async fn originate_rings_the_phone_then_dials() {
    let sim = Server::start(SimConfig::quiet_for_tests()).await.unwrap();
    let mut c = Client::login(sim.addr()).await;
    let r = c
        .action(
            "Action: Originate\nActionID: o1\nChannel: PJSIP/2001\nContext: internal\nExten: 2002\nPriority: 1\nCallerID: \"Click2Call\" <2001>\nAsync: true\n\n",
            "o1",
        )
        .await;
    assert_eq!(r.get("Message"), Some("Originate successfully queued"));
    let first = c.until(|m| m.is_event("Newchannel")).await;
    assert_eq!(first.get("CallerIDNum"), Some("2001"));
    let orig = c.until(|m| m.is_event("OriginateResponse")).await;
    assert_eq!(orig.get("Response"), Some("Success"));
    assert_eq!(orig.get("ActionID"), Some("o1"));
    assert_eq!(orig.get("Reason"), Some("4"));
    assert_eq!(orig.get("CallerIDName"), Some("Click2Call"));
    let callee = c.until(|m| m.is_event("Newchannel")).await;
    assert!(callee.get("Channel").unwrap().starts_with("PJSIP/2002-"));
    assert_eq!(callee.get("Linkedid"), first.get("Uniqueid"));
    c.until(|m| m.is_event("Hangup")).await;

    // An endpoint that does not exist: as in actions_admin.
    let r = c
        .action("Action: Originate\nActionID: bad\nChannel: PJSIP/9999\nContext: internal\nExten: 2002\nPriority: 1\n\n", "bad")
        .await;
    assert_eq!(r.name(), "Error");
    assert_eq!(r.get("Message"), Some("Originate failed"));
    let r = c
        .action("Action: Originate\nActionID: bad2\nChannel: PJSIP/9999\nContext: internal\nExten: 2002\nPriority: 1\nAsync: true\n\n", "bad2")
        .await;
    assert_eq!(r.get("Message"), Some("Originate successfully queued"));
    let f = c.until(|m| m.is_event("OriginateResponse")).await;
    assert_eq!(f.get("Response"), Some("Failure"));
    assert_eq!(f.get("Uniqueid"), Some("<unknown>"));
}

#[tokio::test]
async fn hangup_and_command() {
    let mut cfg = SimConfig::quiet_for_tests();
    cfg.mode = Mode::Quiet {
        speed: Speed::Factor(0.2),
    };
    let sim = Server::start(cfg).await.unwrap();
    let mut c = Client::login(sim.addr()).await;
    c.action(
        "Action: Originate\nActionID: o\nChannel: PJSIP/2003\nContext: internal\nExten: 2004\nAsync: yes\n\n",
        "o",
    )
    .await;
    // At a fifth of real time the phone rings for 7.5 s: the channel is there, ringing.
    let nc = c.until(|m| m.is_event("Newchannel")).await;
    let chan = nc.get("Channel").unwrap().to_string();
    let out = c
        .action(
            "Action: Command\nActionID: cmd\nCommand: core show channels\n\n",
            "cmd",
        )
        .await;
    let lines: Vec<&str> = out.output().collect();
    assert!(lines[0].starts_with("Channel "), "{lines:?}");
    assert!(lines.iter().any(|l| l.starts_with(&chan)), "{lines:?}");
    assert_eq!(lines[lines.len() - 3], "1 active channel");

    let h = c
        .action(
            &format!("Action: Hangup\nActionID: h\nChannel: {chan}\n\n"),
            "h",
        )
        .await;
    assert_eq!(h.get("Message"), Some("Channel Hungup"));
    let hu = c.until(|m| m.is_event("Hangup")).await;
    assert_eq!(hu.get("Channel"), Some(chan.as_str()));
    assert_eq!(sim.channels_up(), 0);
    let h = c
        .action(
            "Action: Hangup\nActionID: h2\nChannel: PJSIP/nope-00000000\n\n",
            "h2",
        )
        .await;
    assert_eq!(h.get("Message"), Some("No such channel"));
}

#[tokio::test]
async fn faults_drop_stall_refuse_restart() {
    let sim = Server::start(replay_cfg("load_mix.ami", Speed::Max, 1))
        .await
        .unwrap();
    // Drop after N events.
    sim.drop_after_events(10);
    let mut c = Client::login(sim.addr()).await;
    let mut n = 0;
    while let Some(m) = c.next().await {
        if m.kind() == ami::Kind::Event
            && m.get("Timestamp").is_some()
            && !m.is_event("SuccessfulAuth")
        {
            n += 1;
        }
    }
    assert_eq!(n, 10);
    sim.drop_after_events(0);

    // Refused logins.
    sim.refuse_logins(true);
    let mut c = Client::connect(sim.addr()).await;
    let r = c
        .action(
            "Action: Login\nActionID: x\nUsername: admin\nSecret: amp111\n\n",
            "x",
        )
        .await;
    assert_eq!(r.get("Message"), Some("Authentication failed"));
    sim.refuse_logins(false);

    // Stall: the socket stays open and silent.
    let mut c = Client::login(sim.addr()).await;
    c.next().await;
    sim.stall(true);
    tokio::time::sleep(Duration::from_millis(50)).await;
    // Drain what was in flight, then silence.
    while tokio::time::timeout(Duration::from_millis(300), c.io.next())
        .await
        .is_ok()
    {}
    c.send("Action: Ping\nActionID: p\n\n").await;
    assert!(
        tokio::time::timeout(Duration::from_millis(300), c.io.next())
            .await
            .is_err()
    );
    sim.stall(false);
    c.until(|m| m.action_id() == Some("p")).await;
    drop(c);
}

#[tokio::test]
async fn restart_sends_shutdown_refuses_then_comes_back() {
    let sim = Server::start(replay_cfg("load_mix.ami", Speed::Factor(20.0), 1))
        .await
        .unwrap();
    // Restart: Shutdown, EOF, refused, back.
    let mut c = Client::login(sim.addr()).await;
    c.until(|m| m.is_event("Newchannel")).await;
    let restart = {
        let sim = sim.clone();
        tokio::spawn(async move { sim.restart(Duration::from_millis(500)).await })
    };
    let sd = c.until(|m| m.is_event("Shutdown")).await;
    assert_eq!(sd.get("Restart"), Some("True"));
    assert!(c.next().await.is_none(), "EOF after Shutdown");
    restart.await.unwrap();
    assert!(
        tokio::net::TcpStream::connect(sim.addr()).await.is_err(),
        "refused while down"
    );
    tokio::time::sleep(Duration::from_millis(700)).await;
    let mut c = Client::login(sim.addr()).await;
    let fb = c.next().await.unwrap();
    assert_eq!(fb.get("Uptime"), Some("0"));
    // The replay goes on after the restart.
    c.until(|m| m.is_event("Newchannel")).await;
}

#[tokio::test]
async fn drop_connections_and_reconnect_continues_the_stream() {
    let sim = Server::start(replay_cfg("load_mix.ami", Speed::Max, 1))
        .await
        .unwrap();
    sim.stall(false);
    let mut c = Client::login(sim.addr()).await;
    let mut last = String::new();
    for _ in 0..200 {
        let m = c.next().await.unwrap();
        if let Some(t) = m.get("Timestamp") {
            last = t.to_string();
        }
    }
    sim.drop_connections();
    while c.next().await.is_some() {}
    let mut c = Client::login(sim.addr()).await;
    c.next().await;
    c.next().await;
    let m = c.next().await.unwrap();
    assert!(
        m.get("Timestamp").unwrap() >= last.as_str(),
        "the stream went on, it did not start over"
    );
    assert_ne!(m.get("Timestamp"), Some("1795526702.000000"));
}

#[tokio::test]
async fn blind_transfer_and_redirect_move_the_call() {
    let mut cfg = SimConfig::quiet_for_tests();
    cfg.mode = Mode::Quiet {
        speed: Speed::Factor(2.0),
    };
    let sim = Server::start(cfg).await.unwrap();
    let mut c = Client::login(sim.addr()).await;
    c.action(
        "Action: Originate\nActionID: o\nChannel: PJSIP/2001\nContext: internal\nExten: 2002\nAsync: true\n\n",
        "o",
    )
    .await;
    let first = c.until(|m| m.is_event("Newchannel")).await;
    let a_chan = first.get("Channel").unwrap().to_string();
    let linkedid = first.get("Linkedid").unwrap().to_string();
    let b = c.until(|m| m.is_event("BridgeEnter")).await;
    let b_chan = b.get("Channel").unwrap().to_string();
    assert!(b_chan.starts_with("PJSIP/2002-"));
    c.until(|m| m.is_event("BridgeEnter")).await;

    // 2002 transfers 2001 to 2003.
    c.send(&format!(
        "Action: BlindTransfer\nActionID: bt\nChannel: {b_chan}\nExten: 2003\nContext: internal\n\n"
    ))
    .await;
    let mut saw_response = false;
    let mut saw_event = false;
    let mut b_gone = false;
    let new_leg = loop {
        let m = c.next().await.expect("events after the transfer");
        if m.action_id() == Some("bt") && m.kind() == ami::Kind::Response {
            assert_eq!(m.get("Message"), Some("Transfer succeeded"));
            saw_response = true;
        }
        if m.is_event("BlindTransfer") {
            assert_eq!(m.get("TransfererChannel"), Some(b_chan.as_str()));
            assert_eq!(m.get("TransfereeChannel"), Some(a_chan.as_str()));
            assert_eq!(m.get("Extension"), Some("2003"));
            saw_event = true;
        }
        if m.is_event("Hangup") && m.get("Channel") == Some(b_chan.as_str()) {
            b_gone = true;
        }
        if m.is_event("Newchannel") {
            break m;
        }
    };
    assert!(saw_response && saw_event && b_gone);
    assert!(new_leg.get("Channel").unwrap().starts_with("PJSIP/2003-"));
    assert_eq!(
        new_leg.get("Linkedid"),
        Some(linkedid.as_str()),
        "same call"
    );
    let enter = c
        .until(|m| m.is_event("BridgeEnter") && m.get("Channel") == Some(a_chan.as_str()))
        .await;
    assert_eq!(enter.get("Linkedid"), Some(linkedid.as_str()));

    // Redirect 2001 (now talking to 2003) to 2004: 2003 hangs up, 2004 rings.
    let r = c
        .action(&format!("Action: Redirect\nActionID: r\nChannel: {a_chan}\nExten: 2004\nContext: internal\nPriority: 1\n\n"), "r")
        .await;
    assert_eq!(r.get("Message"), Some("Redirect successful"));
    let nc = c.until(|m| m.is_event("Newchannel")).await;
    assert!(nc.get("Channel").unwrap().starts_with("PJSIP/2004-"));
    let r = c
        .action(
            "Action: Redirect\nActionID: r2\nChannel: PJSIP/nobody-00000000\nExten: 2004\n\n",
            "r2",
        )
        .await;
    assert_eq!(r.get("Message"), Some("Channel specified does not exist"));
    let r = c
        .action(
            "Action: Atxfer\nActionID: at\nChannel: x\nExten: 2004\n\n",
            "at",
        )
        .await;
    assert_eq!(r.name(), "Error");
}

/// A trunk channel sent elsewhere by Redirect keeps its own name (`PJSIP/pstn-…`), not one
/// made of its caller number.
#[tokio::test]
async fn redirect_of_a_trunk_channel_keeps_the_trunk_name() {
    // The outbound recording up to the moment both legs are bridged: the call stays up.
    let bytes = std::fs::read(fixture("outbound_answered.ami")).unwrap();
    let text = String::from_utf8(bytes).unwrap();
    let at = text.match_indices("Event: BridgeEnter").nth(1).unwrap().0;
    let end = at + text[at..].find("\r\n\r\n").unwrap() + 4;
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("up.ami");
    std::fs::write(&file, &text[..end]).unwrap();
    let sim = Server::start(replay_file(file, Speed::Max, 1))
        .await
        .unwrap();
    let mut c = Client::login(sim.addr()).await;
    let trunk = c
        .until(|m| {
            m.is_event("BridgeEnter")
                && m.get("Channel")
                    .is_some_and(|c| c.starts_with("PJSIP/pstn-"))
        })
        .await;
    let trunk_chan = trunk.get("Channel").unwrap().to_string();
    let r = c
        .action(&format!("Action: Redirect\nActionID: r\nChannel: {trunk_chan}\nExten: 2002\nContext: internal\nPriority: 1\n\n"), "r")
        .await;
    assert_eq!(r.get("Message"), Some("Redirect successful"));
    let dial = c.until(|m| m.is_event("DialBegin")).await;
    assert_eq!(dial.get("Channel"), Some(trunk_chan.as_str()));
    assert_eq!(dial.get("Uniqueid"), trunk.get("Uniqueid"));
    assert!(dial.get("DestChannel").unwrap().starts_with("PJSIP/2002-"));
}

#[tokio::test]
async fn garbage_dribble_and_endless_line() {
    let sim = Server::start(replay_cfg("internal_answered.ami", Speed::Max, 500))
        .await
        .unwrap();
    // Garbage after every 5 events: the codec reads it as a message that is not AMI.
    sim.garbage_every(5);
    let mut c = Client::login(sim.addr()).await;
    let (mut events, mut junk) = (0, 0);
    while events < 40 {
        let m = c.next().await.expect("stream");
        match m.kind() {
            ami::Kind::Other => junk += 1,
            ami::Kind::Event if m.get("Timestamp").is_some() && !m.is_event("SuccessfulAuth") => {
                events += 1
            }
            _ => {}
        }
    }
    assert!(junk >= 7, "{junk} garbage lines in 40 events");
    sim.garbage_every(0);
    drop(c);

    // Dribble: every byte in its own write; the messages still arrive whole.
    sim.dribble(true);
    let mut c = Client::login(sim.addr()).await;
    for _ in 0..5 {
        assert!(c.next().await.is_some());
    }
    sim.dribble(false);

    // An endless line: a client with bounded buffers gives up with LineTooLong.
    sim.endless_line();
    let err = loop {
        match tokio::time::timeout(Duration::from_secs(10), c.io.next()).await {
            Ok(Some(Ok(_))) => continue,
            Ok(Some(Err(e))) => break e,
            other => panic!("expected a decode error, got {other:?}"),
        }
    };
    assert!(matches!(err, ami::FrameError::LineTooLong { .. }), "{err}");
}

/// `Action: Atxfer`: the transferee is held, a Local channel pair calls the target, which
/// answers; the transfer completes (`AttendedTransfer`, bridges merged, the Local pair
/// optimized away), the transferee and the target talk, then hang up. The tracker reads it
/// as one call with an attended transfer.
#[tokio::test]
async fn atxfer_calls_the_target_through_local_channels_and_transfers() {
    let mut cfg = SimConfig::quiet_for_tests();
    cfg.mode = Mode::Quiet {
        speed: Speed::Factor(4.0),
    };
    let sim = Server::start(cfg).await.unwrap();
    let mut c = Client::login(sim.addr()).await;
    for (action, want) in [
        (
            "Action: Atxfer\nActionID: e1\nChannel: PJSIP/nobody-00000000\nExten: 2003\n\n",
            "Channel specified does not exist",
        ),
        (
            "Action: Atxfer\nActionID: e1\nChannel: PJSIP/2001-00000000\n\n",
            "No extension specified",
        ),
        (
            "Action: Atxfer\nActionID: e1\nExten: 2003\n\n",
            "No channel specified",
        ),
    ] {
        let r = c.action(action, "e1").await;
        assert_eq!(r.get("Response"), Some("Error"));
        assert_eq!(r.get("Message"), Some(want));
    }
    c.send(
        "Action: Originate\nActionID: o\nChannel: PJSIP/2001\nContext: internal\nExten: 2002\nAsync: true\n\n",
    )
    .await;
    let mut events = Vec::new();
    let mut chans: Vec<String> = Vec::new();
    let mut bridge = None;
    // Until both are in the bridge.
    while chans.len() < 2 {
        let m = c.next().await.unwrap();
        if m.is_event("BridgeEnter") {
            chans.push(m.get("Channel").unwrap().to_string());
            bridge = m.get("BridgeUniqueid").map(str::to_string);
        }
        events.push(m);
    }
    let a_chan = chans
        .iter()
        .find(|c| c.starts_with("PJSIP/2001-"))
        .unwrap()
        .clone();
    let b_chan = chans
        .iter()
        .find(|c| c.starts_with("PJSIP/2002-"))
        .unwrap()
        .clone();
    let bridge = bridge.unwrap();
    c.send(&format!(
        "Action: Atxfer\nActionID: at\nChannel: {b_chan}\nExten: 2003\nContext: internal\n\n"
    ))
    .await;
    let mut acked = false;
    let mut target = None;
    loop {
        let m = c.next().await.expect("events until the end of the call");
        if m.action_id() == Some("at") {
            assert_eq!(m.get("Response"), Some("Success"));
            assert_eq!(m.get("Message"), Some("Atxfer successfully queued"));
            acked = true;
            continue;
        }
        if m.is_event("DialBegin") && m.get("Channel") == Some("Local/2003@internal-00000001;2") {
            target = m.get("DestChannel").map(str::to_string);
        }
        let done = m.is_event("BridgeDestroy") && m.get("BridgeUniqueid") == Some(&bridge);
        events.push(m);
        if done {
            break;
        }
    }
    assert!(acked);
    let target = target.expect("the Local channel dials 2003");
    assert!(target.starts_with("PJSIP/2003-"), "{target}");
    let named = |name: &str, chan: &str| {
        events
            .iter()
            .filter(|m| m.is_event(name) && m.get("Channel") == Some(chan))
            .count()
    };
    for half in [1, 2] {
        let local = format!("Local/2003@internal-00000001;{half}");
        assert_eq!(named("Newchannel", &local), 1);
        assert_eq!(named("Hangup", &local), 1);
    }
    assert_eq!(named("Hangup", &b_chan), 1);
    let xfer = events
        .iter()
        .find(|m| m.is_event("AttendedTransfer"))
        .unwrap();
    assert_eq!(xfer.get("OrigTransfererChannel"), Some(b_chan.as_str()));
    assert_eq!(xfer.get("TransfereeChannel"), Some(a_chan.as_str()));
    assert_eq!(xfer.get("DestType"), Some("Bridge"));
    assert_eq!(xfer.get("DestBridgeUniqueid"), Some(bridge.as_str()));
    // The target ends up in the transferee's bridge.
    assert!(events.iter().any(|m| m.is_event("BridgeEnter")
        && m.get("Channel") == Some(target.as_str())
        && m.get("BridgeUniqueid") == Some(bridge.as_str())));
    assert_eq!(named("Hangup", &a_chan), 1);
    assert_eq!(named("Hangup", &target), 1);

    let mut t = tracker::Tracker::new(tracker::TrackerConfig::new("pbx1"));
    let mut out = Vec::new();
    for m in &events {
        t.handle(m, None, &mut out);
    }
    let recs: Vec<_> = out
        .iter()
        .filter_map(|u| match u {
            tracker::Update::CallEnded(r) => Some(serde_json::to_value(r).unwrap()),
            _ => None,
        })
        .collect();
    let truth = serde_json::json!({"caller": "2001", "called": "2002", "answered_by": "2002",
        "disposition": "answered", "queue": null,
        "transfers": [{"kind": "attended", "by": "2002", "to": "2003"}]});
    let problems = tracker::truth::compare(&recs, &[truth]);
    assert!(problems.is_empty(), "{problems:?}\n{recs:#?}");
}

/// A client that stops reading holds the stream up, as a full socket to a real Asterisk
/// would, instead of making the simulator buffer the replay for it: the other clients get no
/// further than what fits in its socket and its session's queue, and get the rest once it
/// leaves. (Checked to fail with an unbounded queue per session.)
#[tokio::test]
async fn a_client_that_stops_reading_holds_the_stream_instead_of_filling_memory() {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    const LOGIN: &[u8] = b"Action: Login\r\nUsername: admin\r\nSecret: amp111\r\n\r\n";
    // 50 loops of load_mix: about a million events, half a gigabyte.
    let sim = Server::start(replay_cfg("load_mix.ami", Speed::Max, 50))
        .await
        .unwrap();
    let mut stuck = tokio::net::TcpStream::connect(sim.addr()).await.unwrap();
    stuck.write_all(LOGIN).await.unwrap();
    while sim.logins() < 1 {
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
    let mut reader = tokio::net::TcpStream::connect(sim.addr()).await.unwrap();
    reader.write_all(LOGIN).await.unwrap();
    let finder = memchr::memmem::Finder::new(b"\r\n\r\n");
    let mut buf = vec![0u8; 1 << 20];
    let mut read_until_quiet = async |n: &mut u64| {
        while let Ok(Ok(r)) =
            tokio::time::timeout(Duration::from_secs(1), reader.read(&mut buf)).await
        {
            assert!(r > 0, "the simulator closed the connection");
            *n += finder.find_iter(&buf[..r]).count() as u64;
        }
    };
    let mut held = 0;
    read_until_quiet(&mut held).await;
    // Sockets hold a few MB (some 10,000 events), the session's queue 2 batches of 1,024.
    assert!(
        held < 200_000,
        "{held} events went on while a client read nothing"
    );
    drop(stuck);
    let mut after = held;
    read_until_quiet(&mut after).await;
    assert!(
        after > held + 200_000,
        "the stream went on once the stuck client left ({held} -> {after})"
    );
}
