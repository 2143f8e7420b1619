//! Resync after a (re)connect: the open calls a new session's `CoreShowChannels` list
//! confirms, adopts or closes.

use super::call::answering::Sign;
use super::channels::PLAIN;
use super::Seen;
use super::{header, Tracker};
use crate::update::Update;
use crate::{EndReason, QueueInfo, Timestamp};
use ami_wire::Message;
use std::collections::HashSet;

/// What a resync after a (re)connect has to reconcile.
pub(super) struct Resync {
    /// Calls open when the session started.
    open_before: HashSet<String>,
    /// Uniqueids listed by `CoreShowChannels` so far.
    listed: HashSet<String>,
}

impl Tracker {
    /// A new AMI session logged in: the lists that follow (`CoreShowChannels`, …) are a
    /// resync. Calls open now and missing from `CoreShowChannels` are closed with
    /// `end: "ended_while_disconnected"` when its `CoreShowChannelsComplete` arrives.
    pub fn session_started(&mut self, at: Option<Timestamp>, _out: &mut Vec<Update>) {
        // Timestamps of the old session say nothing about the new one.
        self.last_ts = at;
        self.resync = Some(Resync {
            open_before: self.calls.keys().cloned().collect(),
            listed: HashSet::new(),
        });
    }

    /// The AMI session dropped. Calls stay open: they may well go on without us, and the
    /// resync of the next session decides.
    pub fn session_lost(&mut self, at: Option<Timestamp>, _out: &mut Vec<Update>) {
        if at.is_some() {
            self.last_ts = at;
        }
        self.resync = None;
    }

    /// An item of `CoreShowChannels`: a channel that exists now. Unknown ones are adopted
    /// (with their call); known ones are left as they are, apart from what the list adds.
    pub(super) fn on_core_show_channel(
        &mut self,
        msg: &Message,
        t: Option<Timestamp>,
        out: &mut Vec<Update>,
    ) {
        let Some(l) = self.touch(msg, &PLAIN, t, Seen::Listed, out) else {
            return;
        };
        let uniqueid = header(msg, "Uniqueid").unwrap_or("").to_string();
        if let Some(r) = self.resync.as_mut() {
            r.listed.insert(uniqueid.clone());
        }
        let app = header(msg, "Application")
            .unwrap_or("")
            .to_ascii_lowercase();
        let data = header(msg, "ApplicationData").unwrap_or("");
        let duration = header(msg, "Duration").and_then(parse_hms);
        let Some(call) = self.calls.get_mut(&l) else {
            return;
        };
        let is_caller = call.is_caller(&uniqueid);
        let mut started = None;
        if let Some(ch) = call.channel_mut(&uniqueid) {
            if ch.started_at.is_none() {
                // `Duration` is whole seconds, cut down: the channel began between d and
                // d + 1 s ago; the middle is half a second off at worst.
                ch.started_at = match (t, duration) {
                    (Some(t), Some(d)) => Some(Timestamp(t.0 - d * 1_000_000 - 500_000)),
                    _ => None,
                };
                started = ch.started_at;
            }
        }
        if is_caller && started.is_some() {
            call.first_seen = started;
        }
        if header(msg, "ChannelState") == Some("6") {
            self.listed_up(&l, &uniqueid, t, out);
        }
        let Some(call) = self.calls.get_mut(&l) else {
            return;
        };
        if !call.is_caller(&uniqueid) {
            return;
        }
        match app.as_str() {
            "dial" | "queue" | "confbridge" | "meetme" | "voicemail" => {
                call.offer_to(msg.get("Exten"), true)
            }
            _ => {}
        }
        if app == "queue" && call.queue.is_none() {
            let name = data.split([',', '|']).next().unwrap_or("").trim();
            if !name.is_empty() {
                call.queue = Some(QueueInfo {
                    name: name.to_string(),
                    wait_seconds: None,
                });
            }
        }
        if app == "voicemail" {
            // When it got there is not in the list.
            call.fell_to_voicemail(None);
        }
        if app == "confbridge" || app == "meetme" {
            let seen = Seen::Listed;
            self.answer(
                &l,
                Sign::Conference {
                    uniqueid: &uniqueid,
                    seen,
                },
                t,
                out,
            );
        }
    }

    /// The end of `CoreShowChannels`: after a reconnect, calls we had open that are not in
    /// the list ended while we were away; channels of listed calls that are missing hung up.
    pub(super) fn on_core_show_channels_complete(
        &mut self,
        t: Option<Timestamp>,
        out: &mut Vec<Update>,
    ) {
        let Some(resync) = self.resync.take() else {
            return;
        };
        let mut gone = Vec::new();
        for l in &resync.open_before {
            let Some(call) = self.calls.get_mut(l) else {
                continue;
            };
            if call
                .channels
                .iter()
                .any(|c| resync.listed.contains(&c.uniqueid))
            {
                for ch in call.channels.iter_mut() {
                    if !ch.hung_up && !resync.listed.contains(&ch.uniqueid) {
                        ch.hung_up = true;
                        ch.ended_at = t;
                    }
                }
            } else {
                gone.push((call.first_seen, l.clone()));
            }
        }
        gone.sort();
        for (_, l) in gone {
            self.finish(&l, EndReason::EndedWhileDisconnected, out);
        }
    }
}

/// `HH:MM:SS` (CoreShowChannel `Duration`) in seconds.
fn parse_hms(s: &str) -> Option<i64> {
    let mut total = 0i64;
    for part in s.split(':') {
        total = total
            .checked_mul(60)?
            .checked_add(part.trim().parse::<i64>().ok()?)?;
    }
    Some(total)
}
