"""Benchmark: the MDI Gram-matrix phase-error SDP (issue 7), built once and re-solved per distance.

Target: one distance point (the SDP for one announcement, re-solved with new detection bounds)
under ~0.5 s. Cases: ideal BB84 qubits (exact single-photon statistics), BB84 with Model-3 leakage
(|α|² = 1e-4, exact and decoy-interval statistics, all and basis-matched pairs), three states with
leakage. Prints the build time, the median/max re-solve time, the worst certification gap and
which solvers were needed. Run: ``python benchmarks/bench_mdi_sdp.py``.
"""

from __future__ import annotations

import statistics
import time
from collections import Counter

import numpy as np

from qkdlab.analysis.mdi.decoy import single_photon_bounds
from qkdlab.analysis.mdi.detection import (BB84_STATES, THREE_STATES, MdiSetup, coherent_gains,
                                           single_photon_probabilities)
from qkdlab.analysis.mdi.gram_sdp import GramPhaseErrorSDP
from qkdlab.analysis.mdi.leakage_models import TimeDependentLeakage, encoded_jones, nominal_phases, signal_gram
from qkdlab.transmitter import PhaseProfile
from qkdlab.analysis.mdi.types import DetectionBounds

SETUP = MdiSetup()
DISTANCES = np.linspace(0.0, 60.0, 7)
INTENSITIES = (0.05, 0.1, 0.6)


def bounds(states: tuple[str, ...], distance_km: float, decoy: bool) -> DetectionBounds:
    """Ψ− statistics of an honest relay: exact single-photon yields, or decoy-LP intervals."""
    jones = encoded_jones(nominal_phases(states))
    if decoy:
        gains = coherent_gains(jones, jones, INTENSITIES, INTENSITIES, SETUP, distance_km)
        full = single_photon_bounds(gains, INTENSITIES)
        return DetectionBounds(full.lower[..., [1]], full.upper[..., [1]], ("psi-",))
    p = single_photon_probabilities(jones, jones, SETUP, distance_km)[..., [1]]
    return DetectionBounds(p, p, ("psi-",))


def run(label: str, states: tuple[str, ...], leakage, decoy: bool, statistics_kind: str) -> None:
    gram = signal_gram(nominal_phases(states), leakage)
    data = [bounds(states, d, decoy) for d in DISTANCES]
    start = time.perf_counter()
    sdp = GramPhaseErrorSDP(gram, gram, states, states, ("psi-",), statistics=statistics_kind)
    sdp.solve(data[0])                                 # builds and compiles the problem once
    build = time.perf_counter() - start
    times, gaps, solvers, values = [], [], Counter(), []
    for bound in data:
        start = time.perf_counter()
        result = sdp.solve(bound)
        times.append(time.perf_counter() - start)
        gaps.append(result.gap if result.certified else np.nan)
        solvers[result.solver or "conservative"] += 1
        values.append(result.phase_error_upper)
    print(f"{label:<44} build+first {build * 1e3:7.0f} ms | re-solve median {statistics.median(times) * 1e3:6.0f} ms, "
          f"max {max(times) * 1e3:6.0f} ms | worst gap {np.nanmax(np.abs(gaps)):.1e} | {dict(solvers)}")
    print(f"{'':<44} e_ph at {DISTANCES[0]:.0f}..{DISTANCES[-1]:.0f} km: {' '.join(f'{v:.3g}' for v in values)}")


def main() -> None:
    model3 = TimeDependentLeakage(1e-4, PhaseProfile(150e-12, 200e-12))
    run("BB84 ideal, exact, all pairs", BB84_STATES, None, False, "all")
    run("BB84 Model 3 |α|²=1e-4, exact, all pairs", BB84_STATES, model3, False, "all")
    run("BB84 Model 3 |α|²=1e-4, exact, matched pairs", BB84_STATES, model3, False, "matched")
    run("BB84 Model 3 |α|²=1e-4, decoy, all pairs", BB84_STATES, model3, True, "all")
    run("three-state Model 3 |α|²=1e-4, exact, all", THREE_STATES, model3, False, "all")


if __name__ == "__main__":
    main()
