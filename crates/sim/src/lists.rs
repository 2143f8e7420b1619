//! The list actions and read-only queries, answered from [`State`] in Asterisk 22's format.
//!
//! A list action answers `Response: Success` with `EventList: start` and a `Message:`, then
//! one event per item carrying the action's `ActionID` (and no `Privilege`/`Timestamp`,
//! except `Status`, which has `Privilege: Call`), then a `…Complete` event with
//! `EventList: Complete` and `ListItems: N`. The header orders below are copied from the
//! `actions_admin` and `attach_midcall` recordings (`ActionID` comes last in `QueueParams`,
//! `QueueMember`, `QueueEntry` and `Status`, second everywhere else).

use crate::plan::Plan;
use crate::state::{endpoint_of, State};
use crate::wire::{fmt_hms, Msg};
use bytes::BytesMut;

fn start(out: &mut BytesMut, aid: Option<&str>, message: &str) {
    let mut m = Msg::response(out, "Success", aid);
    m.h("EventList", "start").h("Message", message);
    m.end();
}

fn complete(out: &mut BytesMut, name: &str, aid: Option<&str>, items: usize) {
    let mut m = Msg::new(out, "Event", name);
    m.opt("ActionID", aid)
        .h("EventList", "Complete")
        .h("ListItems", &items.to_string());
    m.end();
}

/// `CoreShowChannels`: every channel, both legs of each call.
pub(crate) fn core_show_channels(out: &mut BytesMut, s: &State, aid: Option<&str>, now: u64) {
    start(out, aid, "Channels will follow");
    let chans = s.channels();
    for c in &chans {
        let mut m = Msg::new(out, "Event", "CoreShowChannel");
        m.opt("ActionID", aid);
        for (k, v) in c.block() {
            m.h(k, v);
        }
        m.h("Application", &c.application)
            .h("ApplicationData", &c.app_data)
            .h(
                "Duration",
                &fmt_hms(now.saturating_sub(c.created_us) / 1_000_000),
            )
            .h("BridgeId", c.bridge.as_deref().unwrap_or(""));
        m.end();
    }
    complete(out, "CoreShowChannelsComplete", aid, chans.len());
}

/// `Status` (all channels, or the one named by `Channel:`).
pub(crate) fn status(
    out: &mut BytesMut,
    s: &State,
    aid: Option<&str>,
    channel: Option<&str>,
    now: u64,
) {
    start(out, aid, "Channel status will follow");
    let chans: Vec<_> = s
        .channels()
        .into_iter()
        .filter(|c| channel.is_none_or(|n| n.eq_ignore_ascii_case(&c.name)))
        .collect();
    for c in &chans {
        let tech = c.name.split_once('/').map_or("", |(t, _)| t);
        let dnid = if c.uniqueid == c.linkedid {
            c.exten.as_str()
        } else {
            ""
        };
        let mut m = Msg::new(out, "Event", "Status");
        m.h("Privilege", "Call");
        for (k, v) in c.block() {
            m.h(k, v);
        }
        m.h("Type", tech)
            .h("DNID", dnid)
            .h("EffectiveConnectedLineNum", &c.conn_num)
            .h("EffectiveConnectedLineName", &c.conn_name)
            .h("TimeToHangup", "0")
            .h("BridgeID", c.bridge.as_deref().unwrap_or(""))
            .h("Application", &c.application)
            .h("Data", &c.app_data)
            .h("Nativeformats", "(ulaw)")
            .h("Readformat", "ulaw")
            .h("Readtrans", "")
            .h("Writeformat", "ulaw")
            .h("Writetrans", "")
            .h("Callgroup", "2")
            .h("Pickupgroup", "2")
            .h(
                "Seconds",
                &(now.saturating_sub(c.created_us) / 1_000_000).to_string(),
            )
            .opt("ActionID", aid);
        m.end();
    }
    let mut m = Msg::new(out, "Event", "StatusComplete");
    let n = chans.len().to_string();
    m.opt("ActionID", aid)
        .h("EventList", "Complete")
        .h("ListItems", &n)
        .h("Items", &n);
    m.end();
}

/// `ExtensionStateList`: every hint (Asterisk lists them in hash order; the recordings show
/// the highest extension first, and so do we).
pub(crate) fn extension_state_list(out: &mut BytesMut, s: &State, aid: Option<&str>) {
    start(out, aid, "Extension Statuses will follow");
    for e in s.extensions.values().rev() {
        let mut m = Msg::new(out, "Event", "ExtensionStatus");
        m.opt("ActionID", aid)
            .h("Exten", &e.exten)
            .h("Context", &e.context)
            .h("Hint", &e.hint)
            .h("Status", &e.status)
            .h("StatusText", &e.text);
        m.end();
    }
    complete(out, "ExtensionStateListComplete", aid, s.extensions.len());
}

/// `ExtensionState`: one hint, as a plain response.
pub(crate) fn extension_state(out: &mut BytesMut, s: &State, aid: Option<&str>, exten: &str) {
    match s.extensions.get(exten) {
        Some(e) => {
            let mut m = Msg::response(out, "Success", aid);
            m.h("Message", "Extension Status")
                .h("Exten", &e.exten)
                .h("Context", &e.context)
                .h("Hint", &e.hint)
                .h("Status", &e.status)
                .h("StatusText", &e.text);
            m.end();
        }
        None => {
            let mut m = Msg::response(out, "Success", aid);
            m.h("Message", "Extension Status")
                .h("Exten", exten)
                .h("Context", "internal")
                .h("Hint", "")
                .h("Status", "-1")
                .h("StatusText", "Unknown");
            m.end();
        }
    }
}

/// `QueueStatus`: per queue its params, members and waiting callers.
pub(crate) fn queue_status(
    out: &mut BytesMut,
    s: &State,
    aid: Option<&str>,
    only: Option<&str>,
    now: u64,
) {
    start(out, aid, "Queue status will follow");
    let mut items = 0;
    for q in s
        .queues
        .values()
        .filter(|q| only.is_none_or(|n| n == q.name))
    {
        let mut m = Msg::new(out, "Event", "QueueParams");
        m.h("Queue", &q.name)
            .h("Max", "0")
            .h("Strategy", &q.strategy)
            .h("Calls", &q.entries.len().to_string())
            .h("Holdtime", &q.holdtime.to_string())
            .h("TalkTime", &q.talktime.to_string())
            .h("Completed", &q.completed.to_string())
            .h("Abandoned", &q.abandoned.to_string())
            .h("ServiceLevel", "0")
            .h("ServicelevelPerf", "0.0")
            .h("ServicelevelPerf2", "0.0")
            .h("Weight", "0")
            .opt("ActionID", aid);
        m.end();
        items += 1;
        for mem in &q.members {
            let mut m = Msg::new(out, "Event", "QueueMember");
            m.h("Queue", &q.name)
                .h("Name", &mem.name)
                .h("Location", &mem.interface)
                .h("StateInterface", &mem.state_interface)
                .h("Membership", &mem.membership)
                .h("Penalty", &mem.penalty)
                .h("CallsTaken", &mem.calls_taken)
                .h("LastCall", &mem.last_call)
                .h("LastPause", &mem.last_pause)
                .h("LoginTime", &mem.login_time)
                .h("InCall", &mem.in_call)
                .h("Status", &mem.status)
                .h("Paused", &mem.paused)
                .h("PausedReason", &mem.paused_reason)
                .h("Wrapuptime", &mem.wrapup)
                .opt("ActionID", aid);
            m.end();
            items += 1;
        }
        for (i, e) in q.entries.iter().enumerate() {
            let mut m = Msg::new(out, "Event", "QueueEntry");
            m.h("Queue", &q.name)
                .h("Position", &(i + 1).to_string())
                .h("Channel", &e.channel)
                .h("Uniqueid", &e.uniqueid)
                .h("CallerIDNum", &e.cid_num)
                .h("CallerIDName", &e.cid_name)
                .h("ConnectedLineNum", &e.conn_num)
                .h("ConnectedLineName", &e.conn_name)
                .h(
                    "Wait",
                    &(now.saturating_sub(e.joined_us) / 1_000_000).to_string(),
                )
                .h("Priority", "0")
                .opt("ActionID", aid);
            m.end();
            items += 1;
        }
    }
    complete(out, "QueueStatusComplete", aid, items);
}

/// `QueueSummary`.
pub(crate) fn queue_summary(out: &mut BytesMut, s: &State, aid: Option<&str>, now: u64) {
    start(out, aid, "Queue summary will follow");
    for q in s.queues.values() {
        let available = q
            .members
            .iter()
            .filter(|m| m.status == "1" && m.paused == "0")
            .count();
        let longest = q
            .entries
            .first()
            .map_or(0, |e| now.saturating_sub(e.joined_us) / 1_000_000);
        let mut m = Msg::new(out, "Event", "QueueSummary");
        m.h("Queue", &q.name)
            .h("LoggedIn", &q.members.len().to_string())
            .h("Available", &available.to_string())
            .h("Callers", &q.entries.len().to_string())
            .h("HoldTime", &q.holdtime.to_string())
            .h("TalkTime", &q.talktime.to_string())
            .h("LongestHoldTime", &longest.to_string())
            .opt("ActionID", aid);
        m.end();
    }
    complete(out, "QueueSummaryComplete", aid, s.queues.len());
}

/// `PJSIPShowEndpoints`: the phones and the trunk.
pub(crate) fn pjsip_show_endpoints(out: &mut BytesMut, s: &State, plan: &Plan, aid: Option<&str>) {
    start(
        out,
        aid,
        "A listing of Endpoints follows, presented as EndpointList events",
    );
    let mut active: std::collections::HashMap<&str, usize> = Default::default();
    for c in s.channels() {
        *active.entry(endpoint_of(&c.name)).or_default() += 1;
    }
    let names: Vec<&str> = plan
        .phones
        .iter()
        .map(|p| p.ext.as_str())
        .chain(std::iter::once(plan.trunk.as_str()))
        .collect();
    for (i, name) in names.iter().enumerate() {
        let n = active.get(name).copied().unwrap_or(0);
        let contact = if *name == plan.trunk {
            format!("{name}/sip:127.0.0.3:5060,")
        } else {
            format!("{name}/sip:{name}@127.0.0.{}:5060,", 11 + i)
        };
        let mut m = Msg::new(out, "Event", "EndpointList");
        m.opt("ActionID", aid)
            .h("ObjectType", "endpoint")
            .h("ObjectName", name)
            .h("Transport", "")
            .h("Aor", name)
            .h("Auths", "")
            .h("OutboundAuths", "")
            .h("Contacts", &contact)
            .h("DeviceState", if n > 0 { "In use" } else { "Not in use" })
            .h("ActiveChannels", &n.to_string());
        m.end();
    }
    complete(out, "EndpointListComplete", aid, names.len());
}

/// The output lines of `core show channels`, as Asterisk 22 prints them.
pub(crate) fn core_show_channels_cli(s: &State) -> Vec<String> {
    let row = |a: &str, b: &str, c: &str, d: &str| {
        format!("{:<64.64} {:<32.32} {:<7.7} {:<30.30}", a, b, c, d)
    };
    let mut lines = vec![row("Channel", "Location", "State", "Application(Data)")];
    let chans = s.channels();
    let mut calls = std::collections::HashSet::new();
    for c in &chans {
        calls.insert(c.linkedid.as_str());
        let loc = if c.exten.is_empty() {
            "(None)".to_string()
        } else {
            format!("{}@{}:{}", c.exten, c.context, c.priority)
        };
        let app = format!("{}({})", c.application, c.app_data);
        lines.push(row(&c.name, &loc, &c.state_desc, &app));
    }
    let plural = |n: usize| if n == 1 { "" } else { "s" };
    let n = chans.len();
    lines.push(format!("{n} active channel{}", plural(n)));
    let k = calls.len();
    lines.push(format!(
        "{k} of 500 max active call{} ({:5.2}% of capacity)",
        plural(k),
        k as f64 * 100.0 / 500.0
    ));
    let p = s.processed_calls as usize;
    lines.push(format!("{p} call{} processed", plural(p)));
    lines
}
