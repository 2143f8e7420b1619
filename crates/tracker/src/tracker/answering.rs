//! Who answered a call, and when.

use super::channels::Seen;
use super::Tracker;
use crate::call::Answerer;
use crate::update::Update;
use crate::Timestamp;

impl Tracker {
    pub(super) fn mark_up(
        &mut self,
        linkedid: &str,
        uniqueid: &str,
        t: Option<Timestamp>,
        seen: Seen,
        out: &mut Vec<Update>,
    ) {
        let Some(call) = self.calls.get_mut(linkedid) else {
            return;
        };
        let is_caller = call.is_caller(uniqueid) || call.origin.as_deref() == Some(uniqueid);
        let already = call.answered_by.is_some();
        let extension_of = |e: &str| self.config.is_extension(e);
        let Some(ch) = call.channel_mut(uniqueid) else {
            return;
        };
        if ch.up {
            return;
        }
        ch.up = true;
        ch.ringing = false;
        if seen == Seen::Live {
            ch.answered_at = t;
        }
        // The PBX answering the caller (voicemail, queue music, an originate's first leg)
        // is not the call being answered; Local channels are plumbing, never a person.
        if is_caller || ch.local() || ch.originated || already {
            return;
        }
        let who = match ch.endpoint.as_deref() {
            Some(e) if extension_of(e) => Answerer::Extension(e.to_string()),
            _ => Answerer::FarEnd,
        };
        call.answered_by = Some(who);
        call.answered_at = if seen == Seen::Live { t } else { None };
        let by = call.answered_by_text().unwrap_or_default();
        call.note(t, "answered", format!("answered by {by}"));
        out.push(Update::CallAnswered {
            id: format!("{}:{}", self.config.server, linkedid),
            answered_by: by,
            at: t,
        });
    }
}
