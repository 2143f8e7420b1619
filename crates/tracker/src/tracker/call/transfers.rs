//! Transfers: every transfer rule of the rulebook (`lib.rs`) is here. Blind (`BlindTransfer`),
//! attended (`AttendedTransfer`, which folds the consultation call into the transferred
//! one), the AMI `Redirect` of an answered party, and the role of the legs that join after.
//! A call keeps its transfers in a [`Transfers`] whose fields only this file can write.

use super::Call;
use crate::names::{dialed_exten, endpoint_of_channel};
use crate::tracker::{header, num, Tracker};
use crate::update::{ActiveCall, Update};
use crate::{LegRole, Timestamp, Transfer, TransferKind};
use ami_wire::Message;
use serde::{Deserialize, Serialize};

/// Transfers kept per call.
const MAX_TRANSFERS: usize = 64;

/// A call's transfers. Read anywhere; written only by the transfer rules below.
#[derive(Clone, Debug, Default, Serialize, Deserialize)]
pub(crate) struct Transfers {
    list: Vec<Transfer>,
    /// `BlindTransfer`s whose new dial has not been seen yet (see `Tracker::on_redial`).
    blind_pending: u8,
    /// Transferees of a "blonde" transfer (`AttendedTransfer` with `DestType: App`: the
    /// transferer hung up while the target still rang, and the transferee took over the
    /// transferer's `Dial`), whose dial is that transfer's, not a redirect.
    #[serde(default)]
    blonde_pending: Vec<String>,
}

/// Blonde transfers awaiting their dial, per call.
const MAX_BLONDE_PENDING: usize = 8;

impl Transfers {
    pub(crate) fn list(&self) -> &[Transfer] {
        &self.list
    }
}

/// The role of a leg joining `call` as a callee would: after a transfer, the party it was
/// transferred to.
pub(in crate::tracker) fn joining_role(call: &Call) -> LegRole {
    if call.transfers.list.is_empty() {
        LegRole::Callee
    } else {
        LegRole::TransferTarget
    }
}

/// One `DialBegin`, as the redirect rule needs it.
pub(in crate::tracker) struct NewDial<'a> {
    pub dialer: &'a str,
    pub dest: &'a str,
    /// The dialer has a dial open already: this is one more destination of that `Dial`.
    pub already_dialing: bool,
}

impl Tracker {
    /// A `DialBegin` of call `linkedid` from `dialer` to `dest`. An answered party that dials
    /// anew was sent elsewhere: after a `BlindTransfer` this is that transfer's dial; with no
    /// transfer event, a program moved it with AMI `Redirect` (blind, by `ami:Redirect`).
    pub(in crate::tracker) fn on_redial(
        &mut self,
        msg: &Message,
        linkedid: &str,
        dial: NewDial,
        t: Option<Timestamp>,
        out: &mut Vec<Update>,
    ) {
        let NewDial {
            dialer,
            dest,
            already_dialing,
        } = dial;
        let Some(call) = self.calls.get_mut(linkedid) else {
            return;
        };
        let dialer_up = call
            .channel(dialer)
            .is_some_and(|c| c.up && !c.local() && !c.hung_up);
        // A resync list can be newer than the events still on their way: Asterisk
        // answers the action before it flushes the events queued for the session.
        // A dial to a channel the list already showed up is that late dial, not a
        // new one (a redirect's target is a channel that just came to be).
        let dest_up_already = call.channel(dest).is_some_and(|c| c.up);
        if !(call.answer.is_answered() && dialer_up && !dest_up_already) {
            return;
        }
        if let Some(ch) = call.channel_mut(dest) {
            ch.role = LegRole::TransferTarget;
        }
        // One `Dial` rings several destinations (a ring group, forked): the dials after
        // the first of one Dial are that same move, not another.
        if already_dialing {
            return;
        }
        if let Some(i) = call
            .transfers
            .blonde_pending
            .iter()
            .position(|u| u == dialer)
        {
            call.transfers.blonde_pending.swap_remove(i);
            return;
        }
        if call.transfers.blind_pending > 0 {
            call.transfers.blind_pending -= 1;
            return;
        }
        let to = dialed_exten(msg.get("Exten"))
            .or_else(|| dialed_exten(msg.get("DestExten")))
            .unwrap_or("unknown")
            .to_string();
        self.push_transfer(
            linkedid,
            Transfer {
                kind: TransferKind::Blind,
                by: "ami:Redirect".into(),
                to,
                at: t,
            },
            out,
        );
    }

    fn push_transfer(&mut self, linkedid: &str, transfer: Transfer, out: &mut Vec<Update>) {
        let id = format!("{}:{}", self.config.server, linkedid);
        let Some(call) = self.calls.get_mut(linkedid) else {
            return;
        };
        if call.transfers.list.len() >= MAX_TRANSFERS {
            return;
        }
        call.note(
            transfer.at,
            "transfer",
            format!(
                "{} transfer by {} to {}",
                match transfer.kind {
                    TransferKind::Blind => "blind",
                    TransferKind::Attended => "attended",
                },
                transfer.by,
                transfer.to
            ),
        );
        call.transfers.list.push(transfer.clone());
        out.push(Update::CallTransferred { id, transfer });
    }

    pub(in crate::tracker) fn on_blind_transfer(
        &mut self,
        msg: &Message,
        t: Option<Timestamp>,
        out: &mut Vec<Update>,
    ) {
        if failed(msg) {
            return;
        }
        let Some(l) = self
            .call_of(msg, "TransfereeUniqueid", "TransfereeLinkedid")
            .or_else(|| self.call_of(msg, "TransfererUniqueid", "TransfererLinkedid"))
        else {
            return;
        };
        let by = self.party_of(msg, "TransfererChannel", "TransfererCallerIDNum");
        let to = header(msg, "Extension").unwrap_or("unknown").to_string();
        if let Some(c) = self.calls.get_mut(&l) {
            c.transfers.blind_pending = c.transfers.blind_pending.saturating_add(1);
        }
        self.push_transfer(
            &l,
            Transfer {
                kind: TransferKind::Blind,
                by,
                to,
                at: t,
            },
            out,
        );
    }

    /// An attended transfer joins the transferee (in the original call) with the target (in
    /// the consultation call). The consultation call is folded into the transferred call:
    /// its channels move over and it is not reported on its own.
    pub(in crate::tracker) fn on_attended_transfer(
        &mut self,
        msg: &Message,
        t: Option<Timestamp>,
        out: &mut Vec<Update>,
    ) {
        if failed(msg) {
            return;
        }
        let Some(orig) = self
            .call_of(msg, "TransfereeUniqueid", "TransfereeLinkedid")
            .or_else(|| self.call_of(msg, "OrigTransfererUniqueid", "OrigTransfererLinkedid"))
        else {
            return;
        };
        // The consultation call is whichever of the transferer's two calls (or the target's)
        // is not the transferee's: the order of Orig/Second is chronological, not by role.
        let consult = [
            ("SecondTransfererUniqueid", "SecondTransfererLinkedid"),
            ("OrigTransfererUniqueid", "OrigTransfererLinkedid"),
            ("TransferTargetUniqueid", "TransferTargetLinkedid"),
        ]
        .iter()
        .filter_map(|(u, l)| self.call_of(msg, u, l))
        .find(|c| *c != orig);
        let by = self.party_of(msg, "OrigTransfererChannel", "OrigTransfererCallerIDNum");
        let target = header(msg, "TransferTargetChannel")
            .and_then(endpoint_of_channel)
            .filter(|e| self.config.is_extension(e))
            .map(str::to_string);
        let to = consult
            .as_ref()
            .and_then(|c| self.calls.get(c))
            .and_then(|c| c.to_number.clone())
            .or(target)
            .or_else(|| num(msg.get("SecondTransfererConnectedLineNum")))
            .unwrap_or_else(|| "unknown".into());
        if let Some(consult) = consult {
            self.fold(&consult, &orig, out);
        }
        let blonde = header(msg, "DestType").is_some_and(|d| d.eq_ignore_ascii_case("App"));
        if let (true, Some(transferee), Some(c)) = (
            blonde,
            header(msg, "TransfereeUniqueid"),
            self.calls.get_mut(&orig),
        ) {
            if c.transfers.blonde_pending.len() < MAX_BLONDE_PENDING {
                c.transfers.blonde_pending.push(transferee.to_string());
            }
        }
        self.push_transfer(
            &orig,
            Transfer {
                kind: TransferKind::Attended,
                by,
                to,
                at: t,
            },
            out,
        );
    }

    /// Moves every channel of call `from` into call `into`; `from` is not reported.
    pub(in crate::tracker) fn fold(&mut self, from: &str, into: &str, out: &mut Vec<Update>) {
        let Some(mut gone) = self.calls.remove(from) else {
            return;
        };
        self.ended.insert(from);
        out.push(Update::CallMerged {
            id: format!("{}:{}", self.config.server, from),
            into: format!("{}:{}", self.config.server, into),
        });
        out.push(Update::CallUpdated(ActiveCall::placeholder(into)));
        let Some(target) = self.calls.get_mut(into) else {
            return;
        };
        for mut ch in gone.channels.drain(..) {
            if !target.can_add_leg() {
                self.channels.remove(&ch.uniqueid);
                continue;
            }
            if ch.role == LegRole::Callee {
                ch.role = LegRole::TransferTarget;
            } else if ch.role == LegRole::Caller {
                ch.role = LegRole::Callee;
            }
            self.channels.insert(ch.uniqueid.clone(), into.to_string());
            target.channels.push(ch);
        }
        for ch in &target.channels {
            if let Some(e) = &ch.endpoint {
                if let Some(v) = self.by_endpoint.get_mut(e) {
                    v.retain(|l| l != from);
                    if !v.iter().any(|l| l == into) {
                        v.push(into.to_string());
                    }
                }
            }
        }
    }
}

/// A transfer Asterisk reports as failed moved nobody.
fn failed(msg: &Message) -> bool {
    header(msg, "Result").is_some_and(|r| !r.eq_ignore_ascii_case("Success"))
}
