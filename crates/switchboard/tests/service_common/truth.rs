//! The matching rules of `shared/tools/truthcheck.py` are `tracker::truth` (one Rust port,
//! shared by every test that compares records with a ground truth); this module adds how
//! the service tests read records.

use serde_json::Value;

pub use tracker::truth::compare;

/// JSON lines (blank lines and anything not starting with `{` ignored).
pub fn json_lines(text: &str) -> Vec<Value> {
    text.lines()
        .map(str::trim)
        .filter(|l| l.starts_with('{'))
        .filter_map(|l| serde_json::from_str(l).ok())
        .collect()
}

#[test]
fn the_rules_accept_a_match_and_refuse_a_difference() {
    let gt: Value = serde_json::json!({"caller": "2001", "called": "2002",
        "answered_by": "2002", "disposition": "answered", "transfers": []});
    let ok: Value = serde_json::json!({"from": {"number": "2001"}, "to": {"number": "2002"},
        "answered_by": "2002", "disposition": "answered", "transfers": []});
    assert!(compare(std::slice::from_ref(&ok), std::slice::from_ref(&gt)).is_empty());
    let mut wrong = ok.clone();
    wrong["disposition"] = "busy".into();
    assert_eq!(
        compare(&[wrong], std::slice::from_ref(&gt)).len(),
        2,
        "missed call and invented call"
    );
    // A duplicate record of the same call is an invented call.
    assert_eq!(compare(&[ok.clone(), ok], &[gt]).len(), 1);
}
