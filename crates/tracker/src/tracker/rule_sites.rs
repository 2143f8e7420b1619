//! The answered_by and transfer rules each have one home. The compiler already keeps the
//! fields of `Answer` and `Transfers` private to theirs; this test also keeps the
//! constructors and updates those rules produce from reappearing anywhere else, where a
//! new handler could decide an answer or a transfer on its own.

use std::path::{Path, PathBuf};

/// Every `.rs` file under `src/`, as (path relative to `src/`, code without comments).
fn sources() -> Vec<(String, String)> {
    fn walk(dir: &Path, out: &mut Vec<PathBuf>) {
        for e in std::fs::read_dir(dir).expect("src directory") {
            let p = e.expect("entry").path();
            if p.is_dir() {
                walk(&p, out);
            } else if p.extension().is_some_and(|x| x == "rs") {
                out.push(p);
            }
        }
    }
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("src");
    let mut files = Vec::new();
    walk(&root, &mut files);
    files
        .into_iter()
        .map(|p| {
            let text = std::fs::read_to_string(&p).expect("readable source");
            let code: Vec<&str> = text
                .lines()
                .filter(|l| !l.trim_start().starts_with("//"))
                .map(|l| l.split(" // ").next().unwrap_or(l))
                .collect();
            let rel = p.strip_prefix(&root).expect("under src");
            (rel.to_string_lossy().replace('\\', "/"), code.join("\n"))
        })
        .collect()
}

/// Files other than `home` (and this one) whose code contains any of `needles`.
fn sites_outside(home: &str, needles: &[&str]) -> Vec<String> {
    sources()
        .iter()
        .filter(|(f, _)| f != home && f != "tracker/rule_sites.rs")
        .flat_map(|(f, code)| {
            needles
                .iter()
                .filter(|n| code.contains(**n))
                .map(move |n| format!("{f}: {n}"))
        })
        .collect()
}

fn code_of(file: &str) -> String {
    sources()
        .into_iter()
        .find(|(f, _)| f == file)
        .map(|(_, c)| c)
        .unwrap_or_else(|| panic!("{file} is gone: update this test"))
}

#[test]
fn answered_by_is_decided_only_in_answering() {
    let home = "tracker/call/answering.rs";
    let needles = [
        "Answerer::",
        "Answer {",
        ".answer =",
        ".answered_by =",
        ".answered_at =",
        "Update::CallAnswered",
    ];
    assert_eq!(sites_outside(home, &needles), Vec::<String>::new());
    let code = code_of(home);
    // One decision, applied in one place: the needles must still name what answering.rs
    // does, or this test checks nothing.
    assert_eq!(code.matches("call.answer = Answer {").count(), 1);
    assert_eq!(
        code.matches("decide(call, sign, t, &self.config)").count(),
        1
    );
    assert_eq!(code.matches("Update::CallAnswered").count(), 1);
}

#[test]
fn transfers_are_made_only_in_transfers() {
    let home = "tracker/call/transfers.rs";
    let needles = [
        "Transfer {",
        "TransferKind::",
        "Update::CallTransferred",
        "LegRole::TransferTarget",
        "blind_pending",
        ".transfers.list.",
        ".transfers =",
        "fn fold(",
    ];
    let outside: Vec<String> = sites_outside(home, &needles)
        .into_iter()
        // The type itself is declared with the record.
        .filter(|s| s != "record.rs: Transfer {")
        .collect();
    assert_eq!(outside, Vec::<String>::new());
    let code = code_of(home);
    assert_eq!(code.matches("Update::CallTransferred").count(), 1);
    assert_eq!(code.matches(".transfers.list.push(").count(), 1);
    for kind in [
        "TransferKind::Blind,",
        "TransferKind::Attended,",
        "\"ami:Redirect\"",
    ] {
        assert!(code.contains(kind), "{kind}");
    }
}
