#!/bin/bash
# No include cycle in the library or the program: builds the graph of
# `#include "..."` lines of core/, merge/, transport/ and cmd/ (a .c file and
# its .h are one node, since the .h declares what the .c defines) and fails
# naming each cycle, with the include lines that make it.  The same graph with
# one node per room (core/base, core/folder, ..., merge, transport, cmd) must
# have no cycle either: rooms call one way (DESIGN.md section 2).  Calls
# through function pointers are not includes and are fine.
# Usage: tests/build/include-cycles.sh [SOURCE_DIR]
set -euo pipefail
src=${1:-$(dirname "$0")/../..}
exec python3 - "$src" <<'PY'
import os, re, sys

src = os.path.abspath(sys.argv[1])
TOPS = ("core", "merge", "transport", "cmd")
INCLUDE = re.compile(r'^\s*#\s*include\s+"([^"]+)"')

files = []
for top in TOPS:
    for root, dirs, names in os.walk(os.path.join(src, top)):
        dirs.sort()
        for n in sorted(names):
            if n.endswith((".c", ".h")):
                files.append(os.path.relpath(os.path.join(root, n), src))

def node(path):          # core/folder/lock.c -> core/folder/lock
    return os.path.splitext(path)[0]

def room(path):          # core/folder/lock.c -> core/folder; merge/x.c -> merge
    parts = path.split("/")
    return "/".join(parts[:2]) if parts[0] == "core" and len(parts) > 2 else parts[0]

def resolve(including, name):
    for base in (os.path.dirname(including), ""):
        p = os.path.normpath(os.path.join(base, name))
        if p in fileset:
            return p
    return None              # a public header (include/dsync/) or a system one

fileset = set(files)
# edges[a][b] = ["file:line includes \"name\"", ...]
file_edges, room_edges = {}, {}
for f in files:
    with open(os.path.join(src, f), errors="replace") as fh:
        for lineno, line in enumerate(fh, 1):
            m = INCLUDE.match(line)
            if not m:
                continue
            target = resolve(f, m.group(1))
            if target is None:
                continue
            why = '%s:%d includes "%s"' % (f, lineno, m.group(1))
            for edges, a, b in ((file_edges, node(f), node(target)),
                                (room_edges, room(f), room(target))):
                if a != b:
                    edges.setdefault(a, {}).setdefault(b, []).append(why)

def cycles(edges):
    """The strongly connected components of more than one node (Tarjan)."""
    index, low, stack, on, out = {}, {}, [], set(), []
    nodes = sorted(set(edges) | {b for a in edges for b in edges[a]})
    def visit(v):
        index[v] = low[v] = len(index)
        stack.append(v)
        on.add(v)
        for w in sorted(edges.get(v, {})):
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
                out.append(sorted(comp))
    sys.setrecursionlimit(10000)
    for v in nodes:
        if v not in index:
            visit(v)
    return out

def one_cycle(edges, comp):
    """A shortest cycle through the component's first node, as a node list."""
    start, inside = comp[0], set(comp)
    prev, queue = {start: None}, [start]
    while queue:
        v = queue.pop(0)
        for w in sorted(edges.get(v, {})):
            if w not in inside:
                continue
            if w == start:
                path = [v]
                while prev[path[-1]] is not None:
                    path.append(prev[path[-1]])
                return list(reversed(path)) + [start]
            if w not in prev:
                prev[w] = v
                queue.append(w)
    return comp

bad = 0
for what, edges in (("files", file_edges), ("rooms", room_edges)):
    for comp in cycles(edges):
        bad += 1
        path = one_cycle(edges, comp)
        print("include cycle between %s: %s" % (what, " -> ".join(path)))
        for a, b in zip(path, path[1:]):
            for why in edges[a][b]:
                print("    " + why)
        if len(comp) > len(path) - 1:
            print("    (the cycle's component also holds: %s)" % ", ".join(c for c in comp if c not in path))
if bad:
    sys.exit("include-cycles: %d cycle(s); cut them (DESIGN.md section 2 says which way includes run)" % bad)
print("include-cycles: no cycle among %d files in %s" % (len(files), ", ".join(t + "/" for t in TOPS)))
PY
