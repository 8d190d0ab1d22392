"""Benchmark: decoy-state BB84 with mismatched detectors (issue 19), time per certified point.

A point: decoy LPs for every (Alice state, Bob outcome) (2 photon numbers × 2 senses each, HiGHS
plus the dual certificate), the single-photon problem with intervals on the numerical engine (step 1
QICS + step 2 certificate) and the rate. Link: 50 km, 0.2 dB/km, p_d = 1e-8, misalignment 1 %,
decoys 0.5, 0.1, 0; active receiver, fine statistics, flag-state squasher; η1 = 0.73 and η2 over a
few values: one mode ([[η1], [η2]]), two modes (Table I) and "hull": the worst case over a
calibrated box (± 0.01 around Table I; the doubled ≤ 4-vertex emulation hull, 8 modes, its sector
minima and ``sectors=True``, as ``--decoys … --model`` and ``live --numerical`` solve it; the
statistics from the point estimates [[η1], [η2]]). "cold": no warm start; "warm": the
previous point (next η2, same distance) as warm start (its multipliers are tried as a certificate;
QICS itself starts cold, so expect little gain). Prints median/max seconds and the LP share.

Target (issue 19): a live update every ≤ 5 s for one mode on this machine class. On a shared
machine run it pinned: ``taskset -c 0 python benchmarks/bench_decoy_mismatch.py`` and report the load.
Run: ``python benchmarks/bench_decoy_mismatch.py [--repeats 3]``.
"""

from __future__ import annotations

import argparse
import os
import statistics
import time

import numpy as np

from qkdlab.analysis.decoy import certified_yield_bounds
from qkdlab.analysis.mismatch import Receiver, decoy_mismatch_key_rate, simulate_decoy_statistics, table_i
from qkdlab.analysis.mismatch.hull import doubled, emulation_hull, sector_minima

ETA1, DECOYS, KM = 0.73, (0.5, 0.1, 0.0), 50.0
ETA2 = (0.7, 0.6, 0.5, 0.4)


def receiver(modes: int, eta2: float) -> Receiver:
    return Receiver("active", np.array([[ETA1], [eta2]]) if modes == 1 else table_i(ETA1, eta2), "fine")


def hull_point(eta2: float, warm):
    """(seconds, result) of one point on the doubled emulation hull (the hull and its minima depend
    only on the calibration: built once per table, outside the timing, as the CLI and live do)."""
    box = table_i(ETA1, eta2)
    table = doubled(emulation_hull(box - 0.01, np.minimum(box + 0.01, 1.0), max_vertices=4))
    minima = sector_minima(table)
    s = stats(receiver(1, eta2))
    start = time.perf_counter()
    res = decoy_mismatch_key_rate(Receiver("active", table, "fine"), s, "squasher", warm_start=warm, minima=minima,
                                  sectors=True)
    return time.perf_counter() - start, res


def stats(rx: Receiver):
    return simulate_decoy_statistics(rx, DECOYS, 10 ** (-0.02 * KM), misalignment=0.01, dark_count_probability=1e-8,
                                     intensity_probabilities=(0.8, 0.1, 0.1), repetition_rate_hz=2.5e9)


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--repeats", type=int, default=3)
    args = parser.parse_args()
    print(f"load average: {os.getloadavg()}; cpus allowed: {len(os.sched_getaffinity(0))}")
    decoy_mismatch_key_rate(receiver(1, 0.5), stats(receiver(1, 0.5)), "squasher")   # JIT and caches, not counted
    for modes in (1, 2):
        for mode in ("cold", "warm"):
            times, lp, statuses = [], [], []
            for _ in range(args.repeats):
                previous = None
                for eta2 in ETA2:
                    rx = receiver(modes, eta2)
                    s = stats(rx)
                    start = time.perf_counter()
                    res = decoy_mismatch_key_rate(rx, s, "squasher", warm_start=previous if mode == "warm" else None)
                    times.append(time.perf_counter() - start)
                    q = np.moveaxis(s.probabilities, 0, -1)
                    start = time.perf_counter()
                    certified_yield_bounds(q, q, DECOYS, (0, 1))
                    lp.append(time.perf_counter() - start)
                    statuses.append(res.status)
                    previous = res
            print(f"M={modes} {mode}: median {statistics.median(times):.3f} s, max {max(times):.3f} s per certified "
                  f"point (decoy LPs median {statistics.median(lp):.3f} s); statuses {sorted(set(statuses))}")
    for mode in ("cold", "warm"):
        times, statuses = [], []
        for _ in range(args.repeats):
            previous = None
            for eta2 in ETA2:
                seconds, res = hull_point(eta2, previous if mode == "warm" else None)
                times.append(seconds)
                statuses.append(res.status)
                previous = res
        print(f"hull (8 modes, sectors) {mode}: median {statistics.median(times):.3f} s, max {max(times):.3f} s per "
              f"certified point; statuses {sorted(set(statuses))}")


if __name__ == "__main__":
    main()
