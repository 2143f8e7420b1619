//! The store against real databases: upserts, every history filter, paging, `get`.

mod common;

use std::collections::HashSet;

use common::{call, missed_inbound, outbound, transferred, T0};
use store::{HistoryQuery, QueryError, Store, StoreError};
use tracker::{Direction, Disposition, Timestamp};

async fn ids(store: &Store, q: HistoryQuery) -> Vec<String> {
    let page = store.history(&q).await.unwrap();
    page.calls.into_iter().map(|c| c.id).collect()
}

#[tokio::test]
async fn upsert_is_idempotent_and_updates_the_row() {
    on_every_backend!("upsert_is_idempotent_and_updates_the_row", |db| {
        let store = db.store().await;
        let mut r = call("pbx1", 1, "2001", "2002");
        store.upsert(&r).await.unwrap();
        store.upsert(&r).await.unwrap();
        store.upsert_batch(&[r.clone(), r.clone()]).await.unwrap();
        assert_eq!(store.count().await.unwrap(), 1, "{}", db.kind);

        // A resync learns more about the call: the row is replaced, not duplicated.
        r.disposition = Disposition::Busy;
        r.answered_by = None;
        store.upsert(&r).await.unwrap();
        assert_eq!(store.count().await.unwrap(), 1);
        assert_eq!(store.get(&r.id).await.unwrap(), Some(r.clone()));
        // The indexed copies follow the record too.
        let q = HistoryQuery {
            disposition: Some(Disposition::Answered),
            ..Default::default()
        };
        assert!(ids(&store, q).await.is_empty(), "{}", db.kind);
        let q = HistoryQuery {
            disposition: Some(Disposition::Busy),
            ..Default::default()
        };
        assert_eq!(ids(&store, q).await, vec![r.id.clone()]);

        // Within one batch the later version wins.
        let mut later = r.clone();
        later.disposition = Disposition::Failed;
        store
            .upsert_batch(&[r.clone(), later.clone()])
            .await
            .unwrap();
        assert_eq!(store.get(&r.id).await.unwrap(), Some(later));

        // Reconnecting runs the migrations again: a no-op on an up-to-date schema.
        store.close().await;
        let again = db.store().await;
        assert_eq!(again.count().await.unwrap(), 1);
    });
}

#[tokio::test]
async fn get_returns_the_record_with_its_timeline() {
    on_every_backend!("get_returns_the_record_with_its_timeline", |db| {
        let store = db.store().await;
        let r = transferred("pbx1", 7);
        assert_eq!(r.timeline.len(), 3);
        store.upsert(&r).await.unwrap();
        let got = store.get(&r.id).await.unwrap().unwrap();
        assert_eq!(got, r, "{}", db.kind);
        assert_eq!(got.timeline, r.timeline);
        assert_eq!(store.get("pbx1:nope").await.unwrap(), None);
    });
}

#[tokio::test]
async fn every_filter_selects_exactly_its_calls() {
    on_every_backend!("every_filter_selects_exactly_its_calls", |db| {
        let store = db.store().await;
        let a = call("pbx1", 1, "2001", "2002"); // internal, answered
        let b = outbound("pbx1", 2, "2004", "01759605969"); // outbound
        let c = missed_inbound("pbx2", 3, "0301234567", "5550100"); // inbound, no answer
        let d = transferred("pbx2", 4); // 2001 -> 2002, transferred to 2003
        store
            .upsert_batch(&[a.clone(), b.clone(), c.clone(), d.clone()])
            .await
            .unwrap();
        let q = |f: fn(&mut HistoryQuery)| {
            let mut q = HistoryQuery::default();
            f(&mut q);
            q
        };
        // Newest first.
        assert_eq!(
            ids(&store, q(|_| {})).await,
            [d.id.as_str(), c.id.as_str(), b.id.as_str(), a.id.as_str()]
        );

        // since inclusive, until exclusive, on started_at.
        let at = |n: i64| Some(Timestamp(T0 + n * 1_000_000));
        let since = HistoryQuery {
            since: at(2),
            ..Default::default()
        };
        assert_eq!(
            ids(&store, since).await,
            [d.id.as_str(), c.id.as_str(), b.id.as_str()]
        );
        let until = HistoryQuery {
            until: at(3),
            ..Default::default()
        };
        assert_eq!(ids(&store, until).await, [b.id.as_str(), a.id.as_str()]);
        let both = HistoryQuery {
            since: at(2),
            until: at(4),
            ..Default::default()
        };
        assert_eq!(ids(&store, both).await, [c.id.as_str(), b.id.as_str()]);

        let ext = |e: &str| HistoryQuery {
            extension: Some(e.into()),
            ..Default::default()
        };
        // As caller, as callee/answerer.
        assert_eq!(
            ids(&store, ext("2001")).await,
            [d.id.as_str(), a.id.as_str()]
        );
        assert_eq!(
            ids(&store, ext("2002")).await,
            [d.id.as_str(), a.id.as_str()]
        );
        // Only as a transfer target.
        assert_eq!(ids(&store, ext("2003")).await, [d.id.as_str()]);
        // Only as the endpoint of a leg (rang, nobody answered).
        assert_eq!(ids(&store, ext("2005")).await, [c.id.as_str()]);
        assert_eq!(ids(&store, ext("2004")).await, [b.id.as_str()]);
        // Exact, not substring.
        assert!(ids(&store, ext("200")).await.is_empty());

        // number: substring of from.number or to.number.
        let num = |n: &str| HistoryQuery {
            number: Some(n.into()),
            ..Default::default()
        };
        assert_eq!(ids(&store, num("9605969")).await, [b.id.as_str()]);
        assert_eq!(ids(&store, num("01759605969")).await, [b.id.as_str()]);
        assert_eq!(ids(&store, num("5550100")).await, [c.id.as_str()]);
        assert_eq!(ids(&store, num("0301234")).await, [c.id.as_str()]);
        assert_eq!(
            ids(&store, num("2001")).await,
            [d.id.as_str(), a.id.as_str()]
        );
        assert!(ids(&store, num("%")).await.is_empty(), "no LIKE wildcards");

        let disp = |d| HistoryQuery {
            disposition: Some(d),
            ..Default::default()
        };
        assert_eq!(
            ids(&store, disp(Disposition::NoAnswer)).await,
            [c.id.as_str()]
        );
        assert_eq!(
            ids(&store, disp(Disposition::Answered)).await,
            [d.id.as_str(), b.id.as_str(), a.id.as_str()]
        );
        assert!(ids(&store, disp(Disposition::Abandoned)).await.is_empty());

        let dir = |d| HistoryQuery {
            direction: Some(d),
            ..Default::default()
        };
        assert_eq!(ids(&store, dir(Direction::Outbound)).await, [b.id.as_str()]);
        assert_eq!(ids(&store, dir(Direction::Inbound)).await, [c.id.as_str()]);
        assert_eq!(
            ids(&store, dir(Direction::Internal)).await,
            [d.id.as_str(), a.id.as_str()]
        );

        let server = |s: &str| HistoryQuery {
            server: Some(s.into()),
            ..Default::default()
        };
        assert_eq!(
            ids(&store, server("pbx2")).await,
            [d.id.as_str(), c.id.as_str()]
        );
        assert!(ids(&store, server("pbx")).await.is_empty());

        // Filters combine with AND.
        let combo = HistoryQuery {
            server: Some("pbx2".into()),
            extension: Some("2001".into()),
            disposition: Some(Disposition::Answered),
            ..Default::default()
        };
        assert_eq!(ids(&store, combo).await, [d.id.as_str()]);

        // The same through URL parameters, as the HTTP layer passes them.
        let q = HistoryQuery::parse("direction=outbound&number=960").unwrap();
        assert_eq!(ids(&store, q).await, [b.id.as_str()]);

        // The SQL and the in-memory rules (`HistoryQuery::matches`, which the HTTP API's
        // backends may use) select the same calls, for every filter and some combinations.
        let all = [&a, &b, &c, &d];
        for raw in [
            "",
            "extension=2001",
            "extension=2002",
            "extension=2003",
            "extension=2004",
            "extension=2005",
            "extension=200",
            "number=9605969",
            "number=5550100",
            "number=2001",
            "number=%25",
            "disposition=answered",
            "disposition=no_answer",
            "direction=inbound",
            "direction=internal",
            "server=pbx2",
            "since=2026-11-24T13:19:44Z",
            "until=2026-11-24T13:19:45Z",
            "since=2026-11-24T13:19:43Z&until=2026-11-24T13:19:46Z",
            "server=pbx2&extension=2001&disposition=answered",
        ] {
            let q = HistoryQuery::parse(raw).unwrap();
            let mut expected: Vec<_> = all.iter().filter(|r| q.matches(r)).collect();
            expected.sort_by_key(|r| std::cmp::Reverse((r.started_at, r.id.clone())));
            let expected: Vec<String> = expected.iter().map(|r| r.id.clone()).collect();
            assert_eq!(ids(&store, q).await, expected, "{raw} on {}", db.kind);
        }
    });
}

#[tokio::test]
async fn bad_queries_are_client_errors() {
    on_every_backend!("bad_queries_are_client_errors", |db| {
        let store = db.store().await;
        let q = HistoryQuery {
            since: Some(Timestamp(T0 + 10)),
            until: Some(Timestamp(T0)),
            ..Default::default()
        };
        let err = store.history(&q).await.unwrap_err();
        assert!(err.is_client_error(), "{err}");
        assert!(
            matches!(&err, StoreError::Query(QueryError::Invalid(e)) if e.parameter == "until"),
            "{err}"
        );
        let q = HistoryQuery {
            limit: 0,
            ..Default::default()
        };
        let err = store.history(&q).await.unwrap_err();
        assert!(err.is_client_error(), "{err}");
        let q = HistoryQuery::parse("cursor=not-a-cursor").unwrap();
        let err = store.history(&q).await.unwrap_err();
        assert!(
            matches!(err, StoreError::Query(QueryError::BadCursor)),
            "{err}"
        );
    });
}

#[tokio::test]
async fn pages_cover_everything_once_even_while_calls_arrive() {
    on_every_backend!(
        "pages_cover_everything_once_even_while_calls_arrive",
        |db| {
            let store = db.store().await;
            // 230 calls, with runs of equal started_at so the id tie-break is exercised.
            let mut all = Vec::new();
            for n in 0..230 {
                let mut r = call("pbx1", n, "2001", "2002");
                r.started_at = Some(Timestamp(T0 + (n / 3) * 1_000_000));
                all.push(r);
            }
            store.upsert_batch(&all).await.unwrap();

            // Page with limit 17 while another task keeps storing newer and older calls.
            let writer = {
                let store = store.clone();
                tokio::spawn(async move {
                    for n in 0..60 {
                        let newer = call("pbx9", 10_000 + n, "2001", "2002");
                        let mut older = call("pbx8", 20_000 + n, "2001", "2002");
                        older.started_at = Some(Timestamp(T0 - 1_000_000_000 - n));
                        store.upsert_batch(&[newer, older]).await.unwrap();
                        tokio::task::yield_now().await;
                    }
                })
            };
            let mut seen = Vec::new();
            let mut cursor = None;
            let mut pages = 0;
            loop {
                let q = HistoryQuery {
                    server: Some("pbx1".into()),
                    limit: 17,
                    cursor,
                    ..Default::default()
                };
                let page = store.history(&q).await.unwrap();
                assert!(page.calls.len() <= 17);
                seen.extend(page.calls.iter().map(|c| (c.started_at, c.id.clone())));
                pages += 1;
                match page.next_cursor {
                    Some(c) => cursor = Some(c),
                    None => break,
                }
            }
            writer.await.unwrap();
            assert_eq!(pages, 230usize.div_ceil(17), "{}", db.kind);
            let unique: HashSet<_> = seen.iter().map(|(_, id)| id.clone()).collect();
            assert_eq!(unique.len(), seen.len(), "no call served twice");
            let expected: HashSet<_> = all.iter().map(|r| r.id.clone()).collect();
            assert_eq!(unique, expected, "no call skipped");
            let mut sorted = seen.clone();
            sorted.sort_by(|a, b| b.cmp(a));
            assert_eq!(seen, sorted, "newest first, ties by id descending");

            // Unfiltered paging while inserting: every call stored before paging began is
            // served exactly once (calls stored meanwhile may or may not appear).
            let before: HashSet<_> = {
                let mut ids = HashSet::new();
                let mut cursor = None;
                loop {
                    let q = HistoryQuery {
                        limit: 500,
                        cursor,
                        ..Default::default()
                    };
                    let page = store.history(&q).await.unwrap();
                    ids.extend(page.calls.into_iter().map(|c| c.id));
                    match page.next_cursor {
                        Some(c) => cursor = Some(c),
                        None => break,
                    }
                }
                ids
            };
            assert_eq!(before.len(), 230 + 120);
            let writer = {
                let store = store.clone();
                tokio::spawn(async move {
                    for n in 0..40 {
                        let mut r = call("pbx7", 30_000 + n, "2001", "2002");
                        r.started_at = Some(Timestamp(T0 + (n % 5 - 2) * 10_000_000));
                        store.upsert(&r).await.unwrap();
                    }
                })
            };
            let mut served = Vec::new();
            let mut cursor: Option<String> = None;
            loop {
                let q = HistoryQuery {
                    limit: 9,
                    cursor: cursor.clone(),
                    ..Default::default()
                };
                let page = store.history(&q).await.unwrap();
                served.extend(page.calls.into_iter().map(|c| c.id));
                match page.next_cursor {
                    Some(c) => cursor = Some(c),
                    None => break,
                }
                tokio::task::yield_now().await;
            }
            writer.await.unwrap();
            let unique: HashSet<_> = served.iter().cloned().collect();
            assert_eq!(unique.len(), served.len(), "no call served twice");
            assert!(before.is_subset(&unique), "no call skipped");

            // The default and the largest page size.
            let page = store.history(&HistoryQuery::default()).await.unwrap();
            assert_eq!(page.calls.len(), store::DEFAULT_LIMIT as usize);
            let q = HistoryQuery {
                limit: store::MAX_LIMIT,
                ..Default::default()
            };
            let page = store.history(&q).await.unwrap();
            assert_eq!(page.calls.len(), 390);
            assert_eq!(page.next_cursor, None);
        }
    );
}

#[tokio::test]
async fn urls_are_checked_and_sqlite_directories_created() {
    let err = Store::connect("mysql://root@localhost/db")
        .await
        .unwrap_err();
    assert!(matches!(err, StoreError::UnsupportedUrl(_)), "{err}");
    let err = Store::connect("postgres://u:hunter2@127.0.0.1:1/db")
        .await
        .unwrap_err();
    assert!(
        !err.to_string().contains("hunter2"),
        "password shown: {err}"
    );
    let dir = tempfile::tempdir().unwrap();
    let url = format!("sqlite://{}", dir.path().join("a/b/calls.db").display());
    let store = Store::connect(&url).await.unwrap();
    assert_eq!(store.backend(), "sqlite");
    assert!(dir.path().join("a/b/calls.db").exists());
}

/// A call with hundreds of legs (a big ring group), many of them in one batch: the party
/// rows exceed SQLite's limit of bound values for one statement unless split.
#[tokio::test]
async fn calls_with_many_parties_store_and_filter() {
    on_every_backend!("calls_with_many_parties_store_and_filter", |db| {
        let store = db.store().await;
        let records: Vec<_> = (0..200)
            .map(|n| {
                let mut r = call("pbx1", n, "2001", "2002");
                let template = r.legs[1].clone();
                for e in 0..300 {
                    let mut leg = template.clone();
                    leg.endpoint = Some(format!("{}", 30000 + e));
                    r.legs.push(leg);
                }
                r
            })
            .collect();
        store.upsert_batch(&records).await.unwrap();
        let q = HistoryQuery {
            extension: Some("30299".into()),
            limit: 500,
            ..Default::default()
        };
        assert_eq!(
            store.history(&q).await.unwrap().calls.len(),
            200,
            "{}",
            db.kind
        );
    });
}
