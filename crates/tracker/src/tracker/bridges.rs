//! Bridges: who is connected to whom. Asterisk puts the channels that talk to each other in
//! one bridge (`BridgeEnter` / `BridgeLeave`, `BridgeUniqueid`); a Local channel's two
//! halves (`Local/…;1` and `;2`) pass audio between the bridges they sit in, so a caller in
//! bridge X with `;1` talks to whoever is in bridge Y with `;2`.
//!
//! This is what "answered" means for a party behind a Local route (DESIGN: answered means
//! connected to the caller): such a party goes `Up` inside dial plan the route runs (a
//! "press 1 to accept" prompt, a screening macro) and may never be connected to the
//! caller. Its answer counts once a chain of bridges and Local pairs joins it to the
//! caller (`Sign::Connected`, decided in `call/answering.rs`).

use super::call::answering::Sign;
use super::call::{Call, Channel};
use super::channels::PLAIN;
use super::{header, Seen, Tracker};
use crate::names::local_pair;
use crate::update::Update;
use crate::Timestamp;
use ami_wire::Message;
use std::collections::HashMap;

/// Channels per bridge we keep (a conference can hold many; the connectivity question
/// needs only a few).
const MAX_MEMBERS: usize = 64;

/// Which channels are in which bridge, across all calls (a transfer bridges two calls).
#[derive(Default)]
pub(super) struct Bridges {
    members: HashMap<String, Vec<String>>,
    /// Uniqueid → the bridge it is in.
    of: HashMap<String, String>,
}

impl Bridges {
    fn enter(&mut self, bridge: &str, uniqueid: &str) {
        self.leave(uniqueid);
        let m = self.members.entry(bridge.to_string()).or_default();
        if m.len() < MAX_MEMBERS {
            m.push(uniqueid.to_string());
            self.of.insert(uniqueid.to_string(), bridge.to_string());
        }
    }

    /// The channel left its bridge (or hung up).
    pub(super) fn leave(&mut self, uniqueid: &str) {
        let Some(bridge) = self.of.remove(uniqueid) else {
            return;
        };
        if let Some(m) = self.members.get_mut(&bridge) {
            m.retain(|u| u != uniqueid);
            if m.is_empty() {
                self.members.remove(&bridge);
            }
        }
    }

    fn peers(&self, uniqueid: &str) -> &[String] {
        self.of
            .get(uniqueid)
            .and_then(|b| self.members.get(b))
            .map_or(&[], Vec::as_slice)
    }
}

/// The channels of `call` that went Up but answer only once connected to the caller
/// (see `Channel::dialed_direct`).
fn awaiting_connection(call: &Call) -> impl Iterator<Item = &Channel> {
    call.channels
        .iter()
        .filter(|c| c.up && !c.dialed_direct && call.may_be_answerer(c))
}

/// Whether `target` is joined to the person who called (`call.person()`), through bridges
/// and Local pairs, among the channels of `call`.
fn connected(call: &Call, bridges: &Bridges, target: &str) -> bool {
    let Some(person) = call.person().map(|c| c.uniqueid.as_str()) else {
        return false;
    };
    let mut seen: Vec<&str> = vec![target];
    let mut i = 0;
    while i < seen.len() {
        let at = seen[i];
        i += 1;
        if at == person {
            return true;
        }
        let mut next: Vec<&str> = bridges.peers(at).iter().map(String::as_str).collect();
        if let Some(other) = call
            .channel(at)
            .and_then(|c| local_pair(&c.name))
            .and_then(|pair| call.channels.iter().find(|c| c.name == pair))
        {
            next.push(other.uniqueid.as_str());
        }
        for n in next {
            if !seen.contains(&n) && call.channel(n).is_some() {
                seen.push(n);
            }
        }
    }
    false
}

impl Tracker {
    pub(super) fn on_bridge_enter(
        &mut self,
        msg: &Message,
        t: Option<Timestamp>,
        out: &mut Vec<Update>,
    ) {
        let Some(l) = self.touch(msg, &PLAIN, t, Seen::Live, out) else {
            return;
        };
        let (Some(uniqueid), Some(bridge)) =
            (header(msg, "Uniqueid"), header(msg, "BridgeUniqueid"))
        else {
            return;
        };
        self.bridges.enter(&bridge.to_ascii_lowercase(), uniqueid);
        self.connect_waiting(&l, t, out);
    }

    pub(super) fn on_bridge_leave(
        &mut self,
        msg: &Message,
        t: Option<Timestamp>,
        out: &mut Vec<Update>,
    ) {
        let l = self.touch(msg, &PLAIN, t, Seen::Live, out);
        if let Some(uniqueid) = header(msg, "Uniqueid") {
            self.bridges.leave(uniqueid);
        }
        if let Some(c) = l.and_then(|l| self.calls.get_mut(&l)) {
            c.bridged = true;
        }
    }

    /// After a bridge change in call `linkedid`: the first party waiting to be connected
    /// (it went Up behind a Local route) that now is, answers.
    fn connect_waiting(&mut self, linkedid: &str, t: Option<Timestamp>, out: &mut Vec<Update>) {
        let Some(call) = self.calls.get_mut(linkedid) else {
            return;
        };
        call.bridged = true;
        if call.answer.is_answered() {
            return;
        }
        let mut waiting: Vec<&Channel> = awaiting_connection(call).filter(|c| !c.hung_up).collect();
        waiting.sort_by_key(|c| c.answered_at);
        let Some(first) = waiting
            .into_iter()
            .find(|c| connected(call, &self.bridges, &c.uniqueid))
            .map(|c| c.uniqueid.clone())
        else {
            return;
        };
        self.answer(linkedid, Sign::Connected { uniqueid: &first }, t, out);
    }

    /// A call ends that never showed a bridge (a site that filters bridge events): the
    /// first party that went Up behind a Local route is taken for the answer, as if every
    /// answer were connected.
    pub(super) fn settle_unbridged(&mut self, linkedid: &str, out: &mut Vec<Update>) {
        let Some(call) = self.calls.get(linkedid) else {
            return;
        };
        if call.bridged || call.answer.is_answered() {
            return;
        }
        let first = awaiting_connection(call)
            .min_by_key(|c| c.answered_at)
            .map(|c| (c.uniqueid.clone(), c.answered_at));
        if let Some((uniqueid, at)) = first {
            self.answer(
                linkedid,
                Sign::Connected {
                    uniqueid: &uniqueid,
                },
                at,
                out,
            );
        }
    }
}
