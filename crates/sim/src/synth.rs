//! Events the simulator makes up from its state rather than from a template: the end of
//! calls that an action or a restart cuts short, `Shutdown`, a failed Originate.
//!
//! Their shape follows the `restart` recording: a `SoftHangupRequest` on each channel, each
//! bridged channel leaves its bridge, each channel hangs up (Cause 16, `Normal Clearing`),
//! the bridge is destroyed, and the phones' devices and hints go back to idle.

use crate::state::{endpoint_of, Channel, State};
use crate::wire::Msg;
use bytes::BytesMut;
use std::collections::BTreeSet;

pub(crate) fn chan_msg(name: &str, t: u64, c: &Channel, extra: &[(&str, &str)]) -> BytesMut {
    let mut out = BytesMut::new();
    let mut m = Msg::event(&mut out, name, "call,all", Some(t));
    for (k, v) in c.block() {
        m.h(k, v);
    }
    for (k, v) in extra {
        m.h(k, v);
    }
    m.end();
    out
}

pub(crate) fn bridge_event(
    name: &str,
    bridge: &str,
    members: usize,
    t: u64,
    c: Option<&Channel>,
) -> BytesMut {
    let mut out = BytesMut::new();
    let mut m = Msg::event(&mut out, name, "call,all", Some(t));
    m.h("BridgeUniqueid", bridge)
        .h("BridgeType", "basic")
        .h("BridgeTechnology", "native_rtp")
        .h("BridgeCreator", "<unknown>")
        .h("BridgeName", "<unknown>")
        .h("BridgeNumChannels", &members.to_string())
        .h("BridgeVideoSourceMode", "none");
    if let Some(c) = c {
        for (k, v) in c.block() {
            m.h(k, v);
        }
    }
    m.end();
    out
}

/// Ends these channels now: the events Asterisk sends when they are hung up from outside
/// (`cause` goes on the `SoftHangupRequest`: 5 for an AMI Hangup, 4 for a restart).
pub(crate) fn teardown(state: &State, chans: &[&Channel], cause: &str, t: u64) -> Vec<BytesMut> {
    let mut out = Vec::new();
    for c in chans {
        out.push(chan_msg("SoftHangupRequest", t, c, &[("Cause", cause)]));
    }
    let mut bridges: BTreeSet<&str> = BTreeSet::new();
    for c in chans {
        if let Some(b) = &c.bridge {
            bridges.insert(b);
        }
    }
    for b in &bridges {
        let members: Vec<&&Channel> = chans
            .iter()
            .filter(|c| c.bridge.as_deref() == Some(*b))
            .collect();
        for (i, c) in members.iter().enumerate() {
            out.push(bridge_event(
                "BridgeLeave",
                b,
                members.len() - i - 1,
                t,
                Some(c),
            ));
        }
    }
    for c in chans {
        let extra = [("Cause", "16"), ("Cause-txt", "Normal Clearing")];
        out.push(chan_msg("Hangup", t, c, &extra));
    }
    for b in &bridges {
        out.push(bridge_event("BridgeDestroy", b, 0, t, None));
    }
    let mut devices: BTreeSet<&str> = BTreeSet::new();
    for c in chans {
        if c.name.starts_with("PJSIP/") {
            devices.insert(endpoint_of(&c.name));
        }
    }
    for d in &devices {
        // A device still used by another channel stays in use.
        let still = state
            .channels()
            .iter()
            .any(|o| endpoint_of(&o.name) == *d && !chans.iter().any(|c| c.name == o.name));
        if still {
            continue;
        }
        out.extend(device_and_hint(state, d, "NOT_INUSE", "0", "Idle", t));
    }
    out
}

/// A phone's `DeviceStateChange` and, if it has a hint, its `ExtensionStatus` (`status` is
/// the hint's number: 0 Idle, 1 InUse, 8 Ringing, …).
pub(crate) fn device_and_hint(
    state: &State,
    endpoint: &str,
    device_state: &str,
    status: &str,
    status_text: &str,
    t: u64,
) -> Vec<BytesMut> {
    let mut out = Vec::new();
    let mut buf = BytesMut::new();
    let mut m = Msg::event(&mut buf, "DeviceStateChange", "call,all", Some(t));
    m.h("Device", &format!("PJSIP/{endpoint}"))
        .h("State", device_state);
    m.end();
    out.push(buf);
    if let Some(e) = state.extensions.get(endpoint) {
        let mut buf = BytesMut::new();
        let mut m = Msg::event(&mut buf, "ExtensionStatus", "call,all", Some(t));
        m.h("Exten", &e.exten)
            .h("Context", &e.context)
            .h("Hint", &e.hint)
            .h("Status", status)
            .h("StatusText", status_text);
        m.end();
        out.push(buf);
    }
    out
}

/// `Event: Shutdown` as a restart sends it.
pub(crate) fn shutdown(t: u64, restart: bool) -> BytesMut {
    let mut out = BytesMut::new();
    let mut m = Msg::event(&mut out, "Shutdown", "system,all", Some(t));
    m.h("Shutdown", "Cleanly")
        .h("Restart", if restart { "True" } else { "False" });
    m.end();
    out
}

/// `OriginateResponse` of an Originate that failed before any channel existed.
pub(crate) fn originate_failure(
    t: u64,
    aid: Option<&str>,
    channel: &str,
    context: &str,
    exten: &str,
) -> BytesMut {
    let mut out = BytesMut::new();
    let mut m = Msg::event(&mut out, "OriginateResponse", "call,all", Some(t));
    m.opt("ActionID", aid)
        .h("Response", "Failure")
        .h("Channel", channel)
        .h("Context", context)
        .h("Exten", exten)
        .h("Reason", "0")
        .h("Uniqueid", "<unknown>")
        .h("CallerIDNum", "<unknown>")
        .h("CallerIDName", "<unknown>");
    m.end();
    out
}

/// `BlindTransfer` (Asterisk 12+): who transferred, who was transferred, the bridge, where to.
pub(crate) fn blind_transfer(
    t: u64,
    transferer: &Channel,
    transferee: &Channel,
    bridge: &str,
    context: &str,
    exten: &str,
) -> BytesMut {
    let mut out = BytesMut::new();
    let mut m = Msg::event(&mut out, "BlindTransfer", "call,all", Some(t));
    m.h("Result", "Success");
    for (prefix, c) in [("Transferer", transferer), ("Transferee", transferee)] {
        for (k, v) in c.block() {
            m.h(&format!("{prefix}{k}"), v);
        }
    }
    m.h("BridgeUniqueid", bridge)
        .h("BridgeType", "basic")
        .h("BridgeTechnology", "native_rtp")
        .h("BridgeCreator", "<unknown>")
        .h("BridgeName", "<unknown>")
        .h("BridgeNumChannels", "2")
        .h("BridgeVideoSourceMode", "none")
        .h("IsExternal", "No")
        .h("Context", context)
        .h("Extension", exten);
    m.end();
    out
}
