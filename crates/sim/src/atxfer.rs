//! `Action: Atxfer`: Asterisk's attended transfer by DTMF feature (`features.conf`
//! `atxfer`), which the action starts by queueing the feature code and the digits on the
//! transferer's channel.
//!
//! In Asterisk 12+ (`bridge_basic.c`) the transferer's peer (the transferee) hears music on
//! hold while the transferer leaves its bridge for a consultation bridge; Asterisk calls
//! the target through a Local channel pair, `Local/<exten>@<context>-<n>;1` (in the
//! consultation bridge) and `;2` (running the dialplan, which dials the phone). The Local
//! channels are requested by the transferer, so they and the phone they dial share its
//! Linkedid: the consultation is part of the same call. When the transfer completes (here:
//! a moment after the target answers, as if the transferer hung up) the consultation bridge
//! merges into the transferee's (`AttendedTransfer` with `DestType: Bridge`), the transferer
//! hangs up, the music stops, and the Local pair optimizes itself away
//! (`LocalOptimizationBegin`/`End`): the target's channel takes `;1`'s place next to the
//! transferee and both Local channels hang up. Later the transferee hangs up.
//!
//! The events are made from the simulator's state, with the header sets of the same events
//! in the recordings; `AttendedTransfer` and the Local channel events follow the Asterisk
//! 22 AMI documentation (no recording holds them).

use crate::state::{endpoint_of, Channel, State};
use crate::synth::{bridge_event, chan_msg, device_and_hint};
use crate::template::Ids;
use crate::wire::Msg;
use bytes::BytesMut;

/// How long the target rings, and how long after its answer the transfer completes (µs of
/// simulated time).
pub(crate) const RING_US: u64 = 2_000_000;
pub(crate) const COMPLETE_US: u64 = 1_000_000;
/// How long the transferee and the target talk before the transferee hangs up.
pub(crate) const TALK_US: u64 = 5_000_000;
/// How long Asterisk lets the target ring before it gives up (`features.conf`
/// `atxfernoanswertimeout`, 15 s by default).
pub(crate) const NO_ANSWER_US: u64 = 15_000_000;

/// The pace of one transfer: `Action: Atxfer` takes the defaults, the generator its own.
#[derive(Clone, Copy, Debug)]
pub(crate) struct Timing {
    /// From the request to the target's answer (or to Asterisk giving up).
    pub(crate) ring_us: u64,
    /// From the answer to the transfer (the consultation).
    pub(crate) consult_us: u64,
    /// From the transfer (or its failure) to the transferee's hangup.
    pub(crate) talk_us: u64,
    /// False: the target never answers. In `bridge_basic.c` the state `Calling Target`
    /// then times out (`STIMULUS_TIMEOUT` → `TRANSFER_REBRIDGE`): the transferer moves back
    /// into the transferee's bridge, which is taken off hold, and the consultation bridge is
    /// destroyed, which hangs up the Local channel and, through it, the target's ringing
    /// channel. No `AttendedTransfer` event: the call goes on between the first two parties.
    pub(crate) answers: bool,
}

impl Default for Timing {
    fn default() -> Timing {
        Timing {
            ring_us: RING_US,
            consult_us: COMPLETE_US,
            talk_us: TALK_US,
            answers: true,
        }
    }
}

/// One attended transfer in progress.
#[derive(Debug)]
pub(crate) struct Atxfer {
    /// 0: the target rings; 1: it answered; 2: transferred; 3: over.
    pub(crate) step: u8,
    transferer: Channel,
    transferee: Channel,
    /// The transferee's bridge (it survives the merge).
    bridge: String,
    consult: String,
    target_bridge: String,
    one: Channel,
    two: Channel,
    target: Channel,
    exten: String,
    timing: Timing,
    /// When the transfer completed (`AttendedTransfer`), if it did.
    pub(crate) transferred_at: Option<u64>,
}

/// A new channel, `Down`: (number, name) of its caller ID and connected line, (context,
/// exten) of its dialplan position.
fn new_chan(
    name: String,
    caller: (&str, &str),
    connected: (&str, &str),
    at: (&str, &str),
    uniqueid: String,
    linkedid: &str,
) -> Channel {
    let mut c = Channel::default();
    c.name = name;
    c.state = "0".into();
    c.state_desc = "Down".into();
    c.cid_num = caller.0.into();
    c.cid_name = caller.1.into();
    c.conn_num = connected.0.into();
    c.conn_name = connected.1.into();
    c.language = "en".into();
    c.context = at.0.into();
    c.exten = at.1.into();
    c.priority = "1".into();
    c.uniqueid = uniqueid;
    c.linkedid = linkedid.into();
    c
}

fn with_state(c: &Channel, state: &str, desc: &str) -> Channel {
    let mut c = c.clone();
    c.state = state.into();
    c.state_desc = desc.into();
    c
}

/// A Dial event: the dialing channel's block, the dialed one's as `Dest…`, then `extra`.
fn dial_msg(name: &str, t: u64, from: &Channel, to: &Channel, extra: (&str, &str)) -> BytesMut {
    let mut out = BytesMut::new();
    let mut m = Msg::event(&mut out, name, "call,all", Some(t));
    for (k, v) in from.block() {
        m.h(k, v);
    }
    for (k, v) in to.block() {
        m.h(&format!("Dest{k}"), v);
    }
    m.h(extra.0, extra.1);
    m.end();
    out
}

/// An event made of prefixed channel blocks, then plain headers.
fn blocks_msg(name: &str, t: u64, blocks: &[(&str, &Channel)], tail: &[(&str, &str)]) -> BytesMut {
    let mut out = BytesMut::new();
    let mut m = Msg::event(&mut out, name, "call,all", Some(t));
    for (prefix, c) in blocks {
        for (k, v) in c.block() {
            m.h(&format!("{prefix}{k}"), v);
        }
    }
    for (k, v) in tail {
        m.h(k, v);
    }
    m.end();
    out
}

fn bridge_block(m: &mut Msg<'_>, prefix: &str, bridge: &str, members: usize) {
    m.h(&format!("{prefix}BridgeUniqueid"), bridge)
        .h(&format!("{prefix}BridgeType"), "basic")
        .h(&format!("{prefix}BridgeTechnology"), "simple_bridge")
        .h(&format!("{prefix}BridgeCreator"), "<unknown>")
        .h(&format!("{prefix}BridgeName"), "<unknown>")
        .h(&format!("{prefix}BridgeNumChannels"), &members.to_string())
        .h(&format!("{prefix}BridgeVideoSourceMode"), "none");
}

impl Atxfer {
    /// The transferer asked for it: the transferee is held, the Local pair is made and
    /// dials `target_ep` (a phone), which rings.
    #[allow(clippy::too_many_arguments)]
    pub(crate) fn start(
        state: &State,
        ids: &mut Ids,
        local_seq: u64,
        transferer: &Channel,
        transferee: &Channel,
        context: &str,
        exten: &str,
        target_name: &str,
        timing: Timing,
        t: u64,
    ) -> (Atxfer, Vec<BytesMut>) {
        let bridge = transferer.bridge.clone().unwrap_or_default();
        let mut uid = || {
            let u = format!("{}.{}", t / 1_000_000, ids.uid_seq);
            ids.uid_seq += 1;
            u
        };
        let local = |half: u8, uniqueid: String| {
            new_chan(
                format!("Local/{exten}@{context}-{local_seq:08x};{half}"),
                (&transferer.cid_num, &transferer.cid_name),
                (exten, ""),
                (context, exten),
                uniqueid,
                &transferer.linkedid,
            )
        };
        let one = local(1, uid());
        let mut two = local(2, uid());
        let target = new_chan(
            format!("PJSIP/{exten}-{:08x}", ids.chan_seq),
            (exten, target_name),
            (&transferer.cid_num, &transferer.cid_name),
            (context, exten),
            uid(),
            &transferer.linkedid,
        );
        ids.chan_seq += 1;
        let consult = ids.uuid();
        let target_bridge = ids.uuid();
        let mut out = vec![chan_msg(
            "MusicOnHoldStart",
            t,
            transferee,
            &[("Class", "default")],
        )];
        out.push(bridge_event("BridgeLeave", &bridge, 1, t, Some(transferer)));
        out.push(bridge_event("BridgeCreate", &consult, 0, t, None));
        out.push(bridge_event(
            "BridgeEnter",
            &consult,
            1,
            t,
            Some(transferer),
        ));
        out.push(chan_msg("Newchannel", t, &one, &[]));
        out.push(chan_msg("Newchannel", t, &two, &[]));
        out.push(blocks_msg(
            "LocalBridge",
            t,
            &[("LocalOne", &one), ("LocalTwo", &two)],
            &[
                ("Context", context),
                ("Exten", exten),
                ("LocalOptimization", "Yes"),
            ],
        ));
        two = with_state(&two, "4", "Ring");
        two.application = "Dial".into();
        out.push(chan_msg("Newchannel", t, &target, &[]));
        out.push(dial_msg(
            "DialBegin",
            t,
            &two,
            &target,
            ("DialString", exten),
        ));
        let ringing = with_state(&target, "5", "Ringing");
        out.push(chan_msg("Newstate", t, &ringing, &[]));
        out.push(dial_msg(
            "DialState",
            t,
            &two,
            &ringing,
            ("DialStatus", "RINGING"),
        ));
        out.extend(device_and_hint(state, exten, "RINGING", "8", "Ringing", t));
        let x = Atxfer {
            step: 0,
            transferer: transferer.clone(),
            transferee: transferee.clone(),
            bridge,
            consult,
            target_bridge,
            one,
            two,
            target: ringing,
            exten: exten.into(),
            timing,
            transferred_at: None,
        };
        (x, out)
    }

    /// How long after the step just taken (or the start) the next one is due; `None` when
    /// the transfer is over.
    pub(crate) fn wait(&self) -> Option<u64> {
        match self.step {
            0 => Some(self.timing.ring_us),
            1 => Some(self.timing.consult_us),
            2 => Some(self.timing.talk_us),
            _ => None,
        }
    }

    /// The next step, at `t`; `step` tells which comes after.
    pub(crate) fn step(&mut self, state: &State, t: u64) -> Vec<BytesMut> {
        let mut out = Vec::new();
        match self.step {
            0 if !self.timing.answers => {
                out = self.give_up(state, t);
                // Nothing to complete: next comes the end of the call.
                self.step = 1;
            }
            0 => {
                // The target answers; the Local pair comes up and joins both bridges.
                self.target = with_state(&self.target, "6", "Up");
                out.push(chan_msg("Newstate", t, &self.target, &[]));
                out.extend(device_and_hint(
                    state,
                    &self.exten,
                    "INUSE",
                    "1",
                    "InUse",
                    t,
                ));
                out.push(dial_msg(
                    "DialEnd",
                    t,
                    &self.two,
                    &self.target,
                    ("DialStatus", "ANSWER"),
                ));
                self.two = with_state(&self.two, "6", "Up");
                self.one = with_state(&self.one, "6", "Up");
                out.push(chan_msg("Newstate", t, &self.two, &[]));
                out.push(chan_msg("Newstate", t, &self.one, &[]));
                out.push(bridge_event(
                    "BridgeCreate",
                    &self.target_bridge,
                    0,
                    t,
                    None,
                ));
                out.push(bridge_event(
                    "BridgeEnter",
                    &self.target_bridge,
                    1,
                    t,
                    Some(&self.target),
                ));
                out.push(bridge_event(
                    "BridgeEnter",
                    &self.target_bridge,
                    2,
                    t,
                    Some(&self.two),
                ));
                out.push(bridge_event(
                    "BridgeEnter",
                    &self.consult,
                    2,
                    t,
                    Some(&self.one),
                ));
                // The target's identity reaches the transferer through the Local pair.
                self.transferer.conn_num = self.target.cid_num.clone();
                self.transferer.conn_name = self.target.cid_name.clone();
                out.push(chan_msg("NewConnectedLine", t, &self.transferer, &[]));
            }
            1 => out = self.complete(state, t),
            2 => {
                // The transferee hangs up; the target's channel follows.
                let chans: Vec<&Channel> = state
                    .channels()
                    .into_iter()
                    .filter(|c| c.linkedid == self.transferee.linkedid)
                    .collect();
                out = crate::synth::teardown(state, &chans, "16", t);
            }
            _ => {}
        }
        self.step += 1;
        out
    }

    /// The target did not answer in time (`rebridge_enter`, then
    /// `attended_transfer_properties_shutdown`): the transferer goes back to the transferee,
    /// whose music stops; destroying the consultation bridge hangs up `;1`, so `;2`'s Dial
    /// is cancelled (`DialEnd CANCEL`, the target's channel hangs up, as a caller's cancel
    /// does in `internal_no_answer`) and `;2` hangs up.
    fn give_up(&mut self, state: &State, t: u64) -> Vec<BytesMut> {
        let mut out = vec![
            bridge_event("BridgeLeave", &self.consult, 0, t, Some(&self.transferer)),
            bridge_event("BridgeEnter", &self.bridge, 2, t, Some(&self.transferer)),
            chan_msg("MusicOnHoldStop", t, &self.transferee, &[]),
            bridge_event("BridgeDestroy", &self.consult, 0, t, None),
        ];
        let cause = [("Cause", "16"), ("Cause-txt", "Normal Clearing")];
        out.push(chan_msg("Hangup", t, &self.one, &cause));
        out.push(dial_msg(
            "DialEnd",
            t,
            &self.two,
            &self.target,
            ("DialStatus", "CANCEL"),
        ));
        out.push(chan_msg("Hangup", t, &self.target, &cause));
        out.extend(device_and_hint(
            state,
            &self.exten,
            "NOT_INUSE",
            "0",
            "Idle",
            t,
        ));
        out.push(chan_msg("Hangup", t, &self.two, &cause));
        out
    }

    /// The transferer hangs up: the bridges merge, the Local pair optimizes away.
    fn complete(&mut self, state: &State, t: u64) -> Vec<BytesMut> {
        self.transferred_at = Some(t);
        let mut out = vec![bridge_event(
            "BridgeLeave",
            &self.consult,
            1,
            t,
            Some(&self.transferer),
        )];
        let mut buf = BytesMut::new();
        let mut m = Msg::event(&mut buf, "AttendedTransfer", "call,all", Some(t));
        m.h("Result", "Success");
        for (k, v) in self.transferer.block() {
            m.h(&format!("OrigTransferer{k}"), v);
        }
        bridge_block(&mut m, "Orig", &self.bridge, 1);
        for (k, v) in self.transferer.block() {
            m.h(&format!("SecondTransferer{k}"), v);
        }
        bridge_block(&mut m, "Second", &self.consult, 1);
        for (k, v) in self.transferee.block() {
            m.h(&format!("Transferee{k}"), v);
        }
        for (k, v) in self.one.block() {
            m.h(&format!("TransferTarget{k}"), v);
        }
        m.h("IsExternal", "No")
            .h("DestType", "Bridge")
            .h("DestBridgeUniqueid", &self.bridge);
        m.end();
        out.push(buf);
        out.push(bridge_event(
            "BridgeLeave",
            &self.consult,
            0,
            t,
            Some(&self.one),
        ));
        out.push(bridge_event(
            "BridgeEnter",
            &self.bridge,
            2,
            t,
            Some(&self.one),
        ));
        out.push(bridge_event("BridgeDestroy", &self.consult, 0, t, None));
        out.push(chan_msg("MusicOnHoldStop", t, &self.transferee, &[]));
        let cause = [("Cause", "16"), ("Cause-txt", "Normal Clearing")];
        out.push(chan_msg("Hangup", t, &self.transferer, &cause));
        let ep = endpoint_of(&self.transferer.name);
        let busy = state
            .channels()
            .iter()
            .any(|c| c.name != self.transferer.name && endpoint_of(&c.name) == ep);
        if !busy {
            out.extend(device_and_hint(state, ep, "NOT_INUSE", "0", "Idle", t));
        }
        // The Local pair steps out of the way: the target replaces `;1` in the bridge.
        let id = [("DestUniqueId", self.one.uniqueid.as_str()), ("Id", "0")];
        out.push(blocks_msg(
            "LocalOptimizationBegin",
            t,
            &[
                ("LocalOne", &self.one),
                ("LocalTwo", &self.two),
                ("Source", &self.target),
            ],
            &id,
        ));
        out.push(bridge_event(
            "BridgeLeave",
            &self.target_bridge,
            1,
            t,
            Some(&self.target),
        ));
        out.push(bridge_event(
            "BridgeEnter",
            &self.bridge,
            3,
            t,
            Some(&self.target),
        ));
        out.push(bridge_event(
            "BridgeLeave",
            &self.bridge,
            2,
            t,
            Some(&self.one),
        ));
        out.push(blocks_msg(
            "LocalOptimizationEnd",
            t,
            &[("LocalOne", &self.one), ("LocalTwo", &self.two)],
            &[("Success", "Yes"), ("Id", "0")],
        ));
        out.push(bridge_event(
            "BridgeLeave",
            &self.target_bridge,
            0,
            t,
            Some(&self.two),
        ));
        out.push(bridge_event(
            "BridgeDestroy",
            &self.target_bridge,
            0,
            t,
            None,
        ));
        out.push(chan_msg("Hangup", t, &self.one, &cause));
        out.push(chan_msg("Hangup", t, &self.two, &cause));
        out
    }

    /// Whether the channels the next step needs are still there (a Hangup action or a
    /// restart may have ended them).
    pub(crate) fn alive(&self, state: &State) -> bool {
        let up = |c: &Channel| state.channel(&c.name).is_some();
        match self.step {
            0 | 1 => up(&self.transferee) && up(&self.transferer) && up(&self.target),
            2 => up(&self.transferee),
            _ => false,
        }
    }
}
