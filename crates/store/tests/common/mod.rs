//! Shared by the integration tests: throwaway databases and call records.
#![allow(dead_code)]

use std::sync::atomic::{AtomicU32, Ordering};

use store::{Store, WriterConfig};
use tracker::{
    CallRecord, Direction, Disposition, EndReason, Hold, Leg, LegRole, Party, TimelineEntry,
    Timestamp, Transfer, TransferKind,
};

/// A database for one test: a SQLite file in a temporary directory, or a PostgreSQL schema
/// of its own (dropped afterwards) so parallel tests and other runs never collide.
pub struct TestDb {
    pub url: String,
    pub kind: &'static str,
    _dir: Option<tempfile::TempDir>,
    schema: Option<(String, String)>,
}

impl TestDb {
    pub fn sqlite() -> TestDb {
        let dir = tempfile::tempdir().unwrap();
        let url = format!("sqlite://{}", dir.path().join("calls.db").display());
        TestDb {
            url,
            kind: "sqlite",
            _dir: Some(dir),
            schema: None,
        }
    }

    /// `None` (with a message saying so) when `SWITCHBOARD_TEST_POSTGRES` is unset; in CI
    /// that fails the test instead (see the `testenv` crate).
    pub async fn postgres(test: &str) -> Option<TestDb> {
        let base = testenv::postgres(&format!("the PostgreSQL part of {test}"))?;
        static N: AtomicU32 = AtomicU32::new(0);
        let nanos = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .unwrap()
            .subsec_nanos();
        let schema = format!(
            "sbtest_{}_{}_{}",
            std::process::id(),
            N.fetch_add(1, Ordering::Relaxed),
            nanos
        );
        admin(&base, &format!("CREATE SCHEMA {schema}")).await;
        Some(TestDb {
            url: with_schema(&base, &schema),
            kind: "postgres",
            _dir: None,
            schema: Some((base, schema)),
        })
    }

    /// This database's URL with its host and port replaced (to go through a proxy).
    pub fn url_via(&self, addr: std::net::SocketAddr) -> String {
        let (scheme, rest) = self.url.split_once("://").unwrap();
        let (authority, path) = rest.split_at(rest.find('/').unwrap());
        let user = authority.rsplit_once('@').map(|(u, _)| format!("{u}@"));
        format!("{scheme}://{}{addr}{path}", user.unwrap_or_default())
    }

    pub async fn store(&self) -> Store {
        Store::connect(&self.url).await.unwrap()
    }
}

impl Drop for TestDb {
    fn drop(&mut self) {
        if let Some((base, schema)) = self.schema.take() {
            // Drop runs inside the test's runtime: use a thread with a runtime of its own.
            let _ = std::thread::spawn(move || {
                tokio::runtime::Builder::new_current_thread()
                    .enable_all()
                    .build()
                    .unwrap()
                    .block_on(admin(&base, &format!("DROP SCHEMA {schema} CASCADE")));
            })
            .join();
        }
    }
}

fn with_schema(base: &str, schema: &str) -> String {
    let sep = if base.contains('?') { '&' } else { '?' };
    format!("{base}{sep}options=-c%20search_path%3D{schema}")
}

async fn admin(url: &str, sql: &str) {
    use sqlx::Connection;
    let mut conn = sqlx::PgConnection::connect(url).await.unwrap();
    sqlx::raw_sql(sql).execute(&mut conn).await.unwrap();
    conn.close().await.unwrap();
}

/// Runs `body` against SQLite, then PostgreSQL if configured.
#[macro_export]
macro_rules! on_every_backend {
    ($name:literal, |$db:ident| $body:block) => {{
        {
            let $db = common::TestDb::sqlite();
            $body
        }
        if let Some($db) = common::TestDb::postgres($name).await {
            $body
        }
    }};
}

pub const T0: i64 = 1_795_526_382_000_000; // 2026-11-24T13:19:42Z

pub fn ts(micros: i64) -> Option<Timestamp> {
    Some(Timestamp(micros))
}

/// A plain answered internal call `from` → `to` starting at `T0 + n` seconds.
pub fn call(server: &str, n: i64, from: &str, to: &str) -> CallRecord {
    let start = T0 + n * 1_000_000;
    let linkedid = format!("1700000000.{n}");
    CallRecord {
        id: format!("{server}:{linkedid}"),
        server: server.into(),
        linkedid: linkedid.clone(),
        direction: Direction::Internal,
        from: Party {
            number: Some(from.into()),
            name: Some(format!("Phone {from}")),
            extension: Some(from.into()),
        },
        to: Party {
            number: Some(to.into()),
            name: None,
            extension: Some(to.into()),
        },
        answered_by: Some(to.into()),
        disposition: Disposition::Answered,
        hangup_cause: Some(16),
        hangup_cause_text: Some("Normal Clearing".into()),
        started_at: ts(start),
        answered_at: ts(start + 2_000_000),
        ended_at: ts(start + 30_000_000),
        ring_seconds: Some(2.0),
        talk_seconds: Some(28.0),
        queue: None,
        transfers: vec![],
        holds: vec![],
        voicemail: false,
        end: EndReason::Hangup,
        legs: vec![
            Leg {
                channel: format!("PJSIP/{from}-0000000{n}"),
                uniqueid: linkedid.clone(),
                endpoint: Some(from.into()),
                number: Some(from.into()),
                role: LegRole::Caller,
                started_at: ts(start),
                answered_at: ts(start + 2_000_000),
                ended_at: ts(start + 30_000_000),
                hangup_cause: Some(16),
            },
            Leg {
                channel: format!("PJSIP/{to}-0000001{n}"),
                uniqueid: format!("{linkedid}1"),
                endpoint: Some(to.into()),
                number: Some(to.into()),
                role: LegRole::Callee,
                started_at: ts(start),
                answered_at: ts(start + 2_000_000),
                ended_at: ts(start + 30_000_000),
                hangup_cause: Some(16),
            },
        ],
        timeline: vec![
            TimelineEntry {
                at: ts(start),
                kind: "ringing".into(),
                text: format!("{from} calls {to}"),
            },
            TimelineEntry {
                at: ts(start + 2_000_000),
                kind: "answered".into(),
                text: format!("{to} answers"),
            },
            TimelineEntry {
                at: ts(start + 30_000_000),
                kind: "hangup".into(),
                text: "Normal Clearing".into(),
            },
        ],
    }
}

/// An outbound call from `ext` to an external number through the trunk `pstn`.
pub fn outbound(server: &str, n: i64, ext: &str, number: &str) -> CallRecord {
    let mut r = call(server, n, ext, number);
    r.direction = Direction::Outbound;
    r.to.extension = None;
    r.answered_by = Some(number.into());
    r.legs[1].endpoint = Some("pstn".into());
    r
}

/// An inbound call on a DID that nobody answered.
pub fn missed_inbound(server: &str, n: i64, caller: &str, did: &str) -> CallRecord {
    let mut r = call(server, n, caller, did);
    r.direction = Direction::Inbound;
    r.from.extension = None;
    r.to.extension = None;
    r.answered_by = None;
    r.answered_at = None;
    r.talk_seconds = None;
    r.disposition = Disposition::NoAnswer;
    r.legs[0].endpoint = Some("pstn".into());
    r.legs[1].endpoint = Some("2005".into());
    r.legs[1].answered_at = None;
    r
}

/// A call 2001 → 2002 that 2002 blind-transfers to 2003, with a hold by 2002.
pub fn transferred(server: &str, n: i64) -> CallRecord {
    let mut r = call(server, n, "2001", "2002");
    let at = r.started_at.map(|t| Timestamp(t.0 + 10_000_000));
    r.transfers = vec![Transfer {
        kind: TransferKind::Blind,
        by: "2002".into(),
        to: "2003".into(),
        at,
    }];
    r.holds = vec![Hold {
        by: "2002".into(),
        held_at: at,
        unheld_at: None,
    }];
    r.legs.push(Leg {
        channel: "PJSIP/2003-00000099".into(),
        uniqueid: "1700000000.99".into(),
        endpoint: Some("2003".into()),
        number: Some("2003".into()),
        role: LegRole::TransferTarget,
        started_at: at,
        answered_at: at,
        ended_at: r.ended_at,
        hangup_cause: Some(16),
    });
    r
}

/// The writer's settings for tests: small batches, quick retries.
pub fn config(dir: &std::path::Path) -> WriterConfig {
    let mut c = WriterConfig::new(dir);
    c.batch_records = 100;
    c.batch_interval = std::time::Duration::from_millis(20);
    c.retry_min = std::time::Duration::from_millis(20);
    c.retry_max = std::time::Duration::from_millis(200);
    c
}

/// The journal segments in `dir` (and those of the earlier `.jsonl` format), in order.
pub fn segments(dir: &std::path::Path) -> Vec<std::path::PathBuf> {
    let mut v: Vec<_> = std::fs::read_dir(dir)
        .map(|d| {
            d.filter_map(|e| e.ok().map(|e| e.path()))
                .filter(|p| p.extension().is_some_and(|x| x == "jsonl" || x == "log"))
                .collect()
        })
        .unwrap_or_default();
    v.sort();
    v
}

/// The address of the server in a `postgres://` URL.
pub fn upstream_of(url: &str) -> std::net::SocketAddr {
    let rest = url.split_once("://").unwrap().1;
    let authority = &rest[..rest.find('/').unwrap_or(rest.len())];
    let host_port = authority.rsplit_once('@').map_or(authority, |(_, h)| h);
    let host_port = if host_port.contains(':') {
        host_port.to_string()
    } else {
        format!("{host_port}:5432")
    };
    use std::net::ToSocketAddrs;
    host_port.to_socket_addrs().unwrap().next().unwrap()
}

/// A previous run that journals calls `0..n` and dies before the writer's tasks ever run
/// (no await on a single-threaded runtime, then no shutdown), like a process killed right
/// after its submissions.
pub fn crashed_run(url: &str, config: WriterConfig, n: i64) {
    let url = url.to_string();
    std::thread::spawn(move || {
        let rt = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .unwrap();
        rt.block_on(async {
            let store = Store::connect_lazy(&url).unwrap();
            let writer = store::Writer::start(store, config).unwrap();
            for i in 0..n {
                writer.submit(call("pbx1", i, "2001", "2002"));
            }
            assert_eq!(writer.backlog().in_journal, n as u64);
            std::mem::forget(writer); // no Drop, no shutdown: a crash
        });
    })
    .join()
    .unwrap();
}
