//! `switchboard replay` end to end: the binary over every real recording, judged with the
//! ground-truth rules (`tracker::truth`, the port of `tools/truthcheck.py`); and, when
//! python3 is at hand, the very script the acceptance checks run.

use std::path::{Path, PathBuf};
use std::process::Command;

fn bin() -> &'static str {
    env!("CARGO_BIN_EXE_switchboard")
}

fn fixtures() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../../fixtures/asterisk/22.10.1")
}

fn scenarios_with_calls() -> Vec<PathBuf> {
    let mut v: Vec<PathBuf> = std::fs::read_dir(fixtures())
        .unwrap()
        .filter_map(|e| {
            let p = e.ok()?.path();
            (p.extension()? == "ami").then_some(p)
        })
        .filter(|p| {
            std::fs::read(p.with_extension("json"))
                .ok()
                .and_then(|b| serde_json::from_slice::<serde_json::Value>(&b).ok())
                .and_then(|t| t["calls"].as_array().map(|a| !a.is_empty()))
                .unwrap_or(false)
        })
        .collect();
    v.sort();
    v
}

#[test]
fn json_output_matches_the_ground_truth_of_every_recording() {
    let all = scenarios_with_calls();
    assert!(all.len() >= 16, "expected the 16 public scenarios");
    let mut failures = Vec::new();
    for ami in &all {
        let out = Command::new(bin())
            .args(["replay", ami.to_str().unwrap(), "--json"])
            .output()
            .unwrap();
        assert!(out.status.success(), "{}: {:?}", ami.display(), out);
        let recs: Vec<serde_json::Value> = String::from_utf8(out.stdout)
            .unwrap()
            .lines()
            .map(|l| serde_json::from_str(l).expect("every line is a JSON record"))
            .collect();
        for r in &recs {
            assert!(r["id"].as_str().unwrap().starts_with("pbx1:"));
        }
        let truth: serde_json::Value =
            serde_json::from_slice(&std::fs::read(ami.with_extension("json")).unwrap()).unwrap();
        let problems = tracker::truth::compare(&recs, truth["calls"].as_array().unwrap());
        if !problems.is_empty() {
            failures.push(format!("{}: {}", ami.display(), problems.join(" | ")));
        }
    }
    assert!(failures.is_empty(), "{}", failures.join("\n"));
}

/// The acceptance script itself, when the machine has python3 (CI does).
#[test]
fn truthcheck_script_agrees() {
    let script = Path::new(env!("CARGO_MANIFEST_DIR")).join("../tracker/tests/truthcheck.py");
    if !script.exists() || Command::new("python3").arg("--version").output().is_err() {
        testenv::skip(
            "truthcheck_script_agrees",
            "python3 or crates/tracker/tests/truthcheck.py not available",
        );
        return;
    }
    let out = Command::new("python3")
        .arg(&script)
        .arg(bin())
        .arg(fixtures())
        .output()
        .unwrap();
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(out.status.success(), "{text}");
    assert!(text.contains("16/16 scenarios match"), "{text}");
}

#[test]
fn server_name_and_summary() {
    let ami = fixtures().join("internal_answered.ami");
    let out = Command::new(bin())
        .args([
            "replay",
            ami.to_str().unwrap(),
            "--json",
            "--summary",
            "--server",
            "east",
        ])
        .output()
        .unwrap();
    assert!(out.status.success());
    let line = String::from_utf8(out.stdout).unwrap();
    let rec: serde_json::Value = serde_json::from_str(line.trim()).unwrap();
    assert_eq!(rec["server"], "east");
    assert!(rec["id"].as_str().unwrap().starts_with("east:"));
    assert!(String::from_utf8_lossy(&out.stderr).contains("answered 1"));
    // The readable listing: one line per call, then the summary.
    let out = Command::new(bin())
        .args(["replay", ami.to_str().unwrap(), "--summary"])
        .output()
        .unwrap();
    let text = String::from_utf8(out.stdout).unwrap();
    assert!(text.contains("2001 -> 2002"), "{text}");
    assert!(text.contains("1 calls: answered 1"), "{text}");
}

#[test]
fn open_calls_at_end_of_file_are_stream_ended() {
    let ami = fixtures().join("restart_via_own_command.ami");
    let out = Command::new(bin())
        .args(["replay", ami.to_str().unwrap(), "--json"])
        .output()
        .unwrap();
    let recs: Vec<serde_json::Value> = String::from_utf8(out.stdout)
        .unwrap()
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    assert_eq!(recs.len(), 2);
    assert!(recs.iter().all(|r| r["end"] == "stream_ended"));
}

#[test]
fn clear_errors_for_missing_and_non_ami_files() {
    let out = Command::new(bin())
        .args(["replay", "/nonexistent/x.ami", "--json"])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&out.stderr).contains("cannot read"));

    let dir = std::env::temp_dir().join(format!("sb-replay-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let bad = dir.join("notami.ami");
    std::fs::write(&bad, "hello world\nthis is not AMI\n").unwrap();
    let out = Command::new(bin())
        .args(["replay", bad.to_str().unwrap()])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&out.stderr).contains("not an AMI recording"));
    let empty = dir.join("empty.ami");
    std::fs::write(&empty, "").unwrap();
    let out = Command::new(bin())
        .args(["replay", empty.to_str().unwrap()])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(2));
    std::fs::remove_dir_all(&dir).ok();
}
