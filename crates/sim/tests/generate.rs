//! The generator: real event sequences with new ids, deterministic for a seed, with truth.

mod common;
use common::Client;
use sim::{GenConfig, Mode, Server, SimConfig, Speed, TruthSink};
use std::collections::{HashMap, HashSet};
use std::sync::{Arc, Mutex};

type Truth = Arc<Mutex<Vec<u8>>>;

/// A generating simulator on 20 phones, 8 calls at once, writing its truth to memory.
async fn start(
    calls: u64,
    seed: u64,
    calls_per_second: f64,
    speed: Speed,
) -> (sim::SimHandle, Truth) {
    let truth = Arc::new(Mutex::new(Vec::<u8>::new()));
    let g = GenConfig {
        extensions: (2001, 2020),
        calls_per_second,
        concurrency: 8,
        calls: Some(calls),
        seed,
        speed,
        truth: Some(TruthSink::Writer(truth.clone())),
        start_epoch_us: Some(1_800_000_000_000_000),
        ..GenConfig::default()
    };
    let sim =
        Server::start(SimConfig::new(Mode::Generate(g)).listen("127.0.0.1:0".parse().unwrap()))
            .await
            .unwrap();
    (sim, truth)
}

async fn run(calls: u64, seed: u64) -> (Vec<ami::Message>, Vec<serde_json::Value>) {
    let (sim, truth) = start(calls, seed, 5.0, Speed::Max).await;
    let mut c = Client::login(sim.addr()).await;
    let mut events = Vec::new();
    // The stream goes idle once every call has ended: stop at a quiet second.
    while let Ok(Some(Ok(ami::Frame::Message(m)))) = tokio::time::timeout(
        std::time::Duration::from_secs(1),
        futures::StreamExt::next(&mut c.io),
    )
    .await
    {
        if m.get("Timestamp").is_some() && !m.is_event("SuccessfulAuth") {
            events.push(m);
        }
    }
    let text = String::from_utf8(truth.lock().unwrap().clone()).unwrap();
    let truth = text
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    sim.shutdown().await;
    (events, truth)
}

#[tokio::test]
async fn generated_calls_are_consistent_and_have_truth() {
    let (events, truth) = run(300, 7).await;
    assert_eq!(truth.len(), 300);
    // Times never go back; Uniqueid sequences grow in the order channels appear.
    let mut last_t = String::new();
    let mut last_seq = None;
    let mut open: HashMap<String, String> = HashMap::new();
    let mut linked: HashSet<String> = HashSet::new();
    for m in &events {
        let t = m.get("Timestamp").unwrap().to_string();
        assert!(t >= last_t, "time went back: {t} < {last_t}: {m:?}");
        last_t = t;
        if m.is_event("Newchannel") {
            let uid = m.get("Uniqueid").unwrap();
            let seq: u64 = uid.split('.').nth(1).unwrap().parse().unwrap();
            assert!(
                last_seq.is_none_or(|l| seq == l + 1),
                "{uid} after {last_seq:?}"
            );
            last_seq = Some(seq);
            let ch = m.get("Channel").unwrap().to_string();
            let (_, hex) = ch.rsplit_once('-').unwrap();
            // A Local channel's halves: `Local/2003@internal-00000001;1` and `;2`.
            let hex = hex
                .strip_suffix(";1")
                .or(hex.strip_suffix(";2"))
                .unwrap_or(hex);
            assert_eq!(hex.len(), 8, "{ch}");
            assert!(open.insert(ch, uid.to_string()).is_none());
            let lid = m.get("Linkedid").unwrap();
            if lid == uid {
                linked.insert(lid.to_string());
            } else {
                assert!(linked.contains(lid), "Linkedid {lid} of an unknown call");
            }
        }
        if m.is_event("Hangup") {
            let ch = m.get("Channel").unwrap();
            assert_eq!(open.remove(ch).as_deref(), m.get("Uniqueid"), "{ch}");
        }
    }
    assert!(open.is_empty(), "channels never hung up: {open:?}");
    // One Linkedid per call, and one more per attended transfer (its consultation call).
    let attended = truth
        .iter()
        .filter(|t| t["kind"] == "AttendedTransfer")
        .count();
    assert!(attended > 0);
    assert_eq!(linked.len(), 300 + attended);
    // Every kind showed up, with the fields truthcheck reads.
    let kinds: HashSet<&str> = truth.iter().map(|t| t["kind"].as_str().unwrap()).collect();
    assert!(kinds.len() >= 16, "{kinds:?}");
    for t in &truth {
        for k in [
            "caller",
            "called",
            "answered_by",
            "disposition",
            "transfers",
            "queue",
            "started_at",
            "ended_at",
        ] {
            assert!(t.get(k).is_some(), "{k} missing in {t}");
        }
        if t["queue"].is_string() {
            assert_eq!(t["called"], "5550100");
        }
    }
    // Blind transfers: one BlindTransfer event each, and the caller ends up with the target.
    let blind: Vec<_> = truth
        .iter()
        .filter(|t| t["kind"] == "BlindTransfer")
        .collect();
    assert!(!blind.is_empty());
    for t in &blind {
        let tr = &t["transfers"][0];
        assert_eq!(tr["kind"], "blind");
        assert_eq!(tr["by"], t["called"]);
        assert_eq!(t["answered_by"], t["called"]);
        assert_ne!(tr["to"], t["called"]);
        assert_eq!(t["disposition"], "answered");
    }
    let events_bt = events
        .iter()
        .filter(|m| m.is_event("BlindTransfer"))
        .count();
    assert_eq!(events_bt, blind.len());
    // DTMF attended transfers: a Local pair each, an `AttendedTransfer` when C answers.
    let feature = |kind: &str| {
        truth
            .iter()
            .filter(|t| t["kind"] == kind)
            .collect::<Vec<_>>()
    };
    let (done, failed) = (
        feature("FeatureTransfer"),
        feature("FeatureTransferNoAnswer"),
    );
    assert!(
        !done.is_empty() && !failed.is_empty(),
        "{} {}",
        done.len(),
        failed.len()
    );
    for t in &done {
        let tr = &t["transfers"][0];
        assert_eq!((&tr["kind"], &tr["by"]), (&"attended".into(), &t["called"]));
        assert_ne!(tr["to"], t["called"]);
        assert_eq!(t["answered_by"], t["called"]);
        assert_eq!(t["disposition"], "answered");
    }
    for t in &failed {
        assert_eq!(t["transfers"], serde_json::json!([]), "{t}");
        assert_eq!(t["answered_by"], t["called"]);
    }
    let count = |name: &str, chan: &str| {
        events
            .iter()
            .filter(|m| m.is_event(name) && m.get("Channel").is_some_and(|c| c.starts_with(chan)))
            .count()
    };
    let routed = feature("LocalRoute");
    let locals = 2 * (done.len() + failed.len() + routed.len());
    assert_eq!(count("Newchannel", "Local/"), locals);
    assert_eq!(count("Hangup", "Local/"), locals);
    // Caller IDs set by the dial plan: each such call renames its caller (`NewCallerid` on
    // the call's first channel) to the number its truth names, before it dials.
    let (internal, outbound) = (feature("CallerIdSet"), feature("OutboundCallerIdSet"));
    assert!(!internal.is_empty() && !outbound.is_empty());
    let renamed = [internal, outbound].concat();
    for t in &renamed {
        let lid = t["linkedid"].as_str().unwrap();
        let of_call = |m: &&ami::Message| m.get("Linkedid") == Some(lid);
        let cid = events
            .iter()
            .filter(of_call)
            .position(|m| m.is_event("NewCallerid") && m.get("Uniqueid") == Some(lid));
        let dial = events
            .iter()
            .filter(of_call)
            .position(|m| m.is_event("DialBegin"));
        assert!(cid.is_some() && cid < dial, "{t}");
        let set = events
            .iter()
            .filter(of_call)
            .find(|m| m.is_event("NewCallerid"))
            .unwrap();
        let shown = set.get("CallerIDNum");
        assert_eq!(shown, t["caller"].as_str(), "{t}");
        // A new number, not the phone's extension.
        let chan = set.get("Channel").unwrap();
        assert!(
            !chan.starts_with(&format!("PJSIP/{}-", shown.unwrap())),
            "{t}"
        );
        let dest = events
            .iter()
            .filter(of_call)
            .find(|m| m.is_event("DialBegin"))
            .and_then(|m| m.get("DestConnectedLineNum"));
        assert_eq!(
            dest,
            t["caller"].as_str(),
            "the callee is shown the new number: {t}"
        );
        assert_eq!(t["answered_by"], t["called"]);
    }
    // Local routes: the caller dials the `;1` half, `;2` dials the phone, which answers.
    assert!(!routed.is_empty());
    for t in &routed {
        let lid = t["linkedid"].as_str().unwrap();
        let bridge = events
            .iter()
            .find(|m| m.is_event("LocalBridge") && m.get("LocalOneLinkedid") == Some(lid))
            .unwrap_or_else(|| panic!("no LocalBridge in {t}"));
        let one = bridge.get("LocalOneChannel").unwrap();
        let two = bridge.get("LocalTwoChannel").unwrap();
        let callee = t["called"].as_str().unwrap();
        assert!(one.starts_with(&format!("Local/{callee}@route-")) && one.ends_with(";1"));
        assert!(events.iter().any(|m| m.is_event("DialBegin")
            && m.get("Uniqueid") == Some(lid)
            && m.get("DestChannel") == Some(one)));
        assert!(events.iter().any(|m| m.is_event("DialBegin")
            && m.get("Channel") == Some(two)
            && m.get("DestChannel")
                .is_some_and(|c| c.starts_with(&format!("PJSIP/{callee}-")))));
        assert_eq!(t["answered_by"], t["called"]);
        assert_eq!(t["disposition"], "answered");
    }
    // Unanswered: Asterisk gives up, cancelling the Local channel's Dial.
    let cancelled = events
        .iter()
        .filter(|m| m.is_event("DialEnd") && m.get("DialStatus") == Some("CANCEL"))
        .filter(|m| m.get("Channel").is_some_and(|c| c.starts_with("Local/")))
        .count();
    assert_eq!(cancelled, failed.len());
    assert_eq!(
        events
            .iter()
            .filter(|m| m.is_event("AttendedTransfer"))
            .count(),
        attended + done.len()
    );
    let dispositions: HashSet<&str> = truth
        .iter()
        .map(|t| t["disposition"].as_str().unwrap())
        .collect();
    for d in ["answered", "no_answer", "busy", "abandoned"] {
        assert!(dispositions.contains(d), "{d} missing: {dispositions:?}");
    }
    // A phone is never in two generated calls at once: hint states stay truthful. Check via
    // ExtensionStatus: a hint never goes Ringing while InUse for generated calls.
    for m in &events {
        if m.is_event("ExtensionStatus") {
            assert_ne!(m.get("StatusText"), Some("InUse&Ringing"));
        }
    }
}

#[tokio::test]
async fn same_seed_same_bytes() {
    let (a, ta) = run(40, 3).await;
    let (b, tb) = run(40, 3).await;
    assert_eq!(ta, tb);
    assert_eq!(a.len(), b.len());
    for (x, y) in a.iter().zip(&b) {
        assert_eq!(x.as_bytes(), y.as_bytes());
    }
    let (c, _) = run(40, 4).await;
    assert!(a.iter().zip(&c).any(|(x, y)| x.as_bytes() != y.as_bytes()));
}

/// The real tracker reads the generated traffic and reports every call as the generator's
/// truth says, call for call (matched by Linkedid), with the rules of `truthcheck.py`:
/// ring groups, attended transfers (the consultation folded in) and every other kind.
#[tokio::test]
async fn the_tracker_agrees_with_the_truth_call_for_call() {
    let (events, truth) = run(3000, 11).await;
    assert_eq!(truth.len(), 3000);
    let mut t = tracker::Tracker::new(tracker::TrackerConfig::new("pbx1"));
    let mut out = Vec::new();
    t.session_started(None, &mut out);
    for m in &events {
        t.handle(m, None, &mut out);
    }
    t.end_of_stream(&mut out);
    let records: HashMap<String, serde_json::Value> = out
        .iter()
        .filter_map(|u| match u {
            tracker::Update::CallEnded(r) => Some((r.id.clone(), serde_json::to_value(r).unwrap())),
            _ => None,
        })
        .collect();
    assert_eq!(records.len(), truth.len(), "one record per call");
    let mut problems = Vec::new();
    for gt in &truth {
        let id = format!("pbx1:{}", gt["linkedid"].as_str().unwrap());
        match records.get(&id) {
            None => problems.push(format!("{id}: no record ({})", gt["kind"])),
            Some(r) => {
                let w = tracker::truth::mismatches(gt, r);
                if !w.is_empty() {
                    problems.push(format!("{id} {}: {}", gt["kind"], w.join("; ")));
                }
            }
        }
    }
    assert!(
        problems.is_empty(),
        "{} calls differ: {:#?}",
        problems.len(),
        &problems[..problems.len().min(10)]
    );
    for (kind, least) in [
        ("RingGroup", 20),
        ("RingGroupNoAnswer", 20),
        ("AttendedTransfer", 20),
        ("FeatureTransfer", 20),
        ("FeatureTransferNoAnswer", 5),
        ("CallerIdSet", 50),
        ("OutboundCallerIdSet", 20),
        ("LocalRoute", 50),
    ] {
        let n = truth.iter().filter(|t| t["kind"] == kind).count();
        assert!(n > least, "{kind}: {n}");
    }
    // The DTMF transfers' Local channels are in the stream the tracker read (and, by the
    // one-record-per-call check above, none of their legs became a call of its own).
    assert!(events.iter().any(|m| m.is_event("LocalBridge")
        && m.get("LocalOneChannel")
            .is_some_and(|c| c.starts_with("Local/"))));
    assert!(truth
        .iter()
        .any(|t| t["kind"] == "RingGroup" && t["called"] == "600" && t["answered_by"].is_string()));
}

/// A Hangup action on the consultation channel of a generated attended transfer ends the
/// whole call: both of its Linkedids' channels hang up once, and the truth says it was cut.
#[tokio::test]
async fn hangup_during_a_consultation_ends_both_parts() {
    let (sim, truth) = start(400, 5, 10.0, Speed::Factor(20.0)).await;
    let mut c = Client::login(sim.addr()).await;
    // A held call's holder that then starts a call of its own: the consultation.
    // Phone → (its held call's channel, that call's Linkedid), while that channel is up.
    let mut holders: HashMap<String, (String, String)> = HashMap::new();
    let (consult, first) = loop {
        let m = c.next().await.expect("events");
        let chan = m.get("Channel").unwrap_or_default().to_string();
        if m.is_event("Hold") {
            let phone = m.get("CallerIDNum").unwrap().to_string();
            holders.insert(
                phone,
                (chan.clone(), m.get("Linkedid").unwrap().to_string()),
            );
        }
        if m.is_event("Hangup") {
            holders.retain(|_, (c, _)| *c != chan);
        }
        if m.is_event("Newchannel") && m.get("Uniqueid") == m.get("Linkedid") {
            if let Some((_, l)) = holders.get(m.get("CallerIDNum").unwrap()) {
                break (chan, l.clone());
            }
        }
    };
    c.send(&format!(
        "Action: Hangup\nActionID: h\nChannel: {consult}\n\n"
    ))
    .await;
    let mut up: HashMap<String, u32> = HashMap::new();
    let mut hangups: HashMap<String, u32> = HashMap::new();
    let deadline = tokio::time::Instant::now() + std::time::Duration::from_secs(2);
    let second = consult_linkedid(
        &mut c,
        &consult,
        first.clone(),
        &mut up,
        &mut hangups,
        deadline,
    )
    .await;
    for (chan, n) in &up {
        assert_eq!(
            hangups.get(chan),
            Some(&1),
            "{chan} hung up {:?} times ({n} events)",
            hangups.get(chan)
        );
    }
    assert!(up.len() >= 4, "{up:?}");
    sim.shutdown().await;
    let text = String::from_utf8(truth.lock().unwrap().clone()).unwrap();
    let line: serde_json::Value = text
        .lines()
        .map(|l| serde_json::from_str::<serde_json::Value>(l).unwrap())
        .find(|t| t["linkedid"] == first.as_str())
        .expect("the call's truth");
    assert_eq!(line["kind"], "AttendedTransfer");
    assert!(line["note"].is_string(), "{line}");
    assert_ne!(second, first);
}

/// Reads until `deadline`, counting each channel of the two Linkedids (the held call's and
/// the consultation's) and its Hangups; returns the consultation's Linkedid.
async fn consult_linkedid(
    c: &mut Client,
    consult: &str,
    first: String,
    up: &mut HashMap<String, u32>,
    hangups: &mut HashMap<String, u32>,
    deadline: tokio::time::Instant,
) -> String {
    let mut second = String::new();
    while let Ok(Some(m)) = tokio::time::timeout_at(deadline, c.next()).await {
        let (Some(ch), Some(l)) = (m.get("Channel"), m.get("Linkedid")) else {
            continue;
        };
        if ch == consult {
            second = l.to_string();
        }
        if l == first || l == second {
            *up.entry(ch.to_string()).or_default() += 1;
            if m.is_event("Hangup") {
                *hangups.entry(ch.to_string()).or_default() += 1;
            }
        }
    }
    second
}
