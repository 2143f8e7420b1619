//! Queues: callers waiting (`QueueCallerJoin`/`Leave`, `QueueEntry`), members
//! (`QueueMember…`), and the agents app_queue connects (`AgentCalled`/`AgentConnect`).

use super::call::answering::Sign;
use super::channels::{DEST, PLAIN};
use super::Seen;
use super::{header, num, Tracker};
use crate::names::endpoint_of_interface;
use crate::update::{
    state_from_device_code, ActiveCall, QueueCaller, QueueMemberView, QueueView, Update,
};
use crate::{LegRole, QueueInfo, Timestamp};
use ami_wire::Message;
use std::collections::BTreeMap;

/// Callers kept per queue (a queue longer than this is a PBX in trouble).
const MAX_QUEUE_CALLERS: usize = 10_000;
/// Members kept per queue.
const MAX_QUEUE_MEMBERS: usize = 10_000;
/// Queues kept.
const MAX_QUEUES: usize = 10_000;

#[derive(Default)]
pub(super) struct QueueState {
    pub(super) callers: Vec<QueueCaller>,
    members: BTreeMap<String, QueueMemberView>,
}

impl Tracker {
    /// Queues with waiting callers and members, for `/api/queues`.
    pub fn queues(&self) -> Vec<QueueView> {
        self.queues.keys().map(|q| self.queue_view(q)).collect()
    }

    /// One queue as `/api/queues` shows it, if the tracker knows it.
    pub fn queue(&self, name: &str) -> Option<QueueView> {
        self.queues
            .contains_key(name)
            .then(|| self.queue_view(name))
    }

    pub(super) fn queue_view(&self, name: &str) -> QueueView {
        let q = self.queues.get(name);
        let mut callers = q.map(|q| q.callers.clone()).unwrap_or_default();
        callers.sort_by_key(|c| c.position);
        QueueView {
            server: self.config.server.clone(),
            name: name.to_string(),
            callers,
            members: q
                .map(|q| q.members.values().cloned().collect())
                .unwrap_or_default(),
        }
    }

    fn queue_mut(&mut self, name: &str) -> Option<&mut QueueState> {
        if !self.queues.contains_key(name) && self.queues.len() >= MAX_QUEUES {
            return None;
        }
        Some(self.queues.entry(name.to_string()).or_default())
    }

    /// A waiting caller as a queue event or a `QueueEntry` item describes it.
    fn queue_caller(
        &self,
        msg: &Message,
        linkedid: Option<String>,
        joined_at: Option<Timestamp>,
    ) -> QueueCaller {
        QueueCaller {
            channel: header(msg, "Channel").unwrap_or("").to_string(),
            uniqueid: header(msg, "Uniqueid").unwrap_or("").to_string(),
            call_id: linkedid.map(|l| format!("{}:{}", self.config.server, l)),
            number: num(msg.get("CallerIDNum")),
            position: header(msg, "Position")
                .and_then(|p| p.parse().ok())
                .unwrap_or(0),
            joined_at,
        }
    }

    /// Puts `caller` in `queue`, in place of an earlier entry of its channel; false when
    /// the queue is one too many to keep.
    fn seat_caller(&mut self, queue: &str, caller: QueueCaller) -> bool {
        let Some(q) = self.queue_mut(queue) else {
            return false;
        };
        q.callers.retain(|c| c.uniqueid != caller.uniqueid);
        if q.callers.len() < MAX_QUEUE_CALLERS {
            q.callers.push(caller);
        }
        true
    }

    pub(super) fn on_queue_join(
        &mut self,
        msg: &Message,
        t: Option<Timestamp>,
        out: &mut Vec<Update>,
    ) {
        let l = self.touch(msg, &PLAIN, t, Seen::Live, out);
        let Some(queue) = header(msg, "Queue").map(str::to_string) else {
            return;
        };
        if let Some(c) = l.as_ref().and_then(|l| self.calls.get_mut(l)) {
            c.queue = Some(QueueInfo {
                name: queue.clone(),
                wait_seconds: None,
            });
            c.queue_joined_at = t;
            c.offer_to(msg.get("Exten"), true);
            c.note(t, "queue", format!("joined queue {queue}"));
            out.push(Update::CallUpdated(ActiveCall::placeholder(&c.linkedid)));
        }
        let caller = self.queue_caller(msg, l, t);
        if self.seat_caller(&queue, caller) {
            out.push(Update::QueueChanged(self.queue_view(&queue)));
        }
    }

    pub(super) fn on_queue_abandon(
        &mut self,
        msg: &Message,
        t: Option<Timestamp>,
        out: &mut Vec<Update>,
    ) {
        if let Some(l) = self.touch(msg, &PLAIN, t, Seen::Live, out) {
            if let Some(c) = self.calls.get_mut(&l) {
                c.abandoned = true;
                // Sites that filter queue events (`QueueCallerJoin` off, as in
                // pre-filtered event sets) still send the abandon, which names the queue
                // and how long the caller held.
                let hold = header(msg, "HoldTime").and_then(|h| h.parse::<f64>().ok());
                match (&mut c.queue, header(msg, "Queue")) {
                    (None, Some(q)) => {
                        c.queue = Some(QueueInfo {
                            name: q.to_string(),
                            wait_seconds: hold,
                        })
                    }
                    (Some(info), _) if info.wait_seconds.is_none() => info.wait_seconds = hold,
                    _ => {}
                }
                c.note(t, "abandoned", "caller hung up while waiting".into());
            }
        }
    }

    /// The end of a `QueueStatus` list: each queue it rebuilt is reported once, whole.
    pub(super) fn on_queue_status_complete(&mut self, out: &mut Vec<Update>) {
        for q in std::mem::take(&mut self.queues_listing) {
            let view = self.queue_view(&q);
            out.push(Update::QueueChanged(view));
        }
    }

    pub(super) fn on_queue_leave(
        &mut self,
        msg: &Message,
        t: Option<Timestamp>,
        out: &mut Vec<Update>,
    ) {
        let l = self.touch(msg, &PLAIN, t, Seen::Live, out);
        if let Some(c) = l.as_ref().and_then(|l| self.calls.get_mut(l)) {
            if let (Some(q), Some(joined), Some(t)) = (c.queue.as_mut(), c.queue_joined_at, t) {
                if q.wait_seconds.is_none() {
                    q.wait_seconds = Some((t.seconds_since(joined) * 1000.0).round() / 1000.0);
                }
            }
        }
        let Some(queue) = header(msg, "Queue").map(str::to_string) else {
            return;
        };
        let uniqueid = header(msg, "Uniqueid").unwrap_or("");
        if let Some(q) = self.queues.get_mut(&queue) {
            let before = q.callers.len();
            let pos = q
                .callers
                .iter()
                .find(|c| c.uniqueid == uniqueid)
                .map(|c| c.position);
            q.callers.retain(|c| c.uniqueid != uniqueid);
            if let Some(pos) = pos {
                for c in q.callers.iter_mut().filter(|c| c.position > pos) {
                    c.position -= 1;
                }
            }
            if q.callers.len() != before {
                out.push(Update::QueueChanged(self.queue_view(&queue)));
            }
        }
    }

    pub(super) fn on_agent(
        &mut self,
        msg: &Message,
        connect: bool,
        t: Option<Timestamp>,
        out: &mut Vec<Update>,
    ) {
        let l = self.touch(msg, &PLAIN, t, Seen::Live, out);
        let dest_l = self.touch(msg, &DEST, t, Seen::Live, out);
        let dest = header(msg, "DestUniqueid").unwrap_or("");
        let Some(l) = l.or(dest_l) else {
            return;
        };
        let queue = header(msg, "Queue").map(str::to_string);
        let Some(call) = self.calls.get_mut(&l) else {
            return;
        };
        if let Some(ch) = call.channel_mut(dest) {
            if ch.role == LegRole::Callee {
                ch.role = LegRole::Agent;
            }
        }
        if call.queue.is_none() {
            if let Some(q) = &queue {
                call.queue = Some(QueueInfo {
                    name: q.clone(),
                    wait_seconds: None,
                });
            }
        }
        if !connect {
            return;
        }
        if let (Some(q), Some(h)) = (
            call.queue.as_mut(),
            header(msg, "HoldTime").and_then(|h| h.parse::<f64>().ok()),
        ) {
            q.wait_seconds.get_or_insert(h);
        }
        let interface = header(msg, "Interface").and_then(endpoint_of_interface);
        self.answer(&l, Sign::Agent { interface }, t, out);
    }

    pub(super) fn on_queue_member(&mut self, msg: &Message, out: &mut Vec<Update>) {
        let Some(queue) = header(msg, "Queue").map(str::to_string) else {
            return;
        };
        let Some(interface) = header(msg, "Interface")
            .or_else(|| header(msg, "Location"))
            .or_else(|| header(msg, "StateInterface"))
            .map(str::to_string)
        else {
            return;
        };
        let name = header(msg, "MemberName")
            .or_else(|| header(msg, "Name"))
            .map(str::to_string);
        let state = state_from_device_code(
            header(msg, "Status")
                .and_then(|s| s.parse().ok())
                .unwrap_or(0),
        );
        let paused =
            header(msg, "Paused").is_some_and(|p| p == "1" || p.eq_ignore_ascii_case("true"));
        let extension = endpoint_of_interface(&interface).map(str::to_string);
        let Some(q) = self.queue_mut(&queue) else {
            return;
        };
        let view = QueueMemberView {
            interface: interface.clone(),
            name,
            extension,
            state,
            paused,
        };
        if q.members.get(&interface) == Some(&view) {
            return;
        }
        if !q.members.contains_key(&interface) && q.members.len() >= MAX_QUEUE_MEMBERS {
            return;
        }
        q.members.insert(interface, view);
        if msg.action_id().is_none() {
            out.push(Update::QueueChanged(self.queue_view(&queue)));
        } else {
            self.queues_listing.insert(queue);
        }
    }

    pub(super) fn on_queue_member_removed(&mut self, msg: &Message, out: &mut Vec<Update>) {
        let (Some(queue), Some(interface)) = (header(msg, "Queue"), header(msg, "Interface"))
        else {
            return;
        };
        if let Some(q) = self.queues.get_mut(queue) {
            if q.members.remove(interface).is_some() {
                let queue = queue.to_string();
                out.push(Update::QueueChanged(self.queue_view(&queue)));
            }
        }
    }

    /// `QueueParams` opens a queue's part of a `QueueStatus` list: its waiting callers are
    /// rebuilt from the `QueueEntry` items that follow.
    pub(super) fn on_queue_params(&mut self, msg: &Message) {
        let Some(queue) = header(msg, "Queue").map(str::to_string) else {
            return;
        };
        if let Some(q) = self.queue_mut(&queue) {
            q.callers.clear();
            self.queues_listing.insert(queue);
        }
    }

    pub(super) fn on_queue_entry(
        &mut self,
        msg: &Message,
        t: Option<Timestamp>,
        out: &mut Vec<Update>,
    ) {
        let Some(queue) = header(msg, "Queue").map(str::to_string) else {
            return;
        };
        let l = self.touch(msg, &PLAIN, t, Seen::Listed, out);
        let wait = header(msg, "Wait").and_then(|w| w.parse::<i64>().ok());
        let joined_at = match (t, wait) {
            (Some(t), Some(w)) => Some(Timestamp(t.0 - w * 1_000_000)),
            _ => None,
        };
        if let Some(c) = l.as_ref().and_then(|l| self.calls.get_mut(l)) {
            if c.queue.is_none() {
                c.queue = Some(QueueInfo {
                    name: queue.clone(),
                    wait_seconds: None,
                });
            }
            c.queue_joined_at = c.queue_joined_at.or(joined_at);
            c.to_frozen = c.to_number.is_some();
        }
        let caller = self.queue_caller(msg, l, joined_at);
        if self.seat_caller(&queue, caller) {
            self.queues_listing.insert(queue);
        }
    }
}
