//! Conferences: a caller entering `ConfBridge` is answered by the room.

use super::channels::{Seen, PLAIN};
use super::{header, Tracker};
use crate::call::Answerer;
use crate::update::Update;
use crate::Timestamp;
use ami_wire::Message;

impl Tracker {
    pub(super) fn on_confbridge(
        &mut self,
        msg: &Message,
        t: Option<Timestamp>,
        out: &mut Vec<Update>,
    ) {
        let Some(l) = self.touch(msg, &PLAIN, t, Seen::Live, out) else {
            return;
        };
        let uniqueid = header(msg, "Uniqueid").unwrap_or("");
        let id = format!("{}:{}", self.config.server, l);
        let Some(call) = self.calls.get_mut(&l) else {
            return;
        };
        if call.is_caller(uniqueid) {
            call.offer_to(msg.get("Exten"), true);
            if call.answered_by.is_none() {
                // The caller dialed a conference room: the room answers.
                call.answered_by = Some(Answerer::Application);
                call.answered_at = t;
                let by = call.answered_by_text().unwrap_or_default();
                call.note(t, "conference", format!("joined conference {by}"));
                out.push(Update::CallAnswered {
                    id,
                    answered_by: by,
                    at: t,
                });
            }
        }
    }
}
