//! `switchboard replay FILE.ami [--json] [--summary] [--server NAME]`: feeds a recording of
//! an AMI session (the bytes Asterisk sent, banner first) through the codec and the tracker,
//! offline, and prints the calls in the order they ended. The end of the file is the end of
//! the stream: calls still open then are reported with `end: "stream_ended"`.

use ami::{AmiCodec, Frame};
use bytes::BytesMut;
use std::collections::BTreeMap;
use std::path::PathBuf;
use std::process::ExitCode;
use tracker::{CallRecord, Tracker, TrackerConfig, Update};

#[derive(clap::Args)]
pub struct Args {
    /// The recording: the raw bytes of an AMI session, from the banner on.
    pub file: PathBuf,
    /// One JSON call record per line (the `CallRecord` contract).
    #[arg(long)]
    pub json: bool,
    /// Counts per disposition after the calls.
    #[arg(long)]
    pub summary: bool,
    /// The server name in call ids (`server:linkedid`).
    #[arg(long, default_value = "pbx1")]
    pub server: String,
}

/// Decodes `bytes` as a client-side AMI stream and runs every message through a fresh
/// tracker; returns the call records in the order the calls ended.
pub fn replay_bytes(bytes: &[u8], server: &str) -> Result<Vec<CallRecord>, String> {
    let mut codec = AmiCodec::client();
    let mut buf = BytesMut::from(bytes);
    let mut tracker = Tracker::new(TrackerConfig::new(server));
    let mut updates = Vec::new();
    let mut records = Vec::new();
    let mut saw_banner = false;
    let mut at_eof = false;
    loop {
        let frame = if at_eof {
            codec.decode_eof(&mut buf)
        } else {
            codec.decode(&mut buf)
        };
        match frame {
            Ok(Some(Frame::Banner(_))) => saw_banner = true,
            Ok(Some(Frame::Message(m))) => tracker.handle(&m, None, &mut updates),
            Ok(None) if !at_eof => at_eof = true,
            Ok(None) => break,
            Err(e) => {
                if !saw_banner {
                    return Err(format!("this is not an AMI recording: {e}"));
                }
                // A damaged tail: report what came before it, as a live session would.
                eprintln!("replay: stopped decoding: {e}");
                break;
            }
        }
        collect(&mut updates, &mut records);
    }
    if !saw_banner {
        return Err(
            "this is not an AMI recording: it does not start with the \"Asterisk Call Manager/…\" banner"
                .into(),
        );
    }
    tracker.end_of_stream(&mut updates);
    collect(&mut updates, &mut records);
    Ok(records)
}

fn collect(updates: &mut Vec<Update>, records: &mut Vec<CallRecord>) {
    for u in updates.drain(..) {
        if let Update::CallEnded(r) = u {
            records.push(r);
        }
    }
}

fn line(r: &CallRecord) -> String {
    let t = r
        .started_at
        .map(|t| t.to_rfc3339())
        .unwrap_or_else(|| "-".into());
    let from = r.from.number.as_deref().unwrap_or("?");
    let to = r.to.number.as_deref().unwrap_or("?");
    let mut s = format!(
        "{t}  {:<8} {from:>14} -> {to:<14} {:<9}",
        r.direction.as_str(),
        r.disposition.as_str()
    );
    if let Some(a) = &r.answered_by {
        s.push_str(&format!(" by {a}"));
    }
    if let Some(q) = &r.queue {
        s.push_str(&format!(" queue {}", q.name));
    }
    for tr in &r.transfers {
        s.push_str(&format!(" transfer {}->{}", tr.by, tr.to));
    }
    if r.voicemail {
        s.push_str(" voicemail");
    }
    if r.end != tracker::EndReason::Hangup {
        s.push_str(&format!(
            " [{}]",
            serde_json::to_string(&r.end)
                .unwrap_or_default()
                .trim_matches('"')
        ));
    }
    s
}

pub fn main(args: Args) -> ExitCode {
    let bytes = match std::fs::read(&args.file) {
        Ok(b) => b,
        Err(e) => {
            eprintln!(
                "switchboard replay: cannot read {}: {e} (give the path of a .ami recording)",
                args.file.display()
            );
            return ExitCode::from(2);
        }
    };
    let records = match replay_bytes(&bytes, &args.server) {
        Ok(r) => r,
        Err(e) => {
            eprintln!("switchboard replay: {}: {e}", args.file.display());
            return ExitCode::from(2);
        }
    };
    let mut counts: BTreeMap<&str, usize> = BTreeMap::new();
    for r in &records {
        *counts.entry(r.disposition.as_str()).or_default() += 1;
        if args.json {
            match serde_json::to_string(r) {
                Ok(j) => println!("{j}"),
                Err(e) => eprintln!("switchboard replay: cannot serialise a record: {e}"),
            }
        } else {
            println!("{}", line(r));
        }
    }
    if args.summary {
        let text = format!(
            "{} calls: {}",
            records.len(),
            counts
                .iter()
                .map(|(k, v)| format!("{k} {v}"))
                .collect::<Vec<_>>()
                .join(", ")
        );
        // Keep stdout pure JSON lines with --json.
        if args.json {
            eprintln!("{text}");
        } else {
            println!("{text}");
        }
    }
    ExitCode::SUCCESS
}
