#!/usr/bin/env python3
# Copied unchanged (apart from this line) from the shared tools/cacocheck.py: the acceptance rules.
"""Call-level check of `switchboard replay X.ami --json` against cacofonisk's expected cases
(Asterisk 13, chan_sip, VoIPGRID's dialplan with Local channels and NewCallerid; from the
MIT-licensed cacofonisk project's fixtures). Every case with call events under DIR/<category>/
is checked; cases asserting only UserEvent headers (level user_event_fields) are skipped.

cacofonisk reports events per calling channel and names parties by the caller-ID numbers the
dialplan put on each channel. This checker turns those events into what DESIGN.md ("What the
fields mean") says a call record must show, and compares that with switchboard's records:

  Calls. The events are grouped by the calling channel's Linkedid: one group is one call
  (cacofonisk relabels the "caller" after a transfer, but the channel keeps its Linkedid).
  A record is matched to a call by `linkedid`, else by from.number. A group without a hangup
  whose caller is the transferer of a transfer is the consultation call: it may be folded
  into the transferred call or kept (DESIGN), and is not otherwise checked. Any other record
  is an extra record (e.g. a pickup's *8 dial reported as its own call).
  - from.number: the caller's number at the call's first event, i.e. the originating
    channel's CallerIDNum after the dialplan's NewCallerid (what the callee's
    ConnectedLineNum shows); for an AMI Originate, the phone rung first (cacofonisk's caller).
  - to.number: the caller's `exten` at the first event (what was dialed; for an Originate
    the number dialed). Never `s`, `onhangup`, or a Local route id such as `ID400377`.
  - answered_by: the FIRST party that answered (the callee of the call's first `answered`
    event), never the last. A phone (SIP/<account>) is named by its extension: the
    VoIPGRID numbering plan's internal number (PLAN below, e.g. SIP/150010001 -> 201) or
    the endpoint name DESIGN derives from the interface (150010001); not the number the
    dialplan put on its channel (a group 401, a queue DID +31150010004, a DID). A party
    behind the trunk is its number; the dialed number of an outbound call is the same
    party (0150010001 == +31150010001: national vs international format).
    A Local channel is never a party.
  - disposition: `answered` if anybody answered, even if a later transfer target did not
    (cacofonisk's hangup reason describes the last leg); else `abandoned` after a
    QueueCallerAbandon; else from the caller's hangup: busy -> busy; no-answer / cancelled /
    answered-elsewhere -> no_answer; completed without any answer (the PBX answered the
    caller's channel itself) -> no_answer; rejected / failed -> failed.
  - transfers: exactly the transfers of the call, as (kind, by, to), no more: attended ->
    attended; blonde -> attended (DESIGN has no "blonde"; Asterisk sends AttendedTransfer)
    or "blonde"; blind -> blind. `by` is the transferring phone; `to` the party the caller
    was connected to (attended), or for blind/blonde the transfer extension or a phone it
    rang. A BlindTransfer (Result: Success) in the AMI that cacofonisk does not report
    (it reports none when the target never rings) is still a transfer of the call.
  - cases where cacofonisk expects nothing (an Originate whose first phone refused or did
    not accept): no record may be answered; a record, if any, must not name a dialplan
    artefact as to.number.
  - replay must exit 0 on every case.

Numbering plan: the answers above assume the plan a VoIPGRID admin would configure (the
SIP/<9-digit account> endpoints are phones, SIP/voipgrid-siproute-* is the trunk). When
`switchboard replay --help` offers `--config`, the checker runs
`replay X.ami --json --config PLAN.toml`, a configuration whose only `[[servers]]` entry sets
`extensions` (a regular expression) and `trunks` for this plan (PLAN_TOML below). Without it
replay runs with its built-in default (2-6-digit endpoint names are phones). A failure where
switchboard's value is what that default would give is marked "[plan]": it is still a
failure, not a pass.

Where cacofonisk's expectations and DESIGN's rules cannot both hold, DESIGN is followed:
  - cacofonisk's callee numbers are the caller ids the dialplan set on the callee's channel
    (401 for a group, +31150010004 for a queue DID, +31150010001 for a DID, 150010003 for a
    pickup phone); DESIGN's answered_by / transfers[].by / .to name the phone (see above).
  - after a transfer cacofonisk reports the remaining party as the "caller"; DESIGN keeps
    one record per call the caller experienced, from its original caller.
  - xfer_blind_reject / xfer_blonde_reject: cacofonisk's hangup says no-answer / busy (the
    transfer target); DESIGN: the call was answered (by B), so `answered`.
  - a_created_no_answer, queue_a_cancel: cacofonisk says completed (the PBX answered the
    caller's channel); DESIGN: no_answer, resp. abandoned after QueueCallerAbandon.
  - xfer_abcbac (A and C both call B, B joins them): cacofonisk folds A's call; DESIGN folds
    only a consultation call (one the transferer placed), so A's record is required too.
  - xfer_blind_a_no_answer / b_no_answer / group_no_answer: cacofonisk reports no transfer
    (the target never rang); DESIGN: the BlindTransfer happened and is listed.
  - xfer_abbcac_anon: from.number is the number the PBX presented, +31260xxxxxx (a
    NewCallerid with CID-CallingPres 33 masks it), not the network's +31260010001. This
    is DESIGN's rule taken literally (it agrees with cacofonisk); whether a call history
    should keep the unmasked number is a question for DESIGN.
  - Originate: from.number is the phone rung first as cacofonisk names it (its CallerIDNum,
    201), not the number presented to the far end (+31150010001) nor the endpoint name.

usage: cacocheck.py BIN HOLDOUT_DIR   -> prints failures, then 'N/M cacofonisk cases match'."""
import collections, glob, json, os, re, subprocess, sys

# VoIPGRID numbering plan of these recordings: SIP account -> internal extension. Taken from
# the NewCallerid the dialplan sets on each account's own outgoing channel
# (osvpi_proc_set_callerid: SIP/150010001 -> 201, ...; for 150010063 the Originate's first
# leg, CallerIDNum 2401) and the tests' descriptions ("account 150010001 with internal number
# 201"). No extension is seen for 150010004 (it only rings as a member of group 401) or
# 260010001 (it only calls out, as +31260010001): only their endpoint names name them.
PLAN = {"150010001": "201", "150010002": "202", "150010003": "203",
        "100060001": "201", "100060002": "202", "150010063": "2401"}

# The same plan as a switchboard configuration (used when replay takes --config).
PLAN_TOML = """[[servers]]
name = "pbx1"
host = "127.0.0.1"
username = "replay"
secret = "unused"
extensions = "(1500100|1000600|2600100)[0-9]{2}"
trunks = ["voipgrid-siproute-docker", "voipgrid-siproute-ams"]
"""
_PLAN_ARGS = None


def plan_args(binary):
    """`--config PLAN.toml` when this binary's replay takes a configuration, else nothing."""
    global _PLAN_ARGS
    if _PLAN_ARGS is None:
        h = subprocess.run([binary, "replay", "--help"], capture_output=True, text=True).stdout
        _PLAN_ARGS = []
        if "--config" in h:
            import tempfile
            f = tempfile.NamedTemporaryFile("w", suffix=".toml", delete=False)
            f.write(PLAN_TOML)
            f.close()
            _PLAN_ARGS = ["--config", f.name]
    return _PLAN_ARGS


ARTEFACT = re.compile(r"^(s|onhangup|ID\d+|)$")


def canon(n):
    """One spelling per number: +31 / 0031 international -> national 0 format."""
    n = (n or "").strip()
    if n.startswith("+31"):
        return "0" + n[3:]
    if n.startswith("0031"):
        return "0" + n[4:]
    return n


def num(p):
    if p is None:
        return None
    if isinstance(p, str):
        return p
    return p.get("number") or p.get("extension")


def account(channel):
    m = re.match(r"^SIP/(\d+)-[0-9a-f]+$", channel or "")
    return m.group(1) if m else None


def ids(party):
    """The values that name this party in a call record (canonical spelling)."""
    ch = party.get("channel") or ""
    if ch.startswith("Local/"):
        return set()  # a Local channel stands for a route, never for a party
    acct = account(ch)
    if acct:  # one of our phones: its extension (plan) or its endpoint name
        return {x for x in (PLAN.get(acct), acct) if x}
    return {canon(party.get("number"))} - {""}  # behind the trunk: its number


def show(party):
    """A party for messages: the accepted names as spelled, and its channel."""
    acct = account(party.get("channel") or "")
    names = sorted(x for x in (PLAN.get(acct), acct) if x) if acct else [party.get("number")]
    return "%s = %s" % ("|".join(n for n in names if n), party.get("channel"))


def default_ids(party, dialed, on_account):
    """What DESIGN would name this party by under replay's fixed default plan (2-6-digit
    endpoint names are phones): a 9-digit SIP account is then a trunk, named by a number one
    of its channels carried in this recording (a DID, a group number, its own outgoing
    number) or, answering, by the dialed number. Used only to mark failures "[plan]"."""
    acct = account(party.get("channel") or "")
    if acct and not (2 <= len(acct) <= 6):
        return {canon(n) for n in on_account.get(acct, ())} | ({canon(dialed)} - {""})
    return set()


class Transfer:
    def __init__(self, kinds, by, to, by_default=(), to_default=()):
        self.kinds, self.by, self.to = kinds, by, to
        self.by_default, self.to_default = set(by_default), set(to_default)

    def matches(self, t):
        return (t.get("kind") in self.kinds and canon(str(num(t.get("by")))) in self.by
                and canon(str(num(t.get("to")))) in self.to)

    def plan_only(self, t):
        return (t.get("kind") in self.kinds
                and canon(str(num(t.get("by")))) in (self.by | self.by_default)
                and canon(str(num(t.get("to")))) in (self.to | self.to_default))

    def __str__(self):
        return "%s by %s to %s" % ("/".join(self.kinds), "|".join(sorted(self.by)),
                                   "|".join(sorted(self.to)))


def parse_ami(path):
    data = open(path, "rb").read().decode("utf-8", "replace")
    out = []
    for m in data.split("\r\n\r\n"):
        d = {}
        for line in m.split("\r\n"):
            k, sep, v = line.partition(":")
            if sep:
                d[k] = v.strip()
        if "Event" in d:
            out.append(d)
    return out


def expect(d, ami_events):
    """The calls a faithful call history must show, from cacofonisk's events (and, for
    BlindTransfers cacofonisk leaves out, the AMI)."""
    linked, cid, on_account = {}, {}, collections.defaultdict(set)
    blind = []  # (transferer channel, its CallerIDNum then, Extension) of each BlindTransfer
    for m in ami_events:
        if m["Event"] == "BlindTransfer" and m.get("Result") == "Success":
            tr = m.get("TransfererChannel")
            blind.append((tr, cid.get(tr), m.get("Extension")))
        ch = m.get("Channel")
        if not ch:
            continue
        if "Linkedid" in m:
            linked.setdefault(ch, m["Linkedid"])
        if m.get("CallerIDNum") and m["CallerIDNum"] != "<unknown>":
            cid[ch] = m["CallerIDNum"]
            if account(ch):
                on_account[account(ch)].add(m["CallerIDNum"])

    def dflt(party, dialed=""):
        return default_ids(party, dialed, on_account)

    groups = collections.OrderedDict()
    for e in d["events"]:
        groups.setdefault(e["caller"]["linkedid"], []).append(e)
    transferers = {e["transferer"]["channel"] for e in d["events"] if "transferer" in e}
    mirrors = {}
    calls = []
    for lid, evs in groups.items():
        c0 = evs[0]["caller"]
        call = {"linkedid": lid, "caller": c0["number"], "called": c0["exten"],
                "caller_channel": c0["channel"], "transfers": []}
        kinds = [e["kind"] for e in evs]
        call["optional"] = "hangup" not in kinds and c0["channel"] in transferers
        first = next((e for e in evs if e["kind"] == "answered"), None)
        call["answered_by"] = ids(first["callee"]) if first else None
        call["answered_default"] = dflt(first["callee"], c0["exten"]) if first else set()
        call["answered_show"] = show(first["callee"]) if first else None
        hang = next((e for e in evs if e["kind"] == "hangup"), None)
        if first:
            disp = "answered"
        elif "queue_abandon" in kinds:
            disp = "abandoned"
        elif hang is None:
            disp = None
        else:
            disp = {"busy": "busy", "no-answer": "no_answer", "cancelled": "no_answer",
                    "answered-elsewhere": "no_answer", "completed": "no_answer",
                    "rejected": "failed", "failed": "failed"}[hang["reason"]]
        call["disposition"] = disp
        for i, e in enumerate(evs):
            k = e["kind"]
            if k not in ("attended_transfer", "blind_transfer", "blonde_transfer"):
                continue
            by, by_d = ids(e["transferer"]), dflt(e["transferer"])
            if k == "attended_transfer":
                call["transfers"].append(Transfer(("attended",), by, ids(e["target"]),
                                                  by_d, dflt(e["target"])))
                # The target's own call, when it is not a consultation (xfer_abcbac: A and
                # C both called B, B joined them): a call its caller experienced, so DESIGN
                # wants its record too (cacofonisk folds it). That record may carry the
                # mirrored transfer (to this call's caller) or none.
                for olid, oevs in groups.items():
                    if olid != lid and oevs[0]["caller"]["channel"] == e["target"]["channel"]:
                        mirrors[olid] = Transfer(("attended",), by, ids(e["caller"]),
                                                 by_d, dflt(e["caller"]))
                continue
            # blind / blonde: the transfer extension, or a phone it rang / that answered
            to, to_d = {canon(e["caller"]["exten"])}, set()
            later = [x["callee"] for x in evs[i + 1:] if x["kind"] == "answered"]
            for t in e.get("targets", []) + later:
                to |= ids(t)
                to_d |= dflt(t)
            kinds_ok = ("blind",) if k == "blind_transfer" else ("attended", "blonde")
            call["transfers"].append(Transfer(kinds_ok, by, to, by_d, to_d))
        calls.append(call)
    # BlindTransfer events cacofonisk does not report (it reports none when the target
    # never rings): the PBX did transfer the call (Result: Success), so DESIGN lists it.
    reported = {e["transferer"]["channel"] for e in d["events"] if e["kind"] == "blind_transfer"}
    for tr, number, exten in blind:
        if tr in reported:
            continue
        party = {"channel": tr, "number": number}
        for call in calls:
            if call["linkedid"] == linked.get(tr):
                call["transfers"].append(Transfer(("blind",), ids(party), {canon(exten)},
                                                  dflt(party)))
    for call in calls:
        call["alt_transfers"] = mirrors.get(call["linkedid"])
    return calls


def check_record(call, r):
    why = []
    f = num(r.get("from"))
    if canon(f) != canon(call["caller"]):
        why.append(f"from {f} (want {call['caller']})")
    t = num(r.get("to"))
    if canon(t) != canon(call["called"]):
        why.append(f"to {t} (want {call['called']})")
    if call["disposition"] and r.get("disposition") != call["disposition"]:
        why.append(f"disposition {r.get('disposition')} (want {call['disposition']})")
    a = r.get("answered_by")
    a = num(a) if isinstance(a, dict) else a
    want = call["answered_by"]
    if want is None:
        if a not in (None, ""):
            why.append(f"answered_by {a} (want none)")
    elif canon(str(a)) not in want:
        tag = " [plan]" if canon(str(a)) in call["answered_default"] else ""
        why.append(f"answered_by {a} (want {call['answered_show']}){tag}")
    got = list(r.get("transfers") or [])
    wants = list(call["transfers"])
    left = list(got)
    missing = []
    plan_only = True
    for w in wants:
        hit = next((x for x in left if w.matches(x)), None)
        if hit is None:
            hit = next((x for x in left if w.plan_only(x)), None)
            if hit is None:
                plan_only = False
            missing.append(w)
        if hit is not None:
            left.remove(hit)
    alt_ok = (call["alt_transfers"] is not None and
              (not got or (len(got) == 1 and call["alt_transfers"].matches(got[0]))))
    if (missing or left) and not (not wants and alt_ok):
        gs = ", ".join(f"{x.get('kind')} by {num(x.get('by'))} to {num(x.get('to'))}" for x in got) or "none"
        ws = ", ".join(str(w) for w in wants) or "none"
        tag = " [plan]" if missing and plan_only and not left else ""
        why.append(f"transfers [{gs}] (want [{ws}]){tag}")
    return why


def check(binary, ami, exp):
    d = json.load(open(exp))
    if d["asserted"]["level"] == "user_event_fields":
        return None
    p = subprocess.run([binary, "replay", ami, "--json"] + plan_args(binary),
                       capture_output=True, text=True, timeout=60)
    if p.returncode != 0:
        return [f"exit {p.returncode}: {p.stderr.strip()[-120:]}"]
    recs = [json.loads(l) for l in p.stdout.splitlines() if l.strip().startswith("{")]
    calls = expect(d, parse_ami(ami))
    probs = []
    if not calls:
        for r in recs:
            if r.get("disposition") == "answered":
                probs.append(f"expected no answered call, got {num(r.get('from'))}->{num(r.get('to'))} answered")
            t = num(r.get("to"))
            if t is not None and ARTEFACT.match(str(t)):  # unknown (null) is fine
                probs.append(f"to {t} is a dialplan artefact, not a dialed number")
        return probs
    used = set()
    for call in calls:
        cands = [i for i, r in enumerate(recs) if i not in used and r.get("linkedid") == call["linkedid"]]
        if not cands:
            cands = [i for i, r in enumerate(recs)
                     if i not in used and canon(num(r.get("from"))) == canon(call["caller"])]
        if not cands:
            if not call["optional"]:
                probs.append(f"no record for {call['caller']}->{call['called']} ({call['caller_channel']})")
            continue
        if call["optional"]:
            used.add(cands[0])
            continue
        best = min(cands, key=lambda i: len(check_record(call, recs[i])))
        used.add(best)
        probs += [f"{call['caller']}->{call['called']}: {w}" for w in check_record(call, recs[best])]
    for i, r in enumerate(recs):
        if i not in used:
            probs.append(f"extra record {num(r.get('from'))}->{num(r.get('to'))} {r.get('disposition')}")
    return probs


def main():
    binary, root = sys.argv[1], sys.argv[2]
    total = ok = 0
    for exp in sorted(glob.glob(os.path.join(root, "*", "*.expected.json"))):
        ami = exp.replace(".expected.json", ".ami")
        try:
            probs = check(binary, ami, exp)
        except Exception as e:
            probs = [f"{type(e).__name__}: {e}"]
        if probs is None:
            continue
        total += 1
        name = os.path.relpath(exp, root).replace(".expected.json", "")
        if probs:
            print(f"{name}: " + " | ".join(probs))
        else:
            ok += 1
    print(f"{ok}/{total} cacofonisk cases match")
    sys.exit(0 if total and ok == total else 1)


main()
