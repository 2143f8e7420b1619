//! From the tracker's updates to the stream's changes: after each event, the whole view of
//! every call, extension and queue the event touched, as the REST routes would show it.
//!
//! The tracker's [`Update`]s say *what happened* (a call rings, a hold ends); a stream
//! client needs *what things look like now* to stay equal to `/api/calls`,
//! `/api/extensions` and `/api/queues` without polling them. So the pipeline hands the
//! tracker's updates of each event to [`LiveViews::observe`], under the same lock of the
//! tracker, and it asks the tracker for the current view of each entity they touch:
//!
//! - a call named by an update: its view (`Tracker::active_call`), or its end or merge;
//! - the extensions of those calls' legs, before and after the event (a call that starts,
//!   ends or moves changes the `calls` list of each phone it involves): their views
//!   (`Tracker::extension`), which the hub drops when they did not change;
//! - an extension or a device whose state changed, a queue that changed: their views.
//!
//! What no event announces (a new `extensions` pattern on a retune, the calls a resync
//! adopted or closed, the calls a checkpoint brought back) is covered by a
//! [`Change::Reconcile`] of the whole PBX, which the hub diffs against what it holds.
//!
//! The cost is a view per touched entity per event, paid on the event path; a batch of
//! events pays it per event so the stream has one update per step, as the calls went.

use std::collections::HashMap;
use stream::{Change, Event};
use tracker::names::endpoint_of_interface;
use tracker::{Leg, Tracker, Update};

/// Calls whose extensions are remembered, at most (past it, a call's old extensions are
/// forgotten and only its current ones are refreshed when it changes).
const MAX_REMEMBERED: usize = 100_000;

/// What the pipeline remembers between events: the extensions each live call involved.
#[derive(Default)]
pub struct LiveViews {
    endpoints: HashMap<String, Vec<String>>,
}

fn call_event(update: &Update) -> Option<(&str, Event)> {
    Some(match update {
        Update::CallStarted(a) => (&a.id, Event::Started),
        Update::CallUpdated(a) => (&a.id, Event::Updated),
        Update::CallRinging { id, .. } => (id, Event::Ringing),
        Update::CallAnswered { id, .. } => (id, Event::Answered),
        Update::CallHold { id, .. } => (id, Event::Held),
        Update::CallUnhold { id, .. } => (id, Event::Unheld),
        Update::CallTransferred { id, .. } => (id, Event::Transferred),
        _ => return None,
    })
}

/// The event that names a step best: a call's start first, then the last specific one,
/// else a plain update.
fn stronger(old: Event, new: Event) -> Event {
    match (old, new) {
        (Event::Started, _) => Event::Started,
        (_, Event::Updated) => old,
        _ => new,
    }
}

impl LiveViews {
    /// The changes `updates` (one event's, just produced by `tracker`) make to the live
    /// views, appended to `out` in order: calls, then extensions, then queues. `call` is
    /// the id of the call the event named (its `Linkedid`), if any: the tracker does not
    /// announce every change it makes (a caller's leg marked answered after the call was),
    /// so the call an event names is looked at whatever the updates say, and the hub drops
    /// the view if it did not change.
    pub fn observe(
        &mut self,
        tracker: &Tracker,
        call: Option<String>,
        updates: &[Update],
        out: &mut Vec<Change>,
    ) {
        if updates.is_empty() && call.is_none() {
            return;
        }
        let mut calls: Vec<(String, Event)> = Vec::new();
        let mut gone: Vec<Change> = Vec::new();
        let mut extensions: Vec<String> = Vec::new();
        let mut queues: Vec<String> = Vec::new();
        for u in updates {
            if let Some((id, event)) = call_event(u) {
                match calls.iter_mut().find(|(c, _)| c == id) {
                    Some((_, e)) => *e = stronger(*e, event),
                    None => calls.push((id.to_string(), event)),
                }
                continue;
            }
            match u {
                Update::CallEnded(record) => gone.push(Change::CallEnded {
                    id: record.id.clone(),
                    record: record.clone(),
                }),
                Update::CallMerged { id, into } => {
                    gone.push(Change::CallMerged {
                        id: id.clone(),
                        into: into.clone(),
                    });
                    if !calls.iter().any(|(c, _)| c == into) {
                        calls.push((into.clone(), Event::Updated));
                    }
                }
                Update::ExtensionState(v) => extensions.push(v.extension.clone()),
                Update::DeviceState { device, .. } => {
                    if let Some(e) = endpoint_of_interface(device) {
                        extensions.push(e.to_string());
                    }
                }
                Update::QueueChanged(q) => queues.push(q.name.clone()),
                _ => {}
            }
        }
        if let Some(id) = call {
            if !calls.iter().any(|(c, _)| *c == id) {
                calls.push((id, Event::Updated));
            }
        }
        for (id, event) in calls {
            let Some(view) = tracker.active_call(&id) else {
                continue;
            };
            let now = endpoints(&view.legs);
            extensions.extend(now.iter().cloned());
            if let Some(before) = self.endpoints.get(&id) {
                extensions.extend(before.iter().cloned());
            }
            if self.endpoints.len() < MAX_REMEMBERED || self.endpoints.contains_key(&id) {
                self.endpoints.insert(id, now);
            }
            out.push(Change::Call { event, call: view });
        }
        for change in gone {
            let id = match &change {
                Change::CallEnded { id, .. } | Change::CallMerged { id, .. } => id,
                _ => continue,
            };
            if let Some(before) = self.endpoints.remove(id) {
                extensions.extend(before);
            }
            if let Change::CallEnded { record, .. } = &change {
                extensions.extend(endpoints(&record.legs));
            }
            out.push(change);
        }
        extensions.sort();
        extensions.dedup();
        out.extend(
            extensions
                .iter()
                .filter_map(|e| tracker.extension(e))
                .map(Change::Extension),
        );
        queues.sort();
        queues.dedup();
        out.extend(
            queues
                .iter()
                .filter_map(|q| tracker.queue(q))
                .map(Change::Queue),
        );
    }

    /// The whole state of the PBX, for the hub to diff (see the module's documentation).
    pub fn reconcile(&mut self, tracker: &Tracker, out: &mut Vec<Change>) {
        let change = reconcile(tracker);
        if let Change::Reconcile { calls, .. } = &change {
            self.endpoints = calls
                .iter()
                .map(|c| (c.id.clone(), endpoints(&c.legs)))
                .collect();
        }
        out.push(change);
    }
}

/// The endpoints of a call's legs: the extensions whose `calls` list it can be in.
fn endpoints(legs: &[Leg]) -> Vec<String> {
    legs.iter().filter_map(|l| l.endpoint.clone()).collect()
}

/// The whole state of the PBX as its tracker lists it.
pub fn reconcile(tracker: &Tracker) -> Change {
    Change::Reconcile {
        calls: tracker.active_calls(),
        extensions: tracker.extensions(),
        queues: tracker.queues(),
    }
}
