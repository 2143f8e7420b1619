//! `switchboard run` end to end: the binary, configured from the environment as the Node
//! service was (AMI_HOST, AMI_PORT, AMI_USERNAME, AMI_PASSWORD, DATABASE_URL, HTTP_LISTEN),
//! against the simulator; SIGTERM flushes the history and exits 0.

mod service_common;

use service_common::{truth, wait_until, Pbx};
use std::process::{Command, Stdio};
use std::time::Duration;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn run_from_environment_stores_the_calls_and_exits_0_on_sigterm() {
    let calls = 12;
    let pbx = Pbx::generate(calls, 3, 20.0).await;
    let dir = tempfile::tempdir().unwrap();
    let db = dir.path().join("history.db");
    let addr = pbx.sim.addr();
    let child = Command::new(env!("CARGO_BIN_EXE_switchboard"))
        .arg("run")
        .current_dir(dir.path())
        .env_clear()
        .env("PATH", std::env::var("PATH").unwrap_or_default())
        .env("AMI_HOST", addr.ip().to_string())
        .env("AMI_PORT", addr.port().to_string())
        .env("AMI_USERNAME", "admin")
        .env("AMI_PASSWORD", "amp111")
        .env("DATABASE_URL", format!("sqlite://{}", db.display()))
        .env("HTTP_LISTEN", "127.0.0.1:0")
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .expect("the binary starts");
    wait_until(
        "every generated call to end",
        Duration::from_secs(120),
        || pbx.truth().len() as u64 >= calls && pbx.sim.channels_up() == 0,
    )
    .await;
    // Let the last hangups travel; SIGTERM then flushes whatever is still queued.
    tokio::time::sleep(Duration::from_millis(500)).await;
    let killed = Command::new("kill")
        .args(["-TERM", &child.id().to_string()])
        .status()
        .expect("kill runs");
    assert!(killed.success());
    let output = tokio::task::spawn_blocking(move || child.wait_with_output())
        .await
        .unwrap()
        .unwrap();
    let log = String::from_utf8_lossy(&output.stderr);
    assert!(output.status.success(), "exit {:?}\n{log}", output.status);
    assert!(!log.contains("amp111"), "the secret is in the log:\n{log}");
    for line in [
        "connected to",
        "authenticated as admin",
        "Asterisk 22.10.1",
        "resynced:",
    ] {
        assert!(log.contains(line), "no {line:?} in the log:\n{log}");
    }

    let store = store::Store::connect(&format!("sqlite://{}", db.display()))
        .await
        .unwrap();
    let page = store
        .history(&store::HistoryQuery {
            limit: store::MAX_LIMIT,
            ..Default::default()
        })
        .await
        .unwrap();
    let records: Vec<serde_json::Value> = page
        .calls
        .iter()
        .map(|c| serde_json::to_value(c).unwrap())
        .collect();
    let problems = truth::compare(&records, &pbx.truth());
    assert!(problems.is_empty(), "{}", problems.join("\n"));
    pbx.sim.shutdown().await;
}
