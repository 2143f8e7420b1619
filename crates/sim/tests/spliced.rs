//! The spliced call kinds (`spliced/*.ami`, built from the recordings by `splice.py`) read
//! by the real tracker give the records their ground truth says: the fixed point of the
//! generator's new kinds, before any id or time is changed.

use ami::{AmiCodec, Frame};
use bytes::BytesMut;

fn records(name: &str) -> Vec<serde_json::Value> {
    let path = format!("{}/spliced/{name}.ami", env!("CARGO_MANIFEST_DIR"));
    let mut buf = BytesMut::from(&std::fs::read(path).unwrap()[..]);
    let mut codec = AmiCodec::client();
    let mut t = tracker::Tracker::new(tracker::TrackerConfig::new("pbx1"));
    let mut out = Vec::new();
    t.session_started(None, &mut out);
    while let Ok(Some(f)) = codec.decode_eof(&mut buf) {
        if let Frame::Message(m) = f {
            t.handle(&m, None, &mut out);
        }
    }
    t.end_of_stream(&mut out);
    let mut merged = 0;
    let recs: Vec<_> = out
        .iter()
        .filter_map(|u| match u {
            tracker::Update::CallEnded(r) => Some(serde_json::to_value(r).unwrap()),
            tracker::Update::CallMerged { .. } => {
                merged += 1;
                None
            }
            _ => None,
        })
        .collect();
    if name == "attended_transfer" {
        assert_eq!(
            merged, 1,
            "the consultation call is folded into the transferred one"
        );
    }
    recs
}

fn check(name: &str, truth: serde_json::Value) {
    let recs = records(name);
    let problems = tracker::truth::compare(&recs, &[truth]);
    assert!(problems.is_empty(), "{name}: {problems:?}\n{recs:#?}");
    assert_eq!(recs.len(), 1, "{name}");
    assert_eq!(recs[0]["end"], "hangup", "{name}");
}

#[test]
fn ring_group_answered_by_the_first_member() {
    check(
        "ring_group_answered",
        serde_json::json!({"caller": "2001", "called": "600", "answered_by": "2002",
            "disposition": "answered", "transfers": [], "queue": null}),
    );
}

#[test]
fn ring_group_nobody_answers() {
    check(
        "ring_group_no_answer",
        serde_json::json!({"caller": "2001", "called": "600", "answered_by": null,
            "disposition": "no_answer", "transfers": [], "queue": null}),
    );
}

#[test]
fn attended_transfer_is_one_call_with_its_transfer() {
    check(
        "attended_transfer",
        serde_json::json!({"caller": "2001", "called": "2002", "answered_by": "2002",
            "disposition": "answered", "queue": null,
            "transfers": [{"kind": "attended", "by": "2002", "to": "2003"}]}),
    );
}

#[test]
fn the_caller_id_the_dial_plan_sets_is_the_callers_number() {
    check(
        "callerid_set",
        serde_json::json!({"caller": "+31850002001", "called": "2002", "answered_by": "2002",
            "disposition": "answered", "transfers": [], "queue": null}),
    );
}

/// The Local pair is plumbing: the phone behind `;2` answers, the call is to what the
/// caller dialed, and neither half is a call of its own.
#[test]
fn a_local_route_is_answered_by_the_phone_behind_it() {
    check(
        "local_route",
        serde_json::json!({"caller": "2001", "called": "2002", "answered_by": "2002",
            "disposition": "answered", "transfers": [], "queue": null}),
    );
}

/// An outbound call presenting the company's DID: the caller is that number, the far end
/// (the dialed number, through the trunk) answers.
#[test]
fn an_outbound_call_presents_the_caller_id_the_dial_plan_sets() {
    check(
        "callerid_set_outbound",
        serde_json::json!({"caller": "+31850002004", "called": "01759605969",
            "answered_by": "01759605969", "disposition": "answered", "transfers": [],
            "queue": null}),
    );
}
