//! Holds: `Hold`/`Unhold` on a channel, by its phone.

use super::channels::PLAIN;
use super::Seen;
use super::Tracker;
use crate::update::Update;
use crate::{Hold, Timestamp};
use ami_wire::Message;

impl Tracker {
    pub(super) fn on_hold(
        &mut self,
        msg: &Message,
        hold: bool,
        t: Option<Timestamp>,
        out: &mut Vec<Update>,
    ) {
        let Some(l) = self.touch(msg, &PLAIN, t, Seen::Live, out) else {
            return;
        };
        let by = self.party_of(msg, "Channel", "CallerIDNum");
        let id = format!("{}:{}", self.config.server, l);
        let Some(call) = self.calls.get_mut(&l) else {
            return;
        };
        if hold {
            if call.holds.len() < 256 {
                call.holds.push(Hold {
                    by: by.clone(),
                    held_at: t,
                    unheld_at: None,
                });
            }
            call.note(t, "hold", format!("{by} put the call on hold"));
            out.push(Update::CallHold { id, by, at: t });
        } else {
            if let Some(h) = call
                .holds
                .iter_mut()
                .rev()
                .find(|h| h.by == by && h.unheld_at.is_none())
            {
                h.unheld_at = t;
            }
            call.note(t, "unhold", format!("{by} took the call off hold"));
            out.push(Update::CallUnhold { id, by, at: t });
        }
    }
}
