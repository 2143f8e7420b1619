//! `switchboard sim` as a user runs it: a replay on a free port, a login, the events, and a
//! generated run writing its ground truth.

use std::io::{BufRead, BufReader, Read, Write};
use std::net::TcpStream;
use std::process::{Command, Stdio};
use std::time::Duration;

fn fixture(name: &str) -> String {
    format!(
        "{}/../../fixtures/asterisk/22.10.1/{name}",
        env!("CARGO_MANIFEST_DIR")
    )
}

/// Starts `switchboard sim ARGS` on a free port; returns the child and the address it printed.
/// The callers kill and reap it.
#[allow(clippy::zombie_processes)]
fn start(args: &[&str]) -> (std::process::Child, String) {
    let mut child = Command::new(env!("CARGO_BIN_EXE_switchboard"))
        .arg("sim")
        .args(["--listen", "127.0.0.1:0"])
        .args(args)
        .stderr(Stdio::piped())
        .spawn()
        .expect("switchboard runs");
    let mut err = BufReader::new(child.stderr.take().unwrap());
    let mut line = String::new();
    loop {
        line.clear();
        assert!(err.read_line(&mut line).unwrap() > 0, "sim exited early");
        if let Some(rest) = line.split("AMI on ").nth(1) {
            let addr = rest.split_whitespace().next().unwrap().to_string();
            return (child, addr);
        }
    }
}

fn read_for(s: &mut TcpStream, d: Duration) -> String {
    s.set_read_timeout(Some(d)).unwrap();
    let mut out = Vec::new();
    let mut buf = [0u8; 65536];
    while let Ok(n) = s.read(&mut buf) {
        if n == 0 {
            break;
        }
        out.extend_from_slice(&buf[..n]);
    }
    String::from_utf8_lossy(&out).into_owned()
}

#[test]
fn replay_from_the_command_line() {
    let (mut child, addr) = start(&[
        "--replay",
        &fixture("internal_answered.ami"),
        "--speed",
        "max",
    ]);
    let mut s = TcpStream::connect(&addr).unwrap();
    s.write_all(b"Action: Login\r\nUsername: admin\r\nSecret: amp111\r\n\r\n")
        .unwrap();
    let got = read_for(&mut s, Duration::from_millis(1500));
    child.kill().unwrap();
    let _ = child.wait();
    assert!(got.starts_with("Asterisk Call Manager/11.0.0\r\nResponse: Success\r\n"));
    assert_eq!(got.matches("Event: Hangup\r\n").count(), 2);
    assert!(got.contains("Channel: PJSIP/2001-00000000\r\n"));
}

#[test]
fn generate_with_truth_from_the_command_line() {
    let truth = std::env::temp_dir().join(format!(
        "switchboard-sim-truth-{}.jsonl",
        std::process::id()
    ));
    let (mut child, addr) = start(&[
        "--generate",
        "--extensions",
        "2001-2010",
        "--calls",
        "12",
        "--speed",
        "max",
        "--seed",
        "9",
        "--truth",
        truth.to_str().unwrap(),
    ]);
    let mut s = TcpStream::connect(&addr).unwrap();
    s.write_all(b"Action: Login\r\nUsername: admin\r\nSecret: amp111\r\n\r\n")
        .unwrap();
    let got = read_for(&mut s, Duration::from_millis(2000));
    child.kill().unwrap();
    let _ = child.wait();
    assert!(got.contains("Event: Newchannel\r\n"));
    let lines = std::fs::read_to_string(&truth).unwrap();
    let _ = std::fs::remove_file(&truth);
    assert_eq!(lines.lines().count(), 12, "{lines}");
    for l in lines.lines() {
        let v: serde_json::Value = serde_json::from_str(l).unwrap();
        assert!(v["caller"].is_string() && v["disposition"].is_string());
    }
}

#[test]
fn bad_arguments_are_explained() {
    let out = Command::new(env!("CARGO_BIN_EXE_switchboard"))
        .args(["sim", "--generate", "--extensions", "3000-2000"])
        .output()
        .unwrap();
    assert!(!out.status.success());
    assert!(String::from_utf8_lossy(&out.stderr).contains("FIRST-LAST"));
}
