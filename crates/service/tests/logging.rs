//! The log formats, the filter, its reload, and secrets in log fields.

use service::config::{LogConfig, LogFormat, Secret};
use service::logging::{lifecycle, subscriber};
use std::io::Write;
use std::sync::{Arc, Mutex};
use std::time::Duration;

/// Collects what the subscriber writes.
#[derive(Clone, Default)]
struct Capture(Arc<Mutex<Vec<u8>>>);

impl Write for Capture {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        self.0.lock().unwrap().extend_from_slice(buf);
        Ok(buf.len())
    }
    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

impl<'a> tracing_subscriber::fmt::MakeWriter<'a> for Capture {
    type Writer = Capture;
    fn make_writer(&'a self) -> Capture {
        self.clone()
    }
}

impl Capture {
    fn text(&self) -> String {
        String::from_utf8(self.0.lock().unwrap().clone()).unwrap()
    }
}

fn config(format: LogFormat, filter: &str) -> LogConfig {
    LogConfig {
        format,
        filter: filter.into(),
    }
}

#[test]
fn json_lines_carry_the_fields() {
    let out = Capture::default();
    let (sub, _h) = subscriber(&config(LogFormat::Json, "info"), out.clone(), false).unwrap();
    tracing::subscriber::with_default(sub, || {
        lifecycle::connected("pbx1", "10.0.0.5:5038", Duration::from_millis(3));
        lifecycle::resynced("pbx1", 4, 1);
        tracing::debug!("filtered out");
    });
    let lines: Vec<serde_json::Value> = out
        .text()
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    assert_eq!(lines.len(), 2, "{}", out.text());
    assert_eq!(lines[0]["level"], "INFO");
    assert_eq!(lines[0]["target"], "switchboard::pbx");
    assert_eq!(lines[0]["server"], "pbx1");
    assert_eq!(lines[0]["elapsed_ms"], 3);
    assert_eq!(
        lines[0]["message"],
        "pbx1: connected to 10.0.0.5:5038 in 3 ms"
    );
    assert_eq!(lines[1]["adopted"], 4);
    assert_eq!(
        lines[1]["message"],
        "pbx1: resynced: 4 calls adopted, 1 closed"
    );
}

#[test]
fn readable_lines_and_filter_reload() {
    let out = Capture::default();
    let (sub, handle) =
        subscriber(&config(LogFormat::Readable, "warn"), out.clone(), false).unwrap();
    tracing::subscriber::with_default(sub, || {
        lifecycle::connecting("pbx1", "h:5038");
        lifecycle::disconnected("pbx1", &"connection reset by peer");
        handle
            .apply(&config(LogFormat::Readable, "info,switchboard::pbx=debug"))
            .unwrap();
        lifecycle::reconnecting("pbx1", Duration::from_secs(2), 3);
        // A format change is refused until the next start; the filter still applies.
        let e = handle.apply(&config(LogFormat::Json, "error")).unwrap_err();
        assert!(e.contains("next start"), "{e}");
        lifecycle::resynced("pbx1", 1, 0);
    });
    let text = out.text();
    let lines: Vec<&str> = text.lines().collect();
    assert_eq!(lines.len(), 2, "{text}");
    assert!(
        lines[0].contains("WARN")
            && lines[0].contains("pbx1: disconnected: connection reset by peer")
    );
    assert!(
        lines[1].contains("INFO") && lines[1].contains("pbx1: reconnecting in 2.0 s (attempt 3)")
    );
    assert!(!text.contains('\u{1b}'), "no colour codes when ansi is off");
}

#[test]
fn secrets_in_fields_are_starred() {
    for format in [LogFormat::Readable, LogFormat::Json] {
        let out = Capture::default();
        let (sub, _h) = subscriber(&config(format, "info"), out.clone(), false).unwrap();
        let secret = Secret::new("hunter2");
        tracing::subscriber::with_default(sub, || {
            tracing::info!(secret = %secret, debug = ?secret, "login with {secret}");
        });
        let text = out.text();
        assert!(text.contains("***"), "{text}");
        assert!(!text.contains("hunter2"), "{text}");
    }
}

#[test]
fn a_bad_filter_is_an_error() {
    assert!(subscriber(
        &config(LogFormat::Json, "info,x=loud"),
        Capture::default(),
        false
    )
    .is_err());
}

#[test]
fn init_installs_once() {
    let c = config(LogFormat::Readable, "info");
    let handle = service::logging::init(&c).expect("first init");
    assert!(
        service::logging::init(&c).is_err(),
        "a second init is refused"
    );
    handle.apply(&config(LogFormat::Readable, "debug")).unwrap();
}
