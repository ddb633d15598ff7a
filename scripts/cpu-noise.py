#!/usr/bin/env python3
"""cpu-noise.py: how much the CPU cost of the same work varies on this machine, and what
that leaves of two capacity searches' agreement.

Repeats a fixed piece of work (SHA-256 of 64 KiB and a short integer sum, N times per
window), timed by the process's own CPU clock, so that waiting for the CPU does not count,
only how long the CPU takes once it runs. Prints:
- the spread of the CPU microseconds per unit of work, per window and averaged over 3, 10
  and 30 consecutive windows;
- how alike a window is to the ones after it (the correlation at a lag of k windows): how
  long a fast or slow stretch lasts, so how much a longer measurement averages away;
- what a capacity search on the default grid (8 rates per doubling, 9% apart) can expect
  on this machine: a CPU-bound capacity is the server's cores over its CPU per request, so
  it moves with this cost. If the run that decides it averages the cost over w windows,
  two searches started apart land two or more grid rates apart in the share of cells shown,
  and all of `--cells` cells agree within one grid rate with the probability shown. (Two
  searches share the knee's true place on the grid, uniform between two grid rates; costs
  x and y, averaged over w windows each, put the two estimates 8 x log2(x / y) grid steps
  apart before rounding down, and they round two or more apart with chance
  min(1, max(0, |that| - 1)). Averaged over every pair of windows further apart than
  30 windows and w, as two searches are minutes apart.) It counts only this noise, so a
  real search, with noise of its own, agrees less.

Run it pinned where the servers run and with nothing else running, e.g.
`taskset -c 0 scripts/cpu-noise.py --windows 300 --units 10000` (about a second per window,
as long as a capacity step's recorded window; about 6 minutes).

Usage: scripts/cpu-noise.py [--windows N] [--units N] [--cells N]
(python3, standard library only)
"""

import argparse
import hashlib
import math
import statistics
import time

BLOCK = b"x" * 65536
# The capacity search's grid: rates 2^(1/8) apart (loadgen capacity's default --precision).
GRID_PER_DOUBLING = 8
# Windows two searches' deciding runs are at least apart (they are minutes apart in a run).
APART_WINDOWS = 30
AVERAGES = (1, 3, 10, 30)


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


def correlation(values, lag):
    a, b = values[:-lag], values[lag:]
    if len(a) < 2 or statistics.pstdev(a) == 0 or statistics.pstdev(b) == 0:
        return None
    ma, mb = statistics.mean(a), statistics.mean(b)
    cov = sum((x - ma) * (y - mb) for x, y in zip(a, b)) / len(a)
    return cov / (statistics.pstdev(a) * statistics.pstdev(b))


def apart_share(values, w):
    """The share of cells two searches put two or more grid rates apart (see the doc)."""
    means = [statistics.mean(values[i : i + w]) for i in range(len(values) - w + 1)]
    gap = max(w, APART_WINDOWS)
    total, pairs = 0.0, 0
    for i, x in enumerate(means):
        for y in means[i + gap :]:
            steps = abs(GRID_PER_DOUBLING * math.log2(x / y))
            total += min(1.0, max(0.0, steps - 1.0))
            pairs += 1
    return total / pairs if pairs else None


def main():
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--windows", type=int, default=200, help="windows to time (default 200)")
    p.add_argument("--units", type=int, default=3000, help="units of work per window (default 3000)")
    p.add_argument("--cells", type=int, default=20, help="capacity cells in a run (default 20)")
    args = p.parse_args()
    per_unit = []
    started = time.monotonic()
    for _ in range(args.windows):
        start = time.process_time()
        for _ in range(args.units):
            unit()
        per_unit.append(1e6 * (time.process_time() - start) / args.units)
    window_s = (time.monotonic() - started) / args.windows
    print(f"CPU microseconds per unit of work, {args.units} units per window ({window_s:.2f} s each):")
    print(spread("each window", per_unit))
    for k in AVERAGES[1:]:
        means = [statistics.mean(per_unit[i : i + k]) for i in range(0, len(per_unit) - k + 1, k)]
        if len(means) > 1:
            print(spread(f"means of {k} windows", means))
    lags = [(k, correlation(per_unit, k)) for k in (1, 2, 3, 5, 10, 20, 30)]
    print("correlation with the window k later: " + ", ".join(f"k={k} {c:.2f}" for k, c in lags if c is not None))
    print(
        f"two capacity searches on a grid of {GRID_PER_DOUBLING} rates per doubling, deciding by the mean cost of "
        f"w windows, at least {APART_WINDOWS} windows apart:"
    )
    for w in AVERAGES:
        share = apart_share(per_unit, w)
        if share is None:
            continue
        print(
            f"  w={w:<3} ({w * window_s:4.1f} s): two or more grid rates apart in {100 * share:4.1f}% of cells; "
            f"all {args.cells} within one: {100 * (1 - share) ** args.cells:5.1f}%"
        )


if __name__ == "__main__":
    main()
