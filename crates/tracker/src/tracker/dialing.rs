//! Dials: `DialBegin`/`DialState`/`DialEnd`, the Asterisk ≤ 11 `Dial`, and the
//! `OriginateResponse` of a call a program placed.

use super::call::transfers::NewDial;
use super::call::Channel;
use super::channels::{DEST, PLAIN};
use super::Seen;
use super::{header, Tracker};
use crate::names::{dialed_exten, endpoint_of_channel, is_local};
use crate::update::Update;
use crate::Timestamp;
use ami_wire::Message;

/// The number in a dial string: `2002`, `PJSIP/2002`, `0123@pstn`, `trunk/0123` → the
/// resource after any technology or peer, before any `@host`.
fn dialed_number(dial_string: &str) -> &str {
    let s = dial_string.rsplit('/').next().unwrap_or(dial_string);
    s.split(['@', ',']).next().unwrap_or(s)
}

/// The dial comes from a real channel, not a Local one (see `Channel::dialed_direct`).
fn dialed_directly(msg: &Message) -> bool {
    header(msg, "Channel").is_some_and(|c| !is_local(c))
}

impl Tracker {
    pub(super) fn on_dial(
        &mut self,
        msg: &Message,
        name: &str,
        t: Option<Timestamp>,
        out: &mut Vec<Update>,
    ) {
        let dialer = self.touch(msg, &PLAIN, t, Seen::Live, out);
        let Some(dest_l) = self.touch(msg, &DEST, t, Seen::Live, out) else {
            return;
        };
        let dest = header(msg, "DestUniqueid").unwrap_or("").to_string();
        let Some(call) = self.calls.get_mut(&dest_l) else {
            return;
        };
        if dialer.is_none() && header(msg, "Uniqueid").is_none() {
            // No dialing channel: an AMI Originate rings its first phone. That phone is the
            // caller (see the crate docs), and its answering is not the call's answer.
            if name == "dialbegin" {
                if let Some(ch) = call.channel_mut(&dest) {
                    ch.originated = true;
                }
                if call.caller.is_none() {
                    call.caller = Some(dest.clone());
                }
            }
            return;
        }
        let dialer_id = header(msg, "Uniqueid").unwrap_or("");
        // What the dialing channel is doing: whether this DialBegin is one more
        // destination of a Dial already ringing.
        let mut already_dialing = false;
        if let Some(ch) = dialer
            .as_deref()
            .and_then(|l| self.calls.get_mut(l))
            .and_then(|c| c.channel_mut(dialer_id))
        {
            match name {
                "dialbegin" => {
                    ch.dialed = true;
                    already_dialing = ch.open_dials > 0;
                    ch.open_dials = ch.open_dials.saturating_add(1);
                }
                "dialend" => ch.open_dials = ch.open_dials.saturating_sub(1),
                _ => {}
            }
        }
        if let Some(dialing) = dialer.as_deref().filter(|d| **d != dest_l) {
            if name == "dialbegin" && header(msg, "DestChannelState") == Some("6") {
                let dialing = dialing.to_string();
                self.on_pickup_by_dial(msg, &dialing, &dest_l, t, out);
                return;
            }
        }
        let Some(call) = self.calls.get_mut(&dest_l) else {
            return;
        };
        match name {
            "dialbegin" => {
                if call.is_caller(dialer_id) {
                    let local_caller = call.caller_channel().is_some_and(Channel::local);
                    // A program's Originate into a Local channel runs dial plan whose own
                    // exten is the route it entered (`Local/ID400377@…`), not a number
                    // anybody dialed; what it dials next is. A Local channel it dials is
                    // named by the extension it runs (`Local/202@ctx` dials 202).
                    let dest_local = header(msg, "DestChannel")
                        .filter(|c| is_local(c))
                        .and_then(endpoint_of_channel);
                    if local_caller && dest_local.is_some() {
                        call.offer_to(dest_local, true);
                    }
                    call.offer_to(msg.get("Exten"), true);
                    call.offer_to(msg.get("DestExten"), true);
                    // A caller outside the dial plan (an Originate into the `Dial`
                    // application: `Exten: s`) dialed what its dial string names.
                    call.offer_to(header(msg, "DialString").map(dialed_number), true);
                }
                call.begin_dial(&dest, dialed_directly(msg));
                let dial = NewDial {
                    dialer: dialer_id,
                    dest: &dest,
                    already_dialing,
                };
                self.on_redial(msg, &dest_l, dial, t, out);
            }
            "dialend" => {
                let status = header(msg, "DialStatus").unwrap_or("").to_ascii_uppercase();
                call.set_dial(&dest, &status);
                call.rang_until = t.max(call.rang_until);
                if status == "ANSWER" {
                    self.mark_up(&dest_l, &dest, t, Seen::Live, out);
                }
            }
            _ => {
                let status = header(msg, "DialStatus").unwrap_or("");
                if status.eq_ignore_ascii_case("RINGING") {
                    self.mark_ringing(&dest_l, &dest, t, out);
                }
            }
        }
    }

    /// Asterisk ≤ 11: `Event: Dial` with `SubEvent: Begin|End`, `UniqueID`/`DestUniqueID`.
    pub(super) fn on_legacy_dial(
        &mut self,
        msg: &Message,
        t: Option<Timestamp>,
        out: &mut Vec<Update>,
    ) {
        let Some(l) = self.touch(msg, &PLAIN, t, Seen::Live, out) else {
            return;
        };
        let sub = header(msg, "SubEvent").unwrap_or("").to_ascii_lowercase();
        let uniqueid = header(msg, "Uniqueid").unwrap_or("").to_string();
        if sub == "begin" {
            let (Some(dest), Some(dest_name)) =
                (header(msg, "DestUniqueid"), header(msg, "Destination"))
            else {
                return;
            };
            match self.channels.get(dest).cloned() {
                None => {
                    self.add_channel(&l, dest, dest_name, t, Seen::Live, out);
                }
                // Asterisk 11 has no Linkedid: the dialed channel's `Newchannel` made it a
                // call of its own. The dial says whose call it belongs to.
                Some(own)
                    if own != l && self.calls.get(&own).is_some_and(|c| c.channels.len() == 1) =>
                {
                    self.fold(&own, &l, out);
                }
                Some(_) => {}
            }
            if let Some(c) = self.calls.get_mut(&l) {
                if c.is_caller(&uniqueid) {
                    c.offer_to(
                        msg.get("Dialstring")
                            .map(|d| d.split('@').next().unwrap_or(d)),
                        false,
                    );
                }
                c.begin_dial(dest, dialed_directly(msg));
            }
        } else if sub == "end" {
            let status = header(msg, "DialStatus").unwrap_or("").to_ascii_uppercase();
            if let Some(c) = self.calls.get_mut(&l) {
                // Old versions name no destination on End: it closes every open dial.
                let open: Vec<String> = c
                    .dials
                    .iter()
                    .filter(|d| d.1.is_empty())
                    .map(|d| d.0.clone())
                    .collect();
                for d in open {
                    c.set_dial(&d, &status);
                }
            }
        }
    }

    pub(super) fn on_originate_response(&mut self, msg: &Message) {
        if !header(msg, "Response").is_some_and(|r| r.eq_ignore_ascii_case("Success")) {
            // Failed before any phone rang: not a call (the rulebook in lib.rs).
            return;
        }
        let Some(l) = header(msg, "Uniqueid")
            .and_then(|u| self.channels.get(u))
            .cloned()
        else {
            return;
        };
        if let Some(c) = self.calls.get_mut(&l) {
            if let Some(e) = dialed_exten(msg.get("Exten")) {
                c.originate_exten = Some(e.to_string());
            }
        }
    }
}
