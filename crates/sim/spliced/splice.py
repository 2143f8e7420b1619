#!/usr/bin/env python3
"""Builds the call kinds no recording shows (ring group, attended transfer, a caller ID set by
the dial plan, a Local route) from the bytes of the real Asterisk 22.10.1 recordings in
fixtures/asterisk/22.10.1/.

    python3 crates/sim/spliced/splice.py       # rewrites crates/sim/spliced/*.ami
    python3 crates/sim/spliced/splice.py DIR   # writes them to DIR instead (CI compares)

Every event written here is an event a recording holds, copied byte for byte with only its
values changed (channel, Uniqueid, numbers, names, Timestamp, a state or a cause). The few
events no recording has (`AttendedTransfer`, a `BridgeEnter` into another bridge) are put
together from the header blocks of recorded events, in the order Asterisk's
`attended_transfer_to_ami` writes them. The simulator compiles these files into templates
(`templates.rs`) exactly like the recordings; they are never replayed as fixtures and have
no ground-truth file.
"""
import os
import re
import sys

HERE = os.path.dirname(os.path.abspath(__file__))
FIX = os.path.join(HERE, "..", "..", "..", "fixtures", "asterisk", "22.10.1")
BANNER = "Asterisk Call Manager/11.0.0\r\n"
OUT = sys.argv[1] if len(sys.argv) > 1 else HERE


class Ev:
    def __init__(self, lines):
        self.lines = lines  # [(key, value)]

    @staticmethod
    def parse(block):
        return Ev([tuple(l.split(": ", 1)) if ": " in l else (l.rstrip(":"), "")
                   for l in block.split("\r\n") if l])

    def get(self, k):
        for a, b in self.lines:
            if a == k:
                return b
        return None

    def set(self, k, v):
        self.lines = [(a, v if a == k else b) for a, b in self.lines]
        return self

    @property
    def name(self):
        return self.get("Event")

    @property
    def ts(self):
        return float(self.get("Timestamp"))

    def at(self, t):
        return self.copy().set("Timestamp", "%.6f" % t)

    def copy(self):
        return Ev(list(self.lines))

    def sub(self, pairs, only=None):
        """Replaces whole words in values (in the headers `only` accepts, or all)."""
        out = []
        for a, b in self.lines:
            if a not in ("Event", "Privilege", "Timestamp") and (only is None or only(a)):
                for old, new in pairs:
                    b = re.sub(r"(?<![0-9A-Za-z])" + re.escape(old) + r"(?![0-9A-Za-z])", new, b)
            out.append((a, b))
        return Ev(out)

    def block(self, first, last):
        """The headers from `first` to `last` (a channel or bridge snapshot)."""
        keys = [a for a, _ in self.lines]
        i, j = keys.index(first), keys.index(last)
        return self.lines[i:j + 1]

    def text(self):
        return "".join("%s: %s\r\n" % (a, b) for a, b in self.lines) + "\r\n"


def load(name):
    data = open(os.path.join(FIX, name + ".ami"), "rb").read().decode()
    evs = [Ev.parse(b) for b in data.split("\r\n\r\n")]
    return [e for e in evs if e.get("Timestamp") and e.name not in ("SuccessfulAuth", "FullyBooted")]


def write(name, evs):
    evs = sorted(evs, key=lambda e: e.ts)  # stable: equal times keep their order
    # Dial's durations follow the new times: from the answer (DialEnd ANSWER) and from the
    # start of the dial (DialBegin) of the channel's own Dial.
    began, answered = {}, {}
    for e in evs:
        if e.name == "DialBegin":
            began.setdefault(e.get("Uniqueid"), e.ts)
        if e.name == "DialEnd" and e.get("DialStatus") == "ANSWER":
            answered.setdefault(e.get("Uniqueid"), e.ts)
        var = e.get("Variable") or ""
        base = var[:-3] if var.endswith("_MS") else var
        start = {"ANSWEREDTIME": answered, "DIALEDTIME": began}.get(base, {}).get(e.get("Uniqueid"))
        if e.name == "VarSet" and start is not None and (e.get("Value") or "").isdigit():
            d = e.ts - start
            e.set("Value", str(int(d * 1000) if var.endswith("_MS") else int(d)))
    with open(os.path.join(OUT, name + ".ami"), "wb") as f:
        f.write((BANNER + "".join(e.text() for e in evs)).encode())


def ev(name, t, lines):
    return Ev([("Event", name), ("Privilege", "call,all"), ("Timestamp", "%.6f" % t)] + lines)


def chan_block(e, prefix=""):
    return [(prefix + a, b) for a, b in e.block("Channel", "Linkedid")]


def bridge_block(e, prefix=""):
    return [(prefix + a, b) for a, b in e.block("BridgeUniqueid", "BridgeVideoSourceMode")]


# ---------------------------------------------------------------------------------------
# Ring group 600: Dial(PJSIP/2002&PJSIP/2003,30). The caller's leg and the first member's
# leg are the recording's (2001 -> 2002); the second member (2003, Carol) gets a copy of
# every event of the first member's leg up to the answer, on its own channel.

def to_group(e):
    """The caller dialed 600: every Exten of the call (not the phones' hints) says so."""
    if e.name == "ExtensionStatus":
        return e
    out = []
    for a, b in e.lines:
        if a in ("Exten", "Extension", "DestExten") and b == "2002":
            b = "600"
        elif a == "AppData":
            b = b.replace("-> 2002", "-> 600").replace("PJSIP/2002,30", "PJSIP/2002&PJSIP/2003,30")
        out.append((a, b))
    return Ev(out)


def ring_group(src, answered):
    evs = load(src)
    m1_chan = next(e.get("DestChannel") for e in evs if e.name == "DialBegin")
    m1_uid = next(e.get("DestUniqueid") for e in evs if e.name == "DialBegin")
    m2_chan = m1_chan[:-8] + "%08x" % (int(m1_chan[-8:], 16) + 1)
    m2_chan = m2_chan.replace("PJSIP/2002-", "PJSIP/2003-")
    base, seq = m1_uid.split(".")
    m2_uid = "%s.%d" % (base, int(seq) + 1)
    # The recording's own ids that follow must not clash with the new channel's.
    assert not any(m2_uid in e.text() or m2_chan[-8:] in e.text() for e in evs)
    answer = next((e.ts for e in evs if e.name == "Newstate" and e.get("Channel") == m1_chan
                   and e.get("ChannelStateDesc") == "Up"), None)
    names = [(m1_chan, m2_chan), (m1_uid, m2_uid), ("2002", "2003"), ("Bob", "Carol")]
    out = [to_group(e) for e in evs]
    dial_end = None
    for e in evs:
        if answer is not None and e.ts >= answer:
            if e.name == "DialEnd" and e.get("DestChannel") == m1_chan:
                dial_end = e
            continue
        mine = e.get("Channel") == m1_chan
        dial = e.get("DestChannel") == m1_chan
        device = (e.name == "ExtensionStatus" and e.get("Exten") == "2002") or \
                 (e.name == "DeviceStateChange" and e.get("Device") == "PJSIP/2002")
        if mine or device:
            out.append(to_group(e).sub(names).at(e.ts + 0.000040))
        elif dial:
            out.append(to_group(e).sub(names, only=lambda k: k.startswith("Dest")).at(e.ts + 0.000040))
    if answered:
        # 2002 answered: Dial cancels 2003 (DialEnd CANCEL), which hangs up with cause 26.
        t = dial_end.ts + 0.000030
        ringing = next(e for e in evs if e.name == "Newstate" and e.get("Channel") == m1_chan
                       and e.get("ChannelStateDesc") == "Ringing")
        cancel = to_group(dial_end).sub(names, only=lambda k: k.startswith("Dest"))
        cancel = cancel.set("DestChannelState", "5").set("DestChannelStateDesc", "Ringing")
        cancel = cancel.set("DialStatus", "CANCEL")
        out.append(cancel.at(t))
        # Its Hangup: the ringing channel's snapshot, then the cause Dial gave it.
        snap = chan_block(to_group(ringing).sub(names))
        out.append(ev("Hangup", t + 0.000200, snap + [("Cause", "26"), ("Cause-txt", "Answered elsewhere")]))
        idle_ext = next(e for e in evs if e.name == "ExtensionStatus" and e.get("Exten") == "2002"
                        and e.get("StatusText") == "Idle")
        idle_dev = next(e for e in evs if e.name == "DeviceStateChange" and e.get("Device") == "PJSIP/2002"
                        and e.get("State") == "NOT_INUSE")
        out.append(idle_ext.sub(names).at(t + 0.000300))
        out.append(idle_dev.sub(names).at(t + 0.000350))
    return out


write("ring_group_answered", ring_group("internal_answered", True))
write("ring_group_no_answer", ring_group("internal_no_answer", False))


# ---------------------------------------------------------------------------------------
# Attended transfer, as the phones do it (REFER with Replaces): 2001 (Alice) calls 2002
# (Bob), Bob answers and holds (hold_unhold up to its Hold); Bob's phone calls 2003 (Carol)
# on a second channel, its own call (internal_answered with the parties moved); Carol
# answers; Bob transfers: the two bridges merge into the first, Bob's channels leave and
# hang up, Alice's music on hold stops, Alice and Carol talk; Alice hangs up (the end of
# hold_unhold, Carol in Bob's place).

def attended():
    hold = load("hold_unhold")
    a_chan = hold[0].get("Channel")
    a_uid = hold[0].get("Uniqueid")
    b1 = next(e for e in hold if e.name == "BridgeEnter" and e.get("Channel") != a_chan)
    b1_chan, b1_uid = b1.get("Channel"), b1.get("Uniqueid")
    t_unhold = next(e.ts for e in hold if e.name == "Unhold")
    t_hold = next(e.ts for e in hold if e.name == "Hold")
    out = [e for e in hold if e.ts < t_unhold]

    cons = load("internal_answered")
    c0 = cons[0]
    base = a_uid.split(".")[0]
    seq = int(b1_uid.split(".")[1])
    chan_hex = int(b1_chan[-8:], 16)
    o_b2_chan, o_b2_uid = c0.get("Channel"), c0.get("Uniqueid")
    dial = next(e for e in cons if e.name == "DialBegin")
    o_c_chan, o_c_uid = dial.get("DestChannel"), dial.get("DestUniqueid")
    b2_chan = "PJSIP/2002-%08x" % (chan_hex + 1)
    c_chan = "PJSIP/2003-%08x" % (chan_hex + 2)
    shift = (t_hold + 1.2) - c0.ts
    # A Uniqueid is the epoch second of the channel's creation and the PBX's sequence.
    b2_uid = "%d.%d" % (int(c0.ts + shift), seq + 1)
    c_uid = "%d.%d" % (int(next(e.ts for e in cons if e.get("Uniqueid") == o_c_uid) + shift), seq + 2)
    # Parties move up by one (2001->2002, 2002->2003) in one pass, ids to the new call.
    parties = [(o_b2_chan, b2_chan), (o_c_chan, c_chan), (o_b2_uid, b2_uid), (o_c_uid, c_uid),
               ("2002", "2003"), ("Bob", "Carol"), ("2001", "2002"), ("Alice", "Bob")]

    def move(e):
        s = e.text()
        marks = {}
        for i, (old, new) in enumerate(parties):
            mark = "\x00%d\x00" % i
            s = re.sub(r"(?<![0-9A-Za-z])" + re.escape(old) + r"(?![0-9A-Za-z])", mark, s)
            marks[mark] = new
        for mark, new in marks.items():
            s = s.replace(mark, new)
        return Ev.parse(s.rstrip("\r\n"))

    t_cons_answer = next(e.ts for e in cons if e.name == "Newstate" and e.get("Channel") == o_c_chan
                         and e.get("ChannelStateDesc") == "Up")
    first_qos = next(e.ts for e in cons if e.get("Variable") == "RTPAUDIOQOS")
    bridge_enters = {}
    for e in cons:
        if e.ts >= first_qos:
            break
        # Bob's phone is already in use: its device and hint do not change again.
        if (e.name == "DeviceStateChange" and e.get("Device") == "PJSIP/2001") or \
                (e.name == "ExtensionStatus" and e.get("Exten") == "2001"):
            continue
        m = move(e).at(e.ts + shift)
        if m.name == "BridgeEnter":
            bridge_enters[m.get("Channel")] = m
        out.append(m)
    t = t_cons_answer + shift + 3.3

    # The transfer: Carol's channel moves into the first bridge (Asterisk merges the bridge
    # with fewer channels into the other; equal, into the transferee's), Bob's two channels
    # are kicked out.
    a_enter = next(e for e in hold if e.name == "BridgeEnter" and e.get("Channel") == a_chan)
    b1_enter = b1
    evs = []
    b2_snap = next(m for m in reversed(out) if m.get("Channel") == b2_chan)
    c_snap = bridge_enters[c_chan]
    bridge2 = bridge_enters[b2_chan]

    def leave(enter, n, t):
        return ev("BridgeLeave", t, bridge_block(enter)[:5] + [("BridgeNumChannels", str(n))]
                  + bridge_block(enter)[6:] + chan_block(enter))

    evs.append(leave(c_snap, 1, t))
    # Joining a bridge, a channel takes the oldest Linkedid in it (bridge_basic_push ->
    # ast_bridge_channel_update_linkedids): from here on Carol is in Alice's call.
    c_moved = c_snap.copy().set("Linkedid", a_uid)
    evs.append(ev("BridgeEnter", t + 0.000100,
                  bridge_block(a_enter)[:5] + [("BridgeNumChannels", "3")] + bridge_block(a_enter)[6:]
                  + chan_block(c_moved)))
    evs.append(leave(bridge2, 0, t + 0.000200))
    evs.append(leave(b1_enter, 2, t + 0.000300))
    destroy = next(move(e) for e in cons if e.name == "BridgeDestroy")
    evs.append(destroy.at(t + 0.000400))
    lines = [("Result", "Success")] + chan_block(b1_enter, "OrigTransferer") + bridge_block(a_enter, "Orig")
    lines += chan_block(b2_snap, "SecondTransferer") + bridge_block(bridge2, "Second")
    lines += chan_block(a_enter, "Transferee") + chan_block(c_moved, "TransferTarget")
    # A REFER from the phone is a transfer "performed outside of Asterisk".
    lines += [("IsExternal", "Yes"), ("DestType", "Bridge"),
              ("DestBridgeUniqueid", a_enter.get("BridgeUniqueid"))]
    evs.append(ev("AttendedTransfer", t + 0.000500, lines))
    moh_stop = [e for e in hold if e.ts >= t_unhold and e.name in ("MusicOnHoldStop",)
                or (e.ts >= t_unhold and e.name in ("ExtensionStatus", "DeviceStateChange") and e.ts < t_unhold + 0.5)]
    for i, e in enumerate(moh_stop):
        evs.append(e.at(t + 0.000600 + i * 0.00001))
    # Bob's channels hang up: the consultation's caller as its Dial returns, the first
    # call's callee as the hold recording's callee did.
    tb = t + 0.001
    for e in cons:
        if e.ts > first_qos and e.get("Channel") == o_b2_chan and (
                e.name == "Hangup" or (e.name == "VarSet" and "TIME" in e.get("Variable") or
                                       e.get("Variable") == "DIALSTATUS")):
            evs.append(move(e).at(tb))
            tb += 0.00001
    for e in hold:
        if e.ts > t_unhold and e.name == "Hangup" and e.get("Channel") == b1_chan:
            evs.append(e.at(tb))
            tb += 0.00001
    for e in hold:
        if e.ts > t_unhold and ((e.name == "ExtensionStatus" and e.get("Exten") == "2002" and
                                 e.get("StatusText") == "Idle") or
                                (e.name == "DeviceStateChange" and e.get("Device") == "PJSIP/2002")):
            evs.append(e.at(tb))
            tb += 0.00001
    out += evs
    # Alice and Carol talk; Alice hangs up: the end of hold_unhold, Carol in Bob's place.
    end = [e for e in hold if e.ts > t_unhold + 0.5]
    t_end = end[0].ts
    carol = [(b1_chan, c_chan), (b1_uid, c_uid), ("2002", "2003"), ("Bob", "Carol")]
    for e in end:
        if e.get("Channel") == b1_chan:
            m = e.sub(carol)
        elif e.name == "DeviceStateChange" and e.get("Device") == "PJSIP/2002":
            m = e.sub(carol)
        elif e.name == "ExtensionStatus" and e.get("Exten") == "2002":
            m = e.sub(carol)
        else:
            m = e.sub(carol, only=lambda k: k.startswith("ConnectedLine") or k == "Value")
        out.append(m.at(tb + 3.3 + (e.ts - t_end)))
    return out


write("attended_transfer", attended())


# ---------------------------------------------------------------------------------------
# The dial plan sets the caller ID before dialing (`Set(CALLERID(num)=…)`, a provider's
# per-account number): internal_answered with the caller renamed between its NoOp and its
# Dial. From the `NewCallerid` on, the caller's channel shows the new number, and so does
# what the callee is shown (its connected line). Hints and devices keep the extension.

CID = "+31850002001"  # the number set; the simulator fills in its own (templates.rs)
CID_OUT = "+31850002004"  # the outbound caller's (2004): the company's DID for its line


def callerid_set(src, cid):
    evs = load(src)
    a_chan, a_num = evs[0].get("Channel"), evs[0].get("CallerIDNum")
    b_chan = next(e.get("DestChannel") for e in evs if e.name == "DialBegin")
    noop = next(e for e in evs if e.name == "Newexten" and e.get("Application") == "NoOp")
    out, renamed = [], False
    for e in evs:
        if renamed:
            e = e.copy()
            for p in ("", "Dest"):
                if e.get(p + "Channel") == a_chan:
                    e.set(p + "CallerIDNum", cid)
                    # One more dial plan step before the Dial.
                    if e.get(p + "Priority") == "2":
                        e.set(p + "Priority", "3")
                if e.get(p + "Channel") == b_chan and e.get(p + "ConnectedLineNum") == a_num:
                    e.set(p + "ConnectedLineNum", cid)
        out.append(e)
        if e is noop:
            t = e.ts
            setter = noop.copy().set("Priority", "2").set("Application", "Set")
            setter = setter.set("AppData", "CALLERID(num)=" + cid)
            out.append(setter.at(t + 0.000004))
            snap = chan_block(noop.copy().set("Priority", "2").set("CallerIDNum", cid))
            # manager_channels.c: the snapshot, then the presentation.
            out.append(ev("NewCallerid", t + 0.000007,
                          snap + [("CID-CallingPres", "0 (Presentation Allowed, Not Screened)")]))
            renamed = True
    return out


write("callerid_set", callerid_set("internal_answered", CID))
write("callerid_set_outbound", callerid_set("outbound_answered", CID_OUT))


# ---------------------------------------------------------------------------------------
# A Local route: the caller's dial plan does `Dial(Local/2002@route,30)`; the `;2` half
# runs `route` and dials the phone. internal_answered with the Local pair put between the
# parties: `;1` (Down, requested by the caller, so in its Linkedid) is what the caller's
# Dial dials; `;2` (Ring, running the dial plan) gets the caller's Dial of the phone, with
# the caller's caller ID (local_call copies `;1`'s connected line to `;2`'s caller). On the
# answer the phone and `;2` share one bridge, the caller and `;1` another; then the pair
# optimizes itself away (LocalOptimization: Yes), the phone moving into the caller's bridge
# in `;1`'s place, in the order `bridge_channel_local_optimize_out` (swap) makes, and both
# halves hang up. The rest (talk, hangups) is the recording's.

def local_route():
    evs = load("internal_answered")
    a = evs[0]
    a_chan, a_uid = a.get("Channel"), a.get("Uniqueid")
    dial = next(e for e in evs if e.name == "DialBegin")
    b_chan, b_uid = dial.get("DestChannel"), dial.get("DestUniqueid")
    base, seq = a_uid.split(".")
    # The pair is made before the phone's channel: it takes the phone's ids, the phone the
    # next ones (one channel counter, as the simulator has).
    seq_hex = int(b_chan[-8:], 16)
    l1 = "Local/2002@route-%08x;1" % seq_hex
    l2 = "Local/2002@route-%08x;2" % seq_hex
    l1_uid, l2_uid = "%s.%d" % (base, int(seq) + 1), "%s.%d" % (base, int(seq) + 2)
    new_b_chan = b_chan[:-8] + "%08x" % (seq_hex + 1)
    new_b_uid = "%s.%d" % (base, int(seq) + 3)
    assert not any(x in e.text() for e in evs for x in (new_b_uid, l2_uid, new_b_chan))
    evs = [e.sub([(b_chan, new_b_chan), (b_uid, new_b_uid)]) for e in evs]
    dial = next(e for e in evs if e.name == "DialBegin")
    b_chan, b_uid = new_b_chan, new_b_uid
    as_l2 = [(a_chan, l2), (a_uid, l2_uid)]

    def on_l2(e):
        """One of the caller's events as `;2`'s (its channel block only, Linkedid kept)."""
        m = e.copy()
        m.lines = [(k, l2 if k == "Channel" else l2_uid if k == "Uniqueid" else
                    "route" if k == "Context" else "1" if k == "Priority" else v)
                   for k, v in m.lines]
        return m

    i_dial = next(i for i, e in enumerate(evs) if e.name == "Newexten" and e.get("Application") == "Dial")
    i_begin = evs.index(dial)
    i_answer = next(i for i, e in enumerate(evs) if e.name == "Newstate" and e.get("Channel") == b_chan
                    and e.get("ChannelStateDesc") == "Up")
    i_create = next(i for i, e in enumerate(evs) if e.name == "BridgeCreate")
    enters = [e for e in evs if e.name == "BridgeEnter"]
    b_enter = next(e for e in enters if e.get("Channel") == b_chan)
    a_enter = next(e for e in enters if e.get("Channel") == a_chan)
    first_qos = next(i for i, e in enumerate(evs) if e.get("Variable") == "BRIDGEPEER")
    bridge1 = evs[i_create].get("BridgeUniqueid")
    bridge2 = "6f0c9d2e-4a51-4b8e-9c3d-2b7e1f5a8c40"
    assert bridge2 not in "".join(e.text() for e in evs)
    out = []

    def at_end(e):
        out.append(e.at(max(e.ts, out[-1].ts + 0.000001) if out else e.ts))

    def with_snap(e, snap):
        """`e` with its channel block replaced by `snap`'s."""
        keys = [k for k, _ in e.lines]
        i, j = keys.index("Channel"), keys.index("Linkedid")
        return Ev(e.lines[:i] + chan_block(snap) + e.lines[j + 1:])

    def enter(bridge, n, snap, t):
        return ev("BridgeEnter", t, bridge_block(b_enter)[:0] + [("BridgeUniqueid", bridge)]
                  + bridge_block(b_enter)[1:5] + [("BridgeNumChannels", str(n))]
                  + bridge_block(b_enter)[6:] + chan_block(snap))

    def leave(bridge, n, snap, t):
        return enter(bridge, n, snap, t).set("Event", "BridgeLeave")

    def local_snap(half, state, desc, cid, cname, conn, cname2, exten, prio, uid):
        m = b_enter.copy()
        for k, v in [("Channel", half), ("ChannelState", state), ("ChannelStateDesc", desc),
                     ("CallerIDNum", cid), ("CallerIDName", cname), ("ConnectedLineNum", conn),
                     ("ConnectedLineName", cname2), ("Context", "route"), ("Exten", exten),
                     ("Priority", prio), ("Uniqueid", uid), ("Linkedid", a_uid)]:
            m.set(k, v)
        return m

    # The caller, up to its Dial and the Dial's variables.
    for e in evs[:i_dial + 1]:
        if e.name == "Newexten" and e.get("Application") == "Dial":
            e = e.copy().set("AppData", "Local/2002@route,30")
        at_end(e)
    t = evs[i_dial].ts
    for e in evs[i_dial + 1:]:
        if e.name != "VarSet" or e.get("Channel") != a_chan:
            break
        at_end(e)
    # The Local pair: `;1` Down, `;2` Ring, neither with a caller ID yet.
    one_down = local_snap(l1, "0", "Down", "<unknown>", "<unknown>", "<unknown>", "<unknown>",
                          "2002", "1", l1_uid)
    two_ring = local_snap(l2, "4", "Ring", "<unknown>", "<unknown>", "<unknown>", "<unknown>",
                          "2002", "1", l2_uid)
    newchan = evs[[e.name for e in evs].index("Newchannel", 1)]
    at_end(with_snap(newchan, one_down).at(t))
    at_end(with_snap(newchan, two_ring).at(t))
    peer_num = next(e for e in evs if e.name == "VarSet" and e.get("Channel") == b_chan)
    at_end(with_snap(peer_num, one_down).set("Value", "2002@route").at(t))
    one_conn = local_snap(l1, "0", "Down", "<unknown>", "<unknown>", "2001", "Alice", "2002", "1", l1_uid)
    b_conn = next(e for e in evs if e.name == "NewConnectedLine" and e.get("Channel") == b_chan)
    at_end(with_snap(b_conn, one_conn).at(t))
    at_end(ev("LocalBridge", t, chan_block(one_conn, "LocalOne")
              + chan_block(local_snap(l2, "4", "Ring", "2001", "Alice", "<unknown>", "<unknown>",
                                      "2002", "1", l2_uid), "LocalTwo")
              + [("Context", "route"), ("Exten", "2002"), ("LocalOptimization", "Yes")]))
    # The caller's Dial of `;1`.
    begin = dial.copy()
    keys = [k for k, _ in begin.lines]
    i, j = keys.index("DestChannel"), keys.index("DestLinkedid")
    begin.lines = begin.lines[:i] + chan_block(one_conn, "Dest") + begin.lines[j + 1:]
    at_end(begin.set("DialString", "2002@route").at(t))
    # `;2` runs `route`: the caller's Dial of the phone, on `;2`.
    two = local_snap(l2, "4", "Ring", "2001", "Alice", "<unknown>", "<unknown>", "2002", "1", l2_uid)
    at_end(with_snap(evs[i_dial], two).set("AppData", "PJSIP/2002,30").at(t))
    for e in evs[i_dial + 1:i_begin]:
        if e.get("Channel") == a_chan:
            at_end(on_l2(e).at(t))
        else:
            at_end(e)
    at_end(on_l2(dial).at(t))
    # Ringing, and the answer: the phone's leg is `;2`'s, its state reaches the caller
    # through `;1`.
    for e in evs[i_begin + 1:i_answer]:
        if e.get("Channel") == a_chan and e.name in ("NewConnectedLine", "VarSet"):
            # The phone's identity and ring time reach `;2`, and through the pair the caller.
            at_end(on_l2(e))
            at_end(e)
        elif e.name == "DialState":
            at_end(on_l2(e))
            one_ring = local_snap(l1, "5", "Ringing", "<unknown>", "<unknown>", "2001", "Alice",
                                  "2002", "1", l1_uid)
            st = e.copy()
            keys = [k for k, _ in st.lines]
            i, j = keys.index("DestChannel"), keys.index("DestLinkedid")
            st.lines = st.lines[:i] + chan_block(one_ring, "Dest") + st.lines[j + 1:]
            at_end(st)
        else:
            at_end(e)
    at_end(evs[i_answer])
    # The phone answered `;2`'s Dial: `;2` and `;1` come up, `;2` and the phone share a bridge.
    for e in evs[i_answer + 1:i_create]:
        if e.get("Channel") == a_chan and e.name in ("VarSet", "DialEnd"):
            at_end(on_l2(e))
        elif e.name == "Newstate" and e.get("Channel") == a_chan:
            at_end(on_l2(e))
        else:
            at_end(e)
    t = out[-1].ts
    two_up = local_snap(l2, "6", "Up", "2001", "Alice", "2002", "Bob", "2002", "1", l2_uid)
    one_up = local_snap(l1, "6", "Up", "<unknown>", "<unknown>", "2001", "Alice", "2002", "1", l1_uid)
    a_state = next(e for e in evs[i_answer:] if e.name == "Newstate" and e.get("Channel") == a_chan)
    at_end(with_snap(a_state, one_up).at(t))
    at_end(evs[i_create].copy().set("BridgeUniqueid", bridge2).at(t))
    b_up = [e for e in evs[i_create:first_qos] if e.get("Channel") == b_chan]
    for e in b_up:
        if e.name == "BridgeEnter":
            at_end(enter(bridge2, 1, e, t))
        else:
            at_end(e.at(t))
    at_end(enter(bridge2, 2, two_up, t))
    # The caller's Dial of `;1` is answered: the caller and `;1` share the caller's bridge.
    for e in evs[i_answer + 1:i_create]:
        if e.get("Channel") == a_chan:
            if e.name == "VarSet" and e.get("Variable") == "DIALEDPEERNAME":
                e = e.copy().set("Value", l1)
            elif e.name == "VarSet" and e.get("Variable") == "DIALEDPEERNUMBER":
                e = e.copy().set("Value", "2002@route")
            elif e.name == "DialEnd":
                e = e.copy()
                keys = [k for k, _ in e.lines]
                i, j = keys.index("DestChannel"), keys.index("DestLinkedid")
                e.lines = e.lines[:i] + chan_block(one_up, "Dest") + e.lines[j + 1:]
            at_end(e.at(t))
    at_end(evs[i_create].at(t))
    at_end(enter(bridge1, 1, one_up, t))
    at_end(enter(bridge1, 2, a_enter, t))
    # The optimization: the phone takes `;1`'s place next to the caller.
    opt = [("DestUniqueId", l1_uid), ("Id", "0")]
    at_end(ev("LocalOptimizationBegin", t, chan_block(one_up, "LocalOne") + chan_block(two_up, "LocalTwo")
              + chan_block(b_enter, "Source") + opt))
    at_end(leave(bridge2, 1, b_enter, t))
    at_end(enter(bridge1, 3, b_enter, t))
    at_end(leave(bridge1, 2, one_up, t))
    at_end(ev("LocalOptimizationEnd", t, chan_block(one_up, "LocalOne") + chan_block(two_up, "LocalTwo")
              + [("Success", "Yes"), ("Id", "0")]))
    at_end(leave(bridge2, 0, two_up, t))
    destroy = next(e for e in evs if e.name == "BridgeDestroy")
    at_end(destroy.copy().set("BridgeUniqueid", bridge2).set("BridgeNumChannels", "0").at(t))
    cause = [("Cause", "16"), ("Cause-txt", "Normal Clearing")]
    at_end(ev("Hangup", t, chan_block(one_up) + cause))
    at_end(ev("Hangup", t, chan_block(two_up) + cause))
    # Talk and hang up, as recorded.
    for e in evs[first_qos:]:
        at_end(e)
    return out


write("local_route", local_route())
