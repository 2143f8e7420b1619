//! Every real Asterisk recording in `fixtures/asterisk/` decodes, message for message, and
//! the counts agree with the table of that folder's README (written by the recorder, not
//! by us).

use ami::{AmiCodec, Frame, Kind, Message};
use bytes::BytesMut;
use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

fn fixtures() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../../fixtures/asterisk/22.10.1")
}

/// Decodes a whole recording, feeding it `chunk` bytes at a time.
fn decode(bytes: &[u8], chunk: usize) -> (Option<String>, Vec<Message>) {
    let mut codec = AmiCodec::client();
    let mut buf = BytesMut::new();
    let mut banner = None;
    let mut out = Vec::new();
    for piece in bytes.chunks(chunk) {
        buf.extend_from_slice(piece);
        while let Some(frame) = codec.decode(&mut buf).expect("decodes") {
            match frame {
                Frame::Banner(b) => banner = Some(b.version().to_string()),
                Frame::Message(m) => out.push(m),
            }
        }
    }
    while let Some(frame) = codec.decode_eof(&mut buf).expect("decodes at eof") {
        if let Frame::Message(m) = frame {
            out.push(m)
        }
    }
    (banner, out)
}

/// `scenario -> (events, responses)` from the README's file list.
fn expected_counts() -> BTreeMap<String, (usize, usize)> {
    let readme = std::fs::read_to_string(fixtures().join("README.md")).unwrap();
    let mut out = BTreeMap::new();
    for line in readme.lines() {
        let cols: Vec<&str> = line.split('|').map(str::trim).collect();
        if cols.len() < 8 || !cols[1].starts_with('`') {
            continue;
        }
        let name = cols[1].trim_matches('`').to_string();
        if let (Ok(e), Ok(r)) = (cols[4].parse(), cols[5].parse()) {
            out.insert(name, (e, r));
        }
    }
    out
}

#[test]
fn every_recording_decodes_with_the_documented_counts() {
    let expected = expected_counts();
    assert!(expected.len() >= 19, "README table parsed: {expected:?}");
    for (name, (events, responses)) in &expected {
        let bytes = std::fs::read(fixtures().join(format!("{name}.ami"))).unwrap();
        let (banner, messages) = decode(&bytes, 64 * 1024);
        assert_eq!(banner.as_deref(), Some("11.0.0"), "{name}: banner");
        let got_events = messages.iter().filter(|m| m.kind() == Kind::Event).count();
        let got_responses = messages
            .iter()
            .filter(|m| m.kind() == Kind::Response)
            .count();
        assert_eq!(got_events, *events, "{name}: events");
        assert_eq!(got_responses, *responses, "{name}: responses");
        assert!(
            messages.iter().all(|m| m.kind() != Kind::Other),
            "{name}: a message of unknown kind"
        );
    }
}

#[test]
fn any_split_of_a_recording_gives_the_same_messages() {
    let bytes = std::fs::read(fixtures().join("actions_admin.ami")).unwrap();
    let (_, whole) = decode(&bytes, bytes.len());
    for chunk in [1, 2, 3, 7, 64, 1000] {
        let (_, split) = decode(&bytes, chunk);
        assert_eq!(split, whole, "chunk size {chunk}");
    }
}

#[test]
fn event_with_a_response_header_is_an_event() {
    let bytes = std::fs::read(fixtures().join("ami_originate.ami")).unwrap();
    let (_, messages) = decode(&bytes, 4096);
    let orig = messages
        .iter()
        .find(|m| m.is_event("OriginateResponse"))
        .expect("OriginateResponse in the recording");
    assert_eq!(orig.kind(), Kind::Event);
    assert_eq!(orig.get("Response"), Some("Success"));
    assert_eq!(orig.get("actionid"), Some("orig-2001-2002"));
}

#[test]
fn command_output_lines_are_kept_in_order() {
    let bytes = std::fs::read(fixtures().join("actions_admin.ami")).unwrap();
    let (_, messages) = decode(&bytes, 4096);
    let version = messages
        .iter()
        .find(|m| m.output().any(|l| l.starts_with("Asterisk 22.10.1")))
        .expect("core show version output");
    assert_eq!(version.get("Message"), Some("Command output follows"));
    let channels = messages
        .iter()
        .find(|m| m.output().any(|l| l.contains("active call")))
        .expect("core show channels output");
    let lines: Vec<&str> = channels.output().collect();
    assert!(lines.len() >= 3, "{lines:?}");
    assert!(lines[0].starts_with("Channel"), "{lines:?}");
}
