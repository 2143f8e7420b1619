//! Who answered a call, and when: the `answered_by` rule of the rulebook (`lib.rs`), decided
//! in one function, [`decide`], and applied in one, `Tracker::answer`. A call keeps its
//! answer in an [`Answer`] whose fields only this file can write, so an event handler can
//! say what it saw (a [`Sign`]) but cannot decide the answer on its own.

use super::Call;
use crate::tracker::Seen;
use crate::tracker::Tracker;
use crate::update::Update;
use crate::{Timestamp, TrackerConfig};
use serde::{Deserialize, Serialize};

/// Who answered: a phone (its extension) or the far end of a trunk (then the dialed number,
/// known only when the record is written, since a list may name the trunk leg first).
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub(crate) enum Answerer {
    Extension(String),
    FarEnd,
    /// An application the caller dialed directly (conference room): the dialed number.
    Application,
}

/// A call's answer. Read anywhere; written only by `Tracker::answer`.
#[derive(Clone, Debug, Default, Serialize, Deserialize)]
pub(crate) struct Answer {
    by: Option<Answerer>,
    at: Option<Timestamp>,
    /// For [`Answerer::FarEnd`]: the number the answering trunk leg was dialed with (its
    /// exten), which names the party behind the trunk; `None`: the call's dialed number.
    #[serde(default)]
    far_end: Option<String>,
}

impl Answer {
    pub(crate) fn is_answered(&self) -> bool {
        self.by.is_some()
    }

    /// When the call was answered; `None` also when only a list said it was (the moment
    /// is unknown).
    pub(crate) fn at(&self) -> Option<Timestamp> {
        self.at
    }

    /// `answered_by` as the record shows it: a phone's extension, else the number dialed.
    pub(crate) fn text(&self, dialed: Option<&str>) -> Option<String> {
        match self.by.as_ref()? {
            Answerer::Extension(e) => Some(e.clone()),
            Answerer::FarEnd => self.far_end.as_deref().or(dialed).map(str::to_string),
            Answerer::Application => dialed.map(str::to_string),
        }
    }
}

/// What an event says that may make someone the call's answerer.
pub(in crate::tracker) enum Sign<'a> {
    /// A channel of the call went Up (`Newstate`, `DialEnd ANSWER`, `ChannelState: 6`).
    Up { uniqueid: &'a str, seen: Seen },
    /// A channel that went Up behind a Local route is now connected to the caller through
    /// bridges (`tracker/bridges.rs`), or the call ended without any bridge event.
    Connected { uniqueid: &'a str },
    /// A channel entered a conference room (`ConfBridgeJoin`, or listed in `ConfBridge` or
    /// `MeetMe` by `CoreShowChannels`).
    Conference { uniqueid: &'a str, seen: Seen },
    /// `Pickup`: the phone that picked up.
    Pickup { by: &'a str },
    /// `AgentConnect`: the endpoint its `Interface` names (`PJSIP/2003`, `Local/2003@…`).
    Agent { interface: Option<&'a str> },
}

/// The timeline line of a new answer.
#[derive(Clone, Copy)]
enum Note {
    Answered,
    Conference,
    Pickup,
}

impl Note {
    fn kind(self) -> &'static str {
        match self {
            Note::Answered => "answered",
            Note::Conference => "conference",
            Note::Pickup => "pickup",
        }
    }

    fn text(self, by: &str) -> String {
        match self {
            Note::Answered => format!("answered by {by}"),
            Note::Conference => format!("joined conference {by}"),
            Note::Pickup => format!("picked up by {by}"),
        }
    }
}

/// What [`decide`] makes of a sign.
struct Decision {
    by: Answerer,
    far_end: Option<String>,
    at: Option<Timestamp>,
    note: Option<Note>,
    /// Report `CallAnswered` (a new answer, as opposed to a better name for the same one).
    announce: bool,
}

/// The `answered_by` rule: whether `sign` answers `call`, and by whom. Everything the
/// rulebook says about `answered_by` is here.
fn decide(
    call: &Call,
    sign: Sign,
    t: Option<Timestamp>,
    config: &TrackerConfig,
) -> Option<Decision> {
    let when = |seen: Seen| if seen == Seen::Live { t } else { None };
    let live_up = matches!(
        sign,
        Sign::Up {
            seen: Seen::Live,
            ..
        }
    );
    match sign {
        Sign::Up { uniqueid, .. } | Sign::Connected { uniqueid } => {
            let ch = call.channel(uniqueid)?;
            // A party behind a Local route (or reached by a dial we never saw) answers
            // when it is connected to the caller (`Sign::Connected`): it may have picked
            // up only to refuse a prompt. A list shows the present: what is up, answered.
            let must_connect_first = live_up && !ch.dialed_direct;
            if !ch.up || must_connect_first || !may_answer(call, ch) {
                return None;
            }
            // Set when it went Up (`mark_up`), or bounded from a list (`listed_up`).
            Some(Decision {
                by: answerer(ch, config),
                far_end: ch.exten.clone(),
                at: ch.answered_at,
                note: Some(Note::Answered),
                announce: true,
            })
        }
        Sign::Conference { uniqueid, seen } => {
            // The caller dialed a conference room: the room answers. A listed channel
            // answered at a moment we do not know, and was reported by the session before.
            if !call.is_caller(uniqueid) || call.answer.is_answered() {
                return None;
            }
            Some(Decision {
                by: Answerer::Application,
                far_end: None,
                at: when(seen),
                note: (seen == Seen::Live).then_some(Note::Conference),
                announce: seen == Seen::Live,
            })
        }
        Sign::Pickup { by } => (!call.answer.is_answered()).then(|| Decision {
            by: Answerer::Extension(by.to_string()),
            far_end: None,
            at: t,
            note: Some(Note::Pickup),
            announce: true,
        }),
        Sign::Agent { interface } => {
            // The agent's extension from its interface, not its name.
            let agent = interface.filter(|a| config.is_extension(a))?;
            match call.answer.by {
                None => Some(Decision {
                    by: Answerer::Extension(agent.to_string()),
                    far_end: None,
                    at: t,
                    note: None,
                    announce: true,
                }),
                // The agent leg already went Up and was taken for the answerer: the
                // interface is the better name when they differ (Local channel members).
                Some(Answerer::Extension(_)) => Some(Decision {
                    by: Answerer::Extension(agent.to_string()),
                    far_end: None,
                    at: call.answer.at,
                    note: None,
                    announce: false,
                }),
                Some(_) => None,
            }
        }
    }
}

/// The PBX answering the caller (voicemail, queue music, an originate's first leg) is not
/// the call being answered; Local channels are plumbing, never a person. The first to
/// answer is the answerer.
fn may_answer(call: &Call, ch: &super::Channel) -> bool {
    call.may_be_answerer(ch) && !call.answer.is_answered()
}

/// A phone is named by its extension; anything else is the far end of a trunk.
fn answerer(ch: &super::Channel, config: &TrackerConfig) -> Answerer {
    match ch.endpoint.as_deref() {
        Some(e) if config.is_extension(e) => Answerer::Extension(e.to_string()),
        _ => Answerer::FarEnd,
    }
}

impl Tracker {
    /// Applies what [`decide`] makes of `sign` to call `linkedid`: the only place a call's
    /// answer is set.
    pub(in crate::tracker) fn answer(
        &mut self,
        linkedid: &str,
        sign: Sign,
        t: Option<Timestamp>,
        out: &mut Vec<Update>,
    ) {
        let Some(call) = self.calls.get_mut(linkedid) else {
            return;
        };
        let Some(d) = decide(call, sign, t, &self.config) else {
            return;
        };
        call.answer = Answer {
            by: Some(d.by),
            at: d.at,
            far_end: d.far_end,
        };
        if !d.announce {
            return;
        }
        let by = call.answered_by_text().unwrap_or_default();
        if let Some(note) = d.note {
            call.note(t, note.kind(), note.text(&by));
        }
        out.push(Update::CallAnswered {
            id: format!("{}:{}", self.config.server, linkedid),
            answered_by: by,
            at: t,
        });
    }

    /// A channel went Up: its own state, then what that says of the call's answer.
    pub(in crate::tracker) fn mark_up(
        &mut self,
        linkedid: &str,
        uniqueid: &str,
        t: Option<Timestamp>,
        seen: Seen,
        out: &mut Vec<Update>,
    ) {
        let Some(ch) = self
            .calls
            .get_mut(linkedid)
            .and_then(|c| c.channel_mut(uniqueid))
        else {
            return;
        };
        if ch.up {
            return;
        }
        ch.up = true;
        ch.ringing = false;
        if seen == Seen::Live {
            ch.answered_at = t;
        } else {
            // A list item: its answer waits for the item's `Duration` (`listed_up`).
            return;
        }
        self.answer(linkedid, Sign::Up { uniqueid, seen }, t, out);
    }

    /// A `CoreShowChannels` item showed the channel up, already existing for the time its
    /// `Duration` says (its `started_at`): when it answered is not in the list. A leg that
    /// answers is created when it starts to ring, so its start is the best bound there is
    /// for its answer (its ringing, if any, counts as talk); without it, the answer stays
    /// of unknown time.
    pub(in crate::tracker) fn listed_up(
        &mut self,
        linkedid: &str,
        uniqueid: &str,
        t: Option<Timestamp>,
        out: &mut Vec<Update>,
    ) {
        let Some(ch) = self
            .calls
            .get_mut(linkedid)
            .and_then(|c| c.channel_mut(uniqueid))
        else {
            return;
        };
        if !ch.up {
            return;
        }
        if ch.answered_at.is_none() {
            ch.answered_at = ch.started_at;
        }
        let seen = Seen::Listed;
        self.answer(linkedid, Sign::Up { uniqueid, seen }, t, out);
    }
}
