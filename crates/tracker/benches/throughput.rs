//! Throughput and memory of the tracker (`cargo bench -p tracker`).
//!
//! Figures are reported with a reference measured in the same run, because the machine is
//! shared and noisy: the codec alone decoding `load_mix` is the reference for events/s, and
//! the raw AMI bytes that set a call up are the reference for memory per call.
//!
//! The counting allocator needs `unsafe impl GlobalAlloc`: it only forwards to the system
//! allocator and counts, and lives in this bench binary only (the library forbids unsafe).

use ami_wire::Message;
use std::alloc::{GlobalAlloc, Layout, System};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Instant;
use tracker::{Tracker, TrackerConfig};

#[path = "../tests/common/mod.rs"]
mod common;
use common::decode;

struct Counting;
static LIVE: AtomicUsize = AtomicUsize::new(0);

unsafe impl GlobalAlloc for Counting {
    unsafe fn alloc(&self, l: Layout) -> *mut u8 {
        LIVE.fetch_add(l.size(), Ordering::Relaxed);
        unsafe { System.alloc(l) }
    }
    unsafe fn dealloc(&self, p: *mut u8, l: Layout) {
        LIVE.fetch_sub(l.size(), Ordering::Relaxed);
        unsafe { System.dealloc(p, l) }
    }
    unsafe fn realloc(&self, p: *mut u8, l: Layout, new: usize) -> *mut u8 {
        LIVE.fetch_add(new, Ordering::Relaxed);
        LIVE.fetch_sub(l.size(), Ordering::Relaxed);
        unsafe { System.realloc(p, l, new) }
    }
}

#[global_allocator]
static A: Counting = Counting;

/// Best of `runs` timings of `f`, in seconds.
fn best(runs: usize, mut f: impl FnMut()) -> f64 {
    (0..runs)
        .map(|_| {
            let t = Instant::now();
            f();
            t.elapsed().as_secs_f64()
        })
        .fold(f64::MAX, f64::min)
}

fn track(msgs: &[Message]) -> usize {
    let mut t = Tracker::new(TrackerConfig::new("pbx1"));
    let mut out = Vec::new();
    let mut n = 0;
    for m in msgs {
        t.handle(m, None, &mut out);
        n += out.len();
        out.clear();
    }
    t.end_of_stream(&mut out);
    n + out.len()
}

fn ev(pairs: &[(&str, &str)]) -> Message {
    Message::build(pairs.iter().copied()).expect("valid")
}

fn main() {
    let path = concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/../../fixtures/asterisk/22.10.1/load_mix.ami"
    );
    let bytes = std::fs::read(path).expect("load_mix.ami");
    let msgs = decode(&bytes);
    let events = msgs
        .iter()
        .filter(|m| m.kind() == ami_wire::Kind::Event)
        .count() as f64;
    let runs = 7;

    let codec = best(runs, || {
        std::hint::black_box(decode(&bytes).len());
    });
    let tracker_only = best(runs, || {
        std::hint::black_box(track(&msgs));
    });
    let both = best(runs, || {
        std::hint::black_box(track(&decode(&bytes)));
    });
    println!("load_mix: {} events, {} bytes", events, bytes.len());
    println!("codec only (reference): {:>12.0} events/s", events / codec);
    println!(
        "tracker only:           {:>12.0} events/s  ({:.2}x the codec's rate)",
        events / tracker_only,
        codec / tracker_only
    );
    println!(
        "codec + tracker:        {:>12.0} events/s  ({:.2}x the codec's rate)",
        events / both,
        codec / both
    );

    // Memory per active call: 100,000 answered two-party calls, none hung up.
    const N: usize = 100_000;
    let mut t = Tracker::new(TrackerConfig::new("pbx1"));
    let mut out = Vec::new();
    let mut raw_bytes = 0usize;
    let before = LIVE.load(Ordering::Relaxed);
    for i in 0..N {
        let (a, b) = (
            format!("1795500000.{}", 2 * i),
            format!("1795500000.{}", 2 * i + 1),
        );
        let (ca, cb) = (
            format!("PJSIP/2001-{:08x}", 2 * i),
            format!("PJSIP/2002-{:08x}", 2 * i + 1),
        );
        let ts = format!("1795500000.{:06}", i % 1_000_000);
        let chan = |event: &'static str, name: &str, uid: &str, state: &'static str| {
            ev(&[
                ("Event", event),
                ("Timestamp", &ts),
                ("Channel", name),
                ("ChannelState", state),
                ("CallerIDNum", &name[6..10]),
                ("CallerIDName", "Alice"),
                ("Exten", "2002"),
                ("Uniqueid", uid),
                ("Linkedid", &a),
            ])
        };
        let dial = |event: &'static str, status: &'static str| {
            ev(&[
                ("Event", event),
                ("Timestamp", &ts),
                ("Channel", &ca),
                ("Uniqueid", &a),
                ("Linkedid", &a),
                ("Exten", "2002"),
                ("DestChannel", &cb),
                ("DestUniqueid", &b),
                ("DestLinkedid", &a),
                ("DestChannelState", "6"),
                ("DialStatus", status),
            ])
        };
        for m in [
            chan("Newchannel", &ca, &a, "0"),
            chan("Newchannel", &cb, &b, "0"),
            dial("DialBegin", ""),
            chan("Newstate", &cb, &b, "5"),
            chan("Newstate", &cb, &b, "6"),
            dial("DialEnd", "ANSWER"),
            chan("Newstate", &ca, &a, "6"),
        ] {
            raw_bytes += m.as_bytes().len();
            t.handle(&m, None, &mut out);
            out.clear();
        }
    }
    out.shrink_to_fit();
    let per_call = (LIVE.load(Ordering::Relaxed) - before) as f64 / N as f64;
    let raw_per_call = raw_bytes as f64 / N as f64;
    assert_eq!(t.open_calls(), N);
    println!(
        "memory: {N} active calls, {:.0} bytes per call ({:.2}x the {:.0} bytes of AMI that set each up)",
        per_call,
        per_call / raw_per_call,
        raw_per_call
    );
}
