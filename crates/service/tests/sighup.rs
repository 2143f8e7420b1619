//! SIGHUP reloads. Its own test binary (own process): the signal goes to the whole
//! process, and before tokio has registered for it the default action would end it.

use service::config::Sources;
use service::watch::{spawn, Outcome, Trigger, WatchOptions};
use std::time::Duration;

#[cfg(unix)]
#[tokio::test]
async fn sighup_reloads_what_polling_cannot_see() {
    let dir = tempfile::tempdir().unwrap();
    let p = dir.path().join("switchboard.toml");
    let secret = dir.path().join("pbx.secret");
    std::fs::write(&secret, "one").unwrap();
    std::fs::write(
        &p,
        "[[servers]]\nname = \"a\"\nhost = \"h\"\nusername = \"u\"\nsecret_file = \"pbx.secret\"\n",
    )
    .unwrap();
    let sources = Sources::empty().with_file(&p);
    let initial = sources.load().unwrap();
    // No polling: only the signal can make this reload happen.
    let options = WatchOptions {
        poll: None,
        sighup: true,
    };
    let (mut rx, _task) = spawn(sources, initial, options).unwrap();

    std::fs::write(&secret, "two").unwrap();
    let status = std::process::Command::new("kill")
        .args(["-HUP", &std::process::id().to_string()])
        .status()
        .unwrap();
    assert!(status.success());
    tokio::time::timeout(Duration::from_secs(10), rx.config.changed())
        .await
        .expect("reloaded within 10 s of SIGHUP")
        .unwrap();
    assert_eq!(rx.config.borrow().servers[0].secret.expose(), "two");
    let report = rx.report.borrow().clone().unwrap();
    assert_eq!(report.trigger, Trigger::Sighup);
    match report.outcome {
        Outcome::Applied(ch) => assert_eq!(ch.changed[0].fields, ["secret"]),
        other => panic!("{other:?}"),
    }
}
