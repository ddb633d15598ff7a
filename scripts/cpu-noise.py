#!/usr/bin/env python3
"""cpu-noise.py: how much the CPU cost of the same work varies on this machine.

Repeats a fixed piece of work (SHA-256 of 64 KiB and a short integer sum, N times per
window), timed by the process's own CPU clock, so that waiting for the CPU does not count,
only how long the CPU takes once it runs. Prints the spread of the CPU microseconds per
unit of work, per window and averaged over 3, 10 and 30 consecutive windows.

A capacity search decides near its knee from a few one-second windows, so on a machine
whose CPU speed moves by more than its grid step between windows, two runs cannot agree
within one grid step in every cell whatever the search does. Run it pinned where the
servers run, e.g. `taskset -c 0 scripts/cpu-noise.py --windows 200`.

Usage: scripts/cpu-noise.py [--windows N] [--units N]   (python3, standard library only)
"""

import argparse
import hashlib
import statistics
import time

BLOCK = b"x" * 65536


def unit():
    hashlib.sha256(BLOCK).digest()
    sum(range(2000))


def spread(name, values):
    mean = statistics.mean(values)
    return (
        f"{name:<22} n={len(values):<4} median {statistics.median(values):7.1f}  "
        f"min {min(values):7.1f}  max {max(values):7.1f}  "
        f"range {100 * (max(values) - min(values)) / mean:5.1f}% of the mean  "
        f"stdev {100 * statistics.stdev(values) / mean:4.1f}%"
    )


def main():
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--windows", type=int, default=200, help="windows to time (default 200)")
    p.add_argument("--units", type=int, default=3000, help="units of work per window (default 3000)")
    args = p.parse_args()
    per_unit = []
    for _ in range(args.windows):
        start = time.process_time()
        for _ in range(args.units):
            unit()
        per_unit.append(1e6 * (time.process_time() - start) / args.units)
    print(f"CPU microseconds per unit of work, {args.units} units per window:")
    print(spread("each window", per_unit))
    for k in (3, 10, 30):
        means = [statistics.mean(per_unit[i : i + k]) for i in range(0, len(per_unit) - k + 1, k)]
        if len(means) > 1:
            print(spread(f"means of {k} windows", means))


if __name__ == "__main__":
    main()
