#!/usr/bin/env python3
"""capacity-agreement.py: how well two run_all.sh runs' capacity searches agree.

Reads the capacity records (capacity-<mode>-<endpoint>-<server>.json) of two results
directories and prints, as Markdown:
- per cell and server, each run's capacity and bound, and their difference (the issue's
  "within 10%"), with the server's CPU share and the client side's CPU at the step that
  decided the bound;
- per cell, the ranking of the servers in each run (equal figures, one grid rate, tie),
  and whether it repeats, or at least reverses no pair;
- server-hyper's reuse /single capacity against its cores / (CPU seconds per request)
  at half of it, interpolated between the passing steps on either side of half.

Usage: scripts/capacity-agreement.py RUN_DIR_1 RUN_DIR_2   (python3, standard library only)
"""

import json
import math
import sys
from pathlib import Path

MODES = ["no-reuse", "reuse"]
ENDPOINTS = ["single", "multiple"]


def load(run_dir):
    meta = json.loads((run_dir / "run.json").read_text())
    records = {}
    for mode in MODES:
        for endpoint in ENDPOINTS:
            for server in meta["servers"]:
                path = run_dir / f"capacity-{mode}-{endpoint}-{server}.json"
                if path.exists():
                    records[(mode, endpoint, server)] = json.loads(path.read_text())
    return meta, records


def deciding_step(c):
    """The step where the bound was decided: the record's bound_step, or (in a record from
    before it) the lowest failing step above capacity."""
    if c.get("bound_step") is not None:
        return c["steps"][c["bound_step"]]
    cap = c.get("capacity_rps") or 0.0
    failing = [s for s in c["steps"] if not s["passed"] and s["offered_rps"] > cap]
    return min(failing, key=lambda s: s["offered_rps"]) if failing else None


def server_share(step, cores):
    server = step["result"].get("server")
    return server["cpu_percent"] / (100.0 * cores) if server and cores else None


def client_max(step):
    c = step["client"]
    return max(c["loadgen_cpu_percent"], c.get("upstream_cpu_percent") or 0.0)


def figure(c):
    if c is None:
        return "—"
    if c.get("capacity_rps") is None:
        return f"none ({c['bound']})"
    prefix = ">= " if c["bound"] in ("client", "fd_budget", "max_rate") else ""
    return f"{prefix}{c['capacity_rps']:,.0f} ({c['bound']})"


def ranking(caps):
    """"hyper > actix = warp > axum": equal capacities (one grid rate) are a tie."""
    order = sorted(caps, key=lambda s: -caps[s])
    text = order[0] if order else "—"
    for prev, s in zip(order, order[1:]):
        text += f" {'=' if caps[s] == caps[prev] else '>'} {s}"
    return text


def compare(c1, c2):
    """repeats: the same order and ties; consistent: no pair of servers in opposite
    order (a tie in one run only is not a reversal); differs: some pair reversed."""
    if ranking(c1) == ranking(c2):
        return "repeats"
    both = [s for s in c1 if s in c2]
    for i, x in enumerate(both):
        for y in both[i + 1:]:
            if (c1[x] - c1[y]) * (c2[x] - c2[y]) < 0:
                return f"differs: {x} and {y} reversed"
    return "consistent: no pair reversed, ties differ"


def pct(x):
    return "—" if x is None else f"{100 * x:.0f}%"


def main():
    if len(sys.argv) != 3:
        sys.exit(__doc__)
    runs = [Path(a) for a in sys.argv[1:]]
    (meta, a), (_, b) = load(runs[0]), load(runs[1])
    servers = meta["servers"]
    worst = 0.0
    print(f"Runs: `{runs[0]}` ({meta['date']}) and `{runs[1]}`.\n")
    for mode in MODES:
        for endpoint in ENDPOINTS:
            print(f"### {mode} /{endpoint}\n")
            print("| server | run 1 | run 2 | difference | server CPU at deciding step (run 1 / 2) | client CPU at deciding step (run 1 / 2) |")
            print("|---|---:|---:|---:|---:|---:|")
            caps = []
            for recs in (a, b):
                got = [(s, recs.get((mode, endpoint, s))) for s in servers]
                caps.append({s: c["capacity_rps"] for s, c in got if c and c.get("capacity_rps")})
            for s in servers:
                ca, cb = a.get((mode, endpoint, s)), b.get((mode, endpoint, s))
                diff = "—"
                if ca and cb and ca.get("capacity_rps") and cb.get("capacity_rps"):
                    d = abs(ca["capacity_rps"] - cb["capacity_rps"]) / max(ca["capacity_rps"], cb["capacity_rps"])
                    worst = max(worst, d)
                    diff = f"{100 * d:.1f}%"
                cpu, client = [], []
                for c in (ca, cb):
                    step = deciding_step(c) if c else None
                    cpu.append(pct(server_share(step, c.get("server_cores"))) if step else "—")
                    client.append(f"{client_max(step):.0f}%" if step else "—")
                print(f"| {s} | {figure(ca)} | {figure(cb)} | {diff} | {' / '.join(cpu)} | {' / '.join(client)} |")
            print(f"\nRanking, run 1: {ranking(caps[0])}; run 2: {ranking(caps[1])} ({compare(caps[0], caps[1])}).\n")
    print(f"Largest difference between the runs: {100 * worst:.1f}%.\n")
    for label, recs in (("run 1", a), ("run 2", b)):
        c = recs.get(("reuse", "single", "hyper"))
        if not c or not c.get("capacity_rps"):
            continue
        cap = c["capacity_rps"]
        half = cap / 2
        per_request, where = cpu_per_request_at(c, half)
        if per_request is None:
            continue
        predicted = c["server_cores"] / per_request
        print(
            f"server-hyper reuse /single, {label}: capacity {cap:,.0f} req/s; at {half:,.0f} req/s ({where}) it used "
            f"{1e6 * per_request:.0f} µs of CPU per request, so {c['server_cores']} core(s) predict {predicted:,.0f} req/s; "
            f"capacity / prediction = {cap / predicted:.2f}."
        )


def cpu_per_request_at(c, rate):
    """The server's CPU seconds per request at `rate`, from the passing steps (the latest
    run at each rate): interpolated in log(rate) between the nearest steps below and above
    it, or the nearest step's own where the steps are all on one side."""
    latest = {}
    for s in c["steps"]:
        latest[s["offered_rps"]] = s
    points = sorted(
        (r, s["result"]["server"]["cpu_seconds"] / s["result"]["requests"])
        for r, s in latest.items()
        if s["passed"] and s["result"].get("server") and s["result"]["requests"]
    )
    if not points:
        return None, ""
    below = [p for p in points if p[0] <= rate]
    above = [p for p in points if p[0] > rate]
    if below and above:
        (r0, c0), (r1, c1) = below[-1], above[0]
        t = math.log(rate / r0) / math.log(r1 / r0)
        return c0 + t * (c1 - c0), f"interpolated between its steps at {r0:,.0f} and {r1:,.0f} req/s"
    r, cpu = min(points, key=lambda p: abs(p[0] - rate))
    return cpu, f"its step at {r:,.0f} req/s, the nearest"


if __name__ == "__main__":
    main()
