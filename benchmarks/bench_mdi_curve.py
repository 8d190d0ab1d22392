"""Benchmark: an MDI-BB84 key-rate curve with decoys and leakage Model 3 (issue 16 target).

The README's curve: |α|² = 1e-5, Model 3, decoys (0.05, 0.1, 0.6), Alice-Charlie distance 0-100 km.
Reports the median (target ≤ 0.7 s) and mean wall time per distance point, the CPU time (less
sensitive to other load on the machine; it counts every solver thread), the first point separately
(it compiles the two SDPs), and what the solver core did: statuses, fallbacks (points where the
first solver of the list did not certify), conservative points and the largest certificate gap.
Run: ``python benchmarks/bench_mdi_curve.py [--points 21]``; on a shared machine pin it to one core
(``taskset -c 0``) and compare CPU times.
"""

from __future__ import annotations

import argparse
import statistics
import time

import numpy as np

from qkdlab.analysis.mdi import MdiSetup, MdiSource, mdi_key_rate

DECOYS = (0.05, 0.1, 0.6)
TARGET_S = 0.7


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--points", type=int, default=21, help="distances from 0 to 100 km (default 21)")
    points = parser.parse_args().points
    stamps = [(time.perf_counter(), time.process_time())]

    def on_point(i: int, n: int) -> None:
        stamps.append((time.perf_counter(), time.process_time()))

    curve = mdi_key_rate(MdiSource("mdi-bb84", 3, 1e-5), MdiSetup(0.2, 0.5, 1e-6), np.linspace(0.0, 100.0, points),
                         decoys=DECOYS, on_point=on_point)
    wall = np.diff([s[0] for s in stamps])
    cpu = np.diff([s[1] for s in stamps])
    runs = [len(r.solver.runs) for r in curve]          # solver runs per point (2 outcomes: 2 without fallbacks)
    statuses = sorted({s for r in curve for s in r.solver.status.split(",")})
    print(f"MDI-BB84, Model 3, |α|² = 1e-5, decoys {DECOYS}, {points} points over 0-100 km")
    print(f"  wall per point: median {statistics.median(wall):.2f} s (target ≤ {TARGET_S} s), "
          f"mean {wall.mean():.2f} s, max {wall.max():.2f} s, first (compiles the SDPs) {wall[0]:.2f} s, "
          f"curve {wall.sum():.1f} s")
    print(f"  CPU per point:  median {statistics.median(cpu):.2f} s, mean {cpu.mean():.2f} s, curve {cpu.sum():.1f} s")
    print(f"  solver: statuses {', '.join(statuses)}; points with a fallback {sum(n > 2 for n in runs)}; "
          f"conservative {sum(r.solver.conservative for r in curve)}; "
          f"largest gap {max(r.solver.gap for r in curve):.1e}; max distance with key {curve.max_distance():g} km")


if __name__ == "__main__":
    main()
