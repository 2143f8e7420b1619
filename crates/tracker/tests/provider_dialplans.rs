//! The rules real provider dial plans need (Asterisk 13, chan_sip, FreePBX- or
//! VoIPGRID-style): caller IDs the dial plan sets, `Local/` routes, click-to-dial, call
//! acceptance, pickups, transfers to groups. One synthetic test per rule, shaped on what
//! the cacofonisk recordings (`fixtures/cacofonisk/`) show such a PBX sending; the
//! recordings themselves are checked in `tests/cacofonisk.rs`.

mod common;
use common::*;
use tracker::{ExtensionPattern, TrackerConfig};

fn one(recs: Vec<tracker::CallRecord>) -> tracker::CallRecord {
    assert_eq!(recs.len(), 1, "expected one record, got {recs:#?}");
    recs.into_iter().next().unwrap()
}

/// SIP accounts (`SIP/150010001`) are the phones, as a provider's plan configures it.
fn provider() -> Pbx {
    let mut config = TrackerConfig::new("pbx1");
    config.extensions = ExtensionPattern::new("1500100[0-9]{2}").unwrap();
    Pbx::new(config)
}

/// The dial plan sets the caller ID before dialing (`150010001` calls as `201`): the
/// record's caller is what the callee was shown. A later `NewCallerid` on the caller (a
/// transfer's shuffle) does not rename it.
#[test]
fn the_caller_id_the_dial_plan_sets_is_the_callers_number() {
    let mut p = provider();
    p.newchannel("SIP/150010001-01", "1.1", "1.1", "150010001", "202");
    p.set_callerid("1.1", "201");
    p.newchannel("SIP/150010002-02", "1.2", "1.1", "201", "202");
    p.dial("1.1", "1.2", "");
    p.newstate("1.2", "6");
    p.dial("1.1", "1.2", "ANSWER");
    p.newstate("1.1", "6");
    p.set_callerid("1.1", "999");
    p.hangup("1.2", "16");
    p.hangup("1.1", "16");
    let r = one(p.records());
    assert_eq!(r.from.number.as_deref(), Some("201"));
    assert_eq!(r.from.extension.as_deref(), Some("150010001"));
    assert_eq!(r.to.number.as_deref(), Some("202"));
    assert_eq!(r.answered_by.as_deref(), Some("150010002"));
}

/// Click-to-dial through Local routes: a program originates `Local/ID400377@ctd;1`, whose
/// `;2` half rings the first phone through another Local route; once it answers, the `;1`
/// half dials `Local/202@…`, which rings the second. The first phone is the caller (named
/// as the dial plan named it, `201`), the call is to `202`, the second phone answered;
/// no Local channel and no route id is a party.
#[test]
fn click_to_dial_through_local_routes_is_to_what_the_route_dials() {
    let mut p = provider();
    p.newchannel(
        "Local/ID400377@ctd-00000005;1",
        "1.1",
        "1.1",
        "",
        "ID400377",
    );
    p.newchannel(
        "Local/ID400377@ctd-00000005;2",
        "1.2",
        "1.1",
        "",
        "ID400377",
    );
    p.event("DialBegin", None, Some("1.1"), &[]);
    p.set_callerid("1.2", "201");
    p.newchannel("SIP/150010001-02", "1.3", "1.1", "", "s");
    p.set_callerid("1.3", "201");
    p.dial("1.2", "1.3", "");
    p.newstate("1.3", "5");
    p.newstate("1.3", "6");
    p.dial("1.2", "1.3", "ANSWER");
    p.newstate("1.2", "6");
    p.newstate("1.1", "6");
    p.event("DialEnd", None, Some("1.1"), &[("DialStatus", "ANSWER")]);
    p.newchannel(
        "Local/202@int-00000008;1",
        "1.4",
        "1.1",
        "ID400377",
        "ID400377",
    );
    p.newchannel("Local/202@int-00000008;2", "1.5", "1.1", "201", "202");
    p.dial("1.1", "1.4", "");
    p.newchannel("SIP/150010002-03", "1.6", "1.1", "202", "202");
    p.dial("1.5", "1.6", "");
    p.newstate("1.6", "5");
    p.newstate("1.6", "6");
    p.dial("1.5", "1.6", "ANSWER");
    p.newstate("1.5", "6");
    p.newstate("1.4", "6");
    p.dial("1.1", "1.4", "ANSWER");
    for u in ["1.6", "1.5", "1.4", "1.3", "1.2", "1.1"] {
        p.set_exten(u, "onhangup");
        p.hangup(u, "16");
    }
    let r = one(p.records());
    assert_eq!(r.from.number.as_deref(), Some("201"));
    assert_eq!(r.to.number.as_deref(), Some("202"));
    assert_eq!(r.answered_by.as_deref(), Some("150010002"));
}

/// A hangup handler (`Exten: onhangup` in context `handlers`) is not what the caller
/// dialed: a call that never dialed keeps the extension it was for.
#[test]
fn a_hangup_handler_is_not_what_was_dialed() {
    let mut p = provider();
    p.newchannel("SIP/150010001-01", "1.1", "1.1", "150010001", "s");
    p.set_exten("1.1", "onhangup");
    p.hangup("1.1", "16");
    let r = one(p.records());
    assert_eq!(r.to.number, None);
}

/// A site that filters queue events still sends `QueueCallerAbandon`: the caller the PBX
/// answered to play queue music, hanging up while a member's phone rang, abandoned the
/// queue the event names.
#[test]
fn queue_caller_abandon_without_the_join_is_abandoned() {
    let mut p = provider();
    p.newchannel("SIP/trunk-01", "1.1", "1.1", "+31150010001", "+31150010004");
    p.newstate("1.1", "6");
    p.newchannel(
        "SIP/150010002-02",
        "1.2",
        "1.1",
        "+31150010004",
        "+31150010004",
    );
    p.newstate("1.2", "5");
    p.event(
        "QueueCallerAbandon",
        Some("1.1"),
        None,
        &[("Queue", "sales"), ("HoldTime", "11"), ("Position", "1")],
    );
    p.hangup("1.2", "16");
    p.hangup("1.1", "0");
    let r = one(p.records());
    assert_eq!(r.disposition, tracker::Disposition::Abandoned);
    let q = r.queue.expect("the queue the abandon named");
    assert_eq!(q.name, "sales");
    assert_eq!(q.wait_seconds, Some(11.0));
    assert_eq!(r.answered_by, None);
}

/// An inbound call from a trunk, answered by our phone 150010001: (trunk, phone).
fn inbound_answered(p: &mut Pbx) {
    p.answered_call(
        ("SIP/trunk-01", "1.1", "+31150010001"),
        ("SIP/150010001-02", "1.2"),
        "1.1",
    );
}

/// The transferee rings a group: one `Dial`, two destinations (through Local routes).
fn transferee_rings_group(p: &mut Pbx) {
    p.set_exten("1.1", "401");
    p.newchannel("Local/ID2@route-0001;1", "1.3", "1.1", "401", "401");
    p.newchannel("Local/ID3@route-0002;1", "1.4", "1.1", "401", "401");
    p.dial("1.1", "1.3", "");
    p.dial("1.1", "1.4", "");
}

/// A `BlindTransfer` to a ring group is one transfer, however many phones the group rings.
#[test]
fn a_blind_transfer_to_a_group_is_one_transfer() {
    let mut p = provider();
    inbound_answered(&mut p);
    p.event(
        "BlindTransfer",
        None,
        None,
        &[
            ("Result", "Success"),
            ("TransfererChannel", "SIP/150010001-02"),
            ("TransfererUniqueid", "1.2"),
            ("TransfererLinkedid", "1.1"),
            ("TransfereeChannel", "SIP/trunk-01"),
            ("TransfereeUniqueid", "1.1"),
            ("TransfereeLinkedid", "1.1"),
            ("Extension", "401"),
        ],
    );
    p.hangup("1.2", "16");
    transferee_rings_group(&mut p);
    for u in ["1.3", "1.4", "1.1"] {
        p.hangup(u, "16");
    }
    let r = one(p.records());
    let t: Vec<_> = r
        .transfers
        .iter()
        .map(|t| (t.by.as_str(), t.to.as_str()))
        .collect();
    assert_eq!(t, [("150010001", "401")]);
}

/// Moved by a program (AMI `Redirect`) to a ring group: one `ami:Redirect` transfer.
#[test]
fn a_redirect_to_a_group_is_one_transfer() {
    let mut p = provider();
    inbound_answered(&mut p);
    p.hangup("1.2", "16");
    transferee_rings_group(&mut p);
    for u in ["1.3", "1.4", "1.1"] {
        p.hangup(u, "16");
    }
    let r = one(p.records());
    let t: Vec<_> = r
        .transfers
        .iter()
        .map(|t| (t.by.as_str(), t.to.as_str()))
        .collect();
    assert_eq!(t, [("ami:Redirect", "401")]);
}

/// A "blonde" transfer: the transferer hangs up while the target still rings; Asterisk
/// reports an `AttendedTransfer` with `DestType: App` and the transferee takes over the
/// transferer's `Dial`, which is that transfer's dial, not a redirect.
#[test]
fn a_blonde_transfer_is_one_attended_transfer() {
    let mut p = provider();
    inbound_answered(&mut p);
    // The phone consults 203 (a call of its own), which rings.
    p.newchannel("SIP/150010001-03", "2.1", "2.1", "201", "203");
    p.newchannel("Local/ID3@route-0003;1", "2.2", "2.1", "201", "203");
    p.dial("2.1", "2.2", "");
    p.event(
        "AttendedTransfer",
        None,
        None,
        &[
            ("Result", "Success"),
            ("DestType", "App"),
            ("DestApp", "Dial"),
            ("OrigTransfererChannel", "SIP/150010001-02"),
            ("OrigTransfererUniqueid", "1.2"),
            ("OrigTransfererLinkedid", "1.1"),
            ("SecondTransfererChannel", "SIP/150010001-03"),
            ("SecondTransfererUniqueid", "2.1"),
            ("SecondTransfererLinkedid", "2.1"),
            ("TransfereeChannel", "SIP/trunk-01"),
            ("TransfereeUniqueid", "1.1"),
            ("TransfereeLinkedid", "1.1"),
        ],
    );
    p.dial("2.1", "2.2", "NOANSWER");
    p.hangup("2.1", "16");
    p.hangup("1.2", "16");
    p.set_exten("1.1", "203");
    p.dial("1.1", "2.2", "");
    p.newstate("2.2", "6");
    p.dial("1.1", "2.2", "ANSWER");
    p.hangup("2.2", "16");
    p.hangup("1.1", "16");
    let r = one(p.records());
    let t: Vec<_> = r
        .transfers
        .iter()
        .map(|t| (t.kind, t.by.as_str(), t.to.as_str()))
        .collect();
    assert_eq!(t, [(tracker::TransferKind::Attended, "150010001", "203")]);
}

/// An inbound call forwarded to a mobile through Local routes (`trunk → Local/ID3;1`,
/// `;2 → Local/+31612345678@world_out;1`, `;2 → SIP/trunk`), which must press 1 to accept.
/// Returns after the mobile picked up (it is Up, in a bridge with the route's `;2` that
/// plays the prompt); the caller is still ringing.
fn forwarded_to_mobile(p: &mut Pbx) {
    p.newchannel("SIP/trunk-01", "1.1", "1.1", "+31150010003", "+31260010001");
    p.newchannel(
        "Local/ID3@fixed-0001;1",
        "1.2",
        "1.1",
        "+31150010003",
        "ID3",
    );
    p.newchannel(
        "Local/ID3@fixed-0001;2",
        "1.3",
        "1.1",
        "+31150010003",
        "ID3",
    );
    p.dial("1.1", "1.2", "");
    p.newchannel(
        "Local/+31612345678@world_out-0002;1",
        "1.4",
        "1.1",
        "+31150010003",
        "+31612345678",
    );
    p.newchannel(
        "Local/+31612345678@world_out-0002;2",
        "1.5",
        "1.1",
        "+31150010003",
        "+31612345678",
    );
    p.dial("1.3", "1.4", "");
    p.newchannel("SIP/trunk-02", "1.6", "1.1", "+31150010003", "+31612345678");
    p.dial("1.5", "1.6", "");
    p.newstate("1.6", "5");
    p.newstate("1.6", "6");
    p.dial("1.5", "1.6", "ANSWER");
    p.newstate("1.5", "6");
    p.event(
        "BridgeEnter",
        Some("1.6"),
        None,
        &[("BridgeUniqueid", "prompt")],
    );
    p.event(
        "BridgeEnter",
        Some("1.5"),
        None,
        &[("BridgeUniqueid", "prompt")],
    );
}

/// Call acceptance refused: the mobile picked up, heard the prompt and hung up. It was
/// never connected to the caller, so nobody answered (DESIGN: answered means connected).
#[test]
fn a_party_that_refuses_a_prompt_did_not_answer() {
    let mut p = provider();
    forwarded_to_mobile(&mut p);
    p.event(
        "BridgeLeave",
        Some("1.6"),
        None,
        &[("BridgeUniqueid", "prompt")],
    );
    p.event(
        "BridgeLeave",
        Some("1.5"),
        None,
        &[("BridgeUniqueid", "prompt")],
    );
    for u in ["1.6", "1.5", "1.4", "1.3", "1.2"] {
        p.hangup(u, "16");
    }
    p.hangup("1.1", "16");
    let r = one(p.records());
    assert_eq!(r.answered_by, None);
    assert_eq!(r.disposition, tracker::Disposition::NoAnswer);
}

/// Call acceptance accepted: every Local route is bridged through, the caller is connected
/// to the mobile, which answered; behind the trunk it is named by the number it was
/// dialed with, not by the DID the caller dialed.
#[test]
fn a_party_connected_through_local_routes_answered_and_is_named_by_its_number() {
    let mut p = provider();
    forwarded_to_mobile(&mut p);
    p.newstate("1.4", "6");
    p.dial("1.3", "1.4", "ANSWER");
    p.newstate("1.3", "6");
    p.event(
        "BridgeEnter",
        Some("1.4"),
        None,
        &[("BridgeUniqueid", "mid")],
    );
    p.event(
        "BridgeEnter",
        Some("1.3"),
        None,
        &[("BridgeUniqueid", "mid")],
    );
    let answered: Vec<_> = p
        .updates
        .iter()
        .filter(|u| matches!(u, tracker::Update::CallAnswered { .. }))
        .collect();
    assert!(
        answered.is_empty(),
        "not yet connected to the caller: {answered:?}"
    );
    p.newstate("1.2", "6");
    p.dial("1.1", "1.2", "ANSWER");
    p.newstate("1.1", "6");
    p.event(
        "BridgeEnter",
        Some("1.2"),
        None,
        &[("BridgeUniqueid", "top")],
    );
    p.event(
        "BridgeEnter",
        Some("1.1"),
        None,
        &[("BridgeUniqueid", "top")],
    );
    for u in ["1.6", "1.5", "1.4", "1.3", "1.2", "1.1"] {
        p.hangup(u, "16");
    }
    let r = one(p.records());
    assert_eq!(r.disposition, tracker::Disposition::Answered);
    assert_eq!(r.to.number.as_deref(), Some("+31260010001"));
    assert_eq!(r.answered_by.as_deref(), Some("+31612345678"));
}

/// A site that filters bridge events: a party behind a Local route that went Up is taken
/// for the answer when the call ends, since nothing says it was not connected.
#[test]
fn without_bridge_events_an_answer_behind_a_local_route_still_counts() {
    let mut p = provider();
    p.newchannel("SIP/150010001-01", "1.1", "1.1", "201", "202");
    p.newchannel("Local/ID2@route-0001;1", "1.2", "1.1", "201", "ID2");
    p.newchannel("Local/ID2@route-0001;2", "1.3", "1.1", "201", "ID2");
    p.dial("1.1", "1.2", "");
    p.newchannel("SIP/150010002-02", "1.4", "1.1", "201", "202");
    p.dial("1.3", "1.4", "");
    p.newstate("1.4", "6");
    p.dial("1.3", "1.4", "ANSWER");
    p.newstate("1.2", "6");
    p.dial("1.1", "1.2", "ANSWER");
    p.newstate("1.1", "6");
    for u in ["1.4", "1.3", "1.2", "1.1"] {
        p.hangup(u, "16");
    }
    let r = one(p.records());
    assert_eq!(r.answered_by.as_deref(), Some("150010002"));
    assert!(r.answered_at.is_some());
}

/// Pickup by SIP `Replaces` on Asterisk 13: no `Pickup` event; the ringing route's dial
/// "reaches" the picking phone's own channel, already up in a call of its own. The picking
/// phone answered the call, and its own channel's call is not a call of its own.
#[test]
fn a_pickup_by_sip_replaces_is_answered_by_the_picking_phone() {
    let mut p = provider();
    p.newchannel("SIP/150010001-01", "1.1", "1.1", "201", "202");
    p.newchannel("Local/ID2@route-0001;1", "1.2", "1.1", "201", "ID2");
    p.newchannel("Local/ID2@route-0001;2", "1.3", "1.1", "201", "ID2");
    p.dial("1.1", "1.2", "");
    p.newchannel("SIP/150010002-02", "1.4", "1.1", "201", "202");
    p.dial("1.3", "1.4", "");
    p.newstate("1.4", "5");
    // 150010003 picks up: its INVITE with Replaces is a channel of its own, up at once.
    p.newchannel("SIP/150010003-03", "3.1", "3.1", "150010003", "201");
    p.newstate("3.1", "6");
    p.dial("1.3", "1.4", "CANCEL");
    p.hangup("1.4", "16");
    p.dial("1.3", "3.1", "");
    p.dial("1.3", "3.1", "ANSWER");
    p.newstate("1.3", "6");
    p.newstate("1.2", "6");
    p.dial("1.1", "1.2", "ANSWER");
    p.newstate("1.1", "6");
    for u in ["1.3", "1.2", "3.1", "1.1"] {
        p.hangup(u, "16");
    }
    let r = one(p.records());
    assert_eq!(r.to.number.as_deref(), Some("202"));
    assert_eq!(r.answered_by.as_deref(), Some("150010003"));
    assert_eq!(r.disposition, tracker::Disposition::Answered);
    check_lifecycle(&p.updates).unwrap();
}

/// An AMI Originate into an application (`Application: Dial`, `Data: PJSIP/2002,30`):
/// the phone rung first runs `Dial` outside the dial plan (`Exten: s`); the call is to
/// what its dial string names.
#[test]
fn an_originate_into_dial_is_to_its_dial_string() {
    let mut p = Pbx::default();
    p.newchannel("PJSIP/2001-01", "1.1", "1.1", "", "s");
    p.event("DialBegin", None, Some("1.1"), &[("DialString", "2001")]);
    p.newstate("1.1", "6");
    p.event("DialEnd", None, Some("1.1"), &[("DialStatus", "ANSWER")]);
    p.newchannel("PJSIP/2002-02", "1.2", "1.1", "", "s");
    p.event(
        "DialBegin",
        Some("1.1"),
        Some("1.2"),
        &[("DialString", "PJSIP/2002")],
    );
    p.newstate("1.2", "6");
    p.dial("1.1", "1.2", "ANSWER");
    p.hangup("1.2", "16");
    p.hangup("1.1", "16");
    let r = one(p.records());
    assert_eq!(r.from.number.as_deref(), Some("2001"));
    assert_eq!(r.to.number.as_deref(), Some("2002"));
    assert_eq!(r.answered_by.as_deref(), Some("2002"));
}
