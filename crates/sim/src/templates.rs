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
    /// How many blanks there are.
    pub const COUNT: usize = 12;
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
        outbound_answered: Template::compile(
            rec!("outbound_answered"),
            &[
                ("2004", t::CALLER),
                ("Dave", t::CALLER_NAME),
                ("01759605969", t::CALLEE),
                ("pstn", t::TRUNK),
            ],
            // The recorded caller, 2004, is also a member of queue `support`, so Asterisk
            // reported its member status too; the generator's callers are not members.
            |m| {
                !m.is_event("QueueMemberStatus")
                    && !m.get("Device").is_some_and(|d| d.starts_with("Queue:"))
            },
            &["ring", "talk"],
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
        dial_from_up: {
            // From the dialplan's first step after the answer (the 13th bus event) on,
            // without the Originate's own report and the caller's device turning in use.
            let seen = std::cell::Cell::new(0);
            Template::compile(
                rec!("ami_originate"),
                &[
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
            (&t.dial_from_up, 2),
        ] {
            assert_eq!(tpl.phase_count(), phases, "{tpl:?}");
            assert!(tpl.len() > 20);
        }
    }
}
