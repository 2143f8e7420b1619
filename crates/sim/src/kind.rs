//! The kinds of call the generator makes, how often, and what each needs: its template,
//! the phase whose end is the answer, how many phones it takes.

use crate::template::Template;
use crate::templates::templates;

/// The kinds of call the generator makes.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Kind {
    InternalAnswered,
    InternalNoAnswer,
    InternalBusy,
    Outbound,
    QueueAnswered,
    QueueAbandoned,
    Hold,
    Voicemail,
    /// Answered, then the callee blind-transfers the caller to a third phone.
    BlindTransfer,
    /// Ring group `600` ringing two phones; the first answers, the other is cancelled.
    RingGroup,
    /// Ring group `600`; nobody answers, the caller gives up.
    RingGroupNoAnswer,
    /// Answered; the callee holds the caller, calls a third phone, which answers, and
    /// transfers the caller to it (REFER with Replaces: `AttendedTransfer`).
    AttendedTransfer,
    /// Answered; the callee transfers the caller with the DTMF feature (`features.conf`
    /// `atxfer`, what `Action: Atxfer` starts): a Local channel pair calls the third phone,
    /// which answers, and the transfer completes when the callee hangs up.
    FeatureTransfer,
    /// As [`Kind::FeatureTransfer`], but the third phone does not answer: Asterisk gives up
    /// and puts the callee back with the caller, who talk on.
    FeatureTransferNoAnswer,
    /// Answered; the caller's dial plan sets its caller ID before dialing (a provider's
    /// per-account number, or the company's DID): the callee is shown that number, and it
    /// is the call's caller.
    CallerIdSet,
    /// As [`Kind::Outbound`], the dial plan presenting the company's DID for the caller's
    /// line: the far end sees that number, and it is the call's caller.
    OutboundCallerIdSet,
    /// Answered; the caller's dial plan dials a `Local/<callee>@route` channel, whose `;2`
    /// half dials the phone. The Local pair is plumbing: the phone answers.
    LocalRoute,
}

/// Relative frequencies.
pub(crate) const MIX: &[(Kind, u64)] = &[
    (Kind::InternalAnswered, 30),
    (Kind::InternalNoAnswer, 8),
    (Kind::InternalBusy, 5),
    (Kind::Outbound, 20),
    (Kind::QueueAnswered, 12),
    (Kind::QueueAbandoned, 5),
    (Kind::Hold, 8),
    (Kind::Voicemail, 4),
    (Kind::BlindTransfer, 8),
    (Kind::RingGroup, 4),
    (Kind::RingGroupNoAnswer, 2),
    (Kind::AttendedTransfer, 6),
    (Kind::FeatureTransfer, 4),
    (Kind::FeatureTransferNoAnswer, 2),
    // About 6 % each: enough that every CI run at 2,000 calls checks over a hundred.
    (Kind::CallerIdSet, 8),
    (Kind::OutboundCallerIdSet, 4),
    (Kind::LocalRoute, 8),
];

impl Kind {
    pub(crate) fn template(self) -> &'static Template {
        let t = templates();
        match self {
            Kind::InternalAnswered => &t.internal_answered,
            Kind::InternalNoAnswer => &t.internal_no_answer,
            Kind::InternalBusy => &t.internal_busy,
            Kind::Outbound => &t.outbound_answered,
            Kind::QueueAnswered => &t.queue_answered,
            Kind::QueueAbandoned => &t.queue_abandoned,
            Kind::Hold => &t.hold,
            Kind::Voicemail => &t.voicemail,
            Kind::BlindTransfer | Kind::FeatureTransfer | Kind::FeatureTransferNoAnswer => {
                &t.internal_answered
            }
            Kind::RingGroup => &t.ring_group_answered,
            Kind::RingGroupNoAnswer => &t.ring_group_no_answer,
            Kind::AttendedTransfer => &t.attended_transfer,
            Kind::CallerIdSet => &t.callerid_set,
            Kind::OutboundCallerIdSet => &t.callerid_set_outbound,
            Kind::LocalRoute => &t.local_route,
        }
    }

    /// The phase whose end is the answer, for kinds that get answered.
    pub(crate) fn answer_phase(self) -> Option<&'static str> {
        match self {
            Kind::InternalAnswered
            | Kind::Outbound
            | Kind::QueueAnswered
            | Kind::Hold
            | Kind::RingGroup
            | Kind::AttendedTransfer
            | Kind::FeatureTransfer
            | Kind::FeatureTransferNoAnswer
            | Kind::CallerIdSet
            | Kind::OutboundCallerIdSet
            | Kind::LocalRoute => Some("ring"),
            // Answered before its transfer: a call cut short (a restart, a Hangup action)
            // after the callee's Up and before the transfer was answered, as AMI showed.
            // A transferred call's truth is written at the transfer (`transferred`).
            Kind::BlindTransfer => Some("ring"),
            _ => None,
        }
    }

    pub(crate) fn phones_needed(self) -> usize {
        match self {
            Kind::Outbound | Kind::OutboundCallerIdSet => 1,
            Kind::BlindTransfer
            | Kind::RingGroup
            | Kind::RingGroupNoAnswer
            | Kind::AttendedTransfer
            | Kind::FeatureTransfer
            | Kind::FeatureTransferNoAnswer => 3,
            Kind::QueueAnswered | Kind::QueueAbandoned => 0,
            _ => 2,
        }
    }
}
