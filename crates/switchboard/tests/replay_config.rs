//! `switchboard replay --config`: the numbering plan of a `[[servers]]` entry, read without
//! its secrets; and captures that start mid-session.

use std::path::{Path, PathBuf};
use std::process::{Command, Output};

fn bin() -> &'static str {
    env!("CARGO_BIN_EXE_switchboard")
}

fn cacofonisk(case: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../../fixtures/cacofonisk")
        .join(format!("{case}.ami"))
}

fn dir(tag: &str) -> PathBuf {
    let d = std::env::temp_dir().join(format!("sb-replay-config-{tag}-{}", std::process::id()));
    std::fs::create_dir_all(&d).unwrap();
    d
}

fn replay(args: &[&str]) -> Output {
    Command::new(bin())
        .arg("replay")
        .args(args)
        .output()
        .unwrap()
}

fn records(out: &Output) -> Vec<serde_json::Value> {
    assert!(out.status.success(), "{out:?}");
    String::from_utf8_lossy(&out.stdout)
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect()
}

/// The VoIPGRID plan: 9-digit SIP accounts are phones. Its secret comes from a variable
/// that does not exist, which replay must never try to read.
const PLAN: &str = r#"
[server_defaults]
username = "replay"
secret_env = "SWITCHBOARD_TEST_NEVER_SET_ANYWHERE"

[[servers]]
name = "office"
host = "192.0.2.1"
extensions = "(1500100|1000600|2600100)[0-9]{2}"
trunks = ["voipgrid-siproute-docker"]

[[servers]]
name = "other"
host = "192.0.2.2"
"#;

#[test]
fn the_numbering_plan_of_the_config_names_the_agent_and_the_records() {
    let d = dir("plan");
    let config = d.join("switchboard.toml");
    std::fs::write(&config, PLAN).unwrap();
    let case = cacofonisk("queue/queue_simple");
    let case = case.to_str().unwrap();

    // Without a plan the 9-digit account is not a phone: the dialed DID is the answerer.
    let plain = records(&replay(&[case, "--json"]));
    assert_eq!(plain.len(), 1);
    assert_eq!(plain[0]["answered_by"], "+31150010004");
    assert!(plain[0]["id"].as_str().unwrap().starts_with("pbx1:"));

    let planned = records(&replay(&[
        case,
        "--json",
        "--config",
        config.to_str().unwrap(),
        "--server",
        "office",
    ]));
    assert_eq!(planned.len(), 1);
    assert_eq!(planned[0]["answered_by"], "150010002");
    assert!(planned[0]["id"].as_str().unwrap().starts_with("office:"));
    std::fs::remove_dir_all(&d).ok();
}

#[test]
fn a_config_with_several_servers_doesnt_replay_without_server() {
    let d = dir("several");
    let config = d.join("switchboard.toml");
    std::fs::write(&config, PLAN).unwrap();
    let case = cacofonisk("queue/queue_simple");
    let out = replay(&[case.to_str().unwrap(), "--config", config.to_str().unwrap()]);
    assert_eq!(out.status.code(), Some(2));
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(
        err.contains("--server") && err.contains("office, other"),
        "{err}"
    );

    let out = replay(&[
        case.to_str().unwrap(),
        "--config",
        config.to_str().unwrap(),
        "--server",
        "nope",
    ]);
    assert_eq!(out.status.code(), Some(2));
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("\"nope\""), "{err}");
    std::fs::remove_dir_all(&d).ok();
}

#[test]
fn a_bad_extensions_pattern_doesnt_replay_and_names_its_line() {
    let d = dir("bad");
    let config = d.join("switchboard.toml");
    std::fs::write(
        &config,
        "[[servers]]\nname = \"a\"\nhost = \"h\"\nextensions = \"(unclosed\"\n",
    )
    .unwrap();
    let out = replay(&[
        cacofonisk("queue/queue_simple").to_str().unwrap(),
        "--config",
        config.to_str().unwrap(),
    ]);
    assert_eq!(out.status.code(), Some(2));
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(
        err.contains("switchboard.toml:4") && err.contains("extensions"),
        "{err}"
    );
    std::fs::remove_dir_all(&d).ok();
}

#[test]
fn a_capture_without_banner_is_replayed_and_said_so() {
    let d = dir("midway");
    let whole = std::fs::read(cacofonisk("simple/ab_success_a_hangup")).unwrap();
    // Cut into the banner line and a few messages: the rest is a mid-session capture.
    let cut = whole
        .windows(4)
        .position(|w| w == b"\r\n\r\n")
        .map(|p| p + 10)
        .unwrap();
    let file = d.join("suffix.ami");
    std::fs::write(&file, &whole[cut..]).unwrap();
    let out = replay(&[file.to_str().unwrap(), "--json"]);
    let recs = records(&out);
    assert!(
        String::from_utf8_lossy(&out.stderr).contains("mid-session"),
        "{out:?}"
    );
    let full = records(&replay(&[
        cacofonisk("simple/ab_success_a_hangup").to_str().unwrap(),
        "--json",
    ]));
    assert_eq!(recs.len(), full.len());
    assert_eq!(recs[0]["id"], full[0]["id"]);
    std::fs::remove_dir_all(&d).ok();
}
