//! Any bytes a PBX (or something pretending to be one) could send: decoded by the client's
//! AMI codec, every message fed to the tracker, every call record serialized. Nothing may
//! panic, and the codec must either make progress or stop with an error (an endless loop
//! shows up as a libFuzzer timeout).
//! The first byte decides where the stream is cut into reads, so split frames are covered.
#![no_main]

use ami::{AmiCodec, Frame};
use bytes::BytesMut;
use libfuzzer_sys::fuzz_target;
use tracker::{Tracker, TrackerConfig, Update};

const BANNER: &[u8] = b"Asterisk Call Manager/11.0.0\r\n";

fuzz_target!(|data: &[u8]| {
    let Some((&split, rest)) = data.split_first() else {
        return;
    };
    let mut stream = Vec::with_capacity(BANNER.len() + rest.len());
    if !rest.starts_with(b"Asterisk Call Manager") {
        stream.extend_from_slice(BANNER);
    }
    stream.extend_from_slice(rest);
    let chunk = usize::from(split).max(1);

    let mut codec = AmiCodec::client();
    let mut tracker = Tracker::new(TrackerConfig::new("fuzz"));
    let mut updates = Vec::new();
    let mut buf = BytesMut::new();
    let mut fed = 0;
    'read: loop {
        let at_eof = fed == stream.len();
        if !at_eof {
            let end = (fed + chunk).min(stream.len());
            buf.extend_from_slice(&stream[fed..end]);
            fed = end;
        }
        loop {
            let frame = if at_eof {
                codec.decode_eof(&mut buf)
            } else {
                codec.decode(&mut buf)
            };
            match frame {
                Ok(Some(Frame::Message(m))) => tracker.handle(&m, None, &mut updates),
                Ok(Some(Frame::Banner(_))) => tracker.session_started(None, &mut updates),
                Ok(None) if at_eof => break 'read,
                Ok(None) => break,
                Err(_) => break 'read,
            }
            for u in updates.drain(..) {
                if let Update::CallEnded(r) = u {
                    serde_json::to_string(&r).expect("a call record serializes");
                }
            }
        }
    }
    tracker.end_of_stream(&mut updates);
    for u in updates.drain(..) {
        if let Update::CallEnded(r) = u {
            serde_json::to_string(&r).expect("a call record serializes");
        }
    }
});
