//! Channels: the snapshot every event carries, which call a channel belongs to, and the end
//! of a channel.

use super::call::transfers::joining_role;
use super::call::{Call, Channel};
use super::Seen;
use super::{header, num, Tracker};
use crate::names::{dialed_exten, endpoint_of_channel};
use crate::update::{ActiveCall, Update};
use crate::{EndReason, LegRole, Timestamp};
use ami_wire::Message;

/// The header names of one channel snapshot in an event: plain (`Channel`, `Uniqueid`, …)
/// or prefixed (`DestChannel`, `DestUniqueid`, … in Dial and Agent events).
pub(super) struct Snapshot {
    channel: &'static str,
    uniqueid: &'static str,
    linkedid: &'static str,
    number: &'static str,
    name: &'static str,
    exten: &'static str,
    state: &'static str,
}

pub(super) const PLAIN: Snapshot = Snapshot {
    channel: "Channel",
    uniqueid: "Uniqueid",
    linkedid: "Linkedid",
    number: "CallerIDNum",
    name: "CallerIDName",
    exten: "Exten",
    state: "ChannelState",
};

/// [`PLAIN`] for the events that end a channel, read without `Exten`: a channel ending runs
/// its hangup handlers (`Exten: onhangup`, `h`), which is nowhere anybody dialed.
const ENDING: Snapshot = Snapshot { exten: "", ..PLAIN };

pub(super) const DEST: Snapshot = Snapshot {
    channel: "DestChannel",
    uniqueid: "DestUniqueid",
    linkedid: "DestLinkedid",
    number: "DestCallerIDNum",
    name: "DestCallerIDName",
    exten: "DestExten",
    state: "DestChannelState",
};

impl Tracker {
    /// Finds or creates the channel a snapshot describes; returns the Linkedid of its call.
    pub(super) fn touch(
        &mut self,
        msg: &Message,
        keys: &Snapshot,
        t: Option<Timestamp>,
        seen: Seen,
        out: &mut Vec<Update>,
    ) -> Option<String> {
        let uniqueid = header(msg, keys.uniqueid)?;
        if uniqueid.eq_ignore_ascii_case("<unknown>") {
            return None;
        }
        let linkedid = match self.channels.get(uniqueid) {
            Some(l) => l.clone(),
            None => {
                let linkedid = header(msg, keys.linkedid).unwrap_or(uniqueid);
                if self.ended.contains(linkedid) || self.ended.contains(uniqueid) {
                    return None;
                }
                let channel_name = header(msg, keys.channel)?;
                self.add_channel(linkedid, uniqueid, channel_name, t, seen, out)?;
                linkedid.to_string()
            }
        };
        let call = self.calls.get_mut(&linkedid)?;
        if seen == Seen::Live {
            call.last_event = t.or(call.last_event);
        }
        let is_caller = call.is_caller(uniqueid);
        let ch = call.channel_mut(uniqueid)?;
        if ch.number.is_none() {
            ch.number = num(msg.get(keys.number));
        }
        if ch.cid_name.is_none() {
            ch.cid_name = num(msg.get(keys.name));
        }
        let exten = msg.get(keys.exten).map(str::trim);
        if let Some(e) = dialed_exten(exten) {
            if ch.exten.as_deref() != Some(e) {
                ch.exten = Some(e.to_string());
            }
        }
        // A Local caller (an Originate into a Local channel) runs a route, not a number
        // anybody dialed: its `to` comes from what it dials (`tracker/dialing.rs`).
        if is_caller && !ch.local() {
            // A call from a trunk is to the number it arrived on (the DID), whatever the
            // dial plan does next (IVR, Goto an extension): the first real exten settles it.
            let from_trunk = ch
                .endpoint
                .as_deref()
                .is_some_and(|e| !ch.local() && !self.config.is_extension(e));
            call.offer_to(exten, from_trunk);
        }
        match header(msg, keys.state) {
            Some("6") => self.mark_up(&linkedid, uniqueid, t, seen, out),
            Some("5") => self.mark_ringing(&linkedid, uniqueid, t, out),
            _ => {}
        }
        Some(linkedid)
    }

    pub(super) fn add_channel(
        &mut self,
        linkedid: &str,
        uniqueid: &str,
        name: &str,
        t: Option<Timestamp>,
        seen: Seen,
        out: &mut Vec<Update>,
    ) -> Option<()> {
        let is_new_call = !self.calls.contains_key(linkedid);
        let call = self
            .calls
            .entry(linkedid.to_string())
            .or_insert_with(|| Call::new(linkedid, t));
        if !call.can_add_leg() {
            return None;
        }
        let caller_is_local = call.caller_channel().is_some_and(Channel::local);
        let role = if uniqueid == linkedid {
            call.caller = Some(uniqueid.to_string());
            // A Local caller seen after the channels it rang (a capture started mid-call):
            // the first real channel already known is the phone it rang first.
            if crate::names::is_local(name) && call.origin.is_none() {
                if let Some(first) = call.channels.iter_mut().find(|c| !c.local()) {
                    first.role = LegRole::Caller;
                    call.origin = Some(first.uniqueid.clone());
                }
            }
            LegRole::Caller
        } else if caller_is_local && call.origin.is_none() && !crate::names::is_local(name) {
            // An Originate through a Local channel: the first phone it rings is the caller.
            call.origin = Some(uniqueid.to_string());
            LegRole::Caller
        } else {
            joining_role(call)
        };
        call.channels.push(Channel {
            uniqueid: uniqueid.to_string(),
            name: name.to_string(),
            endpoint: endpoint_of_channel(name).map(str::to_string),
            number: None,
            cid_name: None,
            exten: None,
            role,
            started_at: if seen == Seen::Live { t } else { None },
            answered_at: None,
            ended_at: None,
            cause: None,
            cause_text: None,
            up: false,
            ringing: false,
            hung_up: false,
            originated: false,
            number_from_dialplan: false,
            dialed: false,
            open_dials: 0,
            dialed_direct: false,
        });
        self.channels
            .insert(uniqueid.to_string(), linkedid.to_string());
        if let Some(e) = endpoint_of_channel(name) {
            self.index_endpoint(e, linkedid);
        }
        // Announced after the whole event has been read (see `announce`).
        if is_new_call {
            out.push(Update::CallStarted(ActiveCall::placeholder(linkedid)));
        } else {
            out.push(Update::CallUpdated(ActiveCall::placeholder(linkedid)));
        }
        Some(())
    }

    /// [`Tracker::touch`] for events that end a channel: a channel never seen is not
    /// created, only counted (see [`Tracker::unknown_hangups`]).
    pub(super) fn touch_known(
        &mut self,
        msg: &Message,
        t: Option<Timestamp>,
        out: &mut Vec<Update>,
    ) -> Option<String> {
        let uniqueid = header(msg, PLAIN.uniqueid)?;
        if !self.channels.contains_key(uniqueid) {
            // A late event of a call already closed is not a stranger.
            let linkedid = header(msg, PLAIN.linkedid).unwrap_or(uniqueid);
            if !self.ended.contains(linkedid) && !self.ended.contains(uniqueid) {
                self.unknown_hangups += 1;
            }
            return None;
        }
        self.touch(msg, &ENDING, t, Seen::Live, out)
    }

    pub(super) fn mark_ringing(
        &mut self,
        linkedid: &str,
        uniqueid: &str,
        t: Option<Timestamp>,
        out: &mut Vec<Update>,
    ) {
        let Some(call) = self.calls.get_mut(linkedid) else {
            return;
        };
        let is_caller = call.is_caller(uniqueid);
        let Some(ch) = call.channel_mut(uniqueid) else {
            return;
        };
        if ch.ringing || ch.up || is_caller || ch.local() {
            return;
        }
        ch.ringing = true;
        let (channel, endpoint) = (ch.name.clone(), ch.endpoint.clone());
        out.push(Update::CallRinging {
            id: format!("{}:{}", self.config.server, linkedid),
            channel,
            endpoint,
            at: t,
        });
    }

    /// `VarSet` is most of the traffic (over half of all events) and only says the channel
    /// is alive: a known channel just counts as activity. An unknown one is adopted, as
    /// from any other snapshot (attaching mid-call).
    pub(super) fn on_varset(&mut self, msg: &Message, t: Option<Timestamp>, out: &mut Vec<Update>) {
        if let Some(l) = header(msg, "Uniqueid").and_then(|u| self.channels.get(u)) {
            if let (Some(c), Some(t)) = (self.calls.get_mut(l.as_str()), t) {
                c.last_event = Some(t);
            }
            return;
        }
        self.touch(msg, &PLAIN, t, Seen::Live, out);
    }

    pub(super) fn on_newexten(
        &mut self,
        msg: &Message,
        t: Option<Timestamp>,
        out: &mut Vec<Update>,
    ) {
        let Some(l) = self.touch(msg, &PLAIN, t, Seen::Live, out) else {
            return;
        };
        let app = header(msg, "Application").unwrap_or("");
        let uniqueid = header(msg, "Uniqueid").unwrap_or("");
        if let Some(c) = self.calls.get_mut(&l) {
            if c.is_caller(uniqueid) && app.eq_ignore_ascii_case("VoiceMail") {
                c.fell_to_voicemail(t);
                c.offer_to(msg.get("Exten"), true);
            }
        }
    }

    pub(super) fn on_hangup(&mut self, msg: &Message, t: Option<Timestamp>, out: &mut Vec<Update>) {
        let Some(l) = self.touch_known(msg, t, out) else {
            return;
        };
        let uniqueid = header(msg, "Uniqueid").unwrap_or("");
        let Some(call) = self.calls.get_mut(&l) else {
            return;
        };
        self.bridges.leave(uniqueid);
        if let Some(ch) = call.channel_mut(uniqueid) {
            if !ch.hung_up {
                ch.hung_up = true;
                ch.ended_at = t;
                ch.cause = header(msg, "Cause").and_then(|c| c.parse().ok());
                ch.cause_text = header(msg, "Cause-txt").map(str::to_string);
            }
        }
        if call.all_hung_up() {
            self.finish(&l, EndReason::Hangup, out);
        }
    }

    /// `NewCallerid`: the dial plan set the channel's caller ID (`Set(CALLERID(num)=…)`,
    /// a provider's per-account caller ID, a privacy mask). Until the channel dials, that is
    /// the number it calls with: the number the callee sees (its `ConnectedLineNum`).
    pub(super) fn on_newcallerid(
        &mut self,
        msg: &Message,
        t: Option<Timestamp>,
        out: &mut Vec<Update>,
    ) {
        let Some(l) = self.touch(msg, &PLAIN, t, Seen::Live, out) else {
            return;
        };
        let uniqueid = header(msg, "Uniqueid").unwrap_or("");
        let Some(ch) = self.calls.get_mut(&l).and_then(|c| c.channel_mut(uniqueid)) else {
            return;
        };
        if ch.dialed {
            return;
        }
        let Some(n) = num(msg.get("CallerIDNum")) else {
            return;
        };
        // The name goes with a new number; a new name alone (a click-to-dial program's
        // label on the phone's own leg) does not rename the person.
        if ch.number.as_deref() != Some(n.as_str()) {
            ch.cid_name = num(msg.get("CallerIDName"));
        }
        ch.number = Some(n);
        ch.number_from_dialplan = true;
    }

    /// Asterisk ≤ 11 renames channels on masquerade (`Rename`: `Channel` → `Newname`).
    pub(super) fn on_rename(&mut self, msg: &Message) {
        let (Some(u), Some(new)) = (header(msg, "Uniqueid"), header(msg, "Newname")) else {
            return;
        };
        let Some(l) = self.channels.get(u).cloned() else {
            return;
        };
        if let Some(ch) = self.calls.get_mut(&l).and_then(|c| c.channel_mut(u)) {
            ch.name = new.to_string();
            ch.endpoint = endpoint_of_channel(new).map(str::to_string);
        }
        if let Some(e) = endpoint_of_channel(new) {
            self.index_endpoint(e, &l);
        }
    }

    pub(super) fn index_endpoint(&mut self, endpoint: &str, linkedid: &str) {
        let v = self.by_endpoint.entry(endpoint.to_string()).or_default();
        if !v.iter().any(|l| l == linkedid) {
            v.push(linkedid.to_string());
        }
    }

    pub(super) fn unindex_endpoint(&mut self, endpoint: &str, linkedid: &str) {
        if let Some(v) = self.by_endpoint.get_mut(endpoint) {
            v.retain(|l| l != linkedid);
            if v.is_empty() {
                self.by_endpoint.remove(endpoint);
            }
        }
    }

    pub(super) fn call_of(&self, msg: &Message, uniqueid: &str, linkedid: &str) -> Option<String> {
        header(msg, uniqueid)
            .and_then(|u| self.channels.get(u).cloned())
            .or_else(|| {
                header(msg, linkedid)
                    .filter(|l| self.calls.contains_key(*l))
                    .map(str::to_string)
            })
    }

    pub(super) fn party_of(
        &self,
        msg: &Message,
        prefix_channel: &str,
        prefix_number: &str,
    ) -> String {
        header(msg, prefix_channel)
            .and_then(endpoint_of_channel)
            .filter(|e| self.config.is_extension(e))
            .map(str::to_string)
            .or_else(|| num(msg.get(prefix_number)))
            .unwrap_or_else(|| "unknown".into())
    }
}
