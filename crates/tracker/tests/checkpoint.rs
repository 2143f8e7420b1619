//! Checkpoints: a restart that resumes the calls in progress loses none of their history,
//! and a checkpoint written by an earlier version still loads.

mod common;
use common::*;
use tracker::{Checkpoint, CheckpointError, EndReason, Tracker, TrackerConfig, Update};

fn tracker() -> Tracker {
    Tracker::new(TrackerConfig::new("pbx1"))
}

/// Every record a tracker makes of `msgs`, ending the stream after them.
fn finish(mut t: Tracker, msgs: &[ami_wire::Message], mut out: Vec<Update>) -> Vec<String> {
    for m in msgs {
        t.handle(m, None, &mut out);
    }
    t.end_of_stream(&mut out);
    let mut v: Vec<String> = records(&out)
        .iter()
        .map(|r| serde_json::to_string(r).unwrap())
        .collect();
    v.sort();
    v
}

/// Stopping a tracker at any event of any recording, saving its calls, and going on in a
/// new tracker restored from the saved JSON gives exactly the records of one tracker that
/// saw the whole stream: legs, answers, transfers, holds and timelines all survive.
#[test]
fn a_restart_resumes_every_call_with_its_history() {
    let mut checked = 0;
    for name in scenarios() {
        let msgs = messages(&name);
        let whole = finish(tracker(), &msgs, Vec::new());
        let step = (msgs.len() / 25).max(1);
        for cut in (0..msgs.len()).step_by(step) {
            let mut first = tracker();
            let mut out = Vec::new();
            for m in &msgs[..cut] {
                first.handle(m, None, &mut out);
            }
            let saved = first.checkpoint().to_json();
            let mut second = tracker();
            let restored = second
                .restore(Checkpoint::from_json(&saved).expect("loads"))
                .expect("restores");
            assert_eq!(restored, first.open_calls(), "{name} @{cut}");
            // The calls that ended before the cut were reported by the first tracker.
            let resumed = finish(second, &msgs[cut..], out);
            assert_eq!(
                resumed, whole,
                "{name}: records differ after a restart at event {cut}"
            );
            checked += 1;
        }
    }
    assert!(checked > 100, "only {checked} restarts tried");
}

/// After a restart, the first session's resync decides: a restored call the PBX no longer
/// lists is closed as `ended_while_disconnected`, with the history it had.
#[test]
fn a_restored_call_the_pbx_no_longer_has_is_closed_by_the_resync() {
    let msgs = messages("hold_unhold");
    let mut first = tracker();
    let mut out = Vec::new();
    // Up to the first Hold: the call is answered and on hold.
    let cut = msgs
        .iter()
        .position(|m| m.get("Event") == Some("Hold"))
        .expect("a Hold")
        + 1;
    for m in &msgs[..cut] {
        first.handle(m, None, &mut out);
    }
    assert_eq!(first.open_calls(), 1);
    let mut second = tracker();
    second
        .restore(Checkpoint::from_json(&first.checkpoint().to_json()).unwrap())
        .unwrap();
    let mut out = Vec::new();
    second.session_started(None, &mut out);
    second.handle(
        &ev(&[
            ("Event", "CoreShowChannelsComplete"),
            ("EventList", "Complete"),
            ("ListItems", "0"),
        ]),
        None,
        &mut out,
    );
    let recs = records(&out);
    assert_eq!(recs.len(), 1, "{out:?}");
    assert_eq!(recs[0].end, EndReason::EndedWhileDisconnected);
    assert!(recs[0].answered_by.is_some(), "{:?}", recs[0]);
    assert_eq!(recs[0].holds.len(), 1, "the hold was lost: {:?}", recs[0]);
    assert_eq!(second.open_calls(), 0);
}

/// `tests/data/checkpoint-v1.json` was written by the first version of the format (the
/// `inbound_queue_answered` recording stopped once the agent answered). Every later
/// version must still read it and resume its call.
#[test]
fn the_version_1_checkpoint_still_loads() {
    let bytes = std::fs::read(
        std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/data/checkpoint-v1.json"),
    )
    .expect("the committed checkpoint");
    let cp = Checkpoint::from_json(&bytes).expect("version 1 loads");
    assert_eq!(cp.server(), "pbx1");
    assert_eq!(cp.calls(), 1);
    let mut t = tracker();
    assert_eq!(t.restore(cp).unwrap(), 1);
    let mut out = Vec::new();
    t.end_of_stream(&mut out);
    let recs = records(&out);
    assert_eq!(recs.len(), 1);
    let r = &recs[0];
    assert_eq!(r.answered_by.as_deref(), Some("2003"), "{r:?}");
    assert!(r.queue.is_some(), "{r:?}");
    assert!(r.started_at.is_some() && r.answered_at.is_some(), "{r:?}");
}

#[test]
fn a_checkpoint_never_goes_into_another_pbx_or_from_another_version() {
    let mut other = Tracker::new(TrackerConfig::new("pbx2"));
    let cp = tracker().checkpoint();
    assert!(matches!(
        other.restore(cp),
        Err(CheckpointError::Server { .. })
    ));
    let future = br#"{"version": 99, "server": "pbx1", "taken_at": null, "calls": []}"#;
    let e = Checkpoint::from_json(future).unwrap_err();
    assert!(matches!(e, CheckpointError::Version { found: 99 }), "{e}");
    assert!(e.to_string().contains("versions 1 to 1"), "{e}");
    for garbage in [&b""[..], b"{", b"[1,2]", b"{\"version\": 1}", b"\xff\xfe"] {
        assert!(
            matches!(
                Checkpoint::from_json(garbage),
                Err(CheckpointError::Format(_))
            ),
            "{garbage:?}"
        );
    }
}
