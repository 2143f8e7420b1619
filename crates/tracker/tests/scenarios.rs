//! Every real recording replayed through codec and tracker, judged against its ground truth
//! with the rules of `tools/truthcheck.py` (ported in `tracker::truth`).

mod common;
use common::*;
use std::collections::HashMap;

#[test]
fn every_recording_matches_its_ground_truth() {
    let names = scenarios();
    // The scenarios the issue names must all be here (a missing fixture is a failure).
    for must in [
        "internal_answered",
        "internal_no_answer",
        "internal_busy",
        "outbound_answered",
        "inbound_queue_answered",
        "inbound_queue_abandoned",
        "hold_unhold",
        "ami_originate",
        "voicemail",
        "load_mix",
        "restart",
        "restart_via_own_command",
        "attach_midcall",
        "filtered_events",
        "actions_admin",
        "actions_monitor_denied",
    ] {
        assert!(names.iter().any(|n| n == must), "fixture {must} missing");
    }
    let mut failures = Vec::new();
    for name in &names {
        let updates = run(&messages(name));
        if let Err(e) = check_lifecycle(&updates) {
            failures.push(format!("{name}: {e}"));
        }
        let recs = as_json(&records(&updates));
        let problems = tracker::truth::compare(&recs, &truth(name));
        if !problems.is_empty() {
            failures.push(format!("{name}: {}", problems.join(" | ")));
        }
    }
    assert!(failures.is_empty(), "{}", failures.join("\n"));
}

#[test]
fn load_mix_call_for_call() {
    let recs = records(&run(&messages("load_mix")));
    let truth = truth("load_mix");
    let observable = truth
        .iter()
        .filter(|c| !tracker::truth::is_optional(c))
        .count();
    // Every observable call is reported once; ids are unique.
    assert_eq!(recs.len(), observable);
    let mut ids: Vec<&str> = recs.iter().map(|r| r.id.as_str()).collect();
    ids.sort();
    ids.dedup();
    assert_eq!(ids.len(), recs.len(), "a call was reported twice");
    assert!(tracker::truth::compare(&as_json(&recs), &truth).is_empty());
    // Every record ended by a hangup, none left open.
    assert!(recs.iter().all(|r| r.end == tracker::EndReason::Hangup));
}

#[test]
fn truth_rules_catch_a_wrong_record() {
    // The ported rules must be able to fail: spoil one field at a time.
    let recs = as_json(&records(&run(&messages("inbound_queue_answered"))));
    let truth = truth("inbound_queue_answered");
    assert!(tracker::truth::compare(&recs, &truth).is_empty());
    for (field, value) in [
        ("answered_by", serde_json::json!("2004")),
        ("disposition", serde_json::json!("abandoned")),
        ("queue", serde_json::Value::Null),
        ("to", serde_json::json!({"number": "s"})),
        (
            "transfers",
            serde_json::json!([{"kind": "blind", "by": "2003", "to": "2004"}]),
        ),
    ] {
        let mut bad = recs.clone();
        bad[0][field] = value;
        assert!(
            !tracker::truth::compare(&bad, &truth).is_empty(),
            "a wrong {field} passed"
        );
    }
    // An extra record is an invented call.
    let mut extra = recs.clone();
    extra.push(recs[0].clone());
    assert!(!tracker::truth::compare(&extra, &truth).is_empty());
}

/// Replaying any suffix of a recording (attaching in the middle of calls) never panics,
/// and every call it reports is one the full replay reports, with no contradicting facts.
#[test]
fn every_suffix_replays_without_panic_and_invents_nothing() {
    for name in scenarios() {
        let msgs = messages(&name);
        let full: HashMap<String, tracker::CallRecord> = records(&run(&msgs))
            .into_iter()
            .map(|r| (r.id.clone(), r))
            .collect();
        // Every suffix of the small recordings; a spread of them in the large ones.
        let step = (msgs.len() / 200).max(1);
        for start in (0..msgs.len()).step_by(step) {
            let updates = run(&msgs[start..]);
            check_lifecycle(&updates).unwrap_or_else(|e| panic!("{name}[{start}..]: {e}"));
            for r in records(&updates) {
                let Some(f) = full.get(&r.id) else {
                    panic!("{name}[{start}..]: invented call {}", r.id);
                };
                if let (Some(a), Some(b)) = (&r.from.number, &f.from.number) {
                    assert_eq!(a, b, "{name}[{start}..]: from of {}", r.id);
                }
                if let (Some(a), Some(b)) = (&r.answered_by, &f.answered_by) {
                    assert_eq!(a, b, "{name}[{start}..]: answered_by of {}", r.id);
                }
            }
        }
    }
}

/// A recording cut short (any prefix): the calls that ended before the cut have exactly
/// the record of the full replay, and the rest are reported as `stream_ended`.
#[test]
fn every_prefix_agrees_with_the_full_replay() {
    for name in scenarios() {
        let msgs = messages(&name);
        let full: HashMap<String, tracker::CallRecord> = records(&run(&msgs))
            .into_iter()
            .map(|r| (r.id.clone(), r))
            .collect();
        let step = (msgs.len() / 100).max(1);
        for end in (0..=msgs.len()).step_by(step) {
            for r in records(&run(&msgs[..end])) {
                let f = full
                    .get(&r.id)
                    .unwrap_or_else(|| panic!("{name}[..{end}]: invented call {}", r.id));
                if r.end == tracker::EndReason::Hangup {
                    assert_eq!(&r, f, "{name}[..{end}]");
                } else {
                    assert_eq!(r.end, tracker::EndReason::StreamEnded);
                    assert_eq!(r.from, f.from, "{name}[..{end}]");
                }
            }
        }
    }
}
