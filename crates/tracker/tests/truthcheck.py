#!/usr/bin/env python3
# Copied unchanged (apart from this line) from the shared tools/truthcheck.py: the acceptance rules.
"""Compare `switchboard replay FILE.ami --json` with the ground truth FILE.json of a recording.

usage: truthcheck.py BIN DIR [DIR...]   (every NAME.ami with a NAME.json that has "calls")
       truthcheck.py --records RECORDS TRUTH   (records from the history API or a file: a JSON
       array, {"calls": [...]}, or JSON lines; truth: {"calls": [...]} or JSON lines, e.g. the
       simulator's --truth file)
Prints one line per scenario that falls short, then 'N/M scenarios match'. Exit 1 if any falls short.
A ground-truth call marked "optional": true (an attended transfer's consultation folded into its
transfer, or a call rejected before AMI could see it) may be absent; every other record must match one ground-truth call, and every call must be matched.
"""
import json, os, subprocess, sys, glob

def num(p):
    if p is None:
        return None
    if isinstance(p, str):
        return p
    return p.get("number") or p.get("extension")

def answered_ok(gt, rec, called):
    want = gt.get("answered_by")
    got = rec.get("answered_by")
    if isinstance(got, dict):
        got = num(got)
    if want is None:
        return got in (None, "")
    if want.startswith("voicemail"):
        return got in (None, "") or "voicemail" in str(got).lower()
    if not want.isdigit():  # a trunk or the far end answered
        return got not in (None, "") or rec.get("disposition") == "answered"
    return str(got) == want

def transfers_of(x):
    out = []
    for t in x.get("transfers") or []:
        out.append((t.get("kind"), str(num(t.get("by"))), str(num(t.get("to")))))
    return sorted(out)

def match(gt, rec):
    why = []
    if str(num(rec.get("from"))) != gt["caller"]:
        why.append(f"from {num(rec.get('from'))}!={gt['caller']}")
    if str(num(rec.get("to"))) != gt["called"]:
        why.append(f"to {num(rec.get('to'))}!={gt['called']}")
    if rec.get("disposition") != gt["disposition"]:
        why.append(f"disposition {rec.get('disposition')}!={gt['disposition']}")
    if not answered_ok(gt, rec, gt["called"]):
        why.append(f"answered_by {rec.get('answered_by')}!={gt.get('answered_by')}")
    tg, tr = transfers_of(gt), transfers_of(rec)
    # a transfer made through AMI (Redirect) has no phone that did it: any "by" is accepted
    same_t = len(tg) == len(tr) and all(
        g[0] == r[0] and g[2] == r[2] and (g[1] == r[1] or g[1].startswith("ami:"))
        for g, r in zip(sorted(tg, key=lambda t: (t[0], t[2])), sorted(tr, key=lambda t: (t[0], t[2]))))
    if not same_t:
        why.append(f"transfers {tr}!={tg}")
    q = gt.get("queue")
    if q:
        rq = rec.get("queue")
        rq = rq.get("name") if isinstance(rq, dict) else rq
        if rq != q:
            why.append(f"queue {rq}!={q}")
    return why

def check(binary, ami, truth):
    calls = json.load(open(truth)).get("calls") or []
    p = subprocess.run([binary, "replay", ami, "--json"], capture_output=True, text=True, timeout=120)
    if p.returncode != 0:
        return [f"replay exit {p.returncode}: {p.stderr.strip()[-200:]}"]
    recs = []
    for line in p.stdout.splitlines():
        line = line.strip()
        if line.startswith("{"):
            try:
                recs.append(json.loads(line))
            except ValueError:
                return [f"not JSON: {line[:80]}"]
    return compare(recs, calls)

def is_optional(gt):
    return bool(gt.get("optional")) or "merged" in (gt.get("note") or "") or gt.get("observable_in_ami") is False

def compare(recs, calls):
    """Problems between produced call records and ground-truth calls; empty when they agree."""
    by_from = {}
    for i, r in enumerate(recs):
        by_from.setdefault(str(num(r.get("from"))), []).append(i)
    used = set()
    problems = []
    for gt in calls:
        best = None
        for i in by_from.get(gt["caller"], []):
            if i in used:
                continue
            w = match(gt, recs[i])
            if not w:
                best = (i, [])
                break
            if best is None or len(w) < len(best[1]):
                best = (i, w)
        if best and not best[1]:
            used.add(best[0])
        elif not is_optional(gt):
            problems.append(f"{gt['caller']}->{gt['called']}: " + ("; ".join(best[1]) if best else "no record"))
    optional_left = [g for g in calls if is_optional(g)]
    for i, r in enumerate(recs):
        if i in used:
            continue
        # an unmatched record is allowed only where it stands for an optional ground-truth call
        if any(not match(g, r) for g in optional_left):
            continue
        problems.append(f"invented call {num(r.get('from'))}->{num(r.get('to'))} {r.get('disposition')}")
    return problems

def load_list(path, key):
    """A JSON array, an object holding the array under `key` (or its only list), or JSON lines."""
    text = open(path).read()
    try:
        d = json.loads(text)
    except ValueError:
        return [json.loads(l) for l in text.splitlines() if l.strip().startswith("{")]
    if isinstance(d, dict):
        if isinstance(d.get(key), list):
            return d[key]
        return next((v for v in d.values() if isinstance(v, list)), [])
    return d if isinstance(d, list) else [d]

def main():
    if sys.argv[1] == "--records":  # truthcheck.py --records RECORDS TRUTH
        recs = load_list(sys.argv[2], "calls")
        calls = load_list(sys.argv[3], "calls")
        probs = compare(recs, calls)
        for p in probs[:10]:
            print(p)
        print(f"{len(calls) - len([p for p in probs if not p.startswith('invented')])}/{len(calls)} calls match, {len([p for p in probs if p.startswith('invented')])} invented")
        sys.exit(1 if probs else 0)
    binary, dirs = sys.argv[1], sys.argv[2:]
    total = ok = 0
    for d in dirs:
        for ami in sorted(glob.glob(os.path.join(d, "*.ami"))):
            truth = ami[:-4] + ".json"
            if not os.path.exists(truth) or not json.load(open(truth)).get("calls"):
                continue
            total += 1
            try:
                probs = check(binary, ami, truth)
            except Exception as e:  # a hang or crash is a failure of that scenario
                probs = [f"{type(e).__name__}: {e}"]
            name = os.path.basename(ami)[:-4]
            if probs:
                print(f"{name}: " + " | ".join(probs[:3]) + (f" (+{len(probs)-3} more)" if len(probs) > 3 else ""))
            else:
                ok += 1
    print(f"{ok}/{total} scenarios match")
    sys.exit(0 if total and ok == total else 1)

main()
