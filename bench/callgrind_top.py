#!/usr/bin/env python3
"""Self (exclusive) and inclusive instruction counts per function of a callgrind file, divided
by a request count: bench/profile.sh's per-page-view listing.

    callgrind_top.py FILE REQUESTS [TOP]
    callgrind_top.py FILE REQUESTS --callees NAME    what functions whose name contains NAME
    callgrind_top.py FILE REQUESTS --callers NAME    call, or are called from

(callgrind_annotate 3.19 gives every Rust function's self cost to the thread's entry point in
these files; its inclusive listing is right, and this reads both from the file itself.)
Inclusive cost counts recursion once per frame, so a recursive function can exceed 100 %.
"""

import re
import sys
from collections import defaultdict


def parse(path):
    names = {}
    self_cost = defaultdict(int)
    incl_calls = defaultdict(int)
    current = None
    pending_call = None
    total = 0
    ref = re.compile(r"^\((\d+)\)(?: (.*))?$")

    def name_of(spec):
        m = ref.match(spec)
        if not m:
            return spec
        if m.group(2) is not None:
            names[m.group(1)] = m.group(2)
        return names.get(m.group(1), spec)

    with open(path, errors="replace") as f:
        for line in f:
            line = line.rstrip("\n")
            if line.startswith("fn="):
                current = name_of(line[3:])
            elif line.startswith("cfn="):
                pending_call = name_of(line[4:])
            elif line.startswith("calls="):
                continue
            elif line and (line[0].isdigit() or line[0] in "+-*"):
                cost = int(line.split()[-1]) if len(line.split()) > 1 else 0
                if pending_call is not None:
                    if pending_call != current:
                        incl_calls[(current, pending_call)] += cost
                    pending_call = None
                else:
                    self_cost[current] += cost
                    total += cost
            elif line.startswith(("cfl=", "cfi=", "cob=")):
                continue
    inclusive = defaultdict(int)
    for fn, cost in self_cost.items():
        inclusive[fn] += cost
    for (caller, _callee), cost in incl_calls.items():
        inclusive[caller] += cost
    return total, self_cost, inclusive, incl_calls


def main(argv):
    if len(argv) < 3:
        raise SystemExit(__doc__)
    path, requests = argv[1], int(argv[2])
    total, self_cost, inclusive, calls = parse(path)
    if len(argv) == 5 and argv[3] in ("--callees", "--callers"):
        mine, other = (0, 1) if argv[3] == "--callees" else (1, 0)
        rows = defaultdict(int)
        for pair, cost in calls.items():
            if argv[4] in pair[mine]:
                rows[(pair[mine], pair[other])] += cost
        for (a, b), cost in sorted(rows.items(), key=lambda kv: -kv[1])[:40]:
            print(f"{cost / requests:10,.0f}  {a[:70]}  <->  {b[:110]}")
        return
    top = int(argv[3]) if len(argv) > 3 else 60
    print(f"total: {total:,} Ir = {total / requests:,.0f} Ir per request ({requests} requests)")
    print(f"\nself cost per request (top {top}):")
    for fn, cost in sorted(self_cost.items(), key=lambda kv: -kv[1])[:top]:
        print(f"{cost / requests:10,.0f}  {100 * cost / total:5.1f}%  {fn[:160]}")
    print(f"\ninclusive cost per request (top {top}):")
    for fn, cost in sorted(inclusive.items(), key=lambda kv: -kv[1])[:top]:
        print(f"{cost / requests:10,.0f}  {100 * cost / total:5.1f}%  {fn[:160]}")


if __name__ == "__main__":
    main(sys.argv)
