//! The rules of the crate docs, one test each, on synthetic event streams shaped like the
//! AMI documentation of Asterisk 12+ (and the known differences of older versions).

mod common;
use common::*;
use tracker::{
    Direction, Disposition, EndReason, LegRole, Timestamp, TrackerConfig, TransferKind, Update,
};

fn one(recs: Vec<tracker::CallRecord>) -> tracker::CallRecord {
    assert_eq!(recs.len(), 1, "expected one record, got {recs:#?}");
    recs.into_iter().next().unwrap()
}

/// Ring group: `to` is the group number; `answered_by` the phone that answered first.
#[test]
fn ring_group_answered_by_the_phone_that_answered() {
    let mut p = Pbx::default();
    p.newchannel("PJSIP/2001-01", "1.1", "1.1", "2001", "600");
    p.newchannel("PJSIP/2002-02", "1.2", "1.1", "2002", "600");
    p.newchannel("PJSIP/2003-03", "1.3", "1.1", "2003", "600");
    p.dial("1.1", "1.2", "");
    p.dial("1.1", "1.3", "");
    p.newstate("1.2", "5");
    p.newstate("1.3", "5");
    p.newstate("1.3", "6");
    p.dial("1.1", "1.3", "ANSWER");
    p.dial("1.1", "1.2", "CANCEL");
    p.hangup("1.2", "26");
    p.newstate("1.1", "6");
    p.hangup("1.1", "16");
    p.hangup("1.3", "16");
    let r = one(p.records());
    assert_eq!(r.to.number.as_deref(), Some("600"));
    assert_eq!(r.answered_by.as_deref(), Some("2003"));
    assert_eq!(r.disposition, Disposition::Answered);
    assert_eq!(r.direction, Direction::Internal);
    assert_eq!(r.end, EndReason::Hangup);
}

/// Ring group nobody answers: one busy, one timing out → no_answer (not busy).
#[test]
fn ring_group_unanswered_is_no_answer() {
    let mut p = Pbx::default();
    p.newchannel("PJSIP/2001-01", "1.1", "1.1", "2001", "600");
    p.newchannel("PJSIP/2002-02", "1.2", "1.1", "2002", "600");
    p.newchannel("PJSIP/2003-03", "1.3", "1.1", "2003", "600");
    p.dial("1.1", "1.2", "");
    p.dial("1.1", "1.3", "");
    p.hangup("1.2", "17");
    p.dial("1.1", "1.2", "BUSY");
    p.dial("1.1", "1.3", "NOANSWER");
    p.hangup("1.3", "0");
    p.hangup("1.1", "16");
    let r = one(p.records());
    assert_eq!(r.disposition, Disposition::NoAnswer);
    assert_eq!(r.answered_by, None);
}

/// Busy, congestion and unavailable map to busy / failed; a hangup cause decides when
/// there was no dial at all.
#[test]
fn dial_statuses_and_causes() {
    for (status, want) in [
        ("BUSY", Disposition::Busy),
        ("CONGESTION", Disposition::Failed),
        ("CHANUNAVAIL", Disposition::Failed),
        ("NOANSWER", Disposition::NoAnswer),
        ("CANCEL", Disposition::NoAnswer),
    ] {
        let mut p = Pbx::default();
        p.newchannel("PJSIP/2001-01", "1.1", "1.1", "2001", "2002");
        p.newchannel("PJSIP/2002-02", "1.2", "1.1", "2002", "2002");
        p.dial("1.1", "1.2", "");
        p.hangup("1.2", "17");
        p.dial("1.1", "1.2", status);
        p.hangup("1.1", "16");
        assert_eq!(one(p.records()).disposition, want, "{status}");
    }
    for (cause, want) in [
        ("17", Disposition::Busy),
        ("34", Disposition::Failed),
        ("16", Disposition::NoAnswer),
    ] {
        let mut p = Pbx::default();
        p.newchannel("PJSIP/2001-01", "1.1", "1.1", "2001", "2002");
        p.hangup("1.1", cause);
        let r = one(p.records());
        assert_eq!(r.disposition, want, "cause {cause}");
        assert_eq!(r.hangup_cause, Some(cause.parse().unwrap()));
    }
}

/// Outbound: the far end answering makes `answered_by` the dialed number.
#[test]
fn outbound_answered_by_dialed_number() {
    let mut p = Pbx::default();
    p.answered_call(
        ("PJSIP/2004-01", "1.1", "01759605969"),
        ("PJSIP/pstn-02", "1.2"),
        "1.1",
    );
    p.hangup("1.2", "16");
    p.hangup("1.1", "16");
    let r = one(p.records());
    assert_eq!(r.direction, Direction::Outbound);
    assert_eq!(r.answered_by.as_deref(), Some("01759605969"));
    assert_eq!(r.from.extension.as_deref(), Some("2004"));
    assert_eq!(r.to.extension, None);
}

/// Trunks and extensions are configurable.
#[test]
fn configured_trunks_and_extension_pattern() {
    let mut cfg = TrackerConfig::new("pbx1");
    cfg.trunks = vec!["9000".into()];
    let mut p = Pbx::new(cfg);
    p.answered_call(
        ("PJSIP/9000-01", "1.1", "2001"),
        ("PJSIP/2001-02", "1.2"),
        "1.1",
    );
    p.hangup("1.1", "16");
    p.hangup("1.2", "16");
    let r = one(p.records());
    assert_eq!(r.direction, Direction::Inbound);
    assert_eq!(r.from.extension, None);
    let mut cfg = TrackerConfig::new("pbx1");
    cfg.extensions = tracker::ExtensionPattern::new("(alice|bob).*").unwrap();
    assert!(cfg.is_extension("alice"));
    assert!(!cfg.is_extension("2001"));
}

/// A blind transfer (Asterisk 12+ `BlindTransfer`): one record, the transfer listed with
/// the phone that transferred and the extension it sent the call to; `answered_by` stays
/// the first answerer.
#[test]
fn blind_transfer() {
    let mut p = Pbx::default();
    p.answered_call(
        ("PJSIP/2001-01", "1.1", "2002"),
        ("PJSIP/2002-02", "1.2"),
        "1.1",
    );
    p.event(
        "BlindTransfer",
        None,
        None,
        &[
            ("Result", "Success"),
            ("TransfererChannel", "PJSIP/2002-02"),
            ("TransfererUniqueid", "1.2"),
            ("TransfererLinkedid", "1.1"),
            ("TransfereeChannel", "PJSIP/2001-01"),
            ("TransfereeUniqueid", "1.1"),
            ("TransfereeLinkedid", "1.1"),
            ("IsExternal", "Yes"),
            ("Context", "internal"),
            ("Extension", "2003"),
        ],
    );
    p.hangup("1.2", "16");
    p.set_exten("1.1", "2003");
    p.newchannel("PJSIP/2003-03", "1.3", "1.1", "2003", "2003");
    p.dial("1.1", "1.3", "");
    p.newstate("1.3", "6");
    p.dial("1.1", "1.3", "ANSWER");
    p.hangup("1.1", "16");
    p.hangup("1.3", "16");
    let r = one(p.records());
    assert_eq!(r.to.number.as_deref(), Some("2002"));
    assert_eq!(r.answered_by.as_deref(), Some("2002"));
    assert_eq!(r.transfers.len(), 1);
    let t = &r.transfers[0];
    assert_eq!(
        (t.kind, t.by.as_str(), t.to.as_str()),
        (TransferKind::Blind, "2002", "2003")
    );
    let target = r.legs.iter().find(|l| l.uniqueid == "1.3").unwrap();
    assert_eq!(target.role, LegRole::TransferTarget);
    assert!(p
        .updates
        .iter()
        .any(|u| matches!(u, Update::CallTransferred { .. })));
}

fn attended(p: &mut Pbx, target_answers_first: bool) {
    // A: 2001 → 2002, answered. B: 2002 consults 2003.
    p.answered_call(
        ("PJSIP/2001-01", "1.1", "2002"),
        ("PJSIP/2002-02", "1.2"),
        "1.1",
    );
    p.newchannel("PJSIP/2002-03", "2.3", "2.3", "2002", "2003");
    p.newchannel("PJSIP/2003-04", "2.4", "2.3", "2003", "2003");
    p.dial("2.3", "2.4", "");
    p.newstate("2.4", "5");
    if target_answers_first {
        p.newstate("2.4", "6");
        p.dial("2.3", "2.4", "ANSWER");
    }
    p.event(
        "AttendedTransfer",
        None,
        None,
        &[
            ("Result", "Success"),
            ("OrigTransfererChannel", "PJSIP/2002-02"),
            ("OrigTransfererUniqueid", "1.2"),
            ("OrigTransfererLinkedid", "1.1"),
            ("SecondTransfererChannel", "PJSIP/2002-03"),
            ("SecondTransfererUniqueid", "2.3"),
            ("SecondTransfererLinkedid", "2.3"),
            ("TransfereeChannel", "PJSIP/2001-01"),
            ("TransfereeUniqueid", "1.1"),
            ("TransfereeLinkedid", "1.1"),
            ("TransferTargetChannel", "PJSIP/2003-04"),
            ("TransferTargetUniqueid", "2.4"),
            ("TransferTargetLinkedid", "2.3"),
            ("DestType", "Bridge"),
        ],
    );
    p.hangup("1.2", "16");
    p.hangup("2.3", "16");
    if !target_answers_first {
        // Blonde transfer: the target answers after the transferer hung up.
        p.newstate("2.4", "6");
    }
    p.hangup("1.1", "16");
    p.hangup("2.4", "16");
}

/// An attended transfer: the consultation call is folded into the transferred call (one
/// record per call the caller experienced), with the transfer by 2002 to 2003.
#[test]
fn attended_transfer_folds_the_consultation() {
    let mut p = Pbx::default();
    attended(&mut p, true);
    let r = one(p.records());
    assert_eq!(r.id, "pbx1:1.1");
    assert_eq!(r.answered_by.as_deref(), Some("2002"));
    let t = &r.transfers[0];
    assert_eq!(
        (t.kind, t.by.as_str(), t.to.as_str()),
        (TransferKind::Attended, "2002", "2003")
    );
    assert_eq!(r.legs.len(), 4);
    assert_eq!(r.end, EndReason::Hangup);
    // Live views learn that the consultation call is now part of the transferred one.
    assert!(p.updates.iter().any(
        |u| matches!(u, Update::CallMerged { id, into } if id == "pbx1:2.3" && into == "pbx1:1.1")
    ));
    check_lifecycle(&p.updates).unwrap();
}

/// "Blonde" transfer: completed while the target still rings.
#[test]
fn blonde_transfer() {
    let mut p = Pbx::default();
    attended(&mut p, false);
    let r = one(p.records());
    assert_eq!(r.transfers[0].to, "2003");
    assert_eq!(r.answered_by.as_deref(), Some("2002"));
    assert_eq!(r.disposition, Disposition::Answered);
}

/// Pickup: `to` stays what was dialed; `answered_by` is the phone that picked up; the
/// picker's own `*8` call is not reported.
#[test]
fn pickup() {
    let mut p = Pbx::default();
    p.newchannel("PJSIP/2001-01", "1.1", "1.1", "2001", "2002");
    p.newchannel("PJSIP/2002-02", "1.2", "1.1", "2002", "2002");
    p.dial("1.1", "1.2", "");
    p.newstate("1.2", "5");
    p.newchannel("PJSIP/2003-03", "3.3", "3.3", "2003", "*8");
    p.newstate("3.3", "6");
    p.event(
        "Pickup",
        Some("3.3"),
        None,
        &[
            ("TargetChannel", "PJSIP/2002-02"),
            ("TargetUniqueid", "1.2"),
            ("TargetLinkedid", "1.1"),
        ],
    );
    // The ringing channel, now carrying 2003's device, answers.
    p.newstate("1.2", "6");
    p.dial("1.1", "1.2", "ANSWER");
    p.hangup("3.3", "16");
    p.hangup("1.1", "16");
    p.hangup("1.2", "16");
    let r = one(p.records());
    assert_eq!(r.to.number.as_deref(), Some("2002"));
    assert_eq!(r.answered_by.as_deref(), Some("2003"));
    assert!(p.updates.iter().any(
        |u| matches!(u, Update::CallMerged { id, into } if id == "pbx1:3.3" && into == "pbx1:1.1")
    ));
    check_lifecycle(&p.updates).unwrap();
}

/// A conference room the caller dialed answers the call itself.
#[test]
fn conference_answers_with_its_number() {
    let mut p = Pbx::default();
    p.newchannel("PJSIP/2001-01", "1.1", "1.1", "2001", "700");
    p.newstate("1.1", "6");
    p.event(
        "ConfBridgeJoin",
        Some("1.1"),
        None,
        &[("Conference", "700"), ("BridgeUniqueid", "b1")],
    );
    p.event(
        "ConfBridgeLeave",
        Some("1.1"),
        None,
        &[("Conference", "700")],
    );
    p.hangup("1.1", "16");
    let r = one(p.records());
    assert_eq!(r.to.number.as_deref(), Some("700"));
    assert_eq!(r.answered_by.as_deref(), Some("700"));
    assert_eq!(r.disposition, Disposition::Answered);
}

/// Local channels are transparent: a call through `Local/…;1`/`;2` reads like a direct one,
/// also on Asterisk 13 (chan_sip names, `LocalBridge`, no `DialState`, `BridgeID` casing).
#[test]
fn local_channels_and_asterisk_13() {
    for tech in ["PJSIP", "SIP"] {
        let mut p = Pbx::default();
        let a = format!("{tech}/2001-0000000a");
        let b = format!("{tech}/2002-0000000d");
        p.newchannel(&a, "1.1", "1.1", "2001", "2002");
        p.newchannel(
            "Local/2002@internal-00000001;1",
            "1.2",
            "1.1",
            "2002",
            "2002",
        );
        p.newchannel(
            "Local/2002@internal-00000001;2",
            "1.3",
            "1.1",
            "2002",
            "2002",
        );
        p.event(
            "LocalBridge",
            Some("1.2"),
            None,
            &[("LocalOneUniqueid", "1.2"), ("LocalTwoUniqueid", "1.3")],
        );
        p.dial("1.1", "1.2", "");
        p.newchannel(&b, "1.4", "1.1", "2002", "2002");
        p.dial("1.3", "1.4", "");
        p.newstate("1.4", "5");
        p.newstate("1.4", "6");
        p.dial("1.3", "1.4", "ANSWER");
        p.newstate("1.3", "6");
        p.newstate("1.2", "6");
        p.dial("1.1", "1.2", "ANSWER");
        p.newstate("1.1", "6");
        p.event("BridgeEnter", Some("1.1"), None, &[("BridgeID", "br-1")]);
        p.event("LocalOptimizationBegin", Some("1.2"), None, &[]);
        p.event(
            "LocalOptimizationEnd",
            Some("1.2"),
            None,
            &[("Success", "Yes")],
        );
        p.hangup("1.2", "16");
        p.hangup("1.3", "16");
        p.hangup("1.1", "16");
        p.hangup("1.4", "16");
        let r = one(p.records());
        assert_eq!(r.from.number.as_deref(), Some("2001"), "{tech}");
        assert_eq!(r.to.number.as_deref(), Some("2002"), "{tech}");
        assert_eq!(r.answered_by.as_deref(), Some("2002"), "{tech}");
        assert_eq!(r.direction, Direction::Internal, "{tech}");
        assert_eq!(r.legs.len(), 4);
    }
}

/// Asterisk ≤ 11 `Dial` (SubEvent Begin/End) with `UniqueID`/`DestUniqueID`.
#[test]
fn legacy_dial_events() {
    let mut p = Pbx::default();
    p.newchannel("SIP/2001-0000000a", "1.1", "1.1", "2001", "2002");
    p.newchannel("SIP/2002-0000000b", "1.2", "1.1", "2002", "2002");
    p.feed(ev(&[
        ("Event", "Dial"),
        ("SubEvent", "Begin"),
        ("Channel", "SIP/2001-0000000a"),
        ("Destination", "SIP/2002-0000000b"),
        ("CallerIDNum", "2001"),
        ("UniqueID", "1.1"),
        ("DestUniqueID", "1.2"),
        ("Dialstring", "2002"),
    ]));
    p.feed(ev(&[
        ("Event", "Dial"),
        ("SubEvent", "End"),
        ("Channel", "SIP/2001-0000000a"),
        ("UniqueID", "1.1"),
        ("DialStatus", "BUSY"),
    ]));
    p.hangup("1.2", "17");
    p.hangup("1.1", "17");
    let r = one(p.records());
    assert_eq!(r.disposition, Disposition::Busy);
    assert_eq!(r.to.number.as_deref(), Some("2002"));
}

/// A failed AMI Originate (`OriginateResponse` Failure, `Uniqueid: <unknown>`) is no call.
#[test]
fn failed_originate_is_not_a_call() {
    let mut p = Pbx::default();
    p.feed(ev(&[
        ("Event", "OriginateResponse"),
        ("Response", "Failure"),
        ("Channel", "PJSIP/9999"),
        ("Exten", "2002"),
        ("Reason", "0"),
        ("Uniqueid", "<unknown>"),
    ]));
    assert!(p.finish().is_empty());
    assert!(p.updates.is_empty());
}

/// Queue: `answered_by` is the agent's extension from its interface (also a Local member
/// interface), the queue name and wait are recorded, the caller's channel answered by the
/// PBX does not count.
#[test]
fn queue_agent_from_interface() {
    let mut p = Pbx::default();
    p.newchannel("PJSIP/pstn-01", "1.1", "1.1", "+15551230000", "5550100");
    p.newstate("1.1", "6");
    p.event(
        "QueueCallerJoin",
        Some("1.1"),
        None,
        &[("Queue", "support"), ("Position", "1"), ("Count", "1")],
    );
    p.newchannel("Local/2004@agents-0001;1", "1.2", "1.1", "2004", "s");
    p.event(
        "AgentCalled",
        Some("1.1"),
        Some("1.2"),
        &[
            ("Queue", "support"),
            ("Interface", "Local/2004@agents/n"),
            ("MemberName", "Dave"),
        ],
    );
    p.dial("1.1", "1.2", "");
    p.newstate("1.2", "6");
    p.dial("1.1", "1.2", "ANSWER");
    p.dial("1.1", "1.2", "ANSWER");
    p.event(
        "QueueCallerLeave",
        Some("1.1"),
        None,
        &[("Queue", "support"), ("Position", "1")],
    );
    p.event(
        "AgentConnect",
        Some("1.1"),
        Some("1.2"),
        &[
            ("Queue", "support"),
            ("Interface", "Local/2004@agents/n"),
            ("MemberName", "Dave"),
            ("HoldTime", "4"),
        ],
    );
    p.hangup("1.1", "16");
    p.hangup("1.2", "16");
    let r = one(p.records());
    assert_eq!(r.direction, Direction::Inbound);
    assert_eq!(r.to.number.as_deref(), Some("5550100"));
    assert_eq!(r.answered_by.as_deref(), Some("2004"));
    assert_eq!(r.queue.as_ref().unwrap().name, "support");
    assert!(r.queue.as_ref().unwrap().wait_seconds.is_some());
    // A late duplicate DialEnd (app_queue sends two) after the call ended starts nothing.
    let before = p.updates.len();
    p.dial("1.1", "1.2", "CANCEL");
    p.event(
        "AgentComplete",
        Some("1.1"),
        Some("1.2"),
        &[("Queue", "support")],
    );
    assert_eq!(p.updates.len(), before);
    assert_eq!(p.tracker.open_calls(), 0);
}

/// Abandoned: the caller hung up while waiting in the queue.
#[test]
fn queue_abandoned() {
    let mut p = Pbx::default();
    p.newchannel("PJSIP/pstn-01", "1.1", "1.1", "+15551230000", "5550100");
    p.newstate("1.1", "6");
    p.event(
        "QueueCallerJoin",
        Some("1.1"),
        None,
        &[("Queue", "support"), ("Position", "1")],
    );
    assert_eq!(p.tracker.queues()[0].callers.len(), 1);
    p.event(
        "QueueCallerAbandon",
        Some("1.1"),
        None,
        &[("Queue", "support")],
    );
    p.event(
        "QueueCallerLeave",
        Some("1.1"),
        None,
        &[("Queue", "support"), ("Position", "1")],
    );
    assert!(p.tracker.queues()[0].callers.is_empty());
    p.hangup("1.1", "0");
    let r = one(p.records());
    assert_eq!(r.disposition, Disposition::Abandoned);
    assert_eq!(r.answered_by, None);
}

/// Hold and unhold are recorded with the phone that held.
#[test]
fn holds() {
    let recs = records(&run(&messages("hold_unhold")));
    let r = one(recs);
    assert_eq!(r.holds.len(), 1);
    assert_eq!(r.holds[0].by, "2002");
    assert!(r.holds[0].unheld_at.unwrap() > r.holds[0].held_at.unwrap());
}

/// Voicemail: no answer, `voicemail: true`, the PBX answering the caller does not count.
#[test]
fn voicemail() {
    let r = one(records(&run(&messages("voicemail"))));
    assert!(r.voicemail);
    assert_eq!(r.disposition, Disposition::NoAnswer);
    assert_eq!(r.answered_by, None);
    // It rang until the phone's dial timed out, not while the caller left a message.
    let phone = r
        .legs
        .iter()
        .find(|l| l.role == LegRole::Callee)
        .expect("the phone that rang");
    let rang = phone.ended_at.unwrap().seconds_since(r.started_at.unwrap());
    let ring = r.ring_seconds.unwrap();
    assert!(
        (ring - rang).abs() < 0.5,
        "rang {rang} s, ring_seconds {ring}"
    );
    let whole = r.ended_at.unwrap().seconds_since(r.started_at.unwrap());
    assert!(ring < whole - 2.0, "ring {ring} of {whole} s");
}

/// AMI Originate: the phone rung first is the caller; its answering does not count.
#[test]
fn originate_caller_is_the_first_phone() {
    let r = one(records(&run(&messages("ami_originate"))));
    assert_eq!(r.from.number.as_deref(), Some("2001"));
    assert_eq!(r.to.number.as_deref(), Some("2002"));
    assert_eq!(r.answered_by.as_deref(), Some("2002"));
    // answered_at is 2002's answer, not the originate leg's.
    let leg2002 = r
        .legs
        .iter()
        .find(|l| l.endpoint.as_deref() == Some("2002"))
        .unwrap();
    assert_eq!(r.answered_at, leg2002.answered_at);
}

/// Times: the event's Timestamp; else the last one seen; else the reception time; else null.
#[test]
fn times() {
    let mut t = tracker::Tracker::new(TrackerConfig::new("pbx1"));
    let mut out = Vec::new();
    let recv = Timestamp(1_000_000_000);
    let a = ("PJSIP/2001-1", "9.1", "9.1", "2001", "2002", "0");
    t.handle(&chan_ev("Newchannel", "", a, &[]), Some(recv), &mut out);
    t.handle(
        &chan_ev("Hangup", "", a, &[("Cause", "16")]),
        Some(Timestamp(recv.0 + 5_000_000)),
        &mut out,
    );
    let r = one(records(&out));
    assert_eq!(
        r.started_at,
        Some(recv),
        "reception time when no Timestamp was ever seen"
    );
    assert_eq!(r.ended_at, Some(Timestamp(recv.0 + 5_000_000)));

    // Offline replay of a session without timestamps: null times.
    let mut t = tracker::Tracker::new(TrackerConfig::new("pbx1"));
    let mut out = Vec::new();
    t.handle(&chan_ev("Newchannel", "", a, &[]), None, &mut out);
    t.handle(
        &chan_ev("Hangup", "", a, &[("Cause", "16")]),
        None,
        &mut out,
    );
    let r = one(records(&out));
    assert_eq!(
        (r.started_at, r.ended_at, r.ring_seconds),
        (None, None, None)
    );

    let mut out = Vec::new();
    t.handle(
        &chan_ev(
            "Newchannel",
            "1795500000.250000",
            ("PJSIP/2001-2", "9.2", "9.2", "2001", "2002", "0"),
            &[],
        ),
        Some(recv),
        &mut out,
    );
    t.handle(
        &chan_ev(
            "Hangup",
            "",
            ("PJSIP/2001-2", "9.2", "9.2", "2001", "2002", "0"),
            &[("Cause", "16")],
        ),
        Some(recv),
        &mut out,
    );
    let r = one(records(&out));
    assert_eq!(r.started_at, Timestamp::from_ami("1795500000.25"));
    assert_eq!(
        r.ended_at, r.started_at,
        "last Timestamp of the session, not reception"
    );
}

/// Resync after a reconnect: a call that ended while we were away is closed as
/// `ended_while_disconnected` with what was known; a listed known call is not reported
/// again; an unknown listed call is adopted and reported once when it ends.
#[test]
fn resync_after_reconnect() {
    let mut p = Pbx::default();
    p.answered_call(
        ("PJSIP/2001-01", "1.1", "2002"),
        ("PJSIP/2002-02", "1.2"),
        "1.1",
    );
    p.answered_call(
        ("PJSIP/2003-03", "3.1", "2004"),
        ("PJSIP/2004-04", "3.2"),
        "3.1",
    );
    let mut out = Vec::new();
    p.tracker.session_lost(None, &mut out);
    p.tracker.session_started(None, &mut out);
    assert!(out.is_empty());
    let csc = |chan: &str, uid: &str, lid: &str, cid: &str, exten: &str, app: &str| {
        ev(&[
            ("Event", "CoreShowChannel"),
            ("ActionID", "resync-1"),
            ("Channel", chan),
            ("ChannelState", "6"),
            ("CallerIDNum", cid),
            ("Exten", exten),
            ("Uniqueid", uid),
            ("Linkedid", lid),
            ("Application", app),
            ("Duration", "00:00:07"),
            ("BridgeId", "x"),
        ])
    };
    // Call 1.1 is gone; 3.1 still up; 5.1 is new (2005 → 2006).
    p.feed(csc("PJSIP/2003-03", "3.1", "3.1", "2003", "2004", "Dial"));
    p.feed(csc("PJSIP/2004-04", "3.2", "3.1", "2004", "", "AppDial"));
    p.feed(csc("PJSIP/2005-05", "5.1", "5.1", "2005", "2006", "Dial"));
    p.feed(csc("PJSIP/2006-06", "5.2", "5.1", "2006", "", "AppDial"));
    p.feed(ev(&[
        ("Event", "CoreShowChannelsComplete"),
        ("ActionID", "resync-1"),
        ("ListItems", "4"),
    ]));
    let recs = p.records();
    assert_eq!(recs.len(), 1);
    assert_eq!(recs[0].id, "pbx1:1.1");
    assert_eq!(recs[0].end, EndReason::EndedWhileDisconnected);
    assert_eq!(
        recs[0].answered_by.as_deref(),
        Some("2002"),
        "what was known is kept"
    );
    let started: Vec<_> = p
        .updates
        .iter()
        .filter_map(|u| match u {
            Update::CallStarted(c) => Some(c.id.clone()),
            _ => None,
        })
        .collect();
    assert_eq!(
        started,
        ["pbx1:1.1", "pbx1:3.1", "pbx1:5.1"],
        "no call started twice"
    );
    let active = p.tracker.active_calls();
    assert_eq!(active.len(), 2);
    let adopted = active.iter().find(|c| c.id == "pbx1:5.1").unwrap();
    assert_eq!(adopted.answered_by.as_deref(), Some("2006"));
    assert_eq!(adopted.to.number.as_deref(), Some("2006"));
    p.hangup("3.2", "16");
    p.hangup("3.1", "16");
    p.hangup("5.1", "16");
    p.hangup("5.2", "16");
    let recs = p.records();
    let ids: Vec<&str> = recs.iter().map(|r| r.id.as_str()).collect();
    assert_eq!(ids, ["pbx1:1.1", "pbx1:3.1", "pbx1:5.1"]);
    assert_eq!(recs[2].from.number.as_deref(), Some("2005"));
}

/// Calls that never get their Hangup expire after the configured time.
#[test]
fn expiry() {
    let mut cfg = TrackerConfig::new("pbx1");
    cfg.expire_after_secs = 60;
    let mut p = Pbx::new(cfg);
    for i in 0..100 {
        let uid = format!("7.{i}");
        p.newchannel(&format!("PJSIP/2001-{i:08x}"), &uid, &uid, "2001", "2002");
    }
    let base = Timestamp::from_ami(&p.tick(0.0)).unwrap();
    let mut out = Vec::new();
    // The oldest call was last heard of 10 s before `base` (0.1 s per event).
    p.tracker.expire(Timestamp(base.0 + 45_000_000), &mut out);
    assert!(out.is_empty());
    p.tracker.expire(Timestamp(base.0 + 61_000_000), &mut out);
    let recs = records(&out);
    assert_eq!(recs.len(), 100);
    assert!(recs.iter().all(|r| r.end == EndReason::Expired));
    assert_eq!(p.tracker.open_calls(), 0);
}

/// Extension states from hints, device states, and the calls each extension is in.
#[test]
fn extension_and_device_states() {
    let mut p = Pbx::default();
    p.answered_call(
        ("PJSIP/2001-01", "1.1", "2002"),
        ("PJSIP/2002-02", "1.2"),
        "1.1",
    );
    for (status, name) in [
        ("9", "inuse_ringing"),
        ("1", "inuse"),
        ("16", "onhold"),
        ("4", "unavailable"),
        ("0", "idle"),
    ] {
        p.feed(ev(&[
            ("Event", "ExtensionStatus"),
            ("Exten", "2002"),
            ("Context", "internal"),
            ("Hint", "PJSIP/2002"),
            ("Status", status),
            ("StatusText", "x"),
        ]));
        let v = p.tracker.extensions();
        let e = v.iter().find(|e| e.extension == "2002").unwrap();
        assert_eq!(e.state, name);
        assert_eq!(e.calls, ["pbx1:1.1"]);
    }
    p.feed(ev(&[
        ("Event", "DeviceStateChange"),
        ("Device", "PJSIP/2001"),
        ("State", "RINGINUSE"),
    ]));
    assert!(p.updates.iter().any(|u| matches!(u, Update::DeviceState { device, state } if device == "PJSIP/2001" && *state == "inuse_ringing")));
    let e = p.tracker.extensions();
    assert_eq!(
        e.iter().find(|e| e.extension == "2001").unwrap().state,
        "inuse_ringing"
    );
    // Once the call is over, the extension is in no call.
    p.hangup("1.1", "16");
    p.hangup("1.2", "16");
    let e = p.tracker.extensions();
    assert!(e.iter().all(|e| e.calls.is_empty()), "{e:?}");
    // A state that did not change is not reported again.
    let n = p.updates.len();
    p.feed(ev(&[
        ("Event", "DeviceStateChange"),
        ("Device", "PJSIP/2001"),
        ("State", "RINGINUSE"),
    ]));
    assert_eq!(p.updates.len(), n);
}

/// Queue state: members from QueueMemberStatus and the QueueStatus list, callers waiting.
#[test]
fn queue_states_from_events_and_lists() {
    let mut p = Pbx::default();
    p.feed(ev(&[
        ("Event", "QueueMemberStatus"),
        ("Queue", "support"),
        ("MemberName", "Carol"),
        ("Interface", "PJSIP/2003"),
        ("Status", "6"),
        ("Paused", "0"),
    ]));
    let q = &p.tracker.queues()[0];
    assert_eq!(q.members[0].state, "ringing");
    assert_eq!(q.members[0].extension.as_deref(), Some("2003"));
    // A QueueStatus list rebuilds the waiting callers.
    for m in [
        ev(&[
            ("Event", "QueueParams"),
            ("Queue", "support"),
            ("ActionID", "q"),
        ]),
        ev(&[
            ("Event", "QueueMember"),
            ("Queue", "support"),
            ("Name", "Dave"),
            ("Location", "PJSIP/2004"),
            ("StateInterface", "PJSIP/2004"),
            ("Status", "2"),
            ("Paused", "1"),
            ("ActionID", "q"),
        ]),
        ev(&[
            ("Event", "QueueEntry"),
            ("Queue", "support"),
            ("Position", "1"),
            ("Channel", "PJSIP/pstn-9"),
            ("Uniqueid", "8.1"),
            ("CallerIDNum", "+1555"),
            ("Wait", "3"),
            ("ActionID", "q"),
        ]),
        ev(&[("Event", "QueueStatusComplete"), ("ActionID", "q")]),
    ] {
        p.feed(m);
    }
    let q = &p.tracker.queues()[0];
    assert_eq!(q.callers.len(), 1);
    assert_eq!(q.callers[0].number.as_deref(), Some("+1555"));
    let dave = q
        .members
        .iter()
        .find(|m| m.interface == "PJSIP/2004")
        .unwrap();
    assert!(dave.paused);
    assert_eq!(dave.state, "inuse");
    assert!(matches!(p.updates.last(), Some(Update::QueueChanged(_))));
    // The adopted queue caller is a call with its queue.
    let calls = p.tracker.active_calls();
    assert_eq!(calls[0].queue.as_ref().unwrap().name, "support");
}

/// Updates serialise as tagged JSON for WebSocket/SSE clients.
#[test]
fn updates_serialise() {
    let updates = run(&messages("inbound_queue_answered"));
    let mut kinds = std::collections::BTreeSet::new();
    for u in &updates {
        let v = serde_json::to_value(u).unwrap();
        kinds.insert(v["type"].as_str().unwrap().to_string());
    }
    for k in [
        "call_started",
        "call_ringing",
        "call_answered",
        "call_ended",
        "extension_state",
        "device_state",
        "queue_changed",
    ] {
        assert!(kinds.contains(k), "{k} missing from {kinds:?}");
    }
    // CallStarted carries a filled-in live view.
    let Some(Update::CallStarted(c)) = updates.first() else {
        panic!()
    };
    assert_eq!(c.id, format!("pbx1:{}", c.linkedid));
}

/// Attach mid-call: the lists inside the recording adopt the calls that were already up.
#[test]
fn attach_midcall_adopts_from_lists() {
    let msgs = messages("attach_midcall");
    let mut t = tracker::Tracker::new(TrackerConfig::new("pbx1"));
    let mut out = Vec::new();
    let complete = msgs
        .iter()
        .position(|m| m.is_event("QueueStatusComplete"))
        .unwrap();
    for m in &msgs[..=complete] {
        t.handle(m, None, &mut out);
    }
    let calls = t.active_calls();
    assert_eq!(calls.len(), 5);
    let q = t.queues();
    assert_eq!(q[0].callers.len(), 1);
    let ext = t.extensions();
    assert_eq!(
        ext.iter().find(|e| e.extension == "2006").unwrap().state,
        "inuse_ringing"
    );
    assert_eq!(
        ext.iter()
            .find(|e| e.extension == "2006")
            .unwrap()
            .calls
            .len(),
        2
    );
}

/// The resync lists answer the action before Asterisk flushes the events it had queued for
/// the session, so they can show a call further on than the events that follow: here the
/// queue's agent is listed up before its dial arrives. That late dial is not a transfer.
#[test]
fn lists_ahead_of_the_stream_invent_no_transfer() {
    let mut p = Pbx::default();
    let mut out = Vec::new();
    p.tracker.session_started(None, &mut out);
    p.newchannel("PJSIP/pstn-01", "1.1", "1.1", "+15551230000", "5550100");
    p.newstate("1.1", "6");
    p.event(
        "QueueCallerJoin",
        Some("1.1"),
        None,
        &[("Queue", "support"), ("Position", "1"), ("Count", "1")],
    );
    let csc = |chan: &str, uid: &str, cid: &str, exten: &str, app: &str| {
        chan_ev(
            "CoreShowChannel",
            "",
            (chan, uid, "1.1", cid, exten, "6"),
            &[
                ("ActionID", "resync-1"),
                ("Application", app),
                ("ApplicationData", "support"),
                ("Duration", "00:00:03"),
            ],
        )
    };
    p.feed(csc(
        "PJSIP/pstn-01",
        "1.1",
        "+15551230000",
        "5550100",
        "Queue",
    ));
    p.feed(csc("PJSIP/2002-02", "1.2", "2002", "s", "AppQueue"));
    p.feed(ev(&[
        ("Event", "CoreShowChannelsComplete"),
        ("ActionID", "resync-1"),
        ("ListItems", "2"),
    ]));
    // The events that happened before the list, delivered after it.
    p.newchannel("PJSIP/2002-02", "1.2", "1.1", "2002", "s");
    p.dial("1.1", "1.2", "");
    p.newstate("1.2", "6");
    p.dial("1.1", "1.2", "ANSWER");
    p.hangup("1.2", "16");
    p.hangup("1.1", "16");
    let r = one(p.records());
    assert_eq!(r.answered_by.as_deref(), Some("2002"));
    assert!(r.transfers.is_empty(), "invented: {:?}", r.transfers);
}

/// A program moving an answered call with AMI `Redirect` (no transfer event, just a new
/// dial by an answered party): a blind transfer by `ami:Redirect`.
#[test]
fn ami_redirect_is_a_blind_transfer() {
    let mut p = Pbx::default();
    p.answered_call(
        ("PJSIP/2001-01", "1.1", "2002"),
        ("PJSIP/2002-02", "1.2"),
        "1.1",
    );
    p.event("BridgeLeave", Some("1.1"), None, &[("BridgeUniqueid", "b")]);
    p.hangup("1.2", "16");
    p.set_exten("1.1", "2003");
    p.newchannel("PJSIP/2003-03", "1.3", "1.1", "2003", "2003");
    p.dial("1.1", "1.3", "");
    p.newstate("1.3", "6");
    p.dial("1.1", "1.3", "ANSWER");
    p.hangup("1.1", "16");
    p.hangup("1.3", "16");
    let r = one(p.records());
    assert_eq!(r.answered_by.as_deref(), Some("2002"));
    assert_eq!(r.transfers.len(), 1);
    let t = &r.transfers[0];
    assert_eq!(
        (t.kind, t.by.as_str(), t.to.as_str()),
        (TransferKind::Blind, "ami:Redirect", "2003")
    );
    // The ported acceptance rules accept any `by` for a truth transfer by `ami:…`.
    let truth = serde_json::json!({"caller": "2001", "called": "2002", "answered_by": "2002",
        "disposition": "answered", "transfers": [{"kind": "blind", "by": "ami:Redirect", "to": "2003"}]});
    assert!(tracker::truth::compare(&as_json(&[r]), &[truth]).is_empty());
}

/// Asterisk 11: no `Linkedid` at all; the `Dial` event ties the dialed channel to the call.
#[test]
fn asterisk_11_without_linkedid() {
    let mut p = Pbx::default();
    let chan = |event: &str, name: &str, uid: &str, cid: &str, state: &str| {
        ev(&[
            ("Event", event),
            ("Channel", name),
            ("ChannelState", state),
            ("CallerIDNum", cid),
            ("Exten", "2002"),
            ("Uniqueid", uid),
        ])
    };
    p.feed(chan("Newchannel", "SIP/2001-0000000a", "1.1", "2001", "0"));
    p.feed(chan("Newchannel", "SIP/2002-0000000b", "1.2", "2002", "0"));
    p.feed(ev(&[
        ("Event", "Dial"),
        ("SubEvent", "Begin"),
        ("Channel", "SIP/2001-0000000a"),
        ("Destination", "SIP/2002-0000000b"),
        ("UniqueID", "1.1"),
        ("DestUniqueID", "1.2"),
        ("Dialstring", "2002"),
    ]));
    p.feed(chan("Newstate", "SIP/2002-0000000b", "1.2", "2002", "6"));
    p.feed(ev(&[
        ("Event", "Dial"),
        ("SubEvent", "End"),
        ("Channel", "SIP/2001-0000000a"),
        ("UniqueID", "1.1"),
        ("DialStatus", "ANSWER"),
    ]));
    p.feed(chan("Hangup", "SIP/2002-0000000b", "1.2", "2002", "6"));
    p.feed(chan("Hangup", "SIP/2001-0000000a", "1.1", "2001", "6"));
    let r = one(p.records());
    assert_eq!(r.from.number.as_deref(), Some("2001"));
    assert_eq!(r.answered_by.as_deref(), Some("2002"));
    assert_eq!(r.legs.len(), 2);
}

/// Live views: `CallUpdated` carries the whole call when a leg joins; one per event.
#[test]
fn call_updated_views() {
    let mut p = Pbx::default();
    p.newchannel("PJSIP/2001-01", "1.1", "1.1", "2001", "2002");
    p.newchannel("PJSIP/2002-02", "1.2", "1.1", "2002", "2002");
    let Some(Update::CallUpdated(v)) = p.updates.last() else {
        panic!("{:?}", p.updates)
    };
    assert_eq!(v.legs.len(), 2);
    assert_eq!(v.to.number.as_deref(), Some("2002"));
    assert_eq!(v.state, tracker::CallState::Dialing);
    p.dial("1.1", "1.2", "");
    p.newstate("1.2", "5");
    assert_eq!(
        p.tracker.active_calls()[0].state,
        tracker::CallState::Ringing
    );
    assert!(p.tracker.active_call("pbx1:1.1").is_some());
    assert!(p.tracker.active_call("other:1.1").is_none());
}

/// Originate with a program-chosen caller ID: the caller is still the phone rung first.
#[test]
fn originate_with_custom_caller_id() {
    let mut p = Pbx::default();
    p.newchannel("PJSIP/2001-01", "1.1", "1.1", "555", "s");
    p.event("DialBegin", None, Some("1.1"), &[]);
    p.newstate("1.1", "6");
    p.event("DialEnd", None, Some("1.1"), &[("DialStatus", "ANSWER")]);
    p.set_exten("1.1", "2002");
    p.newchannel("PJSIP/2002-02", "1.2", "1.1", "2002", "2002");
    p.dial("1.1", "1.2", "");
    p.newstate("1.2", "6");
    p.dial("1.1", "1.2", "ANSWER");
    p.hangup("1.2", "16");
    p.hangup("1.1", "16");
    let r = one(p.records());
    assert_eq!(r.from.number.as_deref(), Some("2001"));
    assert_eq!(r.to.number.as_deref(), Some("2002"));
    assert_eq!(r.answered_by.as_deref(), Some("2002"));
}

/// Originate through a Local channel: the phone the Local channel rings first is the
/// caller, and its answering is not the answer.
#[test]
fn originate_through_local_channel() {
    let mut p = Pbx::default();
    p.newchannel("Local/2001@internal-00000001;1", "1.1", "1.1", "", "s");
    p.newchannel("Local/2001@internal-00000001;2", "1.2", "1.1", "", "2001");
    p.event("DialBegin", None, Some("1.1"), &[]);
    p.newchannel("PJSIP/2001-01", "1.3", "1.1", "Switchboard", "2001");
    p.dial("1.2", "1.3", "");
    p.newstate("1.3", "5");
    p.newstate("1.3", "6");
    p.dial("1.2", "1.3", "ANSWER");
    p.newstate("1.1", "6");
    p.event("DialEnd", None, Some("1.1"), &[("DialStatus", "ANSWER")]);
    p.set_exten("1.1", "2002");
    p.newchannel("PJSIP/2002-02", "1.4", "1.1", "2002", "2002");
    p.dial("1.1", "1.4", "");
    p.newstate("1.4", "5");
    p.newstate("1.4", "6");
    p.dial("1.1", "1.4", "ANSWER");
    for u in ["1.4", "1.1", "1.2", "1.3"] {
        p.hangup(u, "16");
    }
    let r = one(p.records());
    assert_eq!(r.from.number.as_deref(), Some("2001"));
    assert_eq!(r.from.extension.as_deref(), Some("2001"));
    assert_eq!(r.to.number.as_deref(), Some("2002"));
    assert_eq!(r.answered_by.as_deref(), Some("2002"));
    assert_eq!(r.direction, Direction::Internal);
}

/// An inbound call is to its DID even when an IVR then sends it to an extension.
#[test]
fn inbound_to_is_the_did() {
    let mut p = Pbx::default();
    p.newchannel("PJSIP/pstn-01", "1.1", "1.1", "+15550001111", "5550100");
    p.newstate("1.1", "6");
    p.set_exten("1.1", "1");
    p.event(
        "Newexten",
        Some("1.1"),
        None,
        &[("Application", "Background")],
    );
    p.set_exten("1.1", "2002");
    p.newchannel("PJSIP/2002-02", "1.2", "1.1", "2002", "2002");
    p.dial("1.1", "1.2", "");
    p.newstate("1.2", "6");
    p.dial("1.1", "1.2", "ANSWER");
    p.hangup("1.1", "16");
    p.hangup("1.2", "16");
    let r = one(p.records());
    assert_eq!(r.to.number.as_deref(), Some("5550100"));
    assert_eq!(r.answered_by.as_deref(), Some("2002"));
    assert_eq!(r.direction, Direction::Inbound);
}

/// A hangup is the end of a channel, not a sign of one: after a resync that listed no
/// channels, stray `Hangup`, `HangupRequest` and `SoftHangupRequest` events for channels
/// never seen make no call (they used to make one `no_answer` record with `to: null`
/// each), and are counted. A hangup of a channel that was seen still ends its call.
#[test]
fn lone_hangups_never_invent_a_call() {
    let mut p = Pbx::default();
    let mut out = Vec::new();
    p.tracker.session_started(None, &mut out);
    p.feed(ev(&[
        ("Event", "CoreShowChannelsComplete"),
        ("ActionID", "resync-1"),
        ("ListItems", "0"),
    ]));
    for i in 0..50 {
        let uid = format!("9.{i}");
        let chan = format!("PJSIP/2001-{i:02}");
        for event in ["SoftHangupRequest", "HangupRequest", "Hangup"] {
            let ts = p.tick(0.1);
            p.feed(chan_ev(
                event,
                &ts,
                (&chan, &uid, &uid, "2001", "2002", "6"),
                &[("Cause", "16"), ("Cause-txt", "Normal Clearing")],
            ));
        }
    }
    assert!(p.updates.is_empty(), "no call, no update: {:#?}", p.updates);
    assert_eq!(p.tracker.open_calls(), 0);
    assert_eq!(p.tracker.unknown_hangups(), 150);

    // A channel seen through Newchannel is tracked to its hangup as before, and the
    // hangups of a call already closed are not counted as strangers.
    p.newchannel("PJSIP/2003-03", "3.1", "3.1", "2003", "2004");
    p.hangup("3.1", "16");
    p.hangup("3.1", "16");
    assert_eq!(one(p.records()).id, "pbx1:3.1");
    assert_eq!(p.tracker.unknown_hangups(), 150);
    check_lifecycle(&p.updates).unwrap();
}

/// A call adopted from `CoreShowChannels` already up: it began `Duration` ago (whole
/// seconds, cut down: the middle of that second), it is answered, and the answering leg's
/// start bounds its answer, so the record has an answer time, a talk time and no ringing
/// longer than the list can tell.
#[test]
fn a_call_adopted_up_from_the_list_has_its_times() {
    let mut p = Pbx::default();
    let at = p.tick(0.0);
    let csc = |chan: &str, uid: &str, cid: &str, exten: &str, app: &str, dur: &str| {
        ev(&[
            ("Event", "CoreShowChannel"),
            ("Timestamp", at.as_str()),
            ("Channel", chan),
            ("ChannelState", "6"),
            ("CallerIDNum", cid),
            ("Exten", exten),
            ("Uniqueid", uid),
            ("Linkedid", "5.1"),
            ("Application", app),
            ("Duration", dur),
            ("BridgeId", "b"),
        ])
    };
    let mut out = Vec::new();
    p.tracker.session_started(None, &mut out);
    p.feed(csc(
        "PJSIP/2005-05",
        "5.1",
        "2005",
        "2006",
        "Dial",
        "00:01:10",
    ));
    p.feed(csc(
        "PJSIP/2006-06",
        "5.2",
        "2006",
        "",
        "AppDial",
        "00:01:04",
    ));
    p.feed(ev(&[
        ("Event", "CoreShowChannelsComplete"),
        ("ListItems", "2"),
    ]));
    p.hangup("5.2", "16");
    p.hangup("5.1", "16");
    let r = one(p.records());
    let now = Timestamp::from_ami(&at).unwrap();
    assert_eq!(r.answered_by.as_deref(), Some("2006"));
    assert_eq!(r.started_at, Some(Timestamp(now.0 - 70_500_000)));
    assert_eq!(r.answered_at, Some(Timestamp(now.0 - 64_500_000)));
    assert_eq!(r.ring_seconds, Some(6.0));
    assert!(
        r.talk_seconds.is_some_and(|s| s > 64.0),
        "{:?}",
        r.talk_seconds
    );
}

/// The conference announcer (`CBAnn/700`) has a device state like a phone, and a number
/// for a name: it is none of our extensions.
#[test]
fn a_conference_announcer_is_not_an_extension() {
    let mut p = Pbx::default();
    for dev in ["CBAnn/700", "PJSIP/2001"] {
        p.feed(ev(&[
            ("Event", "DeviceStateChange"),
            ("Device", dev),
            ("State", "INUSE"),
        ]));
    }
    let names: Vec<String> = p
        .tracker
        .extensions()
        .into_iter()
        .map(|e| e.extension)
        .collect();
    assert_eq!(names, ["2001"]);
}
