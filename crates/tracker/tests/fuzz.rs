//! Arbitrary event streams (names, channels, ids, states and list items mixed at random, in
//! any order) never panic the tracker, and every call is closed by `end_of_stream`.

mod common;
use common::ev;
use proptest::prelude::*;
use tracker::{Timestamp, Tracker, TrackerConfig, Update};

const EVENTS: &[&str] = &[
    "Newchannel",
    "Newstate",
    "Newexten",
    "VarSet",
    "DialBegin",
    "DialState",
    "DialEnd",
    "Dial",
    "Hangup",
    "BridgeEnter",
    "BridgeLeave",
    "Hold",
    "Unhold",
    "QueueCallerJoin",
    "QueueCallerLeave",
    "QueueCallerAbandon",
    "AgentCalled",
    "AgentConnect",
    "AgentComplete",
    "BlindTransfer",
    "AttendedTransfer",
    "Pickup",
    "ConfBridgeJoin",
    "OriginateResponse",
    "CoreShowChannel",
    "CoreShowChannelsComplete",
    "ExtensionStatus",
    "DeviceStateChange",
    "QueueMemberStatus",
    "QueueMember",
    "QueueParams",
    "QueueEntry",
    "QueueStatusComplete",
    "QueueMemberRemoved",
    "MessageWaiting",
    "Rename",
    "LocalBridge",
    "Shutdown",
    "Bogus",
];
const KEYS: &[&str] = &[
    "Uniqueid",
    "Linkedid",
    "DestUniqueid",
    "DestLinkedid",
    "TransfereeUniqueid",
    "TransfererUniqueid",
    "OrigTransfererUniqueid",
    "SecondTransfererUniqueid",
    "TransfereeLinkedid",
    "SecondTransfererLinkedid",
    "TargetUniqueid",
    "TargetLinkedid",
];
const CHANNELS: &[&str] = &[
    "PJSIP/2001-00000001",
    "PJSIP/2002-00000002",
    "PJSIP/pstn-00000003",
    "Local/2003@internal-00000004;1",
    "Local/2003@internal-00000004;2",
    "SIP/2004-0000abcd",
    "",
    "garbage",
    "PJSIP/-",
    "Local/@;",
];
const VALUES: &[&str] = &[
    "1.1",
    "1.2",
    "1.3",
    "2.1",
    "2.2",
    "<unknown>",
    "",
    "6",
    "5",
    "0",
    "17",
    "-1",
    "999999",
    "ANSWER",
    "BUSY",
    "CANCEL",
    "Success",
    "Failure",
    "support",
    "PJSIP/2003",
    "00:00:07",
    "x:y:z",
    "1795500000.5",
    "not-a-time",
    "99999999999999999999.9",
];

fn event() -> impl Strategy<Value = ami_wire::Message> {
    (
        0..EVENTS.len(),
        proptest::collection::vec((0..KEYS.len(), 0..VALUES.len()), 0..6),
        0..CHANNELS.len(),
        0..CHANNELS.len(),
        proptest::collection::vec(0..VALUES.len(), 8),
        any::<bool>(),
    )
        .prop_map(|(e, ids, c, d, v, list)| {
            let mut h: Vec<(&str, &str)> = vec![("Event", EVENTS[e])];
            if list {
                h.push(("ActionID", "a1"));
            } else {
                h.push(("Timestamp", VALUES[v[0]]));
            }
            h.push(("Channel", CHANNELS[c]));
            h.push(("DestChannel", CHANNELS[d]));
            for (k, val) in ids {
                h.push((KEYS[k], VALUES[val]));
            }
            for (k, i) in [
                "ChannelState",
                "DestChannelState",
                "DialStatus",
                "Cause",
                "Exten",
                "Queue",
                "Interface",
                "Status",
            ]
            .iter()
            .zip(&v)
            {
                h.push((k, VALUES[*i]));
            }
            ev(&h)
        })
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 400, ..ProptestConfig::default() })]
    #[test]
    fn arbitrary_streams_never_panic(events in proptest::collection::vec(event(), 0..80), cut in 0usize..80) {
        let mut t = Tracker::new(TrackerConfig::new("pbx1"));
        let mut out = Vec::new();
        for (i, m) in events.iter().enumerate() {
            if i == cut {
                t.session_lost(None, &mut out);
                t.session_started(Some(Timestamp(1)), &mut out);
            }
            t.handle(m, Some(Timestamp(i as i64)), &mut out);
            let _ = t.active_calls();
            let _ = t.extensions();
            let _ = t.queues();
        }
        for u in &out {
            prop_assert!(serde_json::to_string(u).is_ok());
        }
        t.expire(Timestamp(i64::MAX / 2), &mut out);
        t.end_of_stream(&mut out);
        prop_assert_eq!(t.open_calls(), 0);
        if let Err(e) = common::check_lifecycle(&out) {
            prop_assert!(false, "{}", e);
        }
        let mut ids: Vec<&str> = out.iter().filter_map(|u| match u {
            Update::CallEnded(r) => Some(r.id.as_str()),
            _ => None,
        }).collect();
        let n = ids.len();
        ids.sort();
        ids.dedup();
        prop_assert_eq!(ids.len(), n, "a call reported twice");
    }
}
