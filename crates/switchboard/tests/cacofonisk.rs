//! The tracker on a real provider's Asterisk 13 (the cacofonisk cases in
//! `fixtures/cacofonisk/`, MIT, see its `LICENSE.cacofonisk`): every case checked at the
//! call level (caller, called, answered_by, disposition, transfers) by the acceptance
//! script itself (`crates/tracker/tests/cacocheck.py`, a copy of `tools/cacocheck.py`),
//! which runs `switchboard replay --json --config PLAN` with the provider's numbering plan.

use std::path::Path;
use std::process::Command;

#[test]
fn every_cacofonisk_case_matches() {
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("../..");
    let script = root.join("crates/tracker/tests/cacocheck.py");
    if Command::new("python3").arg("--version").output().is_err() {
        testenv::skip("every_cacofonisk_case_matches", "python3 is not installed");
        return;
    }
    let out = Command::new("python3")
        .arg(&script)
        .arg(env!("CARGO_BIN_EXE_switchboard"))
        .arg(root.join("fixtures/cacofonisk"))
        .output()
        .unwrap();
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success(),
        "{text}\n{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(text.contains("27/27 cacofonisk cases match"), "{text}");
}
