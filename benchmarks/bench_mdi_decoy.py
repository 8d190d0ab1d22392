"""Benchmark: the decoy part of one MDI-QKD distance point (Bourassa et al. App. A).

One point = the simulated gains of all BB84 state pairs at all intensity pairs, the block LP for
the p_pass,1,1 bounds of every (a, b, r) (64 bound problems), and Eq. (A6) with the closed-form
ideal phase error (a stand-in for the SDP, which is not timed here). The LP matrices are cached
across distances, as in a key-rate curve; the first point, which builds them, is reported apart.
Target: well under 0.3 s per point. Run: ``python benchmarks/bench_mdi_decoy.py [--repeats 20]``.
"""

from __future__ import annotations

import argparse
import statistics
import time

from qkdlab.analysis.mdi.decoy import DEFAULT_INTENSITIES
from qkdlab.analysis.mdi.detection import BB84_STATES, MdiSetup
from qkdlab.analysis.mdi.keyrate import decoy_key_rate, ideal_phase_error


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeats", type=int, default=20, help="distance points to time")
    parser.add_argument("--intensities", type=float, nargs="+", default=list(DEFAULT_INTENSITIES))
    args = parser.parse_args()
    setup, phase_error = MdiSetup(), ideal_phase_error(BB84_STATES)
    distances = [10.0 * (1 + i % 12) for i in range(args.repeats)]
    start = time.perf_counter()
    decoy_key_rate(BB84_STATES, setup, 5.0, phase_error, intensities=args.intensities)
    first = time.perf_counter() - start
    times = []
    for distance in distances:
        start = time.perf_counter()
        decoy_key_rate(BB84_STATES, setup, distance, phase_error, intensities=args.intensities)
        times.append(time.perf_counter() - start)
    times_ms = sorted(t * 1e3 for t in times)
    print(f"decoy MDI point (BB84, intensities {args.intensities}, cutoff 10, 64 bounds): first {first * 1e3:.1f} ms, "
          f"then median {statistics.median(times_ms):.1f} ms, max {times_ms[-1]:.1f} ms over {args.repeats} points")


if __name__ == "__main__":
    main()
