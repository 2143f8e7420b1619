//! Call pickup (`*8`, directed pickup): the picking phone answers the ringing call.

use super::call::answering::Sign;
use super::channels::PLAIN;
use super::Seen;
use super::Tracker;
use crate::update::Update;
use crate::Timestamp;
use ami_wire::Message;

impl Tracker {
    /// `Pickup`: the picking phone's channel (which dialed `*8`) takes over the ringing
    /// one. The picked-up call is answered by the phone that picked up; the picker's own
    /// little call is swallowed.
    pub(super) fn on_pickup(&mut self, msg: &Message, t: Option<Timestamp>, out: &mut Vec<Update>) {
        let picker = self.touch(msg, &PLAIN, t, Seen::Live, out);
        let Some(target) = self.call_of(msg, "TargetUniqueid", "TargetLinkedid") else {
            return;
        };
        let by = self.party_of(msg, "Channel", "CallerIDNum");
        if let Some(p) = picker.filter(|p| *p != target) {
            if let Some(c) = self.calls.get_mut(&p) {
                c.absorbed_into = Some(target.clone());
            }
        }
        self.answer(&target, Sign::Pickup { by: &by }, t, out);
    }
}
