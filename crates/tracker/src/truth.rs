//! Ground-truth matching: the rules of `tools/truthcheck.py`, in Rust, so `cargo test` pins
//! every recording with the same judgement as the acceptance checks.
//!
//! A ground-truth call (`caller`, `called`, `answered_by`, `disposition`, `transfers`,
//! `queue`) matches a record when `from.number == caller`, `to.number == called`, the
//! dispositions are equal, `answered_by` agrees (a digit string must be equal; `null` wants
//! none; `voicemail…` accepts none or a voicemail marker; a non-digit name — a trunk — accepts
//! any answerer), the transfers agree as sorted `(kind, by, to)` (any `by` for an `ami:`
//! transfer), and the queue name agrees when the truth names one. Every non-optional truth
//! call must be matched by a distinct record; every record must match a truth call (an
//! unmatched record is allowed only when it matches an optional one).

use serde_json::Value;

fn num(p: &Value) -> Option<String> {
    match p {
        Value::Null => None,
        Value::String(s) => Some(s.clone()),
        Value::Object(o) => o
            .get("number")
            .filter(|v| v.as_str().is_some_and(|s| !s.is_empty()))
            .or_else(|| o.get("extension"))
            .and_then(|v| v.as_str().map(str::to_string)),
        _ => None,
    }
}

fn s(v: Option<&Value>) -> String {
    // Python's str() of the value: None for missing/null.
    match v.and_then(num) {
        Some(x) => x,
        None => "None".into(),
    }
}

fn answered_ok(gt: &Value, rec: &Value) -> bool {
    let got = rec
        .get("answered_by")
        .and_then(num)
        .filter(|g| !g.is_empty());
    let Some(want) = gt.get("answered_by").and_then(Value::as_str) else {
        return got.is_none();
    };
    if want.starts_with("voicemail") {
        return match got {
            None => true,
            Some(g) => g.to_lowercase().contains("voicemail"),
        };
    }
    if !want.chars().all(|c| c.is_ascii_digit()) || want.is_empty() {
        return got.is_some() || rec.get("disposition").and_then(Value::as_str) == Some("answered");
    }
    got.as_deref() == Some(want)
}

fn transfers_of(x: &Value) -> Vec<(String, String, String)> {
    let mut out: Vec<_> = x
        .get("transfers")
        .and_then(Value::as_array)
        .map(|a| {
            a.iter()
                .map(|t| {
                    (
                        t.get("kind")
                            .and_then(Value::as_str)
                            .unwrap_or("")
                            .to_string(),
                        s(t.get("by")),
                        s(t.get("to")),
                    )
                })
                .collect()
        })
        .unwrap_or_default();
    out.sort();
    out
}

/// Why `rec` does not match the ground-truth call `gt` (empty when it does).
pub fn mismatches(gt: &Value, rec: &Value) -> Vec<String> {
    let mut why = Vec::new();
    let caller = gt.get("caller").and_then(Value::as_str).unwrap_or("");
    let called = gt.get("called").and_then(Value::as_str).unwrap_or("");
    let from = s(rec.get("from"));
    let to = s(rec.get("to"));
    if from != caller {
        why.push(format!("from {from}!={caller}"));
    }
    if to != called {
        why.push(format!("to {to}!={called}"));
    }
    let (dr, dg) = (rec.get("disposition"), gt.get("disposition"));
    if dr != dg {
        why.push(format!("disposition {dr:?}!={dg:?}"));
    }
    if !answered_ok(gt, rec) {
        why.push(format!(
            "answered_by {:?}!={:?}",
            rec.get("answered_by"),
            gt.get("answered_by")
        ));
    }
    let (mut tg, mut tr) = (transfers_of(gt), transfers_of(rec));
    tg.sort_by(|a, b| (&a.0, &a.2).cmp(&(&b.0, &b.2)));
    tr.sort_by(|a, b| (&a.0, &a.2).cmp(&(&b.0, &b.2)));
    let same = tg.len() == tr.len()
        && tg
            .iter()
            .zip(&tr)
            .all(|(g, r)| g.0 == r.0 && g.2 == r.2 && (g.1 == r.1 || g.1.starts_with("ami:")));
    if !same {
        why.push(format!("transfers {tr:?}!={tg:?}"));
    }
    if let Some(q) = gt
        .get("queue")
        .and_then(Value::as_str)
        .filter(|q| !q.is_empty())
    {
        let rq = match rec.get("queue") {
            Some(Value::Object(o)) => o.get("name").and_then(Value::as_str).map(str::to_string),
            Some(Value::String(s)) => Some(s.clone()),
            _ => None,
        };
        if rq.as_deref() != Some(q) {
            why.push(format!("queue {rq:?}!={q}"));
        }
    }
    why
}

/// A ground-truth call a faithful tracker may leave out.
pub fn is_optional(gt: &Value) -> bool {
    gt.get("optional").and_then(Value::as_bool).unwrap_or(false)
        || gt
            .get("note")
            .and_then(Value::as_str)
            .is_some_and(|n| n.contains("merged"))
        || gt.get("observable_in_ami") == Some(&Value::Bool(false))
}

/// Problems between produced records and ground-truth calls; empty when they agree.
pub fn compare(recs: &[Value], calls: &[Value]) -> Vec<String> {
    let mut used = vec![false; recs.len()];
    let mut problems = Vec::new();
    for gt in calls {
        let caller = gt.get("caller").and_then(Value::as_str).unwrap_or("");
        let mut best: Option<(usize, Vec<String>)> = None;
        for (i, r) in recs.iter().enumerate() {
            if used[i] || s(r.get("from")) != caller {
                continue;
            }
            let w = mismatches(gt, r);
            if w.is_empty() {
                best = Some((i, w));
                break;
            }
            if best.as_ref().map(|b| w.len() < b.1.len()).unwrap_or(true) {
                best = Some((i, w));
            }
        }
        match best {
            Some((i, w)) if w.is_empty() => used[i] = true,
            _ if is_optional(gt) => {}
            b => problems.push(format!(
                "{caller}->{}: {}",
                gt.get("called").and_then(Value::as_str).unwrap_or(""),
                b.map_or("no record".into(), |b| b.1.join("; "))
            )),
        }
    }
    let optional: Vec<&Value> = calls.iter().filter(|g| is_optional(g)).collect();
    for (i, r) in recs.iter().enumerate() {
        if used[i] || optional.iter().any(|g| mismatches(g, r).is_empty()) {
            continue;
        }
        problems.push(format!(
            "invented call {}->{} {:?}",
            s(r.get("from")),
            s(r.get("to")),
            r.get("disposition")
        ));
    }
    problems
}
