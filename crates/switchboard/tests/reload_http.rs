//! `[http]` reloads without a restart of `switchboard run`: the API moves to a new address,
//! takes new tokens at once, and a reload that cannot be served (a port already taken, a
//! public address without tokens) leaves it serving as it was.

mod service_common;

use service_common::free_port;
use std::path::Path;
use std::process::Stdio;
use std::time::{Duration, Instant};
use tokio::process::Command;

/// A configuration with one PBX (the simulator on `ami`) and these `[http]` settings.
fn write_config(dir: &Path, ami: u16, listen: &str, tokens: &[&str]) {
    write_config_with(dir, ami, listen, tokens, "")
}

/// The same, with `extra` tables (more servers) after the first one.
fn write_config_with(dir: &Path, ami: u16, listen: &str, tokens: &[&str], extra: &str) {
    let tokens: Vec<String> = tokens.iter().map(|t| format!("{t:?}")).collect();
    std::fs::write(
        dir.join("switchboard.toml"),
        format!(
            "[[servers]]\nname = \"pbx1\"\nhost = \"127.0.0.1\"\nport = {ami}\n\
             username = \"admin\"\nsecret = \"amp111\"\n\n{extra}\
             [http]\nlisten = {listen:?}\ntokens = [{}]\n\n\
             [database]\nurl = \"sqlite://calls.db\"\n",
            tokens.join(", ")
        ),
    )
    .unwrap();
}

/// The status of `GET /api/servers` on `port` with this bearer token, or why there was none.
async fn servers(port: u16, token: Option<&str>) -> Result<u16, String> {
    let client = reqwest::Client::builder()
        .timeout(Duration::from_secs(5))
        .build()
        .unwrap();
    let mut request = client.get(format!("http://127.0.0.1:{port}/api/servers"));
    if let Some(t) = token {
        request = request.bearer_auth(t);
    }
    match request.send().await {
        Ok(r) => Ok(r.status().as_u16()),
        Err(e) => Err(e.to_string()),
    }
}

async fn until(what: &str, log: &Path, mut check: impl AsyncFnMut() -> bool) {
    let deadline = Instant::now() + Duration::from_secs(20);
    while !check().await {
        if Instant::now() > deadline {
            let log = std::fs::read_to_string(log).unwrap_or_default();
            panic!("{what}: not so after 20 s\n{log}");
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

fn hangup(pid: u32, signal: &str) {
    let sent = std::process::Command::new("kill")
        .args([signal, &pid.to_string()])
        .status()
        .expect("kill runs");
    assert!(sent.success());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn http_listen_and_tokens_reload_without_a_restart() {
    let pbx = service_common::Pbx::quiet().await;
    let ami = pbx.sim.addr().port();
    let dir = tempfile::tempdir().unwrap();
    let log = dir.path().join("switchboard.log");
    let (p1, p2) = (free_port(), free_port());
    write_config(dir.path(), ami, &format!("127.0.0.1:{p1}"), &[]);
    let mut child = Command::new(env!("CARGO_BIN_EXE_switchboard"))
        .args(["run", "--config", "switchboard.toml"])
        .env_clear()
        .env("PATH", std::env::var("PATH").unwrap_or_default())
        .env("RUST_LOG", "info")
        .current_dir(dir.path())
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(std::fs::File::create(&log).unwrap())
        .kill_on_drop(true)
        .spawn()
        .expect("start switchboard run");
    let pid = child.id().unwrap();
    until("the read-only API on the first port", &log, async || {
        servers(p1, None).await == Ok(200)
    })
    .await;

    // A new address and tokens: the API moves and asks for a token; the old port is closed.
    write_config(
        dir.path(),
        ami,
        &format!("127.0.0.1:{p2}"),
        &["first-token-0123456789"],
    );
    hangup(pid, "-HUP");
    until(
        "the API on the second port, with tokens",
        &log,
        async || servers(p2, Some("first-token-0123456789")).await == Ok(200),
    )
    .await;
    assert_eq!(servers(p2, None).await, Ok(401));
    assert_eq!(servers(p2, Some("wrong")).await, Ok(401));
    assert!(
        servers(p1, None).await.is_err(),
        "the first port still answers"
    );

    // The next address is taken by someone else, in a reload that also adds a PBX: nothing
    // of it is applied. The API stays where it is, the new PBX is not started, and the
    // log says why.
    let taken = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let p3 = taken.local_addr().unwrap().port();
    write_config_with(
        dir.path(),
        ami,
        &format!("127.0.0.1:{p3}"),
        &["first-token-0123456789"],
        &format!(
            "[[servers]]\nname = \"pbx2\"\nhost = \"127.0.0.1\"\nport = {ami}\n\
             username = \"admin\"\nsecret = \"amp111\"\n\n"
        ),
    );
    hangup(pid, "-HUP");
    until("the refusal in the log", &log, async || {
        std::fs::read_to_string(&log)
            .unwrap_or_default()
            .contains("configuration not applied")
    })
    .await;
    assert_eq!(servers(p2, Some("first-token-0123456789")).await, Ok(200));
    let text = std::fs::read_to_string(&log).unwrap_or_default();
    assert!(
        text.contains(&format!("[http] listen: cannot listen on 127.0.0.1:{p3}")),
        "{text}"
    );
    assert!(
        !text.contains("added to the configuration"),
        "the refused reload started pbx2:\n{text}"
    );

    // Same address, a rotated token: the old one stops working, the new one works.
    write_config(
        dir.path(),
        ami,
        &format!("127.0.0.1:{p2}"),
        &["second-token-0123456789"],
    );
    hangup(pid, "-HUP");
    until("the rotated token", &log, async || {
        servers(p2, Some("second-token-0123456789")).await == Ok(200)
    })
    .await;
    assert_eq!(servers(p2, Some("first-token-0123456789")).await, Ok(401));

    // A public address without tokens is refused by the configuration check; the API keeps
    // serving with its tokens.
    write_config(dir.path(), ami, &format!("0.0.0.0:{p1}"), &[]);
    hangup(pid, "-HUP");
    until("the refused configuration in the log", &log, async || {
        std::fs::read_to_string(&log)
            .unwrap_or_default()
            .contains("not a loopback address")
    })
    .await;
    assert_eq!(servers(p2, Some("second-token-0123456789")).await, Ok(200));
    assert_eq!(servers(p2, None).await, Ok(401));
    drop(taken);

    hangup(pid, "-TERM");
    let status = tokio::time::timeout(Duration::from_secs(20), child.wait())
        .await
        .expect("exits after SIGTERM")
        .unwrap();
    let text = std::fs::read_to_string(&log).unwrap_or_default();
    assert!(status.success(), "exit {status}\n{text}");
    assert!(
        !text.contains("first-token"),
        "a token is in the log:\n{text}"
    );
}
