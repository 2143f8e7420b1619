//! A third-party AMI client, PyPI `panoramisk` (what Python services use to talk to
//! Asterisk), against the simulator: it logs in, receives every event of a replay in order,
//! and gets its Originate answered. Skipped, with a message, when python3 or panoramisk is
//! missing (`.ci/run` installs it).

mod common;
use common::fixture;
use sim::{Mode, Server, SimConfig, Speed};
use std::time::Duration;

fn panoramisk_available() -> bool {
    std::process::Command::new("python3")
        .args(["-c", "import panoramisk"])
        .output()
        .is_ok_and(|o| o.status.success())
}

#[tokio::test]
async fn panoramisk_receives_every_replayed_event_and_originates() {
    if !panoramisk_available() {
        testenv::skip(
            "panoramisk_receives_every_replayed_event_and_originates",
            "python3 with panoramisk is not installed (pip install panoramisk)",
        );
        return;
    }
    let file = fixture("internal_answered.ami");
    let rec = sim::replay::Recording::load(&file).unwrap();
    let expected: Vec<(String, String)> = rec
        .items
        .iter()
        .filter(|i| i.send)
        .map(|i| {
            (
                i.msg.name().to_string(),
                i.msg.get("Timestamp").unwrap().to_string(),
            )
        })
        .collect();
    let cfg = SimConfig::new(Mode::Replay {
        file,
        speed: Speed::Max,
        loops: 1,
    })
    .listen("127.0.0.1:0".parse().unwrap());
    let sim = Server::start(cfg).await.unwrap();
    let script =
        std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/panoramisk_client.py");
    let child = tokio::process::Command::new("python3")
        .arg(script)
        .arg(sim.addr().port().to_string())
        .arg(expected.len().to_string())
        .kill_on_drop(true)
        .output();
    let out = tokio::time::timeout(Duration::from_secs(60), child)
        .await
        .expect("the panoramisk client finished within 60 s")
        .expect("python3 ran");
    assert!(
        out.status.success(),
        "panoramisk client failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    let v: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    let got: Vec<(String, String)> = v["events"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| (e[0].as_str().unwrap().into(), e[1].as_str().unwrap().into()))
        .collect();
    assert_eq!(got, expected, "every event of the replay, in order");
    assert_eq!(v["originate"]["Response"], "Success");
    assert_eq!(v["originate"]["Message"], "Originate successfully queued");
    assert_eq!(v["originate_event"]["Response"], "Success");
    assert_eq!(v["originate_event"]["ActionID"], "py-orig-1");
    assert_eq!(v["originate_event"]["CallerIDName"], "Click2Call");
    assert_eq!(sim.logins(), 1);
}
