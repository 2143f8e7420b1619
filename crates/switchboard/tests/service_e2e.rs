//! The service against the simulated PBX, in process: the real AMI client, tracker,
//! store writer and database, with faults injected into the PBX and the database link.

mod service_common;

use service::Service;
use service_common::{config, open_calls, stored, truth, wait_until, Pbx, Proxy};
use std::collections::HashSet;
use std::sync::Arc;
use std::time::Duration;

const CALLS: u64 = 24;
const LIMIT: Duration = Duration::from_secs(120);

/// The checks every run ends with: the stored records are the simulator's calls, each
/// once, none left open, none made up.
async fn check_history(service: &Service, pbx: &Pbx, name: &str) {
    wait_until("every generated call to end", LIMIT, || {
        pbx.truth().len() as u64 >= CALLS && pbx.sim.channels_up() == 0
    })
    .await;
    wait_until("the tracker to close every call", LIMIT, || {
        open_calls(service, name) == 0
    })
    .await;
    service.flush().await;
    let records = stored(service).await;
    let ids: HashSet<&str> = records.iter().filter_map(|r| r["id"].as_str()).collect();
    assert_eq!(ids.len(), records.len(), "a call stored twice");
    for r in &records {
        let end = r["end"].as_str().unwrap_or("");
        assert!(
            end == "hangup" || end == "ended_while_disconnected",
            "a ghost: {} closed as {end}",
            r["id"]
        );
    }
    let truth = pbx.truth();
    let problems = truth::compare(&records, &truth);
    assert!(
        problems.is_empty(),
        "{} records against {} true calls:\n{}",
        records.len(),
        truth.len(),
        problems.join("\n")
    );
}

async fn restart_mid_call(url: &str, dir: &std::path::Path) {
    let pbx = Pbx::generate(CALLS, 11, 20.0).await;
    let service = Service::start(config(vec![pbx.server("pbx1")], url, dir))
        .await
        .expect("the service starts");
    wait_until("calls in progress", LIMIT, || {
        pbx.truth().len() >= 4 && open_calls(&service, "pbx1") > 0
    })
    .await;
    pbx.sim.restart(Duration::from_millis(300)).await;
    let pipeline = service.supervisor().get("pbx1").unwrap();
    wait_until("the second session", LIMIT, || {
        pipeline.session() == Some(2)
    })
    .await;
    check_history(&service, &pbx, "pbx1").await;
    assert_eq!(pipeline.status(0).reconnects, 1);
    drop(pipeline);
    let report = service.shutdown().await;
    assert_eq!(report.left_in_journal, 0);
    pbx.sim.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn pbx_restart_mid_call_sqlite_no_ghost_no_duplicate_matches_truth() {
    let dir = tempfile::tempdir().unwrap();
    let url = format!("sqlite://{}", dir.path().join("calls.db").display());
    restart_mid_call(&url, dir.path()).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn pbx_restart_mid_call_postgres_no_ghost_no_duplicate_matches_truth() {
    let Some(pg) = service_common::postgres("pbx_restart_mid_call_postgres") else {
        return;
    };
    let url = service_common::fresh_postgres(&pg, "restart").await;
    let dir = tempfile::tempdir().unwrap();
    restart_mid_call(&url, dir.path()).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn database_cut_for_10s_loses_no_completed_call() {
    let Some(pg) = service_common::postgres("database_cut_for_10s") else {
        return;
    };
    let url = service_common::fresh_postgres(&pg, "cut").await;
    // The same database, through a proxy the test can cut.
    let (proxy, proxied) = Proxy::before_postgres(&url).await;
    let dir = tempfile::tempdir().unwrap();
    let pbx = Pbx::generate(CALLS, 5, 10.0).await;
    let service = Service::start(config(vec![pbx.server("pbx1")], &proxied, dir.path()))
        .await
        .expect("the service starts");
    wait_until("a first completed call", LIMIT, || !pbx.truth().is_empty()).await;
    proxy.cut(true);
    // Calls go on completing while the database is away.
    let before = pbx.truth().len();
    tokio::time::sleep(Duration::from_secs(10)).await;
    assert!(
        pbx.truth().len() > before,
        "no call completed during the outage: the test proves nothing"
    );
    assert!(service.backlog().in_memory + service.backlog().in_journal as usize > 0);
    proxy.cut(false);
    check_history(&service, &pbx, "pbx1").await;
    let report = service.shutdown().await;
    assert_eq!(report.left_in_journal, 0);
    pbx.sim.shutdown().await;
}

/// The link to the PBX is down for a while the PBX goes on working (another AMI client keeps
/// the simulator's clock running): calls end and start without us. After the reconnect the
/// resync closes the calls that ended meanwhile as `ended_while_disconnected`, and the
/// history has no ghost and no duplicate; every call it holds is a true one, and every call
/// seen to its hangup matches its ground truth exactly.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn calls_ending_while_the_link_is_down_are_closed_not_lost_nor_doubled() {
    let pbx = Pbx::generate(CALLS, 13, 20.0).await;
    let observer = Observer::start(pbx.sim.addr()).await;
    let proxy = Proxy::start(pbx.sim.addr()).await;
    let mut server = pbx.server("pbx1");
    server.port = proxy.addr.port();
    let dir = tempfile::tempdir().unwrap();
    let url = format!("sqlite://{}", dir.path().join("calls.db").display());
    let service = Service::start(config(vec![server], &url, dir.path()))
        .await
        .expect("the service starts");
    wait_until("calls in progress", LIMIT, || {
        pbx.truth().len() >= 3 && open_calls(&service, "pbx1") >= 2
    })
    .await;
    proxy.cut(true);
    let pipeline = service.supervisor().get("pbx1").unwrap();
    let open_at_cut: Vec<String> = pipeline
        .tracker()
        .active_calls()
        .into_iter()
        .map(|c| c.linkedid)
        .collect();
    let ended_before_cut: Vec<String> = pbx
        .truth()
        .iter()
        .filter_map(|t| t["linkedid"].as_str().map(str::to_string))
        .collect();
    assert!(!open_at_cut.is_empty());
    // 20× real time: the calls we saw going end while we are away.
    wait_until("the calls open at the cut to end", LIMIT, || {
        let truth = pbx.truth();
        open_at_cut
            .iter()
            .all(|l| truth.iter().any(|t| t["linkedid"] == l.as_str()))
    })
    .await;
    proxy.cut(false);
    wait_until("the second session", LIMIT, || {
        pipeline.session() == Some(2)
    })
    .await;
    wait_until("every generated call to end", LIMIT, || {
        pbx.truth().len() as u64 >= CALLS && pbx.sim.channels_up() == 0
    })
    .await;
    wait_until("the tracker to close every call", LIMIT, || {
        open_calls(&service, "pbx1") == 0
    })
    .await;
    service.flush().await;
    let records = stored(&service).await;
    let truth = pbx.truth();
    let ids: HashSet<&str> = records.iter().filter_map(|r| r["id"].as_str()).collect();
    assert_eq!(ids.len(), records.len(), "a call stored twice");
    let mut closed_by_resync = 0;
    let mut adopted = 0;
    for r in &records {
        let linkedid = r["linkedid"].as_str().unwrap_or("");
        let Some(gt) = truth.iter().find(|t| t["linkedid"] == linkedid) else {
            panic!("a ghost: {r}");
        };
        // A call born while we were away and still going at the reconnect is adopted from
        // the channel list: what happened before (who answered first, a transfer, a
        // party that left) never reached us, so only its caller is asked of it.
        let seen_from_its_start = open_at_cut.iter().any(|l| l == linkedid)
            || ended_before_cut.iter().any(|l| l == linkedid);
        match r["end"].as_str().unwrap_or("") {
            "hangup" if seen_from_its_start => {
                let problems = truth::compare(std::slice::from_ref(r), std::slice::from_ref(gt));
                assert!(problems.is_empty(), "{linkedid}: {problems:?}");
            }
            "hangup" => {
                assert_eq!(r["from"]["number"], gt["caller"], "{linkedid}: its caller");
                adopted += 1;
            }
            "ended_while_disconnected" => closed_by_resync += 1,
            other => panic!("{linkedid} closed as {other}"),
        }
    }
    assert!(
        closed_by_resync > 0,
        "no call ended during the outage: the test proves nothing"
    );
    // Calls that lived only while we were away cannot be known, so no more is asked.
    eprintln!("{closed_by_resync} closed by the resync, {adopted} adopted from it");
    assert_eq!(pipeline.status(0).reconnects, 1);
    drop(pipeline);
    service.shutdown().await;
    drop(observer);
    pbx.sim.shutdown().await;
}

/// A second AMI client that logs in and reads everything, as a PBX's other clients do.
struct Observer(tokio::task::JoinHandle<()>);

impl Observer {
    async fn start(addr: std::net::SocketAddr) -> Observer {
        use tokio::io::{AsyncReadExt, AsyncWriteExt};
        let mut s = tokio::net::TcpStream::connect(addr).await.unwrap();
        s.write_all(b"Action: Login\r\nUsername: admin\r\nSecret: amp111\r\n\r\n")
            .await
            .unwrap();
        Observer(tokio::spawn(async move {
            let mut buf = vec![0u8; 1 << 16];
            while matches!(s.read(&mut buf).await, Ok(n) if n > 0) {}
        }))
    }
}

impl Drop for Observer {
    fn drop(&mut self) {
        self.0.abort();
    }
}

/// PostgreSQL is down when the service starts (a reboot brings services up in any order):
/// the service starts anyway, keeps the calls that complete, and writes them all once the
/// database answers.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn database_down_at_start_loses_no_completed_call() {
    let Some(pg) = service_common::postgres("database_down_at_start") else {
        return;
    };
    let url = service_common::fresh_postgres(&pg, "down").await;
    let (proxy, proxied) = Proxy::before_postgres(&url).await;
    proxy.cut(true);
    let dir = tempfile::tempdir().unwrap();
    let pbx = Pbx::generate(CALLS, 9, 10.0).await;
    let service = Service::start(config(vec![pbx.server("pbx1")], &proxied, dir.path()))
        .await
        .expect("the service starts without its database");
    wait_until("a first completed call", LIMIT, || !pbx.truth().is_empty()).await;
    wait_until("the call waits in the backlog", LIMIT, || {
        let b = service.backlog();
        b.in_memory + b.in_journal as usize > 0
    })
    .await;
    proxy.cut(false);
    check_history(&service, &pbx, "pbx1").await;
    let report = service.shutdown().await;
    assert_eq!(report.left_in_journal, 0);
    pbx.sim.shutdown().await;
}

/// A SQLite file that cannot be created is a configuration mistake: refused at start.
#[tokio::test]
async fn an_unusable_sqlite_file_refuses_the_start() {
    let dir = tempfile::tempdir().unwrap();
    let blocker = dir.path().join("not-a-dir");
    std::fs::write(&blocker, b"a file where a directory should be").unwrap();
    let url = format!("sqlite://{}/calls.db", blocker.display());
    let pbx = Pbx::quiet().await;
    let err = Service::start(config(vec![pbx.server("pbx1")], &url, dir.path()))
        .await
        .err()
        .expect("the start is refused");
    assert!(err.to_string().contains("call history database"), "{err}");
    pbx.sim.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn reload_adds_and_removes_pbxes_and_leaves_the_others_connected() {
    let dir = tempfile::tempdir().unwrap();
    let url = format!("sqlite://{}", dir.path().join("calls.db").display());
    let (a, b, c) = (Pbx::quiet().await, Pbx::quiet().await, Pbx::quiet().await);
    let first = config(vec![a.server("a"), b.server("b")], &url, dir.path());
    let service = Service::start(first).await.expect("the service starts");
    let connected = |name: &str| {
        service
            .supervisor()
            .get(name)
            .is_some_and(|p| p.session().is_some())
    };
    wait_until("a and b connected", LIMIT, || {
        connected("a") && connected("b")
    })
    .await;
    let a_before = service.supervisor().get("a").unwrap().session();
    let logins_a = a.sim.logins();

    let second = config(vec![a.server("a"), c.server("c")], &url, dir.path());
    let reloaded = service.reload(Arc::new(second)).await.expect("applied");
    assert_eq!(reloaded.pipelines.kept, ["a"]);
    assert_eq!(reloaded.pipelines.stopped, ["b"]);
    assert_eq!(reloaded.pipelines.started, ["c"]);
    let change = reloaded.change;
    assert_eq!(change.removed, vec!["b".to_string()]);
    assert_eq!(change.unchanged, vec!["a".to_string()]);
    assert_eq!(change.added.len(), 1);
    wait_until("c connected", LIMIT, || connected("c")).await;
    assert!(service.supervisor().get("b").is_none(), "b still runs");
    wait_until("b's session closed", LIMIT, || {
        b.sim.clients_connected() == 0
    })
    .await;

    let a_after = service.supervisor().get("a").unwrap();
    assert_eq!(a_after.session(), a_before, "a got a new session");
    assert_eq!(a_after.status(0).reconnects, 0);
    assert_eq!(a.sim.logins(), logins_a, "a logged in again");
    assert_eq!(service.supervisor().names(), vec!["a", "c"]);
    service.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_hundred_pbxes_in_one_process_and_a_dead_one_harms_none() {
    let dir = tempfile::tempdir().unwrap();
    let url = format!("sqlite://{}", dir.path().join("calls.db").display());
    let pbx = Pbx::quiet().await;
    let mut servers: Vec<_> = (0..100)
        .map(|i| pbx.server(&format!("pbx{i:03}")))
        .collect();
    // A PBX that is down: nothing listens on its port.
    let closed = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let mut dead = pbx.server("dead");
    dead.port = closed.local_addr().unwrap().port();
    drop(closed);
    servers.push(dead);
    let service = Service::start(config(servers, &url, dir.path()))
        .await
        .expect("the service starts");
    wait_until("100 sessions up", LIMIT, || {
        service
            .statuses()
            .iter()
            .filter(|s| s.state == service::ConnectionState::Connected)
            .count()
            == 100
    })
    .await;
    let dead = service.supervisor().get("dead").unwrap().status(0);
    assert_ne!(dead.state, service::ConnectionState::Connected);
    assert_eq!(pbx.sim.logins(), 100);
    service.shutdown().await;
    pbx.sim.shutdown().await;
}

/// switchboard itself restarts (SIGTERM, then a new process on the same configuration)
/// while calls are in progress: the new process takes them back from the checkpoint the
/// old one wrote, so each such call ends with one record that keeps what was known before
/// the restart — its exact start and answer times and its legs — instead of being adopted
/// afresh from the PBX's channel list, which knows none of that.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_restart_of_switchboard_resumes_the_calls_in_progress_with_their_history() {
    let dir = tempfile::tempdir().unwrap();
    let url = format!("sqlite://{}", dir.path().join("calls.db").display());
    let pbx = Pbx::generate(CALLS, 13, 2.0).await;
    let first = Service::start(config(vec![pbx.server("pbx1")], &url, dir.path()))
        .await
        .expect("the service starts");
    wait_until("answered calls in progress", LIMIT, || {
        first.supervisor().get("pbx1").is_some_and(|p| {
            p.tracker()
                .active_calls()
                .iter()
                .any(|c| c.answered_at.is_some())
        })
    })
    .await;
    let before: Vec<tracker::ActiveCall> = first
        .supervisor()
        .get("pbx1")
        .unwrap()
        .tracker()
        .active_calls();
    first.shutdown().await;

    let second = Service::start(config(vec![pbx.server("pbx1")], &url, dir.path()))
        .await
        .expect("the service starts again");
    check_history(&second, &pbx, "pbx1").await;
    let records = stored(&second).await;
    let mut resumed = 0;
    for call in &before {
        let Some(r) = records.iter().find(|r| r["id"] == call.id.as_str()) else {
            panic!(
                "{} was in progress at the restart and has no record",
                call.id
            );
        };
        if r["end"] != "hangup" {
            continue; // it ended during the restart: closed by the resync, as it should
        }
        resumed += 1;
        let json = |v: &Option<tracker::Timestamp>| serde_json::to_value(v).unwrap();
        assert_eq!(r["started_at"], json(&call.started_at), "start lost: {r}");
        if call.answered_at.is_some() {
            assert_eq!(
                r["answered_at"],
                json(&call.answered_at),
                "answer lost: {r}"
            );
        }
        for leg in &call.legs {
            let legs = r["legs"].as_array().unwrap();
            assert!(
                legs.iter().any(|l| l["uniqueid"] == leg.uniqueid.as_str()
                    && l["started_at"] == json(&leg.started_at)),
                "leg {} lost or changed: {r}",
                leg.uniqueid
            );
        }
    }
    assert!(
        resumed > 0,
        "no call in progress at the restart went on after it"
    );
    second.shutdown().await;
    pbx.sim.shutdown().await;
}
