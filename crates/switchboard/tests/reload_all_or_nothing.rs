//! Reloads are all or nothing, and touch only what changed: what must not happen when a
//! configuration is reloaded in process (the service's part; `reload_http.rs` covers the
//! HTTP API's, through the binary).

mod service_common;

use service::Service;
use service_common::{config, stored, wait_until, Pbx};
use std::collections::HashSet;
use std::sync::Arc;
use std::time::Duration;

const LIMIT: Duration = Duration::from_secs(120);

fn connected(service: &Service, name: &str) -> bool {
    service
        .supervisor()
        .get(name)
        .is_some_and(|p| p.session().is_some())
}

fn session(service: &Service, name: &str) -> Option<u64> {
    service.supervisor().get(name).and_then(|p| p.session())
}

fn active_ids(service: &Service, name: &str) -> HashSet<String> {
    service
        .supervisor()
        .get(name)
        .map(|p| {
            p.tracker()
                .active_calls()
                .into_iter()
                .map(|c| c.id)
                .collect()
        })
        .unwrap_or_default()
}

/// A reload that changes pbx `a`'s TLS to a CA file that is no certificate, and adds
/// pbx `b`: the TLS part is refused when staged, so nothing of the reload is applied —
/// `a` keeps its session and `b` is not started.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_refused_change_doesnt_stop_the_session() {
    let dir = tempfile::tempdir().unwrap();
    let url = format!("sqlite://{}", dir.path().join("calls.db").display());
    let (a, b) = (Pbx::quiet().await, Pbx::quiet().await);
    let first = config(vec![a.server("a")], &url, dir.path());
    let service = Service::start(first.clone()).await.expect("starts");
    wait_until("a connected", LIMIT, || connected(&service, "a")).await;
    let before = session(&service, "a");
    let logins = a.sim.logins();

    let garbage = dir.path().join("ca.pem");
    std::fs::write(&garbage, b"this is not a certificate\n").unwrap();
    let mut changed = a.server("a");
    changed.tls = Some(service::config::TlsConfig {
        ca_file: Some(garbage),
        ..service::config::TlsConfig::default()
    });
    let second = config(vec![changed, b.server("b")], &url, dir.path());
    let refused = service
        .reload(Arc::new(second))
        .await
        .expect_err("the reload is refused");
    assert_eq!(refused.0.len(), 1, "{refused}");
    assert_eq!(refused.0[0].key, "[[servers]] a: tls");
    assert!(refused.0[0].reason.contains("no certificate"), "{refused}");

    // Give a wrongly applied reload the time to show.
    tokio::time::sleep(Duration::from_millis(300)).await;
    assert_eq!(session(&service, "a"), before, "a got a new session");
    assert_eq!(a.sim.logins(), logins, "a logged in again");
    assert!(service.supervisor().get("b").is_none(), "b was started");
    assert_eq!(b.sim.logins(), 0);
    assert_eq!(
        *service.config(),
        first,
        "the running configuration changed"
    );
    service.shutdown().await;
}

/// Adding a PBX leaves the running one alone: same session, same calls in progress, and
/// none of them closed by the reload.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_unchanged_server_keeps_its_session_and_its_calls() {
    let dir = tempfile::tempdir().unwrap();
    let url = format!("sqlite://{}", dir.path().join("calls.db").display());
    let a = Pbx::generate(40, 5, 2.0).await;
    let other = Pbx::quiet().await;
    let first = config(vec![a.server("a")], &url, dir.path());
    let service = Service::start(first).await.expect("starts");
    wait_until("calls in progress on a", LIMIT, || {
        !active_ids(&service, "a").is_empty()
    })
    .await;
    let before = session(&service, "a");
    let open = active_ids(&service, "a");

    let second = config(vec![a.server("a"), other.server("b")], &url, dir.path());
    let reloaded = service.reload(Arc::new(second)).await.expect("applied");
    assert_eq!(reloaded.pipelines.kept, ["a"]);
    assert_eq!(reloaded.pipelines.started, ["b"]);

    assert_eq!(session(&service, "a"), before, "a got a new session");
    assert_no_call_cut(&service, &open).await;
    service.shutdown().await;
}

/// Changing only `extensions` (or `trunks`) hands the new pattern to the running tracker:
/// no new session, and the calls in progress go on.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn changing_only_extensions_keeps_the_trackers_calls() {
    let dir = tempfile::tempdir().unwrap();
    let url = format!("sqlite://{}", dir.path().join("calls.db").display());
    let a = Pbx::generate(40, 6, 2.0).await;
    let service = Service::start(config(vec![a.server("a")], &url, dir.path()))
        .await
        .expect("starts");
    wait_until("calls in progress on a", LIMIT, || {
        !active_ids(&service, "a").is_empty()
    })
    .await;
    let before = session(&service, "a");
    let logins = a.sim.logins();
    let open = active_ids(&service, "a");

    let mut retuned = a.server("a");
    retuned.extensions = tracker::ExtensionPattern::new("^20[0-9]{2}$").unwrap();
    retuned.trunks = vec!["pstn".into(), "carrier".into()];
    let reloaded = service
        .reload(Arc::new(config(vec![retuned.clone()], &url, dir.path())))
        .await
        .expect("applied");
    assert_eq!(reloaded.change.changed[0].fields, ["extensions", "trunks"]);
    assert_eq!(reloaded.pipelines.retuned, ["a"]);
    assert!(reloaded.pipelines.restarted.is_empty());

    assert_eq!(session(&service, "a"), before, "a got a new session");
    assert_eq!(a.sim.logins(), logins, "a logged in again");
    let p = service.supervisor().get("a").unwrap();
    assert_eq!(p.tracker().config().extensions, retuned.extensions);
    assert_eq!(p.tracker().config().trunks, retuned.trunks);
    assert_eq!(p.tracker().config().server, "a");
    assert_no_call_cut(&service, &open).await;
    service.shutdown().await;
}

/// Every call of `open` is still in progress, or was stored as ended by its own hangup —
/// none was closed because its session or its tracker went away, and none vanished.
async fn assert_no_call_cut(service: &Service, open: &HashSet<String>) {
    let still = active_ids(service, "a");
    service.flush().await;
    let records = stored(service).await;
    for id in open {
        if still.contains(id) {
            continue;
        }
        let record = records
            .iter()
            .find(|r| r["id"] == id.as_str())
            .unwrap_or_else(|| panic!("{id} was in progress before the reload and is gone"));
        assert_eq!(
            record["end"], "hangup",
            "a call cut by the reload: {record}"
        );
    }
}
