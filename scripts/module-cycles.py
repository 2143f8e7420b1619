#!/usr/bin/env python3
"""Fails when the modules of a crate import each other in a circle.

Reads every `.rs` file under `crates/*/src` (test modules, after `#[cfg(test)]`, and
comments left out), resolves each `crate::a::b` and `super::x` path to the module it names,
and lifts every edge to the level where the two modules are siblings: `a::x -> b::y`
becomes `a -> b` when `a` and `b` share a parent. A module using its parent or an ancestor
(`use super::Tracker`) is not an edge: the parent only declares its children. A cycle among
siblings is printed with the edges that make it, and the exit status is 1.

Usage: scripts/module-cycles.py [crates-dir]
"""
import os
import re
import sys


def modules_of(src):
    mods = {}
    for dp, _, fs in os.walk(src):
        for f in fs:
            if not f.endswith(".rs"):
                continue
            p = os.path.join(dp, f)
            parts = os.path.relpath(p, src)[:-3].split(os.sep)
            if parts[-1] in ("mod", "lib", "main"):
                parts = parts[:-1]
            text = open(p, encoding="utf-8").read()
            cut = text.find("#[cfg(test)]")
            if cut >= 0:
                text = text[:cut]
            text = re.sub(r"//[^\n]*", "", text)
            mods[tuple(parts)] = text
    return mods


def resolve(path, known):
    """The longest prefix of `path` that is a module."""
    for n in range(len(path), -1, -1):
        if tuple(path[:n]) in known:
            return tuple(path[:n])
    return ()


def edges_of(mod, text, known):
    out = set()
    for m in re.finditer(r"\bcrate((?:::[A-Za-z_][A-Za-z0-9_]*)+)", text):
        out.add(resolve(m.group(1).split("::")[1:], known))
    for m in re.finditer(r"\b((?:super::)+)([A-Za-z_][A-Za-z0-9_]*(?:::[A-Za-z_][A-Za-z0-9_]*)*)", text):
        ups = m.group(1).count("super::")
        base = list(mod[: len(mod) - ups]) if ups <= len(mod) else []
        out.add(resolve(base + m.group(2).split("::"), known))
    return out


def lift(a, b):
    """The sibling pair under the common parent, or None if one contains the other."""
    n = 0
    while n < min(len(a), len(b)) and a[n] == b[n]:
        n += 1
    if n == len(a) or n == len(b):
        return None
    return a[: n + 1], b[: n + 1]


def cycles(graph):
    index, low, stack, on, found, counter = {}, {}, [], set(), [], [0]

    def visit(v):
        index[v] = low[v] = counter[0]
        counter[0] += 1
        stack.append(v)
        on.add(v)
        for w in graph.get(v, ()):
            if w not in index:
                visit(w)
                low[v] = min(low[v], low[w])
            elif w in on:
                low[v] = min(low[v], index[w])
        if low[v] == index[v]:
            comp = []
            while True:
                w = stack.pop()
                on.discard(w)
                comp.append(w)
                if w == v:
                    break
            if len(comp) > 1:
                found.append(sorted(comp))

    for v in list(graph):
        if v not in index:
            visit(v)
    return found


def main():
    root = sys.argv[1] if len(sys.argv) > 1 else "crates"
    sys.setrecursionlimit(10000)
    bad = 0
    for crate in sorted(os.listdir(root)):
        src = os.path.join(root, crate, "src")
        if not os.path.isdir(src):
            continue
        mods = modules_of(src)
        graph, why = {}, {}
        for mod, text in mods.items():
            for target in edges_of(mod, text, mods):
                pair = lift(mod, target)
                if pair:
                    graph.setdefault(pair[0], set()).add(pair[1])
                    why.setdefault(pair, set()).add("::".join(mod) + " -> " + "::".join(target))
        for comp in cycles(graph):
            bad += 1
            names = ", ".join("::".join(c) for c in comp)
            print(f"{crate}: import cycle among {names}")
            for a in comp:
                for b in sorted(graph.get(a, ())):
                    if b in comp:
                        print(f"    {' ; '.join(sorted(why[(a, b)]))}")
    if bad:
        print(f"{bad} import cycle(s)")
        return 1
    print("no import cycle between the modules of any crate")
    return 0


if __name__ == "__main__":
    sys.exit(main())
