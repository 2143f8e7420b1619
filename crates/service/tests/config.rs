//! Loading configurations from files, `.env` and environment maps (never the process
//! environment: tests run in parallel).

use service::config::*;
use std::path::{Path, PathBuf};
use std::time::Duration;

fn write(dir: &Path, name: &str, text: &str) -> PathBuf {
    let p = dir.join(name);
    std::fs::write(&p, text).unwrap();
    p
}

/// Whether the tracker this server's pipeline runs takes `endpoint` for one of our phones:
/// the configuration's pattern and trunks, end to end.
fn is_extension(server: &service::config::ServerConfig, endpoint: &str) -> bool {
    service::spec::pipeline_spec(server)
        .tracker
        .is_extension(endpoint)
}

fn load_toml(text: &str) -> Result<Config, ConfigErrors> {
    let dir = tempfile::tempdir().unwrap();
    let p = write(dir.path(), "switchboard.toml", text);
    Sources::empty().with_file(p).load()
}

/// The errors as text, with the temporary folder taken out of the paths.
fn errors_of(text: &str) -> Vec<String> {
    let dir = tempfile::tempdir().unwrap();
    let p = write(dir.path(), "switchboard.toml", text);
    let errs = Sources::empty().with_file(p).load().unwrap_err();
    let prefix = format!("{}/", dir.path().display());
    errs.iter()
        .map(|e| e.to_string().replace(&prefix, ""))
        .collect()
}

const MINIMAL: &str =
    "[[servers]]\nhost = \"10.0.0.5\"\nusername = \"switchboard\"\nsecret = \"amp111\"\n";

#[test]
fn minimal_file_gets_every_default() {
    let c = load_toml(MINIMAL).unwrap();
    assert_eq!(c.servers.len(), 1);
    let s = &c.servers[0];
    assert_eq!(s.name, "pbx1");
    assert_eq!(s.host, "10.0.0.5");
    assert_eq!(s.port, 5038);
    assert_eq!(s.username, "switchboard");
    assert_eq!(s.secret.expose(), "amp111");
    assert_eq!(s.secret_source, SecretSource::Inline);
    assert_eq!(s.tls, None);
    assert_eq!(s.auth, AuthKind::Plain);
    assert_eq!(s.events, EventMask::On);
    assert_eq!(s.keepalive, KeepAlive::default());
    assert_eq!(s.connect_timeout, Duration::from_secs(5));
    assert_eq!(s.backoff, Backoff::default());
    assert_eq!(s.extensions.as_str(), "[0-9]{2,6}");
    assert!(is_extension(s, "2001") && !is_extension(s, "pstn") && !is_extension(s, "1234567"));
    assert!(s.trunks.is_empty());
    assert!(s.enabled);
    assert_eq!(c.http, HttpConfig::default());
    assert_eq!(c.http.listen.to_string(), "127.0.0.1:8480");
    assert_eq!(c.http.ready, ReadyPolicy::All);
    assert_eq!(c.database, DatabaseConfig::default());
    assert_eq!(c.database.url.expose(), "sqlite://switchboard.db");
    assert_eq!(c.log.format, LogFormat::Readable);
    assert_eq!(c.log.filter, "info");
    // ServerConfig::new gives the same defaults as a minimal table.
    let made = ServerConfig::new(
        "pbx1",
        "10.0.0.5",
        5038,
        "switchboard",
        Secret::new("amp111"),
    );
    assert_eq!(&made, s);
}

#[test]
fn every_field_is_read() {
    let dir = tempfile::tempdir().unwrap();
    write(dir.path(), "pbx2.secret", "from-file\n");
    write(dir.path(), "ca.pem", "-----BEGIN CERTIFICATE-----\n");
    let toml = r#"
[server_defaults]
username = "sb"
keepalive_interval = "20s"
trunks = ["pstn"]

[[servers]]
name = "pbx1"
host = "pbx1.example.com"
port = 15038
username = "admin"
secret = "s1"
tls = false
auth = "md5"
events = ["call", "agent", "system"]
keepalive_interval = "15s"
keepalive_deadline = 3
connect_timeout = "2500ms"
backoff_initial = "250ms"
backoff_max = "1m"
extensions = "[0-9]{3,4}|op-[a-z]+"
trunks = ["pstn", "1000"]
enabled = false

[[servers]]
name = "pbx2"
host = "2001:db8::2"
secret_file = "pbx2.secret"
tls = { verify = false, ca_file = "ca.pem", server_name = "pbx2.lan" }
events = "call,agent"

[[servers]]
name = "pbx3"
host = "pbx3"
secret_env = "PBX3_SECRET"
tls = true
events = "off"

[http]
listen = "[::1]:9000"
ready = ["pbx2", "pbx3"]
tokens = ["t0k3n-aaaaaaaaaaaa"]

[database]
url = "postgres://sb:pw@db/calls"
batch_size = 50
flush_interval = "1s"
memory_bound = 500
journal_dir = "/var/lib/switchboard/journal"

[log]
format = "json"
level = "debug,ami=trace"
"#;
    let p = write(dir.path(), "switchboard.toml", toml);
    let c = Sources::empty()
        .with_file(&p)
        .with_env([("PBX3_SECRET", "from-env")])
        .load()
        .unwrap();
    let [s1, s2, s3] = &c.servers[..] else {
        panic!("three servers")
    };
    assert_eq!(
        (s1.name.as_str(), s1.host.as_str(), s1.port),
        ("pbx1", "pbx1.example.com", 15038)
    );
    assert_eq!(s1.username, "admin");
    assert_eq!(s1.secret.expose(), "s1");
    assert_eq!(s1.tls, None);
    assert_eq!(s1.auth, AuthKind::Md5);
    assert_eq!(
        s1.events,
        EventMask::Classes(vec!["call".into(), "agent".into(), "system".into()])
    );
    assert_eq!(s1.events.header_value(), "call,agent,system");
    assert_eq!(
        s1.keepalive,
        KeepAlive {
            interval: Duration::from_secs(15),
            deadline: Duration::from_secs(3)
        }
    );
    assert_eq!(s1.connect_timeout, Duration::from_millis(2500));
    assert_eq!(
        s1.backoff,
        Backoff {
            initial: Duration::from_millis(250),
            max: Duration::from_secs(60)
        }
    );
    assert!(is_extension(s1, "op-anna") && is_extension(s1, "200") && !is_extension(s1, "20"));
    assert!(!is_extension(s1, "1000"), "listed as a trunk");
    assert_eq!(s1.trunks, ["pstn", "1000"]);
    assert!(!s1.enabled);

    assert_eq!(s2.host, "2001:db8::2");
    assert_eq!(s2.address(), "[2001:db8::2]:5039", "TLS port by default");
    assert_eq!(s2.username, "sb", "from [server_defaults]");
    assert_eq!(
        s2.secret.expose(),
        "from-file",
        "one trailing newline dropped"
    );
    assert_eq!(
        s2.secret_source,
        SecretSource::File(dir.path().join("pbx2.secret"))
    );
    assert_eq!(
        s2.tls,
        Some(TlsConfig {
            verify: false,
            ca_file: Some(dir.path().join("ca.pem")),
            server_name: Some("pbx2.lan".into()),
            pin_sha256: None,
        })
    );
    assert_eq!(s2.events.header_value(), "call,agent");
    assert_eq!(s2.keepalive.interval, Duration::from_secs(20));
    assert_eq!(s2.trunks, ["pstn"]);
    assert!(s2.enabled);

    assert_eq!(s3.secret.expose(), "from-env");
    assert_eq!(s3.secret_source, SecretSource::Env("PBX3_SECRET".into()));
    assert_eq!(s3.tls, Some(TlsConfig::default()));
    assert_eq!(s3.port, 5039);
    assert_eq!(s3.events, EventMask::Off);
    assert_eq!(c.enabled_servers().count(), 2);

    assert_eq!(c.http.listen.to_string(), "[::1]:9000");
    assert_eq!(
        c.http.ready,
        ReadyPolicy::Servers(vec!["pbx2".into(), "pbx3".into()])
    );
    assert_eq!(c.http.tokens[0].expose(), "t0k3n-aaaaaaaaaaaa");
    assert_eq!(c.database.url.expose(), "postgres://sb:pw@db/calls");
    assert!(c.database.url.is_postgres());
    assert_eq!(c.database.batch_size, 50);
    assert_eq!(c.database.flush_interval, Duration::from_secs(1));
    assert_eq!(c.database.memory_bound, 500);
    assert_eq!(
        c.database.journal_dir,
        PathBuf::from("/var/lib/switchboard/journal")
    );
    assert_eq!(c.log.format, LogFormat::Json);
    assert_eq!(c.log.filter, "debug,ami=trace");

    // Nothing secret in the whole configuration's Debug output.
    let debug = format!("{c:?}");
    for secret in ["s1", "from-file", "from-env", ":pw@", "t0k3n"] {
        assert!(!debug.contains(secret), "{secret} in {debug}");
    }
}

#[test]
fn environment_alone_configures_one_pbx() {
    let env = [
        ("AMI_HOST", "192.168.1.10"),
        ("AMI_PORT", "5039"),
        ("AMI_USERNAME", "admin"),
        ("AMI_PASSWORD", " amp111 "),
        ("AMI_TLS", "yes"),
        ("AMI_AUTH", "MD5"),
        ("AMI_NAME", "office"),
        ("DATABASE_URL", "postgres://postgres@127.0.0.1:5432/test"),
        ("HTTP_LISTEN", "127.0.0.1:9999"),
        ("LOG_FORMAT", "json"),
        ("RUST_LOG", "warn"),
        ("PATH", "/usr/bin"),
    ];
    let c = Sources::empty().with_env(env).load().unwrap();
    assert_eq!(c.servers.len(), 1);
    let s = &c.servers[0];
    assert_eq!(s.name, "office");
    assert_eq!(s.address(), "192.168.1.10:5039");
    assert_eq!(s.username, "admin");
    assert_eq!(s.secret.expose(), " amp111 ", "a password is taken as is");
    assert_eq!(s.tls, Some(TlsConfig::default()));
    assert_eq!(s.auth, AuthKind::Md5);
    assert_eq!(
        c.database.url.expose(),
        "postgres://postgres@127.0.0.1:5432/test"
    );
    assert_eq!(c.http.listen.to_string(), "127.0.0.1:9999");
    assert_eq!(c.log.format, LogFormat::Json);
    assert_eq!(c.log.filter, "warn");

    // The Node service's minimum: host, user, password.
    let c = Sources::empty()
        .with_env([
            ("AMI_HOST", "pbx"),
            ("AMI_USERNAME", "u"),
            ("AMI_PASSWORD", "p"),
        ])
        .load()
        .unwrap();
    assert_eq!(
        (c.servers[0].name.as_str(), c.servers[0].port),
        ("pbx1", 5038)
    );
}

/// A trailing newline in `AMI_PASSWORD` (from `echo`, a `.env` file or a Kubernetes secret)
/// is common and harmless: one is dropped. Any other line break cannot be sent in an AMI
/// login and is a configuration error naming the variable, not a login refused forever.
#[test]
fn a_line_break_in_the_ami_login_is_dropped_once_or_refused() {
    let load = |user: &str, password: &str| {
        Sources::empty()
            .with_env([
                ("AMI_HOST", "pbx"),
                ("AMI_USERNAME", user),
                ("AMI_PASSWORD", password),
            ])
            .load()
    };
    for (user, password) in [("admin\n", "s3cret\n"), ("admin\r\n", "s3cret\r\n")] {
        let c = load(user, password).unwrap();
        assert_eq!(c.servers[0].username, "admin");
        assert_eq!(c.servers[0].secret.expose(), "s3cret");
    }
    assert_eq!(
        load("admin", " s3cret \n").unwrap().servers[0]
            .secret
            .expose(),
        " s3cret "
    );
    for (user, password, var) in [
        ("admin", "s3\ncret", "AMI_PASSWORD"),
        ("admin", "s3cret\n\n", "AMI_PASSWORD"),
        ("admin", "s3cret\r", "AMI_PASSWORD"),
        ("ad\r\nmin", "s3cret", "AMI_USERNAME"),
    ] {
        let errs = load(user, password).unwrap_err().to_string();
        assert!(
            errs.contains(&format!("environment: {var}: contains a line break")),
            "{user:?} / {password:?}: {errs}"
        );
        assert!(!errs.contains("s3"), "the secret is never shown: {errs}");
    }
}

/// Settings that parse but make no sense are refused: a token that is blank, short or not
/// sendable in a Bearer header, and durations past a day (a keep-alive of 3 billion years
/// used to be taken).
#[test]
fn absurd_tokens_and_durations_are_refused() {
    let base = "[[servers]]\nhost = \"h\"\nusername = \"u\"\nsecret = \"s\"\n";
    for (extra, needle) in [
        ("[http]\ntokens = [\" \"]\n", "may hold only"),
        ("[http]\ntokens = [\"x\"]\n", "too short"),
        (
            "[http]\ntokens = [\"abcdefghijklmnop qrstuvwxyz\"]\n",
            "may hold only",
        ),
        (
            "[http]\ntokens = [\"0123456789abcdef\\n\"]\n",
            "may hold only",
        ),
        ("", ""),
    ] {
        if extra.is_empty() {
            continue;
        }
        let errs = errors_of(&format!("{base}{extra}"));
        assert!(
            errs.iter()
                .any(|e| e.contains("http.tokens") && e.contains(needle)),
            "{extra}: {errs:?}"
        );
        assert!(
            !errs.iter().any(|e| e.contains("abcdefghijklmnop")),
            "token shown: {errs:?}"
        );
    }
    let ok = load_toml(&format!(
        "{base}[http]\ntokens = [\"0123456789abcdef\", \"dG9rZW4tdG9rZW4tdG9r==\"]\n"
    ))
    .unwrap();
    assert_eq!(ok.http.tokens.len(), 2);
    for (key, value) in [
        ("keepalive_interval", "\"3000000000y\""),
        ("keepalive_interval", "100000000000"),
        ("connect_timeout", "\"2d\""),
    ] {
        let errs = errors_of(&format!("{base}{key} = {value}\n"));
        assert!(
            errs.iter().any(|e| e.contains(key) && e.contains("24h")),
            "{key} = {value}: {errs:?}"
        );
    }
    assert!(load_toml(&format!("{base}keepalive_interval = \"24h\"\n")).is_ok());
}

/// `tls = { pin_sha256 = "AB:CD:…" }` trusts one certificate by its fingerprint, as openssl
/// prints it; a malformed one, or one next to a `ca_file`, is an error naming the key.
#[test]
fn a_pinned_certificate_is_read_as_openssl_prints_it() {
    let pin = "51:E1:D7:79:F9:C4:54:E3:20:D4:0E:9A:52:92:04:7A:6A:29:D5:F7:9E:95:4A:38:BB:B9:89:E9:5D:DE:E6:D0";
    let base = "[[servers]]\nhost = \"h\"\nusername = \"u\"\nsecret = \"s\"\n";
    let c = load_toml(&format!("{base}tls = {{ pin_sha256 = \"{pin}\" }}\n")).unwrap();
    let tls = c.servers[0].tls.clone().unwrap();
    assert_eq!(tls.pin_sha256.map(|p| p.to_string()).as_deref(), Some(pin));
    let errs = errors_of(&format!("{base}tls = {{ pin_sha256 = \"AB:CD\" }}\n"));
    assert!(
        errs.iter()
            .any(|e| e.contains("servers[0].tls.pin_sha256") && e.contains("SHA-256")),
        "{errs:?}"
    );
    let dir = tempfile::tempdir().unwrap();
    let ca = write(dir.path(), "ca.pem", "-----BEGIN CERTIFICATE-----\n");
    let errs = errors_of(&format!(
        "{base}tls = {{ pin_sha256 = \"{pin}\", ca_file = {:?} }}\n",
        ca.display().to_string()
    ));
    assert!(
        errs.iter()
            .any(|e| e.contains("both pin_sha256 and ca_file")),
        "{errs:?}"
    );
}

#[test]
fn environment_errors_name_the_variable() {
    let errs = Sources::empty()
        .with_env([("AMI_HOST", "pbx"), ("AMI_PORT", "x"), ("AMI_PASWORD", "p")])
        .load()
        .unwrap_err();
    let text: Vec<String> = errs.iter().map(ToString::to_string).collect();
    assert!(
        text.contains(&"environment: AMI_PORT: expected an integer 1-65535, got \"x\"".into()),
        "{text:?}"
    );
    assert!(
        text.contains(
            &"environment: AMI_PASWORD: unknown variable (hint: did you mean `AMI_PASSWORD`?)"
                .into()
        ),
        "{text:?}"
    );
    assert!(
        text.iter()
            .any(|t| t.starts_with("environment: AMI_USERNAME: is not set")),
        "{text:?}"
    );
    assert!(
        text.contains(&"environment: AMI_PASSWORD: is not set".into()),
        "{text:?}"
    );
    assert!(
        !errs.to_string().contains("\"p\""),
        "a password is never quoted"
    );
}

#[test]
fn dotenv_is_read_and_the_real_environment_wins() {
    let dir = tempfile::tempdir().unwrap();
    let dotenv = write(
        dir.path(),
        ".env",
        "# Node service settings\nexport AMI_HOST=from-dotenv\nAMI_USERNAME='admin'\n\
         AMI_PASSWORD=\"dot#env\"\nHTTP_LISTEN=127.0.0.1:7000 # comment\n",
    );
    let toml = write(
        dir.path(),
        "switchboard.toml",
        "[[servers]]\nname = \"main\"\nhost = \"from-file\"\nusername = \"file-user\"\nsecret = \"file-secret\"\n\
         [http]\nlisten = \"127.0.0.1:6000\"\n",
    );
    let c = Sources::empty()
        .with_file(&toml)
        .with_dotenv(&dotenv)
        .with_env([("AMI_HOST", "from-env")])
        .load()
        .unwrap();
    assert_eq!(c.servers.len(), 1, "AMI_* apply to the file's only server");
    let s = &c.servers[0];
    assert_eq!(s.name, "main");
    assert_eq!(s.host, "from-env", "environment > .env > file");
    assert_eq!(s.username, "admin", ".env > file");
    assert_eq!(s.secret.expose(), "dot#env");
    assert_eq!(c.http.listen.to_string(), "127.0.0.1:7000");

    // secret_env may name a variable of .env.
    let toml2 = write(
        dir.path(),
        "secret_env.toml",
        "[[servers]]\nhost = \"h\"\nusername = \"u\"\nsecret_env = \"PBX_SECRET\"\n",
    );
    let dotenv2 = write(dir.path(), "secret.env", "PBX_SECRET=from .env\n");
    let c = Sources::empty()
        .with_file(&toml2)
        .with_dotenv(&dotenv2)
        .load()
        .unwrap();
    assert_eq!(c.servers[0].secret.expose(), "from .env");
    // An unreadable .env (here: a folder) is an error naming it.
    let errs = Sources::empty()
        .with_file(&toml)
        .with_dotenv(dir.path())
        .load()
        .unwrap_err()
        .to_string();
    assert!(
        errs.starts_with(&format!(
            "configuration: {}: cannot read",
            dir.path().display()
        )),
        "{errs}"
    );

    // Without .env or environment, the file's values.
    let c = Sources::empty().with_file(&toml).load().unwrap();
    assert_eq!(c.servers[0].host, "from-file");

    // A missing .env is fine; a bad one is an error with its line.
    let c = Sources::empty()
        .with_file(&toml)
        .with_dotenv(dir.path().join("absent.env"))
        .load()
        .unwrap();
    assert_eq!(c.servers[0].host, "from-file");
    let bad = write(dir.path(), "bad.env", "AMI_HOST=x\nAMI_PORT=abc\n");
    let errs = Sources::empty()
        .with_file(&toml)
        .with_dotenv(&bad)
        .load()
        .unwrap_err();
    assert_eq!(
        errs.to_string(),
        format!(
            "{}:2: AMI_PORT: expected an integer 1-65535, got \"abc\"",
            bad.display()
        )
    );
}

#[test]
fn ami_name_adds_a_server_next_to_the_file_ones() {
    let dir = tempfile::tempdir().unwrap();
    let toml = write(
        dir.path(),
        "switchboard.toml",
        "[[servers]]\nname = \"a\"\nhost = \"a\"\nusername = \"u\"\nsecret = \"s\"\n\
         [[servers]]\nname = \"b\"\nhost = \"b\"\nusername = \"u\"\nsecret_env = \"B_SECRET\"\n",
    );
    let base = Sources::empty()
        .with_file(&toml)
        .with_env([("B_SECRET", "bs")]);
    let c = base
        .clone()
        .with_env([
            ("AMI_NAME", "c"),
            ("AMI_HOST", "c"),
            ("AMI_USERNAME", "u"),
            ("AMI_PASSWORD", "p"),
        ])
        .load()
        .unwrap();
    let names: Vec<&str> = c.servers.iter().map(|s| s.name.as_str()).collect();
    assert_eq!(names, ["a", "b", "c"]);
    // AMI_NAME of a file server: only the variables set replace its settings.
    let c = base
        .clone()
        .with_env([("AMI_NAME", "b"), ("AMI_PORT", "6000")])
        .load()
        .unwrap();
    assert_eq!(c.servers[1].address(), "b:6000");
    assert_eq!(c.servers[1].secret.expose(), "bs");
    // Two servers in the file and no AMI_NAME: the variables describe a new `pbx1`,
    // which then needs all three of host, user and password.
    let errs = base
        .with_env([("AMI_HOST", "x")])
        .load()
        .unwrap_err()
        .to_string();
    assert!(errs.contains("AMI_USERNAME: is not set"), "{errs}");
}

#[test]
fn errors_name_file_line_and_key() {
    let cases: &[(&str, &str)] = &[
        (
            "[[servers]]\nhost = \"h\"\nusername = \"u\"\nsecret = \"s\"\n\n[[servers]]\nname = \"b\"\nhost = \"h\"\nusername = \"u\"\nsecret = \"s\"\n\nport = \"x\"\n",
            "switchboard.toml:12: servers[1].port: expected an integer 1-65535, got \"x\"",
        ),
        (
            "[[servers]]\nhost = \"h\"\nusername = \"u\"\nsecret = \"s\"\nport = 70000\n",
            "switchboard.toml:5: servers[0].port: expected an integer 1-65535, got 70000",
        ),
        (
            "[[servers]]\nhost = \"h\"\nusername = \"u\"\nsecret = \"s\"\nprot = 5038\n",
            "switchboard.toml:5: servers[0].prot: unknown key (hint: did you mean `port`?)",
        ),
        (
            "[[servers]]\nname = \"a\"\nhost = \"h\"\nusername = \"u\"\nsecret = \"s\"\n[[servers]]\nname = \"a\"\nhost = \"h2\"\nusername = \"u\"\nsecret = \"s\"\n",
            "switchboard.toml:7: servers[1].name: duplicate server name \"a\", also used by servers[0] (switchboard.toml:2) (hint: names identify a PBX in call ids and must be unique)",
        ),
        (
            "[[servers]]\nhost = \"h\"\nusername = \"u\"\nsecret_file = \"nope.txt\"\n",
            "switchboard.toml:4: servers[0].secret_file: cannot read nope.txt: No such file or directory (os error 2) (hint: a relative secret_file is read from the configuration file's folder)",
        ),
        (
            "[[servers]]\nhost = \"h\"\nusername = \"u\"\nsecret = \"s\"\n[http]\nlisten = \"localhost\"\n",
            "switchboard.toml:6: http.listen: expected an IP address and port such as \"127.0.0.1:8480\" or \"[::1]:8480\", got \"localhost\"",
        ),
        (
            "[[servers]]\nhost = \"h\"\nusername = \"u\"\nsecret = \"s\"\n[http]\nlisten = \"0.0.0.0:8480\"\n",
            "switchboard.toml:6: http.listen: 0.0.0.0:8480 is not a loopback address, and no [http] tokens are configured (hint: without tokens the API is read-only and listens on 127.0.0.1 or [::1] only; put a reverse proxy with authentication in front to expose it)",
        ),
        (
            "[servers]\nhost = \"h\"\n",
            "switchboard.toml:1: servers: expected an array of tables (hint: write [[servers]] with double brackets, once per PBX)",
        ),
        (
            "[[servers]]\nname = \"a\"\nusername = \"u\"\nsecret = \"s\"\n",
            "switchboard.toml:1: servers[0].host: missing (hint: the PBX's host name or IP address)",
        ),
        (
            "[[servers]]\nhost = \"h\"\nusername = \"u\"\nsecret = \"s\"\n[http]\nready = [\"pbx9\"]\n",
            "switchboard.toml:6: http.ready: unknown server \"pbx9\" (hint: servers: pbx1)",
        ),
        (
            "[[servers]]\nhost = \"tcp://h:5038\"\nusername = \"u\"\nsecret = \"s\"\n",
            "switchboard.toml:2: servers[0].host: expected a host name or IP address, got \"tcp://h:5038\" (hint: no scheme: AMI is not HTTP; write the bare host and use tls = true for TLS)",
        ),
        (
            "[[servers]]\nhost = \"h\"\nusername = \"u\"\nsecret = \"s\"\nkeepalive_interval = \"ten seconds\"\n",
            "switchboard.toml:5: servers[0].keepalive_interval: expected a duration such as \"10s\" or \"500ms\", got \"ten seconds\"",
        ),
        (
            "[[servers]]\nhost = \"h\"\nusername = \"u\"\nsecret = \"s\"\n[databse]\nurl = \"x\"\n",
            "switchboard.toml:5: databse: unknown key (hint: did you mean `database`?)",
        ),
        (
            "[[servers]]\nhost = \"h\"\nusername = \"u\"\nsecret = \"s\"\nbackoff_initial = \"1m\"\nbackoff_max = \"10s\"\n",
            "switchboard.toml:6: servers[0].backoff_max: backoff_initial (60s) is longer than backoff_max (10s)",
        ),
        (
            "[[servers]]\nhost = \"h\"\nusername = \"u\"\nsecret = \"s\"\nsecret_env = \"X\"\n",
            "switchboard.toml:5: servers[0].secret_env: set only one of servers[0].secret, servers[0].secret_env (hint: secret_file or secret_env keep the secret out of this file)",
        ),
        (
            "[[servers]]\nhost = \"h\"\nname = \"pbx:1\"\nusername = \"u\"\nsecret = \"s\"\n",
            "switchboard.toml:3: servers[0].name: expected 1-64 letters, digits, '-', '_' or '.' (not \".\" or \"..\"), got \"pbx:1\"",
        ),
        (
            "[[servers]]\nhost = \"h\"\nusername = \"u\"\nsecret = \"s\"\nevents = [\"call\", \"calls\"]\n",
            "switchboard.toml:5: servers[0].events: unknown event class \"calls\"; expected \"on\", \"off\" or classes among system, call, log, verbose, command, agent, user, config, dtmf, reporting, cdr, dialplan, originate, agi, cc, aoc, test, security, message, all",
        ),
        (
            "[[servers]]\nhost = \"h\"\nusername = \"u\"\nsecret = \"s\"\n[log]\nformat = \"xml\"\n",
            "switchboard.toml:6: log.format: expected \"readable\" or \"json\", got \"xml\"",
        ),
        (
            "[[servers]]\nhost = \"h\"\nusername = \"u\"\nsecret = \"s\"\ntls = { verify = false, ca = \"x\" }\n",
            "switchboard.toml:5: servers[0].tls.ca: unknown key (hint: did you mean `ca_file`?)",
        ),
        (
            "[[servers]]\nhost = \"h\"\nusername = \"u\"\nsecret = \"s\"\n[database]\nbatch_size = 0\n",
            "switchboard.toml:6: database.batch_size: expected an integer 1-100000, got 0",
        ),
    ];
    for (toml, want) in cases {
        assert_eq!(errors_of(toml), [*want], "for:\n{toml}");
    }
}

#[test]
fn toml_syntax_errors_have_a_line() {
    let errs = errors_of("[[servers]]\nhost = \"h\"\nport = \n");
    assert_eq!(errs.len(), 1);
    assert!(
        errs[0].starts_with("switchboard.toml:3: invalid TOML: "),
        "{errs:?}"
    );
}

#[test]
fn all_errors_are_reported_at_once() {
    let errs = errors_of(
        "[[servers]]\nhost = \"h\"\nport = \"x\"\nusername = 5\nsecret = \"s\"\nfoo = 1\n",
    );
    assert_eq!(errs.len(), 3, "{errs:?}");
}

#[test]
fn secrets_never_appear_in_errors() {
    // A secret of the wrong type, a broken quote around one, a bad database URL, a bad
    // token: each error describes the value by its type or not at all.
    let cases = [
        "[[servers]]\nhost = \"h\"\nusername = \"u\"\nsecret = 987654321\n",
        "[[servers]]\nhost = \"h\"\nusername = \"u\"\nsecret = \"987654321\n",
        "[[servers]]\nhost = \"h\"\nusername = \"u\"\nsecret = \"s\"\n[database]\nurl = \"mysql://u:987654321@h/db\"\n",
        "[[servers]]\nhost = \"h\"\nusername = \"u\"\nsecret = \"s\"\n[http]\ntokens = [\"987654321\", 5]\n",
        "[[servers]]\nhost = \"h\"\nusername = \"u\"\nsecret = \"987654321\"\nsecret_file = \"x\"\n",
    ];
    for toml in cases {
        let errs = errors_of(toml);
        assert!(!errs.is_empty(), "{toml}");
        for e in &errs {
            assert!(!e.contains("987654321"), "secret leaked: {e}");
        }
    }
    let errs = Sources::empty()
        .with_env([
            ("AMI_HOST", "h"),
            ("AMI_USERNAME", "u"),
            ("AMI_PASSWORD", "987654321"),
            ("DATABASE_URL", "redis://:987654321@h"),
        ])
        .load()
        .unwrap_err();
    assert!(!errs.to_string().contains("987654321"), "{errs}");
    assert!(!format!("{errs:?}").contains("987654321"), "{errs:?}");
    // Sources' Debug names variables, never their values.
    let s = Sources::empty().with_env([("AMI_PASSWORD", "987654321")]);
    assert!(!format!("{s:?}").contains("987654321"));
}

#[test]
fn no_server_is_an_error_unless_allowed() {
    let errs = Sources::empty().load().unwrap_err().to_string();
    assert_eq!(
        errs,
        "configuration: no PBX configured (hint: add a [[servers]] table to switchboard.toml, or set AMI_HOST, AMI_USERNAME and AMI_PASSWORD)"
    );
    let mut s = Sources::empty();
    s.require_server = false;
    assert!(s.load().unwrap().servers.is_empty());
}

#[test]
fn missing_config_flag_file_is_an_error_default_file_is_optional() {
    let dir = tempfile::tempdir().unwrap();
    let missing = dir.path().join("nope.toml");
    let errs = Sources::empty().with_file(&missing).load().unwrap_err();
    assert!(
        errs.to_string().starts_with(&format!(
            "command line: --config {}: cannot read: No such file",
            missing.display()
        )),
        "{errs}"
    );
    let mut s = Sources::empty().with_env([
        ("AMI_HOST", "h"),
        ("AMI_USERNAME", "u"),
        ("AMI_PASSWORD", "p"),
    ]);
    s.file = Some(ConfigFile {
        path: missing,
        required: false,
    });
    assert_eq!(s.load().unwrap().servers[0].host, "h");
}

#[test]
fn an_oversized_file_is_refused_unread() {
    let dir = tempfile::tempdir().unwrap();
    let p = dir.path().join("big.toml");
    let f = std::fs::File::create(&p).unwrap();
    f.set_len(5 << 20).unwrap();
    let errs = Sources::empty()
        .with_file(&p)
        .load()
        .unwrap_err()
        .to_string();
    assert!(
        errs.ends_with("big.toml: larger than 4 MiB: not a configuration file"),
        "{errs}"
    );
}

#[test]
fn log_format_flag_beats_everything() {
    let mut s = Sources::empty().with_env([
        ("AMI_HOST", "h"),
        ("AMI_USERNAME", "u"),
        ("AMI_PASSWORD", "p"),
        ("LOG_FORMAT", "readable"),
    ]);
    s.log_format = Some(LogFormat::Json);
    assert_eq!(s.load().unwrap().log.format, LogFormat::Json);
}

#[test]
fn the_example_file_loads() {
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../switchboard.example.toml");
    // As shipped: loads with nothing else set.
    let c = Sources::empty()
        .with_file(&root)
        .load()
        .unwrap_or_else(|e| panic!("{e}"));
    assert_eq!(c.servers.len(), 2);
    assert_eq!(c.enabled_servers().count(), 1);
    assert_eq!(
        c.servers[1].username, "switchboard",
        "from [server_defaults]"
    );
    // Every key the example shows uncommented is its documented default or a sample;
    // enabling pbx2 makes its secret variable required.
    let text = std::fs::read_to_string(&root).unwrap();
    let enabled = text.replace(
        "auth = \"md5\"\nenabled = false",
        "auth = \"md5\"\nenabled = true",
    );
    let dir = tempfile::tempdir().unwrap();
    let p = write(dir.path(), "switchboard.toml", &enabled);
    let errs = Sources::empty()
        .with_file(&p)
        .load()
        .unwrap_err()
        .to_string();
    assert!(
        errs.contains("servers[1].secret_env: environment variable PBX2_AMI_SECRET is not set"),
        "{errs}"
    );
    let c = Sources::empty()
        .with_file(&p)
        .with_env([("PBX2_AMI_SECRET", "x")])
        .load()
        .unwrap();
    assert_eq!(c.servers[1].secret.expose(), "x");
}

#[test]
fn http_stream_bounds_are_read_and_checked() {
    let dir = tempfile::tempdir().unwrap();
    let p = write(
        dir.path(),
        "switchboard.toml",
        "[[servers]]\nname = \"pbx1\"\nhost = \"127.0.0.1\"\nusername = \"u\"\nsecret = \"s\"\n\n[http.stream]\nring_messages = 50\nring_mb = 2\nclient_queue = 8\n",
    );
    let c = Sources::empty()
        .with_file(&p)
        .load()
        .unwrap_or_else(|e| panic!("{e}"));
    assert_eq!(c.http.stream.ring_messages, 50);
    assert_eq!(c.http.stream.ring_bytes, 2 * 1024 * 1024);
    assert_eq!(c.http.stream.client_queue, 8);
    let p = write(
        dir.path(),
        "bad.toml",
        "[http.stream]\nclient_queue = 0\nring = 5\n",
    );
    let errs = Sources::empty()
        .with_file(&p)
        .load()
        .unwrap_err()
        .to_string();
    assert!(errs.contains("http.stream.client_queue"), "{errs}");
    assert!(errs.contains("http.stream.ring: unknown key"), "{errs}");
}

#[test]
fn the_example_documents_every_key() {
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../switchboard.example.toml");
    let text = std::fs::read_to_string(root).unwrap();
    let keys = [
        "[server_defaults]",
        "[[servers]]",
        "name =",
        "host =",
        "port =",
        "username =",
        "secret =",
        "secret_file =",
        "secret_env =",
        "tls =",
        "verify",
        "ca_file",
        "server_name",
        "auth =",
        "events =",
        "keepalive_interval =",
        "keepalive_deadline =",
        "connect_timeout =",
        "backoff_initial =",
        "backoff_max =",
        "extensions =",
        "trunks =",
        "enabled =",
        "[http]",
        "listen =",
        "ready =",
        "tokens =",
        "[http.stream]",
        "ring_messages =",
        "ring_mb =",
        "client_queue =",
        "[database]",
        "url =",
        "batch_size =",
        "flush_interval =",
        "memory_bound =",
        "journal_dir =",
        "[log]",
        "format =",
        "level =",
        "AMI_HOST",
        "AMI_PORT",
        "AMI_USERNAME",
        "AMI_PASSWORD",
        "AMI_TLS",
        "AMI_AUTH",
        "AMI_NAME",
        "DATABASE_URL",
        "HTTP_LISTEN",
        "LOG_FORMAT",
        "RUST_LOG",
    ];
    for k in keys {
        assert!(
            text.contains(k),
            "switchboard.example.toml does not mention {k}"
        );
    }
}

#[test]
fn a_hundred_pbxes_load_and_one_change_touches_one() {
    let dir = tempfile::tempdir().unwrap();
    let mut toml = String::from("[server_defaults]\nusername = \"sb\"\nsecret = \"s\"\n");
    for i in 0..100 {
        toml.push_str(&format!(
            "[[servers]]\nname = \"pbx{i}\"\nhost = \"10.0.{}.{}\"\n",
            i / 250,
            i % 250 + 1
        ));
    }
    let p = write(dir.path(), "switchboard.toml", &toml);
    let old = Sources::empty().with_file(&p).load().unwrap();
    assert_eq!(old.servers.len(), 100);
    let p = write(
        dir.path(),
        "switchboard.toml",
        &toml.replace("host = \"10.0.0.43\"", "host = \"10.0.0.43\"\nport = 5039"),
    );
    let new = Sources::empty().with_file(&p).load().unwrap();
    let ch = service::reload::diff(&old, &new);
    assert_eq!(ch.changed.len(), 1);
    assert_eq!(ch.changed[0].name, "pbx42");
    assert_eq!(ch.unchanged.len(), 99);
}
