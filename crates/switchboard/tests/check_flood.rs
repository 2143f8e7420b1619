//! `switchboard check` against a PBX that floods events. The Pong can only be read once the
//! event queue has room; a check that awaited its Ping without draining events hung forever
//! here (found by pointing it at the simulator replaying `load_mix` at full speed).

use sim::{Mode, Server, SimConfig, Speed};
use std::path::PathBuf;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn check_pings_and_counts_a_flood_of_events() {
    let file = PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("../../fixtures/asterisk/22.10.1/load_mix.ami");
    let sim = Server::start(
        SimConfig::new(Mode::Replay {
            file,
            speed: Speed::Max,
            loops: 1,
        })
        .listen("127.0.0.1:0".parse().unwrap()),
    )
    .await
    .expect("the simulator starts");
    let port = sim.addr().port().to_string();
    let check = tokio::process::Command::new(env!("CARGO_BIN_EXE_switchboard"))
        .args(["check", "--host", "127.0.0.1", "--port", &port])
        .args(["--username", "admin", "--secret", "amp111"])
        .args(["--events", "21917", "--quiet", "--timeout", "60"])
        .kill_on_drop(true)
        .output();
    // A guard against the hang this test is about, not a speed requirement.
    let out = tokio::time::timeout(std::time::Duration::from_secs(120), check)
        .await
        .expect("check hung: its Ping waited behind a full event queue")
        .expect("check runs");
    sim.shutdown().await;
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success(),
        "check failed: {stdout}\n{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(stdout.contains("ping: "), "{stdout}");
    // Every event of the recording, none lost while the ping was in flight.
    assert!(stdout.contains("\n21917 events in "), "{stdout}");
}
