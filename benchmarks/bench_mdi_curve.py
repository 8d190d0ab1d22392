"""Benchmark: MDI-BB84 key rates with decoys and leakage Model 3 (issue 7 targets).

One distance point (decoy LPs + two certified SDP solves): target under 1 s on 2 cores; a
30-point curve: under 30 s. The SDP is built once per source and re-solved per point.
Run: ``python benchmarks/bench_mdi_curve.py``.
"""

from __future__ import annotations

import statistics
import time

import numpy as np

from qkdlab.analysis.mdi import MdiSetup, MdiSource, mdi_key_rate

DECOYS = (0.05, 0.1, 0.6)


def main() -> None:
    setup = MdiSetup(0.2, 0.5, 1e-6)
    source = MdiSource("mdi-bb84", 3, 1e-5)
    points = []
    for distance in np.linspace(0.0, 60.0, 7):
        start = time.perf_counter()
        mdi_key_rate(source, setup, float(distance), decoys=DECOYS)
        points.append(time.perf_counter() - start)
    start = time.perf_counter()
    curve = mdi_key_rate(source, setup, np.linspace(0.0, 87.0, 30), decoys=DECOYS)
    total = time.perf_counter() - start
    print(f"one point (decoys, Model 3, |α|² = 1e-5, incl. building the SDP): median "
          f"{statistics.median(points):.2f} s, max {max(points):.2f} s   (target < 1 s)")
    print(f"30-point curve: {total:.1f} s   (target < 30 s); max distance {curve.max_distance():g} km; "
          f"largest certificate gap {max(r.solver.gap for r in curve):.1e}")


if __name__ == "__main__":
    main()
