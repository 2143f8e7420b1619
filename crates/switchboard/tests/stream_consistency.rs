//! The live stream against the service's own views: a client's snapshot with every later
//! update applied to it is, at any point, what `/api/calls`, `/api/extensions` and
//! `/api/queues` show (the tracker's views, which those routes serialize).
//!
//! Real traffic from the simulated PBX through the real AMI client, tracker and pipeline;
//! clients subscribe to the service's hub before any call, in the middle, and resume.

mod service_common;

use serde_json::Value;
use service::Service;
use service_common::{config, open_calls, wait_until, Pbx};
use std::collections::BTreeMap;
use std::time::Duration;
use stream::{Filter, Next, Subscription};

const LIMIT: Duration = Duration::from_secs(120);

/// What a client keeps: the contract's maps, keyed as `stream::message` says.
#[derive(Default)]
struct Client {
    seq: u64,
    token: String,
    calls: BTreeMap<String, Value>,
    extensions: BTreeMap<(String, String), Value>,
    queues: BTreeMap<(String, String), Value>,
    snapshots: usize,
    updates: usize,
}

fn key2(server: &Value, name: &Value) -> (String, String) {
    (
        server.as_str().unwrap_or_default().to_string(),
        name.as_str().unwrap_or_default().to_string(),
    )
}

impl Client {
    fn apply(&mut self, id: Option<&str>, json: &[u8]) {
        let m: Value = serde_json::from_slice(json).expect("every message is JSON");
        match m["type"].as_str() {
            Some("snapshot") => {
                self.snapshots += 1;
                self.seq = m["seq"].as_u64().unwrap();
                self.calls.clear();
                self.extensions.clear();
                self.queues.clear();
                for c in m["calls"].as_array().unwrap() {
                    self.calls
                        .insert(c["id"].as_str().unwrap().to_string(), c.clone());
                }
                for e in m["extensions"].as_array().unwrap() {
                    self.extensions
                        .insert(key2(&e["server"], &e["extension"]), e.clone());
                }
                for q in m["queues"].as_array().unwrap() {
                    self.queues
                        .insert(key2(&q["server"], &q["name"]), q.clone());
                }
            }
            Some("update") => {
                self.updates += 1;
                let seq = m["seq"].as_u64().unwrap();
                assert_eq!(seq, self.seq + 1, "a gap in seq after {}", self.seq);
                self.seq = seq;
                let data = m["data"].clone();
                let removes = matches!(m["event"].as_str(), Some("ended" | "merged" | "removed"));
                match m["kind"].as_str().unwrap() {
                    "call" => {
                        let k = data["id"].as_str().unwrap().to_string();
                        if removes {
                            self.calls.remove(&k);
                        } else {
                            self.calls.insert(k, data);
                        }
                    }
                    "extension" => {
                        let k = key2(&m["server"], &data["extension"]);
                        if removes {
                            self.extensions.remove(&k);
                        } else {
                            self.extensions.insert(k, data);
                        }
                    }
                    "queue" => {
                        let k = key2(&m["server"], &data["name"]);
                        if removes {
                            self.queues.remove(&k);
                        } else {
                            self.queues.insert(k, data);
                        }
                    }
                    "server" => {}
                    other => panic!("unknown kind {other}"),
                }
            }
            other => panic!("unexpected message {other:?}"),
        }
        if let Some(id) = id {
            self.token = id.to_string();
        }
    }

    /// Reads until the client has applied `seq`.
    async fn catch_up(&mut self, sub: &mut Subscription, seq: u64) {
        while self.seq < seq {
            match tokio::time::timeout(LIMIT, sub.next()).await {
                Ok(Next::Message(m)) => self.apply(m.id.as_deref(), &m.json),
                Ok(Next::Close(why)) => panic!("the stream closed: {why}"),
                Err(_) => panic!("no update for {LIMIT:?} at seq {}", self.seq),
            }
        }
    }
}

/// The service's views of `pbx1` and the stream's sequence number they reflect, taken under
/// the tracker's lock (the pipeline publishes under it, so nothing moves meanwhile).
fn views(service: &Service) -> (u64, Value, Value, Value) {
    let pipeline = service.supervisor().get("pbx1").unwrap();
    let tracker = pipeline.tracker();
    let seq = service.hub().seq();
    let mut calls: Vec<Value> = tracker
        .active_calls()
        .iter()
        .map(|c| serde_json::to_value(c).unwrap())
        .collect();
    calls.sort_by(|a, b| a["id"].as_str().cmp(&b["id"].as_str()));
    let mut ext: Vec<Value> = tracker
        .extensions()
        .iter()
        .map(|c| serde_json::to_value(c).unwrap())
        .collect();
    ext.sort_by(|a, b| a["extension"].as_str().cmp(&b["extension"].as_str()));
    let mut queues: Vec<Value> = tracker
        .queues()
        .iter()
        .map(|c| serde_json::to_value(c).unwrap())
        .collect();
    queues.sort_by(|a, b| a["name"].as_str().cmp(&b["name"].as_str()));
    (
        seq,
        Value::from(calls),
        Value::from(ext),
        Value::from(queues),
    )
}

fn assert_same(client: &Client, calls: &Value, ext: &Value, queues: &Value, when: &str) {
    let c = Value::from(client.calls.values().cloned().collect::<Vec<_>>());
    assert_eq!(
        &c, calls,
        "{when}: the stream's calls differ from /api/calls"
    );
    let e = Value::from(client.extensions.values().cloned().collect::<Vec<_>>());
    assert_eq!(
        &e, ext,
        "{when}: the stream's extensions differ from /api/extensions"
    );
    let q = Value::from(client.queues.values().cloned().collect::<Vec<_>>());
    assert_eq!(
        &q, queues,
        "{when}: the stream's queues differ from /api/queues"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn snapshot_plus_updates_is_the_rest_views_at_every_point_and_resume_loses_nothing() {
    let dir = tempfile::tempdir().unwrap();
    let url = format!("sqlite://{}", dir.path().join("calls.db").display());
    let pbx = Pbx::generate(24, 7, 20.0).await;
    let service = Service::start(config(vec![pbx.server("pbx1")], &url, dir.path()))
        .await
        .expect("the service starts");
    let hub = service.hub().clone();
    let mut early_sub = hub.subscribe(Filter::all(), None);
    let mut early = Client::default();
    match early_sub.next().await {
        Next::Message(m) => early.apply(m.id.as_deref(), &m.json),
        Next::Close(why) => panic!("closed: {why}"),
    }

    wait_until("calls in progress", LIMIT, || {
        pbx.truth().len() >= 3 && open_calls(&service, "pbx1") > 0
    })
    .await;
    // A client that joins mid-traffic: its snapshot has calls in progress.
    let mut late_sub = hub.subscribe(Filter::all(), None);
    let mut late = Client::default();
    match late_sub.next().await {
        Next::Message(m) => late.apply(m.id.as_deref(), &m.json),
        Next::Close(why) => panic!("closed: {why}"),
    }
    assert_eq!(late.snapshots, 1);
    assert!(
        !late.calls.is_empty(),
        "a snapshot taken mid-call holds the call"
    );

    // Three checkpoints while calls come and go, then the end.
    for point in 0..3 {
        tokio::time::sleep(Duration::from_millis(700)).await;
        let (seq, calls, ext, queues) = views(&service);
        early.catch_up(&mut early_sub, seq).await;
        late.catch_up(&mut late_sub, seq).await;
        assert_same(
            &early,
            &calls,
            &ext,
            &queues,
            &format!("early client, point {point}"),
        );
        assert_same(
            &late,
            &calls,
            &ext,
            &queues,
            &format!("late client, point {point}"),
        );
    }

    // A client that drops and resumes from its last token gets exactly what it missed.
    let token = late.token.clone();
    drop(late_sub);
    tokio::time::sleep(Duration::from_millis(500)).await;
    let mut resumed_sub = hub.subscribe(Filter::all(), Some(&token));

    wait_until("every generated call to end", LIMIT, || {
        pbx.truth().len() >= 24 && pbx.sim.channels_up() == 0
    })
    .await;
    wait_until("the tracker to close every call", LIMIT, || {
        open_calls(&service, "pbx1") == 0
    })
    .await;
    let (seq, calls, ext, queues) = views(&service);
    early.catch_up(&mut early_sub, seq).await;
    late.catch_up(&mut resumed_sub, seq).await;
    assert_eq!(
        late.snapshots, 1,
        "the resume was served from the ring, not a snapshot"
    );
    assert_same(&early, &calls, &ext, &queues, "early client, at the end");
    assert_same(&late, &calls, &ext, &queues, "resumed client, at the end");
    assert!(early.updates > 100, "only {} updates", early.updates);

    // A token of another run gets a fresh snapshot that says the resume failed.
    let mut stranger = hub.subscribe(Filter::all(), Some("0000000000000000-5"));
    match stranger.next().await {
        Next::Message(m) => {
            let v: Value = serde_json::from_slice(&m.json).unwrap();
            assert_eq!(v["type"], "snapshot");
            assert_eq!(v["resumed"], false);
        }
        Next::Close(why) => panic!("closed: {why}"),
    }

    // Shutdown: every client is told why.
    hub.close("the service is shutting down");
    loop {
        match tokio::time::timeout(LIMIT, early_sub.next()).await.unwrap() {
            Next::Message(m) if m.kind == "bye" => continue,
            Next::Message(_) => continue,
            Next::Close(why) => {
                assert_eq!(why, "the service is shutting down");
                break;
            }
        }
    }
    service.shutdown().await;
    pbx.sim.shutdown().await;
}
