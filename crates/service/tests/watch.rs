//! The watcher: a changed file is picked up, a bad one refused while the running
//! configuration stays.

use service::config::Sources;
use service::watch::{spawn, Outcome, Reloader, Trigger, WatchOptions};
use std::path::Path;
use std::time::Duration;

fn server(port: u16) -> String {
    format!("[[servers]]\nname = \"a\"\nhost = \"h\"\nport = {port}\nusername = \"u\"\nsecret = \"s\"\n")
}

/// Rewrites the file. Modification times may be in whole seconds: the watcher compares
/// bytes while the time is recent, which is what these quick rewrites rely on.
fn rewrite(p: &Path, text: &str) {
    std::fs::write(p, text).unwrap();
}

#[tokio::test]
async fn poll_applies_a_change_and_refuses_a_bad_file() {
    let dir = tempfile::tempdir().unwrap();
    let p = dir.path().join("switchboard.toml");
    rewrite(&p, &server(5038));
    let sources = Sources::empty().with_file(&p);
    let initial = sources.load().unwrap();
    let (mut r, rx) = Reloader::new(sources, initial);

    assert_eq!(r.poll().await, None, "nothing changed yet");

    rewrite(&p, &server(16000));
    match r.poll().await {
        Some(Outcome::Applied(ch)) => assert_eq!(ch.changed[0].fields, ["port"]),
        other => panic!("{other:?}"),
    }
    assert_eq!(rx.config.borrow().servers[0].port, 16000);
    assert_eq!(r.poll().await, None, "seen already");

    rewrite(&p, &format!("{}portt = 1\n", server(7000)));
    match r.poll().await {
        Some(Outcome::Refused(errs)) => assert!(
            errs.to_string().ends_with(
                "switchboard.toml:7: servers[0].portt: unknown key (hint: did you mean `port`?)"
            ),
            "{errs}"
        ),
        other => panic!("{other:?}"),
    }
    assert_eq!(
        rx.config.borrow().servers[0].port,
        16000,
        "the running one stays"
    );
    let report = rx.report.borrow().clone().unwrap();
    assert_eq!(report.trigger, Trigger::FileChanged);
    assert!(matches!(report.outcome, Outcome::Refused(_)));
    assert_eq!(
        r.poll().await,
        None,
        "a refused file is not retried until it changes"
    );

    // Same bytes written again (a save without changes): no reload.
    rewrite(&p, &server(16000));
    // ...but it differs from the refused file, so it is loaded, equal to the running one.
    assert_eq!(r.poll().await, Some(Outcome::Unchanged));
    rewrite(&p, &server(16000));
    assert_eq!(r.poll().await, None);

    // A file that disappears leaves the configuration alone.
    std::fs::remove_file(&p).unwrap();
    assert_eq!(r.poll().await, None);
    assert_eq!(rx.config.borrow().servers[0].port, 16000);
}

#[tokio::test]
async fn the_task_publishes_changes_and_survives_bad_files() {
    let dir = tempfile::tempdir().unwrap();
    let p = dir.path().join("switchboard.toml");
    rewrite(&p, &server(5038));
    let sources = Sources::empty().with_file(&p);
    let initial = sources.load().unwrap();
    let options = WatchOptions {
        poll: Some(Duration::from_millis(20)),
        sighup: false,
    };
    let (mut rx, task) = spawn(sources, initial, options).unwrap();

    rewrite(&p, "[[servers]]\nname = \"a\"\nhost = \n");
    tokio::time::timeout(Duration::from_secs(10), rx.report.changed())
        .await
        .expect("a report within 10 s")
        .unwrap();
    assert!(matches!(
        rx.report.borrow().as_ref().unwrap().outcome,
        Outcome::Refused(_)
    ));
    assert_eq!(rx.config.borrow().servers[0].port, 5038);
    assert!(!rx.config.has_changed().unwrap());

    rewrite(
        &p,
        &format!(
            "{}{}",
            server(5039),
            "[[servers]]\nname = \"b\"\nhost = \"h\"\nusername = \"u\"\nsecret = \"s\"\n"
        ),
    );
    tokio::time::timeout(Duration::from_secs(10), rx.config.changed())
        .await
        .expect("a new configuration within 10 s")
        .unwrap();
    let c = rx.config.borrow_and_update().clone();
    assert_eq!(c.servers.len(), 2);
    assert_eq!(c.servers[0].port, 5039);

    // Dropping the receivers ends the task.
    drop(rx);
    tokio::time::timeout(Duration::from_secs(10), task)
        .await
        .expect("the task ends")
        .unwrap();
}
