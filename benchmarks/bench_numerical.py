"""Benchmark: certified numerical key rates with detector-efficiency mismatch (issue 18).

Cases (Fig. 7/8 parameters: η1 = 0.2, ω = 0.05, r = 0.05, t = 0.5): time per certified point
(step 1 QICS + step 2 certificate, problem built from cached POVMs) for one mode/cut-off, one
mode/squasher, two modes/cut-off, two modes/squasher (active) and passive four modes/squasher,
each over a few η2; then the whole of Fig. 7 (4 curves × 19 values of η2 in [0.02, 0.2]),
including the photon-number minima of every new η table; and one point of a calibrated receiver's
worst case over its confidence box (docs/mismatch-calibrated.md). Prints median/max seconds, the
step-1 share and the worst step-1 − certified gap.

Targets (idle machine of this class): ≤ 0.07 s per certified point for one mode/cut-off,
≤ 0.4 s for two modes/squasher, Fig. 7 whole ≤ 30 s. On a shared machine run it pinned:
``taskset -c 0 python benchmarks/bench_numerical.py`` and report the load.
Run: ``python benchmarks/bench_numerical.py [--repeats 3]``.
"""

from __future__ import annotations

import argparse
import os
import statistics
import time

import numpy as np

from qkdlab.analysis.mismatch import Receiver, mismatch_key_rate, simulate_statistics, table_i, table_ii
from qkdlab.analysis.mismatch.keyrate import _minima

ETA1, OMEGA, R, T = 0.2, 0.05, 0.05, 0.5


def table(case: str, eta2: float) -> tuple[str, np.ndarray]:
    if case.startswith("active M=1"):
        return "active", np.array([[ETA1], [eta2]])
    if case.startswith("active M=2"):
        return "active", table_i(ETA1, eta2)
    return "passive", table_ii(ETA1, eta2)


CASES = ("active M=1 cutoff", "active M=1 squasher", "active M=2 cutoff", "active M=2 squasher",
         "passive M=4 squasher")


def point(case: str, eta2: float):
    scheme, eta = table(case, eta2)
    rc = Receiver(scheme, eta)
    p = simulate_statistics(rc, OMEGA, R, T)
    _minima(rc, None)  # per-table work, cached: timed separately (Fig. 7 includes it)
    start = time.perf_counter()
    res = mismatch_key_rate(rc, p, "cutoff" if "cutoff" in case else "squasher")
    return time.perf_counter() - start, res


def calibrated_point() -> tuple[float, object]:
    """One point of a calibrated receiver's worst case (qkdlab.analysis.mismatch.hull): boxes ±0.01
    around Table I (η1 = 0.2, η2 = 0.15) at two delays, the emulation hull's vertices doubled, mode
    sectors, squasher; the link meets (0.2, 0.15). Hull and minima are per-table work, timed too."""
    from qkdlab.analysis.mismatch.hull import doubled, emulation_hull, sector_minima

    start = time.perf_counter()
    centre = table_i(ETA1, 0.15)
    vertices = emulation_hull(centre - 0.01, centre + 0.01, max_vertices=4)
    minima = sector_minima(doubled(vertices))
    p = simulate_statistics(Receiver("active", centre[:, :1]), OMEGA, R, T)
    res = mismatch_key_rate(Receiver("active", doubled(vertices)), p, "squasher", minima=minima, sectors=True)
    return time.perf_counter() - start, res


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--repeats", type=int, default=3)
    args = parser.parse_args()
    print(f"load average: {os.getloadavg()}; cpus allowed: {len(os.sched_getaffinity(0))}")
    point("active M=1 cutoff", 0.1)  # numba JIT warm-up of QICS, not counted
    for case in CASES:
        times, step1, gaps = [], [], []
        for eta2 in (0.2, 0.1, 0.05):
            for _ in range(args.repeats):
                dt, res = point(case, eta2)
                times.append(dt)
                step1.append(res.numerical.seconds_step1)
                gaps.append(res.gap)
        print(f"{case:22s} median {statistics.median(times):.3f} s  max {max(times):.3f} s  "
              f"(step 1 median {statistics.median(step1):.3f} s)  worst gap {max(gaps):.1e}")
    dt, res = calibrated_point()
    print(f"calibrated hull ({len(res.numerical.rho)} blocks) {dt:.3f} s per point "
          f"(hull + minima included), gap {res.gap:.1e}, {res.status}")
    start = time.perf_counter()
    worst = 0.0
    for modes in (1, 2):
        for bound in ("cutoff", "squasher"):
            previous = None
            for eta2 in np.linspace(0.2, 0.02, 19):
                rc = Receiver("active", np.array([[ETA1], [eta2]]) if modes == 1 else table_i(ETA1, eta2))
                p = simulate_statistics(rc, OMEGA, R, T)
                previous = mismatch_key_rate(rc, p, bound, warm_start=previous)
                worst = max(worst, previous.gap)
    print(f"Fig. 7 whole (76 certified points, minima included): {time.perf_counter() - start:.1f} s, "
          f"worst gap {worst:.1e}")


if __name__ == "__main__":
    main()
