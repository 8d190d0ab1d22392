"""Benchmark: the loss-tolerant coin's certified search over q (issue 15, coin_q.py) against q = q0 alone.

Prints, at the issue-15 point (BB84, δ = 0.063, ε = 1e-6, 50 km, single photons, f = 1.16,
p_d = 1e-8, η_d = 0.73): the phase-error bound of every candidate decomposition at [F]'s q0, the
search's result (winner, certified relative gap, SDPs solved); then the time of one point and of
a 200-distance curve, SDPs included (a new ε each repeat, median of 5), for q0 alone (what LTQC did
before the search) and with the search, and for a second curve with the SDPs cached.
Run: ``python benchmarks/bench_coin_q.py`` (times on a loaded machine are inflated).
"""

from __future__ import annotations

import statistics
import time

import numpy as np

from qkdlab.analysis import Channel
from qkdlab.analysis.coin import ltqc_families
from qkdlab.analysis.coin_q import _node, best_over_q
from qkdlab.analysis.overlap_sdp import _cached, max_distance
from qkdlab.analysis.phase_error import quantum_coin
from qkdlab.analysis.states import StateSet
from qkdlab.analysis.statistics import estimate

CHANNEL = Channel(fiber_loss_db_per_km=0.2, detector_efficiency=0.73, dark_count_probability=1e-8,
                  ec_efficiency=1.16, repetition_rate_hz=2.5e9)


def data_at(states: StateSet, distances: np.ndarray):
    emissions, counts = CHANNEL.expected_counts(states, distances)
    return estimate(counts, emissions, states.labels, (0.5, 0.5), "single-photon", (1.0,))


def at_q0(states: StateSet, epsilon: float, data) -> np.ndarray:
    """The bound before the search: every decomposition at q0, the smallest per row."""
    pairs = [family.pair() for family in ltqc_families(states)]
    return np.min([quantum_coin(p, max_distance(p, epsilon).distance, data) for p in pairs], axis=0)


def median_ms(call, fresh: bool) -> float:
    """Median of 5: a new ε each time with ``fresh`` (nothing cached), else the same, solved beforehand."""
    call(1e-6)
    times = []
    for i in range(5):
        epsilon = 1e-6 * (1 + i / 10) if fresh else 1e-6
        if fresh:
            _cached.cache_clear()
            _node.cache_clear()
        start = time.perf_counter()
        call(epsilon)
        times.append(time.perf_counter() - start)
    return statistics.median(times) * 1e3


def main() -> None:
    states = StateSet.flawed("bb84", 0.063)
    point = data_at(states, np.array([50.0]))
    scale = point.phase_scale / point.key_detections[0]
    print("e_ph at δ = 0.063, ε = 1e-6, 50 km, per decomposition at q0:")
    for family in ltqc_families(states):
        pair = family.pair()
        value = quantum_coin(pair, max_distance(pair, 1e-6).distance, point)[0] * scale
        print(f"  {value:.5e}  {family.choice}")
    search = best_over_q(ltqc_families(states), 1e-6, point)
    gap = (search.bound[0] - search.lower[0]) / search.bound[0]
    print(f"search over q ∈ [0, 1]: {search.bound[0] * scale:.5e} ({search.choice[0]}), certified within {gap:.1e} "
          f"of every q and decomposition, {search.nodes} SDPs")
    curve = data_at(states, np.linspace(0.0, 300.0, 200))
    families = ltqc_families(states)
    for label, fresh in (("SDPs included", True), ("SDPs cached", False)):
        for what, data in (("one point", point), ("200 distances", curve)):
            before = median_ms(lambda eps: at_q0(states, eps, data), fresh)
            after = median_ms(lambda eps: best_over_q(families, eps, data), fresh)
            print(f"{what:13s} ({label:13s}): q0 only {before:8.1f} ms, with the search over q {after:8.1f} ms")


if __name__ == "__main__":
    main()
