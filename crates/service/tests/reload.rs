//! `diff` between configurations: only what changed is restarted.

use service::config::{Config, Sources};
use service::reload::diff;

fn config(toml: &str) -> Config {
    let dir = tempfile::tempdir().unwrap();
    let p = dir.path().join("switchboard.toml");
    std::fs::write(&p, toml).unwrap();
    Sources::empty().with_file(p).load().unwrap()
}

/// A server table; `extra` may set its own secret.
fn server(name: &str, extra: &str) -> String {
    let secret = if extra.contains("secret") {
        ""
    } else {
        "secret = \"s\"\n"
    };
    format!(
        "[[servers]]\nname = \"{name}\"\nhost = \"{name}.lan\"\nusername = \"u\"\n{secret}{extra}\n"
    )
}

#[test]
fn added_removed_changed_unchanged() {
    let old = config(
        &[
            server("a", ""),
            server("b", ""),
            server("c", "port = 5038"),
            server("d", ""),
            server("e", "enabled = false"),
        ]
        .concat(),
    );
    let new = config(
        &[
            server("a", ""),                                             // identical
            server("c", "port = 6000\nsecret = \"s2\"\nauth = \"md5\""), // changed, with b gone
            server("d", "port = 5038"),                                  // explicit default: same
            server("e", ""),                                             // enabled now: added
            server("f", ""),                                             // new
            "[http]\nready = \"any\"\n".to_string(),
        ]
        .concat(),
    );
    let ch = diff(&old, &new);
    let added: Vec<&str> = ch.added.iter().map(|s| s.name.as_str()).collect();
    assert_eq!(added, ["e", "f"]);
    assert_eq!(ch.removed, ["b"]);
    assert_eq!(ch.unchanged, ["a", "d"]);
    assert_eq!(ch.changed.len(), 1);
    assert_eq!(ch.changed[0].name, "c");
    assert_eq!(ch.changed[0].fields, ["port", "secret", "auth"]);
    assert_eq!(ch.changed[0].new.port, 6000);
    assert!(ch.http_changed && !ch.database_changed && !ch.log_changed);
    let line = ch.to_string();
    assert_eq!(
        line,
        "added e, f; removed b; changed c (port, secret, auth); [http] changed; 2 unchanged"
    );
    assert!(!line.contains("s2"));

    // Disabling is removing.
    let off = config(&[server("a", "enabled = false"), server("d", "")].concat());
    let ch = diff(&new, &off);
    assert_eq!(ch.removed, ["a", "c", "e", "f"]);
    assert_eq!(ch.unchanged, ["d"]);
}

#[test]
fn identical_configurations_make_an_empty_change() {
    let c = config(&[server("a", ""), server("b", "tls = true")].concat());
    let ch = diff(&c, &c.clone());
    assert!(ch.is_empty());
    assert_eq!(ch.unchanged, ["a", "b"]);
    assert_eq!(ch.to_string(), "no change (2 servers unchanged)");
}

#[test]
fn a_rewritten_secret_file_is_a_change() {
    let dir = tempfile::tempdir().unwrap();
    let secret = dir.path().join("pbx.secret");
    std::fs::write(&secret, "one\n").unwrap();
    let p = dir.path().join("switchboard.toml");
    std::fs::write(
        &p,
        "[[servers]]\nname = \"a\"\nhost = \"h\"\nusername = \"u\"\nsecret_file = \"pbx.secret\"\n[database]\nbatch_size = 10\n",
    )
    .unwrap();
    let sources = Sources::empty().with_file(&p);
    let old = sources.load().unwrap();
    std::fs::write(&secret, "two\n").unwrap();
    let new = sources.load().unwrap();
    let ch = diff(&old, &new);
    assert_eq!(ch.changed.len(), 1);
    assert_eq!(ch.changed[0].fields, ["secret"]);
    assert!(!ch.database_changed);
}
