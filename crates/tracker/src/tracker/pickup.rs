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

    /// A `DialBegin` from a channel of call `dialing` to a channel already up in another
    /// call, `picker`: a dial never creates a channel that is already answered, so this is
    /// the ringing call taken over by a phone that picked it up (chan_sip's pickup by SIP
    /// `Replaces`, which Asterisk 13 reports as the ringing dial "reaching" the picking
    /// phone's own channel, with no `Pickup` event). As with `Pickup`: the picking phone
    /// answers the picked-up call, and its own little call is swallowed.
    pub(super) fn on_pickup_by_dial(
        &mut self,
        msg: &Message,
        dialing: &str,
        picker: &str,
        t: Option<Timestamp>,
        out: &mut Vec<Update>,
    ) {
        let by = self.party_of(msg, "DestChannel", "DestCallerIDNum");
        if let Some(c) = self.calls.get_mut(picker) {
            c.absorbed_into = Some(dialing.to_string());
        }
        self.answer(dialing, Sign::Pickup { by: &by }, t, out);
    }
}
