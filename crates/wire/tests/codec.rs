//! The decoder on its own: exact cases, then properties over generated and arbitrary bytes
//! (no panic, bounded memory, any split of a stream gives the same messages).

use ami_wire::{Action, AmiCodec, Frame, FrameError, Kind, Limits, Message};
use bytes::BytesMut;
use proptest::prelude::*;
use tokio_util::codec::Encoder;

/// Decodes `bytes` fed in pieces of the given sizes (cycled); stops at the first error.
fn decode_split(
    mut codec: AmiCodec,
    bytes: &[u8],
    sizes: &[usize],
) -> (Vec<Frame>, Option<String>) {
    let mut buf = BytesMut::new();
    let mut out = Vec::new();
    let mut at = 0;
    let mut i = 0;
    while at < bytes.len() {
        let n = sizes[i % sizes.len()].max(1).min(bytes.len() - at);
        i += 1;
        buf.extend_from_slice(&bytes[at..at + n]);
        at += n;
        loop {
            match codec.decode(&mut buf) {
                Ok(Some(f)) => out.push(f),
                Ok(None) => break,
                Err(e) => return (out, Some(e.to_string())),
            }
        }
    }
    loop {
        match codec.decode_eof(&mut buf) {
            Ok(Some(f)) => out.push(f),
            Ok(None) => break,
            Err(e) => return (out, Some(e.to_string())),
        }
    }
    (out, None)
}

fn messages(frames: Vec<Frame>) -> Vec<Message> {
    frames
        .into_iter()
        .filter_map(|f| match f {
            Frame::Message(m) => Some(m),
            Frame::Banner(_) => None,
        })
        .collect()
}

fn server_decode(bytes: &[u8]) -> Vec<Message> {
    let (frames, err) = decode_split(AmiCodec::server(), bytes, &[bytes.len().max(1)]);
    assert_eq!(err, None);
    messages(frames)
}

#[test]
fn values_keep_colons_spaces_and_empties() {
    let m = &server_decode(
        b"Response: Error\r\nMessage: Originate failed: no channel\r\nAccountCode: \r\nExten:\r\nBridgeId: abc  \r\n\r\n",
    )[0];
    assert_eq!(m.kind(), Kind::Response);
    assert_eq!(m.get("message"), Some("Originate failed: no channel"));
    assert_eq!(m.get("AccountCode"), Some(""));
    assert_eq!(m.get("Exten"), Some(""));
    assert_eq!(m.get("BridgeID"), Some("abc  "));
}

#[test]
fn bare_lf_and_stray_blank_lines_are_tolerated() {
    let ms = server_decode(b"\r\n\nEvent: A\nX: 1\n\nEvent: B\r\nY: 2\r\n\r\n");
    assert_eq!(ms.len(), 2);
    assert_eq!((ms[0].name(), ms[0].get("X")), ("A", Some("1")));
    assert_eq!((ms[1].name(), ms[1].get("Y")), ("B", Some("2")));
}

#[test]
fn repeated_keys_stay_in_order() {
    let m = &server_decode(
        b"Event: VarSet\r\nChanVariable: a=1\r\nChanVariable: b=2\r\nchanvariable: c=3\r\n\r\n",
    )[0];
    let all: Vec<_> = m.get_all("ChanVariable").collect();
    assert_eq!(all, ["a=1", "b=2", "c=3"]);
}

#[test]
fn legacy_command_output_with_and_without_a_final_newline() {
    let body = b"Response: Follows\r\nPrivilege: Command\r\nActionID: 7\r\nline one\nwith: colon\n\nlast line--END COMMAND--\r\n\r\nResponse: Follows\r\nActionID: 8\r\nonly\n--END COMMAND--\r\n\r\nEvent: After\r\n\r\n";
    let ms = server_decode(body);
    assert_eq!(ms.len(), 3);
    assert_eq!(ms[0].action_id(), Some("7"));
    let out: Vec<_> = ms[0].output().collect();
    assert_eq!(out, ["line one", "with: colon", "", "last line"]);
    assert_eq!(ms[1].output().collect::<Vec<_>>(), ["only"]);
    assert!(ms[2].is_event("After"));
}

#[test]
fn banner_then_messages_and_not_ami() {
    let (frames, err) = decode_split(
        AmiCodec::client(),
        b"Asterisk Call Manager/11.0.0\r\nResponse: Success\r\n\r\n",
        &[3],
    );
    assert_eq!(err, None);
    match &frames[0] {
        Frame::Banner(b) => assert_eq!(b.version(), "11.0.0"),
        other => panic!("{other:?}"),
    }
    assert_eq!(frames.len(), 2);
    let (_, err) = decode_split(AmiCodec::client(), b"HTTP/1.1 200 OK\r\n", &[100]);
    assert!(err.unwrap().contains("not an Asterisk Manager Interface"));
}

#[test]
fn invalid_utf8_is_replaced_byte_for_byte() {
    let m = &server_decode(b"Event: Newchannel\r\nCallerIDName: Jos\xe9\r\n\r\n")[0];
    assert_eq!(m.get("CallerIDName"), Some("Jos?"));
}

#[test]
fn message_cut_by_eof_is_dropped() {
    let ms = server_decode(b"Event: Whole\r\n\r\nEvent: Half\r\nChannel: x");
    assert_eq!(ms.len(), 1);
}

#[test]
fn each_limit_is_a_clear_error() {
    let limits = Limits {
        max_line: 16,
        max_headers: 3,
        max_message: 48,
    };
    let codec = || AmiCodec::server().with_limits(limits);
    let cases: [(&[u8], &str); 4] = [
        (
            b"Event: x\r\nKey: 0123456789abcdef\r\n\r\n",
            "line longer than 16",
        ),
        (
            b"Event: x\r\nKey: 0123456789abcdefghijklmnop",
            "line longer than 16",
        ),
        (
            b"Event: x\r\nA: 1\r\nB: 2\r\nC: 3\r\n\r\n",
            "more than 3 headers",
        ),
        (
            b"Event: xxxxxxxxx\r\nA: 1111111111111\r\nB: 2222222222222\r\n\r\n",
            "larger than 48 bytes",
        ),
    ];
    for (bytes, expected) in cases {
        let (_, err) = decode_split(codec(), bytes, &[5]);
        let err = err.unwrap_or_else(|| panic!("{expected}: no error"));
        assert!(err.contains(expected), "{expected}: {err}");
        assert!(err.contains("closing this connection"), "{err}");
    }
}

#[test]
fn an_endless_line_never_grows_the_buffer_past_the_limit() {
    let limits = Limits {
        max_line: 1024,
        max_headers: 16,
        max_message: 4096,
    };
    let mut codec = AmiCodec::server().with_limits(limits);
    let mut buf = BytesMut::new();
    let mut error = None;
    for _ in 0..1000 {
        buf.extend_from_slice(&[b'x'; 100]);
        match codec.decode(&mut buf) {
            Ok(None) => assert!(buf.len() <= limits.max_line + 1),
            Ok(Some(f)) => panic!("{f:?}"),
            Err(e) => {
                error = Some(e);
                break;
            }
        }
    }
    assert!(matches!(
        error,
        Some(FrameError::LineTooLong { limit: 1024 })
    ));
}

#[test]
fn an_action_with_cr_or_lf_is_never_written() {
    let mut codec = AmiCodec::client();
    let mut dst = BytesMut::new();
    for (k, v) in [
        ("Channel", "x\r\nAction: Originate"),
        ("Channel", "x\nAction: Originate"),
        ("Chan\rnel", "x"),
        ("Chan: nel", "x"),
        ("", "x"),
    ] {
        let action = Action::new("Hangup").header(k, v);
        assert!(codec.encode(&action, &mut dst).is_err(), "{k:?}: {v:?}");
        assert!(dst.is_empty(), "nothing written");
    }
    assert!(codec
        .encode(Action::new("Originate\r\nAction: Hangup"), &mut dst)
        .is_err());
    assert!(dst.is_empty());
}

/// A header value as Asterisk may send it: anything printable, colons and spaces included.
fn value() -> impl Strategy<Value = String> {
    "[ -~]{0,40}"
}

fn key() -> impl Strategy<Value = String> {
    "[A-Za-z][A-Za-z0-9_-]{0,15}"
}

/// One message: first line kind, headers, line ending.
fn message() -> impl Strategy<Value = (Vec<(String, String)>, bool)> {
    (
        prop_oneof![Just("Event"), Just("Response"), Just("Action")],
        key(),
        proptest::collection::vec((key(), value()), 0..12),
        any::<bool>(),
    )
        .prop_map(|(first, name, mut headers, crlf)| {
            headers.insert(0, (first.to_string(), name));
            (headers, crlf)
        })
}

fn serialise(messages: &[(Vec<(String, String)>, bool)]) -> Vec<u8> {
    let mut out = Vec::new();
    for (headers, crlf) in messages {
        let eol: &[u8] = if *crlf { b"\r\n" } else { b"\n" };
        for (k, v) in headers {
            out.extend_from_slice(k.as_bytes());
            out.extend_from_slice(b": ");
            out.extend_from_slice(v.as_bytes());
            out.extend_from_slice(eol);
        }
        out.extend_from_slice(eol);
    }
    out
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(256))]

    #[test]
    fn generated_streams_decode_to_what_was_sent_whatever_the_split(
        msgs in proptest::collection::vec(message(), 1..20),
        sizes in proptest::collection::vec(1usize..50, 1..8),
    ) {
        let bytes = serialise(&msgs);
        let (whole, err) = decode_split(AmiCodec::server(), &bytes, &[bytes.len()]);
        prop_assert_eq!(err, None);
        let whole = messages(whole);
        prop_assert_eq!(whole.len(), msgs.len());
        for (m, (headers, _)) in whole.iter().zip(&msgs) {
            // A value's trailing CR would be read as part of a CRLF; the generator never
            // makes one, so what comes back is exactly what was sent.
            let got: Vec<(String, String)> =
                m.headers().map(|(k, v)| (k.to_string(), v.to_string())).collect();
            prop_assert_eq!(&got, headers);
        }
        let (split, err) = decode_split(AmiCodec::server(), &bytes, &sizes);
        prop_assert_eq!(err, None);
        prop_assert_eq!(messages(split), whole);
    }

    #[test]
    fn arbitrary_bytes_never_panic_and_stay_within_the_limits(
        bytes in proptest::collection::vec(any::<u8>(), 0..4000),
        sizes in proptest::collection::vec(1usize..300, 1..6),
        client in any::<bool>(),
    ) {
        let limits = Limits { max_line: 200, max_headers: 20, max_message: 1000 };
        let mut codec = if client { AmiCodec::client() } else { AmiCodec::server() }.with_limits(limits);
        let mut buf = BytesMut::new();
        let mut at = 0;
        let mut i = 0;
        'feed: while at < bytes.len() {
            let n = sizes[i % sizes.len()].min(bytes.len() - at);
            i += 1;
            buf.extend_from_slice(&bytes[at..at + n]);
            at += n;
            loop {
                match codec.decode(&mut buf) {
                    Ok(Some(Frame::Message(m))) => {
                        prop_assert!(m.as_bytes().len() <= limits.max_message);
                        prop_assert!(m.len() <= limits.max_headers);
                        // Every message is text, so every accessor works.
                        let _ = (m.name(), m.get("x"), m.headers().count(), m.to_string());
                    }
                    Ok(Some(Frame::Banner(b))) => prop_assert!(b.line.len() <= limits.max_line),
                    // What stays buffered is bounded, whatever the peer sends.
                    Ok(None) => {
                        prop_assert!(buf.len() <= limits.max_message);
                        break;
                    }
                    Err(_) => break 'feed,
                }
            }
        }
    }

    #[test]
    fn arbitrary_bytes_split_anywhere_give_the_same_messages(
        bytes in proptest::collection::vec(prop_oneof![
            4 => proptest::sample::select(b"Event: Response:ActionID\r\n\r\n--END COMMAND--Follows".to_vec()),
            1 => any::<u8>(),
        ], 0..600),
        sizes in proptest::collection::vec(1usize..40, 1..6),
    ) {
        let (whole, werr) = decode_split(AmiCodec::server(), &bytes, &[bytes.len().max(1)]);
        let (split, serr) = decode_split(AmiCodec::server(), &bytes, &sizes);
        prop_assert_eq!(werr.is_some(), serr.is_some());
        prop_assert_eq!(messages(whole), messages(split));
    }
}
