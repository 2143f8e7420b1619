//! The call templates, compiled once from the real recordings that ship in the repository
//! (`fixtures/asterisk/22.10.1/`, recorded from Asterisk 22.10.1 with real SIP phones).
//!
//! Every template uses the same numbering of its blanks ([`T`]), so the generator fills in
//! a call the same way whatever its kind.

use crate::template::Template;
use std::sync::OnceLock;

/// Indices of the text blanks, shared by all templates.
pub(crate) mod t {
    /// The caller's number (extension, or external number of an inbound call).
    pub const CALLER: u8 = 0;
    /// The caller's name.
    pub const CALLER_NAME: u8 = 1;
    /// What was dialed: an extension or an external number.
    pub const CALLEE: u8 = 2;
    /// The callee phone's name.
    pub const CALLEE_NAME: u8 = 3;
    /// First queue member's extension.
    pub const AGENT_A: u8 = 4;
    /// Its name.
    pub const AGENT_A_NAME: u8 = 5;
    /// Second queue member's extension.
    pub const AGENT_B: u8 = 6;
    /// Its name.
    pub const AGENT_B_NAME: u8 = 7;
    /// The queue.
    pub const QUEUE: u8 = 8;
    /// The DID of inbound calls.
    pub const DID: u8 = 9;
    /// The trunk endpoint.
    pub const TRUNK: u8 = 10;
    /// The caller ID name an Originate asked for.
    pub const ORIG_NAME: u8 = 11;
    /// A third phone: the ring group's second member, the attended transfer's target.
    pub const THIRD: u8 = 12;
    /// Its name.
    pub const THIRD_NAME: u8 = 13;
    /// The ring group's number (`600`).
    pub const GROUP: u8 = 14;
    /// The technology and endpoint in a channel's name (`PJSIP/2001`, `PJSIP/pstn`), where
    /// it need not be the caller's number (a trunk channel moved by Redirect).
    pub const ENDPOINT: u8 = 15;
    /// The caller ID the dial plan set on the caller (`Set(CALLERID(num)=…)`): what the
    /// callee is shown instead of the caller's extension.
    pub const CALLER_ID: u8 = 16;
    /// How many blanks there are.
    pub const COUNT: usize = 17;
}

/// All templates.
#[derive(Debug)]
pub(crate) struct Templates {
    pub(crate) originate: Template,
    pub(crate) internal_answered: Template,
    pub(crate) internal_no_answer: Template,
    pub(crate) internal_busy: Template,
    pub(crate) outbound_answered: Template,
    pub(crate) queue_answered: Template,
    pub(crate) queue_abandoned: Template,
    pub(crate) hold: Template,
    pub(crate) voicemail: Template,
    /// Ring group `600` (`Dial(PJSIP/2002&PJSIP/2003,30)`), answered by its first member;
    /// the second is cancelled (`Answered elsewhere`).
    pub(crate) ring_group_answered: Template,
    /// Ring group `600`, nobody answers; the caller gives up.
    pub(crate) ring_group_no_answer: Template,
    /// The callee puts the caller on hold, calls a third phone, and transfers the caller
    /// to it (SIP REFER with Replaces: `AttendedTransfer`, the bridges merge).
    pub(crate) attended_transfer: Template,
    /// `internal_answered` with the caller's dial plan setting its caller ID before the
    /// Dial (`NewCallerid`): the callee is shown that number.
    pub(crate) callerid_set: Template,
    /// `outbound_answered` with the caller presenting the company's DID for its line.
    pub(crate) callerid_set_outbound: Template,
    /// `internal_answered` through a Local route: the caller dials `Local/<callee>@route`,
    /// whose `;2` half dials the phone; the pair optimizes away once the phone answers.
    pub(crate) local_route: Template,
    /// A channel that is already up dials an extension: the second half of the Originate
    /// recording (after the originated phone answered). Used when an action sends an
    /// existing channel somewhere else (Redirect, BlindTransfer).
    pub(crate) dial_from_up: Template,
}

macro_rules! rec {
    ($name:literal) => {
        include_bytes!(concat!(
            "../../../fixtures/asterisk/22.10.1/",
            $name,
            ".ami"
        ))
        .as_slice()
    };
}

/// The call kinds no recording shows, spliced from the recordings' events by
/// `crates/sim/spliced/splice.py` (see there what is copied and what is put together).
macro_rules! spliced {
    ($name:literal) => {
        include_bytes!(concat!("../spliced/", $name, ".ami")).as_slice()
    };
}

/// Three phones (2001 Alice, 2002 Bob, 2003 Carol) and, for a ring group, its number.
fn three_phones(src: &[u8], phases: &[&'static str]) -> Template {
    let subs = [
        ("2001", t::CALLER),
        ("Alice", t::CALLER_NAME),
        ("2002", t::CALLEE),
        ("Bob", t::CALLEE_NAME),
        ("2003", t::THIRD),
        ("Carol", t::THIRD_NAME),
        ("600", t::GROUP),
    ];
    Template::compile(src, &subs, |_| true, phases)
}

fn internal(src: &[u8], callee: &str, callee_name: &str, phases: &[&'static str]) -> Template {
    Template::compile(
        src,
        &[
            ("2001", t::CALLER),
            ("Alice", t::CALLER_NAME),
            (callee, t::CALLEE),
            (callee_name, t::CALLEE_NAME),
        ],
        |_| true,
        phases,
    )
}

fn queue(src: &[u8], caller: &str, phases: &[&'static str]) -> Template {
    Template::compile(
        src,
        &[
            (caller, t::CALLER),
            ("5550100", t::DID),
            ("support", t::QUEUE),
            ("2003", t::AGENT_A),
            ("Carol", t::AGENT_A_NAME),
            ("2004", t::AGENT_B),
            ("Dave", t::AGENT_B_NAME),
            ("pstn", t::TRUNK),
        ],
        |_| true,
        phases,
    )
}

/// An outbound call of 2004 (Dave) through trunk `pstn`, with `more` substitutions.
fn outbound(src: &[u8], more: &[(&str, u8)]) -> Template {
    let mut subs = more.to_vec();
    subs.extend([
        ("2004", t::CALLER),
        ("Dave", t::CALLER_NAME),
        ("01759605969", t::CALLEE),
        ("pstn", t::TRUNK),
    ]);
    Template::compile(
        src,
        &subs,
        // The recorded caller, 2004, is also a member of queue `support`, so Asterisk
        // reported its member status too; the generator's callers are not members.
        |m| {
            !m.is_event("QueueMemberStatus")
                && !m.get("Device").is_some_and(|d| d.starts_with("Queue:"))
        },
        &["ring", "talk"],
    )
}

/// The compiled templates (compiled on first use).
pub(crate) fn templates() -> &'static Templates {
    static T: OnceLock<Templates> = OnceLock::new();
    T.get_or_init(|| Templates {
        originate: Template::compile(
            rec!("ami_originate"),
            &[
                ("2001", t::CALLER),
                ("Alice", t::CALLER_NAME),
                ("2002", t::CALLEE),
                ("Bob", t::CALLEE_NAME),
                ("Click2Call", t::ORIG_NAME),
            ],
            |_| true,
            &["ring_caller", "ring", "talk"],
        ),
        internal_answered: internal(rec!("internal_answered"), "2002", "Bob", &["ring", "talk"]),
        internal_no_answer: internal(rec!("internal_no_answer"), "2002", "Bob", &["ring"]),
        internal_busy: internal(rec!("internal_busy"), "2002", "Bob", &["reject"]),
        outbound_answered: outbound(rec!("outbound_answered"), &[]),
        callerid_set_outbound: outbound(
            spliced!("callerid_set_outbound"),
            // `splice.py`'s `CID_OUT`.
            &[("+31850002004", t::CALLER_ID)],
        ),
        queue_answered: queue(
            rec!("inbound_queue_answered"),
            "+15551234567",
            &["pbx_answer", "ring", "talk", "talk2"],
        ),
        queue_abandoned: queue(
            rec!("inbound_queue_abandoned"),
            "+15557654321",
            &["pbx_answer", "wait", "wait2"],
        ),
        hold: internal(
            rec!("hold_unhold"),
            "2002",
            "Bob",
            &["ring", "talk", "hold", "talk2"],
        ),
        voicemail: internal(rec!("voicemail"), "2005", "Erin", &["ring", "message"]),
        ring_group_answered: three_phones(spliced!("ring_group_answered"), &["ring", "talk"]),
        ring_group_no_answer: three_phones(spliced!("ring_group_no_answer"), &["ring"]),
        attended_transfer: three_phones(
            spliced!("attended_transfer"),
            &["ring", "talk", "hold", "ring2", "talk2", "talk3"],
        ),
        callerid_set: Template::compile(
            spliced!("callerid_set"),
            &[
                // The number `splice.py` set (`CID`); longer, so matched before `2001`.
                ("+31850002001", t::CALLER_ID),
                ("2001", t::CALLER),
                ("Alice", t::CALLER_NAME),
                ("2002", t::CALLEE),
                ("Bob", t::CALLEE_NAME),
            ],
            |_| true,
            &["ring", "talk"],
        ),
        local_route: internal(spliced!("local_route"), "2002", "Bob", &["ring", "talk"]),
        dial_from_up: {
            // From the dialplan's first step after the answer (the 13th bus event) on,
            // without the Originate's own report and the caller's device turning in use.
            let seen = std::cell::Cell::new(0);
            Template::compile(
                rec!("ami_originate"),
                &[
                    // The moved channel's name: a trunk's is not its caller's number.
                    ("PJSIP/2001", t::ENDPOINT),
                    ("2001", t::CALLER),
                    ("Alice", t::CALLER_NAME),
                    ("2002", t::CALLEE),
                    ("Bob", t::CALLEE_NAME),
                    ("Click2Call", t::ORIG_NAME),
                ],
                |m| {
                    seen.set(seen.get() + 1);
                    seen.get() > 12
                        && !m.is_event("OriginateResponse")
                        && !(m.is_event("DeviceStateChange")
                            && m.get("Device") == Some("PJSIP/2001")
                            && m.get("State") == Some("INUSE"))
                },
                &["ring", "talk"],
            )
        },
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_template_has_its_phases() {
        let t = templates();
        for (tpl, phases) in [
            (&t.originate, 3),
            (&t.internal_answered, 2),
            (&t.internal_no_answer, 1),
            (&t.internal_busy, 1),
            (&t.outbound_answered, 2),
            (&t.queue_answered, 4),
            (&t.queue_abandoned, 3),
            (&t.hold, 4),
            (&t.voicemail, 2),
            (&t.ring_group_answered, 2),
            (&t.ring_group_no_answer, 1),
            (&t.attended_transfer, 6),
            (&t.callerid_set, 2),
            (&t.callerid_set_outbound, 2),
            (&t.local_route, 2),
            (&t.dial_from_up, 2),
        ] {
            assert_eq!(tpl.phase_count(), phases, "{tpl:?}");
            // A pause with no name would keep its recorded length whatever the generator
            // draws, and shift which pause every later name means if one were added.
            assert_eq!(tpl.pause_count(), phases, "unnamed pauses in {tpl:?}");
            assert!(tpl.len() > 20);
        }
    }
}
