//! Conferences: a caller entering `ConfBridge` is answered by the room.

use super::call::answering::Sign;
use super::channels::PLAIN;
use super::Seen;
use super::{header, Tracker};
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
        let Some(call) = self.calls.get_mut(&l) else {
            return;
        };
        if call.is_caller(uniqueid) {
            call.offer_to(msg.get("Exten"), true);
        }
        let seen = Seen::Live;
        self.answer(&l, Sign::Conference { uniqueid, seen }, t, out);
    }
}
