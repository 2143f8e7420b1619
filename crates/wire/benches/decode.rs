//! Decode throughput on the largest real recording, beside a reference measured in the same
//! run: a plain `memchr::memmem` scan for `\r\n\r\n` over the same bytes (the least any
//! decoder must do: find where messages end).
//!
//! `cargo bench -p ami-wire --bench decode` (release build). Prints MB/s and events/s for both,
//! and the ratio; the machine is shared and noisy, so each figure is the median of many runs
//! and only the ratio is meant to be compared across machines.

use ami_wire::{AmiCodec, Frame, Kind};
use bytes::BytesMut;
use std::hint::black_box;
use std::path::Path;
use std::time::{Duration, Instant};

/// Decodes every message of `buf`, as FramedRead does with the bytes a socket read put
/// there. The bytes are copied into `buf` before the clock starts: the socket's copy is the
/// kernel's, not the decoder's.
fn decode(mut buf: BytesMut) -> (usize, usize) {
    let mut codec = AmiCodec::client();
    let (mut events, mut messages) = (0, 0);
    while let Some(frame) = codec.decode(&mut buf).expect("the recording decodes") {
        if let Frame::Message(m) = frame {
            messages += 1;
            events += usize::from(m.kind() == Kind::Event);
            black_box(&m);
        }
    }
    (events, messages)
}

/// What any decoder that hands out one `Bytes` and one header list per message must do at
/// least: find the ends with the scan, cut each message off the buffer, allocate its list.
fn floor(mut buf: BytesMut) -> usize {
    let mut n = 0;
    while let Some(end) = memchr::memmem::find(&buf, b"\r\n\r\n") {
        let raw = buf.split_to(end + 4).freeze();
        let fields: Vec<(u32, u32, u32)> = Vec::with_capacity(24);
        black_box((&raw, &fields));
        n += 1;
    }
    n
}

fn scan(data: &[u8]) -> usize {
    memchr::memmem::find_iter(data, b"\r\n\r\n").count()
}

/// Median time of `f(setup())` over `runs` runs (after one warm-up); `setup` is not timed.
fn median<I, T>(runs: usize, mut setup: impl FnMut() -> I, mut f: impl FnMut(I) -> T) -> Duration {
    black_box(f(setup()));
    let mut times: Vec<Duration> = (0..runs)
        .map(|_| {
            let input = setup();
            let t = Instant::now();
            black_box(f(input));
            t.elapsed()
        })
        .collect();
    times.sort();
    times[runs / 2]
}

fn main() {
    let path =
        Path::new(env!("CARGO_MANIFEST_DIR")).join("../../fixtures/asterisk/22.10.1/load_mix.ami");
    let data = std::fs::read(&path).expect("fixtures/asterisk/22.10.1/load_mix.ami");
    // `AMI_BENCH_ONCE=1`: one pass only, for instruction counts under cachegrind/callgrind
    // (this machine has no hardware counters and too much noise for small differences).
    if std::env::var_os("AMI_BENCH_ONCE").is_some() {
        black_box(decode(BytesMut::from(&data[..])));
        return;
    }

    let (events, messages) = decode(BytesMut::from(&data[..]));
    let ends = scan(&data);
    let mb = data.len() as f64 / 1e6;
    println!(
        "load_mix.ami: {mb:.1} MB, {messages} messages ({events} events), {ends} \\r\\n\\r\\n"
    );

    // Interleave the two so that machine noise hits both alike.
    let runs = 31;
    let mut ratios = Vec::new();
    let (mut t_scan, mut t_decode, mut t_floor) = (Vec::new(), Vec::new(), Vec::new());
    for _ in 0..5 {
        t_floor.push(median(runs, || BytesMut::from(&data[..]), floor));
        let s = median(runs, || (), |()| scan(&data));
        let d = median(runs, || BytesMut::from(&data[..]), decode);
        ratios.push(d.as_secs_f64() / s.as_secs_f64());
        t_scan.push(s);
        t_decode.push(d);
    }
    t_scan.sort();
    t_decode.sort();
    t_floor.sort();
    ratios.sort_by(f64::total_cmp);
    let (s, d) = (t_scan[2], t_decode[2]);
    let report = |name: &str, t: Duration| {
        println!(
            "{name:<28} {:>8.1} MB/s {:>12.0} events/s   ({:.2} ms per pass)",
            mb / t.as_secs_f64(),
            events as f64 / t.as_secs_f64(),
            t.as_secs_f64() * 1e3
        );
    };
    report("memmem scan for \\r\\n\\r\\n", s);
    report("floor: scan+split+alloc", t_floor[2]);
    report("AmiCodec::decode", d);
    println!(
        "decode / scan time ratio: {:.2} (goal: within 3)",
        ratios[2]
    );
    println!(
        "floor / scan: {:.2}, decode / floor: {:.2}",
        t_floor[2].as_secs_f64() / s.as_secs_f64(),
        d.as_secs_f64() / t_floor[2].as_secs_f64()
    );
}
